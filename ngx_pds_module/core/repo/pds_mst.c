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

#include <stdlib.h>
#include <string.h>

#include "pds_cbor.h"
#include "pds_hash.h"
#include "pds_mst.h"


typedef struct mst_node_s  mst_node_t;

typedef struct {
    const char          *key;
    size_t               len;
    mst_node_t          *right;
    pds_cid_t            value;
} mst_entry_t;

struct mst_node_s {
    mst_node_t          *left;
    mst_entry_t         *e;
    size_t               n;
    size_t               cap;
    int                  layer;      /* -1: not known yet */
    unsigned             loaded:1;
    unsigned             dirty:1;    /* changed since the last commit */
    unsigned             stored:1;   /* cid is a block of the committed tree */
    pds_cid_t            cid;        /* valid unless dirty */
};

typedef struct {
    pds_cid_t            cid;
    size_t               off;
    size_t               len;
} mst_rec_t;

struct pds_mst_s {
    pds_alloc_t          a;
    pds_blocksource_t    src;
    mst_node_t          *root;
    int                  broken;

    pds_cid_t           *touched;    /* committed CIDs changed or dropped */
    size_t               ntouched;
    size_t               ctouched;

    mst_rec_t           *recs;       /* commit: serialized nodes */
    size_t               nrecs;
    size_t               crecs;

    pds_buf_t            buf;
};

/* a reader over a node block */
typedef struct {
    const uint8_t       *p;
    const uint8_t       *end;
} mst_rd_t;

/* one entry as encoded */
typedef struct {
    const uint8_t       *k;
    size_t               klen;
    uint64_t             prefix;
    int                  has_t;
    pds_cid_t            t;
    pds_cid_t            v;
} mst_raw_t;

/* a proof: the distinct nodes to emit */
typedef struct {
    mst_node_t         **nodes;
    size_t               n;
    size_t               cap;
} mst_set_t;


static int mst_load(pds_mst_t *t, mst_node_t *node, int layer);


/* keys */

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


static int
mst_key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int  rc;

    rc = memcmp(a, b, alen < blen ? alen : blen);
    if (rc != 0) {
        return rc;
    }

    return (alen > blen) - (alen < blen);
}


/* nodes in memory */

static mst_node_t *
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


/* the subtree left of entry i (i == n: the rightmost subtree) */
#define mst_slot(node, i)                                                    \
    ((i) == 0 ? (node)->left : (node)->e[(i) - 1].right)


static void
mst_set_slot(mst_node_t *node, size_t i, mst_node_t *child)
{
    if (i == 0) {
        node->left = child;

    } else {
        node->e[i - 1].right = child;
    }
}


#define mst_node_empty(node)  ((node)->n == 0 && (node)->left == NULL)


/* index of the first entry >= key; *found set if it equals key */
static size_t
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
static int
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


static int
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


static int
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


/* decoding */

static int
mst_rd_head(mst_rd_t *r, unsigned major, uint64_t *v)
{
    uint8_t  ib, ai;
    size_t   i, n;

    if (r->p >= r->end) {
        return -1;
    }

    ib = *r->p++;

    if ((unsigned) (ib >> 5) != major) {
        return -1;
    }

    ai = ib & 0x1f;

    if (ai < 24) {
        *v = ai;
        return 0;
    }

    if (ai > 27) {
        return -1;
    }

    n = (size_t) 1 << (ai - 24);

    if ((size_t) (r->end - r->p) < n) {
        return -1;
    }

    *v = 0;
    for (i = 0; i < n; i++) {
        *v = (*v << 8) | r->p[i];
    }

    r->p += n;

    /* shortest form only */

    if ((ai == 24 && *v < 24) || (ai == 25 && *v <= 0xff)
        || (ai == 26 && *v <= 0xffff) || (ai == 27 && *v <= 0xffffffff))
    {
        return -1;
    }

    return 0;
}


/* a one-letter map key */
static int
mst_rd_key(mst_rd_t *r, char c)
{
    if (r->end - r->p < 2 || r->p[0] != 0x61 || r->p[1] != (uint8_t) c) {
        return -1;
    }

    r->p += 2;

    return 0;
}


