/*
 * The core's table walks and small tables on a real LMDB store: the
 * generic store iterator, the event iterator (firehose, backfill), a
 * repo's block iterator and the resumable CAR export (getRepo), the
 * account iterator (listRepos), usage counts (checkAccountStatus), the
 * preferences table, and that the verifiers still catch damage.
 */

#include "tap.h"
#include "repo_fixture.h"

#include "pds_account.h"
#include "pds_blob.h"
#include "pds_prefs.h"


#define NRECS    40

static const char  did_c[] = "did:plc:cccccccccccccccccccccccc";

static uint64_t      uid_c;
static char          rev_mid[PDS_TID_BUF];


/* creates the repos of did_a and did_b, then NRECS records in A */
static int
fill(void)
{
    char              rkey[16], text[32];
    size_t            i;
    pds_repo_op_t     op;
    pds_repo_write_t  req;

    if (fixture_repos() != 0) {
        return -1;
    }

    for (i = 0; i < NRECS; i++) {
        snprintf(rkey, sizeof(rkey), "r%04zu", i);
        snprintf(text, sizeof(text), "post number %zu", i);

        op = op_make(PDS_REPO_CREATE, COLL, rkey, text);
        req = req_make(uid_a, key_a, &op, 1);

        if (write1(&req) != 0) {
            return -1;
        }

        if (i == NRECS / 2) {
            memcpy(rev_mid, req.rev, PDS_TID_BUF);
        }
    }

    return 0;
}


static void
test_store_iter(void)
{
    int               rc;
    MDB_txn          *txn;
    MDB_val           k, v;
    uint8_t           big[PDS_STORE_ITER_START_MAX + 1];
    uint64_t          n, count;
    pds_store_iter_t  it;

    pds_store_read_begin(store, &txn);

    memset(big, 0, sizeof(big));
    ok(pds_store_iter_open(txn, store->db_blocks, big, sizeof(big), 0, &it)
       < 0, "a start key over the maximum is refused");
    pds_store_iter_close(&it);

    /* no start, no prefix: the whole table */
    is_int(pds_store_iter_open(txn, store->db_repos, NULL, 0, 0, &it), 0,
           "open over the whole table");
    n = 0;
    while ((rc = pds_store_iter_next(&it, &k, &v)) == 0) {
        n++;
    }
    is_int(rc, PDS_NOTFOUND, "the walk ends with PDS_NOTFOUND");
    is_int(n, 2, "two repo roots");
    is_int(pds_store_iter_next(&it, &k, &v), PDS_NOTFOUND,
           "and stays at the end");
    pds_store_iter_close(&it);
    pds_store_iter_close(&it);
    ok(it.cur == NULL, "closing twice is harmless");

    /* a prefix counts like pds_store_count_prefix */
    pds_store_put_u64(big, uid_a);
    pds_store_iter_open(txn, store->db_records, big, 8, 8, &it);
    n = 0;
    count = 0;
    while (pds_store_iter_next(&it, &k, &v) == 0) {
        n++;
        count += (k.mv_size > 8 && memcmp(k.mv_data, big, 8) == 0);
    }
    pds_store_iter_close(&it);
    ok(n == NRECS && count == NRECS, "prefix walk: %llu keys, all A's",
       (unsigned long long) n);
    pds_store_count_prefix(txn, store->db_records, big, 8, &count);
    is_int(count, NRECS, "as pds_store_count_prefix counts");

    mdb_txn_abort(txn);
}


