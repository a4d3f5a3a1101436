/*
 * ngx_pds_module core: a hot backup of a tenant's data directory.
 *
 * The LMDB environment is copied with LMDB's own compacting copy, which
 * reads one snapshot while writers go on; the blob files that snapshot
 * lists are then linked (or copied, across file systems) beside it, read
 * from the copy, so the backup holds exactly the blobs its database names.
 * Blob files are never rewritten (a blob's name is its CID), which is what
 * makes linking them safe.  A blob deleted after the snapshot and before
 * its file was reached is counted as missing (the backup still opens; that
 * blob answers as missing).
 *
 * Restoring is copying the backup into an empty data directory: it is a
 * data directory (lmdb/data.mdb, blobs/<uid>/<cid>).
 */

#ifndef PDS_BACKUP_H
#define PDS_BACKUP_H

#include <stddef.h>
#include <stdint.h>


typedef struct {
    uint64_t    db_bytes;        /* the compacted data.mdb */
    uint64_t    blobs;           /* blob files in the backup */
    uint64_t    blob_bytes;
    uint64_t    linked;          /* of which hard links */
    uint64_t    missing;         /* listed, but gone from the source */
    uint64_t    last_seq;        /* the event sequence in the snapshot */
    uint64_t    accounts;
} pds_backup_stats_t;


/*
 * Backs up data_dir (holding lmdb/ and blobs/) into out_dir, which must not
 * exist or be empty.  0, or -1 with a message in err.
 */
int pds_backup(const char *data_dir, const char *out_dir,
    pds_backup_stats_t *st, char *err, size_t err_len);

#endif /* PDS_BACKUP_H */
