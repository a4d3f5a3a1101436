
/*
 * ngx_pds_module: DID documents fetched fresh through nginx's outbound
 * path (the configured PLC directory for did:plc, trusted; the host itself
 * for did:web, under the SSRF rules), read by core/pds_diddoc.c.  For the
 * checks that must see the document as it is now (migration: the signing
 * key an imported repo must be signed with, where the DID points before an
 * account is activated); the proxy keeps its own short cache of endpoints.
 */

#include "ngx_pds.h"
#include "ngx_pds_did.h"

#include "pds_syntax.h"


/* a request waiting for a DID document */
typedef struct {
    ngx_pds_did_t            *out;
    ngx_pds_resume_pt         done;
    void                     *data;          /* the handler's ctx->data */
} ngx_pds_did_wait_t;


static ngx_int_t ngx_pds_did_fetched(ngx_pds_ctx_t *ctx);


/* did:plc:x -> <PLC directory>/did:plc:x */
static ngx_int_t
ngx_pds_did_plc_url(ngx_pds_ctx_t *ctx, ngx_str_t *did, ngx_str_t *url)
{
    u_char     *p;
    size_t      n;
    ngx_str_t  *plc;

    plc = &ctx->conf->plc_url;
    n = plc->len;

    while (n && plc->data[n - 1] == '/') {
        n--;
    }

    url->data = ngx_pnalloc(ctx->request->pool, n + 1 + did->len);
    if (url->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(url->data, plc->data, n);
    *p++ = '/';
    p = ngx_cpymem(p, did->data, did->len);
    url->len = p - url->data;

    return NGX_OK;
}


/*
 * did:web:host%3Aport:path:to -> https://host:port/path/to/did.json (http
 * for localhost, as the spec allows for development)
 */
static ngx_int_t
ngx_pds_did_web_url(ngx_pds_ctx_t *ctx, ngx_str_t *did, ngx_str_t *url)
{
    u_char      *p, *s, *last;
    ngx_uint_t   localhost, path;

    s = did->data + 8;
    last = did->data + did->len;

    url->data = ngx_pnalloc(ctx->request->pool,
                            sizeof("https://") + did->len
                            + sizeof("/.well-known/did.json"));
    if (url->data == NULL) {
        return NGX_ERROR;
    }

    localhost = (last - s >= 9 && ngx_strncmp(s, "localhost", 9) == 0
                 && (last - s == 9 || s[9] == '%' || s[9] == ':'));

    p = ngx_cpymem(url->data, localhost ? "http://" : "https://",
                   localhost ? 7 : 8);
    path = 0;

    while (s < last) {
        if (*s == ':') {
            *p++ = '/';
            path = 1;
            s++;

        } else if (*s == '%' && last - s >= 3 && s[1] == '3'
                   && (s[2] == 'A' || s[2] == 'a') && !path)
        {
            *p++ = ':';
            s += 3;

        } else if (*s == '%' || *s == '/' || *s == '?' || *s == '#'
                   || *s == '@')
        {
            return NGX_DECLINED;

        } else {
            *p++ = *s++;
        }
    }

    if (path) {
        p = ngx_cpymem(p, "/did.json", sizeof("/did.json") - 1);

    } else {
        p = ngx_cpymem(p, "/.well-known/did.json",
                       sizeof("/.well-known/did.json") - 1);
    }

    url->len = p - url->data;

    return NGX_OK;
}


ngx_int_t
ngx_pds_did_doc_url(ngx_pds_ctx_t *ctx, ngx_str_t *did, ngx_str_t *url)
{
    if (!pds_did_valid((char *) did->data, did->len)) {
        return NGX_DECLINED;
    }

    if (did->len > 8 && ngx_strncmp(did->data, "did:plc:", 8) == 0) {
        return ngx_pds_did_plc_url(ctx, did, url);
    }

    if (did->len > 8 && ngx_strncmp(did->data, "did:web:", 8) == 0) {
        return ngx_pds_did_web_url(ctx, did, url);
    }

    return NGX_DECLINED;
}


ngx_int_t
ngx_pds_did_resolve(ngx_pds_ctx_t *ctx, const char *did, ngx_pds_did_t *out,
    ngx_pds_resume_pt done)
{
    ngx_int_t            rc;
    ngx_str_t            d, url;
    ngx_pds_did_wait_t  *w;

    ngx_memzero(out, sizeof(ngx_pds_did_t));
    out->did = did;

    d.data = (u_char *) did;
    d.len = ngx_strlen(did);

    rc = ngx_pds_did_doc_url(ctx, &d, &url);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        out->status = NGX_PDS_DID_UNRESOLVED;
        return done(ctx);
    }

    w = ngx_palloc(ctx->request->pool, sizeof(ngx_pds_did_wait_t));
    if (w == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    w->out = out;
    w->done = done;
    w->data = ctx->data;
    ctx->data = w;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "pds: DID document of %s from \"%V\"", did, &url);

    if (ngx_strncmp(did, "did:web:", 8) == 0) {
        return ngx_pds_fetch_public(ctx, NGX_HTTP_GET, &url, NULL, NULL,
                                    NULL, ngx_pds_did_fetched);
    }

    return ngx_pds_fetch(ctx, NGX_HTTP_GET, &url, NULL, NULL, NULL,
                         ngx_pds_did_fetched);
}


