/*
 * The repository engine, reads: records, listings and collections, CAR
 * exports (whole, since a rev, proofs, block lists), map-full handling and
 * a writer thread beside readers, on two repos with some records.
 */

#include <pthread.h>

#include "tap.h"
#include "repo_fixture.h"
#include "pds_repo_proof.h"


/* repos A and B, with records in A and one in B (no assertions) */
static int
setup(const char *dir)
{
    int                i;
    char               err[256], rkey[16];
    pds_repo_op_t      op;
    pds_repo_write_t   req;

    if (pds_store_open(dir, 64 << 20, 16, &store, err, sizeof(err)) != 0
        || fixture_repos() != 0)
    {
        return -1;
    }

    for (i = 0; i < 8; i++) {
        snprintf(rkey, sizeof(rkey), "3jzfcijpj2z%02d", i);
        op = op_make(PDS_REPO_CREATE, COLL, rkey, rkey);
        req = req_make(uid_a, key_a, &op, 1);

        if (write1(&req) != 0) {
            return -1;
        }
    }

    op = op_make(PDS_REPO_CREATE, COLL, "b1", "bee");
    req = req_make(uid_b, key_b, &op, 1);

    return write1(&req);
}



static long
list_b(MDB_txn *txn, list_t *l, size_t lim, const char *cur, int rev)
{
    memset(l, 0, sizeof(list_t));

    return pds_repo_list_records(store, txn, uid_b, "app.bsky.feed.repost",
                                 20, lim, cur, cur ? strlen(cur) : 0, rev,
                                 list_cb, l);
}


static void
test_reads(void)
{
    int                rc;
    size_t             n;
    list_t             l;
    MDB_txn           *txn;
    pds_cid_t          cid;
    const uint8_t     *p;
    pds_repo_op_t      op[5];
    pds_repo_write_t   req;
    uint64_t           uid;
    pds_buf_t          want;

    op[0] = op_make(PDS_REPO_CREATE, "app.bsky.feed.repost", "r1", "a");
    op[1] = op_make(PDS_REPO_CREATE, "app.bsky.feed.repost", "r3", "b");
    op[2] = op_make(PDS_REPO_CREATE, "app.bsky.feed.repost", "r2", "c");
    op[3] = op_make(PDS_REPO_CREATE, "app.bsky.feed.repost", "r4", "d");
    op[4] = op_make(PDS_REPO_CREATE, "app.bsky.feed.repostx", "r0", "e");
    req = req_make(uid_b, key_b, op, 5);
    is_int(write1(&req), 0, "records for listing");

    pds_store_read_begin(store, &txn);

    is_int(pds_repo_uid(store, txn, did_b, strlen(did_b), &uid), 0,
           "uid of a did");
    is_int(uid, uid_b, "the right uid");
    is_int(pds_repo_uid(store, txn, "did:plc:none", 12, &uid),
           PDS_NOTFOUND, "unknown did");

    rc = pds_repo_get_record(store, txn, uid_b, "app.bsky.feed.repost", 20,
                             "r3", 2, &cid, &p, &n);
    want = record("b");
    ok(rc == 0 && pds_cid_equal(&cid, &op[1].cid) && n == want.len
       && memcmp(p, want.data, n) == 0, "get record: CID and bytes");
    is_int(pds_repo_get_record(store, txn, uid_b, "app.bsky.feed.repost",
                               20, "r9", 2, &cid, &p, &n),
           PDS_NOTFOUND, "missing record");
    is_int(pds_repo_get_record(store, txn, uid_a, "app.bsky.feed.repost",
                               20, "r3", 2, &cid, &p, &n),
           PDS_NOTFOUND, "other repo's record");

#define LIST(lim, cur, rev)  list_b(txn, &l, lim, cur, rev)

    ok(LIST(10, NULL, 0) == 4 && strcmp(l.rkeys[0], "r4") == 0
       && strcmp(l.rkeys[3], "r1") == 0, "list: rkey descending by default");
    ok(LIST(10, NULL, 1) == 4 && strcmp(l.rkeys[0], "r1") == 0
       && strcmp(l.rkeys[3], "r4") == 0, "list reverse: ascending");
    ok(LIST(2, NULL, 0) == 2 && strcmp(l.rkeys[1], "r3") == 0, "limit");
    ok(LIST(10, "r3", 0) == 2 && strcmp(l.rkeys[0], "r2") == 0
       && strcmp(l.rkeys[1], "r1") == 0, "cursor, descending");
    ok(LIST(10, "r2", 1) == 2 && strcmp(l.rkeys[0], "r3") == 0,
       "cursor, ascending");
    ok(LIST(10, "r25", 0) == 2 && strcmp(l.rkeys[0], "r2") == 0,
       "cursor between keys");
    ok(LIST(10, "r1", 0) == 0, "cursor at the end");
    ok(LIST(10, "zzz", 0) == 4, "cursor past the last key");

    memset(&l, 0, sizeof(l));
    ok(pds_repo_list_records(store, txn, uid_b, "app.bsky.feed.repostx", 21,
                             10, NULL, 0, 0, list_cb, &l) == 1,
       "a collection whose name extends another's is separate");
    memset(&l, 0, sizeof(l));
    ok(pds_repo_list_records(store, txn, uid_b, "app.bsky.feed.nothing", 21,
                             10, NULL, 0, 0, list_cb, &l) == 0,
       "empty collection");

    memset(&l, 0, sizeof(l));
    rc = (int) pds_repo_list_collections(store, txn, uid_b, coll_cb, &l);
    is_int(rc, 3, "3 collections in B");

    mdb_txn_abort(txn);
#undef LIST
}


