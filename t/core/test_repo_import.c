/*
 * Importing a repository from a CAR (pds_repo_import.c): a repo exported
 * from one store is imported into another account's slot in a second
 * store and verifies there (commit signature with the old key, tree,
 * record index, block counts); it takes new writes signed with the new
 * key; forged, foreign, tampered, truncated and incomplete CARs are refused
 * with a message and change nothing.  Hand-built trees, signed with the
 * account's key: the canonical ones (the same root as pds_mst builds) are
 * accepted, every way of being not canonical is refused.
 */

#include <stdio.h>

#include "tap.h"
#include "repo_fixture.h"
#include "pds_repo_import.h"
#include "pds_repo_int.h"           /* pds_commit_sign, for forged trees */


#define NRECORDS  300

static char  car_path[64], bad_path[64];


static int
write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE  *f;

    f = fopen(path, "wb");
    if (f == NULL) {
        return -1;
    }

    if (n && fwrite(p, 1, n, f) != n) {
        fclose(f);
        return -1;
    }

    return fclose(f) == 0 ? 0 : -1;
}


/* repo A with NRECORDS records in three collections (two share content) */
static int
fill_a(void)
{
    int                i;
    char               rkey[32], text[32];
    const char        *coll;
    pds_repo_op_t      op;
    pds_repo_write_t   req;

    for (i = 0; i < NRECORDS; i++) {
        coll = (i % 3 == 0) ? "app.bsky.feed.like"
               : (i % 3 == 1) ? COLL : "app.bsky.graph.follow";
        snprintf(rkey, sizeof(rkey), "3kimport%05d", i);
        snprintf(text, sizeof(text), "%s", i < 2 ? "same" : rkey);

        op = op_make(PDS_REPO_CREATE, coll, rkey, text);
        req = req_make(uid_a, key_a, &op, 1);

        if (write1(&req) != 0) {
            return -1;
        }
    }

    return 0;
}


/* exports repo uid of the global store into a buffer */
static int
export(uint64_t uid, out_t *o)
{
    int               rc;
    MDB_txn          *txn;
    pds_car_writer_t  w;

    pds_buf_init(&o->buf, &A);
    pds_car_writer_init(&w, &A, 0, out_cb, o);

    pds_store_read_begin(store, &txn);
    rc = pds_repo_export(store, txn, uid, NULL, &w);
    if (rc == 0) {
        rc = pds_car_finish(&w);
    }
    mdb_txn_abort(txn);
    pds_car_writer_free(&w);

    return rc;
}


/* a CAR of the blocks in c under root, skipping the block skip (NULL) */
static int
rewrite(carblocks_t *c, const pds_cid_t *root, size_t nroots,
    const pds_cid_t *skip, out_t *o)
{
    size_t            i;
    pds_cid_t         roots[2];
    pds_car_writer_t  w;

    roots[0] = *root;
    roots[1] = *root;

    pds_buf_init(&o->buf, &A);
    pds_car_writer_init(&w, &A, 0, out_cb, o);
    pds_car_header(&w, roots, nroots);

    for (i = 0; i < c->len; i++) {
        if (skip == NULL || !pds_cid_equal(skip, &c->cid[i])) {
            pds_car_block(&w, &c->cid[i], c->p[i], c->n[i]);
        }
    }

    i = pds_car_finish(&w);
    pds_car_writer_free(&w);

    return (int) i;
}


/* opens path for did with dk: the message, or NULL when it is accepted */
static const char *
refusal(const char *path, const char *did, const char *dk)
{
    static char         err[256];
    pds_repo_import_t  *imp;

    if (pds_repo_import_open(path, 0, did, dk, &imp, err, sizeof(err))
        == 0)
    {
        pds_repo_import_close(imp);
        return NULL;
    }

    return err;
}


static void
check_refused(const uint8_t *p, size_t n, const char *did, const char *dk,
    const char *want, const char *what)
{
    const char  *msg;

    if (write_file(bad_path, p, n) != 0) {
        ok(0, "%s: file written", what);
        return;
    }

    msg = refusal(bad_path, did, dk);
    ok(msg != NULL && strstr(msg, want) != NULL, "%s: refused (%s)", what,
       msg ? msg : "accepted");
}


/* imports path as repo uid of st in steps of budget, one transaction each;
 * the number of steps, or -1 */
