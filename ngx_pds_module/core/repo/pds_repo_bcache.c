/*
 * ngx_pds_module core, the repository engine: the batch block cache.
 *
 * A write batch's block changes (see pds_bcache_t in pds_repo_int.h), kept
 * in memory, journaled per request so that a failed request is undone, and
 * written to LMDB once, in key order, when the batch ends.
 */

#include <stdlib.h>
#include <string.h>

#include "pds_repo_int.h"


pds_bc_entry_t **
pds_bcache_slot(pds_bcache_t *bc, uint64_t uid, const pds_cid_t *cid)
{
    size_t  i;

    i = (pds_bset_hash(cid) ^ (size_t) uid) & (bc->cap - 1);

    while (bc->slots[i]) {
        if (bc->slots[i]->uid == uid && pds_cid_equal(&bc->slots[i]->cid, cid))
        {
            return &bc->slots[i];
        }

        i = (i + 1) & (bc->cap - 1);
    }

    return &bc->slots[i];
}


int
pds_bcache_init(pds_bcache_t *bc, const pds_alloc_t *a)
{
    memset(bc, 0, sizeof(pds_bcache_t));
    bc->a = *a;
    bc->cap = 256;
    bc->slots = pds_calloc(a, bc->cap * sizeof(pds_bc_entry_t *));

    return bc->slots ? 0 : -1;
}


/* the entry of a block, made from LMDB's state when first asked for */
pds_bc_entry_t *
pds_bcache_get(pds_bcache_t *bc, pds_store_t *store, MDB_txn *txn,
    uint64_t uid, const pds_cid_t *cid, int *err)
{
    int               rc;
    size_t            i, cap;
    uint8_t           k[PDS_BLOCK_KEY_LEN];
    MDB_val           key, val;
    pds_bc_entry_t   *e, **slot, **old;

    slot = pds_bcache_slot(bc, uid, cid);
    if (*slot) {
        return *slot;
    }

    pds_block_key(k, uid, cid);
    key.mv_data = k;
    key.mv_size = sizeof(k);

    rc = mdb_get(txn, store->db_blocks, &key, &val);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        *err = PDS_REPO_ESTORE;
        return NULL;
    }

    if (rc == 0 && val.mv_size < PDS_BLOCK_HDR_LEN) {
        *err = PDS_REPO_ESTORE;
        return NULL;
    }

    e = pds_calloc(&bc->a, sizeof(pds_bc_entry_t));
    if (e == NULL) {
        *err = PDS_REPO_ENOMEM;
        return NULL;
    }

    e->uid = uid;
    e->cid = *cid;

    if (rc == 0) {
        e->base_rev = pds_store_get_u64(val.mv_data);
        e->base_refs = pds_get_u32((uint8_t *) val.mv_data
                                   + PDS_BLOCK_REFS_AT);
    }

    e->rev = e->base_rev;
    e->refs = e->base_refs;

    if ((bc->len + 1) * 2 > bc->cap) {
        old = bc->slots;
        cap = bc->cap;

        bc->slots = pds_calloc(&bc->a, cap * 2 * sizeof(pds_bc_entry_t *));
        if (bc->slots == NULL) {
            bc->slots = old;
            *err = PDS_REPO_ENOMEM;
            return NULL;
        }

        bc->cap = cap * 2;

        for (i = 0; i < cap; i++) {
            if (old[i]) {
                *pds_bcache_slot(bc, old[i]->uid, &old[i]->cid) = old[i];
            }
        }

        pds_free(&bc->a, old);
        slot = pds_bcache_slot(bc, uid, cid);
    }

    *slot = e;
    bc->len++;

    return e;
}


/* before the current request first changes e */
int
pds_bcache_journal(pds_bcache_t *bc, pds_bc_entry_t *e)
{
    size_t          cap;
    pds_bc_undo_t  *u;

    if (e->journaled == bc->request) {
        return 0;
    }

    if (bc->nundo == bc->undo_cap) {
        cap = bc->undo_cap ? bc->undo_cap * 2 : 64;
        u = pds_alloc(&bc->a, cap * sizeof(pds_bc_undo_t));
        if (u == NULL) {
            return PDS_REPO_ENOMEM;
        }

        if (bc->nundo) {
            memcpy(u, bc->undo, bc->nundo * sizeof(pds_bc_undo_t));
        }

        pds_free(&bc->a, bc->undo);
        bc->undo = u;
        bc->undo_cap = cap;
    }

    u = &bc->undo[bc->nundo++];
    u->e = e;
    u->rev = e->rev;
    u->refs = e->refs;
    u->p = e->p;
    u->n = e->n;

    e->journaled = bc->request;

    return 0;
}


