/*
 * The Merkle Search Tree: key rules, layers, interop fixtures (commit
 * proofs and their inversion), shape independence, reloads, diffs, lazy
 * loading.
 */

#include <jansson.h>

#include "tap.h"
#include "pds_mem.h"
#include "pds_cid.h"
#include "pds_cbor.h"
#include "pds_mst.h"
#include "memstore.h"




/* a set of CIDs, kept as a growable array */

typedef struct {
    pds_cid_t  *cids;
    size_t      n;
    size_t      cap;
} cidset_t;


static int
cidset_has(const cidset_t *s, const pds_cid_t *cid)
{
    size_t  i;

    for (i = 0; i < s->n; i++) {
        if (pds_cid_equal(&s->cids[i], cid)) {
            return 1;
        }
    }

    return 0;
}


static int
cidset_add(void *ctx, const pds_cid_t *cid, const uint8_t *p, size_t n)
{
    cidset_t  *s = ctx;

    (void) p;
    (void) n;

    if (cidset_has(s, cid)) {
        return 0;
    }

    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->cids = realloc(s->cids, s->cap * sizeof(pds_cid_t));
    }

    s->cids[s->n++] = *cid;

    return 0;
}


/* checks that every block but the first was linked from an earlier one */
typedef struct {
    cidset_t    linked;
    size_t      n;
    int         ok;
} order_t;


static int
order_cb(void *ctx, const pds_cid_t *cid, const uint8_t *p, size_t n)
{
    size_t            i;
    order_t          *o = ctx;
    pds_cbor_t       *node;
    pds_alloc_t       a;
    pds_arena_t      *arena;
    const pds_cbor_t *e, *l, *t;

    if (o->n++ > 0 && !cidset_has(&o->linked, cid)) {
        o->ok = 0;
    }

    arena = pds_arena_create();
    a = pds_arena_allocator(arena);

    if (pds_cbor_decode(p, n, &a, &node) != 0) {
        o->ok = 0;
        pds_arena_destroy(arena);
        return 0;
    }

    l = pds_cbor_map_get(node, "l");
    if (l && l->type == PDS_CBOR_CID) {
        cidset_add(&o->linked, &l->u.cid, NULL, 0);
    }

    e = pds_cbor_map_get(node, "e");
    for (i = 0; e && i < e->u.array.len; i++) {
        t = pds_cbor_map_get(&e->u.array.items[i], "t");
        if (t && t->type == PDS_CBOR_CID) {
            cidset_add(&o->linked, &t->u.cid, NULL, 0);
        }
    }

    pds_arena_destroy(arena);

    return 0;
}


/* emits to a store and records the CIDs */
typedef struct {
    memstore_t   *store;
    cidset_t   set;
    size_t     calls;
} sink_t;


static int
sink_emit(void *ctx, const pds_cid_t *cid, const uint8_t *p, size_t n)
{
    pds_cid_t   check;
    sink_t     *k = ctx;

    k->calls++;

    pds_cid_of_cbor(&check, p, n);
    if (!pds_cid_equal(&check, cid)) {
        return -5;
    }

    cidset_add(&k->set, cid, p, n);

    return k->store ? memstore_put(k->store, cid, p, n) : 0;
}


static pds_cid_t
cid_of(const char *s)
{
    pds_cid_t  cid;

    memset(&cid, 0, sizeof(cid));
    pds_cid_parse(&cid, s, strlen(s));

    return cid;
}


static pds_cid_t
value_cid(unsigned i)
{
    char       buf[32];
    pds_cid_t  cid;

    snprintf(buf, sizeof(buf), "record-%u", i);
    pds_cid_of_raw(&cid, (const uint8_t *) buf, strlen(buf));

    return cid;
}


static pds_blocksource_t
source_of(memstore_t *s)
{
    pds_blocksource_t  src;

    src.get = memstore_get;
    src.ctx = s;

    return src;
}


