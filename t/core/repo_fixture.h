/*
 * What the repository engine's tests share (test_repo.c, test_repo_read.c):
 * a store with two repos, A and B, their keys, and helpers to write
 * records, read roots, blocks and events, and read CARs back.  Test
 * support only: not part of the core.
 */

#ifndef PDS_T_REPO_FIXTURE_H
#define PDS_T_REPO_FIXTURE_H

#include <stddef.h>
#include <unistd.h>

#include "tap.h"

#include "pds_car.h"
#include "pds_cbor.h"
#include "pds_keys.h"
#include "pds_mst.h"
#include "pds_repo.h"
#include "pds_store.h"
#include "pds_syntax.h"


#define COLL  "app.bsky.feed.post"

static const char  did_a[] = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa";
static const char  did_b[] = "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb";

static pds_store_t  *store;
static pds_key_t    *key_a, *key_b;
static char          dk_a[PDS_DID_KEY_MAX];
static uint64_t      uid_a, uid_b;
static pds_arena_t  *arena;
static pds_alloc_t   A;


/* {"text": text, "$type": COLL} */
static TAP_UNUSED pds_buf_t
record(const char *text)
{
    pds_buf_t  b;

    pds_buf_init(&b, &A);
    pds_cbor_put_map(&b, 2);
    pds_cbor_put_str(&b, "text");
    pds_cbor_put_str(&b, text);
    pds_cbor_put_str(&b, "$type");
    pds_cbor_put_str(&b, COLL);

    return b;
}


static TAP_UNUSED pds_repo_op_t
op_make(pds_repo_action_t action, const char *coll, const char *rkey, const char *text)
{
    pds_buf_t      b;
    pds_repo_op_t  op;

    memset(&op, 0, sizeof(op));
    op.action = action;
    op.collection = coll;
    op.collection_len = strlen(coll);
    op.rkey = rkey;
    op.rkey_len = strlen(rkey);

    if (text) {
        b = record(text);
        op.record = b.data;
        op.record_len = b.len;
    }

    return op;
}


static TAP_UNUSED pds_repo_write_t
req_make(uint64_t uid, pds_key_t *key, pds_repo_op_t *ops, size_t n)
{
    pds_repo_write_t  r;

    memset(&r, 0, sizeof(r));
    r.uid = uid;
    r.key = key;
    r.ops = ops;
    r.nops = n;

    return r;
}


/* one request alone in its transaction; returns its status */
static TAP_UNUSED int
write1(pds_repo_write_t *r)
{
    /* a failed transaction leaves its error in the request */
    if (pds_repo_write_batch(store, r, 1) != 0 && r->status >= 0) {
        return -100;
    }

    return r->status;
}


static TAP_UNUSED int
root_of(uint64_t uid, pds_repo_root_t *root)
{
    int       rc;
    MDB_txn  *txn;

    pds_store_read_begin(store, &txn);
    rc = pds_repo_get_root(store, txn, uid, root);
    root->did = NULL;
    mdb_txn_abort(txn);

    return rc;
}


static TAP_UNUSED int
verify(uint64_t uid, char *err)
{
    int       rc;
    MDB_txn  *txn;

    pds_store_read_begin(store, &txn);
    rc = pds_repo_verify(store, txn, uid, uid == uid_a ? dk_a : NULL, err,
                         256);
    if (rc == 0) {
        rc = pds_repo_verify_events(store, txn, err, 256);
    }

    mdb_txn_abort(txn);

    return rc;
}


static TAP_UNUSED uint64_t
last_seq(void)
{
    uint64_t  seq;
    MDB_txn  *txn;

    pds_store_read_begin(store, &txn);
    pds_store_seq_last(store, txn, &seq);
    mdb_txn_abort(txn);

    return seq;
}


static TAP_UNUSED int
block_exists(uint64_t uid, const pds_cid_t *cid)
{
    int             rc;
    size_t          n;
    MDB_txn        *txn;
    const uint8_t  *p;

    pds_store_read_begin(store, &txn);
    rc = pds_repo_get_block(store, txn, uid, cid, &p, &n);
    mdb_txn_abort(txn);

    return rc == 0;
}


/* decodes event seq: header and body trees (from the arena) */
static TAP_UNUSED int
event(uint64_t seq, pds_cbor_t **h, pds_cbor_t **b)
{
    int             rc;
    size_t          n, used;
    MDB_txn        *txn;
    const uint8_t  *p;

    pds_store_read_begin(store, &txn);
    rc = pds_repo_event_get(store, txn, seq, &p, &n);

    if (rc == 0) {
        rc = pds_cbor_decode_prefix(p, n, &A, h, &used);
    }

    if (rc == 0) {
        rc = pds_cbor_decode(p + used, n - used, &A, b);
    }

    mdb_txn_abort(txn);

    return rc;
}


static TAP_UNUSED const char *
str_of(const pds_cbor_t *m, const char *k)
{
    const pds_cbor_t  *v = pds_cbor_map_get(m, k);

    return (v && v->type == PDS_CBOR_STRING) ? v->u.str.data : NULL;
}


