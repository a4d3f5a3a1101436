/*
 * ngx_pds_module core: the repository engine (see pds_repo.h and
 * docs/STORAGE.md for the layout): the writes.
 *
 * A write request runs in two phases inside its nested transaction:
 * first everything that reads (repo root, MST loads, proofs) and builds
 * the commit and its event blocks, while block pointers may point straight
 * into LMDB pages; then only writes.  No pointer into LMDB is used after
 * the first write of a request, since a write may move dirty pages.
 */

#include <stdio.h>
#include <string.h>

#include "pds_repo_int.h"
#include "pds_cbor.h"
#include "pds_syntax.h"


static int
pds_repo_apply(pds_store_t *store, MDB_txn *txn, pds_bcache_t *bc,
    pds_repo_write_t *req, const pds_alloc_t *a)
{
    int                 rc, noop;
    char               *key, *did;
    size_t              i, j, klen, did_len;
    uint8_t             rk[PDS_RECORD_KEY_MAX], rv[PDS_RECORD_VAL_LEN];
    uint64_t            rev64;
    MDB_val             mkey, mval;
    pds_cid_t           cur;
    pds_mst_t          *mst;
    pds_buf_t           cblock, car, frame;
    pds_bset_t          nodes, relevant;
    pds_collect_t       col;
    pds_src_ctx_t       src;
    pds_mst_diff_t      diff;
    pds_repo_op_t      *op;
    pds_repo_root_t     root;
    pds_blocksource_t   bs;
    pds_bset_slot_t    *slot;

    req->failed_op = 0;

    if (req->nops > PDS_REPO_MAX_OPS || (req->nops && req->ops == NULL)
        || req->key == NULL)
    {
        snprintf(req->error, sizeof(req->error),
                 "Too many writes. Max: %d", PDS_REPO_MAX_OPS);
        return PDS_REPO_EINVAL;
    }

    rc = pds_repo_get_root(store, txn, req->uid, &root);
    if (rc != 0) {
        return rc == PDS_NOTFOUND ? PDS_REPO_ENOREPO : PDS_REPO_ESTORE;
    }

    did_len = root.did_len;
    did = pds_strndup(a, root.did, root.did_len);
    if (did == NULL) {
        return PDS_REPO_ENOMEM;
    }

    req->prev_commit = root.commit;
    memcpy(req->since, root.rev, PDS_TID_BUF);

    if (req->swap_commit && !pds_cid_equal(req->swap_commit, &root.commit)) {
        snprintf(req->error, sizeof(req->error), "Commit was at another CID");
        return PDS_REPO_ESWAP;
    }

    src.store = store;
    src.txn = txn;
    src.uid = req->uid;
    src.bc = bc;
    bs.get = pds_src_get;
    bs.ctx = &src;

    mst = pds_mst_load(a, &bs, &root.data);
    if (mst == NULL) {
        return PDS_REPO_ENOMEM;
    }

    /* phase 1: ops on the tree */

    noop = 1;

    for (i = 0; i < req->nops; i++) {
        op = &req->ops[i];
        req->failed_op = i;

        op->done_action = PDS_REPO_NOOP;
        op->unchanged = 0;
        op->has_prev = 0;

        if (!pds_ident_valid(op->collection, op->collection_len, op->rkey,
                             op->rkey_len))
        {
            snprintf(req->error, sizeof(req->error),
                     "Invalid collection or rkey");
            return PDS_REPO_EINVAL;
        }

        klen = op->collection_len + 1 + op->rkey_len;
        key = pds_alloc(a, klen);
        if (key == NULL) {
            return PDS_REPO_ENOMEM;
        }

        memcpy(key, op->collection, op->collection_len);
        key[op->collection_len] = '/';
        memcpy(key + op->collection_len + 1, op->rkey, op->rkey_len);

        if (!pds_mst_key_valid(key, klen)) {
            snprintf(req->error, sizeof(req->error), "Invalid record key");
            return PDS_REPO_EINVAL;
        }

        /*
         * One op per path: the firehose's ops must invert one by one, and
         * the reference cannot express two changes of a record either.
         */
        for (j = 0; j < i; j++) {
            if (req->ops[j].collection_len == op->collection_len
                && req->ops[j].rkey_len == op->rkey_len
                && memcmp(req->ops[j].rkey, op->rkey, op->rkey_len) == 0
                && memcmp(req->ops[j].collection, op->collection,
                          op->collection_len) == 0)
            {
                snprintf(req->error, sizeof(req->error),
                         "Duplicate write to one record");
                return PDS_REPO_EINVAL;
            }
        }

        rc = pds_mst_get(mst, key, klen, &cur);
        if (rc < 0) {
            return PDS_REPO_EMST;
        }

        if (rc == 0) {
            op->has_prev = 1;
            op->prev = cur;
        }

        if (op->action != PDS_REPO_DELETE) {
            if (op->action != PDS_REPO_CREATE && op->action != PDS_REPO_UPDATE
                && op->action != PDS_REPO_PUT)
            {
                snprintf(req->error, sizeof(req->error), "Invalid action");
                return PDS_REPO_EINVAL;
            }

            if (op->record == NULL || op->record_len == 0
                || op->record_len > PDS_REPO_MAX_RECORD
                || (op->record[0] & 0xe0) != 0xa0
                || pds_cbor_validate(op->record, op->record_len, NULL) != 0)
            {
                snprintf(req->error, sizeof(req->error),
                         "Record is not a DAG-CBOR map");
                return PDS_REPO_EINVAL;
            }

            pds_cid_of_cbor(&op->cid, op->record, op->record_len);
        }

        /* swapRecord, with the reference's semantics */
        if (op->swap != PDS_REPO_SWAP_NONE) {
            if ((op->action == PDS_REPO_CREATE
                 && op->swap != PDS_REPO_SWAP_ABSENT)
                || ((op->action == PDS_REPO_UPDATE
                     || op->action == PDS_REPO_DELETE)
                    && op->swap == PDS_REPO_SWAP_ABSENT)
                || (op->has_prev
                    && (op->swap != PDS_REPO_SWAP_CID
                        || !pds_cid_equal(&op->swap_cid, &op->prev)))
                || (!op->has_prev && op->swap == PDS_REPO_SWAP_CID))
            {
                snprintf(req->error, sizeof(req->error),
                         "Record was at %s", op->has_prev ? "another CID"
                                                          : "null");
                return PDS_REPO_ESWAP;
            }
        }

        switch (op->action) {

        case PDS_REPO_PUT:
        case PDS_REPO_CREATE:
        case PDS_REPO_UPDATE:
            if (op->action == PDS_REPO_CREATE && op->has_prev) {
                snprintf(req->error, sizeof(req->error),
                         "Record already exists");
                return PDS_REPO_EEXISTS;
            }

            if (op->action == PDS_REPO_UPDATE && !op->has_prev) {
                snprintf(req->error, sizeof(req->error),
                         "Could not find record");
                return PDS_REPO_ENOTFOUND;
            }

            op->done_action = op->has_prev ? PDS_REPO_UPDATE
                                           : PDS_REPO_CREATE;

            if (op->has_prev && pds_cid_equal(&op->prev, &op->cid)) {
                op->unchanged = 1;
                break;
            }

            noop = 0;

            if (pds_mst_put(mst, key, klen, &op->cid) != 0) {
                return PDS_REPO_EMST;
            }

            break;

        default: /* PDS_REPO_DELETE */
            if (!op->has_prev) {
                if (op->flags & PDS_REPO_OP_IF_EXISTS) {
                    break;
                }

                snprintf(req->error, sizeof(req->error),
                         "Could not find record");
                return PDS_REPO_ENOTFOUND;
            }

            op->done_action = PDS_REPO_DELETE;
            noop = 0;

            if (pds_mst_delete(mst, key, klen) != 0) {
                return PDS_REPO_EMST;
            }

            break;
        }
    }

    req->failed_op = 0;

    if (noop && (req->flags & PDS_REPO_SKIP_NOOP)) {
        req->commit = root.commit;
        req->data = root.data;
        memcpy(req->rev, root.rev, PDS_TID_BUF);
        req->seq = 0;
        return PDS_REPO_UNCHANGED;
    }

    /* phase 2: the new tree, proofs, the commit, the event */

    if (pds_bset_init(&nodes, a, 64) != 0
        || pds_bset_init(&relevant, a, 256) != 0)
    {
        return PDS_REPO_ENOMEM;
    }

    col.set = &nodes;
    col.copy = 1;
    col.error = 0;

    memset(&diff, 0, sizeof(diff));

    if (pds_mst_commit(mst, &req->data, pds_collect_cb, &col, &diff) != 0) {
        return col.error ? col.error : PDS_REPO_EMST;
    }

    col.set = &relevant;

    for (i = 0; i < req->nops; i++) {
        op = &req->ops[i];

        if (op->done_action == PDS_REPO_NOOP) {
            continue;
        }

        klen = op->collection_len + 1 + op->rkey_len;
        key = pds_alloc(a, klen);
        if (key == NULL) {
            return PDS_REPO_ENOMEM;
        }

        memcpy(key, op->collection, op->collection_len);
        key[op->collection_len] = '/';
        memcpy(key + op->collection_len + 1, op->rkey, op->rkey_len);

        if (pds_mst_proof(mst, key, klen, pds_collect_cb, &col) != 0) {
            return col.error ? col.error : PDS_REPO_EMST;
        }

        if (op->done_action != PDS_REPO_DELETE
            && pds_bset_add(&relevant, &op->cid, op->record, op->record_len,
                            0) < 0)
        {
            return PDS_REPO_ENOMEM;
        }
    }

    for (i = 0; i < nodes.len; i++) {
        slot = pds_bset_find(&nodes, &nodes.order[i]);

        if (pds_bset_add(&relevant, &slot->cid, slot->p, slot->n, 0) < 0) {
            return PDS_REPO_ENOMEM;
        }
    }

    if (relevant.bytes > PDS_REPO_MAX_EVENT_BLOCKS) {
        snprintf(req->error, sizeof(req->error),
                 "Too many writes. Max event size: 2MB");
        return PDS_REPO_ETOOBIG;
    }

    if (pds_store_next_rev(store, root.rev, req->rev) != 0) {
        return PDS_REPO_ECRYPTO;
    }

    rev64 = pds_rev_u64(req->rev);

    rc = pds_commit_sign(a, req->key, did, did_len, req->rev, &req->data,
                         &cblock, &req->commit);
    if (rc != 0) {
        return rc;
    }

    if (pds_event_car(a, &req->commit, &cblock, &relevant, &car) != 0) {
        return PDS_REPO_ENOMEM;
    }

    /* phase 3: writes only; no LMDB pointer from above is used */

    rc = pds_block_unref(store, txn, bc, req->uid, &root.commit);
    if (rc != 0) {
        return rc;
    }

    for (i = 0; i < diff.nremoved; i++) {
        rc = pds_block_unref(store, txn, bc, req->uid, &diff.removed[i]);
        if (rc != 0) {
            return rc;
        }
    }

    for (i = 0; i < req->nops; i++) {
        op = &req->ops[i];

        if (op->done_action == PDS_REPO_NOOP || op->unchanged) {
            continue;
        }

        if (op->has_prev) {
            rc = pds_block_unref(store, txn, bc, req->uid, &op->prev);
            if (rc != 0) {
                return rc;
            }
        }

        klen = pds_record_key(rk, req->uid, op->collection,
                              op->collection_len, op->rkey, op->rkey_len);
        mkey.mv_data = rk;
        mkey.mv_size = klen;

        if (op->done_action == PDS_REPO_DELETE) {
            rc = mdb_del(txn, store->db_records, &mkey, NULL);
            if (rc != 0 && rc != MDB_NOTFOUND) {
                return pds_repo_mdb(rc);
            }

            continue;
        }

        rc = pds_block_ref(store, txn, bc, req->uid, &op->cid, op->record,
                           op->record_len, rev64);
        if (rc != 0) {
            return rc;
        }

        pds_cid_pack(rv, &op->cid);
        pds_store_put_u64(rv + PDS_CID_PACK_LEN, rev64);
        mval.mv_data = rv;
        mval.mv_size = sizeof(rv);

        rc = mdb_put(txn, store->db_records, &mkey, &mval, 0);
        if (rc != 0) {
            return pds_repo_mdb(rc);
        }
    }

    for (i = 0; i < nodes.len; i++) {
        slot = pds_bset_find(&nodes, &nodes.order[i]);

        rc = pds_block_ref(store, txn, bc, req->uid, &slot->cid, slot->p,
                           slot->n, rev64);
        if (rc != 0) {
            return rc;
        }
    }

    rc = pds_block_ref(store, txn, bc, req->uid, &req->commit, cblock.data,
                       cblock.len, rev64);
    if (rc != 0) {
        return rc;
    }

    rc = pds_repo_put_root(store, txn, req->uid, &req->commit, &req->data,
                           req->rev, did, did_len);
    if (rc != 0) {
        return rc;
    }

    rc = pds_event_seq(store, txn, &req->seq);
    if (rc != 0) {
        return rc;
    }

    pds_buf_init(&frame, a);

    if (pds_event_commit(&frame, req->seq, did, did_len, &req->commit,
                         req->rev, req->since, &car, req->ops, req->nops,
                         &root.data) != 0)
    {
        return PDS_REPO_ENOMEM;
    }

    return pds_event_put(store, txn, req->seq, &frame);
}


