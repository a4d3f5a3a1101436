/*
 * ngx_pds_module: the endpoints of "atproto-proxy" targets.
 *
 * "atproto-proxy: <did>#<serviceId>" names a service by a DID: its URL is
 * the serviceEndpoint of the service entry "#<serviceId>" in the DID's
 * document, fetched through nginx's outbound path (the PLC directory for
 * did:plc, the host itself for did:web) and kept per worker for
 * NGX_PDS_DIDDOC_TTL seconds.
 */

#include "ngx_pds_proxy.h"

#include "pds_syntax.h"


#define NGX_PDS_DIDDOC_SLOTS    64
#define NGX_PDS_DIDDOC_TTL      300          /* seconds */
#define NGX_PDS_DIDDOC_KEY_MAX  320
#define NGX_PDS_DIDDOC_URL_MAX  512


/* a DID document's service endpoint, cached in the worker */
typedef struct {
    time_t                    expires;
    size_t                    key_len;
    size_t                    url_len;
    u_char                    key[NGX_PDS_DIDDOC_KEY_MAX];
    u_char                    url[NGX_PDS_DIDDOC_URL_MAX];
} ngx_pds_diddoc_slot_t;


/* a request waiting for a DID document */
typedef struct {
    ngx_pds_target_t         *target;
    ngx_pds_resume_pt         done;
} ngx_pds_diddoc_wait_t;


static ngx_int_t ngx_pds_diddoc_fetched(ngx_pds_ctx_t *ctx);


/* per worker */
static ngx_pds_diddoc_slot_t  ngx_pds_diddoc_cache[NGX_PDS_DIDDOC_SLOTS];
static ngx_uint_t             ngx_pds_diddoc_next;


static ngx_int_t
ngx_pds_diddoc_unresolved(ngx_pds_ctx_t *ctx, const char *what)
{
    return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                         "could not resolve proxy did%s", what);
}


/* ---- the cache --------------------------------------------------------- */


static ngx_pds_diddoc_slot_t *
ngx_pds_diddoc_find(ngx_str_t *did, ngx_str_t *service_id)
{
    size_t                  n;
    ngx_uint_t              i;
    ngx_pds_diddoc_slot_t  *s;

    n = did->len + 1 + service_id->len;

    for (i = 0; i < NGX_PDS_DIDDOC_SLOTS; i++) {
        s = &ngx_pds_diddoc_cache[i];

        if (s->key_len == n && s->expires > ngx_time()
            && ngx_strncmp(s->key, did->data, did->len) == 0
            && s->key[did->len] == '#'
            && ngx_strncmp(s->key + did->len + 1, service_id->data,
                           service_id->len) == 0)
        {
            return s;
        }
    }

    return NULL;
}


static void
ngx_pds_diddoc_store(ngx_str_t *did, ngx_str_t *service_id, ngx_str_t *url)
{
    u_char                 *p;
    ngx_pds_diddoc_slot_t  *s;

    if (did->len + 1 + service_id->len > NGX_PDS_DIDDOC_KEY_MAX
        || url->len > NGX_PDS_DIDDOC_URL_MAX)
    {
        return;
    }

    s = ngx_pds_diddoc_find(did, service_id);

    if (s == NULL) {
        s = &ngx_pds_diddoc_cache[ngx_pds_diddoc_next];
        ngx_pds_diddoc_next = (ngx_pds_diddoc_next + 1)
                              % NGX_PDS_DIDDOC_SLOTS;
    }

    p = ngx_cpymem(s->key, did->data, did->len);
    *p++ = '#';
    p = ngx_cpymem(p, service_id->data, service_id->len);
    s->key_len = p - s->key;

    ngx_memcpy(s->url, url->data, url->len);
    s->url_len = url->len;
    s->expires = ngx_time() + NGX_PDS_DIDDOC_TTL;
}


/* ---- where a DID document is ------------------------------------------- */


/* did:plc:x -> <PLC directory>/did:plc:x */
static ngx_int_t
ngx_pds_diddoc_plc_url(ngx_pds_ctx_t *ctx, ngx_str_t *did, ngx_str_t *url)
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


/* did:web:host%3Aport:path:to -> https://host:port/path/to/did.json */
static ngx_int_t
ngx_pds_diddoc_web_url(ngx_pds_ctx_t *ctx, ngx_str_t *did, ngx_str_t *url)
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
ngx_pds_diddoc_url(ngx_pds_ctx_t *ctx, ngx_str_t *did, ngx_str_t *url)
{
    if (!pds_did_valid((char *) did->data, did->len)) {
        return NGX_DECLINED;
    }

    if (did->len > 8 && ngx_strncmp(did->data, "did:plc:", 8) == 0) {
        return ngx_pds_diddoc_plc_url(ctx, did, url);
    }

    if (did->len > 8 && ngx_strncmp(did->data, "did:web:", 8) == 0) {
        return ngx_pds_diddoc_web_url(ctx, did, url);
    }

    return NGX_DECLINED;
}


/* ---- the endpoint ------------------------------------------------------ */


