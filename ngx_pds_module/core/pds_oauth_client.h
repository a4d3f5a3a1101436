/*
 * ngx_pds_module core: OAuth clients as the atproto profile has them.
 *
 *   A client_id is either a loopback development client
 *   ("http://localhost", optionally "/", then "?redirect_uri=...&scope=...",
 *   whose metadata is implied by the id) or a discoverable client: an https
 *   URL with a path, no fragment, no credentials, not an IP address, whose
 *   metadata document the nginx layer fetches.  Metadata is checked with
 *   the reference's rules and messages (InvalidClientMetadataError's).
 *   Redirect URIs match exactly, except that a registered loopback URI
 *   without a port accepts any port (RFC 8252 7.3).
 */

#ifndef PDS_OAUTH_CLIENT_H
#define PDS_OAUTH_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>


typedef enum {
    PDS_OAUTH_CLIENT_BAD = 0,
    PDS_OAUTH_CLIENT_LOOPBACK,
    PDS_OAUTH_CLIENT_DISCOVERABLE
} pds_oauth_client_kind_t;


/* what kind of client_id this is; for BAD, *why says why */
pds_oauth_client_kind_t pds_oauth_client_id_kind(const char *id, size_t len,
    const char **why);

/*
 * The metadata a loopback client_id implies (a new JSON object), or NULL
 * with *why: redirect_uris from its redirect_uri parameters (default
 * http://127.0.0.1/ and http://[::1]/), its scope (default "atproto", which
 * must contain "atproto"), native, "none" auth, DPoP-bound.
 */
json_t *pds_oauth_loopback_metadata(const char *id, size_t len,
    const char **why);

/*
 * Checks a client's metadata (fetched or implied) for use here: client_id
 * equal to the id, redirect_uris, scope with "atproto", grant and response
 * types, dpop_bound_access_tokens, the authentication method.  0 or -1
 * with *why.
 */
int pds_oauth_client_metadata_check(json_t *md, const char *client_id,
    const char **why);

/* 1 when uri is a redirect URI a client may register */
int pds_oauth_redirect_uri_ok(const char *uri, const char **why);

/* 1 when the requested URI matches the registered one */
int pds_oauth_redirect_uri_match(const char *allowed, const char *req);

/*
 * The redirect URI a request uses: req (NULL when absent) if it matches
 * one of the metadata's, or the only registered one; NULL with *why.
 */
const char *pds_oauth_redirect_uri_pick(json_t *md, const char *req,
    const char **why);

/*
 * private_key_jwt (RFC 7523 client assertions), as the reference checks
 * them: a JWS signed by a key of the client's JWKS named by its "kid"
 * (ES256 or ES256K), iss = sub = the client_id, aud naming the issuer, a
 * jti, iat within the last minute (not in the future), exp not passed.
 * pds_oauth_client_assertion_verify: 0, or -1 with *why (the error is
 * invalid_client).  out->jkt identifies the key that signed, so that a
 * session stays with it.
 */
#define PDS_OAUTH_ASSERTION_TYPE \
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#define PDS_OAUTH_ASSERTION_MAX_AGE  60

typedef struct {
    char        jti[257];
    char        kid[129];
    char        jkt[44];
    int64_t     exp;            /* 0 when absent */
} pds_oauth_assertion_t;

int pds_oauth_client_assertion_verify(const char *jwt, size_t len,
    json_t *jwks, const char *client_id, const char *issuer, int64_t now,
    pds_oauth_assertion_t *out, const char **why);

/* x-www-form-urlencoded decoding of s[0..n) into dst (cap >= n + 1) */
long pds_oauth_form_decode(const char *s, size_t n, char *dst, size_t cap);

#endif /* PDS_OAUTH_CLIENT_H */
