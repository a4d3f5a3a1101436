/*
 * Event retention (core/repo/pds_repo_event.c): pds_event_time,
 * pds_event_trim and pds_event_trimmed, on frames with chosen times and on
 * the events the engine writes itself.
 */

#include <time.h>

#include "repo_fixture.h"


/* an event frame {t: #x, op: 1} {seq, time} ("" time: none) */
static pds_buf_t
frame(uint64_t seq, const char *time)
{
    pds_buf_t  b;

    pds_buf_init(&b, &A);
    pds_cbor_put_map(&b, 2);
    pds_cbor_put_str(&b, "t");
    pds_cbor_put_str(&b, "#x");
    pds_cbor_put_str(&b, "op");
    pds_cbor_put_uint(&b, 1);

    pds_cbor_put_map(&b, time[0] ? 2 : 1);
    pds_cbor_put_str(&b, "seq");
    pds_cbor_put_uint(&b, seq);

    if (time[0]) {
        pds_cbor_put_str(&b, "time");
        pds_cbor_put_str(&b, time);
    }

    return b;
}


static void
put(uint64_t seq, const char *time)
{
    MDB_txn    *txn;
    MDB_val     key, val;
    uint8_t     k[8];
    pds_buf_t   b;

    b = frame(seq, time);
    pds_store_put_u64(k, seq);
    key.mv_data = k;
    key.mv_size = sizeof(k);
    val.mv_data = b.data;
    val.mv_size = b.len;

    pds_store_write_begin(store, &txn);
    mdb_put(txn, store->db_events, &key, &val, 0);
    mdb_txn_commit(txn);
}


static uint64_t
first_seq(void)
{
    MDB_txn         *txn;
    uint64_t         found;
    size_t           len;
    const uint8_t   *f;

    pds_store_read_begin(store, &txn);
    if (pds_event_first_from(store, txn, 0, &found, &f, &len) != 0) {
        found = 0;
    }
    mdb_txn_abort(txn);

    return found;
}


static int
trim(int64_t cutoff, size_t max, size_t *removed, int *more)
{
    int       rc;
    MDB_txn  *txn;

    pds_store_write_begin(store, &txn);
    rc = pds_event_trim(store, txn, cutoff, max, removed, more);

    if (rc == 0) {
        return mdb_txn_commit(txn) == 0 ? 0 : -1;
    }

    mdb_txn_abort(txn);
    return rc;
}


static uint64_t
trimmed(void)
{
    MDB_txn   *txn;
    uint64_t   seq;

    pds_store_read_begin(store, &txn);
    if (pds_event_trimmed(store, txn, &seq) != 0) {
        seq = 99999;
    }
    mdb_txn_abort(txn);

    return seq;
}


/* 2020-01-01T00:00:00.000Z in ms */
#define T2020  1577836800000LL


static void
test_time(void)
{
    pds_buf_t  b;

    b = frame(1, "2020-01-01T00:00:00.000Z");
    ok(pds_event_time(b.data, b.len) == T2020, "time of a frame, in ms");

    b = frame(1, "2020-01-01T00:00:01.250Z");
    ok(pds_event_time(b.data, b.len) == T2020 + 1250, "milliseconds kept");

    b = frame(1, "");
    is_int((int) pds_event_time(b.data, b.len), -1, "no time: -1");

    b = frame(1, "yesterday");
    is_int((int) pds_event_time(b.data, b.len), -1, "a bad time: -1");

    is_int((int) pds_event_time((const uint8_t *) "\xa2\x61", 2), -1,
           "a truncated frame: -1");
}


