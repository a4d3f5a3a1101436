/*
 * ngx_pds_module core: opening and checking a tenant's LMDB environment,
 * uids and the event sequence counter.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pds_store.h"


#define PDS_STORE_MAX_DBS  32


typedef struct {
    const char  *name;
    size_t       offset;
} pds_store_db_t;


static const char  pds_schema_key[] = "schema";
static const char  pds_last_seq_key[] = "last_seq";
static const char  pds_next_uid_key[] = "next_uid";


#define pds_store_db(field)  { #field + 3, offsetof(pds_store_t, field) }

static const pds_store_db_t  pds_store_dbs[] = {
    pds_store_db(db_dids),
    pds_store_db(db_repos),
    pds_store_db(db_blocks),
    pds_store_db(db_records),
    pds_store_db(db_events),
    pds_store_db(db_accounts),
    pds_store_db(db_handles),
    pds_store_db(db_emails),
    pds_store_db(db_invites),
    pds_store_db(db_tokens),
    pds_store_db(db_app_passwords),
    pds_store_db(db_blobs),
    pds_store_db(db_blob_refs),
    pds_store_db(db_prefs),
    pds_store_db(db_seq_by_did),
    pds_store_db(db_outbox),
    pds_store_db(db_email_tokens),
    pds_store_db(db_takedowns),
    pds_store_db(db_oauth),
};


static int
pds_store_fail(char *err, size_t err_len, const char *what, int rc)
{
    snprintf(err, err_len, "%s: %s", what,
             rc > 0 || rc < -1 ? mdb_strerror(rc) : strerror(errno));
    return -1;
}


/* sizes and opens the environment (created by the caller) */
static int
pds_store_env(pds_store_t *s, const char *dir, size_t map_size,
    unsigned max_readers, char *err, size_t err_len)
{
    int          rc;
    MDB_envinfo  info;

    mdb_env_set_maxdbs(s->env, PDS_STORE_MAX_DBS);
    mdb_env_set_maxreaders(s->env, max_readers);

    rc = mdb_env_set_mapsize(s->env, map_size);
    if (rc != 0) {
        return pds_store_fail(err, err_len, "mdb_env_set_mapsize", rc);
    }

    /*
     * MDB_NOTLS: read transactions belong to the transaction object, not
     * to the thread, so an event loop may hold several at once and thread
     * pool tasks may run write transactions.
     */
    rc = mdb_env_open(s->env, dir, MDB_NOTLS | MDB_NORDAHEAD, 0600);
    if (rc != 0) {
        return pds_store_fail(err, err_len, "mdb_env_open", rc);
    }

    mdb_reader_check(s->env, &s->dead_readers);

    s->map_asked = map_size;
    s->map_size = (mdb_env_info(s->env, &info) == 0) ? info.me_mapsize
                                                     : map_size;

    return 0;
}


/* checks (or, in a new store, writes) the schema version in meta */
static int
pds_store_schema(pds_store_t *s, MDB_txn *txn, const char *dir, char *err,
    size_t err_len)
{
    int      rc;
    char     ver[16];
    MDB_val  key, val;

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
            snprintf(err, err_len, "unknown schema version \"%s\" in %s",
                     ver, dir);
            return -1;
        }
    }

    if (rc != 0) {
        return pds_store_fail(err, err_len, "schema", rc);
    }

    return 0;
}


