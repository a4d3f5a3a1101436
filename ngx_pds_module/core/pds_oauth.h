/*
 * ngx_pds_module core: the pure parts of the OAuth authorization server
 * (atproto OAuth profile: PAR, PKCE S256, DPoP-bound tokens).
 *
 *   DPoP proofs (RFC 9449), as the reference provider checks them: a JWS
 *   with typ "dpop+jwt", alg ES256 or ES256K and the public key in its
 *   "jwk" header; iat within 10 s of now (plus 180 s of clock tolerance);
 *   htm equal to the request method; htu equal to the request URL once both
 *   are normalized (scheme and host lower case, default port dropped, dot
 *   segments removed, no query or fragment); a jti; ath the hash of the
 *   access token on resource requests (and absent otherwise); the server
 *   nonce, when nonces are on.  The key's RFC 7638 thumbprint (jkt) is what
 *   tokens are bound to.
 *
 *   Server nonces are stateless, as the reference's: base64url of
 *   HMAC-SHA256(secret, 64-bit big-endian counter), the counter being the
 *   minute since the epoch; the previous, current and next minute's nonces
 *   are accepted and the next one is handed out.
 *
 *   PKCE S256, random identifiers with the reference's prefixes and sizes,
 *   HS256 access tokens (typ at+jwt, cnf.jkt, client_id) and their checks.
 *
 * No shared mutable state: every function is safe from several threads.
 */

#ifndef PDS_OAUTH_H
#define PDS_OAUTH_H

#include <stddef.h>
#include <stdint.h>

#include "pds_mem.h"


#define PDS_OAUTH_DPOP_MAX_AGE      10          /* s, jose maxTokenAge */
#define PDS_OAUTH_DPOP_TOLERANCE    180         /* s, the nonce's max age */
#define PDS_OAUTH_NONCE_PERIOD      60000       /* ms, one nonce a minute */
/* how long a DPoP jti is remembered: the whole window, plus 10 % */
#define PDS_OAUTH_DPOP_JTI_TTL      198

#define PDS_OAUTH_JKT_LEN           43          /* base64url of SHA-256 */
#define PDS_OAUTH_NONCE_LEN         43
#define PDS_OAUTH_PROOF_MAX         8192
#define PDS_OAUTH_JTI_MAX           256


typedef enum {
    PDS_DPOP_OK = 0,
    PDS_DPOP_INVALID,           /* invalid_dpop_proof (message in why) */
    PDS_DPOP_USE_NONCE,         /* use_dpop_nonce (message in why) */
    PDS_DPOP_NOMEM
} pds_dpop_rc_t;


typedef struct {
    char        jti[PDS_OAUTH_JTI_MAX + 1];
    char        jkt[PDS_OAUTH_JKT_LEN + 1];
    int64_t     iat;
} pds_dpop_proof_t;


typedef struct {
    const char      *method;        /* the request's, e.g. "POST" */
    const char      *url;           /* the request's absolute URL */
    size_t           url_len;
    const char      *access_token;  /* resource requests (ath); else NULL */
    size_t           access_token_len;
    const uint8_t   *nonce_secret;  /* 32 bytes, or NULL: no nonces */
    int64_t          now_ms;
} pds_dpop_check_t;


/*
 * Verifies one DPoP proof in the reference's order (signature, typ, iat,
 * then nonce type, jti, htm, htu, nonce, ath).  On PDS_DPOP_OK fills *out;
 * otherwise *why is a static English message (the reference's wording
 * where it has one).
 */
pds_dpop_rc_t pds_dpop_verify(const char *proof, size_t len,
    const pds_dpop_check_t *chk, pds_dpop_proof_t *out, const char **why);

/*
 * The normalized form of an http(s) URL used for htu comparison, written
 * NUL-terminated into dst.  Returns its length, or -1 (not an http(s) URL,
 * credentials in it, or cap too small).
 */
long pds_oauth_htu_normalize(const char *url, size_t len, char *dst,
    size_t cap);

/*
 * RFC 7638 thumbprint of an EC public JWK given as JSON text (crv P-256 or
 * secp256k1, x, y); 0 or -1.
 */
