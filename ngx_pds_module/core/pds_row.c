/*
 * ngx_pds_module core: small DAG-CBOR rows for the account tables.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pds_row.h"


static void
pds_row_add(pds_row_t *row, const char *key, int type, const void *data,
    size_t len, int64_t num)
{
    pds_row_field_t  *f;

    if (row->n == PDS_ROW_MAX) {
        return;
    }

    f = &row->f[row->n++];
    f->key = key;
    f->type = type;
    f->data = data;
    f->len = len;
    f->num = num;
}


void
pds_row_str(pds_row_t *row, const char *key, const char *s)
{
    if (s != NULL) {
        pds_row_add(row, key, PDS_CBOR_STRING, s, strlen(s), 0);
    }
}


void
pds_row_strn(pds_row_t *row, const char *key, const char *s, size_t len)
{
    if (s != NULL) {
        pds_row_add(row, key, PDS_CBOR_STRING, s, len, 0);
    }
}


void
pds_row_int(pds_row_t *row, const char *key, int64_t v)
{
    pds_row_add(row, key, PDS_CBOR_INT, NULL, 0, v);
}


void
pds_row_bool(pds_row_t *row, const char *key, int v)
{
    pds_row_add(row, key, PDS_CBOR_BOOL, NULL, 0, v != 0);
}


void
pds_row_bytes(pds_row_t *row, const char *key, const void *p, size_t n)
{
    if (p != NULL) {
        pds_row_add(row, key, PDS_CBOR_BYTES, p, n, 0);
    }
}


static int
pds_row_field_cmp(const void *a, const void *b)
{
    const pds_row_field_t  *x = a, *y = b;

    return pds_cbor_key_cmp(x->key, strlen(x->key), y->key, strlen(y->key));
}


int
pds_row_encode(pds_row_t *row, pds_buf_t *out)
{
    int               rc;
    size_t            i;
    pds_row_field_t  *f;

    qsort(row->f, row->n, sizeof(pds_row_field_t), pds_row_field_cmp);

    if (pds_cbor_put_map(out, row->n) != 0) {
        return -1;
    }

    for (i = 0; i < row->n; i++) {
        f = &row->f[i];

        if (i > 0 && pds_row_field_cmp(&row->f[i - 1], f) == 0) {
            return -1;                      /* duplicate key */
        }

        rc = pds_cbor_put_str(out, f->key);

        switch (f->type) {
        case PDS_CBOR_STRING:
            rc |= pds_cbor_put_text(out, f->data, f->len);
            break;
        case PDS_CBOR_INT:
            rc |= pds_cbor_put_int(out, f->num);
            break;
        case PDS_CBOR_BOOL:
            rc |= pds_cbor_put_bool(out, (int) f->num);
            break;
        default:
            rc |= pds_cbor_put_bytes(out, f->data, f->len);
            break;
        }

        if (rc != 0) {
            return -1;
        }
    }

    return 0;
}


int
pds_row_put(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
    pds_row_t *row)
{
    int        rc;
    MDB_val    k, v;
    pds_buf_t  buf;

    pds_buf_init(&buf, &pds_malloc_allocator);

    if (pds_row_encode(row, &buf) != 0) {
        pds_buf_free(&buf);
        return ENOMEM;
    }

    k.mv_data = (void *) key;
    k.mv_size = klen;
    v.mv_data = buf.data;
    v.mv_size = buf.len;

    rc = mdb_put(txn, dbi, &k, &v, 0);

    pds_buf_free(&buf);

    return rc;
}


int
pds_row_get(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
    const pds_alloc_t *a, pds_cbor_t **row)
{
    int      rc;
    MDB_val  k, v;

    k.mv_data = (void *) key;
    k.mv_size = klen;

    rc = mdb_get(txn, dbi, &k, &v);
    if (rc != 0) {
        return rc == MDB_NOTFOUND ? PDS_NOTFOUND : rc;
    }

    return pds_row_decode(&v, a, row);
}


int
pds_row_decode(const MDB_val *v, const pds_alloc_t *a, pds_cbor_t **row)
{
    if (pds_cbor_decode(v->mv_data, v->mv_size, a, row) != 0
        || (*row)->type != PDS_CBOR_MAP)
    {
        return MDB_CORRUPTED;
    }

    return 0;
}


const char *
pds_row_get_str(const pds_cbor_t *row, const char *key)
{
    const pds_cbor_t  *v;

    v = pds_cbor_map_get(row, key);

    return (v && v->type == PDS_CBOR_STRING) ? v->u.str.data : NULL;
}


int64_t
pds_row_get_int(const pds_cbor_t *row, const char *key, int64_t dflt)
{
    const pds_cbor_t  *v;

    v = pds_cbor_map_get(row, key);

    return (v && v->type == PDS_CBOR_INT) ? v->u.integer : dflt;
}


int
pds_row_get_bool(const pds_cbor_t *row, const char *key)
{
    const pds_cbor_t  *v;

    v = pds_cbor_map_get(row, key);

    return (v && v->type == PDS_CBOR_BOOL) ? v->u.boolean : 0;
}


const uint8_t *
pds_row_get_bytes(const pds_cbor_t *row, const char *key, size_t *len)
{
    const pds_cbor_t  *v;

    v = pds_cbor_map_get(row, key);

    if (v == NULL || v->type != PDS_CBOR_BYTES) {
        return NULL;
    }

    *len = v->u.bytes.len;

    return v->u.bytes.data;
}
