/*
 * The repository engine, writes: store layout basics (uids, the event
 * sequence), new repos, signed commits, write batches (several repos in one
 * transaction, failures isolated, swaps, no-ops), commit diffs and firehose
 * frames, removed blocks, shared record blocks and the batch block cache.
 * Reads, exports, map-full handling and a writer beside readers are in
 * test_repo_read.c.
 */

#include "tap.h"
#include "repo_fixture.h"


static void
test_store(const char *dir)
{
    char       err[256];
    MDB_txn   *txn;
    uint64_t   uid, seq, s2;
    MDB_val    key, val;
    uint8_t    k[8];

    ok(pds_store_open(dir, 64 << 20, 16, &store, err, sizeof(err)) == 0,
       "store open: %s", err);
    ok(store->db_dids != store->db_blocks
       && store->db_blocks != store->db_seq_by_did
       && store->db_prefs != store->db_accounts
       && store->db_app_passwords != store->db_tokens,
       "named databases have their own handles");
    ok(pds_store_health(store) == 0, "health");

    pds_store_write_begin(store, &txn);
    is_int(pds_store_uid_alloc(store, txn, "did:plc:x1", 10, &uid), 0,
           "uid alloc");
    is_int(uid, 1, "first uid is 1");
    is_int(pds_store_uid_alloc(store, txn, "did:plc:x2", 10, &uid), 0,
           "second uid");
    is_int(uid, 2, "second uid is 2");
    is_int(pds_store_uid_alloc(store, txn, "did:plc:x1", 10, &uid),
           PDS_EXISTS, "existing did");
    is_int(uid, 1, "existing did gives its uid");

    pds_store_seq_next(store, txn, &seq);
    pds_store_seq_next(store, txn, &s2);
    ok(seq == 1 && s2 == 2, "seq 1, 2");

    /* an events key above the counter (e.g. written by older code) */
    pds_store_put_u64(k, 40);
    key.mv_data = k;
    key.mv_size = 8;
    val.mv_data = "x";
    val.mv_size = 1;
    mdb_put(txn, store->db_events, &key, &val, 0);
    pds_store_seq_next(store, txn, &seq);
    is_int(seq, 41, "seq follows the last event key");

    /* events trimmed: the counter still goes on */
    mdb_drop(txn, store->db_events, 0);
    pds_store_seq_next(store, txn, &seq);
    is_int(seq, 42, "seq never goes back after events are trimmed");
    mdb_txn_abort(txn);

    pds_store_write_begin(store, &txn);
    pds_store_seq_last(store, txn, &seq);
    is_int(seq, 0, "aborted: nothing happened");
    mdb_txn_abort(txn);
}


