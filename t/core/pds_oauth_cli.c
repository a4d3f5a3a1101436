/*
 * DPoP proofs for the OAuth flow tests (t/58-oauth.t):
 *
 *   pds_oauth_cli proof KEYHEX HTM HTU [NONCE|-] [ACCESS_TOKEN|-] [IAT_SHIFT]
 *   pds_oauth_cli jkt KEYHEX
 *   pds_oauth_cli challenge VERIFIER
 *
 * KEYHEX: 64 hex characters of a P-256 private key (ES256).  The proof has
 * a fresh random jti (or $PDS_OAUTH_CLI_JTI) and iat = now + IAT_SHIFT
 * seconds.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pds_enc.h"
#include "pds_hash.h"
#include "pds_keys.h"
#include "pds_oauth.h"


static void
b64(char *dst, const void *src, size_t n)
{
    dst[pds_base64_encode(dst, src, n, 1, 0)] = '\0';
}


static void
jwk(pds_key_t *key, char *out, size_t cap)
{
    uint8_t  pub[65];
    char     x[44], y[44];

    pds_key_public_uncompressed(key, pub);
    b64(x, pub + 1, 32);
    b64(y, pub + 33, 32);
    snprintf(out, cap, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\","
             "\"y\":\"%s\"}", x, y);
}


int
main(int argc, char **argv)
{
    pds_key_t  *key;
    char        j[256], hdr[512], pl[2048], h64[800], p64[2800];
    char        out[4096], jti[33], ath[44], jkt[PDS_OAUTH_JKT_LEN + 1];
    uint8_t     r[16], d[32], sig[64];
    int         n;
    long        shift;

    if (argc >= 3 && strcmp(argv[1], "challenge") == 0) {
        pds_sha256(argv[2], strlen(argv[2]), d);
        b64(ath, d, 32);
        printf("%s\n", ath);
        return 0;
    }

    if (argc < 3) {
        fprintf(stderr, "usage: see the source\n");
        return 2;
    }

    key = pds_key_from_private_hex(PDS_KEY_P256, argv[2], strlen(argv[2]));
    if (key == NULL) {
        fprintf(stderr, "bad key\n");
        return 2;
    }

    jwk(key, j, sizeof(j));

    if (strcmp(argv[1], "jkt") == 0) {
        pds_oauth_jwk_thumbprint(j, strlen(j), jkt);
        printf("%s\n", jkt);
        pds_key_free(key);
        return 0;
    }

    if (strcmp(argv[1], "proof") != 0 || argc < 5) {
        pds_key_free(key);
        return 2;
    }

    pds_random(r, sizeof(r));
    pds_hex_encode(jti, r, sizeof(r));
    jti[32] = '\0';

    /* PDS_OAUTH_CLI_JTI: this jti (up to 32 characters) instead */
    if (getenv("PDS_OAUTH_CLI_JTI") != NULL) {
        snprintf(jti, sizeof(jti), "%s", getenv("PDS_OAUTH_CLI_JTI"));
    }
    shift = argc > 7 ? strtol(argv[7], NULL, 10) : 0;

    n = snprintf(pl, sizeof(pl), "{\"jti\":\"%s\",\"htm\":\"%s\","
                 "\"htu\":\"%s\",\"iat\":%ld", jti, argv[3], argv[4],
                 (long) time(NULL) + shift);
    if (argc > 5 && strcmp(argv[5], "-") != 0) {
        n += snprintf(pl + n, sizeof(pl) - n, ",\"nonce\":\"%s\"", argv[5]);
    }
    if (argc > 6 && strcmp(argv[6], "-") != 0) {
        pds_sha256(argv[6], strlen(argv[6]), d);
        b64(ath, d, 32);
        n += snprintf(pl + n, sizeof(pl) - n, ",\"ath\":\"%s\"", ath);
    }
    snprintf(pl + n, sizeof(pl) - n, "}");

    snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"typ\":\"dpop+jwt\","
             "\"jwk\":%s}", j);
    b64(h64, hdr, strlen(hdr));
    b64(p64, pl, strlen(pl));
    n = snprintf(out, sizeof(out), "%s.%s", h64, p64);
    pds_key_sign(key, (uint8_t *) out, (size_t) n, sig);
    b64(out + n + 1, sig, 64);
    out[n] = '.';
    printf("%s\n", out);

    pds_key_free(key);
    return 0;
}