static void
test_events(void)
{
    int               rc;
    size_t            len, len2;
    MDB_txn          *txn;
    uint64_t          seq, last, prev, n, found;
    const uint8_t    *frame, *frame2;
    pds_event_iter_t  it;

    pds_store_read_begin(store, &txn);
    pds_store_seq_last(store, txn, &last);

    /* each repo: #commit + #sync; each record: a #commit */
    is_int(last, 4 + NRECS, "the event count");

    is_int(pds_event_iter_open(store, txn, 0, &it), 0, "event iterator");
    n = 0;
    prev = 0;
    while ((rc = pds_event_iter_next(&it, &seq, &frame, &len)) == 0) {
        if (seq <= prev
            || pds_repo_event_get(store, txn, seq, &frame2, &len2) != 0
            || len2 != len || memcmp(frame, frame2, len) != 0)
        {
            break;
        }
        prev = seq;
        n++;
    }
    pds_event_iter_close(&it);
    is_int(rc, PDS_NOTFOUND, "every event read, in order, as stored");
    ok(n == last && prev == last, "%llu events up to %llu",
       (unsigned long long) n, (unsigned long long) prev);

    pds_event_iter_open(store, txn, last - 4, &it);
    rc = pds_event_iter_next(&it, &seq, &frame, &len);
    ok(rc == 0 && seq == last - 4, "from a seq: starts there");
    n = 1;
    while (pds_event_iter_next(&it, &seq, &frame, &len) == 0) {
        n++;
    }
    is_int(n, 5, "and reads to the end");
    pds_event_iter_close(&it);

    pds_event_iter_open(store, txn, last + 1, &it);
    is_int(pds_event_iter_next(&it, &seq, &frame, &len), PDS_NOTFOUND,
           "past the last event: nothing");
    pds_event_iter_close(&it);

    ok(pds_event_first_from(store, txn, 3, &found, &frame, &len) == 0
       && found == 3 && len > 0, "first from an existing seq");
    is_int(pds_event_first_from(store, txn, last + 7, &found, &frame, &len),
           PDS_NOTFOUND, "first from after the last");

    mdb_txn_abort(txn);

    /* a gap (trimmed events): the next one after it */
    {
        MDB_val  k;
        uint8_t  kb[8];

        pds_store_write_begin(store, &txn);
        pds_store_put_u64(kb, 5);
        k.mv_data = kb;
        k.mv_size = 8;
        mdb_del(txn, store->db_events, &k, NULL);
        ok(pds_event_first_from(store, txn, 5, &found, &frame, &len) == 0
           && found == 6, "a missing seq: the next event");
        mdb_txn_abort(txn);
    }
}


/* the CAR of pds_repo_export_start/step with a small budget per step */
static int
export_steps(MDB_txn *txn, uint64_t uid, uint64_t since, out_t *o,
    size_t *steps)
{
    int                rc;
    pds_car_writer_t   w;
    pds_repo_export_t  ex;

    pds_buf_init(&o->buf, &A);
    pds_car_writer_init(&w, &A, 64, out_cb, o);
    *steps = 0;

    rc = pds_repo_export_start(store, txn, uid, since, &w, &ex);

    while (rc == 0) {
        rc = pds_repo_export_step(&ex, &w, 256);
        (*steps)++;
    }

    pds_repo_export_end(&ex);

    if (rc == PDS_NOTFOUND) {
        rc = pds_car_finish(&w);
    }

    return rc;
}


static int
export_whole(MDB_txn *txn, uint64_t uid, const char *since, out_t *o)
{
    pds_car_writer_t  w;

    pds_buf_init(&o->buf, &A);
    pds_car_writer_init(&w, &A, 64, out_cb, o);

    if (pds_repo_export(store, txn, uid, since, &w) != 0) {
        return -1;
    }

    return pds_car_finish(&w);
}


