/*
 * ngx_pds_module core: the tokens mailed to an account's address.
 *
 * One token per account and purpose, as the reference keeps them: a new
 * request replaces the previous token; a token is good for 15 minutes and
 * for one use.  Tokens look like "ABCDE-FGHIJ" (base32, upper case) and are
 * compared case-insensitively.
 */

#ifndef PDS_EMAIL_TOKEN_H
#define PDS_EMAIL_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "pds_store.h"


typedef enum {
    PDS_TOKEN_CONFIRM_EMAIL = 1,
    PDS_TOKEN_UPDATE_EMAIL,
    PDS_TOKEN_RESET_PASSWORD,
    PDS_TOKEN_DELETE_ACCOUNT,
    PDS_TOKEN_PLC_OPERATION,
    PDS_TOKEN_SIGN_IN
} pds_token_purpose_t;

#define PDS_EMAIL_TOKEN_LEN      11               /* "XXXXX-XXXXX" */
#define PDS_EMAIL_TOKEN_TTL_MS   (15 * 60 * 1000)

/* results besides 0 and errors */
#define PDS_TOKEN_INVALID        PDS_NOTFOUND     /* none, or another one */
#define PDS_TOKEN_EXPIRED        1101


/*
 * A fresh token for (uid, purpose), replacing an earlier one: written with
 * its NUL into out.  0 or an LMDB error / EIO (no randomness).
 */
int pds_email_token_issue(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    pds_token_purpose_t purpose, int64_t now_ms,
    char out[PDS_EMAIL_TOKEN_LEN + 1]);

/*
 * Checks token (any case) for (uid, purpose): 0, PDS_TOKEN_INVALID or
 * PDS_TOKEN_EXPIRED.  Nothing is removed: call pds_email_token_delete once
 * the change it authorizes is made (in the same transaction).
 */
int pds_email_token_check(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    pds_token_purpose_t purpose, const char *token, size_t len,
    int64_t now_ms);

/* the same, finding the account by the token (resetPassword): sets *uid */
int pds_email_token_find(pds_store_t *s, MDB_txn *txn,
    pds_token_purpose_t purpose, const char *token, size_t len,
    int64_t now_ms, uint64_t *uid);

/* removes the token of (uid, purpose): 0 (also when there is none) */
int pds_email_token_delete(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    pds_token_purpose_t purpose);

/* removes every token of uid (account deletion) */
int pds_email_token_delete_all(pds_store_t *s, MDB_txn *txn, uint64_t uid);

#endif /* PDS_EMAIL_TOKEN_H */
