/*
 * ngx_pds_module: an OAuth client's metadata: implied by a loopback
 * client_id, or fetched from the client_id URL through the outbound
 * location with the SSRF rules (https, public addresses only).
 */

#include "ngx_pds_oauth.h"


static ngx_int_t ngx_pds_oauth_client_fetched(ngx_pds_ctx_t *ctx);


#define NGX_PDS_OAUTH_CLIENT_CACHE  64
#define NGX_PDS_OAUTH_CLIENT_TTL    600         /* s */
/*
 * Larger documents are used but not kept: anyone can publish client
 * metadata, up to the outbound location's 1 MB, under as many client_ids
 * as they like; 64 of them kept would hold 64 MB in every worker.
 */
#define NGX_PDS_OAUTH_CLIENT_KEEP   (64 * 1024)

typedef struct {
    char        *id;
    char        *doc;
    size_t       len;
    time_t       expires;
} ngx_pds_oauth_cached_t;

static ngx_pds_oauth_cached_t  ngx_pds_oauth_clients[NGX_PDS_OAUTH_CLIENT_CACHE];


static ngx_pds_oauth_cached_t *
ngx_pds_oauth_cache_get(const char *id)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_PDS_OAUTH_CLIENT_CACHE; i++) {
        if (ngx_pds_oauth_clients[i].id
            && ngx_pds_oauth_clients[i].expires > ngx_time()
            && ngx_strcmp(ngx_pds_oauth_clients[i].id, id) == 0)
        {
            return &ngx_pds_oauth_clients[i];
        }
    }

    return NULL;
}


static void
ngx_pds_oauth_cache_put(const char *id, u_char *doc, size_t len)
{
    size_t                   n;
    ngx_uint_t               i;
    ngx_pds_oauth_cached_t  *e, *victim;

    victim = &ngx_pds_oauth_clients[0];

    for (i = 0; i < NGX_PDS_OAUTH_CLIENT_CACHE; i++) {
        e = &ngx_pds_oauth_clients[i];
        if (e->id && ngx_strcmp(e->id, id) == 0) {
            victim = e;
            break;
        }
        if (e->expires < victim->expires) {
            victim = e;
        }
    }

    ngx_free(victim->id);
    ngx_free(victim->doc);
    ngx_memzero(victim, sizeof(*victim));

    n = ngx_strlen(id);
    victim->id = ngx_alloc(n + 1, ngx_cycle->log);
    victim->doc = ngx_alloc(len, ngx_cycle->log);
    if (victim->id == NULL || victim->doc == NULL) {
        ngx_free(victim->id);
        ngx_free(victim->doc);
        ngx_memzero(victim, sizeof(*victim));
        return;
    }

    ngx_memcpy(victim->id, id, n + 1);
    ngx_memcpy(victim->doc, doc, len);
    victim->len = len;
    victim->expires = ngx_time() + NGX_PDS_OAUTH_CLIENT_TTL;
}
static ngx_int_t ngx_pds_oauth_jwks_fetched(ngx_pds_ctx_t *ctx);


/* private_key_jwt: the assertion against the client's keys */
static ngx_int_t
ngx_pds_oauth_client_assert(ngx_pds_ctx_t *ctx, ngx_pds_oauth_t *st,
    json_t *jwks)
{
    u_char      *msg;
    const char  *type, *jwt, *why;

    type = ngx_pds_oauth_param(st, "client_assertion_type");
    jwt = ngx_pds_oauth_param(st, "client_assertion");

    if (jwt == NULL) {
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_request",
                                   "client authentication method "
                                   "\"private_key_jwt\" required a "
                                   "\"client_assertion\"");
    }

    if (type == NULL || ngx_strcmp(type, PDS_OAUTH_ASSERTION_TYPE) != 0) {
        msg = ngx_pnalloc(ctx->request->pool,
                          64 + (type ? ngx_min(ngx_strlen(type), 200) : 0));
        if (msg == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        *ngx_sprintf(msg, "Unsupported client_assertion_type \"%*s\"",
                     type ? ngx_min(ngx_strlen(type), 200) : 0,
                     type ? type : "") = '\0';
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_client", (char *) msg);
    }

    if (pds_oauth_client_assertion_verify(jwt, ngx_strlen(jwt), jwks,
                                          st->client_id,
                                          (char *) ctx->conf->public_url.data,
                                          (int64_t) ngx_time(), &st->assertion,
                                          &why)
        != 0)
    {
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_client", why);
    }

    return st->client_done(ctx);
}


static ngx_int_t
ngx_pds_oauth_client_checked(ngx_pds_ctx_t *ctx, ngx_pds_oauth_t *st)
{
    json_t      *jwks;
    ngx_str_t    url;
    const char  *why, *uri;

    if (pds_oauth_client_metadata_check(st->client, st->client_id, &why)
        != 0)
    {
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_client_metadata", why);
    }

    st->auth_method = json_string_value(json_object_get(st->client,
                                        "token_endpoint_auth_method"));

    if (st->auth_method == NULL
        || ngx_strcmp(st->auth_method, "private_key_jwt") != 0)
    {
        st->auth_method = "none";
        return st->client_done(ctx);
    }

    jwks = json_object_get(st->client, "jwks");
    if (jwks) {
        return ngx_pds_oauth_client_assert(ctx, st, jwks);
    }

    uri = json_string_value(json_object_get(st->client, "jwks_uri"));
    if (uri == NULL || ngx_strncmp(uri, "https://", 8) != 0) {
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_client_metadata",
                                   "jwks_uri must be an https URL");
    }

    url.data = (u_char *) uri;
    url.len = ngx_strlen(uri);

    return ngx_pds_fetch_public(ctx, NGX_HTTP_GET, &url, NULL, NULL, NULL,
                                ngx_pds_oauth_jwks_fetched);
}


