/*
 * ngx_pds_module: LMDB environments of the tenants across nginx processes.
 *
 * Environments are kept in the main configuration keyed by directory, so a
 * directory can belong to one tenant only.  The master opens each once at
 * start (creating it, checking the schema) and closes it again: an LMDB
 * environment must not cross fork().  Every worker then opens its own.
 */

#include "ngx_pds.h"

#include <grp.h>


#define NGX_PDS_MAX_READERS  510


/* who hears of committed writes (the sync layer installs itself) */
static ngx_pds_commit_pt  ngx_pds_commit_hook;


/*
 * Installed at postconfiguration by the layer that acts on new commits
 * (the sync layer: firehose wake-ups and relay notification), so that the
 * code that commits never names it.
 */
void
ngx_pds_store_on_commit(ngx_pds_commit_pt hook)
{
    ngx_pds_commit_hook = hook;
}


/*
 * Called on the event loop, in the writing request, after every committed
 * write transaction (it may have added events).
 */
void
ngx_pds_store_committed(ngx_pds_ctx_t *ctx)
{
    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "pds: %V committed", &ctx->nsid);

    if (ngx_pds_commit_hook) {
        ngx_pds_commit_hook(ctx);
    }
}


/* the operator is told the store is full at most once a minute */
#define NGX_PDS_SPACE_LOG_EVERY  60


static void
ngx_pds_space_log(ngx_pds_env_t *env, int kind, const pds_space_t *sp,
    ngx_log_t *log)
{
    time_t  now;

    now = ngx_time();

    if (now - env->space_logged < NGX_PDS_SPACE_LOG_EVERY) {
        return;
    }

    env->space_logged = now;

    if (kind == PDS_SPACE_DISK) {
        if (sp == NULL) {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "pds: the disk of \"%V\" is full (a commit "
                          "failed): writes that add data are refused with "
                          "507 StorageFull, deletions still run; free disk "
                          "space (nginx need not be reloaded)", &env->path);
            return;
        }

        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "pds: the disk of \"%V\" is full (%uL MB free, "
                      "%uL MB kept for deletions): writes that add data are "
                      "refused with 507 StorageFull, deletions still run; "
                      "free disk space (nginx need not be reloaded)",
                      &env->path, sp->disk_free >> 20,
                      sp->disk_reserve >> 20);
        return;
    }

    ngx_log_error(NGX_LOG_ERR, log, 0,
                  "pds: the LMDB map of \"%V\" is full (%uL of %uL MB "
                  "used, %uL MB reusable, %uL MB kept for deletions): "
                  "writes that add data are refused with 507 StorageFull, "
                  "deletions still run; raise pds_lmdb_map_size and reload "
                  "nginx", &env->path,
                  sp ? sp->used >> 20 : (uint64_t) 0,
                  sp ? sp->map >> 20 : (uint64_t) (env->map_size >> 20),
                  sp ? sp->free >> 20 : (uint64_t) 0,
                  sp ? sp->reserve >> 20
                     : pds_space_reserve(env->map_size) >> 20);
}


int
ngx_pds_space_get(ngx_pds_env_t *env, MDB_txn *txn, uint64_t need,
    pds_space_t *sp)
{
    return pds_space_check(env->store, txn, (char *) env->path.data, need, sp);
}


void
ngx_pds_space_refused(ngx_pds_env_t *env, int kind, const pds_space_t *sp,
    ngx_log_t *log)
{
    ngx_pds_space_log(env, kind, sp, log);
}


int
ngx_pds_space_check(ngx_pds_env_t *env, MDB_txn *txn, uint64_t need,
    ngx_log_t *log)
{
    pds_space_t  sp;

    if (pds_space_check(env->store, txn, (char *) env->path.data, need, &sp)
        != 0)
    {
        /* cannot tell: let the write try (LMDB refuses what cannot fit) */
        return PDS_SPACE_OK;
    }

    if (sp.verdict != PDS_SPACE_OK) {
        ngx_pds_space_log(env, sp.verdict, &sp, log);
    }

    return sp.verdict;
}


int
ngx_pds_space_failed(ngx_pds_env_t *env, int commit_rc, ngx_log_t *log)
{
    int  kind;

    kind = pds_space_commit_full(commit_rc);

    if (kind != PDS_SPACE_OK) {
        ngx_pds_space_log(env, kind, NULL, log);
    }

    return kind;
}