static void
test_create(void)
{
    int                rc;
    char               err[256];
    MDB_txn           *txn;
    uint64_t           s_id, s_acc, n_uid;
    pds_cid_t          empty;
    pds_cbor_t        *h, *b, *commit, *unsig;
    pds_buf_t          enc;
    size_t             n, i;
    const uint8_t     *p;
    pds_repo_root_t    root;
    pds_repo_write_t   res, res_b;
    const pds_cbor_t  *sig;

    pds_store_write_begin(store, &txn);

    /* the account code's order: #identity, #account, then the repo */
    pds_repo_event_identity(store, txn, did_a, "alice.test", &s_id);
    pds_repo_event_account(store, txn, did_a, 1, NULL, &s_acc);
    rc = pds_repo_create(store, txn, did_a, strlen(did_a), key_a, &uid_a,
                         &res);
    is_int(rc, 0, "create repo A");
    rc = pds_repo_create(store, txn, did_b, strlen(did_b), key_b, &uid_b,
                         &res_b);
    is_int(rc, 0, "create repo B");
    is_int(pds_repo_create(store, txn, did_a, strlen(did_a), key_a, &n_uid,
                           &res_b), PDS_REPO_EEXISTS, "again: EEXISTS");
    is_int(pds_repo_create(store, txn, "nope", 4, key_a, &n_uid, &res_b),
           PDS_REPO_EINVAL, "bad did");
    ok(mdb_txn_commit(txn) == 0, "commit");

    ok(uid_a != uid_b && uid_a > 0, "uids %llu %llu",
       (unsigned long long) uid_a, (unsigned long long) uid_b);
    ok(s_acc == s_id + 1 && res.seq == s_acc + 1, "event order: identity,"
       " account, commit (%llu %llu %llu)", (unsigned long long) s_id,
       (unsigned long long) s_acc, (unsigned long long) res.seq);

    /* the empty tree's well-known root */
    pds_cid_parse(&empty,
        "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm", 59);
    ok(pds_cid_equal(&res.data, &empty), "data is the empty MST root");
    ok(pds_tid_valid(res.rev, strlen(res.rev)), "rev %s is a TID", res.rev);

    is_int(root_of(uid_a, &root), 0, "root of A");
    ok(pds_cid_equal(&root.commit, &res.commit)
       && pds_cid_equal(&root.data, &res.data)
       && strcmp(root.rev, res.rev) == 0, "root matches the result");

    /* the commit block */
    pds_store_read_begin(store, &txn);
    pds_repo_get_block(store, txn, uid_a, &res.commit, &p, &n);
    rc = pds_cbor_decode(p, n, &A, &commit);
    mdb_txn_abort(txn);

    ok(rc == 0 && commit->type == PDS_CBOR_MAP && commit->u.map.len == 6,
       "commit has 6 fields");
    is_str(str_of(commit, "did"), did_a, "commit did");
    is_str(str_of(commit, "rev"), res.rev, "commit rev");
    ok(pds_cbor_map_get(commit, "version")->u.integer == 3, "version 3");
    ok(pds_cbor_map_get(commit, "prev")->type == PDS_CBOR_NULL,
       "prev null");
    ok(pds_cid_equal(&pds_cbor_map_get(commit, "data")->u.cid, &res.data),
       "data");

    sig = pds_cbor_map_get(commit, "sig");
    ok(sig && sig->type == PDS_CBOR_BYTES && sig->u.bytes.len == 64
       && pds_sig_is_low_s(PDS_KEY_K256, sig->u.bytes.data),
       "sig: 64 bytes, low-S");

    /* signature over the unsigned object, re-encoded independently */
    unsig = pds_cbor_new_map(&A);
    for (i = 0; i < commit->u.map.len; i++) {
        if (strcmp(commit->u.map.pairs[i].key, "sig") != 0) {
            pds_cbor_t  *v = pds_alloc(&A, sizeof(pds_cbor_t));

            *v = commit->u.map.pairs[i].value;
            pds_cbor_map_set(&A, unsig, commit->u.map.pairs[i].key,
                             commit->u.map.pairs[i].key_len, v);
        }
    }

    pds_buf_init(&enc, &A);
    pds_cbor_encode(unsig, &enc);
    ok(pds_did_key_verify(dk_a, strlen(dk_a), enc.data, enc.len,
                          sig->u.bytes.data, 64, PDS_SIG_STRICT),
       "signature verifies against the did:key");
    ok(!pds_did_key_verify(dk_a, strlen(dk_a), enc.data, enc.len - 1,
                           sig->u.bytes.data, 64, PDS_SIG_STRICT),
       "not over other bytes");

    /* the events */
    ok(event(s_id, &h, &b) == 0, "#identity decodes");
    is_str(str_of(h, "t"), "#identity", "#identity header");
    is_str(str_of(b, "handle"), "alice.test", "#identity handle");
    ok(event(s_acc, &h, &b) == 0 && b->u.map.len == 4
       && pds_cbor_map_get(b, "active")->u.boolean == 1
       && pds_cbor_map_get(b, "status") == NULL,
       "#account active, no status");

    ok(event(res.seq, &h, &b) == 0, "#commit decodes");
    is_str(str_of(h, "t"), "#commit", "#commit header");
    ok(pds_cbor_map_get(h, "op")->u.integer == 1, "op 1");
    ok(pds_cbor_map_get(b, "since")->type == PDS_CBOR_NULL
       && pds_cbor_map_get(b, "prevData") == NULL
       && pds_cbor_map_get(b, "ops")->u.array.len == 0,
       "first commit: since null, no prevData, no ops");

    ok(event(res.seq + 1, &h, &b) == 0, "#sync decodes");
    is_str(str_of(h, "t"), "#sync", "#sync follows the first commit");
    is_str(str_of(b, "rev"), res.rev, "#sync rev");

    {
        carblocks_t  *c = pds_alloc(&A, sizeof(carblocks_t));
        pds_cid_t     r;
        size_t        nr;
        const pds_cbor_t  *blocks = pds_cbor_map_get(b, "blocks");

        ok(car_read(blocks->u.bytes.data, blocks->u.bytes.len, c, &r, &nr)
           == 0 && nr == 1 && pds_cid_equal(&r, &res.commit) && c->len == 1,
           "#sync blocks: a CAR of just the commit");
    }

    ok(verify(uid_a, err) == 0, "verify A: %s", err);
    ok(verify(uid_b, err) == 0, "verify B: %s", err);
}


