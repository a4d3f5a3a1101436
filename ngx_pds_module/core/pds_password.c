/*
 * ngx_pds_module core: scrypt password hashing and app passwords.
 */

#include <string.h>

#include <openssl/crypto.h>

#include "pds_enc.h"
#include "pds_hash.h"
#include "pds_password.h"


int
pds_scrypt(const char *password, size_t len, const char *salt,
    size_t salt_len, uint8_t out[PDS_PASSWORD_KEY_LEN])
{
    return pds_scrypt_kdf((const uint8_t *) password, len,
                          (const uint8_t *) salt, salt_len, PDS_SCRYPT_N,
                          PDS_SCRYPT_R, PDS_SCRYPT_P, out,
                          PDS_PASSWORD_KEY_LEN);
}


long
pds_password_hash_with_salt(const char *password, size_t len,
    const char *salt, size_t salt_len, char *out, size_t cap)
{
    size_t   n;
    uint8_t  key[PDS_PASSWORD_KEY_LEN];

    n = salt_len + 1 + pds_hex_len(PDS_PASSWORD_KEY_LEN);
    if (cap < n + 1 || memchr(salt, ':', salt_len) != NULL) {
        return -1;
    }

    if (pds_scrypt(password, len, salt, salt_len, key) != 0) {
        return -1;
    }

    memcpy(out, salt, salt_len);
    out[salt_len] = ':';
    pds_hex_encode(out + salt_len + 1, key, sizeof(key));
    out[n] = '\0';

    OPENSSL_cleanse(key, sizeof(key));

    return (long) n;
}


long
pds_password_hash(const char *password, size_t len, char *out, size_t cap)
{
    char     salt[PDS_PASSWORD_SALT_LEN];
    uint8_t  rnd[PDS_PASSWORD_SALT_LEN / 2];

    if (pds_random(rnd, sizeof(rnd)) != 0) {
        return -1;
    }

    pds_hex_encode(salt, rnd, sizeof(rnd));

    return pds_password_hash_with_salt(password, len, salt, sizeof(salt),
                                       out, cap);
}


int
pds_password_verify(const char *password, size_t len, const char *stored,
    size_t stored_len)
{
    int          match;
    long         n;
    uint8_t      want[PDS_PASSWORD_KEY_LEN], got[PDS_PASSWORD_KEY_LEN];
    const char  *colon, *hex;
    size_t       salt_len, hex_len;

    colon = memchr(stored, ':', stored_len);
    if (colon == NULL) {
        return 0;
    }

    salt_len = (size_t) (colon - stored);
    hex = colon + 1;
    hex_len = stored_len - salt_len - 1;

    /* the reference compares lower-case hex text */
    if (hex_len != pds_hex_len(PDS_PASSWORD_KEY_LEN)
        || memchr(hex, ':', hex_len) != NULL)
    {
        return 0;
    }

    for (n = 0; n < (long) hex_len; n++) {
        if (hex[n] >= 'A' && hex[n] <= 'F') {
            return 0;
        }
    }

    n = pds_hex_decode(want, hex, hex_len);
    if (n != PDS_PASSWORD_KEY_LEN) {
        return 0;
    }

    if (pds_scrypt(password, len, stored, salt_len, got) != 0) {
        return -1;
    }

    match = (CRYPTO_memcmp(want, got, sizeof(got)) == 0);
    OPENSSL_cleanse(got, sizeof(got));

    return match;
}


int
pds_app_password_generate(char out[PDS_APP_PASSWORD_LEN + 1])
{
    int      i, j;
    char     b32[pds_base32_len(16) + 1];
    uint8_t  rnd[16];

    /* as the reference: 16 random bytes in base32, first 16 characters */
    if (pds_random(rnd, sizeof(rnd)) != 0) {
        return -1;
    }

    pds_base32_encode(b32, rnd, sizeof(rnd));

    for (i = 0, j = 0; i < 16; i++) {
        if (i > 0 && i % 4 == 0) {
            out[j++] = '-';
        }
        out[j++] = b32[i];
    }

    out[j] = '\0';

    OPENSSL_cleanse(rnd, sizeof(rnd));
    OPENSSL_cleanse(b32, sizeof(b32));

    return 0;
}


void
pds_app_password_salt(const char *did, size_t did_len,
    char out[PDS_PASSWORD_SALT_LEN + 1])
{
    uint8_t  digest[PDS_SHA256_LEN];

    pds_sha256(did, did_len, digest);
    pds_hex_encode(out, digest, PDS_PASSWORD_SALT_LEN / 2);
    out[PDS_PASSWORD_SALT_LEN] = '\0';
}


long
pds_app_password_hash(const char *did, size_t did_len, const char *password,
    size_t len, char *out, size_t cap)
{
    char  salt[PDS_PASSWORD_SALT_LEN + 1];

    pds_app_password_salt(did, did_len, salt);

    return pds_password_hash_with_salt(password, len, salt,
                                       PDS_PASSWORD_SALT_LEN, out, cap);
}
