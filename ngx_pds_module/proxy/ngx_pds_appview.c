/*
 * ngx_pds_module: the AppView methods the PDS serves itself because the
 * service token they need is not the plain proxy's (entries of the proxy's
 * table, ngx_pds_proxy.c):
 *
 *   app.bsky.feed.getFeed: the feed generator's DID comes from its record
 *   (com.atproto.repo.getRecord on the AppView, without credentials); the
 *   request then goes to the AppView (or the atproto-proxy target) with a
 *   service JWT whose aud is that DID and lxm app.bsky.feed.getFeedSkeleton,
 *   which the AppView hands on to the feed generator, so a generator that
 *   checks its audience accepts it.
 *
 *   app.bsky.notification.registerPush / unregisterPush: the token is for
 *   the body's serviceDid and goes to the AppView when that is its DID,
 *   otherwise to the "#bsky_notif" BskyNotificationService endpoint of
 *   that DID's document (a user's choice: the SSRF rules apply).
 *
 * As the reference's, these exist only with an AppView configured; the
 * AppView's and services' errors are passed on as the reference's XRPC
 * client passes them (4xx as is, 5xx as 502 with the upstream's name).
 */

#include "ngx_pds_proxy.h"

#include "pds_jwt.h"
#include "pds_syntax.h"

#include "ngx_pds_params.h"


#define NGX_PDS_GET_FEED_SKELETON  "app.bsky.feed.getFeedSkeleton"


static ngx_str_t  ngx_pds_appview_json = ngx_string("application/json");


/* getFeed's state while the generator record is fetched */
typedef struct {
    char                     *feed_did;
} ngx_pds_feed_t;


/* registerPush's state while the service's DID document is fetched */
typedef struct {
    ngx_str_t                 did;
    ngx_str_t                 body;
    ngx_str_t                 authorization;
} ngx_pds_push_t;


static ngx_int_t ngx_pds_get_feed_record(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_push_diddoc(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_push_sent(ngx_pds_ctx_t *ctx);


static const ngx_pds_field_t  ngx_pds_get_feed_params[] = {
    { "feed", NGX_PDS_V_STRING, NGX_PDS_FMT_AT_URI, NGX_PDS_F_REQUIRED,
      0, 0, 0 },
    { "limit", NGX_PDS_V_INTEGER, 0, 0, 0, 1, 100 },
    { "cursor", NGX_PDS_V_STRING, 0, 0, 0, 0, 0 },
    { NULL, 0, 0, 0, 0, 0, 0 }
};

static const ngx_pds_field_t  ngx_pds_register_push_input[] = {
    { "serviceDid", NGX_PDS_V_STRING, NGX_PDS_FMT_DID, NGX_PDS_F_REQUIRED,
      0, 0, 0 },
    { "token", NGX_PDS_V_STRING, 0, NGX_PDS_F_REQUIRED, 0, 0, 0 },
    { "platform", NGX_PDS_V_STRING, 0, NGX_PDS_F_REQUIRED, 0, 0, 0 },
    { "appId", NGX_PDS_V_STRING, 0, NGX_PDS_F_REQUIRED, 0, 0, 0 },
    { "ageRestricted", NGX_PDS_V_BOOLEAN, 0, 0, 0, 0, 0 },
    { NULL, 0, 0, 0, 0, 0, 0 }
};

static const ngx_pds_field_t  ngx_pds_unregister_push_input[] = {
    { "serviceDid", NGX_PDS_V_STRING, NGX_PDS_FMT_DID, NGX_PDS_F_REQUIRED,
      0, 0, 0 },
    { "token", NGX_PDS_V_STRING, 0, NGX_PDS_F_REQUIRED, 0, 0, 0 },
    { "platform", NGX_PDS_V_STRING, 0, NGX_PDS_F_REQUIRED, 0, 0, 0 },
    { "appId", NGX_PDS_V_STRING, 0, NGX_PDS_F_REQUIRED, 0, 0, 0 },
    { NULL, 0, 0, 0, 0, 0, 0 }
};


/* ---- shared ------------------------------------------------------------ */


/* before authentication: without an AppView these are not served */
ngx_int_t
ngx_pds_appview_check(ngx_pds_ctx_t *ctx)
{
    if (ctx->conf->appview_url.len == 0 || ctx->conf->appview_did.len == 0) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "No service configured for %V", &ctx->nsid);
    }

    return NGX_OK;
}


