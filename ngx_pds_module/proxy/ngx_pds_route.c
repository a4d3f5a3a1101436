/*
 * ngx_pds_module: where a forwarded request goes, and its forwarding.
 *
 * The reference's parseProxyInfo(): the service the "atproto-proxy:
 * <did>#<serviceId>" header names (its endpoint from the DID document:
 * ngx_pds_diddoc.c), or by default the AppView (the moderation service
 * for tools.ozone.*, the report service for createReport, the chat
 * service for chat.bsky.*); then a fresh service JWT signed by the
 * caller's account key (ngx_pds_service_auth.c), for the target's DID and
 * the called method unless the caller chose them (getFeed's token is for
 * the feed generator), or none (getRecord of a repo not hosted here), and
 * the redirect into the proxy location (ngx_pds_proxy_location.c).
 *
 * Used by the fallback entry (ngx_pds_proxy.c), the AppView methods
 * served here (ngx_pds_appview.c) and, through ngx_pds_forward.h, by
 * methods/ (preferences, getRecord).
 */

#include "ngx_pds_proxy.h"

#include "pds_jwt.h"


static ngx_int_t ngx_pds_proxy_go(ngx_pds_ctx_t *ctx);


/* by default to the moderation service (#atproto_labeler) */
static const char  *ngx_pds_mod_methods[] = {
    "tools.ozone.communication.createTemplate",
    "tools.ozone.communication.deleteTemplate",
    "tools.ozone.communication.listTemplates",
    "tools.ozone.communication.updateTemplate",
    "tools.ozone.moderation.cancelScheduledActions",
    "tools.ozone.moderation.emitEvent",
    "tools.ozone.moderation.getAccountTimeline",
    "tools.ozone.moderation.getEvent",
    "tools.ozone.moderation.getRecord",
    "tools.ozone.moderation.getRepo",
    "tools.ozone.moderation.listScheduledActions",
    "tools.ozone.moderation.queryEvents",
    "tools.ozone.moderation.queryStatuses",
    "tools.ozone.moderation.scheduleAction",
    "tools.ozone.moderation.searchRepos",
    "tools.ozone.safelink.addRule",
    "tools.ozone.safelink.queryEvents",
    "tools.ozone.safelink.queryRules",
    "tools.ozone.safelink.removeRule",
    "tools.ozone.safelink.updateRule",
    "tools.ozone.team.addMember",
    "tools.ozone.team.deleteMember",
    "tools.ozone.team.listMembers",
    "tools.ozone.team.updateMember",
    "tools.ozone.verification.grantVerifications",
    "tools.ozone.verification.listVerifications",
    "tools.ozone.verification.revokeVerifications",
    NULL
};


/* ---- routing ----------------------------------------------------------- */


static ngx_int_t
ngx_pds_proxy_bad(ngx_pds_ctx_t *ctx, const char *message)
{
    return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest", "%s",
                         message);
}


static ngx_uint_t
ngx_pds_proxy_is_appview(ngx_pds_srv_conf_t *pscf, ngx_str_t *v)
{
    ngx_str_t  *did = &pscf->appview_did;

    return pscf->appview_url.len && did->len
           && v->len == did->len + sizeof("#bsky_appview") - 1
           && ngx_strncmp(v->data, did->data, did->len) == 0
           && ngx_strncmp(v->data + did->len, "#bsky_appview",
                          sizeof("#bsky_appview") - 1) == 0;
}


ngx_uint_t
ngx_pds_proxy_foreign(ngx_pds_ctx_t *ctx)
{
    ngx_table_elt_t  *h;

    h = ngx_pds_request_header(ctx->request, "atproto-proxy");

    return h != NULL && !ngx_pds_proxy_is_appview(ctx->conf, &h->value);
}


static ngx_uint_t
ngx_pds_proxy_nsid_is(ngx_str_t *nsid, const char *name)
{
    size_t  n = ngx_strlen(name);

    return nsid->len == n
           && ngx_strncasecmp(nsid->data, (u_char *) name, n) == 0;
}


