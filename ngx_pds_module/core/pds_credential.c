/*
 * ngx_pds_module core: the credentials of an account: refresh tokens and
 * app passwords, in their tables of the tenant (the account tables,
 * pds_account.h; the key helpers are pds_account.c's).
 *
 * Key layouts (LMDB keys are at most 511 bytes: long names are refused):
 *   tokens         't' jti                           -> row
 *                  'd' did 0 jti                     -> (empty)
 *   app_passwords  did 0 name                        -> row
 */

#include <errno.h>
#include <string.h>

#include "pds_account.h"
#include "pds_account_int.h"
#include "pds_oauth_store.h"
#include "pds_row.h"


/* ---- refresh tokens ---------------------------------------------------- */


int
pds_token_put(pds_store_t *s, MDB_txn *txn, const pds_token_t *tok)
{
    int             rc;
    pds_acct_key_t  k;
    pds_row_t       row;

    row.n = 0;
    pds_row_str(&row, "did", tok->did);
    pds_row_str(&row, "appPasswordName", tok->app_password_name);
    pds_row_int(&row, "expiresAt", tok->expires_at);
    pds_row_str(&row, "nextId", tok->next_id);

    pds_acct_key_init(&k, 't');
    pds_acct_key_str(&k, tok->id);

    if (k.overflow) {
        return EINVAL;
    }

    rc = pds_row_put(txn, s->db_tokens, k.data, k.len, &row);
    if (rc != 0) {
        return rc;
    }

    pds_acct_key_init(&k, 'd');
    pds_acct_key_str(&k, tok->did);
    pds_acct_key_sep(&k);
    pds_acct_key_str(&k, tok->id);

    return pds_acct_put(txn, s->db_tokens, &k, "", 0, 0);
}


int
pds_token_get(pds_store_t *s, MDB_txn *txn, const char *id,
    const pds_alloc_t *a, pds_token_t *tok)
{
    int             rc;
    pds_acct_key_t  k;
    pds_cbor_t     *row;

    pds_acct_key_init(&k, 't');
    pds_acct_key_str(&k, id);

    if (k.overflow) {
        return PDS_NOTFOUND;
    }

    rc = pds_row_get(txn, s->db_tokens, k.data, k.len, a, &row);
    if (rc != 0) {
        return rc;
    }

    tok->id = pds_acct_dup(a, id);
    tok->did = pds_row_get_str(row, "did");
    tok->app_password_name = pds_row_get_str(row, "appPasswordName");
    tok->expires_at = pds_row_get_int(row, "expiresAt", 0);
    tok->next_id = pds_row_get_str(row, "nextId");

    return tok->did ? 0 : MDB_CORRUPTED;
}


int
pds_token_delete(pds_store_t *s, MDB_txn *txn, const char *id)
{
    int             rc;
    pds_acct_key_t  k;
    pds_token_t     tok;
    pds_arena_t    *arena;
    pds_alloc_t     a;

    arena = pds_arena_create();
    if (arena == NULL) {
        return ENOMEM;
    }

    a = pds_arena_allocator(arena);

    rc = pds_token_get(s, txn, id, &a, &tok);

    if (rc == 0) {
        pds_acct_key_init(&k, 'd');
        pds_acct_key_str(&k, tok.did);
        pds_acct_key_sep(&k);
        pds_acct_key_str(&k, id);
        rc = pds_acct_del(txn, s->db_tokens, &k);

        if (rc == 0) {
            pds_acct_key_init(&k, 't');
            pds_acct_key_str(&k, id);
            rc = pds_acct_del(txn, s->db_tokens, &k);
        }
    }

    pds_arena_destroy(arena);

    return rc == PDS_NOTFOUND ? 0 : rc;
}


static int
pds_token_id_cb(void *ctx, const uint8_t *rest, size_t len, MDB_val *val)
{
    char            **id;
    pds_acct_list_t  *l = ctx;

    (void) val;

    id = pds_acct_list_push(l);
    if (id == NULL) {
        return ENOMEM;
    }

    *id = pds_strndup(l->a, (const char *) rest, len);

    return *id ? 0 : ENOMEM;
}


