/*
 * ngx_pds_module core: SHA-256, HMAC-SHA256, scrypt and random bytes (see
 * pds_hash.h).
 */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>

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


typedef char  pds_sha256_fits[sizeof(SHA256_CTX) <= sizeof(pds_sha256_t)
                               ? 1 : -1];


void
pds_sha256_init(pds_sha256_t *h)
{
    SHA256_Init((SHA256_CTX *) h);
}


void
pds_sha256_update(pds_sha256_t *h, const void *p, size_t n)
{
    SHA256_Update((SHA256_CTX *) h, p, n);
}


void
pds_sha256_final(pds_sha256_t *h, uint8_t out[PDS_SHA256_LEN])
{
    SHA256_Final(out, (SHA256_CTX *) h);
}


/* the HMAC states after the inner and the outer padded key (RFC 2104) */
static void
pds_hmac_keyed(const uint8_t *key, size_t key_len, SHA256_CTX *inner,
    SHA256_CTX *outer)
{
    size_t   i;
    uint8_t  k[PDS_SHA256_BLOCK], pad[PDS_SHA256_BLOCK];

    memset(k, 0, sizeof(k));

    if (key_len > PDS_SHA256_BLOCK) {
        pds_sha256(key, key_len, k);

    } else if (key_len) {
        memcpy(k, key, key_len);
    }

    for (i = 0; i < PDS_SHA256_BLOCK; i++) {
        pad[i] = k[i] ^ 0x36;
    }

    SHA256_Init(inner);
    SHA256_Update(inner, pad, sizeof(pad));

    for (i = 0; i < PDS_SHA256_BLOCK; i++) {
        pad[i] = k[i] ^ 0x5c;
    }

    SHA256_Init(outer);
    SHA256_Update(outer, pad, sizeof(pad));

    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(pad, sizeof(pad));
}


/* one MAC from the keyed states, which are left as they were */
static void
pds_hmac_with(const SHA256_CTX *inner, const SHA256_CTX *outer,
    const void *a, size_t alen, const void *b, size_t blen,
    uint8_t out[PDS_SHA256_LEN])
{
    uint8_t     t[PDS_SHA256_LEN];
    SHA256_CTX  c;

    c = *inner;
    SHA256_Update(&c, a, alen);
    SHA256_Update(&c, b, blen);
    SHA256_Final(t, &c);

    c = *outer;
    SHA256_Update(&c, t, sizeof(t));
    SHA256_Final(out, &c);

    OPENSSL_cleanse(t, sizeof(t));
    OPENSSL_cleanse(&c, sizeof(c));
}


void
pds_hmac_sha256(const uint8_t *key, size_t key_len, const void *data,
    size_t len, uint8_t out[PDS_SHA256_LEN])
{
    SHA256_CTX  inner, outer;

    pds_hmac_keyed(key, key_len, &inner, &outer);
    pds_hmac_with(&inner, &outer, data, len, NULL, 0, out);

    OPENSSL_cleanse(&inner, sizeof(inner));
    OPENSSL_cleanse(&outer, sizeof(outer));
}


/* PBKDF2-HMAC-SHA256 with one iteration, as scrypt uses it (RFC 8018) */
static void
pds_pbkdf2_sha256_1(const uint8_t *password, size_t len, const uint8_t *salt,
    size_t salt_len, uint8_t *out, size_t out_len)
{
    size_t      i, n;
    uint8_t     ctr[4], t[PDS_SHA256_LEN];
    SHA256_CTX  inner, outer;

    /* keyed once; each output block continues from the states */
    pds_hmac_keyed(password, len, &inner, &outer);

    for (i = 1; out_len; i++) {
        ctr[0] = (uint8_t) (i >> 24);
        ctr[1] = (uint8_t) (i >> 16);
        ctr[2] = (uint8_t) (i >> 8);
        ctr[3] = (uint8_t) i;

        pds_hmac_with(&inner, &outer, salt, salt_len, ctr, sizeof(ctr), t);

        n = out_len < sizeof(t) ? out_len : sizeof(t);
        memcpy(out, t, n);
        out += n;
        out_len -= n;
    }

    OPENSSL_cleanse(t, sizeof(t));
    OPENSSL_cleanse(&inner, sizeof(inner));
    OPENSSL_cleanse(&outer, sizeof(outer));
}


#define PDS_ROTL(v, n)  (((v) << (n)) | ((v) >> (32 - (n))))


/*
 * one Salsa20 quarter round on the words a, b, c, d (variables, so that
 * the compiler keeps all sixteen in registers: through an array indexed by
 * a function's arguments the core ran 2-3 times slower than OpenSSL's)
 */
#define PDS_SALSA_QR(a, b, c, d)                                            \
    b ^= PDS_ROTL(a + d, 7);                                                \
    c ^= PDS_ROTL(b + a, 9);                                                \
    d ^= PDS_ROTL(c + b, 13);                                               \
    a ^= PDS_ROTL(d + c, 18)