static void
test_export(void)
{
    int                rc;
    size_t             nr, missing, count;
    MDB_txn           *txn;
    MDB_val            key, val;
    MDB_cursor        *cur;
    uint8_t            k[8];
    out_t              o;
    pds_cid_t          r, v, cids[2];
    carblocks_t       *c;
    pds_repo_root_t    root, r0;
    pds_car_writer_t   w;
    pds_repo_op_t      op[1];
    pds_repo_write_t   req;
    pds_blocksource_t  bs;
    pds_mst_t         *t;

    c = pds_alloc(&A, sizeof(carblocks_t));
    root_of(uid_a, &r0);

    op[0] = op_make(PDS_REPO_CREATE, COLL, "late", "late");
    req = req_make(uid_a, key_a, op, 1);
    is_int(write1(&req), 0, "one more write");
    root_of(uid_a, &root);

    /* full export: exactly the blocks of the repo */
    pds_store_read_begin(store, &txn);
    pds_buf_init(&o.buf, &A);
    pds_car_writer_init(&w, &A, 1024, out_cb, &o);
    rc = pds_repo_export(store, txn, uid_a, NULL, &w);
    ok(rc == 0 && pds_car_finish(&w) == 0, "full export");

    pds_store_put_u64(k, uid_a);
    key.mv_data = k;
    key.mv_size = 8;
    count = 0;
    mdb_cursor_open(txn, store->db_blocks, &cur);
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
         rc == 0 && memcmp(key.mv_data, k, 8) == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
    {
        count++;
    }
    mdb_cursor_close(cur);

    ok(car_read(o.buf.data, o.buf.len, c, &r, &nr) == 0 && nr == 1
       && pds_cid_equal(&r, &root.commit), "full CAR reads back, rooted at"
       " the commit");
    is_int(c->len, count, "every stored block of the repo, once");
    ok(pds_cid_equal(&c->cid[0], &root.commit), "commit block first");

    bs.get = carblocks_get;
    bs.ctx = c;
    t = pds_mst_load(&A, &bs, &root.data);
    ok(pds_mst_get(t, COLL "/late", 23, &v) == 0
       && pds_cid_equal(&v, &op[0].cid) && carblocks_has(c, &v),
       "the CAR's tree has the record and its block");

    /* since the previous rev: the new commit, record and path nodes */
    o.buf.len = 0;
    pds_car_writer_init(&w, &A, 1024, out_cb, &o);
    ok(pds_repo_export(store, txn, uid_a, r0.rev, &w) == 0
       && pds_car_finish(&w) == 0, "since export");
    ok(car_read(o.buf.data, o.buf.len, c, &r, &nr) == 0
       && pds_cid_equal(&r, &root.commit), "since CAR reads back");
    ok(c->len >= 3 && c->len < count && carblocks_has(c, &op[0].cid)
       && carblocks_has(c, &root.data), "since CAR: %zu of %zu blocks,"
       " with the new record and root", c->len, count);

    /* proofs */
    o.buf.len = 0;
    pds_car_writer_init(&w, &A, 1024, out_cb, &o);
    ok(pds_repo_export_proof(store, txn, uid_a, COLL, strlen(COLL), "late",
                             4, &w) == 0 && pds_car_finish(&w) == 0,
       "proof of a present record");
    car_read(o.buf.data, o.buf.len, c, &r, &nr);
    t = pds_mst_load(&A, &bs, &root.data);
    ok(c->len < count && pds_mst_get(t, COLL "/late", 23, &v) == 0
       && carblocks_has(c, &v), "the proof holds the path and the record");

    o.buf.len = 0;
    pds_car_writer_init(&w, &A, 1024, out_cb, &o);
    ok(pds_repo_export_proof(store, txn, uid_a, COLL, strlen(COLL), "lateX",
                             5, &w) == 0 && pds_car_finish(&w) == 0,
       "proof of an absent record");
    car_read(o.buf.data, o.buf.len, c, &r, &nr);
    t = pds_mst_load(&A, &bs, &root.data);
    ok(pds_mst_get(t, COLL "/lateX", 24, &v) == 1, "proves absence");

    /* the proofs checked as a reader of another repo checks them */
    {
        size_t          pn;
        const char     *why = "";
        const uint8_t  *rp;
        pds_cid_t       rc_cid;
        char            dk_b[PDS_DID_KEY_MAX];
        pds_buf_t       car;

        ok(pds_repo_proof_record(&A, o.buf.data, o.buf.len, did_a, dk_a,
                                 COLL, "lateX", &rp, &pn, &rc_cid, &why)
           == -1 && strcmp(why, "the record is not in the proof") == 0,
           "proof check: an absent record is not found");

        o.buf.len = 0;
        pds_car_writer_init(&w, &A, 1024, out_cb, &o);
        pds_repo_export_proof(store, txn, uid_a, COLL, strlen(COLL), "late",
                              4, &w);
        pds_car_finish(&w);
        car = o.buf;

        ok(pds_repo_proof_record(&A, car.data, car.len, did_a, dk_a, COLL,
                                 "late", &rp, &pn, &rc_cid, &why) == 0
           && pds_cid_equal(&rc_cid, &op[0].cid) && pn > 0,
           "proof check: the record found, its CID the one written");
        ok(pds_repo_proof_record(&A, car.data, car.len, did_b, dk_a, COLL,
                                 "late", &rp, &pn, &rc_cid, &why) == -1,
           "proof check: another DID's commit refused");
        pds_key_did_key(key_b, dk_b, sizeof(dk_b));
        ok(pds_repo_proof_record(&A, car.data, car.len, did_a, dk_b, COLL,
                                 "late", &rp, &pn, &rc_cid, &why) == -1
           && strstr(why, "signature") != NULL,
           "proof check: a commit not signed by the DID's key refused");
        ok(pds_repo_proof_record(&A, car.data, car.len, did_a, dk_a,
                                 "app.bsky.feed.like", "late", &rp, &pn,
                                 &rc_cid, &why) == -1,
           "proof check: another collection's key is not there");
        car.data[car.len - 2] ^= 1;
        ok(pds_repo_proof_record(&A, car.data, car.len, did_a, dk_a, COLL,
                                 "late", &rp, &pn, &rc_cid, &why) == -1,
           "proof check: a changed byte refused");
        car.data[car.len - 2] ^= 1;
        ok(pds_repo_proof_record(&A, car.data, car.len / 2, did_a, dk_a,
                                 COLL, "late", &rp, &pn, &rc_cid, &why) == -1,
           "proof check: a cut CAR refused");
    }

    /* block list */
    o.buf.len = 0;
    cids[0] = op[0].cid;
    memset(&cids[1], 9, sizeof(pds_cid_t));
    cids[1].codec = PDS_CID_CODEC_RAW;
    pds_car_writer_init(&w, &A, 1024, out_cb, &o);
    ok(pds_repo_export_blocks(store, txn, uid_a, cids, 2, &w, &missing) == 0
       && pds_car_finish(&w) == 0 && missing == 1, "block list, 1 missing");
    ok(car_read(o.buf.data, o.buf.len, c, &r, &nr) == 0 && nr == 0
       && c->len == 1, "block list CAR: no root, 1 block");

    is_int(pds_repo_export(store, txn, 999, NULL, &w), PDS_NOTFOUND,
           "export of an unknown uid");

    mdb_txn_abort(txn);
}


