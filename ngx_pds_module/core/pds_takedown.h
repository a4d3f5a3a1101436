/*
 * ngx_pds_module core: takedowns of single records and blobs.
 *
 * An operator's com.atproto.admin.updateSubjectStatus on a record (its
 * path in a repo) or a blob (its CID in an account) leaves a marker, the
 * takedown's ref, in the "takedowns" table; reads that must not serve a
 * taken-down item ask for it.  An account's own takedown is its row's
 * takedownRef (pds_account.h).  Keys (docs/STORAGE.md):
 *
 *   uid (8) 'r' collection 0 rkey    -> ref
 *   uid (8) 'b' CID (36, binary)     -> ref
 *
 * Results: 0, PDS_NOTFOUND, EINVAL (a key LMDB cannot hold, on a write),
 * or an LMDB error.
 */

#ifndef PDS_TAKEDOWN_H
#define PDS_TAKEDOWN_H

#include <stddef.h>
#include <stdint.h>

#include "pds_cid.h"
#include "pds_mem.h"
#include "pds_store.h"


/*
 * The ref of the record's takedown: 0 with *ref (NUL-terminated, from a;
 * both may be NULL to ask only whether there is one), or PDS_NOTFOUND.
 */
int pds_takedown_record(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    const char *collection, size_t clen, const char *rkey, size_t rlen,
    const pds_alloc_t *a, char **ref);

/* takes the record down with ref, or (ref NULL) lifts its takedown */
int pds_takedown_record_set(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    const char *collection, size_t clen, const char *rkey, size_t rlen,
    const char *ref);

/* the same for a blob of the account uid */
int pds_takedown_blob(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    const pds_cid_t *cid, const pds_alloc_t *a, char **ref);
int pds_takedown_blob_set(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    const pds_cid_t *cid, const char *ref);

#endif /* PDS_TAKEDOWN_H */