ngx_pds_env_t *
ngx_pds_env_add(ngx_conf_t *cf, ngx_pds_srv_conf_t *pscf)
{
    u_char               *p;
    ngx_uint_t            i;
    ngx_pds_env_t        *env, **e, **slot;
    ngx_pds_main_conf_t  *pmcf;

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_pds_module);

    env = ngx_pcalloc(cf->pool, sizeof(ngx_pds_env_t));
    if (env == NULL) {
        return NULL;
    }

    env->path.len = pscf->data_dir.len + sizeof("/lmdb") - 1;
    env->path.data = ngx_pnalloc(cf->pool, env->path.len + 1);
    if (env->path.data == NULL) {
        return NULL;
    }

    p = ngx_cpymem(env->path.data, pscf->data_dir.data, pscf->data_dir.len);
    p = ngx_cpymem(p, "/lmdb", sizeof("/lmdb") - 1);
    *p = '\0';

    env->map_size = pscf->map_size;

    e = pmcf->envs.elts;

    for (i = 0; i < pmcf->envs.nelts; i++) {
        if (e[i]->path.len == env->path.len
            && ngx_strncmp(e[i]->path.data, env->path.data, env->path.len)
               == 0)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"pds_data_dir %V\" of \"%V\" is already "
                          "used by another server block: every PDS "
                          "needs its own data directory",
                          &pscf->data_dir, &pscf->hostname);
            return NULL;
        }
    }

    slot = ngx_array_push(&pmcf->envs);
    if (slot == NULL) {
        return NULL;
    }

    *slot = env;

    return env;
}


ngx_pds_main_conf_t *
ngx_pds_main_conf(ngx_cycle_t *cycle)
{
    ngx_http_conf_ctx_t  *ctx;

    ctx = (ngx_http_conf_ctx_t *) cycle->conf_ctx[ngx_http_module.index];
    if (ctx == NULL) {
        return NULL;
    }

    return ctx->main_conf[ngx_pds_module.ctx_index];
}


static ngx_int_t
ngx_pds_env_open(ngx_cycle_t *cycle, ngx_pds_env_t *env)
{
    char       err[256];
    size_t     n;
    u_char    *parent;
    ngx_err_t  err_no;

    /* the data directory itself (the parent of lmdb/) */

    parent = ngx_pnalloc(cycle->pool, env->path.len);
    if (parent == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(parent, env->path.data, env->path.len - sizeof("/lmdb") + 1);
    parent[env->path.len - sizeof("/lmdb") + 1] = '\0';

    /*
     * Missing folders above it (/var/lib/pds of /var/lib/pds/<host>) are
     * made as nginx makes its temporary paths: 0755, so the worker user
     * can pass through them; the data directory itself is 0700.
     */
    /* "dir/" would make ngx_create_full_path() create dir itself 0755 */
    for (n = ngx_strlen(parent); n > 1 && parent[n - 1] == '/'; n--) {
        parent[n - 1] = '\0';
    }

    err_no = ngx_create_full_path(parent, 0755);
    if (err_no != 0) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, err_no,
                      ngx_create_dir_n " of the folders above \"%s\" failed",
                      parent);
        return NGX_ERROR;
    }

    if (ngx_create_dir(parent, 0700) == NGX_FILE_ERROR
        && ngx_errno != NGX_EEXIST)
    {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      ngx_create_dir_n " \"%s\" failed", parent);
        return NGX_ERROR;
    }

    if (pds_store_open((char *) env->path.data, env->map_size,
                       NGX_PDS_MAX_READERS, &env->store, err, sizeof(err))
        != 0)
    {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "pds: cannot open LMDB environment \"%V\": %s",
                      &env->path, err);
        env->store = NULL;
        return NGX_ERROR;
    }

    if (env->store->map_size > env->store->map_asked) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "pds: \"pds_lmdb_map_size\" of \"%V\" (%uz MB) is "
                      "below the data already stored: the map is %uz MB, "
                      "so new data is refused until pds_lmdb_map_size is "
                      "raised", &env->path, env->store->map_asked >> 20,
                      env->store->map_size >> 20);
    }

    if (env->store->dead_readers) {
        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "pds: cleared %d stale LMDB readers in \"%V\"",
                      env->store->dead_readers, &env->path);
    }

    return NGX_OK;
}


/*
 * The master runs as root when it can change users: hand the files to the
 * worker user, as nginx does with its temporary directories.
 */
