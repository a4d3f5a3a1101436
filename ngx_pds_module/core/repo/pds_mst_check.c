/*
 * ngx_pds_module core, the Merkle Search Tree: a walk over a tree read
 * from a block source that checks, node by node, that it is the canonical
 * tree of its leaves, without building it in memory (pds_mst_check_walk in
 * pds_mst.h).
 *
 * The canonical tree of a set of keys is fixed by local rules, so checking
 * each node against them as it is read is the same as rebuilding the tree
 * from its leaves and comparing roots:
 *   - every node block is in the codec's strict form (mst_rd_*), its keys
 *     valid, ascending, each compressed by exactly its common prefix with
 *     the key before it;
 *   - every key of a node is at the layer its hash gives, the same for
 *     the whole node, and a node's subtrees are one layer below it (a
 *     layer 0 node has none);
 *   - keys ascend over the whole walk (a running last key), so each
 *     subtree holds exactly the keys between its neighbours;
 *   - no node is empty, except the root of the empty tree, and the root
 *     has an entry (a root with only a left subtree would be trimmed).
 * Memory is a frame per layer on the stack (a key buffer each); layers
 * are at most 128 (SHA-256's 256 bits, two a layer).
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "pds_mst_int.h"


typedef struct {
    const pds_blocksource_t  *src;
    pds_block_cb              node;
    pds_leaf_cb               leaf;
    void                     *ctx;
    int                       stopped;     /* a callback's result */
    char                     *err;
    size_t                    err_len;
    const char               *after;       /* resuming after this key */
    size_t                    after_len;
    size_t                    last_len;
    char                      last[PDS_MST_KEY_MAX];
} mst_scan_t;


static int
mst_scan_fail(mst_scan_t *s, const pds_cid_t *cid, const char *fmt, ...)
{
    int      n;
    char     c[PDS_CID_STR_SIZE];
    va_list  args;

    va_start(args, fmt);
    n = vsnprintf(s->err, s->err_len, fmt, args);
    va_end(args);

    if (cid && n >= 0 && (size_t) n < s->err_len) {
        pds_cid_format(cid, c);
        snprintf(s->err + n, s->err_len - (size_t) n, " (node %s)", c);
    }

    return -1;
}


static int mst_scan_node(mst_scan_t *s, const pds_cid_t *cid, int layer,
    int path);


/*
 * The subtree at cid, one layer below a node of layer, between the keys
 * either side of it.  When resuming, a subtree wholly before the key
 * resumed after (done) was walked by an earlier call and is skipped, the
 * one holding that key (path) is walked again without its node blocks
 * being given again, the others are new.
 */
static int
mst_scan_child(mst_scan_t *s, const pds_cid_t *parent, const pds_cid_t *cid,
    int layer, int done, int path)
{
    if (layer == 0) {
        return mst_scan_fail(s, parent, "MST node of layer 0 has subtrees");
    }

    if (done) {
        return 0;
    }

    return mst_scan_node(s, cid, layer - 1, path);
}


/* layer: what the parent implies, -1 for the root; path: a node already
 * given when resuming (the root, and those on the way to the key) */
