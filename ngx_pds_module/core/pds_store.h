/*
 * ngx_pds_module core: the LMDB store of one PDS tenant.
 *
 * One environment per tenant (a directory), opened once per process.  The
 * layout of the named databases is described in docs/STORAGE.md; every
 * database handle is opened (created) at pds_store_open() and exposed here
 * so that other core files can use it inside their own transactions.
 *
 * Integers in keys are big-endian so that LMDB's bytewise order is their
 * numeric order.  Accounts are known inside the store by a 64-bit "uid"
 * allocated from meta "next_uid", which keeps the per-account keys short.
 *
 * Thread safety: the handles are read-only after open.  The only mutable
 * state in pds_store_t is the rev (TID) generator, guarded by tid_lock.
 */

#ifndef PDS_STORE_H
#define PDS_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

#include <lmdb.h>

#include "pds_tid.h"


#define PDS_STORE_SCHEMA  1

/*
 * The one not-found / exists pair of the core: every core function that
 * looks something up or inserts something (store, account, blob, repo
 * reads, prefs) returns 0, PDS_NOTFOUND or PDS_EXISTS for those outcomes,
 * never LMDB's own MDB_NOTFOUND / MDB_KEYEXIST, so that callers compare
 * with one pair whatever module answered.
 */
#define PDS_NOTFOUND         1
#define PDS_EXISTS           2

/* pds_store_* results besides 0, PDS_NOTFOUND and PDS_EXISTS */
#define PDS_STORE_ERROR     -1
#define PDS_STORE_MAPFULL   -2      /* the map is full: grow map_size */

/* older names of the pair, kept for code not yet converted */
#define PDS_STORE_NOTFOUND   PDS_NOTFOUND
#define PDS_STORE_EXISTS     PDS_EXISTS

#define PDS_UID_LEN          8
#define PDS_SEQ_LEN          8


typedef struct pds_store_s  pds_store_t;

struct pds_store_s {
    MDB_env          *env;

    MDB_dbi           meta;            /* name -> value (see STORAGE.md) */

    /* the repository engine (pds_repo.c) */
    MDB_dbi           db_dids;         /* did -> uid */
    MDB_dbi           db_repos;        /* uid -> repo root */
    MDB_dbi           db_blocks;       /* uid, codec, digest -> block */
    MDB_dbi           db_records;      /* uid, collection, 0, rkey -> CID */
    MDB_dbi           db_events;       /* seq -> firehose frame */

    /* reserved for the account, blob and preference code */
    MDB_dbi           db_accounts;
    MDB_dbi           db_handles;
    MDB_dbi           db_emails;
    MDB_dbi           db_invites;
    MDB_dbi           db_tokens;
    MDB_dbi           db_app_passwords;
    MDB_dbi           db_blobs;
    MDB_dbi           db_blob_refs;
    MDB_dbi           db_prefs;
    MDB_dbi           db_seq_by_did;

    /* mail and the tokens it carries (pds_outbox.c, pds_email_token.c) */
    MDB_dbi           db_outbox;       /* id -> queued mail */
    MDB_dbi           db_email_tokens; /* uid, purpose -> token row */

    /* record and blob takedowns (pds_takedown.c) */
    MDB_dbi           db_takedowns;    /* uid, 'r'/'b', path/CID -> ref */

    /* the OAuth authorization server (pds_oauth_store.c) */
    MDB_dbi           db_oauth;

    int               dead_readers;    /* stale reader slots cleared */

    /*
     * The map asked for and the one in effect: LMDB raises a map smaller
     * than the data already stored to the data's size (the store is then
     * full until the map is raised).
     */
    size_t            map_asked;
    size_t            map_size;

    /*
     * The last count of the freelist's pages (pds_store_space.c), kept
     * for a second; read and written only under LMDB's write lock.
     */
    uint64_t          space_free_pages;
    uint64_t          space_counted_ms;  /* monotonic; 0: never counted */

    pthread_mutex_t   tid_lock;
    pds_tid_gen_t     tid_gen;         /* repo revs, under tid_lock */
};


/*
 * Opens (creating when missing) the environment in directory dir, checks or
 * writes the schema version, opens every named database.  On failure
 * returns -1 with a message in err.
 */
int pds_store_open(const char *dir, size_t map_size, unsigned max_readers,
    pds_store_t **out, char *err, size_t err_len);
void pds_store_close(pds_store_t *store);

/* 0 if a read transaction works and the schema is ours, -1 otherwise */
int pds_store_health(pds_store_t *store);