/* a request starts (number i), or ends: kept, or undone */
void
pds_bcache_request(pds_bcache_t *bc, size_t i)
{
    bc->request = i + 1;
    bc->nundo = 0;
}


void
pds_bcache_undo(pds_bcache_t *bc)
{
    pds_bc_undo_t  *u;

    while (bc->nundo) {
        u = &bc->undo[--bc->nundo];
        u->e->rev = u->rev;
        u->e->refs = u->refs;
        u->e->p = u->p;
        u->e->n = u->n;
        u->e->journaled = 0;
    }
}


static int
pds_bcache_cmp(const void *a, const void *b)
{
    const pds_bc_entry_t  *x = *(pds_bc_entry_t * const *) a;
    const pds_bc_entry_t  *y = *(pds_bc_entry_t * const *) b;
    uint8_t                kx[PDS_BLOCK_KEY_LEN], ky[PDS_BLOCK_KEY_LEN];

    pds_block_key(kx, x->uid, &x->cid);
    pds_block_key(ky, y->uid, &y->cid);

    return memcmp(kx, ky, PDS_BLOCK_KEY_LEN);
}


/* the batch's changed blocks into LMDB, in key order */
int
pds_bcache_flush(pds_bcache_t *bc, pds_store_t *store, MDB_txn *txn)
{
    int               rc;
    size_t            i, m;
    uint8_t           k[PDS_BLOCK_KEY_LEN];
    uint8_t          *copy;
    MDB_val           key, val;
    pds_bc_entry_t   *e, **list;

    list = pds_alloc(&bc->a, (bc->len ? bc->len : 1) * sizeof(*list));
    if (list == NULL) {
        return PDS_REPO_ENOMEM;
    }

    m = 0;

    for (i = 0; i < bc->cap; i++) {
        e = bc->slots[i];

        if (e && (e->refs != e->base_refs || e->rev != e->base_rev)) {
            list[m++] = e;
        }
    }

    qsort(list, m, sizeof(*list), pds_bcache_cmp);

    for (i = 0; i < m; i++) {
        e = list[i];

        pds_block_key(k, e->uid, &e->cid);
        key.mv_data = k;
        key.mv_size = sizeof(k);

        if (e->refs == 0) {
            rc = mdb_del(txn, store->db_blocks, &key, NULL);
            if (rc != 0 && rc != MDB_NOTFOUND) {
                return pds_repo_mdb(rc);
            }

            continue;
        }

        copy = NULL;

        if (e->base_refs) {
            /* known to LMDB: new count or rev, same bytes */
            rc = mdb_get(txn, store->db_blocks, &key, &val);
            if (rc != 0 || val.mv_size < PDS_BLOCK_HDR_LEN) {
                return PDS_REPO_ESTORE;
            }

            e->n = val.mv_size - PDS_BLOCK_HDR_LEN;
            copy = pds_alloc(&bc->a, e->n ? e->n : 1);
            if (copy == NULL) {
                return PDS_REPO_ENOMEM;
            }

            memcpy(copy, (uint8_t *) val.mv_data + PDS_BLOCK_HDR_LEN, e->n);
            e->p = copy;
        }

        val.mv_data = NULL;
        val.mv_size = PDS_BLOCK_HDR_LEN + e->n;

        rc = mdb_put(txn, store->db_blocks, &key, &val, MDB_RESERVE);
        if (rc != 0) {
            return pds_repo_mdb(rc);
        }

        pds_store_put_u64(val.mv_data, e->rev);
        pds_put_u32((uint8_t *) val.mv_data + 8, e->refs);
        memcpy((uint8_t *) val.mv_data + PDS_BLOCK_HDR_LEN, e->p, e->n);

        if (copy) {
            pds_free(&bc->a, copy);
        }
    }

    return 0;
}
