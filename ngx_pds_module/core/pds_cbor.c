/*
 * ngx_pds_module core: strict DAG-CBOR decoder and canonical encoder.
 */

#include <stdlib.h>
#include <string.h>

#include "pds_cbor.h"


typedef struct {
    const uint8_t      *p;
    const uint8_t      *end;
    const pds_alloc_t  *a;          /* NULL: validate only */
} pds_cbor_dec_t;


static int pds_cbor_dec_item(pds_cbor_dec_t *d, pds_cbor_t *node,
    int depth);
static int pds_cbor_enc(const pds_cbor_t *v, pds_buf_t *b, int depth);
static void pds_cbor_free_contents(const pds_alloc_t *a, pds_cbor_t *v);


const char *
pds_cbor_strerror(int rc)
{
    switch (rc) {
    case PDS_CBOR_OK:
        return "ok";
    case PDS_CBOR_ETRUNC:
        return "truncated CBOR";
    case PDS_CBOR_EMALFORMED:
        return "malformed CBOR";
    case PDS_CBOR_ENONCANON:
        return "non-canonical CBOR integer or length";
    case PDS_CBOR_EINDEF:
        return "indefinite-length CBOR not allowed";
    case PDS_CBOR_EFLOAT:
        return "floats are not allowed";
    case PDS_CBOR_ESIMPLE:
        return "CBOR simple value not allowed";
    case PDS_CBOR_ETAG:
        return "CBOR tag not allowed";
    case PDS_CBOR_ECID:
        return "invalid CID link";
    case PDS_CBOR_EUTF8:
        return "invalid UTF-8 string";
    case PDS_CBOR_EKEYTYPE:
        return "map key is not a string";
    case PDS_CBOR_EKEYORDER:
        return "map keys not in canonical order";
    case PDS_CBOR_EKEYDUP:
        return "duplicate map key";
    case PDS_CBOR_EDEPTH:
        return "data nested too deeply";
    case PDS_CBOR_ERANGE:
        return "integer out of range";
    case PDS_CBOR_ETRAILING:
        return "trailing bytes after CBOR item";
    case PDS_CBOR_ENOMEM:
        return "out of memory";
    case PDS_CBOR_EINVAL:
        return "invalid data model value";
    default:
        return "unknown CBOR error";
    }
}


int
pds_cbor_utf8_valid(const uint8_t *p, size_t n)
{
    uint8_t         c, c1;
    uint64_t        w;
    const uint8_t  *end = p + n;

    while (p < end) {

        if (end - p >= 8) {
            memcpy(&w, p, 8);
            if ((w & 0x8080808080808080ULL) == 0) {
                p += 8;
                continue;
            }
        }

        c = *p;

        if (c < 0x80) {
            p++;
            continue;
        }

        if (c < 0xc2) {
            return 0;                   /* continuation or overlong */
        }

        if (c < 0xe0) {
            if (end - p < 2 || (p[1] & 0xc0) != 0x80) {
                return 0;
            }
            p += 2;
            continue;
        }

        if (c < 0xf0) {
            if (end - p < 3) {
                return 0;
            }
            c1 = p[1];
            if ((c1 & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80
                || (c == 0xe0 && c1 < 0xa0)         /* overlong */
                || (c == 0xed && c1 >= 0xa0))       /* surrogate */
            {
                return 0;
            }
            p += 3;
            continue;
        }

        if (c < 0xf5) {
            if (end - p < 4) {
                return 0;
            }
            c1 = p[1];
            if ((c1 & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80
                || (p[3] & 0xc0) != 0x80
                || (c == 0xf0 && c1 < 0x90)         /* overlong */
                || (c == 0xf4 && c1 >= 0x90))       /* > U+10FFFF */
            {
                return 0;
            }
            p += 4;
            continue;
        }

        return 0;
    }

    return 1;
}


int
pds_cbor_key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen) {
        return alen < blen ? -1 : 1;
    }

    return alen ? memcmp(a, b, alen) : 0;
}


/* decoder */

