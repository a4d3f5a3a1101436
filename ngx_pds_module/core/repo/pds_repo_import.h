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
 *     the tree is exactly the canonical tree of its leaves (rebuilt here
 *     and compared by root CID), so no forged or foreign repo gets in.
 * The file is mapped, not read into memory; memory grows with the number
 * of blocks (an index of them and the decoded tree), not with their size.
 *
 * pds_repo_import_write() then replaces the account's repo by the imported
 * one inside the caller's write transaction (blocks with their counts, the
 * record index, the root), in the same layout the engine writes.
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

void pds_repo_import_close(pds_repo_import_t *imp);

/* removes the blocks, records and root of repo uid in txn: 0 or error */
int pds_repo_clear(pds_store_t *store, MDB_txn *txn, uint64_t uid);

#endif /* PDS_REPO_IMPORT_H */
