/*
 * ngx_pds_module core: strict DAG-CBOR, the writing side: the streaming
 * encoder (pds_cbor_put_*), the canonical tree encoder, and building and
 * freeing trees.  The decoder is in pds_cbor.c.
 */

#include <stdlib.h>
#include <string.h>

#include "pds_cbor.h"


static int pds_cbor_enc(const pds_cbor_t *v, pds_buf_t *b, int depth);
static void pds_cbor_free_contents(const pds_alloc_t *a, pds_cbor_t *v);


/* streaming encoder */

static int
pds_cbor_put_head(pds_buf_t *b, unsigned major, uint64_t v)
{
    uint8_t  *p, m;

    if (b->cap - b->len < 9 && pds_buf_reserve(b, 9) != 0) {
        return -1;
    }

    p = b->data + b->len;
    m = (uint8_t) (major << 5);

    if (v < 24) {
        p[0] = (uint8_t) (m | v);
        b->len += 1;

    } else if (v <= 0xff) {
        p[0] = m | 24;
        p[1] = (uint8_t) v;
        b->len += 2;

    } else if (v <= 0xffff) {
        p[0] = m | 25;
        p[1] = (uint8_t) (v >> 8);
        p[2] = (uint8_t) v;
        b->len += 3;

    } else if (v <= 0xffffffffULL) {
        p[0] = m | 26;
        p[1] = (uint8_t) (v >> 24);
        p[2] = (uint8_t) (v >> 16);
        p[3] = (uint8_t) (v >> 8);
        p[4] = (uint8_t) v;
        b->len += 5;

    } else {
        p[0] = m | 27;
        p[1] = (uint8_t) (v >> 56);
        p[2] = (uint8_t) (v >> 48);
        p[3] = (uint8_t) (v >> 40);
        p[4] = (uint8_t) (v >> 32);
        p[5] = (uint8_t) (v >> 24);
        p[6] = (uint8_t) (v >> 16);
        p[7] = (uint8_t) (v >> 8);
        p[8] = (uint8_t) v;
        b->len += 9;
    }

    return 0;
}


int
pds_cbor_put_map(pds_buf_t *b, size_t n)
{
    return pds_cbor_put_head(b, 5, n);
}


int
pds_cbor_put_array(pds_buf_t *b, size_t n)
{
    return pds_cbor_put_head(b, 4, n);
}


int
pds_cbor_put_uint(pds_buf_t *b, uint64_t v)
{
    return pds_cbor_put_head(b, 0, v);
}


int
pds_cbor_put_int(pds_buf_t *b, int64_t v)
{
    if (v >= 0) {
        return pds_cbor_put_head(b, 0, (uint64_t) v);
    }

    /* -1 - v without overflow for INT64_MIN */
    return pds_cbor_put_head(b, 1, ~(uint64_t) v);
}


int
pds_cbor_put_text(pds_buf_t *b, const char *s, size_t len)
{
    if (pds_cbor_put_head(b, 3, len) != 0) {
        return -1;
    }

    return pds_buf_append(b, s, len);
}


int
pds_cbor_put_str(pds_buf_t *b, const char *s)
{
    return pds_cbor_put_text(b, s, strlen(s));
}


int
pds_cbor_put_bytes(pds_buf_t *b, const uint8_t *p, size_t n)
{
    if (pds_cbor_put_head(b, 2, n) != 0) {
        return -1;
    }

    return pds_buf_append(b, p, n);
}


int
pds_cbor_put_text_head(pds_buf_t *b, size_t n)
{
    return pds_cbor_put_head(b, 3, n);
}


int
pds_cbor_put_bytes_head(pds_buf_t *b, size_t n)
{
    return pds_cbor_put_head(b, 2, n);
}


int
pds_cbor_put_bool(pds_buf_t *b, int v)
{
    return pds_buf_putc(b, v ? 0xf5 : 0xf4);
}


int
pds_cbor_put_null(pds_buf_t *b)
{
    return pds_buf_putc(b, 0xf6);
}


