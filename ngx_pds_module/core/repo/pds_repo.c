/*
 * ngx_pds_module core: the repository engine (see pds_repo.h and
 * docs/STORAGE.md for the layout).
 *
 * A write request runs in two phases inside its nested transaction:
 * first everything that reads (repo root, MST loads, proofs) and builds
 * the commit and its event blocks, while block pointers may point straight
 * into LMDB pages; then only writes.  No pointer into LMDB is used after
 * the first write of a request, since a write may move dirty pages.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "pds_repo.h"
#include "pds_cbor.h"
#include "pds_enc.h"
#include "pds_mst.h"
#include "pds_syntax.h"


#define PDS_CID_PACK_LEN     33     /* codec + digest */
#define PDS_BLOCK_KEY_LEN    (PDS_UID_LEN + PDS_CID_PACK_LEN)
#define PDS_BLOCK_HDR_LEN    12     /* rev (u64) + refcount (u32) */
#define PDS_RECORD_VAL_LEN   (PDS_CID_PACK_LEN + 8)
#define PDS_ROOT_FIXED_LEN   (2 * PDS_CID_PACK_LEN + PDS_TID_LEN)
#define PDS_RECORD_KEY_MAX   (PDS_UID_LEN + 512 + 1 + 512)


/* a set of blocks by CID (open addressing), for event CARs */
typedef struct {
    pds_cid_t        cid;
    const uint8_t   *p;
    size_t           n;
    int              used;
} pds_bset_slot_t;

typedef struct {
    const pds_alloc_t  *a;
    pds_bset_slot_t    *slots;
    size_t              cap;        /* power of two */
    size_t              len;
    size_t              bytes;
    pds_cid_t          *order;      /* insertion order */
} pds_bset_t;


/*
 * The blocks a write batch changes, kept here and written to LMDB once,
 * when the batch ends (pds_bcache_flush).  Consecutive commits of a repo
 * rewrite the same MST path, so most nodes a batch creates are gone again
 * before it ends; each of them would otherwise dirty a random page of the
 * blocks tree (keys are CIDs) on its way in and out.  An entry is the
 * block's state for the batch: its count and rev in LMDB when first
 * touched (base_*) and now; bytes when it is new in the batch.  A request's
 * first change to an entry is journaled, so that a request that fails
 * leaves the batch's blocks as they were.
 */
typedef struct {
    uint64_t         uid;
    pds_cid_t        cid;
    uint64_t         base_rev;
    uint64_t         rev;
    uint32_t         base_refs;         /* 0: not in LMDB */
    uint32_t         refs;
    const uint8_t   *p;                 /* new in the batch: its bytes */
    size_t           n;
    size_t           journaled;         /* request number + 1 */
} pds_bc_entry_t;

typedef struct {
    pds_bc_entry_t  *e;
    uint64_t         rev;
    uint32_t         refs;
    const uint8_t   *p;
    size_t           n;
} pds_bc_undo_t;

typedef struct {
    pds_alloc_t      a;                 /* the batch's arena */
    pds_bc_entry_t **slots;             /* open addressing */
    size_t           cap;               /* power of two */
    size_t           len;
    pds_bc_undo_t   *undo;              /* the current request's */
    size_t           nundo;
    size_t           undo_cap;
    size_t           request;           /* request number + 1 */
} pds_bcache_t;


typedef struct {
    pds_store_t  *store;
    MDB_txn      *txn;
    uint64_t      uid;
    pds_bcache_t *bc;                   /* NULL outside write batches */
} pds_src_ctx_t;


typedef struct {
    pds_bset_t   *set;
    int           copy;
    int           error;
} pds_collect_t;


/* little helpers */


static void
pds_cid_pack(uint8_t *p, const pds_cid_t *cid)
{
    p[0] = cid->codec;
    memcpy(p + 1, cid->digest, PDS_CID_DIGEST_LEN);
}


static int
pds_cid_unpack(pds_cid_t *cid, const uint8_t *p)
{
    if (p[0] != PDS_CID_CODEC_DAG_CBOR && p[0] != PDS_CID_CODEC_RAW) {
        return -1;
    }

    cid->codec = p[0];
    memcpy(cid->digest, p + 1, PDS_CID_DIGEST_LEN);
    return 0;
}


static void
pds_block_key(uint8_t *key, uint64_t uid, const pds_cid_t *cid)
{
    pds_store_put_u64(key, uid);
    pds_cid_pack(key + PDS_UID_LEN, cid);
}


static uint32_t
pds_get_u32(const uint8_t *p)
{
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16)
           | ((uint32_t) p[2] << 8) | p[3];
}


static void
pds_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) (v >> 24);
    p[1] = (uint8_t) (v >> 16);
    p[2] = (uint8_t) (v >> 8);
    p[3] = (uint8_t) v;
}


static int
pds_repo_mdb(int rc)
{
    switch (pds_store_rc(rc)) {
    case 0:
        return 0;
    case PDS_STORE_MAPFULL:
        return PDS_REPO_EMAPFULL;
    default:
        return PDS_REPO_ESTORE;
    }
}


static uint64_t
pds_rev_u64(const char *rev)
{
    uint64_t  v;

    if (rev == NULL || pds_tid_decode(rev, strlen(rev), &v) != 0) {
        return 0;
    }

    return v;
}


const char *
pds_repo_strerror(int status)
{
    switch (status) {
    case PDS_REPO_OK:
        return "ok";
    case PDS_REPO_UNCHANGED:
        return "unchanged";
    case PDS_REPO_EINVAL:
        return "invalid write";
    case PDS_REPO_ENOREPO:
        return "no such repo";
    case PDS_REPO_ESWAP:
        return "swap mismatch";
    case PDS_REPO_EEXISTS:
        return "record already exists";
    case PDS_REPO_ENOTFOUND:
        return "record not found";
    case PDS_REPO_ETOOBIG:
        return "too many writes: event over 2,000,000 bytes";
    case PDS_REPO_EMAPFULL:
        return "storage map full";
    case PDS_REPO_ESTORE:
        return "storage error";
    case PDS_REPO_ENOMEM:
        return "out of memory";
    case PDS_REPO_ECRYPTO:
        return "signing failed";
    case PDS_REPO_EMST:
        return "repository tree error";
    case PDS_REPO_EBUSY:
        return "transaction failed";
    case PDS_REPO_EHOOK:
        return "refused";
    default:
        return "unknown error";
    }
}


