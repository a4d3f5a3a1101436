/*
 * ngx_pds_module: CORS, as the reference answers it.
 *
 * Browser clients (the Bluesky web app among them) call the PDS from
 * other origins.  Every answer of a PDS location, and of the injected
 * AppView proxy location, carries "Access-Control-Allow-Origin: *"; a
 * preflight (OPTIONS) to any path of a PDS location is answered 204 with
 * the methods the reference allows, the requested headers echoed and a
 * day's max-age.  The header filter is installed at postconfiguration and
 * touches only locations marked for it (ngx_pds_loc_conf_t.cors).
 */

#include "ngx_pds.h"


static ngx_http_output_header_filter_pt  ngx_pds_next_header_filter;


static ngx_int_t
ngx_pds_cors_set(ngx_http_request_t *r, const char *name, size_t len,
    ngx_str_t *value)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    /* an answer that already has the header (from upstream) keeps one */
    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {
        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash && h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            h[i].value = *value;
            return NGX_OK;
        }
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = len;
    h->value = *value;

    return NGX_OK;
}


#define ngx_pds_cors_header(r, name, value)                                 \
    ngx_pds_cors_set(r, name, sizeof(name) - 1, value)


static ngx_int_t
ngx_pds_cors_header_filter(ngx_http_request_t *r)
{
    ngx_str_t            any = ngx_string("*");
    ngx_pds_loc_conf_t  *plcf;

    if (r != r->main) {
        return ngx_pds_next_header_filter(r);
    }

    plcf = ngx_http_get_module_loc_conf(r, ngx_pds_module);

    if (plcf != NULL && plcf->cors == 1) {
        if (ngx_pds_cors_header(r, "Access-Control-Allow-Origin", &any)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_pds_next_header_filter(r);
}


ngx_int_t
ngx_pds_cors_init(ngx_conf_t *cf)
{
    ngx_pds_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_pds_cors_header_filter;

    return NGX_OK;
}


/* OPTIONS to a PDS location: the reference's preflight answer */
ngx_int_t
ngx_pds_cors_preflight(ngx_http_request_t *r)
{
    ngx_int_t         rc;
    ngx_str_t         v;
    ngx_table_elt_t  *h;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_str_set(&v, "GET,HEAD,PUT,PATCH,POST,DELETE");
    if (ngx_pds_cors_header(r, "Access-Control-Allow-Methods", &v)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h = ngx_pds_request_header(r, "Access-Control-Request-Headers");

    if (h != NULL) {
        if (ngx_pds_cors_header(r, "Access-Control-Allow-Headers", &h->value)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    ngx_str_set(&v, "Access-Control-Request-Headers");
    if (ngx_pds_cors_header(r, "Vary", &v) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&v, "86400");
    if (ngx_pds_cors_header(r, "Access-Control-Max-Age", &v) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "pds: CORS preflight");

    r->headers_out.status = NGX_HTTP_NO_CONTENT;
    r->headers_out.content_length_n = 0;
    r->header_only = 1;

    return ngx_http_send_header(r);
}


/* the rate-limit headers of an answer, readable by browser clients */
ngx_int_t
ngx_pds_cors_expose_rate_limits(ngx_http_request_t *r)
{
    ngx_str_t  v = ngx_string("RateLimit-Limit, RateLimit-Reset, "
                              "RateLimit-Remaining, RateLimit-Policy");

    return ngx_pds_cors_header(r, "Access-Control-Expose-Headers", &v);
}
