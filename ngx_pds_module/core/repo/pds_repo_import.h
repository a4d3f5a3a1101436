/*
 * ngx_pds_module core: importing a repository from a CAR file (migration,
 * com.atproto.repo.importRepo).
 *
 * pds_repo_import_open() reads and checks the whole file before anything
 * is written, outside any transaction:
 *   - the CAR is well formed and every block hashes to its CID;
 *   - its one root is a version 3 commit of the expected DID (prev null),
 *     encoded canonically, whose signature verifies with the signing key
 *     the account's DID document publishes (did_key), with a valid rev;
 *   - the MST is complete, every record block is present and decodes, and
 *     the tree is exactly the canonical tree of its leaves (each node
 *     checked as it is walked, see pds_mst_check.c), so no forged or
 *     foreign repo gets in.
 * The file is mapped, not read into memory.
 *
 * pds_repo_import_write() then replaces the account's repo by the imported
 * one inside the caller's write transaction (blocks with their counts, the
 * record index, the root), in the same layout the engine writes; or
 * pds_repo_import_step() does it in bounded steps, one transaction each.
 *
 * Memory: the file and an index of its blocks (16 bytes a slot, in an
 * unnamed file next to the upload) are mapped; the tree is checked and
 * written by a walk that holds one node per layer (pds_mst_check_walk), so
 * the heap does not grow with the repo.  Written in steps, LMDB's dirty
 * pages (malloc'd, and kept by LMDB for reuse) are bounded by the step.
 */

#ifndef PDS_REPO_IMPORT_H
#define PDS_REPO_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "pds_repo.h"


typedef struct pds_repo_import_s  pds_repo_import_t;

/* receives each record while writing: return 0 to go on */
typedef int (*pds_repo_import_record_cb)(void *ctx, const char *key,
    size_t len, const pds_cid_t *cid, const uint8_t *p, size_t n);


/*
 * Opens and checks the CAR file at path (at most max_bytes; 0: no limit)
 * for the repo of did, signed by did_key ("did:key:z..."; NULL skips the
 * signature check, for tests only).  0 with *out set, or -1 with a message
 * for the client in err.
 */
int pds_repo_import_open(const char *path, uint64_t max_bytes,
    const char *did, const char *did_key, pds_repo_import_t **out,
    char *err, size_t err_len);

/* what was checked */
const char *pds_repo_import_rev(const pds_repo_import_t *imp);
const pds_cid_t *pds_repo_import_commit(const pds_repo_import_t *imp);
uint64_t pds_repo_import_records(const pds_repo_import_t *imp);
uint64_t pds_repo_import_blocks(const pds_repo_import_t *imp);

/*
 * Replaces the repo of uid (whose blocks, records and root are removed
 * first) by the imported one, in txn.  record (may be NULL) sees every
 * record written, e.g. to note the blobs it references.  0, or a
 * PDS_REPO_E* code (the caller aborts the transaction).
 */
int pds_repo_import_write(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    pds_repo_import_t *imp, pds_repo_import_record_cb record, void *ctx);

/* pds_repo_import_step()'s results besides 0 and the PDS_REPO_E* codes */
#define PDS_REPO_IMPORT_MORE     1      /* commit, then call it again */
#define PDS_REPO_IMPORT_ELOST  -100     /* another import of the account
                                           began, or the account is gone */

/*
 * One step of pds_repo_import_write(), in its own write transaction: at
 * most budget rows of the old repo removed, or budget records written
 * (with the tree's nodes on the way); the last step writes the root.  The
 * first step marks the account (meta "import:<uid>") with this import's
 * token and every later one checks it: a newer import of the same account
 * takes the mark over and this one stops (PDS_REPO_IMPORT_ELOST), so two
 * imports never interleave; the last step removes it.  Until the last
 * step the account has no root and part of the records: for an account
 * whose repo is not served (deactivated).  0 when done,
 * PDS_REPO_IMPORT_MORE, or an error (abort the transaction; an import
 * begun again starts over).
 */
int pds_repo_import_step(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    pds_repo_import_t *imp, size_t budget, pds_repo_import_record_cb record,
    void *ctx);

void pds_repo_import_close(pds_repo_import_t *imp);

/* 1 while an import of uid is being written in steps, or was cut short
 * (its repo is incomplete until an import completes), or the marker cannot
 * be read; else 0 */
int pds_repo_import_pending(pds_store_t *store, MDB_txn *txn, uint64_t uid);

/* removes the import marker of uid (an account deleted while, or after, an
 * import of it was cut short): 0 or error */
int pds_repo_import_forget(pds_store_t *store, MDB_txn *txn, uint64_t uid);

/* removes the blocks, records and root of repo uid in txn: 0 or error */
int pds_repo_clear(pds_store_t *store, MDB_txn *txn, uint64_t uid);

#endif /* PDS_REPO_IMPORT_H */