static long
import_steps(pds_store_t *st, uint64_t uid, const char *path, size_t budget,
    long max_steps)
{
    int                 rc;
    long                steps;
    char                err[256];
    MDB_txn            *txn;
    pds_repo_import_t  *imp;

    if (pds_repo_import_open(path, 0, did_a, dk_a, &imp, err, sizeof(err))
        != 0)
    {
        tap_diag("import_steps: %s", err);
        return -1;
    }

    steps = 0;

    do {
        if (pds_store_write_begin(st, &txn) != 0) {
            break;
        }

        rc = pds_repo_import_step(st, txn, uid, imp, budget, NULL, NULL);
        steps++;

        if ((rc != 0 && rc != PDS_REPO_IMPORT_MORE)
            || mdb_txn_commit(txn) != 0)
        {
            if (rc != 0 && rc != PDS_REPO_IMPORT_MORE) {
                mdb_txn_abort(txn);
            }
            tap_diag("import_steps: step %ld: %d", steps, rc);
            pds_repo_import_close(imp);
            return -1;
        }

    } while (rc == PDS_REPO_IMPORT_MORE && steps < max_steps);

    pds_repo_import_close(imp);

    return rc == 0 ? steps : -1;
}


/* ---- hand-built trees ---------------------------------------------------- */

#define HB_MAX  64

typedef struct {
    const char       *key;
    const pds_cid_t  *t;            /* NULL: no subtree */
} hb_ent_t;

static uint8_t    *hb_p[HB_MAX];
static size_t      hb_n[HB_MAX];
static pds_cid_t   hb_cid[HB_MAX];
static size_t      hb_len;
static pds_cid_t   hb_rec;          /* the one record block */


static const pds_cid_t *
hb_add(pds_buf_t *b)
{
    hb_p[hb_len] = b->data;
    hb_n[hb_len] = b->len;
    pds_cid_of_cbor(&hb_cid[hb_len], b->data, b->len);

    return &hb_cid[hb_len++];
}


static void
hb_reset(void)
{
    pds_buf_t  b;

    hb_len = 0;
    pds_buf_init(&b, &A);
    pds_cbor_put_map(&b, 1);
    pds_cbor_put_str(&b, "text");
    pds_cbor_put_str(&b, "hand-built");
    hb_rec = *hb_add(&b);
}


/* a node; flat: every prefix 0 (not the canonical compression) */
static const pds_cid_t *
hb_node(const hb_ent_t *e, size_t n, const pds_cid_t *l, int flat)
{
    size_t     i, p;
    pds_buf_t  b;

    pds_buf_init(&b, &A);
    pds_cbor_put_map(&b, 2);
    pds_cbor_put_str(&b, "e");
    pds_cbor_put_array(&b, n);

    for (i = 0; i < n; i++) {
        p = (i == 0 || flat) ? 0
            : pds_mst_common_prefix(e[i - 1].key, strlen(e[i - 1].key),
                                    e[i].key, strlen(e[i].key));
        pds_cbor_put_map(&b, 4);
        pds_cbor_put_str(&b, "k");
        pds_cbor_put_bytes(&b, (const uint8_t *) e[i].key + p,
                           strlen(e[i].key) - p);
        pds_cbor_put_str(&b, "p");
        pds_cbor_put_uint(&b, p);
        pds_cbor_put_str(&b, "t");
        if (e[i].t) {
            pds_cbor_put_cid(&b, e[i].t);
        } else {
            pds_cbor_put_null(&b);
        }
        pds_cbor_put_str(&b, "v");
        pds_cbor_put_cid(&b, &hb_rec);
    }

    pds_cbor_put_str(&b, "l");
    if (l) {
        pds_cbor_put_cid(&b, l);
    } else {
        pds_cbor_put_null(&b);
    }

    return hb_add(&b);
}


/* the CAR of the blocks so far under a commit of data signed by A's key */
static int
hb_car(const pds_cid_t *data, out_t *o)
{
    size_t            i;
    pds_buf_t         c;
    pds_cid_t         commit;
    pds_car_writer_t  w;

    pds_buf_init(&c, &A);
    if (pds_commit_sign(&A, key_a, did_a, strlen(did_a), "3kimporthand2",
                        data, &c, &commit) != 0)
    {
        return -1;
    }

    pds_buf_init(&o->buf, &A);
    pds_car_writer_init(&w, &A, 0, out_cb, o);
    pds_car_header(&w, &commit, 1);
    pds_car_block(&w, &commit, c.data, c.len);

    for (i = 0; i < hb_len; i++) {
        pds_car_block(&w, &hb_cid[i], hb_p[i], hb_n[i]);
    }

    i = (size_t) pds_car_finish(&w);
    pds_car_writer_free(&w);

    return (int) i;
}


