/*
 * ngx_pds_module core: SHA-256 and HMAC-SHA256.
 *
 * Through OpenSSL's low-level SHA-256 calls: the one-shot SHA256() and the
 * EVP interfaces of OpenSSL 3 look the implementation up in the provider
 * store on every call, which costs more than hashing a small block.
 */

#ifndef PDS_HASH_H
#define PDS_HASH_H

#include <stddef.h>
#include <stdint.h>


#define PDS_SHA256_LEN  32


void pds_sha256(const void *p, size_t n, uint8_t out[PDS_SHA256_LEN]);

/* RFC 2104 with SHA-256: keys longer than the 64-byte block are hashed */
void pds_hmac_sha256(const uint8_t *key, size_t key_len, const void *data,
    size_t len, uint8_t out[PDS_SHA256_LEN]);


#endif /* PDS_HASH_H */
