/*
 * ngx_pds_module core: what the OAuth core's files share (private).
 */

#ifndef PDS_OAUTH_INT_H
#define PDS_OAUTH_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "pds_keys.h"
#include "pds_oauth.h"


typedef struct {
    json_t      *header;
    json_t      *payload;
    const char  *sig;
    size_t       sig_len;
    size_t       signed_len;        /* "header.payload" */
} pds_oauth_jws_t;


/* splits a compact JWS and parses its header and payload (JSON objects) */
int pds_oauth_jws_split(const char *tok, size_t len, pds_oauth_jws_t *j);
void pds_oauth_jws_free(pds_oauth_jws_t *j);
/* unpadded base64url of a JSON object, parsed; NULL if not */
json_t *pds_oauth_b64_json(const char *s, size_t n);

/*
 * The public key of an EC JWK (P-256 / secp256k1, no "d"); alg, if not
 * NULL, must name the curve's JWS algorithm.  Writes the RFC 7638
 * thumbprint to jkt when jkt is not NULL.  NULL on any failure.
 */
pds_key_t *pds_oauth_jwk_key(json_t *jwk, const char *alg,
    char jkt[PDS_OAUTH_JKT_LEN + 1]);

/*
 * A JSON number of seconds (iat, exp) as an int64_t, clamped to some
 * 3,000 years either side of 1970: converting a larger double (1e300) is
 * undefined behaviour, and the arithmetic on it would overflow.
 */
int64_t pds_oauth_json_seconds(json_t *v);

/* constant time equality of two n-byte strings */
int pds_oauth_ct_equal(const char *a, const char *b, size_t n);

#endif /* PDS_OAUTH_INT_H */