static void
test_mapfull(const char *dir)
{
    int                i, rc;
    char               err[256], rkey[16], *big;
    MDB_txn           *txn;
    uint64_t           uid;
    pds_store_t       *small, *keep;
    pds_buf_t          b;
    pds_repo_op_t      op;
    pds_repo_write_t   req, res;

    keep = store;
    ok(pds_store_open(dir, 1 << 20, 8, &small, err, sizeof(err)) == 0,
       "a 1 MiB store");
    store = small;

    pds_store_write_begin(small, &txn);
    pds_repo_create(small, txn, did_a, strlen(did_a), key_a, &uid, &res);
    mdb_txn_commit(txn);

    big = pds_alloc(&A, 100001);
    memset(big, 'x', 100000);
    big[100000] = '\0';

    rc = 0;

    for (i = 0; i < 40 && rc == 0; i++) {
        snprintf(rkey, sizeof(rkey), "big%d", i);
        b = record(big);
        /* distinct contents: digits inside the text */
        b.data[12] = (uint8_t) ('0' + i / 10 % 10);
        b.data[13] = (uint8_t) ('0' + i % 10);
        op = op_make(PDS_REPO_CREATE, COLL, rkey, NULL);
        op.record = b.data;
        op.record_len = b.len;
        req = req_make(uid, key_a, &op, 1);
        rc = write1(&req);
    }

    is_int(rc, PDS_REPO_EMAPFULL, "writes end with EMAPFULL (after %d)", i);
    ok(pds_store_health(small) == 0, "the store is still healthy");
    ok(verify(uid, err) == 0, "and consistent: %s", err);

    pds_store_close(small);
    store = keep;
}


