/*
 * ngx_pds_module core: strict DAG-CBOR (the atproto data model, DRISL).
 *
 * The decoder accepts only canonical input and never repairs it: map keys
 * are text strings sorted by length then bytewise without duplicates,
 * integers and lengths use their shortest form and fit in int64, there are
 * no indefinite lengths, no floats, no simple values other than
 * false/true/null, and the only tag is 42 wrapping 0x00 + a blessed binary
 * CID (see pds_cid.h).  Text is valid UTF-8, nesting is limited to
 * PDS_CBOR_MAX_DEPTH.  Because of this, decoding then encoding an accepted
 * input gives back exactly the same bytes.
 *
 * The tree encoder sorts map keys itself, so trees may be built in any
 * order.  The streaming encoder (pds_cbor_put_*) writes straight into a
 * pds_buf_t; its caller must emit map keys in canonical order (see
 * pds_cbor_key_cmp).
 */

#ifndef PDS_CBOR_H
#define PDS_CBOR_H

#include <stddef.h>
#include <stdint.h>

#include "pds_mem.h"
#include "pds_cid.h"


#define PDS_CBOR_MAX_DEPTH  128


/* decoder / encoder results: 0 or one of these (see pds_cbor_strerror) */
#define PDS_CBOR_OK          0
#define PDS_CBOR_ETRUNC     -1      /* input ends inside an item */
#define PDS_CBOR_EMALFORMED -2      /* reserved additional information */
#define PDS_CBOR_ENONCANON  -3      /* integer/length not in shortest form */
#define PDS_CBOR_EINDEF     -4      /* indefinite length or break */
#define PDS_CBOR_EFLOAT     -5      /* floating point number */
#define PDS_CBOR_ESIMPLE    -6      /* simple value but false/true/null */
#define PDS_CBOR_ETAG       -7      /* tag other than 42 */
#define PDS_CBOR_ECID       -8      /* bad tag 42 content */
#define PDS_CBOR_EUTF8      -9      /* text string is not valid UTF-8 */
#define PDS_CBOR_EKEYTYPE   -10     /* map key is not a text string */
#define PDS_CBOR_EKEYORDER  -11     /* map keys not in canonical order */
#define PDS_CBOR_EKEYDUP    -12     /* duplicate map key */
#define PDS_CBOR_EDEPTH     -13     /* nested too deeply */
#define PDS_CBOR_ERANGE     -14     /* integer outside int64 */
#define PDS_CBOR_ETRAILING  -15     /* bytes after the item */
#define PDS_CBOR_ENOMEM     -16
#define PDS_CBOR_EINVAL     -17     /* bad tree given to the encoder */


typedef enum {
    PDS_CBOR_NULL = 0,
    PDS_CBOR_BOOL,
    PDS_CBOR_INT,
    PDS_CBOR_STRING,
    PDS_CBOR_BYTES,
    PDS_CBOR_ARRAY,
    PDS_CBOR_MAP,
    PDS_CBOR_CID
} pds_cbor_type_e;


typedef struct pds_cbor_s       pds_cbor_t;
typedef struct pds_cbor_pair_s  pds_cbor_pair_t;

struct pds_cbor_s {
    pds_cbor_type_e  type;

    union {
        int                  boolean;
        int64_t              integer;

        struct {
            const char      *data;      /* NUL-terminated copy */
            size_t           len;
        } str;

        struct {
            const uint8_t   *data;
            size_t           len;
        } bytes;

        struct {
            pds_cbor_t      *items;     /* values stored inline */
            size_t           len;
            size_t           cap;
        } array;

        struct {
            pds_cbor_pair_t *pairs;     /* decoded: canonical order */
            size_t           len;
            size_t           cap;
        } map;

        pds_cid_t            cid;
    } u;
};

struct pds_cbor_pair_s {
    const char      *key;               /* NUL-terminated copy */
    size_t           key_len;
    pds_cbor_t       value;
};


const char *pds_cbor_strerror(int rc);

/*
 * Decodes exactly one item filling all n bytes.  The tree and its strings
 * are allocated from a.  Returns 0 or a PDS_CBOR_E* code.
 */
int pds_cbor_decode(const uint8_t *p, size_t n, const pds_alloc_t *a,
    pds_cbor_t **out);
