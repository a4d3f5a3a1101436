/*
 * The Merkle Search Tree on random trees: shape independence, reloads,
 * diffs, lazy loading and errors (missing and bad blocks).
 */

#include "mst_fixture.h"


/* random trees */

static unsigned long  rng_state = 88172645463325252UL;


static unsigned
rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;

    return (unsigned) (rng_state >> 11);
}


#define NKEYS  600

static char  keys[NKEYS * 2][48];


static void
make_keys(size_t n)
{
    size_t       i;
    static const char  *colls[] = {
        "app.bsky.feed.post", "app.bsky.feed.like", "app.bsky.graph.follow",
        "com.example.x"
    };

    for (i = 0; i < n; i++) {
        snprintf(keys[i], sizeof(keys[i]), "%s/%08x%04x",
                 colls[rnd() % 4], rnd(), (unsigned) i);
    }
}


static int
key_qcmp(const void *a, const void *b)
{
    return strcmp(a, b);
}


static void
shuffle(size_t *idx, size_t n)
{
    size_t  i, j, tmp;

    for (i = n; i > 1; i--) {
        j = rnd() % i;
        tmp = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = tmp;
    }
}


typedef struct {
    size_t      n;
    int         sorted;
    const char *prev;
    size_t      prev_len;
    int         values_ok;
    size_t      limit;
} walk_t;


static int
walk_cb(void *ctx, const char *key, size_t len, const pds_cid_t *value)
{
    unsigned  i;
    walk_t   *w = ctx;
    pds_cid_t cid;

    if (w->prev && (strncmp(w->prev, key, len < w->prev_len ? len
                                                           : w->prev_len) > 0
                    || (memcmp(w->prev, key, len < w->prev_len
                                             ? len : w->prev_len) == 0
                        && w->prev_len >= len)))
    {
        w->sorted = 0;
    }

    /* the values are value_cid(index) where the index ends the key */

    sscanf(key + len - 4, "%4x", &i);
    cid = value_cid(i);
    if (!pds_cid_equal(&cid, value)) {
        w->values_ok = 0;
    }

    w->prev = key;
    w->prev_len = len;
    w->n++;

    return w->limit && w->n == w->limit ? 7 : 0;
}