/* opens (creates) meta and every named database, checks the schema */
static int
pds_store_open_dbs(pds_store_t *s, const char *dir, char *err, size_t err_len)
{
    int       rc;
    size_t    i;
    MDB_dbi  *dbi;
    MDB_txn  *txn;

    rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != 0) {
        return pds_store_fail(err, err_len, "mdb_txn_begin", rc);
    }

    rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->meta);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return pds_store_fail(err, err_len, "mdb_dbi_open meta", rc);
    }

    for (i = 0; i < sizeof(pds_store_dbs) / sizeof(pds_store_dbs[0]); i++) {
        dbi = (MDB_dbi *) ((char *) s + pds_store_dbs[i].offset);

        rc = mdb_dbi_open(txn, pds_store_dbs[i].name, MDB_CREATE, dbi);
        if (rc != 0) {
            mdb_txn_abort(txn);
            snprintf(err, err_len, "mdb_dbi_open %s: %s",
                     pds_store_dbs[i].name, mdb_strerror(rc));
            return -1;
        }
    }

    if (pds_store_schema(s, txn, dir, err, err_len) != 0) {
        mdb_txn_abort(txn);
        return -1;
    }

    rc = mdb_txn_commit(txn);
    if (rc != 0) {
        return pds_store_fail(err, err_len, "mdb_txn_commit", rc);
    }

    return 0;
}


int
pds_store_open(const char *dir, size_t map_size, unsigned max_readers,
    pds_store_t **out, char *err, size_t err_len)
{
    int           rc;
    pds_store_t  *s;

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        return pds_store_fail(err, err_len, "mkdir", 0);
    }

    s = calloc(1, sizeof(pds_store_t));
    if (s == NULL) {
        return pds_store_fail(err, err_len, "calloc", 0);
    }

    if (pds_tid_gen_init(&s->tid_gen) != 0) {
        pds_tid_gen_init_clock(&s->tid_gen, (unsigned) getpid() & 1023);
    }

    if (pthread_mutex_init(&s->tid_lock, NULL) != 0) {
        free(s);
        return pds_store_fail(err, err_len, "pthread_mutex_init", 0);
    }

    rc = mdb_env_create(&s->env);
    if (rc != 0) {
        pthread_mutex_destroy(&s->tid_lock);
        free(s);
        return pds_store_fail(err, err_len, "mdb_env_create", rc);
    }

    if (pds_store_env(s, dir, map_size, max_readers, err, err_len) != 0
        || pds_store_open_dbs(s, dir, err, err_len) != 0)
    {
        mdb_env_close(s->env);
        pthread_mutex_destroy(&s->tid_lock);
        free(s);
        return -1;
    }

    *out = s;
    return 0;
}


