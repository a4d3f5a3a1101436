/*
 * ngx_pds_module core: opening and checking a tenant's LMDB environment.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pds_store.h"


#define PDS_STORE_MAX_DBS  32


static const char  pds_schema_key[] = "schema";


static int
pds_store_fail(char *err, size_t err_len, const char *what, int rc)
{
    snprintf(err, err_len, "%s: %s", what,
             rc > 0 ? mdb_strerror(rc) : strerror(errno));
    return -1;
}


int
pds_store_open(const char *dir, size_t map_size, unsigned max_readers,
    pds_store_t **out, char *err, size_t err_len)
{
    int           rc;
    char          ver[16];
    MDB_val       key, val;
    MDB_txn      *txn;
    pds_store_t  *s;

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        return pds_store_fail(err, err_len, "mkdir", 0);
    }

    s = calloc(1, sizeof(pds_store_t));
    if (s == NULL) {
        return pds_store_fail(err, err_len, "calloc", 0);
    }

    rc = mdb_env_create(&s->env);
    if (rc != 0) {
        free(s);
        return pds_store_fail(err, err_len, "mdb_env_create", rc);
    }

    mdb_env_set_maxdbs(s->env, PDS_STORE_MAX_DBS);
    mdb_env_set_maxreaders(s->env, max_readers);

    rc = mdb_env_set_mapsize(s->env, map_size);
    if (rc != 0) {
        pds_store_fail(err, err_len, "mdb_env_set_mapsize", rc);
        goto failed;
    }

    /*
     * MDB_NOTLS: read transactions belong to the transaction object, not
     * to the thread, so an event loop may hold several at once and thread
     * pool tasks may run write transactions.
     */
    rc = mdb_env_open(s->env, dir, MDB_NOTLS, 0600);
    if (rc != 0) {
        pds_store_fail(err, err_len, "mdb_env_open", rc);
        goto failed;
    }

    mdb_reader_check(s->env, &s->dead_readers);

    rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != 0) {
        pds_store_fail(err, err_len, "mdb_txn_begin", rc);
        goto failed;
    }

    rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->meta);
    if (rc != 0) {
        mdb_txn_abort(txn);
        pds_store_fail(err, err_len, "mdb_dbi_open meta", rc);
        goto failed;
    }

    key.mv_data = (void *) pds_schema_key;
    key.mv_size = sizeof(pds_schema_key) - 1;

    rc = mdb_get(txn, s->meta, &key, &val);

    if (rc == MDB_NOTFOUND) {
        val.mv_size = (size_t) snprintf(ver, sizeof(ver), "%d",
                                        PDS_STORE_SCHEMA);
        val.mv_data = ver;
        rc = mdb_put(txn, s->meta, &key, &val, 0);

    } else if (rc == 0) {
        if (val.mv_size >= sizeof(ver)) {
            val.mv_size = sizeof(ver) - 1;
        }
        memcpy(ver, val.mv_data, val.mv_size);
        ver[val.mv_size] = '\0';

        if (atoi(ver) != PDS_STORE_SCHEMA) {
            mdb_txn_abort(txn);
            snprintf(err, err_len, "unknown schema version \"%s\" in %s",
                     ver, dir);
            goto failed;
        }
    }

    if (rc != 0) {
        mdb_txn_abort(txn);
        pds_store_fail(err, err_len, "schema", rc);
        goto failed;
    }

    rc = mdb_txn_commit(txn);
    if (rc != 0) {
        pds_store_fail(err, err_len, "mdb_txn_commit", rc);
        goto failed;
    }

    *out = s;
    return 0;

failed:

    mdb_env_close(s->env);
    free(s);
    return -1;
}


void
pds_store_close(pds_store_t *store)
{
    if (store) {
        mdb_env_close(store->env);
        free(store);
    }
}


int
pds_store_health(pds_store_t *store)
{
    int       rc;
    MDB_val   key, val;
    MDB_txn  *txn;

    if (store == NULL) {
        return -1;
    }

    rc = mdb_txn_begin(store->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) {
        return -1;
    }

    key.mv_data = (void *) pds_schema_key;
    key.mv_size = sizeof(pds_schema_key) - 1;

    rc = mdb_get(txn, store->meta, &key, &val);
    mdb_txn_abort(txn);

    return rc == 0 ? 0 : -1;
}