static void
test_batch(void)
{
    char               err[256];
    size_t             i;
    uint64_t           seq0;
    pds_repo_op_t      a1[3], b1[2], bad[1], a2[1];
    pds_repo_root_t    ra, rb, ra2;
    pds_repo_write_t   reqs[4];

    seq0 = last_seq();
    root_of(uid_a, &ra);
    root_of(uid_b, &rb);

    a1[0] = op_make(PDS_REPO_CREATE, COLL, "3jzfcijpj2z2a", "one");
    a1[1] = op_make(PDS_REPO_CREATE, COLL, "3jzfcijpj2z2b", "two");
    a1[2] = op_make(PDS_REPO_CREATE, "app.bsky.feed.like", "3jzfcijpj2z2c",
                    "three");
    b1[0] = op_make(PDS_REPO_CREATE, COLL, "b1", "bee");
    b1[1] = op_make(PDS_REPO_CREATE, COLL, "b2", "bee 2");
    bad[0] = op_make(PDS_REPO_UPDATE, COLL, "missing", "x");
    a2[0] = op_make(PDS_REPO_UPDATE, COLL, "3jzfcijpj2z2a", "one v2");

    reqs[0] = req_make(uid_a, key_a, a1, 3);
    reqs[1] = req_make(uid_b, key_b, b1, 2);
    reqs[2] = req_make(uid_a, key_a, bad, 1);
    reqs[3] = req_make(uid_a, key_a, a2, 1);

    is_int(pds_repo_write_batch(store, reqs, 4), 0,
           "batch of 4 requests for 2 repos in one transaction");
    is_int(reqs[0].status, 0, "A's creates");
    is_int(reqs[1].status, 0, "B's creates");
    is_int(reqs[2].status, PDS_REPO_ENOTFOUND, "update of a missing record");
    is_int(reqs[2].failed_op, 0, "failed op index");
    is_int(reqs[3].status, 0, "A's update, after its creates");

    ok(reqs[0].seq == seq0 + 1 && reqs[1].seq == seq0 + 2
       && reqs[3].seq == seq0 + 3 && last_seq() == seq0 + 3,
       "one event per successful request, in order");
    is_str(reqs[0].since, ra.rev, "A since = its previous rev");
    is_str(reqs[3].since, reqs[0].rev, "second A request follows the first");
    ok(strcmp(reqs[3].rev, reqs[0].rev) > 0 && strcmp(reqs[0].rev, ra.rev)
       > 0, "revs increase");
    ok(pds_cid_equal(&reqs[3].prev_commit, &reqs[0].commit),
       "prev commit of the second is the first");

    root_of(uid_a, &ra2);
    ok(pds_cid_equal(&ra2.commit, &reqs[3].commit), "A's root is its last"
       " commit");
    ok(!block_exists(uid_a, &ra.commit) && !block_exists(uid_a,
                                                         &reqs[0].commit),
       "older commit blocks are removed");
    ok(!block_exists(uid_a, &a1[0].cid) && block_exists(uid_a, &a2[0].cid),
       "the updated record's old block is removed, the new one stored");
    ok(a2[0].has_prev && pds_cid_equal(&a2[0].prev, &a1[0].cid)
       && a2[0].done_action == PDS_REPO_UPDATE, "update: prev CID");
    ok(!block_exists(uid_b, &a1[1].cid) && block_exists(uid_a, &a1[1].cid),
       "blocks are per repo");

    ok(verify(uid_a, err) == 0, "verify A: %s", err);
    ok(verify(uid_b, err) == 0, "verify B: %s", err);

    /* a batch inside a caller's transaction that is then aborted */
    {
        MDB_txn  *txn;

        b1[0] = op_make(PDS_REPO_CREATE, COLL, "b3", "never");
        reqs[0] = req_make(uid_b, key_b, b1, 1);
        pds_store_write_begin(store, &txn);
        pds_repo_write_batch_txn(store, txn, reqs, 1);
        is_int(reqs[0].status, 0, "in a caller's transaction");
        mdb_txn_abort(txn);

        root_of(uid_b, &ra2);
        ok(pds_cid_equal(&ra2.commit, &reqs[1].commit),
           "caller aborted: B's root unchanged");
        ok(!block_exists(uid_b, &b1[0].cid)
           && last_seq() == seq0 + 3, "caller aborted: nothing stored");
    }

    for (i = 0; i < 4; i++) {
        if (reqs[i].status < 0) {
            tap_diag("req %zu: %s", i, reqs[i].error);
        }
    }
}


