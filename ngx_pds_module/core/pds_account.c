/*
 * ngx_pds_module core: the account tables of a tenant.
 *
 * Key layouts (LMDB keys are at most 511 bytes: long names are refused):
 *   accounts       uid (8, big-endian)               -> row
 *   handles        handle (lower case)               -> uid
 *   emails         email (lower case)                -> uid
 *   invites        'c' code                          -> row
 *                  'u' code 0 used_by                -> used_at
 *                  'a' account 0 created_at 0 code   -> (empty)
 *   tokens         't' jti                           -> row
 *                  'd' did 0 jti                     -> (empty)
 *   app_passwords  did 0 name                        -> row
 */

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pds_account.h"
#include "pds_row.h"


#define PDS_KEY_MAX  511


typedef struct {
    uint8_t   data[PDS_KEY_MAX];
    size_t    len;
    int       overflow;
} pds_key_t;


static void
pds_key_init(pds_key_t *k, char tag)
{
    k->len = 0;
    k->overflow = 0;

    if (tag) {
        k->data[k->len++] = (uint8_t) tag;
    }
}


static void
pds_key_add(pds_key_t *k, const char *s, size_t n)
{
    if (k->len + n > PDS_KEY_MAX) {
        k->overflow = 1;
        return;
    }

    memcpy(k->data + k->len, s, n);
    k->len += n;
}


static void
pds_key_str(pds_key_t *k, const char *s)
{
    pds_key_add(k, s, strlen(s));
}


static void
pds_key_lower(pds_key_t *k, const char *s)
{
    size_t  i, n;

    n = strlen(s);

    if (k->len + n > PDS_KEY_MAX) {
        k->overflow = 1;
        return;
    }

    for (i = 0; i < n; i++) {
        k->data[k->len++] = (uint8_t) tolower((unsigned char) s[i]);
    }
}


static void
pds_key_sep(pds_key_t *k)
{
    pds_key_add(k, "", 1);
}


static int
pds_put(MDB_txn *txn, MDB_dbi dbi, pds_key_t *k, const void *v, size_t n,
    unsigned flags)
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


static int
pds_get(MDB_txn *txn, MDB_dbi dbi, pds_key_t *k, MDB_val *val)
{
    MDB_val  key;

    if (k->overflow) {
        return MDB_NOTFOUND;
    }

    key.mv_data = k->data;
    key.mv_size = k->len;

    return mdb_get(txn, dbi, &key, val);
}


static int
pds_del(MDB_txn *txn, MDB_dbi dbi, pds_key_t *k)
{
    int      rc;
    MDB_val  key;

    if (k->overflow) {
        return MDB_NOTFOUND;
    }

    key.mv_data = k->data;
    key.mv_size = k->len;

    rc = mdb_del(txn, dbi, &key, NULL);

    return rc == MDB_NOTFOUND ? 0 : rc;
}


static const char *
pds_dup(const pds_alloc_t *a, const char *s)
{
    return s ? pds_strndup(a, s, strlen(s)) : NULL;
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
    pds_row_bytes(row, "signingKey", acc->signing_key, acc->signing_key_len);
}


