/*
 * ngx_pds_module core: takedown markers of records and blobs (layout in
 * pds_takedown.h and docs/STORAGE.md).
 */

#include <errno.h>
#include <string.h>

#include "pds_takedown.h"


#define PDS_TAKEDOWN_KEY_MAX  511            /* LMDB's default key limit */


typedef struct {
    uint8_t   data[PDS_TAKEDOWN_KEY_MAX];
    size_t    len;
} pds_tkey_t;


/* uid 'r' collection 0 rkey: -1 when too long for a key */
static int
pds_tkey_record(pds_tkey_t *k, uint64_t uid, const char *collection,
    size_t clen, const char *rkey, size_t rlen)
{
    if (PDS_UID_LEN + 1 + clen + 1 + rlen > PDS_TAKEDOWN_KEY_MAX) {
        return -1;
    }

    pds_store_put_u64(k->data, uid);
    k->len = PDS_UID_LEN;
    k->data[k->len++] = 'r';
    memcpy(k->data + k->len, collection, clen);
    k->len += clen;
    k->data[k->len++] = 0;
    memcpy(k->data + k->len, rkey, rlen);
    k->len += rlen;

    return 0;
}


static void
pds_tkey_blob(pds_tkey_t *k, uint64_t uid, const pds_cid_t *cid)
{
    pds_store_put_u64(k->data, uid);
    k->len = PDS_UID_LEN;
    k->data[k->len++] = 'b';
    k->len += pds_cid_to_bytes(cid, k->data + k->len);
}


static int
pds_takedown_get(pds_store_t *s, MDB_txn *txn, const pds_tkey_t *k,
    const pds_alloc_t *a, char **ref)
{
    int      rc;
    MDB_val  key, val;

    key.mv_data = (void *) k->data;
    key.mv_size = k->len;

    rc = mdb_get(txn, s->db_takedowns, &key, &val);
    if (rc != 0) {
        return rc == MDB_NOTFOUND ? PDS_NOTFOUND : rc;
    }

    if (a && ref) {
        *ref = pds_strndup(a, val.mv_data, val.mv_size);
        if (*ref == NULL) {
            return ENOMEM;
        }
    }

    return 0;
}


static int
pds_takedown_set(pds_store_t *s, MDB_txn *txn, const pds_tkey_t *k,
    const char *ref)
{
    int      rc;
    MDB_val  key, val;

    key.mv_data = (void *) k->data;
    key.mv_size = k->len;

    if (ref == NULL) {
        rc = mdb_del(txn, s->db_takedowns, &key, NULL);
        return rc == MDB_NOTFOUND ? 0 : rc;
    }

    val.mv_data = (void *) ref;
    val.mv_size = strlen(ref);

    return mdb_put(txn, s->db_takedowns, &key, &val, 0);
}


int
pds_takedown_record(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    const char *collection, size_t clen, const char *rkey, size_t rlen,
    const pds_alloc_t *a, char **ref)
{
    pds_tkey_t  k;

    if (pds_tkey_record(&k, uid, collection, clen, rkey, rlen) != 0) {
        return PDS_NOTFOUND;
    }

    return pds_takedown_get(s, txn, &k, a, ref);
}


int
pds_takedown_record_set(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    const char *collection, size_t clen, const char *rkey, size_t rlen,
    const char *ref)
{
    pds_tkey_t  k;

    if (pds_tkey_record(&k, uid, collection, clen, rkey, rlen) != 0) {
        return ref ? EINVAL : 0;
    }

    return pds_takedown_set(s, txn, &k, ref);
}


int
pds_takedown_blob(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    const pds_cid_t *cid, const pds_alloc_t *a, char **ref)
{
    pds_tkey_t  k;

    pds_tkey_blob(&k, uid, cid);

    return pds_takedown_get(s, txn, &k, a, ref);
}


int
pds_takedown_blob_set(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    const pds_cid_t *cid, const char *ref)
{
    pds_tkey_t  k;

    pds_tkey_blob(&k, uid, cid);

    return pds_takedown_set(s, txn, &k, ref);
}
