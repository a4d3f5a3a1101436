/*
 * What the Merkle Search Tree's tests share (test_mst.c,
 * test_mst_tree.c): CID sets, block sinks, values and the interop
 * fixtures of the shared directory.  Test support only.
 */

#ifndef PDS_T_MST_FIXTURE_H
#define PDS_T_MST_FIXTURE_H

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


static TAP_UNUSED int
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


static TAP_UNUSED int
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


static TAP_UNUSED int
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


static TAP_UNUSED int
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


static TAP_UNUSED pds_cid_t
cid_of(const char *s)
{
    pds_cid_t  cid;

    memset(&cid, 0, sizeof(cid));
    pds_cid_parse(&cid, s, strlen(s));

    return cid;
}


static TAP_UNUSED pds_cid_t
value_cid(unsigned i)
{
    char       buf[32];
    pds_cid_t  cid;

    snprintf(buf, sizeof(buf), "record-%u", i);
    pds_cid_of_raw(&cid, (const uint8_t *) buf, strlen(buf));

    return cid;
}


static TAP_UNUSED pds_blocksource_t
source_of(memstore_t *s)
{
    pds_blocksource_t  src;

    src.get = memstore_get;
    src.ctx = s;

    return src;
}


static TAP_UNUSED char *
slurp_shared(const char *rel, size_t *len)
{
    char  path[1024];

    tap_shared_path(path, sizeof(path), rel);

    return tap_slurp(path, len);
}


/* pure functions */

#endif /* PDS_T_MST_FIXTURE_H */