static void
test_blocks(void)
{
    int                    rc;
    size_t                 n, steps;
    MDB_txn               *txn;
    uint64_t               rev, top, count, blocks, records, since;
    pds_cid_t              cid, prev, check;
    out_t                  a, b;
    const uint8_t         *p;
    pds_repo_root_t        root;
    pds_car_writer_t       w;
    pds_repo_export_t      ex;
    pds_repo_block_iter_t  it;

    pds_store_read_begin(store, &txn);
    pds_repo_get_root(store, txn, uid_a, &root);
    pds_tid_decode(root.rev, strlen(root.rev), &top);

    is_int(pds_repo_block_iter_open(store, txn, uid_a, &it), 0,
           "block iterator");
    count = 0;
    while ((rc = pds_repo_block_iter_next(&it, &cid, &rev, &p, &n)) == 0) {
        pds_cid_compute(&check, cid.codec, p, n);
        if (!pds_cid_equal(&check, &cid) || rev == 0 || rev > top
            || (count && pds_cid_cmp(&prev, &cid) >= 0))
        {
            break;
        }
        prev = cid;
        count++;
    }
    pds_repo_block_iter_close(&it);
    is_int(rc, PDS_NOTFOUND, "every block: bytes match the CID, key order,"
           " a rev no newer than the root's");

    is_int(pds_repo_usage(store, txn, uid_a, &blocks, &records), 0, "usage");
    ok(blocks == count && records == NRECS, "usage: %llu blocks, %llu"
       " records", (unsigned long long) blocks,
       (unsigned long long) records);

    pds_repo_block_iter_open(store, txn, 999, &it);
    is_int(pds_repo_block_iter_next(&it, &cid, &rev, &p, &n), PDS_NOTFOUND,
           "no blocks for an unknown uid");
    pds_repo_block_iter_close(&it);

    /* the resumable export gives the bytes of the one-call export */
    ok(export_whole(txn, uid_a, NULL, &a) == 0, "whole export");
    ok(export_steps(txn, uid_a, 0, &b, &steps) == 0, "export in steps");
    ok(a.buf.len == b.buf.len && memcmp(a.buf.data, b.buf.data, a.buf.len)
       == 0, "the same CAR (%zu bytes)", a.buf.len);
    ok(steps > 5, "in %zu steps", steps);

    pds_tid_decode(rev_mid, strlen(rev_mid), &since);
    ok(export_whole(txn, uid_a, rev_mid, &a) == 0
       && export_steps(txn, uid_a, since, &b, &steps) == 0
       && a.buf.len == b.buf.len
       && memcmp(a.buf.data, b.buf.data, a.buf.len) == 0,
       "a since export in steps is the same CAR too");

    pds_car_writer_init(&w, &A, 64, out_cb, &b);
    is_int(pds_repo_export_start(store, txn, 999, 0, &w, &ex), PDS_NOTFOUND,
           "export of an unknown uid");
    pds_repo_export_end(&ex);

    mdb_txn_abort(txn);
}


static void
test_accounts(void)
{
    int                  rc;
    size_t               i;
    MDB_txn             *txn;
    uint8_t              sk[32];
    uint64_t             uid, got[4];
    pds_account_t        acc;
    pds_account_iter_t   it;
    const char          *dids[3] = { did_a, did_b, did_c };
    const char          *handles[3] = { "a.test", "b.test", "c.test" };
    uint64_t            *uids[3] = { &uid_a, &uid_b, &uid_c };

    memset(sk, 7, sizeof(sk));
    pds_store_write_begin(store, &txn);

    for (i = 0; i < 3; i++) {
        memset(&acc, 0, sizeof(acc));
        acc.did = dids[i];
        acc.handle = handles[i];
        acc.password_scrypt = "00:11";
        acc.created_at = "2026-11-24T00:00:00.000Z";
        acc.signing_key = sk;
        acc.signing_key_len = sizeof(sk);

        if (pds_account_insert(store, txn, &acc) != 0) {
            break;
        }

        *uids[i] = acc.uid;
    }

    ok(i == 3 && uid_c > uid_b && uid_b > uid_a,
       "three accounts (two with repos)");
    ok(mdb_txn_commit(txn) == 0, "committed");

    pds_store_read_begin(store, &txn);

    is_int(pds_account_iter_open(store, txn, 0, &it), 0, "account iterator");
    i = 0;
    while ((rc = pds_account_iter_next(&it, &uid)) == 0 && i < 4) {
        got[i++] = uid;
    }
    pds_account_iter_close(&it);
    ok(rc == PDS_NOTFOUND && i == 3 && got[0] == uid_a && got[1] == uid_b
       && got[2] == uid_c, "every account in uid order");

    pds_account_iter_open(store, txn, uid_b, &it);
    ok(pds_account_iter_next(&it, &uid) == 0 && uid == uid_b,
       "from a uid: that account first");
    ok(pds_account_iter_next(&it, &uid) == 0 && uid == uid_c, "then the next");
    is_int(pds_account_iter_next(&it, &uid), PDS_NOTFOUND, "then the end");
    pds_account_iter_close(&it);

    pds_account_iter_open(store, txn, uid_c + 1, &it);
    is_int(pds_account_iter_next(&it, &uid), PDS_NOTFOUND,
           "after the last uid: nothing");
    pds_account_iter_close(&it);

    mdb_txn_abort(txn);
}


