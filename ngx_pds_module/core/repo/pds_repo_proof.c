/*
 * ngx_pds_module core: a getRecord proof checked (see pds_repo_proof.h).
 */

#include <string.h>

#include "pds_repo_proof.h"
#include "pds_repo_int.h"
#include "pds_mst_int.h"
#include "pds_car.h"
#include "pds_cbor.h"
#include "pds_keys.h"
#include "pds_syntax.h"


#define PDS_PROOF_DEPTH_MAX  64
#define PDS_PROOF_KEY_MAX    (512 + 1)


typedef struct {
    pds_cid_t        cid;
    const uint8_t   *p;
    size_t           n;
} pds_proof_block_t;

typedef struct {
    pds_proof_block_t  *b;
    size_t              n;
    int                 full;
} pds_proof_t;


static int
pds_proof_block(void *ctx, const pds_cid_t *cid, const uint8_t *p, size_t n)
{
    pds_proof_t  *pr = ctx;

    if (pr->n == PDS_REPO_PROOF_BLOCKS_MAX) {
        pr->full = 1;
        return -1;
    }

    pr->b[pr->n].cid = *cid;
    pr->b[pr->n].p = p;
    pr->b[pr->n].n = n;
    pr->n++;

    return 0;
}


static const pds_proof_block_t *
pds_proof_find(const pds_proof_t *pr, const pds_cid_t *cid)
{
    size_t  i;

    for (i = 0; i < pr->n; i++) {
        if (pds_cid_equal(&pr->b[i].cid, cid)) {
            return &pr->b[i];
        }
    }

    return NULL;
}


/* the commit: of did, version 3, signed with did_key; *data its MST root */
static int
pds_proof_commit(const pds_alloc_t *a, const pds_proof_block_t *blk,
    const char *did, const char *did_key, pds_cid_t *data, const char **why)
{
    int                ok;
    char               rev[64];
    pds_buf_t          b;
    pds_cbor_t        *c;
    const pds_cbor_t  *f_did, *f_ver, *f_data, *f_rev, *f_prev, *f_sig;

    if (pds_cbor_decode(blk->p, blk->n, a, &c) != 0
        || c->type != PDS_CBOR_MAP)
    {
        *why = "the commit does not decode";
        return -1;
    }

    f_did = pds_cbor_map_get(c, "did");
    f_ver = pds_cbor_map_get(c, "version");
    f_data = pds_cbor_map_get(c, "data");
    f_rev = pds_cbor_map_get(c, "rev");
    f_prev = pds_cbor_map_get(c, "prev");
    f_sig = pds_cbor_map_get(c, "sig");

    if (f_ver == NULL || f_ver->type != PDS_CBOR_INT || f_ver->u.integer != 3
        || f_did == NULL || f_did->type != PDS_CBOR_STRING
        || f_data == NULL || f_data->type != PDS_CBOR_CID
        || f_rev == NULL || f_rev->type != PDS_CBOR_STRING
        || f_rev->u.str.len >= sizeof(rev)
        || f_sig == NULL || f_sig->type != PDS_CBOR_BYTES
        || f_sig->u.bytes.len != PDS_SIG_LEN
        || (f_prev != NULL && f_prev->type != PDS_CBOR_NULL))
    {
        *why = "the commit is not a version 3 commit";
        return -1;
    }

    if (f_did->u.str.len != strlen(did)
        || memcmp(f_did->u.str.data, did, f_did->u.str.len) != 0)
    {
        *why = "the commit is another repository's";
        return -1;
    }

    memcpy(rev, f_rev->u.str.data, f_rev->u.str.len);
    rev[f_rev->u.str.len] = '\0';
    *data = f_data->u.cid;

    if (did_key == NULL) {
        return 0;                       /* tests and fuzzing only */
    }

    /* the signature covers the commit without its sig field */
    pds_buf_init(&b, a);
    ok = pds_commit_encode(&b, did, strlen(did), rev, data, NULL) == 0
         && pds_did_key_verify(did_key, strlen(did_key), b.data, b.len,
                               f_sig->u.bytes.data, PDS_SIG_LEN,
                               PDS_SIG_STRICT);
    pds_buf_free(&b);

    if (!ok) {
        *why = "the commit's signature does not verify";
        return -1;
    }

    return 0;
}


