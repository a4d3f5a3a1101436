/*
 * ngx_pds_module core: the LMDB store of one PDS tenant.
 *
 * One environment per tenant (a directory), opened once per process.  This
 * is the only code that opens LMDB transactions; the layout of the named
 * databases is described in docs/STORAGE.md.
 */

#ifndef PDS_STORE_H
#define PDS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>


#define PDS_STORE_SCHEMA  1


typedef struct pds_store_s  pds_store_t;

struct pds_store_s {
    MDB_env    *env;
    MDB_dbi     meta;          /* "meta": name -> value */
    int         dead_readers;  /* stale reader slots cleared at open */
};


/*
 * Opens (creating when missing) the environment in directory dir, checks or
 * writes the schema version.  On failure returns -1 with a message in err.
 */
int pds_store_open(const char *dir, size_t map_size, unsigned max_readers,
    pds_store_t **out, char *err, size_t err_len);
void pds_store_close(pds_store_t *store);

/* 0 if a read transaction works and the schema is ours, -1 otherwise */
int pds_store_health(pds_store_t *store);

#endif /* PDS_STORE_H */
