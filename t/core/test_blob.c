/*
 * Unit tests of the blob bookkeeping (pds_blob.c) on a real LMDB store:
 * temporary uploads, references from records, blobs dropped with their
 * last reference, collection of old temporary ones, listing.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "pds_blob.h"


#define UID   7
#define MANY  20


static void
blob_cid(pds_cid_t *cid, int i)
{
    char  data[32];
    int   n;

    n = snprintf(data, sizeof(data), "blob bytes %d", i);
    pds_cid_of_raw(cid, (const uint8_t *) data, (size_t) n);
}


static int
gone_has(const pds_blob_gone_t *gone, const pds_cid_t *cid)
{
    size_t  i;

    for (i = 0; i < gone->n; i++) {
        if (pds_cid_equal(&gone->cids[i], cid)) {
            return 1;
        }
    }

    return 0;
}


static int
count_cb(void *ctx, const pds_cid_t *cid)
{
    (void) cid;
    (*(size_t *) ctx)++;

    return 0;
}


typedef struct {
    pds_cid_t   cids[8];
    char        paths[8][64];
    size_t      n;
} missing_t;


static int
missing_cb(void *ctx, const pds_cid_t *cid, const char *path, size_t len)
{
    missing_t  *m = ctx;

    if (m->n < 8 && len < 64) {
        m->cids[m->n] = *cid;
        memcpy(m->paths[m->n], path, len);
        m->paths[m->n][len] = '\0';
        m->n++;
    }

    return 0;
}


static size_t
listed(pds_store_t *s, MDB_txn *txn)
{
    size_t  n = 0;

    pds_blob_list(s, txn, UID, NULL, 1000, count_cb, &n);

    return n;
}


static int
exists(const char *path)
{
    return access(path, F_OK) == 0;
}


/* the file of a dropped blob goes, unless the blob has a row again */
static void
test_file_drop(pds_store_t *s, const char *dir)
{
    char        path[512], aside[600];
    FILE       *f;
    MDB_txn    *txn;
    pds_cid_t   x, y;

    blob_cid(&x, 41);
    blob_cid(&y, 42);
    snprintf(path, sizeof(path), "%s/blob-file", dir);
    snprintf(aside, sizeof(aside), "%s%s%ld", path, PDS_BLOB_ASIDE, 77L);

    f = fopen(path, "w");
    fputs("bytes", f);
    fclose(f);
    is_int(pds_blob_file_drop(s, UID, &x, path, 77), 1,
           "file_drop: no row, the file is removed");
    ok(!exists(path) && !exists(aside), "... nothing left");

    is_int(pds_blob_file_drop(s, UID, &x, path, 77), 0,
           "file_drop: no file, nothing to do");

    /* uploaded again meanwhile: a row */
    pds_store_write_begin(s, &txn);
    pds_blob_put(s, txn, UID, &y, "image/png", 5, 1000);
    ok(mdb_txn_commit(txn) == 0, "a row for the blob again");
    f = fopen(path, "w");
    fputs("bytes", f);
    fclose(f);
    is_int(pds_blob_file_drop(s, UID, &y, path, 77), 0,
           "file_drop: a row again, the file is kept");
    ok(exists(path) && !exists(aside), "... in its place, nothing aside");
    unlink(path);
}


