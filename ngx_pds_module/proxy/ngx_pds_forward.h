/*
 * ngx_pds_module: what a method served here needs of the proxy layer
 * (proxy/) to forward a request instead, when its "atproto-proxy" header
 * names another service (app.bsky.actor.getPreferences and
 * putPreferences, methods/ngx_pds_prefs.c).
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

#endif /* NGX_PDS_FORWARD_H */
