/*
 * Unit tests: pds_password (scrypt password hashes, app passwords).
 */

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

#include "pds_enc.h"
#include "pds_password.h"
#include "tap.h"


/* RFC 7914 section 12, the N=16384 r=8 p=1 vector (our parameters) */
#define RFC7914_HEX                                                          \
    "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2"       \
    "d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887"


static const char *
str(const char *s)
{
    return s;
}


static int
is_lower_hex(const char *s, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }

    return 1;
}


static void
test_scrypt(void)
{
    char     hex[129];
    uint8_t  key[64];

    is_int(pds_scrypt("pleaseletmein", 13, "SodiumChloride", 14, key), 0,
           "scrypt runs");
    hex[pds_hex_encode(hex, key, 64)] = '\0';
    is_str(str(hex), RFC7914_HEX, "scrypt matches the RFC 7914 vector");
}


static void
test_account(void)
{
    char         stored[256], stored2[256], bad[256];
    long         n;
    const char  *pw = "correct horse battery staple \xc3\xa9";

    n = pds_password_hash(pw, strlen(pw), stored, sizeof(stored));
    is_int(n, PDS_PASSWORD_HASH_LEN, "hash length 161");
    is_int(strlen(stored), PDS_PASSWORD_HASH_LEN, "NUL-terminated");
    ok(stored[32] == ':', "salt:hash");
    ok(is_lower_hex(stored, 32) && is_lower_hex(stored + 33, 128),
       "salt and hash are lower-case hex");

    is_int(pds_password_verify(pw, strlen(pw), stored, (size_t) n), 1,
           "correct password verifies");
    is_int(pds_password_verify("wrong", 5, stored, (size_t) n), 0,
           "wrong password fails");
    is_int(pds_password_verify(pw, strlen(pw) - 1, stored, (size_t) n), 0,
           "prefix of password fails");

    pds_password_hash(pw, strlen(pw), stored2, sizeof(stored2));
    ok(strcmp(stored, stored2) != 0 && memcmp(stored, stored2, 32) != 0,
       "salts are random");

    /* re-hashing with the stored salt reproduces the stored value */
    n = pds_password_hash_with_salt(pw, strlen(pw), stored, 32, bad,
                                    sizeof(bad));
    is_str(str(bad), stored, "hash_with_salt reproduces the hash");

    strcpy(bad, stored);
    bad[40] = bad[40] == '0' ? '1' : '0';
    is_int(pds_password_verify(pw, strlen(pw), bad, strlen(bad)), 0,
           "tampered hash fails");
    strcpy(bad, stored);
    bad[3] = bad[3] == '0' ? '1' : '0';
    is_int(pds_password_verify(pw, strlen(pw), bad, strlen(bad)), 0,
           "tampered salt fails");
    is_int(pds_password_verify(pw, strlen(pw), stored, 100), 0,
           "truncated stored value fails");
    is_int(pds_password_verify(pw, strlen(pw), "nocolon", 7), 0,
           "malformed stored value fails");
    ok(pds_password_hash(pw, strlen(pw), bad, 100) == -1,
       "small buffer refused");

    /* the salt is the hex *text*: a salt "ab" differs from byte 0xab */
    n = pds_password_hash_with_salt("pw", 2, "0a0b", 4, stored, sizeof(stored));
    ok(n == 4 + 1 + 128 && strncmp(stored, "0a0b:", 5) == 0,
       "arbitrary salt text kept");
    is_int(pds_password_verify("pw", 2, stored, (size_t) n), 1,
           "short salt verifies");

    n = pds_password_hash("", 0, stored, sizeof(stored));
    is_int(pds_password_verify("", 0, stored, (size_t) n), 1,
           "empty password hashes and verifies");
}


static void
test_app(void)
{
    int            i, j, good;
    char           pw[PDS_APP_PASSWORD_LEN + 1], pw2[PDS_APP_PASSWORD_LEN + 1];
    char           salt[PDS_PASSWORD_SALT_LEN + 1], want[33];
    char           stored[256], stored2[256];
    long           n;
    uint8_t        md[32];
    unsigned int   md_len;
    const char    *did = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";

    good = 1;
    for (i = 0; i < 50; i++) {
        if (pds_app_password_generate(pw) != 0 || strlen(pw) != 19) {
            good = 0;
            break;
        }
        for (j = 0; j < 19; j++) {
            if (j % 5 == 4 ? pw[j] != '-'
                           : !((pw[j] >= 'a' && pw[j] <= 'z')
                               || (pw[j] >= '2' && pw[j] <= '7')))
            {
                good = 0;
            }
        }
    }
    ok(good, "app passwords look like xxxx-xxxx-xxxx-xxxx in [a-z2-7]");
    pds_app_password_generate(pw2);
    ok(strcmp(pw, pw2) != 0, "app passwords differ");

    EVP_Digest(did, strlen(did), md, &md_len, EVP_sha256(), NULL);
    want[pds_hex_encode(want, md, 16)] = '\0';
    pds_app_password_salt(did, strlen(did), salt);
    is_str(str(salt), want, "app salt = hex(sha256(did)[0..16])");

    n = pds_app_password_hash(did, strlen(did), pw, strlen(pw), stored,
                              sizeof(stored));
    is_int(n, PDS_PASSWORD_HASH_LEN, "app hash length");
    ok(strncmp(stored, want, 32) == 0 && stored[32] == ':',
       "app hash starts with the DID salt");
    pds_app_password_hash(did, strlen(did), pw, strlen(pw), stored2,
                          sizeof(stored2));
    is_str(str(stored2), stored, "app hash is deterministic");
    is_int(pds_password_verify(pw, strlen(pw), stored, (size_t) n), 1,
           "app hash verifies as a password hash");
    pds_app_password_hash("did:plc:other", 13, pw, strlen(pw), stored2,
                          sizeof(stored2));
    ok(strcmp(stored, stored2) != 0, "other DID, other hash");
}


typedef struct {
    int  good;
} thread_arg_t;


static void *
thread_main(void *data)
{
    int            i;
    char           stored[256];
    long           n;
    thread_arg_t  *arg = data;

    arg->good = 1;
    for (i = 0; i < 2; i++) {
        n = pds_password_hash("secret", 6, stored, sizeof(stored));
        if (n < 0 || pds_password_verify("secret", 6, stored, (size_t) n) != 1
            || pds_password_verify("secreT", 6, stored, (size_t) n) != 0)
        {
            arg->good = 0;
        }
    }

    return NULL;
}


static void
test_threads(void)
{
    int           i, good;
    pthread_t     th[3];
    thread_arg_t  args[3];

    for (i = 0; i < 3; i++) {
        pthread_create(&th[i], NULL, thread_main, &args[i]);
    }

    good = 1;
    for (i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        good &= args[i].good;
    }

    ok(good, "3 threads hash and verify concurrently");
}


int
main(void)
{
    (void) tap_shared_path;
    (void) tap_slurp;

    test_scrypt();
    test_account();
    test_app();
    test_threads();

    return tap_done();
}
