/*
 * ngx_pds_module core: the account tables of a tenant: accounts, their
 * handle and email indexes, and invite codes.  Refresh tokens and app
 * passwords are in pds_credential.c; the key building, reads, writes and
 * scans both use are here (pds_account_int.h).
 *
 * Key layouts (LMDB keys are at most 511 bytes: long names are refused):
 *   accounts       uid (8, big-endian)               -> row
 *   handles        handle (lower case)               -> uid
 *   emails         email (lower case)                -> uid
 *   invites        'c' code                          -> row
 *                  'u' code 0 used_by                -> used_at
 *                  'a' account 0 created_at 0 code   -> (empty)
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pds_account.h"
#include "pds_account_int.h"
#include "pds_blob.h"
#include "pds_repo.h"
#include "pds_row.h"
#include "pds_syntax.h"


/* ---- shared with pds_credential.c (pds_account_int.h) ------------------ */


int
pds_acct_put(MDB_txn *txn, MDB_dbi dbi, pds_acct_key_t *k, const void *v,
    size_t n, unsigned flags)
{
    MDB_val  key, val;

    if (k->overflow) {
        return EINVAL;
    }

    key.mv_data = k->data;
    key.mv_size = k->len;
    val.mv_data = (void *) v;
    val.mv_size = n;

    return mdb_put(txn, dbi, &key, &val, flags);
}


int
pds_acct_get(MDB_txn *txn, MDB_dbi dbi, pds_acct_key_t *k, MDB_val *val)
{
    int      rc;
    MDB_val  key;

    /* a key LMDB cannot hold (empty, or over its limit) names nothing */
    if (k->overflow || k->len == 0) {
        return PDS_NOTFOUND;
    }

    key.mv_data = k->data;
    key.mv_size = k->len;

    rc = mdb_get(txn, dbi, &key, val);

    return rc == MDB_NOTFOUND ? PDS_NOTFOUND : rc;
}


int
pds_acct_del(MDB_txn *txn, MDB_dbi dbi, pds_acct_key_t *k)
{
    int      rc;
    MDB_val  key;

    /* a key LMDB cannot hold (empty, or over its limit) names nothing */
    if (k->overflow || k->len == 0) {
        return PDS_NOTFOUND;
    }

    key.mv_data = k->data;
    key.mv_size = k->len;

    rc = mdb_del(txn, dbi, &key, NULL);

    return rc == MDB_NOTFOUND ? 0 : rc;
}


int
pds_acct_scan_prefix(MDB_txn *txn, MDB_dbi dbi, pds_acct_key_t *prefix,
    pds_acct_scan_cb cb, void *ctx)
{
    int          rc;
    MDB_val      key, val;
    MDB_cursor  *cur;

    if (prefix->overflow) {
        return 0;
    }

    rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc != 0) {
        return rc;
    }

    key.mv_data = prefix->data;
    key.mv_size = prefix->len;

    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
         rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
    {
        if (key.mv_size < prefix->len
            || memcmp(key.mv_data, prefix->data, prefix->len) != 0)
        {
            break;
        }

        rc = cb(ctx, (uint8_t *) key.mv_data + prefix->len,
                key.mv_size - prefix->len, &val);
        if (rc != 0) {
            break;
        }
    }

    mdb_cursor_close(cur);

    return (rc == MDB_NOTFOUND) ? 0 : rc;
}


void
pds_acct_list_init(pds_acct_list_t *l, const pds_alloc_t *a, size_t size)
{
    l->elts = NULL;
    l->n = 0;
    l->cap = 0;
    l->size = size;
    l->a = a;
}


void *
pds_acct_list_push(pds_acct_list_t *l)
{
    void    *more;
    size_t   cap;

    if (l->n == l->cap) {
        cap = l->cap ? l->cap * 2 : 8;
        more = pds_alloc(l->a, cap * l->size);
        if (more == NULL) {
            return NULL;
        }
        if (l->n) {
            memcpy(more, l->elts, l->n * l->size);
        }
        l->elts = more;
        l->cap = cap;
    }

    return (uint8_t *) l->elts + l->size * l->n++;
}


/* ---- accounts ---------------------------------------------------------- */