static int
pds_cbor_dec_head(pds_cbor_dec_t *d, unsigned *major, uint64_t *val)
{
    size_t    need, i;
    unsigned  ib, ai;
    uint64_t  v, min;

    if (d->p == d->end) {
        return PDS_CBOR_ETRUNC;
    }

    ib = *d->p++;
    *major = ib >> 5;
    ai = ib & 0x1f;

    if (*major == 7) {
        switch (ib) {
        case 0xf4:
        case 0xf5:
        case 0xf6:
            *val = ai;
            return 0;
        case 0xf9:
        case 0xfa:
        case 0xfb:
            return PDS_CBOR_EFLOAT;
        case 0xff:
            return PDS_CBOR_EINDEF;
        case 0xfc:
        case 0xfd:
        case 0xfe:
            return PDS_CBOR_EMALFORMED;
        default:
            return PDS_CBOR_ESIMPLE;
        }
    }

    if (ai < 24) {
        *val = ai;
        return 0;
    }

    switch (ai) {
    case 24:
        need = 1;
        min = 24;
        break;
    case 25:
        need = 2;
        min = 0x100;
        break;
    case 26:
        need = 4;
        min = 0x10000;
        break;
    case 27:
        need = 8;
        min = 0x100000000ULL;
        break;
    case 31:
        return PDS_CBOR_EINDEF;
    default:
        return PDS_CBOR_EMALFORMED;
    }

    if ((size_t) (d->end - d->p) < need) {
        return PDS_CBOR_ETRUNC;
    }

    v = 0;
    for (i = 0; i < need; i++) {
        v = v << 8 | d->p[i];
    }

    d->p += need;

    if (v < min) {
        return PDS_CBOR_ENONCANON;
    }

    *val = v;

    return 0;
}


static int
pds_cbor_dec_map(pds_cbor_dec_t *d, pds_cbor_t *node, uint64_t n, int depth)
{
    int               rc;
    char             *key;
    size_t            i;
    unsigned          major;
    uint64_t          klen;
    const uint8_t    *kp, *prev;
    size_t            prev_len;
    pds_cbor_pair_t  *pairs;

    /* every pair takes at least two bytes */
    if (n > (uint64_t) (d->end - d->p) / 2) {
        return PDS_CBOR_ETRUNC;
    }

    pairs = NULL;

    if (node) {
        node->type = PDS_CBOR_MAP;
        node->u.map.pairs = NULL;
        node->u.map.len = 0;
        node->u.map.cap = 0;

        if (n) {
            pairs = pds_calloc(d->a, (size_t) n * sizeof(pds_cbor_pair_t));
            if (pairs == NULL) {
                return PDS_CBOR_ENOMEM;
            }
            node->u.map.pairs = pairs;
            node->u.map.len = (size_t) n;
            node->u.map.cap = (size_t) n;
        }
    }

    prev = NULL;
    prev_len = 0;

    for (i = 0; i < n; i++) {

        rc = pds_cbor_dec_head(d, &major, &klen);
        if (rc != 0) {
            return rc;
        }

        if (major != 3) {
            return PDS_CBOR_EKEYTYPE;
        }

        if (klen > (uint64_t) (d->end - d->p)) {
            return PDS_CBOR_ETRUNC;
        }

        kp = d->p;
        d->p += klen;

        if (!pds_cbor_utf8_valid(kp, (size_t) klen)) {
            return PDS_CBOR_EUTF8;
        }

        if (prev != NULL) {
            rc = pds_cbor_key_cmp((const char *) prev, prev_len,
                                  (const char *) kp, (size_t) klen);
            if (rc == 0) {
                return PDS_CBOR_EKEYDUP;
            }
            if (rc > 0) {
                return PDS_CBOR_EKEYORDER;
            }
        }

        prev = kp;
        prev_len = (size_t) klen;

        if (pairs) {
            key = pds_alloc(d->a, (size_t) klen + 1);
            if (key == NULL) {
                return PDS_CBOR_ENOMEM;
            }
            memcpy(key, kp, (size_t) klen);
            key[klen] = '\0';
            pairs[i].key = key;
            pairs[i].key_len = (size_t) klen;
        }

        rc = pds_cbor_dec_item(d, pairs ? &pairs[i].value : NULL, depth);
        if (rc != 0) {
            return rc;
        }
    }

    return 0;
}


