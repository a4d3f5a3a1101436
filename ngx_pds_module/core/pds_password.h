/*
 * ngx_pds_module core: account and app password hashing, as the reference
 * PDS does it (account-manager/helpers/scrypt.ts, password.ts).
 *
 * Account passwords: salt = 16 random bytes as 32 lower-case hex
 * characters; that hex text is the scrypt salt; scrypt N=16384, r=8, p=1,
 * 64-byte key; stored as "<salthex>:<hashhex>" (161 characters).
 *
 * App passwords: "xxxx-xxxx-xxxx-xxxx" from the RFC 4648 base32 lower-case
 * alphabet (a-z, 2-7); hashed the same way with a deterministic salt, the
 * hex of the first 16 bytes of sha256(did), so the stored form can be
 * looked up by equality.
 *
 * Each hash takes tens of milliseconds and 16 MiB: call from a thread pool.
 * No shared mutable state.
 */

#ifndef PDS_PASSWORD_H
#define PDS_PASSWORD_H

#include <stddef.h>
#include <stdint.h>


#define PDS_PASSWORD_SALT_LEN       32      /* hex characters */
#define PDS_PASSWORD_KEY_LEN        64      /* scrypt output bytes */
/* "<32 hex>:<128 hex>", without the NUL */
#define PDS_PASSWORD_HASH_LEN       (PDS_PASSWORD_SALT_LEN + 1 + 128)
/* "xxxx-xxxx-xxxx-xxxx", without the NUL */
#define PDS_APP_PASSWORD_LEN        19

#define PDS_SCRYPT_N                16384
#define PDS_SCRYPT_R                8
#define PDS_SCRYPT_P                1


/*
 * scrypt(password, salt) with the parameters above; out gets
 * PDS_PASSWORD_KEY_LEN bytes.  Returns 0 or -1.
 */
int pds_scrypt(const char *password, size_t len, const char *salt,
    size_t salt_len, uint8_t out[PDS_PASSWORD_KEY_LEN]);

/*
 * Writes "<salt>:<hashhex>" and a NUL to out (cap bytes); returns the
 * length or -1.  pds_password_hash picks a random salt.
 */
long pds_password_hash(const char *password, size_t len, char *out,
    size_t cap);
long pds_password_hash_with_salt(const char *password, size_t len,
    const char *salt, size_t salt_len, char *out, size_t cap);

/*
 * Checks a password against a stored "<salt>:<hashhex>" in constant time.
 * Returns 1 on match, 0 on mismatch or malformed stored value, -1 on
 * failure (e.g. no memory).
 */
int pds_password_verify(const char *password, size_t len, const char *stored,
    size_t stored_len);

/* Writes a new app password "xxxx-xxxx-xxxx-xxxx" and a NUL; 0 or -1. */
int pds_app_password_generate(char out[PDS_APP_PASSWORD_LEN + 1]);

/* The salt for a DID's app passwords: 32 hex characters and a NUL. */
void pds_app_password_salt(const char *did, size_t did_len,
    char out[PDS_PASSWORD_SALT_LEN + 1]);

/* The stored form of an app password; as pds_password_hash. */
long pds_app_password_hash(const char *did, size_t did_len,
    const char *password, size_t len, char *out, size_t cap);

#endif /* PDS_PASSWORD_H */