void
pds_repo_time_now(char out[PDS_REPO_TIME_BUF])
{
    unsigned        ms;
    struct tm       tm;
    struct timeval  tv;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);

    ms = (unsigned) (tv.tv_usec / 1000) % 1000;

    strftime(out, PDS_REPO_TIME_BUF, "%Y-%m-%dT%H:%M:%S", &tm);
    out[19] = '.';
    out[20] = (char) ('0' + ms / 100);
    out[21] = (char) ('0' + ms / 10 % 10);
    out[22] = (char) ('0' + ms % 10);
    out[23] = 'Z';
    out[24] = '\0';
}


/* the block set */


static size_t
pds_bset_hash(const pds_cid_t *cid)
{
    uint64_t  h;

    memcpy(&h, cid->digest, sizeof(h));
    return (size_t) (h ^ cid->codec);
}


static int
pds_bset_init(pds_bset_t *s, const pds_alloc_t *a, size_t cap)
{
    memset(s, 0, sizeof(pds_bset_t));
    s->a = a;
    s->cap = cap;
    s->slots = pds_calloc(a, cap * sizeof(pds_bset_slot_t));
    s->order = pds_alloc(a, cap * sizeof(pds_cid_t));

    return (s->slots && s->order) ? 0 : -1;
}


static pds_bset_slot_t *
pds_bset_find(pds_bset_t *s, const pds_cid_t *cid)
{
    size_t  i;

    i = pds_bset_hash(cid) & (s->cap - 1);

    while (s->slots[i].used) {
        if (pds_cid_equal(&s->slots[i].cid, cid)) {
            return &s->slots[i];
        }

        i = (i + 1) & (s->cap - 1);
    }

    return &s->slots[i];
}


static int
pds_bset_grow(pds_bset_t *s)
{
    size_t            i;
    pds_bset_t        n;
    pds_bset_slot_t  *slot;

    if (pds_bset_init(&n, s->a, s->cap * 2) != 0) {
        return -1;
    }

    for (i = 0; i < s->len; i++) {
        slot = pds_bset_find(s, &s->order[i]);
        *pds_bset_find(&n, &s->order[i]) = *slot;
        n.order[i] = s->order[i];
    }

    n.len = s->len;
    n.bytes = s->bytes;

    pds_free(s->a, s->slots);
    pds_free(s->a, s->order);
    *s = n;

    return 0;
}


/* 1 added, 0 already there, -1 no memory */
static int
pds_bset_add(pds_bset_t *s, const pds_cid_t *cid, const uint8_t *p,
    size_t n, int copy)
{
    uint8_t          *c;
    pds_bset_slot_t  *slot;

    if ((s->len + 1) * 2 > s->cap && pds_bset_grow(s) != 0) {
        return -1;
    }

    slot = pds_bset_find(s, cid);
    if (slot->used) {
        return 0;
    }

    if (copy) {
        c = pds_alloc(s->a, n ? n : 1);
        if (c == NULL) {
            return -1;
        }

        memcpy(c, p, n);
        p = c;
    }

    slot->used = 1;
    slot->cid = *cid;
    slot->p = p;
    slot->n = n;

    s->order[s->len++] = *cid;
    s->bytes += n;

    return 1;
}


static int
pds_collect_cb(void *ctx, const pds_cid_t *cid, const uint8_t *p, size_t n)
{
    pds_collect_t  *c = ctx;

    if (pds_bset_add(c->set, cid, p, n, c->copy) < 0) {
        c->error = PDS_REPO_ENOMEM;
        return -1;
    }

    return 0;
}


/* blocks */


static pds_bc_entry_t **
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


static int
pds_bcache_init(pds_bcache_t *bc, const pds_alloc_t *a)
{
    memset(bc, 0, sizeof(pds_bcache_t));
    bc->a = *a;
    bc->cap = 256;
    bc->slots = pds_calloc(a, bc->cap * sizeof(pds_bc_entry_t *));

    return bc->slots ? 0 : -1;
}


/* the entry of a block, made from LMDB's state when first asked for */
static pds_bc_entry_t *
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
        e->base_refs = pds_get_u32((uint8_t *) val.mv_data + 8);
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
static int
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
static void
pds_bcache_request(pds_bcache_t *bc, size_t i)
{
    bc->request = i + 1;
    bc->nundo = 0;
}


static void
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
static int
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


static int
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
static int
pds_block_ref(pds_store_t *store, MDB_txn *txn, pds_bcache_t *bc,
    uint64_t uid, const pds_cid_t *cid, const uint8_t *p, size_t n,
    uint64_t rev)
{
    int              rc;
    uint8_t          k[PDS_BLOCK_KEY_LEN];
    uint8_t          hdr[PDS_BLOCK_HDR_LEN];
    uint8_t         *c;
    uint32_t         refs;
    MDB_val          key, val;
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

    pds_block_key(k, uid, cid);
    key.mv_data = k;
    key.mv_size = sizeof(k);

    rc = mdb_get(txn, store->db_blocks, &key, &val);

    if (rc == 0 && val.mv_size >= PDS_BLOCK_HDR_LEN) {
        refs = pds_get_u32((uint8_t *) val.mv_data + 8) + 1;

    } else if (rc == MDB_NOTFOUND) {
        refs = 1;

    } else {
        return PDS_REPO_ESTORE;
    }

    /*
     * The rev is that of the newest reference, so that a `since` export
     * also carries a block that an older state had only under another key.
     */
    pds_store_put_u64(hdr, rev);
    pds_put_u32(hdr + 8, refs);

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
static int
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

    refs = pds_get_u32((uint8_t *) val.mv_data + 8);

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
    pds_put_u32(copy + 8, refs - 1);
    val.mv_data = copy;

    rc = mdb_put(txn, store->db_blocks, &key, &val, 0);
    free(copy);

    return rc == 0 ? 0 : pds_repo_mdb(rc);
}


/* roots */


int
pds_repo_uid(pds_store_t *store, MDB_txn *txn, const char *did, size_t len,
    uint64_t *uid)
{
    return pds_store_uid_get(store, txn, did, len, uid);
}