static void
test_trim(void)
{
    int     more;
    size_t  removed;

    /* seq 1..5 in 2020 (a minute apart), 6 without a time, 7..8 in 2030 */
    put(1, "2020-01-01T00:00:00.000Z");
    put(2, "2020-01-01T00:01:00.000Z");
    put(3, "2020-01-01T00:02:00.000Z");
    put(4, "2020-01-01T00:03:00.000Z");
    put(5, "2020-01-01T00:04:00.000Z");
    put(6, "");
    put(7, "2030-01-01T00:00:00.000Z");
    put(8, "2030-01-01T00:01:00.000Z");

    is_int((int) trimmed(), 0, "nothing trimmed yet");

    is_int(trim(T2020, 100, &removed, &more), 0, "trim before all: ok");
    ok(removed == 0 && more == 0, "nothing older than the cutoff: none");
    is_int((int) first_seq(), 1, "first event still 1");

    is_int(trim(T2020 + 90000, 100, &removed, &more), 0, "trim 1.5 min");
    ok(removed == 2 && more == 0, "the two older events removed (%zu)",
       removed);
    is_int((int) first_seq(), 3, "first event now 3");
    is_int((int) trimmed(), 2, "trimmed through 2");

    is_int(trim(T2020 + 3600000, 2, &removed, &more), 0, "bounded trim");
    ok(removed == 2 && more == 1, "stops at max, says there is more");
    is_int((int) first_seq(), 5, "first event now 5");
    is_int((int) trimmed(), 4, "trimmed through 4");

    is_int(trim(T2020 + 3600000, 2, &removed, &more), 0, "next batch");
    ok(removed == 1 && more == 0, "the last old one; stops at a frame "
       "without a time");
    is_int((int) first_seq(), 6, "first event now 6 (no time: kept)");
    is_int((int) trimmed(), 5, "trimmed through 5");

    is_int(trim(T2020 + 3600000LL * 24 * 365 * 20, 100, &removed, &more), 0,
           "trim far ahead");
    ok(removed == 0, "nothing passes a frame without a time");

    is_int(trim(0, 100, &removed, &more), 0, "a zero cutoff");
    ok(removed == 0, "removes nothing");
    is_int((int) trimmed(), 5, "trimmed mark unchanged by empty trims");
}


int
main(void)
{
    int     more;
    char    dir[] = "/tmp/test_event_trim.XXXXXX", sub[64], err[256];
    size_t  removed;

    if (fixture_begin(dir) != 0) {
        return 1;
    }

    snprintf(sub, sizeof(sub), "%s/main", dir);
    ok(pds_store_open(sub, 64 << 20, 16, &store, err, sizeof(err)) == 0,
       "store open: %s", err);

    test_time();
    test_trim();

    /* a second store: the engine's own events carry their time */
    pds_store_close(store);
    snprintf(sub, sizeof(sub), "%s/engine", dir);
    ok(pds_store_open(sub, 64 << 20, 16, &store, err, sizeof(err)) == 0,
       "second store open: %s", err);
    ok(fixture_repos() == 0, "two repos created (their events written)");
    ok(first_seq() > 0, "events exist");

    is_int(trim((int64_t) time(NULL) * 1000 - 3600000, 100, &removed, &more),
           0, "trim an hour back");
    ok(removed == 0, "events of now are kept");

    is_int(trim((int64_t) time(NULL) * 1000 + 3600000, 100, &removed, &more),
           0, "trim an hour ahead");
    ok(removed > 0 && more == 0, "every event of now removed (%zu)", removed);
    is_int((int) first_seq(), 0, "no event left");
    ok(trimmed() == removed, "trimmed through the last seq");

    /* the count bound: keep the newest 3 of 10, 4 at a time */
    {
        int       i;
        char      when[32];
        MDB_txn  *txn;

        for (i = 1; i <= 10; i++) {
            snprintf(when, sizeof(when), "2020-01-01T00:%02d:00.000Z", i);
            put(100 + (uint64_t) i, when);
        }

        pds_store_write_begin(store, &txn);
        is_int(pds_event_trim_count(store, txn, 3, T2020 + 3600000, 4,
                                    &removed, &more), 0, "count bound");
        mdb_txn_commit(txn);
        ok(removed == 4 && more == 1, "4 removed, more over the bound");
        is_int((int) first_seq(), 105, "first event now 105");

        pds_store_write_begin(store, &txn);
        pds_event_trim_count(store, txn, 3, T2020 + 3600000, 4, &removed,
                             &more);
        mdb_txn_commit(txn);
        ok(removed == 3 && more == 0, "3 more removed, the bound reached");
        is_int((int) first_seq(), 108, "the newest 3 kept (108..110)");
        is_int((int) trimmed(), 107, "trimmed through 107");

        pds_store_write_begin(store, &txn);
        pds_event_trim_count(store, txn, 1, T2020 + 8 * 60000 + 1, 100,
                             &removed, &more);
        mdb_txn_commit(txn);
        ok(removed == 1 && more == 0,
           "events at or after the floor stay, whatever the bound");
        is_int((int) first_seq(), 109, "first event now 109");

        pds_store_write_begin(store, &txn);
        pds_event_trim_count(store, txn, 5, T2020 + 3600000, 100, &removed,
                             &more);
        mdb_txn_commit(txn);
        ok(removed == 0 && more == 0, "under the bound: nothing");
    }

    fixture_end(dir);

    return tap_done();
}