/* blocks of a CAR, kept for a block source */
typedef struct {
    pds_cid_t        cid[4096];
    const uint8_t   *p[4096];
    size_t           n[4096];
    size_t           len;
} carblocks_t;


static TAP_UNUSED int
carblocks_add(void *ctx, const pds_cid_t *cid, const uint8_t *p, size_t n)
{
    uint8_t      *copy;
    carblocks_t  *c = ctx;

    if (c->len == 4096) {
        return -1;
    }

    copy = pds_alloc(&A, n + 1);
    memcpy(copy, p, n);
    c->cid[c->len] = *cid;
    c->p[c->len] = copy;
    c->n[c->len] = n;
    c->len++;

    return 0;
}


static TAP_UNUSED int
carblocks_get(void *ctx, const pds_cid_t *cid, const uint8_t **p, size_t *n)
{
    size_t        i;
    carblocks_t  *c = ctx;

    for (i = 0; i < c->len; i++) {
        if (pds_cid_equal(&c->cid[i], cid)) {
            *p = c->p[i];
            *n = c->n[i];
            return 0;
        }
    }

    return 1;
}


static TAP_UNUSED int
carblocks_has(carblocks_t *c, const pds_cid_t *cid)
{
    const uint8_t  *p;
    size_t          n;

    return carblocks_get(c, cid, &p, &n) == 0;
}


/* reads a whole CAR into c; the root in *root; 0 or a CAR error */
static TAP_UNUSED int
car_read(const uint8_t *p, size_t n, carblocks_t *c, pds_cid_t *root,
    size_t *nroots)
{
    int               rc;
    pds_car_reader_t  r;

    c->len = 0;
    pds_car_reader_init(&r, &A, 0, 0, carblocks_add, c);
    rc = pds_car_reader_feed(&r, p, n);

    if (rc == 0) {
        rc = pds_car_reader_finish(&r);
    }

    *nroots = r.nroots;
    if (r.nroots) {
        *root = r.roots[0];
    }

    pds_car_reader_free(&r);

    return rc;
}


typedef struct {
    char    rkeys[64][16];
    size_t  n;
} list_t;


static TAP_UNUSED int
list_cb(void *ctx, const char *rkey, size_t rlen, const pds_cid_t *cid,
    const uint8_t *p, size_t n)
{
    list_t  *l = ctx;

    (void) cid;
    (void) p;
    (void) n;

    if (l->n < 64 && rlen < 16) {
        memcpy(l->rkeys[l->n], rkey, rlen);
        l->rkeys[l->n][rlen] = '\0';
        l->n++;
    }

    return 0;
}


static TAP_UNUSED int
coll_cb(void *ctx, const char *name, size_t len)
{
    list_t  *l = ctx;

    if (l->n < 64 && len < 16) {
        memcpy(l->rkeys[l->n], name, len);
        l->rkeys[l->n][len] = '\0';
    }

    l->n++;
    return 0;
}


typedef struct {
    pds_buf_t   buf;
} out_t;


/* a CAR writer's output into a buffer */
static TAP_UNUSED int
out_cb(void *ctx, const uint8_t *p, size_t n)
{
    out_t  *o = ctx;

    return pds_buf_append(&o->buf, p, n);
}


/* repos A and B, in one transaction of the open store */
static TAP_UNUSED int
fixture_repos(void)
{
    int                rc;
    MDB_txn           *txn;
    pds_repo_write_t   res;

    if (pds_store_write_begin(store, &txn) != 0) {
        return -1;
    }

    rc = pds_repo_create(store, txn, did_a, strlen(did_a), key_a, &uid_a,
                         &res);
    if (rc == 0) {
        rc = pds_repo_create(store, txn, did_b, strlen(did_b), key_b,
                             &uid_b, &res);
    }

    if (rc != 0) {
        mdb_txn_abort(txn);
        return -1;
    }

    return mdb_txn_commit(txn) == 0 ? 0 : -1;
}


/* the store, the keys and the arena of a test program (dir: a mkdtemp) */
static TAP_UNUSED int
fixture_begin(char *dir)
{
    arena = pds_arena_create();
    A = pds_arena_allocator(arena);

    if (mkdtemp(dir) == NULL) {
        return -1;
    }

    key_a = pds_key_generate(PDS_KEY_K256);
    key_b = pds_key_generate(PDS_KEY_K256);
    pds_key_did_key(key_a, dk_a, sizeof(dk_a));

    return (key_a && key_b) ? 0 : -1;
}


static TAP_UNUSED void
fixture_end(const char *dir)
{
    char  cmd[128];

    pds_store_close(store);
    pds_key_free(key_a);
    pds_key_free(key_b);
    pds_arena_destroy(arena);

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0) {
        tap_diag("cannot remove %s", dir);
    }
}

#endif /* PDS_T_REPO_FIXTURE_H */