static char *
slurp_shared(const char *rel, size_t *len)
{
    char  path[1024];

    tap_shared_path(path, sizeof(path), rel);

    return tap_slurp(path, len);
}


/* pure functions */

static void
test_common_prefix(void)
{
    char        *text;
    size_t       i, len, bad;
    json_t      *root, *e;
    const char  *l, *r;

    text = slurp_shared("interop/mst/common_prefix.json", &len);
    if (!ok(text != NULL, "read common_prefix.json")) {
        return;
    }

    root = json_loadb(text, len, JSON_ALLOW_NUL, NULL);
    free(text);

    bad = 0;

    json_array_foreach(root, i, e) {
        l = json_string_value(json_object_get(e, "left"));
        r = json_string_value(json_object_get(e, "right"));

        if (pds_mst_common_prefix(l, json_string_length(
                                      json_object_get(e, "left")),
                                  r, json_string_length(
                                      json_object_get(e, "right")))
            != (size_t) json_integer_value(json_object_get(e, "len")))
        {
            tap_diag("common prefix of '%s' and '%s'", l, r);
            bad++;
        }
    }

    ok(i > 10 && bad == 0, "common_prefix.json: %zu cases", i);
    json_decref(root);
}


static void
test_example_keys(void)
{
    int     n, bad;
    char   *text, *line, *save;
    size_t  len;

    text = slurp_shared("interop/mst/example_keys.txt", &len);
    if (!ok(text != NULL, "read example_keys.txt")) {
        return;
    }

    n = 0;
    bad = 0;

    for (line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save))
    {
        n++;

        if (pds_mst_key_layer(line, strlen(line)) != line[1] - '0'
            || !pds_mst_key_valid(line, strlen(line)))
        {
            tap_diag("layer of %s: %d", line,
                     pds_mst_key_layer(line, strlen(line)));
            bad++;
        }
    }

    ok(n > 100 && bad == 0, "example_keys.txt: %d keys at their layers", n);
    free(text);

    is_int(pds_mst_key_layer("", 0), 0, "layer of the empty string");
    is_int(pds_mst_key_layer("blue", 4), 1, "layer of 'blue'");
    is_int(pds_mst_key_layer("asdf", 4), 0, "layer of 'asdf'");
    is_int(pds_mst_key_layer("2653ae71", 8), 0, "layer of '2653ae71'");
    is_int(pds_mst_key_layer("88bfafc7", 8), 2, "layer of '88bfafc7'");
    is_int(pds_mst_key_layer("2a92d355", 8), 4, "layer of '2a92d355'");
    is_int(pds_mst_key_layer("884976f5", 8), 6, "layer of '884976f5'");
    is_int(pds_mst_key_layer("app.bsky.feed.post/454397e440ec", 31), 4,
           "layer of a post key");
    is_int(pds_mst_key_layer("app.bsky.feed.post/9adeb165882c", 31), 8,
           "layer of another post key");
}


static void
test_key_valid(void)
{
    size_t       i;
    char         big[PDS_MST_KEY_MAX + 2];
    const char  *good[] = {
        "app.bsky.feed.post/3jzfcijpj2z2a", "com.example.record/self",
        "a/b", "A0/374913", "coll/rkey:with~odd-chars_and.dots",
        "c/...", "c/..a",
    };
    const char  *bad[] = {
        "", "/", "a/", "/b", "a", "a/b/c", "a b/c", "a/b c", "a/b\t",
        "a/\xc3\xa9", "a/b%20", "a/b#", "a/b?", "a/b@", "a/.", "a/..",
        "./b", "../b", "a//b", "a/b/",
    };

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ok(pds_mst_key_valid(good[i], strlen(good[i])), "valid key '%s'",
           good[i]);
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ok(!pds_mst_key_valid(bad[i], strlen(bad[i])), "invalid key '%s'",
           bad[i]);
    }

    ok(!pds_mst_key_valid("a/b\0c", 5), "NUL inside a key is invalid");

    memset(big, 'x', sizeof(big));
    big[1] = '/';
    ok(pds_mst_key_valid(big, PDS_MST_KEY_MAX), "a key of the maximum length");
    ok(!pds_mst_key_valid(big, PDS_MST_KEY_MAX + 1), "one byte longer fails");
}