int
pds_repo_get_root(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    pds_repo_root_t *root)
{
    int             rc;
    uint8_t         k[PDS_UID_LEN];
    MDB_val         key, val;
    const uint8_t  *p;

    pds_store_put_u64(k, uid);
    key.mv_data = k;
    key.mv_size = sizeof(k);

    rc = mdb_get(txn, store->db_repos, &key, &val);
    if (rc != 0) {
        return rc == MDB_NOTFOUND ? PDS_NOTFOUND : -1;
    }

    p = val.mv_data;

    if (val.mv_size <= PDS_ROOT_FIXED_LEN
        || pds_cid_unpack(&root->commit, p) != 0
        || pds_cid_unpack(&root->data, p + PDS_CID_PACK_LEN) != 0)
    {
        return -1;
    }

    memcpy(root->rev, p + 2 * PDS_CID_PACK_LEN, PDS_TID_LEN);
    root->rev[PDS_TID_LEN] = '\0';
    root->did = (const char *) p + PDS_ROOT_FIXED_LEN;
    root->did_len = val.mv_size - PDS_ROOT_FIXED_LEN;

    return 0;
}


static int
pds_repo_put_root(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    const pds_cid_t *commit, const pds_cid_t *data, const char *rev,
    const char *did, size_t did_len)
{
    int      rc;
    uint8_t  k[PDS_UID_LEN];
    uint8_t *p;
    MDB_val  key, val;

    pds_store_put_u64(k, uid);
    key.mv_data = k;
    key.mv_size = sizeof(k);
    val.mv_data = NULL;
    val.mv_size = PDS_ROOT_FIXED_LEN + did_len;

    rc = mdb_put(txn, store->db_repos, &key, &val, MDB_RESERVE);
    if (rc != 0) {
        return pds_repo_mdb(rc);
    }

    p = val.mv_data;
    pds_cid_pack(p, commit);
    pds_cid_pack(p + PDS_CID_PACK_LEN, data);
    memcpy(p + 2 * PDS_CID_PACK_LEN, rev, PDS_TID_LEN);
    memcpy(p + PDS_ROOT_FIXED_LEN, did, did_len);

    return 0;
}


/* commits */


static int
pds_commit_encode(pds_buf_t *b, const char *did, size_t did_len,
    const char *rev, const pds_cid_t *data, const uint8_t *sig)
{
    /* canonical order: did, rev, sig, data, prev, version */
    if (pds_cbor_put_map(b, sig ? 6 : 5) != 0
        || pds_cbor_put_str(b, "did") != 0
        || pds_cbor_put_text(b, did, did_len) != 0
        || pds_cbor_put_str(b, "rev") != 0
        || pds_cbor_put_str(b, rev) != 0)
    {
        return -1;
    }

    if (sig
        && (pds_cbor_put_str(b, "sig") != 0
            || pds_cbor_put_bytes(b, sig, PDS_SIG_LEN) != 0))
    {
        return -1;
    }

    if (pds_cbor_put_str(b, "data") != 0
        || pds_cbor_put_cid(b, data) != 0
        || pds_cbor_put_str(b, "prev") != 0
        || pds_cbor_put_null(b) != 0
        || pds_cbor_put_str(b, "version") != 0
        || pds_cbor_put_uint(b, 3) != 0)
    {
        return -1;
    }

    return 0;
}


/* signs {did, version 3, data, rev, prev: null}; the block goes in *out */
static int
pds_commit_sign(const pds_alloc_t *a, const pds_key_t *key, const char *did,
    size_t did_len, const char *rev, const pds_cid_t *data, pds_buf_t *out,
    pds_cid_t *cid)
{
    int        rc;
    uint8_t    sig[PDS_SIG_LEN];
    pds_buf_t  unsigned_;

    pds_buf_init(&unsigned_, a);

    if (pds_commit_encode(&unsigned_, did, did_len, rev, data, NULL) != 0) {
        pds_buf_free(&unsigned_);
        return PDS_REPO_ENOMEM;
    }

    rc = pds_key_sign(key, unsigned_.data, unsigned_.len, sig);
    pds_buf_free(&unsigned_);

    if (rc != 0) {
        return PDS_REPO_ECRYPTO;
    }

    pds_buf_init(out, a);

    if (pds_commit_encode(out, did, did_len, rev, data, sig) != 0) {
        return PDS_REPO_ENOMEM;
    }

    pds_cid_of_cbor(cid, out->data, out->len);

    return 0;
}


/* events */


static int
pds_event_put(pds_store_t *store, MDB_txn *txn, uint64_t seq,
    const pds_buf_t *frame)
{
    int      rc;
    uint8_t  k[PDS_SEQ_LEN];
    MDB_val  key, val;

    pds_store_put_u64(k, seq);
    key.mv_data = k;
    key.mv_size = sizeof(k);
    val.mv_data = frame->data;
    val.mv_size = frame->len;

    rc = mdb_put(txn, store->db_events, &key, &val, MDB_APPEND);
    if (rc == MDB_KEYEXIST) {
        rc = mdb_put(txn, store->db_events, &key, &val, MDB_NOOVERWRITE);
    }

    return rc == 0 ? 0 : pds_repo_mdb(rc);
}


/* the frame header {t, op: 1} and the common body fields */
static int
pds_event_head(pds_buf_t *b, const char *type)
{
    return (pds_cbor_put_map(b, 2) != 0
            || pds_cbor_put_str(b, "t") != 0
            || pds_cbor_put_str(b, type) != 0
            || pds_cbor_put_str(b, "op") != 0
            || pds_cbor_put_uint(b, 1) != 0) ? -1 : 0;
}


static int
pds_event_seq(pds_store_t *store, MDB_txn *txn, uint64_t *seq)
{
    int  rc;

    rc = pds_store_seq_next(store, txn, seq);

    if (rc == PDS_STORE_MAPFULL) {
        return PDS_REPO_EMAPFULL;
    }

    return rc == 0 ? 0 : PDS_REPO_ESTORE;
}


/*
 * The small events (#identity, #account): takes the next seq, writes the
 * frame header and a map of n fields opening with did, seq and time (the
 * canonical key order puts those three first); the caller adds the rest
 * and pds_event_small_end() stores the frame.  b is freed on failure.
 */