static volatile int  stop;


static void *
writer(void *arg)
{
    int                i;
    char               rkey[16];
    pds_repo_op_t      op;
    pds_repo_write_t   req;

    (void) arg;

    for (i = 0; i < 60; i++) {
        snprintf(rkey, sizeof(rkey), "t%d", i);
        op = op_make(PDS_REPO_CREATE, "app.bsky.graph.block", rkey, "t");
        req = req_make(uid_b, key_b, &op, 1);

        if (pds_repo_write_batch(store, &req, 1) != 0 || req.status != 0) {
            return (void *) 1;
        }
    }

    stop = 1;
    return NULL;
}


static void
test_thread(void)
{
    int              bad, reads;
    char             err[256];
    void            *res;
    MDB_txn         *txn;
    pthread_t        th;
    pds_repo_root_t  root;

    bad = 0;
    reads = 0;
    stop = 0;

    pthread_create(&th, NULL, writer, NULL);

    while (!stop && reads < 100000) {
        pds_store_read_begin(store, &txn);

        if (pds_repo_get_root(store, txn, uid_b, &root) != 0
            || pds_repo_verify(store, txn, uid_b, NULL, err, sizeof(err))
               != 0)
        {
            bad++;
        }

        mdb_txn_abort(txn);
        reads++;
    }

    pthread_join(th, &res);
    ok(res == NULL, "writer thread: 60 commits");
    ok(bad == 0, "%d consistent read snapshots meanwhile", reads);
}


int
main(void)
{
    char   dir[] = "/tmp/test_repo_read.XXXXXX", sub[64];

    if (fixture_begin(dir) != 0) {
        return 1;
    }

    snprintf(sub, sizeof(sub), "%s/main", dir);

    if (setup(sub) != 0) {
        printf("Bail out! cannot set up the repos in %s\n", sub);
        return 1;
    }

    test_reads();
    test_export();

    snprintf(sub, sizeof(sub), "%s/small", dir);
    test_mapfull(sub);

    test_thread();

    fixture_end(dir);

    return tap_done();
}
