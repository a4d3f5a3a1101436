/*
 * ngx_pds_module core: the preferences table (see pds_prefs.h).
 */

#include "pds_prefs.h"


int
pds_prefs_get(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    const uint8_t **json, size_t *len)
{
    int      rc;
    MDB_val  val;

    rc = pds_store_get_id(txn, s->db_prefs, uid, &val);
    if (rc != 0) {
        return rc;
    }

    *json = val.mv_data;
    *len = val.mv_size;

    return 0;
}


int
pds_prefs_put(pds_store_t *s, MDB_txn *txn, uint64_t uid, const void *json,
    size_t len)
{
    uint8_t  k[PDS_UID_LEN];
    MDB_val  key, val;

    pds_store_put_u64(k, uid);
    key.mv_data = k;
    key.mv_size = sizeof(k);
    val.mv_data = (void *) json;
    val.mv_size = len;

    return mdb_put(txn, s->db_prefs, &key, &val, 0);
}