/* the value of key in the tree rooted at root, from the proof's nodes */
static int
pds_proof_lookup(const pds_proof_t *pr, const pds_cid_t *root,
    const char *key, size_t len, pds_cid_t *value)
{
    int                       depth, has_l, cmp;
    size_t                    count, i, klen;
    mst_rd_t                  r;
    mst_raw_t                 raw, prev;
    pds_cid_t                 node, l, next;
    const pds_proof_block_t  *blk;
    char                      k[PDS_PROOF_KEY_MAX];

    node = *root;

    for (depth = 0; depth < PDS_PROOF_DEPTH_MAX; depth++) {
        blk = pds_proof_find(pr, &node);
        if (blk == NULL || mst_rd_begin(&r, blk->p, blk->n, &count) != 0) {
            return -1;
        }

        klen = 0;
        cmp = 1;
        memset(&prev, 0, sizeof(prev));

        for (i = 0; i < count; i++) {
            if (mst_rd_entry(&r, &raw) != 0 || raw.prefix > klen
                || raw.prefix + raw.klen >= sizeof(k))
            {
                return -1;
            }
            memcpy(k + raw.prefix, raw.k, raw.klen);
            klen = (size_t) raw.prefix + raw.klen;

            cmp = mst_key_cmp(key, len, k, klen);
            if (cmp <= 0) {
                break;
            }
            prev = raw;
        }

        if (i < count && cmp == 0) {
            *value = raw.v;
            return 0;
        }

        if (i == 0) {
            /* left of the first entry: the node's "l", read at its end */
            for (i = 1; i < count; i++) {
                if (mst_rd_entry(&r, &raw) != 0) {
                    return -1;
                }
            }
            if (mst_rd_end(&r, &l, &has_l) != 0 || !has_l) {
                return -1;
            }
            next = l;

        } else if (!prev.has_t) {
            return -1;

        } else {
            next = prev.t;
        }

        node = next;
    }

    return -1;
}


int
pds_repo_proof_record(const pds_alloc_t *a, const uint8_t *car,
    size_t car_n, const char *did, const char *did_key,
    const char *collection, const char *rkey, const uint8_t **rec,
    size_t *rec_n, pds_cid_t *cid, const char **why)
{
    int                       rc;
    size_t                    len;
    pds_cid_t                 data;
    pds_cbor_t               *v;
    const pds_cbor_t         *type;
    pds_car_reader_t          r;
    pds_proof_t               pr;
    const pds_proof_block_t  *blk;
    char                      key[PDS_PROOF_KEY_MAX];

    len = strlen(collection) + 1 + strlen(rkey);
    if (len >= sizeof(key)) {
        *why = "the record key is too long";
        return -1;
    }
    memcpy(key, collection, strlen(collection));
    key[strlen(collection)] = '/';
    memcpy(key + strlen(collection) + 1, rkey, strlen(rkey) + 1);

    pr.b = pds_alloc(a, PDS_REPO_PROOF_BLOCKS_MAX * sizeof(pds_proof_block_t));
    pr.n = 0;
    pr.full = 0;
    if (pr.b == NULL) {
        *why = "out of memory";
        return -1;
    }

    /* fed whole: the blocks the callback sees point into car */
    pds_car_reader_init(&r, a, 0, car_n, pds_proof_block, &pr);
    rc = pds_car_reader_feed(&r, car, car_n);
    if (rc == 0) {
        rc = pds_car_reader_finish(&r);
    }
    if (rc != 0 || r.nroots < 1) {
        pds_car_reader_free(&r);
        pds_free(a, pr.b);
        *why = pr.full ? "the proof has too many blocks"
                       : "the proof is not a well-formed CAR";
        return -1;
    }

    blk = pds_proof_find(&pr, &r.roots[0]);
    pds_car_reader_free(&r);

    rc = -1;
    *why = "the commit is missing";

    if (blk != NULL
        && pds_proof_commit(a, blk, did, did_key, &data, why) == 0)
    {
        *why = "the record is not in the proof";

        if (pds_proof_lookup(&pr, &data, key, len, cid) == 0
            && (blk = pds_proof_find(&pr, cid)) != NULL)
        {
            *why = "the record is not of its collection's type";

            if (pds_cbor_decode(blk->p, blk->n, a, &v) == 0
                && v->type == PDS_CBOR_MAP
                && (type = pds_cbor_map_get(v, "$type")) != NULL
                && type->type == PDS_CBOR_STRING
                && strcmp(type->u.str.data, collection) == 0)
            {
                *rec = blk->p;
                *rec_n = blk->n;
                rc = 0;
            }
        }
    }

    pds_free(a, pr.b);
    return rc;
}
