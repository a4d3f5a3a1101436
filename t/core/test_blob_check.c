/*
 * Unit tests of blob hygiene (pds_blob_check.c) on a real LMDB store and a
 * real blob folder: a report-only pass changes nothing; a repairing pass
 * deletes the rows of missing and damaged files (their references stay,
 * so listMissingBlobs lists them), removes files without a row past the
 * grace period and a check's stale leftovers, keeps young files and
 * unknown names, removes the emptied folder of a uid without an account;
 * a second pass finds nothing; steps of one entry find the same;
 * --verify finds a file with the right size and the wrong bytes.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "pds_blob.h"
#include "pds_blob_check.h"


#define UID    7
#define GONE   99          /* a uid without an account */
#define NOW    ((int64_t) time(NULL))


static char  data[64];


static void
blob(pds_cid_t *cid, const char *bytes)
{
    pds_cid_of_raw(cid, (const uint8_t *) bytes, strlen(bytes));
}


static void
path_of(char *out, size_t cap, uint64_t uid, const pds_cid_t *cid)
{
    char  rel[128];

    pds_blob_path(rel, sizeof(rel), uid, cid);
    snprintf(out, cap, "%s/blobs/%s", data, rel);
}


/* a file with bytes, modified age seconds ago */
static void
put_file(const char *path, const char *bytes, int64_t age)
{
    FILE            *f;
    char             dir[512], *slash;
    struct timeval   tv[2];

    snprintf(dir, sizeof(dir), "%s", path);
    slash = strrchr(dir, '/');
    *slash = '\0';
    mkdir(dir, 0700);

    f = fopen(path, "w");
    fputs(bytes, f);
    fclose(f);

    tv[0].tv_sec = tv[1].tv_sec = (time_t) (NOW - age);
    tv[0].tv_usec = tv[1].tv_usec = 0;
    utimes(path, tv);
}


static void
put_blob_file(uint64_t uid, const char *bytes, int64_t age)
{
    char       p[512];
    pds_cid_t  cid;

    blob(&cid, bytes);
    path_of(p, sizeof(p), uid, &cid);
    put_file(p, bytes, age);
}


static int
exists(const char *p)
{
    struct stat  st;

    return stat(p, &st) == 0;
}


static int
blob_exists(uint64_t uid, const char *bytes)
{
    char       p[512];
    pds_cid_t  cid;

    blob(&cid, bytes);
    path_of(p, sizeof(p), uid, &cid);

    return exists(p);
}


static int
row_exists(pds_store_t *s, uint64_t uid, const char *bytes)
{
    int         rc;
    MDB_txn    *txn;
    pds_cid_t   cid;
    pds_blob_t  b;

    blob(&cid, bytes);
    pds_store_read_begin(s, &txn);
    rc = pds_blob_get(s, txn, uid, &cid, &b);
    mdb_txn_abort(txn);

    return rc == 0;
}


static int
count_cb(void *ctx, const pds_cid_t *cid, const char *path, size_t len)
{
    (void) cid;
    (void) path;
    (void) len;
    (*(long *) ctx)++;

    return 0;
}


static long
missing_listed(pds_store_t *s)
{
    long      n = 0;
    MDB_txn  *txn;

    pds_store_read_begin(s, &txn);
    pds_blob_list_missing(s, txn, UID, NULL, 100, count_cb, &n);
    mdb_txn_abort(txn);

    return n;
}


typedef struct {
    int   kinds[8];
    int   fixed;
} seen_t;


static void
report(void *ctx, pds_blob_check_kind_e kind, uint64_t uid, const char *name,
    int fixed)
{
    seen_t  *seen = ctx;

    (void) uid;
    (void) name;

    seen->kinds[kind]++;
    seen->fixed += fixed;
}


static int
check(pds_store_t *s, int repair, int verify, size_t budget,
    pds_blob_check_stats_t *st, seen_t *seen)
{
    int                    rc, done;
    pds_blob_check_t      *c;
    pds_blob_check_conf_t  conf;

    memset(&conf, 0, sizeof(conf));
    memset(seen, 0, sizeof(seen_t));
    conf.now = NOW;
    conf.grace = 3600;
    conf.repair = repair;
    conf.verify = verify;
    conf.report = report;
    conf.report_ctx = seen;

    c = pds_blob_check_create(s, data, &conf);
    if (c == NULL) {
        return -1;
    }

    do {
        rc = pds_blob_check_step(c, budget, &done);
    } while (rc == 0 && !done);

    *st = *pds_blob_check_stats(c);
    pds_blob_check_free(c);

    return rc;
}


