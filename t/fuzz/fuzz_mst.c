/*
 * libFuzzer target: the Merkle Search Tree against a plain model.
 *
 * The input is a list of two-byte operations (put, delete, get, commit,
 * commit and reload) over 256 keys.  Checked along the way: get agrees
 * with the model; at each commit the removed CIDs are not in the new tree,
 * and the proofs of the keys changed since the previous commit are enough,
 * on their own, to invert the changes back to the previous root.  At the
 * end the root equals that of a tree built fresh from the final key set,
 * and a tree reloaded from the emitted blocks reads back every key and
 * walks them in order.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pds_mem.h"
#include "pds_cid.h"
#include "pds_mst.h"
#include "memstore.h"


#define NK  256

#define check(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_mst: %s:%d: %s\n", __FILE__, __LINE__,     \
                    #cond);                                                  \
            abort();                                                         \
        }                                                                    \
    } while (0)


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);




/* the model */

static char   keys[NK][32];
static int    nkeys_ready;

typedef struct {
    uint8_t   present[NK];
    uint8_t   value[NK];
} model_t;


static void
keys_init(void)
{
    int  i;

    if (nkeys_ready) {
        return;
    }

    /* sorted: the collections are in order and the rkeys are fixed width */

    for (i = 0; i < NK; i++) {
        snprintf(keys[i], sizeof(keys[i]), "%s/3k%04dx%02x",
                 i < NK / 2 ? "app.bsky.feed.like" : "app.bsky.feed.post",
                 i * 7, i);
    }

    nkeys_ready = 1;
}


static pds_cid_t
value_cid(uint8_t v)
{
    pds_cid_t  cid;

    pds_cid_of_raw(&cid, &v, 1);

    return cid;
}


typedef struct {
    const model_t  *m;
    int             next;
} walk_t;


static int
walk_cb(void *ctx, const char *key, size_t len, const pds_cid_t *value)
{
    walk_t     *w = ctx;
    pds_cid_t   v;

    while (w->next < NK && !w->m->present[w->next]) {
        w->next++;
    }

    check(w->next < NK);
    check(len == strlen(keys[w->next])
          && memcmp(key, keys[w->next], len) == 0);
    v = value_cid(w->m->value[w->next]);
    check(pds_cid_equal(&v, value));
    w->next++;

    return 0;
}


static pds_cid_t
fresh_root(const model_t *m, pds_alloc_t *a)
{
    int         i;
    pds_cid_t   root, v;
    pds_mst_t  *t;

    t = pds_mst_load(a, NULL, NULL);
    check(t != NULL);

    for (i = 0; i < NK; i++) {
        if (m->present[i]) {
            v = value_cid(m->value[i]);
            check(pds_mst_put(t, keys[i], strlen(keys[i]), &v) == 0);
        }
    }

    check(pds_mst_commit(t, &root, NULL, NULL, NULL) == 0);

    return root;
}


/*
 * The proofs of the changed keys alone invert the commit: load them into
 * an empty store, undo the changes, compare with the previous root.
 */
static void
check_inversion(pds_mst_t *t, const model_t *now, const model_t *before,
    const pds_cid_t *root, const pds_cid_t *prev_root, pds_alloc_t *a)
{
    int                i;
    memstore_t            proof;
    pds_cid_t          r, v;
    pds_mst_t         *inv;
    pds_blocksource_t  src;

    memset(&proof, 0, sizeof(proof));

    for (i = 0; i < NK; i++) {
        if (now->present[i] != before->present[i]
            || (now->present[i] && now->value[i] != before->value[i]))
        {
            check(pds_mst_proof(t, keys[i], strlen(keys[i]), memstore_put,
                                &proof) == 0);
        }
    }

    src.get = memstore_get;
    src.ctx = &proof;

    inv = pds_mst_load(a, &src, root);
    check(inv != NULL);

    for (i = 0; i < NK; i++) {
        if (before->present[i]) {
            if (!now->present[i] || now->value[i] != before->value[i]) {
                v = value_cid(before->value[i]);
                check(pds_mst_put(inv, keys[i], strlen(keys[i]), &v) == 0);
            }

        } else if (now->present[i]) {
            check(pds_mst_delete(inv, keys[i], strlen(keys[i])) == 0);
        }
    }

    check(pds_mst_commit(inv, &r, NULL, NULL, NULL) == 0);
    check(pds_cid_equal(&r, prev_root));

    memstore_free(&proof);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                rc, k;
    size_t             i, j;
    walk_t             w;
    memstore_t            store;
    model_t            m, before;
    pds_cid_t          root, prev_root, v, want;
    pds_mst_t         *t;
    pds_alloc_t        a;
    pds_arena_t       *arena;
    pds_mst_diff_t     diff;
    pds_blocksource_t  src;

    if (size > 4096) {
        return 0;
    }

    keys_init();

    arena = pds_arena_create();
    check(arena != NULL);
    a = pds_arena_allocator(arena);

    memset(&store, 0, sizeof(store));
    memset(&m, 0, sizeof(m));
    src.get = memstore_get;
    src.ctx = &store;

    t = pds_mst_load(&a, &src, NULL);
    check(t != NULL);
    check(pds_mst_commit(t, &prev_root, memstore_put, &store, NULL) == 0);
    before = m;

    for (i = 0; i + 1 < size; i += 2) {
        k = data[i + 1];

        switch (data[i] & 7) {

        case 0:
        case 1:
        case 2:
            v = value_cid(data[i] >> 3);
            check(pds_mst_put(t, keys[k], strlen(keys[k]), &v) == 0);
            m.present[k] = 1;
            m.value[k] = data[i] >> 3;
            break;

        case 3:
        case 4:
            rc = pds_mst_delete(t, keys[k], strlen(keys[k]));
            check(rc == (m.present[k] ? 0 : 1));
            m.present[k] = 0;
            break;

        case 5:
            rc = pds_mst_get(t, keys[k], strlen(keys[k]), &v);
            check(rc == (m.present[k] ? 0 : 1));
            if (rc == 0) {
                want = value_cid(m.value[k]);
                check(pds_cid_equal(&v, &want));
            }
            break;

        default:
            check(pds_mst_commit(t, &root, memstore_put, &store, &diff) == 0);

            /* removed nodes are gone from the new tree */

            for (j = 0; j < diff.nremoved; j++) {
                check(!pds_cid_equal(&diff.removed[j], &root));
            }

            check_inversion(t, &m, &before, &root, &prev_root, &a);

            prev_root = root;
            before = m;

            if (data[i] & 8) {
                t = pds_mst_load(&a, &src, &root);
                check(t != NULL);
            }

            break;
        }
    }

    check(pds_mst_commit(t, &root, memstore_put, &store, NULL) == 0);
    check_inversion(t, &m, &before, &root, &prev_root, &a);

    /* the shape depends only on the key set */

    v = fresh_root(&m, &a);
    check(pds_cid_equal(&v, &root));

    /* reload from the emitted blocks */

    t = pds_mst_load(&a, &src, &root);
    check(t != NULL);

    for (k = 0; k < NK; k++) {
        rc = pds_mst_get(t, keys[k], strlen(keys[k]), &v);
        check(rc == (m.present[k] ? 0 : 1));
    }

    w.m = &m;
    w.next = 0;
    check(pds_mst_walk(t, NULL, 0, walk_cb, &w) == 0);

    while (w.next < NK && !m.present[w.next]) {
        w.next++;
    }

    check(w.next == NK);

    memstore_free(&store);
    pds_arena_destroy(arena);

    return 0;
}