static void
test_errors(void)
{
    char               err[256], rkey[16];
    int                i;
    uint64_t           seq0;
    pds_cid_t          wrong;
    pds_repo_op_t      op[2], many[201];
    pds_repo_root_t    r0, r1;
    pds_repo_write_t   req;

    root_of(uid_a, &r0);
    seq0 = last_seq();
    memset(&wrong, 7, sizeof(wrong));
    wrong.codec = PDS_CID_CODEC_DAG_CBOR;

    op[0] = op_make(PDS_REPO_CREATE, COLL, "3jzfcijpj2z2b", "dup");
    req = req_make(uid_a, key_a, op, 1);
    is_int(write1(&req), PDS_REPO_EEXISTS, "create of an existing record");

    op[0] = op_make(PDS_REPO_DELETE, COLL, "nothere", NULL);
    req = req_make(uid_a, key_a, op, 1);
    is_int(write1(&req), PDS_REPO_ENOTFOUND, "delete of a missing record");

    op[0].flags = PDS_REPO_OP_IF_EXISTS;
    req = req_make(uid_a, key_a, op, 1);
    req.flags = PDS_REPO_SKIP_NOOP;
    is_int(write1(&req), PDS_REPO_UNCHANGED,
           "delete-if-exists of a missing record: unchanged");
    ok(pds_cid_equal(&req.commit, &r0.commit), "unchanged: current commit");

    op[0] = op_make(PDS_REPO_PUT, COLL, "3jzfcijpj2z2a", "one v2");
    req = req_make(uid_a, key_a, op, 1);
    req.flags = PDS_REPO_SKIP_NOOP;
    is_int(write1(&req), PDS_REPO_UNCHANGED, "put of identical content");
    ok(op[0].unchanged && op[0].done_action == PDS_REPO_UPDATE,
       "op marked unchanged");

    root_of(uid_a, &r1);
    ok(pds_cid_equal(&r1.commit, &r0.commit) && last_seq() == seq0,
       "no commit, no event for unchanged writes");

    /* swaps */
    req = req_make(uid_a, key_a, op, 1);
    req.swap_commit = &wrong;
    is_int(write1(&req), PDS_REPO_ESWAP, "swapCommit mismatch");
    ok(pds_cid_equal(&req.prev_commit, &r0.commit),
       "the current commit is reported");

    op[0] = op_make(PDS_REPO_CREATE, COLL, "s1", "s1");
    op[0].swap = PDS_REPO_SWAP_CID;
    op[0].swap_cid = wrong;
    req = req_make(uid_a, key_a, op, 1);
    is_int(write1(&req), PDS_REPO_ESWAP, "create with a swap CID");

    op[0] = op_make(PDS_REPO_UPDATE, COLL, "3jzfcijpj2z2a", "s");
    op[0].swap = PDS_REPO_SWAP_CID;
    op[0].swap_cid = wrong;
    req = req_make(uid_a, key_a, op, 1);
    is_int(write1(&req), PDS_REPO_ESWAP, "update with a wrong swap CID");

    op[0] = op_make(PDS_REPO_DELETE, COLL, "3jzfcijpj2z2a", NULL);
    op[0].swap = PDS_REPO_SWAP_ABSENT;
    req = req_make(uid_a, key_a, op, 1);
    is_int(write1(&req), PDS_REPO_ESWAP, "delete with swap 'absent'");

    op[0] = op_make(PDS_REPO_PUT, COLL, "3jzfcijpj2z2a", "put");
    op[0].swap = PDS_REPO_SWAP_ABSENT;
    req = req_make(uid_a, key_a, op, 1);
    is_int(write1(&req), PDS_REPO_ESWAP, "put with swap 'absent' on a record");

    root_of(uid_a, &r1);
    ok(pds_cid_equal(&r1.commit, &r0.commit) && last_seq() == seq0,
       "failed requests changed nothing");

    /* swaps that hold */
    op[0] = op_make(PDS_REPO_CREATE, COLL, "s2", "s2");
    op[0].swap = PDS_REPO_SWAP_ABSENT;
    op[1] = op_make(PDS_REPO_UPDATE, COLL, "3jzfcijpj2z2a", "one v3");
    op[1].swap = PDS_REPO_SWAP_CID;
    {
        pds_buf_t  b = record("one v2");

        pds_cid_of_cbor(&op[1].swap_cid, b.data, b.len);
    }
    req = req_make(uid_a, key_a, op, 2);
    req.swap_commit = &r0.commit;
    is_int(write1(&req), 0, "matching swapCommit and swapRecords");

    /* invalid requests */
    op[0] = op_make(PDS_REPO_CREATE, "not an nsid", "x", "x");
    req = req_make(uid_a, key_a, op, 1);
    is_int(write1(&req), PDS_REPO_EINVAL, "bad collection");

    op[0] = op_make(PDS_REPO_CREATE, COLL, "a/b", "x");
    req = req_make(uid_a, key_a, op, 1);
    is_int(write1(&req), PDS_REPO_EINVAL, "bad rkey");

    op[0] = op_make(PDS_REPO_CREATE, COLL, "x", NULL);
    op[0].record = (const uint8_t *) "\x83\x01\x02\x03";
    op[0].record_len = 4;
    req = req_make(uid_a, key_a, op, 1);
    is_int(write1(&req), PDS_REPO_EINVAL, "record that is not a map");

    op[0].record = (const uint8_t *) "\xa1\x61\x61\xfb\0\0\0\0\0\0\0\0";
    op[0].record_len = 12;
    req = req_make(uid_a, key_a, op, 1);
    is_int(write1(&req), PDS_REPO_EINVAL, "record with a float");

    op[0] = op_make(PDS_REPO_CREATE, COLL, "d1", "x");
    op[1] = op_make(PDS_REPO_DELETE, COLL, "d1", NULL);
    req = req_make(uid_a, key_a, op, 2);
    is_int(write1(&req), PDS_REPO_EINVAL, "two ops on one record");
    is_int(req.failed_op, 1, "the second one is reported");

    for (i = 0; i < 201; i++) {
        snprintf(rkey, sizeof(rkey), "m%d", i);
        many[i] = op_make(PDS_REPO_CREATE, COLL, pds_strndup(&A, rkey,
                          strlen(rkey)), "m");
    }

    req = req_make(uid_a, key_a, many, 201);
    is_int(write1(&req), PDS_REPO_EINVAL, "201 ops");
    req = req_make(uid_a, key_a, many, 200);
    is_int(write1(&req), 0, "200 ops");

    req = req_make(uid_a + 1000, key_a, many, 1);
    is_int(write1(&req), PDS_REPO_ENOREPO, "unknown uid");

    ok(verify(uid_a, err) == 0, "verify A: %s", err);
}