int
pds_cbor_put_cid(pds_buf_t *b, const pds_cid_t *cid)
{
    uint8_t  *p;

    /* tag 42, bytes(37), 0x00 multibase prefix, 36-byte CID */

    if (pds_buf_reserve(b, 5 + PDS_CID_BIN_LEN) != 0) {
        return -1;
    }

    p = b->data + b->len;
    p[0] = 0xd8;
    p[1] = 0x2a;
    p[2] = 0x58;
    p[3] = PDS_CID_BIN_LEN + 1;
    p[4] = 0x00;
    pds_cid_to_bytes(cid, p + 5);
    b->len += 5 + PDS_CID_BIN_LEN;

    return 0;
}


/* tree encoder */

static int
pds_cbor_pair_cmp(const void *x, const void *y)
{
    const pds_cbor_pair_t  *a = *(const pds_cbor_pair_t *const *) x;
    const pds_cbor_pair_t  *b = *(const pds_cbor_pair_t *const *) y;

    return pds_cbor_key_cmp(a->key, a->key_len, b->key, b->key_len);
}


static int
pds_cbor_enc_map(const pds_cbor_t *v, pds_buf_t *b, int depth)
{
    int                      rc, sorted;
    size_t                   i, n;
    const pds_cbor_pair_t   *pairs, **order;

    n = v->u.map.len;
    pairs = v->u.map.pairs;

    for (i = 0; i < n; i++) {
        if (!pds_cbor_utf8_valid((const uint8_t *) pairs[i].key,
                                 pairs[i].key_len))
        {
            return PDS_CBOR_EUTF8;
        }
    }

    sorted = 1;

    for (i = 1; i < n; i++) {
        rc = pds_cbor_key_cmp(pairs[i - 1].key, pairs[i - 1].key_len,
                              pairs[i].key, pairs[i].key_len);
        if (rc >= 0) {
            sorted = 0;
            break;
        }
    }

    if (pds_cbor_put_head(b, 5, n) != 0) {
        return PDS_CBOR_ENOMEM;
    }

    if (sorted) {
        for (i = 0; i < n; i++) {
            if (pds_cbor_put_text(b, pairs[i].key, pairs[i].key_len) != 0) {
                return PDS_CBOR_ENOMEM;
            }
            rc = pds_cbor_enc(&pairs[i].value, b, depth);
            if (rc != 0) {
                return rc;
            }
        }

        return 0;
    }

    order = malloc(n * sizeof(pds_cbor_pair_t *));
    if (order == NULL) {
        return PDS_CBOR_ENOMEM;
    }

    for (i = 0; i < n; i++) {
        order[i] = &pairs[i];
    }

    qsort(order, n, sizeof(pds_cbor_pair_t *), pds_cbor_pair_cmp);

    rc = 0;

    for (i = 0; i < n; i++) {
        if (i > 0 && pds_cbor_pair_cmp(&order[i - 1], &order[i]) == 0) {
            rc = PDS_CBOR_EKEYDUP;
            break;
        }

        if (pds_cbor_put_text(b, order[i]->key, order[i]->key_len) != 0) {
            rc = PDS_CBOR_ENOMEM;
            break;
        }

        rc = pds_cbor_enc(&order[i]->value, b, depth);
        if (rc != 0) {
            break;
        }
    }

    free(order);

    return rc;
}


