/*
 * ngx_pds_module core: the OAuth table (PAR requests, codes, token
 * families, one-time values).
 *
 * Keys of the "oauth" table (docs/STORAGE.md):
 *   'r' + request id          -> PAR row (JSON)
 *   'c' + code                -> code row (JSON; "used": session id once
 *                                exchanged)
 *   's' + session id          -> token family row (JSON)
 *   't' + access token id     -> session id (the current one only)
 *   'f' + refresh token       -> session id (current and rotated ones)
 *   'a' + DID + 0 + session   -> (empty): the families of an account
 *   'o' + kind + value        -> expiry (u64 ms): DPoP jti, code challenge
 *   'x' + expiry (u64 ms) + key -> (empty): what expires when, any of the
 *                                above 'r', 'c' and 'o' keys
 */

#include <stdlib.h>
#include <string.h>

#include "pds_oauth_store.h"


#define PDS_OAUTH_KEY_MAX   511         /* LMDB's default key limit */
#define PDS_OAUTH_OLD_MAX   64          /* rotated refresh tokens kept */
#define PDS_OAUTH_SWEEP     16


static int
pds_oauth_key(char kind, const char *a, size_t an, const char *b, size_t bn,
    uint8_t *key, size_t *len)
{
    if (1 + an + (b ? 1 + bn : 0) > PDS_OAUTH_KEY_MAX) {
        return -1;
    }

    key[0] = (uint8_t) kind;
    memcpy(key + 1, a, an);
    *len = 1 + an;

    if (b) {
        key[*len] = 0;
        memcpy(key + *len + 1, b, bn);
        *len += 1 + bn;
    }

    return 0;
}


static int
pds_oauth_put_raw(pds_store_t *s, MDB_txn *txn, const uint8_t *key,
    size_t klen, const void *val, size_t vlen)
{
    MDB_val  k, v;

    k.mv_data = (void *) key;
    k.mv_size = klen;
    v.mv_data = (void *) val;
    v.mv_size = vlen;

    return pds_store_rc(mdb_put(txn, s->db_oauth, &k, &v, 0));
}


static int
pds_oauth_get_raw(pds_store_t *s, MDB_txn *txn, const uint8_t *key,
    size_t klen, MDB_val *v)
{
    MDB_val  k;

    k.mv_data = (void *) key;
    k.mv_size = klen;

    return pds_store_rc(mdb_get(txn, s->db_oauth, &k, v));
}


static int
pds_oauth_del_raw(pds_store_t *s, MDB_txn *txn, const uint8_t *key,
    size_t klen)
{
    MDB_val  k;
    int      rc;

    k.mv_data = (void *) key;
    k.mv_size = klen;

    rc = pds_store_rc(mdb_del(txn, s->db_oauth, &k, NULL));
    return rc == PDS_NOTFOUND ? 0 : rc;
}


static int
pds_oauth_put_json(pds_store_t *s, MDB_txn *txn, const uint8_t *key,
    size_t klen, json_t *row)
{
    char  *t;
    int    rc;

    t = json_dumps(row, JSON_COMPACT);
    if (t == NULL) {
        return PDS_STORE_ERROR;
    }

    rc = pds_oauth_put_raw(s, txn, key, klen, t, strlen(t));
    free(t);

    return rc;
}


static int
pds_oauth_get_json(pds_store_t *s, MDB_txn *txn, const uint8_t *key,
    size_t klen, json_t **row)
{
    MDB_val  v;
    int      rc;

    *row = NULL;

    rc = pds_oauth_get_raw(s, txn, key, klen, &v);
    if (rc != 0) {
        return rc;
    }

    *row = json_loadb(v.mv_data, v.mv_size, 0, NULL);
    return *row ? 0 : PDS_STORE_ERROR;
}


/* 'x' + expiry + key: the expiry index */
static int
pds_oauth_expire_at(pds_store_t *s, MDB_txn *txn, const uint8_t *key,
    size_t klen, int64_t expires_ms)
{
    uint8_t  x[PDS_OAUTH_KEY_MAX + 9];

    if (klen + 9 > sizeof(x)) {
        return PDS_STORE_ERROR;
    }

    x[0] = 'x';
    pds_store_put_u64(x + 1, (uint64_t) expires_ms);
    memcpy(x + 9, key, klen);

    return pds_oauth_put_raw(s, txn, x, klen + 9, "", 0);
}


