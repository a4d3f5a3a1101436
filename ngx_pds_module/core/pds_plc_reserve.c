/*
 * ngx_pds_module core: signing keys reserved for accounts moving here
 * (see pds_plc_reserve.h).  A row of meta: "reserved_key:" + DID ->
 * created (8 bytes, big-endian milliseconds) + the 32-byte private key.
 */

#include <errno.h>
#include <string.h>

#include "pds_plc_reserve.h"


#define PDS_RESERVE_PREFIX      "reserved_key:"
#define PDS_RESERVE_PREFIX_LEN  (sizeof(PDS_RESERVE_PREFIX) - 1)
#define PDS_RESERVE_ROW_LEN     (8 + PDS_KEY_PRIV_LEN)


static int
pds_plc_reserve_key(const char *did, char *buf, MDB_val *k)
{
    size_t  n;

    n = did ? strlen(did) : 0;
    if (n == 0 || n > PDS_RESERVE_DID_MAX) {
        return EINVAL;
    }

    memcpy(buf, PDS_RESERVE_PREFIX, PDS_RESERVE_PREFIX_LEN);
    memcpy(buf + PDS_RESERVE_PREFIX_LEN, did, n);

    k->mv_data = buf;
    k->mv_size = PDS_RESERVE_PREFIX_LEN + n;

    return 0;
}


int
pds_plc_reserve_get(pds_store_t *s, MDB_txn *txn, const char *did,
    uint8_t priv[PDS_KEY_PRIV_LEN], int64_t *created_ms)
{
    int       rc, i;
    char      buf[PDS_RESERVE_PREFIX_LEN + PDS_RESERVE_DID_MAX];
    MDB_val   k, v;
    uint64_t  t;
    uint8_t  *p;

    if (pds_plc_reserve_key(did, buf, &k) != 0) {
        return PDS_NOTFOUND;
    }

    rc = pds_store_rc(mdb_get(txn, s->meta, &k, &v));
    if (rc != 0) {
        return rc;
    }

    if (v.mv_size != PDS_RESERVE_ROW_LEN) {
        return PDS_STORE_ERROR;
    }

    p = v.mv_data;
    t = 0;

    for (i = 0; i < 8; i++) {
        t = (t << 8) | p[i];
    }

    memcpy(priv, p + 8, PDS_KEY_PRIV_LEN);

    if (created_ms) {
        *created_ms = (int64_t) t;
    }

    return 0;
}


#define PDS_RESERVE_COUNT  "reserved_count"
#define PDS_RESERVE_SCAN   "reserved_scan"
#define PDS_RESERVE_VISIT  64


/*
 * Visits up to 64 reservations, going on from where the previous visit
 * stopped (meta "reserved_scan", wrapping round), and removes those made
 * before cutoff_ms; *removed counts them.  Bounded work per call, and
 * every row is visited again after count / 64 calls.
 */