/* Decodes one item at the start of p; *used gets its length. */
int pds_cbor_decode_prefix(const uint8_t *p, size_t n, const pds_alloc_t *a,
    pds_cbor_t **out, size_t *used);
/* Strict checks without building anything (used may be NULL: whole input) */
int pds_cbor_validate(const uint8_t *p, size_t n, size_t *used);

/* canonical key order: shorter first, then bytewise; <0, 0, >0 */
int pds_cbor_key_cmp(const char *a, size_t alen, const char *b, size_t blen);
/* 1 if p is valid UTF-8 (no overlongs, surrogates or > U+10FFFF) */
int pds_cbor_utf8_valid(const uint8_t *p, size_t n);

/*
 * Tree encoder: appends the canonical encoding to out (maps are sorted;
 * duplicate keys, bad UTF-8 or too deep trees fail).  0 or PDS_CBOR_E*.
 */
int pds_cbor_encode(const pds_cbor_t *v, pds_buf_t *out);

/* Streaming encoder; each returns 0 or -1 (no memory). */
int pds_cbor_put_map(pds_buf_t *b, size_t n);
int pds_cbor_put_array(pds_buf_t *b, size_t n);
int pds_cbor_put_uint(pds_buf_t *b, uint64_t v);
int pds_cbor_put_int(pds_buf_t *b, int64_t v);
int pds_cbor_put_text(pds_buf_t *b, const char *s, size_t len);
/* pds_cbor_put_text() of a NUL-terminated string */
int pds_cbor_put_str(pds_buf_t *b, const char *s);
int pds_cbor_put_bytes(pds_buf_t *b, const uint8_t *p, size_t n);
/* just the heads of a text / byte string of n bytes (caller appends them) */
int pds_cbor_put_text_head(pds_buf_t *b, size_t n);
int pds_cbor_put_bytes_head(pds_buf_t *b, size_t n);
int pds_cbor_put_bool(pds_buf_t *b, int v);
int pds_cbor_put_null(pds_buf_t *b);
int pds_cbor_put_cid(pds_buf_t *b, const pds_cid_t *cid);

/* map lookup; NULL if v is not a map or has no such key */
const pds_cbor_t *pds_cbor_map_get(const pds_cbor_t *v, const char *key);
const pds_cbor_t *pds_cbor_map_getn(const pds_cbor_t *v, const char *key,
    size_t len);

/* deep equality (maps compared as sets of keys) */
int pds_cbor_equal(const pds_cbor_t *x, const pds_cbor_t *y);

/*
 * Tree constructors: each allocates a node from a (NULL if out of memory).
 * Strings and bytes are copied.
 */
pds_cbor_t *pds_cbor_new_null(const pds_alloc_t *a);
pds_cbor_t *pds_cbor_new_bool(const pds_alloc_t *a, int v);
pds_cbor_t *pds_cbor_new_int(const pds_alloc_t *a, int64_t v);
pds_cbor_t *pds_cbor_new_string(const pds_alloc_t *a, const char *s,
    size_t len);
pds_cbor_t *pds_cbor_new_bytes(const pds_alloc_t *a, const uint8_t *p,
    size_t n);
pds_cbor_t *pds_cbor_new_cid(const pds_alloc_t *a, const pds_cid_t *cid);
pds_cbor_t *pds_cbor_new_array(const pds_alloc_t *a);
pds_cbor_t *pds_cbor_new_map(const pds_alloc_t *a);

/*
 * Appends v to an array / sets key to v in a map (replacing an existing
 * value).  The value is moved into the container, and the node v itself is
 * released with pds_free, so pass a fresh node from pds_cbor_new_*
 * (v == NULL fails, so calls can be chained on allocation failures).
 * Returns 0 or -1.
 */
int pds_cbor_array_append(const pds_alloc_t *a, pds_cbor_t *arr,
    pds_cbor_t *v);
int pds_cbor_map_set(const pds_alloc_t *a, pds_cbor_t *map, const char *key,
    size_t key_len, pds_cbor_t *v);

/* frees a tree allocated from a (no-op for arena-like allocators) */
void pds_cbor_free(const pds_alloc_t *a, pds_cbor_t *v);

#endif /* PDS_CBOR_H */
