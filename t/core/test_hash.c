/*
 * Unit tests for pds_hash: SHA-256, HMAC-SHA256 and scrypt against the
 * published vectors (FIPS 180-2 examples, RFC 4231 test cases 1, 2, 4, 6
 * and 7, RFC 7914) and against OpenSSL's EVP implementations; the random
 * source.
 */

#include <string.h>

#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "tap.h"
#include "pds_enc.h"
#include "pds_hash.h"


static const char *
hex(const uint8_t *p, size_t n, char *out)
{
    pds_hex_encode(out, p, n);
    out[2 * n] = '\0';
    return out;
}


static void
fill(uint8_t *p, size_t n, uint8_t v)
{
    memset(p, v, n);
}


int
main(void)
{
    int       same;
    char      h[65];
    size_t    i, klen, mlen, out_len;
    uint8_t   key[200], msg[200], mac[32], ref[32];

    pds_sha256("", 0, mac);
    is_str(hex(mac, 32, h),
           "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
           "sha256 of nothing");
    pds_sha256("abc", 3, mac);
    is_str(hex(mac, 32, h),
           "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
           "sha256 of abc");

    {
        pds_sha256_t  st;
        uint8_t       whole[32], data[1000];

        for (i = 0; i < sizeof(data); i++) {
            data[i] = (uint8_t) (i * 31 + 7);
        }

        pds_sha256(data, sizeof(data), whole);
        pds_sha256_init(&st);

        for (i = 0; i < sizeof(data); i += 97) {
            pds_sha256_update(&st, data + i,
                              sizeof(data) - i < 97 ? sizeof(data) - i : 97);
        }

        pds_sha256_final(&st, mac);
        ok(memcmp(mac, whole, 32) == 0, "sha256 in pieces = at once");
    }

    fill(key, 20, 0x0b);
    pds_hmac_sha256(key, 20, "Hi There", 8, mac);
    is_str(hex(mac, 32, h),
           "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
           "RFC 4231 case 1");

    pds_hmac_sha256((const uint8_t *) "Jefe", 4,
                    "what do ya want for nothing?", 28, mac);
    is_str(hex(mac, 32, h),
           "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
           "RFC 4231 case 2");

    for (i = 0; i < 25; i++) {
        key[i] = (uint8_t) (i + 1);
    }
    fill(msg, 50, 0xcd);
    pds_hmac_sha256(key, 25, msg, 50, mac);
    is_str(hex(mac, 32, h),
           "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
           "RFC 4231 case 4");

    fill(key, 131, 0xaa);
    pds_hmac_sha256(key, 131,
                    "Test Using Larger Than Block-Size Key - Hash Key First",
                    54, mac);
    is_str(hex(mac, 32, h),
           "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
           "RFC 4231 case 6 (a key longer than the block)");

    pds_hmac_sha256(key, 131,
                    "This is a test using a larger than block-size key and a "
                    "larger than block-size data. The key needs to be hashed "
                    "before being used by the HMAC algorithm.", 152, mac);
    is_str(hex(mac, 32, h),
           "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
           "RFC 4231 case 7");

    /* every key length 0..130 and a few message lengths, against EVP */
    same = 1;

    for (i = 0; i < sizeof(key); i++) {
        key[i] = (uint8_t) (i * 7 + 3);
        msg[i] = (uint8_t) (i * 13 + 5);
    }

    for (klen = 0; klen <= 130 && same; klen++) {
        for (mlen = 0; mlen <= 130 && same; mlen += 13) {
            pds_hmac_sha256(key, klen, msg, mlen, mac);

            if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL,
                          klen ? key : msg, klen, msg, mlen, ref, 32,
                          &out_len) == NULL
                || memcmp(mac, ref, 32) != 0)
            {
                same = 0;
                tap_diag("differs at key %zu bytes, message %zu", klen,
                         mlen);
            }
        }
    }

    ok(same, "the same as OpenSSL's HMAC for keys of 0-130 bytes");

    /* scrypt: RFC 7914 section 12, then against OpenSSL */
    {
        uint8_t   dk[64];
        char      hx[129];
        size_t    j;
        struct { const char *pw, *salt; uint64_t n; uint32_t r, p;
                 size_t len; } v[] = {
            { "", "", 16, 1, 1, 64 },
            { "password", "NaCl", 1024, 8, 16, 64 },
            { "pleaseletmein", "SodiumChloride", 16384, 8, 1, 64 },
            { "a", "salt", 2, 1, 1, 7 },
            { "some password", "", 256, 2, 3, 100 },
            { "", "salt only", 64, 3, 1, 33 },
        };

        ok(pds_scrypt_kdf((const uint8_t *) "", 0, (const uint8_t *) "", 0,
                          16, 1, 1, dk, 64) == 0
           && strcmp(hex(dk, 64, hx),
                     "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3f"
                     "ede21442fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628"
                     "cf35e20c38d18906") == 0,
           "RFC 7914: scrypt(\"\", \"\", 16, 1, 1)");

        ok(pds_scrypt_kdf((const uint8_t *) "password", 8,
                          (const uint8_t *) "NaCl", 4, 1024, 8, 16, dk, 64)
           == 0
           && strcmp(hex(dk, 64, hx),
                     "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e7737663"
                     "4b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d"
                     "8360cbdfa2cc0640") == 0,
           "RFC 7914: scrypt(password, NaCl, 1024, 8, 16)");

        same = 1;

        for (j = 0; j < sizeof(v) / sizeof(v[0]); j++) {
            uint8_t  big[100], bigref[100];

            if (pds_scrypt_kdf((const uint8_t *) v[j].pw, strlen(v[j].pw),
                               (const uint8_t *) v[j].salt,
                               strlen(v[j].salt), v[j].n, v[j].r, v[j].p,
                               big, v[j].len) != 0
                || EVP_PBE_scrypt(v[j].pw, strlen(v[j].pw),
                                  (const uint8_t *) v[j].salt,
                                  strlen(v[j].salt), v[j].n, v[j].r, v[j].p,
                                  64 * 1024 * 1024, bigref, v[j].len) != 1
                || memcmp(big, bigref, v[j].len) != 0)
            {
                same = 0;
                tap_diag("scrypt differs from OpenSSL for set %zu", j);
            }
        }

        ok(same, "scrypt: the same as OpenSSL for 6 sets of parameters");

        ok(pds_scrypt_kdf((const uint8_t *) "x", 1, NULL, 0, 3, 1, 1, dk, 8)
           == -1, "scrypt: N not a power of two is refused");
        ok(pds_scrypt_kdf((const uint8_t *) "x", 1, NULL, 0, 16, 0, 1, dk, 8)
           == -1, "scrypt: r = 0 is refused");
    }

    /* random bytes: two draws differ, and every byte value shows up */
    {
        uint8_t  r1[32], r2[32], seen[256], big2[4096];
        size_t   j, distinct = 0;

        ok(pds_random(r1, sizeof(r1)) == 0 && pds_random(r2, sizeof(r2)) == 0
           && memcmp(r1, r2, sizeof(r1)) != 0, "random: two draws differ");

        memset(seen, 0, sizeof(seen));
        ok(pds_random(big2, sizeof(big2)) == 0, "random: 4 kB at once");

        for (j = 0; j < sizeof(big2); j++) {
            distinct += !seen[big2[j]];
            seen[big2[j]] = 1;
        }

        ok(distinct > 240, "random: %zu of 256 byte values in 4 kB",
           distinct);
    }

    return tap_done();
}