/* tag 42 CID; *has 0 for null when nullable */
static int
mst_rd_cid(mst_rd_t *r, pds_cid_t *cid, int nullable, int *has)
{
    static const uint8_t  head[] = { 0xd8, 0x2a, 0x58, 0x25, 0x00 };

    const uint8_t         *p;

    if (nullable && r->p < r->end && *r->p == 0xf6) {
        r->p++;
        *has = 0;
        return 0;
    }

    if ((size_t) (r->end - r->p) < sizeof(head) + PDS_CID_BIN_LEN
        || memcmp(r->p, head, sizeof(head)) != 0)
    {
        return -1;
    }

    /* CIDv1, dag-cbor or raw, sha2-256 of 32 bytes (see pds_cid.h) */

    p = r->p + sizeof(head);

    if (p[0] != 0x01
        || (p[1] != PDS_CID_CODEC_DAG_CBOR && p[1] != PDS_CID_CODEC_RAW)
        || p[2] != PDS_CID_HASH_SHA256 || p[3] != PDS_CID_DIGEST_LEN)
    {
        return -1;
    }

    cid->codec = p[1];
    memcpy(cid->digest, p + 4, PDS_CID_DIGEST_LEN);

    r->p = p + PDS_CID_BIN_LEN;

    if (has) {
        *has = 1;
    }

    return 0;
}


static int
mst_rd_begin(mst_rd_t *r, const uint8_t *p, size_t n, size_t *count)
{
    uint64_t  v;

    r->p = p;
    r->end = p + n;

    if (mst_rd_head(r, 5, &v) != 0 || v != 2 || mst_rd_key(r, 'e') != 0
        || mst_rd_head(r, 4, &v) != 0)
    {
        return -1;
    }

    /* an entry takes more than 40 bytes */

    if (v > (uint64_t) (r->end - r->p) / 40) {
        return -1;
    }

    *count = (size_t) v;

    return 0;
}


static int
mst_rd_entry(mst_rd_t *r, mst_raw_t *raw)
{
    uint64_t  v;

    if (mst_rd_head(r, 5, &v) != 0 || v != 4 || mst_rd_key(r, 'k') != 0
        || mst_rd_head(r, 2, &v) != 0
        || v > (uint64_t) (r->end - r->p))
    {
        return -1;
    }

    raw->k = r->p;
    raw->klen = (size_t) v;
    r->p += v;

    if (mst_rd_key(r, 'p') != 0 || mst_rd_head(r, 0, &raw->prefix) != 0
        || mst_rd_key(r, 't') != 0
        || mst_rd_cid(r, &raw->t, 1, &raw->has_t) != 0
        || mst_rd_key(r, 'v') != 0
        || mst_rd_cid(r, &raw->v, 0, NULL) != 0)
    {
        return -1;
    }

    if (raw->has_t && raw->t.codec != PDS_CID_CODEC_DAG_CBOR) {
        return -1;
    }

    return 0;
}


static int
mst_rd_end(mst_rd_t *r, pds_cid_t *l, int *has_l)
{
    if (mst_rd_key(r, 'l') != 0 || mst_rd_cid(r, l, 1, has_l) != 0
        || r->p != r->end)
    {
        return -1;
    }

    if (*has_l && l->codec != PDS_CID_CODEC_DAG_CBOR) {
        return -1;
    }

    return 0;
}


static void
mst_stub_init(mst_node_t *stub, const pds_cid_t *cid, int layer)
{
    memset(stub, 0, sizeof(mst_node_t));
    stub->cid = *cid;
    stub->layer = layer;
    stub->stored = 1;
}


/*
 * Fills node from its block.  Pass one checks the structure and sizes the
 * keys and subtrees, pass two fills one allocation holding the entries,
 * the keys and the subtree stubs.  Keys must be valid, strictly ascending
 * and compressed exactly as the encoder would.
 */