static ngx_int_t
ngx_pds_did_fetched(ngx_pds_ctx_t *ctx)
{
    json_t              *doc;
    ngx_pds_did_t       *out;
    ngx_pds_did_wait_t  *w = ctx->data;

    ctx->data = w->data;
    out = w->out;

    if (ctx->response.status == NGX_HTTP_NOT_FOUND
        || ctx->response.status == 410)
    {
        out->status = NGX_PDS_DID_NOTFOUND;
        return w->done(ctx);
    }

    if (ctx->response.status != NGX_HTTP_OK || ctx->response.body.len == 0) {
        ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                      "pds: DID document of %s: status %ui", out->did,
                      ctx->response.status);
        out->status = NGX_PDS_DID_UNRESOLVED;
        return w->done(ctx);
    }

    doc = ngx_pds_json_track(ctx->request,
                             json_loadb((char *) ctx->response.body.data,
                                        ctx->response.body.len, 0, NULL));

    if (doc == NULL || pds_diddoc_read(doc, out->did, &out->doc) != 0) {
        out->status = NGX_PDS_DID_UNRESOLVED;
        return w->done(ctx);
    }

    out->json = doc;
    out->status = NGX_PDS_DID_OK;

    return w->done(ctx);
}


/* ---- service-auth tokens ------------------------------------------------ */


typedef struct {
    ngx_pds_service_auth_t   *out;
    const char               *token;
    size_t                    len;
    ngx_pds_resume_pt         done;
    void                     *data;          /* the handler's ctx->data */
} ngx_pds_did_auth_wait_t;


static ngx_int_t ngx_pds_did_auth_resolved(ngx_pds_ctx_t *ctx);


static ngx_int_t
ngx_pds_did_auth_refuse(ngx_pds_ctx_t *ctx, const char *name,
    const char *msg)
{
    return ngx_pds_error(ctx, NGX_HTTP_UNAUTHORIZED, name, "%s", msg);
}


