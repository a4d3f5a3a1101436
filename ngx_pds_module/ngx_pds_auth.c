/*
 * ngx_pds_module: authentication of XRPC calls.
 *
 * Admin calls carry HTTP Basic "admin:<pds_admin_password>".  Session,
 * app-password and service tokens come with the accounts layer.
 */

#include "ngx_pds.h"

#include <openssl/crypto.h>


static ngx_int_t ngx_pds_auth_required(ngx_http_request_t *r);


static void
ngx_pds_auth_headers(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h != NULL) {
        h->hash = 1;
        ngx_str_set(&h->key, "Cache-Control");
        ngx_str_set(&h->value, "private");
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h != NULL) {
        h->hash = 1;
        ngx_str_set(&h->key, "Vary");
        ngx_str_set(&h->value, "Authorization");
    }
}


static ngx_int_t
ngx_pds_auth_required(ngx_http_request_t *r)
{
    return ngx_pds_send_error(r, NGX_HTTP_UNAUTHORIZED,
                              "AuthenticationRequired",
                              "Authentication Required");
}


ngx_int_t
ngx_pds_auth_admin(ngx_http_request_t *r, ngx_pds_srv_conf_t *pscf)
{
    ngx_int_t   rc;
    ngx_str_t  *pass;

    ngx_pds_auth_headers(r);

    rc = ngx_http_auth_basic_user(r);

    if (rc != NGX_OK
        || r->headers_in.user.len != 5
        || ngx_strncmp(r->headers_in.user.data, "admin", 5) != 0)
    {
        return ngx_pds_auth_required(r);
    }

    pass = &pscf->admin_password;

    if (r->headers_in.passwd.len != pass->len
        || CRYPTO_memcmp(r->headers_in.passwd.data, pass->data, pass->len)
           != 0)
    {
        return ngx_pds_auth_required(r);
    }

    return NGX_OK;
}
