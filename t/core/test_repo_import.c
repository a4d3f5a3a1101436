/*
 * Importing a repository from a CAR (pds_repo_import.c): a repo exported
 * from one store is imported into another account's slot in a second
 * store and verifies there (commit signature with the old key, tree,
 * record index, block counts); it takes new writes signed with the new
 * key; forged, foreign, tampered, truncated and incomplete CARs are refused
 * with a message and change nothing.
 */

#include <stdio.h>

#include "tap.h"
#include "repo_fixture.h"
#include "pds_repo_import.h"


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


int
main(void)
{
    int                 rc;
    char                dir[] = "/tmp/pds-test-import-XXXXXX";
    char                dir2[] = "/tmp/pds-test-import2-XXXXXX";
    char                err[256], dk_b[PDS_DID_KEY_MAX], cmd[128];
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

    /* nothing changed in the new home by the refusals */
    pds_store_read_begin(dst, &txn);
    pds_key_did_key(key_new, dk_b, sizeof(dk_b));
    rc = pds_repo_verify(dst, txn, uid, dk_b, err, sizeof(err));
    ok(rc == 0, "the new home's repo is as it was (%s)", rc ? err : "ok");
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