static ngx_int_t
ngx_pds_env_chown(ngx_cycle_t *cycle, ngx_pds_env_t *env)
{
    u_char           *name, *p;
    ngx_uint_t        i;
    ngx_core_conf_t  *ccf;
    static const char *files[] = { "", "/lmdb", "/lmdb/data.mdb",
                                   "/lmdb/lock.mdb" };

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    if (geteuid() != 0 || ccf->user == (ngx_uid_t) NGX_CONF_UNSET_UINT) {
        return NGX_OK;
    }

    name = ngx_pnalloc(cycle->pool, env->path.len + sizeof("/data.mdb"));
    if (name == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        p = ngx_cpymem(name, env->path.data,
                       env->path.len - (sizeof("/lmdb") - 1));
        p = ngx_cpymem(p, files[i], ngx_strlen(files[i]));
        *p = '\0';

        if (chown((char *) name, ccf->user, ccf->group) == -1) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                          "chown(\"%s\", %d) failed", name, ccf->user);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * Can the worker user read and write the environment?  The master often
 * runs as root and creates the directory; a worker that cannot reach it
 * (a data directory under a 0700 home, say) would answer 503 to every
 * request.  A child process takes the worker's identity and tries, so
 * that groups, ACLs and every folder on the way count.
 */
static ngx_int_t
ngx_pds_env_reachable(ngx_cycle_t *cycle, ngx_pds_env_t *env)
{
    int               status;
    ngx_pid_t         pid;
    ngx_core_conf_t  *ccf;

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    if (geteuid() != 0 || ccf->user == (ngx_uid_t) NGX_CONF_UNSET_UINT
        || ccf->user == 0)
    {
        return NGX_OK;
    }

    pid = fork();

    if (pid == -1) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno, "fork() failed");
        return NGX_ERROR;
    }

    if (pid == 0) {
        if (setgid(ccf->group) == -1
            || initgroups(ccf->username, ccf->group) == -1
            || setuid(ccf->user) == -1)
        {
            _exit(255);
        }

        _exit(access((char *) env->path.data, R_OK|W_OK|X_OK) == 0
              ? 0 : errno & 0x7f);
    }

    if (waitpid(pid, &status, 0) == -1) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      "waitpid() failed");
        return NGX_ERROR;
    }

    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_EMERG, cycle->log,
                  (WIFEXITED(status) && WEXITSTATUS(status) != 255)
                  ? WEXITSTATUS(status) : 0,
                  "pds: the worker user \"%s\" cannot read and write "
                  "\"%V\": make every folder on the way searchable by it "
                  "(e.g. chmod o+x on each), choose a data directory it can "
                  "reach (pds_data_dir), or run the workers as another user "
                  "(the \"user\" directive)",
                  ccf->username, &env->path);

    return NGX_ERROR;
}


/*
 * Two server blocks must not share an environment, whatever their paths
 * look like: compared once the directories exist, after symbolic links,
 * "..", "." and repeated or trailing slashes are resolved.
 */
static ngx_int_t
ngx_pds_envs_distinct(ngx_cycle_t *cycle, ngx_pds_main_conf_t *pmcf)
{
    char            **real;
    ngx_uint_t        i, j;
    ngx_pds_env_t   **env;

    env = pmcf->envs.elts;

    real = ngx_pcalloc(cycle->pool, sizeof(char *) * (pmcf->envs.nelts + 1));
    if (real == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < pmcf->envs.nelts; i++) {
        real[i] = realpath((char *) env[i]->path.data, NULL);

        if (real[i] == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                          "realpath(\"%V\") failed", &env[i]->path);
            goto failed;
        }

        for (j = 0; j < i; j++) {
            if (ngx_strcmp(real[i], real[j]) == 0) {
                ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                              "pds: \"%V\" and \"%V\" are the same "
                              "directory (%s): every PDS needs its own "
                              "pds_data_dir", &env[j]->path, &env[i]->path,
                              real[i]);
                goto failed;
            }
        }
    }

    for (i = 0; i < pmcf->envs.nelts; i++) {
        free(real[i]);
    }

    return NGX_OK;

failed:

    for (i = 0; i < pmcf->envs.nelts; i++) {
        free(real[i]);
    }

    return NGX_ERROR;
}


ngx_int_t
ngx_pds_envs_init_module(ngx_cycle_t *cycle)
{
    ngx_uint_t            i;
    ngx_pds_env_t       **env;
    ngx_pds_main_conf_t  *pmcf;

    pmcf = ngx_pds_main_conf(cycle);
    if (pmcf == NULL) {
        return NGX_OK;
    }

    env = pmcf->envs.elts;

    for (i = 0; i < pmcf->envs.nelts; i++) {
        /*
         * No pds_lmdb_map_size: a share of an address-space budget among
         * the tenants (a ceiling: data.mdb grows only as it is used).
         * Set here, before the workers fork, so every process agrees.
         */
        if (env[i]->map_size == 0) {
            env[i]->map_size = (size_t)
                pds_space_map_default(pmcf->tenants.nelts);
        }

        if (ngx_pds_env_open(cycle, env[i]) != NGX_OK) {
            return NGX_ERROR;
        }

        /* never carry an environment across fork() */
        pds_store_close(env[i]->store);
        env[i]->store = NULL;

        if (ngx_pds_env_chown(cycle, env[i]) != NGX_OK
            || ngx_pds_env_reachable(cycle, env[i]) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_pds_envs_distinct(cycle, pmcf);
}


ngx_int_t
ngx_pds_envs_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t            i;
    ngx_pds_env_t       **env;
    ngx_pds_main_conf_t  *pmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    pmcf = ngx_pds_main_conf(cycle);
    if (pmcf == NULL) {
        return NGX_OK;
    }

    env = pmcf->envs.elts;

    for (i = 0; i < pmcf->envs.nelts; i++) {
        /* a failure leaves store NULL: _health then answers 503 */
        (void) ngx_pds_env_open(cycle, env[i]);
    }

    return NGX_OK;
}


void
ngx_pds_envs_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t            i;
    ngx_pds_env_t       **env;
    ngx_pds_main_conf_t  *pmcf;

    pmcf = ngx_pds_main_conf(cycle);
    if (pmcf == NULL) {
        return;
    }

    env = pmcf->envs.elts;

    for (i = 0; i < pmcf->envs.nelts; i++) {
        pds_store_close(env[i]->store);
        env[i]->store = NULL;
    }
}


