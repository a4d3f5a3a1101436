/*
 * ngx_pds_module core: blob hygiene, the checker of a tenant's blob files
 * against its blob rows (pds_blob.h).
 *
 * Two kinds of disagreement appear over years of running:
 *
 *   a file without a row   an upload renames its file into place before
 *                          its row commits, and a blob's row is deleted
 *                          before its file is unlinked: a crash in between
 *                          leaves the file.  Removed once older than the
 *                          grace period (an upload in flight is younger).
 *   a row without its file a file lost or damaged on disk (or unlinked by
 *                          the late cleanup of an earlier deletion of the
 *                          same blob).  Repaired by deleting the row: the
 *                          records' references stay, so the blob is listed
 *                          by com.atproto.repo.listMissingBlobs and an
 *                          upload of the same bytes makes it whole again
 *                          (permanent at once, since records reference it).
 *
 * Safe beside running nginx workers (LMDB is multi-process): rows are read
 * in short read transactions and deleted only in a write transaction that
 * looks at the row and the file again; a file is removed by moving it
 * aside (<name>.pds-check-<pid>), looking at what was moved and either
 * unlinking it or putting it back, so an upload that renames the same
 * blob's file in meanwhile is never lost.  The work is cut into steps of a
 * bounded number of rows or files, so a write transaction is short.
 */

#ifndef PDS_BLOB_CHECK_H
#define PDS_BLOB_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "pds_cid.h"
#include "pds_store.h"
#include "pds_blob.h"


/* seconds a file without a row is left alone (uploads in flight) */
#define PDS_BLOB_CHECK_GRACE  3600

/* the suffix of a file moved aside by a check */
#define PDS_BLOB_CHECK_ASIDE  PDS_BLOB_ASIDE


/* what a check found (the report callback's kind) */
typedef enum {
    PDS_BLOB_CHECK_MISSING = 1,   /* a row whose file is missing */
    PDS_BLOB_CHECK_DAMAGED,       /* a row whose file has another size
                                     (or, verifying, other bytes) */
    PDS_BLOB_CHECK_ORPHAN,        /* a file without a row, past the grace */
    PDS_BLOB_CHECK_YOUNG,         /* a file without a row, within it */
    PDS_BLOB_CHECK_LEFTOVER,      /* a file an interrupted check moved
                                     aside, or a stale temporary file */
    PDS_BLOB_CHECK_UNKNOWN        /* a name that is no blob's (kept) */
} pds_blob_check_kind_e;


typedef struct {
    uint64_t    rows;             /* blob rows looked at */
    uint64_t    files;            /* blob files looked at */
    uint64_t    bytes;            /* in those files */
    uint64_t    missing;
    uint64_t    damaged;
    uint64_t    orphans;
    uint64_t    young;
    uint64_t    leftovers;
    uint64_t    unknown;
    uint64_t    repaired;         /* rows deleted (missing or damaged) */
    uint64_t    removed;          /* files removed */
    uint64_t    errors;           /* files or rows that could not be read
                                     or changed (see the report) */
} pds_blob_check_stats_t;


/*
 * Told of each finding: the account's uid (0 for a name outside an
 * account's folder), the file's name relative to the data directory, and
 * whether it was fixed (row deleted, file removed).
 */
typedef void (*pds_blob_check_report_pt)(void *ctx,
    pds_blob_check_kind_e kind, uint64_t uid, const char *name, int fixed);


typedef struct {
    int64_t                    now;       /* unix seconds */
    int64_t                    grace;     /* seconds; 0: the default */
    int                        repair;    /* 0: report only */
    int                        verify;    /* hash every file */
    pds_blob_check_report_pt   report;    /* may be NULL */
    void                      *report_ctx;
} pds_blob_check_conf_t;


typedef struct pds_blob_check_s  pds_blob_check_t;


/* a check of the blobs of store, whose data directory is data_dir */
pds_blob_check_t *pds_blob_check_create(pds_store_t *store,
    const char *data_dir, const pds_blob_check_conf_t *conf);

/*
 * One step: at most budget rows, then (once the rows are done) at most
 * budget directory entries, each write transaction covering one step.
 * *done is set when the check is over.  0, or an LMDB error / errno that
 * ended the check (*done set).
 */
int pds_blob_check_step(pds_blob_check_t *c, size_t budget, int *done);

const pds_blob_check_stats_t *pds_blob_check_stats(pds_blob_check_t *c);

void pds_blob_check_free(pds_blob_check_t *c);

/* a whole check, in steps of 256: 0 or an error */
int pds_blob_check_run(pds_store_t *store, const char *data_dir,
    const pds_blob_check_conf_t *conf, pds_blob_check_stats_t *stats);

/*
 * Regular files under dir (nginx's client_body_temp_path, up to 3 levels
 * of subfolders) older than the grace: reported as leftovers, removed when
 * repairing.  0 or an errno (dir unreadable).
 */
int pds_blob_check_temp(const char *dir, const pds_blob_check_conf_t *conf,
    pds_blob_check_stats_t *stats);

#endif /* PDS_BLOB_CHECK_H */