static int
mst_scan_node(mst_scan_t *s, const pds_cid_t *cid, int layer, int path)
{
    int             rc, has_l, has_t, kl, resume, gt_prev, ge_cur;
    size_t          i, n, count, plen, klen;
    mst_rd_t        r;
    mst_raw_t       raw;
    pds_cid_t       l, t;
    const uint8_t  *p;
    char            key[PDS_MST_KEY_MAX];

    if (cid->codec != PDS_CID_CODEC_DAG_CBOR
        || s->src->get(s->src->ctx, cid, &p, &n) != 0)
    {
        return mst_scan_fail(s, cid, "MST node missing from the CAR");
    }

    /* pass one: the structure, and the left subtree (encoded last) */

    if (mst_rd_begin(&r, p, n, &count) != 0) {
        return mst_scan_fail(s, cid, "MST node does not decode");
    }

    for (i = 0; i < count; i++) {
        if (mst_rd_entry(&r, &raw) != 0) {
            return mst_scan_fail(s, cid, "MST node does not decode");
        }
    }

    if (mst_rd_end(&r, &l, &has_l) != 0) {
        return mst_scan_fail(s, cid, "MST node does not decode");
    }

    if (count == 0) {
        if (layer < 0 && has_l) {
            return mst_scan_fail(s, cid, "MST root has no entries, only a "
                                 "subtree (not the canonical tree)");
        }

        if (layer >= 0 && !has_l) {
            return mst_scan_fail(s, cid, "empty MST node");
        }
    }

    resume = path && s->after != NULL;

    if (s->node && !path) {
        rc = s->node(s->ctx, cid, p, n);
        if (rc != 0) {
            s->stopped = rc;
            return 1;
        }
    }

    if (count == 0) {
        return has_l ? mst_scan_child(s, cid, &l, layer, 0, resume) : 0;
    }

    /* pass two: the keys, their layers, the subtrees in key order; each
     * subtree is walked once the key after it is known */

    (void) mst_rd_begin(&r, p, n, &count);
    plen = 0;
    gt_prev = resume;           /* the key resumed after > the key before */
    has_t = has_l;
    t = l;

    for (i = 0; i < count; i++) {
        (void) mst_rd_entry(&r, &raw);

        klen = (size_t) raw.prefix + raw.klen;

        /* the prefix is exactly the common prefix with the key before
         * and the key sorts after it: the first byte that differs is
         * greater, or the key before is a prefix of this one */

        if ((i == 0 && raw.prefix != 0)
            || raw.prefix > plen || raw.klen == 0 || klen > PDS_MST_KEY_MAX
            || (raw.prefix < plen
                && raw.k[0] <= (uint8_t) key[raw.prefix]))
        {
            return mst_scan_fail(s, cid, "MST keys out of order or not "
                                 "compressed canonically");
        }

        memcpy(key + raw.prefix, raw.k, raw.klen);
        plen = klen;

        if (!pds_mst_key_valid(key, klen)) {
            return mst_scan_fail(s, cid, "invalid record key in the MST: "
                                 "%.*s", (int) (klen < 200 ? klen : 200),
                                 key);
        }

        kl = pds_mst_key_layer(key, klen);

        if (layer < 0) {
            layer = kl;                 /* the root's, from its keys */
        }

        if (kl != layer) {
            return mst_scan_fail(s, cid, "MST key %.*s of layer %d in a "
                                 "node of layer %d (not the canonical "
                                 "tree)", (int) (klen < 200 ? klen : 200),
                                 key, kl, layer);
        }

        ge_cur = resume
                 && mst_key_cmp(s->after, s->after_len, key, klen) >= 0;

        if (has_t) {
            rc = mst_scan_child(s, cid, &t, layer, ge_cur, gt_prev);
            if (rc != 0) {
                return rc;
            }
        }

        has_t = raw.has_t;
        t = raw.t;
        gt_prev = resume
                  && mst_key_cmp(s->after, s->after_len, key, klen) > 0;

        if (ge_cur) {
            continue;                   /* given before */
        }

        if (s->last_len
            && mst_key_cmp(s->last, s->last_len, key, klen) >= 0)
        {
            return mst_scan_fail(s, cid, "MST keys out of order at %.*s",
                                 (int) (klen < 200 ? klen : 200), key);
        }

        memcpy(s->last, key, klen);
        s->last_len = klen;

        if (s->leaf) {
            rc = s->leaf(s->ctx, key, klen, &raw.v);
            if (rc != 0) {
                s->stopped = rc;
                return 1;
            }
        }

    }

    return has_t ? mst_scan_child(s, cid, &t, layer, 0, gt_prev) : 0;
}


int
pds_mst_check_walk(const pds_blocksource_t *src, const pds_cid_t *root,
    pds_block_cb node, pds_leaf_cb leaf, void *ctx, char *err,
    size_t err_len)
{
    return pds_mst_check_walk_after(src, root, NULL, 0, node, leaf, ctx, err,
                                    err_len);
}


int
pds_mst_check_walk_after(const pds_blocksource_t *src,
    const pds_cid_t *root, const char *after, size_t after_len,
    pds_block_cb node, pds_leaf_cb leaf, void *ctx, char *err,
    size_t err_len)
{
    int          rc;
    mst_scan_t  *s, scan;

    s = &scan;
    s->src = src;
    s->node = node;
    s->leaf = leaf;
    s->ctx = ctx;
    s->stopped = 0;
    s->err = err;
    s->err_len = err_len;
    s->after = after;
    s->after_len = after_len;
    s->last_len = 0;

    if (after != NULL) {
        if (after_len > PDS_MST_KEY_MAX) {
            return -1;
        }

        memcpy(s->last, after, after_len);
        s->last_len = after_len;
    }

    if (err_len) {
        err[0] = '\0';
    }

    rc = mst_scan_node(s, root, -1, after != NULL);

    if (rc > 0) {
        return s->stopped;
    }

    return rc;
}
