/*
 * ngx_pds_module: the configuration of a tenant.
 *
 * Creating and merging the main and server configurations: the pds_*
 * directives that need more than a slot (hostname, lists, secret files),
 * the reference's defaults, what follows from the hostname, the keys, the
 * handle domains, and the runtime objects a tenant needs (its LMDB
 * environment, thread pool, Lexicons, outbound locations).  What nginx -t
 * refuses is refused here, with the directive and the fix in the message.
 */

#include "ngx_pds.h"
#include "ngx_pds_methods.h"
#include "ngx_pds_mail.h"

#include "pds_lexicon.h"

#if (NGX_LINUX)
#include <malloc.h>
#endif


/* below this an LMDB map cannot hold the schema and a few accounts */
#define NGX_PDS_MIN_MAP_SIZE  (16 * 1024 * 1024)


void *
ngx_pds_create_main_conf(ngx_conf_t *cf)
{
    ngx_pds_main_conf_t  *pmcf;

    pmcf = ngx_pcalloc(cf->pool, sizeof(ngx_pds_main_conf_t));
    if (pmcf == NULL) {
        return NULL;
    }

#if (NGX_LINUX && defined M_MMAP_THRESHOLD)
    /*
     * Large allocations from fresh maps while environments are opened: LMDB
     * callocs a 2 MB dirty-page list per environment and process, of which
     * a transaction uses a few entries.  glibc raises its map threshold
     * after the first such block is freed (the master opens and closes each
     * environment while reading the configuration); the next ones would
     * then come from the heap and be zeroed page by page: 2 MB resident per
     * tenant and process instead of a few kB.  Inherited by the workers,
     * which raise it again once their environments are open.
     */
    (void) mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif

    if (ngx_array_init(&pmcf->envs, cf->pool, 2, sizeof(ngx_pds_env_t *))
        != NGX_OK
        || ngx_array_init(&pmcf->tenants, cf->pool, 2,
                          sizeof(ngx_pds_srv_conf_t *))
           != NGX_OK
        || ngx_array_init(&pmcf->lexicons, cf->pool, 1,
                          sizeof(ngx_pds_lexicons_t))
           != NGX_OK)
    {
        return NULL;
    }

    return pmcf;
}


void *
ngx_pds_create_srv_conf(ngx_conf_t *cf)
{
    ngx_pds_srv_conf_t  *pscf;

    pscf = ngx_pcalloc(cf->pool, sizeof(ngx_pds_srv_conf_t));
    if (pscf == NULL) {
        return NULL;
    }

    /* all ngx_str_t fields are { 0, NULL } from pcalloc: "unset" */

    pscf->port = NGX_CONF_UNSET_UINT;
    pscf->map_size = NGX_CONF_UNSET_SIZE;
    pscf->handle_domains = NGX_CONF_UNSET_PTR;
    pscf->invite_required = NGX_CONF_UNSET;
    pscf->rate_limits = NGX_CONF_UNSET;
    pscf->firehose_backfill = NGX_CONF_UNSET_MSEC;
    pscf->firehose_max_lag = NGX_CONF_UNSET_UINT;
    pscf->firehose_backfill_events = NGX_CONF_UNSET_UINT;
    pscf->blob_check = NGX_CONF_UNSET;
    pscf->crawlers = NGX_CONF_UNSET_PTR;
    pscf->blob_upload_limit = NGX_CONF_UNSET_SIZE;
    pscf->ssrf_disabled = NGX_CONF_UNSET;
    pscf->handle_nameservers = NGX_CONF_UNSET_PTR;

    return pscf;
}


/*
 * The internal location nginx's own error answers of a PDS location are
 * redirected to (a body over nginx's limit, a broken chunked body, an
 * error status returned without an answer): there the content handler
 * answers them as XRPC errors, JSON a client can read, instead of nginx's
 * HTML pages.
 */
static char *
ngx_pds_error_inject(ngx_conf_t *cf)
{
    ngx_str_t  text = ngx_string("location = " NGX_PDS_ERROR_LOCATION " {\n"
                                 "    internal;\n"
                                 "    pds;\n"
                                 "}\n}");

    return ngx_pds_conf_inject(cf, &text);
}