static void
pds_account_row(const pds_account_t *acc, pds_row_t *row)
{
    row->n = 0;
    pds_row_str(row, "did", acc->did);
    pds_row_str(row, "handle", acc->handle);
    pds_row_str(row, "email", acc->email);
    pds_row_str(row, "passwordScrypt", acc->password_scrypt);
    pds_row_str(row, "createdAt", acc->created_at);
    pds_row_str(row, "emailConfirmedAt", acc->email_confirmed_at);
    pds_row_str(row, "deactivatedAt", acc->deactivated_at);
    pds_row_str(row, "takedownRef", acc->takedown_ref);
    pds_row_str(row, "invitedBy", acc->invited_by);
    pds_row_bool(row, "invitesDisabled", acc->invites_disabled);
    if (acc->email_auth_factor) {
        pds_row_bool(row, "emailAuthFactor", 1);
    }
    pds_row_str(row, "deleteAfter", acc->delete_after);
    pds_row_bytes(row, "signingKey", acc->signing_key, acc->signing_key_len);
}


int
pds_account_insert(pds_store_t *s, MDB_txn *txn, pds_account_t *acc)
{
    int             rc;
    uint8_t         uid[PDS_UID_LEN];
    pds_acct_key_t  k;

    MDB_val         v;

    /*
     * The uid may already exist when the repo was created first in this
     * transaction (pds_repo_create allocates it); an existing account row
     * means the DID is taken.
     */
    rc = pds_store_uid_alloc(s, txn, acc->did, strlen(acc->did), &acc->uid);
    if (rc != 0 && rc != PDS_EXISTS) {
        return rc == PDS_STORE_MAPFULL ? MDB_MAP_FULL : EIO;
    }

    pds_store_put_u64(uid, acc->uid);

    if (rc == PDS_EXISTS) {
        pds_acct_key_init(&k, 0);
        pds_acct_key_add(&k, (char *) uid, sizeof(uid));

        rc = pds_acct_get(txn, s->db_accounts, &k, &v);
        if (rc == 0) {
            return PDS_ACCOUNT_DID_TAKEN;
        }
        if (rc != PDS_NOTFOUND) {
            return rc;
        }
    }

    pds_acct_key_init(&k, 0);
    pds_acct_key_lower(&k, acc->handle);
    rc = pds_acct_put(txn, s->db_handles, &k, uid, sizeof(uid),
                      MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST) {
        return PDS_ACCOUNT_HANDLE_TAKEN;
    }
    if (rc != 0) {
        return rc;
    }

    if (acc->email) {
        pds_acct_key_init(&k, 0);
        pds_acct_key_lower(&k, acc->email);
        rc = pds_acct_put(txn, s->db_emails, &k, uid, sizeof(uid),
                          MDB_NOOVERWRITE);
        if (rc == MDB_KEYEXIST) {
            return PDS_ACCOUNT_EMAIL_TAKEN;
        }
        if (rc != 0) {
            return rc;
        }
    }

    return pds_account_update(s, txn, acc);
}


int
pds_account_update(pds_store_t *s, MDB_txn *txn, const pds_account_t *acc)
{
    uint8_t    uid[PDS_UID_LEN];
    pds_row_t  row;

    pds_store_put_u64(uid, acc->uid);
    pds_account_row(acc, &row);

    return pds_row_put(txn, s->db_accounts, uid, sizeof(uid), &row);
}


int
pds_account_get(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    const pds_alloc_t *a, pds_account_t *acc)
{
    int          rc;
    uint8_t      key[PDS_UID_LEN];
    pds_cbor_t  *row;

    pds_store_put_u64(key, uid);

    rc = pds_row_get(txn, s->db_accounts, key, sizeof(key), a, &row);
    if (rc != 0) {
        return rc;
    }

    memset(acc, 0, sizeof(pds_account_t));

    acc->uid = uid;
    acc->did = pds_row_get_str(row, "did");
    acc->handle = pds_row_get_str(row, "handle");
    acc->email = pds_row_get_str(row, "email");
    acc->password_scrypt = pds_row_get_str(row, "passwordScrypt");
    acc->created_at = pds_row_get_str(row, "createdAt");
    acc->email_confirmed_at = pds_row_get_str(row, "emailConfirmedAt");
    acc->deactivated_at = pds_row_get_str(row, "deactivatedAt");
    acc->takedown_ref = pds_row_get_str(row, "takedownRef");
    acc->invited_by = pds_row_get_str(row, "invitedBy");
    acc->invites_disabled = pds_row_get_bool(row, "invitesDisabled");
    acc->email_auth_factor = pds_row_get_bool(row, "emailAuthFactor");
    acc->delete_after = pds_row_get_str(row, "deleteAfter");
    acc->signing_key = pds_row_get_bytes(row, "signingKey",
                                         &acc->signing_key_len);

    if (acc->did == NULL || acc->handle == NULL) {
        return MDB_CORRUPTED;
    }

    return 0;
}