static int
pds_event_small_begin(pds_store_t *store, MDB_txn *txn, pds_buf_t *b,
    const char *type, size_t n, const char *did, uint64_t *seq)
{
    int   rc;
    char  now[PDS_REPO_TIME_BUF];

    rc = pds_event_seq(store, txn, seq);
    if (rc != 0) {
        return rc;
    }

    pds_repo_time_now(now);
    pds_buf_init(b, &pds_malloc_allocator);

    if (pds_event_head(b, type) != 0
        || pds_cbor_put_map(b, n) != 0
        || pds_cbor_put_str(b, "did") != 0
        || pds_cbor_put_str(b, did) != 0
        || pds_cbor_put_str(b, "seq") != 0
        || pds_cbor_put_uint(b, *seq) != 0
        || pds_cbor_put_str(b, "time") != 0
        || pds_cbor_put_str(b, now) != 0)
    {
        pds_buf_free(b);
        return PDS_REPO_ENOMEM;
    }

    return 0;
}


/* stores the frame (unless failed, a PDS_REPO_* error) and frees b */
static int
pds_event_small_end(pds_store_t *store, MDB_txn *txn, pds_buf_t *b,
    uint64_t seq, int failed, uint64_t *seqp)
{
    int  rc;

    rc = failed ? failed : pds_event_put(store, txn, seq, b);
    pds_buf_free(b);

    if (rc == 0 && seqp) {
        *seqp = seq;
    }

    return rc;
}


int
pds_repo_event_identity(pds_store_t *store, MDB_txn *txn, const char *did,
    const char *handle, uint64_t *seqp)
{
    int        rc;
    uint64_t   seq;
    pds_buf_t  b;

    /* did, seq, time, handle */
    rc = pds_event_small_begin(store, txn, &b, "#identity", handle ? 4 : 3,
                               did, &seq);
    if (rc != 0) {
        return rc;
    }

    rc = (handle
          && (pds_cbor_put_str(&b, "handle") != 0
              || pds_cbor_put_str(&b, handle) != 0))
         ? PDS_REPO_ENOMEM : 0;

    return pds_event_small_end(store, txn, &b, seq, rc, seqp);
}


int
pds_repo_event_account(pds_store_t *store, MDB_txn *txn, const char *did,
    int active, const char *status, uint64_t *seqp)
{
    int        rc;
    uint64_t   seq;
    pds_buf_t  b;

    /* did, seq, time, active, status */
    rc = pds_event_small_begin(store, txn, &b, "#account", status ? 5 : 4,
                               did, &seq);
    if (rc != 0) {
        return rc;
    }

    rc = (pds_cbor_put_str(&b, "active") != 0
          || pds_cbor_put_bool(&b, active) != 0
          || (status
              && (pds_cbor_put_str(&b, "status") != 0
                  || pds_cbor_put_str(&b, status) != 0)))
         ? PDS_REPO_ENOMEM : 0;

    return pds_event_small_end(store, txn, &b, seq, rc, seqp);
}


static int
pds_event_sync_put(pds_store_t *store, MDB_txn *txn, const char *did,
    size_t did_len, const char *rev, const pds_cid_t *commit,
    const uint8_t *cp, size_t cn, uint64_t *seqp)
{
    int               rc;
    char              now[PDS_REPO_TIME_BUF];
    uint64_t          seq;
    pds_buf_t         b;
    pds_car_writer_t  car;

    pds_car_writer_init(&car, &pds_malloc_allocator, 0, NULL, NULL);

    if (pds_car_header(&car, commit, 1) != 0
        || pds_car_block(&car, commit, cp, cn) != 0)
    {
        pds_car_writer_free(&car);
        return PDS_REPO_ENOMEM;
    }

    rc = pds_event_seq(store, txn, &seq);
    if (rc != 0) {
        pds_car_writer_free(&car);
        return rc;
    }

    pds_repo_time_now(now);
    pds_buf_init(&b, &pds_malloc_allocator);

    /* did, rev, seq, time, blocks */
    if (pds_event_head(&b, "#sync") != 0
        || pds_cbor_put_map(&b, 5) != 0
        || pds_cbor_put_str(&b, "did") != 0
        || pds_cbor_put_text(&b, did, did_len) != 0
        || pds_cbor_put_str(&b, "rev") != 0
        || pds_cbor_put_str(&b, rev) != 0
        || pds_cbor_put_str(&b, "seq") != 0
        || pds_cbor_put_uint(&b, seq) != 0
        || pds_cbor_put_str(&b, "time") != 0
        || pds_cbor_put_str(&b, now) != 0
        || pds_cbor_put_str(&b, "blocks") != 0
        || pds_cbor_put_bytes(&b, car.buf.data, car.buf.len) != 0)
    {
        rc = PDS_REPO_ENOMEM;

    } else {
        rc = pds_event_put(store, txn, seq, &b);
    }

    pds_buf_free(&b);
    pds_car_writer_free(&car);

    if (rc == 0 && seqp) {
        *seqp = seq;
    }

    return rc;
}


int
pds_repo_event_sync(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    uint64_t *seq)
{
    int              rc;
    size_t           n;
    uint8_t         *copy;
    const uint8_t   *p;
    pds_repo_root_t  root;
    char             did[512];

    rc = pds_repo_get_root(store, txn, uid, &root);
    if (rc != 0) {
        return rc == PDS_NOTFOUND ? PDS_REPO_ENOREPO : PDS_REPO_ESTORE;
    }

    if (root.did_len >= sizeof(did)) {
        return PDS_REPO_ESTORE;
    }

    memcpy(did, root.did, root.did_len);

    if (pds_repo_get_block(store, txn, uid, &root.commit, &p, &n) != 0) {
        return PDS_REPO_EMST;
    }

    /* the event is written in this transaction: copy the block first */
    copy = malloc(n);
    if (copy == NULL) {
        return PDS_REPO_ENOMEM;
    }

    memcpy(copy, p, n);

    rc = pds_event_sync_put(store, txn, did, root.did_len, root.rev,
                            &root.commit, copy, n, seq);
    free(copy);

    return rc;
}


int
pds_repo_event_get(pds_store_t *store, MDB_txn *txn, uint64_t seq,
    const uint8_t **frame, size_t *len)
{
    int      rc;
    uint8_t  k[PDS_SEQ_LEN];
    MDB_val  key, val;

    pds_store_put_u64(k, seq);
    key.mv_data = k;
    key.mv_size = sizeof(k);

    rc = mdb_get(txn, store->db_events, &key, &val);
    if (rc != 0) {
        return pds_store_rc(rc);
    }

    *frame = val.mv_data;
    *len = val.mv_size;

    return 0;
}