/* without "atproto-proxy": the configured service for the NSID */
static ngx_int_t
ngx_pds_proxy_default_target(ngx_pds_ctx_t *ctx, ngx_pds_target_t *t)
{
    ngx_pds_srv_conf_t  *pscf = ctx->conf;

    if (ngx_pds_nsid_in_list(ngx_pds_mod_methods, &ctx->nsid)) {
        t->did = pscf->mod_service_did;
        t->url = pscf->mod_service_url;
        ngx_str_set(&t->service_id, "atproto_labeler");

    } else if (ngx_pds_proxy_nsid_is(&ctx->nsid,
                                     "com.atproto.moderation.createReport"))
    {
        t->did = pscf->report_service_did;
        t->url = pscf->report_service_url;
        ngx_str_set(&t->service_id, "atproto_labeler");

    } else if (ctx->nsid.len > sizeof("chat.bsky.") - 1
               && ngx_strncmp(ctx->nsid.data, "chat.bsky.",
                              sizeof("chat.bsky.") - 1) == 0
               && pscf->chat_url.len)
    {
        t->did = pscf->chat_did;
        t->url = pscf->chat_url;
        ngx_str_set(&t->service_id, "bsky_chat");

    } else {
        t->did = pscf->appview_did;
        t->url = pscf->appview_url;
        ngx_str_set(&t->service_id, "bsky_appview");
    }

    if (t->url.len == 0 || t->did.len == 0) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "No service configured for %V", &ctx->nsid);
    }

    return NGX_OK;
}


/* "atproto-proxy: <did>#<serviceId>", checked here and resolved later */
static ngx_int_t
ngx_pds_proxy_header_target(ngx_pds_ctx_t *ctx, ngx_str_t *v,
    ngx_pds_target_t *t)
{
    u_char  *hash;

    hash = ngx_strlchr(v->data, v->data + v->len, '#');

    if (hash == v->data) {
        return ngx_pds_proxy_bad(ctx, "no did specified in proxy header");
    }

    if (hash == NULL || hash == v->data + v->len - 1) {
        return ngx_pds_proxy_bad(ctx,
                                 "no service id specified in proxy header");
    }

    if (ngx_strlchr(hash + 1, v->data + v->len, '#')) {
        return ngx_pds_proxy_bad(ctx, "invalid proxy header format");
    }

    if (ngx_strlchr(v->data, v->data + v->len, ' ')) {
        return ngx_pds_proxy_bad(ctx, "proxy header cannot contain spaces");
    }

    t->did.data = v->data;
    t->did.len = hash - v->data;
    t->service_id.data = hash + 1;
    t->service_id.len = v->data + v->len - (hash + 1);

    if (ngx_pds_proxy_is_appview(ctx->conf, v)) {
        t->url = ctx->conf->appview_url;
    }

    return NGX_OK;
}


/*
 * The reference's parseProxyInfo(): the target from the "atproto-proxy"
 * header or the default service.  NGX_OK, or the refusal's status.
 */
ngx_int_t
ngx_pds_proxy_target(ngx_pds_ctx_t *ctx, ngx_pds_target_t *t)
{
    ngx_int_t         rc;
    ngx_table_elt_t  *h;

    ngx_memzero(t, sizeof(ngx_pds_target_t));

    h = ngx_pds_request_header(ctx->request, "atproto-proxy");

    if (h == NULL) {
        rc = ngx_pds_proxy_default_target(ctx, t);

    } else {
        rc = ngx_pds_proxy_header_target(ctx, &h->value, t);
    }

    if (rc == NGX_OK) {
        ngx_log_debug5(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                       "pds proxy: %V goes to %V#%V%s, %s", &ctx->nsid,
                       &t->did, &t->service_id,
                       h ? " (atproto-proxy)" : "",
                       t->url.len ? "endpoint configured"
                                  : "endpoint from its DID document");
    }

    return rc;
}


/*
 * An OAuth token's rpc permission for the method (and the method its
 * service token names, getFeed's getFeedSkeleton) at "did#service".
 */
