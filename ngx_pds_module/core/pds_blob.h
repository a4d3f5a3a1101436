/*
 * ngx_pds_module core: blob bookkeeping.
 *
 * Blob bytes live in files (<data dir>/blobs/<uid hex>/<cid>) so nginx can
 * send them with sendfile; LMDB keeps, per account, a row per blob and the
 * references from records to blobs:
 *
 *   blobs      uid (8) + CID (36)                    -> row {mimeType, size,
 *                                                       createdAt, temp}
 *   blob_refs  'r' + uid + CID + record path         -> (empty)
 *              'p' + uid + record path + 0 + CID     -> (empty)
 *
 * An uploaded blob is temporary until a record references it; it is
 * deleted when its last referencing record goes, and temporary ones are
 * collected after a grace period.  Functions that drop blobs report their
 * CIDs so the caller can remove the files once the transaction commits.
 */

#ifndef PDS_BLOB_H
#define PDS_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "pds_mem.h"
#include "pds_cid.h"
#include "pds_store.h"


#define PDS_BLOB_MIME_MAX  256


typedef struct {
    char        mime[PDS_BLOB_MIME_MAX];
    uint64_t    size;
    int64_t     created;             /* unix seconds */
    int         temp;
} pds_blob_t;


/* CIDs of blobs dropped by an operation (files to remove) */
typedef struct {
    pds_cid_t  *cids;
    size_t      n;
    size_t      cap;
} pds_blob_gone_t;


/* the file name of a blob relative to the blobs directory: "<uid>/<cid>" */
size_t pds_blob_path(char *out, size_t cap, uint64_t uid,
    const pds_cid_t *cid);

/* records an upload (temporary unless the blob is already permanent) */
int pds_blob_put(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    const pds_cid_t *cid, const char *mime, uint64_t size, int64_t now);

/*
 * Removes the file path of blob cid of uid after a committed transaction
 * deleted its row, unless the blob was uploaded again meanwhile: the file
 * is moved aside (path + PDS_BLOB_ASIDE + pid), the row looked up in a
 * fresh read transaction, and the file put back if there is a row.  An
 * upload links its file in before its row commits and again after if it
 * is gone, so a row always ends with its file.  1 removed, 0 kept or
 * already gone, -1 error (errno).
 */
/* the raw CID and size of the bytes of file path: 0 or an errno */
int pds_blob_hash_file(const char *path, pds_cid_t *cid, uint64_t *size);

#define PDS_BLOB_ASIDE  ".pds-check-"

int pds_blob_file_drop(pds_store_t *s, uint64_t uid, const pds_cid_t *cid,
    const char *path, long pid);

/* 0, PDS_NOTFOUND or an LMDB error */
int pds_blob_get(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    const pds_cid_t *cid, pds_blob_t *blob);

/*
 * Sets the blobs a record (path "<collection>/<rkey>") references, in
 * place of those it referenced before (n = 0: the record is deleted).
 * Newly referenced blobs become permanent; blobs no longer referenced by
 * any record are deleted and added to gone.  A referenced blob that was
 * never uploaded gives PDS_NOTFOUND with *missing set.
 */
int pds_blob_set_refs(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    const char *path, size_t path_len, const pds_cid_t *cids, size_t n,
    pds_blob_gone_t *gone, const pds_cid_t **missing);

/* deletes the account's temporary blobs created before "before" */
int pds_blob_collect(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    int64_t before, pds_blob_gone_t *gone);

/* the account's blob CIDs in CID order after cursor (NULL: first) */
typedef int (*pds_blob_cb)(void *ctx, const pds_cid_t *cid);
long pds_blob_list(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    const pds_cid_t *cursor, size_t limit, pds_blob_cb cb, void *ctx);

/*
 * The account's blob counts: *expected, the distinct blobs its records
 * reference; *imported, the blobs it has uploaded (temporary ones too).
 * 0 or an error.
 */
int pds_blob_usage(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    uint64_t *expected, uint64_t *imported);

void pds_blob_gone_free(pds_blob_gone_t *gone);

/*
 * Migration: notes that the record at path references cid whether or not
 * the blob was uploaded yet (an imported repo's blobs come afterwards);
 * an uploaded blob becomes permanent.  0 or an error.
 */
int pds_blob_expect(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    const char *path, size_t path_len, const pds_cid_t *cid);

/* receives a missing blob and the path of one record referencing it */
typedef int (*pds_blob_missing_cb)(void *ctx, const pds_cid_t *cid,
    const char *path, size_t path_len);

/*
 * The blobs records reference that were never uploaded, in CID order after
 * cursor (NULL: from the start), at most limit: the count given to cb, or
 * -1 on error.
 */
long pds_blob_list_missing(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    const pds_cid_t *cursor, size_t limit, pds_blob_missing_cb cb,
    void *ctx);

#endif /* PDS_BLOB_H */