ngx_int_t
ngx_pds_diddoc_endpoint(ngx_pds_ctx_t *ctx, ngx_pds_target_t *t,
    ngx_pds_resume_pt done)
{
    ngx_int_t               rc;
    ngx_str_t               url;
    ngx_pds_diddoc_wait_t  *w;
    ngx_pds_diddoc_slot_t  *s;

    s = ngx_pds_diddoc_find(&t->did, &t->service_id);

    if (s) {
        t->url.data = ngx_pnalloc(ctx->request->pool, s->url_len);
        if (t->url.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(t->url.data, s->url, s->url_len);
        t->url.len = s->url_len;

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                       "pds proxy: DID document cache hit: %V#%V at \"%V\"",
                       &t->did, &t->service_id, &t->url);

        return NGX_OK;
    }

    rc = ngx_pds_diddoc_url(ctx, &t->did, &url);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_pds_diddoc_unresolved(ctx, "");
    }

    w = ngx_palloc(ctx->request->pool, sizeof(ngx_pds_diddoc_wait_t));
    if (w == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    w->target = t;
    w->done = done;
    ctx->data = w;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "pds proxy: DID document cache miss: %V, fetching \"%V\"",
                   &t->did, &url);

    /* did:web names any host: the SSRF rules apply to it */
    if (ngx_strncmp(t->did.data, "did:web:", 8) == 0) {
        return ngx_pds_fetch_public(ctx, NGX_HTTP_GET, &url, NULL, NULL,
                                    NULL, ngx_pds_diddoc_fetched);
    }

    return ngx_pds_fetch(ctx, NGX_HTTP_GET, &url, NULL, NULL, NULL,
                         ngx_pds_diddoc_fetched);
}


/* a URL the proxy can use: http(s)://host... without spaces */
ngx_uint_t
ngx_pds_diddoc_endpoint_ok(const char *s, size_t n)
{
    size_t  i;

    if (!(n > 7 && ngx_strncasecmp((u_char *) s, (u_char *) "http://", 7)
                   == 0)
        && !(n > 8 && ngx_strncasecmp((u_char *) s, (u_char *) "https://", 8)
                      == 0))
    {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if ((u_char) s[i] <= ' ' || s[i] == '"' || s[i] == '\\'
            || s[i] == 0x7f)
        {
            return 0;
        }
    }

    return 1;
}


/* the serviceEndpoint of the entry "#<id>" (or "<did>#<id>") */
json_t *
ngx_pds_diddoc_service(json_t *doc, ngx_str_t *did, ngx_str_t *sid,
    const char *type)
{
    size_t       n, i;
    json_t      *services, *svc, *id;
    const char  *s;

    services = json_object_get(doc, "service");

    if (!json_is_array(services)) {
        return NULL;
    }

    json_array_foreach(services, i, svc) {
        id = json_object_get(svc, "id");
        if (!json_is_string(id)) {
            continue;
        }

        s = json_string_value(id);
        n = json_string_length(id);

        if (n > did->len && ngx_strncmp(s, did->data, did->len) == 0) {
            s += did->len;
            n -= did->len;
        }

        if (n == sid->len + 1 && s[0] == '#'
            && ngx_strncmp(s + 1, sid->data, n - 1) == 0)
        {
            if (type != NULL
                && (!json_is_string(json_object_get(svc, "type"))
                    || ngx_strcmp(json_string_value(json_object_get(svc,
                                                                "type")),
                                  type) != 0))
            {
                return NULL;
            }

            return json_object_get(svc, "serviceEndpoint");
        }
    }

    return NULL;
}


/* the fetched document's endpoint into t->url (and the cache) */
static ngx_int_t
ngx_pds_diddoc_read(ngx_pds_ctx_t *ctx, ngx_pds_target_t *t)
{
    json_t  *doc, *id, *ep;

    if (ctx->response.status != NGX_HTTP_OK || ctx->response.body.len == 0) {
        ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                      "pds proxy: DID document of \"%V\": status %ui",
                      &t->did, ctx->response.status);
        return ngx_pds_diddoc_unresolved(ctx, "");
    }

    doc = ngx_pds_json_track(ctx->request,
                             json_loadb((char *) ctx->response.body.data,
                                        ctx->response.body.len, 0, NULL));

    id = doc ? json_object_get(doc, "id") : NULL;

    if (doc == NULL || !json_is_string(id)
        || json_string_length(id) != t->did.len
        || ngx_strncmp(json_string_value(id), t->did.data, t->did.len) != 0)
    {
        return ngx_pds_diddoc_unresolved(ctx, "");
    }

    ep = ngx_pds_diddoc_service(doc, &t->did, &t->service_id, NULL);

    if (!json_is_string(ep)
        || !ngx_pds_diddoc_endpoint_ok(json_string_value(ep),
                                       json_string_length(ep)))
    {
        return ngx_pds_diddoc_unresolved(ctx, " service url");
    }

    t->url.len = json_string_length(ep);
    t->url.data = ngx_pnalloc(ctx->request->pool, t->url.len);
    if (t->url.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(t->url.data, json_string_value(ep), t->url.len);

    ngx_pds_diddoc_store(&t->did, &t->service_id, &t->url);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "pds proxy: DID document fetched and cached: %V#%V at "
                   "\"%V\"", &t->did, &t->service_id, &t->url);

    return NGX_OK;
}


static ngx_int_t
ngx_pds_diddoc_fetched(ngx_pds_ctx_t *ctx)
{
    ngx_int_t               rc;
    ngx_pds_diddoc_wait_t  *w = ctx->data;

    ctx->data = w->target;

    rc = ngx_pds_diddoc_read(ctx, w->target);
    if (rc != NGX_OK) {
        return rc;
    }

    return w->done(ctx);
}
