/*
 * ngx_pds_module core, the repository engine: what its files share
 * (core/repo/pds_repo_*.c only; the public interface is pds_repo.h).
 *
 * The layout of the rows (docs/STORAGE.md) is defined here, once:
 *   blocks   uid (8) + codec (1) + digest (32) -> rev (u64) + refcount (u32)
 *                                               + the block's bytes
 *   records  uid (8) + collection + 0 + rkey  -> codec + digest + rev (u64)
 *   repos    uid (8)                          -> commit + data + rev + did
 */

#ifndef PDS_REPO_INT_H
#define PDS_REPO_INT_H

#include "pds_repo.h"
#include "pds_mst.h"


#define PDS_CID_PACK_LEN     33     /* codec + digest */
#define PDS_BLOCK_KEY_LEN    (PDS_UID_LEN + PDS_CID_PACK_LEN)
#define PDS_BLOCK_HDR_LEN    12     /* rev (u64) + refcount (u32) */
#define PDS_BLOCK_REFS_AT    8      /* the refcount's place in it */
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


/* pds_repo_store.c: rows */

/* a CID as stored in keys and values: codec + digest (PDS_CID_PACK_LEN) */
void pds_cid_pack(uint8_t *p, const pds_cid_t *cid);
int pds_cid_unpack(pds_cid_t *cid, const uint8_t *p);
/* key[PDS_BLOCK_KEY_LEN] of a block */
void pds_block_key(uint8_t *key, uint64_t uid, const pds_cid_t *cid);
/* a block row header's refcount (big-endian u32) */
uint32_t pds_get_u32(const uint8_t *p);
void pds_put_u32(uint8_t *p, uint32_t v);
/* an LMDB result as 0, PDS_REPO_EMAPFULL or PDS_REPO_ESTORE */
int pds_repo_mdb(int rc);
/* a rev (TID) as the number stored in block and record rows; 0 if bad */
uint64_t pds_rev_u64(const char *rev);
/* k[PDS_RECORD_KEY_MAX] of a record; returns its length */
size_t pds_record_key(uint8_t *k, uint64_t uid, const char *c, size_t clen,
    const char *r, size_t rlen);
/* collection and rkey syntax */
int pds_ident_valid(const char *c, size_t clen, const char *r, size_t rlen);
int pds_repo_put_root(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    const pds_cid_t *commit, const pds_cid_t *data, const char *rev,
    const char *did, size_t did_len);


/* pds_repo_block.c: blocks */

/* a pds_blocksource_t get() over a pds_src_ctx_t */
int pds_src_get(void *ctx, const pds_cid_t *cid, const uint8_t **p,
    size_t *n);
/* bs reads the blocks of repo uid (through bc unless NULL) */
void pds_src_init(pds_src_ctx_t *src, pds_blocksource_t *bs,
    pds_store_t *store, MDB_txn *txn, uint64_t uid, pds_bcache_t *bc);
/* bc may be NULL (outside write batches): straight into LMDB */
int pds_block_ref(pds_store_t *store, MDB_txn *txn, pds_bcache_t *bc,
    uint64_t uid, const pds_cid_t *cid, const uint8_t *p, size_t n,
    uint64_t rev);
int pds_block_ref_n(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    const pds_cid_t *cid, const uint8_t *p, size_t n, uint64_t rev,
    uint32_t add);
int pds_block_unref(pds_store_t *store, MDB_txn *txn, pds_bcache_t *bc,
    uint64_t uid, const pds_cid_t *cid);
/* a block row read by a cursor: 0, or -1 if it is malformed */
int pds_block_row(const MDB_val *key, const MDB_val *val, pds_cid_t *cid,
    uint64_t *rev, uint32_t *refs, const uint8_t **p, size_t *n);


/* pds_repo_bcache.c: the batch block cache */

int pds_bcache_init(pds_bcache_t *bc, const pds_alloc_t *a);
pds_bc_entry_t **pds_bcache_slot(pds_bcache_t *bc, uint64_t uid,
    const pds_cid_t *cid);
pds_bc_entry_t *pds_bcache_get(pds_bcache_t *bc, pds_store_t *store,
    MDB_txn *txn, uint64_t uid, const pds_cid_t *cid, int *err);
