/*
 * ngx_pds_module: what the OAuth endpoints share: the request's state,
 * its parameters, OAuth answers and errors (with the DPoP-Nonce header),
 * DPoP proofs checked against the request.
 */

#include <sys/time.h>

#include "ngx_pds_oauth.h"


int64_t
ngx_pds_oauth_now_ms(void)
{
    struct timeval  tv;

    gettimeofday(&tv, NULL);
    return (int64_t) tv.tv_sec * 1000 + tv.tv_usec / 1000;
}


ngx_pds_oauth_t *
ngx_pds_oauth_state(ngx_pds_ctx_t *ctx)
{
    return ctx->data;
}


const char *
ngx_pds_oauth_param(ngx_pds_oauth_t *st, const char *name)
{
    const char  *v;

    if (st->params == NULL) {
        return NULL;
    }

    v = json_string_value(json_object_get(st->params, name));
    return (v && v[0]) ? v : NULL;
}


/* ---- answers ------------------------------------------------------------- */

ngx_int_t
ngx_pds_oauth_header(ngx_http_request_t *r, const char *name,
    const char *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value.data = (u_char *) value;
    h->value.len = ngx_strlen(value);

    return NGX_OK;
}


void
ngx_pds_oauth_nonce_secret(ngx_pds_srv_conf_t *conf, uint8_t out[32])
{
    pds_oauth_nonce_secret(conf->jwt_secret.data, conf->jwt_secret.len, out);
}


static ngx_int_t
ngx_pds_oauth_headers(ngx_pds_ctx_t *ctx)
{
    char                *nonce;
    uint8_t              secret[32];
    ngx_http_request_t  *r = ctx->request;

    nonce = ngx_pnalloc(r->pool, PDS_OAUTH_NONCE_LEN + 1);
    if (nonce == NULL) {
        return NGX_ERROR;
    }

    ngx_pds_oauth_nonce_secret(ctx->conf, secret);
    pds_oauth_nonce_next(secret, ngx_pds_oauth_now_ms(), nonce);
    ngx_explicit_memzero(secret, sizeof(secret));

    if (ngx_pds_oauth_header(r, "Cache-Control", "no-store") != NGX_OK
        || ngx_pds_oauth_header(r, "Pragma", "no-cache") != NGX_OK
        || ngx_pds_oauth_header(r, "DPoP-Nonce", nonce) != NGX_OK
        || ngx_pds_oauth_header(r, "Access-Control-Expose-Headers",
                                "DPoP-Nonce") != NGX_OK
        || ngx_pds_oauth_header(r, "Access-Control-Allow-Headers",
                                "Content-Type,DPoP") != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_pds_oauth_send(ngx_pds_ctx_t *ctx, ngx_uint_t status, json_t *body)
{
    if (ngx_pds_oauth_headers(ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_json(ctx->request, status, body);
}


ngx_int_t
ngx_pds_oauth_error(ngx_pds_ctx_t *ctx, ngx_uint_t status, const char *error,
    const char *description)
{
    json_t  *o;

    o = ngx_pds_json_track(ctx->request,
                           json_pack("{s:s, s:s}", "error", error,
                                     "error_description", description));
    if (o == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_oauth_send(ctx, status, o);
}


/* ---- DPoP ---------------------------------------------------------------- */

static ngx_int_t
ngx_pds_oauth_dpop_invalid(ngx_pds_ctx_t *ctx, const char *why)
{
    u_char              *p;
    size_t               n;
    ngx_http_request_t  *r = ctx->request;

    n = ngx_strlen(why);
    p = ngx_pnalloc(r->pool, n + 128);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* a description with a quote cannot be a quoted-string: left out */
    if (ngx_strchr(why, '"') == NULL) {
        *ngx_sprintf(p, "DPoP algs=\"ES256 ES256K\", "
                     "error=\"invalid_dpop_proof\", "
                     "error_description=\"%s\"", why) = '\0';
    } else {
        *ngx_sprintf(p, "DPoP algs=\"ES256 ES256K\", "
                     "error=\"invalid_dpop_proof\"") = '\0';
    }

    if (ngx_pds_oauth_header(r, "WWW-Authenticate", (char *) p) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_oauth_error(ctx, NGX_HTTP_UNAUTHORIZED,
                               "invalid_dpop_proof", why);
}


ngx_int_t
ngx_pds_oauth_dpop(ngx_pds_ctx_t *ctx, ngx_pds_oauth_t *st,
    ngx_uint_t required)
{
    u_char              *url;
    uint8_t              secret[32];
    const char          *why;
    ngx_table_elt_t     *h;
    pds_dpop_rc_t        rc;
    pds_dpop_check_t     chk;
    ngx_http_request_t  *r = ctx->request;
    ngx_pds_srv_conf_t  *conf = ctx->conf;

    h = ngx_pds_request_header(r, "DPoP");

    if (h == NULL) {
        if (required) {
            return ngx_pds_oauth_dpop_invalid(ctx, "DPoP proof required");
        }
        return NGX_OK;
    }

    if (h->value.len == 0) {
        return ngx_pds_oauth_dpop_invalid(ctx, "DPoP header cannot be empty");
    }

    url = ngx_pnalloc(r->pool, conf->public_url.len + r->uri.len + 1);
    if (url == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    *ngx_sprintf(url, "%V%V", &conf->public_url, &r->uri) = '\0';

    ngx_pds_oauth_nonce_secret(conf, secret);

    ngx_memzero(&chk, sizeof(chk));
    chk.method = ngx_pnalloc(r->pool, r->method_name.len + 1);
    if (chk.method == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    *ngx_cpymem((u_char *) chk.method, r->method_name.data,
                r->method_name.len) = '\0';
    chk.url = (char *) url;
    chk.url_len = conf->public_url.len + r->uri.len;
    chk.nonce_secret = secret;
    chk.now_ms = ngx_pds_oauth_now_ms();

    rc = pds_dpop_verify((char *) h->value.data, h->value.len, &chk,
                         &st->proof, &why);
    ngx_explicit_memzero(secret, sizeof(secret));

    switch (rc) {
    case PDS_DPOP_OK:
        st->has_proof = 1;
        return NGX_OK;
    case PDS_DPOP_USE_NONCE:
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "use_dpop_nonce", why);
    case PDS_DPOP_INVALID:
        return ngx_pds_oauth_dpop_invalid(ctx, why);
    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


/* s (NULL: nothing) escaped for HTML text and attribute values; at most
 * 6 bytes for each byte of s */
u_char *
ngx_pds_oauth_html(u_char *p, const char *s)
{
    for ( ; s && *s; s++) {
        switch (*s) {
        case '<': p = ngx_cpymem(p, "&lt;", 4); break;
        case '>': p = ngx_cpymem(p, "&gt;", 4); break;
        case '&': p = ngx_cpymem(p, "&amp;", 5); break;
        case '"': p = ngx_cpymem(p, "&quot;", 6); break;
        case '\'': p = ngx_cpymem(p, "&#39;", 5); break;
        default: *p++ = (u_char) *s;
        }
    }

    return p;
}
