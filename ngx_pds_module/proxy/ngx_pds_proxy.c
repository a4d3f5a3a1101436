/*
 * ngx_pds_module: the proxy, the dispatch table's fallback.
 *
 * An XRPC method the PDS does not serve itself is forwarded, as the
 * reference PDS's pipethrough does, to the service the "atproto-proxy:
 * <did>#<serviceId>" header names (its endpoint from the DID document:
 * ngx_pds_diddoc.c) or by default to the AppView (the moderation service
 * for tools.ozone.*, the report service for createReport, the chat
 * service for chat.bsky.*), with a fresh service JWT signed by the
 * caller's account key (ngx_pds_service_auth.c), through the injected
 * proxy location (ngx_pds_proxy_location.c).
 *
 * The unknown NSID is an entry of the table like any other (flagged
 * NGX_PDS_FALLBACK), so dispatch authenticates it; its check runs first
 * and refuses what cannot be routed.  The routing is ngx_pds_route.c's;
 * the AppView methods whose service token is not the plain proxy's
 * (getFeed, registerPush, unregisterPush) are ngx_pds_appview.c's.
 * Methods of methods/ that forward use ngx_pds_forward.h.
 */

#include "ngx_pds_proxy.h"
#include "ngx_pds_methods.h"

#include "pds_syntax.h"


static ngx_int_t ngx_pds_proxy_check(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_proxy_unknown(ngx_pds_ctx_t *ctx);


const ngx_pds_method_t  ngx_pds_proxy_methods[] = {

    { ngx_string("com.atproto.server.getServiceAuth"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_ACCESS, NGX_PDS_IN_NONE, NGX_PDS_ALLOW_TAKENDOWN, 0,
      ngx_pds_get_service_auth, NULL },

    { ngx_string("app.bsky.feed.getFeed"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_ACCESS, NGX_PDS_IN_NONE, 0, 0, ngx_pds_get_feed,
      ngx_pds_get_feed_check },

    { ngx_string("app.bsky.notification.registerPush"), NGX_PDS_PROCEDURE,
      NGX_PDS_AUTH_ACCESS, NGX_PDS_IN_JSON, NGX_PDS_ALLOW_SIGNUP_QUEUED, 0,
      ngx_pds_push, ngx_pds_appview_check },

    { ngx_string("app.bsky.notification.unregisterPush"), NGX_PDS_PROCEDURE,
      NGX_PDS_AUTH_ACCESS, NGX_PDS_IN_JSON, 0, 0, ngx_pds_push,
      ngx_pds_appview_check },

    /* every other NSID: to the AppView, chat or atproto-proxy's target */
    { ngx_string("(proxied)"), NGX_PDS_ANY, NGX_PDS_AUTH_ACCESS,
      NGX_PDS_IN_PASS, NGX_PDS_FALLBACK, 0, ngx_pds_proxy_unknown,
      ngx_pds_proxy_check },

    { ngx_null_string, 0, 0, 0, 0, 0, NULL, NULL }
};


/* ---- the fallback entry ------------------------------------------------ */


/*
 * Its check, before authentication: an NSID the table does not have is
 * proxied when it is valid, called with GET or POST, not one of the
 * protected methods, and its target can be found.
 */
static ngx_int_t
ngx_pds_proxy_check(ngx_pds_ctx_t *ctx)
{
    ngx_pds_target_t    *t;
    ngx_http_request_t  *r = ctx->request;

    if (!pds_nsid_valid((char *) ctx->nsid.data, ctx->nsid.len)) {
        return NGX_DECLINED;
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_POST))) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "XRPC requests only supports GET and POST");
    }

    if (ngx_pds_nsid_protected(&ctx->nsid)) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidToken",
                             "Bad token method");
    }

    t = ngx_palloc(r->pool, sizeof(ngx_pds_target_t));
    if (t == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = t;

    return ngx_pds_proxy_target(ctx, t);
}


/* the handler: an authenticated request for a method we lack */
static ngx_int_t
ngx_pds_proxy_unknown(ngx_pds_ctx_t *ctx)
{
    ngx_pds_read_done(ctx);

    if (!ctx->auth.privileged && ngx_pds_nsid_privileged(&ctx->nsid)) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidToken",
                             "Bad token method");
    }

    return ngx_pds_proxy_route(ctx, ctx->data);
}