/* the name the reference's XRPC client gives a status without a body */
static const char *
ngx_pds_appview_status_name(ngx_uint_t status)
{
    switch (status) {
    case NGX_HTTP_BAD_REQUEST:               return "InvalidRequest";
    case NGX_HTTP_UNAUTHORIZED:              return "AuthenticationRequired";
    case NGX_HTTP_FORBIDDEN:                 return "Forbidden";
    case NGX_HTTP_NOT_FOUND:                 return "XRPCNotSupported";
    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:  return "PayloadTooLarge";
    case 429:                                return "RateLimitExceeded";
    default:                                 return "InternalServerError";
    }
}


/*
 * An upstream's refusal as the reference answers it: the upstream's error
 * name and message, with its status when 4xx and 502 otherwise; no answer
 * at all is the reference's "Failed to perform upstream request".
 */
static ngx_int_t
ngx_pds_appview_failed(ngx_pds_ctx_t *ctx, const char *what)
{
    json_t       *body;
    ngx_uint_t    status;
    const char   *name, *message;
    ngx_pds_response_t  *res = &ctx->response;

    ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                  "pds: %V: %s answered %ui", &ctx->nsid, what, res->status);

    body = res->body.len
           ? ngx_pds_json_track(ctx->request,
                                json_loadb((char *) res->body.data,
                                           res->body.len, 0, NULL))
           : NULL;

    name = json_string_value(json_object_get(body, "error"));
    message = json_string_value(json_object_get(body, "message"));

    /* no answer (nginx's own 502 or 504 when it could not connect) */
    if (res->status == 0
        || (name == NULL && (res->status == NGX_HTTP_BAD_GATEWAY
                             || res->status == NGX_HTTP_GATEWAY_TIME_OUT)))
    {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_GATEWAY, "InternalServerError",
                             "Failed to perform upstream request");
    }

    status = (res->status >= 400 && res->status < 500)
             ? res->status : NGX_HTTP_BAD_GATEWAY;

    if (name == NULL) {
        name = ngx_pds_appview_status_name(res->status);
    }

    if (message == NULL) {
        message = name;
    }

    return ngx_pds_error(ctx, status, name, "%s", message);
}


/* "Bearer <a service JWT for aud and lxm>" into auth */
static ngx_int_t
ngx_pds_appview_bearer(ngx_pds_ctx_t *ctx, const char *aud,
    const char *lxm, ngx_str_t *auth)
{
    char    *jwt;
    size_t   n;

    jwt = ngx_pds_service_jwt(ctx, aud, lxm,
                              (int64_t) ngx_time() + PDS_JWT_SERVICE_TTL);
    if (jwt == NULL) {
        return ngx_pds_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                             "InternalServerError",
                             "Could not sign a service token");
    }

    n = ngx_strlen(jwt);
    auth->len = sizeof("Bearer ") - 1 + n;
    auth->data = ngx_pnalloc(ctx->request->pool, auth->len);
    if (auth->data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(ngx_cpymem(auth->data, "Bearer ", 7), jwt, n);

    return NGX_OK;
}


/* <base>/xrpc/<nsid>[?<args>], base without its trailing slashes */
static ngx_str_t *
ngx_pds_appview_url(ngx_pds_ctx_t *ctx, ngx_str_t *base, const char *nsid,
    ngx_str_t *args)
{
    u_char     *p;
    size_t      n;
    ngx_str_t  *url;

    n = base->len;
    while (n && base->data[n - 1] == '/') {
        n--;
    }

    url = ngx_palloc(ctx->request->pool, sizeof(ngx_str_t));
    if (url == NULL) {
        return NULL;
    }

    url->data = ngx_pnalloc(ctx->request->pool,
                            n + sizeof("/xrpc/") + ngx_strlen(nsid)
                            + (args ? args->len : 0));
    if (url->data == NULL) {
        return NULL;
    }

    p = ngx_cpymem(url->data, base->data, n);
    p = ngx_cpymem(p, "/xrpc/", sizeof("/xrpc/") - 1);
    p = ngx_cpymem(p, nsid, ngx_strlen(nsid));

    if (args && args->len) {
        *p++ = '?';
        p = ngx_cpymem(p, args->data, args->len);
    }

    url->len = p - url->data;

    return url;
}


/* ---- app.bsky.feed.getFeed --------------------------------------------- */


