/*
 * ngx_pds_module core, the repository engine: one write request, applied
 * in its nested transaction (pds_repo_apply), and the steps that a new
 * repo's first commit shares with it (sign, store, event).
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
#include "pds_takedown.h"


/*
 * Checks the request, reads the repo's root (copying the did: the root
 * points into LMDB), checks swapCommit and loads the tree.
 */
static int
pds_apply_begin(pds_apply_t *ap)
{
    int                rc;
    pds_repo_write_t  *req = ap->req;

    req->failed_op = 0;

    if (req->nops > PDS_REPO_MAX_OPS || (req->nops && req->ops == NULL)
        || req->key == NULL)
    {
        snprintf(req->error, sizeof(req->error),
                 "Too many writes. Max: %d", PDS_REPO_MAX_OPS);
        return PDS_REPO_EINVAL;
    }

    rc = pds_repo_get_root(ap->store, ap->txn, req->uid, &ap->root);
    if (rc != 0) {
        return rc == PDS_NOTFOUND ? PDS_REPO_ENOREPO : PDS_REPO_ESTORE;
    }

    ap->did_len = ap->root.did_len;
    ap->did = pds_strndup(ap->a, ap->root.did, ap->root.did_len);
    if (ap->did == NULL) {
        return PDS_REPO_ENOMEM;
    }

    req->prev_commit = ap->root.commit;
    memcpy(req->since, ap->root.rev, PDS_TID_BUF);

    if (req->swap_commit
        && !pds_cid_equal(req->swap_commit, &ap->root.commit))
    {
        snprintf(req->error, sizeof(req->error), "Commit was at another CID");
        return PDS_REPO_ESWAP;
    }

    pds_src_init(&ap->src, &ap->bs, ap->store, ap->txn, req->uid, ap->bc);

    ap->mst = pds_mst_load(ap->a, &ap->bs, &ap->root.data);

    return ap->mst ? 0 : PDS_REPO_ENOMEM;
}


/* the op's MST key, "<collection>/<rkey>", from a */
static int
pds_op_key(const pds_repo_op_t *op, const pds_alloc_t *a, char **key,
    size_t *klen)
{
    char  *k;

    *klen = op->collection_len + 1 + op->rkey_len;

    k = pds_alloc(a, *klen);
    if (k == NULL) {
        return PDS_REPO_ENOMEM;
    }

    memcpy(k, op->collection, op->collection_len);
    k[op->collection_len] = '/';
    memcpy(k + op->collection_len + 1, op->rkey, op->rkey_len);

    *key = k;

    return 0;
}


/* op i's path: its syntax, and no other op of the request on it */
static int
pds_apply_path(pds_repo_write_t *req, size_t i, const char *key,
    size_t klen)
{
    size_t          j;
    pds_repo_op_t  *op, *other;

    op = &req->ops[i];

    if (!pds_mst_key_valid(key, klen)) {
        snprintf(req->error, sizeof(req->error), "Invalid record key");
        return PDS_REPO_EINVAL;
    }

    /*
     * One op per path: the firehose's ops must invert one by one, and
     * the reference cannot express two changes of a record either.
     */
    for (j = 0; j < i; j++) {
        other = &req->ops[j];

        if (other->collection_len == op->collection_len
            && other->rkey_len == op->rkey_len
            && memcmp(other->rkey, op->rkey, op->rkey_len) == 0
            && memcmp(other->collection, op->collection,
                      op->collection_len) == 0)
        {
            snprintf(req->error, sizeof(req->error),
                     "Duplicate write to one record");
            return PDS_REPO_EINVAL;
        }
    }

    return 0;
}


/* the action, and the record of a create, update or put (its CID set) */
static int
pds_apply_record(pds_repo_write_t *req, pds_repo_op_t *op)
{
    if (op->action == PDS_REPO_DELETE) {
        return 0;
    }

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

    return 0;
}