int
main(void)
{
    char                    dir[] = "/tmp/pds-test-blobcheck-XXXXXX";
    char                    lm[128], p[512], err[256], cmd[160];
    MDB_txn                *txn;
    MDB_val                 key, val;
    uint8_t                 k[8];
    pds_cid_t               a, b, c, e, v;
    pds_store_t            *s;
    pds_blob_gone_t         gone;
    const pds_cid_t        *missing;
    seen_t                  seen;
    pds_blob_check_stats_t  st;
    const char             *p1 = "app.bsky.feed.post/1";

    if (mkdtemp(dir) == NULL) {
        return 1;
    }

    snprintf(data, sizeof(data), "%s", dir);
    snprintf(lm, sizeof(lm), "%s/lmdb", data);
    mkdir(lm, 0700);

    if (pds_store_open(lm, 64 * 1024 * 1024, 16, &s, err, sizeof(err)) != 0) {
        tap_diag("cannot open a store: %s", err);
        return 1;
    }

    snprintf(p, sizeof(p), "%s/blobs", data);
    mkdir(p, 0700);

    /*
     * UID has an account; a (fine), b (its file lost), c (its file cut
     * short) and v (its bytes changed, same size) are uploaded and
     * referenced by a record; e is a file without a row.
     */
    blob(&a, "aaaa");
    blob(&b, "bbbb");
    blob(&c, "cccc");
    blob(&e, "eeee");
    blob(&v, "vvvv");

    memset(&gone, 0, sizeof(gone));
    pds_store_write_begin(s, &txn);
    pds_store_put_u64(k, UID);
    key.mv_data = k;
    key.mv_size = 8;
    val.mv_data = "x";
    val.mv_size = 1;
    mdb_put(txn, s->db_accounts, &key, &val, 0);
    pds_blob_put(s, txn, UID, &a, "image/png", 4, NOW);
    pds_blob_put(s, txn, UID, &b, "image/png", 4, NOW);
    pds_blob_put(s, txn, UID, &c, "image/png", 4, NOW);
    pds_blob_put(s, txn, UID, &v, "image/png", 4, NOW);
    is_int(pds_blob_set_refs(s, txn, UID, p1, strlen(p1),
                             (pds_cid_t[]) { a, b, c, v }, 4, &gone,
                             &missing),
           0, "a record references four blobs");
    is_int(mdb_txn_commit(txn), 0, "committed");

    put_blob_file(UID, "aaaa", 10);
    path_of(p, sizeof(p), UID, &c);
    put_file(p, "cc", 10);                              /* cut short */
    path_of(p, sizeof(p), UID, &v);
    put_file(p, "VVVV", 10);                            /* other bytes */
    put_blob_file(UID, "eeee", 7200);                   /* orphan */
    put_blob_file(UID, "ffff", 60);                     /* young */
    snprintf(p, sizeof(p), "%s/blobs/%016x/README", data, UID);
    put_file(p, "hello", 7200);                         /* unknown */
    path_of(p, sizeof(p), UID, &a);
    strcat(p, PDS_BLOB_CHECK_ASIDE "999999999");   /* no such process */
    put_file(p, "aaaa", 7200);                          /* leftover */
    put_blob_file(GONE, "gggg", 7200);                  /* orphan */

    is_int(missing_listed(s), 0, "nothing listed missing at first");

    /* report only */

    is_int(check(s, 0, 0, 256, &st, &seen), 0, "a report-only check");
    is_int((int) st.rows, 4, "4 rows");
    is_int((int) st.files, 6, "6 blob files");
    is_int((int) st.missing, 1, "1 missing file (b)");
    is_int((int) st.damaged, 1, "1 damaged file (c: the size)");
    is_int((int) st.orphans, 2, "2 orphans (e, and g of a gone account)");
    is_int((int) st.young, 1, "1 young file without a row (f)");
    is_int((int) st.leftovers, 1, "1 leftover of a check");
    is_int((int) st.unknown, 1, "1 unknown name");
    is_int((int) (st.repaired + st.removed + (uint64_t) seen.fixed), 0,
           "nothing changed");
    ok(row_exists(s, UID, "bbbb") && blob_exists(UID, "eeee")
       && blob_exists(GONE, "gggg"), "rows and files still there");
    is_int(seen.kinds[PDS_BLOB_CHECK_ORPHAN], 2, "orphans reported");

    /* verify: v's bytes do not hash to its CID */

    is_int(check(s, 0, 1, 256, &st, &seen), 0, "a verifying check");
    is_int((int) st.damaged, 2, "2 damaged files (c, and v by its hash)");

    /* repair, one entry per step */

    is_int(check(s, 1, 1, 1, &st, &seen), 0, "a repairing check, steps of 1");
    is_int((int) st.repaired, 3, "3 rows deleted (b, c, v)");
    is_int((int) st.removed, 5,
           "5 files removed (c, v, e, g and the leftover)");
    ok(!row_exists(s, UID, "bbbb") && !row_exists(s, UID, "cccc")
       && !row_exists(s, UID, "vvvv"), "the rows of b, c and v are gone");
    ok(row_exists(s, UID, "aaaa") && blob_exists(UID, "aaaa"),
       "a is untouched");
    ok(!blob_exists(UID, "vvvv") && !blob_exists(UID, "eeee"),
       "the damaged and the orphan files are gone");
    path_of(p, sizeof(p), UID, &c);
    ok(!exists(p), "c's short file is gone");
    ok(blob_exists(UID, "ffff"), "the young file is kept");
    snprintf(p, sizeof(p), "%s/blobs/%016x/README", data, UID);
    ok(exists(p), "the unknown name is kept");
    snprintf(p, sizeof(p), "%s/blobs/%016x", data, GONE);
    ok(!exists(p), "the emptied folder of a uid without an account is gone");
    is_int(missing_listed(s), 3,
           "b, c and v are listed by listMissingBlobs (references kept)");

    /* an upload of b again: its row comes back, permanent */

    pds_store_write_begin(s, &txn);
    is_int(pds_blob_put(s, txn, UID, &b, "image/png", 4, NOW), 0,
           "b uploaded again");
    mdb_txn_commit(txn);
    put_blob_file(UID, "bbbb", 0);
    {
        pds_blob_t  got;

        pds_store_read_begin(s, &txn);
        ok(pds_blob_get(s, txn, UID, &b, &got) == 0 && !got.temp,
           "b is permanent at once");
        mdb_txn_abort(txn);
    }
    is_int(missing_listed(s), 2, "two still missing");

    /* a second pass: nothing left to do */

    is_int(check(s, 1, 1, 256, &st, &seen), 0, "a second repairing check");
    is_int((int) (st.missing + st.damaged + st.orphans + st.leftovers
                  + st.repaired + st.removed + st.errors),
           0, "finds nothing wrong");
    is_int((int) st.young, 1, "the young file is still young");
    is_int((int) st.rows, 2, "2 rows (a, b)");

    /* nginx's temporary files */
    {
        pds_blob_check_conf_t   conf;
        pds_blob_check_stats_t  ts;

        snprintf(p, sizeof(p), "%s/tmp/1/00/0000000001", data);
        snprintf(cmd, sizeof(cmd), "%s/tmp", data);
        mkdir(cmd, 0700);
        snprintf(cmd, sizeof(cmd), "%s/tmp/1", data);
        mkdir(cmd, 0700);
        put_file(p, "old body", 7200);
        snprintf(p, sizeof(p), "%s/tmp/1/00/0000000002", data);
        put_file(p, "a body being uploaded", 5);

        memset(&conf, 0, sizeof(conf));
        memset(&ts, 0, sizeof(ts));
        conf.now = NOW;
        conf.repair = 1;
        snprintf(cmd, sizeof(cmd), "%s/tmp", data);
        is_int(pds_blob_check_temp(cmd, &conf, &ts), 0, "temporary files");
        is_int((int) ts.leftovers, 1, "one stale");
        snprintf(p, sizeof(p), "%s/tmp/1/00/0000000001", data);
        ok(!exists(p), "removed");
        snprintf(p, sizeof(p), "%s/tmp/1/00/0000000002", data);
        ok(exists(p), "the fresh one kept");
        snprintf(cmd, sizeof(cmd), "%s/nowhere", data);
        is_int(pds_blob_check_temp(cmd, &conf, &ts), ENOENT,
               "a missing folder is an error");
    }

    pds_blob_gone_free(&gone);
    pds_store_close(s);

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0) {
        tap_diag("cannot remove %s", dir);
    }

    return tap_done();
}
