/*
 * ngx_pds_module: what a method served here needs of the proxy layer
 * (proxy/) to forward a request instead: when its "atproto-proxy" header
 * names another service (app.bsky.actor.getPreferences and
 * putPreferences, methods/ngx_pds_prefs.c), or when it is about a repo
 * hosted elsewhere (com.atproto.repo.getRecord, methods/ngx_pds_repo.c).
 */

#ifndef NGX_PDS_FORWARD_H
#define NGX_PDS_FORWARD_H

#include "ngx_pds.h"


/*
 * The "atproto-proxy" header names a service other than the configured
 * AppView's "#bsky_appview": the request is to be forwarded.
 */
ngx_uint_t ngx_pds_proxy_foreign(ngx_pds_ctx_t *ctx);

/*
 * Forwards an authenticated request (ctx->auth) to its target, as the
 * fallback entry does: NGX_DONE, or an error status (ngx_pds_error) for
 * the handler to return.
 */
ngx_int_t ngx_pds_proxy_forward(ngx_pds_ctx_t *ctx);

/*
 * The same with a service JWT for aud and lxm (NULL: the target's DID,
 * the called method), or with no Authorization at all when anonymous
 * (then ctx->auth is not needed).
 */
ngx_int_t ngx_pds_proxy_forward_as(ngx_pds_ctx_t *ctx, const char *aud,
    const char *lxm, ngx_uint_t anonymous);

#endif /* NGX_PDS_FORWARD_H */
