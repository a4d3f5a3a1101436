/*
 * ngx_pds_module core: what pds_account.c (accounts, handles, emails,
 * invites) and pds_credential.c (refresh tokens, app passwords) share: the
 * keys of the account tables, reads and writes by such a key, prefix scans
 * and a growable array.  The functions are defined in pds_account.c.
 * Included by those two files only.
 */

#ifndef PDS_ACCOUNT_INT_H
#define PDS_ACCOUNT_INT_H

#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pds_account.h"


#define PDS_ACCT_KEY_MAX  511     /* LMDB's limit: longer names are refused */


/* a key of the account tables being built (not a pds_keys.h key) */
typedef struct {
    uint8_t   data[PDS_ACCT_KEY_MAX];
    size_t    len;
    int       overflow;
} pds_acct_key_t;


static inline void
pds_acct_key_init(pds_acct_key_t *k, char tag)
{
    k->len = 0;
    k->overflow = 0;

    if (tag) {
        k->data[k->len++] = (uint8_t) tag;
    }
}


static inline void
pds_acct_key_add(pds_acct_key_t *k, const char *s, size_t n)
{
    if (k->len + n > PDS_ACCT_KEY_MAX) {
        k->overflow = 1;
        return;
    }

    memcpy(k->data + k->len, s, n);
    k->len += n;
}


static inline void
pds_acct_key_str(pds_acct_key_t *k, const char *s)
{
    pds_acct_key_add(k, s, strlen(s));
}


static inline void
pds_acct_key_lower(pds_acct_key_t *k, const char *s)
{
    size_t  i, n;

    n = strlen(s);

    if (k->len + n > PDS_ACCT_KEY_MAX) {
        k->overflow = 1;
        return;
    }

    for (i = 0; i < n; i++) {
        k->data[k->len++] = (uint8_t) tolower((unsigned char) s[i]);
    }
}


static inline void
pds_acct_key_sep(pds_acct_key_t *k)
{
    pds_acct_key_add(k, "", 1);
}


static inline const char *
pds_acct_dup(const pds_alloc_t *a, const char *s)
{
    return s ? pds_strndup(a, s, strlen(s)) : NULL;
}


/* EINVAL for an overlong key, else mdb_put's result */
int pds_acct_put(MDB_txn *txn, MDB_dbi dbi, pds_acct_key_t *k, const void *v,
    size_t n, unsigned flags);
/* 0, PDS_NOTFOUND (an overlong key too) or an LMDB error */
int pds_acct_get(MDB_txn *txn, MDB_dbi dbi, pds_acct_key_t *k, MDB_val *val);
/* 0 (no such key too), PDS_NOTFOUND for an overlong key, or an LMDB error */
int pds_acct_del(MDB_txn *txn, MDB_dbi dbi, pds_acct_key_t *k);

/*
 * Calls cb for every key of dbi that starts with prefix, in key order,
 * with the rest of the key after the prefix; a non-zero return of cb
 * stops the scan and is returned.
 */
typedef int (*pds_acct_scan_cb)(void *ctx, const uint8_t *rest, size_t len,
    MDB_val *val);

int pds_acct_scan_prefix(MDB_txn *txn, MDB_dbi dbi, pds_acct_key_t *prefix,
    pds_acct_scan_cb cb, void *ctx);


/* a growable array from an allocator */
typedef struct {
    void               *elts;
    size_t              n;
    size_t              cap;
    size_t              size;
    const pds_alloc_t  *a;
} pds_acct_list_t;

void pds_acct_list_init(pds_acct_list_t *l, const pds_alloc_t *a,
    size_t size);
/* room for one more element: its address, or NULL (out of memory) */
void *pds_acct_list_push(pds_acct_list_t *l);


#endif /* PDS_ACCOUNT_INT_H */