ngx_int_t
ngx_pds_did_service_auth(ngx_pds_ctx_t *ctx, const char *token, size_t len,
    const char *lxm, ngx_pds_service_auth_t *out, ngx_pds_resume_pt done)
{
    char                     *iss, *hash;
    size_t                    n;
    pds_jwt_err_t             err;
    ngx_pds_did_auth_wait_t  *w;

    ngx_memzero(out, sizeof(ngx_pds_service_auth_t));

    err = pds_jwt_service_decode(&ctx->alloc, token, len, NULL, lxm,
                                 (int64_t) ngx_time(), &out->claims);

    switch (err) {

    case PDS_JWT_OK:
        break;

    case PDS_JWT_ERR_LXM:
        return ngx_pds_error(ctx, NGX_HTTP_UNAUTHORIZED,
                             "BadJwtLexiconMethod",
                             "bad jwt lexicon method (\"lxm\"). must match: "
                             "%s", lxm);

    case PDS_JWT_ERR_TYPE:
        return ngx_pds_did_auth_refuse(ctx, "BadJwtType",
                                       "Invalid jwt type");

    case PDS_JWT_ERR_NOMEM:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;

    default:
        return ngx_pds_did_auth_refuse(ctx,
                                       pds_jwt_service_error_name(err),
                                       pds_jwt_strerror(err));
    }

    /* "did#atproto_labeler" names another key than the one we read */

    hash = ngx_strchr(out->claims.iss, '#');
    n = hash ? (size_t) (hash - out->claims.iss)
             : ngx_strlen(out->claims.iss);

    if (hash && ngx_strcmp(hash, "#atproto") != 0) {
        return ngx_pds_did_auth_refuse(ctx, "AuthenticationRequired",
                                       "missing or bad key in did doc");
    }

    iss = ngx_pnalloc(ctx->request->pool, n + 1);
    w = ngx_palloc(ctx->request->pool, sizeof(ngx_pds_did_auth_wait_t));
    if (iss == NULL || w == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(iss, out->claims.iss, n);
    iss[n] = '\0';
    out->iss = iss;

    w->out = out;
    w->token = token;
    w->len = len;
    w->done = done;
    w->data = ctx->data;
    ctx->data = w;

    return ngx_pds_did_resolve(ctx, iss, &out->did,
                               ngx_pds_did_auth_resolved);
}


static ngx_int_t
ngx_pds_did_auth_resolved(ngx_pds_ctx_t *ctx)
{
    pds_jwt_err_t             err;
    ngx_pds_service_auth_t   *out;
    ngx_pds_did_auth_wait_t  *w = ctx->data;

    ctx->data = w->data;
    out = w->out;

    if (out->did.status != NGX_PDS_DID_OK) {
        return ngx_pds_did_auth_refuse(ctx, "AuthenticationRequired",
                                       "could not resolve iss did");
    }

    if (out->did.doc.signing_key[0] == '\0') {
        return ngx_pds_did_auth_refuse(ctx, "AuthenticationRequired",
                                       "missing or bad key in did doc");
    }

    err = pds_jwt_service_verify_sig(w->token, w->len,
                                     out->did.doc.signing_key);
    if (err != PDS_JWT_OK) {
        ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                      "pds: a service-auth token of %s does not verify "
                      "with %s: %s", out->iss, out->did.doc.signing_key,
                      pds_jwt_strerror(err));

        return ngx_pds_did_auth_refuse(ctx, "BadJwtSignature",
                                       "jwt signature does not match jwt "
                                       "issuer");
    }

    if (ngx_strcmp(out->claims.aud, ctx->conf->service_did.data) != 0) {
        return ngx_pds_did_auth_refuse(ctx, "BadJwtAudience",
                                       "jwt audience does not match "
                                       "service did");
    }

    return w->done(ctx);
}


/* ---- does a DID point here --------------------------------------------- */


typedef struct {
    ngx_pds_did_check_t      *out;
    ngx_pds_resume_pt         done;
    void                     *data;          /* the handler's ctx->data */
} ngx_pds_did_check_wait_t;