/* removes up to n expired entries and what they name */
static int
pds_oauth_sweep(pds_store_t *s, MDB_txn *txn, int64_t now_ms, int n)
{
    MDB_cursor  *c;
    MDB_val      k, v, ov;
    uint8_t      start[1] = { 'x' };
    const uint8_t *key;
    int          rc;

    rc = pds_store_rc(mdb_cursor_open(txn, s->db_oauth, &c));
    if (rc != 0) {
        return rc;
    }

    k.mv_data = start;
    k.mv_size = 1;
    rc = pds_store_rc(mdb_cursor_get(c, &k, &v, MDB_SET_RANGE));

    while (rc == 0 && n-- > 0) {
        key = k.mv_data;

        if (k.mv_size < 10 || key[0] != 'x'
            || (int64_t) pds_store_get_u64(key + 1) > now_ms)
        {
            break;
        }

        /* a one-time value may have been written again since */
        if (key[9] == 'o'
            && pds_oauth_get_raw(s, txn, key + 9, k.mv_size - 9, &ov) == 0
            && ov.mv_size == 8
            && pds_store_get_u64(ov.mv_data) != pds_store_get_u64(key + 1))
        {
            /* keep it */
        } else {
            rc = pds_oauth_del_raw(s, txn, key + 9, k.mv_size - 9);
            if (rc != 0) {
                break;
            }
        }

        rc = pds_store_rc(mdb_cursor_del(c, 0));
        if (rc != 0) {
            break;
        }

        rc = pds_store_rc(mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT));
        if (rc == PDS_NOTFOUND) {
            break;
        }
    }

    mdb_cursor_close(c);
    return rc < 0 ? rc : 0;
}


static int64_t
pds_oauth_row_int(json_t *row, const char *name)
{
    return (int64_t) json_integer_value(json_object_get(row, name));
}


static const char *
pds_oauth_row_str(json_t *row, const char *name)
{
    const char  *v = json_string_value(json_object_get(row, name));

    return v ? v : "";
}


/* ---- PAR ---------------------------------------------------------------- */

int
pds_oauth_par_put(pds_store_t *s, MDB_txn *txn, const char *req_id,
    json_t *row)
{
    uint8_t  key[PDS_OAUTH_KEY_MAX];
    size_t   klen;
    int      rc;

    if (pds_oauth_key('r', req_id, strlen(req_id), NULL, 0, key, &klen) != 0)
    {
        return PDS_STORE_ERROR;
    }

    rc = pds_oauth_sweep(s, txn, pds_oauth_row_int(row, "expires")
                                 - PDS_OAUTH_PAR_TTL_MS, PDS_OAUTH_SWEEP);
    if (rc == 0) {
        rc = pds_oauth_put_json(s, txn, key, klen, row);
    }
    if (rc == 0) {
        rc = pds_oauth_expire_at(s, txn, key, klen,
                                 pds_oauth_row_int(row, "expires"));
    }

    return rc;
}


int
pds_oauth_par_get(pds_store_t *s, MDB_txn *txn, const char *req_id,
    int64_t now_ms, json_t **row)
{
    uint8_t  key[PDS_OAUTH_KEY_MAX];
    size_t   klen;
    int      rc;

    *row = NULL;

    if (pds_oauth_key('r', req_id, strlen(req_id), NULL, 0, key, &klen) != 0)
    {
        return PDS_NOTFOUND;
    }

    rc = pds_oauth_get_json(s, txn, key, klen, row);
    if (rc == 0 && pds_oauth_row_int(*row, "expires") <= now_ms) {
        json_decref(*row);
        *row = NULL;
        return PDS_NOTFOUND;
    }

    return rc;
}


int
pds_oauth_par_del(pds_store_t *s, MDB_txn *txn, const char *req_id)
{
    uint8_t  key[PDS_OAUTH_KEY_MAX];
    size_t   klen;

    if (pds_oauth_key('r', req_id, strlen(req_id), NULL, 0, key, &klen) != 0)
    {
        return 0;
    }

    return pds_oauth_del_raw(s, txn, key, klen);
}


/* ---- codes -------------------------------------------------------------- */

int
pds_oauth_code_put(pds_store_t *s, MDB_txn *txn, const char *code,
    json_t *row)
{
    uint8_t  key[PDS_OAUTH_KEY_MAX];
    size_t   klen;
    int      rc;

    if (pds_oauth_key('c', code, strlen(code), NULL, 0, key, &klen) != 0) {
        return PDS_STORE_ERROR;
    }

    rc = pds_oauth_put_json(s, txn, key, klen, row);
    if (rc == 0) {
        rc = pds_oauth_expire_at(s, txn, key, klen,
                                 pds_oauth_row_int(row, "expires"));
    }

    return rc;
}


static int pds_oauth_session_revoke(pds_store_t *s, MDB_txn *txn,
    const char *ses);


