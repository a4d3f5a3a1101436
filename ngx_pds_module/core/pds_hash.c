/*
 * ngx_pds_module core: SHA-256 and HMAC-SHA256 (see pds_hash.h).
 */

#include <string.h>

#define OPENSSL_SUPPRESS_DEPRECATED  1
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "pds_hash.h"


#define PDS_SHA256_BLOCK  64


void
pds_sha256(const void *p, size_t n, uint8_t out[PDS_SHA256_LEN])
{
    SHA256_CTX            c;
    static const uint8_t  empty = 0;

    SHA256_Init(&c);
    SHA256_Update(&c, n ? p : &empty, n);
    SHA256_Final(out, &c);
}


void
pds_hmac_sha256(const uint8_t *key, size_t key_len, const void *data,
    size_t len, uint8_t out[PDS_SHA256_LEN])
{
    size_t      i;
    uint8_t     k[PDS_SHA256_BLOCK], pad[PDS_SHA256_BLOCK];
    uint8_t     inner[PDS_SHA256_LEN];
    SHA256_CTX  c;

    memset(k, 0, sizeof(k));

    if (key_len > PDS_SHA256_BLOCK) {
        pds_sha256(key, key_len, k);

    } else if (key_len) {
        memcpy(k, key, key_len);
    }

    for (i = 0; i < PDS_SHA256_BLOCK; i++) {
        pad[i] = k[i] ^ 0x36;
    }

    SHA256_Init(&c);
    SHA256_Update(&c, pad, sizeof(pad));
    SHA256_Update(&c, data, len);
    SHA256_Final(inner, &c);

    for (i = 0; i < PDS_SHA256_BLOCK; i++) {
        pad[i] = k[i] ^ 0x5c;
    }

    SHA256_Init(&c);
    SHA256_Update(&c, pad, sizeof(pad));
    SHA256_Update(&c, inner, sizeof(inner));
    SHA256_Final(out, &c);

    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(pad, sizeof(pad));
    OPENSSL_cleanse(&c, sizeof(c));
}
