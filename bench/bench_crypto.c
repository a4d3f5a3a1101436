/*
 * Micro-benchmark of the core's crypto: microseconds per ECDSA sign and
 * verify for K-256 and P-256, and milliseconds per scrypt password hash.
 * Loops are bounded; prints a small table.
 */

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pds_keys.h"
#include "pds_password.h"


#define BENCH_SIG_ITERS     2000
#define BENCH_SCRYPT_ITERS  10


static double
now_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}


static int
bench_curve(pds_key_type_t type, const char *name)
{
    int         i, valid;
    double      t0, t_sign, t_verify;
    uint8_t     msg[256], sig[PDS_SIG_LEN];
    pds_key_t  *key;

    key = pds_key_generate(type);
    if (key == NULL) {
        return -1;
    }

    memset(msg, 0xa5, sizeof(msg));

    t0 = now_us();
    for (i = 0; i < BENCH_SIG_ITERS; i++) {
        msg[0] = (uint8_t) i;
        if (pds_key_sign(key, msg, sizeof(msg), sig) != 0) {
            pds_key_free(key);
            return -1;
        }
    }
    t_sign = (now_us() - t0) / BENCH_SIG_ITERS;

    valid = 0;
    t0 = now_us();
    for (i = 0; i < BENCH_SIG_ITERS; i++) {
        valid += pds_key_verify(key, msg, sizeof(msg), sig, sizeof(sig),
                                PDS_SIG_STRICT);
    }
    t_verify = (now_us() - t0) / BENCH_SIG_ITERS;

    printf("%-24s %12.1f us\n", name, t_sign);
    printf("%-24s %12.1f us   (%d/%d valid)\n", "  verify (strict)", t_verify,
           valid, BENCH_SIG_ITERS);

    pds_key_free(key);

    return valid == BENCH_SIG_ITERS ? 0 : -1;
}


int
main(void)
{
    int     i;
    char    stored[PDS_PASSWORD_HASH_LEN + 1];
    double  t0, t;

    printf("%-24s %15s\n", "operation", "time per op");

    if (bench_curve(PDS_KEY_K256, "k256 sign") != 0
        || bench_curve(PDS_KEY_P256, "p256 sign") != 0)
    {
        fprintf(stderr, "signature benchmark failed\n");
        return 1;
    }

    t0 = now_us();
    for (i = 0; i < BENCH_SCRYPT_ITERS; i++) {
        if (pds_password_hash("correct horse battery staple", 28, stored,
                              sizeof(stored)) < 0)
        {
            fprintf(stderr, "scrypt failed\n");
            return 1;
        }
    }
    t = (now_us() - t0) / BENCH_SCRYPT_ITERS / 1000;

    printf("%-24s %12.2f ms   (N=%d r=%d p=%d)\n", "scrypt hash", t,
           PDS_SCRYPT_N, PDS_SCRYPT_R, PDS_SCRYPT_P);

    return 0;
}