int
pds_event_iter_open(pds_store_t *store, MDB_txn *txn, uint64_t from_seq,
    pds_event_iter_t *it)
{
    uint8_t  k[PDS_SEQ_LEN];

    pds_store_put_u64(k, from_seq);

    return pds_store_iter_open(txn, store->db_events, k, sizeof(k), 0,
                               &it->it);
}


int
pds_event_iter_next(pds_event_iter_t *it, uint64_t *seq,
    const uint8_t **frame, size_t *len)
{
    int      rc;
    MDB_val  key, val;

    rc = pds_store_iter_next(&it->it, &key, &val);
    if (rc != 0) {
        return rc;
    }

    if (key.mv_size != PDS_SEQ_LEN) {
        return PDS_STORE_ERROR;
    }

    *seq = pds_store_get_u64(key.mv_data);
    *frame = val.mv_data;
    *len = val.mv_size;

    return 0;
}


void
pds_event_iter_close(pds_event_iter_t *it)
{
    pds_store_iter_close(&it->it);
}


int
pds_event_first_from(pds_store_t *store, MDB_txn *txn, uint64_t seq,
    uint64_t *found, const uint8_t **frame, size_t *len)
{
    int               rc;
    pds_event_iter_t  it;

    rc = pds_event_iter_open(store, txn, seq, &it);
    if (rc != 0) {
        return rc;
    }

    rc = pds_event_iter_next(&it, found, frame, len);
    pds_event_iter_close(&it);

    return rc;
}


/* the #commit frame */
static int
pds_event_commit(pds_buf_t *b, uint64_t seq, const char *did, size_t did_len,
    const pds_cid_t *commit, const char *rev, const char *since,
    const pds_buf_t *car, pds_repo_op_t *ops, size_t nops,
    const pds_cid_t *prev_data)
{
    int             has_prev;
    char            now[PDS_REPO_TIME_BUF];
    size_t          i, nout;
    const char     *action;
    pds_repo_op_t  *op;

    pds_repo_time_now(now);

    nout = 0;

    for (i = 0; i < nops; i++) {
        if (ops[i].done_action) {
            nout++;
        }
    }

    /*
     * canonical order: ops, rev, seq, repo, time, blobs, since, blocks,
     * commit, rebase, tooBig, prevData
     */
    if (pds_event_head(b, "#commit") != 0
        || pds_cbor_put_map(b, prev_data ? 12 : 11) != 0
        || pds_cbor_put_str(b, "ops") != 0
        || pds_cbor_put_array(b, nout) != 0)
    {
        return -1;
    }

    for (i = 0; i < nops; i++) {
        op = &ops[i];

        if (op->done_action == 0) {
            continue;
        }

        action = op->done_action == PDS_REPO_CREATE ? "create"
                 : op->done_action == PDS_REPO_UPDATE ? "update" : "delete";
        has_prev = op->has_prev;

        /* cid, path, prev, action */
        if (pds_cbor_put_map(b, has_prev ? 4 : 3) != 0
            || pds_cbor_put_str(b, "cid") != 0
            || (op->done_action == PDS_REPO_DELETE
                ? pds_cbor_put_null(b) : pds_cbor_put_cid(b, &op->cid)) != 0
            || pds_cbor_put_str(b, "path") != 0
            || pds_cbor_put_text_head(b, op->collection_len + 1
                                         + op->rkey_len) != 0
            || pds_buf_append(b, op->collection, op->collection_len) != 0
            || pds_buf_putc(b, '/') != 0
            || pds_buf_append(b, op->rkey, op->rkey_len) != 0
            || (has_prev
                && (pds_cbor_put_str(b, "prev") != 0
                    || pds_cbor_put_cid(b, &op->prev) != 0))
            || pds_cbor_put_str(b, "action") != 0
            || pds_cbor_put_str(b, action) != 0)
        {
            return -1;
        }
    }

    if (pds_cbor_put_str(b, "rev") != 0
        || pds_cbor_put_str(b, rev) != 0
        || pds_cbor_put_str(b, "seq") != 0
        || pds_cbor_put_uint(b, seq) != 0
        || pds_cbor_put_str(b, "repo") != 0
        || pds_cbor_put_text(b, did, did_len) != 0
        || pds_cbor_put_str(b, "time") != 0
        || pds_cbor_put_str(b, now) != 0
        || pds_cbor_put_str(b, "blobs") != 0
        || pds_cbor_put_array(b, 0) != 0
        || pds_cbor_put_str(b, "since") != 0
        || (since && since[0]
            ? pds_cbor_put_str(b, since) : pds_cbor_put_null(b)) != 0
        || pds_cbor_put_str(b, "blocks") != 0
        || pds_cbor_put_bytes(b, car->data, car->len) != 0
        || pds_cbor_put_str(b, "commit") != 0
        || pds_cbor_put_cid(b, commit) != 0
        || pds_cbor_put_str(b, "rebase") != 0
        || pds_cbor_put_bool(b, 0) != 0
        || pds_cbor_put_str(b, "tooBig") != 0
        || pds_cbor_put_bool(b, 0) != 0)
    {
        return -1;
    }

    if (prev_data
        && (pds_cbor_put_str(b, "prevData") != 0
            || pds_cbor_put_cid(b, prev_data) != 0))
    {
        return -1;
    }

    return 0;
}


/* the CAR of an event: commit first, then the set */
static int
pds_event_car(const pds_alloc_t *a, const pds_cid_t *commit,
    const pds_buf_t *cblock, pds_bset_t *set, pds_buf_t *out)
{
    size_t             i;
    pds_car_writer_t   car;
    pds_bset_slot_t   *slot;

    pds_car_writer_init(&car, a, 0, NULL, NULL);

    if (pds_car_header(&car, commit, 1) != 0
        || pds_car_block(&car, commit, cblock->data, cblock->len) != 0)
    {
        return -1;
    }

    for (i = 0; i < set->len; i++) {
        if (pds_cid_equal(&set->order[i], commit)) {
            continue;
        }

        slot = pds_bset_find(set, &set->order[i]);

        if (pds_car_block(&car, &slot->cid, slot->p, slot->n) != 0) {
            return -1;
        }
    }

    *out = car.buf;
    return 0;
}


/* records index */