int
pds_account_get_by_did(pds_store_t *s, MDB_txn *txn, const char *did,
    const pds_alloc_t *a, pds_account_t *acc)
{
    int       rc;
    uint64_t  uid;

    rc = pds_store_uid_get(s, txn, did, strlen(did), &uid);
    if (rc == PDS_NOTFOUND) {
        return PDS_NOTFOUND;
    }
    if (rc != 0) {
        return EIO;
    }

    return pds_account_get(s, txn, uid, a, acc);
}


static int
pds_account_uid_by(MDB_txn *txn, MDB_dbi dbi, const char *name,
    uint64_t *uid)
{
    int             rc;
    MDB_val         v;
    pds_acct_key_t  k;

    pds_acct_key_init(&k, 0);
    pds_acct_key_lower(&k, name);

    rc = pds_acct_get(txn, dbi, &k, &v);
    if (rc != 0) {
        return rc;
    }

    if (v.mv_size != PDS_UID_LEN) {
        return MDB_CORRUPTED;
    }

    *uid = pds_store_get_u64(v.mv_data);

    return 0;
}


int
pds_account_uid_by_handle(pds_store_t *s, MDB_txn *txn, const char *handle,
    uint64_t *uid)
{
    return pds_account_uid_by(txn, s->db_handles, handle, uid);
}


int
pds_account_uid_by_email(pds_store_t *s, MDB_txn *txn, const char *email,
    uint64_t *uid)
{
    return pds_account_uid_by(txn, s->db_emails, email, uid);
}


int
pds_account_get_by_identifier(pds_store_t *s, MDB_txn *txn,
    const char *identifier, const pds_alloc_t *a, pds_account_t *acc)
{
    int       rc;
    char     *id;
    size_t    i, len;
    uint64_t  uid;

    len = strlen(identifier);
    id = pds_strndup(a, identifier, len);
    if (id == NULL) {
        return ENOMEM;
    }

    for (i = 0; i < len; i++) {
        if (id[i] >= 'A' && id[i] <= 'Z') {
            id[i] = (char) (id[i] + ('a' - 'A'));
        }
    }

    if (strchr(id, '@')) {
        rc = pds_account_uid_by_email(s, txn, id, &uid);

    } else if (pds_did_valid(id, len)) {
        rc = pds_store_uid_get(s, txn, id, len, &uid) == 0 ? 0 : PDS_NOTFOUND;

    } else if (pds_handle_valid(id, len)) {
        rc = pds_account_uid_by_handle(s, txn, id, &uid);

    } else {
        rc = PDS_NOTFOUND;
    }

    return rc == 0 ? pds_account_get(s, txn, uid, a, acc) : rc;
}


int
pds_account_set_handle(pds_store_t *s, MDB_txn *txn, pds_account_t *acc,
    const char *handle)
{
    int             rc;
    uint8_t         uid[PDS_UID_LEN];
    pds_acct_key_t  k;

    pds_store_put_u64(uid, acc->uid);

    pds_acct_key_init(&k, 0);
    pds_acct_key_lower(&k, handle);
    rc = pds_acct_put(txn, s->db_handles, &k, uid, sizeof(uid),
                      MDB_NOOVERWRITE);

    if (rc == MDB_KEYEXIST) {
        return PDS_ACCOUNT_HANDLE_TAKEN;
    }
    if (rc != 0) {
        return rc;
    }

    pds_acct_key_init(&k, 0);
    pds_acct_key_lower(&k, acc->handle);
    rc = pds_acct_del(txn, s->db_handles, &k);
    if (rc != 0) {
        return rc;
    }

    acc->handle = handle;

    return pds_account_update(s, txn, acc);
}


