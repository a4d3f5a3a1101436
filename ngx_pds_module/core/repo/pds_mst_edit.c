/*
 * ngx_pds_module core, the Merkle Search Tree: the tree's writes:
 * put and delete, each in two passes (load everything it will read, then
 * change the tree, which can no longer fail on a missing block).
 */

#include <string.h>

#include "pds_mst_int.h"


/* loads the nodes a split around key will go through */
static int
mst_prepare_split(pds_mst_t *t, mst_node_t *node, int layer, const char *key,
    size_t len)
{
    int     found;
    size_t  i;

    while (node) {
        if (mst_load(t, node, layer) != 0) {
            return -1;
        }

        i = mst_lower_bound(node, key, len, &found);
        if (found) {
            /* a key of a higher layer below: not a valid tree */
            return -1;
        }

        layer = mst_below(node);
        node = mst_slot(node, i);
    }

    return 0;
}


static int
mst_prepare_put(pds_mst_t *t, const char *key, size_t len, int kl)
{
    int          found, layer;
    size_t       i;
    mst_node_t  *node;

    node = t->root;

    layer = mst_find_layer(t, node, 0);
    if (layer < -1) {
        return -1;
    }

    if (mst_node_empty(node)) {
        return 0;
    }

    if (kl > layer) {
        return mst_prepare_split(t, node, layer, key, len);
    }

    for ( ;; ) {
        i = mst_lower_bound(node, key, len, &found);
        if (found) {
            return 0;
        }

        if (node->layer == kl) {
            return mst_prepare_split(t, mst_slot(node, i), kl - 1, key, len);
        }

        layer = mst_below(node);
        node = mst_slot(node, i);

        if (node == NULL) {
            return 0;
        }

        if (mst_load(t, node, layer) != 0) {
            return -1;
        }
    }
}


/*
 * Splits the (prepared) subtree node around key into the parts below and
 * above it; node itself becomes the lower part.
 */
static int
mst_split(pds_mst_t *t, mst_node_t *node, const char *key, size_t len,
    mst_node_t **lo, mst_node_t **hi)
{
    int          found;
    size_t       i;
    mst_node_t  *clo, *chi, *h;

    *lo = NULL;
    *hi = NULL;

    if (node == NULL) {
        return 0;
    }

    i = mst_lower_bound(node, key, len, &found);

    if (mst_split(t, mst_slot(node, i), key, len, &clo, &chi) != 0
        || mst_touch(t, node) != 0)
    {
        return -1;
    }

    h = mst_node_new(t, node->layer);
    if (h == NULL || mst_reserve(t, h, node->n - i) != 0) {
        return -1;
    }

    h->left = chi;

    if (node->n - i) {
        memcpy(h->e, &node->e[i], (node->n - i) * sizeof(mst_entry_t));
    }

    h->n = node->n - i;

    node->n = i;
    mst_set_slot(node, i, clo);

    *lo = mst_node_empty(node) ? NULL : node;
    *hi = mst_node_empty(h) ? NULL : h;

    return 0;
}


/* 0 changed, 1 unchanged, -1 no memory */
static int
mst_insert(pds_mst_t *t, mst_node_t *node, const char *key, size_t len,
    int kl, const pds_cid_t *value)
{
    int          rc, found;
    size_t       i;
    mst_node_t  *c, *lo, *hi;

    i = mst_lower_bound(node, key, len, &found);

    if (found) {
        if (pds_cid_equal(&node->e[i].value, value)) {
            return 1;
        }

        if (mst_touch(t, node) != 0) {
            return -1;
        }

        node->e[i].value = *value;

        return 0;
    }

    c = mst_slot(node, i);

    if (node->layer == kl) {
        if (mst_split(t, c, key, len, &lo, &hi) != 0
            || mst_touch(t, node) != 0)
        {
            return -1;
        }

        mst_set_slot(node, i, lo);

        return mst_insert_entry(t, node, i, key, len, value, hi);
    }

    if (c == NULL) {
        c = mst_node_new(t, node->layer - 1);
        if (c == NULL) {
            return -1;
        }

        mst_set_slot(node, i, c);
    }

    rc = mst_insert(t, c, key, len, kl, value);

    if (rc == 0 && mst_touch(t, node) != 0) {
        return -1;
    }

    return rc;
}


static int
mst_do_put(pds_mst_t *t, const char *key, size_t len, int kl,
    const pds_cid_t *value)
{
    int          layer, rc;
    mst_node_t  *root, *lo, *hi, *p;

    root = t->root;

    if (mst_node_empty(root)) {
        if (mst_touch(t, root) != 0) {
            return -1;
        }

        root->layer = kl;

        return mst_insert_entry(t, root, 0, key, len, value, NULL);
    }

    if (kl <= root->layer) {
        rc = mst_insert(t, root, key, len, kl, value);
        return rc < 0 ? -1 : 0;
    }

    /* a new root above: the old tree is split around the key */

    if (mst_split(t, root, key, len, &lo, &hi) != 0) {
        return -1;
    }

    for (layer = root->layer + 1; layer < kl; layer++) {
        if (lo) {
            p = mst_node_new(t, layer);
            if (p == NULL) {
                return -1;
            }

            p->left = lo;
            lo = p;
        }

        if (hi) {
            p = mst_node_new(t, layer);
            if (p == NULL) {
                return -1;
            }

            p->left = hi;
            hi = p;
        }
    }

    root = mst_node_new(t, kl);
    if (root == NULL) {
        return -1;
    }

    root->left = lo;

    if (mst_insert_entry(t, root, 0, key, len, value, hi) != 0) {
        return -1;
    }

    t->root = root;

    return 0;
}


