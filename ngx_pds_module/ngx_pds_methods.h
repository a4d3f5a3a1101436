/*
 * ngx_pds_module: the list of XRPC method tables, and what the module's
 * configuration (ngx_pds_module.c) and dispatch (ngx_pds_xrpc.c) call of
 * the features above the plumbing.  A new namespace adds its table here
 * and to NGX_PDS_METHOD_TABLES; nothing else names it.
 */

#ifndef NGX_PDS_METHODS_H
#define NGX_PDS_METHODS_H

#include "ngx_pds.h"


extern const ngx_pds_method_t  ngx_pds_server_methods[];
extern const ngx_pds_method_t  ngx_pds_account_methods[];
extern const ngx_pds_method_t  ngx_pds_session_methods[];
extern const ngx_pds_method_t  ngx_pds_password_reset_methods[];
extern const ngx_pds_method_t  ngx_pds_lifecycle_methods[];
extern const ngx_pds_method_t  ngx_pds_email_methods[];
extern const ngx_pds_method_t  ngx_pds_identity_methods[];
extern const ngx_pds_method_t  ngx_pds_repo_methods[];
extern const ngx_pds_method_t  ngx_pds_blob_methods[];
extern const ngx_pds_method_t  ngx_pds_migrate_methods[];
extern const ngx_pds_method_t  ngx_pds_plc_ops_methods[];
extern const ngx_pds_method_t  ngx_pds_sync_methods[];
extern const ngx_pds_method_t  ngx_pds_prefs_methods[];
extern const ngx_pds_method_t  ngx_pds_admin_methods[];
extern const ngx_pds_method_t  ngx_pds_proxy_methods[];

/* every table, in dispatch order (the proxy's holds the fallback) */
#define NGX_PDS_METHOD_TABLES                                               \
    ngx_pds_server_methods,                                                 \
    ngx_pds_account_methods,                                                \
    ngx_pds_session_methods,                                                \
    ngx_pds_password_reset_methods,                                         \
    ngx_pds_lifecycle_methods,                                              \
    ngx_pds_email_methods,                                                  \
    ngx_pds_identity_methods,                                               \
    ngx_pds_repo_methods,                                                   \
    ngx_pds_blob_methods,                                                   \
    ngx_pds_migrate_methods,                                                \
    ngx_pds_plc_ops_methods,                                                \
    ngx_pds_sync_methods,                                                   \
    ngx_pds_prefs_methods,                                                  \
    ngx_pds_admin_methods,                                                  \
    ngx_pds_proxy_methods


/* locations outside /xrpc/ (ngx_pds_module.c routes them) */
ngx_int_t ngx_pds_banner(ngx_http_request_t *r);
ngx_int_t ngx_pds_robots(ngx_http_request_t *r);
ngx_int_t ngx_pds_well_known_did(ngx_http_request_t *r);
/* OAuth (oauth/): /oauth/... and its well-known documents, else DECLINED */
ngx_int_t ngx_pds_oauth_handler(ngx_http_request_t *r);

/* "pds_well_known_did HOSTNAME;": a location of any server block answering
 * /.well-known/atproto-did for that tenant's handles (ngx_pds_well_known.c);
 * each is matched to its tenant at postconfiguration */
char *ngx_pds_well_known_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_pds_well_known_init_conf(ngx_conf_t *cf);

/* blob hygiene in the background, per tenant (ngx_pds_blob_check.c) */
ngx_int_t ngx_pds_blob_check_init_process(ngx_cycle_t *cycle);

/* the sync layer: firehose, crawl notification (installs a commit hook) */
ngx_int_t ngx_pds_sync_init_conf(ngx_conf_t *cf);
ngx_int_t ngx_pds_sync_init_process(ngx_cycle_t *cycle);
void ngx_pds_sync_exit_process(ngx_cycle_t *cycle);

/* the proxy layer: its injected location */
char *ngx_pds_proxy_inject(ngx_conf_t *cf, ngx_pds_srv_conf_t *pscf);


#endif /* NGX_PDS_METHODS_H */
