/*
 * Unit tests for pds_hash: SHA-256 and HMAC-SHA256 against the published
 * vectors (FIPS 180-2 examples, RFC 4231 test cases 1, 2, 4, 6 and 7) and
 * against OpenSSL's EVP HMAC for keys and messages of every length around
 * the block size.
 */

#include <string.h>

#include <openssl/evp.h>

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

    return tap_done();
}