/* the transaction failed: so did every request that had succeeded */
static void
pds_repo_batch_fail(pds_repo_write_t *reqs, size_t n, int rc)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (reqs[i].status >= 0) {
            reqs[i].status = rc;
            reqs[i].seq = 0;
            snprintf(reqs[i].error, sizeof(reqs[i].error), "%s",
                     pds_repo_strerror(rc));
        }
    }
}


int
pds_repo_write_batch_txn(pds_store_t *store, MDB_txn *parent,
    pds_repo_write_t *reqs, size_t n)
{
    int            rc;
    size_t         i;
    MDB_txn       *txn;
    pds_alloc_t    a, ba;
    pds_arena_t   *arena, *batch;
    pds_bcache_t   bc;

    for (i = 0; i < n; i++) {
        reqs[i].status = 0;
    }

    batch = pds_arena_create();
    if (batch == NULL) {
        rc = PDS_REPO_ENOMEM;
        goto failed;
    }

    ba = pds_arena_allocator(batch);

    if (pds_bcache_init(&bc, &ba) != 0) {
        pds_arena_destroy(batch);
        rc = PDS_REPO_ENOMEM;
        goto failed;
    }

    for (i = 0; i < n; i++) {
        reqs[i].error[0] = '\0';
        reqs[i].seq = 0;

        arena = pds_arena_create();
        if (arena == NULL) {
            reqs[i].status = PDS_REPO_ENOMEM;
            continue;
        }

        a = pds_arena_allocator(arena);

        rc = mdb_txn_begin(store->env, parent, 0, &txn);
        if (rc != 0) {
            pds_arena_destroy(arena);
            reqs[i].status = pds_repo_mdb(rc);
            continue;
        }

        pds_bcache_request(&bc, i);

        rc = pds_repo_apply(store, txn, &bc, &reqs[i], &a);

        if (rc == PDS_REPO_OK && reqs[i].hook) {
            rc = reqs[i].hook(store, txn, &reqs[i], reqs[i].hook_data);
        }

        if (rc == PDS_REPO_OK) {
            rc = mdb_txn_commit(txn);
            rc = rc == 0 ? PDS_REPO_OK : pds_repo_mdb(rc);

        } else {
            mdb_txn_abort(txn);
        }

        if (rc < 0) {
            pds_bcache_undo(&bc);

            if (reqs[i].error[0] == '\0') {
                snprintf(reqs[i].error, sizeof(reqs[i].error), "%s",
                         pds_repo_strerror(rc));
            }
        }

        reqs[i].status = rc;
        pds_arena_destroy(arena);
    }

    rc = pds_bcache_flush(&bc, store, parent);
    pds_arena_destroy(batch);

    if (rc == 0) {
        return 0;
    }

failed:

    pds_repo_batch_fail(reqs, n, rc);

    return rc;
}


