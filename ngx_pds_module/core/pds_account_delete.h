/*
 * ngx_pds_module core: deleting an account (com.atproto.server.deleteAccount).
 *
 * In two parts, so that a big account never holds LMDB's write lock for
 * long:
 *
 *   pds_account_delete()  one transaction, small and bounded: everything
 *                         that makes the DID an account here (its row, the
 *                         handle, email and DID indexes, the repo root,
 *                         refresh tokens, app passwords, mailed tokens,
 *                         preferences, the invite codes made for it) is
 *                         removed, the #account event {active: false,
 *                         status: "deleted"} is appended, and a purge
 *                         marker is left in meta ("purge" + uid).
 *   pds_purge_step()      then, in as many transactions as it takes, the
 *                         bulk: records, blocks, blob rows and references,
 *                         and the account's earlier firehose events (as
 *                         the reference's sequencer deletes them: only the
 *                         deletion event stays).  The marker goes last.
 *
 * Nothing reaches the rows a purge has not removed yet (no DID maps to the
 * uid any more, and uids are never reused), so a crash between the two
 * only delays the purge: pds_purge_find() finds the marker again.  The
 * blob files (<data>/blobs/<uid>/) are the caller's to remove once the
 * purge of that uid is done.
 */

#ifndef PDS_ACCOUNT_DELETE_H
#define PDS_ACCOUNT_DELETE_H

#include <stddef.h>
#include <stdint.h>

#include "pds_account.h"
#include "pds_store.h"


#define PDS_PURGE_DID_MAX  2048


typedef struct {
    uint64_t        uid;
    uint64_t        seq;            /* the deletion event: events of the
                                       DID before it go */
    char            did[PDS_PURGE_DID_MAX + 1];
    int             stage;          /* where the purge is (pds_purge_step) */
    uint64_t        next_seq;       /* the event scan's position */
    uint64_t        removed;        /* rows removed so far */
} pds_purge_t;


/*
 * The first part, in the caller's write transaction, for the account acc
 * (as read in that transaction): 0, or an LMDB / errno code (the caller
 * aborts).  *seq gets the deletion event's number; purge (may be NULL) is
 * set up for pds_purge_step.
 */
int pds_account_delete(pds_store_t *s, MDB_txn *txn, const pds_account_t *acc,
    uint64_t *seq, pds_purge_t *purge);

/*
 * A purge left to do, of a uid above after (0: any): 0 with p set up,
 * PDS_NOTFOUND when there is none, or an error.
 */
int pds_purge_find(pds_store_t *s, MDB_txn *txn, uint64_t after,
    pds_purge_t *p);

/*
 * Removes at most budget rows of the purge p in the caller's write
 * transaction (an event scan also stops after reading 16 times budget
 * events): 0 when more remain (commit, then call again), PDS_NOTFOUND when
 * the purge is complete (its marker is removed in this transaction), or
 * an error.  Steps of one purge may interleave with other transactions;
 * running the same purge twice (two workers) is harmless.
 */
int pds_purge_step(pds_store_t *s, MDB_txn *txn, pds_purge_t *p,
    size_t budget);

#endif /* PDS_ACCOUNT_DELETE_H */
