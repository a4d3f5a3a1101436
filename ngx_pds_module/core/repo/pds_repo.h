/*
 * ngx_pds_module core: the repository engine.
 *
 * Signed v3 commits over a Merkle Search Tree (pds_mst.h), stored in the
 * LMDB layout of pds_store.h (docs/STORAGE.md), with the firehose event of
 * every commit written in the same transaction.
 *
 * Writes come in batches: pds_repo_write_batch() applies N independent
 * requests (possibly for different repos) in ONE LMDB write transaction,
 * with one commit and one fsync; each request runs in a nested transaction
 * and gets its own signed commit and result, or its own error that leaves
 * the others untouched.  pds_repo_write_batch_txn() does the same inside a
 * caller's write transaction (nothing is committed).
 *
 * Reads take a caller's transaction (usually a read-only one on the event
 * loop) and point into LMDB pages: results stay valid until that
 * transaction ends (or, for write transactions, until its next write).
 *
 * Thread safety: no global state; the only shared mutable state is the rev
 * generator of the store (locked).  A batch may run on any thread.
 */

#ifndef PDS_REPO_H
#define PDS_REPO_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "pds_mem.h"
#include "pds_cid.h"
#include "pds_keys.h"
#include "pds_store.h"
#include "pds_tid.h"
#include "pds_car.h"


#define PDS_REPO_MAX_OPS          200
#define PDS_REPO_MAX_EVENT_BLOCKS 2000000   /* bytes, like the reference */
#define PDS_REPO_MAX_RECORD       1000000   /* bytes of one record block */
#define PDS_REPO_TIME_BUF         25        /* "YYYY-MM-DDTHH:MM:SS.mmmZ" */

/* request / op results */
#define PDS_REPO_OK               0
#define PDS_REPO_UNCHANGED        1     /* nothing to commit (see SKIP_NOOP) */
#define PDS_REPO_EINVAL          -1     /* bad op: key, record, count,
                                           two ops on one record */
#define PDS_REPO_ENOREPO         -2     /* no repo for the uid */
#define PDS_REPO_ESWAP           -3     /* swapCommit / swapRecord mismatch */
#define PDS_REPO_EEXISTS         -4     /* create of an existing record */
#define PDS_REPO_ENOTFOUND       -5     /* update / delete of a missing one */
#define PDS_REPO_ETOOBIG         -6     /* event blocks over 2,000,000 bytes */
#define PDS_REPO_EMAPFULL        -7     /* LMDB map full: grow map_size */
#define PDS_REPO_ESTORE          -8     /* other LMDB error */
#define PDS_REPO_ENOMEM          -9
#define PDS_REPO_ECRYPTO        -10     /* signing failed */
#define PDS_REPO_EMST           -11     /* MST error (missing/bad block) */
#define PDS_REPO_EBUSY          -12     /* batch not run (txn failed) */
#define PDS_REPO_EHOOK          -13     /* refused by the request's hook */

/*
 * The kinds of writes: what an op asks for (action), and what it did
 * (done_action: PUT resolves to CREATE or UPDATE; NOOP for a delete of a
 * missing record with PDS_REPO_OP_IF_EXISTS, or before the op ran).
 */
typedef enum {
    PDS_REPO_NOOP = 0,
    PDS_REPO_CREATE,
    PDS_REPO_UPDATE,
    PDS_REPO_DELETE,
    PDS_REPO_PUT                        /* update if present, else create */
} pds_repo_action_t;

/* swapRecord */
typedef enum {
    PDS_REPO_SWAP_NONE = 0,             /* no check */
    PDS_REPO_SWAP_CID,                  /* the record must be at swap_cid */
    PDS_REPO_SWAP_ABSENT                /* the record must not exist */
} pds_repo_swap_t;

/* op flags */
#define PDS_REPO_OP_IF_EXISTS     0x1   /* delete of a missing record: no-op */

/* request flags */
#define PDS_REPO_SKIP_NOOP        0x1   /* all ops no-ops: no commit */


