/*
 * ngx_pds_module core: the account tables of a tenant.
 *
 * Accounts (uid -> row), their handle and email indexes, invite codes,
 * refresh tokens and app passwords, all inside the caller's LMDB
 * transaction (see docs/STORAGE.md for the key layouts).  Rows are small
 * DAG-CBOR maps (pds_row.h); strings read back point into the caller's
 * allocator.
 */

#ifndef PDS_ACCOUNT_H
#define PDS_ACCOUNT_H

#include <stddef.h>
#include <stdint.h>

#include "pds_mem.h"
#include "pds_store.h"


/*
 * Results besides 0, PDS_NOTFOUND, PDS_EXISTS (pds_store.h), errno values
 * (EINVAL, ENOMEM, EIO) and LMDB error codes.  The account's own codes sit
 * above the errno range so that one switch over a transaction's result
 * (which may come from several of these calls) can tell them apart.
 */
#define PDS_ACCOUNT_NOTFOUND      PDS_NOTFOUND
#define PDS_ACCOUNT_DID_TAKEN     PDS_EXISTS
#define PDS_ACCOUNT_NAME_TAKEN    PDS_EXISTS  /* app password name */
#define PDS_ACCOUNT_HANDLE_TAKEN  1001
#define PDS_ACCOUNT_EMAIL_TAKEN   1002
#define PDS_ACCOUNT_UNAVAILABLE   1003  /* invite used up or disabled */


typedef struct {
    uint64_t        uid;
    const char     *did;
    const char     *handle;
    const char     *email;               /* NULL: none */
    const char     *password_scrypt;     /* "<salt>:<hash>" */
    const char     *created_at;
    const char     *email_confirmed_at;  /* NULL: not confirmed */
    const char     *deactivated_at;      /* NULL: active */
    const char     *takedown_ref;        /* NULL: not taken down */
    const char     *invited_by;          /* the invite code used */
    int             invites_disabled;
    int             email_auth_factor;   /* sign-in codes by mail */
    const char     *delete_after;        /* deactivated until, or NULL */
    const uint8_t  *signing_key;         /* 32-byte secp256k1 private key */
    size_t          signing_key_len;
} pds_account_t;


typedef struct {
    const char     *used_by;
    const char     *used_at;
} pds_invite_use_t;


typedef struct {
    const char        *code;
    int64_t            available;
    int                disabled;
    const char        *for_account;
    const char        *created_by;
    const char        *created_at;
    pds_invite_use_t  *uses;
    size_t             nuses;
} pds_invite_t;


typedef struct {
    const char     *id;                  /* jti */
    const char     *did;
    const char     *app_password_name;   /* NULL: a password login */
    int64_t         expires_at;          /* unix seconds */
    const char     *next_id;             /* set once rotated */
} pds_token_t;


typedef struct {
    const char     *name;
    const char     *password_scrypt;
    const char     *created_at;
    int             privileged;
} pds_app_password_t;


/*
 * Inserts a new account: allocates its uid (acc->uid is set), maps its DID,
 * handle and email (a uid the DID already has, from pds_repo_create in the
 * same transaction, is reused); PDS_ACCOUNT_DID_TAKEN / _HANDLE_TAKEN / _EMAIL_TAKEN
 * when one is in use (handle and email compared in lower case).
 */
int pds_account_insert(pds_store_t *s, MDB_txn *txn, pds_account_t *acc);
/* rewrites the row of an existing account (indexes unchanged) */
int pds_account_update(pds_store_t *s, MDB_txn *txn,
    const pds_account_t *acc);
int pds_account_get(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    const pds_alloc_t *a, pds_account_t *acc);
int pds_account_get_by_did(pds_store_t *s, MDB_txn *txn, const char *did,
    const pds_alloc_t *a, pds_account_t *acc);
int pds_account_uid_by_handle(pds_store_t *s, MDB_txn *txn,
    const char *handle, uint64_t *uid);
int pds_account_uid_by_email(pds_store_t *s, MDB_txn *txn,
    const char *email, uint64_t *uid);
/*
 * The account a sign-in identifier names, without regard to case: an
 * email (with '@'), a DID or a handle.  0, PDS_NOTFOUND or an error.
 */