static int
pds_plc_reserve_prune(pds_store_t *s, MDB_txn *txn, int64_t cutoff_ms,
    uint64_t *removed)
{
    int          rc, i, n, wrapped;
    char         pos[PDS_RESERVE_PREFIX_LEN + PDS_RESERVE_DID_MAX];
    size_t       pos_len;
    MDB_val      k, v, sk;
    uint64_t     t;
    MDB_cursor  *cur;
    uint8_t     *p;

    *removed = 0;

    sk.mv_data = PDS_RESERVE_SCAN;
    sk.mv_size = sizeof(PDS_RESERVE_SCAN) - 1;

    rc = mdb_get(txn, s->meta, &sk, &v);
    if (rc == 0 && v.mv_size >= PDS_RESERVE_PREFIX_LEN
        && v.mv_size <= sizeof(pos))
    {
        memcpy(pos, v.mv_data, v.mv_size);
        pos_len = v.mv_size;

    } else {
        memcpy(pos, PDS_RESERVE_PREFIX, PDS_RESERVE_PREFIX_LEN);
        pos_len = PDS_RESERVE_PREFIX_LEN;
    }

    rc = mdb_cursor_open(txn, s->meta, &cur);
    if (rc != 0) {
        return pds_store_rc(rc);
    }

    k.mv_data = pos;
    k.mv_size = pos_len;
    wrapped = 0;
    n = 0;

    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);

    while (n < PDS_RESERVE_VISIT) {
        if (rc == 0
            && (k.mv_size < PDS_RESERVE_PREFIX_LEN
                || memcmp(k.mv_data, PDS_RESERVE_PREFIX,
                          PDS_RESERVE_PREFIX_LEN) != 0))
        {
            rc = MDB_NOTFOUND;
        }

        if (rc == MDB_NOTFOUND) {
            if (wrapped) {
                break;
            }

            wrapped = 1;
            k.mv_data = PDS_RESERVE_PREFIX;
            k.mv_size = PDS_RESERVE_PREFIX_LEN;
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
            continue;
        }

        if (rc != 0) {
            break;
        }

        n++;

        if (k.mv_size <= sizeof(pos)) {
            memcpy(pos, k.mv_data, k.mv_size);
            pos_len = k.mv_size;
        }

        if (v.mv_size == PDS_RESERVE_ROW_LEN) {
            p = v.mv_data;
            t = 0;

            for (i = 0; i < 8; i++) {
                t = (t << 8) | p[i];
            }

            if ((int64_t) t < cutoff_ms) {
                rc = mdb_cursor_del(cur, 0);
                if (rc != 0) {
                    break;
                }

                (*removed)++;

                /* the cursor is on the next row already */
                rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
                continue;
            }
        }

        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }

    mdb_cursor_close(cur);

    if (rc != 0 && rc != MDB_NOTFOUND) {
        return pds_store_rc(rc);
    }

    /* the next visit starts after the last row seen */
    if (pos_len < sizeof(pos)) {
        pos[pos_len++] = '\0';
    }

    v.mv_data = pos;
    v.mv_size = pos_len;

    return pds_store_rc(mdb_put(txn, s->meta, &sk, &v, 0));
}


int
pds_plc_reserve_put(pds_store_t *s, MDB_txn *txn, const char *did,
    const uint8_t priv[PDS_KEY_PRIV_LEN], int64_t now_ms)
{
    int       i, rc;
    char      buf[PDS_RESERVE_PREFIX_LEN + PDS_RESERVE_DID_MAX];
    uint8_t   row[PDS_RESERVE_ROW_LEN];
    MDB_val   k, v;
    uint64_t  t, gone, count;

    rc = pds_plc_reserve_key(did, buf, &k);
    if (rc != 0) {
        return rc;
    }

    rc = pds_plc_reserve_prune(s, txn, now_ms - PDS_RESERVE_TTL_MS, &gone);
    if (rc != 0) {
        return rc;
    }

    rc = pds_store_meta_u64(s, txn, PDS_RESERVE_COUNT, &count);
    if (rc != 0) {
        return rc;
    }

    count = count > gone ? count - gone : 0;

    rc = pds_store_rc(mdb_get(txn, s->meta, &k, &v));

    if (rc == PDS_NOTFOUND) {
        if (count >= PDS_RESERVE_MAX) {
            (void) pds_store_meta_set_u64(s, txn, PDS_RESERVE_COUNT, count);
            return EAGAIN;
        }

        count++;

    } else if (rc != 0) {
        return rc;
    }

    rc = pds_store_meta_set_u64(s, txn, PDS_RESERVE_COUNT, count);
    if (rc != 0) {
        return rc;
    }

    t = (uint64_t) now_ms;

    for (i = 7; i >= 0; i--) {
        row[i] = (uint8_t) (t & 0xff);
        t >>= 8;
    }

    memcpy(row + 8, priv, PDS_KEY_PRIV_LEN);

    v.mv_data = row;
    v.mv_size = sizeof(row);

    rc = pds_store_rc(mdb_put(txn, s->meta, &k, &v, 0));

    memset(row, 0, sizeof(row));

    return rc;
}


int
pds_plc_reserve_delete(pds_store_t *s, MDB_txn *txn, const char *did)
{
    int       rc;
    char      buf[PDS_RESERVE_PREFIX_LEN + PDS_RESERVE_DID_MAX];
    MDB_val   k;
    uint64_t  count;

    if (pds_plc_reserve_key(did, buf, &k) != 0) {
        return 0;
    }

    rc = pds_store_rc(mdb_del(txn, s->meta, &k, NULL));
    if (rc != 0) {
        return rc == PDS_NOTFOUND ? 0 : rc;
    }

    rc = pds_store_meta_u64(s, txn, PDS_RESERVE_COUNT, &count);
    if (rc == 0 && count > 0) {
        rc = pds_store_meta_set_u64(s, txn, PDS_RESERVE_COUNT, count - 1);
    }

    return rc;
}