typedef struct {
    pds_repo_action_t   action;
    unsigned            flags;
    const char         *collection;
    size_t              collection_len;
    const char         *rkey;
    size_t              rkey_len;
    const uint8_t      *record;         /* DAG-CBOR, create/update/put */
    size_t              record_len;
    pds_repo_swap_t     swap;
    pds_cid_t           swap_cid;

    /* results */
    pds_repo_action_t   done_action;    /* CREATE, UPDATE, DELETE or NOOP */
    int                 unchanged;      /* update to the same CID */
    int                 has_prev;
    pds_cid_t           cid;            /* the new record (not for delete) */
    pds_cid_t           prev;           /* the record before, if has_prev */
} pds_repo_op_t;


typedef struct pds_repo_write_s {
    uint64_t            uid;
    const pds_key_t    *key;            /* the repo's signing key */
    pds_repo_op_t      *ops;
    size_t              nops;
    const pds_cid_t    *swap_commit;    /* NULL: no check */
    unsigned            flags;

    /* results */
    int                 status;         /* PDS_REPO_OK, _UNCHANGED or error */
    size_t              failed_op;      /* the op an error is about */
    pds_cid_t           commit;         /* new (or, if unchanged, current) */
    pds_cid_t           data;
    char                rev[PDS_TID_BUF];
    char                since[PDS_TID_BUF];
    pds_cid_t           prev_commit;    /* the root before (and on ESWAP) */
    uint64_t            seq;            /* the #commit event */
    char                error[96];

    /*
     * Called in the request's own (child) transaction once its commit is
     * written (not for unchanged writes), to change other tables with it
     * (blob references); a non-zero return (a PDS_REPO_E* code, with a
     * message in error) undoes just this request.
     */
    int               (*hook)(pds_store_t *store, MDB_txn *txn,
                              struct pds_repo_write_s *w, void *data);
    void               *hook_data;
} pds_repo_write_t;


/* a repo root, read with pds_repo_get_root (points into LMDB) */
typedef struct {
    pds_cid_t           commit;
    pds_cid_t           data;
    char                rev[PDS_TID_BUF];
    const char         *did;            /* not NUL-terminated */
    size_t              did_len;
} pds_repo_root_t;


const char *pds_repo_strerror(int status);

/* "2026-11-24T23:04:52.123Z" for now, NUL-terminated */
void pds_repo_time_now(char out[PDS_REPO_TIME_BUF]);


/*
 * Creates the empty repo of a new account inside the caller's write
 * transaction: allocates the uid (PDS_REPO_EEXISTS if the did has one),
 * writes the empty MST node, the first signed commit and the root, and
 * appends a #commit event (no ops) then a #sync event.  On success *uid
 * and the result fields of res (commit, data, rev, seq of #commit) are set.
 */
int pds_repo_create(pds_store_t *store, MDB_txn *txn, const char *did,
    size_t did_len, const pds_key_t *key, uint64_t *uid,
    pds_repo_write_t *res);
/*
 * The same without the events: the repo of an account that moves here,
 * created deactivated (its events come when it is activated).
 */
int pds_repo_create_quiet(pds_store_t *store, MDB_txn *txn, const char *did,
    size_t did_len, const pds_key_t *key, uint64_t *uid,
    pds_repo_write_t *res);

/*
 * Applies the requests in one write transaction and commits it (one
 * fsync).  Returns 0 when the transaction committed (each request's status
 * tells its own fate), or a PDS_REPO_E* code when the transaction itself
 * failed (then every request that had succeeded gets that status).
 */
int pds_repo_write_batch(pds_store_t *store, pds_repo_write_t *reqs,
    size_t n);
/*
 * The same inside the caller's write transaction, which is not committed.
 * The blocks the batch changes are written at its end, once each; when
 * that fails, every request that had succeeded gets the error, which is
 * returned, and the caller must abort the transaction.
 */