static int
noop_block(void *ctx, const pds_cid_t *cid, const uint8_t *p, size_t n)
{
    (void) ctx;
    (void) cid;
    (void) p;
    (void) n;

    return 0;
}


static void
test_diff(void)
{
    char               err[256];
    size_t             nr, i;
    pds_cid_t          r;
    pds_cbor_t        *h, *b;
    carblocks_t       *c;
    pds_repo_op_t      op[3];
    pds_repo_root_t    r0;
    pds_repo_write_t   req;
    const pds_cbor_t  *ops, *o, *blocks;
    const char        *keys[] = { "ops", "rev", "seq", "repo", "time",
                                  "blobs", "since", "blocks", "commit",
                                  "rebase", "tooBig", "prevData" };

    c = pds_alloc(&A, sizeof(carblocks_t));
    root_of(uid_a, &r0);

    op[0] = op_make(PDS_REPO_CREATE, "app.bsky.graph.follow", "f1", "f");
    op[1] = op_make(PDS_REPO_UPDATE, COLL, "3jzfcijpj2z2b", "two v2");
    op[2] = op_make(PDS_REPO_DELETE, "app.bsky.feed.like", "3jzfcijpj2z2c",
                    NULL);
    req = req_make(uid_a, key_a, op, 3);
    is_int(write1(&req), 0, "create + update + delete");

    ok(event(req.seq, &h, &b) == 0, "#commit frame decodes");
    ok(b->u.map.len == 12, "12 body fields");

    for (i = 0; i < 12; i++) {
        ok(strcmp(b->u.map.pairs[i].key, keys[i]) == 0, "field %zu: %s",
           i, keys[i]);
    }

    ok(pds_cbor_map_get(b, "seq")->u.integer == (int64_t) req.seq, "seq");
    is_str(str_of(b, "repo"), did_a, "repo");
    is_str(str_of(b, "rev"), req.rev, "rev");
    is_str(str_of(b, "since"), r0.rev, "since = previous rev");
    ok(pds_cid_equal(&pds_cbor_map_get(b, "commit")->u.cid, &req.commit),
       "commit");
    ok(pds_cid_equal(&pds_cbor_map_get(b, "prevData")->u.cid, &r0.data),
       "prevData = previous data");
    ok(pds_cbor_map_get(b, "rebase")->u.boolean == 0
       && pds_cbor_map_get(b, "tooBig")->u.boolean == 0
       && pds_cbor_map_get(b, "blobs")->u.array.len == 0,
       "rebase false, tooBig false, blobs []");
    ok(strlen(str_of(b, "time")) == 24 && str_of(b, "time")[23] == 'Z'
       && str_of(b, "time")[19] == '.', "time %s", str_of(b, "time"));

    ops = pds_cbor_map_get(b, "ops");
    ok(ops->u.array.len == 3, "3 ops");
    o = &ops->u.array.items[0];
    ok(strcmp(str_of(o, "action"), "create") == 0
       && strcmp(str_of(o, "path"), "app.bsky.graph.follow/f1") == 0
       && pds_cid_equal(&pds_cbor_map_get(o, "cid")->u.cid, &op[0].cid)
       && pds_cbor_map_get(o, "prev") == NULL, "create op");
    o = &ops->u.array.items[1];
    ok(strcmp(str_of(o, "action"), "update") == 0
       && pds_cid_equal(&pds_cbor_map_get(o, "cid")->u.cid, &op[1].cid)
       && pds_cid_equal(&pds_cbor_map_get(o, "prev")->u.cid, &op[1].prev),
       "update op with prev");
    o = &ops->u.array.items[2];
    ok(strcmp(str_of(o, "action"), "delete") == 0
       && pds_cbor_map_get(o, "cid")->type == PDS_CBOR_NULL
       && pds_cid_equal(&pds_cbor_map_get(o, "prev")->u.cid, &op[2].prev),
       "delete op: cid null, prev");

    blocks = pds_cbor_map_get(b, "blocks");
    ok(car_read(blocks->u.bytes.data, blocks->u.bytes.len, c, &r, &nr) == 0
       && nr == 1 && pds_cid_equal(&r, &req.commit), "blocks: CAR rooted at"
       " the commit");
    ok(carblocks_has(c, &req.commit) && carblocks_has(c, &op[0].cid)
       && carblocks_has(c, &op[1].cid) && carblocks_has(c, &req.data),
       "commit, new records and the new MST root are in the CAR");
    ok(!carblocks_has(c, &op[2].prev), "the deleted record is not");

    /* the partial tree in the CAR proves every op, and inverts */
    {
        pds_blocksource_t  bs;
        pds_mst_t         *t;
        pds_cid_t          v, inv;
        pds_mst_diff_t     d;

        bs.get = carblocks_get;
        bs.ctx = c;
        t = pds_mst_load(&A, &bs, &req.data);

        ok(pds_mst_get(t, "app.bsky.graph.follow/f1", 24, &v) == 0
           && pds_cid_equal(&v, &op[0].cid), "proof: created record");
        ok(pds_mst_get(t, COLL "/3jzfcijpj2z2b", 32, &v) == 0
           && pds_cid_equal(&v, &op[1].cid), "proof: updated record");
        ok(pds_mst_get(t, "app.bsky.feed.like/3jzfcijpj2z2c", 32, &v) == 1,
           "proof: deleted record absent");

        ok(pds_mst_put(t, "app.bsky.feed.like/3jzfcijpj2z2c", 32, &op[2].prev)
           == 0
           && pds_mst_put(t, COLL "/3jzfcijpj2z2b", 32, &op[1].prev) == 0
           && pds_mst_delete(t, "app.bsky.graph.follow/f1", 24) == 0
           && pds_mst_commit(t, &inv, noop_block, NULL, &d) == 0
           && pds_cid_equal(&inv, &r0.data),
           "inverting the ops on the CAR's tree gives prevData");
    }

    ok(!block_exists(uid_a, &op[1].prev) && !block_exists(uid_a, &op[2].prev),
       "replaced and deleted record blocks removed");
    ok(verify(uid_a, err) == 0, "verify A: %s", err);
}