int
pds_account_set_email(pds_store_t *s, MDB_txn *txn, pds_account_t *acc,
    const char *email)
{
    int             rc;
    uint8_t         uid[PDS_UID_LEN];
    pds_acct_key_t  k;

    pds_store_put_u64(uid, acc->uid);

    if (acc->email != NULL && email != NULL
        && strcasecmp(acc->email, email) == 0)
    {
        acc->email = email;             /* the same address, new case */
        return pds_account_update(s, txn, acc);
    }

    if (email != NULL) {
        pds_acct_key_init(&k, 0);
        pds_acct_key_lower(&k, email);
        rc = pds_acct_put(txn, s->db_emails, &k, uid, sizeof(uid),
                          MDB_NOOVERWRITE);

        if (rc == MDB_KEYEXIST) {
            return PDS_ACCOUNT_EMAIL_TAKEN;
        }
        if (rc != 0) {
            return rc;
        }
    }

    if (acc->email != NULL) {
        pds_acct_key_init(&k, 0);
        pds_acct_key_lower(&k, acc->email);
        rc = pds_acct_del(txn, s->db_emails, &k);
        if (rc != 0 && rc != PDS_NOTFOUND) {
            return rc;
        }
    }

    acc->email = email;

    return pds_account_update(s, txn, acc);
}


int
pds_account_iter_open(pds_store_t *s, MDB_txn *txn, uint64_t from_uid,
    pds_account_iter_t *it)
{
    return pds_store_iter_open_id(txn, s->db_accounts, from_uid, 0, &it->it);
}


int
pds_account_iter_next(pds_account_iter_t *it, uint64_t *uid)
{
    int      rc;
    MDB_val  key, val;

    /* every key is a uid; anything else is skipped, as it always was */

    while ((rc = pds_store_iter_next(&it->it, &key, &val)) == 0) {
        if (key.mv_size == PDS_UID_LEN) {
            *uid = pds_store_get_u64(key.mv_data);
            return 0;
        }
    }

    return rc;
}


void
pds_account_iter_close(pds_account_iter_t *it)
{
    pds_store_iter_close(&it->it);
}


int
pds_account_usage(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    pds_account_usage_t *usage)
{
    int  rc;

    rc = pds_repo_usage(s, txn, uid, &usage->blocks, &usage->records);
    if (rc != 0) {
        return rc;
    }

    return pds_blob_usage(s, txn, uid, &usage->expected_blobs,
                          &usage->imported_blobs);
}


/* ---- invite codes ------------------------------------------------------ */


int
pds_invite_create(pds_store_t *s, MDB_txn *txn, const pds_invite_t *inv)
{
    int             rc;
    pds_acct_key_t  k;
    pds_row_t       row;

    row.n = 0;
    pds_row_int(&row, "available", inv->available);
    pds_row_bool(&row, "disabled", inv->disabled);
    pds_row_str(&row, "forAccount", inv->for_account);
    pds_row_str(&row, "createdBy", inv->created_by);
    pds_row_str(&row, "createdAt", inv->created_at);

    pds_acct_key_init(&k, 'c');
    pds_acct_key_str(&k, inv->code);

    if (k.overflow) {
        return EINVAL;
    }

    rc = pds_row_put(txn, s->db_invites, k.data, k.len, &row);
    if (rc != 0) {
        return rc;
    }

    pds_acct_key_init(&k, 'a');
    pds_acct_key_str(&k, inv->for_account);
    pds_acct_key_sep(&k);
    pds_acct_key_str(&k, inv->created_at);
    pds_acct_key_sep(&k);
    pds_acct_key_str(&k, inv->code);

    return pds_acct_put(txn, s->db_invites, &k, "", 0, 0);
}


static int
pds_invite_use_cb(void *ctx, const uint8_t *rest, size_t len, MDB_val *val)
{
    pds_acct_list_t   *l = ctx;
    pds_invite_use_t  *u;

    u = pds_acct_list_push(l);
    if (u == NULL) {
        return ENOMEM;
    }

    u->used_by = pds_strndup(l->a, (const char *) rest, len);
    u->used_at = pds_strndup(l->a, val->mv_data, val->mv_size);

    return 0;
}