int
pds_account_insert(pds_store_t *s, MDB_txn *txn, pds_account_t *acc)
{
    int        rc;
    uint8_t    uid[PDS_UID_LEN];
    pds_key_t  k;

    MDB_val    v;

    /*
     * The uid may already exist when the repo was created first in this
     * transaction (pds_repo_create allocates it); an existing account row
     * means the DID is taken.
     */
    rc = pds_store_uid_alloc(s, txn, acc->did, strlen(acc->did), &acc->uid);
    if (rc != 0 && rc != PDS_STORE_EXISTS) {
        return rc == PDS_STORE_MAPFULL ? MDB_MAP_FULL : EIO;
    }

    pds_store_put_u64(uid, acc->uid);

    if (rc == PDS_STORE_EXISTS) {
        pds_key_init(&k, 0);
        pds_key_add(&k, (char *) uid, sizeof(uid));

        rc = pds_get(txn, s->db_accounts, &k, &v);
        if (rc == 0) {
            return PDS_ACCOUNT_DID_TAKEN;
        }
        if (rc != MDB_NOTFOUND) {
            return rc;
        }
    }

    pds_key_init(&k, 0);
    pds_key_lower(&k, acc->handle);
    rc = pds_put(txn, s->db_handles, &k, uid, sizeof(uid), MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST) {
        return PDS_ACCOUNT_HANDLE_TAKEN;
    }
    if (rc != 0) {
        return rc;
    }

    if (acc->email) {
        pds_key_init(&k, 0);
        pds_key_lower(&k, acc->email);
        rc = pds_put(txn, s->db_emails, &k, uid, sizeof(uid),
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
    if (rc == PDS_STORE_NOTFOUND) {
        return MDB_NOTFOUND;
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
    int        rc;
    MDB_val    v;
    pds_key_t  k;

    pds_key_init(&k, 0);
    pds_key_lower(&k, name);

    rc = pds_get(txn, dbi, &k, &v);
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
pds_account_set_handle(pds_store_t *s, MDB_txn *txn, pds_account_t *acc,
    const char *handle)
{
    int        rc;
    uint8_t    uid[PDS_UID_LEN];
    pds_key_t  k;

    pds_store_put_u64(uid, acc->uid);

    pds_key_init(&k, 0);
    pds_key_lower(&k, handle);
    rc = pds_put(txn, s->db_handles, &k, uid, sizeof(uid), MDB_NOOVERWRITE);

    if (rc == MDB_KEYEXIST) {
        return PDS_ACCOUNT_HANDLE_TAKEN;
    }
    if (rc != 0) {
        return rc;
    }

    pds_key_init(&k, 0);
    pds_key_lower(&k, acc->handle);
    rc = pds_del(txn, s->db_handles, &k);
    if (rc != 0) {
        return rc;
    }

    acc->handle = handle;

    return pds_account_update(s, txn, acc);
}


/* ---- invite codes ------------------------------------------------------ */


int
pds_invite_create(pds_store_t *s, MDB_txn *txn, const pds_invite_t *inv)
{
    int        rc;
    pds_key_t  k;
    pds_row_t  row;

    row.n = 0;
    pds_row_int(&row, "available", inv->available);
    pds_row_bool(&row, "disabled", inv->disabled);
    pds_row_str(&row, "forAccount", inv->for_account);
    pds_row_str(&row, "createdBy", inv->created_by);
    pds_row_str(&row, "createdAt", inv->created_at);

    pds_key_init(&k, 'c');
    pds_key_str(&k, inv->code);

    if (k.overflow) {
        return EINVAL;
    }

    rc = pds_row_put(txn, s->db_invites, k.data, k.len, &row);
    if (rc != 0) {
        return rc;
    }

    pds_key_init(&k, 'a');
    pds_key_str(&k, inv->for_account);
    pds_key_sep(&k);
    pds_key_str(&k, inv->created_at);
    pds_key_sep(&k);
    pds_key_str(&k, inv->code);

    return pds_put(txn, s->db_invites, &k, "", 0, 0);
}


static int
pds_invite_uses(pds_store_t *s, MDB_txn *txn, const char *code,
    const pds_alloc_t *a, pds_invite_t *inv)
{
    int          rc;
    size_t       n, cap;
    MDB_val      key, val;
    pds_key_t    k;
    MDB_cursor  *cur;
    pds_invite_use_t  *uses, *more;

    pds_key_init(&k, 'u');
    pds_key_str(&k, code);
    pds_key_sep(&k);

    if (k.overflow) {
        return EINVAL;
    }

    rc = mdb_cursor_open(txn, s->db_invites, &cur);
    if (rc != 0) {
        return rc;
    }

    key.mv_data = k.data;
    key.mv_size = k.len;

    uses = NULL;
    n = 0;
    cap = 0;

    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
         rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
    {
        if (key.mv_size < k.len || memcmp(key.mv_data, k.data, k.len) != 0) {
            break;
        }

        if (n == cap) {
            cap = cap ? cap * 2 : 4;
            more = pds_alloc(a, cap * sizeof(pds_invite_use_t));
            if (more == NULL) {
                rc = ENOMEM;
                break;
            }
            if (n) {
                memcpy(more, uses, n * sizeof(pds_invite_use_t));
            }
            uses = more;
        }

        uses[n].used_by = pds_strndup(a, (char *) key.mv_data + k.len,
                                      key.mv_size - k.len);
        uses[n].used_at = pds_strndup(a, val.mv_data, val.mv_size);
        n++;
    }

    mdb_cursor_close(cur);

    if (rc != 0 && rc != MDB_NOTFOUND) {
        return rc;
    }

    inv->uses = uses;
    inv->nuses = n;

    return 0;
}


int
pds_invite_get(pds_store_t *s, MDB_txn *txn, const char *code,
    const pds_alloc_t *a, pds_invite_t *inv)
{
    int          rc;
    pds_key_t    k;
    pds_cbor_t  *row;

    pds_key_init(&k, 'c');
    pds_key_str(&k, code);

    if (k.overflow) {
        return MDB_NOTFOUND;
    }

    rc = pds_row_get(txn, s->db_invites, k.data, k.len, a, &row);
    if (rc != 0) {
        return rc;
    }

    memset(inv, 0, sizeof(pds_invite_t));

    inv->code = pds_dup(a, code);
    inv->available = pds_row_get_int(row, "available", 0);
    inv->disabled = pds_row_get_bool(row, "disabled");
    inv->for_account = pds_row_get_str(row, "forAccount");
    inv->created_by = pds_row_get_str(row, "createdBy");
    inv->created_at = pds_row_get_str(row, "createdAt");

    return pds_invite_uses(s, txn, code, a, inv);
}


int
pds_invite_use(pds_store_t *s, MDB_txn *txn, const char *code,
    const char *used_by, const char *used_at)
{
    int           rc;
    pds_key_t     k;
    pds_arena_t  *arena;
    pds_alloc_t   a;
    pds_invite_t  inv;

    arena = pds_arena_create();
    if (arena == NULL) {
        return ENOMEM;
    }

    a = pds_arena_allocator(arena);

    rc = pds_invite_get(s, txn, code, &a, &inv);

    if (rc == 0 && (inv.disabled || (int64_t) inv.nuses >= inv.available)) {
        rc = PDS_ACCOUNT_UNAVAILABLE;
    }

    pds_arena_destroy(arena);

    if (rc != 0) {
        return rc;
    }

    pds_key_init(&k, 'u');
    pds_key_str(&k, code);
    pds_key_sep(&k);
    pds_key_str(&k, used_by);

    return pds_put(txn, s->db_invites, &k, used_at, strlen(used_at), 0);
}


int
pds_invite_list_for(pds_store_t *s, MDB_txn *txn, const char *account,
    const pds_alloc_t *a, pds_invite_t **list, size_t *n)
{
    int            rc;
    size_t         cnt, cap;
    char          *code;
    MDB_val        key, val;
    pds_key_t      k;
    MDB_cursor    *cur;
    pds_invite_t  *out, *more;

    pds_key_init(&k, 'a');
    pds_key_str(&k, account);
    pds_key_sep(&k);

    *list = NULL;
    *n = 0;

    if (k.overflow) {
        return 0;
    }

    rc = mdb_cursor_open(txn, s->db_invites, &cur);
    if (rc != 0) {
        return rc;
    }

    key.mv_data = k.data;
    key.mv_size = k.len;

    out = NULL;
    cnt = 0;
    cap = 0;

    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
         rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
    {
        uint8_t  *p, *last, *sep;

        if (key.mv_size < k.len || memcmp(key.mv_data, k.data, k.len) != 0) {
            break;
        }

        p = (uint8_t *) key.mv_data + k.len;
        last = (uint8_t *) key.mv_data + key.mv_size;
        sep = memchr(p, 0, last - p);
        if (sep == NULL) {
            continue;
        }

        code = pds_strndup(a, (char *) sep + 1, last - sep - 1);
        if (code == NULL) {
            rc = ENOMEM;
            break;
        }

        if (cnt == cap) {
            cap = cap ? cap * 2 : 8;
            more = pds_alloc(a, cap * sizeof(pds_invite_t));
            if (more == NULL) {
                rc = ENOMEM;
                break;
            }
            if (cnt) {
                memcpy(more, out, cnt * sizeof(pds_invite_t));
            }
            out = more;
        }

        if (pds_invite_get(s, txn, code, a, &out[cnt]) == 0) {
            cnt++;
        }
    }

    mdb_cursor_close(cur);

    if (rc != 0 && rc != MDB_NOTFOUND) {
        return rc;
    }

    /* stored oldest first: newest first for the caller */
    for (cap = 0; cnt > 1 && cap < cnt / 2; cap++) {
        pds_invite_t  t = out[cap];
        out[cap] = out[cnt - 1 - cap];
        out[cnt - 1 - cap] = t;
    }

    *list = out;
    *n = cnt;

    return 0;
}


/* ---- refresh tokens ---------------------------------------------------- */


int
pds_token_put(pds_store_t *s, MDB_txn *txn, const pds_token_t *tok)
{
    int        rc;
    pds_key_t  k;
    pds_row_t  row;

    row.n = 0;
    pds_row_str(&row, "did", tok->did);
    pds_row_str(&row, "appPasswordName", tok->app_password_name);
    pds_row_int(&row, "expiresAt", tok->expires_at);
    pds_row_str(&row, "nextId", tok->next_id);

    pds_key_init(&k, 't');
    pds_key_str(&k, tok->id);

    if (k.overflow) {
        return EINVAL;
    }

    rc = pds_row_put(txn, s->db_tokens, k.data, k.len, &row);
    if (rc != 0) {
        return rc;
    }

    pds_key_init(&k, 'd');
    pds_key_str(&k, tok->did);
    pds_key_sep(&k);
    pds_key_str(&k, tok->id);

    return pds_put(txn, s->db_tokens, &k, "", 0, 0);
}


int
pds_token_get(pds_store_t *s, MDB_txn *txn, const char *id,
    const pds_alloc_t *a, pds_token_t *tok)
{
    int          rc;
    pds_key_t    k;
    pds_cbor_t  *row;

    pds_key_init(&k, 't');
    pds_key_str(&k, id);

    if (k.overflow) {
        return MDB_NOTFOUND;
    }

    rc = pds_row_get(txn, s->db_tokens, k.data, k.len, a, &row);
    if (rc != 0) {
        return rc;
    }

    tok->id = pds_dup(a, id);
    tok->did = pds_row_get_str(row, "did");
    tok->app_password_name = pds_row_get_str(row, "appPasswordName");
    tok->expires_at = pds_row_get_int(row, "expiresAt", 0);
    tok->next_id = pds_row_get_str(row, "nextId");

    return tok->did ? 0 : MDB_CORRUPTED;
}


int
pds_token_delete(pds_store_t *s, MDB_txn *txn, const char *id)
{
    int           rc;
    pds_key_t     k;
    pds_token_t   tok;
    pds_arena_t  *arena;
    pds_alloc_t   a;

    arena = pds_arena_create();
    if (arena == NULL) {
        return ENOMEM;
    }

    a = pds_arena_allocator(arena);

    rc = pds_token_get(s, txn, id, &a, &tok);

    if (rc == 0) {
        pds_key_init(&k, 'd');
        pds_key_str(&k, tok.did);
        pds_key_sep(&k);
        pds_key_str(&k, id);
        rc = pds_del(txn, s->db_tokens, &k);

        if (rc == 0) {
            pds_key_init(&k, 't');
            pds_key_str(&k, id);
            rc = pds_del(txn, s->db_tokens, &k);
        }
    }

    pds_arena_destroy(arena);

    return rc == MDB_NOTFOUND ? 0 : rc;
}


int
pds_token_delete_for(pds_store_t *s, MDB_txn *txn, const char *did,
    const char *app_password_name)
{
    int           rc;
    char        **ids, **more;
    size_t        n, cap, i;
    MDB_val       key, val;
    pds_key_t     k;
    MDB_cursor   *cur;
    pds_token_t   tok;
    pds_arena_t  *arena;
    pds_alloc_t   a;

    pds_key_init(&k, 'd');
    pds_key_str(&k, did);
    pds_key_sep(&k);

    if (k.overflow) {
        return 0;
    }

    arena = pds_arena_create();
    if (arena == NULL) {
        return ENOMEM;
    }

    a = pds_arena_allocator(arena);

    rc = mdb_cursor_open(txn, s->db_tokens, &cur);
    if (rc != 0) {
        pds_arena_destroy(arena);
        return rc;
    }

    key.mv_data = k.data;
    key.mv_size = k.len;

    ids = NULL;
    n = 0;
    cap = 0;

    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
         rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
    {
        if (key.mv_size < k.len || memcmp(key.mv_data, k.data, k.len) != 0) {
            break;
        }

        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            more = pds_alloc(&a, cap * sizeof(char *));
            if (more == NULL) {
                rc = ENOMEM;
                break;
            }
            if (n) {
                memcpy(more, ids, n * sizeof(char *));
            }
            ids = more;
        }

        ids[n] = pds_strndup(&a, (char *) key.mv_data + k.len,
                             key.mv_size - k.len);
        if (ids[n] == NULL) {
            rc = ENOMEM;
            break;
        }
        n++;
    }

    mdb_cursor_close(cur);

    if (rc == MDB_NOTFOUND) {
        rc = 0;
    }

    for (i = 0; rc == 0 && i < n; i++) {
        if (app_password_name != NULL) {
            if (pds_token_get(s, txn, ids[i], &a, &tok) != 0
                || tok.app_password_name == NULL
                || strcmp(tok.app_password_name, app_password_name) != 0)
            {
                continue;
            }
        }

        rc = pds_token_delete(s, txn, ids[i]);
    }

    pds_arena_destroy(arena);

    return rc;
}


/* ---- app passwords ----------------------------------------------------- */


int
pds_app_password_put(pds_store_t *s, MDB_txn *txn, const char *did,
    const pds_app_password_t *ap)
{
    int        rc;
    MDB_val    val;
    pds_key_t  k;
    pds_row_t  row;

    pds_key_init(&k, 0);
    pds_key_str(&k, did);
    pds_key_sep(&k);
    pds_key_str(&k, ap->name);

    if (k.overflow) {
        return EINVAL;
    }

    rc = pds_get(txn, s->db_app_passwords, &k, &val);
    if (rc == 0) {
        return PDS_ACCOUNT_NAME_TAKEN;
    }
    if (rc != MDB_NOTFOUND) {
        return rc;
    }

    row.n = 0;
    pds_row_str(&row, "name", ap->name);
    pds_row_str(&row, "passwordScrypt", ap->password_scrypt);
    pds_row_str(&row, "createdAt", ap->created_at);
    pds_row_bool(&row, "privileged", ap->privileged);

    return pds_row_put(txn, s->db_app_passwords, k.data, k.len, &row);
}


int
pds_app_password_delete(pds_store_t *s, MDB_txn *txn, const char *did,
    const char *name)
{
    pds_key_t  k;

    pds_key_init(&k, 0);
    pds_key_str(&k, did);
    pds_key_sep(&k);
    pds_key_str(&k, name);

    return pds_del(txn, s->db_app_passwords, &k);
}


int
pds_app_password_list(pds_store_t *s, MDB_txn *txn, const char *did,
    const pds_alloc_t *a, pds_app_password_t **list, size_t *n)
{
    int                  rc;
    size_t               cnt, cap;
    MDB_val              key, val;
    pds_key_t            k;
    pds_cbor_t          *row;
    MDB_cursor          *cur;
    pds_app_password_t  *out, *more;

    pds_key_init(&k, 0);
    pds_key_str(&k, did);
    pds_key_sep(&k);

    *list = NULL;
    *n = 0;

    if (k.overflow) {
        return 0;
    }

    rc = mdb_cursor_open(txn, s->db_app_passwords, &cur);
    if (rc != 0) {
        return rc;
    }

    key.mv_data = k.data;
    key.mv_size = k.len;

    out = NULL;
    cnt = 0;
    cap = 0;

    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
         rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
    {
        if (key.mv_size < k.len || memcmp(key.mv_data, k.data, k.len) != 0) {
            break;
        }

        if (pds_cbor_decode(val.mv_data, val.mv_size, a, &row) != 0) {
            rc = MDB_CORRUPTED;
            break;
        }

        if (cnt == cap) {
            cap = cap ? cap * 2 : 8;
            more = pds_alloc(a, cap * sizeof(pds_app_password_t));
            if (more == NULL) {
                rc = ENOMEM;
                break;
            }
            if (cnt) {
                memcpy(more, out, cnt * sizeof(pds_app_password_t));
            }
            out = more;
        }

        out[cnt].name = pds_row_get_str(row, "name");
        out[cnt].password_scrypt = pds_row_get_str(row, "passwordScrypt");
        out[cnt].created_at = pds_row_get_str(row, "createdAt");
        out[cnt].privileged = pds_row_get_bool(row, "privileged");
        cnt++;
    }

    mdb_cursor_close(cur);

    if (rc != 0 && rc != MDB_NOTFOUND) {
        return rc;
    }

    *list = out;
    *n = cnt;

    return 0;
}
