/*
 * ngx_pds_module core: how full a tenant's store is (see pds_store_space.h).
 */

#include <errno.h>
#include <string.h>
#include <time.h>
#include <sys/statvfs.h>

#include "pds_store_space.h"


/* the freelist is counted when the unused pages leave less than this */
#define PDS_SPACE_COUNT_MARGIN(reserve)  (2 * (reserve))

/* how long a count of the freelist is used again (milliseconds) */
#define PDS_SPACE_COUNT_TTL  1000


uint64_t
pds_space_map_default(uint64_t tenants)
{
    uint64_t  share;

    share = PDS_SPACE_MAP_BUDGET / (tenants ? tenants : 1);

    if (share > PDS_SPACE_MAP_MAX) {
        share = PDS_SPACE_MAP_MAX;
    }

    if (share < PDS_SPACE_MAP_MIN) {
        share = PDS_SPACE_MAP_MIN;
    }

    if (sizeof(size_t) < 8 && share > (uint64_t) (size_t) -1 / 2) {
        share = (uint64_t) (size_t) -1 / 2 + 1;       /* 2 GB on 32 bits */
    }

    return share;
}


uint64_t
pds_space_reserve(uint64_t map)
{
    uint64_t  r;

    r = map / 100;

    return r > PDS_SPACE_MIN_RESERVE ? r : PDS_SPACE_MIN_RESERVE;
}


uint64_t
pds_space_disk_reserve(uint64_t disk, uint64_t map)
{
    uint64_t  r, most;

    r = disk / 100;
    most = pds_space_reserve(map);

    if (r > most) {
        r = most;
    }

    return r > PDS_SPACE_MIN_RESERVE ? r : PDS_SPACE_MIN_RESERVE;
}


uint64_t
pds_space_need(uint64_t nwrites, uint64_t record_bytes, uint64_t page)
{
    /*
     * A record is written twice (its block, and the #commit event that
     * carries it) and pages split; each commit copies a few pages on the
     * way to each table's root (blocks keyed by CID land on random pages).
     */
    return 3 * record_bytes + nwrites * PDS_SPACE_PAGES_PER_WRITE * page;
}


int
pds_space_verdict(const pds_space_t *sp, uint64_t need)
{
    uint64_t  room, growth;

    if (need < PDS_SPACE_MIN_NEED) {
        need = PDS_SPACE_MIN_NEED;
    }

    room = (sp->map > sp->used ? sp->map - sp->used : 0) + sp->free;

    if (room < sp->reserve || room - sp->reserve < need) {
        return PDS_SPACE_MAP;
    }

    if (sp->disk_free != UINT64_MAX) {
        growth = need > sp->free ? need - sp->free : 0;

        if (growth > 0
            && (sp->disk_free < sp->disk_reserve
                || sp->disk_free - sp->disk_reserve < growth))
        {
            return PDS_SPACE_DISK;
        }
    }

    return PDS_SPACE_OK;
}


static uint64_t
pds_space_now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}


/*
 * Pages in the freelist (database 0, which only a read transaction may
 * walk): each record is an ID list, its first word the count.  The
 * snapshot is the last commit's, as stable as the caller's write lock.
 */
static int
pds_space_count_free(pds_store_t *store, uint64_t *pages)
{
    int          rc;
    size_t       n;
    MDB_val      key, val;
    MDB_txn     *rtxn;
    MDB_cursor  *cur;

    *pages = 0;

    rc = mdb_txn_begin(store->env, NULL, MDB_RDONLY, &rtxn);
    if (rc != 0) {
        return PDS_STORE_ERROR;
    }

    rc = mdb_cursor_open(rtxn, 0, &cur);
    if (rc != 0) {
        mdb_txn_abort(rtxn);
        return PDS_STORE_ERROR;
    }

    while ((rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) == 0) {
        if (val.mv_size >= sizeof(size_t)) {
            memcpy(&n, val.mv_data, sizeof(size_t));
            *pages += n;
        }
    }

    mdb_cursor_close(cur);
    mdb_txn_abort(rtxn);

    return rc == MDB_NOTFOUND ? 0 : PDS_STORE_ERROR;
}


int
pds_space_check(pds_store_t *store, MDB_txn *txn, const char *dir,
    uint64_t need, pds_space_t *sp)
{
    uint64_t        now, pages;
    MDB_stat        st;
    MDB_envinfo     info;
    struct statvfs  vfs;

    (void) txn;

    if (mdb_env_info(store->env, &info) != 0
        || mdb_env_stat(store->env, &st) != 0)
    {
        return PDS_STORE_ERROR;
    }

    sp->page = st.ms_psize;
    sp->map = info.me_mapsize;
    sp->used = ((uint64_t) info.me_last_pgno + 1) * sp->page;
    sp->reserve = pds_space_reserve(sp->map);
    sp->free = 0;
    sp->disk_free = UINT64_MAX;
    sp->disk_reserve = sp->reserve;

    if (dir && statvfs(dir, &vfs) == 0) {
        sp->disk_free = (uint64_t) vfs.f_bavail * vfs.f_frsize;
        sp->disk_reserve = pds_space_disk_reserve(
                               (uint64_t) vfs.f_blocks * vfs.f_frsize,
                               sp->map);
    }

    /* far from the ceiling and from a full disk: the unused pages tell */
    if (sp->map > sp->used
        && sp->map - sp->used >= PDS_SPACE_COUNT_MARGIN(sp->reserve)
                                  + PDS_SPACE_MIN_NEED + need
        && (sp->disk_free == UINT64_MAX
            || sp->disk_free >= PDS_SPACE_COUNT_MARGIN(sp->disk_reserve)
                                + PDS_SPACE_MIN_NEED + need))
    {
        sp->verdict = pds_space_verdict(sp, need);
        return 0;
    }

    now = pds_space_now_ms();

    if (store->space_counted_ms == 0
        || now - store->space_counted_ms >= PDS_SPACE_COUNT_TTL)
    {
        if (pds_space_count_free(store, &pages) != 0) {
            return PDS_STORE_ERROR;
        }

        store->space_free_pages = pages;
        store->space_counted_ms = now ? now : 1;
    }

    sp->free = store->space_free_pages * sp->page;
    sp->verdict = pds_space_verdict(sp, need);

    return 0;
}


int
pds_space_commit_full(int rc)
{
    switch (rc) {
    case MDB_MAP_FULL:
        return PDS_SPACE_MAP;
    case ENOSPC:
#ifdef EDQUOT
    case EDQUOT:
#endif
        return PDS_SPACE_DISK;
    default:
        return PDS_SPACE_OK;
    }
}
