/*
 * ngx_pds_module core: the repository engine (see pds_repo.h and
 * docs/STORAGE.md for the layout): write batches, each request applied
 * in its own nested transaction (pds_repo_apply.c), and new repos.
 */

#include <stdio.h>
#include <string.h>

#include "pds_repo_int.h"
#include "pds_syntax.h"


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


/* a new repo */


/* the empty tree: its root node block in ap->nodes, its CID in data */
static int
pds_create_tree(pds_apply_t *ap)
{
    pds_cid_t           empty;
    pds_collect_t       col;
    pds_repo_write_t   *res = ap->req;

    static const uint8_t  empty_node[] = {
        0xa2, 0x61, 'e', 0x80, 0x61, 'l', 0xf6
    };

    ap->mst = pds_mst_load(ap->a, &ap->bs, NULL);
    if (ap->mst == NULL || pds_bset_init(&ap->nodes, ap->a, 8) != 0) {
        return PDS_REPO_ENOMEM;
    }

    col.set = &ap->nodes;
    col.copy = 1;
    col.error = 0;

    if (pds_mst_commit(ap->mst, &res->data, pds_collect_cb, &col, &ap->diff)
        != 0)
    {
        return PDS_REPO_EMST;
    }

    /* the empty root node, in case the tree did not report it as new */
    pds_cid_of_cbor(&empty, empty_node, sizeof(empty_node));

    if (pds_cid_equal(&empty, &res->data)
        && pds_bset_add(&ap->nodes, &res->data, empty_node,
                        sizeof(empty_node), 0) < 0)
    {
        return PDS_REPO_ENOMEM;
    }

    return 0;
}


static int
pds_repo_create_events(pds_store_t *store, MDB_txn *txn, const char *did,
    size_t did_len, const pds_key_t *key, uint64_t *uidp,
    pds_repo_write_t *res, int events)
{
    int           rc;
    uint64_t      uid;
    pds_alloc_t   a;
    pds_arena_t  *arena;
    pds_apply_t   ap;

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

    memset(&ap, 0, sizeof(pds_apply_t));
    ap.store = store;
    ap.txn = txn;
    ap.req = res;
    ap.a = &a;
    ap.did = did;
    ap.did_len = did_len;

    pds_src_init(&ap.src, &ap.bs, store, txn, uid, NULL);

    rc = pds_create_tree(&ap);

    if (rc == 0) {
        res->uid = uid;
        res->key = key;

        rc = pds_repo_sign(&ap, NULL, &ap.nodes);
    }

    if (rc == 0) {
        rc = pds_repo_put_commit(&ap, &ap.nodes);
    }

    if (rc == 0 && events) {
        rc = pds_repo_put_event(&ap, NULL, NULL);
    }

    if (rc == 0 && events) {
        rc = pds_event_sync_put(store, txn, did, did_len, res->rev,
                                &res->commit, ap.cblock.data, ap.cblock.len,
                                NULL);
    }

    if (rc == 0) {
        *uidp = uid;
    }

    res->status = rc;
    pds_arena_destroy(arena);

    return rc;
}


int
pds_repo_create(pds_store_t *store, MDB_txn *txn, const char *did,
    size_t did_len, const pds_key_t *key, uint64_t *uidp,
    pds_repo_write_t *res)
{
    return pds_repo_create_events(store, txn, did, did_len, key, uidp, res,
                                  1);
}


int
pds_repo_create_quiet(pds_store_t *store, MDB_txn *txn, const char *did,
    size_t did_len, const pds_key_t *key, uint64_t *uidp,
    pds_repo_write_t *res)
{
    return pds_repo_create_events(store, txn, did, did_len, key, uidp, res,
                                  0);
}
