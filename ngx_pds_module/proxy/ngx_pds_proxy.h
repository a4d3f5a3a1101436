/*
 * ngx_pds_module: shared between the proxy (ngx_pds_proxy.c) and the
 * local preferences (ngx_pds_prefs.c).
 */

#ifndef NGX_PDS_PROXY_H
#define NGX_PDS_PROXY_H

#include "ngx_pds.h"


/* ngx_pds_prefs.c */
ngx_int_t ngx_pds_get_preferences(ngx_pds_ctx_t *ctx);
ngx_int_t ngx_pds_put_preferences(ngx_pds_ctx_t *ctx);

/* ngx_pds_proxy.c */

/*
 * The "atproto-proxy" header when it names a service other than the
 * configured AppView's "#bsky_appview": the request is to be forwarded.
 */
ngx_uint_t ngx_pds_proxy_foreign(ngx_pds_ctx_t *ctx);

/*
 * Forwards an already authenticated request (ctx->auth) to its target:
 * NGX_DONE, or the status of the refusal sent.
 */
ngx_int_t ngx_pds_proxy_forward(ngx_pds_ctx_t *ctx);

/*
 * A service JWT for the caller's account: iss = ctx->auth.did, exp
 * absolute.  NULL after logging when the account or its key is missing.
 */
char *ngx_pds_service_jwt(ngx_pds_ctx_t *ctx, const char *aud,
    const char *lxm, int64_t exp);

#endif /* NGX_PDS_PROXY_H */