int
pds_repo_write_batch(pds_store_t *store, pds_repo_write_t *reqs, size_t n)
{
    int       rc;
    MDB_txn  *txn;

    rc = mdb_txn_begin(store->env, NULL, 0, &txn);
    if (rc != 0) {
        rc = pds_repo_mdb(rc);
        goto failed;
    }

    rc = pds_repo_write_batch_txn(store, txn, reqs, n);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc;
    }

    rc = mdb_txn_commit(txn);
    if (rc == 0) {
        return 0;
    }

    rc = pds_repo_mdb(rc);

failed:

    pds_repo_batch_fail(reqs, n, rc);

    return rc;
}


int
pds_repo_create(pds_store_t *store, MDB_txn *txn, const char *did,
    size_t did_len, const pds_key_t *key, uint64_t *uidp,
    pds_repo_write_t *res)
{
    int                 rc;
    size_t              i;
    uint64_t            uid, rev64;
    pds_mst_t          *mst;
    pds_buf_t           cblock, car, frame;
    pds_bset_t          nodes;
    pds_alloc_t         a;
    pds_arena_t        *arena;
    pds_collect_t       col;
    pds_mst_diff_t      diff;
    pds_bset_slot_t    *slot;
    pds_blocksource_t   bs;
    pds_src_ctx_t       src;

    static const uint8_t  empty_node[] = {
        0xa2, 0x61, 'e', 0x80, 0x61, 'l', 0xf6
    };

    memset(res, 0, sizeof(pds_repo_write_t));

    if (!pds_did_valid(did, did_len)) {
        return PDS_REPO_EINVAL;
    }

    rc = pds_store_uid_alloc(store, txn, did, did_len, &uid);
    if (rc == PDS_EXISTS) {
        return PDS_REPO_EEXISTS;
    }

    if (rc != 0) {
        return rc == PDS_STORE_MAPFULL ? PDS_REPO_EMAPFULL : PDS_REPO_ESTORE;
    }

    arena = pds_arena_create();
    if (arena == NULL) {
        return PDS_REPO_ENOMEM;
    }

    a = pds_arena_allocator(arena);

    src.store = store;
    src.txn = txn;
    src.uid = uid;
    src.bc = NULL;
    bs.get = pds_src_get;
    bs.ctx = &src;

    rc = PDS_REPO_ENOMEM;

    mst = pds_mst_load(&a, &bs, NULL);
    if (mst == NULL || pds_bset_init(&nodes, &a, 8) != 0) {
        goto done;
    }

    col.set = &nodes;
    col.copy = 1;
    col.error = 0;
    memset(&diff, 0, sizeof(diff));

    if (pds_mst_commit(mst, &res->data, pds_collect_cb, &col, &diff) != 0) {
        rc = PDS_REPO_EMST;
        goto done;
    }

    /* the empty root node, in case the tree did not report it as new */
    pds_cid_of_cbor(&res->commit, empty_node, sizeof(empty_node));

    if (pds_cid_equal(&res->commit, &res->data)
        && pds_bset_add(&nodes, &res->data, empty_node, sizeof(empty_node),
                        0) < 0)
    {
        goto done;
    }

    res->uid = uid;
    res->key = key;

    if (pds_store_next_rev(store, NULL, res->rev) != 0) {
        rc = PDS_REPO_ECRYPTO;
        goto done;
    }

    rev64 = pds_rev_u64(res->rev);

    rc = pds_commit_sign(&a, key, did, did_len, res->rev, &res->data,
                         &cblock, &res->commit);
    if (rc != 0) {
        goto done;
    }

    rc = PDS_REPO_ENOMEM;

    if (pds_event_car(&a, &res->commit, &cblock, &nodes, &car) != 0) {
        goto done;
    }

    for (i = 0; i < nodes.len; i++) {
        slot = pds_bset_find(&nodes, &nodes.order[i]);

        rc = pds_block_ref(store, txn, NULL, uid, &slot->cid, slot->p, slot->n,
                           rev64);
        if (rc != 0) {
            goto done;
        }
    }

    rc = pds_block_ref(store, txn, NULL, uid, &res->commit, cblock.data,
                       cblock.len, rev64);
    if (rc != 0) {
        goto done;
    }

    rc = pds_repo_put_root(store, txn, uid, &res->commit, &res->data,
                           res->rev, did, did_len);
    if (rc != 0) {
        goto done;
    }

    rc = pds_event_seq(store, txn, &res->seq);
    if (rc != 0) {
        goto done;
    }

    pds_buf_init(&frame, &a);

    if (pds_event_commit(&frame, res->seq, did, did_len, &res->commit,
                         res->rev, NULL, &car, NULL, 0, NULL) != 0)
    {
        rc = PDS_REPO_ENOMEM;
        goto done;
    }

    rc = pds_event_put(store, txn, res->seq, &frame);
    if (rc != 0) {
        goto done;
    }

    rc = pds_event_sync_put(store, txn, did, did_len, res->rev, &res->commit,
                            cblock.data, cblock.len, NULL);
    if (rc != 0) {
        goto done;
    }

    *uidp = uid;

done:

    res->status = rc;
    pds_arena_destroy(arena);
    return rc;
}
