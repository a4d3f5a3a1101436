/*
 * ngx_pds_module core: small DAG-CBOR rows for the account tables.
 *
 * A row is a flat map of text keys to strings, integers, booleans or bytes,
 * built with pds_row_* setters, encoded canonically and stored under a key;
 * read back as a decoded pds_cbor_t map with the pds_row_get_* accessors.
 */

#ifndef PDS_ROW_H
#define PDS_ROW_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "pds_mem.h"
#include "pds_cbor.h"
#include "pds_store.h"


#define PDS_ROW_MAX  24


typedef struct {
    const char     *key;
    int             type;        /* PDS_CBOR_STRING, _INT, _BOOL, _BYTES */
    const void     *data;
    size_t          len;
    int64_t         num;
} pds_row_field_t;


typedef struct {
    pds_row_field_t  f[PDS_ROW_MAX];
    size_t           n;
} pds_row_t;


/* setters: a NULL string or bytes pointer leaves the field out */
void pds_row_str(pds_row_t *row, const char *key, const char *s);
void pds_row_strn(pds_row_t *row, const char *key, const char *s,
    size_t len);
void pds_row_int(pds_row_t *row, const char *key, int64_t v);
void pds_row_bool(pds_row_t *row, const char *key, int v);
void pds_row_bytes(pds_row_t *row, const char *key, const void *p,
    size_t n);

/* canonical DAG-CBOR of the row into out: 0 or -1 */
int pds_row_encode(pds_row_t *row, pds_buf_t *out);

/* encode and mdb_put: 0 or an LMDB error code */
int pds_row_put(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
    pds_row_t *row);

/*
 * mdb_get and decode into a: 0, PDS_NOTFOUND, or an LMDB error code
 * (MDB_CORRUPTED when the stored bytes do not decode).
 */
int pds_row_get(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
    const pds_alloc_t *a, pds_cbor_t **row);
/* decodes a row already read (e.g. by a cursor): 0 or MDB_CORRUPTED */
int pds_row_decode(const MDB_val *v, const pds_alloc_t *a, pds_cbor_t **row);

const char *pds_row_get_str(const pds_cbor_t *row, const char *key);
int64_t pds_row_get_int(const pds_cbor_t *row, const char *key,
    int64_t dflt);
int pds_row_get_bool(const pds_cbor_t *row, const char *key);
const uint8_t *pds_row_get_bytes(const pds_cbor_t *row, const char *key,
    size_t *len);

#endif /* PDS_ROW_H */