int pds_account_get_by_identifier(pds_store_t *s, MDB_txn *txn,
    const char *identifier, const pds_alloc_t *a, pds_account_t *acc);
/* moves the handle index and rewrites the row */
int pds_account_set_handle(pds_store_t *s, MDB_txn *txn,
    pds_account_t *acc, const char *handle);

/*
 * moves the email index (email may be NULL: none) and rewrites the row;
 * PDS_ACCOUNT_EMAIL_TAKEN when another account has the address
 */
int pds_account_set_email(pds_store_t *s, MDB_txn *txn,
    pds_account_t *acc, const char *email);

/*
 * The accounts in uid order (which is creation order) from from_uid on,
 * for listRepos: next() gives 0 and the uid, PDS_NOTFOUND after the last
 * account, or a negative value on an LMDB error.  Read the row with
 * pds_account_get.  Close it in any case.
 */
typedef struct {
    pds_store_iter_t    it;
} pds_account_iter_t;

int pds_account_iter_open(pds_store_t *s, MDB_txn *txn, uint64_t from_uid,
    pds_account_iter_t *it);
int pds_account_iter_next(pds_account_iter_t *it, uint64_t *uid);
void pds_account_iter_close(pds_account_iter_t *it);

/* what an account stores, for checkAccountStatus */
typedef struct {
    uint64_t        blocks;             /* repo blocks */
    uint64_t        records;
    uint64_t        expected_blobs;     /* distinct blobs records reference */
    uint64_t        imported_blobs;     /* blobs uploaded (temporary too) */
} pds_account_usage_t;

/* 0 or an error */
int pds_account_usage(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    pds_account_usage_t *usage);

int pds_invite_create(pds_store_t *s, MDB_txn *txn, const pds_invite_t *inv);
int pds_invite_get(pds_store_t *s, MDB_txn *txn, const char *code,
    const pds_alloc_t *a, pds_invite_t *inv);
/*
 * The invite (into inv) if it may be used now: 0, PDS_NOTFOUND, or
 * PDS_ACCOUNT_UNAVAILABLE when disabled, used up, or made for an account
 * that is taken down.
 */
int pds_invite_check(pds_store_t *s, MDB_txn *txn, const char *code,
    const pds_alloc_t *a, pds_invite_t *inv);
/* records a use if pds_invite_check allows it: its results or 0 */
int pds_invite_use(pds_store_t *s, MDB_txn *txn, const char *code,
    const char *used_by, const char *used_at);
/* the invites created for an account, newest first (array from a) */
int pds_invite_list_for(pds_store_t *s, MDB_txn *txn, const char *account,
    const pds_alloc_t *a, pds_invite_t **list, size_t *n);

/* every invite in code order (array from a), for admin.getInviteCodes */
int pds_invite_list_all(pds_store_t *s, MDB_txn *txn, const pds_alloc_t *a,
    pds_invite_t **list, size_t *n);
/* marks a code disabled: 0, or PDS_NOTFOUND */
int pds_invite_disable(pds_store_t *s, MDB_txn *txn, const char *code);
/* marks every code made for account disabled */
int pds_invite_disable_for(pds_store_t *s, MDB_txn *txn,
    const char *account);

int pds_token_put(pds_store_t *s, MDB_txn *txn, const pds_token_t *tok);
int pds_token_get(pds_store_t *s, MDB_txn *txn, const char *id,
    const pds_alloc_t *a, pds_token_t *tok);
int pds_token_delete(pds_store_t *s, MDB_txn *txn, const char *id);
/*
 * every token of did, its OAuth sessions included (or only the tokens of
 * one app password)
 */
int pds_token_delete_for(pds_store_t *s, MDB_txn *txn, const char *did,
    const char *app_password_name);

/* PDS_ACCOUNT_NAME_TAKEN if did already has an app password of that name */
int pds_app_password_put(pds_store_t *s, MDB_txn *txn, const char *did,
    const pds_app_password_t *ap);
int pds_app_password_delete(pds_store_t *s, MDB_txn *txn, const char *did,
    const char *name);
/* all app passwords of did in name order (array from a) */
int pds_app_password_list(pds_store_t *s, MDB_txn *txn, const char *did,
    const pds_alloc_t *a, pds_app_password_t **list, size_t *n);

#endif /* PDS_ACCOUNT_H */
