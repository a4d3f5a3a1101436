/*
 * ngx_pds_module core: SHA-256, HMAC-SHA256, scrypt and random bytes.
 *
 * Through OpenSSL's low-level SHA-256 calls and the kernel's random
 * source.  The one-shot SHA256(), the EVP interfaces and RAND_bytes() of
 * OpenSSL 3 go through its provider store: each call looks the
 * implementation up, and the first one in a process loads the provider
 * machinery (~2 MB of library code made resident, plus its heap), which a
 * worker that only hashes, signs (libsecp256k1) and derives keys never
 * needs.
 */

#ifndef PDS_HASH_H
#define PDS_HASH_H

#include <stddef.h>
#include <stdint.h>


#define PDS_SHA256_LEN  32


void pds_sha256(const void *p, size_t n, uint8_t out[PDS_SHA256_LEN]);

/* the same over data that comes in pieces */
typedef struct {
    uint64_t  state[16];            /* room for OpenSSL's SHA256_CTX */
} pds_sha256_t;

void pds_sha256_init(pds_sha256_t *h);
void pds_sha256_update(pds_sha256_t *h, const void *p, size_t n);
void pds_sha256_final(pds_sha256_t *h, uint8_t out[PDS_SHA256_LEN]);

/* RFC 2104 with SHA-256: keys longer than the 64-byte block are hashed */
void pds_hmac_sha256(const uint8_t *key, size_t key_len, const void *data,
    size_t len, uint8_t out[PDS_SHA256_LEN]);

/*
 * scrypt (RFC 7914): N a power of two > 1, r * p < 2^30.  The N * r * 128
 * byte table is mapped for the call and unmapped after.  0 or -1.
 */
int pds_scrypt_kdf(const uint8_t *password, size_t len, const uint8_t *salt,
    size_t salt_len, uint64_t n, uint32_t r, uint32_t p, uint8_t *out,
    size_t out_len);

/* n bytes from the kernel (getrandom): 0 or -1 */
int pds_random(void *buf, size_t n);


#endif /* PDS_HASH_H */