void
pds_store_close(pds_store_t *store)
{
    if (store) {
        mdb_env_close(store->env);
        pthread_mutex_destroy(&store->tid_lock);
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


int
pds_store_read_begin(pds_store_t *store, MDB_txn **txn)
{
    return pds_store_rc(mdb_txn_begin(store->env, NULL, MDB_RDONLY, txn));
}


int
pds_store_write_begin(pds_store_t *store, MDB_txn **txn)
{
    return pds_store_rc(mdb_txn_begin(store->env, NULL, 0, txn));
}


int
pds_store_rc(int rc)
{
    switch (rc) {
    case 0:
        return 0;
    case MDB_NOTFOUND:
        return PDS_NOTFOUND;
    case MDB_KEYEXIST:
        return PDS_EXISTS;
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
        return PDS_STORE_MAPFULL;
    default:
        return PDS_STORE_ERROR;
    }
}


int
pds_store_next_rev(pds_store_t *store, const char *last_rev,
    char out[PDS_TID_BUF])
{
    int  rc;

    pthread_mutex_lock(&store->tid_lock);

    if (last_rev == NULL || last_rev[0] == '\0') {
        rc = pds_tid_next(&store->tid_gen, out);

    } else {
        rc = pds_tid_next_after(&store->tid_gen, last_rev, strlen(last_rev),
                                out);
    }

    pthread_mutex_unlock(&store->tid_lock);

    return rc;
}


void
pds_store_put_u64(uint8_t *p, uint64_t v)
{
    int  i;

    for (i = 7; i >= 0; i--) {
        p[i] = (uint8_t) v;
        v >>= 8;
    }
}


uint64_t
pds_store_get_u64(const uint8_t *p)
{
    int       i;
    uint64_t  v;

    v = 0;

    for (i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }

    return v;
}


int
pds_store_meta_u64(pds_store_t *store, MDB_txn *txn, const char *name,
    uint64_t *v)
{
    int      rc;
    MDB_val  key, val;

    key.mv_data = (void *) name;
    key.mv_size = strlen(name);

    rc = mdb_get(txn, store->meta, &key, &val);
    if (rc == MDB_NOTFOUND) {
        *v = 0;
        return 0;
    }

    if (rc != 0) {
        return pds_store_rc(rc);
    }

    if (val.mv_size != 8) {
        return PDS_STORE_ERROR;
    }

    *v = pds_store_get_u64(val.mv_data);
    return 0;
}


int
pds_store_meta_set_u64(pds_store_t *store, MDB_txn *txn, const char *name,
    uint64_t v)
{
    uint8_t  buf[8];
    MDB_val  key, val;

    pds_store_put_u64(buf, v);

    key.mv_data = (void *) name;
    key.mv_size = strlen(name);
    val.mv_data = buf;
    val.mv_size = 8;

    return pds_store_rc(mdb_put(txn, store->meta, &key, &val, 0));
}


int
pds_store_uid_get(pds_store_t *store, MDB_txn *txn, const char *did,
    size_t len, uint64_t *uid)
{
    int      rc;
    MDB_val  key, val;

    if (len == 0 || len > 511) {
        return PDS_NOTFOUND;
    }

    key.mv_data = (void *) did;
    key.mv_size = len;

    rc = mdb_get(txn, store->db_dids, &key, &val);
    if (rc != 0) {
        return pds_store_rc(rc);
    }

    if (val.mv_size != PDS_UID_LEN) {
        return PDS_STORE_ERROR;
    }

    *uid = pds_store_get_u64(val.mv_data);
    return 0;
}


int
pds_store_uid_alloc(pds_store_t *store, MDB_txn *txn, const char *did,
    size_t len, uint64_t *uid)
{
    int       rc;
    uint8_t   buf[8];
    uint64_t  next;
    MDB_val   key, val;

    rc = pds_store_uid_get(store, txn, did, len, uid);
    if (rc == 0) {
        return PDS_EXISTS;
    }

    if (rc != PDS_NOTFOUND || len == 0 || len > 511) {
        return PDS_STORE_ERROR;
    }

    rc = pds_store_meta_u64(store, txn, pds_next_uid_key, &next);
    if (rc != 0) {
        return rc;
    }

    if (next == 0) {
        next = 1;
    }

    pds_store_put_u64(buf, next);

    key.mv_data = (void *) did;
    key.mv_size = len;
    val.mv_data = buf;
    val.mv_size = 8;

    rc = mdb_put(txn, store->db_dids, &key, &val, MDB_NOOVERWRITE);
    if (rc != 0) {
        return pds_store_rc(rc);
    }

    rc = pds_store_meta_set_u64(store, txn, pds_next_uid_key, next + 1);
    if (rc != 0) {
        return rc;
    }

    *uid = next;
    return 0;
}


int
pds_store_seq_last(pds_store_t *store, MDB_txn *txn, uint64_t *seq)
{
    int          rc;
    uint64_t     last;
    MDB_val      key, val;
    MDB_cursor  *c;

    rc = pds_store_meta_u64(store, txn, pds_last_seq_key, &last);
    if (rc != 0) {
        return rc;
    }

    rc = mdb_cursor_open(txn, store->db_events, &c);
    if (rc != 0) {
        return pds_store_rc(rc);
    }

    rc = mdb_cursor_get(c, &key, &val, MDB_LAST);
    mdb_cursor_close(c);

    if (rc == 0 && key.mv_size == PDS_SEQ_LEN
        && pds_store_get_u64(key.mv_data) > last)
    {
        last = pds_store_get_u64(key.mv_data);

    } else if (rc != 0 && rc != MDB_NOTFOUND) {
        return pds_store_rc(rc);
    }

    *seq = last;
    return 0;
}


int
pds_store_seq_next(pds_store_t *store, MDB_txn *txn, uint64_t *seq)
{
    int       rc;
    uint64_t  last;

    rc = pds_store_seq_last(store, txn, &last);
    if (rc != 0) {
        return rc;
    }

    rc = pds_store_meta_set_u64(store, txn, pds_last_seq_key, last + 1);
    if (rc != 0) {
        return rc;
    }

    *seq = last + 1;
    return 0;
}


int
pds_store_get_id(MDB_txn *txn, MDB_dbi dbi, uint64_t id, MDB_val *val)
{
    int      rc;
    uint8_t  k[8];
    MDB_val  key;

    pds_store_put_u64(k, id);
    key.mv_data = k;
    key.mv_size = sizeof(k);

    rc = mdb_get(txn, dbi, &key, val);

    return rc == MDB_NOTFOUND ? PDS_NOTFOUND : rc;
}


int
pds_store_count_prefix(MDB_txn *txn, MDB_dbi dbi, const void *prefix,
    size_t len, uint64_t *count)
{
    int               rc;
    MDB_val           key, val;
    uint64_t          n;
    pds_store_iter_t  it;

    rc = pds_store_iter_open(txn, dbi, prefix, len, len, &it);
    if (rc != 0) {
        return rc;
    }

    n = 0;

    while ((rc = pds_store_iter_next(&it, &key, &val)) == 0) {
        n++;
    }

    pds_store_iter_close(&it);

    if (rc != PDS_NOTFOUND) {
        return rc;
    }

    *count = n;

    return 0;
}


/* the states of an iterator */
#define PDS_STORE_ITER_NEW      0       /* the first key not sought yet */
#define PDS_STORE_ITER_MOVING   1
#define PDS_STORE_ITER_DONE     2


int
pds_store_iter_open(MDB_txn *txn, MDB_dbi dbi, const void *start,
    size_t len, size_t prefix_len, pds_store_iter_t *it)
{
    it->cur = NULL;
    it->state = PDS_STORE_ITER_DONE;

    if (len > PDS_STORE_ITER_START_MAX || prefix_len > len) {
        return PDS_STORE_ERROR;
    }

    if (mdb_cursor_open(txn, dbi, &it->cur) != 0) {
        it->cur = NULL;
        return PDS_STORE_ERROR;
    }

    if (len) {
        memcpy(it->start, start, len);
    }

    it->start_len = len;
    it->prefix_len = prefix_len;
    it->state = PDS_STORE_ITER_NEW;

    return 0;
}


int
pds_store_iter_open_id(MDB_txn *txn, MDB_dbi dbi, uint64_t id, int within,
    pds_store_iter_t *it)
{
    uint8_t  k[8];

    pds_store_put_u64(k, id);

    return pds_store_iter_open(txn, dbi, k, sizeof(k), within ? sizeof(k) : 0,
                               it);
}


int
pds_store_iter_next(pds_store_iter_t *it, MDB_val *key, MDB_val *val)
{
    int  rc;

    switch (it->state) {

    case PDS_STORE_ITER_NEW:
        it->state = PDS_STORE_ITER_MOVING;

        if (it->start_len == 0) {
            rc = mdb_cursor_get(it->cur, key, val, MDB_FIRST);
            break;
        }

        key->mv_data = it->start;
        key->mv_size = it->start_len;
        rc = mdb_cursor_get(it->cur, key, val, MDB_SET_RANGE);
        break;

    case PDS_STORE_ITER_MOVING:
        rc = mdb_cursor_get(it->cur, key, val, MDB_NEXT);
        break;

    default:
        return PDS_NOTFOUND;
    }

    if (rc == 0
        && (key->mv_size < it->prefix_len
            || memcmp(key->mv_data, it->start, it->prefix_len) != 0))
    {
        rc = MDB_NOTFOUND;
    }

    if (rc != 0) {
        it->state = PDS_STORE_ITER_DONE;
        return rc == MDB_NOTFOUND ? PDS_NOTFOUND : PDS_STORE_ERROR;
    }

    return 0;
}


void
pds_store_iter_close(pds_store_iter_t *it)
{
    if (it->cur) {
        mdb_cursor_close(it->cur);
        it->cur = NULL;
    }

    it->state = PDS_STORE_ITER_DONE;
}