static int
mst_decode(pds_mst_t *t, mst_node_t *node, const uint8_t *p, size_t n)
{
    int           has_l, layer;
    char         *keys, *kp, *prev;
    size_t        count, i, nkeys, nchild, plen, klen, size;
    uint8_t      *mem;
    mst_rd_t      r;
    mst_raw_t     raw;
    pds_cid_t     l;
    mst_node_t   *stubs;
    mst_entry_t  *e;

    if (mst_rd_begin(&r, p, n, &count) != 0) {
        return -1;
    }

    nkeys = 0;
    nchild = 0;
    plen = 0;

    for (i = 0; i < count; i++) {
        if (mst_rd_entry(&r, &raw) != 0 || raw.prefix > plen
            || (i == 0 && raw.prefix != 0))
        {
            return -1;
        }

        klen = (size_t) raw.prefix + raw.klen;
        if (klen == 0 || klen > PDS_MST_KEY_MAX) {
            return -1;
        }

        nkeys += klen;
        nchild += raw.has_t;
        plen = klen;
    }

    if (mst_rd_end(&r, &l, &has_l) != 0) {
        return -1;
    }

    nchild += has_l;

    size = count * sizeof(mst_entry_t) + nchild * sizeof(mst_node_t) + nkeys;

    mem = pds_alloc(&t->a, size ? size : 1);
    if (mem == NULL) {
        return -1;
    }

    e = (mst_entry_t *) mem;
    stubs = (mst_node_t *) (mem + count * sizeof(mst_entry_t));
    keys = (char *) (stubs + nchild);

    /* pass two */

    (void) mst_rd_begin(&r, p, n, &count);

    kp = keys;
    prev = NULL;
    plen = 0;

    for (i = 0; i < count; i++) {
        (void) mst_rd_entry(&r, &raw);

        if (raw.prefix) {
            memcpy(kp, prev, (size_t) raw.prefix);
        }

        memcpy(kp + raw.prefix, raw.k, raw.klen);
        klen = (size_t) raw.prefix + raw.klen;

        if (!pds_mst_key_valid(kp, klen)) {
            return -1;
        }

        if (prev != NULL) {
            /* ascending, and the prefix is the whole common prefix */

            if (mst_key_cmp(prev, plen, kp, klen) >= 0
                || pds_mst_common_prefix(prev, plen, kp, klen) != raw.prefix)
            {
                return -1;
            }
        }

        e[i].key = kp;
        e[i].len = klen;
        e[i].value = raw.v;
        e[i].right = NULL;

        if (raw.has_t) {
            e[i].right = stubs;
            mst_stub_init(stubs++, &raw.t, -1);
        }

        prev = kp;
        plen = klen;
        kp += klen;
    }

    node->left = NULL;

    if (has_l) {
        node->left = stubs;
        mst_stub_init(stubs, &l, -1);
    }

    node->e = e;
    node->n = count;
    node->cap = count;

    /* the layer: from the first key, checked against the parent's */

    if (count) {
        layer = pds_mst_key_layer(e[0].key, e[0].len);

        if (node->layer >= 0 && node->layer != layer) {
            return -1;
        }

        node->layer = layer;

    } else if (node->layer >= 0 && !has_l) {
        /* only the root may be empty */
        return -1;
    }

    if (node->layer >= 0) {
        if (node->layer == 0 && nchild) {
            return -1;
        }

        if (node->left) {
            node->left->layer = node->layer - 1;
        }

        for (i = 0; i < count; i++) {
            if (e[i].right) {
                e[i].right->layer = node->layer - 1;
            }
        }
    }

    return 0;
}


static int
mst_get_block(pds_mst_t *t, const pds_cid_t *cid, const uint8_t **p,
    size_t *n)
{
    if (t->src.get == NULL) {
        return -1;
    }

    return t->src.get(t->src.ctx, cid, p, n) == 0 ? 0 : -1;
}


/* loads a stub; layer: what its parent implies (-1: unknown) */
static int
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


/* the child's layer as implied by its parent */
#define mst_below(node)  ((node)->layer >= 0 ? (node)->layer - 1 : -1)


/*
 * The layer of a node without keys of its own is found below it (a root
 * like that is not canonical, but is read); -2 on error.
 */
static int
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


/* encoding */

static int
mst_encode(pds_buf_t *b, const mst_node_t *node)
{
    size_t              i, p;
    const mst_entry_t  *e, *prev;

    if (pds_buf_reserve(b, 48 + node->n * 96) != 0
        || pds_cbor_put_map(b, 2) != 0
        || pds_cbor_put_text(b, "e", 1) != 0
        || pds_cbor_put_array(b, node->n) != 0)
    {
        return -1;
    }

    prev = NULL;

    for (i = 0; i < node->n; i++) {
        e = &node->e[i];
        p = prev ? pds_mst_common_prefix(prev->key, prev->len, e->key, e->len)
                 : 0;

        if (pds_cbor_put_map(b, 4) != 0
            || pds_cbor_put_text(b, "k", 1) != 0
            || pds_cbor_put_bytes(b, (const uint8_t *) e->key + p, e->len - p)
               != 0
            || pds_cbor_put_text(b, "p", 1) != 0
            || pds_cbor_put_uint(b, p) != 0
            || pds_cbor_put_text(b, "t", 1) != 0
            || (e->right ? pds_cbor_put_cid(b, &e->right->cid)
                         : pds_cbor_put_null(b)) != 0
            || pds_cbor_put_text(b, "v", 1) != 0
            || pds_cbor_put_cid(b, &e->value) != 0)
        {
            return -1;
        }

        prev = e;
    }

    if (pds_cbor_put_text(b, "l", 1) != 0
        || (node->left ? pds_cbor_put_cid(b, &node->left->cid)
                       : pds_cbor_put_null(b)) != 0)
    {
        return -1;
    }

    return 0;
}


/* the tree */

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


/* put */

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


/* delete */

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


/* commit */

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


/* proofs */

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


/* walks */

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