static int
pds_cbor_dec_item(pds_cbor_dec_t *d, pds_cbor_t *node, int depth)
{
    int             rc;
    char           *s;
    size_t          i;
    unsigned        major;
    uint64_t        v;
    pds_cid_t       cid;
    pds_cbor_t     *items;
    const uint8_t  *p;

    rc = pds_cbor_dec_head(d, &major, &v);
    if (rc != 0) {
        return rc;
    }

    switch (major) {

    case 0:
        if (v > INT64_MAX) {
            return PDS_CBOR_ERANGE;
        }
        if (node) {
            node->type = PDS_CBOR_INT;
            node->u.integer = (int64_t) v;
        }
        return 0;

    case 1:
        if (v > INT64_MAX) {
            return PDS_CBOR_ERANGE;
        }
        if (node) {
            node->type = PDS_CBOR_INT;
            node->u.integer = -1 - (int64_t) v;
        }
        return 0;

    case 2:
    case 3:
        if (v > (uint64_t) (d->end - d->p)) {
            return PDS_CBOR_ETRUNC;
        }

        p = d->p;
        d->p += v;

        if (major == 3 && !pds_cbor_utf8_valid(p, (size_t) v)) {
            return PDS_CBOR_EUTF8;
        }

        if (node) {
            s = pds_alloc(d->a, (size_t) v + 1);
            if (s == NULL) {
                return PDS_CBOR_ENOMEM;
            }
            memcpy(s, p, (size_t) v);
            s[v] = '\0';

            if (major == 3) {
                node->type = PDS_CBOR_STRING;
                node->u.str.data = s;
                node->u.str.len = (size_t) v;
            } else {
                node->type = PDS_CBOR_BYTES;
                node->u.bytes.data = (uint8_t *) s;
                node->u.bytes.len = (size_t) v;
            }
        }
        return 0;

    case 4:
        if (++depth > PDS_CBOR_MAX_DEPTH) {
            return PDS_CBOR_EDEPTH;
        }

        /* every item takes at least one byte */
        if (v > (uint64_t) (d->end - d->p)) {
            return PDS_CBOR_ETRUNC;
        }

        items = NULL;

        if (node) {
            node->type = PDS_CBOR_ARRAY;
            node->u.array.items = NULL;
            node->u.array.len = 0;
            node->u.array.cap = 0;

            if (v) {
                items = pds_calloc(d->a, (size_t) v * sizeof(pds_cbor_t));
                if (items == NULL) {
                    return PDS_CBOR_ENOMEM;
                }
                node->u.array.items = items;
                node->u.array.len = (size_t) v;
                node->u.array.cap = (size_t) v;
            }
        }

        for (i = 0; i < v; i++) {
            rc = pds_cbor_dec_item(d, items ? &items[i] : NULL, depth);
            if (rc != 0) {
                return rc;
            }
        }
        return 0;

    case 5:
        if (++depth > PDS_CBOR_MAX_DEPTH) {
            return PDS_CBOR_EDEPTH;
        }
        return pds_cbor_dec_map(d, node, v, depth);

    case 6:
        if (v != 42) {
            return PDS_CBOR_ETAG;
        }

        rc = pds_cbor_dec_head(d, &major, &v);
        if (rc != 0) {
            return rc;
        }

        if (major != 2 || v > (uint64_t) (d->end - d->p)) {
            return major != 2 ? PDS_CBOR_ECID : PDS_CBOR_ETRUNC;
        }

        p = d->p;
        d->p += v;

        if (v < 1 || p[0] != 0x00
            || pds_cid_from_bytes(&cid, p + 1, (size_t) v - 1) != 0)
        {
            return PDS_CBOR_ECID;
        }

        if (node) {
            node->type = PDS_CBOR_CID;
            node->u.cid = cid;
        }
        return 0;

    default: /* 7 */
        if (node) {
            if (v == 22) {
                node->type = PDS_CBOR_NULL;
            } else {
                node->type = PDS_CBOR_BOOL;
                node->u.boolean = (v == 21);
            }
        }
        return 0;
    }
}