/* the Salsa20/8 core on b, in place: 4 double rounds, then the sum */
static void
pds_salsa20_8(uint32_t b[16])
{
    int       i;
    uint32_t  x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13,
              x14, x15;

    x0 = b[0]; x1 = b[1]; x2 = b[2]; x3 = b[3];
    x4 = b[4]; x5 = b[5]; x6 = b[6]; x7 = b[7];
    x8 = b[8]; x9 = b[9]; x10 = b[10]; x11 = b[11];
    x12 = b[12]; x13 = b[13]; x14 = b[14]; x15 = b[15];

    for (i = 0; i < 4; i++) {
        /* columns */
        PDS_SALSA_QR(x0, x4, x8, x12);
        PDS_SALSA_QR(x5, x9, x13, x1);
        PDS_SALSA_QR(x10, x14, x2, x6);
        PDS_SALSA_QR(x15, x3, x7, x11);

        /* rows */
        PDS_SALSA_QR(x0, x1, x2, x3);
        PDS_SALSA_QR(x5, x6, x7, x4);
        PDS_SALSA_QR(x10, x11, x8, x9);
        PDS_SALSA_QR(x15, x12, x13, x14);
    }

    b[0] += x0; b[1] += x1; b[2] += x2; b[3] += x3;
    b[4] += x4; b[5] += x5; b[6] += x6; b[7] += x7;
    b[8] += x8; b[9] += x9; b[10] += x10; b[11] += x11;
    b[12] += x12; b[13] += x13; b[14] += x14; b[15] += x15;
}


/*
 * scryptBlockMix of (in XOR mix), mix NULL for in alone: in and mix hold
 * 2r blocks of 16 words; the result goes to out (neither in nor mix),
 * even-numbered outputs first.  Writing to a separate out lets ROMix fill
 * its table and alternate between two buffers without copying blocks.
 */
static void
pds_blockmix(const uint32_t *in, const uint32_t *mix, uint32_t *out,
    uint32_t r)
{
    uint32_t  i, j, x[16];

    memcpy(x, &in[(2 * r - 1) * 16], sizeof(x));

    if (mix != NULL) {
        for (j = 0; j < 16; j++) {
            x[j] ^= mix[(2 * r - 1) * 16 + j];
        }
    }

    for (i = 0; i < 2 * r; i++) {
        if (mix != NULL) {
            for (j = 0; j < 16; j++) {
                x[j] ^= in[i * 16 + j] ^ mix[i * 16 + j];
            }

        } else {
            for (j = 0; j < 16; j++) {
                x[j] ^= in[i * 16 + j];
            }
        }

        pds_salsa20_8(x);

        /* even i to the first half, odd i to the second */
        memcpy(&out[((i & 1) * r + i / 2) * 16], x, sizeof(x));
    }
}

static uint32_t
pds_le32(const uint8_t *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16
           | (uint32_t) p[3] << 24;
}


static void
pds_put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) v;
    p[1] = (uint8_t) (v >> 8);
    p[2] = (uint8_t) (v >> 16);
    p[3] = (uint8_t) (v >> 24);
}


/* Integerify: the last block's first word pair, little-endian, mod n */
#define PDS_INTEGERIFY(x, r, n)                                             \
    (((uint64_t) (x)[(2 * (r) - 1) * 16 + 1] << 32                          \
      | (x)[(2 * (r) - 1) * 16]) & ((n) - 1))


/*
 * scryptROMix on one 128r-byte block of b; v: n * 32r words, x, y: 32r.
 * The table's rows are made in place, each from the one before; then the
 * block alternates between x and y (n is a power of 2, so even).
 */
static void
pds_romix(uint8_t *b, uint32_t r, uint64_t n, uint32_t *v, uint32_t *x,
    uint32_t *y)
{
    size_t    words, i;
    uint64_t  k;

    words = (size_t) 32 * r;

    for (i = 0; i < words; i++) {
        v[i] = pds_le32(b + 4 * i);
    }

    for (k = 0; k + 1 < n; k++) {
        pds_blockmix(&v[k * words], NULL, &v[(k + 1) * words], r);
    }

    pds_blockmix(&v[(n - 1) * words], NULL, x, r);

    for (k = 0; k < n; k += 2) {
        pds_blockmix(x, &v[PDS_INTEGERIFY(x, r, n) * words], y, r);
        pds_blockmix(y, &v[PDS_INTEGERIFY(y, r, n) * words], x, r);
    }

    for (i = 0; i < words; i++) {
        pds_put_le32(b + 4 * i, x[i]);
    }
}

int
pds_scrypt_kdf(const uint8_t *password, size_t len, const uint8_t *salt,
    size_t salt_len, uint64_t n, uint32_t r, uint32_t p, uint8_t *out,
    size_t out_len)
{
    size_t     blen, vlen, i;
    uint8_t   *b;
    uint32_t  *x;
    void      *v;

    if (n < 2 || (n & (n - 1)) != 0 || r == 0 || p == 0
        || (uint64_t) r * p >= (1u << 30) || n > (SIZE_MAX / 128 / r) / 2)
    {
        return -1;
    }

    blen = (size_t) 128 * r * p;
    vlen = (size_t) 128 * r * n;

    b = malloc(blen + (size_t) 256 * r);
    if (b == NULL) {
        return -1;
    }

    x = (uint32_t *) (b + blen);        /* 32r words, then y: 32r words */

    /*
     * the table is mapped on its own, so that it is returned at once, and
     * populated by the mmap: 4,096 page faults one by one cost ~10% of a
     * hash (more in a virtual machine)
     */
    v = mmap(NULL, vlen, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
             -1, 0);
    if (v == MAP_FAILED) {
        free(b);
        return -1;
    }

    pds_pbkdf2_sha256_1(password, len, salt, salt_len, b, blen);

    for (i = 0; i < p; i++) {
        pds_romix(b + i * 128 * r, r, n, v, x, x + 32 * r);
    }

    pds_pbkdf2_sha256_1(password, len, b, blen, out, out_len);

    OPENSSL_cleanse(b, blen + (size_t) 256 * r);
    free(b);
    munmap(v, vlen);

    return 0;
}


int
pds_random(void *buf, size_t n)
{
    ssize_t   got;
    uint8_t  *p = buf;

    while (n) {
        got = getrandom(p, n, 0);

        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }

            return -1;
        }

        p += got;
        n -= (size_t) got;
    }

    return 0;
}