static void
test_shape_independence(void)
{
    int             same, found, removed_ok, emitted_ok, walk_ok, rc;
    char            s[PDS_CID_STR_SIZE];
    size_t          i, j, round, idx[NKEYS * 2], nfinal;
    walk_t          w;
    order_t         order;
    sink_t          k, k2;
    memstore_t         store;
    cidset_t        before, after;
    pds_cid_t       ref_root, root, v;
    pds_mst_t      *t;
    pds_alloc_t     a;
    pds_arena_t    *arena;
    pds_mst_diff_t  diff;
    pds_blocksource_t  src;

    arena = pds_arena_create();
    a = pds_arena_allocator(arena);
    memstore_init(&store);
    src = source_of(&store);

    make_keys(NKEYS * 2);

    /* reference: the first NKEYS keys in sorted order, one commit */

    memset(&k, 0, sizeof(k));
    k.store = &store;

    t = pds_mst_load(&a, &src, NULL);
    for (i = 0; i < NKEYS; i++) {
        v = value_cid(i);
        pds_mst_put(t, keys[i], strlen(keys[i]), &v);
    }

    ok(pds_mst_commit(t, &ref_root, sink_emit, &k, &diff) == 0,
       "build %d keys", NKEYS);
    pds_cid_format(&ref_root, s);
    tap_diag("root %s, %zu nodes", s, k.set.n);

    /* random orders, with extra keys added then deleted, many commits */

    same = 1;
    removed_ok = 1;
    emitted_ok = 1;

    for (round = 0; round < 6; round++) {
        for (i = 0; i < NKEYS * 2; i++) {
            idx[i] = i;
        }

        shuffle(idx, NKEYS * 2);

        t = pds_mst_load(&a, &src, NULL);

        for (i = 0; i < NKEYS * 2; i++) {
            v = value_cid((unsigned) idx[i]);
            if (pds_mst_put(t, keys[idx[i]], strlen(keys[idx[i]]), &v) != 0) {
                same = 0;
            }

            /* some trees are committed now and then along the way */

            if (round < 2 && i % 97 == 0) {
                memset(&k2, 0, sizeof(k2));
                k2.store = &store;

                if (pds_mst_commit(t, &root, sink_emit, &k2, &diff) != 0) {
                    same = 0;
                }

                free(k2.set.cids);
            }
        }

        shuffle(idx, NKEYS * 2);

        for (i = 0; i < NKEYS * 2; i++) {
            if (idx[i] >= NKEYS
                && pds_mst_delete(t, keys[idx[i]], strlen(keys[idx[i]])) != 0)
            {
                same = 0;
            }
        }

        memset(&k2, 0, sizeof(k2));
        k2.store = &store;

        if (pds_mst_commit(t, &root, sink_emit, &k2, &diff) != 0
            || !pds_cid_equal(&root, &ref_root))
        {
            same = 0;
        }

        free(k2.set.cids);
    }

    ok(same, "6 random insertion orders with extra keys deleted: same root");

    /* diffs: removed == old nodes - new nodes, emitted == new - old */

    for (round = 0; round < 40; round++) {
        t = pds_mst_load(&a, &src, &ref_root);

        memset(&before, 0, sizeof(before));
        pds_mst_nodes(t, cidset_add, &before);

        nfinal = 1 + rnd() % 8;

        for (j = 0; j < nfinal; j++) {
            i = rnd() % (NKEYS * 2);
            v = value_cid((unsigned) i);

            if (rnd() % 2) {
                pds_mst_delete(t, keys[i], strlen(keys[i]));

            } else {
                pds_mst_put(t, keys[i], strlen(keys[i]), &v);
            }
        }

        /* sometimes undo a write: put back what was there */

        memset(&k2, 0, sizeof(k2));
        k2.store = &store;

        if (pds_mst_commit(t, &root, sink_emit, &k2, &diff) != 0) {
            removed_ok = 0;
            continue;
        }

        t = pds_mst_load(&a, &src, &root);
        memset(&after, 0, sizeof(after));
        pds_mst_nodes(t, cidset_add, &after);

        for (j = 0; j < diff.nremoved; j++) {
            if (!cidset_has(&before, &diff.removed[j])
                || cidset_has(&after, &diff.removed[j]))
            {
                removed_ok = 0;
            }
        }

        found = 0;
        for (j = 0; j < before.n; j++) {
            if (!cidset_has(&after, &before.cids[j])) {
                found++;
            }
        }

        if ((size_t) found != diff.nremoved) {
            removed_ok = 0;
        }

        found = 0;
        for (j = 0; j < after.n; j++) {
            if (!cidset_has(&before, &after.cids[j])) {
                found++;
                if (!cidset_has(&k2.set, &after.cids[j])) {
                    emitted_ok = 0;
                }
            }
        }

        if ((size_t) found != k2.set.n) {
            emitted_ok = 0;
        }

        free(before.cids);
        free(after.cids);
        free(k2.set.cids);
    }

    ok(removed_ok, "removed is exactly old nodes - new nodes (40 commits)");
    ok(emitted_ok, "emitted is exactly new nodes - old nodes");

    /* put then delete within one commit: nothing changes */

    t = pds_mst_load(&a, &src, &ref_root);
    v = value_cid(7);
    memset(&k2, 0, sizeof(k2));
    ok(pds_mst_put(t, "zzz.test/new", 12, &v) == 0
       && pds_mst_delete(t, "zzz.test/new", 12) == 0
       && pds_mst_delete(t, keys[3], strlen(keys[3])) == 0
       && (v = value_cid(3), pds_mst_put(t, keys[3], strlen(keys[3]), &v))
          == 0
       && pds_mst_commit(t, &root, sink_emit, &k2, &diff) == 0
       && pds_cid_equal(&root, &ref_root) && diff.nremoved == 0
       && k2.calls == 0, "writes that cancel out: same root, empty diff");

    v = value_cid(3);
    ok(pds_mst_put(t, keys[3], strlen(keys[3]), &v) == 0
       && pds_mst_commit(t, &root, sink_emit, &k2, &diff) == 0
       && pds_cid_equal(&root, &ref_root) && k2.calls == 0,
       "put of the same value changes nothing");
    free(k2.set.cids);

    /* reload from the emitted blocks: read back every key */

    t = pds_mst_load(&a, &src, &ref_root);
    found = 0;
    for (i = 0; i < NKEYS * 2; i++) {
        rc = pds_mst_get(t, keys[i], strlen(keys[i]), &v);
        if (i < NKEYS) {
            found += (rc == 0 && (root = value_cid((unsigned) i),
                                  pds_cid_equal(&v, &root)));

        } else {
            found += (rc == 1);
        }
    }

    is_int(found, NKEYS * 2, "reloaded: every key found, others absent");

    /* walk order */

    memset(&w, 0, sizeof(w));
    w.sorted = 1;
    w.values_ok = 1;
    t = pds_mst_load(&a, &src, &ref_root);
    walk_ok = pds_mst_walk(t, NULL, 0, walk_cb, &w) == 0;
    ok(walk_ok && w.n == NKEYS && w.sorted && w.values_ok,
       "walk: %zu leaves in order with their values", w.n);

    /* walk from a key: the count of keys >= from */

    qsort(keys, NKEYS, sizeof(keys[0]), key_qcmp);

    walk_ok = 1;
    for (j = 0; j < 50; j++) {
        i = rnd() % NKEYS;
        memset(&w, 0, sizeof(w));
        w.sorted = 1;
        w.values_ok = 1;

        if (j % 2) {
            /* exact key */
            rc = pds_mst_walk(t, keys[i], strlen(keys[i]), walk_cb, &w);
            if (rc != 0 || w.n != NKEYS - i || !w.sorted) {
                walk_ok = 0;
            }

        } else {
            /* just before the key: a prefix of it */
            rc = pds_mst_walk(t, keys[i], strlen(keys[i]) - 1, walk_cb, &w);
            if (rc != 0 || w.n != NKEYS - i || !w.sorted) {
                walk_ok = 0;
            }
        }
    }

    ok(walk_ok, "walk from a key gives exactly the keys >= it");

    memset(&w, 0, sizeof(w));
    w.limit = 10;
    ok(pds_mst_walk(t, NULL, 0, walk_cb, &w) == 7 && w.n == 10,
       "a callback's non-zero result stops the walk");

    memset(&w, 0, sizeof(w));
    ok(pds_mst_walk(t, "zzzz", 4, walk_cb, &w) == 0 && w.n == 0,
       "walk from past the end gives nothing");

    /* every node, parents first */

    memset(&before, 0, sizeof(before));
    t = pds_mst_load(&a, &src, &ref_root);
    rc = pds_mst_nodes(t, cidset_add, &before);
    ok(rc == 0 && pds_cid_equal(&before.cids[0], &ref_root)
       && before.n == k.set.n, "nodes: %zu blocks, root first", before.n);
    free(before.cids);

    memset(&order, 0, sizeof(order));
    order.ok = 1;
    t = pds_mst_load(&a, &src, &ref_root);
    pds_mst_get(t, keys[9], strlen(keys[9]), &v);
    rc = pds_mst_nodes(t, order_cb, &order);
    ok(rc == 0 && order.ok && order.n == k.set.n,
       "nodes: every block after its parent");
    free(order.linked.cids);

    /* a half-loaded tree exports the same */

    memset(&before, 0, sizeof(before));
    pds_mst_get(t, keys[5], strlen(keys[5]), &v);
    ok(pds_mst_nodes(t, cidset_add, &before) == 0
       && before.n == k.set.n, "nodes of a partly loaded tree");
    free(before.cids);

    /* delete everything, in random order */

    t = pds_mst_load(&a, &src, &ref_root);
    for (i = 0; i < NKEYS; i++) {
        idx[i] = i;
    }

    shuffle(idx, NKEYS);
    rc = 0;
    for (i = 0; i < NKEYS; i++) {
        rc |= pds_mst_delete(t, keys[idx[i]], strlen(keys[idx[i]]));
    }

    memset(&k2, 0, sizeof(k2));
    ok(rc == 0 && pds_mst_commit(t, &root, sink_emit, &k2, &diff) == 0
       && diff.nremoved == k.set.n, "delete all: every node removed");
    pds_cid_format(&root, s);
    is_str(s, "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm",
           "  and the root is the empty node");
    free(k2.set.cids);

    free(k.set.cids);
    memstore_free(&store);
    pds_arena_destroy(arena);
}