char *
ngx_pds_set_hostname(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_pds_srv_conf_t  *pscf = conf;

    ngx_str_t           *value;
    char                *rv;
    ngx_pds_loc_conf_t  *plcf;

    rv = ngx_conf_set_str_slot(cf, cmd, conf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].len > 253) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid pds_hostname \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    ngx_strlow(pscf->hostname.data, pscf->hostname.data, pscf->hostname.len);

    pscf->file = cf->conf_file->file.name.data;
    pscf->line = cf->conf_file->line;

    if (ngx_pds_fetch_inject(cf, pscf) != NGX_CONF_OK
        || ngx_pds_proxy_inject(cf, pscf) != NGX_CONF_OK
        || ngx_pds_error_inject(cf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* proxied answers carry the CORS headers of the PDS's own */
    plcf = pscf->proxy_location->loc_conf[ngx_pds_module.ctx_index];
    plcf->cors = 1;

    return NGX_CONF_OK;
}


/* "directive a b c;": every argument into an array of ngx_str_t */
char *
ngx_pds_set_str_list(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t     *value, *s;
    ngx_uint_t     i;
    ngx_array_t  **a;

    a = (ngx_array_t **) ((char *) conf + cmd->offset);

    if (*a != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    *a = ngx_array_create(cf->pool, cf->args->nelts, sizeof(ngx_str_t));
    if (*a == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        s = ngx_array_push(*a);
        if (s == NULL) {
            return NGX_CONF_ERROR;
        }
        *s = value[i];
    }

    return NGX_CONF_OK;
}


/*
 * Reads a secret from a file at configuration time: the whole content
 * with trailing white space removed.
 */
char *
ngx_pds_secret_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    u_char           *p;
    ssize_t           n;
    ngx_str_t        *field, *value, name;
    ngx_file_t        file;
    ngx_file_info_t   fi;

    field = (ngx_str_t *) ((char *) conf + cmd->offset);

    if (field->data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    name = value[1];

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = name;
    file.log = cf->log;

    file.fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &name);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > 65536)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is not a readable secret file", &name);
        ngx_close_file(file.fd);
        return NGX_CONF_ERROR;
    }

    p = ngx_pnalloc(cf->pool, (size_t) ngx_file_size(&fi) + 1);
    if (p == NULL) {
        ngx_close_file(file.fd);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_file(&file, p, (size_t) ngx_file_size(&fi), 0);
    ngx_close_file(file.fd);

    if (n == NGX_ERROR) {
        return NGX_CONF_ERROR;
    }

    while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r'
                     || p[n - 1] == ' ' || p[n - 1] == '\t'))
    {
        n--;
    }

    if (n == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "secret file \"%V\" is empty", &name);
        return NGX_CONF_ERROR;
    }

    p[n] = '\0';
    field->data = p;
    field->len = (size_t) n;

    return NGX_CONF_OK;
}


static char *
ngx_pds_require(ngx_conf_t *cf, ngx_pds_srv_conf_t *conf, ngx_str_t *v,
    const char *directive)
{
    if (v->len) {
        return NGX_CONF_OK;
    }

    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                  "\"%s\" is required in the server block with "
                  "\"pds_hostname %V\" in %s:%ui", directive,
                  &conf->hostname, conf->file, conf->line);

    return NGX_CONF_ERROR;
}


static ngx_int_t
ngx_pds_str_set(ngx_conf_t *cf, ngx_str_t *dst, const char *fmt, ...)
{
    u_char   *p, buf[1024];
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf) - 1, fmt, args);
    va_end(args);

    dst->len = (size_t) (p - buf);
    dst->data = ngx_pnalloc(cf->pool, dst->len + 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, buf, dst->len);
    dst->data[dst->len] = '\0';

    return NGX_OK;
}


static void
ngx_pds_key_cleanup(void *data)
{
    pds_key_free(data);
}


static void
ngx_pds_lexicon_cleanup(void *data)
{
    pds_lexicon_destroy(data);
}


/*
 * The Lexicon schemas record writes are validated against: only the
 * documents the reference's record types reach (~36 of ~400), loaded once
 * per directory and shared by the tenants that name it.
 */