/* the root pds_mst builds for the keys */
static int
hb_mst_root(char **keys, size_t n, pds_cid_t *root)
{
    size_t              i;
    pds_mst_t          *t;
    pds_blocksource_t   none;

    memset(&none, 0, sizeof(none));
    none.get = carblocks_get;
    none.ctx = pds_alloc(&A, sizeof(carblocks_t));
    memset(none.ctx, 0, sizeof(carblocks_t));

    t = pds_mst_load(&A, &none, NULL);

    for (i = 0; t && i < n; i++) {
        if (pds_mst_put(t, keys[i], strlen(keys[i]), &hb_rec) != 0) {
            return -1;
        }
    }

    return t ? pds_mst_commit(t, root, NULL, NULL, NULL) : -1;
}


static void
hb_check(const pds_cid_t *data, const char *want, const char *what)
{
    out_t  o;

    if (hb_car(data, &o) != 0) {
        ok(0, "%s: CAR built", what);
        return;
    }

    if (want == NULL) {
        const char  *msg;

        write_file(bad_path, o.buf.data, o.buf.len);
        msg = refusal(bad_path, did_a, dk_a);
        ok(msg == NULL, "%s: accepted (%s)", what, msg ? msg : "ok");
        return;
    }

    check_refused(o.buf.data, o.buf.len, did_a, dk_a, want, what);
}