static int
pds_cbor_enc(const pds_cbor_t *v, pds_buf_t *b, int depth)
{
    int     rc;
    size_t  i;

    switch (v->type) {

    case PDS_CBOR_NULL:
        rc = pds_cbor_put_null(b);
        break;

    case PDS_CBOR_BOOL:
        rc = pds_cbor_put_bool(b, v->u.boolean);
        break;

    case PDS_CBOR_INT:
        rc = pds_cbor_put_int(b, v->u.integer);
        break;

    case PDS_CBOR_STRING:
        if (!pds_cbor_utf8_valid((const uint8_t *) v->u.str.data,
                                 v->u.str.len))
        {
            return PDS_CBOR_EUTF8;
        }
        rc = pds_cbor_put_text(b, v->u.str.data, v->u.str.len);
        break;

    case PDS_CBOR_BYTES:
        rc = pds_cbor_put_bytes(b, v->u.bytes.data, v->u.bytes.len);
        break;

    case PDS_CBOR_CID:
        if (v->u.cid.codec != PDS_CID_CODEC_DAG_CBOR
            && v->u.cid.codec != PDS_CID_CODEC_RAW)
        {
            return PDS_CBOR_ECID;
        }
        rc = pds_cbor_put_cid(b, &v->u.cid);
        break;

    case PDS_CBOR_ARRAY:
        if (++depth > PDS_CBOR_MAX_DEPTH) {
            return PDS_CBOR_EDEPTH;
        }

        if (pds_cbor_put_head(b, 4, v->u.array.len) != 0) {
            return PDS_CBOR_ENOMEM;
        }

        for (i = 0; i < v->u.array.len; i++) {
            rc = pds_cbor_enc(&v->u.array.items[i], b, depth);
            if (rc != 0) {
                return rc;
            }
        }
        return 0;

    case PDS_CBOR_MAP:
        if (++depth > PDS_CBOR_MAX_DEPTH) {
            return PDS_CBOR_EDEPTH;
        }
        return pds_cbor_enc_map(v, b, depth);

    default:
        return PDS_CBOR_EINVAL;
    }

    return rc == 0 ? 0 : PDS_CBOR_ENOMEM;
}


int
pds_cbor_encode(const pds_cbor_t *v, pds_buf_t *out)
{
    int     rc;
    size_t  len;

    len = out->len;

    rc = pds_cbor_enc(v, out, 0);
    if (rc != 0) {
        out->len = len;
    }

    return rc;
}


/* constructors */

static pds_cbor_t *
pds_cbor_new(const pds_alloc_t *a, pds_cbor_type_e type)
{
    pds_cbor_t  *v;

    v = pds_calloc(a, sizeof(pds_cbor_t));
    if (v != NULL) {
        v->type = type;
    }

    return v;
}


pds_cbor_t *
pds_cbor_new_null(const pds_alloc_t *a)
{
    return pds_cbor_new(a, PDS_CBOR_NULL);
}


pds_cbor_t *
pds_cbor_new_bool(const pds_alloc_t *a, int b)
{
    pds_cbor_t  *v;

    v = pds_cbor_new(a, PDS_CBOR_BOOL);
    if (v != NULL) {
        v->u.boolean = !!b;
    }

    return v;
}


pds_cbor_t *
pds_cbor_new_int(const pds_alloc_t *a, int64_t i)
{
    pds_cbor_t  *v;

    v = pds_cbor_new(a, PDS_CBOR_INT);
    if (v != NULL) {
        v->u.integer = i;
    }

    return v;
}


pds_cbor_t *
pds_cbor_new_string(const pds_alloc_t *a, const char *s, size_t len)
{
    char        *p;
    pds_cbor_t  *v;

    v = pds_cbor_new(a, PDS_CBOR_STRING);
    if (v == NULL) {
        return NULL;
    }

    p = pds_strndup(a, s, len);
    if (p == NULL) {
        pds_free(a, v);
        return NULL;
    }

    v->u.str.data = p;
    v->u.str.len = len;

    return v;
}


pds_cbor_t *
pds_cbor_new_bytes(const pds_alloc_t *a, const uint8_t *p, size_t n)
{
    char        *d;
    pds_cbor_t  *v;

    v = pds_cbor_new(a, PDS_CBOR_BYTES);
    if (v == NULL) {
        return NULL;
    }

    d = pds_strndup(a, (const char *) p, n);
    if (d == NULL) {
        pds_free(a, v);
        return NULL;
    }

    v->u.bytes.data = (const uint8_t *) d;
    v->u.bytes.len = n;

    return v;
}


pds_cbor_t *
pds_cbor_new_cid(const pds_alloc_t *a, const pds_cid_t *cid)
{
    pds_cbor_t  *v;

    v = pds_cbor_new(a, PDS_CBOR_CID);
    if (v != NULL) {
        v->u.cid = *cid;
    }

    return v;
}


