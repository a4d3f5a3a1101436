/*
 * ngx_pds_module core, the repository engine: blocks.
 *
 * Block reads (the MST's block source, which sees a batch's cached changes
 * first), reference counts outside write batches, and one repo's blocks in
 * key order.
 */

#include <stdlib.h>
#include <string.h>

#include "pds_repo_int.h"


int
pds_src_get(void *ctx, const pds_cid_t *cid, const uint8_t **p, size_t *n)
{
    int              rc;
    uint8_t          k[PDS_BLOCK_KEY_LEN];
    MDB_val          key, val;
    pds_src_ctx_t   *src = ctx;
    pds_bc_entry_t  *e;

    if (src->bc) {
        e = *pds_bcache_slot(src->bc, src->uid, cid);

        if (e && e->refs == 0) {
            return PDS_NOTFOUND;
        }

        if (e && e->p) {
            *p = e->p;
            *n = e->n;
            return 0;
        }
    }

    pds_block_key(k, src->uid, cid);
    key.mv_data = k;
    key.mv_size = sizeof(k);

    rc = mdb_get(src->txn, src->store->db_blocks, &key, &val);
    if (rc == MDB_NOTFOUND) {
        return PDS_NOTFOUND;
    }

    if (rc != 0 || val.mv_size < PDS_BLOCK_HDR_LEN) {
        return -1;
    }

    *p = (const uint8_t *) val.mv_data + PDS_BLOCK_HDR_LEN;
    *n = val.mv_size - PDS_BLOCK_HDR_LEN;

    return 0;
}


void
pds_src_init(pds_src_ctx_t *src, pds_blocksource_t *bs, pds_store_t *store,
    MDB_txn *txn, uint64_t uid, pds_bcache_t *bc)
{
    src->store = store;
    src->txn = txn;
    src->uid = uid;
    src->bc = bc;

    bs->get = pds_src_get;
    bs->ctx = src;
}


int
pds_repo_get_block(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    const pds_cid_t *cid, const uint8_t **p, size_t *n)
{
    pds_src_ctx_t  src;

    src.store = store;
    src.txn = txn;
    src.uid = uid;
    src.bc = NULL;

    return pds_src_get(&src, cid, p, n);
}


/* adds a reference to a block, writing it (with rev) when new */
int
pds_block_ref(pds_store_t *store, MDB_txn *txn, pds_bcache_t *bc,
    uint64_t uid, const pds_cid_t *cid, const uint8_t *p, size_t n,
    uint64_t rev)
{
    int              rc;
    uint8_t         *c;
    pds_bc_entry_t  *e;

    if (bc) {
        rc = 0;
        e = pds_bcache_get(bc, store, txn, uid, cid, &rc);
        if (e == NULL || (rc = pds_bcache_journal(bc, e)) != 0) {
            return rc ? rc : PDS_REPO_ESTORE;
        }

        if (e->base_refs == 0 && e->p == NULL) {
            c = pds_alloc(&bc->a, n ? n : 1);
            if (c == NULL) {
                return PDS_REPO_ENOMEM;
            }

            memcpy(c, p, n);
            e->p = c;
            e->n = n;
        }

        e->refs++;
        e->rev = rev;

        return 0;
    }

    return pds_block_ref_n(store, txn, uid, cid, p, n, rev, 1);
}


/* adds add references to a block in txn (no cache), creating it */
int
pds_block_ref_n(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    const pds_cid_t *cid, const uint8_t *p, size_t n, uint64_t rev,
    uint32_t add)
{
    int              rc;
    uint8_t          k[PDS_BLOCK_KEY_LEN];
    uint8_t          hdr[PDS_BLOCK_HDR_LEN];
    uint32_t         refs;
    MDB_val          key, val;

    pds_block_key(k, uid, cid);
    key.mv_data = k;
    key.mv_size = sizeof(k);

    rc = mdb_get(txn, store->db_blocks, &key, &val);

    if (rc == 0 && val.mv_size >= PDS_BLOCK_HDR_LEN) {
        refs = pds_get_u32((uint8_t *) val.mv_data + PDS_BLOCK_REFS_AT);
        if (refs > UINT32_MAX - add) {
            return PDS_REPO_ESTORE;
        }
        refs += add;

    } else if (rc == MDB_NOTFOUND) {
        refs = add;

    } else {
        return PDS_REPO_ESTORE;
    }

    /*
     * The rev is that of the newest reference, so that a `since` export
     * also carries a block that an older state had only under another key.
     */
    pds_store_put_u64(hdr, rev);
    pds_put_u32(hdr + PDS_BLOCK_REFS_AT, refs);

    val.mv_data = NULL;
    val.mv_size = PDS_BLOCK_HDR_LEN + n;

    rc = mdb_put(txn, store->db_blocks, &key, &val, MDB_RESERVE);
    if (rc != 0) {
        return pds_repo_mdb(rc);
    }

    memcpy(val.mv_data, hdr, PDS_BLOCK_HDR_LEN);
    memcpy((uint8_t *) val.mv_data + PDS_BLOCK_HDR_LEN, p, n);

    return 0;
}