static size_t
pds_record_key(uint8_t *k, uint64_t uid, const char *c, size_t clen,
    const char *r, size_t rlen)
{
    pds_store_put_u64(k, uid);
    memcpy(k + PDS_UID_LEN, c, clen);
    k[PDS_UID_LEN + clen] = 0;
    memcpy(k + PDS_UID_LEN + clen + 1, r, rlen);

    return PDS_UID_LEN + clen + 1 + rlen;
}


static int
pds_ident_valid(const char *c, size_t clen, const char *r, size_t rlen)
{
    return clen > 0 && clen <= 317 && rlen > 0 && rlen <= 512
           && pds_nsid_valid(c, clen) && pds_rkey_valid(r, rlen);
}


/* one write request, in its own nested transaction */


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

        op->done_action = 0;
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

        if (op->done_action == 0) {
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

        if (op->done_action == 0 || op->unchanged) {
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


/* a new repo */


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


/* reads */


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

    key.mv_data = k;

    if (reverse) {
        /* ascending rkeys, after cursor */
        step = MDB_NEXT;

        if (cursor) {
            memcpy(k + plen, cursor, cursor_len);
            key.mv_size = plen + cursor_len;

        } else {
            key.mv_size = plen;
        }

        rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);

        if (rc == 0 && cursor && key.mv_size == plen + cursor_len
            && memcmp(key.mv_data, k, plen) == 0
            && memcmp((uint8_t *) key.mv_data + plen, cursor, cursor_len)
               == 0)
        {
            rc = mdb_cursor_get(c, &key, &val, MDB_NEXT);
        }

    } else {
        /* descending rkeys, before cursor */
        step = MDB_PREV;

        if (cursor) {
            memcpy(k + plen, cursor, cursor_len);
            key.mv_size = plen + cursor_len;

        } else {
            k[plen - 1] = 1;            /* just past the collection */
            key.mv_size = plen;
        }

        rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);

        if (rc == 0) {
            rc = mdb_cursor_get(c, &key, &val, MDB_PREV);

        } else if (rc == MDB_NOTFOUND) {
            rc = mdb_cursor_get(c, &key, &val, MDB_LAST);
        }

        k[plen - 1] = 0;
    }

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


/* exports */


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
pds_repo_block_iter_open(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    pds_repo_block_iter_t *it)
{
    uint8_t  k[PDS_UID_LEN];

    pds_store_put_u64(k, uid);

    return pds_store_iter_open(txn, store->db_blocks, k, sizeof(k),
                               sizeof(k), &it->it);
}


int
pds_repo_block_iter_next(pds_repo_block_iter_t *it, pds_cid_t *cid,
    uint64_t *rev, const uint8_t **p, size_t *n)
{
    int      rc;
    MDB_val  key, val;

    rc = pds_store_iter_next(&it->it, &key, &val);
    if (rc != 0) {
        return rc;
    }

    if (key.mv_size != PDS_BLOCK_KEY_LEN
        || val.mv_size < PDS_BLOCK_HDR_LEN
        || pds_cid_unpack(cid, (uint8_t *) key.mv_data + PDS_UID_LEN) != 0)
    {
        return PDS_STORE_ERROR;
    }

    *rev = pds_store_get_u64(val.mv_data);
    *p = (const uint8_t *) val.mv_data + PDS_BLOCK_HDR_LEN;
    *n = val.mv_size - PDS_BLOCK_HDR_LEN;

    return 0;
}


