/*
 * How full a store is (core/pds_store_space.c): the default map of n
 * tenants, the reserve kept for deletions, the verdict on given numbers,
 * then a real environment: a 64 GB map leaves data.mdb small, a 16 MB map
 * filled until the check refuses still takes deletions, the freed pages
 * count again, and a map asked below the data is raised to it.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tap.h"
#include "pds_store_space.h"


#define MB  ((uint64_t) 1 << 20)
#define GB  ((uint64_t) 1 << 30)


static void
arithmetic(void)
{
    pds_space_t  sp;

    is_int(pds_space_map_default(1), 64 * GB, "1 tenant: 64 GB");
    is_int(pds_space_map_default(0), 64 * GB, "0 counts as 1");
    is_int(pds_space_map_default(512), 64 * GB, "512 tenants: 64 GB each");
    is_int(pds_space_map_default(1000), (uint64_t) 32 * 1024 * GB / 1000,
           "1,000 tenants: 32 TB / 1,000 each (~32.8 GB)");
    is_int(pds_space_map_default(8192), 4 * GB, "8,192 tenants: 4 GB");
    is_int(pds_space_map_default(100000), 4 * GB, "100,000: never under 4 GB");

    is_int(pds_space_reserve(24 * MB), 8 * MB, "24 MB map: 8 MB reserve");
    is_int(pds_space_reserve(64 * GB), 64 * GB / 100, "64 GB: 1 percent");
    is_int(pds_space_reserve(800 * MB), 8 * MB, "800 MB: 8 MB (1 percent is 8)");

    is_int(pds_space_disk_reserve(40 * MB, 64 * GB), 8 * MB,
           "a 40 MB disk keeps 8 MB");
    is_int(pds_space_disk_reserve(10 * GB, 64 * GB), 10 * GB / 100,
           "a 10 GB disk keeps 1 percent");
    is_int(pds_space_disk_reserve(1024 * GB, 64 * GB), 64 * GB / 100,
           "a 1 TB disk keeps at most the map's reserve");

    is_int(pds_space_need(1, 1000, 4096), 3000 + 12 * 4096,
           "need: 3x the records and 12 pages a write");
    is_int(pds_space_need(0, 0, 4096), 0, "need of nothing");

    memset(&sp, 0, sizeof(sp));
    sp.map = 100 * MB;
    sp.reserve = 8 * MB;
    sp.disk_reserve = 8 * MB;
    sp.disk_free = UINT64_MAX;
    sp.page = 4096;

    sp.used = 50 * MB;
    is_int(pds_space_verdict(&sp, 1 * MB), PDS_SPACE_OK, "half used: ok");

    sp.used = 92 * MB - PDS_SPACE_MIN_NEED;
    is_int(pds_space_verdict(&sp, 0), PDS_SPACE_OK,
           "room = reserve + the least need: ok");
    sp.used += 4096;
    is_int(pds_space_verdict(&sp, 0), PDS_SPACE_MAP,
           "a page less: full (a small write asks the least need)");
    is_int(pds_space_verdict(&sp, 4096), PDS_SPACE_MAP, "even for a page");

    sp.free = 4096;
    is_int(pds_space_verdict(&sp, 0), PDS_SPACE_OK,
           "a free page in the freelist counts as room");
    is_int(pds_space_verdict(&sp, 2 * MB), PDS_SPACE_MAP,
           "but not for a bigger write");

    sp.used = 100 * MB;
    sp.free = 0;
    is_int(pds_space_verdict(&sp, 0), PDS_SPACE_MAP, "all used: full");
    sp.used = 101 * MB;
    is_int(pds_space_verdict(&sp, 0), PDS_SPACE_MAP,
           "used past the map (a map raised to the data): full");
    sp.free = 20 * MB;
    is_int(pds_space_verdict(&sp, 1 * MB), PDS_SPACE_OK,
           "with 20 MB in the freelist: ok");

    sp.used = 10 * MB;
    sp.free = 0;
    sp.disk_free = 4 * MB;
    is_int(pds_space_verdict(&sp, 0), PDS_SPACE_DISK,
           "disk under the reserve: full (disk)");
    sp.disk_free = 8 * MB + PDS_SPACE_MIN_NEED;
    is_int(pds_space_verdict(&sp, 0), PDS_SPACE_OK,
           "disk at the reserve plus the least need: ok");
    is_int(pds_space_verdict(&sp, 1 * MB), PDS_SPACE_DISK,
           "a write growing the file past it: full (disk)");
    sp.free = 2 * MB;
    is_int(pds_space_verdict(&sp, 1 * MB), PDS_SPACE_OK,
           "unless freelist pages take it (no growth)");
    sp.disk_free = 1 * MB;
    is_int(pds_space_verdict(&sp, 1 * MB), PDS_SPACE_OK,
           "even with the disk under its reserve");
    sp.free = 0;
    is_int(pds_space_verdict(&sp, 0), PDS_SPACE_DISK,
           "but not without free pages");

    is_int(pds_space_commit_full(MDB_MAP_FULL), PDS_SPACE_MAP,
           "MDB_MAP_FULL: the map");
    is_int(pds_space_commit_full(ENOSPC), PDS_SPACE_DISK, "ENOSPC: the disk");
    is_int(pds_space_commit_full(EIO), PDS_SPACE_OK, "EIO: neither");
}


static int
put(pds_store_t *s, uint64_t id, size_t len)
{
    int       rc;
    uint8_t   k[8];
    MDB_val   key, val;
    MDB_txn  *txn;

    if (pds_store_write_begin(s, &txn) != 0) {
        return -1;
    }

    pds_store_put_u64(k, id);
    key.mv_data = k;
    key.mv_size = 8;
    val.mv_size = len;

    rc = mdb_put(txn, s->db_prefs, &key, &val, MDB_RESERVE);
    if (rc == 0) {
        memset(val.mv_data, (int) (id & 0xff), len);
        return mdb_txn_commit(txn);
    }

    mdb_txn_abort(txn);
    return rc;
}


static int
check(pds_store_t *s, uint64_t need, pds_space_t *sp)
{
    int       rc;
    MDB_txn  *txn;

    if (pds_store_write_begin(s, &txn) != 0) {
        return -1;
    }

    rc = pds_space_check(s, txn, NULL, need, sp);
    mdb_txn_abort(txn);

    return rc;
}


static void
real_store(void)
{
    int           rc, verdict;
    char          dir[] = "/tmp/pds-test-space-XXXXXX", err[256], cmd[128];
    char          file[160];
    uint8_t       k[8];
    uint64_t      i, n, deleted;
    MDB_val       key;
    MDB_txn      *txn;
    pds_store_t  *s;
    pds_space_t   sp;
    struct stat   st;

    if (mkdtemp(dir) == NULL) {
        ok(0, "temporary directory");
        return;
    }

    snprintf(file, sizeof(file), "%s/data.mdb", dir);

    /* a 64 GB map is address space: the file is the data's size */

    rc = pds_store_open(dir, (size_t) (64 * GB), 16, &s, err, sizeof(err));
    ok(rc == 0, "a 64 GB map opens: %s", rc ? err : "");
    if (rc != 0) {
        return;
    }

    is_int(s->map_size, 64 * GB, "its map is 64 GB");
    ok(put(s, 1, 100000) == 0, "100 kB written");
    rc = stat(file, &st);
    ok(rc == 0 && st.st_size < (off_t) (1 * MB)
       && (uint64_t) st.st_blocks * 512 < 1 * MB,
       "data.mdb is %lld bytes (%lld on disk), not 64 GB",
       (long long) st.st_size, (long long) st.st_blocks * 512);
    rc = check(s, 0, &sp);
    ok(rc == 0 && sp.verdict == PDS_SPACE_OK
       && sp.free == 0, "far from full: ok, freelist not counted");
    pds_store_close(s);

    /* 16 MB, filled with 3 kB values until the check refuses */

    snprintf(cmd, sizeof(cmd), "rm -rf %s/*", dir);
    if (system(cmd) != 0) {
        tap_diag("could not empty %s", dir);
    }

    rc = pds_store_open(dir, 16 * MB, 16, &s, err, sizeof(err));
    ok(rc == 0, "a 16 MB map opens: %s", rc ? err : "");
    if (rc != 0) {
        return;
    }

    verdict = PDS_SPACE_OK;
    for (n = 0; n < 10000; n++) {
        if (check(s, 3000, &sp) != 0) {
            break;
        }
        verdict = sp.verdict;
        if (verdict != PDS_SPACE_OK || put(s, n + 1, 3000) != 0) {
            break;
        }
    }

    is_int(verdict, PDS_SPACE_MAP, "the check refuses after %llu writes "
           "(%llu of %llu MB used, reserve %llu MB)", (unsigned long long) n,
           (unsigned long long) (sp.used / MB),
           (unsigned long long) (sp.map / MB),
           (unsigned long long) (sp.reserve / MB));
    ok(sp.map - sp.used + sp.free >= sp.reserve
       && sp.map - sp.used + sp.free < sp.reserve + 2 * PDS_SPACE_MIN_NEED,
       "at the reserve: %llu kB of room",
       (unsigned long long) ((sp.map - sp.used + sp.free) >> 10));

    /* deletions, one commit each, use the reserve */
    deleted = 0;
    for (i = 1; i <= n / 2; i++) {
        if (pds_store_write_begin(s, &txn) != 0) {
            break;
        }
        pds_store_put_u64(k, i);
        key.mv_data = k;
        key.mv_size = 8;
        if (mdb_del(txn, s->db_prefs, &key, NULL) != 0
            || mdb_txn_commit(txn) != 0)
        {
            break;
        }
        deleted++;
    }
    is_int(deleted, n / 2, "%llu deletions run while full",
           (unsigned long long) (n / 2));

    s->space_counted_ms = 0;        /* the count's second has passed */
    rc = check(s, 3000, &sp);
    ok(rc == 0 && sp.verdict == PDS_SPACE_OK && sp.free > 2 * MB,
       "then the freelist (%llu kB) makes room",
       (unsigned long long) (sp.free >> 10));
    ok(put(s, n + 1, 3000) == 0, "and a write runs");
    pds_store_close(s);

    /* asked below the data: LMDB raises the map to the data's size */
    rc = pds_store_open(dir, 1 * MB, 16, &s, err, sizeof(err));
    ok(rc == 0, "a 1 MB map over ~8 MB of data opens: %s", rc ? err : "");
    if (rc == 0) {
        is_int(s->map_asked, 1 * MB, "asked 1 MB");
        ok(s->map_size > 4 * MB && s->map_size <= 16 * MB,
           "in effect %llu MB (the data's)",
           (unsigned long long) (s->map_size >> 20));
        rc = check(s, 0, &sp);
        ok(rc == 0 && sp.verdict == PDS_SPACE_MAP,
           "and the check calls it full");
        pds_store_close(s);
    }

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0) {
        tap_diag("could not remove %s", dir);
    }
}


int
main(void)
{
    arithmetic();
    real_store();

    return tap_done();
}