/* before authentication, as the reference: an AppView, the parameters */
ngx_int_t
ngx_pds_get_feed_check(ngx_pds_ctx_t *ctx)
{
    ngx_int_t  rc;

    rc = ngx_pds_appview_check(ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_pds_check_params(ctx, ngx_pds_get_feed_params);
}


/* "name=<value escaped>&" appended at p */
static u_char *
ngx_pds_appview_arg(u_char *p, const char *name, pds_span_t *v)
{
    p = ngx_cpymem(p, name, ngx_strlen(name));
    *p++ = '=';

    return (u_char *) ngx_escape_uri(p, (u_char *) v->data, v->len,
                                     NGX_ESCAPE_ARGS);
}


ngx_int_t
ngx_pds_get_feed(ngx_pds_ctx_t *ctx)
{
    u_char          *p;
    size_t           n;
    ngx_str_t        feed, args, *url;
    pds_aturi_t      uri;
    ngx_pds_feed_t  *st;

    ngx_pds_read_done(ctx);

    if (ngx_pds_arg(ctx->request, "feed", &feed) != NGX_OK
        || pds_aturi_parse((char *) feed.data, feed.len, &uri) != 0)
    {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Invalid app.bsky.feed.getFeed params: Invalid "
                             "at-uri");
    }

    if (uri.collection.len == 0 || uri.rkey.len == 0) {
        /* the reference fails with a 500 here */
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "feed must be the AT-URI of a feed generator "
                             "record");
    }

    st = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_feed_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = st;

    /* the generator record, from the AppView, without credentials */

    n = uri.authority.len + uri.collection.len + uri.rkey.len;
    args.data = ngx_pnalloc(ctx->request->pool, 3 * n + 32);
    if (args.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_pds_appview_arg(args.data, "repo", &uri.authority);
    *p++ = '&';
    p = ngx_pds_appview_arg(p, "collection", &uri.collection);
    *p++ = '&';
    p = ngx_pds_appview_arg(p, "rkey", &uri.rkey);
    args.len = p - args.data;

    url = ngx_pds_appview_url(ctx, &ctx->conf->appview_url,
                              "com.atproto.repo.getRecord", &args);
    if (url == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "pds: getFeed: the generator record from \"%V\"", url);

    return ngx_pds_fetch(ctx, NGX_HTTP_GET, url, NULL, NULL, NULL,
                         ngx_pds_get_feed_record);
}


/* the record's "did", then the request forwarded with its token */
static ngx_int_t
ngx_pds_get_feed_record(ngx_pds_ctx_t *ctx)
{
    json_t          *record, *did;
    ngx_pds_feed_t  *st = ctx->data;

    if (ctx->response.status != NGX_HTTP_OK) {
        return ngx_pds_appview_failed(ctx, "the AppView's getRecord");
    }

    record = ngx_pds_json_track(ctx->request,
                                json_loadb((char *) ctx->response.body.data,
                                           ctx->response.body.len, 0, NULL));

    did = json_object_get(json_object_get(record, "value"), "did");

    if (!json_is_string(did)) {
        /* the reference's name for it (its error class's) */
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequestError",
                             "could not resolve feed did");
    }

    st->feed_did = ngx_pnalloc(ctx->request->pool,
                               json_string_length(did) + 1);
    if (st->feed_did == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(st->feed_did, json_string_value(did),
               json_string_length(did) + 1);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "pds: getFeed: the feed generator is \"%s\"",
                   st->feed_did);

    return ngx_pds_proxy_forward_as(ctx, st->feed_did,
                                    NGX_PDS_GET_FEED_SKELETON, 0);
}


/* ---- app.bsky.notification.registerPush / unregisterPush --------------- */


