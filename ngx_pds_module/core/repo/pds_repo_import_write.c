/*
 * ngx_pds_module core: writing a checked import (see pds_repo_import.h):
 * the old repo's rows removed, the record index written in key order by
 * the walk, then the blocks in CID order (the index sorted), each with
 * the number of references the check counted, then the root.  Whole, or
 * in bounded steps, one transaction each.  Both tables are written in
 * their key order, so a step dirties about as many LMDB pages as it
 * writes, not a page per block.
 */

#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "pds_repo_import_int.h"
#include "pds_hash.h"


/* the walk over the tree while writing */
typedef struct {
    pds_repo_import_t          *imp;
    pds_store_t                *store;
    MDB_txn                    *txn;
    uint64_t                    uid;
    uint64_t                    rev64;
    pds_repo_import_record_cb   record;
    void                       *ctx;
    size_t                      budget;     /* records left in the step */
    int                         rc;
} pds_import_write_t;


/* removes up to *budget keys of dbi under the uid prefix (each one
 * counted off *budget): 0 when none is left, 1 when some are, or an LMDB
 * error */
static int
pds_import_del_prefix(MDB_txn *txn, MDB_dbi dbi, uint64_t uid,
    size_t *budget)
{
    int          rc;
    uint8_t      k[PDS_UID_LEN];
    MDB_val      key, val;
    MDB_cursor  *cur;

    pds_store_put_u64(k, uid);

    rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc != 0) {
        return rc;
    }

    for ( ;; ) {
        key.mv_data = k;
        key.mv_size = sizeof(k);

        rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);

        if (rc != 0 || key.mv_size < PDS_UID_LEN
            || memcmp(key.mv_data, k, PDS_UID_LEN) != 0)
        {
            break;
        }

        if (*budget == 0) {
            rc = 1;
            break;
        }

        rc = mdb_cursor_del(cur, 0);
        if (rc != 0) {
            break;
        }

        (*budget)--;
    }

    mdb_cursor_close(cur);

    return rc == MDB_NOTFOUND ? 0 : rc;
}


/* removes at most budget rows of repo uid: 0 done, 1 more, or an error */
static int
pds_import_clear(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    size_t budget)
{
    int      rc;
    uint8_t  k[PDS_UID_LEN];
    MDB_val  key;

    rc = pds_import_del_prefix(txn, store->db_blocks, uid, &budget);
    if (rc == 0) {
        rc = pds_import_del_prefix(txn, store->db_records, uid, &budget);
    }

    if (rc == 1) {
        return 1;
    }

    if (rc != 0) {
        return pds_repo_mdb(rc);
    }

    pds_store_put_u64(k, uid);
    key.mv_data = k;
    key.mv_size = sizeof(k);

    rc = mdb_del(txn, store->db_repos, &key, NULL);

    return (rc == 0 || rc == MDB_NOTFOUND) ? 0 : pds_repo_mdb(rc);
}


int
pds_repo_clear(pds_store_t *store, MDB_txn *txn, uint64_t uid)
{
    return pds_import_clear(store, txn, uid, SIZE_MAX);
}


static int
pds_import_write_leaf(void *ctx, const char *key, size_t len,
    const pds_cid_t *value)
{
    int                  rc;
    size_t               klen;
    uint8_t              rk[PDS_RECORD_KEY_MAX], rv[PDS_RECORD_VAL_LEN];
    MDB_val              mkey, mval;
    size_t               n;
    const char          *slash;
    const uint8_t       *p;
    pds_import_write_t  *w = ctx;

    slash = memchr(key, '/', len);

    if (slash == NULL || pds_import_find(w->imp, value, &p, &n) != 0) {
        w->rc = PDS_REPO_EMST;          /* checked at open: cannot happen */
        return -1;
    }

    klen = pds_record_key(rk, w->uid, key, (size_t) (slash - key), slash + 1,
                          len - (size_t) (slash - key) - 1);

    pds_cid_pack(rv, value);
    pds_store_put_u64(rv + PDS_CID_PACK_LEN, w->rev64);

    mkey.mv_data = rk;
    mkey.mv_size = klen;
    mval.mv_data = rv;
    mval.mv_size = sizeof(rv);

    rc = mdb_put(w->txn, w->store->db_records, &mkey, &mval, 0);
    if (rc != 0) {
        w->rc = pds_repo_mdb(rc);
        return -1;
    }

    if (w->record
        && w->record(w->ctx, key, len, value, p, n) != 0)
    {
        w->rc = PDS_REPO_EHOOK;
        return -1;
    }

    memcpy(w->imp->after, key, len);
    w->imp->after_len = len;

    return --w->budget == 0 ? PDS_IMPORT_PAUSE : 0;
}


/* meta "import:<uid>": the token of the import being written */
static void
pds_import_marker(char *name, size_t len, uint64_t uid)
{
    snprintf(name, len, "import:%llu", (unsigned long long) uid);
}


/* the first step takes the marker, the others check it is still theirs
 * and that the account is still there */
