/*
 * ngx_pds_module: directives, configuration and process hooks.
 *
 * Every server block with "pds_hostname" is one PDS tenant with its own
 * hostname, keys, secrets and LMDB data; "pds" in a location hands its
 * requests to the module.
 */

#include "ngx_pds.h"
#include "ngx_pds_methods.h"

#include "pds_lexicon.h"

#if (NGX_LINUX)
#include <malloc.h>
#endif


static void *ngx_pds_create_main_conf(ngx_conf_t *cf);
static void *ngx_pds_create_srv_conf(ngx_conf_t *cf);
static char *ngx_pds_merge_srv_conf(ngx_conf_t *cf, void *parent,
    void *child);
static void *ngx_pds_create_loc_conf(ngx_conf_t *cf);
static char *ngx_pds_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_pds_postconfiguration(ngx_conf_t *cf);
static char *ngx_pds(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_pds_secret_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_pds_set_hostname(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_pds_set_str_list(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_pds_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_pds_init_process(ngx_cycle_t *cycle);
static void ngx_pds_exit_process(ngx_cycle_t *cycle);
static ngx_int_t ngx_pds_content_handler(ngx_http_request_t *r);


static ngx_conf_num_bounds_t  ngx_pds_port_bounds = {
    ngx_conf_check_num_bounds, 1, 65535
};


#define NGX_PDS_SRV  (NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1)

/* below this an LMDB map cannot hold the schema and a few accounts */
#define NGX_PDS_MIN_MAP_SIZE  (16 * 1024 * 1024)
#define NGX_PDS_OFF(f)  offsetof(ngx_pds_srv_conf_t, f)

static ngx_command_t  ngx_pds_commands[] = {

    { ngx_string("pds"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_pds,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("pds_hostname"), NGX_PDS_SRV, ngx_pds_set_hostname,
      NGX_HTTP_SRV_CONF_OFFSET, NGX_PDS_OFF(hostname), NULL },

    { ngx_string("pds_port"), NGX_PDS_SRV, ngx_conf_set_num_slot,
      NGX_HTTP_SRV_CONF_OFFSET, NGX_PDS_OFF(port), &ngx_pds_port_bounds },

    { ngx_string("pds_public_url"), NGX_PDS_SRV, ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET, NGX_PDS_OFF(public_url), NULL },

    { ngx_string("pds_service_did"), NGX_PDS_SRV, ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET, NGX_PDS_OFF(service_did), NULL },

    { ngx_string("pds_data_dir"), NGX_PDS_SRV, ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET, NGX_PDS_OFF(data_dir), NULL },

    { ngx_string("pds_lmdb_map_size"), NGX_PDS_SRV, ngx_conf_set_size_slot,
      NGX_HTTP_SRV_CONF_OFFSET, NGX_PDS_OFF(map_size), NULL },

    { ngx_string("pds_admin_password"), NGX_PDS_SRV, ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET, NGX_PDS_OFF(admin_password), NULL },

    { ngx_string("pds_admin_password_file"), NGX_PDS_SRV,
      ngx_pds_secret_file, NGX_HTTP_SRV_CONF_OFFSET,
      NGX_PDS_OFF(admin_password), NULL },

    { ngx_string("pds_jwt_secret"), NGX_PDS_SRV, ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET, NGX_PDS_OFF(jwt_secret), NULL },

    { ngx_string("pds_jwt_secret_file"), NGX_PDS_SRV, ngx_pds_secret_file,
      NGX_HTTP_SRV_CONF_OFFSET, NGX_PDS_OFF(jwt_secret), NULL },

    { ngx_string("pds_plc_rotation_key"), NGX_PDS_SRV, ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET, NGX_PDS_OFF(plc_rotation_key), NULL },

    { ngx_string("pds_plc_rotation_key_file"), NGX_PDS_SRV,
      ngx_pds_secret_file, NGX_HTTP_SRV_CONF_OFFSET,
      NGX_PDS_OFF(plc_rotation_key), NULL },

    { ngx_string("pds_plc_url"), NGX_PDS_SRV, ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET, NGX_PDS_OFF(plc_url), NULL },

    { ngx_string("pds_handle_domains"), NGX_HTTP_SRV_CONF|NGX_CONF_1MORE,
      ngx_pds_set_str_list, NGX_HTTP_SRV_CONF_OFFSET,
      NGX_PDS_OFF(handle_domains), NULL },

    { ngx_string("pds_invite_required"), NGX_HTTP_SRV_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot, NGX_HTTP_SRV_CONF_OFFSET,
      NGX_PDS_OFF(invite_required), NULL },

    { ngx_string("pds_rate_limits"), NGX_HTTP_SRV_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot, NGX_HTTP_SRV_CONF_OFFSET,
      NGX_PDS_OFF(rate_limits), NULL },

    { ngx_string("pds_firehose_backfill"), NGX_PDS_SRV,
      ngx_conf_set_msec_slot, NGX_HTTP_SRV_CONF_OFFSET,
      NGX_PDS_OFF(firehose_backfill), NULL },

    { ngx_string("pds_firehose_max_lag"), NGX_PDS_SRV, ngx_conf_set_num_slot,
      NGX_HTTP_SRV_CONF_OFFSET, NGX_PDS_OFF(firehose_max_lag), NULL },

    { ngx_string("pds_appview_url"), NGX_PDS_SRV, ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET, NGX_PDS_OFF(appview_url), NULL },

    { ngx_string("pds_appview_did"), NGX_PDS_SRV, ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET, NGX_PDS_OFF(appview_did), NULL },

    { ngx_string("pds_mod_service_url"), NGX_PDS_SRV, ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET, NGX_PDS_OFF(mod_service_url), NULL },

    { ngx_string("pds_mod_service_did"), NGX_PDS_SRV, ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET, NGX_PDS_OFF(mod_service_did), NULL },

    { ngx_string("pds_report_service_url"), NGX_PDS_SRV,
      ngx_conf_set_str_slot, NGX_HTTP_SRV_CONF_OFFSET,
      NGX_PDS_OFF(report_service_url), NULL },

    { ngx_string("pds_report_service_did"), NGX_PDS_SRV,
      ngx_conf_set_str_slot, NGX_HTTP_SRV_CONF_OFFSET,
      NGX_PDS_OFF(report_service_did), NULL },

    { ngx_string("pds_chat_url"), NGX_PDS_SRV, ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET, NGX_PDS_OFF(chat_url), NULL },

    { ngx_string("pds_chat_did"), NGX_PDS_SRV, ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET, NGX_PDS_OFF(chat_did), NULL },

    { ngx_string("pds_crawlers"), NGX_HTTP_SRV_CONF|NGX_CONF_1MORE,
      ngx_pds_set_str_list, NGX_HTTP_SRV_CONF_OFFSET,
      NGX_PDS_OFF(crawlers), NULL },

    { ngx_string("pds_email_smtp_url"), NGX_PDS_SRV, ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET, NGX_PDS_OFF(smtp_url), NULL },

    { ngx_string("pds_email_from_address"), NGX_PDS_SRV,
      ngx_conf_set_str_slot, NGX_HTTP_SRV_CONF_OFFSET,
      NGX_PDS_OFF(email_from), NULL },

    { ngx_string("pds_contact_email"), NGX_PDS_SRV, ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET, NGX_PDS_OFF(contact_email), NULL },

    { ngx_string("pds_privacy_policy_url"), NGX_PDS_SRV,
      ngx_conf_set_str_slot, NGX_HTTP_SRV_CONF_OFFSET,
      NGX_PDS_OFF(privacy_policy_url), NULL },

    { ngx_string("pds_terms_of_service_url"), NGX_PDS_SRV,
      ngx_conf_set_str_slot, NGX_HTTP_SRV_CONF_OFFSET,
      NGX_PDS_OFF(terms_of_service_url), NULL },

    { ngx_string("pds_blob_upload_limit"), NGX_PDS_SRV,
      ngx_conf_set_size_slot, NGX_HTTP_SRV_CONF_OFFSET,
      NGX_PDS_OFF(blob_upload_limit), NULL },

    /* PDS_DISABLE_SSRF_PROTECTION: user-chosen targets may be private */
    { ngx_string("pds_disable_ssrf_protection"),
      NGX_HTTP_SRV_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot, NGX_HTTP_SRV_CONF_OFFSET,
      NGX_PDS_OFF(ssrf_disabled), NULL },

    { ngx_string("pds_version"), NGX_PDS_SRV, ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET, NGX_PDS_OFF(version), NULL },

    { ngx_string("pds_thread_pool"), NGX_PDS_SRV, ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET, NGX_PDS_OFF(thread_pool_name), NULL },

    { ngx_string("pds_recovery_did_key"), NGX_PDS_SRV, ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET, NGX_PDS_OFF(recovery_did_key), NULL },

    { ngx_string("pds_lexicons"), NGX_PDS_SRV, ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET, NGX_PDS_OFF(lexicons_dir), NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_pds_module_ctx = {
    ngx_pds_fetch_add_variables,           /* preconfiguration */
    ngx_pds_postconfiguration,             /* postconfiguration */

    ngx_pds_create_main_conf,              /* create main configuration */
    NULL,                                  /* init main configuration */

    ngx_pds_create_srv_conf,               /* create server configuration */
    ngx_pds_merge_srv_conf,                /* merge server configuration */

    ngx_pds_create_loc_conf,               /* create location configuration */
    ngx_pds_merge_loc_conf                 /* merge location configuration */
};


ngx_module_t  ngx_pds_module = {
    NGX_MODULE_V1,
    &ngx_pds_module_ctx,                   /* module context */
    ngx_pds_commands,                      /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_pds_init_module,                   /* init module */
    ngx_pds_init_process,                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_pds_exit_process,                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
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


static void *
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
    pscf->crawlers = NGX_CONF_UNSET_PTR;
    pscf->blob_upload_limit = NGX_CONF_UNSET_SIZE;
    pscf->ssrf_disabled = NGX_CONF_UNSET;

    return pscf;
}


static char *
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
        || ngx_pds_proxy_inject(cf, pscf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* proxied answers carry the CORS headers of the PDS's own */
    plcf = pscf->proxy_location->loc_conf[ngx_pds_module.ctx_index];
    plcf->cors = 1;

    return NGX_CONF_OK;
}


/* "directive a b c;": every argument into an array of ngx_str_t */
static char *
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
static char *
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


static char *
ngx_pds_merge_srv_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_pds_srv_conf_t  *prev = parent;
    ngx_pds_srv_conf_t  *conf = child;

    long                  n;
    ngx_int_t             rc;
    ngx_uint_t            localhost, i;
    ngx_str_t            *d, *key;
    ngx_pool_cleanup_t   *cln;
    ngx_pds_main_conf_t  *pmcf;
    ngx_pds_srv_conf_t  **t;

    ngx_conf_merge_uint_value(conf->port, prev->port, 2583);
    ngx_conf_merge_size_value(conf->map_size, prev->map_size,
                              (size_t) 4 * 1024 * 1024 * 1024);

    if (conf->map_size < NGX_PDS_MIN_MAP_SIZE) {
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
    ngx_conf_merge_size_value(conf->blob_upload_limit,
                              prev->blob_upload_limit, 5 * 1024 * 1024);
    ngx_conf_merge_value(conf->ssrf_disabled, prev->ssrf_disabled, 0);
    ngx_conf_merge_ptr_value(conf->crawlers, prev->crawlers, NULL);

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
           != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    key = &conf->plc_rotation_key;

    if (key->len != 64) {
        goto bad_key;
    }

    conf->rotation_key = pds_key_from_private_hex(PDS_KEY_K256,
                                                  (char *) key->data, 64);
    if (conf->rotation_key == NULL) {
        goto bad_key;
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
        pds_key_t  *rk;

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

    if (ngx_conf_full_name(cf->cycle, &conf->data_dir, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

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

    } else {
        conf->handle_domains = ngx_array_create(cf->pool, 1,
                                                sizeof(ngx_str_t));
        if (conf->handle_domains == NULL) {
            return NGX_CONF_ERROR;
        }

        d = ngx_array_push(conf->handle_domains);
        if (d == NULL) {
            return NGX_CONF_ERROR;
        }

        if (localhost) {
            ngx_str_set(d, ".test");

        } else if (ngx_pds_str_set(cf, d, ".%V", &conf->hostname)
                   != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

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

bad_key:

    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                  "\"pds_plc_rotation_key\" must be 64 hex digits "
                  "(a secp256k1 private key) in %s:%ui",
                  conf->file, conf->line);

    return NGX_CONF_ERROR;
}


static void *
ngx_pds_create_loc_conf(ngx_conf_t *cf)
{
    ngx_pds_loc_conf_t  *plcf;

    plcf = ngx_pcalloc(cf->pool, sizeof(ngx_pds_loc_conf_t));
    if (plcf == NULL) {
        return NULL;
    }

    plcf->enable = NGX_CONF_UNSET;
    plcf->cors = NGX_CONF_UNSET;

    return plcf;
}


static char *
ngx_pds_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_pds_loc_conf_t  *prev = parent;
    ngx_pds_loc_conf_t  *conf = child;

    ngx_pds_srv_conf_t        *pscf;
    ngx_http_core_loc_conf_t  *clcf;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_value(conf->cors, prev->cors, conf->enable);

    if (!conf->enable) {
        return NGX_CONF_OK;
    }

    /*
     * The PDS enforces its own body limits (JSON per method, blobs by
     * pds_blob_upload_limit) with XRPC errors; nginx's own limit must not
     * be lower, or clients get an HTML 413 first.
     */
    pscf = ngx_http_conf_get_module_srv_conf(cf, ngx_pds_module);
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (pscf->hostname.len && clcf->client_max_body_size != 0) {
        off_t  need = (off_t) ngx_max(pscf->blob_upload_limit, 2000000) + 1;

        if (clcf->client_max_body_size < need) {
            clcf->client_max_body_size = need;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_pds(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_pds_loc_conf_t  *plcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (plcf->enable != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    plcf->enable = 1;
    plcf->cors = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_pds_content_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_pds_postconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t                   s;
    ngx_http_core_srv_conf_t   **cscfp;
    ngx_http_core_main_conf_t   *cmcf;
    ngx_pds_srv_conf_t          *pscf;

    if (ngx_pds_xrpc_init(cf) != NGX_OK
        || ngx_pds_cors_init(cf) != NGX_OK
        || ngx_pds_ratelimit_init_conf(cf) != NGX_OK
        || ngx_pds_sync_init_conf(cf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* "pds" in a server block that is not a tenant is a mistake */

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    cscfp = cmcf->servers.elts;

    for (s = 0; s < cmcf->servers.nelts; s++) {
        pscf = cscfp[s]->ctx->srv_conf[ngx_pds_module.ctx_index];
        if (pscf->hostname.len == 0 && pscf->data_dir.len) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"pds_data_dir\" is set in a server block "
                          "without \"pds_hostname\"");
            return NGX_ERROR;
        }
    }

    ngx_pds_outbound_share_ssl(cf);

    return NGX_OK;
}


static ngx_int_t
ngx_pds_content_handler(ngx_http_request_t *r)
{
    ngx_pds_srv_conf_t  *pscf;

    pscf = ngx_http_get_module_srv_conf(r, ngx_pds_module);

    if (pscf->hostname.len == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pds: \"pds\" is used in a server block without "
                      "\"pds_hostname\"");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->method == NGX_HTTP_OPTIONS) {
        return ngx_pds_cors_preflight(r);
    }

    if (r->uri.len >= 6 && ngx_strncmp(r->uri.data, "/xrpc/", 6) == 0) {
        return ngx_pds_xrpc_handler(r);
    }

    if (r->uri.len == 1 && r->uri.data[0] == '/') {
        return ngx_pds_banner(r);
    }

    if (r->uri.len == 11 && ngx_strncmp(r->uri.data, "/robots.txt", 11) == 0)
    {
        return ngx_pds_robots(r);
    }

    if (r->uri.len == sizeof("/.well-known/atproto-did") - 1
        && ngx_strncmp(r->uri.data, "/.well-known/atproto-did",
                       r->uri.len) == 0)
    {
        return ngx_pds_well_known_did(r);
    }

    return NGX_HTTP_NOT_FOUND;
}


static ngx_int_t
ngx_pds_init_module(ngx_cycle_t *cycle)
{
    return ngx_pds_envs_init_module(cycle);
}


static ngx_int_t
ngx_pds_init_process(ngx_cycle_t *cycle)
{
#if (NGX_LINUX && defined M_ARENA_MAX)
    /*
     * One malloc arena for the worker: glibc would give each thread-pool
     * thread that runs our work its own arena, which keeps ~0.3 MB resident
     * per thread for good.  The threads have not allocated yet; the
     * per-thread caches keep small allocations free of the arena lock.
     */
    (void) mallopt(M_ARENA_MAX, 1);
#endif

    if (ngx_pds_envs_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

#if (NGX_LINUX && defined M_MMAP_THRESHOLD)
    /*
     * Environments are open (see ngx_pds_create_main_conf).  Now blocks up
     * to 4 MB come from the heap again, as glibc's own thresholds would
     * have it: each nested write transaction mallocs a 2 MB dirty list,
     * which must cost neither a map and an unmap nor a heap trim and
     * regrowth per request.
     */
    (void) mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
    (void) mallopt(M_TRIM_THRESHOLD, 8 * 1024 * 1024);
#endif

    return ngx_pds_sync_init_process(cycle);
}


static void
ngx_pds_exit_process(ngx_cycle_t *cycle)
{
    ngx_pds_sync_exit_process(cycle);
    ngx_pds_envs_exit_process(cycle);
}
