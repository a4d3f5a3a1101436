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


/* writes per measurement: at most the tree's size, so that it stays near */
#define BENCH_WRITES  20000


typedef struct {
    pds_cid_t   cid;
    uint8_t    *data;
    size_t      len;
    int         used;
} slot_t;

typedef struct {
    slot_t     *slots;
    size_t      cap;
    size_t      n;
} store_t;


static double
now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}


static slot_t *
store_find(store_t *s, const pds_cid_t *cid)
{
    size_t  i, h;

    if (s->cap == 0) {
        return NULL;
    }

    memcpy(&h, cid->digest, sizeof(h));

    for (i = h & (s->cap - 1); s->slots[i].used; i = (i + 1) & (s->cap - 1)) {
        if (pds_cid_equal(&s->slots[i].cid, cid)) {
            return &s->slots[i];
        }
    }

    return NULL;
}


static void
store_free(store_t *s)
{
    size_t  i;

    for (i = 0; i < s->cap; i++) {
        free(s->slots[i].data);
    }

    free(s->slots);
    memset(s, 0, sizeof(store_t));
}


static int
store_put(void *ctx, const pds_cid_t *cid, const uint8_t *p, size_t n)
{
    size_t    i, h;
    store_t  *s = ctx, old;

    if (store_find(s, cid) != NULL) {
        return 0;
    }

    if ((s->n + 1) * 2 > s->cap) {
        old = *s;
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->slots = calloc(s->cap, sizeof(slot_t));
        s->n = 0;
        if (s->slots == NULL) {
            return -1;
        }

        for (i = 0; i < old.cap; i++) {
            if (old.slots[i].used) {
                store_put(s, &old.slots[i].cid, old.slots[i].data,
                          old.slots[i].len);
            }
        }

        store_free(&old);
    }

    memcpy(&h, cid->digest, sizeof(h));

    for (i = h & (s->cap - 1); s->slots[i].used; i = (i + 1) & (s->cap - 1)) {
        /* void */
    }

    s->slots[i].data = malloc(n);
    if (s->slots[i].data == NULL) {
        return -1;
    }

    memcpy(s->slots[i].data, p, n);
    s->slots[i].used = 1;
    s->slots[i].cid = *cid;
    s->slots[i].len = n;
    s->n++;

    return 0;
}


static int
store_get(void *ctx, const pds_cid_t *cid, const uint8_t **p, size_t *n)
{
    slot_t  *slot;

    slot = store_find(ctx, cid);
    if (slot == NULL) {
        return 1;
    }

    *p = slot->data;
    *n = slot->len;

    return 0;
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
    store_t            store;
    pds_cid_t          root, v;
    pds_mst_t         *tree;
    pds_alloc_t        a, ca;
    pds_arena_t       *arena, *carena;
    pds_mst_diff_t     diff;
    pds_blocksource_t  src;

    writes = nkeys < BENCH_WRITES ? nkeys : BENCH_WRITES;

    memset(&store, 0, sizeof(store));
    src.get = store_get;
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

    if (pds_mst_commit(tree, &root, store_put, &store, &diff) != 0) {
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
            || pds_mst_commit(tree, &root, store_put, &store, &diff) != 0)
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
            || pds_mst_commit(tree, &root, store_put, &store, &diff) != 0)
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
            || pds_mst_proof(tree, key, len, store_put, &store) != 0)
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
    store_free(&store);
}


int
main(void)
{
    bench(1000);
    bench(100000);

    return 0;
}
