/*
 * ngx_pds_module core, the Merkle Search Tree: commits (the
 * changed nodes serialized bottom-up, with the diff), covering proofs,
 * walks over the leaves and over the node blocks.
 */

#include <stdlib.h>
#include <string.h>

#include "pds_mst_int.h"
#include "pds_hash.h"


static int
mst_serialize(pds_mst_t *t, mst_node_t *node)
{
    size_t      i, off, cap;
    mst_rec_t  *r;

    if (!node->dirty) {
        return 0;
    }

    if (node->left && mst_serialize(t, node->left) != 0) {
        return -1;
    }

    for (i = 0; i < node->n; i++) {
        if (node->e[i].right && mst_serialize(t, node->e[i].right) != 0) {
            return -1;
        }
    }

    off = t->buf.len;

    if (mst_encode(&t->buf, node) != 0) {
        return -1;
    }

    if (t->nrecs == t->crecs) {
        cap = t->crecs ? t->crecs * 2 : 16;
        r = pds_alloc(&t->a, cap * sizeof(mst_rec_t));
        if (r == NULL) {
            return -1;
        }

        if (t->nrecs) {
            memcpy(r, t->recs, t->nrecs * sizeof(mst_rec_t));
        }

        pds_free(&t->a, t->recs);
        t->recs = r;
        t->crecs = cap;
    }

    r = &t->recs[t->nrecs++];
    r->off = off;
    r->len = t->buf.len - off;
    r->cid.codec = PDS_CID_CODEC_DAG_CBOR;
    pds_sha256(t->buf.data + off, r->len, r->cid.digest);

    node->cid = r->cid;
    node->dirty = 0;
    node->stored = 1;

    return 0;
}


static int
mst_cid_qcmp(const void *a, const void *b)
{
    return pds_cid_cmp(a, b);
}


static int
mst_cid_in(const pds_cid_t *set, size_t n, const pds_cid_t *cid)
{
    return n && bsearch(cid, set, n, sizeof(pds_cid_t), mst_cid_qcmp) != NULL;
}


int
pds_mst_commit(pds_mst_t *t, pds_cid_t *root, pds_block_cb emit, void *ctx,
    pds_mst_diff_t *diff)
{
    int         rc;
    size_t      i, n;
    pds_cid_t  *fresh, *removed;

    if (diff) {
        diff->removed = NULL;
        diff->nremoved = 0;
    }

    if (t->broken) {
        return -1;
    }

    t->buf.len = 0;
    t->nrecs = 0;

    if (mst_serialize(t, t->root) != 0) {
        t->broken = 1;
        return -1;
    }

    if (root) {
        *root = t->root->cid;
    }

    /* the touched CIDs that are not back in the tree are the removed ones */

    fresh = NULL;
    removed = NULL;
    n = 0;

    if (t->ntouched) {
        qsort(t->touched, t->ntouched, sizeof(pds_cid_t), mst_cid_qcmp);

        fresh = pds_alloc(&t->a, (t->nrecs ? t->nrecs : 1)
                                 * sizeof(pds_cid_t));
        removed = pds_alloc(&t->a, t->ntouched * sizeof(pds_cid_t));
        if (fresh == NULL || removed == NULL) {
            t->broken = 1;
            return -1;
        }

        for (i = 0; i < t->nrecs; i++) {
            fresh[i] = t->recs[i].cid;
        }

        qsort(fresh, t->nrecs, sizeof(pds_cid_t), mst_cid_qcmp);

        for (i = 0; i < t->ntouched; i++) {
            if (i && pds_cid_equal(&t->touched[i], &t->touched[i - 1])) {
                continue;
            }

            if (!mst_cid_in(fresh, t->nrecs, &t->touched[i])) {
                removed[n++] = t->touched[i];
            }
        }
    }

    if (diff) {
        diff->removed = removed;
        diff->nremoved = n;
    }

    /* emit the new blocks, children first */

    rc = 0;

    for (i = 0; i < t->nrecs && rc == 0; i++) {
        if (mst_cid_in(t->touched, t->ntouched, &t->recs[i].cid)) {
            continue;
        }

        if (emit) {
            rc = emit(ctx, &t->recs[i].cid, t->buf.data + t->recs[i].off,
                      t->recs[i].len);
        }
    }

    pds_free(&t->a, fresh);
    t->ntouched = 0;
    t->nrecs = 0;

    return rc;
}


/* a proof: the distinct nodes to emit */
typedef struct {
    mst_node_t         **nodes;
    size_t               n;
    size_t               cap;
} mst_set_t;


static int
mst_set_add(pds_mst_t *t, mst_set_t *s, mst_node_t *node)
{
    size_t        i, cap;
    mst_node_t  **p;

    for (i = 0; i < s->n; i++) {
        if (s->nodes[i] == node) {
            return 0;
        }
    }

    if (s->n == s->cap) {
        cap = s->cap ? s->cap * 2 : 32;
        p = pds_alloc(&t->a, cap * sizeof(mst_node_t *));
        if (p == NULL) {
            return -1;
        }

        if (s->n) {
            memcpy(p, s->nodes, s->n * sizeof(mst_node_t *));
        }

        pds_free(&t->a, s->nodes);
        s->nodes = p;
        s->cap = cap;
    }

    s->nodes[s->n++] = node;

    return 0;
}


/*
 * From node down along the subtrees left of the key's position (the
 * neighbour to the left when the key is found here), and, with right, along
 * the subtree right of the key when it is found here (its left spine).
 */
