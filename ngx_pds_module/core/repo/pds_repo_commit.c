/*
 * ngx_pds_module core, the repository engine: signed commits,
 * and the set of blocks (by CID) that a commit's event carries.
 */

#include <string.h>

#include "pds_repo_int.h"
#include "pds_cbor.h"


size_t
pds_bset_hash(const pds_cid_t *cid)
{
    uint64_t  h;

    memcpy(&h, cid->digest, sizeof(h));
    return (size_t) (h ^ cid->codec);
}


int
pds_bset_init(pds_bset_t *s, const pds_alloc_t *a, size_t cap)
{
    memset(s, 0, sizeof(pds_bset_t));
    s->a = a;
    s->cap = cap;
    s->slots = pds_calloc(a, cap * sizeof(pds_bset_slot_t));
    s->order = pds_alloc(a, cap * sizeof(pds_cid_t));

    return (s->slots && s->order) ? 0 : -1;
}


pds_bset_slot_t *
pds_bset_find(pds_bset_t *s, const pds_cid_t *cid)
{
    size_t  i;

    i = pds_bset_hash(cid) & (s->cap - 1);

    while (s->slots[i].used) {
        if (pds_cid_equal(&s->slots[i].cid, cid)) {
            return &s->slots[i];
        }

        i = (i + 1) & (s->cap - 1);
    }

    return &s->slots[i];
}


static int
pds_bset_grow(pds_bset_t *s)
{
    size_t            i;
    pds_bset_t        n;
    pds_bset_slot_t  *slot;

    if (pds_bset_init(&n, s->a, s->cap * 2) != 0) {
        return -1;
    }

    for (i = 0; i < s->len; i++) {
        slot = pds_bset_find(s, &s->order[i]);
        *pds_bset_find(&n, &s->order[i]) = *slot;
        n.order[i] = s->order[i];
    }

    n.len = s->len;
    n.bytes = s->bytes;

    pds_free(s->a, s->slots);
    pds_free(s->a, s->order);
    *s = n;

    return 0;
}


/* 1 added, 0 already there, -1 no memory */
int
pds_bset_add(pds_bset_t *s, const pds_cid_t *cid, const uint8_t *p,
    size_t n, int copy)
{
    uint8_t          *c;
    pds_bset_slot_t  *slot;

    if ((s->len + 1) * 2 > s->cap && pds_bset_grow(s) != 0) {
        return -1;
    }

    slot = pds_bset_find(s, cid);
    if (slot->used) {
        return 0;
    }

    if (copy) {
        c = pds_alloc(s->a, n ? n : 1);
        if (c == NULL) {
            return -1;
        }

        memcpy(c, p, n);
        p = c;
    }

    slot->used = 1;
    slot->cid = *cid;
    slot->p = p;
    slot->n = n;

    s->order[s->len++] = *cid;
    s->bytes += n;

    return 1;
}


int
pds_collect_cb(void *ctx, const pds_cid_t *cid, const uint8_t *p, size_t n)
{
    pds_collect_t  *c = ctx;

    if (pds_bset_add(c->set, cid, p, n, c->copy) < 0) {
        c->error = PDS_REPO_ENOMEM;
        return -1;
    }

    return 0;
}


int
pds_commit_encode(pds_buf_t *b, const char *did, size_t did_len,
    const char *rev, const pds_cid_t *data, const uint8_t *sig)
{
    /* canonical order: did, rev, sig, data, prev, version */
    if (pds_cbor_put_map(b, sig ? 6 : 5) != 0
        || pds_cbor_put_str(b, "did") != 0
        || pds_cbor_put_text(b, did, did_len) != 0
        || pds_cbor_put_str(b, "rev") != 0
        || pds_cbor_put_str(b, rev) != 0)
    {
        return -1;
    }

    if (sig
        && (pds_cbor_put_str(b, "sig") != 0
            || pds_cbor_put_bytes(b, sig, PDS_SIG_LEN) != 0))
    {
        return -1;
    }

    if (pds_cbor_put_str(b, "data") != 0
        || pds_cbor_put_cid(b, data) != 0
        || pds_cbor_put_str(b, "prev") != 0
        || pds_cbor_put_null(b) != 0
        || pds_cbor_put_str(b, "version") != 0
        || pds_cbor_put_uint(b, 3) != 0)
    {
        return -1;
    }

    return 0;
}


/* signs {did, version 3, data, rev, prev: null}; the block goes in *out */
int
pds_commit_sign(const pds_alloc_t *a, const pds_key_t *key, const char *did,
    size_t did_len, const char *rev, const pds_cid_t *data, pds_buf_t *out,
    pds_cid_t *cid)
{
    int        rc;
    uint8_t    sig[PDS_SIG_LEN];
    pds_buf_t  unsigned_;

    pds_buf_init(&unsigned_, a);

    if (pds_commit_encode(&unsigned_, did, did_len, rev, data, NULL) != 0) {
        pds_buf_free(&unsigned_);
        return PDS_REPO_ENOMEM;
    }

    rc = pds_key_sign(key, unsigned_.data, unsigned_.len, sig);
    pds_buf_free(&unsigned_);

    if (rc != 0) {
        return PDS_REPO_ECRYPTO;
    }

    pds_buf_init(out, a);

    if (pds_commit_encode(out, did, did_len, rev, data, sig) != 0) {
        return PDS_REPO_ENOMEM;
    }

    pds_cid_of_cbor(cid, out->data, out->len);

    return 0;
}
