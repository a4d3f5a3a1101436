/*
 * ngx_pds_module core: the preferences table of a tenant
 * (app.bsky.actor.getPreferences / putPreferences).
 *
 * One row per account, keyed by its uid (8 bytes, big-endian): the JSON
 * array of its preference objects, stored as the bytes given.  What the
 * array holds and who may change which part is the caller's business;
 * this file only owns the table and its key layout.
 */

#ifndef PDS_PREFS_H
#define PDS_PREFS_H

#include <stddef.h>
#include <stdint.h>

#include "pds_store.h"


/*
 * The stored JSON of uid: 0 (*json, *len point into LMDB, valid while the
 * transaction lives), PDS_NOTFOUND when nothing was ever put, or an LMDB
 * error code.
 */
int pds_prefs_get(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    const uint8_t **json, size_t *len);

/* replaces the stored JSON of uid (write transaction): 0 or an LMDB error */
int pds_prefs_put(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    const void *json, size_t len);

#endif /* PDS_PREFS_H */