static int
mst_proof_walk(pds_mst_t *t, mst_set_t *s, mst_node_t *node, const char *key,
    size_t len, int layer)
{
    int          found;
    size_t       i;
    mst_node_t  *right;

    while (node) {
        if (mst_load(t, node, layer) != 0 || mst_set_add(t, s, node) != 0) {
            return -1;
        }

        i = mst_lower_bound(node, key, len, &found);
        layer = mst_below(node);

        if (found) {
            right = node->e[i].right;

            if (mst_proof_walk(t, s, right, key, len, layer) != 0) {
                return -1;
            }
        }

        node = mst_slot(node, i);
    }

    return 0;
}


int
pds_mst_proof(pds_mst_t *t, const char *key, size_t len, pds_block_cb emit,
    void *ctx)
{
    int        rc;
    size_t     i;
    mst_set_t  s;

    if (t->broken || t->root->dirty) {
        return -1;
    }

    memset(&s, 0, sizeof(mst_set_t));

    if (mst_proof_walk(t, &s, t->root, key, len, -1) != 0) {
        pds_free(&t->a, s.nodes);
        return -1;
    }

    rc = 0;

    for (i = 0; i < s.n && rc == 0; i++) {
        t->buf.len = 0;

        if (mst_encode(&t->buf, s.nodes[i]) != 0) {
            rc = -1;
            break;
        }

        rc = emit(ctx, &s.nodes[i]->cid, t->buf.data, t->buf.len);
    }

    pds_free(&t->a, s.nodes);

    return rc;
}


static int
mst_walk_node(pds_mst_t *t, mst_node_t *node, int layer, const char *from,
    size_t from_len, pds_leaf_cb leaf, void *ctx)
{
    int           rc, found;
    size_t        i, j;
    mst_node_t   *c;
    mst_entry_t  *e;

    if (mst_load(t, node, layer) != 0) {
        return -1;
    }

    layer = mst_below(node);
    i = from ? mst_lower_bound(node, from, from_len, &found) : 0;

    c = mst_slot(node, i);
    if (c) {
        rc = mst_walk_node(t, c, layer, from, from_len, leaf, ctx);
        if (rc != 0) {
            return rc;
        }
    }

    for (j = i; j < node->n; j++) {
        e = &node->e[j];

        rc = leaf(ctx, e->key, e->len, &e->value);
        if (rc != 0) {
            return rc;
        }

        if (e->right) {
            rc = mst_walk_node(t, e->right, layer, NULL, 0, leaf, ctx);
            if (rc != 0) {
                return rc;
            }
        }
    }

    return 0;
}


int
pds_mst_walk(pds_mst_t *t, const char *from, size_t from_len,
    pds_leaf_cb leaf, void *ctx)
{
    if (t->broken) {
        return -1;
    }

    return mst_walk_node(t, t->root, -1, from, from_len, leaf, ctx);
}


/* a subtree not loaded: its blocks straight from the source */
static int
mst_nodes_raw(pds_mst_t *t, const pds_cid_t *cid, pds_block_cb emit,
    void *ctx, int depth)
{
    int             rc, has_l;
    size_t          i, n, count;
    mst_rd_t        r;
    mst_raw_t       raw;
    pds_cid_t       l;
    const uint8_t  *p;

    if (depth > 256 || mst_get_block(t, cid, &p, &n) != 0) {
        return -1;
    }

    rc = emit(ctx, cid, p, n);
    if (rc != 0) {
        return rc;
    }

    /* check the whole block first: "l" comes last */

    if (mst_rd_begin(&r, p, n, &count) != 0) {
        return -1;
    }

    for (i = 0; i < count; i++) {
        if (mst_rd_entry(&r, &raw) != 0) {
            return -1;
        }
    }

    if (mst_rd_end(&r, &l, &has_l) != 0) {
        return -1;
    }

    if (has_l) {
        rc = mst_nodes_raw(t, &l, emit, ctx, depth + 1);
        if (rc != 0) {
            return rc;
        }
    }

    (void) mst_rd_begin(&r, p, n, &count);

    for (i = 0; i < count; i++) {
        (void) mst_rd_entry(&r, &raw);

        if (raw.has_t) {
            rc = mst_nodes_raw(t, &raw.t, emit, ctx, depth + 1);
            if (rc != 0) {
                return rc;
            }
        }
    }

    return 0;
}


static int
mst_nodes_node(pds_mst_t *t, mst_node_t *node, pds_block_cb emit, void *ctx,
    int depth)
{
    int     rc;
    size_t  i;

    if (!node->loaded) {
        return mst_nodes_raw(t, &node->cid, emit, ctx, depth);
    }

    t->buf.len = 0;

    if (mst_encode(&t->buf, node) != 0) {
        return -1;
    }

    rc = emit(ctx, &node->cid, t->buf.data, t->buf.len);
    if (rc != 0) {
        return rc;
    }

    if (node->left) {
        rc = mst_nodes_node(t, node->left, emit, ctx, depth + 1);
        if (rc != 0) {
            return rc;
        }
    }

    for (i = 0; i < node->n; i++) {
        if (node->e[i].right) {
            rc = mst_nodes_node(t, node->e[i].right, emit, ctx, depth + 1);
            if (rc != 0) {
                return rc;
            }
        }
    }

    return 0;
}


int
pds_mst_nodes(pds_mst_t *t, pds_block_cb emit, void *ctx)
{
    if (t->broken || t->root->dirty) {
        return -1;
    }

    return mst_nodes_node(t, t->root, emit, ctx, 0);
}
