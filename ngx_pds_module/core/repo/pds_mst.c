/*
 * ngx_pds_module core: the Merkle Search Tree of an atproto repository.
 *
 * In memory a node is its left subtree plus an array of entries, each a
 * full key, a value and the subtree to the right of the key.  A subtree not
 * yet needed is a stub: a node that only knows its CID.  Nodes are decoded
 * straight from the block bytes (one pass to size, one to fill, a single
 * allocation per node) by a parser that accepts only the canonical
 * encoding, so re-encoding a loaded node gives back its bytes and its CID.
 *
 * Writes are done in two passes: the first loads every node the operation
 * will read (the path to the key and, for splits and merges, the spines
 * beside it), the second changes the tree and cannot fail on a missing
 * block, so an error never leaves the tree half changed.
 *
 * A node changed since the last commit is dirty; the first time a node
 * that is part of the committed tree is changed or dropped its CID is
 * remembered.  Commit serializes the dirty nodes bottom-up; the removed
 * CIDs are the remembered ones that did not come back, and only nodes whose
 * CID is not a remembered one are emitted.
 */

#include <string.h>

#include "pds_mst_int.h"
#include "pds_hash.h"


int
pds_mst_key_layer(const char *key, size_t len)
{
    int      layer;
    size_t   i;
    uint8_t  b, digest[PDS_SHA256_LEN];

    pds_sha256(key, len, digest);

    layer = 0;

    for (i = 0; i < PDS_SHA256_LEN; i++) {
        b = digest[i];

        if (b == 0) {
            layer += 4;
            continue;
        }

        layer += (b < 4) + (b < 16) + (b < 64);
        break;
    }

    return layer;
}


/* the bytes allowed in a collection or record key: A-Za-z0-9 . - _ ~ : */
static const uint32_t  mst_key_chars[8] = {
    0x00000000,
    0x07ff6000,     /* - . 0-9 : */
    0x87fffffe,     /* A-Z _ */
    0x47fffffe,     /* a-z ~ */
    0, 0, 0, 0
};


#define mst_key_char(c)  (mst_key_chars[(c) >> 5] & (1U << ((c) & 0x1f)))


static int
mst_segment_valid(const char *s, size_t len)
{
    size_t  i;

    if (len == 0) {
        return 0;
    }

    /* "." and ".." are never valid collections or record keys */

    if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
    {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!mst_key_char((uint8_t) s[i])) {
            return 0;
        }
    }

    return 1;
}


int
pds_mst_key_valid(const char *key, size_t len)
{
    const char  *slash;

    if (key == NULL || len == 0 || len > PDS_MST_KEY_MAX) {
        return 0;
    }

    slash = memchr(key, '/', len);
    if (slash == NULL) {
        return 0;
    }

    return mst_segment_valid(key, (size_t) (slash - key))
           && mst_segment_valid(slash + 1, len - (size_t) (slash - key) - 1);
}


size_t
pds_mst_common_prefix(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t  i, n;

    n = alen < blen ? alen : blen;

    for (i = 0; i < n && a[i] == b[i]; i++) {
        /* void */
    }

    return i;
}


int
mst_key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int  rc;

    rc = memcmp(a, b, alen < blen ? alen : blen);
    if (rc != 0) {
        return rc;
    }

    return (alen > blen) - (alen < blen);
}


mst_node_t *
mst_node_new(pds_mst_t *t, int layer)
{
    mst_node_t  *node;

    node = pds_calloc(&t->a, sizeof(mst_node_t));
    if (node == NULL) {
        return NULL;
    }

    node->layer = layer;
    node->loaded = 1;
    node->dirty = 1;

    return node;
}


void
mst_set_slot(mst_node_t *node, size_t i, mst_node_t *child)
{
    if (i == 0) {
        node->left = child;

    } else {
        node->e[i - 1].right = child;
    }
}


/* index of the first entry >= key; *found set if it equals key */
size_t
mst_lower_bound(const mst_node_t *node, const char *key, size_t len,
    int *found)
{
    int     rc;
    size_t  lo, hi, mid;

    lo = 0;
    hi = node->n;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        rc = mst_key_cmp(node->e[mid].key, node->e[mid].len, key, len);

        if (rc < 0) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    *found = (lo < node->n
              && mst_key_cmp(node->e[lo].key, node->e[lo].len, key, len)
                 == 0);

    return lo;
}


static int
mst_push_cid(pds_mst_t *t, const pds_cid_t *cid)
{
    size_t      cap;
    pds_cid_t  *p;

    if (t->ntouched == t->ctouched) {
        cap = t->ctouched ? t->ctouched * 2 : 16;
        p = pds_alloc(&t->a, cap * sizeof(pds_cid_t));
        if (p == NULL) {
            return -1;
        }

        if (t->ntouched) {
            memcpy(p, t->touched, t->ntouched * sizeof(pds_cid_t));
        }

        pds_free(&t->a, t->touched);
        t->touched = p;
        t->ctouched = cap;
    }

    t->touched[t->ntouched++] = *cid;

    return 0;
}


