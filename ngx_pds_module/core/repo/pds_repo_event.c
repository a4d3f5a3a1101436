/*
 * ngx_pds_module core, the repository engine: the firehose events.
 *
 * #identity, #account, #sync and #commit frames, each sequenced and written
 * in the caller's transaction, and reads of the event table in sequence
 * order.
 */

#include <stdlib.h>
#include <string.h>

#include "pds_repo_int.h"
#include "pds_cbor.h"
#include "pds_mem.h"
#include "pds_syntax.h"


int
pds_event_put(pds_store_t *store, MDB_txn *txn, uint64_t seq,
    const pds_buf_t *frame)
{
    int      rc;
    uint8_t  k[PDS_SEQ_LEN];
    MDB_val  key, val;

    pds_store_put_u64(k, seq);
    key.mv_data = k;
    key.mv_size = sizeof(k);
    val.mv_data = frame->data;
    val.mv_size = frame->len;

    rc = mdb_put(txn, store->db_events, &key, &val, MDB_APPEND);
    if (rc == MDB_KEYEXIST) {
        rc = mdb_put(txn, store->db_events, &key, &val, MDB_NOOVERWRITE);
    }

    return rc == 0 ? 0 : pds_repo_mdb(rc);
}


/* the frame header {t, op: 1} and the common body fields */
static int
pds_event_head(pds_buf_t *b, const char *type)
{
    return (pds_cbor_put_map(b, 2) != 0
            || pds_cbor_put_str(b, "t") != 0
            || pds_cbor_put_str(b, type) != 0
            || pds_cbor_put_str(b, "op") != 0
            || pds_cbor_put_uint(b, 1) != 0) ? -1 : 0;
}


int
pds_event_seq(pds_store_t *store, MDB_txn *txn, uint64_t *seq)
{
    int  rc;

    rc = pds_store_seq_next(store, txn, seq);

    if (rc == PDS_STORE_MAPFULL) {
        return PDS_REPO_EMAPFULL;
    }

    return rc == 0 ? 0 : PDS_REPO_ESTORE;
}


/*
 * The small events (#identity, #account): takes the next seq, writes the
 * frame header and a map of n fields opening with did, seq and time (the
 * canonical key order puts those three first); the caller adds the rest
 * and pds_event_small_end() stores the frame.  b is freed on failure.
 */
static int
pds_event_small_begin(pds_store_t *store, MDB_txn *txn, pds_buf_t *b,
    const char *type, size_t n, const char *did, uint64_t *seq)
{
    int   rc;
    char  now[PDS_REPO_TIME_BUF];

    rc = pds_event_seq(store, txn, seq);
    if (rc != 0) {
        return rc;
    }

    pds_repo_time_now(now);
    pds_buf_init(b, &pds_malloc_allocator);

    if (pds_event_head(b, type) != 0
        || pds_cbor_put_map(b, n) != 0
        || pds_cbor_put_str(b, "did") != 0
        || pds_cbor_put_str(b, did) != 0
        || pds_cbor_put_str(b, "seq") != 0
        || pds_cbor_put_uint(b, *seq) != 0
        || pds_cbor_put_str(b, "time") != 0
        || pds_cbor_put_str(b, now) != 0)
    {
        pds_buf_free(b);
        return PDS_REPO_ENOMEM;
    }

    return 0;
}


/* stores the frame (unless failed, a PDS_REPO_* error) and frees b */
static int
pds_event_small_end(pds_store_t *store, MDB_txn *txn, pds_buf_t *b,
    uint64_t seq, int failed, uint64_t *seqp)
{
    int  rc;

    rc = failed ? failed : pds_event_put(store, txn, seq, b);
    pds_buf_free(b);

    if (rc == 0 && seqp) {
        *seqp = seq;
    }

    return rc;
}


int
pds_repo_event_identity(pds_store_t *store, MDB_txn *txn, const char *did,
    const char *handle, uint64_t *seqp)
{
    int        rc;
    uint64_t   seq;
    pds_buf_t  b;

    /* did, seq, time, handle */
    rc = pds_event_small_begin(store, txn, &b, "#identity", handle ? 4 : 3,
                               did, &seq);
    if (rc != 0) {
        return rc;
    }

    rc = (handle
          && (pds_cbor_put_str(&b, "handle") != 0
              || pds_cbor_put_str(&b, handle) != 0))
         ? PDS_REPO_ENOMEM : 0;

    return pds_event_small_end(store, txn, &b, seq, rc, seqp);
}