int pds_oauth_jwk_thumbprint(const char *jwk_json, size_t len,
    char out[PDS_OAUTH_JKT_LEN + 1]);

/* The nonce of a counter; the counter of a time (ms). */
void pds_oauth_nonce_at(const uint8_t secret[32], int64_t counter,
    char out[PDS_OAUTH_NONCE_LEN + 1]);
int64_t pds_oauth_nonce_counter(int64_t now_ms);
/* the nonce to hand out now (the next minute's) */
void pds_oauth_nonce_next(const uint8_t secret[32], int64_t now_ms,
    char out[PDS_OAUTH_NONCE_LEN + 1]);
/* 1 when nonce is the previous, current or next minute's */
int pds_oauth_nonce_check(const uint8_t secret[32], int64_t now_ms,
    const char *nonce, size_t len);
/* a tenant's nonce secret from its JWT secret (every worker agrees) */
void pds_oauth_nonce_secret(const uint8_t *jwt_secret, size_t len,
    uint8_t out[32]);


/* PKCE */
#define PDS_OAUTH_VERIFIER_MIN  43
#define PDS_OAUTH_VERIFIER_MAX  128

/* 1 when base64url(SHA-256(verifier)) equals challenge (constant time) */
int pds_oauth_pkce_s256_check(const char *challenge, size_t clen,
    const char *verifier, size_t vlen);
/* 1 when s is a code_challenge S256 can produce: 43 base64url characters */
int pds_oauth_pkce_challenge_ok(const char *s, size_t len);


/*
 * Random identifiers as the reference makes them: prefix + hex of n random
 * bytes ("req-" 16, "tok-" 16, "ses-" 16, "dev-" 16) or "cod-" / "ref-" +
 * hex of 32.  dst must have room for strlen(prefix) + 2 n + 1.  0 or -1.
 */
#define PDS_OAUTH_ID_MAX    (4 + 64 + 1)
int pds_oauth_random_id(const char *prefix, size_t nbytes, char *dst);
/* 1 when s is prefix + 2 * nbytes lower-case hex characters */
int pds_oauth_id_ok(const char *s, size_t len, const char *prefix,
    size_t nbytes);


/* Access tokens (HS256 JWT, typ at+jwt, as the reference's stateful mode) */
typedef struct {
    char        *jti;           /* tok-... */
    char        *sub;           /* the account's DID */
    char        *aud;           /* the PDS's did:web */
    char        *iss;           /* the issuer URL */
    char        *client_id;
    char        *jkt;           /* cnf.jkt, or NULL (not DPoP bound) */
    int64_t      iat;
    int64_t      exp;
} pds_oauth_at_t;

char *pds_oauth_at_mint(const pds_alloc_t *a, const uint8_t *secret,
    size_t secret_len, const pds_oauth_at_t *claims);

typedef enum {
    PDS_OAUTH_AT_OK = 0,
    PDS_OAUTH_AT_MALFORMED,     /* not an OAuth access token at all */
    PDS_OAUTH_AT_SIGNATURE,
    PDS_OAUTH_AT_EXPIRED,
    PDS_OAUTH_AT_CLAIMS,        /* iss / aud / missing claims */
    PDS_OAUTH_AT_NOMEM
} pds_oauth_at_rc_t;

/*
 * 1 when the token's payload looks like an OAuth access token (a jti with
 * the "tok-" prefix and a client_id) without verifying anything: how the
 * auth layer tells OAuth tokens from session tokens, as both are at+jwt.
 */
int pds_oauth_at_is_oauth(const char *token, size_t len);

/* Verifies signature, typ, exp (> now), iss and aud; fills *out from a. */
pds_oauth_at_rc_t pds_oauth_at_verify(const pds_alloc_t *a,
    const char *token, size_t len, const uint8_t *secret, size_t secret_len,
    const char *iss, const char *aud, int64_t now, pds_oauth_at_t *out);


/* Scopes (space separated) */
/* 1 when s is an OAuth scope string: tokens of %x21 / %x23-5B / %x5D-7E */
int pds_oauth_scope_syntax_ok(const char *s, size_t len);
/* 1 when the space separated list contains exactly the token tok */
int pds_oauth_scope_has(const char *scope, size_t len, const char *tok);

#endif /* PDS_OAUTH_H */