int
pds_mst_put(pds_mst_t *t, const char *key, size_t len,
    const pds_cid_t *value)
{
    int  kl;

    if (t->broken || !pds_mst_key_valid(key, len)) {
        return -1;
    }

    kl = pds_mst_key_layer(key, len);

    if (mst_prepare_put(t, key, len, kl) != 0) {
        return -1;
    }

    if (mst_do_put(t, key, len, kl, value) != 0) {
        t->broken = 1;
        return -1;
    }

    return 0;
}


/*
 * Loads the spines a merge of a and b walks down; with trim, also what
 * the root will shrink to when both sides have no keys of their own.
 */
static int
mst_prepare_merge(pds_mst_t *t, mst_node_t *a, mst_node_t *b, int layer,
    int trim)
{
    while (a && b) {
        if (mst_load(t, a, layer) != 0 || mst_load(t, b, layer) != 0) {
            return -1;
        }

        if (trim && a->n + b->n > 0) {
            trim = 0;
        }

        a = mst_slot(a, a->n);
        b = b->left;
        layer = layer >= 0 ? layer - 1 : -1;
    }

    if (b) {
        a = b;
    }

    while (trim && a) {
        if (mst_load(t, a, layer) != 0) {
            return -1;
        }

        if (a->n) {
            break;
        }

        a = a->left;
        layer = layer >= 0 ? layer - 1 : -1;
    }

    return 0;
}


static int
mst_prepare_delete(pds_mst_t *t, const char *key, size_t len)
{
    int          found, layer;
    size_t       i;
    mst_node_t  *node;

    node = t->root;

    if (mst_load(t, node, -1) != 0) {
        return -1;
    }

    for ( ;; ) {
        i = mst_lower_bound(node, key, len, &found);
        layer = mst_below(node);

        if (found) {
            return mst_prepare_merge(t, mst_slot(node, i), node->e[i].right,
                                     layer, node == t->root && node->n == 1);
        }

        node = mst_slot(node, i);
        if (node == NULL) {
            return 0;
        }

        if (mst_load(t, node, layer) != 0) {
            return -1;
        }
    }
}


/* merges two neighbouring subtrees of one layer (a's keys first) */
static int
mst_merge(pds_mst_t *t, mst_node_t *a, mst_node_t *b, mst_node_t **out)
{
    mst_node_t  *m;

    if (a == NULL || b == NULL) {
        *out = a ? a : b;
        return 0;
    }

    if (mst_merge(t, mst_slot(a, a->n), b->left, &m) != 0
        || mst_touch(t, a) != 0 || mst_touch(t, b) != 0
        || mst_reserve(t, a, b->n) != 0)
    {
        return -1;
    }

    mst_set_slot(a, a->n, m);

    if (b->n) {
        memcpy(&a->e[a->n], b->e, b->n * sizeof(mst_entry_t));
    }

    a->n += b->n;
    *out = a;

    return 0;
}


/* 0 deleted, 1 absent, -1 no memory */
static int
mst_remove(pds_mst_t *t, mst_node_t *node, const char *key, size_t len)
{
    int          rc, found;
    size_t       i;
    mst_node_t  *c, *m;

    i = mst_lower_bound(node, key, len, &found);

    if (found) {
        if (mst_merge(t, mst_slot(node, i), node->e[i].right, &m) != 0
            || mst_touch(t, node) != 0)
        {
            return -1;
        }

        memmove(&node->e[i], &node->e[i + 1],
                (node->n - i - 1) * sizeof(mst_entry_t));
        node->n--;
        mst_set_slot(node, i, m);

        return 0;
    }

    c = mst_slot(node, i);
    if (c == NULL) {
        return 1;
    }

    rc = mst_remove(t, c, key, len);
    if (rc != 0) {
        return rc;
    }

    if (mst_node_empty(c)) {
        mst_set_slot(node, i, NULL);
    }

    return mst_touch(t, node);
}


int
pds_mst_delete(pds_mst_t *t, const char *key, size_t len)
{
    int          rc;
    mst_node_t  *root;

    if (t->broken) {
        return -1;
    }

    if (!pds_mst_key_valid(key, len)) {
        return 1;
    }

    if (mst_prepare_delete(t, key, len) != 0) {
        return -1;
    }

    rc = mst_remove(t, t->root, key, len);

    if (rc == 0) {
        /* a root left with a lone subtree gives way to it */

        root = t->root;

        while (root->n == 0 && root->left) {
            if (mst_touch(t, root) != 0) {
                rc = -1;
                break;
            }

            root = root->left;
        }

        t->root = root;
    }

    if (rc < 0) {
        t->broken = 1;
    }

    return rc;
}