static ngx_int_t
ngx_pds_proxy_permit(ngx_pds_ctx_t *ctx, ngx_pds_target_t *t)
{
    u_char     *aud, *lxm;
    ngx_int_t   rc;

    if (!ctx->auth.oauth) {
        return NGX_OK;
    }

    aud = ngx_pnalloc(ctx->request->pool,
                      t->did.len + t->service_id.len + ctx->nsid.len + 3);
    if (aud == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    lxm = ngx_sprintf(aud, "%V#%V", &t->did, &t->service_id) + 1;
    lxm[-1] = '\0';
    *ngx_cpymem(lxm, ctx->nsid.data, ctx->nsid.len) = '\0';

    rc = ngx_pds_auth_permit(ctx, PDS_SCOPE_RPC, (char *) lxm,
                             (char *) aud);

    if (rc == NGX_OK && t->jwt_lxm && ngx_strcmp(t->jwt_lxm, lxm) != 0) {
        rc = ngx_pds_auth_permit(ctx, PDS_SCOPE_RPC, t->jwt_lxm,
                                 (char *) aud);
    }

    return rc;
}


/*
 * Forwards an authenticated request to its target (ctx->data, in the
 * request pool): its endpoint, from the DID document unless configured,
 * then the redirect into the proxy location.
 */
ngx_int_t
ngx_pds_proxy_route(ngx_pds_ctx_t *ctx, ngx_pds_target_t *t)
{
    ngx_int_t  rc;

    ctx->data = t;

    rc = ngx_pds_proxy_permit(ctx, t);
    if (rc != NGX_OK) {
        return rc;
    }

    if (t->url.len == 0) {
        /* a user's DID document chose the endpoint: SSRF rules apply */
        t->public_only = 1;

        rc = ngx_pds_diddoc_endpoint(ctx, t, ngx_pds_proxy_go);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    return ngx_pds_proxy_go(ctx);
}


/* the target's endpoint + the original path and query */
static ngx_int_t
ngx_pds_proxy_url(ngx_http_request_t *r, ngx_str_t *endpoint,
    ngx_str_t *nsid, ngx_str_t *url)
{
    u_char  *p;
    size_t   n;

    n = endpoint->len;
    while (n && endpoint->data[n - 1] == '/') {
        n--;
    }

    url->len = n + sizeof("/xrpc/") - 1 + nsid->len + 1 + r->args.len;
    url->data = ngx_pnalloc(r->pool, url->len);
    if (url->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(url->data, endpoint->data, n);
    p = ngx_cpymem(p, "/xrpc/", sizeof("/xrpc/") - 1);
    p = ngx_cpymem(p, nsid->data, nsid->len);

    if (r->args.len) {
        *p++ = '?';
        p = ngx_cpymem(p, r->args.data, r->args.len);
    }

    url->len = p - url->data;

    return NGX_OK;
}


/*
 * "Bearer <a service JWT>": for the target's DID and this method unless
 * the caller chose aud and lxm; none at all for an anonymous forward.
 */
static ngx_int_t
ngx_pds_proxy_bearer(ngx_pds_ctx_t *ctx, ngx_pds_target_t *t,
    ngx_str_t *auth)
{
    char                *aud, *lxm, *jwt;
    size_t               n;
    ngx_http_request_t  *r = ctx->request;

    if (t->anonymous) {
        ngx_str_null(auth);
        return NGX_OK;
    }

    aud = t->jwt_aud;
    lxm = t->jwt_lxm;

    if (aud == NULL) {
        aud = (char *) ngx_pnalloc(r->pool, t->did.len + 1);
        if (aud == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *ngx_cpymem(aud, t->did.data, t->did.len) = '\0';
    }

    if (lxm == NULL) {
        lxm = (char *) ngx_pnalloc(r->pool, ctx->nsid.len + 1);
        if (lxm == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *ngx_cpymem(lxm, ctx->nsid.data, ctx->nsid.len) = '\0';
    }

    jwt = ngx_pds_service_jwt(ctx, aud, lxm,
                              (int64_t) ngx_time() + PDS_JWT_SERVICE_TTL);
    if (jwt == NULL) {
        return ngx_pds_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                             "InternalServerError",
                             "Could not sign a service token");
    }

    n = ngx_strlen(jwt);
    auth->len = sizeof("Bearer ") - 1 + n;
    auth->data = ngx_pnalloc(r->pool, auth->len);
    if (auth->data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(ngx_cpymem(auth->data, "Bearer ", 7), jwt, n);

    return NGX_OK;
}


/*
 * The URL with the address to connect to (the endpoint's host resolved
 * here, checked against the SSRF rules when a DID document named it), the
 * service JWT, and the redirect to the proxy location.
 */
static ngx_int_t
ngx_pds_proxy_go(ngx_pds_ctx_t *ctx)
{
    ngx_int_t            rc;
    ngx_str_t            url, auth;
    ngx_pds_target_t    *t = ctx->data;
    ngx_pds_outbound_t   o;

    if (ngx_pds_proxy_url(ctx->request, &t->url, &ctx->nsid, &url)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_pds_outbound_url(ctx, &url, t->public_only, &o,
                              ngx_pds_proxy_go);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_pds_proxy_bearer(ctx, t, &auth);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_pds_proxy_pass(ctx, &o, &auth);
}


ngx_int_t
ngx_pds_proxy_forward_as(ngx_pds_ctx_t *ctx, const char *aud,
    const char *lxm, ngx_uint_t anonymous)
{
    ngx_int_t          rc;
    ngx_pds_target_t  *t;

    t = ngx_palloc(ctx->request->pool, sizeof(ngx_pds_target_t));
    if (t == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_pds_proxy_target(ctx, t);
    if (rc != NGX_OK) {
        return rc;
    }

    t->jwt_aud = (char *) aud;
    t->jwt_lxm = (char *) lxm;
    t->anonymous = anonymous;

    return ngx_pds_proxy_route(ctx, t);
}


ngx_int_t
ngx_pds_proxy_forward(ngx_pds_ctx_t *ctx)
{
    return ngx_pds_proxy_forward_as(ctx, NULL, NULL, 0);
}