int
main(void)
{
    int               i;
    char              dir[] = "/tmp/pds-test-blob-XXXXXX", cmd[128];
    char              err[256];
    MDB_txn          *txn;
    pds_cid_t         a, b, c, e, missing_cid, many[MANY];
    pds_blob_t        blob;
    pds_store_t      *s;
    pds_blob_gone_t   gone;
    const pds_cid_t  *missing;
    const char       *p1 = "app.bsky.feed.post/1", *p2 = "app.bsky.feed.post/2";
    const char       *p3 = "app.bsky.feed.post/3", *p4 = "app.bsky.feed.post/4";

    if (mkdtemp(dir) == NULL
        || pds_store_open(dir, 64 * 1024 * 1024, 16, &s, err, sizeof(err))
           != 0)
    {
        tap_diag("cannot open a store in %s", dir);
        return 1;
    }

    if (pds_store_write_begin(s, &txn) != 0) {
        tap_diag("no write transaction");
        return 1;
    }

    memset(&gone, 0, sizeof(gone));
    blob_cid(&a, 1);
    blob_cid(&b, 2);
    blob_cid(&c, 3);
    blob_cid(&e, 5);
    blob_cid(&missing_cid, 4);

    /* uploads are temporary */

    is_int(pds_blob_put(s, txn, UID, &a, "image/png", 100, 1000), 0, "put a");
    is_int(pds_blob_put(s, txn, UID, &b, "image/jpeg", 200, 1000), 0,
           "put b");
    is_int(pds_blob_put(s, txn, UID, &c, "image/png", 300, 5000), 0, "put c");
    is_int(pds_blob_get(s, txn, UID, &a, &blob), 0, "get a");
    ok(blob.temp, "a is temporary");
    is_str(blob.mime, "image/png", "a's mime type");
    is_int((int) blob.size, 100, "a's size");
    is_int(listed(s, txn), 3, "three blobs listed");

    /* references make them permanent */

    is_int(pds_blob_set_refs(s, txn, UID, p1, strlen(p1),
                             (pds_cid_t[]) { a, b }, 2, &gone, &missing),
           0, "record 1 references a and b");
    ok(missing == NULL, "nothing missing");
    is_int((int) gone.n, 0, "nothing dropped");
    pds_blob_get(s, txn, UID, &a, &blob);
    ok(!blob.temp, "a is permanent");

    is_int(pds_blob_set_refs(s, txn, UID, p2, strlen(p2), &b, 1, &gone,
                             &missing),
           0, "record 2 references b");

    /* b stays while record 2 still references it */

    is_int(pds_blob_set_refs(s, txn, UID, p1, strlen(p1), &a, 1, &gone,
                             &missing),
           0, "record 1 now references only a");
    is_int((int) gone.n, 0, "b is kept: record 2 references it");
    is_int(pds_blob_get(s, txn, UID, &b, &blob), 0, "b is still there");

    is_int(pds_blob_set_refs(s, txn, UID, p2, strlen(p2), NULL, 0, &gone,
                             &missing),
           0, "record 2 deleted");
    ok(gone.n == 1 && gone_has(&gone, &b), "b is dropped with it");
    is_int(pds_blob_get(s, txn, UID, &b, &blob), PDS_NOTFOUND, "b is gone");
    pds_blob_gone_free(&gone);

    /* a reference to a blob never uploaded */

    is_int(pds_blob_set_refs(s, txn, UID, p3, strlen(p3), &missing_cid, 1,
                             &gone, &missing),
           PDS_NOTFOUND, "a missing blob is refused");
    ok(missing != NULL && pds_cid_equal(missing, &missing_cid),
       "... and named");

    /* collection: temporary and older than the cut only */

    is_int(pds_blob_put(s, txn, UID, &e, "text/plain", 5, 1000), 0, "put e");
    is_int(pds_blob_collect(s, txn, UID, 2000, &gone), 0, "collect");
    ok(gone.n == 1 && gone_has(&gone, &e), "the old temporary e is dropped");
    is_int(pds_blob_get(s, txn, UID, &c, &blob), 0, "the recent c is kept");
    is_int(pds_blob_get(s, txn, UID, &a, &blob), 0, "the permanent a is kept");
    pds_blob_gone_free(&gone);

    /* many at once (the lists grow) */

    for (i = 0; i < MANY; i++) {
        blob_cid(&many[i], 100 + i);
        pds_blob_put(s, txn, UID, &many[i], "image/png", 10, 10);
    }

    is_int(pds_blob_set_refs(s, txn, UID, p4, strlen(p4), many, MANY, &gone,
                             &missing),
           0, "one record references many blobs");
    is_int(pds_blob_collect(s, txn, UID, 2000, &gone), 0, "collect");
    is_int((int) gone.n, 0, "referenced blobs are not collected");
    is_int(pds_blob_set_refs(s, txn, UID, p4, strlen(p4), NULL, 0, &gone,
                             &missing),
           0, "that record deleted");
    is_int((int) gone.n, MANY, "all of its blobs dropped");
    ok(gone_has(&gone, &many[0]) && gone_has(&gone, &many[MANY - 1]),
       "first and last among them");
    pds_blob_gone_free(&gone);

    for (i = 0; i < MANY; i++) {
        pds_blob_put(s, txn, UID, &many[i], "image/png", 10, 10);
    }

    is_int(pds_blob_collect(s, txn, UID, 2000, &gone), 0, "collect");
    is_int((int) gone.n, MANY, "many old temporary blobs collected");
    is_int(listed(s, txn), 2, "a and c remain");
    pds_blob_gone_free(&gone);

    /* migration: references to blobs not uploaded yet */
    {
        int          cmp;
        long         n;
        pds_cid_t    x, y;
        pds_blob_t   got;
        missing_t    m;
        const char  *px = "app.bsky.feed.post/imported1";
        const char  *py = "app.bsky.actor.profile/self";

        blob_cid(&x, 1001);
        blob_cid(&y, 1002);
        cmp = pds_cid_cmp(&x, &y);

        is_int(pds_blob_expect(s, txn, UID, px, strlen(px), &x), 0,
               "an imported record references a blob not uploaded");
        is_int(pds_blob_expect(s, txn, UID, py, strlen(py), &y), 0,
               "another one");
        is_int(pds_blob_expect(s, txn, UID, py, strlen(py), &x), 0,
               "and a second reference to the first");

        memset(&m, 0, sizeof(m));
        n = pds_blob_list_missing(s, txn, UID, NULL, 100, missing_cb, &m);
        is_int(n, 2, "two missing blobs (each once)");
        ok(m.n == 2 && pds_cid_equal(&m.cids[0], cmp < 0 ? &x : &y),
           "in CID order");

        memset(&m, 0, sizeof(m));
        n = pds_blob_list_missing(s, txn, UID, NULL, 1, missing_cb, &m);
        is_int(n, 1, "limit 1");
        memset(&m, 0, sizeof(m));
        n = pds_blob_list_missing(s, txn, UID, cmp < 0 ? &x : &y, 100,
                                  missing_cb, &m);
        ok(n == 1 && pds_cid_equal(&m.cids[0], cmp < 0 ? &y : &x),
           "the rest after the cursor");

        is_int(pds_blob_put(s, txn, UID, &x, "image/jpeg", 5, 10), 0,
               "the first is uploaded");
        ok(pds_blob_get(s, txn, UID, &x, &got) == 0 && !got.temp,
           "and is permanent at once");
        memset(&m, 0, sizeof(m));
        n = pds_blob_list_missing(s, txn, UID, NULL, 100, missing_cb, &m);
        ok(n == 1 && pds_cid_equal(&m.cids[0], &y)
           && strcmp(m.paths[0], py) == 0,
           "one missing left, with its record path");
        is_int(pds_blob_collect(s, txn, UID, 1 << 30, &gone), 0,
               "collect");
        ok(pds_blob_get(s, txn, UID, &x, &got) == 0,
           "a referenced upload is not collected");
        pds_blob_gone_free(&gone);
    }

    mdb_txn_abort(txn);

    test_file_drop(s, dir);

    pds_store_close(s);

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0) {
        tap_diag("could not remove %s", dir);
    }

    return tap_done();
}