/* Read / write transactions (MDB_NOTLS: any thread may finish them). */
int pds_store_read_begin(pds_store_t *store, MDB_txn **txn);
int pds_store_write_begin(pds_store_t *store, MDB_txn **txn);

/*
 * maps an LMDB return code to 0 / PDS_NOTFOUND / PDS_EXISTS (MDB_KEYEXIST)
 * / PDS_STORE_MAPFULL / PDS_STORE_ERROR
 */
int pds_store_rc(int mdb_rc);

/* the next rev (TID string) greater than last_rev (may be NULL / "") */
int pds_store_next_rev(pds_store_t *store, const char *last_rev,
    char out[PDS_TID_BUF]);

/* big-endian 64-bit integers in keys */
void pds_store_put_u64(uint8_t *p, uint64_t v);
uint64_t pds_store_get_u64(const uint8_t *p);

/* did -> uid: 0, PDS_NOTFOUND or an error */
int pds_store_uid_get(pds_store_t *store, MDB_txn *txn, const char *did,
    size_t len, uint64_t *uid);
/*
 * Allocates the next uid (meta "next_uid", starting at 1) and maps did to
 * it; PDS_NOTFOUND is never returned, PDS_EXISTS if the did already has a
 * uid (*uid then set to it).
 */
int pds_store_uid_alloc(pds_store_t *store, MDB_txn *txn, const char *did,
    size_t len, uint64_t *uid);

/*
 * The event sequence.  pds_store_seq_next() returns in *seq the number for
 * a new event: one more than the greater of meta "last_seq" and the last
 * key in events, and stores it as the new "last_seq" (same transaction), so
 * sequence numbers never go backwards, even after events are trimmed.
 */
int pds_store_seq_next(pds_store_t *store, MDB_txn *txn, uint64_t *seq);
/* the last sequence number handed out (0: none) */
int pds_store_seq_last(pds_store_t *store, MDB_txn *txn, uint64_t *seq);

/*
 * The value under the 8-byte big-endian key id (uid or seq) of dbi: 0,
 * PDS_NOTFOUND or an LMDB error code.
 */
int pds_store_get_id(MDB_txn *txn, MDB_dbi dbi, uint64_t id, MDB_val *val);
/* a u64 counter of meta (0 when absent); 0 or a PDS_STORE_* error */
int pds_store_meta_u64(pds_store_t *store, MDB_txn *txn, const char *name,
    uint64_t *v);
int pds_store_meta_set_u64(pds_store_t *store, MDB_txn *txn,
    const char *name, uint64_t v);

/* the number of keys that start with prefix (a scan: for rare calls) */
int pds_store_count_prefix(MDB_txn *txn, MDB_dbi dbi, const void *prefix,
    size_t len, uint64_t *count);


/*
 * A cursor walk in key order over one database, from the first key at or
 * after start, while keys begin with the first prefix_len bytes of start
 * (0: to the end of the database).  The table-specific iterators of the
 * core (events, accounts, a repo's blocks) are built on it; code outside
 * the core uses those.  The iterator only reads, may be kept while the
 * caller's transaction lives (across event loop turns: MDB_NOTLS) and
 * must be closed, before or after that transaction ends.  What next()
 * points at stays valid until the transaction ends (or, in a write
 * transaction, until its next write).
 */
#define PDS_STORE_ITER_START_MAX  16

typedef struct {
    MDB_cursor  *cur;
    uint8_t      start[PDS_STORE_ITER_START_MAX];
    size_t       start_len;
    size_t       prefix_len;
    int          state;                 /* PDS_STORE_ITER_* (pds_store.c) */
} pds_store_iter_t;

/* 0 or PDS_STORE_ERROR; the first key is sought by the first next() */
int pds_store_iter_open(MDB_txn *txn, MDB_dbi dbi, const void *start,
    size_t len, size_t prefix_len, pds_store_iter_t *it);
/* 0 (key, val set), PDS_NOTFOUND after the last key, or PDS_STORE_ERROR */
int pds_store_iter_next(pds_store_iter_t *it, MDB_val *key, MDB_val *val);
/* the same from the 8-byte key id (uid, seq); within: only keys under it */
int pds_store_iter_open_id(MDB_txn *txn, MDB_dbi dbi, uint64_t id,
    int within, pds_store_iter_t *it);
/* closes the cursor; harmless on a closed (or never opened, zeroed) one */
void pds_store_iter_close(pds_store_iter_t *it);

#endif /* PDS_STORE_H */