static int
pds_import_claim(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    pds_repo_import_t *imp)
{
    int       rc;
    char      name[48];
    uint64_t  v;

    pds_import_marker(name, sizeof(name), uid);

    if (imp->token == 0) {
        do {
            if (pds_random(&imp->token, sizeof(imp->token)) != 0) {
                return PDS_REPO_ECRYPTO;
            }
        } while (imp->token == 0);

        rc = pds_store_meta_set_u64(store, txn, name, imp->token);

        return rc == 0 ? 0 : PDS_REPO_ESTORE;
    }

    rc = pds_store_meta_u64(store, txn, name, &v);
    if (rc != 0) {
        return PDS_REPO_ESTORE;
    }

    if (v != imp->token) {
        return PDS_REPO_IMPORT_ELOST;
    }

    /* a deleted account's DID no longer maps to its uid */
    rc = pds_store_uid_get(store, txn, imp->did, strlen(imp->did), &v);

    if (rc == PDS_NOTFOUND || (rc == 0 && v != uid)) {
        return PDS_REPO_IMPORT_ELOST;
    }

    return rc == 0 ? 0 : PDS_REPO_ESTORE;
}


/* the last step: the root, and the marker gone */
static int
pds_import_finish(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    pds_repo_import_t *imp)
{
    int      rc;

    rc = pds_repo_put_root(store, txn, uid, &imp->commit, &imp->data,
                           imp->rev, imp->did, strlen(imp->did));
    if (rc != 0) {
        return rc;
    }

    rc = pds_repo_import_forget(store, txn, uid);
    if (rc != 0) {
        return rc;
    }

    imp->phase = PDS_IMPORT_DONE;

    return 0;
}


int
pds_repo_import_pending(pds_store_t *store, MDB_txn *txn, uint64_t uid)
{
    char      name[48];
    uint64_t  token;

    pds_import_marker(name, sizeof(name), uid);

    return pds_store_meta_u64(store, txn, name, &token) != 0 || token != 0;
}


int
pds_repo_import_forget(pds_store_t *store, MDB_txn *txn, uint64_t uid)
{
    int      rc;
    char     name[48];
    MDB_val  key;

    pds_import_marker(name, sizeof(name), uid);
    key.mv_data = name;
    key.mv_size = strlen(name);

    rc = mdb_del(txn, store->meta, &key, NULL);

    return (rc != 0 && rc != MDB_NOTFOUND) ? pds_repo_mdb(rc) : 0;
}


/* the record index: a walk from the record after the last one written */
static int
pds_import_records(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    pds_repo_import_t *imp, size_t budget, pds_repo_import_record_cb record,
    void *ctx)
{
    int                 rc;
    char                err[256];
    pds_import_write_t  w;

    memset(&w, 0, sizeof(w));
    w.imp = imp;
    w.store = store;
    w.txn = txn;
    w.uid = uid;
    w.rev64 = pds_rev_u64(imp->rev);
    w.record = record;
    w.ctx = ctx;
    w.budget = budget;

    rc = pds_mst_check_walk_after(&imp->src, &imp->data,
                                  imp->after_len ? imp->after : NULL,
                                  imp->after_len, NULL,
                                  pds_import_write_leaf, &w, err,
                                  sizeof(err));

    if (rc == PDS_IMPORT_PAUSE && w.rc == 0) {
        return PDS_REPO_IMPORT_MORE;
    }

    if (rc != 0) {
        return w.rc ? w.rc : PDS_REPO_EMST;
    }

    return 0;
}


/* the blocks, in CID order, each with its count of references */
static int
pds_import_blocks(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    pds_repo_import_t *imp, size_t budget)
{
    int                 rc;
    size_t              n;
    uint64_t            rev64;
    pds_cid_t           cid;
    const uint8_t      *p;
    pds_import_slot_t  *s;

    rev64 = pds_rev_u64(imp->rev);

    for ( ; imp->next < imp->sorted; imp->next++) {
        if (budget-- == 0) {
            return PDS_REPO_IMPORT_MORE;
        }

        s = &imp->ix[imp->next];
        pds_import_slot_block(imp, s, &cid, &p, &n);

        /* one write for all its references (a block many records share
         * costs no more than another) */
        if (s->refs) {
            rc = pds_block_ref_n(store, txn, uid, &cid, p, n, rev64, s->refs);
            if (rc != 0) {
                return rc;
            }
        }
    }

    return 0;
}


int
pds_repo_import_step(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    pds_repo_import_t *imp, size_t budget, pds_repo_import_record_cb record,
    void *ctx)
{
    int  rc;

    if (imp->phase == PDS_IMPORT_DONE) {
        return 0;
    }

    if (budget == 0) {
        budget = 1;
    }

    rc = pds_import_claim(store, txn, uid, imp);
    if (rc != 0) {
        return rc;
    }

    switch (imp->phase) {

    case PDS_IMPORT_CLEAR:
        rc = pds_import_clear(store, txn, uid, budget);
        if (rc != 0) {
            return rc;              /* more to remove, or an error */
        }

        imp->phase = PDS_IMPORT_TREE;
        imp->after_len = 0;
        return PDS_REPO_IMPORT_MORE;

    case PDS_IMPORT_TREE:
        rc = pds_import_records(store, txn, uid, imp, budget, record, ctx);
        if (rc != 0) {
            return rc;
        }

        /* no lookups from here on */
        pds_import_sort(imp);
        imp->phase = PDS_IMPORT_BLOCKS;
        return PDS_REPO_IMPORT_MORE;

    default: /* PDS_IMPORT_BLOCKS */
        rc = pds_import_blocks(store, txn, uid, imp, budget);
        if (rc != 0) {
            return rc;
        }

        return pds_import_finish(store, txn, uid, imp);
    }
}


int
pds_repo_import_write(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    pds_repo_import_t *imp, pds_repo_import_record_cb record, void *ctx)
{
    int  rc;

    do {
        rc = pds_repo_import_step(store, txn, uid, imp, SIZE_MAX, record,
                                  ctx);
    } while (rc == PDS_REPO_IMPORT_MORE);

    return rc;
}