int
pds_oauth_code_take(pds_store_t *s, MDB_txn *txn, const char *code,
    int64_t now_ms, json_t **row)
{
    uint8_t  key[PDS_OAUTH_KEY_MAX];
    size_t   klen;
    int      rc;
    json_t  *used;

    *row = NULL;

    if (pds_oauth_key('c', code, strlen(code), NULL, 0, key, &klen) != 0) {
        return PDS_NOTFOUND;
    }

    rc = pds_oauth_get_json(s, txn, key, klen, row);
    if (rc != 0) {
        return rc;
    }

    used = json_object_get(*row, "used");
    if (used != NULL) {
        /* replayed: what the first exchange issued dies */
        rc = pds_oauth_session_revoke(s, txn, json_string_value(used));
        json_decref(*row);
        *row = NULL;
        return rc != 0 ? rc : PDS_OAUTH_REPLAY;
    }

    if (pds_oauth_row_int(*row, "expires") <= now_ms) {
        json_decref(*row);
        *row = NULL;
        return PDS_NOTFOUND;
    }

    return 0;
}


int
pds_oauth_code_used(pds_store_t *s, MDB_txn *txn, const char *code,
    const char *ses)
{
    uint8_t  key[PDS_OAUTH_KEY_MAX];
    size_t   klen;
    json_t  *row;
    int      rc;

    if (pds_oauth_key('c', code, strlen(code), NULL, 0, key, &klen) != 0) {
        return PDS_STORE_ERROR;
    }

    rc = pds_oauth_get_json(s, txn, key, klen, &row);
    if (rc != 0) {
        return rc;
    }

    json_object_set_new(row, "used", json_string(ses));
    rc = pds_oauth_put_json(s, txn, key, klen, row);
    json_decref(row);

    return rc;
}


/* ---- token families ----------------------------------------------------- */

static int
pds_oauth_session_get(pds_store_t *s, MDB_txn *txn, const char *ses,
    json_t **row)
{
    uint8_t  key[PDS_OAUTH_KEY_MAX];
    size_t   klen;

    if (ses == NULL
        || pds_oauth_key('s', ses, strlen(ses), NULL, 0, key, &klen) != 0)
    {
        *row = NULL;
        return PDS_NOTFOUND;
    }

    return pds_oauth_get_json(s, txn, key, klen, row);
}


static int
pds_oauth_index(pds_store_t *s, MDB_txn *txn, char kind, const char *id,
    const char *ses, int del)
{
    uint8_t  key[PDS_OAUTH_KEY_MAX];
    size_t   klen;

    if (pds_oauth_key(kind, id, strlen(id), NULL, 0, key, &klen) != 0) {
        return PDS_STORE_ERROR;
    }

    return del ? pds_oauth_del_raw(s, txn, key, klen)
               : pds_oauth_put_raw(s, txn, key, klen, ses, strlen(ses));
}


static int
pds_oauth_session_revoke(pds_store_t *s, MDB_txn *txn, const char *ses)
{
    json_t       *row, *old, *v;
    const char   *sub;
    uint8_t       key[PDS_OAUTH_KEY_MAX];
    size_t        klen, i;
    int           rc;

    rc = pds_oauth_session_get(s, txn, ses, &row);
    if (rc != 0) {
        return rc == PDS_NOTFOUND ? 0 : rc;
    }

    rc = pds_oauth_index(s, txn, 't', pds_oauth_row_str(row, "id"), ses, 1);
    if (rc == 0) {
        rc = pds_oauth_index(s, txn, 'f', pds_oauth_row_str(row, "refresh"),
                             ses, 1);
    }

    old = json_object_get(row, "old");
    json_array_foreach(old, i, v) {
        if (rc == 0 && json_is_string(v)) {
            rc = pds_oauth_index(s, txn, 'f', json_string_value(v), ses, 1);
        }
    }

    sub = pds_oauth_row_str(row, "sub");
    if (rc == 0
        && pds_oauth_key('a', sub, strlen(sub), ses, strlen(ses), key, &klen)
           == 0)
    {
        rc = pds_oauth_del_raw(s, txn, key, klen);
    }

    if (rc == 0
        && pds_oauth_key('s', ses, strlen(ses), NULL, 0, key, &klen) == 0)
    {
        rc = pds_oauth_del_raw(s, txn, key, klen);
    }

    json_decref(row);
    return rc;
}