/* the empty tree */

static void
test_empty(void)
{
    int             calls;
    char            s[PDS_CID_STR_SIZE];
    sink_t          k;
    memstore_t         store;
    pds_cid_t       root, want, v;
    pds_mst_t      *t;
    pds_arena_t    *arena;
    pds_alloc_t     a;
    pds_mst_diff_t  diff;
    static const uint8_t  empty[] = { 0xa2, 0x61, 0x65, 0x80, 0x61, 0x6c,
                                      0xf6 };

    arena = pds_arena_create();
    a = pds_arena_allocator(arena);
    memstore_init(&store);
    memset(&k, 0, sizeof(k));
    k.store = &store;

    t = pds_mst_load(&a, NULL, NULL);
    ok(t != NULL, "empty tree");
    ok(pds_mst_commit(t, &root, sink_emit, &k, &diff) == 0, "commit it");

    pds_cid_of_cbor(&want, empty, sizeof(empty));
    ok(pds_cid_equal(&root, &want), "root is the CID of {e: [], l: null}");
    pds_cid_format(&root, s);
    is_str(s, "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm",
           "the well-known empty MST root");
    ok(k.set.n == 1 && diff.nremoved == 0, "one block emitted, none removed");

    v = value_cid(1);
    ok(pds_mst_get(t, "a/b", 3, &v) == 1, "get on the empty tree: absent");
    ok(pds_mst_delete(t, "a/b", 3) == 1, "delete on the empty tree: absent");

    calls = (int) k.calls;
    ok(pds_mst_commit(t, &root, sink_emit, &k, &diff) == 0
       && (int) k.calls == calls && pds_cid_equal(&root, &want),
       "a commit without changes emits nothing");

    /* reload the empty tree by its CID */

    t = pds_mst_load(&a, &(pds_blocksource_t) { memstore_get, &store }, &root);
    ok(pds_mst_get(t, "a/b", 3, &v) == 1, "reloaded empty tree: absent");
    ok(pds_mst_put(t, "a/b", 3, &v) == 0, "put into it");
    ok(pds_mst_commit(t, &root, sink_emit, &k, &diff) == 0
       && diff.nremoved == 1 && pds_cid_equal(&diff.removed[0], &want),
       "the empty node is reported removed");
    ok(pds_mst_delete(t, "a/b", 3) == 0, "delete the key");
    ok(pds_mst_commit(t, &root, sink_emit, &k, &diff) == 0
       && pds_cid_equal(&root, &want) && diff.nremoved == 1,
       "back to the empty root");

    free(k.set.cids);
    memstore_free(&store);
    pds_arena_destroy(arena);
}


/* the commit-proof fixtures */

static int
build_keys(pds_mst_t *t, json_t *keys, const pds_cid_t *value)
{
    size_t       i;
    json_t      *k;
    const char  *s;

    json_array_foreach(keys, i, k) {
        s = json_string_value(k);
        if (pds_mst_put(t, s, strlen(s), value) != 0) {
            return -1;
        }
    }

    return 0;
}


static int
del_keys(pds_mst_t *t, json_t *keys)
{
    size_t       i;
    json_t      *k;
    const char  *s;

    json_array_foreach(keys, i, k) {
        s = json_string_value(k);
        if (pds_mst_delete(t, s, strlen(s)) != 0) {
            return -1;
        }
    }

    return 0;
}


static int
proof_keys(pds_mst_t *t, json_t *keys, sink_t *k)
{
    size_t       i;
    json_t      *e;
    const char  *s;

    json_array_foreach(keys, i, e) {
        s = json_string_value(e);
        if (pds_mst_proof(t, s, strlen(s), sink_emit, k) != 0) {
            return -1;
        }
    }

    return 0;
}