int pds_repo_write_batch_txn(pds_store_t *store, MDB_txn *txn,
    pds_repo_write_t *reqs, size_t n);


/*
 * Events: append a sequenced firehose frame in the caller's write
 * transaction; *seq (may be NULL) gets its number.  handle and status may
 * be NULL (omitted).
 */
int pds_repo_event_identity(pds_store_t *store, MDB_txn *txn,
    const char *did, const char *handle, uint64_t *seq);
int pds_repo_event_account(pds_store_t *store, MDB_txn *txn,
    const char *did, int active, const char *status, uint64_t *seq);
/* #sync for the repo's current commit */
int pds_repo_event_sync(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    uint64_t *seq);
/* the frame of event seq: 0, PDS_NOTFOUND or error */
int pds_repo_event_get(pds_store_t *store, MDB_txn *txn, uint64_t seq,
    const uint8_t **frame, size_t *len);

/*
 * The event table in sequence order from from_seq on (firehose, backfill).
 * next() gives 0 with the event's seq and frame (pointing into LMDB, valid
 * while the transaction lives), PDS_NOTFOUND after the last event, or a
 * negative value on an LMDB error or a malformed key.  The iterator may be
 * kept across event loop turns within one read transaction, and must be
 * closed (before or after the transaction ends).
 */
typedef struct {
    pds_store_iter_t    it;
} pds_event_iter_t;

int pds_event_iter_open(pds_store_t *store, MDB_txn *txn, uint64_t from_seq,
    pds_event_iter_t *it);
int pds_event_iter_next(pds_event_iter_t *it, uint64_t *seq,
    const uint8_t **frame, size_t *len);
void pds_event_iter_close(pds_event_iter_t *it);
/* the first event at or after seq: 0 (*found, frame set), PDS_NOTFOUND or
 * negative */
int pds_event_first_from(pds_store_t *store, MDB_txn *txn, uint64_t seq,
    uint64_t *found, const uint8_t **frame, size_t *len);


/*
 * Event retention.  pds_event_time(): the "time" of a frame in ms since the
 * epoch, or -1 when it has none.  pds_event_trim(): removes, oldest first,
 * up to max events sequenced before cutoff_ms, in the caller's write
 * transaction; *removed counts them and *more is 1 when it stopped at max
 * (older events may remain).  The highest seq removed is kept in meta
 * "events_trimmed" (pds_event_trimmed(): 0 when none was), so a cursor
 * before it is known to have missed events.  0 or a negative error.
 */
int64_t pds_event_time(const uint8_t *frame, size_t len);
int pds_event_trim(pds_store_t *store, MDB_txn *txn, int64_t cutoff_ms,
    size_t max, size_t *removed, int *more);
int pds_event_trimmed(pds_store_t *store, MDB_txn *txn, uint64_t *seq);
/*
 * The count bound: removes, oldest first, events beyond the newest keep
 * (at most max of them, never one sequenced at or after floor_ms), as
 * pds_event_trim() does; *more is 1 when more than keep remain.
 */
int pds_event_trim_count(pds_store_t *store, MDB_txn *txn, uint64_t keep,
    int64_t floor_ms, size_t max, size_t *removed, int *more);


/* Reads (any transaction). 0, PDS_NOTFOUND, or -1 on error. */
int pds_repo_uid(pds_store_t *store, MDB_txn *txn, const char *did,
    size_t len, uint64_t *uid);
int pds_repo_get_root(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    pds_repo_root_t *root);
int pds_repo_get_block(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    const pds_cid_t *cid, const uint8_t **p, size_t *n);
int pds_repo_get_record(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    const char *collection, size_t clen, const char *rkey, size_t rlen,
    pds_cid_t *cid, const uint8_t **p, size_t *n);

/* receives a record: return 0 to go on */
typedef int (*pds_repo_record_cb)(void *ctx, const char *rkey, size_t rlen,
    const pds_cid_t *cid, const uint8_t *p, size_t n);
/* receives a collection name: return 0 to go on */
typedef int (*pds_repo_name_cb)(void *ctx, const char *name, size_t len);

