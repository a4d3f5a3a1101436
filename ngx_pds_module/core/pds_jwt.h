/*
 * ngx_pds_module core: JSON Web Tokens as the reference PDS uses them.
 *
 * Session tokens (HS256, PDS_JWT_SECRET):
 *   access:  header {"typ":"at+jwt","alg":"HS256"},
 *            payload {"scope","aud","sub","iat","exp"}      (exp = iat + 2 h)
 *   refresh: header {"typ":"refresh+jwt","alg":"HS256"},
 *            payload {"scope":"com.atproto.refresh","aud","sub","jti","iat",
 *                     "exp"}                                (exp = iat + 90 d)
 *   with the claims in the order jose emits them.
 *
 * Inter-service tokens (ES256K / ES256, signed with an account key):
 *   header {"typ":"JWT","alg":"ES256K"},
 *   payload {"iat","iss","aud","exp","lxm"?,"jti"} (jti = 16 random bytes hex)
 *
 * Verification reports why a token failed so the caller can pick the XRPC
 * error (ExpiredToken vs InvalidToken, or the service-auth error names).
 * Strings handed back are allocated from the caller's pds_alloc_t.
 * No shared mutable state: safe to call from several threads.
 */

#ifndef PDS_JWT_H
#define PDS_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "pds_keys.h"
#include "pds_mem.h"


#define PDS_JWT_ACCESS_TTL      (2 * 60 * 60)
#define PDS_JWT_REFRESH_TTL     (90 * 24 * 60 * 60)
#define PDS_JWT_SERVICE_TTL     60

#define PDS_JWT_SCOPE_ACCESS            "com.atproto.access"
#define PDS_JWT_SCOPE_APP_PASS          "com.atproto.appPass"
#define PDS_JWT_SCOPE_APP_PASS_PRIV     "com.atproto.appPassPrivileged"
#define PDS_JWT_SCOPE_TAKENDOWN         "com.atproto.takendown"
#define PDS_JWT_SCOPE_SIGNUP_QUEUED     "com.atproto.signupQueued"
#define PDS_JWT_SCOPE_REFRESH           "com.atproto.refresh"

/* base64 (standard alphabet, unpadded, as uint8arrays) of 32 bytes */
#define PDS_JWT_REFRESH_ID_LEN  43
/* hex of 16 random bytes, plus NUL */
#define PDS_JWT_SERVICE_JTI_LEN 32


typedef enum {
    PDS_JWT_OK = 0,
    PDS_JWT_ERR_MALFORMED,      /* not a JWT / bad JSON / bad claim types */
    PDS_JWT_ERR_ALG,            /* unexpected alg */
    PDS_JWT_ERR_TYPE,           /* wrong typ */
    PDS_JWT_ERR_SIGNATURE,      /* signature does not verify */
    PDS_JWT_ERR_EXPIRED,        /* exp passed */
    PDS_JWT_ERR_AUDIENCE,       /* aud mismatch */
    PDS_JWT_ERR_LXM,            /* lxm missing or mismatched */
    PDS_JWT_ERR_ISS,            /* iss not a DID (or DID#fragment) */
    PDS_JWT_ERR_CLAIMS,         /* session: lxm/cnf present, bad sub/scope */
    PDS_JWT_ERR_NOMEM
} pds_jwt_err_t;

/* A short English description, e.g. for the XRPC error message. */
const char *pds_jwt_strerror(pds_jwt_err_t err);
/*
 * The reference's service-auth error name (BadJwt, BadJwtType, JwtExpired,
 * BadJwtAudience, BadJwtLexiconMethod, BadJwtIss, BadJwtSignature).
 */
const char *pds_jwt_service_error_name(pds_jwt_err_t err);


typedef enum {
    PDS_JWT_ACCESS = 1,
    PDS_JWT_REFRESH = 2
} pds_jwt_kind_t;


typedef struct {
    pds_jwt_kind_t   kind;
    char            *scope;
    char            *aud;
    char            *sub;
    char            *jti;       /* refresh tokens only; else NULL */
    int64_t          iat;       /* 0 if absent */
    int64_t          exp;
} pds_jwt_session_t;


typedef struct {
    char            *alg;
    char            *iss;
    char            *aud;
    char            *lxm;       /* NULL if absent */
    char            *jti;       /* NULL if absent */
    int64_t          iat;       /* 0 if absent */
    int64_t          exp;
} pds_jwt_service_t;


/* Fills a new refresh token id: base64 of 32 random bytes.  0 or -1. */
int pds_jwt_refresh_id(char out[PDS_JWT_REFRESH_ID_LEN + 1]);

/*
 * Mints a session token; returns a NUL-terminated string from a, or NULL.
 * For refresh tokens scope is ignored (always com.atproto.refresh) and jti
 * may be NULL to get a fresh random one; access tokens carry no jti.
 * exp is absolute (e.g. iat + PDS_JWT_ACCESS_TTL).
 */
char *pds_jwt_session_mint(const pds_alloc_t *a, pds_jwt_kind_t kind,
    const uint8_t *secret, size_t secret_len, const char *scope,
    const char *aud, const char *sub, const char *jti, int64_t iat,
    int64_t exp);

/*
 * Verifies a session token of the given kind: HS256 signature (constant
 * time), typ, aud == the given service DID, exp > now, no lxm/cnf claims,
 * scope a string, sub a DID (and jti present for refresh tokens).  On
 * PDS_JWT_OK fills *out (strings from a).  Signature is checked before
 * claims, so a forged expired token reports SIGNATURE, not EXPIRED.
 */
pds_jwt_err_t pds_jwt_session_verify(const pds_alloc_t *a, const char *token,
    size_t len, pds_jwt_kind_t kind, const uint8_t *secret,
    size_t secret_len, const char *aud, int64_t now,
    pds_jwt_session_t *out);

/*
 * Mints an inter-service token signed with key (alg from the key); lxm may
 * be NULL.  Returns a NUL-terminated string from a, or NULL.
 */
char *pds_jwt_service_mint(const pds_alloc_t *a, const pds_key_t *key,
    const char *iss, const char *aud, const char *lxm, int64_t iat,
    int64_t exp);

/*
 * Step 1 of service-token verification, before the issuer's key is known:
 * checks the shape, refuses typ at+jwt / refresh+jwt / dpop+jwt, then
 * exp (expired when now > exp), aud (skipped if aud is NULL), lxm (skipped
 * if lxm is NULL) and iss (a DID, optionally with a #fragment).  Fills *out.
 */
pds_jwt_err_t pds_jwt_service_decode(const pds_alloc_t *a, const char *token,
    size_t len, const char *aud, const char *lxm, int64_t now,
    pds_jwt_service_t *out);

/*
 * Step 2: checks the signature against the issuer's key (did:key form);
 * the header alg must match the key's curve.  Lenient: high-S accepted.
 */
pds_jwt_err_t pds_jwt_service_verify_sig(const char *token, size_t len,
    const char *did_key);
pds_jwt_err_t pds_jwt_service_verify_sig_key(const char *token, size_t len,
    const pds_key_t *key);

/* Both steps. */
pds_jwt_err_t pds_jwt_service_verify(const pds_alloc_t *a, const char *token,
    size_t len, const char *did_key, const char *aud, const char *lxm,
    int64_t now, pds_jwt_service_t *out);

#endif /* PDS_JWT_H */
