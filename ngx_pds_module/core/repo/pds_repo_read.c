/*
 * ngx_pds_module core, the repository engine: reads: a record,
 * a collection's records in rkey order, a repo's collections, and what a
 * repo stores.
 */

#include <string.h>

#include "pds_repo_int.h"
#include "pds_syntax.h"


int
pds_repo_get_record(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    const char *collection, size_t clen, const char *rkey, size_t rlen,
    pds_cid_t *cid, const uint8_t **p, size_t *n)
{
    int      rc;
    uint8_t  k[PDS_RECORD_KEY_MAX];
    MDB_val  key, val;

    if (!pds_ident_valid(collection, clen, rkey, rlen)) {
        return PDS_NOTFOUND;
    }

    key.mv_data = k;
    key.mv_size = pds_record_key(k, uid, collection, clen, rkey, rlen);

    rc = mdb_get(txn, store->db_records, &key, &val);
    if (rc != 0) {
        return rc == MDB_NOTFOUND ? PDS_NOTFOUND : -1;
    }

    if (val.mv_size != PDS_RECORD_VAL_LEN
        || pds_cid_unpack(cid, val.mv_data) != 0)
    {
        return -1;
    }

    if (p == NULL) {
        return 0;
    }

    return pds_repo_get_block(store, txn, uid, cid, p, n) == 0 ? 0 : -1;
}


/*
 * Positions c on the first record of a listing: ascending rkeys after
 * cursor (NULL: from the first), or descending rkeys before it (NULL: from
 * the last).  k holds the collection's key prefix (plen bytes) and room for
 * the cursor.  Returns the LMDB result of the last move.
 */
static int
pds_list_start(MDB_cursor *c, uint8_t *k, size_t plen, const char *cursor,
    size_t cursor_len, int ascending, MDB_val *key, MDB_val *val)
{
    int  rc;

    key->mv_data = k;
    key->mv_size = plen;

    if (cursor) {
        memcpy(k + plen, cursor, cursor_len);
        key->mv_size = plen + cursor_len;
    }

    if (ascending) {
        rc = mdb_cursor_get(c, key, val, MDB_SET_RANGE);

        if (rc == 0 && cursor && key->mv_size == plen + cursor_len
            && memcmp(key->mv_data, k, plen) == 0
            && memcmp((uint8_t *) key->mv_data + plen, cursor, cursor_len)
               == 0)
        {
            rc = mdb_cursor_get(c, key, val, MDB_NEXT);
        }

        return rc;
    }

    if (cursor == NULL) {
        k[plen - 1] = 1;                /* just past the collection */
    }

    rc = mdb_cursor_get(c, key, val, MDB_SET_RANGE);

    if (rc == 0) {
        rc = mdb_cursor_get(c, key, val, MDB_PREV);

    } else if (rc == MDB_NOTFOUND) {
        rc = mdb_cursor_get(c, key, val, MDB_LAST);
    }

    k[plen - 1] = 0;

    return rc;
}


long
pds_repo_list_records(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    const char *collection, size_t clen, size_t limit, const char *cursor,
    size_t cursor_len, int reverse, pds_repo_record_cb cb, void *ctx)
{
    int             rc;
    long            count;
    size_t          plen, n;
    uint8_t         k[PDS_RECORD_KEY_MAX];
    MDB_val         key, val;
    pds_cid_t       cid;
    MDB_cursor     *c;
    const uint8_t  *p;
    MDB_cursor_op   step;

    if (clen == 0 || clen > 317 || !pds_nsid_valid(collection, clen)
        || (cursor && cursor_len > 512))
    {
        return 0;
    }

    if (cursor && cursor_len == 0) {
        cursor = NULL;
    }

    plen = pds_record_key(k, uid, collection, clen, "", 0);

    if (mdb_cursor_open(txn, store->db_records, &c) != 0) {
        return -1;
    }

    /* reverse: ascending rkeys (the reference's default is descending) */
    step = reverse ? MDB_NEXT : MDB_PREV;
    rc = pds_list_start(c, k, plen, cursor, cursor_len, reverse, &key, &val);

    count = 0;

    while (rc == 0 && (size_t) count < limit) {
        if (key.mv_size <= plen || memcmp(key.mv_data, k, plen) != 0) {
            break;
        }

        if (val.mv_size != PDS_RECORD_VAL_LEN
            || pds_cid_unpack(&cid, val.mv_data) != 0
            || pds_repo_get_block(store, txn, uid, &cid, &p, &n) != 0)
        {
            count = -1;
            break;
        }

        count++;

        if (cb(ctx, (const char *) key.mv_data + plen, key.mv_size - plen,
               &cid, p, n) != 0)
        {
            break;
        }

        rc = mdb_cursor_get(c, &key, &val, step);
    }

    if (rc != 0 && rc != MDB_NOTFOUND) {
        count = -1;
    }

    mdb_cursor_close(c);

    return count;
}


long
pds_repo_list_collections(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    pds_repo_name_cb cb, void *ctx)
{
    int             rc;
    long            count;
    size_t          len;
    uint8_t         k[PDS_RECORD_KEY_MAX];
    MDB_val         key, val;
    MDB_cursor     *c;
    const uint8_t  *p, *z;

    if (mdb_cursor_open(txn, store->db_records, &c) != 0) {
        return -1;
    }

    pds_store_put_u64(k, uid);
    key.mv_data = k;
    key.mv_size = PDS_UID_LEN;

    count = 0;
    rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);

    while (rc == 0) {
        p = key.mv_data;

        if (key.mv_size <= PDS_UID_LEN || memcmp(p, k, PDS_UID_LEN) != 0) {
            break;
        }

        z = memchr(p + PDS_UID_LEN, 0, key.mv_size - PDS_UID_LEN);
        if (z == NULL || z == p + PDS_UID_LEN) {
            count = -1;
            break;
        }

        len = (size_t) (z - p - PDS_UID_LEN);
        count++;

        if (cb(ctx, (const char *) p + PDS_UID_LEN, len) != 0) {
            break;
        }

        /* skip the rest of this collection */
        memcpy(k + PDS_UID_LEN, p + PDS_UID_LEN, len);
        k[PDS_UID_LEN + len] = 1;
        key.mv_data = k;
        key.mv_size = PDS_UID_LEN + len + 1;

        rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
    }

    if (rc != 0 && rc != MDB_NOTFOUND) {
        count = -1;
    }

    mdb_cursor_close(c);

    return count;
}


int
pds_repo_usage(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    uint64_t *blocks, uint64_t *records)
{
    int      rc;
    uint8_t  k[PDS_UID_LEN];

    /* both tables are keyed by uid first */
    pds_store_put_u64(k, uid);

    rc = pds_store_count_prefix(txn, store->db_blocks, k, sizeof(k), blocks);
    if (rc != 0) {
        return rc;
    }

    return pds_store_count_prefix(txn, store->db_records, k, sizeof(k),
                                  records);
}