/* drops a reference to a block, deleting it at zero; a missing block is ok */
int
pds_block_unref(pds_store_t *store, MDB_txn *txn, pds_bcache_t *bc,
    uint64_t uid, const pds_cid_t *cid)
{
    int              rc;
    uint8_t          k[PDS_BLOCK_KEY_LEN];
    uint8_t         *copy;
    uint32_t         refs;
    MDB_val          key, val;
    pds_bc_entry_t  *e;

    if (bc) {
        rc = 0;
        e = pds_bcache_get(bc, store, txn, uid, cid, &rc);
        if (e == NULL) {
            return rc ? rc : PDS_REPO_ESTORE;
        }

        if (e->refs == 0) {
            return 0;
        }

        rc = pds_bcache_journal(bc, e);
        if (rc != 0) {
            return rc;
        }

        e->refs--;

        return 0;
    }

    pds_block_key(k, uid, cid);
    key.mv_data = k;
    key.mv_size = sizeof(k);

    rc = mdb_get(txn, store->db_blocks, &key, &val);
    if (rc == MDB_NOTFOUND) {
        return 0;
    }

    if (rc != 0 || val.mv_size < PDS_BLOCK_HDR_LEN) {
        return PDS_REPO_ESTORE;
    }

    refs = pds_get_u32((uint8_t *) val.mv_data + PDS_BLOCK_REFS_AT);

    if (refs <= 1) {
        rc = mdb_del(txn, store->db_blocks, &key, NULL);
        return rc == 0 ? 0 : pds_repo_mdb(rc);
    }

    /* still shared (identical records): rewrite with the count lowered */
    copy = malloc(val.mv_size);
    if (copy == NULL) {
        return PDS_REPO_ENOMEM;
    }

    memcpy(copy, val.mv_data, val.mv_size);
    pds_put_u32(copy + PDS_BLOCK_REFS_AT, refs - 1);
    val.mv_data = copy;

    rc = mdb_put(txn, store->db_blocks, &key, &val, 0);
    free(copy);

    return rc == 0 ? 0 : pds_repo_mdb(rc);
}


int
pds_repo_block_iter_open(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    pds_repo_block_iter_t *it)
{
    /* block keys begin with the uid */
    return pds_store_iter_open_id(txn, store->db_blocks, uid, 1, &it->it);
}


int
pds_block_row(const MDB_val *key, const MDB_val *val, pds_cid_t *cid,
    uint64_t *rev, uint32_t *refs, const uint8_t **p, size_t *n)
{
    const uint8_t  *v = val->mv_data;

    if (key->mv_size != PDS_BLOCK_KEY_LEN
        || val->mv_size < PDS_BLOCK_HDR_LEN
        || pds_cid_unpack(cid, (uint8_t *) key->mv_data + PDS_UID_LEN) != 0)
    {
        return -1;
    }

    *rev = pds_store_get_u64(v);
    *refs = pds_get_u32(v + PDS_BLOCK_REFS_AT);
    *p = v + PDS_BLOCK_HDR_LEN;
    *n = val->mv_size - PDS_BLOCK_HDR_LEN;

    return 0;
}


int
pds_repo_block_iter_next(pds_repo_block_iter_t *it, pds_cid_t *cid,
    uint64_t *rev, const uint8_t **p, size_t *n)
{
    int       rc;
    MDB_val   key, val;
    uint32_t  refs;

    rc = pds_store_iter_next(&it->it, &key, &val);
    if (rc != 0) {
        return rc;
    }

    if (pds_block_row(&key, &val, cid, rev, &refs, p, n) != 0) {
        return PDS_STORE_ERROR;
    }

    return 0;
}


void
pds_repo_block_iter_close(pds_repo_block_iter_t *it)
{
    pds_store_iter_close(&it->it);
}