static void
test_usage(void)
{
    MDB_txn              *txn;
    pds_cid_t             cids[3];
    pds_blob_gone_t       gone;
    const pds_cid_t      *missing;
    pds_account_usage_t   u;
    static const char     p1[] = COLL "/r0001", p2[] = COLL "/r0002";

    memset(&gone, 0, sizeof(gone));
    pds_cid_of_raw(&cids[0], (const uint8_t *) "blob one", 8);
    pds_cid_of_raw(&cids[1], (const uint8_t *) "blob two", 8);
    pds_cid_of_raw(&cids[2], (const uint8_t *) "blob three", 10);

    pds_store_read_begin(store, &txn);
    ok(pds_account_usage(store, txn, uid_c, &u) == 0 && u.blocks == 0
       && u.records == 0 && u.expected_blobs == 0 && u.imported_blobs == 0,
       "no repo, no blobs: all zero");
    mdb_txn_abort(txn);

    pds_store_write_begin(store, &txn);
    pds_blob_put(store, txn, uid_a, &cids[0], "image/png", 8, 1000);
    pds_blob_put(store, txn, uid_a, &cids[1], "image/png", 8, 1000);
    pds_blob_put(store, txn, uid_a, &cids[2], "image/png", 10, 1000);
    pds_blob_put(store, txn, uid_b, &cids[0], "image/png", 8, 1000);

    /* two records share blob one; blob three stays temporary */
    ok(pds_blob_set_refs(store, txn, uid_a, p1, strlen(p1), cids, 2, &gone,
                         &missing) == 0
       && pds_blob_set_refs(store, txn, uid_a, p2, strlen(p2), cids, 1,
                            &gone, &missing) == 0, "blob references");
    ok(mdb_txn_commit(txn) == 0, "committed");

    pds_store_read_begin(store, &txn);
    is_int(pds_account_usage(store, txn, uid_a, &u), 0, "usage of A");
    is_int(u.records, NRECS, "records");
    ok(u.blocks > NRECS, "blocks (%llu)", (unsigned long long) u.blocks);
    is_int(u.expected_blobs, 2, "expected blobs: distinct referenced ones");
    is_int(u.imported_blobs, 3, "imported blobs: every upload");
    ok(pds_account_usage(store, txn, uid_b, &u) == 0
       && u.expected_blobs == 0 && u.imported_blobs == 1 && u.records == 0,
       "B's own counts");
    mdb_txn_abort(txn);

    pds_blob_gone_free(&gone);
}


static void
test_prefs(void)
{
    size_t          len;
    MDB_txn        *txn;
    const uint8_t  *json;
    static const char  one[] = "[{\"$type\":\"app.bsky.actor.defs#x\"}]";
    static const char  two[] = "[]";

    pds_store_read_begin(store, &txn);
    is_int(pds_prefs_get(store, txn, uid_a, &json, &len), PDS_NOTFOUND,
           "no preferences yet");
    mdb_txn_abort(txn);

    pds_store_write_begin(store, &txn);
    is_int(pds_prefs_put(store, txn, uid_a, one, strlen(one)), 0, "put");
    is_int(pds_prefs_put(store, txn, uid_b, two, strlen(two)), 0,
           "put another's");
    ok(mdb_txn_commit(txn) == 0, "committed");

    pds_store_read_begin(store, &txn);
    ok(pds_prefs_get(store, txn, uid_a, &json, &len) == 0
       && len == strlen(one) && memcmp(json, one, len) == 0,
       "get gives the bytes put");
    ok(pds_prefs_get(store, txn, uid_b, &json, &len) == 0
       && len == 2 && memcmp(json, two, 2) == 0, "one row per account");
    is_int(pds_prefs_get(store, txn, uid_c, &json, &len), PDS_NOTFOUND,
           "not another's");
    mdb_txn_abort(txn);

    pds_store_write_begin(store, &txn);
    pds_prefs_put(store, txn, uid_a, two, strlen(two));
    ok(pds_prefs_get(store, txn, uid_a, &json, &len) == 0 && len == 2,
       "a put replaces");
    mdb_txn_abort(txn);

    /* the layout the nginx layer has always used: uid, big-endian */
    {
        MDB_val  k, v;
        uint8_t  kb[8];

        pds_store_read_begin(store, &txn);
        pds_store_put_u64(kb, uid_a);
        k.mv_data = kb;
        k.mv_size = 8;
        ok(mdb_get(txn, store->db_prefs, &k, &v) == 0
           && v.mv_size == strlen(one), "stored under the 8-byte uid");
        mdb_txn_abort(txn);
    }
}


