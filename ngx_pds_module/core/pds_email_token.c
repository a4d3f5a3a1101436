/*
 * ngx_pds_module core: mailed tokens (see pds_email_token.h).
 *
 * Two keys per token in db_email_tokens:
 *   'a' uid(8) purpose(1)      -> row { token, at (ms) }
 *   't' purpose(1) token(11)   -> uid(8)
 * the second finds the account of a password-reset token.
 */

#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "pds_email_token.h"
#include "pds_enc.h"
#include "pds_hash.h"
#include "pds_row.h"


#define PDS_TOKEN_AKEY_LEN  (1 + 8 + 1)
#define PDS_TOKEN_TKEY_LEN  (1 + 1 + PDS_EMAIL_TOKEN_LEN)


static void
pds_token_akey(uint8_t *k, uint64_t uid, pds_token_purpose_t purpose)
{
    k[0] = 'a';
    pds_store_put_u64(k + 1, uid);
    k[9] = (uint8_t) purpose;
}


/* the by-token key of token (any case): 0, or -1 when it cannot be one */
static int
pds_token_tkey(uint8_t *k, pds_token_purpose_t purpose, const char *token,
    size_t len)
{
    size_t  i;

    if (len != PDS_EMAIL_TOKEN_LEN) {
        return -1;
    }

    k[0] = 't';
    k[1] = (uint8_t) purpose;

    for (i = 0; i < len; i++) {
        k[2 + i] = (uint8_t) toupper((unsigned char) token[i]);
    }

    return 0;
}


/* removes both keys of (uid, purpose) */
static int
pds_token_remove(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    pds_token_purpose_t purpose)
{
    int           rc;
    uint8_t       akey[PDS_TOKEN_AKEY_LEN], tkey[PDS_TOKEN_TKEY_LEN];
    MDB_val       k;
    const char   *old;
    pds_cbor_t   *row;
    pds_arena_t  *arena;
    pds_alloc_t   a;

    pds_token_akey(akey, uid, purpose);

    arena = pds_arena_create();
    if (arena == NULL) {
        return ENOMEM;
    }

    a = pds_arena_allocator(arena);

    rc = pds_row_get(txn, s->db_email_tokens, akey, sizeof(akey), &a, &row);
    if (rc == PDS_NOTFOUND) {
        pds_arena_destroy(arena);
        return 0;
    }

    if (rc == 0) {
        old = pds_row_get_str(row, "token");
        if (old != NULL
            && pds_token_tkey(tkey, purpose, old, strlen(old)) == 0)
        {
            k.mv_data = tkey;
            k.mv_size = sizeof(tkey);
            rc = mdb_del(txn, s->db_email_tokens, &k, NULL);
            if (rc == MDB_NOTFOUND) {
                rc = 0;
            }
        }
    }

    pds_arena_destroy(arena);

    if (rc != 0) {
        return rc;
    }

    k.mv_data = akey;
    k.mv_size = sizeof(akey);
    rc = mdb_del(txn, s->db_email_tokens, &k, NULL);

    return rc == MDB_NOTFOUND ? 0 : rc;
}


int
pds_email_token_issue(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    pds_token_purpose_t purpose, int64_t now_ms,
    char out[PDS_EMAIL_TOKEN_LEN + 1])
{
    int        rc;
    size_t     i;
    uint8_t    rnd[8], akey[PDS_TOKEN_AKEY_LEN], tkey[PDS_TOKEN_TKEY_LEN];
    uint8_t    uidb[8];
    char       b32[pds_base32_len(8) + 1];
    MDB_val    k, v;
    pds_row_t  row;

    rc = pds_token_remove(s, txn, uid, purpose);
    if (rc != 0) {
        return rc;
    }

    if (pds_random(rnd, sizeof(rnd)) != 0) {
        return EIO;
    }

    /* as the reference: 8 random bytes in base32, ten characters, 5-5 */
    pds_base32_encode(b32, rnd, sizeof(rnd));

    for (i = 0; i < 5; i++) {
        out[i] = (char) toupper((unsigned char) b32[i]);
        out[6 + i] = (char) toupper((unsigned char) b32[5 + i]);
    }

    out[5] = '-';
    out[PDS_EMAIL_TOKEN_LEN] = '\0';

    pds_token_akey(akey, uid, purpose);

    memset(&row, 0, sizeof(row));
    pds_row_str(&row, "token", out);
    pds_row_int(&row, "at", now_ms);

    rc = pds_row_put(txn, s->db_email_tokens, akey, sizeof(akey), &row);
    if (rc != 0) {
        return rc;
    }

    (void) pds_token_tkey(tkey, purpose, out, PDS_EMAIL_TOKEN_LEN);
    pds_store_put_u64(uidb, uid);

    k.mv_data = tkey;
    k.mv_size = sizeof(tkey);
    v.mv_data = uidb;
    v.mv_size = sizeof(uidb);

    return mdb_put(txn, s->db_email_tokens, &k, &v, 0);
}