/* swapRecord, with the reference's semantics */
static int
pds_apply_swap(pds_repo_write_t *req, const pds_repo_op_t *op)
{
    if (op->swap == PDS_REPO_SWAP_NONE) {
        return 0;
    }

    if ((op->action == PDS_REPO_CREATE && op->swap != PDS_REPO_SWAP_ABSENT)
        || ((op->action == PDS_REPO_UPDATE || op->action == PDS_REPO_DELETE)
            && op->swap == PDS_REPO_SWAP_ABSENT)
        || (op->has_prev
            && (op->swap != PDS_REPO_SWAP_CID
                || !pds_cid_equal(&op->swap_cid, &op->prev)))
        || (!op->has_prev && op->swap == PDS_REPO_SWAP_CID))
    {
        snprintf(req->error, sizeof(req->error), "Record was at %s",
                 op->has_prev ? "another CID" : "null");
        return PDS_REPO_ESWAP;
    }

    return 0;
}


/* the op on the tree; done_action, unchanged and ap->noop tell the result */
static int
pds_apply_tree(pds_apply_t *ap, pds_repo_op_t *op, const char *key,
    size_t klen)
{
    pds_repo_write_t  *req = ap->req;

    if (op->action == PDS_REPO_DELETE) {
        if (!op->has_prev) {
            if (op->flags & PDS_REPO_OP_IF_EXISTS) {
                return 0;
            }

            snprintf(req->error, sizeof(req->error), "Could not find record");
            return PDS_REPO_ENOTFOUND;
        }

        op->done_action = PDS_REPO_DELETE;
        ap->noop = 0;

        return pds_mst_delete(ap->mst, key, klen) == 0 ? 0 : PDS_REPO_EMST;
    }

    /* create, update, put */

    if (op->action == PDS_REPO_CREATE && op->has_prev) {
        snprintf(req->error, sizeof(req->error), "Record already exists");
        return PDS_REPO_EEXISTS;
    }

    if (op->action == PDS_REPO_UPDATE && !op->has_prev) {
        snprintf(req->error, sizeof(req->error), "Could not find record");
        return PDS_REPO_ENOTFOUND;
    }

    op->done_action = op->has_prev ? PDS_REPO_UPDATE : PDS_REPO_CREATE;

    if (op->has_prev && pds_cid_equal(&op->prev, &op->cid)) {
        op->unchanged = 1;
        return 0;
    }

    ap->noop = 0;

    return pds_mst_put(ap->mst, key, klen, &op->cid) == 0 ? 0 : PDS_REPO_EMST;
}


/* phase 1, one op: checks, then the change on the tree */
static int
pds_apply_op(pds_apply_t *ap, size_t i)
{
    int                rc;
    char              *key;
    size_t             klen;
    pds_cid_t          cur;
    pds_repo_op_t     *op;
    pds_repo_write_t  *req = ap->req;

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

    rc = pds_op_key(op, ap->a, &key, &klen);
    if (rc != 0) {
        return rc;
    }

    rc = pds_apply_path(req, i, key, klen);
    if (rc != 0) {
        return rc;
    }

    rc = pds_mst_get(ap->mst, key, klen, &cur);
    if (rc < 0) {
        return PDS_REPO_EMST;
    }

    if (rc == 0) {
        op->has_prev = 1;
        op->prev = cur;
    }

    rc = pds_apply_record(req, op);
    if (rc != 0) {
        return rc;
    }

    rc = pds_apply_swap(req, op);
    if (rc != 0) {
        return rc;
    }

    return pds_apply_tree(ap, op, key, klen);
}


/*
 * Phase 2: the new tree's nodes, then the blocks the event carries: the
 * proofs of every changed key (copied: they may point into LMDB), the
 * new records and the new nodes.
 */