int pds_bcache_journal(pds_bcache_t *bc, pds_bc_entry_t *e);
void pds_bcache_request(pds_bcache_t *bc, size_t i);
void pds_bcache_undo(pds_bcache_t *bc);
int pds_bcache_flush(pds_bcache_t *bc, pds_store_t *store, MDB_txn *txn);


/* pds_repo_commit.c: block sets and commits */

size_t pds_bset_hash(const pds_cid_t *cid);
int pds_bset_init(pds_bset_t *s, const pds_alloc_t *a, size_t cap);
pds_bset_slot_t *pds_bset_find(pds_bset_t *s, const pds_cid_t *cid);
int pds_bset_add(pds_bset_t *s, const pds_cid_t *cid, const uint8_t *p,
    size_t n, int copy);
/* a pds_block_cb adding to a pds_collect_t's set */
int pds_collect_cb(void *ctx, const pds_cid_t *cid, const uint8_t *p,
    size_t n);
/* the commit block, unsigned when sig is NULL */
int pds_commit_encode(pds_buf_t *b, const char *did, size_t did_len,
    const char *rev, const pds_cid_t *data, const uint8_t *sig);
int pds_commit_sign(const pds_alloc_t *a, const pds_key_t *key,
    const char *did, size_t did_len, const char *rev, const pds_cid_t *data,
    pds_buf_t *out, pds_cid_t *cid);


/* pds_repo_event.c: events */

int pds_event_put(pds_store_t *store, MDB_txn *txn, uint64_t seq,
    const pds_buf_t *frame);
/* the next seq, as a PDS_REPO_* result */
int pds_event_seq(pds_store_t *store, MDB_txn *txn, uint64_t *seq);
int pds_event_sync_put(pds_store_t *store, MDB_txn *txn, const char *did,
    size_t did_len, const char *rev, const pds_cid_t *commit,
    const uint8_t *cp, size_t cn, uint64_t *seqp);
int pds_event_commit(pds_buf_t *b, uint64_t seq, const char *did,
    size_t did_len, const pds_cid_t *commit, const char *rev,
    const char *since, const pds_buf_t *car, pds_repo_op_t *ops,
    size_t nops, const pds_cid_t *prev_data);
int pds_event_car(const pds_alloc_t *a, const pds_cid_t *commit,
    const pds_buf_t *cblock, pds_bset_t *set, pds_buf_t *out);


/* pds_repo_apply.c: a write request (or a new repo) while it is applied */
typedef struct {
    pds_store_t        *store;
    MDB_txn            *txn;
    pds_bcache_t       *bc;             /* NULL outside write batches */
    pds_repo_write_t   *req;            /* its result fields are filled */
    const pds_alloc_t  *a;

    pds_repo_root_t     root;           /* before the request */
    const char         *did;
    size_t              did_len;

    pds_src_ctx_t       src;
    pds_blocksource_t   bs;
    pds_mst_t          *mst;
    int                 noop;           /* no op changes the tree */

    pds_bset_t          nodes;          /* new node blocks of the tree */
    pds_bset_t          relevant;       /* the blocks the event carries */
    pds_mst_diff_t      diff;           /* node blocks the tree dropped */
    pds_buf_t           cblock;         /* the signed commit block */
    pds_buf_t           car;            /* the event's CAR */
    uint64_t            rev64;
} pds_apply_t;

/* one request of a batch, in its nested transaction: a PDS_REPO_* code */
int pds_repo_apply(pds_store_t *store, MDB_txn *txn, pds_bcache_t *bc,
    pds_repo_write_t *req, const pds_alloc_t *a);
/* the next rev, the signed commit over req->data, the event's CAR of set */
int pds_repo_sign(pds_apply_t *ap, const char *last_rev, pds_bset_t *set);
/* the new node blocks, the commit block, the new root */
int pds_repo_put_commit(pds_apply_t *ap, pds_bset_t *nodes);
/* the #commit event (req->seq set) */
int pds_repo_put_event(pds_apply_t *ap, const char *since,
    const pds_cid_t *prev_data);

#endif /* PDS_REPO_INT_H */
