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


/*
 * The request's Access-Control-Request-Headers, its lines joined with
 * ", " as Node joins a repeated header; an empty string when there is none.
 */
static ngx_int_t
ngx_pds_cors_requested_headers(ngx_http_request_t *r, ngx_str_t *out)
{
    u_char           *p;
    size_t            len;
    ngx_uint_t        i, pass, n;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;
    static const char  name[] = "Access-Control-Request-Headers";

    len = 0;
    p = NULL;
    ngx_str_null(out);

    /* the first pass measures, the second copies */
    for (pass = 0; pass < 2; pass++) {
        n = 0;
        part = &r->headers_in.headers.part;
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

            if (h[i].key.len != sizeof(name) - 1
                || ngx_strncasecmp(h[i].key.data, (u_char *) name,
                                   sizeof(name) - 1) != 0)
            {
                continue;
            }

            if (pass == 0) {
                len += (n ? 2 : 0) + h[i].value.len;

            } else {
                if (n) {
                    *p++ = ',';
                    *p++ = ' ';
                }

                p = ngx_cpymem(p, h[i].value.data, h[i].value.len);
            }

            n++;
        }

        if (pass == 0) {
            if (n == 0 || len == 0) {
                return NGX_OK;
            }

            p = ngx_pnalloc(r->pool, len);
            if (p == NULL) {
                return NGX_ERROR;
            }

            out->data = p;
            out->len = len;
        }
    }

    return NGX_OK;
}


/*
 * OPTIONS to a PDS location: the reference's preflight answer (express's
 * cors middleware: any method, any path, Origin or not).  Allow-Headers
 * echoes what was asked, and is left out when nothing was.  The reference
 * also sends "Content-Length: 0" with its 204; nginx leaves it out, as
 * RFC 9110 (8.6) asks of a 204, and browsers need none.
 */
ngx_int_t
ngx_pds_cors_preflight(ngx_http_request_t *r)
{
    ngx_int_t  rc;
    ngx_str_t  v;

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

    if (ngx_pds_cors_requested_headers(r, &v) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (v.len
        && ngx_pds_cors_header(r, "Access-Control-Allow-Headers", &v)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
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
ngx_pds_cors_expose_rate_limits(ngx_http_request_t *r, ngx_uint_t retry_after)
{
    ngx_str_t  v = ngx_string("RateLimit-Limit, RateLimit-Reset, "
                              "RateLimit-Remaining, RateLimit-Policy");
    ngx_str_t  ra = ngx_string("Retry-After");

    if (ngx_pds_cors_header(r, "Access-Control-Expose-Headers", &v)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return retry_after
           ? ngx_pds_cors_header(r, "Access-Control-Expose-Headers", &ra)
           : NGX_OK;
}