static int
pds_apply_event_blocks(pds_apply_t *ap)
{
    int                rc;
    char              *key;
    size_t             i, klen;
    pds_collect_t      col;
    pds_repo_op_t     *op;
    pds_bset_slot_t   *slot;
    pds_repo_write_t  *req = ap->req;

    if (pds_bset_init(&ap->nodes, ap->a, 64) != 0
        || pds_bset_init(&ap->relevant, ap->a, 256) != 0)
    {
        return PDS_REPO_ENOMEM;
    }

    col.set = &ap->nodes;
    col.copy = 1;
    col.error = 0;

    memset(&ap->diff, 0, sizeof(ap->diff));

    if (pds_mst_commit(ap->mst, &req->data, pds_collect_cb, &col, &ap->diff)
        != 0)
    {
        return col.error ? col.error : PDS_REPO_EMST;
    }

    col.set = &ap->relevant;

    for (i = 0; i < req->nops; i++) {
        op = &req->ops[i];

        if (op->done_action == PDS_REPO_NOOP) {
            continue;
        }

        rc = pds_op_key(op, ap->a, &key, &klen);
        if (rc != 0) {
            return rc;
        }

        if (pds_mst_proof(ap->mst, key, klen, pds_collect_cb, &col) != 0) {
            return col.error ? col.error : PDS_REPO_EMST;
        }

        if (op->done_action != PDS_REPO_DELETE
            && pds_bset_add(&ap->relevant, &op->cid, op->record,
                            op->record_len, 0) < 0)
        {
            return PDS_REPO_ENOMEM;
        }
    }

    for (i = 0; i < ap->nodes.len; i++) {
        slot = pds_bset_find(&ap->nodes, &ap->nodes.order[i]);

        if (pds_bset_add(&ap->relevant, &slot->cid, slot->p, slot->n, 0) < 0)
        {
            return PDS_REPO_ENOMEM;
        }
    }

    if (ap->relevant.bytes > PDS_REPO_MAX_EVENT_BLOCKS) {
        snprintf(req->error, sizeof(req->error),
                 "Too many writes. Max event size: 2MB");
        return PDS_REPO_ETOOBIG;
    }

    return 0;
}


/*
 * The next rev after last_rev (NULL: none), the signed commit over the
 * tree's root (req->data) and the event's CAR of set.
 */
int
pds_repo_sign(pds_apply_t *ap, const char *last_rev, pds_bset_t *set)
{
    int                rc;
    pds_repo_write_t  *req = ap->req;

    if (pds_store_next_rev(ap->store, last_rev, req->rev) != 0) {
        return PDS_REPO_ECRYPTO;
    }

    ap->rev64 = pds_rev_u64(req->rev);

    rc = pds_commit_sign(ap->a, req->key, ap->did, ap->did_len, req->rev,
                         &req->data, &ap->cblock, &req->commit);
    if (rc != 0) {
        return rc;
    }

    if (pds_event_car(ap->a, &req->commit, &ap->cblock, set, &ap->car) != 0)
    {
        return PDS_REPO_ENOMEM;
    }

    return 0;
}


/* phase 3 begins: the old commit and the node blocks the tree dropped */
static int
pds_apply_unref(pds_apply_t *ap)
{
    int      rc;
    size_t   i;
    uint64_t uid = ap->req->uid;

    rc = pds_block_unref(ap->store, ap->txn, ap->bc, uid, &ap->root.commit);

    for (i = 0; rc == 0 && i < ap->diff.nremoved; i++) {
        rc = pds_block_unref(ap->store, ap->txn, ap->bc, uid,
                             &ap->diff.removed[i]);
    }

    return rc;
}


/* an op's record: its index entry and its block */
static int
pds_apply_record_write(pds_apply_t *ap, const pds_repo_op_t *op)
{
    int       rc;
    size_t    klen;
    uint8_t   rk[PDS_RECORD_KEY_MAX], rv[PDS_RECORD_VAL_LEN];
    uint64_t  uid = ap->req->uid;
    MDB_val   mkey, mval;

    if (op->has_prev) {
        rc = pds_block_unref(ap->store, ap->txn, ap->bc, uid, &op->prev);
        if (rc != 0) {
            return rc;
        }
    }

    klen = pds_record_key(rk, uid, op->collection, op->collection_len,
                          op->rkey, op->rkey_len);
    mkey.mv_data = rk;
    mkey.mv_size = klen;

    if (op->done_action == PDS_REPO_DELETE) {
        rc = mdb_del(ap->txn, ap->store->db_records, &mkey, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND) {
            return pds_repo_mdb(rc);
        }

        /* a takedown goes with the record, as the reference's row */
        rc = pds_takedown_record_set(ap->store, ap->txn, uid, op->collection,
                                     op->collection_len, op->rkey,
                                     op->rkey_len, NULL);
        return rc == 0 ? 0 : pds_repo_mdb(rc);
    }

    rc = pds_block_ref(ap->store, ap->txn, ap->bc, uid, &op->cid, op->record,
                       op->record_len, ap->rev64);
    if (rc != 0) {
        return rc;
    }

    pds_cid_pack(rv, &op->cid);
    pds_store_put_u64(rv + PDS_CID_PACK_LEN, ap->rev64);
    mval.mv_data = rv;
    mval.mv_size = sizeof(rv);

    rc = mdb_put(ap->txn, ap->store->db_records, &mkey, &mval, 0);

    return rc == 0 ? 0 : pds_repo_mdb(rc);
}