void
pds_repo_block_iter_close(pds_repo_block_iter_t *it)
{
    pds_store_iter_close(&it->it);
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

    src.store = store;
    src.txn = txn;
    src.uid = uid;
    src.bc = NULL;
    bs.get = pds_src_get;
    bs.ctx = &src;

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


/* verification */


typedef struct {
    pds_store_t     *store;
    MDB_txn         *txn;
    uint64_t         uid;
    pds_cid_t       *refs;
    size_t           nrefs;
    size_t           cap;
    size_t           leaves;
    char            *err;
    size_t           err_len;
} pds_verify_t;


static int
pds_verify_ref(pds_verify_t *v, const pds_cid_t *cid)
{
    pds_cid_t  *n;

    if (v->nrefs == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 1024;
        n = realloc(v->refs, v->cap * sizeof(pds_cid_t));
        if (n == NULL) {
            snprintf(v->err, v->err_len, "out of memory");
            return -1;
        }

        v->refs = n;
    }

    v->refs[v->nrefs++] = *cid;
    return 0;
}


static int
pds_verify_node(void *ctx, const pds_cid_t *cid, const uint8_t *p, size_t n)
{
    (void) p;
    (void) n;

    return pds_verify_ref(ctx, cid);
}


static int
pds_verify_leaf(void *ctx, const char *key, size_t len,
    const pds_cid_t *value)
{
    int            rc;
    char           s[PDS_CID_STR_SIZE];
    const char    *slash;
    pds_cid_t      cid;
    pds_verify_t  *v = ctx;

    slash = memchr(key, '/', len);
    if (slash == NULL) {
        snprintf(v->err, v->err_len, "bad MST key");
        return -1;
    }

    rc = pds_repo_get_record(v->store, v->txn, v->uid, key,
                             (size_t) (slash - key), slash + 1,
                             len - (size_t) (slash - key) - 1, &cid, NULL,
                             NULL);

    if (rc != 0 || !pds_cid_equal(&cid, value)) {
        pds_cid_format(value, s);
        snprintf(v->err, v->err_len, "MST leaf %.*s (%s) %s",
                 (int) (len < 200 ? len : 200), key, s,
                 rc ? "missing from the record index"
                    : "has another CID in the record index");
        return -1;
    }

    v->leaves++;

    return pds_verify_ref(v, value);
}


static int
pds_verify_cid_cmp(const void *a, const void *b)
{
    return pds_cid_cmp(a, b);
}


int
pds_repo_verify(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    const char *did_key, char *err, size_t err_len)
{
    int                 rc;
    char                s[PDS_CID_STR_SIZE];
    size_t              n, i, records;
    uint8_t             k[PDS_UID_LEN];
    uint32_t            refs;
    MDB_val             key, val;
    pds_cid_t           cid, check;
    pds_mst_t          *mst;
    pds_buf_t           unsig;
    MDB_cursor         *c;
    pds_alloc_t         a;
    pds_arena_t        *arena;
    pds_cbor_t         *commit;
    pds_verify_t        v;
    pds_src_ctx_t       src;
    const uint8_t      *p;
    pds_repo_root_t     root;
    pds_blocksource_t   bs;
    const pds_cbor_t   *f_did, *f_ver, *f_data, *f_rev, *f_prev, *f_sig;

    memset(&v, 0, sizeof(v));
    v.store = store;
    v.txn = txn;
    v.uid = uid;
    v.err = err;
    v.err_len = err_len;

    if (pds_repo_get_root(store, txn, uid, &root) != 0) {
        snprintf(err, err_len, "no root for uid %llu",
                 (unsigned long long) uid);
        return -1;
    }

    arena = pds_arena_create();
    if (arena == NULL) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }

    a = pds_arena_allocator(arena);
    rc = -1;
    c = NULL;

    if (pds_repo_get_block(store, txn, uid, &root.commit, &p, &n) != 0) {
        snprintf(err, err_len, "commit block missing");
        goto done;
    }

    pds_cid_of_cbor(&check, p, n);

    if (!pds_cid_equal(&check, &root.commit)
        || pds_cbor_decode(p, n, &a, &commit) != 0)
    {
        snprintf(err, err_len, "bad commit block");
        goto done;
    }

    f_did = pds_cbor_map_get(commit, "did");
    f_ver = pds_cbor_map_get(commit, "version");
    f_data = pds_cbor_map_get(commit, "data");
    f_rev = pds_cbor_map_get(commit, "rev");
    f_prev = pds_cbor_map_get(commit, "prev");
    f_sig = pds_cbor_map_get(commit, "sig");

    if (commit->u.map.len != 6
        || f_did == NULL || f_did->type != PDS_CBOR_STRING
        || f_did->u.str.len != root.did_len
        || memcmp(f_did->u.str.data, root.did, root.did_len) != 0
        || f_ver == NULL || f_ver->type != PDS_CBOR_INT
        || f_ver->u.integer != 3
        || f_data == NULL || f_data->type != PDS_CBOR_CID
        || !pds_cid_equal(&f_data->u.cid, &root.data)
        || f_rev == NULL || f_rev->type != PDS_CBOR_STRING
        || strcmp(f_rev->u.str.data, root.rev) != 0
        || f_prev == NULL || f_prev->type != PDS_CBOR_NULL
        || f_sig == NULL || f_sig->type != PDS_CBOR_BYTES
        || f_sig->u.bytes.len != PDS_SIG_LEN)
    {
        snprintf(err, err_len, "commit does not match the repo root");
        goto done;
    }

    if (did_key) {
        pds_buf_init(&unsig, &a);

        if (pds_commit_encode(&unsig, root.did, root.did_len, root.rev,
                              &root.data, NULL) != 0
            || !pds_did_key_verify(did_key, strlen(did_key), unsig.data,
                                   unsig.len, f_sig->u.bytes.data,
                                   PDS_SIG_LEN, PDS_SIG_STRICT))
        {
            snprintf(err, err_len, "commit signature does not verify");
            goto done;
        }
    }

    if (pds_verify_ref(&v, &root.commit) != 0) {
        goto done;
    }

    src.store = store;
    src.txn = txn;
    src.uid = uid;
    src.bc = NULL;
    bs.get = pds_src_get;
    bs.ctx = &src;

    mst = pds_mst_load(&a, &bs, &root.data);
    if (mst == NULL) {
        snprintf(err, err_len, "out of memory");
        goto done;
    }

    if (pds_mst_nodes(mst, pds_verify_node, &v) != 0) {
        if (err[0] == '\0') {
            snprintf(err, err_len, "MST incomplete or invalid");
        }
        goto done;
    }

    err[0] = '\0';

    if (pds_mst_walk(mst, NULL, 0, pds_verify_leaf, &v) != 0) {
        if (err[0] == '\0') {
            snprintf(err, err_len, "MST walk failed");
        }
        goto done;
    }

    /* the record index holds nothing else */

    if (mdb_cursor_open(txn, store->db_records, &c) != 0) {
        snprintf(err, err_len, "cursor");
        goto done;
    }

    pds_store_put_u64(k, uid);
    key.mv_data = k;
    key.mv_size = PDS_UID_LEN;
    records = 0;

    for (rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
         rc == 0 && key.mv_size > PDS_UID_LEN
         && memcmp(key.mv_data, k, PDS_UID_LEN) == 0;
         rc = mdb_cursor_get(c, &key, &val, MDB_NEXT))
    {
        records++;
    }

    mdb_cursor_close(c);
    c = NULL;

    if (records != v.leaves) {
        snprintf(err, err_len, "record index has %zu entries, MST %zu",
                 records, v.leaves);
        rc = -1;
        goto done;
    }

    /* every block referenced as often as its count says, no others */

    qsort(v.refs, v.nrefs, sizeof(pds_cid_t), pds_verify_cid_cmp);

    if (mdb_cursor_open(txn, store->db_blocks, &c) != 0) {
        snprintf(err, err_len, "cursor");
        rc = -1;
        goto done;
    }

    key.mv_data = k;
    key.mv_size = PDS_UID_LEN;
    i = 0;

    for (rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
         rc == 0 && key.mv_size == PDS_BLOCK_KEY_LEN
         && memcmp(key.mv_data, k, PDS_UID_LEN) == 0;
         rc = mdb_cursor_get(c, &key, &val, MDB_NEXT))
    {
        if (val.mv_size < PDS_BLOCK_HDR_LEN
            || pds_cid_unpack(&cid, (uint8_t *) key.mv_data + PDS_UID_LEN)
               != 0)
        {
            snprintf(err, err_len, "bad block entry");
            rc = -1;
            goto done;
        }

        pds_cid_compute(&check, cid.codec,
                        (uint8_t *) val.mv_data + PDS_BLOCK_HDR_LEN,
                        val.mv_size - PDS_BLOCK_HDR_LEN);

        if (!pds_cid_equal(&check, &cid)) {
            snprintf(err, err_len, "block does not match its CID");
            rc = -1;
            goto done;
        }

        refs = pds_get_u32((uint8_t *) val.mv_data + 8);
        n = 0;

        while (i < v.nrefs && pds_cid_cmp(&v.refs[i], &cid) < 0) {
            pds_cid_format(&v.refs[i], s);
            snprintf(err, err_len, "referenced block %s missing", s);
            rc = -1;
            goto done;
        }

        while (i < v.nrefs && pds_cid_equal(&v.refs[i], &cid)) {
            i++;
            n++;
        }

        if (n != refs) {
            pds_cid_format(&cid, s);
            snprintf(err, err_len, "block %s has refcount %u, used %zu times",
                     s, refs, n);
            rc = -1;
            goto done;
        }
    }

    if (rc != 0 && rc != MDB_NOTFOUND) {
        snprintf(err, err_len, "cursor error");
        rc = -1;
        goto done;
    }

    if (i != v.nrefs) {
        snprintf(err, err_len, "referenced block missing");
        rc = -1;
        goto done;
    }

    rc = 0;

done:

    if (c) {
        mdb_cursor_close(c);
    }

    free(v.refs);
    pds_arena_destroy(arena);

    return rc;
}