/*
 * Records of a collection, rkey descending (the reference's default) or
 * ascending if reverse, starting after cursor (an rkey; NULL: from the
 * start), at most limit of them.  Returns the number given to cb, or -1.
 */
long pds_repo_list_records(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    const char *collection, size_t clen, size_t limit, const char *cursor,
    size_t cursor_len, int reverse, pds_repo_record_cb cb, void *ctx);
/* the collections of a repo in order; the count, or -1 */
long pds_repo_list_collections(pds_store_t *store, MDB_txn *txn,
    uint64_t uid, pds_repo_name_cb cb, void *ctx);
/* the number of stored blocks and of records of a repo: 0 or an error */
int pds_repo_usage(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    uint64_t *blocks, uint64_t *records);


/*
 * CAR exports into a writer (see pds_car.h); the caller calls
 * pds_car_finish().  0, PDS_NOTFOUND (no repo) or -1.
 */
/* the whole repo, or (since a rev, non-NULL) the blocks added after it */
int pds_repo_export(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    const char *since, pds_car_writer_t *w);

/*
 * One repo's stored blocks in key (CID) order: next() gives 0 with the
 * block's CID, the rev (as its 64-bit TID number) of the newest commit
 * that referenced it, and its bytes (pointing into LMDB); PDS_NOTFOUND
 * after the last block; negative on an LMDB error or a malformed row.
 * Like the event iterator it may be kept across event loop turns within
 * one read transaction, and must be closed.
 */
typedef struct {
    pds_store_iter_t    it;
} pds_repo_block_iter_t;

int pds_repo_block_iter_open(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    pds_repo_block_iter_t *it);
int pds_repo_block_iter_next(pds_repo_block_iter_t *it, pds_cid_t *cid,
    uint64_t *rev, const uint8_t **p, size_t *n);
void pds_repo_block_iter_close(pds_repo_block_iter_t *it);

/*
 * A resumable pds_repo_export (getRepo streaming): start() writes the CAR
 * header and the commit block (0, PDS_NOTFOUND: no repo, or -1); each
 * step() writes blocks until the writer has produced at least budget more
 * bytes: 0 when more remain, PDS_NOTFOUND when every block is written (the
 * caller then calls pds_car_finish), -1 on error.  since is a rev as its
 * TID number (pds_tid_decode), 0 for the whole repo.  end() must be called
 * in any case; the transaction must live from start() to end().
 */
typedef struct {
    pds_repo_block_iter_t  blocks;
    pds_cid_t              commit;
    uint64_t               since;
} pds_repo_export_t;

int pds_repo_export_start(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    uint64_t since, pds_car_writer_t *w, pds_repo_export_t *ex);
int pds_repo_export_step(pds_repo_export_t *ex, pds_car_writer_t *w,
    uint64_t budget);
void pds_repo_export_end(pds_repo_export_t *ex);
/* commit + MST path + record (when present) for one key */
int pds_repo_export_proof(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    const char *collection, size_t clen, const char *rkey, size_t rlen,
    pds_car_writer_t *w);
/* the given blocks (missing ones skipped, counted in *missing), no root */
int pds_repo_export_blocks(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    const pds_cid_t *cids, size_t n, pds_car_writer_t *w, size_t *missing);


/*
 * Consistency check of one repo: the root's commit block decodes and (when
 * did_key is not NULL) its signature verifies, the MST is complete, the
 * record index holds exactly the MST's leaves, every stored block is
 * referenced exactly as many times as its refcount says.  0, or -1 with a
 * message in err.
 */
int pds_repo_verify(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    const char *did_key, char *err, size_t err_len);
/*
 * The event log: keys strictly increasing and at most meta last_seq, every
 * frame decodes, each repo's last #commit is its current root.
 */
int pds_repo_verify_events(pds_store_t *store, MDB_txn *txn, char *err,
    size_t err_len);

#endif /* PDS_REPO_H */
