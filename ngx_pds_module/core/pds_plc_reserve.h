/*
 * ngx_pds_module core: signing keys reserved for an account that is about
 * to move here (com.atproto.server.reserveSigningKey with a DID).
 *
 * The old PDS's user asks the new one for a signing key before the move so
 * that the DID document can name it; createAccount with that DID then
 * makes the account with the same key.  The private key is kept in the
 * store's meta table under "reserved_key:" + DID until the account is
 * made (or the key is reserved again, which hands back the same key).
 */

#ifndef PDS_PLC_RESERVE_H
#define PDS_PLC_RESERVE_H

#include <stddef.h>
#include <stdint.h>

#include "pds_keys.h"
#include "pds_store.h"


/* the longest DID a reservation is kept for (LMDB keys: 511 bytes) */
#define PDS_RESERVE_DID_MAX  (511 - 13)

/* reservations older than this are forgotten (reserveSigningKey needs no
 * authentication, so its rows must not pile up) */
#define PDS_RESERVE_TTL_MS   (7LL * 24 * 60 * 60 * 1000)

/* at most this many reservations are kept at once (EAGAIN beyond) */
#define PDS_RESERVE_MAX      1000


/*
 * The key reserved for did, into priv: 0, PDS_NOTFOUND or an LMDB error.
 * *created_ms (may be NULL) gets when it was reserved.
 */
int pds_plc_reserve_get(pds_store_t *s, MDB_txn *txn, const char *did,
    uint8_t priv[PDS_KEY_PRIV_LEN], int64_t *created_ms);

/*
 * Keeps priv as the key reserved for did (replacing any), after visiting
 * up to 64 reservations (round robin) and removing those older than
 * PDS_RESERVE_TTL_MS: 0, EINVAL (no or too long a DID), EAGAIN (already
 * PDS_RESERVE_MAX reservations) or an LMDB error.
 */
int pds_plc_reserve_put(pds_store_t *s, MDB_txn *txn, const char *did,
    const uint8_t priv[PDS_KEY_PRIV_LEN], int64_t now_ms);

/* forgets the key reserved for did: 0 (also when there is none) */
int pds_plc_reserve_delete(pds_store_t *s, MDB_txn *txn, const char *did);

#endif /* PDS_PLC_RESERVE_H */
