
/*
 * ngx_pds_module: DID documents fetched fresh (see ngx_pds_did.c).
 */

#ifndef _NGX_PDS_DID_H_INCLUDED_
#define _NGX_PDS_DID_H_INCLUDED_

#include "ngx_pds.h"

#include "pds_diddoc.h"
#include "pds_jwt.h"


typedef enum {
    NGX_PDS_DID_OK = 0,
    NGX_PDS_DID_NOTFOUND,           /* the directory or host has none */
    NGX_PDS_DID_UNRESOLVED          /* not a DID we can resolve, no answer,
                                       or not a document of that DID */
} ngx_pds_did_status_e;


typedef struct {
    const char               *did;
    ngx_pds_did_status_e      status;
    pds_diddoc_t              doc;           /* when NGX_PDS_DID_OK */
    json_t                   *json;          /* the document (request's) */
} ngx_pds_did_t;


/* where the document of did is: NGX_OK, NGX_DECLINED (not resolvable) or
 * NGX_ERROR */
ngx_int_t ngx_pds_did_doc_url(ngx_pds_ctx_t *ctx, ngx_str_t *did,
    ngx_str_t *url);

/*
 * Fetches and reads the document of did into *out, then runs done (also
 * when it cannot be resolved: see out->status).  The handler's ctx->data
 * is kept.  NGX_DONE while fetching, done's result, or an error status.
 */
ngx_int_t ngx_pds_did_resolve(ngx_pds_ctx_t *ctx, const char *did,
    ngx_pds_did_t *out, ngx_pds_resume_pt done);


/* a service-auth token checked against its issuer's DID document */
typedef struct {
    pds_jwt_service_t         claims;
    const char               *iss;           /* the issuer's DID */
    ngx_pds_did_t             did;           /* its document */
} ngx_pds_service_auth_t;

/*
 * Verifies token, a service-auth JWT for the method lxm, as the reference
 * does (in its order: shape, type, expiry, lxm, issuer, signature against
 * the #atproto key of the issuer's DID document fetched fresh, then the
 * audience: the tenant's service DID).  Then runs done with *out filled;
 * a token that does not verify is answered 401 with the reference's error
 * name (BadJwt, BadJwtType, JwtExpired, BadJwtLexiconMethod, BadJwtIss,
 * BadJwtSignature, BadJwtAudience, AuthenticationRequired).  The
 * handler's ctx->data is kept.  NGX_DONE while fetching, done's result,
 * or an error status.
 */
ngx_int_t ngx_pds_did_service_auth(ngx_pds_ctx_t *ctx, const char *token,
    size_t len, const char *lxm, ngx_pds_service_auth_t *out,
    ngx_pds_resume_pt done);


/* whether a DID points at this tenant (the reference's
 * assertValidDidDocumentForService) */
typedef struct {
    const char               *did;
    const char               *didkey;        /* the account's signing key */
    const char               *problem;       /* NULL: it does; else the
                                                reference's message */
    ngx_uint_t                unreachable;   /* no answer from the PLC
                                                directory or the host */
    ngx_pds_did_t             doc;           /* did:web */
} ngx_pds_did_check_t;

/*
 * Checks, as they are now, that the DID's #atproto_pds endpoint is the
 * tenant's public URL, that its #atproto key is didkey and, for did:plc
 * (from the directory's /data), that the tenant's rotation key is among
 * its rotationKeys; then runs done with out->problem set or NULL.  The
 * handler's ctx->data is kept.
 */
ngx_int_t ngx_pds_did_check_service(ngx_pds_ctx_t *ctx, const char *did,
    const char *didkey, ngx_pds_did_check_t *out, ngx_pds_resume_pt done);

#endif /* _NGX_PDS_DID_H_INCLUDED_ */