int
pds_email_token_check(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    pds_token_purpose_t purpose, const char *token, size_t len,
    int64_t now_ms)
{
    int           rc;
    size_t        i;
    int64_t       at;
    uint8_t       akey[PDS_TOKEN_AKEY_LEN];
    const char   *stored;
    pds_cbor_t   *row;
    pds_arena_t  *arena;
    pds_alloc_t   a;

    if (token == NULL || len != PDS_EMAIL_TOKEN_LEN) {
        return PDS_TOKEN_INVALID;
    }

    pds_token_akey(akey, uid, purpose);

    arena = pds_arena_create();
    if (arena == NULL) {
        return ENOMEM;
    }

    a = pds_arena_allocator(arena);

    rc = pds_row_get(txn, s->db_email_tokens, akey, sizeof(akey), &a, &row);
    if (rc != 0) {
        pds_arena_destroy(arena);
        return rc;     /* PDS_NOTFOUND is PDS_TOKEN_INVALID */
    }

    stored = pds_row_get_str(row, "token");
    at = pds_row_get_int(row, "at", 0);

    rc = 0;

    if (stored == NULL || strlen(stored) != len) {
        rc = PDS_TOKEN_INVALID;

    } else {
        for (i = 0; i < len; i++) {
            if (toupper((unsigned char) token[i]) != stored[i]) {
                rc = PDS_TOKEN_INVALID;
                break;
            }
        }
    }

    if (rc == 0 && now_ms - at >= PDS_EMAIL_TOKEN_TTL_MS) {
        rc = PDS_TOKEN_EXPIRED;
    }

    pds_arena_destroy(arena);

    return rc;
}


int
pds_email_token_find(pds_store_t *s, MDB_txn *txn,
    pds_token_purpose_t purpose, const char *token, size_t len,
    int64_t now_ms, uint64_t *uid)
{
    int       rc;
    uint8_t   tkey[PDS_TOKEN_TKEY_LEN];
    MDB_val   k, v;

    if (token == NULL || pds_token_tkey(tkey, purpose, token, len) != 0) {
        return PDS_TOKEN_INVALID;
    }

    k.mv_data = tkey;
    k.mv_size = sizeof(tkey);

    rc = mdb_get(txn, s->db_email_tokens, &k, &v);
    if (rc == MDB_NOTFOUND) {
        return PDS_TOKEN_INVALID;
    }

    if (rc != 0) {
        return rc;
    }

    if (v.mv_size != 8) {
        return MDB_CORRUPTED;
    }

    *uid = pds_store_get_u64(v.mv_data);

    return pds_email_token_check(s, txn, *uid, purpose, token, len, now_ms);
}


int
pds_email_token_delete(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    pds_token_purpose_t purpose)
{
    return pds_token_remove(s, txn, uid, purpose);
}


int
pds_email_token_delete_all(pds_store_t *s, MDB_txn *txn, uint64_t uid)
{
    int  rc, p;

    for (p = PDS_TOKEN_CONFIRM_EMAIL; p <= PDS_TOKEN_SIGN_IN; p++) {
        rc = pds_token_remove(s, txn, uid, (pds_token_purpose_t) p);
        if (rc != 0) {
            return rc;
        }
    }

    return 0;
}
