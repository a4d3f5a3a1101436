/*
 * Micro-benchmark of the Merkle Search Tree: microseconds per write
 * (put + commit, new blocks kept in an in-memory block store) on trees of
 * 1k and 100k keys, on a tree kept in memory ("warm") and on a tree loaded
 * afresh from its root for every write, as a request would ("cold"), plus
 * cold reads and a full walk.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pds_mem.h"
#include "pds_cid.h"
#include "pds_mst.h"
#include "memstore.h"


/* writes per measurement: at most the tree's size, so that it stays near */
#define BENCH_WRITES  20000


static double
now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}




static unsigned long  rng = 0x9e3779b97f4a7c15UL;


static unsigned long
rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;

    return rng;
}


/* a TID-like record key in one of a few collections */
static size_t
make_key(char *buf, size_t size)
{
    static const char  *colls[] = {
        "app.bsky.feed.post", "app.bsky.feed.like", "app.bsky.graph.follow",
        "app.bsky.feed.repost"
    };
    static const char   b32[] = "234567abcdefghijklmnopqrstuvwxyz";
    unsigned long       r;
    size_t              n, i;

    r = rnd();
    n = (size_t) snprintf(buf, size, "%s/3l", colls[r & 3]);

    r = rnd();
    for (i = 0; i < 11; i++) {
        buf[n++] = b32[r & 31];
        r >>= 5;
    }

    buf[n] = '\0';

    return n;
}


static int
count_leaf(void *ctx, const char *key, size_t len, const pds_cid_t *value)
{
    (void) key;
    (void) len;
    (void) value;

    (*(size_t *) ctx)++;

    return 0;
}


static void
bench(size_t nkeys)
{
    char               key[64];
    size_t             i, len, leaves, writes;
    double             t0, t;
    memstore_t            store;
    pds_cid_t          root, v;
    pds_mst_t         *tree;
    pds_alloc_t        a, ca;
    pds_arena_t       *arena, *carena;
    pds_mst_diff_t     diff;
    pds_blocksource_t  src;

    writes = nkeys < BENCH_WRITES ? nkeys : BENCH_WRITES;

    memset(&store, 0, sizeof(store));
    src.get = memstore_get;
    src.ctx = &store;

    arena = pds_arena_create();
    a = pds_arena_allocator(arena);

    pds_cid_of_raw(&v, (const uint8_t *) "record", 6);

    /* build, one commit */

    tree = pds_mst_load(&a, &src, NULL);

    t0 = now();
    for (i = 0; i < nkeys; i++) {
        len = make_key(key, sizeof(key));
        if (pds_mst_put(tree, key, len, &v) != 0) {
            fprintf(stderr, "put failed\n");
            exit(1);
        }
    }

    if (pds_mst_commit(tree, &root, memstore_put, &store, &diff) != 0) {
        fprintf(stderr, "commit failed\n");
        exit(1);
    }

    t = now() - t0;
    printf("%7zu keys: build + one commit      %8.2f us/key  (%zu nodes)\n",
           nkeys, t * 1e6 / (double) nkeys, store.n);

    /* warm: one tree in memory, a commit after every put */

    t0 = now();
    for (i = 0; i < writes; i++) {
        len = make_key(key, sizeof(key));
        if (pds_mst_put(tree, key, len, &v) != 0
            || pds_mst_commit(tree, &root, memstore_put, &store, &diff) != 0)
        {
            fprintf(stderr, "warm write failed\n");
            exit(1);
        }
    }

    t = now() - t0;
    printf("%7zu keys: warm put + commit       %8.2f us/op\n", nkeys,
           t * 1e6 / (double) writes);

    /* cold: load from the root for every write */

    t0 = now();
    for (i = 0; i < writes; i++) {
        carena = pds_arena_create();
        ca = pds_arena_allocator(carena);
        tree = pds_mst_load(&ca, &src, &root);
        len = make_key(key, sizeof(key));

        if (tree == NULL || pds_mst_put(tree, key, len, &v) != 0
            || pds_mst_commit(tree, &root, memstore_put, &store, &diff) != 0)
        {
            fprintf(stderr, "cold write failed\n");
            exit(1);
        }

        pds_arena_destroy(carena);
    }

    t = now() - t0;
    printf("%7zu keys: cold load + put + commit %7.2f us/op\n", nkeys,
           t * 1e6 / (double) writes);

    /* cold proof of the written key: what the firehose needs */

    t0 = now();
    for (i = 0; i < writes; i++) {
        carena = pds_arena_create();
        ca = pds_arena_allocator(carena);
        tree = pds_mst_load(&ca, &src, &root);
        len = make_key(key, sizeof(key));

        if (tree == NULL
            || pds_mst_proof(tree, key, len, memstore_put, &store) != 0)
        {
            fprintf(stderr, "proof failed\n");
            exit(1);
        }

        pds_arena_destroy(carena);
    }

    t = now() - t0;
    printf("%7zu keys: cold proof               %8.2f us/op\n", nkeys,
           t * 1e6 / (double) writes);

    /* cold get */

    t0 = now();
    for (i = 0; i < writes; i++) {
        carena = pds_arena_create();
        ca = pds_arena_allocator(carena);
        tree = pds_mst_load(&ca, &src, &root);
        len = make_key(key, sizeof(key));

        if (tree == NULL || pds_mst_get(tree, key, len, &v) < 0) {
            fprintf(stderr, "get failed\n");
            exit(1);
        }

        pds_arena_destroy(carena);
    }

    t = now() - t0;
    printf("%7zu keys: cold get                 %8.2f us/op\n", nkeys,
           t * 1e6 / (double) writes);

    /* full walk from a cold tree */

    carena = pds_arena_create();
    ca = pds_arena_allocator(carena);
    tree = pds_mst_load(&ca, &src, &root);
    leaves = 0;

    t0 = now();
    if (tree == NULL || pds_mst_walk(tree, NULL, 0, count_leaf, &leaves) != 0)
    {
        fprintf(stderr, "walk failed\n");
        exit(1);
    }

    t = now() - t0;
    printf("%7zu keys: cold walk                %8.3f us/leaf (%zu)\n",
           nkeys, t * 1e6 / (double) leaves, leaves);

    pds_arena_destroy(carena);
    pds_arena_destroy(arena);
    memstore_free(&store);
}


int
main(void)
{
    bench(1000);
    bench(100000);

    return 0;
}