pds_cbor_t *
pds_cbor_new_array(const pds_alloc_t *a)
{
    return pds_cbor_new(a, PDS_CBOR_ARRAY);
}


pds_cbor_t *
pds_cbor_new_map(const pds_alloc_t *a)
{
    return pds_cbor_new(a, PDS_CBOR_MAP);
}


static void *
pds_cbor_grow(const pds_alloc_t *a, void *old, size_t len, size_t *cap,
    size_t size)
{
    void    *p;
    size_t   ncap;

    if (len < *cap) {
        return old;
    }

    ncap = *cap ? *cap * 2 : 4;
    if (ncap > SIZE_MAX / size) {
        return NULL;
    }

    p = pds_alloc(a, ncap * size);
    if (p == NULL) {
        return NULL;
    }

    if (len) {
        memcpy(p, old, len * size);
    }

    pds_free(a, old);
    *cap = ncap;

    return p;
}


int
pds_cbor_array_append(const pds_alloc_t *a, pds_cbor_t *arr, pds_cbor_t *v)
{
    pds_cbor_t  *items;

    if (v == NULL || arr == NULL || arr->type != PDS_CBOR_ARRAY) {
        return -1;
    }

    items = pds_cbor_grow(a, arr->u.array.items, arr->u.array.len,
                          &arr->u.array.cap, sizeof(pds_cbor_t));
    if (items == NULL) {
        return -1;
    }

    arr->u.array.items = items;
    items[arr->u.array.len++] = *v;
    pds_free(a, v);

    return 0;
}


int
pds_cbor_map_set(const pds_alloc_t *a, pds_cbor_t *map, const char *key,
    size_t key_len, pds_cbor_t *v)
{
    char             *k;
    size_t            i;
    pds_cbor_pair_t  *pairs;

    if (v == NULL || map == NULL || map->type != PDS_CBOR_MAP) {
        return -1;
    }

    pairs = map->u.map.pairs;

    for (i = 0; i < map->u.map.len; i++) {
        if (pairs[i].key_len == key_len
            && (key_len == 0 || memcmp(pairs[i].key, key, key_len) == 0))
        {
            pds_cbor_free_contents(a, &pairs[i].value);
            pairs[i].value = *v;
            pds_free(a, v);
            return 0;
        }
    }

    k = pds_strndup(a, key, key_len);
    if (k == NULL) {
        return -1;
    }

    pairs = pds_cbor_grow(a, pairs, map->u.map.len, &map->u.map.cap,
                          sizeof(pds_cbor_pair_t));
    if (pairs == NULL) {
        pds_free(a, k);
        return -1;
    }

    map->u.map.pairs = pairs;
    pairs[map->u.map.len].key = k;
    pairs[map->u.map.len].key_len = key_len;
    pairs[map->u.map.len].value = *v;
    map->u.map.len++;
    pds_free(a, v);

    return 0;
}


static void
pds_cbor_free_contents(const pds_alloc_t *a, pds_cbor_t *v)
{
    size_t  i;

    if (a->free == NULL) {
        return;
    }

    switch (v->type) {

    case PDS_CBOR_STRING:
        pds_free(a, (void *) v->u.str.data);
        break;

    case PDS_CBOR_BYTES:
        pds_free(a, (void *) v->u.bytes.data);
        break;

    case PDS_CBOR_ARRAY:
        for (i = 0; i < v->u.array.len; i++) {
            pds_cbor_free_contents(a, &v->u.array.items[i]);
        }
        pds_free(a, v->u.array.items);
        break;

    case PDS_CBOR_MAP:
        for (i = 0; i < v->u.map.len; i++) {
            pds_free(a, (void *) v->u.map.pairs[i].key);
            pds_cbor_free_contents(a, &v->u.map.pairs[i].value);
        }
        pds_free(a, v->u.map.pairs);
        break;

    default:
        break;
    }

    v->type = PDS_CBOR_NULL;
}


void
pds_cbor_free(const pds_alloc_t *a, pds_cbor_t *v)
{
    if (v == NULL) {
        return;
    }

    pds_cbor_free_contents(a, v);
    pds_free(a, v);
}
