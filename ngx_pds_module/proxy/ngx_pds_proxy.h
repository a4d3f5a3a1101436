/*
 * ngx_pds_module: the proxy layer's private header, for the files of proxy/ only.
 *
 *   ngx_pds_proxy.c           the table: the fallback entry, getServiceAuth
 *                             and the AppView methods served here
 *   ngx_pds_appview.c         app.bsky.feed.getFeed (a token for the feed
 *                             generator), notification.registerPush and
 *                             unregisterPush (to the body's serviceDid)
 *   ngx_pds_route.c           which service a request goes to, and its
 *                             forwarding (ngx_pds_forward.h for methods/)
 *   ngx_pds_diddoc.c          DID documents fetched through nginx: the
 *                             endpoints of services, cached
 *   ngx_pds_service_auth.c    service JWTs, getServiceAuth, the protected
 *                             and privileged methods
 *   ngx_pds_proxy_location.c  the injected /_pds_proxy location
 *
 * ngx_pds_proxy.c -> ngx_pds_appview.c -> ngx_pds_route.c -> the three
 * last, which use none of proxy/.
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
    char                     *jwt_aud;       /* NULL: did */
    char                     *jwt_lxm;       /* NULL: the called method */
    ngx_uint_t                anonymous;     /* no Authorization at all */
} ngx_pds_target_t;


/* ngx_pds_route.c */

/*
 * The reference's parseProxyInfo(): the target from the "atproto-proxy"
 * header or the default service, into t (zeroed first).  NGX_OK, or the
 * refusal's status.
 */
ngx_int_t ngx_pds_proxy_target(ngx_pds_ctx_t *ctx, ngx_pds_target_t *t);

/*
 * Forwards the request to t (kept in ctx->data): its endpoint, from the
 * DID document unless configured, then the redirect into the proxy
 * location.  NGX_DONE, or an error status.
 */
ngx_int_t ngx_pds_proxy_route(ngx_pds_ctx_t *ctx, ngx_pds_target_t *t);


/* ngx_pds_appview.c: the entries of the proxy's table it serves */

ngx_int_t ngx_pds_appview_check(ngx_pds_ctx_t *ctx);
ngx_int_t ngx_pds_get_feed_check(ngx_pds_ctx_t *ctx);
ngx_int_t ngx_pds_get_feed(ngx_pds_ctx_t *ctx);
ngx_int_t ngx_pds_push(ngx_pds_ctx_t *ctx);


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

/*
 * The serviceEndpoint of the entry "#<id>" of type in the DID document
 * doc of did (type NULL: any type), or NULL.
 */
json_t *ngx_pds_diddoc_service(json_t *doc, ngx_str_t *did, ngx_str_t *id,
    const char *type);

/* where the DID document of did is: NGX_OK, NGX_DECLINED, NGX_ERROR */
ngx_int_t ngx_pds_diddoc_url(ngx_pds_ctx_t *ctx, ngx_str_t *did,
    ngx_str_t *url);

/* 1 if an endpoint is an http(s) URL the proxy can use */
ngx_uint_t ngx_pds_diddoc_endpoint_ok(const char *s, size_t n);


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
