/*
 * ngx_pds_module: the module: its directives, the location handler,
 * postconfiguration and the process hooks (the configuration of a tenant
 * is made in ngx_pds_conf.c).
 *
 * Every server block with "pds_hostname" is one PDS tenant with its own
 * hostname, keys, secrets and LMDB data; "pds" in a location hands its
 * requests to the module.
 */

#include "ngx_pds.h"
#include "ngx_pds_methods.h"
#include "ngx_pds_mail.h"
#include "ngx_pds_handle_resolve.h"


#if (NGX_LINUX)
#include <malloc.h>
#endif


static void *ngx_pds_create_loc_conf(ngx_conf_t *cf);
static char *ngx_pds_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_pds_postconfiguration(ngx_conf_t *cf);
static char *ngx_pds(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_pds_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_pds_init_process(ngx_cycle_t *cycle);
static void ngx_pds_exit_process(ngx_cycle_t *cycle);
static ngx_int_t ngx_pds_content_handler(ngx_http_request_t *r);
static ngx_int_t ngx_pds_error_pages(ngx_conf_t *cf,
    ngx_http_core_loc_conf_t *clcf);
static ngx_int_t ngx_pds_nginx_error(ngx_http_request_t *r);


static ngx_conf_num_bounds_t  ngx_pds_port_bounds = {
    ngx_conf_check_num_bounds, 1, 65535
};


#define NGX_PDS_SRV  (NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1)

#define NGX_PDS_OFF(f)  offsetof(ngx_pds_srv_conf_t, f)

static ngx_command_t  ngx_pds_commands[] = {

    { ngx_string("pds"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_pds,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("pds_well_known_did"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_pds_well_known_directive,
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

    { ngx_string("pds_firehose_backfill_events"), NGX_PDS_SRV,
      ngx_conf_set_num_slot, NGX_HTTP_SRV_CONF_OFFSET,
      NGX_PDS_OFF(firehose_backfill_events), NULL },

    { ngx_string("pds_blob_check"), NGX_HTTP_SRV_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot, NGX_HTTP_SRV_CONF_OFFSET,
      NGX_PDS_OFF(blob_check), NULL },

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

    /* PDS_HANDLE_BACKUP_NAMESERVERS, by address */
    { ngx_string("pds_handle_backup_nameservers"),
      NGX_HTTP_SRV_CONF|NGX_CONF_1MORE, ngx_pds_handle_nameservers,
      NGX_HTTP_SRV_CONF_OFFSET, 0, NULL },

    /* the CA certificates outbound TLS trusts, instead of the system's */
    { ngx_string("pds_outbound_ca_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1, ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET, offsetof(ngx_pds_main_conf_t,
                                          outbound_ca_file), NULL },

    { ngx_string("pds_email_smtp_url"), NGX_PDS_SRV, ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET, NGX_PDS_OFF(smtp_url), NULL },

    { ngx_string("pds_email_from_address"), NGX_PDS_SRV,
      ngx_conf_set_str_slot, NGX_HTTP_SRV_CONF_OFFSET,
      NGX_PDS_OFF(email_from), NULL },

    { ngx_string("pds_email_smtp_ca_file"), NGX_PDS_SRV,
      ngx_conf_set_str_slot, NGX_HTTP_SRV_CONF_OFFSET,
      NGX_PDS_OFF(smtp_ca_file), NULL },

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

    if (pscf->hostname.len
        && ngx_pds_error_pages(cf, clcf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * error_page for those statuses to NGX_PDS_ERROR_LOCATION, unless the
 * location (or a block around it) has its own page for one.  The array is
 * a copy: the one inherited belongs to the enclosing block.
 */
static ngx_int_t
ngx_pds_error_pages(ngx_conf_t *cf, ngx_http_core_loc_conf_t *clcf)
{
    ngx_uint_t            i, j, found;
    ngx_array_t          *pages;
    ngx_http_err_page_t  *err, *old;

    static const ngx_int_t  statuses[] = {
        NGX_HTTP_BAD_REQUEST, NGX_HTTP_REQUEST_TIME_OUT,
        NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, NGX_HTTP_INTERNAL_SERVER_ERROR
    };

    if (clcf->name.len == sizeof(NGX_PDS_ERROR_LOCATION) - 1
        && ngx_strncmp(clcf->name.data, NGX_PDS_ERROR_LOCATION,
                       clcf->name.len) == 0)
    {
        return NGX_OK;
    }

    pages = ngx_array_create(cf->pool, 8, sizeof(ngx_http_err_page_t));
    if (pages == NULL) {
        return NGX_ERROR;
    }

    if (clcf->error_pages) {
        old = clcf->error_pages->elts;

        for (j = 0; j < clcf->error_pages->nelts; j++) {
            err = ngx_array_push(pages);
            if (err == NULL) {
                return NGX_ERROR;
            }

            *err = old[j];
        }
    }

    for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        found = 0;
        old = pages->elts;

        for (j = 0; j < pages->nelts; j++) {
            if (old[j].status == statuses[i]) {
                found = 1;
            }
        }

        if (found) {
            continue;
        }

        err = ngx_array_push(pages);
        if (err == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(err, sizeof(ngx_http_err_page_t));
        err->status = statuses[i];
        err->overwrite = -1;    /* the answer keeps the status */
        ngx_str_set(&err->value.value, NGX_PDS_ERROR_LOCATION);
    }

    clcf->error_pages = pages;

    return NGX_OK;
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
        || ngx_pds_handle_resolve_init_conf(cf) != NGX_OK
        || ngx_pds_sync_init_conf(cf) != NGX_OK
        || ngx_pds_well_known_init_conf(cf) != NGX_OK)
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

    return ngx_pds_outbound_share_ssl(cf);
}


static ngx_int_t
ngx_pds_content_handler(ngx_http_request_t *r)
{
    ngx_int_t            rc;
    ngx_pds_srv_conf_t  *pscf;

    pscf = ngx_http_get_module_srv_conf(r, ngx_pds_module);

    if (pscf->hostname.len == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pds: \"pds\" is used in a server block without "
                      "\"pds_hostname\"");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->internal && r->err_status
        && r->uri.len == sizeof(NGX_PDS_ERROR_LOCATION) - 1
        && ngx_strncmp(r->uri.data, NGX_PDS_ERROR_LOCATION, r->uri.len) == 0)
    {
        return ngx_pds_nginx_error(r);
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

    if ((r->uri.len > 7 && ngx_strncmp(r->uri.data, "/oauth/", 7) == 0)
        || (r->uri.len > 18
            && ngx_strncmp(r->uri.data, "/.well-known/oauth-", 18) == 0))
    {
        rc = ngx_pds_oauth_handler(r);
        return rc == NGX_DECLINED ? NGX_HTTP_NOT_FOUND : rc;
    }

    return NGX_HTTP_NOT_FOUND;
}


/* an error nginx raised in a PDS location, as the reference names it */
static ngx_int_t
ngx_pds_nginx_error(ngx_http_request_t *r)
{
    ngx_uint_t   status;
    const char  *name, *message;

    status = r->err_status;

    switch (status) {
    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        name = "PayloadTooLarge";
        message = "request entity too large";
        break;
    case NGX_HTTP_BAD_REQUEST:
    case NGX_HTTP_REQUEST_TIME_OUT:
        name = "InvalidRequest";
        message = "Invalid Request";
        break;
    default:
        status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        name = "InternalServerError";
        message = "Internal Server Error";
        break;
    }

    r->err_status = 0;

    return ngx_pds_send_error(r, status, name, message);
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

    if (ngx_pds_mail_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_pds_blob_check_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_pds_sync_init_process(cycle);
}


static void
ngx_pds_exit_process(ngx_cycle_t *cycle)
{
    ngx_pds_sync_exit_process(cycle);
    ngx_pds_envs_exit_process(cycle);
}