/* node is about to change or to leave the tree */
int
mst_touch(pds_mst_t *t, mst_node_t *node)
{
    node->dirty = 1;

    if (node->stored) {
        node->stored = 0;

        if (mst_push_cid(t, &node->cid) != 0) {
            return -1;
        }
    }

    return 0;
}


int
mst_reserve(pds_mst_t *t, mst_node_t *node, size_t extra)
{
    size_t        cap;
    mst_entry_t  *e;

    if (node->n + extra <= node->cap) {
        return 0;
    }

    cap = node->cap ? node->cap * 2 : 4;
    while (cap < node->n + extra) {
        cap *= 2;
    }

    e = pds_alloc(&t->a, cap * sizeof(mst_entry_t));
    if (e == NULL) {
        return -1;
    }

    if (node->n) {
        memcpy(e, node->e, node->n * sizeof(mst_entry_t));
    }

    /* the old array may share its block with keys: never freed */

    node->e = e;
    node->cap = cap;

    return 0;
}


int
mst_insert_entry(pds_mst_t *t, mst_node_t *node, size_t i, const char *key,
    size_t len, const pds_cid_t *value, mst_node_t *right)
{
    char  *k;

    if (mst_reserve(t, node, 1) != 0) {
        return -1;
    }

    k = pds_alloc(&t->a, len ? len : 1);
    if (k == NULL) {
        return -1;
    }

    memcpy(k, key, len);

    memmove(&node->e[i + 1], &node->e[i], (node->n - i) * sizeof(mst_entry_t));
    node->e[i].key = k;
    node->e[i].len = len;
    node->e[i].value = *value;
    node->e[i].right = right;
    node->n++;

    return 0;
}


int
mst_get_block(pds_mst_t *t, const pds_cid_t *cid, const uint8_t **p,
    size_t *n)
{
    if (t->src.get == NULL) {
        return -1;
    }

    return t->src.get(t->src.ctx, cid, p, n) == 0 ? 0 : -1;
}


/* loads a stub; layer: what its parent implies (-1: unknown) */
int
mst_load(pds_mst_t *t, mst_node_t *node, int layer)
{
    size_t          n;
    const uint8_t  *p;

    if (node->loaded) {
        return 0;
    }

    if (node->layer < 0) {
        node->layer = layer;
    }

    if (mst_get_block(t, &node->cid, &p, &n) != 0
        || mst_decode(t, node, p, n) != 0)
    {
        return -1;
    }

    node->loaded = 1;

    return 0;
}


/*
 * The layer of a node without keys of its own is found below it (a root
 * like that is not canonical, but is read); -2 on error.
 */
int
mst_find_layer(pds_mst_t *t, mst_node_t *node, int depth)
{
    int  layer;

    if (depth > 130 || mst_load(t, node, -1) != 0) {
        return -2;
    }

    if (node->layer >= 0 || node->left == NULL) {
        return node->layer;
    }

    layer = mst_find_layer(t, node->left, depth + 1);
    if (layer < -1) {
        return -2;
    }

    node->layer = layer + 1;

    return node->layer;
}


pds_mst_t *
pds_mst_load(const pds_alloc_t *a, const pds_blocksource_t *src,
    const pds_cid_t *root)
{
    pds_mst_t  *t;

    t = pds_calloc(a, sizeof(pds_mst_t));
    if (t == NULL) {
        return NULL;
    }

    t->a = *a;

    if (src) {
        t->src = *src;
    }

    pds_buf_init(&t->buf, &t->a);

    if (root == NULL) {
        t->root = mst_node_new(t, -1);

    } else {
        t->root = pds_calloc(&t->a, sizeof(mst_node_t));
        if (t->root) {
            mst_stub_init(t->root, root, -1);
        }
    }

    if (t->root == NULL) {
        pds_free(a, t);
        return NULL;
    }

    return t;
}


int
pds_mst_get(pds_mst_t *t, const char *key, size_t len, pds_cid_t *value)
{
    int          found, layer;
    size_t       i;
    mst_node_t  *node;

    if (t->broken) {
        return -1;
    }

    if (!pds_mst_key_valid(key, len)) {
        return 1;
    }

    node = t->root;
    layer = -1;

    while (node) {
        if (mst_load(t, node, layer) != 0) {
            return -1;
        }

        i = mst_lower_bound(node, key, len, &found);

        if (found) {
            if (value) {
                *value = node->e[i].value;
            }

            return 0;
        }

        layer = mst_below(node);
        node = mst_slot(node, i);
    }

    return 1;
}
