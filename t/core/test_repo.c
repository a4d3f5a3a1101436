/*
 * The repository engine: store layout basics (uids, the event sequence),
 * new repos, signed commits, write batches (several repos in one
 * transaction, failures isolated, swaps, no-ops), commit diffs and firehose
 * frames, removed blocks and shared record blocks, reads, CAR exports,
 * verification, map-full handling and a writer thread beside readers.
 */

#include <pthread.h>
#include <stddef.h>
#include <unistd.h>

#include "tap.h"

#include "pds_car.h"
#include "pds_cbor.h"
#include "pds_keys.h"
#include "pds_mst.h"
#include "pds_repo.h"
#include "pds_store.h"
#include "pds_syntax.h"


#define COLL  "app.bsky.feed.post"

static const char  did_a[] = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa";
static const char  did_b[] = "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb";

static pds_store_t  *store;
static pds_key_t    *key_a, *key_b;
static char          dk_a[PDS_DID_KEY_MAX];
static uint64_t      uid_a, uid_b;
static pds_arena_t  *arena;
static pds_alloc_t   A;


/* {"text": text, "$type": COLL} */
static pds_buf_t
record(const char *text)
{
    pds_buf_t  b;

    pds_buf_init(&b, &A);
    pds_cbor_put_map(&b, 2);
    pds_cbor_put_str(&b, "text");
    pds_cbor_put_str(&b, text);
    pds_cbor_put_str(&b, "$type");
    pds_cbor_put_str(&b, COLL);

    return b;
}


static pds_repo_op_t
op_make(pds_repo_action_t action, const char *coll, const char *rkey, const char *text)
{
    pds_buf_t      b;
    pds_repo_op_t  op;

    memset(&op, 0, sizeof(op));
    op.action = action;
    op.collection = coll;
    op.collection_len = strlen(coll);
    op.rkey = rkey;
    op.rkey_len = strlen(rkey);

    if (text) {
        b = record(text);
        op.record = b.data;
        op.record_len = b.len;
    }

    return op;
}


static pds_repo_write_t
req_make(uint64_t uid, pds_key_t *key, pds_repo_op_t *ops, size_t n)
{
    pds_repo_write_t  r;

    memset(&r, 0, sizeof(r));
    r.uid = uid;
    r.key = key;
    r.ops = ops;
    r.nops = n;

    return r;
}


/* one request alone in its transaction; returns its status */
static int
write1(pds_repo_write_t *r)
{
    /* a failed transaction leaves its error in the request */
    if (pds_repo_write_batch(store, r, 1) != 0 && r->status >= 0) {
        return -100;
    }

    return r->status;
}


static int
root_of(uint64_t uid, pds_repo_root_t *root)
{
    int       rc;
    MDB_txn  *txn;

    pds_store_read_begin(store, &txn);
    rc = pds_repo_get_root(store, txn, uid, root);
    root->did = NULL;
    mdb_txn_abort(txn);

    return rc;
}


static int
verify(uint64_t uid, char *err)
{
    int       rc;
    MDB_txn  *txn;

    pds_store_read_begin(store, &txn);
    rc = pds_repo_verify(store, txn, uid, uid == uid_a ? dk_a : NULL, err,
                         256);
    if (rc == 0) {
        rc = pds_repo_verify_events(store, txn, err, 256);
    }

    mdb_txn_abort(txn);

    return rc;
}


static uint64_t
last_seq(void)
{
    uint64_t  seq;
    MDB_txn  *txn;

    pds_store_read_begin(store, &txn);
    pds_store_seq_last(store, txn, &seq);
    mdb_txn_abort(txn);

    return seq;
}


static int
block_exists(uint64_t uid, const pds_cid_t *cid)
{
    int             rc;
    size_t          n;
    MDB_txn        *txn;
    const uint8_t  *p;

    pds_store_read_begin(store, &txn);
    rc = pds_repo_get_block(store, txn, uid, cid, &p, &n);
    mdb_txn_abort(txn);

    return rc == 0;
}


/* decodes event seq: header and body trees (from the arena) */
static int
event(uint64_t seq, pds_cbor_t **h, pds_cbor_t **b)
{
    int             rc;
    size_t          n, used;
    MDB_txn        *txn;
    const uint8_t  *p;

    pds_store_read_begin(store, &txn);
    rc = pds_repo_event_get(store, txn, seq, &p, &n);

    if (rc == 0) {
        rc = pds_cbor_decode_prefix(p, n, &A, h, &used);
    }

    if (rc == 0) {
        rc = pds_cbor_decode(p + used, n - used, &A, b);
    }

    mdb_txn_abort(txn);

    return rc;
}