static char *
ngx_pds_load_lexicons(ngx_conf_t *cf, ngx_pds_srv_conf_t *conf)
{
    long                  n;
    char                  err[512];
    ngx_uint_t            i;
    ngx_pool_cleanup_t   *cln;
    ngx_pds_lexicons_t   *loaded;
    ngx_pds_main_conf_t  *pmcf;

    if (conf->lexicons_dir.len == 0) {
        return NGX_CONF_OK;
    }

    if (ngx_conf_full_name(cf->cycle, &conf->lexicons_dir, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_pds_module);
    loaded = pmcf->lexicons.elts;

    for (i = 0; i < pmcf->lexicons.nelts; i++) {
        if (loaded[i].dir.len == conf->lexicons_dir.len
            && ngx_strncmp(loaded[i].dir.data, conf->lexicons_dir.data,
                           conf->lexicons_dir.len) == 0)
        {
            conf->lexicons = loaded[i].lex;
            return NGX_CONF_OK;
        }
    }

    conf->lexicons = pds_lexicon_create();
    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (conf->lexicons == NULL || cln == NULL) {
        pds_lexicon_destroy(conf->lexicons);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_pds_lexicon_cleanup;
    cln->data = conf->lexicons;

    n = pds_lexicon_load_dir_for(conf->lexicons,
                                 (char *) conf->lexicons_dir.data,
                                 pds_lexicon_reference_types, err,
                                 sizeof(err));
    if (n < 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"pds_lexicons %V\": %s", &conf->lexicons_dir, err);
        return NGX_CONF_ERROR;
    }

    if (n == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"pds_lexicons %V\": no Lexicon documents found",
                      &conf->lexicons_dir);
        return NGX_CONF_ERROR;
    }

    loaded = ngx_array_push(&pmcf->lexicons);
    if (loaded == NULL) {
        return NGX_CONF_ERROR;
    }

    loaded->dir = conf->lexicons_dir;
    loaded->lex = conf->lexicons;

    return NGX_CONF_OK;
}


/*
 * A handle domain belongs to one tenant: two server blocks that both issue
 * handles under one domain would hand out the same handle twice.
 */
static ngx_int_t
ngx_pds_domains_unique(ngx_conf_t *cf, ngx_pds_main_conf_t *pmcf,
    ngx_pds_srv_conf_t *conf)
{
    ngx_str_t            *d, *o;
    ngx_uint_t            i, j, k;
    ngx_pds_srv_conf_t  **t;

    t = pmcf->tenants.elts;
    d = conf->handle_domains->elts;

    for (i = 0; i < pmcf->tenants.nelts; i++) {
        o = t[i]->handle_domains->elts;

        for (j = 0; j < conf->handle_domains->nelts; j++) {
            for (k = 0; k < t[i]->handle_domains->nelts; k++) {
                if (d[j].len == o[k].len
                    && ngx_strncasecmp(d[j].data, o[k].data, d[j].len) == 0)
                {
                    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                                  "handle domain \"%V\" of \"%V\" "
                                  "(%s:%ui) is already the handle domain of "
                                  "\"%V\" (%s:%ui): each domain belongs to "
                                  "one PDS (pds_handle_domains)",
                                  &d[j], &conf->hostname, conf->file,
                                  conf->line, &t[i]->hostname, t[i]->file,
                                  t[i]->line);
                    return NGX_ERROR;
                }
            }
        }
    }

    return NGX_OK;
}


/* the settings every server block inherits, with the reference's defaults */
static char *
ngx_pds_merge_values(ngx_conf_t *cf, ngx_pds_srv_conf_t *prev,
    ngx_pds_srv_conf_t *conf)
{
    ngx_conf_merge_uint_value(conf->port, prev->port, 2583);
    /* 0: a share of an address budget among the tenants (init_module) */
    ngx_conf_merge_size_value(conf->map_size, prev->map_size, 0);

    if (conf->map_size != 0 && conf->map_size < NGX_PDS_MIN_MAP_SIZE) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"pds_lmdb_map_size\" must be at least 16m (the "
                      "schema and a few accounts need that much) in %s:%ui",
                      conf->file ? conf->file : (u_char *) "?", conf->line);
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_value(conf->invite_required, prev->invite_required, 1);
    ngx_conf_merge_value(conf->rate_limits, prev->rate_limits, 1);
    /* the reference's PDS_REPO_BACKFILL_LIMIT_MS and outbox buffer */
    ngx_conf_merge_msec_value(conf->firehose_backfill,
                              prev->firehose_backfill, 24 * 60 * 60 * 1000);
    ngx_conf_merge_uint_value(conf->firehose_max_lag, prev->firehose_max_lag,
                              500);
    /* a day of 11 events a second; bounds a burst to ~1-2 GB of frames */
    ngx_conf_merge_uint_value(conf->firehose_backfill_events,
                              prev->firehose_backfill_events, 1000000);
    ngx_conf_merge_value(conf->blob_check, prev->blob_check, 1);
    ngx_conf_merge_size_value(conf->blob_upload_limit,
                              prev->blob_upload_limit, 5 * 1024 * 1024);
    ngx_conf_merge_value(conf->ssrf_disabled, prev->ssrf_disabled, 0);
    ngx_conf_merge_ptr_value(conf->crawlers, prev->crawlers, NULL);
    ngx_conf_merge_ptr_value(conf->handle_nameservers,
                             prev->handle_nameservers, NULL);

    return NGX_CONF_OK;
}