typedef struct {
    char        *did;
    pds_cid_t    commit;
    char         rev[PDS_TID_BUF];
} pds_verify_last_t;


int
pds_repo_verify_events(pds_store_t *store, MDB_txn *txn, char *err,
    size_t err_len)
{
    int                 rc;
    size_t              i, used, nlast, cap;
    uint64_t            seq, prev, meta, uid;
    MDB_val             key, val;
    pds_cbor_t         *h, *b;
    MDB_cursor         *c;
    pds_alloc_t         a;
    pds_arena_t        *arena;
    pds_repo_root_t     root;
    const pds_cbor_t   *t, *op, *s, *repo, *commit, *rev;
    pds_verify_last_t  *last, *nl;

    static const char  last_seq[] = "last_seq";

    key.mv_data = (void *) last_seq;
    key.mv_size = sizeof(last_seq) - 1;

    rc = mdb_get(txn, store->meta, &key, &val);
    meta = (rc == 0 && val.mv_size == 8) ? pds_store_get_u64(val.mv_data)
                                         : 0;

    if (mdb_cursor_open(txn, store->db_events, &c) != 0) {
        snprintf(err, err_len, "cursor");
        return -1;
    }

    last = NULL;
    nlast = 0;
    cap = 0;
    prev = 0;
    rc = -1;
    arena = NULL;

    for (rc = mdb_cursor_get(c, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &key, &val, MDB_NEXT))
    {
        if (key.mv_size != PDS_SEQ_LEN) {
            snprintf(err, err_len, "bad event key");
            goto failed;
        }

        seq = pds_store_get_u64(key.mv_data);

        if (seq <= prev || seq > meta) {
            snprintf(err, err_len, "event %llu out of order (last_seq %llu)",
                     (unsigned long long) seq, (unsigned long long) meta);
            goto failed;
        }

        prev = seq;

        arena = pds_arena_create();
        if (arena == NULL) {
            snprintf(err, err_len, "out of memory");
            goto failed;
        }

        a = pds_arena_allocator(arena);

        if (pds_cbor_decode_prefix(val.mv_data, val.mv_size, &a, &h, &used)
            != 0
            || pds_cbor_decode((uint8_t *) val.mv_data + used,
                               val.mv_size - used, &a, &b) != 0)
        {
            snprintf(err, err_len, "event %llu does not decode",
                     (unsigned long long) seq);
            goto failed;
        }

        t = pds_cbor_map_get(h, "t");
        op = pds_cbor_map_get(h, "op");
        s = pds_cbor_map_get(b, "seq");

        if (t == NULL || t->type != PDS_CBOR_STRING || op == NULL
            || op->type != PDS_CBOR_INT || op->u.integer != 1
            || s == NULL || s->type != PDS_CBOR_INT
            || (uint64_t) s->u.integer != seq)
        {
            snprintf(err, err_len, "event %llu: bad header or seq",
                     (unsigned long long) seq);
            goto failed;
        }

        if (strcmp(t->u.str.data, "#commit") == 0) {
            repo = pds_cbor_map_get(b, "repo");
            commit = pds_cbor_map_get(b, "commit");
            rev = pds_cbor_map_get(b, "rev");

            if (repo == NULL || repo->type != PDS_CBOR_STRING
                || commit == NULL || commit->type != PDS_CBOR_CID
                || rev == NULL || rev->type != PDS_CBOR_STRING
                || rev->u.str.len != PDS_TID_LEN)
            {
                snprintf(err, err_len, "event %llu: bad #commit",
                         (unsigned long long) seq);
                goto failed;
            }

            for (i = 0; i < nlast; i++) {
                if (strcmp(last[i].did, repo->u.str.data) == 0) {
                    break;
                }
            }

            if (i == nlast) {
                if (nlast == cap) {
                    cap = cap ? cap * 2 : 16;
                    nl = realloc(last, cap * sizeof(pds_verify_last_t));
                    if (nl == NULL) {
                        snprintf(err, err_len, "out of memory");
                        goto failed;
                    }

                    last = nl;
                }

                last[i].did = strdup(repo->u.str.data);
                last[i].rev[0] = '\0';
                nlast++;

                if (last[i].did == NULL) {
                    snprintf(err, err_len, "out of memory");
                    goto failed;
                }

            } else if (strcmp(rev->u.str.data, last[i].rev) <= 0) {
                snprintf(err, err_len, "event %llu: rev %s not after %s",
                         (unsigned long long) seq, rev->u.str.data,
                         last[i].rev);
                goto failed;
            }

            last[i].commit = commit->u.cid;
            memcpy(last[i].rev, rev->u.str.data, PDS_TID_BUF);
        }

        pds_arena_destroy(arena);
        arena = NULL;
    }

    if (rc != MDB_NOTFOUND) {
        snprintf(err, err_len, "cursor error");
        goto failed;
    }

    for (i = 0; i < nlast; i++) {
        if (pds_repo_uid(store, txn, last[i].did, strlen(last[i].did), &uid)
            != 0)
        {
            continue;
        }

        if (pds_repo_get_root(store, txn, uid, &root) != 0
            || !pds_cid_equal(&root.commit, &last[i].commit)
            || strcmp(root.rev, last[i].rev) != 0)
        {
            snprintf(err, err_len, "%s: root is not its last #commit event",
                     last[i].did);
            goto failed;
        }
    }

    rc = 0;
    goto done;

failed:

    rc = -1;

done:

    if (arena) {
        pds_arena_destroy(arena);
    }

    for (i = 0; i < nlast; i++) {
        free(last[i].did);
    }

    free(last);
    mdb_cursor_close(c);

    return rc;
}
