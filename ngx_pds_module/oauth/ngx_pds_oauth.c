/*
 * ngx_pds_module: OAuth routes (/oauth/..., the well-known metadata), bodies,
 * DPoP proofs and nonces, OAuth errors.
 */

#include "ngx_pds_methods.h"
#include "ngx_pds_oauth.h"


static ngx_int_t ngx_pds_oauth_run(ngx_pds_ctx_t *ctx);
static void ngx_pds_oauth_body_handler(ngx_http_request_t *r);


static const ngx_pds_method_t  ngx_pds_oauth_method = {
    ngx_string("oauth"), NGX_PDS_ANY, NGX_PDS_AUTH_NONE, NGX_PDS_IN_RAW, 0,
    NGX_PDS_OAUTH_BODY_MAX, NULL, NULL
};


typedef struct {
    ngx_str_t           path;
    ngx_pds_handler_pt  handler;
    ngx_uint_t          methods;
} ngx_pds_oauth_route_t;


static ngx_int_t ngx_pds_oauth_as_metadata(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_oauth_pr_metadata(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_oauth_jwks(ngx_pds_ctx_t *ctx);


static const ngx_pds_oauth_route_t  ngx_pds_oauth_routes[] = {
    { ngx_string("/.well-known/oauth-authorization-server"),
      ngx_pds_oauth_as_metadata, NGX_HTTP_GET|NGX_HTTP_HEAD },
    { ngx_string("/.well-known/oauth-protected-resource"),
      ngx_pds_oauth_pr_metadata, NGX_HTTP_GET|NGX_HTTP_HEAD },
    { ngx_string("/oauth/jwks"), ngx_pds_oauth_jwks,
      NGX_HTTP_GET|NGX_HTTP_HEAD },
    { ngx_string("/oauth/par"), ngx_pds_oauth_par, NGX_HTTP_POST },
    { ngx_string("/oauth/token"), ngx_pds_oauth_token, NGX_HTTP_POST },
    { ngx_string("/oauth/revoke"), ngx_pds_oauth_revoke, NGX_HTTP_POST },
    { ngx_string("/oauth/authorize"), ngx_pds_oauth_authorize,
      NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_POST },
    { ngx_null_string, NULL, 0 }
};


/* NGX_DECLINED when the path is none of OAuth's */
ngx_int_t
ngx_pds_oauth_handler(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_pds_ctx_t                *ctx;
    ngx_pds_oauth_t              *st;
    const ngx_pds_oauth_route_t  *rt;

    for (rt = ngx_pds_oauth_routes; rt->path.len; rt++) {
        if (r->uri.len == rt->path.len
            && ngx_strncmp(r->uri.data, rt->path.data, r->uri.len) == 0)
        {
            break;
        }
    }

    if (rt->path.len == 0) {
        return NGX_DECLINED;
    }

    if (!(r->method & rt->methods)) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    ctx = ngx_pds_ctx_create(r, &ngx_pds_oauth_method,
                             (ngx_str_t *) &rt->path);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st = ngx_pcalloc(r->pool, sizeof(ngx_pds_oauth_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = st;
    st->data = (void *) rt->handler;

    if (r->method != NGX_HTTP_POST) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK || ctx->request->header_sent) {
            return rc;
        }
        return ngx_pds_finish(ctx, ngx_pds_oauth_run(ctx));
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_pds_oauth_body_handler);
    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_pds_oauth_run(ngx_pds_ctx_t *ctx)
{
    ngx_pds_oauth_t     *st = ctx->data;
    ngx_pds_handler_pt   h;

    h = (ngx_pds_handler_pt) st->data;
    st->data = NULL;

    return h(ctx);
}


/* ---- bodies -------------------------------------------------------------- */

static json_t *
ngx_pds_oauth_form(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char  *q, *end, *amp, *eq;
    char    *k, *v;
    long     kn, vn;
    json_t  *o;

    o = ngx_pds_json_track(r, json_object());
    if (o == NULL) {
        return NULL;
    }

    q = body->data;
    end = body->data + body->len;

    while (q < end) {
        amp = ngx_strlchr(q, end, '&');
        if (amp == NULL) {
            amp = end;
        }

        eq = ngx_strlchr(q, amp, '=');
        if (eq == NULL) {
            eq = amp;
        }

        k = ngx_pnalloc(r->pool, (eq - q) + 1);
        v = ngx_pnalloc(r->pool, (eq < amp ? amp - eq - 1 : 0) + 1);
        if (k == NULL || v == NULL) {
            return NULL;
        }

        kn = pds_oauth_form_decode((char *) q, eq - q, k, (eq - q) + 1);
        vn = eq < amp ? pds_oauth_form_decode((char *) eq + 1, amp - eq - 1,
                                              v, amp - eq)
                      : (v[0] = '\0', 0);

        if (kn > 0 && vn >= 0 && (size_t) kn == ngx_strlen(k)) {
            json_object_set_new(o, k, json_stringn(v, vn));
        }

        q = amp + 1;
    }

    return o;
}


static ngx_int_t
ngx_pds_oauth_params(ngx_pds_ctx_t *ctx, ngx_pds_oauth_t *st)
{
    u_char              *buf;
    ngx_str_t            body, ct;
    ngx_http_request_t  *r = ctx->request;

    if (r->headers_in.content_type) {
        ct = r->headers_in.content_type->value;
    } else {
        ngx_str_set(&ct, "application/octet-stream");
    }

    switch (ngx_pds_read_body(r, &body, NGX_PDS_OAUTH_BODY_MAX)) {
    case NGX_OK:
        break;
    case NGX_DECLINED:
        return ngx_pds_oauth_error(ctx, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                   "invalid_request",
                                   "Request body too large");
    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (body.data == NULL) {
        ngx_str_set(&body, "");         /* empty: no buffer */
    }

    if (ct.len >= 33
        && ngx_strncasecmp(ct.data,
                           (u_char *) "application/x-www-form-urlencoded",
                           33) == 0)
    {
        st->params = ngx_pds_oauth_form(r, &body);

    } else if (ct.len >= 16
               && ngx_strncasecmp(ct.data, (u_char *) "application/json", 16)
                  == 0)
    {
        st->params = ngx_pds_json_track(r, json_loadb((char *) body.data,
                                                      body.len, 0, NULL));
        if (st->params == NULL || !json_is_object(st->params)) {
            return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                       "invalid_request",
                                       "Invalid JSON request body");
        }

    } else {
        buf = ngx_pnalloc(r->pool, ngx_min(ct.len, 100) + 40);
        if (buf == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        *ngx_sprintf(buf, "Unsupported content-type: %*s",
                     ngx_min(ct.len, 100), ct.data) = '\0';
        return ngx_pds_oauth_error(ctx, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                   "invalid_request", (char *) buf);
    }

    return st->params ? NGX_OK : NGX_HTTP_INTERNAL_SERVER_ERROR;
}


static void
ngx_pds_oauth_body_handler(ngx_http_request_t *r)
{
    ngx_int_t         rc;
    ngx_pds_ctx_t    *ctx;
    ngx_pds_oauth_t  *st;

    ctx = ngx_http_get_module_ctx(r, ngx_pds_module);
    st = ctx->data;

    rc = ngx_pds_oauth_params(ctx, st);
    if (rc == NGX_OK && !r->header_sent) {
        rc = ngx_pds_oauth_run(ctx);
    }

    ngx_http_finalize_request(r, ngx_pds_finish(ctx, rc));
}


/* ---- metadata ------------------------------------------------------------ */

static ngx_int_t
ngx_pds_oauth_send_cached(ngx_pds_ctx_t *ctx, json_t *o)
{
    if (o == NULL
        || ngx_pds_oauth_header(ctx->request, "Cache-Control", "max-age=300")
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, o);
}


static json_t *
ngx_pds_oauth_url(ngx_pds_ctx_t *ctx, const char *path)
{
    u_char     *p;
    ngx_str_t  *base = &ctx->conf->public_url;

    p = ngx_pnalloc(ctx->request->pool, base->len + ngx_strlen(path) + 1);
    if (p == NULL) {
        return NULL;
    }
    *ngx_sprintf(p, "%V%s", base, path) = '\0';

    return json_string((char *) p);
}


static ngx_int_t
ngx_pds_oauth_as_metadata(ngx_pds_ctx_t *ctx)
{
    json_t  *o;

    o = ngx_pds_json_track(ctx->request, json_pack(
        "{s:o, s:b, s:b, s:b, s:[ssss], s:[s], s:[s], s:[sss], s:[ss],"
        " s:[s], s:[s], s:[sss], s:b, s:o, s:o, s:o, s:[ss], s:[ss], s:o,"
        " s:o,"
        " s:b, s:[ss], s:[o], s:b, s:[ssss]}",
        "issuer", ngx_pds_oauth_url(ctx, ""),
        "request_parameter_supported", 0,
        "request_uri_parameter_supported", 1,
        "require_request_uri_registration", 1,
        "scopes_supported", "atproto", "transition:email",
        "transition:generic", "transition:chat.bsky",
        "subject_types_supported", "public",
        "response_types_supported", "code",
        "response_modes_supported", "query", "fragment", "form_post",
        "grant_types_supported", "authorization_code", "refresh_token",
        "code_challenge_methods_supported", "S256",
        "ui_locales_supported", "en-US",
        "display_values_supported", "page", "popup", "touch",
        "authorization_response_iss_parameter_supported", 1,
        "jwks_uri", ngx_pds_oauth_url(ctx, "/oauth/jwks"),
        "authorization_endpoint", ngx_pds_oauth_url(ctx, "/oauth/authorize"),
        "token_endpoint", ngx_pds_oauth_url(ctx, "/oauth/token"),
        "token_endpoint_auth_methods_supported", "none", "private_key_jwt",
        "token_endpoint_auth_signing_alg_values_supported", "ES256", "ES256K",
        "revocation_endpoint", ngx_pds_oauth_url(ctx, "/oauth/revoke"),
        "pushed_authorization_request_endpoint",
        ngx_pds_oauth_url(ctx, "/oauth/par"),
        "require_pushed_authorization_requests", 1,
        "dpop_signing_alg_values_supported", "ES256", "ES256K",
        "protected_resources", ngx_pds_oauth_url(ctx, ""),
        "client_id_metadata_document_supported", 1,
        "prompt_values_supported", "none", "login", "consent",
        "select_account"));

    return ngx_pds_oauth_send_cached(ctx, o);
}


static ngx_int_t
ngx_pds_oauth_pr_metadata(ngx_pds_ctx_t *ctx)
{
    json_t  *o;

    o = ngx_pds_json_track(ctx->request, json_pack(
        "{s:o, s:[o], s:[], s:[s], s:s}",
        "resource", ngx_pds_oauth_url(ctx, ""),
        "authorization_servers", ngx_pds_oauth_url(ctx, ""),
        "scopes_supported",
        "bearer_methods_supported", "header",
        "resource_documentation", "https://atproto.com"));

    if (o == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, o);
}


static ngx_int_t
ngx_pds_oauth_jwks(ngx_pds_ctx_t *ctx)
{
    /* access tokens are HS256: no public key to publish */
    return ngx_pds_oauth_send_cached(ctx,
               ngx_pds_json_track(ctx->request, json_pack("{s:[]}", "keys")));
}