int
pds_oauth_token_put(pds_store_t *s, MDB_txn *txn, json_t *row)
{
    const char  *ses, *sub;
    uint8_t      key[PDS_OAUTH_KEY_MAX];
    size_t       klen;
    int          rc;

    ses = pds_oauth_row_str(row, "session");
    sub = pds_oauth_row_str(row, "sub");

    if (pds_oauth_key('s', ses, strlen(ses), NULL, 0, key, &klen) != 0) {
        return PDS_STORE_ERROR;
    }

    rc = pds_oauth_put_json(s, txn, key, klen, row);
    if (rc == 0) {
        rc = pds_oauth_index(s, txn, 't', pds_oauth_row_str(row, "id"), ses,
                             0);
    }
    if (rc == 0 && json_object_get(row, "refresh")) {
        rc = pds_oauth_index(s, txn, 'f', pds_oauth_row_str(row, "refresh"),
                             ses, 0);
    }
    if (rc == 0
        && pds_oauth_key('a', sub, strlen(sub), ses, strlen(ses), key, &klen)
           == 0)
    {
        rc = pds_oauth_put_raw(s, txn, key, klen, "", 0);
    }

    return rc;
}


static int
pds_oauth_lookup(pds_store_t *s, MDB_txn *txn, char kind, const char *id,
    char *ses, size_t cap)
{
    uint8_t  key[PDS_OAUTH_KEY_MAX];
    size_t   klen;
    MDB_val  v;
    int      rc;

    if (pds_oauth_key(kind, id, strlen(id), NULL, 0, key, &klen) != 0) {
        return PDS_NOTFOUND;
    }

    rc = pds_oauth_get_raw(s, txn, key, klen, &v);
    if (rc != 0) {
        return rc;
    }

    if (v.mv_size >= cap) {
        return PDS_STORE_ERROR;
    }

    memcpy(ses, v.mv_data, v.mv_size);
    ses[v.mv_size] = '\0';
    return 0;
}


int
pds_oauth_token_get(pds_store_t *s, MDB_txn *txn, const char *tok_id,
    json_t **row)
{
    char  ses[PDS_OAUTH_ID_MAX];
    int   rc;

    *row = NULL;

    rc = pds_oauth_lookup(s, txn, 't', tok_id, ses, sizeof(ses));
    if (rc != 0) {
        return rc;
    }

    return pds_oauth_session_get(s, txn, ses, row);
}


int
pds_oauth_token_refresh(pds_store_t *s, MDB_txn *txn, const char *ref,
    int64_t now_ms, json_t **row)
{
    char     ses[PDS_OAUTH_ID_MAX], tok[PDS_OAUTH_ID_MAX];
    char     nref[PDS_OAUTH_ID_MAX];
    json_t  *old;
    int      rc;

    *row = NULL;

    rc = pds_oauth_lookup(s, txn, 'f', ref, ses, sizeof(ses));
    if (rc != 0) {
        return rc;
    }

    rc = pds_oauth_session_get(s, txn, ses, row);
    if (rc != 0) {
        return rc;
    }

    if (strcmp(pds_oauth_row_str(*row, "refresh"), ref) != 0) {
        /* a rotated token: someone else has it */
        json_decref(*row);
        *row = NULL;
        rc = pds_oauth_session_revoke(s, txn, ses);
        return rc != 0 ? rc : PDS_OAUTH_REPLAY;
    }

    if (pds_oauth_row_int(*row, "expires") <= now_ms) {
        json_decref(*row);
        *row = NULL;
        rc = pds_oauth_session_revoke(s, txn, ses);
        return rc != 0 ? rc : PDS_NOTFOUND;
    }

    if (pds_oauth_random_id("tok-", 16, tok) != 0
        || pds_oauth_random_id("ref-", 32, nref) != 0)
    {
        goto fail;
    }

    rc = pds_oauth_index(s, txn, 't', pds_oauth_row_str(*row, "id"), ses, 1);
    if (rc != 0) {
        goto fail;
    }

    old = json_object_get(*row, "old");
    if (old == NULL) {
        old = json_array();
        json_object_set_new(*row, "old", old);
    }
    json_array_append_new(old, json_string(ref));

    /* the oldest rotated tokens are forgotten (then merely unknown) */
    while (json_array_size(old) > PDS_OAUTH_OLD_MAX) {
        rc = pds_oauth_index(s, txn, 'f',
                             json_string_value(json_array_get(old, 0)), ses,
                             1);
        if (rc != 0) {
            goto fail;
        }
        json_array_remove(old, 0);
    }

    json_object_set_new(*row, "id", json_string(tok));
    json_object_set_new(*row, "refresh", json_string(nref));
    json_object_set_new(*row, "updated", json_integer(now_ms));

    rc = pds_oauth_token_put(s, txn, *row);
    if (rc != 0) {
        goto fail;
    }

    return 0;

fail:

    json_decref(*row);
    *row = NULL;
    return rc < 0 ? rc : PDS_STORE_ERROR;
}


