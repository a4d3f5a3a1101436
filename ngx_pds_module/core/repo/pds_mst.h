/*
 * ngx_pds_module core: the Merkle Search Tree of an atproto repository.
 *
 * Keys are "<collection>/<rkey>" byte strings, values are record CIDs.  A
 * key's layer is the number of leading zero bits of SHA-256(key) divided
 * by two (fanout 4).  Nodes are DAG-CBOR {l: CID|null, e: [{p, k, v, t}]}
 * with key prefix compression; the shape depends only on the set of keys.
 *
 * A pds_mst_t is a working copy of one tree: nodes are loaded lazily from a
 * block source when a read or write needs them, modified in memory, and
 * serialized by pds_mst_commit(), which reports the new node blocks and the
 * node CIDs that dropped out of the tree.  A write therefore touches only
 * the O(log n) nodes on the paths of the keys it changes.
 *
 * Memory comes from the allocator given at load (an arena: nothing is freed
 * before the arena dies).  Not thread-safe: one tree, one thread.
 */

#ifndef PDS_MST_H
#define PDS_MST_H

#include <stddef.h>
#include <stdint.h>

#include "pds_mem.h"
#include "pds_cid.h"


#define PDS_MST_KEY_MAX  1024


/*
 * Where blocks come from.  get() points *p / *n at the bytes of the block
 * (valid as long as the source, e.g. an LMDB transaction, lives) and returns
 * 0; 1 if the block is missing; -1 on error.
 */
typedef struct {
    int    (*get)(void *ctx, const pds_cid_t *cid, const uint8_t **p,
               size_t *n);
    void    *ctx;
} pds_blocksource_t;


/* Receives a block: return 0 to go on, anything else stops with that. */
typedef int (*pds_block_cb)(void *ctx, const pds_cid_t *cid,
    const uint8_t *p, size_t n);

/* Receives a leaf during a walk, in key order. */
typedef int (*pds_leaf_cb)(void *ctx, const char *key, size_t len,
    const pds_cid_t *value);


typedef struct pds_mst_s  pds_mst_t;


typedef struct {
    pds_cid_t   *removed;     /* node CIDs no longer in the tree */
    size_t       nremoved;
} pds_mst_diff_t;


/* The layer of a key: leading zero bits of SHA-256(key) / 2. */
int pds_mst_key_layer(const char *key, size_t len);

/* 1 if key is a valid MST key: "<collection>/<rkey>", allowed bytes. */
int pds_mst_key_valid(const char *key, size_t len);

/* Length of the common prefix of two keys, in bytes. */
size_t pds_mst_common_prefix(const char *a, size_t alen, const char *b,
    size_t blen);

/* A tree rooted at root (NULL: the empty tree); NULL on no memory. */
pds_mst_t *pds_mst_load(const pds_alloc_t *a, const pds_blocksource_t *src,
    const pds_cid_t *root);

/* 0 found (*value set), 1 absent, -1 error (missing block, bad node) */
int pds_mst_get(pds_mst_t *t, const char *key, size_t len, pds_cid_t *value);

/* Insert or replace: 0, or -1 on error. */
int pds_mst_put(pds_mst_t *t, const char *key, size_t len,
    const pds_cid_t *value);

/* 0 deleted, 1 absent, -1 error */
int pds_mst_delete(pds_mst_t *t, const char *key, size_t len);

/*
 * Serializes every changed node: sets *root to the new root CID (the CID of
 * the empty node for an empty tree), calls emit for each new node block,
 * and fills diff (allocated from the tree's allocator) with the CIDs of
 * node blocks of the loaded tree that are no longer part of it.  The tree
 * stays usable: further writes and another commit may follow.
 *
 * "New" and "removed" are relative to the previous commit (or the load):
 * writes that cancel out emit nothing and remove nothing.  emit and diff
 * may be NULL.  A non-zero result of emit stops and is returned; the tree
 * then no longer matches the store and should be dropped.  A write that
 * fails on a missing or bad block leaves the tree as it was; after a
 * failed allocation the tree refuses further use (-1).
 */
int pds_mst_commit(pds_mst_t *t, pds_cid_t *root, pds_block_cb emit,
    void *ctx, pds_mst_diff_t *diff);

/*
 * The covering proof of key in the tree as it is now (after commit): every
 * node block needed to show that key is present with its value or absent,
 * and to invert the operation on it (the neighbouring nodes a deletion or
 * insertion merged or split), as the sync v1.1 firehose requires.  Each
 * block is given to emit once per call.  The union over the keys of a
 * commit's ops is what the firehose must carry besides the new blocks: the
 * path to the key's position and, where the key sits, the nearest nodes of
 * the subtrees either side of it.  Fails (-1) while writes are not yet
 * committed; emit's non-zero result is returned.
 */
int pds_mst_proof(pds_mst_t *t, const char *key, size_t len,
    pds_block_cb emit, void *ctx);

/*
 * In-order walk over the leaves with key >= from (NULL: all); a non-zero
 * result of leaf stops the walk and is returned.
 */
int pds_mst_walk(pds_mst_t *t, const char *from, size_t from_len,
    pds_leaf_cb leaf, void *ctx);

/*
 * Every node block of the tree (for full CAR export), parents first (depth
 * first, in key order).  Subtrees not loaded are read from the source and
 * passed on as they are, without being decoded into the tree.  Fails (-1)
 * while writes are not yet committed.
 */
int pds_mst_nodes(pds_mst_t *t, pds_block_cb emit, void *ctx);

/*
 * A depth-first walk over the tree rooted at root, read from src, that
 * checks node by node that it is the canonical tree of its leaves, without
 * holding it in memory (a key buffer per layer): strict node blocks, every
 * key at the layer its hash gives, subtrees one layer below, keys
 * ascending across the walk, prefixes exact, no empty node but the root of
 * the empty tree, a root with entries (pds_mst_check.c).  node (may be
 * NULL) sees each node block, parents first; leaf (may be NULL) each leaf
 * in key order.  0; -1 when the tree is refused, with the reason in err;
 * or the non-zero result of a callback, which stops the walk.  Blocks
 * from src must stay valid for the whole walk.
 */
int pds_mst_check_walk(const pds_blocksource_t *src, const pds_cid_t *root,
    pds_block_cb node, pds_leaf_cb leaf, void *ctx, char *err,
    size_t err_len);
/*
 * The same walk resumed after the leaf after (a key given by an earlier
 * walk that its leaf callback stopped): leaves after it, and the node
 * blocks not given before (those not on the way from the root to it).
 */
int pds_mst_check_walk_after(const pds_blocksource_t *src,
    const pds_cid_t *root, const char *after, size_t after_len,
    pds_block_cb node, pds_leaf_cb leaf, void *ctx, char *err,
    size_t err_len);

#endif /* PDS_MST_H */
