/*
 * ngx_pds_module core: strict DAG-CBOR, the reading side: the decoder and
 * validator, and access to decoded trees.  Writing (the streaming and the
 * tree encoders) and building trees are in pds_cbor_enc.c.
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


/* an unsigned (major type 0) or negative (major type 1) integer */
static int
pds_cbor_dec_int(pds_cbor_t *node, unsigned major, uint64_t v)
{
    if (v > INT64_MAX) {
        return PDS_CBOR_ERANGE;
    }

    if (node) {
        node->type = PDS_CBOR_INT;
        node->u.integer = major == 0 ? (int64_t) v : -1 - (int64_t) v;
    }

    return 0;
}


/* a byte (major type 2) or text (3) string of n bytes, copied with a NUL */
static int
pds_cbor_dec_string(pds_cbor_dec_t *d, pds_cbor_t *node, unsigned major,
    uint64_t n)
{
    char           *s;
    const uint8_t  *p;

    if (n > (uint64_t) (d->end - d->p)) {
        return PDS_CBOR_ETRUNC;
    }

    p = d->p;
    d->p += n;

    if (major == 3 && !pds_cbor_utf8_valid(p, (size_t) n)) {
        return PDS_CBOR_EUTF8;
    }

    if (node == NULL) {
        return 0;
    }

    s = pds_alloc(d->a, (size_t) n + 1);
    if (s == NULL) {
        return PDS_CBOR_ENOMEM;
    }

    memcpy(s, p, (size_t) n);
    s[n] = '\0';

    if (major == 3) {
        node->type = PDS_CBOR_STRING;
        node->u.str.data = s;
        node->u.str.len = (size_t) n;

    } else {
        node->type = PDS_CBOR_BYTES;
        node->u.bytes.data = (uint8_t *) s;
        node->u.bytes.len = (size_t) n;
    }

    return 0;
}


static int
pds_cbor_dec_array(pds_cbor_dec_t *d, pds_cbor_t *node, uint64_t n,
    int depth)
{
    int          rc;
    size_t       i;
    pds_cbor_t  *items;

    /* every item takes at least one byte */
    if (n > (uint64_t) (d->end - d->p)) {
        return PDS_CBOR_ETRUNC;
    }

    items = NULL;

    if (node) {
        node->type = PDS_CBOR_ARRAY;
        node->u.array.items = NULL;
        node->u.array.len = 0;
        node->u.array.cap = 0;

        if (n) {
            items = pds_calloc(d->a, (size_t) n * sizeof(pds_cbor_t));
            if (items == NULL) {
                return PDS_CBOR_ENOMEM;
            }
            node->u.array.items = items;
            node->u.array.len = (size_t) n;
            node->u.array.cap = (size_t) n;
        }
    }

    for (i = 0; i < n; i++) {
        rc = pds_cbor_dec_item(d, items ? &items[i] : NULL, depth);
        if (rc != 0) {
            return rc;
        }
    }

    return 0;
}


/* the content of a tag: only 42, a byte string of 0x00 and a binary CID */
static int
pds_cbor_dec_cid(pds_cbor_dec_t *d, pds_cbor_t *node, uint64_t tag)
{
    int             rc;
    unsigned        major;
    uint64_t        v;
    pds_cid_t       cid;
    const uint8_t  *p;

    if (tag != 42) {
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
}


static int
pds_cbor_dec_item(pds_cbor_dec_t *d, pds_cbor_t *node, int depth)
{
    int       rc;
    unsigned  major;
    uint64_t  v;

    rc = pds_cbor_dec_head(d, &major, &v);
    if (rc != 0) {
        return rc;
    }

    switch (major) {

    case 0:
    case 1:
        return pds_cbor_dec_int(node, major, v);

    case 2:
    case 3:
        return pds_cbor_dec_string(d, node, major, v);

    case 4:
        if (++depth > PDS_CBOR_MAX_DEPTH) {
            return PDS_CBOR_EDEPTH;
        }
        return pds_cbor_dec_array(d, node, v, depth);

    case 5:
        if (++depth > PDS_CBOR_MAX_DEPTH) {
            return PDS_CBOR_EDEPTH;
        }
        return pds_cbor_dec_map(d, node, v, depth);

    case 6:
        return pds_cbor_dec_cid(d, node, v);

    default: /* 7: false, true, null (pds_cbor_dec_head refused the rest) */
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