int
pds_token_delete_for(pds_store_t *s, MDB_txn *txn, const char *did,
    const char *app_password_name)
{
    int              rc;
    char           **ids;
    size_t           i;
    pds_acct_key_t   k;
    pds_acct_list_t  l;
    pds_token_t      tok;
    pds_arena_t     *arena;
    pds_alloc_t      a;

    pds_acct_key_init(&k, 'd');
    pds_acct_key_str(&k, did);
    pds_acct_key_sep(&k);

    arena = pds_arena_create();
    if (arena == NULL) {
        return ENOMEM;
    }

    a = pds_arena_allocator(arena);
    pds_acct_list_init(&l, &a, sizeof(char *));

    /* the ids first: deleting while the cursor walks would skip keys */
    rc = pds_acct_scan_prefix(txn, s->db_tokens, &k, pds_token_id_cb, &l);

    ids = l.elts;

    for (i = 0; rc == 0 && i < l.n; i++) {
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

    /*
     * every token of the account: its OAuth sessions too (a password
     * change, a takedown, a deletion end what third-party apps hold)
     */
    if (rc == 0 && app_password_name == NULL) {
        rc = pds_oauth_revoke_account(s, txn, did, NULL);
    }

    return rc;
}


/* ---- app passwords ----------------------------------------------------- */


int
pds_app_password_put(pds_store_t *s, MDB_txn *txn, const char *did,
    const pds_app_password_t *ap)
{
    int             rc;
    MDB_val         val;
    pds_acct_key_t  k;
    pds_row_t       row;

    pds_acct_key_init(&k, 0);
    pds_acct_key_str(&k, did);
    pds_acct_key_sep(&k);
    pds_acct_key_str(&k, ap->name);

    if (k.overflow) {
        return EINVAL;
    }

    rc = pds_acct_get(txn, s->db_app_passwords, &k, &val);
    if (rc == 0) {
        return PDS_ACCOUNT_NAME_TAKEN;
    }
    if (rc != PDS_NOTFOUND) {
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
    pds_acct_key_t  k;

    pds_acct_key_init(&k, 0);
    pds_acct_key_str(&k, did);
    pds_acct_key_sep(&k);
    pds_acct_key_str(&k, name);

    return pds_acct_del(txn, s->db_app_passwords, &k);
}


static int
pds_app_password_cb(void *ctx, const uint8_t *rest, size_t len, MDB_val *val)
{
    pds_cbor_t          *row;
    pds_acct_list_t     *l = ctx;
    pds_app_password_t  *ap;

    (void) rest;
    (void) len;

    if (pds_cbor_decode(val->mv_data, val->mv_size, l->a, &row) != 0) {
        return MDB_CORRUPTED;
    }

    ap = pds_acct_list_push(l);
    if (ap == NULL) {
        return ENOMEM;
    }

    ap->name = pds_row_get_str(row, "name");
    ap->password_scrypt = pds_row_get_str(row, "passwordScrypt");
    ap->created_at = pds_row_get_str(row, "createdAt");
    ap->privileged = pds_row_get_bool(row, "privileged");

    return 0;
}


int
pds_app_password_list(pds_store_t *s, MDB_txn *txn, const char *did,
    const pds_alloc_t *a, pds_app_password_t **list, size_t *n)
{
    int              rc;
    pds_acct_key_t   k;
    pds_acct_list_t  l;

    pds_acct_key_init(&k, 0);
    pds_acct_key_str(&k, did);
    pds_acct_key_sep(&k);

    pds_acct_list_init(&l, a, sizeof(pds_app_password_t));

    rc = pds_acct_scan_prefix(txn, s->db_app_passwords, &k,
                              pds_app_password_cb, &l);
    if (rc != 0) {
        return rc;
    }

    *list = l.elts;
    *n = l.n;

    return 0;
}