static int
pds_invite_uses(pds_store_t *s, MDB_txn *txn, const char *code,
    const pds_alloc_t *a, pds_invite_t *inv)
{
    int              rc;
    pds_acct_key_t   k;
    pds_acct_list_t  l;

    pds_acct_key_init(&k, 'u');
    pds_acct_key_str(&k, code);
    pds_acct_key_sep(&k);

    if (k.overflow) {
        return EINVAL;
    }

    pds_acct_list_init(&l, a, sizeof(pds_invite_use_t));

    rc = pds_acct_scan_prefix(txn, s->db_invites, &k, pds_invite_use_cb, &l);
    if (rc != 0) {
        return rc;
    }

    inv->uses = l.elts;
    inv->nuses = l.n;

    return 0;
}


int
pds_invite_get(pds_store_t *s, MDB_txn *txn, const char *code,
    const pds_alloc_t *a, pds_invite_t *inv)
{
    int             rc;
    pds_acct_key_t  k;
    pds_cbor_t     *row;

    pds_acct_key_init(&k, 'c');
    pds_acct_key_str(&k, code);

    if (k.overflow) {
        return PDS_NOTFOUND;
    }

    rc = pds_row_get(txn, s->db_invites, k.data, k.len, a, &row);
    if (rc != 0) {
        return rc;
    }

    memset(inv, 0, sizeof(pds_invite_t));

    inv->code = pds_acct_dup(a, code);
    inv->available = pds_row_get_int(row, "available", 0);
    inv->disabled = pds_row_get_bool(row, "disabled");
    inv->for_account = pds_row_get_str(row, "forAccount");
    inv->created_by = pds_row_get_str(row, "createdBy");
    inv->created_at = pds_row_get_str(row, "createdAt");

    return pds_invite_uses(s, txn, code, a, inv);
}


int
pds_invite_check(pds_store_t *s, MDB_txn *txn, const char *code,
    const pds_alloc_t *a, pds_invite_t *inv)
{
    int            rc;
    pds_account_t  acc;

    rc = pds_invite_get(s, txn, code, a, inv);
    if (rc != 0) {
        return rc;
    }

    if (inv->disabled || (int64_t) inv->nuses >= inv->available) {
        return PDS_ACCOUNT_UNAVAILABLE;
    }

    /* the codes of a taken-down account are not available (as the
       reference's join on its takedownRef) */
    if (inv->for_account
        && pds_account_get_by_did(s, txn, inv->for_account, a, &acc) == 0
        && acc.takedown_ref)
    {
        return PDS_ACCOUNT_UNAVAILABLE;
    }

    return 0;
}


int
pds_invite_use(pds_store_t *s, MDB_txn *txn, const char *code,
    const char *used_by, const char *used_at)
{
    int             rc;
    pds_acct_key_t  k;
    pds_arena_t    *arena;
    pds_alloc_t     a;
    pds_invite_t    inv;

    arena = pds_arena_create();
    if (arena == NULL) {
        return ENOMEM;
    }

    a = pds_arena_allocator(arena);

    rc = pds_invite_check(s, txn, code, &a, &inv);

    pds_arena_destroy(arena);

    if (rc != 0) {
        return rc;
    }

    pds_acct_key_init(&k, 'u');
    pds_acct_key_str(&k, code);
    pds_acct_key_sep(&k);
    pds_acct_key_str(&k, used_by);

    return pds_acct_put(txn, s->db_invites, &k, used_at, strlen(used_at), 0);
}


typedef struct {
    pds_store_t        *store;
    MDB_txn            *txn;
    pds_acct_list_t     list;
} pds_invites_scan_t;


/* the invite of code[0..len) onto the list (left out if it cannot be read) */
static int
pds_invite_list_add(pds_invites_scan_t *sc, const uint8_t *code, size_t len)
{
    char          *c;
    pds_invite_t  *inv;

    c = pds_strndup(sc->list.a, (const char *) code, len);
    inv = pds_acct_list_push(&sc->list);
    if (c == NULL || inv == NULL) {
        return ENOMEM;
    }

    if (pds_invite_get(sc->store, sc->txn, c, sc->list.a, inv) != 0) {
        sc->list.n--;
    }

    return 0;
}