/* a damaged copy of row (key k in dbi) is caught, then the row is put back */
static void
damage(MDB_dbi dbi, const MDB_val *k, const MDB_val *v, int events,
    const char *want, const char *what)
{
    int        rc;
    char       err[256];
    MDB_txn   *txn;
    MDB_val    key, val;

    pds_store_write_begin(store, &txn);
    key = *k;

    if (v) {
        val = *v;
        mdb_put(txn, dbi, &key, &val, 0);

    } else {
        mdb_del(txn, dbi, &key, NULL);
    }

    err[0] = '\0';
    rc = events ? pds_repo_verify_events(store, txn, err, sizeof(err))
                : pds_repo_verify(store, txn, uid_a, NULL, err, sizeof(err));
    ok(rc != 0 && strstr(err, want) != NULL, "%s: \"%s\"", what, err);

    mdb_txn_abort(txn);
}


static void
test_verify(void)
{
    char                    err[256];
    size_t                  n;
    MDB_txn                *txn;
    MDB_val                 k, v;
    uint8_t                 kb[64], vb[4096];
    uint64_t                rev;
    pds_cid_t               cid;
    const uint8_t          *p;
    pds_repo_root_t         root;
    pds_repo_block_iter_t   it;

    pds_store_read_begin(store, &txn);
    ok(pds_repo_verify(store, txn, uid_a, NULL, err, sizeof(err)) == 0
       && pds_repo_verify_events(store, txn, err, sizeof(err)) == 0,
       "the repo and the log verify");

    /* a block of A other than the commit (checked first), refcount raised */
    pds_repo_get_root(store, txn, uid_a, &root);
    pds_repo_block_iter_open(store, txn, uid_a, &it);
    while (pds_repo_block_iter_next(&it, &cid, &rev, &p, &n) == 0
           && pds_cid_equal(&cid, &root.commit))
    {
        /* the next one */
    }
    pds_repo_block_iter_close(&it);

    pds_store_put_u64(kb, uid_a);
    kb[8] = cid.codec;
    memcpy(kb + 9, cid.digest, 32);
    pds_store_put_u64(vb, rev);
    vb[8] = 0; vb[9] = 0; vb[10] = 0; vb[11] = 99;
    memcpy(vb + 12, p, n);
    mdb_txn_abort(txn);

    k.mv_data = kb;
    k.mv_size = 41;
    v.mv_data = vb;
    v.mv_size = 12 + n;
    damage(store->db_blocks, &k, &v, 0, "refcount 99", "a wrong refcount");

    vb[12] ^= 1;
    damage(store->db_blocks, &k, &v, 0, "does not match its CID",
           "a changed block");

    damage(store->db_blocks, &k, NULL, 0, "missing", "a missing block");

    /* a record index entry too many */
    memcpy(kb + 8, COLL "\0zzz", sizeof(COLL) + 3);
    k.mv_size = 8 + sizeof(COLL) + 3;
    v.mv_size = 41;
    damage(store->db_records, &k, &v, 0, "record index has",
           "an extra record index entry");

    /* the log: an event past meta last_seq, an event that does not decode */
    pds_store_put_u64(kb, 1000);
    k.mv_size = 8;
    memcpy(vb, "\xa2", 1);
    v.mv_size = 1;
    damage(store->db_events, &k, &v, 1, "out of order", "an event past"
           " last_seq");

    pds_store_put_u64(kb, 3);
    damage(store->db_events, &k, &v, 1, "does not decode",
           "a frame that does not decode");
}


int
main(void)
{
    char  dir[] = "/tmp/test_iter.XXXXXX", sub[64], err[256];

    if (fixture_begin(dir) != 0) {
        return 1;
    }

    snprintf(sub, sizeof(sub), "%s/main", dir);

    if (!ok(pds_store_open(sub, 64 * 1024 * 1024, 16, &store, err,
                           sizeof(err)) == 0, "store opens")
        || !ok(fill() == 0, "two repos, %d records", NRECS))
    {
        return tap_done();
    }

    test_store_iter();
    test_events();
    test_blocks();
    test_accounts();
    test_usage();
    test_prefs();
    test_verify();

    fixture_end(dir);

    return tap_done();
}
