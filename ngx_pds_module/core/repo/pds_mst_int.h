/*
 * ngx_pds_module core, the Merkle Search Tree: what its files share
 * (core/repo/pds_mst*.c only; the public interface is pds_mst.h): the
 * in-memory form of the tree (see pds_mst.c).
 */

#ifndef PDS_MST_INT_H
#define PDS_MST_INT_H

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

/* the subtree left of entry i (i == n: the rightmost subtree) */
#define mst_slot(node, i)                                                    \
    ((i) == 0 ? (node)->left : (node)->e[(i) - 1].right)

#define mst_node_empty(node)  ((node)->n == 0 && (node)->left == NULL)

/* the child's layer as implied by its parent */
#define mst_below(node)  ((node)->layer >= 0 ? (node)->layer - 1 : -1)


/* pds_mst.c */
int mst_key_cmp(const char *a, size_t alen, const char *b, size_t blen);
mst_node_t *mst_node_new(pds_mst_t *t, int layer);
void mst_set_slot(mst_node_t *node, size_t i, mst_node_t *child);
size_t mst_lower_bound(const mst_node_t *node, const char *key, size_t len,
    int *found);
int mst_touch(pds_mst_t *t, mst_node_t *node);
int mst_reserve(pds_mst_t *t, mst_node_t *node, size_t extra);
int mst_insert_entry(pds_mst_t *t, mst_node_t *node, size_t i,
    const char *key, size_t len, const pds_cid_t *value, mst_node_t *right);
int mst_get_block(pds_mst_t *t, const pds_cid_t *cid, const uint8_t **p,
    size_t *n);
int mst_load(pds_mst_t *t, mst_node_t *node, int layer);
int mst_find_layer(pds_mst_t *t, mst_node_t *node, int depth);


/* pds_mst_codec.c */
int mst_rd_begin(mst_rd_t *r, const uint8_t *p, size_t n, size_t *count);
int mst_rd_entry(mst_rd_t *r, mst_raw_t *raw);
int mst_rd_end(mst_rd_t *r, pds_cid_t *l, int *has_l);
void mst_stub_init(mst_node_t *stub, const pds_cid_t *cid, int layer);
int mst_decode(pds_mst_t *t, mst_node_t *node, const uint8_t *p, size_t n);
int mst_encode(pds_buf_t *b, const mst_node_t *node);

#endif /* PDS_MST_INT_H */