/* keys: account 0 createdAt 0 code (the prefix ends after account 0) */
static int
pds_invite_list_cb(void *ctx, const uint8_t *rest, size_t len, MDB_val *val)
{
    const uint8_t  *sep;

    (void) val;

    sep = memchr(rest, 0, len);
    if (sep == NULL) {
        return 0;
    }

    return pds_invite_list_add(ctx, sep + 1,
                               len - (size_t) (sep + 1 - rest));
}


int
pds_invite_list_for(pds_store_t *s, MDB_txn *txn, const char *account,
    const pds_alloc_t *a, pds_invite_t **list, size_t *n)
{
    int                 rc;
    size_t              i, cnt;
    pds_acct_key_t      k;
    pds_invite_t       *out, t;
    pds_invites_scan_t  sc;

    pds_acct_key_init(&k, 'a');
    pds_acct_key_str(&k, account);
    pds_acct_key_sep(&k);

    sc.store = s;
    sc.txn = txn;
    pds_acct_list_init(&sc.list, a, sizeof(pds_invite_t));

    rc = pds_acct_scan_prefix(txn, s->db_invites, &k, pds_invite_list_cb, &sc);
    if (rc != 0) {
        return rc;
    }

    /* stored oldest first: newest first for the caller */
    out = sc.list.elts;
    cnt = sc.list.n;

    for (i = 0; i < cnt / 2; i++) {
        t = out[i];
        out[i] = out[cnt - 1 - i];
        out[cnt - 1 - i] = t;
    }

    *list = out;
    *n = cnt;

    return 0;
}


/* ---- every invite, and disabling them (admin) -------------------------- */


/* keys 'c' code: the rest of the key is the code */
static int
pds_invite_all_cb(void *ctx, const uint8_t *rest, size_t len, MDB_val *val)
{
    (void) val;

    return pds_invite_list_add(ctx, rest, len);
}


int
pds_invite_list_all(pds_store_t *s, MDB_txn *txn, const pds_alloc_t *a,
    pds_invite_t **list, size_t *n)
{
    int                 rc;
    pds_acct_key_t      k;
    pds_invites_scan_t  sc;

    pds_acct_key_init(&k, 'c');

    sc.store = s;
    sc.txn = txn;
    pds_acct_list_init(&sc.list, a, sizeof(pds_invite_t));

    rc = pds_acct_scan_prefix(txn, s->db_invites, &k, pds_invite_all_cb, &sc);
    if (rc != 0) {
        return rc;
    }

    *list = sc.list.elts;
    *n = sc.list.n;

    return 0;
}


int
pds_invite_disable(pds_store_t *s, MDB_txn *txn, const char *code)
{
    int             rc;
    pds_acct_key_t  k;
    pds_row_t       row;
    pds_arena_t    *arena;
    pds_alloc_t     a;
    pds_invite_t    inv;

    arena = pds_arena_create();
    if (arena == NULL) {
        return ENOMEM;
    }

    a = pds_arena_allocator(arena);

    rc = pds_invite_get(s, txn, code, &a, &inv);

    if (rc == 0 && !inv.disabled) {
        row.n = 0;
        pds_row_int(&row, "available", inv.available);
        pds_row_bool(&row, "disabled", 1);
        pds_row_str(&row, "forAccount", inv.for_account);
        pds_row_str(&row, "createdBy", inv.created_by);
        pds_row_str(&row, "createdAt", inv.created_at);

        pds_acct_key_init(&k, 'c');
        pds_acct_key_str(&k, code);

        rc = k.overflow ? EINVAL
                        : pds_row_put(txn, s->db_invites, k.data, k.len, &row);
    }

    pds_arena_destroy(arena);

    return rc;
}


int
pds_invite_disable_for(pds_store_t *s, MDB_txn *txn, const char *account)
{
    int            rc;
    size_t         i, n;
    pds_arena_t   *arena;
    pds_alloc_t    a;
    pds_invite_t  *list;

    arena = pds_arena_create();
    if (arena == NULL) {
        return ENOMEM;
    }

    a = pds_arena_allocator(arena);

    rc = pds_invite_list_for(s, txn, account, &a, &list, &n);

    for (i = 0; rc == 0 && i < n; i++) {
        rc = pds_invite_disable(s, txn, list[i].code);
    }

    pds_arena_destroy(arena);

    return rc;
}