static ngx_int_t
ngx_pds_oauth_jwks_fetched(ngx_pds_ctx_t *ctx)
{
    json_t           *jwks;
    ngx_pds_oauth_t  *st = ngx_pds_oauth_state(ctx);
    ngx_str_t        *b = &ctx->response.body;

    if (ctx->response.status != NGX_HTTP_OK || b->len == 0) {
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_client",
                                   "Unable to obtain the client's JWKS");
    }

    jwks = ngx_pds_json_track(ctx->request,
                              json_loadb((char *) b->data, b->len, 0, NULL));
    if (jwks == NULL || !json_is_object(jwks)) {
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_client",
                                   "The client's JWKS is not a JSON object");
    }

    return ngx_pds_oauth_client_assert(ctx, st, jwks);
}


json_t *
ngx_pds_oauth_client_auth(ngx_pds_oauth_t *st)
{
    if (ngx_strcmp(st->auth_method, "private_key_jwt") == 0) {
        return json_pack("{s:s, s:s}", "method", st->auth_method,
                         "jkt", st->assertion.jkt);
    }

    return json_pack("{s:s}", "method", "none");
}


ngx_uint_t
ngx_pds_oauth_client_auth_same(ngx_pds_oauth_t *st, json_t *row)
{
    json_t      *auth;
    const char  *m, *jkt;

    auth = json_object_get(row, "auth");
    m = json_string_value(json_object_get(auth, "method"));
    jkt = json_string_value(json_object_get(auth, "jkt"));

    if (m == NULL || ngx_strcmp(m, st->auth_method) != 0) {
        return 0;
    }

    return ngx_strcmp(m, "private_key_jwt") != 0
           || (jkt && ngx_strcmp(jkt, st->assertion.jkt) == 0);
}


size_t
ngx_pds_oauth_assertion_key(ngx_pds_ctx_t *ctx, ngx_pds_oauth_t *st,
    char **key)
{
    size_t  n, m;

    if (st->auth_method == NULL
        || ngx_strcmp(st->auth_method, "private_key_jwt") != 0)
    {
        *key = NULL;
        return 0;
    }

    n = ngx_strlen(st->client_id);
    m = ngx_strlen(st->assertion.jti);

    *key = ngx_pnalloc(ctx->request->pool, n + 1 + m);
    if (*key == NULL) {
        return 0;
    }

    ngx_memcpy(*key, st->client_id, n);
    (*key)[n] = '\0';
    ngx_memcpy(*key + n + 1, st->assertion.jti, m);

    return n + 1 + m;
}


ngx_int_t
ngx_pds_oauth_client(ngx_pds_ctx_t *ctx, ngx_pds_oauth_t *st,
    ngx_pds_resume_pt done)
{
    ngx_str_t                url;
    ngx_pds_oauth_cached_t  *cached;
    const char  *why;

    st->client_done = done;

    if (st->client_id == NULL) {
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_request",
                                   "Missing client_id");
    }

    switch (pds_oauth_client_id_kind(st->client_id,
                                     ngx_strlen(st->client_id), &why))
    {
    case PDS_OAUTH_CLIENT_LOOPBACK:
        st->client = ngx_pds_json_track(ctx->request,
                         pds_oauth_loopback_metadata(st->client_id,
                             ngx_strlen(st->client_id), &why));
        if (st->client == NULL) {
            return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                       "invalid_client_id", why);
        }
        return ngx_pds_oauth_client_checked(ctx, st);

    case PDS_OAUTH_CLIENT_DISCOVERABLE:
        cached = ngx_pds_oauth_cache_get(st->client_id);
        if (cached) {
            st->client = ngx_pds_json_track(ctx->request,
                                            json_loadb(cached->doc,
                                                       cached->len, 0, NULL));
            if (st->client) {
                return ngx_pds_oauth_client_checked(ctx, st);
            }
        }

        url.data = (u_char *) st->client_id;
        url.len = ngx_strlen(st->client_id);
        return ngx_pds_fetch_public(ctx, NGX_HTTP_GET, &url, NULL, NULL,
                                    NULL, ngx_pds_oauth_client_fetched);

    default:
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_client_id", why);
    }
}


static ngx_int_t
ngx_pds_oauth_client_fetched(ngx_pds_ctx_t *ctx)
{
    ngx_pds_oauth_t  *st = ngx_pds_oauth_state(ctx);
    ngx_str_t        *b = &ctx->response.body;

    if (ctx->response.status != NGX_HTTP_OK || b->len == 0) {
        ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                      "pds: client metadata of %s: status %ui",
                      st->client_id, ctx->response.status);
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_client_metadata",
                                   "Unable to obtain client metadata");
    }

    st->client = ngx_pds_json_track(ctx->request,
                                    json_loadb((char *) b->data, b->len, 0,
                                               NULL));
    if (st->client == NULL || !json_is_object(st->client)) {
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_client_metadata",
                                   "Client metadata is not a JSON object");
    }

    /* kept once it checks (the check may fill in defaults: cache the text
     * as fetched, checked again on each use) */
    {
        const char  *why;
        json_t      *copy = json_deep_copy(st->client);

        if (copy && b->len <= NGX_PDS_OAUTH_CLIENT_KEEP
            && pds_oauth_client_metadata_check(copy, st->client_id, &why)
               == 0)
        {
            ngx_pds_oauth_cache_put(st->client_id, b->data, b->len);
        }
        if (copy) {
            json_decref(copy);
        }
    }

    return ngx_pds_oauth_client_checked(ctx, st);
}
