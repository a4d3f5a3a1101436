/*
 * The Merkle Search Tree: key rules, layers, the empty tree and the interop
 * fixtures (commit proofs and their inversion).  Random trees are in
 * test_mst_tree.c.
 */

#include "mst_fixture.h"


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


int
main(void)
{
    test_common_prefix();
    test_example_keys();
    test_key_valid();
    test_empty();
    test_commit_proofs();

    return tap_done();
}