static ngx_int_t ngx_pds_did_check_plc(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_did_check_web(ngx_pds_ctx_t *ctx);


/* the reference's order: rotation key, endpoint, signing key */
static const char *
ngx_pds_did_check_contents(ngx_pds_ctx_t *ctx, ngx_pds_did_check_t *out,
    json_t *rotation, ngx_uint_t plc, const char *endpoint,
    const char *key)
{
    size_t       i;
    const char  *k;
    ngx_uint_t   ours;

    if (plc) {
        ours = 0;

        for (i = 0; i < json_array_size(rotation); i++) {
            k = json_string_value(json_array_get(rotation, i));

            if (k && ngx_strcmp(k, ctx->conf->rotation_did_key.data) == 0) {
                ours = 1;
            }
        }

        if (!ours) {
            return "Server rotation key not included in PLC DID data";
        }
    }

    if (endpoint == NULL
        || ngx_strcmp(endpoint, ctx->conf->public_url.data) != 0)
    {
        return "DID document atproto_pds service endpoint does not match "
               "PDS public url";
    }

    if (key == NULL || ngx_strcmp(key, out->didkey) != 0) {
        return "DID document verification method does not match expected "
               "signing key";
    }

    return NULL;
}


ngx_int_t
ngx_pds_did_check_service(ngx_pds_ctx_t *ctx, const char *did,
    const char *didkey, ngx_pds_did_check_t *out, ngx_pds_resume_pt done)
{
    u_char                    *p;
    size_t                     n;
    ngx_str_t                  url, d;
    ngx_pds_did_check_wait_t  *w;

    ngx_memzero(out, sizeof(ngx_pds_did_check_t));
    out->did = did;
    out->didkey = didkey;

    w = ngx_palloc(ctx->request->pool, sizeof(ngx_pds_did_check_wait_t));
    if (w == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    w->out = out;
    w->done = done;
    w->data = ctx->data;
    ctx->data = w;

    if (ngx_strncmp(did, "did:plc:", 8) != 0) {
        return ngx_pds_did_resolve(ctx, did, &out->doc,
                                   ngx_pds_did_check_web);
    }

    d.data = (u_char *) did;
    d.len = ngx_strlen(did);

    if (ngx_pds_did_doc_url(ctx, &d, &url) != NGX_OK) {
        ctx->data = w->data;
        out->problem = "Could not resolve DID";
        return done(ctx);
    }

    n = url.len + sizeof("/data") - 1;
    p = ngx_pnalloc(ctx->request->pool, n);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(ngx_cpymem(p, url.data, url.len), "/data", 5);
    url.data = p;
    url.len = n;

    return ngx_pds_fetch(ctx, NGX_HTTP_GET, &url, NULL, NULL, NULL,
                         ngx_pds_did_check_plc);
}


static ngx_int_t
ngx_pds_did_check_plc(ngx_pds_ctx_t *ctx)
{
    json_t                    *data;
    ngx_pds_did_check_t       *out;
    ngx_pds_did_check_wait_t  *w = ctx->data;

    ctx->data = w->data;
    out = w->out;

    data = NULL;

    if (ctx->response.status == NGX_HTTP_OK && ctx->response.body.len) {
        data = ngx_pds_json_track(ctx->request,
                                  json_loadb((char *) ctx->response.body.data,
                                             ctx->response.body.len, 0,
                                             NULL));
    }

    if (data == NULL || !json_is_object(data)) {
        out->unreachable = ctx->response.status == 0
                           || ctx->response.status >= 500;
        out->problem = "Could not resolve DID";
        return w->done(ctx);
    }

    out->problem = ngx_pds_did_check_contents(ctx, out,
        json_object_get(data, "rotationKeys"), 1,
        json_string_value(json_object_get(json_object_get(
            json_object_get(data, "services"), "atproto_pds"), "endpoint")),
        json_string_value(json_object_get(
            json_object_get(data, "verificationMethods"), "atproto")));

    return w->done(ctx);
}


static ngx_int_t
ngx_pds_did_check_web(ngx_pds_ctx_t *ctx)
{
    ngx_pds_did_check_t       *out;
    ngx_pds_did_check_wait_t  *w = ctx->data;

    ctx->data = w->data;
    out = w->out;

    if (out->doc.status != NGX_PDS_DID_OK) {
        out->unreachable = out->doc.status == NGX_PDS_DID_UNRESOLVED;
        out->problem = "Could not resolve DID";
        return w->done(ctx);
    }

    out->problem = ngx_pds_did_check_contents(ctx, out, NULL, 0,
                       out->doc.doc.pds_endpoint,
                       out->doc.doc.signing_key[0]
                       ? out->doc.doc.signing_key : NULL);

    return w->done(ctx);
}