static void
test_shared(void)
{
    char               err[256];
    pds_repo_op_t      op[2];
    pds_repo_write_t   req;

    /* two records with the same content share one block */
    op[0] = op_make(PDS_REPO_CREATE, COLL, "same1", "same");
    op[1] = op_make(PDS_REPO_CREATE, "app.bsky.feed.like", "same2", "same");
    req = req_make(uid_a, key_a, op, 2);
    is_int(write1(&req), 0, "two identical records");
    ok(pds_cid_equal(&op[0].cid, &op[1].cid), "same CID");
    ok(verify(uid_a, err) == 0, "verify (refcount 2): %s", err);

    op[0] = op_make(PDS_REPO_DELETE, COLL, "same1", NULL);
    req = req_make(uid_a, key_a, op, 1);
    is_int(write1(&req), 0, "delete one of them");
    ok(block_exists(uid_a, &op[1].cid), "the shared block stays");
    ok(verify(uid_a, err) == 0, "verify: %s", err);

    op[0] = op_make(PDS_REPO_DELETE, "app.bsky.feed.like", "same2", NULL);
    req = req_make(uid_a, key_a, op, 1);
    is_int(write1(&req), 0, "delete the other");
    ok(!block_exists(uid_a, &op[1].cid), "now the block is gone");
    ok(verify(uid_a, err) == 0, "verify: %s", err);

    /* the same content in another repo is that repo's own block */
    op[0] = op_make(PDS_REPO_CREATE, COLL, "same3", "same");
    req = req_make(uid_b, key_b, op, 1);
    is_int(write1(&req), 0, "identical record in B");
    ok(block_exists(uid_b, &op[0].cid) && !block_exists(uid_a, &op[0].cid),
       "per-repo blocks");
}