int
pds_repo_event_account(pds_store_t *store, MDB_txn *txn, const char *did,
    int active, const char *status, uint64_t *seqp)
{
    int        rc;
    uint64_t   seq;
    pds_buf_t  b;

    /* did, seq, time, active, status */
    rc = pds_event_small_begin(store, txn, &b, "#account", status ? 5 : 4,
                               did, &seq);
    if (rc != 0) {
        return rc;
    }

    rc = (pds_cbor_put_str(&b, "active") != 0
          || pds_cbor_put_bool(&b, active) != 0
          || (status
              && (pds_cbor_put_str(&b, "status") != 0
                  || pds_cbor_put_str(&b, status) != 0)))
         ? PDS_REPO_ENOMEM : 0;

    return pds_event_small_end(store, txn, &b, seq, rc, seqp);
}


int
pds_event_sync_put(pds_store_t *store, MDB_txn *txn, const char *did,
    size_t did_len, const char *rev, const pds_cid_t *commit,
    const uint8_t *cp, size_t cn, uint64_t *seqp)
{
    int               rc;
    char              now[PDS_REPO_TIME_BUF];
    uint64_t          seq;
    pds_buf_t         b;
    pds_car_writer_t  car;

    pds_car_writer_init(&car, &pds_malloc_allocator, 0, NULL, NULL);

    if (pds_car_header(&car, commit, 1) != 0
        || pds_car_block(&car, commit, cp, cn) != 0)
    {
        pds_car_writer_free(&car);
        return PDS_REPO_ENOMEM;
    }

    rc = pds_event_seq(store, txn, &seq);
    if (rc != 0) {
        pds_car_writer_free(&car);
        return rc;
    }

    pds_repo_time_now(now);
    pds_buf_init(&b, &pds_malloc_allocator);

    /* did, rev, seq, time, blocks */
    if (pds_event_head(&b, "#sync") != 0
        || pds_cbor_put_map(&b, 5) != 0
        || pds_cbor_put_str(&b, "did") != 0
        || pds_cbor_put_text(&b, did, did_len) != 0
        || pds_cbor_put_str(&b, "rev") != 0
        || pds_cbor_put_str(&b, rev) != 0
        || pds_cbor_put_str(&b, "seq") != 0
        || pds_cbor_put_uint(&b, seq) != 0
        || pds_cbor_put_str(&b, "time") != 0
        || pds_cbor_put_str(&b, now) != 0
        || pds_cbor_put_str(&b, "blocks") != 0
        || pds_cbor_put_bytes(&b, car.buf.data, car.buf.len) != 0)
    {
        rc = PDS_REPO_ENOMEM;

    } else {
        rc = pds_event_put(store, txn, seq, &b);
    }

    pds_buf_free(&b);
    pds_car_writer_free(&car);

    if (rc == 0 && seqp) {
        *seqp = seq;
    }

    return rc;
}


int
pds_repo_event_sync(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    uint64_t *seq)
{
    int              rc;
    size_t           n;
    uint8_t         *copy;
    const uint8_t   *p;
    pds_repo_root_t  root;
    char             did[512];

    rc = pds_repo_get_root(store, txn, uid, &root);
    if (rc != 0) {
        return rc == PDS_NOTFOUND ? PDS_REPO_ENOREPO : PDS_REPO_ESTORE;
    }

    if (root.did_len >= sizeof(did)) {
        return PDS_REPO_ESTORE;
    }

    memcpy(did, root.did, root.did_len);

    if (pds_repo_get_block(store, txn, uid, &root.commit, &p, &n) != 0) {
        return PDS_REPO_EMST;
    }

    /* the event is written in this transaction: copy the block first */
    copy = malloc(n);
    if (copy == NULL) {
        return PDS_REPO_ENOMEM;
    }

    memcpy(copy, p, n);

    rc = pds_event_sync_put(store, txn, did, root.did_len, root.rev,
                            &root.commit, copy, n, seq);
    free(copy);

    return rc;
}


/* one op of a #commit: {cid, path, prev (if any), action} */
static int
pds_event_op(pds_buf_t *b, const pds_repo_op_t *op)
{
    const char  *action;

    action = op->done_action == PDS_REPO_CREATE ? "create"
             : op->done_action == PDS_REPO_UPDATE ? "update" : "delete";

    if (pds_cbor_put_map(b, op->has_prev ? 4 : 3) != 0
        || pds_cbor_put_str(b, "cid") != 0
        || (op->done_action == PDS_REPO_DELETE
            ? pds_cbor_put_null(b) : pds_cbor_put_cid(b, &op->cid)) != 0
        || pds_cbor_put_str(b, "path") != 0
        || pds_cbor_put_text_head(b, op->collection_len + 1 + op->rkey_len)
           != 0
        || pds_buf_append(b, op->collection, op->collection_len) != 0
        || pds_buf_putc(b, '/') != 0
        || pds_buf_append(b, op->rkey, op->rkey_len) != 0
        || (op->has_prev
            && (pds_cbor_put_str(b, "prev") != 0
                || pds_cbor_put_cid(b, &op->prev) != 0))
        || pds_cbor_put_str(b, "action") != 0
        || pds_cbor_put_str(b, action) != 0)
    {
        return -1;
    }

    return 0;
}