/* the PLC rotation key (required) and the optional recovery did:key */
static char *
ngx_pds_merge_keys(ngx_conf_t *cf, ngx_pds_srv_conf_t *conf)
{
    long                 n;
    ngx_str_t           *key;
    pds_key_t           *rk;
    ngx_pool_cleanup_t  *cln;

    key = &conf->plc_rotation_key;

    if (key->len == 64) {
        conf->rotation_key = pds_key_from_private_hex(PDS_KEY_K256,
                                                      (char *) key->data, 64);
    }

    if (conf->rotation_key == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"pds_plc_rotation_key\" must be 64 hex digits "
                      "(a secp256k1 private key) in %s:%ui",
                      conf->file, conf->line);
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        pds_key_free(conf->rotation_key);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_pds_key_cleanup;
    cln->data = conf->rotation_key;

    conf->rotation_did_key.data = ngx_pnalloc(cf->pool, 128);
    if (conf->rotation_did_key.data == NULL) {
        return NGX_CONF_ERROR;
    }

    n = pds_key_did_key(conf->rotation_key,
                        (char *) conf->rotation_did_key.data, 127);
    if (n < 0) {
        return NGX_CONF_ERROR;
    }

    conf->rotation_did_key.len = (size_t) n;
    conf->rotation_did_key.data[n] = '\0';

    if (conf->recovery_did_key.len) {
        rk = pds_key_from_did_key((char *) conf->recovery_did_key.data,
                                  conf->recovery_did_key.len);
        if (rk == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"pds_recovery_did_key\" is not a valid did:key "
                          "in %s:%ui", conf->file, conf->line);
            return NGX_CONF_ERROR;
        }

        pds_key_free(rk);
    }

    return NGX_CONF_OK;
}


