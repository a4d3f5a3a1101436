/*
 * Unit tests of reserved signing keys (pds_plc_reserve.c) on a real LMDB
 * store: kept per DID, replaced, forgotten, and never mixed up between
 * DIDs or with the store's counters in meta.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "pds_plc_reserve.h"


int
main(void)
{
    char          dir[] = "/tmp/pds-test-reserve-XXXXXX", cmd[128], err[256];
    char          longdid[PDS_RESERVE_DID_MAX + 16];
    uint8_t       k1[PDS_KEY_PRIV_LEN], k2[PDS_KEY_PRIV_LEN];
    uint8_t       out[PDS_KEY_PRIV_LEN];
    int64_t       created;
    uint64_t      uid;
    MDB_txn      *txn;
    pds_store_t  *s;

    memset(k1, 0x11, sizeof(k1));
    memset(k2, 0x22, sizeof(k2));

    if (mkdtemp(dir) == NULL
        || pds_store_open(dir, 16 * 1024 * 1024, 16, &s, err, sizeof(err))
           != 0)
    {
        ok(0, "store opens");
        return tap_done();
    }

    ok(pds_store_write_begin(s, &txn) == 0, "write txn");

    ok(pds_plc_reserve_get(s, txn, "did:plc:aaaa", out, NULL)
       == PDS_NOTFOUND, "nothing reserved yet");

    ok(pds_plc_reserve_put(s, txn, "did:plc:aaaa", k1, 1700000000123LL) == 0,
       "reserve a key for a DID");
    ok(pds_plc_reserve_put(s, txn, "did:plc:bbbb", k2, 5) == 0,
       "and another for another DID");

    memset(out, 0, sizeof(out));
    created = 0;
    ok(pds_plc_reserve_get(s, txn, "did:plc:aaaa", out, &created) == 0
       && memcmp(out, k1, sizeof(k1)) == 0,
       "the first DID's key comes back");
    ok(created == 1700000000123LL, "with when it was reserved");

    ok(pds_plc_reserve_get(s, txn, "did:plc:bbbb", out, NULL) == 0
       && memcmp(out, k2, sizeof(k2)) == 0, "the second DID's key");

    ok(pds_plc_reserve_get(s, txn, "did:plc:aaa", out, NULL) == PDS_NOTFOUND,
       "a prefix of a DID has none");

    ok(pds_plc_reserve_put(s, txn, "did:plc:aaaa", k2, 6) == 0,
       "reserving again replaces");
    ok(pds_plc_reserve_get(s, txn, "did:plc:aaaa", out, NULL) == 0
       && memcmp(out, k2, sizeof(k2)) == 0, "... with the new key");

    /* the store's counters in meta are untouched */
    ok(pds_store_uid_alloc(s, txn, "did:plc:cccc", 12, &uid) == 0
       && uid == 1, "uids are still allocated from 1 (%llu)",
       (unsigned long long) uid);

    ok(pds_plc_reserve_delete(s, txn, "did:plc:aaaa") == 0, "delete");
    ok(pds_plc_reserve_get(s, txn, "did:plc:aaaa", out, NULL)
       == PDS_NOTFOUND, "... gone");
    ok(pds_plc_reserve_delete(s, txn, "did:plc:aaaa") == 0,
       "deleting what is not there is fine");
    ok(pds_plc_reserve_get(s, txn, "did:plc:bbbb", out, NULL) == 0,
       "the other DID's key is still there");

    memset(longdid, 'x', sizeof(longdid) - 1);
    longdid[sizeof(longdid) - 1] = '\0';
    ok(pds_plc_reserve_put(s, txn, longdid, k1, 1) == EINVAL,
       "too long a DID: EINVAL");
    ok(pds_plc_reserve_put(s, txn, "", k1, 1) == EINVAL, "no DID: EINVAL");
    ok(pds_plc_reserve_get(s, txn, NULL, out, NULL) == PDS_NOTFOUND,
       "NULL DID: none");

    memset(longdid, 'y', PDS_RESERVE_DID_MAX);
    longdid[PDS_RESERVE_DID_MAX] = '\0';
    ok(pds_plc_reserve_put(s, txn, longdid, k1, 7) == 0,
       "the longest DID kept fits an LMDB key");
    ok(pds_plc_reserve_get(s, txn, longdid, out, NULL) == 0,
       "... and comes back");
    ok(pds_plc_reserve_delete(s, txn, longdid) == 0, "... and goes");

    /* stale reservations go when a new one is made */
    ok(pds_plc_reserve_put(s, txn, "did:plc:dddd", k1, 1000) == 0,
       "a reservation made at t=1000");
    ok(pds_plc_reserve_put(s, txn, "did:plc:eeee", k1,
                           1000 + PDS_RESERVE_TTL_MS + 1) == 0,
       "another, a TTL later");
    ok(pds_plc_reserve_get(s, txn, "did:plc:dddd", out, NULL)
       == PDS_NOTFOUND, "the stale one is forgotten");
    ok(pds_plc_reserve_get(s, txn, "did:plc:eeee", out, NULL) == 0,
       "the new one is kept");
    ok(pds_plc_reserve_put(s, txn, "did:plc:bbbb", k2, 8) == 0,
       "did:plc:bbbb (pruned too) reserved again");

    /* a cap on live reservations, and expired ones freed round robin */
    {
        int   i, rc_put, full;
        char  d[64];

        full = 0;

        for (i = 0; i < PDS_RESERVE_MAX + 5; i++) {
            snprintf(d, sizeof(d), "did:plc:cap%05d", i);
            rc_put = pds_plc_reserve_put(s, txn, d, k1, 2000000);
            if (rc_put == EAGAIN) {
                full++;
            }
        }

        ok(full > 0 && full <= 5 + 3,
           "past %d live reservations: EAGAIN (%d times)", PDS_RESERVE_MAX,
           full);

        ok(pds_plc_reserve_put(s, txn, "did:plc:cap00001", k2, 2000001) == 0,
           "reserving again for a DID that has one still works");

        /* a TTL later, every put frees up to 64: all can be made again */
        full = 0;

        for (i = 0; i < 40; i++) {
            snprintf(d, sizeof(d), "did:plc:new%05d", i);
            if (pds_plc_reserve_put(s, txn, d, k1,
                                    2000000 + PDS_RESERVE_TTL_MS + 10)
                != 0)
            {
                full++;
            }
        }

        is_int(full, 0, "expired reservations make room");

        snprintf(d, sizeof(d), "did:plc:cap%05d", 900);
        for (i = 0; i < 30; i++) {
            (void) pds_plc_reserve_put(s, txn, "did:plc:new00000", k1,
                                       2000000 + PDS_RESERVE_TTL_MS + 10);
        }
        ok(pds_plc_reserve_get(s, txn, d, out, NULL) == PDS_NOTFOUND,
           "expired rows far from the start are reached too (round robin)");
    }

    ok(mdb_txn_commit(txn) == 0, "commit");

    ok(pds_store_read_begin(s, &txn) == 0
       && pds_plc_reserve_get(s, txn, "did:plc:new00000", out, NULL) == 0
       && memcmp(out, k1, sizeof(k1)) == 0, "kept across transactions");
    mdb_txn_abort(txn);

    pds_store_close(s);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0) {
        tap_diag("could not remove %s", dir);
    }

    return tap_done();
}