/* the #commit frame */
int
pds_event_commit(pds_buf_t *b, uint64_t seq, const char *did, size_t did_len,
    const pds_cid_t *commit, const char *rev, const char *since,
    const pds_buf_t *car, pds_repo_op_t *ops, size_t nops,
    const pds_cid_t *prev_data)
{
    char    now[PDS_REPO_TIME_BUF];
    size_t  i, nout;

    pds_repo_time_now(now);

    nout = 0;

    for (i = 0; i < nops; i++) {
        if (ops[i].done_action != PDS_REPO_NOOP) {
            nout++;
        }
    }

    /*
     * canonical order: ops, rev, seq, repo, time, blobs, since, blocks,
     * commit, rebase, tooBig, prevData
     */
    if (pds_event_head(b, "#commit") != 0
        || pds_cbor_put_map(b, prev_data ? 12 : 11) != 0
        || pds_cbor_put_str(b, "ops") != 0
        || pds_cbor_put_array(b, nout) != 0)
    {
        return -1;
    }

    for (i = 0; i < nops; i++) {
        if (ops[i].done_action != PDS_REPO_NOOP
            && pds_event_op(b, &ops[i]) != 0)
        {
            return -1;
        }
    }

    if (pds_cbor_put_str(b, "rev") != 0
        || pds_cbor_put_str(b, rev) != 0
        || pds_cbor_put_str(b, "seq") != 0
        || pds_cbor_put_uint(b, seq) != 0
        || pds_cbor_put_str(b, "repo") != 0
        || pds_cbor_put_text(b, did, did_len) != 0
        || pds_cbor_put_str(b, "time") != 0
        || pds_cbor_put_str(b, now) != 0
        || pds_cbor_put_str(b, "blobs") != 0
        || pds_cbor_put_array(b, 0) != 0
        || pds_cbor_put_str(b, "since") != 0
        || (since && since[0]
            ? pds_cbor_put_str(b, since) : pds_cbor_put_null(b)) != 0
        || pds_cbor_put_str(b, "blocks") != 0
        || pds_cbor_put_bytes(b, car->data, car->len) != 0
        || pds_cbor_put_str(b, "commit") != 0
        || pds_cbor_put_cid(b, commit) != 0
        || pds_cbor_put_str(b, "rebase") != 0
        || pds_cbor_put_bool(b, 0) != 0
        || pds_cbor_put_str(b, "tooBig") != 0
        || pds_cbor_put_bool(b, 0) != 0)
    {
        return -1;
    }

    if (prev_data
        && (pds_cbor_put_str(b, "prevData") != 0
            || pds_cbor_put_cid(b, prev_data) != 0))
    {
        return -1;
    }

    return 0;
}


/* the CAR of an event: commit first, then the set */
int
pds_event_car(const pds_alloc_t *a, const pds_cid_t *commit,
    const pds_buf_t *cblock, pds_bset_t *set, pds_buf_t *out)
{
    size_t             i;
    pds_car_writer_t   car;
    pds_bset_slot_t   *slot;

    pds_car_writer_init(&car, a, 0, NULL, NULL);

    if (pds_car_header(&car, commit, 1) != 0
        || pds_car_block(&car, commit, cblock->data, cblock->len) != 0)
    {
        return -1;
    }

    for (i = 0; i < set->len; i++) {
        if (pds_cid_equal(&set->order[i], commit)) {
            continue;
        }

        slot = pds_bset_find(set, &set->order[i]);

        if (pds_car_block(&car, &slot->cid, slot->p, slot->n) != 0) {
            return -1;
        }
    }

    *out = car.buf;
    return 0;
}


int
pds_repo_event_get(pds_store_t *store, MDB_txn *txn, uint64_t seq,
    const uint8_t **frame, size_t *len)
{
    int      rc;
    MDB_val  val;

    rc = pds_store_get_id(txn, store->db_events, seq, &val);
    if (rc != 0) {
        return rc == PDS_NOTFOUND ? PDS_NOTFOUND : PDS_STORE_ERROR;
    }

    *frame = val.mv_data;
    *len = val.mv_size;

    return 0;
}


int
pds_event_iter_open(pds_store_t *store, MDB_txn *txn, uint64_t from_seq,
    pds_event_iter_t *it)
{
    return pds_store_iter_open_id(txn, store->db_events, from_seq, 0,
                                  &it->it);
}