/* what follows from the hostname, and the services in pairs */
static char *
ngx_pds_merge_identity(ngx_conf_t *cf, ngx_pds_srv_conf_t *conf,
    ngx_uint_t localhost)
{
    ngx_int_t  rc;

    if (conf->public_url.len == 0) {
        rc = localhost
             ? ngx_pds_str_set(cf, &conf->public_url, "http://localhost:%ui",
                               conf->port)
             : ngx_pds_str_set(cf, &conf->public_url, "https://%V",
                               &conf->hostname);
        if (rc != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (conf->service_did.len == 0) {
        if (ngx_pds_str_set(cf, &conf->service_did, "did:web:%V",
                            &conf->hostname)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    if (conf->plc_url.len == 0) {
        ngx_str_set(&conf->plc_url, "https://plc.directory");
    }

    if (conf->version.len == 0) {
        ngx_str_set(&conf->version, NGX_PDS_VERSION);
    }

    /* reports go to the moderation service unless told otherwise */
    if (conf->report_service_url.len == 0) {
        conf->report_service_url = conf->mod_service_url;
        conf->report_service_did = conf->mod_service_did;
    }

    if ((conf->appview_url.len == 0) != (conf->appview_did.len == 0)
        || (conf->mod_service_url.len == 0)
           != (conf->mod_service_did.len == 0)
        || (conf->report_service_url.len == 0)
           != (conf->report_service_did.len == 0)
        || (conf->chat_url.len == 0) != (conf->chat_did.len == 0))
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "a service URL and its DID go together: set both "
                      "pds_appview_url and pds_appview_did (likewise "
                      "pds_mod_service_*, pds_report_service_*, pds_chat_*) "
                      "in %s:%ui", conf->file, conf->line);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* handle domains as given (lower-cased), or the hostname's by default */
static char *
ngx_pds_merge_domains(ngx_conf_t *cf, ngx_pds_srv_conf_t *conf,
    ngx_uint_t localhost)
{
    ngx_str_t   *d;
    ngx_uint_t   i;

    if (conf->handle_domains != NGX_CONF_UNSET_PTR) {
        d = conf->handle_domains->elts;

        for (i = 0; i < conf->handle_domains->nelts; i++) {
            if (d[i].len < 2 || d[i].data[0] != '.') {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "\"pds_handle_domains\": \"%V\" must start "
                              "with a dot, as in \".%V\"", &d[i],
                              &conf->hostname);
                return NGX_CONF_ERROR;
            }
            ngx_strlow(d[i].data, d[i].data, d[i].len);
        }

        return NGX_CONF_OK;
    }

    conf->handle_domains = ngx_array_create(cf->pool, 1, sizeof(ngx_str_t));
    if (conf->handle_domains == NULL) {
        return NGX_CONF_ERROR;
    }

    d = ngx_array_push(conf->handle_domains);
    if (d == NULL) {
        return NGX_CONF_ERROR;
    }

    if (localhost) {
        ngx_str_set(d, ".test");
        return NGX_CONF_OK;
    }

    return ngx_pds_str_set(cf, d, ".%V", &conf->hostname) == NGX_OK
           ? NGX_CONF_OK : NGX_CONF_ERROR;
}


/* the tenant's runtime objects: outbound, Lexicons, thread pool, LMDB */
static char *
ngx_pds_merge_runtime(ngx_conf_t *cf, ngx_pds_srv_conf_t *conf)
{
    ngx_pds_main_conf_t  *pmcf;
    ngx_pds_srv_conf_t  **t;

    if (ngx_pds_fetch_merge(cf, conf) != NGX_CONF_OK
        || ngx_pds_load_lexicons(cf, conf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->thread_pool_name.len == 0) {
        ngx_str_set(&conf->thread_pool_name, "default");
    }

    conf->thread_pool = ngx_thread_pool_add(cf, &conf->thread_pool_name);
    if (conf->thread_pool == NULL) {
        return NGX_CONF_ERROR;
    }

    conf->env = ngx_pds_env_add(cf, conf);
    if (conf->env == NULL) {
        return NGX_CONF_ERROR;
    }

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_pds_module);

    if (ngx_pds_domains_unique(cf, pmcf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    t = ngx_array_push(&pmcf->tenants);
    if (t == NULL) {
        return NGX_CONF_ERROR;
    }

    *t = conf;

    return NGX_CONF_OK;
}


char *
ngx_pds_merge_srv_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_pds_srv_conf_t  *prev = parent;
    ngx_pds_srv_conf_t  *conf = child;

    ngx_uint_t  localhost;

    if (ngx_pds_merge_values(cf, prev, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (conf->hostname.len == 0) {
        /* not a PDS server block */
        return NGX_CONF_OK;
    }

    localhost = (conf->hostname.len == 9
                 && ngx_strncmp(conf->hostname.data, "localhost", 9) == 0);

    if (ngx_pds_require(cf, conf, &conf->data_dir, "pds_data_dir")
        != NGX_CONF_OK
        || ngx_pds_require(cf, conf, &conf->admin_password,
                           "pds_admin_password")
           != NGX_CONF_OK
        || ngx_pds_require(cf, conf, &conf->jwt_secret, "pds_jwt_secret")
           != NGX_CONF_OK
        || ngx_pds_require(cf, conf, &conf->plc_rotation_key,
                           "pds_plc_rotation_key")
           != NGX_CONF_OK
        || ngx_pds_merge_keys(cf, conf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_conf_full_name(cf->cycle, &conf->data_dir, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_pds_merge_identity(cf, conf, localhost) != NGX_CONF_OK
        || ngx_pds_merge_domains(cf, conf, localhost) != NGX_CONF_OK
        || ngx_pds_mail_merge(cf, conf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    return ngx_pds_merge_runtime(cf, conf);
}