/* refuses its request after the blocks were changed */
static int
refuse_hook(pds_store_t *s, MDB_txn *txn, pds_repo_write_t *w, void *data)
{
    (void) s;
    (void) txn;
    (void) w;
    (void) data;

    return PDS_REPO_EHOOK;
}


/*
 * Blocks a batch changes are written when it ends: a request that fails
 * after changing them leaves the batch as it was; blocks that a batch makes
 * and drops again never reach LMDB; the same content made, dropped and made
 * again within a batch ends with the right count.
 */
static void
test_batch_blocks(void)
{
    char               err[256];
    size_t             i;
    pds_repo_op_t      ops[6];
    pds_repo_root_t    ra;
    pds_repo_write_t   reqs[6];

    ops[0] = op_make(PDS_REPO_CREATE, COLL, "3kbb00000000a", "batch a");
    ops[1] = op_make(PDS_REPO_CREATE, COLL, "3kbb00000000b", "batch b");
    ops[2] = op_make(PDS_REPO_CREATE, COLL, "3kbb00000000c", "batch c");
    ops[3] = op_make(PDS_REPO_DELETE, COLL, "3kbb00000000a", NULL);
    ops[4] = op_make(PDS_REPO_CREATE, COLL, "3kbb00000000d", "batch a");
    ops[5] = op_make(PDS_REPO_CREATE, COLL, "3kbb00000000e", "batch e");

    for (i = 0; i < 6; i++) {
        reqs[i] = req_make(uid_a, key_a, &ops[i], 1);
    }

    reqs[1].hook = refuse_hook;
    reqs[5].hook = refuse_hook;

    is_int(pds_repo_write_batch(store, reqs, 6), 0, "a batch of 6");
    ok(reqs[0].status == 0 && reqs[2].status == 0 && reqs[3].status == 0
       && reqs[4].status == 0, "4 commits");
    ok(reqs[1].status == PDS_REPO_EHOOK && reqs[5].status == PDS_REPO_EHOOK,
       "2 refused by their hook, one in the middle, one last");
    is_str(reqs[2].since, reqs[0].rev, "the refused request left no commit");
    ok(pds_cid_equal(&reqs[2].prev_commit, &reqs[0].commit),
       "the next one follows the commit before it");

    root_of(uid_a, &ra);
    ok(pds_cid_equal(&ra.commit, &reqs[4].commit), "root: the last commit");
    ok(!block_exists(uid_a, &ops[1].cid) && !block_exists(uid_a,
                                                           &ops[5].cid),
       "refused records: no blocks");
    ok(pds_cid_equal(&ops[0].cid, &ops[4].cid)
       && block_exists(uid_a, &ops[4].cid),
       "content made, dropped and made again in one batch is stored");
    ok(!block_exists(uid_a, &reqs[0].commit)
       && !block_exists(uid_a, &reqs[2].commit)
       && !block_exists(uid_a, &reqs[3].commit)
       && block_exists(uid_a, &reqs[4].commit),
       "only the last commit block of the batch is stored");
    ok(verify(uid_a, err) == 0, "verify (every count): %s", err);

    /* and the next batch starts from there */
    ops[0] = op_make(PDS_REPO_DELETE, COLL, "3kbb00000000d", NULL);
    reqs[0] = req_make(uid_a, key_a, &ops[0], 1);
    is_int(write1(&reqs[0]), 0, "delete after the batch");
    ok(!block_exists(uid_a, &ops[4].cid), "its block is gone");
    ok(verify(uid_a, err) == 0, "verify: %s", err);
}


int
main(void)
{
    char   dir[] = "/tmp/test_repo.XXXXXX", sub[64];

    if (fixture_begin(dir) != 0) {
        return 1;
    }

    snprintf(sub, sizeof(sub), "%s/main", dir);
    test_store(sub);
    test_create();
    test_batch();
    test_errors();
    test_diff();
    test_shared();
    test_batch_blocks();

    fixture_end(dir);

    return tap_done();
}