int
pds_event_iter_next(pds_event_iter_t *it, uint64_t *seq,
    const uint8_t **frame, size_t *len)
{
    int      rc;
    MDB_val  key, val;

    rc = pds_store_iter_next(&it->it, &key, &val);
    if (rc != 0) {
        return rc;
    }

    if (key.mv_size != PDS_SEQ_LEN) {
        return PDS_STORE_ERROR;
    }

    *seq = pds_store_get_u64(key.mv_data);
    *frame = val.mv_data;
    *len = val.mv_size;

    return 0;
}


void
pds_event_iter_close(pds_event_iter_t *it)
{
    pds_store_iter_close(&it->it);
}


int
pds_event_first_from(pds_store_t *store, MDB_txn *txn, uint64_t seq,
    uint64_t *found, const uint8_t **frame, size_t *len)
{
    int               rc;
    pds_event_iter_t  it;

    rc = pds_event_iter_open(store, txn, seq, &it);
    if (rc != 0) {
        return rc;
    }

    rc = pds_event_iter_next(&it, found, frame, len);
    pds_event_iter_close(&it);

    return rc;
}


/* ---- retention ------------------------------------------------------------ */


#define PDS_EVENTS_TRIMMED  "events_trimmed"


int64_t
pds_event_time(const uint8_t *frame, size_t len)
{
    size_t             used;
    int64_t            us, ms;
    pds_arena_t       *arena;
    pds_alloc_t        a;
    pds_cbor_t        *body;
    const pds_cbor_t  *t;

    if (pds_cbor_validate(frame, len, &used) != 0) {
        return -1;
    }

    arena = pds_arena_create();
    if (arena == NULL) {
        return -1;
    }

    a = pds_arena_allocator(arena);
    ms = -1;

    if (pds_cbor_decode(frame + used, len - used, &a, &body) == 0) {
        t = pds_cbor_map_get(body, "time");

        if (t != NULL && t->type == PDS_CBOR_STRING
            && pds_datetime_parse(t->u.str.data, t->u.str.len, &us) == 0)
        {
            ms = us / 1000;
        }
    }

    pds_arena_destroy(arena);

    return ms;
}


int
pds_event_trim(pds_store_t *store, MDB_txn *txn, int64_t cutoff_ms,
    size_t max, size_t *removed, int *more)
{
    int          rc;
    int64_t      t;
    uint64_t     seq, high;
    MDB_val      key, val;
    MDB_cursor  *cur;

    *removed = 0;
    *more = 0;
    high = 0;

    rc = mdb_cursor_open(txn, store->db_events, &cur);
    if (rc != 0) {
        return pds_repo_mdb(rc);
    }

    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
         rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST))
    {
        if (*removed == max) {
            *more = 1;
            break;
        }

        if (key.mv_size != PDS_SEQ_LEN) {
            rc = PDS_STORE_ERROR;
            break;
        }

        /*
         * Frames without a time (none are written so) are kept, and so is
         * everything after them: events leave strictly oldest first.
         */
        t = pds_event_time(val.mv_data, val.mv_size);
        if (t < 0 || t >= cutoff_ms) {
            break;
        }

        seq = pds_store_get_u64(key.mv_data);

        rc = mdb_cursor_del(cur, 0);
        if (rc != 0) {
            break;
        }

        high = seq;
        (*removed)++;
    }

    mdb_cursor_close(cur);

    if (rc != 0 && rc != MDB_NOTFOUND) {
        return rc < 0 ? rc : pds_repo_mdb(rc);
    }

    if (high == 0) {
        return 0;
    }

    return pds_store_meta_set_u64(store, txn, PDS_EVENTS_TRIMMED, high);
}


int
pds_event_trim_count(pds_store_t *store, MDB_txn *txn, uint64_t keep,
    int64_t floor_ms, size_t max, size_t *removed, int *more)
{
    int       rc;
    size_t    lim;
    uint64_t  excess;
    MDB_stat  st;

    *removed = 0;
    *more = 0;

    rc = mdb_stat(txn, store->db_events, &st);
    if (rc != 0) {
        return pds_repo_mdb(rc);
    }

    if (st.ms_entries <= keep) {
        return 0;
    }

    excess = st.ms_entries - keep;
    lim = excess < (uint64_t) max ? (size_t) excess : max;

    rc = pds_event_trim(store, txn, floor_ms, lim, removed, more);

    /* more: over the bound still (pds_event_trim's says "stopped at lim") */
    *more = (rc == 0 && *removed == lim && excess > (uint64_t) lim);

    return rc;
}


int
pds_event_trimmed(pds_store_t *store, MDB_txn *txn, uint64_t *seq)
{
    return pds_store_meta_u64(store, txn, PDS_EVENTS_TRIMMED, seq) == 0
           ? 0 : PDS_STORE_ERROR;
}