/* forged trees: the canonical ones pass, the others are refused */
static void
hand_built(void)
{
    int               lay;
    char             *k0[8], *k1 = NULL, *k2, buf[64];
    char             *all[8];
    size_t            i, n0;
    pds_cid_t         root;
    hb_ent_t          e[8];
    const pds_cid_t  *left, *right, *mid, *d, *empty;

    k2 = NULL;

    /* keys by layer: four of layer 0, one of 1, one of 2 */

    n0 = 0;
    for (i = 0; i < 100000 && (n0 < 4 || k1 == NULL || k2 == NULL); i++) {
        snprintf(buf, sizeof(buf), "app.bsky.feed.post/3khand%06zu", i);
        lay = pds_mst_key_layer(buf, strlen(buf));

        if (lay == 0 && n0 < 4 && (n0 < 2 || k1 != NULL)) {
            k0[n0++] = pds_strndup(&A, buf, strlen(buf));
        } else if (lay == 1 && k1 == NULL && n0 == 2) {
            k1 = pds_strndup(&A, buf, strlen(buf));
        }

        /* after all of them */
        snprintf(buf, sizeof(buf), "app.bsky.feed.post/3kzz%06zu", i);
        if (k2 == NULL && pds_mst_key_layer(buf, strlen(buf)) == 2) {
            k2 = pds_strndup(&A, buf, strlen(buf));
        }
    }

    if (n0 < 4 || k1 == NULL || k2 == NULL) {
        ok(0, "keys of layers 0, 1 and 2 found");
        return;
    }

    /* k0[0] < k0[1] < k1 < k0[2] < k0[3] */

    /* one node of layer 0 keys: canonical */
    hb_reset();
    for (i = 0; i < 4; i++) {
        e[i].key = k0[i];
        e[i].t = NULL;
    }
    d = hb_node(e, 4, NULL, 0);
    hb_mst_root(k0, 4, &root);
    ok(pds_cid_equal(&root, d), "a hand-built node is what pds_mst builds");
    hb_check(d, NULL, "one canonical node");

    /* the same keys not compressed */
    hb_reset();
    d = hb_node(e, 4, NULL, 1);
    hb_check(d, "compressed", "keys without their common prefix");

    /* two keys swapped */
    hb_reset();
    e[1].key = k0[2];
    e[2].key = k0[1];
    d = hb_node(e, 4, NULL, 0);
    hb_check(d, "out of order", "keys out of order in a node");

    /* k1 in a node with the layer 0 keys */
    hb_reset();
    e[0].key = k0[0];
    e[1].key = k0[1];
    e[2].key = k1;
    e[3].key = k0[2];
    d = hb_node(e, 4, NULL, 0);
    hb_check(d, "layer", "a layer 1 key among layer 0 keys");

    /* the canonical two-layer tree: k1 with a subtree either side */
    hb_reset();
    e[0].key = k0[0];
    e[0].t = NULL;
    e[1].key = k0[1];
    e[1].t = NULL;
    left = hb_node(e, 2, NULL, 0);
    e[0].key = k0[2];
    e[1].key = k0[3];
    right = hb_node(e, 2, NULL, 0);
    e[0].key = k1;
    e[0].t = right;
    d = hb_node(e, 1, left, 0);
    all[0] = k0[0];
    all[1] = k0[1];
    all[2] = k1;
    all[3] = k0[2];
    all[4] = k0[3];
    hb_mst_root(all, 5, &root);
    ok(pds_cid_equal(&root, d), "a hand-built two-layer tree is what "
       "pds_mst builds");
    hb_check(d, NULL, "the canonical two-layer tree");

    /* the subtrees swapped: keys out of order across nodes */
    hb_reset();
    e[0].key = k0[0];
    e[0].t = NULL;
    e[1].key = k0[1];
    left = hb_node(e, 2, NULL, 0);
    e[0].key = k0[2];
    e[1].key = k0[3];
    right = hb_node(e, 2, NULL, 0);
    e[0].key = k1;
    e[0].t = left;
    d = hb_node(e, 1, right, 0);
    hb_check(d, "out of order", "subtrees on the wrong sides");

    /* an empty node as a subtree */
    hb_reset();
    e[0].key = k0[0];
    e[1].key = k0[1];
    e[0].t = e[1].t = NULL;
    left = hb_node(e, 2, NULL, 0);
    empty = hb_node(e, 0, NULL, 0);
    e[0].key = k1;
    e[0].t = empty;
    d = hb_node(e, 1, left, 0);
    hb_check(d, "empty MST node", "an empty subtree");

    /* a root with no entries above the layer 0 node (not trimmed) */
    hb_reset();
    for (i = 0; i < 4; i++) {
        e[i].key = k0[i];
        e[i].t = NULL;
    }
    mid = hb_node(e, 4, NULL, 0);
    d = hb_node(e, 0, mid, 0);
    hb_check(d, "only a subtree", "a root that should be trimmed");

    /* a layer 0 node with a subtree */
    hb_reset();
    e[0].key = k0[0];
    e[0].t = NULL;
    left = hb_node(e, 1, NULL, 0);
    e[0].key = k0[1];
    d = hb_node(e, 1, left, 0);
    hb_check(d, "layer 0", "a layer 0 node with a subtree");

    /* k2 over a layer 0 node: a layer is skipped (the canonical tree has
     * an entry-less layer 1 node between them) */
    hb_reset();
    for (i = 0; i < 4; i++) {
        e[i].key = k0[i];
        e[i].t = NULL;
    }
    left = hb_node(e, 4, NULL, 0);
    all[0] = k0[0];
    all[1] = k0[1];
    all[2] = k0[2];
    all[3] = k0[3];
    all[4] = k2;
    e[0].key = k2;
    e[0].t = NULL;
    d = hb_node(e, 1, left, 0);
    hb_check(d, "layer", "a layer skipped between nodes");
    mid = hb_node(e, 0, left, 0);
    d = hb_node(e, 1, mid, 0);
    hb_mst_root(all, 5, &root);
    ok(pds_cid_equal(&root, d), "with the entry-less node between, what "
       "pds_mst builds");
    hb_check(d, NULL, "a canonical tree with an entry-less node");

    /* the empty tree */
    hb_reset();
    d = hb_node(e, 0, NULL, 0);
    hb_check(d, NULL, "the empty tree");
}


