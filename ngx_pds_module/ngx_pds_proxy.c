/*
 * ngx_pds_module: the AppView / chat proxy, preferences, getServiceAuth.
 * (Being written: this is the interface the rest of the module uses.)
 */

#include "ngx_pds.h"


const ngx_pds_method_t  ngx_pds_proxy_methods[] = {
    { ngx_null_string, 0, 0, 0, 0, 0, NULL }
};


char *
ngx_pds_proxy_inject(ngx_conf_t *cf, ngx_pds_srv_conf_t *pscf)
{
    return NGX_CONF_OK;
}


ngx_int_t
ngx_pds_proxy_unknown(ngx_http_request_t *r, ngx_str_t *nsid)
{
    return NGX_DECLINED;
}