ngx_int_t
ngx_pds_push(ngx_pds_ctx_t *ctx)
{
    u_char          *aud;
    char            *body, *lxm;
    json_t          *v;
    ngx_int_t        rc;
    ngx_str_t        url, *target;
    ngx_pds_push_t  *st;

    rc = ngx_pds_check_input(ctx, ctx->body, "$",
                             ctx->nsid.data[sizeof("app.bsky.notification.")
                                            - 1] == 'r'
                             ? ngx_pds_register_push_input
                             : ngx_pds_unregister_push_input);
    if (rc != NGX_OK) {
        return rc;
    }

    st = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_push_t));
    body = json_dumps(ctx->body, JSON_COMPACT);
    lxm = ngx_pnalloc(ctx->request->pool, ctx->nsid.len + 1);
    if (st == NULL || body == NULL || lxm == NULL) {
        free(body);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st->body.len = ngx_strlen(body);
    st->body.data = ngx_pnalloc(ctx->request->pool, st->body.len);
    if (st->body.data == NULL) {
        free(body);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(st->body.data, body, st->body.len);
    free(body);

    /* the token: for the body's serviceDid, for this method */

    *ngx_cpymem(lxm, ctx->nsid.data, ctx->nsid.len) = '\0';

    v = json_object_get(ctx->body, "serviceDid");
    st->did.data = (u_char *) json_string_value(v);
    st->did.len = json_string_length(v);
    ctx->data = st;

    /* OAuth: this method at the notification service "serviceDid#bsky_notif" */
    aud = ngx_pnalloc(ctx->request->pool, st->did.len + sizeof("#bsky_notif"));
    if (aud == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ngx_sprintf(aud, "%V#bsky_notif%Z", &st->did);

    rc = ngx_pds_auth_permit(ctx, PDS_SCOPE_RPC, lxm, (char *) aud);
    if (rc == NGX_OK) {
        rc = ngx_pds_appview_bearer(ctx, json_string_value(v), lxm,
                                    &st->authorization);
    }
    if (rc != NGX_OK) {
        return rc;
    }

    if (st->did.len == ctx->conf->appview_did.len
        && ngx_strncmp(st->did.data, ctx->conf->appview_did.data,
                       st->did.len) == 0)
    {
        target = ngx_pds_appview_url(ctx, &ctx->conf->appview_url, lxm,
                                     NULL);
        if (target == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_pds_fetch(ctx, NGX_HTTP_POST, target,
                             &ngx_pds_appview_json, &st->body,
                             &st->authorization, ngx_pds_push_sent);
    }

    /* another service: its "#bsky_notif" endpoint, from its DID document */

    rc = ngx_pds_diddoc_url(ctx, &st->did, &url);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "could not resolve did document: %V",
                             &st->did);
    }

    /* did:web names any host: the SSRF rules apply to it */
    if (ngx_strncmp(st->did.data, "did:web:", 8) == 0) {
        return ngx_pds_fetch_public(ctx, NGX_HTTP_GET, &url, NULL, NULL,
                                    NULL, ngx_pds_push_diddoc);
    }

    return ngx_pds_fetch(ctx, NGX_HTTP_GET, &url, NULL, NULL, NULL,
                         ngx_pds_push_diddoc);
}


static ngx_int_t
ngx_pds_push_diddoc(ngx_pds_ctx_t *ctx)
{
    u_char          *lxm;
    json_t          *doc, *id, *ep;
    ngx_str_t        sid, endpoint, *target;
    ngx_pds_push_t  *st = ctx->data;

    if (ctx->response.status != NGX_HTTP_OK) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "could not resolve did document: %V",
                             &st->did);
    }

    doc = ngx_pds_json_track(ctx->request,
                             json_loadb((char *) ctx->response.body.data,
                                        ctx->response.body.len, 0, NULL));
    id = json_object_get(doc, "id");

    if (!json_is_string(id) || json_string_length(id) != st->did.len
        || ngx_strncmp(json_string_value(id), st->did.data, st->did.len)
           != 0)
    {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "invalid did document: %V", &st->did);
    }

    ngx_str_set(&sid, "bsky_notif");
    ep = ngx_pds_diddoc_service(doc, &st->did, &sid,
                                "BskyNotificationService");

    if (!json_is_string(ep)
        || !ngx_pds_diddoc_endpoint_ok(json_string_value(ep),
                                       json_string_length(ep)))
    {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "invalid notification service details in did "
                             "document: %V", &st->did);
    }

    endpoint.data = (u_char *) json_string_value(ep);
    endpoint.len = json_string_length(ep);

    lxm = ngx_pnalloc(ctx->request->pool, ctx->nsid.len + 1);
    if (lxm == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *ngx_cpymem(lxm, ctx->nsid.data, ctx->nsid.len) = '\0';

    target = ngx_pds_appview_url(ctx, &endpoint, (char *) lxm, NULL);
    if (target == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "pds: %V: to the notification service at \"%V\"",
                   &ctx->nsid, target);

    /* a user's DID document chose the endpoint: SSRF rules apply */
    return ngx_pds_fetch_public(ctx, NGX_HTTP_POST, target,
                                &ngx_pds_appview_json, &st->body,
                                &st->authorization, ngx_pds_push_sent);
}


static ngx_int_t
ngx_pds_push_sent(ngx_pds_ctx_t *ctx)
{
    if (ctx->response.status < 200 || ctx->response.status > 299) {
        return ngx_pds_appview_failed(ctx, "the notification service");
    }

    return ngx_pds_send_text(ctx->request, NGX_HTTP_OK, "text/plain", NULL,
                             0);
}