static void
test_commit_proofs(void)
{
    int                ok_set;
    char              *text, s[PDS_CID_STR_SIZE];
    size_t             i, j, len;
    json_t            *root, *f, *adds, *dels, *want;
    sink_t             all, proof;
    memstore_t            store, pstore;
    pds_cid_t          value, r0, r1, r2, c;
    pds_mst_t         *t;
    pds_alloc_t        a;
    pds_arena_t       *arena;
    const char        *comment;
    pds_blocksource_t  src;
    pds_mst_diff_t     diff;

    text = slurp_shared("interop/firehose/commit-proof-fixtures.json", &len);
    if (!ok(text != NULL, "read commit-proof-fixtures.json")) {
        return;
    }

    root = json_loadb(text, len, 0, NULL);
    free(text);

    json_array_foreach(root, i, f) {
        comment = json_string_value(json_object_get(f, "comment"));
        value = cid_of(json_string_value(json_object_get(f, "leafValue")));
        adds = json_object_get(f, "adds");
        dels = json_object_get(f, "dels");
        want = json_object_get(f, "blocksInProof");

        arena = pds_arena_create();
        a = pds_arena_allocator(arena);
        memstore_init(&store);
        memstore_init(&pstore);
        memset(&all, 0, sizeof(all));
        memset(&proof, 0, sizeof(proof));
        all.store = &store;
        proof.store = &pstore;
        src = source_of(&store);

        /* before */

        t = pds_mst_load(&a, &src, NULL);
        ok(build_keys(t, json_object_get(f, "keys"), &value) == 0
           && pds_mst_commit(t, &r0, sink_emit, &all, &diff) == 0,
           "%s: build", comment);
        pds_cid_format(&r0, s);
        is_str(s, json_string_value(json_object_get(f, "rootBeforeCommit")),
               "  rootBeforeCommit");

        /* the ops, on a tree loaded from the stored blocks */

        t = pds_mst_load(&a, &src, &r0);
        ok(build_keys(t, adds, &value) == 0 && del_keys(t, dels) == 0
           && pds_mst_commit(t, &r1, sink_emit, &all, &diff) == 0,
           "  apply %zu adds, %zu dels", json_array_size(adds),
           json_array_size(dels));
        pds_cid_format(&r1, s);
        is_str(s, json_string_value(json_object_get(f, "rootAfterCommit")),
               "  rootAfterCommit");

        /* the proof */

        ok(proof_keys(t, adds, &proof) == 0
           && proof_keys(t, dels, &proof) == 0, "  proofs");

        ok_set = proof.set.n == json_array_size(want);
        for (j = 0; j < json_array_size(want); j++) {
            c = cid_of(json_string_value(json_array_get(want, j)));
            if (!cidset_has(&proof.set, &c)) {
                tap_diag("missing from the proof: %s",
                         json_string_value(json_array_get(want, j)));
                ok_set = 0;
            }
        }

        if (!ok(ok_set, "  proof blocks are exactly blocksInProof (%zu)",
                json_array_size(want)))
        {
            for (j = 0; j < proof.set.n; j++) {
                pds_cid_format(&proof.set.cids[j], s);
                tap_diag("  we gave %s", s);
            }
        }

        /* inversion: only the proof blocks are there */

        src = source_of(&pstore);
        t = pds_mst_load(&a, &src, &r1);
        ok(del_keys(t, adds) == 0 && build_keys(t, dels, &value) == 0
           && pds_mst_commit(t, &r2, NULL, NULL, NULL) == 0
           && pds_cid_equal(&r2, &r0),
           "  inverting the ops on the proof alone gives rootBeforeCommit");

        free(all.set.cids);
        free(proof.set.cids);
        memstore_free(&store);
        memstore_free(&pstore);
        pds_arena_destroy(arena);
    }

    json_decref(root);
}


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
    test_common_prefix();
    test_example_keys();
    test_key_valid();
    test_empty();
    test_commit_proofs();
    test_shape_independence();
    test_lazy();
    test_errors();

    return tap_done();
}