int
pds_cbor_decode_prefix(const uint8_t *p, size_t n, const pds_alloc_t *a,
    pds_cbor_t **out, size_t *used)
{
    int              rc;
    pds_cbor_t      *root;
    pds_cbor_dec_t   d;

    *out = NULL;

    root = pds_calloc(a, sizeof(pds_cbor_t));
    if (root == NULL) {
        return PDS_CBOR_ENOMEM;
    }

    d.p = p;
    d.end = p + n;
    d.a = a;

    rc = pds_cbor_dec_item(&d, root, 0);
    if (rc != 0) {
        pds_cbor_free(a, root);
        return rc;
    }

    if (used) {
        *used = (size_t) (d.p - p);

    } else if (d.p != d.end) {
        pds_cbor_free(a, root);
        return PDS_CBOR_ETRAILING;
    }

    *out = root;

    return 0;
}


int
pds_cbor_decode(const uint8_t *p, size_t n, const pds_alloc_t *a,
    pds_cbor_t **out)
{
    return pds_cbor_decode_prefix(p, n, a, out, NULL);
}


int
pds_cbor_validate(const uint8_t *p, size_t n, size_t *used)
{
    int             rc;
    pds_cbor_dec_t  d;

    d.p = p;
    d.end = p + n;
    d.a = NULL;

    rc = pds_cbor_dec_item(&d, NULL, 0);
    if (rc != 0) {
        return rc;
    }

    if (used) {
        *used = (size_t) (d.p - p);
        return 0;
    }

    return d.p == d.end ? 0 : PDS_CBOR_ETRAILING;
}


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


/* tree access */

const pds_cbor_t *
pds_cbor_map_getn(const pds_cbor_t *v, const char *key, size_t len)
{
    size_t                  i;
    const pds_cbor_pair_t  *pair;

    if (v == NULL || v->type != PDS_CBOR_MAP) {
        return NULL;
    }

    for (i = 0; i < v->u.map.len; i++) {
        pair = &v->u.map.pairs[i];
        if (pair->key_len == len
            && (len == 0 || memcmp(pair->key, key, len) == 0))
        {
            return &pair->value;
        }
    }

    return NULL;
}


const pds_cbor_t *
pds_cbor_map_get(const pds_cbor_t *v, const char *key)
{
    return pds_cbor_map_getn(v, key, strlen(key));
}


int
pds_cbor_equal(const pds_cbor_t *x, const pds_cbor_t *y)
{
    size_t                  i;
    const pds_cbor_t       *yv;
    const pds_cbor_pair_t  *pair;

    if (x->type != y->type) {
        return 0;
    }

    switch (x->type) {

    case PDS_CBOR_NULL:
        return 1;

    case PDS_CBOR_BOOL:
        return !x->u.boolean == !y->u.boolean;

    case PDS_CBOR_INT:
        return x->u.integer == y->u.integer;

    case PDS_CBOR_STRING:
        return x->u.str.len == y->u.str.len
               && (x->u.str.len == 0
                   || memcmp(x->u.str.data, y->u.str.data, x->u.str.len)
                      == 0);

    case PDS_CBOR_BYTES:
        return x->u.bytes.len == y->u.bytes.len
               && (x->u.bytes.len == 0
                   || memcmp(x->u.bytes.data, y->u.bytes.data,
                             x->u.bytes.len) == 0);

    case PDS_CBOR_CID:
        return pds_cid_equal(&x->u.cid, &y->u.cid);

    case PDS_CBOR_ARRAY:
        if (x->u.array.len != y->u.array.len) {
            return 0;
        }
        for (i = 0; i < x->u.array.len; i++) {
            if (!pds_cbor_equal(&x->u.array.items[i],
                                &y->u.array.items[i]))
            {
                return 0;
            }
        }
        return 1;

    case PDS_CBOR_MAP:
        if (x->u.map.len != y->u.map.len) {
            return 0;
        }
        for (i = 0; i < x->u.map.len; i++) {
            pair = &x->u.map.pairs[i];
            yv = pds_cbor_map_getn(y, pair->key, pair->key_len);
            if (yv == NULL || !pds_cbor_equal(&pair->value, yv)) {
                return 0;
            }
        }
        return 1;
    }

    return 0;
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
