/*
 * ngx_pds_module: com.atproto.sync.* and the subscribeRepos firehose.
 * (Being written: this is the interface the rest of the module uses.)
 */

#include "ngx_pds.h"


const ngx_pds_method_t  ngx_pds_sync_methods[] = {
    { ngx_null_string, 0, 0, 0, 0, 0, NULL }
};


ngx_int_t
ngx_pds_sync_init_conf(ngx_conf_t *cf)
{
    return NGX_OK;
}


ngx_int_t
ngx_pds_sync_init_process(ngx_cycle_t *cycle)
{
    return NGX_OK;
}


void
ngx_pds_sync_exit_process(ngx_cycle_t *cycle)
{
}


void
ngx_pds_sync_notify(ngx_pds_ctx_t *ctx)
{
}
