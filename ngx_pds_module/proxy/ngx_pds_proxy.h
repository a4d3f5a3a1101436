/*
 * ngx_pds_module: the proxy layer's private header, for the files of proxy/ only.
 *
 *   ngx_pds_proxy.c           the fallback entry, routing (which service),
 *                             ngx_pds_forward.h for methods served here
 *   ngx_pds_diddoc.c          atproto-proxy targets' endpoints: DID
 *                             documents fetched through nginx, cached
 *   ngx_pds_service_auth.c    service JWTs, getServiceAuth, the protected
 *                             and privileged methods
 *   ngx_pds_proxy_location.c  the injected /_pds_proxy location
 *
 * ngx_pds_proxy.c uses the three others, which use none of proxy/.
 */

#ifndef NGX_PDS_PROXY_H
#define NGX_PDS_PROXY_H

#include "ngx_pds.h"
#include "ngx_pds_forward.h"


#define NGX_PDS_PROXY_LOCATION  "/_pds_proxy"


/* where a call goes */
typedef struct {
    ngx_str_t                 did;           /* aud: the bare DID */
    ngx_str_t                 service_id;    /* without '#' */
    ngx_str_t                 url;           /* endpoint, once known */
    ngx_uint_t                public_only;   /* from a DID document */
} ngx_pds_target_t;


/* ngx_pds_proxy_location.c (and ngx_pds_proxy_inject: ngx_pds_methods.h) */

/*
 * Sends the request on to url with this Authorization: the redirect into
 * the proxy location (NGX_DONE) or an error status.
 */
ngx_int_t ngx_pds_proxy_pass(ngx_pds_ctx_t *ctx, ngx_pds_outbound_t *o,
    ngx_str_t *authorization);


/* ngx_pds_diddoc.c */

/*
 * The endpoint of t's service into t->url: NGX_OK when the cache has it;
 * NGX_DONE while its DID document is fetched, after which done runs with
 * t in ctx->data; or an error status (ngx_pds_error).
 */
ngx_int_t ngx_pds_diddoc_endpoint(ngx_pds_ctx_t *ctx, ngx_pds_target_t *t,
    ngx_pds_resume_pt done);


/* ngx_pds_service_auth.c */

/*
 * A service JWT for the caller's account: iss = ctx->auth.did, exp
 * absolute.  NULL after logging when the account or its key is missing.
 */
char *ngx_pds_service_jwt(ngx_pds_ctx_t *ctx, const char *aud,
    const char *lxm, int64_t exp);

/* com.atproto.server.getServiceAuth */
ngx_int_t ngx_pds_get_service_auth(ngx_pds_ctx_t *ctx);

/* nsid is one of list (NULL-terminated), compared case-insensitively */
ngx_uint_t ngx_pds_nsid_in_list(const char **list, ngx_str_t *nsid);
/* never proxied nor service-authed */
ngx_uint_t ngx_pds_nsid_protected(ngx_str_t *nsid);
/* only for full sessions and privileged app passwords */
ngx_uint_t ngx_pds_nsid_privileged(ngx_str_t *nsid);

#endif /* NGX_PDS_PROXY_H */