/* lazy loading: a write reads O(log n) blocks */

static void
test_lazy(void)
{
    char            key[64];
    size_t          i, gets, maxgets, total;
    sink_t          k;
    memstore_t         store;
    cidset_t        proof;
    pds_cid_t       root, r2, v;
    pds_mst_t      *t;
    pds_alloc_t     a;
    pds_arena_t    *arena;
    pds_mst_diff_t  diff;
    pds_blocksource_t  src;

    arena = pds_arena_create();
    a = pds_arena_allocator(arena);
    memstore_init(&store);
    src = source_of(&store);
    memset(&k, 0, sizeof(k));
    k.store = &store;

    t = pds_mst_load(&a, &src, NULL);
    for (i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "app.bsky.feed.like/%010zu", i * 7919);
        v = value_cid((unsigned) i);
        pds_mst_put(t, key, strlen(key), &v);
    }

    i = pds_mst_commit(t, &root, sink_emit, &k, &diff);
    ok(i == 0, "20000 keys: %zu nodes", k.set.n);

    maxgets = 0;
    total = 0;

    for (i = 0; i < 200; i++) {
        t = pds_mst_load(&a, &src, &root);
        store.gets = 0;

        snprintf(key, sizeof(key), "app.bsky.feed.like/%010u", rnd());
        v = value_cid((unsigned) i);

        if (i % 2) {
            snprintf(key, sizeof(key), "app.bsky.feed.like/%010zu",
                     (size_t) (rnd() % 20000) * 7919);
            pds_mst_delete(t, key, strlen(key));

        } else {
            pds_mst_put(t, key, strlen(key), &v);
        }

        pds_mst_commit(t, &r2, NULL, NULL, &diff);
        memset(&proof, 0, sizeof(proof));
        pds_mst_proof(t, key, strlen(key), cidset_add, &proof);
        free(proof.cids);

        gets = store.gets;
        total += gets;
        if (gets > maxgets) {
            maxgets = gets;
        }
    }

    tap_diag("block reads per write + commit + proof: mean %.1f, max %zu",
             (double) total / 200, maxgets);
    ok(maxgets < 60, "a write on 20000 keys reads at most %zu blocks",
       maxgets);

    free(k.set.cids);
    memstore_free(&store);
    pds_arena_destroy(arena);
}


