/*
 * ngx_pds_module core: how full a tenant's store is, and whether a write
 * that adds data may still run.
 *
 * The LMDB map size is a ceiling reserved as address space: without
 * MDB_WRITEMAP, data.mdb grows only as pages are written, so a large map
 * costs neither disk nor memory until used.  Near that ceiling (or when
 * the disk holding the data directory is nearly full) a reserve of pages
 * is kept for writes that free data (record and account deletions), so a
 * user can always make room; writes that add data are refused with a
 * clear error before they run.
 *
 * pds_space_verdict() and the sizes are pure arithmetic (unit-tested);
 * pds_space_check() reads the numbers of a store inside its write
 * transaction.
 */

#ifndef PDS_STORE_SPACE_H
#define PDS_STORE_SPACE_H

#include <stddef.h>
#include <stdint.h>

#include "pds_store.h"


#define PDS_SPACE_OK     0
#define PDS_SPACE_MAP    1      /* the map (pds_lmdb_map_size) is full */
#define PDS_SPACE_DISK   2      /* the file system is full */

#define PDS_SPACE_MIN_RESERVE   ((uint64_t) 8 * 1024 * 1024)

/* the default map of one tenant among n: a share of an address budget */
#define PDS_SPACE_MAP_BUDGET    ((uint64_t) 32 << 40)     /* 32 TB */
#define PDS_SPACE_MAP_MIN       ((uint64_t) 4 << 30)      /* 4 GB */
#define PDS_SPACE_MAP_MAX       ((uint64_t) 64 << 30)     /* 64 GB */

/*
 * the least room asked of any write that adds data, so that near the
 * ceiling small writes (a like, a blob row, an account) are all refused
 * at the same point
 */
#define PDS_SPACE_MIN_NEED      ((uint64_t) 256 * 1024)

/* pages a write is assumed to touch besides its records' bytes */
#define PDS_SPACE_PAGES_PER_WRITE  12


typedef struct {
    uint64_t   map;             /* bytes of the map */
    uint64_t   used;            /* bytes up to the last page used */
    uint64_t   free;            /* bytes of pages in the freelist */
    uint64_t   reserve;         /* bytes kept for deletions */
    uint64_t   disk_free;       /* bytes the file system has left */
    uint64_t   disk_reserve;    /* of which kept for deletions */
    uint64_t   page;            /* the page size */
    int        verdict;         /* PDS_SPACE_* for the write asked about */
} pds_space_t;


/* the default map size of each of n tenants (n 0 counts as 1) */
uint64_t pds_space_map_default(uint64_t tenants);

/* the reserve kept for deletions in a map of map bytes */
uint64_t pds_space_reserve(uint64_t map);
/*
 * the disk space kept for deletions on a file system of disk bytes: 1% of
 * it, at least 8 MB, at most the map's reserve
 */
uint64_t pds_space_disk_reserve(uint64_t disk, uint64_t map);

/* bytes a write of nwrites commits with record_bytes of records may take */
uint64_t pds_space_need(uint64_t nwrites, uint64_t record_bytes,
    uint64_t page);

/*
 * Whether a write that adds need bytes (at least PDS_SPACE_MIN_NEED) may
 * run: PDS_SPACE_OK, or
 * PDS_SPACE_MAP when the map's room (unused pages and freelist pages)
 * would drop under the reserve, PDS_SPACE_DISK when the disk's would
 * (disk_free UINT64_MAX: unknown, not checked).  Only what grows the file
 * needs disk: pages from the freelist are rewritten in place.
 */
int pds_space_verdict(const pds_space_t *sp, uint64_t need);

/*
 * Fills *sp for store (txn: the caller's write transaction, held so the
 * numbers do not move) and gives the verdict for need bytes.  The
 * freelist is counted only near either threshold (map or disk), then at most once a
 * second (the count is kept in the store); the disk is asked with
 * statvfs() of dir (NULL: not checked).  0, or PDS_STORE_ERROR.
 */
int pds_space_check(pds_store_t *store, MDB_txn *txn, const char *dir,
    uint64_t need, pds_space_t *sp);

/* mdb_txn_commit()'s result: was it the map or the disk being full? */
int pds_space_commit_full(int mdb_rc);

#endif /* PDS_STORE_SPACE_H */
