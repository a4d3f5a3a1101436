/*
 * Repository engine benchmarks: microseconds per single-record commit in a
 * repo of 1k and of 100k records (fsync on, and with MDB_NOSYNC to show the
 * CPU part), commits per second with 1, 8 and 64 requests per transaction
 * (fsync on, one record each, 64 repos), and MB/s of a full CAR export.
 * Runs in a temporary directory (BENCH_DIR overrides the parent) and takes
 * about half a minute.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pds_cbor.h"
#include "pds_car.h"
#include "pds_keys.h"
#include "pds_repo.h"
#include "pds_store.h"


#define NREPOS  64


static pds_store_t  *store;
static pds_key_t    *key;
static uint64_t      uids[NREPOS];
static uint64_t      counter;


static double
now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}


/* a post-like record of about 150 bytes */
static void
make_record(pds_buf_t *b, uint64_t n)
{
    char  text[96];

    snprintf(text, sizeof(text), "benchmark post number %llu with some text"
             " to make it look like a post", (unsigned long long) n);

    b->len = 0;
    pds_cbor_put_map(b, 3);
    pds_cbor_put_str(b, "text");
    pds_cbor_put_str(b, text);
    pds_cbor_put_str(b, "$type");
    pds_cbor_put_str(b, "app.bsky.feed.post");
    pds_cbor_put_str(b, "createdAt");
    pds_cbor_put_str(b, "2026-11-24T23:04:52.123Z");
}


/*
 * nreq requests (repo uids[i % nrepos]) of nops creates each, in one
 * transaction; returns 0 if all succeeded
 */
static int
batch(size_t nreq, size_t nops, size_t nrepos)
{
    size_t             i, j;
    char              *rkeys;
    pds_buf_t         *bufs;
    pds_repo_op_t     *ops;
    pds_repo_write_t  *reqs;
    int                rc;

    reqs = calloc(nreq, sizeof(pds_repo_write_t));
    ops = calloc(nreq * nops, sizeof(pds_repo_op_t));
    bufs = calloc(nreq * nops, sizeof(pds_buf_t));
    rkeys = calloc(nreq * nops, PDS_TID_BUF);

    for (i = 0; i < nreq; i++) {
        reqs[i].uid = uids[i % nrepos];
        reqs[i].key = key;
        reqs[i].ops = &ops[i * nops];
        reqs[i].nops = nops;

        for (j = 0; j < nops; j++) {
            pds_repo_op_t  *op = &ops[i * nops + j];
            pds_buf_t      *b = &bufs[i * nops + j];
            char           *rk = rkeys + (i * nops + j) * PDS_TID_BUF;

            counter++;
            pds_buf_init(b, &pds_malloc_allocator);
            make_record(b, counter);
            pds_tid_encode(rk, (counter * 0x9E3779B97F4A7C15ULL) >> 1);

            op->action = PDS_REPO_CREATE;
            op->collection = "app.bsky.feed.post";
            op->collection_len = 18;
            op->rkey = rk;
            op->rkey_len = PDS_TID_LEN;
            op->record = b->data;
            op->record_len = b->len;
        }
    }

    rc = pds_repo_write_batch(store, reqs, nreq);

    for (i = 0; i < nreq; i++) {
        if (reqs[i].status != 0) {
            fprintf(stderr, "request: %s\n", reqs[i].error);
            rc = -1;
        }
    }

    for (i = 0; i < nreq * nops; i++) {
        pds_buf_free(&bufs[i]);
    }

    free(rkeys);
    free(bufs);
    free(ops);
    free(reqs);

    return rc;
}


static void
fill(size_t records)
{
    while (counter < records) {
        if (batch(1, 200, 1) != 0) {
            exit(1);
        }
    }
}


static void
single_commits(const char *label, int n)
{
    int     i;
    double  t;

    mdb_env_set_flags(store->env, MDB_NOSYNC, 0);
    t = now();
    for (i = 0; i < n; i++) {
        batch(1, 1, 1);
    }
    t = now() - t;
    printf("single-record commit, %-5s records, fsync:    %8.1f us\n", label,
           t * 1e6 / n);

    mdb_env_set_flags(store->env, MDB_NOSYNC, 1);
    t = now();
    for (i = 0; i < n * 5; i++) {
        batch(1, 1, 1);
    }
    t = now() - t;
    printf("single-record commit, %-5s records, no sync:  %8.1f us\n", label,
           t * 1e6 / (n * 5));
    mdb_env_set_flags(store->env, MDB_NOSYNC, 0);
    mdb_env_sync(store->env, 1);
}


static int
count_out(void *ctx, const uint8_t *p, size_t n)
{
    (void) p;
    *(uint64_t *) ctx += n;
    return 0;
}


int
main(void)
{
    int                i, sizes[] = { 1, 8, 64 };
    char               dir[512], err[256], did[64], cmd[600];
    double             t;
    size_t             k;
    MDB_txn           *txn;
    uint64_t           bytes;
    const char        *base;
    pds_car_writer_t   w;
    pds_repo_write_t   res;

    base = getenv("BENCH_DIR");
    snprintf(dir, sizeof(dir), "%s/bench_repo.XXXXXX", base ? base : "/tmp");

    if (mkdtemp(dir) == NULL
        || pds_store_open(dir, (size_t) 8 << 30, 126, &store, err,
                          sizeof(err)) != 0)
    {
        fprintf(stderr, "cannot open a store in %s\n", dir);
        return 1;
    }

    key = pds_key_generate(PDS_KEY_K256);

    pds_store_write_begin(store, &txn);
    for (i = 0; i < NREPOS; i++) {
        snprintf(did, sizeof(did), "did:plc:bench%019d", i);
        if (pds_repo_create(store, txn, did, strlen(did), key, &uids[i],
                            &res) != 0)
        {
            return 1;
        }
    }
    mdb_txn_commit(txn);

    fill(1000);
    single_commits("1k", 200);

    t = now();
    fill(100000);
    t = now() - t;
    printf("filling to 100k records in 200-op commits:   %8.2f s\n", t);
    single_commits("100k", 200);

    for (k = 0; k < 3; k++) {
        int  txns = sizes[k] == 1 ? 300 : (sizes[k] == 8 ? 60 : 12);

        t = now();
        for (i = 0; i < txns; i++) {
            batch((size_t) sizes[k], 1, NREPOS);
        }
        t = now() - t;
        printf("batches of %2d requests per transaction:     %8.0f commits/s"
               " (fsync on)\n", sizes[k], txns * sizes[k] / t);
    }

    pds_store_read_begin(store, &txn);
    bytes = 0;
    pds_car_writer_init(&w, &pds_malloc_allocator, 65536, count_out, &bytes);
    t = now();
    if (pds_repo_export(store, txn, uids[0], NULL, &w) != 0
        || pds_car_finish(&w) != 0)
    {
        return 1;
    }
    t = now() - t;
    mdb_txn_abort(txn);
    pds_car_writer_free(&w);

    printf("full CAR export (%6.1f MB, %llu blocks):   %8.0f MB/s\n",
           bytes / 1e6, (unsigned long long) w.blocks, bytes / 1e6 / t);

    pds_store_close(store);
    pds_key_free(key);

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