/* the new node blocks and the commit block, then the repo's new root */
int
pds_repo_put_commit(pds_apply_t *ap, pds_bset_t *nodes)
{
    int                rc;
    size_t             i;
    pds_bset_slot_t   *slot;
    pds_repo_write_t  *req = ap->req;

    for (i = 0; i < nodes->len; i++) {
        slot = pds_bset_find(nodes, &nodes->order[i]);

        rc = pds_block_ref(ap->store, ap->txn, ap->bc, req->uid, &slot->cid,
                           slot->p, slot->n, ap->rev64);
        if (rc != 0) {
            return rc;
        }
    }

    rc = pds_block_ref(ap->store, ap->txn, ap->bc, req->uid, &req->commit,
                       ap->cblock.data, ap->cblock.len, ap->rev64);
    if (rc != 0) {
        return rc;
    }

    return pds_repo_put_root(ap->store, ap->txn, req->uid, &req->commit,
                             &req->data, req->rev, ap->did, ap->did_len);
}


/* the #commit event (req->seq set) */
int
pds_repo_put_event(pds_apply_t *ap, const char *since,
    const pds_cid_t *prev_data)
{
    int                rc;
    pds_buf_t          frame;
    pds_repo_write_t  *req = ap->req;

    rc = pds_event_seq(ap->store, ap->txn, &req->seq);
    if (rc != 0) {
        return rc;
    }

    pds_buf_init(&frame, ap->a);

    if (pds_event_commit(&frame, req->seq, ap->did, ap->did_len,
                         &req->commit, req->rev, since, &ap->car, req->ops,
                         req->nops, prev_data) != 0)
    {
        return PDS_REPO_ENOMEM;
    }

    return pds_event_put(ap->store, ap->txn, req->seq, &frame);
}


/* one write request, in its own nested transaction */
int
pds_repo_apply(pds_store_t *store, MDB_txn *txn, pds_bcache_t *bc,
    pds_repo_write_t *req, const pds_alloc_t *a)
{
    int             rc;
    size_t          i;
    pds_apply_t     ap;
    pds_repo_op_t  *op;

    memset(&ap, 0, sizeof(pds_apply_t));
    ap.store = store;
    ap.txn = txn;
    ap.bc = bc;
    ap.req = req;
    ap.a = a;
    ap.noop = 1;

    rc = pds_apply_begin(&ap);
    if (rc != 0) {
        return rc;
    }

    /* phase 1: ops on the tree */

    for (i = 0; i < req->nops; i++) {
        rc = pds_apply_op(&ap, i);
        if (rc != 0) {
            return rc;
        }
    }

    req->failed_op = 0;

    if (ap.noop && (req->flags & PDS_REPO_SKIP_NOOP)) {
        req->commit = ap.root.commit;
        req->data = ap.root.data;
        memcpy(req->rev, ap.root.rev, PDS_TID_BUF);
        req->seq = 0;
        return PDS_REPO_UNCHANGED;
    }

    /* phase 2: the new tree, proofs, the commit, the event's blocks */

    rc = pds_apply_event_blocks(&ap);
    if (rc != 0) {
        return rc;
    }

    rc = pds_repo_sign(&ap, ap.root.rev, &ap.relevant);
    if (rc != 0) {
        return rc;
    }

    /* phase 3: writes only; no LMDB pointer from above is used */

    rc = pds_apply_unref(&ap);
    if (rc != 0) {
        return rc;
    }

    for (i = 0; i < req->nops; i++) {
        op = &req->ops[i];

        if (op->done_action == PDS_REPO_NOOP || op->unchanged) {
            continue;
        }

        rc = pds_apply_record_write(&ap, op);
        if (rc != 0) {
            return rc;
        }
    }

    rc = pds_repo_put_commit(&ap, &ap.nodes);
    if (rc != 0) {
        return rc;
    }

    return pds_repo_put_event(&ap, req->since, &ap.root.data);
}