static const char *
str_of(const pds_cbor_t *m, const char *k)
{
    const pds_cbor_t  *v = pds_cbor_map_get(m, k);

    return (v && v->type == PDS_CBOR_STRING) ? v->u.str.data : NULL;
}


/* blocks of a CAR, kept for a block source */
typedef struct {
    pds_cid_t        cid[4096];
    const uint8_t   *p[4096];
    size_t           n[4096];
    size_t           len;
} carblocks_t;


static int
carblocks_add(void *ctx, const pds_cid_t *cid, const uint8_t *p, size_t n)
{
    uint8_t      *copy;
    carblocks_t  *c = ctx;

    if (c->len == 4096) {
        return -1;
    }

    copy = pds_alloc(&A, n + 1);
    memcpy(copy, p, n);
    c->cid[c->len] = *cid;
    c->p[c->len] = copy;
    c->n[c->len] = n;
    c->len++;

    return 0;
}


static int
carblocks_get(void *ctx, const pds_cid_t *cid, const uint8_t **p, size_t *n)
{
    size_t        i;
    carblocks_t  *c = ctx;

    for (i = 0; i < c->len; i++) {
        if (pds_cid_equal(&c->cid[i], cid)) {
            *p = c->p[i];
            *n = c->n[i];
            return 0;
        }
    }

    return 1;
}


static int
carblocks_has(carblocks_t *c, const pds_cid_t *cid)
{
    const uint8_t  *p;
    size_t          n;

    return carblocks_get(c, cid, &p, &n) == 0;
}


/* reads a whole CAR into c; the root in *root; 0 or a CAR error */
static int
car_read(const uint8_t *p, size_t n, carblocks_t *c, pds_cid_t *root,
    size_t *nroots)
{
    int               rc;
    pds_car_reader_t  r;

    c->len = 0;
    pds_car_reader_init(&r, &A, 0, 0, carblocks_add, c);
    rc = pds_car_reader_feed(&r, p, n);

    if (rc == 0) {
        rc = pds_car_reader_finish(&r);
    }

    *nroots = r.nroots;
    if (r.nroots) {
        *root = r.roots[0];
    }

    pds_car_reader_free(&r);

    return rc;
}


typedef struct {
    char    rkeys[64][16];
    size_t  n;
} list_t;


static int
list_cb(void *ctx, const char *rkey, size_t rlen, const pds_cid_t *cid,
    const uint8_t *p, size_t n)
{
    list_t  *l = ctx;

    (void) cid;
    (void) p;
    (void) n;

    if (l->n < 64 && rlen < 16) {
        memcpy(l->rkeys[l->n], rkey, rlen);
        l->rkeys[l->n][rlen] = '\0';
        l->n++;
    }

    return 0;
}


static int
coll_cb(void *ctx, const char *name, size_t len)
{
    list_t  *l = ctx;

    if (l->n < 64 && len < 16) {
        memcpy(l->rkeys[l->n], name, len);
        l->rkeys[l->n][len] = '\0';
    }

    l->n++;
    return 0;
}


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


typedef struct {
    pds_buf_t   buf;
} out_t;


static int
out_cb(void *ctx, const uint8_t *p, size_t n)
{
    out_t  *o = ctx;

    return pds_buf_append(&o->buf, p, n);
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
    char   dir[] = "/tmp/test_repo.XXXXXX", sub[64], cmd[128];

    arena = pds_arena_create();
    A = pds_arena_allocator(arena);

    if (mkdtemp(dir) == NULL) {
        return 1;
    }

    key_a = pds_key_generate(PDS_KEY_K256);
    key_b = pds_key_generate(PDS_KEY_K256);
    pds_key_did_key(key_a, dk_a, sizeof(dk_a));

    snprintf(sub, sizeof(sub), "%s/main", dir);
    test_store(sub);
    test_create();
    test_batch();
    test_errors();
    test_diff();
    test_shared();
    test_batch_blocks();
    test_reads();
    test_export();

    snprintf(sub, sizeof(sub), "%s/small", dir);
    test_mapfull(sub);

    test_thread();

    pds_store_close(store);
    pds_key_free(key_a);
    pds_key_free(key_b);
    pds_arena_destroy(arena);

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0) {
        tap_diag("cannot remove %s", dir);
    }

    return tap_done();
}
