/*
 * ngx_pds_module core, the Merkle Search Tree: node blocks: the
 * canonical DAG-CBOR encoding of a node, and its strict decoding into the
 * in-memory form (pds_mst_int.h).
 */

#include <string.h>

#include "pds_mst_int.h"
#include "pds_cbor.h"


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


int
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


int
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


int
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


void
mst_stub_init(mst_node_t *stub, const pds_cid_t *cid, int layer)
{
    memset(stub, 0, sizeof(mst_node_t));
    stub->cid = *cid;
    stub->layer = layer;
    stub->stored = 1;
}


/* what pass one of a decode learns: the sizes of the node's parts */
typedef struct {
    size_t       count;             /* entries */
    size_t       nkeys;             /* bytes of the full keys */
    size_t       nchild;            /* subtrees */
    int          has_l;
    pds_cid_t    l;                 /* the left subtree */
} mst_sizes_t;


/* pass one: the structure, the prefix lengths, the sizes */
static int
mst_decode_sizes(const uint8_t *p, size_t n, mst_sizes_t *sz)
{
    size_t      i, plen, klen;
    mst_rd_t    r;
    mst_raw_t   raw;

    if (mst_rd_begin(&r, p, n, &sz->count) != 0) {
        return -1;
    }

    sz->nkeys = 0;
    sz->nchild = 0;
    plen = 0;

    for (i = 0; i < sz->count; i++) {
        if (mst_rd_entry(&r, &raw) != 0 || raw.prefix > plen
            || (i == 0 && raw.prefix != 0))
        {
            return -1;
        }

        klen = (size_t) raw.prefix + raw.klen;
        if (klen == 0 || klen > PDS_MST_KEY_MAX) {
            return -1;
        }

        sz->nkeys += klen;
        sz->nchild += raw.has_t;
        plen = klen;
    }

    if (mst_rd_end(&r, &sz->l, &sz->has_l) != 0) {
        return -1;
    }

    sz->nchild += sz->has_l;

    return 0;
}


/*
 * Pass two: the entries into e, their full keys into keys, their
 * subtrees into stubs (the left one last).  Keys must be valid, strictly
 * ascending and compressed exactly as the encoder would.
 */
static int
mst_decode_fill(mst_node_t *node, const uint8_t *p, size_t n,
    const mst_sizes_t *sz, mst_entry_t *e, mst_node_t *stubs, char *keys)
{
    char       *kp, *prev;
    size_t      i, count, plen, klen;
    mst_rd_t    r;
    mst_raw_t   raw;

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

    if (sz->has_l) {
        node->left = stubs;
        mst_stub_init(stubs, &sz->l, -1);
    }

    node->e = e;
    node->n = count;
    node->cap = count;

    return 0;
}


/* the layer: from the first key, checked against the parent's */
static int
mst_decode_layer(mst_node_t *node, const mst_sizes_t *sz)
{
    int     layer;
    size_t  i;

    if (node->n) {
        layer = pds_mst_key_layer(node->e[0].key, node->e[0].len);

        if (node->layer >= 0 && node->layer != layer) {
            return -1;
        }

        node->layer = layer;

    } else if (node->layer >= 0 && !sz->has_l) {
        /* only the root may be empty */
        return -1;
    }

    if (node->layer >= 0) {
        if (node->layer == 0 && sz->nchild) {
            return -1;
        }

        if (node->left) {
            node->left->layer = node->layer - 1;
        }

        for (i = 0; i < node->n; i++) {
            if (node->e[i].right) {
                node->e[i].right->layer = node->layer - 1;
            }
        }
    }

    return 0;
}


/*
 * Fills node from its block.  Pass one checks the structure and sizes the
 * keys and subtrees, pass two fills one allocation holding the entries,
 * the keys and the subtree stubs.
 */
int
mst_decode(pds_mst_t *t, mst_node_t *node, const uint8_t *p, size_t n)
{
    char         *keys;
    size_t        size;
    uint8_t      *mem;
    mst_sizes_t   sz;
    mst_node_t   *stubs;
    mst_entry_t  *e;

    if (mst_decode_sizes(p, n, &sz) != 0) {
        return -1;
    }

    size = sz.count * sizeof(mst_entry_t) + sz.nchild * sizeof(mst_node_t)
           + sz.nkeys;

    mem = pds_alloc(&t->a, size ? size : 1);
    if (mem == NULL) {
        return -1;
    }

    e = (mst_entry_t *) mem;
    stubs = (mst_node_t *) (mem + sz.count * sizeof(mst_entry_t));
    keys = (char *) (stubs + sz.nchild);

    if (mst_decode_fill(node, p, n, &sz, e, stubs, keys) != 0) {
        return -1;
    }

    return mst_decode_layer(node, &sz);
}


int
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