/* errors */

static void
test_errors(void)
{
    sink_t          k;
    memstore_t         store;
    pds_cid_t       root, r2, bad, v;
    pds_mst_t      *t;
    pds_alloc_t     a;
    pds_arena_t    *arena;
    pds_blocksource_t  src;
    static const uint8_t  notnode[] = { 0xa1, 0x61, 0x65, 0x80 };
    static const uint8_t  empty[] = { 0xa2, 0x61, 0x65, 0x80, 0x61, 0x6c,
                                      0xf6 };

    arena = pds_arena_create();
    a = pds_arena_allocator(arena);
    memstore_init(&store);
    src = source_of(&store);
    memset(&k, 0, sizeof(k));
    k.store = &store;

    v = value_cid(1);

    /* a missing root */

    pds_cid_of_cbor(&bad, (const uint8_t *) "nope", 4);
    t = pds_mst_load(&a, &src, &bad);
    ok(pds_mst_get(t, "a/b", 3, &v) == -1, "missing root block: get fails");
    ok(pds_mst_put(t, "a/b", 3, &v) == -1, "  put fails");
    ok(pds_mst_delete(t, "a/b", 3) == -1, "  delete fails");

    /* not a node */

    pds_cid_of_cbor(&bad, notnode, sizeof(notnode));
    memstore_put(&store, &bad, notnode, sizeof(notnode));
    t = pds_mst_load(&a, &src, &bad);
    ok(pds_mst_get(t, "a/b", 3, &v) == -1, "a block that is not a node");

    pds_cid_of_cbor(&root, empty, sizeof(empty));
    memstore_put(&store, &root, empty, sizeof(empty));

    /* invalid keys */

    t = pds_mst_load(&a, &src, &root);
    ok(pds_mst_put(t, "bad key/x", 9, &v) == -1, "put of an invalid key");
    ok(pds_mst_put(t, "a/b", 3, &v) == 0, "the tree still works");

    /* a missing child block leaves the tree as it was */

    t = pds_mst_load(&a, &src, NULL);
    pds_mst_put(t, "A0/374913", 9, &v);
    pds_mst_put(t, "B1/986427", 9, &v);
    pds_mst_put(t, "C0/451630", 9, &v);
    memset(&k, 0, sizeof(k));
    pds_mst_commit(t, &root, sink_emit, &k, NULL);     /* not stored */
    ok(k.set.n == 3, "three nodes");
    free(k.set.cids);

    /* only the root is stored */
    {
        memstore_t  one;
        sink_t   k1;

        memstore_init(&one);
        memset(&k1, 0, sizeof(k1));
        k1.store = &one;

        t = pds_mst_load(&a, &src, NULL);
        pds_mst_put(t, "A0/374913", 9, &v);
        pds_mst_put(t, "B1/986427", 9, &v);
        pds_mst_put(t, "C0/451630", 9, &v);
        pds_mst_commit(t, &root, NULL, NULL, NULL);
        pds_mst_proof(t, "B1/986427", 9, memstore_put, &one);
        free(k1.set.cids);

        /* the proof of B1 is the root and both neighbours: all three */
        is_int(one.n, 3, "proof of a key between two subtrees: 3 blocks");

        memstore_free(&one);
        memstore_init(&one);
        pds_mst_proof(t, "A0/374913", 9, memstore_put, &one);
        is_int(one.n, 2, "proof of A0: root and its node");

        /* load with the root and A0's node only; C0's is missing */

        src = source_of(&one);
        t = pds_mst_load(&a, &src, &root);
        ok(pds_mst_get(t, "A0/374913", 9, &v) == 0, "A0 readable");
        ok(pds_mst_get(t, "C0/451630", 9, &v) == -1, "C0: missing block");
        ok(pds_mst_delete(t, "B1/986427", 9) == -1,
           "delete needing a missing block fails");
        ok(pds_mst_commit(t, &r2, NULL, NULL, NULL) == 0
           && pds_cid_equal(&r2, &root),
           "  and leaves the tree as it was");
        memstore_free(&one);
    }

    memstore_free(&store);
    pds_arena_destroy(arena);
}


int
main(void)
{
    test_shape_independence();
    test_lazy();
    test_errors();

    return tap_done();
}
