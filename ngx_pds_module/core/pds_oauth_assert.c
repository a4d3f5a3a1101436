/*
 * ngx_pds_module core: client assertions (private_key_jwt, RFC 7523).
 */

#include <string.h>

#include <jansson.h>

#include "pds_enc.h"
#include "pds_keys.h"
#include "pds_oauth.h"
#include "pds_oauth_client.h"
#include "pds_oauth_int.h"


static int
pds_oauth_aud_has(json_t *aud, const char *want)
{
    json_t  *v;
    size_t   i;

    if (json_is_string(aud)) {
        return strcmp(json_string_value(aud), want) == 0;
    }

    json_array_foreach(aud, i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), want) == 0) {
            return 1;
        }
    }

    return 0;
}


/* the key of the JWKS with this kid (and a usable EC curve for alg) */
static pds_key_t *
pds_oauth_jwks_key(json_t *jwks, const char *kid, const char *alg,
    char jkt[PDS_OAUTH_JKT_LEN + 1])
{
    json_t      *keys, *k;
    const char  *s;
    size_t       i;

    keys = json_object_get(jwks, "keys");

    json_array_foreach(keys, i, k) {
        s = json_string_value(json_object_get(k, "kid"));
        if (s == NULL || strcmp(s, kid) != 0) {
            continue;
        }

        s = json_string_value(json_object_get(k, "alg"));
        if (s != NULL && strcmp(s, alg) != 0) {
            continue;
        }

        /* a private key published by mistake is still a public key here:
         * pds_oauth_jwk_key refuses it, and so do we */
        return pds_oauth_jwk_key(k, alg, jkt);
    }

    return NULL;
}


int
pds_oauth_client_assertion_verify(const char *jwt, size_t len, json_t *jwks,
    const char *client_id, const char *issuer, int64_t now,
    pds_oauth_assertion_t *out, const char **why)
{
    pds_oauth_jws_t   j;
    pds_key_t        *key;
    const char       *alg, *kid, *s;
    json_t           *v;
    uint8_t           sig[66];
    int64_t           iat;
    int               rc;

    memset(out, 0, sizeof(*out));

    if (pds_oauth_jws_split(jwt, len, &j) != 0) {
        *why = "Validation of \"client_assertion\" failed: Invalid Compact JWS";
        return -1;
    }

    rc = -1;
    key = NULL;

    alg = json_string_value(json_object_get(j.header, "alg"));
    kid = json_string_value(json_object_get(j.header, "kid"));

    if (alg == NULL || pds_key_type_from_jwt_alg(alg) == 0) {
        *why = "Validation of \"client_assertion\" failed: unsupported "
               "\"alg\"";
        goto done;
    }

    if (kid == NULL || kid[0] == '\0' || strlen(kid) >= sizeof(out->kid)) {
        *why = "\"kid\" required in client_assertion";
        goto done;
    }

    key = pds_oauth_jwks_key(jwks, kid, alg, out->jkt);
    if (key == NULL) {
        *why = "Validation of \"client_assertion\" failed: no applicable key "
               "found in the JSON Web Key Set";
        goto done;
    }

    if (j.sig_len != 86 || pds_base64_decode(sig, j.sig, j.sig_len, 1) != 64
        || !pds_key_verify(key, (const uint8_t *) jwt, j.signed_len, sig, 64,
                           PDS_SIG_LENIENT))
    {
        *why = "Validation of \"client_assertion\" failed: signature "
               "verification failed";
        goto done;
    }

    s = json_string_value(json_object_get(j.payload, "iss"));
    if (s == NULL || strcmp(s, client_id) != 0) {
        *why = "Validation of \"client_assertion\" failed: unexpected \"iss\" "
               "claim value";
        goto done;
    }

    s = json_string_value(json_object_get(j.payload, "sub"));
    if (s == NULL || strcmp(s, client_id) != 0) {
        *why = "Validation of \"client_assertion\" failed: unexpected \"sub\" "
               "claim value";
        goto done;
    }

    if (!pds_oauth_aud_has(json_object_get(j.payload, "aud"), issuer)) {
        *why = "Validation of \"client_assertion\" failed: unexpected \"aud\" "
               "claim value";
        goto done;
    }

    s = json_string_value(json_object_get(j.payload, "jti"));
    if (s == NULL || s[0] == '\0' || strlen(s) >= sizeof(out->jti)) {
        *why = "Validation of \"client_assertion\" failed: missing required "
               "\"jti\" claim";
        goto done;
    }
    memcpy(out->jti, s, strlen(s) + 1);

    v = json_object_get(j.payload, "iat");
    if (!json_is_number(v)) {
        *why = "Validation of \"client_assertion\" failed: \"iat\" claim must "
               "be a number";
        goto done;
    }

    iat = pds_oauth_json_seconds(v);
    if (now - iat > PDS_OAUTH_ASSERTION_MAX_AGE) {
        *why = "Validation of \"client_assertion\" failed: \"iat\" claim "
               "timestamp check failed (too far in the past)";
        goto done;
    }
    if (iat > now) {
        *why = "Validation of \"client_assertion\" failed: \"iat\" claim "
               "timestamp check failed (it should be in the past)";
        goto done;
    }

    v = json_object_get(j.payload, "exp");
    if (v != NULL) {
        if (!json_is_number(v) || pds_oauth_json_seconds(v) <= now) {
            *why = "Validation of \"client_assertion\" failed: \"exp\" claim "
                   "timestamp check failed";
            goto done;
        }
        out->exp = pds_oauth_json_seconds(v);
    }

    memcpy(out->kid, kid, strlen(kid) + 1);
    rc = 0;

done:

    if (key) {
        pds_key_free(key);
    }
    pds_oauth_jws_free(&j);

    return rc;
}
