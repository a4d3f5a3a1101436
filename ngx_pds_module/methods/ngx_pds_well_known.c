/*
 * ngx_pds_module: /.well-known/atproto-did served by a server block of its
 * own.
 *
 * Self-hosters often give user handles (alice.example.com) their own
 * server block, with its own TLS certificate (a wildcard, chosen by SNI),
 * so that handle hosts do not serve the whole PDS:
 *
 *     server {
 *         listen 443 ssl;
 *         server_name *.example.com;
 *         ssl_certificate     /etc/ssl/wildcard.example.com.pem;
 *         ssl_certificate_key /etc/ssl/wildcard.example.com.key;
 *         location = /.well-known/atproto-did {
 *             pds_well_known_did pds.example.com;
 *         }
 *     }
 *
 * "pds_well_known_did HOSTNAME" names the tenant (its pds_hostname) whose
 * accounts are looked up; the answer is the one the tenant's own server
 * block gives (ngx_pds_identity.c): the DID as text, or 404 "User not
 * found".  Everything else in that server block is nginx's.  Each such
 * location is matched to its tenant at postconfiguration, so that nginx -t
 * refuses a hostname no server block has.
 */

#include "ngx_pds_methods_int.h"


static ngx_int_t ngx_pds_well_known_handler(ngx_http_request_t *r);


char *
ngx_pds_well_known_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_pds_loc_conf_t  *plcf = conf;

    ngx_str_t                 *value;
    ngx_pds_loc_conf_t       **slot;
    ngx_pds_main_conf_t       *pmcf;
    ngx_http_core_loc_conf_t  *clcf;

    if (plcf->well_known_of.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        return "needs the pds_hostname of a PDS server block";
    }

    plcf->well_known_of = value[1];

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_pds_module);

    if (pmcf->well_known.elts == NULL
        && ngx_array_init(&pmcf->well_known, cf->pool, 1,
                          sizeof(ngx_pds_loc_conf_t *))
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    slot = ngx_array_push(&pmcf->well_known);
    if (slot == NULL) {
        return NGX_CONF_ERROR;
    }

    *slot = plcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_pds_well_known_handler;

    return NGX_CONF_OK;
}


/* each pds_well_known_did names a tenant of this configuration */
ngx_int_t
ngx_pds_well_known_init_conf(ngx_conf_t *cf)
{
    ngx_uint_t             i, j;
    ngx_pds_loc_conf_t   **w;
    ngx_pds_srv_conf_t   **t;
    ngx_pds_main_conf_t   *pmcf;

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_pds_module);

    w = pmcf->well_known.elts;
    t = pmcf->tenants.elts;

    for (i = 0; i < pmcf->well_known.nelts; i++) {

        for (j = 0; j < pmcf->tenants.nelts; j++) {
            if (t[j]->hostname.len == w[i]->well_known_of.len
                && ngx_strncasecmp(t[j]->hostname.data,
                                   w[i]->well_known_of.data,
                                   t[j]->hostname.len)
                   == 0)
            {
                w[i]->well_known = t[j];
                break;
            }
        }

        if (w[i]->well_known == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"pds_well_known_did %V\": no server block has "
                          "\"pds_hostname %V\"",
                          &w[i]->well_known_of, &w[i]->well_known_of);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_pds_well_known_handler(ngx_http_request_t *r)
{
    ngx_pds_loc_conf_t  *plcf;

    plcf = ngx_http_get_module_loc_conf(r, ngx_pds_module);

    if (plcf->well_known == NULL) {
        return NGX_HTTP_NOT_FOUND;
    }

    return ngx_pds_well_known_answer(r, plcf->well_known);
}