int
main(void)
{
    int                 rc;
    char                dir[] = "/tmp/pds-test-import-XXXXXX";
    char                dir2[] = "/tmp/pds-test-import2-XXXXXX";
    char                err[256], dk_b[PDS_DID_KEY_MAX], cmd[128];
    long                steps;
    size_t              nroots, i;
    uint64_t            uid;
    MDB_txn            *txn;
    pds_cid_t           root, rec;
    pds_key_t          *key_new;
    pds_store_t        *src, *dst;
    carblocks_t        *blocks;
    pds_repo_root_t     r1, r2;
    pds_repo_op_t       op;
    pds_repo_write_t    req, res;
    pds_repo_import_t  *imp;
    out_t               car, bad;

    if (fixture_begin(dir) != 0
        || pds_store_open(dir, 64 << 20, 16, &store, err, sizeof(err)) != 0
        || fixture_repos() != 0 || fill_a() != 0)
    {
        ok(0, "fixture");
        return tap_done();
    }

    pds_key_did_key(key_b, dk_b, sizeof(dk_b));
    snprintf(car_path, sizeof(car_path), "%s/a.car", dir);
    snprintf(bad_path, sizeof(bad_path), "%s/bad.car", dir);

    rc = export(uid_a, &car);
    ok(rc == 0 && write_file(car_path, car.buf.data, car.buf.len) == 0,
       "repo A exported (%zu bytes)", car.buf.len);

    /* the new home: another store, the account made with a new key */

    src = store;
    key_new = pds_key_generate(PDS_KEY_K256);

    if (mkdtemp(dir2) == NULL
        || pds_store_open(dir2, 64 << 20, 16, &dst, err, sizeof(err)) != 0
        || key_new == NULL)
    {
        ok(0, "second store");
        return tap_done();
    }

    pds_store_write_begin(dst, &txn);
    rc = pds_repo_create(dst, txn, did_a, strlen(did_a), key_new, &uid, &res);
    ok(rc == 0 && mdb_txn_commit(txn) == 0, "the account's empty repo");

    rc = pds_repo_import_open(car_path, 0, did_a, dk_a, &imp, err,
                              sizeof(err));
    ok(rc == 0, "the CAR is accepted (%s)", rc ? err : "ok");
    if (rc != 0) {
        return tap_done();
    }

    is_int((long) pds_repo_import_records(imp), NRECORDS, "its records");
    ok(pds_repo_import_blocks(imp) > NRECORDS, "and its blocks (%lu)",
       (unsigned long) pds_repo_import_blocks(imp));

    pds_store_write_begin(dst, &txn);
    rc = pds_repo_import_write(dst, txn, uid, imp, NULL, NULL);
    ok(rc == 0 && mdb_txn_commit(txn) == 0, "written");
    pds_repo_import_close(imp);

    store = dst;
    ok(root_of(uid, &r2) == 0, "the new store has the root");
    store = src;
    root_of(uid_a, &r1);
    ok(pds_cid_equal(&r1.commit, &r2.commit)
       && pds_cid_equal(&r1.data, &r2.data) && strcmp(r1.rev, r2.rev) == 0,
       "the same commit, tree and rev as the old home");

    pds_store_read_begin(dst, &txn);
    rc = pds_repo_verify(dst, txn, uid, dk_a, err, sizeof(err));
    ok(rc == 0, "the imported repo verifies with the old key (%s)",
       rc ? err : "ok");
    rc = pds_repo_get_record(dst, txn, uid, COLL, strlen(COLL),
                             "3kimport00001", 13, &rec, NULL, NULL);
    ok(rc == 0, "a record reads back");
    mdb_txn_abort(txn);

    /* the first new commit is signed with the new key */

    store = dst;
    op = op_make(PDS_REPO_CREATE, COLL, "3kafterimport", "after");
    req = req_make(uid, key_new, &op, 1);
    is_int(write1(&req), 0, "a new write after the import");

    pds_store_read_begin(dst, &txn);
    pds_key_did_key(key_new, dk_b, sizeof(dk_b));
    rc = pds_repo_verify(dst, txn, uid, dk_b, err, sizeof(err));
    ok(rc == 0, "and the repo verifies with the new key (%s)",
       rc ? err : "ok");
    mdb_txn_abort(txn);
    store = src;
    pds_key_did_key(key_b, dk_b, sizeof(dk_b));

    /* again, in steps of 7 records (the old repo, with its new write,
     * removed 7 rows a step first), each step its own transaction */

    steps = import_steps(dst, uid, car_path, 7, 100000);
    ok(steps > 2 * NRECORDS / 7, "imported again in %ld steps", steps);
    store = dst;
    ok(root_of(uid, &r2) == 0 && pds_cid_equal(&r1.commit, &r2.commit)
       && pds_cid_equal(&r1.data, &r2.data), "the same root");
    store = src;
    pds_store_read_begin(dst, &txn);
    rc = pds_repo_verify(dst, txn, uid, dk_a, err, sizeof(err));
    ok(rc == 0, "the stepped import verifies (blocks, counts, record "
       "index) (%s)", rc ? err : "ok");
    rc = pds_repo_get_record(dst, txn, uid, COLL, strlen(COLL),
                             "3kafterimport", 13, &rec, NULL, NULL);
    ok(rc != 0, "the record written after the first import is gone");
    mdb_txn_abort(txn);

    /* an import overtaken by another one stops */

    rc = pds_repo_import_open(car_path, 0, did_a, dk_a, &imp, err,
                              sizeof(err));
    pds_store_write_begin(dst, &txn);
    rc = rc ? rc : pds_repo_import_step(dst, txn, uid, imp, 50, NULL, NULL);
    ok(rc == PDS_REPO_IMPORT_MORE && mdb_txn_commit(txn) == 0,
       "a stepped import begins");
    ok(import_steps(dst, uid, car_path, 1000000, 100) > 0,
       "another import of the account runs meanwhile");
    pds_store_write_begin(dst, &txn);
    rc = pds_repo_import_step(dst, txn, uid, imp, 50, NULL, NULL);
    is_int(rc, PDS_REPO_IMPORT_ELOST, "the first one then stops");
    mdb_txn_abort(txn);
    pds_repo_import_close(imp);
    pds_store_read_begin(dst, &txn);
    rc = pds_repo_verify(dst, txn, uid, dk_a, err, sizeof(err));
    ok(rc == 0, "and the repo is the second one's (%s)", rc ? err : "ok");
    mdb_txn_abort(txn);

    /* refusals */

    ok(refusal(car_path, did_b, NULL) != NULL
       && strstr(refusal(car_path, did_b, NULL), "another account") != NULL,
       "another account's repo: refused");
    ok(refusal(car_path, did_a, dk_b) != NULL
       && strstr(refusal(car_path, did_a, dk_b), "signature") != NULL,
       "signed by another key: refused");

    check_refused(car.buf.data, car.buf.len / 2, did_a, dk_a, "CAR",
                  "truncated CAR");
    check_refused((const uint8_t *) "not a car at all", 16, did_a, dk_a,
                  "CAR", "not a CAR");
    check_refused(car.buf.data, 0, did_a, dk_a, "empty", "empty file");

    memcpy(&bad, &car, sizeof(out_t));
    pds_buf_init(&bad.buf, &A);
    pds_buf_append(&bad.buf, car.buf.data, car.buf.len);
    bad.buf.data[bad.buf.len - 3] ^= 0x55;
    check_refused(bad.buf.data, bad.buf.len, did_a, dk_a, "CAR",
                  "a block that does not match its CID");

    blocks = pds_alloc(&A, sizeof(carblocks_t));
    rc = car_read(car.buf.data, car.buf.len, blocks, &root, &nroots);
    ok(rc == 0 && nroots == 1, "the CAR reads back");

    rewrite(blocks, &root, 2, NULL, &bad);
    check_refused(bad.buf.data, bad.buf.len, did_a, dk_a, "one root",
                  "two roots");

    rewrite(blocks, &root, 1, &root, &bad);
    check_refused(bad.buf.data, bad.buf.len, did_a, dk_a, "commit",
                  "no commit block");

    pds_store_read_begin(src, &txn);
    pds_repo_get_record(src, txn, uid_a, COLL, strlen(COLL), "3kimport00004",
                        13, &rec, NULL, NULL);
    mdb_txn_abort(txn);
    rewrite(blocks, &root, 1, &rec, &bad);
    check_refused(bad.buf.data, bad.buf.len, did_a, dk_a, "missing",
                  "a record block missing");

    /* a tree node missing: the first block after the commit that is
     * not a record is the MST root */
    for (i = 0; i < blocks->len; i++) {
        if (pds_cid_equal(&blocks->cid[i], &r1.data)) {
            break;
        }
    }
    ok(i < blocks->len, "the MST root is in the CAR");
    rewrite(blocks, &root, 1, &r1.data, &bad);
    check_refused(bad.buf.data, bad.buf.len, did_a, dk_a, "MST",
                  "the MST root missing");

    hand_built();

    /* nothing changed in the new home by the refusals */
    pds_store_read_begin(dst, &txn);
    rc = pds_repo_verify(dst, txn, uid, dk_a, err, sizeof(err));
    ok(rc == 0, "the new home's repo is as it was (%s)", rc ? err : "ok");
    store = dst;
    ok(root_of(uid, &r2) == 0 && pds_cid_equal(&r1.commit, &r2.commit),
       "... its root too");
    store = src;
    mdb_txn_abort(txn);

    pds_store_close(dst);
    pds_key_free(key_new);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir2);
    if (system(cmd) != 0) {
        tap_diag("cannot remove %s", dir2);
    }

    fixture_end(dir);

    return tap_done();
}
