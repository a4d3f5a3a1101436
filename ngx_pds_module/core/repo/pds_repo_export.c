/*
 * ngx_pds_module core, the repository engine: CAR exports: a
 * whole repo (in one call or in resumable steps), the proof of one record,
 * a list of blocks.
 */

#include <string.h>

#include "pds_repo_int.h"


static int
pds_export_begin(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    pds_repo_root_t *root, pds_car_writer_t *w)
{
    int             rc;
    size_t          n;
    const uint8_t  *p;

    rc = pds_repo_get_root(store, txn, uid, root);
    if (rc != 0) {
        return rc;
    }

    if (pds_repo_get_block(store, txn, uid, &root->commit, &p, &n) != 0) {
        return -1;
    }

    if (pds_car_header(w, &root->commit, 1) != 0
        || pds_car_block(w, &root->commit, p, n) != 0)
    {
        return -1;
    }

    return 0;
}


int
pds_repo_export_start(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    uint64_t since, pds_car_writer_t *w, pds_repo_export_t *ex)
{
    int              rc;
    pds_repo_root_t  root;

    /* end() is safe whatever happens below */
    memset(ex, 0, sizeof(pds_repo_export_t));

    rc = pds_export_begin(store, txn, uid, &root, w);
    if (rc != 0) {
        return rc;
    }

    ex->commit = root.commit;
    ex->since = since;

    return pds_repo_block_iter_open(store, txn, uid, &ex->blocks) == 0
           ? 0 : -1;
}


int
pds_repo_export_step(pds_repo_export_t *ex, pds_car_writer_t *w,
    uint64_t budget)
{
    int             rc;
    size_t          n;
    uint64_t        rev, start;
    pds_cid_t       cid;
    const uint8_t  *p;

    start = w->total;

    while (w->total - start < budget) {
        rc = pds_repo_block_iter_next(&ex->blocks, &cid, &rev, &p, &n);
        if (rc != 0) {
            return rc == PDS_NOTFOUND ? PDS_NOTFOUND : -1;
        }

        /* the commit went first, as the root; since: newer blocks only */

        if (pds_cid_equal(&cid, &ex->commit)
            || (ex->since != 0 && rev <= ex->since))
        {
            continue;
        }

        if (pds_car_block(w, &cid, p, n) != 0) {
            return -1;
        }
    }

    return 0;
}


void
pds_repo_export_end(pds_repo_export_t *ex)
{
    pds_repo_block_iter_close(&ex->blocks);
}


int
pds_repo_export(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    const char *since, pds_car_writer_t *w)
{
    int                rc;
    uint64_t           since64;
    pds_repo_export_t  ex;

    since64 = 0;

    if (since && since[0]) {
        if (pds_tid_decode(since, strlen(since), &since64) != 0) {
            return -1;
        }
    }

    rc = pds_repo_export_start(store, txn, uid, since64, w, &ex);

    if (rc == 0) {
        rc = pds_repo_export_step(&ex, w, UINT64_MAX);
        rc = (rc == PDS_NOTFOUND) ? 0 : -1;
    }

    pds_repo_export_end(&ex);

    return rc;
}


int
pds_repo_export_proof(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    const char *collection, size_t clen, const char *rkey, size_t rlen,
    pds_car_writer_t *w)
{
    int                 rc;
    char                key[PDS_MST_KEY_MAX];
    size_t              klen, n;
    pds_mst_t          *mst;
    pds_cid_t           cid;
    pds_alloc_t         a;
    pds_arena_t        *arena;
    pds_src_ctx_t       src;
    const uint8_t      *p;
    pds_repo_root_t     root;
    pds_blocksource_t   bs;

    klen = clen + 1 + rlen;

    if (klen > PDS_MST_KEY_MAX) {
        return -1;
    }

    memcpy(key, collection, clen);
    key[clen] = '/';
    memcpy(key + clen + 1, rkey, rlen);

    if (!pds_mst_key_valid(key, klen)) {
        return -1;
    }

    rc = pds_export_begin(store, txn, uid, &root, w);
    if (rc != 0) {
        return rc;
    }

    arena = pds_arena_create();
    if (arena == NULL) {
        return -1;
    }

    a = pds_arena_allocator(arena);

    pds_src_init(&src, &bs, store, txn, uid, NULL);

    rc = -1;

    mst = pds_mst_load(&a, &bs, &root.data);
    if (mst == NULL) {
        goto done;
    }

    if (pds_mst_proof(mst, key, klen, pds_car_block, w) != 0) {
        goto done;
    }

    rc = pds_mst_get(mst, key, klen, &cid);

    if (rc == 0) {
        if (pds_repo_get_block(store, txn, uid, &cid, &p, &n) != 0
            || pds_car_block(w, &cid, p, n) != 0)
        {
            rc = -1;
            goto done;
        }

    } else if (rc == 1) {
        rc = 0;
    }

done:

    pds_arena_destroy(arena);
    return rc;
}


int
pds_repo_export_blocks(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    const pds_cid_t *cids, size_t n, pds_car_writer_t *w, size_t *missing)
{
    int             rc;
    size_t          i, bn;
    const uint8_t  *p;

    *missing = 0;

    if (pds_car_header(w, NULL, 0) != 0) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        rc = pds_repo_get_block(store, txn, uid, &cids[i], &p, &bn);

        if (rc == PDS_NOTFOUND) {
            (*missing)++;
            continue;
        }

        if (rc != 0 || pds_car_block(w, &cids[i], p, bn) != 0) {
            return -1;
        }
    }

    return 0;
}
