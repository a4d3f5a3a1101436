/*
 * Unit tests of record and blob takedown markers (pds_takedown.c) on a
 * real LMDB store: set, read back, lifted, per account and per path, and
 * kept across a reopen of the environment.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "pds_takedown.h"


#define C(s)  (s), sizeof(s) - 1


int
main(void)
{
    char          dir[] = "/tmp/pds-test-takedown-XXXXXX", cmd[128], err[256];
    char         *ref, longc[600];
    MDB_txn      *txn;
    pds_cid_t     cid, other;
    pds_store_t  *s;
    pds_arena_t  *arena;
    pds_alloc_t   a;
    const char   *c1 = "bafkreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm";
    const char   *c2 = "bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy";

    arena = pds_arena_create();
    a = pds_arena_allocator(arena);

    if (mkdtemp(dir) == NULL
        || pds_store_open(dir, 16 * 1024 * 1024, 16, &s, err, sizeof(err))
           != 0)
    {
        ok(0, "store opens");
        return tap_done();
    }

    ok(pds_cid_parse(&cid, c1, strlen(c1)) == 0
       && pds_cid_parse(&other, c2, strlen(c2)) == 0, "two blob CIDs");

    ok(pds_store_write_begin(s, &txn) == 0, "write txn");

    is_int(pds_takedown_record(s, txn, 1, C("app.bsky.feed.post"),
                               C("3jzfcijpj2z2a"), &a, &ref),
           PDS_NOTFOUND, "no marker at first");
    is_int(pds_takedown_record_set(s, txn, 1, C("app.bsky.feed.post"),
                                   C("3jzfcijpj2z2a"), "MOD-1"), 0,
           "record taken down");
    ref = NULL;
    is_int(pds_takedown_record(s, txn, 1, C("app.bsky.feed.post"),
                               C("3jzfcijpj2z2a"), &a, &ref), 0,
           "the marker is there");
    is_str(ref, "MOD-1", "with its ref");
    is_int(pds_takedown_record(s, txn, 1, C("app.bsky.feed.post"),
                               C("3jzfcijpj2z2a"), NULL, NULL), 0,
           "asked without a copy");

    /* neighbours are not taken down */
    is_int(pds_takedown_record(s, txn, 2, C("app.bsky.feed.post"),
                               C("3jzfcijpj2z2a"), &a, &ref),
           PDS_NOTFOUND, "same path in another account: none");
    is_int(pds_takedown_record(s, txn, 1, C("app.bsky.feed.post"),
                               C("3jzfcijpj2z2b"), &a, &ref),
           PDS_NOTFOUND, "another rkey: none");
    is_int(pds_takedown_record(s, txn, 1, C("app.bsky.feed.pos"),
                               C("t3jzfcijpj2z2a"), &a, &ref),
           PDS_NOTFOUND, "the collection/rkey split matters");

    is_int(pds_takedown_blob(s, txn, 1, &cid, &a, &ref), PDS_NOTFOUND,
           "blob: none at first");
    is_int(pds_takedown_blob_set(s, txn, 1, &cid, "2026-01-01T00:00:00.000Z"),
           0, "blob taken down");
    is_int(pds_takedown_blob(s, txn, 1, &cid, &a, &ref), 0, "blob marker");
    is_str(ref, "2026-01-01T00:00:00.000Z", "blob ref");
    is_int(pds_takedown_blob(s, txn, 1, &other, &a, &ref), PDS_NOTFOUND,
           "another CID: none");
    is_int(pds_takedown_blob(s, txn, 3, &cid, &a, &ref), PDS_NOTFOUND,
           "same CID in another account: none");

    is_int(pds_takedown_blob_set(s, txn, 1, &cid, "MOD-2"), 0,
           "taken down again with another ref");
    is_int(pds_takedown_blob(s, txn, 1, &cid, &a, &ref), 0, "still there");
    is_str(ref, "MOD-2", "the newer ref replaces the older");

    memset(longc, 'a', sizeof(longc) - 1);
    longc[sizeof(longc) - 1] = '\0';
    is_int(pds_takedown_record_set(s, txn, 1, longc, strlen(longc), C("x"),
                                   "r"), EINVAL, "a key too long: EINVAL");
    is_int(pds_takedown_record(s, txn, 1, longc, strlen(longc), C("x"),
                               &a, &ref), PDS_NOTFOUND,
           "and reading it is not found");
    is_int(pds_takedown_record_set(s, txn, 1, longc, strlen(longc), C("x"),
                                   NULL), 0, "lifting it is a no-op");

    ok(mdb_txn_commit(txn) == 0, "committed");
    pds_store_close(s);

    ok(pds_store_open(dir, 16 * 1024 * 1024, 16, &s, err, sizeof(err)) == 0,
       "reopened");
    ok(pds_store_write_begin(s, &txn) == 0, "write txn");
    is_int(pds_takedown_record(s, txn, 1, C("app.bsky.feed.post"),
                               C("3jzfcijpj2z2a"), &a, &ref), 0,
           "record marker kept");
    is_int(pds_takedown_record_set(s, txn, 1, C("app.bsky.feed.post"),
                                   C("3jzfcijpj2z2a"), NULL), 0,
           "record takedown lifted");
    is_int(pds_takedown_record(s, txn, 1, C("app.bsky.feed.post"),
                               C("3jzfcijpj2z2a"), &a, &ref), PDS_NOTFOUND,
           "gone");
    is_int(pds_takedown_record_set(s, txn, 1, C("app.bsky.feed.post"),
                                   C("3jzfcijpj2z2a"), NULL), 0,
           "lifting again is not an error");
    is_int(pds_takedown_blob_set(s, txn, 1, &cid, NULL), 0, "blob lifted");
    is_int(pds_takedown_blob(s, txn, 1, &cid, &a, &ref), PDS_NOTFOUND,
           "blob marker gone");
    ok(mdb_txn_commit(txn) == 0, "committed");

    pds_store_close(s);
    pds_arena_destroy(arena);

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0) {
        tap_diag("could not remove %s", dir);
    }

    return tap_done();
}