int
pds_oauth_token_revoke(pds_store_t *s, MDB_txn *txn, const char *token,
    const char *client_id)
{
    char         ses[PDS_OAUTH_ID_MAX];
    int          rc;
    json_t      *row;
    const char  *owner;

    rc = pds_oauth_lookup(s, txn, strncmp(token, "ref-", 4) == 0 ? 'f' : 't',
                          token, ses, sizeof(ses));
    if (rc != 0) {
        return rc;
    }

    if (client_id != NULL) {
        /* RFC 7009 2.1: only the client the token was issued to */
        rc = pds_oauth_session_get(s, txn, ses, &row);
        if (rc != 0) {
            return rc;
        }

        owner = json_string_value(json_object_get(row, "client_id"));
        rc = (owner != NULL && strcmp(owner, client_id) == 0)
             ? 0 : PDS_NOTFOUND;
        json_decref(row);

        if (rc != 0) {
            return rc;
        }
    }

    return pds_oauth_session_revoke(s, txn, ses);
}


int
pds_oauth_revoke_account(pds_store_t *s, MDB_txn *txn, const char *did,
    unsigned *count)
{
    MDB_cursor  *c;
    MDB_val      k, v;
    uint8_t      key[PDS_OAUTH_KEY_MAX];
    char         ses[PDS_OAUTH_ID_MAX];
    size_t       klen, n;
    int          rc;

    if (count) {
        *count = 0;
    }

    if (pds_oauth_key('a', did, strlen(did), "", 0, key, &klen) != 0) {
        return 0;
    }

    for ( ;; ) {
        rc = pds_store_rc(mdb_cursor_open(txn, s->db_oauth, &c));
        if (rc != 0) {
            return rc;
        }

        k.mv_data = key;
        k.mv_size = klen;
        rc = pds_store_rc(mdb_cursor_get(c, &k, &v, MDB_SET_RANGE));

        if (rc == 0
            && (k.mv_size <= klen || memcmp(k.mv_data, key, klen) != 0))
        {
            rc = PDS_NOTFOUND;
        }

        if (rc == 0) {
            n = k.mv_size - klen;
            if (n >= sizeof(ses)) {
                rc = PDS_STORE_ERROR;
            } else {
                memcpy(ses, (uint8_t *) k.mv_data + klen, n);
                ses[n] = '\0';
            }
        }

        mdb_cursor_close(c);

        if (rc != 0) {
            return rc == PDS_NOTFOUND ? 0 : rc;
        }

        rc = pds_oauth_session_revoke(s, txn, ses);
        if (rc != 0) {
            return rc;
        }

        /* a family without its row: its index entry goes anyway */
        rc = pds_oauth_key('a', did, strlen(did), ses, strlen(ses), key,
                           &klen);
        if (rc == 0) {
            rc = pds_oauth_del_raw(s, txn, key, klen);
        }
        pds_oauth_key('a', did, strlen(did), "", 0, key, &klen);
        if (rc != 0) {
            return rc;
        }

        if (count) {
            (*count)++;
        }
    }
}


/* ---- one-time values ---------------------------------------------------- */

int
pds_oauth_once(pds_store_t *s, MDB_txn *txn, char kind, const char *value,
    size_t len, int64_t expires_ms, int64_t now_ms)
{
    uint8_t  key[PDS_OAUTH_KEY_MAX], exp[8];
    char     k2[2] = { kind, 0 };
    size_t   klen;
    MDB_val  v;
    int      rc;

    if (pds_oauth_key('o', k2, 1, NULL, 0, key, &klen) != 0
        || klen + len > PDS_OAUTH_KEY_MAX - 9)
    {
        return PDS_STORE_ERROR;
    }

    memcpy(key + klen, value, len);
    klen += len;

    rc = pds_oauth_sweep(s, txn, now_ms, PDS_OAUTH_SWEEP);
    if (rc != 0) {
        return rc;
    }

    rc = pds_oauth_get_raw(s, txn, key, klen, &v);
    if (rc == 0 && v.mv_size == 8
        && (int64_t) pds_store_get_u64(v.mv_data) > now_ms)
    {
        return PDS_EXISTS;
    }
    if (rc < 0) {
        return rc;
    }

    pds_store_put_u64(exp, (uint64_t) expires_ms);
    rc = pds_oauth_put_raw(s, txn, key, klen, exp, 8);
    if (rc == 0) {
        rc = pds_oauth_expire_at(s, txn, key, klen, expires_ms);
    }

    return rc;
}
