/*
 * ngx_pds_module: com.atproto.sync.subscribeRepos, a WebSocket served by
 * nginx itself.
 *
 * The request is upgraded (RFC 6455) on the spot and its connection taken
 * over: binary messages are the event frames exactly as stored in the
 * LMDB events table (DAG-CBOR header + body), written with c->send.
 *
 * Every subscriber is only a position (the next seq to send) and one
 * output buffer: the events table is the outbox, read in batches of about
 * 64 KB when the socket can take more.  A subscriber that has caught up
 * and then falls more than max_lag events behind while its socket is full
 * gets a ConsumerTooSlow error frame and is closed; memory stays bounded
 * whatever the consumer does.
 *
 * Waking: a write in this worker calls ngx_pds_firehose_notify(), which
 * publishes the last seq of the tenant in a shared memory slot and posts
 * the tenant's wake event.  Workers that have subscribers run a short
 * cancelable timer comparing the slot with what they have seen (and read
 * LMDB itself now and then); workers without subscribers do nothing.
 *
 * On worker exit (reload, stop) subscribers get a 1001 close frame and
 * are closed, so they reconnect with their cursor to the new workers.
 */

#include "ngx_pds_sync.h"
#include "ngx_pds_methods.h"
#include <ngx_sha1.h>
#include "pds_cbor.h"
#include "pds_repo.h"
#include "pds_syntax.h"


#define NGX_PDS_WS_GUID      "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#define NGX_PDS_WS_CONT      0x0
#define NGX_PDS_WS_TEXT      0x1
#define NGX_PDS_WS_BINARY    0x2
#define NGX_PDS_WS_CLOSE     0x8
#define NGX_PDS_WS_PING      0x9
#define NGX_PDS_WS_PONG      0xa

#define NGX_PDS_WS_BATCH     (64 * 1024)     /* bytes read per fill */
#define NGX_PDS_WS_KEEP      (256 * 1024)    /* bigger buffers are freed */
#define NGX_PDS_WS_ROUNDS    8               /* fills per turn */
#define NGX_PDS_WS_PING_MS   30000
#define NGX_PDS_WS_GRACE_MS  5000            /* to flush a final frame */

#define NGX_PDS_FH_ZONE_SIZE (64 * 1024)
#define NGX_PDS_FH_SLOT      64              /* one cache line per tenant */
#define NGX_PDS_FH_SLOTS     256             /* tenants at most */


typedef struct ngx_pds_fh_env_s  ngx_pds_fh_env_t;


typedef struct {
    ngx_queue_t            queue;
    ngx_http_request_t    *request;
    ngx_connection_t      *conn;
    ngx_pds_fh_env_t      *fe;

    uint64_t               next;          /* the next seq to send */
    ngx_uint_t             max_lag;

    u_char                *out;           /* pending bytes: [pos, len) */
    size_t                 out_pos;
    size_t                 out_len;
    size_t                 out_cap;

    u_char                 hdr[14];       /* incoming frame header */
    size_t                 hdr_len;
    uint64_t               payload;       /* bytes left in the frame */
    u_char                 ctl[125];      /* control frame payload */
    size_t                 ctl_len;
    ngx_uint_t             opcode;
    ngx_uint_t             mask_at;       /* payload bytes unmasked */

    ngx_event_t            timer;         /* ping, or the final grace */

    unsigned               caught_up:1;   /* reached the head once */
    unsigned               blocked:1;     /* the socket is full */
    unsigned               closing:1;     /* close after the flush */
    unsigned               alive:1;       /* heard from since the ping */
    unsigned               in_frame:1;    /* reading a payload */
    unsigned               linked:1;
} ngx_pds_sub_t;


struct ngx_pds_fh_env_s {
    ngx_pds_env_t         *env;
    ngx_atomic_uint_t     *shm_seq;       /* the last seq, all workers */
    ngx_atomic_uint_t      seen;          /* *shm_seq when last looked */
    uint64_t               known;         /* the last seq seen in LMDB */
    ngx_queue_t            subs;
    ngx_uint_t             nsubs;
    ngx_event_t            wake;          /* posted: pump subscribers */
};


typedef struct {
    ngx_pds_fh_env_t      *envs;
    ngx_uint_t             nenvs;
    ngx_uint_t             nsubs;
    ngx_uint_t             polls;
    ngx_event_t            poll;
    ngx_log_t             *log;
} ngx_pds_fh_worker_t;


static ngx_int_t ngx_pds_fh_zone_init(ngx_shm_zone_t *zone, void *data);
static ngx_pds_fh_env_t *ngx_pds_fh_env(ngx_pds_env_t *env);
static void ngx_pds_fh_wake_handler(ngx_event_t *ev);
static void ngx_pds_fh_poll_handler(ngx_event_t *ev);
static void ngx_pds_fh_timer_handler(ngx_event_t *ev);
static void ngx_pds_fh_read_handler(ngx_http_request_t *r);
static void ngx_pds_fh_write_handler(ngx_http_request_t *r);
static void ngx_pds_fh_pump(ngx_pds_sub_t *s, MDB_txn *txn);
static void ngx_pds_fh_close(ngx_pds_sub_t *s, ngx_uint_t linger);
static void ngx_pds_fh_cleanup(void *data);
static void ngx_pds_fh_detach(ngx_http_request_t *r);
static ngx_int_t ngx_pds_fh_frame(ngx_pds_sub_t *s, ngx_uint_t opcode,
    const u_char *p, size_t n);
static ngx_int_t ngx_pds_fh_error(ngx_pds_sub_t *s, const char *error,
    const char *message);


static ngx_str_t             ngx_pds_fh_zone_name =
    ngx_string("pds_firehose");

static ngx_pds_fh_worker_t  *ngx_pds_fh;


/* ---- configuration and process hooks ---------------------------------- */


ngx_int_t
ngx_pds_firehose_init_conf(ngx_conf_t *cf)
{
    ngx_shm_zone_t       *zone;
    ngx_pds_main_conf_t  *pmcf;

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_pds_module);

    if (pmcf->envs.nelts == 0) {
        return NGX_OK;
    }

    if (pmcf->envs.nelts > NGX_PDS_FH_SLOTS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "pds: too many tenants for the firehose zone");
        return NGX_ERROR;
    }

    zone = ngx_shared_memory_add(cf, &ngx_pds_fh_zone_name,
                                 NGX_PDS_FH_ZONE_SIZE, &ngx_pds_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    zone->init = ngx_pds_fh_zone_init;

    return NGX_OK;
}


static ngx_int_t
ngx_pds_fh_zone_init(ngx_shm_zone_t *zone, void *data)
{
    ngx_slab_pool_t  *shpool;

    /*
     * A zone kept over a reload keeps its numbers: they only ever tell a
     * worker to look at LMDB, which has the truth.
     */

    if (data) {
        zone->data = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    zone->data = ngx_slab_calloc(shpool, NGX_PDS_FH_SLOTS * NGX_PDS_FH_SLOT);
    if (zone->data == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_shm_zone_t *
ngx_pds_fh_find_zone(ngx_cycle_t *cycle)
{
    ngx_uint_t       i;
    ngx_list_part_t *part;
    ngx_shm_zone_t  *zone;

    part = &cycle->shared_memory.part;
    zone = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            zone = part->elts;
            i = 0;
        }

        if (zone[i].tag == &ngx_pds_module
            && zone[i].shm.name.len == ngx_pds_fh_zone_name.len
            && ngx_strncmp(zone[i].shm.name.data, ngx_pds_fh_zone_name.data,
                           ngx_pds_fh_zone_name.len) == 0)
        {
            return &zone[i];
        }
    }
}


ngx_int_t
ngx_pds_firehose_init_process(ngx_cycle_t *cycle)
{
    uint64_t              seq;
    MDB_txn              *txn;
    ngx_uint_t            i;
    ngx_pds_env_t       **envs;
    ngx_shm_zone_t       *zone;
    ngx_pds_fh_env_t     *fe;
    ngx_http_conf_ctx_t  *hctx;
    ngx_pds_main_conf_t  *pmcf;
    ngx_pds_fh_worker_t  *w;

    ngx_pds_fh = NULL;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    hctx = (ngx_http_conf_ctx_t *) cycle->conf_ctx[ngx_http_module.index];
    if (hctx == NULL) {
        return NGX_OK;
    }

    pmcf = hctx->main_conf[ngx_pds_module.ctx_index];
    if (pmcf == NULL || pmcf->envs.nelts == 0) {
        return NGX_OK;
    }

    zone = ngx_pds_fh_find_zone(cycle);
    if (zone == NULL || zone->data == NULL) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "pds: the firehose shared memory zone is missing");
        return NGX_ERROR;
    }

    w = ngx_pcalloc(cycle->pool, sizeof(ngx_pds_fh_worker_t));
    if (w == NULL) {
        return NGX_ERROR;
    }

    w->nenvs = pmcf->envs.nelts;
    w->envs = ngx_pcalloc(cycle->pool, w->nenvs * sizeof(ngx_pds_fh_env_t));
    if (w->envs == NULL) {
        return NGX_ERROR;
    }

    w->log = cycle->log;
    w->poll.handler = ngx_pds_fh_poll_handler;
    w->poll.data = w;
    w->poll.log = cycle->log;
    w->poll.cancelable = 1;

    envs = pmcf->envs.elts;

    for (i = 0; i < w->nenvs; i++) {
        fe = &w->envs[i];
        fe->env = envs[i];
        fe->shm_seq = (ngx_atomic_uint_t *) ((u_char *) zone->data
                                             + i * NGX_PDS_FH_SLOT);
        fe->seen = *fe->shm_seq;
        ngx_queue_init(&fe->subs);

        fe->wake.handler = ngx_pds_fh_wake_handler;
        fe->wake.data = fe;
        fe->wake.log = cycle->log;

        if (fe->env->store
            && pds_store_read_begin(fe->env->store, &txn) == 0)
        {
            if (pds_store_seq_last(fe->env->store, txn, &seq) == 0) {
                fe->known = seq;
            }

            mdb_txn_abort(txn);
        }
    }

    ngx_pds_fh = w;

    return NGX_OK;
}


void
ngx_pds_firehose_exit_process(ngx_cycle_t *cycle)
{
    static const u_char  going_away[] = { 0x03, 0xe9 };   /* 1001 */

    ssize_t               n;
    ngx_uint_t            i;
    ngx_queue_t          *q, *next;
    ngx_pds_sub_t        *s;
    ngx_pds_fh_env_t     *fe;
    ngx_pds_fh_worker_t  *w = ngx_pds_fh;

    if (w == NULL) {
        return;
    }

    if (w->poll.timer_set) {
        ngx_del_timer(&w->poll);
    }

    for (i = 0; i < w->nenvs; i++) {
        fe = &w->envs[i];

        if (fe->wake.posted) {
            ngx_delete_posted_event(&fe->wake);
        }

        for (q = ngx_queue_head(&fe->subs);
             q != ngx_queue_sentinel(&fe->subs);
             q = next)
        {
            next = ngx_queue_next(q);
            s = ngx_queue_data(q, ngx_pds_sub_t, queue);

            /* best effort: what is pending, then "going away" */

            if (!s->closing
                && ngx_pds_fh_frame(s, NGX_PDS_WS_CLOSE, going_away, 2)
                   == NGX_OK)
            {
                s->closing = 1;
            }

            while (s->out_pos < s->out_len) {
                n = s->conn->send(s->conn, s->out + s->out_pos,
                                  s->out_len - s->out_pos);
                if (n <= 0) {
                    break;
                }

                s->out_pos += n;
            }

            ngx_pds_fh_close(s, 0);
        }
    }

    ngx_pds_fh = NULL;
}


static ngx_pds_fh_env_t *
ngx_pds_fh_env(ngx_pds_env_t *env)
{
    ngx_uint_t  i;

    if (ngx_pds_fh == NULL) {
        return NULL;
    }

    for (i = 0; i < ngx_pds_fh->nenvs; i++) {
        if (ngx_pds_fh->envs[i].env == env) {
            return &ngx_pds_fh->envs[i];
        }
    }

    return NULL;
}


/* ---- waking ------------------------------------------------------------ */


static void
ngx_pds_fh_publish(ngx_pds_fh_env_t *fe, uint64_t seq)
{
    ngx_atomic_uint_t  old;

    for ( ;; ) {
        old = *fe->shm_seq;

        if (old >= (ngx_atomic_uint_t) seq) {
            break;
        }

        if (ngx_atomic_cmp_set(fe->shm_seq, old, (ngx_atomic_uint_t) seq)) {
            break;
        }
    }
}


void
ngx_pds_firehose_notify(ngx_pds_ctx_t *ctx)
{
    uint64_t           seq;
    MDB_txn           *txn;
    pds_store_t       *store;
    ngx_pds_fh_env_t  *fe;

    fe = ngx_pds_fh_env(ctx->conf->env);
    if (fe == NULL) {
        return;
    }

    store = fe->env->store;
    if (store == NULL || pds_store_read_begin(store, &txn) != 0) {
        return;
    }

    if (pds_store_seq_last(store, txn, &seq) != 0) {
        seq = 0;
    }

    mdb_txn_abort(txn);

    if (seq == 0) {
        return;
    }

    ngx_pds_fh_publish(fe, seq);

    if (seq > fe->known) {
        fe->known = seq;
    }

    fe->seen = *fe->shm_seq;

    if (fe->nsubs && !fe->wake.posted) {
        ngx_post_event(&fe->wake, &ngx_posted_events);
    }
}


static void
ngx_pds_fh_poll_handler(ngx_event_t *ev)
{
    ngx_uint_t            i, recheck;
    ngx_atomic_uint_t     v;
    ngx_pds_fh_env_t     *fe;
    ngx_pds_fh_worker_t  *w = ev->data;

    recheck = (++w->polls % NGX_PDS_FIREHOSE_RECHECK) == 0;

    for (i = 0; i < w->nenvs; i++) {
        fe = &w->envs[i];

        if (fe->nsubs == 0) {
            continue;
        }

        v = *fe->shm_seq;

        if ((v != fe->seen || recheck) && !fe->wake.posted) {
            fe->seen = v;
            ngx_post_event(&fe->wake, &ngx_posted_events);
        }
    }

    if (w->nsubs && !ngx_exiting && !ngx_terminate) {
        ngx_add_timer(&w->poll, NGX_PDS_FIREHOSE_POLL_MS);
    }
}


/* a subscriber lagging behind the head while its socket is full */
static ngx_int_t
ngx_pds_fh_too_slow(ngx_pds_sub_t *s)
{
    uint64_t  head;

    head = s->fe->known;

    return s->caught_up && s->blocked && !s->closing
           && head >= s->next && head - s->next + 1 > s->max_lag;
}


static void
ngx_pds_fh_drop_slow(ngx_pds_sub_t *s)
{
    ngx_log_error(NGX_LOG_INFO, s->conn->log, 0,
                  "pds: firehose consumer too slow, %uL events behind",
                  s->fe->known - s->next + 1);

    if (ngx_pds_fh_error(s, "ConsumerTooSlow", "Stream consumer too slow")
        != NGX_OK)
    {
        ngx_pds_fh_close(s, 0);
    }
}


static void
ngx_pds_fh_wake_handler(ngx_event_t *ev)
{
    uint64_t           seq;
    MDB_txn           *txn;
    ngx_queue_t       *q, *next;
    pds_store_t       *store;
    ngx_pds_sub_t     *s;
    ngx_pds_fh_env_t  *fe = ev->data;

    store = fe->env->store;

    if (fe->nsubs == 0 || store == NULL) {
        return;
    }

    /* one read transaction for every subscriber of the round */

    if (pds_store_read_begin(store, &txn) != 0) {
        ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                      "pds: firehose: cannot begin an LMDB read transaction");
        return;
    }

    if (pds_store_seq_last(store, txn, &seq) == 0 && seq > fe->known) {
        fe->known = seq;
    }

    for (q = ngx_queue_head(&fe->subs);
         q != ngx_queue_sentinel(&fe->subs);
         q = next)
    {
        next = ngx_queue_next(q);
        s = ngx_queue_data(q, ngx_pds_sub_t, queue);

        if (s->blocked) {
            if (ngx_pds_fh_too_slow(s)) {
                ngx_pds_fh_drop_slow(s);
            }

            continue;
        }

        if (s->closing || s->next > fe->known) {
            continue;
        }

        ngx_pds_fh_pump(s, txn);
    }

    mdb_txn_abort(txn);
}


/* ---- output ------------------------------------------------------------ */


static ngx_int_t
ngx_pds_fh_reserve(ngx_pds_sub_t *s, size_t n)
{
    u_char  *p;
    size_t   cap, pending;

    if (s->out_cap - s->out_len >= n) {
        return NGX_OK;
    }

    pending = s->out_len - s->out_pos;

    if (s->out_pos && s->out_cap - pending >= n) {
        ngx_memmove(s->out, s->out + s->out_pos, pending);
        s->out_pos = 0;
        s->out_len = pending;
        return NGX_OK;
    }

    cap = ngx_max(NGX_PDS_WS_BATCH, s->out_cap * 2);

    if (cap < pending + n) {
        cap = pending + n;
    }

    p = ngx_palloc(s->request->pool, cap);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (pending) {
        ngx_memcpy(p, s->out + s->out_pos, pending);
    }

    if (s->out) {
        ngx_pfree(s->request->pool, s->out);
    }

    s->out = p;
    s->out_cap = cap;
    s->out_pos = 0;
    s->out_len = pending;

    return NGX_OK;
}


/* appends one unmasked, final WebSocket frame */
static ngx_int_t
ngx_pds_fh_frame(ngx_pds_sub_t *s, ngx_uint_t opcode, const u_char *data,
    size_t n)
{
    u_char      *p;
    ngx_uint_t   i;

    if (ngx_pds_fh_reserve(s, n + 10) != NGX_OK) {
        return NGX_ERROR;
    }

    p = s->out + s->out_len;

    *p++ = (u_char) (0x80 | opcode);

    if (n < 126) {
        *p++ = (u_char) n;

    } else if (n <= 0xffff) {
        *p++ = 126;
        *p++ = (u_char) (n >> 8);
        *p++ = (u_char) n;

    } else {
        *p++ = 127;
        for (i = 8; i > 0; i--) {
            *p++ = (u_char) ((uint64_t) n >> ((i - 1) * 8));
        }
    }

    if (n) {
        p = ngx_cpymem(p, data, n);
    }

    s->out_len = p - s->out;

    return NGX_OK;
}


/* header {op: 1, t} (or {op: -1} when t is NULL) then a body */
static ngx_int_t
ngx_pds_fh_message(ngx_pds_sub_t *s, const char *t, const char *k1,
    const char *v1, const char *k2, const char *v2)
{
    ngx_int_t    rc;
    pds_buf_t    b;
    pds_alloc_t  a;

    ngx_pds_pool_allocator(s->request->pool, &a);
    pds_buf_init(&b, &a);

    /* canonical key order: "t" before "op"; k1 is the shorter key */

    if (t) {
        rc = pds_cbor_put_map(&b, 2)
             | pds_cbor_put_str(&b, "t")
             | pds_cbor_put_str(&b, t)
             | pds_cbor_put_str(&b, "op")
             | pds_cbor_put_int(&b, 1);

    } else {
        rc = pds_cbor_put_map(&b, 1)
             | pds_cbor_put_str(&b, "op")
             | pds_cbor_put_int(&b, -1);
    }

    rc |= pds_cbor_put_map(&b, 2)
          | pds_cbor_put_str(&b, k1)
          | pds_cbor_put_str(&b, v1)
          | pds_cbor_put_str(&b, k2)
          | pds_cbor_put_str(&b, v2);

    if (rc != 0) {
        pds_buf_free(&b);
        return NGX_ERROR;
    }

    rc = ngx_pds_fh_frame(s, NGX_PDS_WS_BINARY, b.data, b.len);

    pds_buf_free(&b);

    return rc;
}


/* an error frame, then a close frame; the connection closes once sent */
static ngx_int_t
ngx_pds_fh_error(ngx_pds_sub_t *s, const char *error, const char *message)
{
    static const u_char  policy[] = { 0x03, 0xf0 };   /* 1008 */

    ngx_connection_t  *c = s->conn;

    if (ngx_pds_fh_message(s, NULL, "error", error, "message", message)
        != NGX_OK
        || ngx_pds_fh_frame(s, NGX_PDS_WS_CLOSE, policy, 2) != NGX_OK)
    {
        return NGX_ERROR;
    }

    s->closing = 1;

    /* whatever happens, the connection is gone after the grace period */

    if (s->timer.timer_set) {
        ngx_del_timer(&s->timer);
    }

    ngx_add_timer(&s->timer, NGX_PDS_WS_GRACE_MS);

    if (!s->blocked) {
        ngx_post_event(c->write, &ngx_posted_events);
    }

    return NGX_OK;
}


/*
 * Copies events from s->next on into the output buffer, about one batch.
 * Returns the number of events added, or NGX_ERROR.
 */
static ngx_int_t
ngx_pds_fh_fill(ngx_pds_sub_t *s, MDB_txn *txn)
{
    int                rc;
    size_t             len;
    uint64_t           seq;
    ngx_int_t          count;
    const uint8_t     *frame;
    pds_event_iter_t   it;

    if (pds_event_iter_open(s->fe->env->store, txn, s->next, &it) != 0) {
        return NGX_ERROR;
    }

    count = 0;

    while ((rc = pds_event_iter_next(&it, &seq, &frame, &len)) == 0) {

        if (ngx_pds_fh_frame(s, NGX_PDS_WS_BINARY, frame, len) != NGX_OK) {
            pds_event_iter_close(&it);
            return NGX_ERROR;
        }

        s->next = seq + 1;

        if (seq > s->fe->known) {
            s->fe->known = seq;
        }

        count++;

        if (s->out_len - s->out_pos >= NGX_PDS_WS_BATCH) {
            break;
        }
    }

    pds_event_iter_close(&it);

    if (rc == PDS_NOTFOUND) {
        s->caught_up = 1;

    } else if (rc != 0) {
        ngx_log_error(NGX_LOG_ERR, s->conn->log, 0,
                      "pds: firehose: reading events failed");
        return NGX_ERROR;
    }

    return count;
}


/*
 * Sends what is pending and refills from LMDB until the socket is full,
 * the subscriber has caught up, or it has had its share of this turn.
 */
static void
ngx_pds_fh_pump(ngx_pds_sub_t *s, MDB_txn *txn)
{
    ssize_t            n;
    MDB_txn           *own;
    ngx_int_t          rc;
    ngx_uint_t         rounds;
    pds_store_t       *store;
    ngx_connection_t  *c = s->conn;

    own = NULL;
    rounds = 0;
    store = s->fe->env->store;

    for ( ;; ) {

        while (s->out_pos < s->out_len) {
            n = c->send(c, s->out + s->out_pos, s->out_len - s->out_pos);

            if (n == NGX_ERROR) {
                c->error = 1;
                goto close;
            }

            if (n == NGX_AGAIN || n == 0) {
                s->blocked = 1;

                if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
                    goto close;
                }

                if (ngx_pds_fh_too_slow(s)) {
                    ngx_pds_fh_drop_slow(s);
                }

                goto done;
            }

            s->out_pos += n;
        }

        s->blocked = 0;
        s->out_pos = 0;
        s->out_len = 0;

        if (s->out_cap > NGX_PDS_WS_KEEP) {
            ngx_pfree(s->request->pool, s->out);
            s->out = NULL;
            s->out_cap = 0;
        }

        if (s->closing) {
            ngx_pds_fh_close(s, 1);
            goto done;
        }

        if (store == NULL) {
            goto done;
        }

        if (++rounds > NGX_PDS_WS_ROUNDS) {
            /* let others have the event loop; go on in a moment */
            ngx_post_event(c->write, &ngx_posted_events);
            goto done;
        }

        if (txn == NULL) {
            if (pds_store_read_begin(store, &own) != 0) {
                goto close;
            }

            txn = own;
        }

        rc = ngx_pds_fh_fill(s, txn);

        if (rc == NGX_ERROR) {
            goto close;
        }

        if (rc == 0) {
            goto done;
        }
    }

close:

    if (own) {
        mdb_txn_abort(own);
    }

    ngx_pds_fh_close(s, 0);
    return;

done:

    if (own) {
        mdb_txn_abort(own);
    }
}


/* the subscriber of a request (in the XRPC context's data), or NULL */
static ngx_pds_sub_t *
ngx_pds_fh_sub(ngx_http_request_t *r)
{
    ngx_pds_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_pds_module);

    return ctx ? ctx->data : NULL;
}


static void
ngx_pds_fh_detach(ngx_http_request_t *r)
{
    ngx_pds_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_pds_module);

    if (ctx) {
        ctx->data = NULL;
    }
}


static void
ngx_pds_fh_write_handler(ngx_http_request_t *r)
{
    ngx_pds_sub_t  *s;

    s = ngx_pds_fh_sub(r);
    if (s == NULL) {
        return;
    }

    s->blocked = 0;

    ngx_pds_fh_pump(s, NULL);
}


static void
ngx_pds_fh_timer_handler(ngx_event_t *ev)
{
    ngx_pds_sub_t  *s = ev->data;

    if (s->closing) {
        /* the final frames could not be delivered in time */
        ngx_pds_fh_close(s, 0);
        return;
    }

    if (!s->alive) {
        ngx_log_error(NGX_LOG_INFO, s->conn->log, 0,
                      "pds: firehose subscriber did not answer a ping");
        ngx_pds_fh_close(s, 0);
        return;
    }

    s->alive = 0;

    if (ngx_pds_fh_frame(s, NGX_PDS_WS_PING, (u_char *) "", 0) != NGX_OK) {
        ngx_pds_fh_close(s, 0);
        return;
    }

    ngx_add_timer(&s->timer, NGX_PDS_WS_PING_MS);

    if (!s->blocked) {
        ngx_pds_fh_pump(s, NULL);
    }
}


static void
ngx_pds_fh_unlink(ngx_pds_sub_t *s)
{
    if (s->timer.timer_set) {
        ngx_del_timer(&s->timer);
    }

    if (s->timer.posted) {
        ngx_delete_posted_event(&s->timer);
    }

    if (s->linked) {
        ngx_queue_remove(&s->queue);
        s->linked = 0;
        s->fe->nsubs--;

        if (ngx_pds_fh) {
            ngx_pds_fh->nsubs--;
        }
    }
}


static void
ngx_pds_fh_close(ngx_pds_sub_t *s, ngx_uint_t linger)
{
    ngx_http_request_t  *r = s->request;

    ngx_pds_fh_unlink(s);

    ngx_pds_fh_detach(r);

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_request_empty_handler;
    r->keepalive = 0;
    r->lingering_close = (linger && !ngx_exiting && !ngx_terminate) ? 1 : 0;

    ngx_http_finalize_request(r, NGX_DONE);
}


static void
ngx_pds_fh_cleanup(void *data)
{
    ngx_pds_fh_unlink(data);
}


/* ---- input ------------------------------------------------------------- */


/* a complete control frame from the client */
static ngx_int_t
ngx_pds_fh_control(ngx_pds_sub_t *s)
{
    u_char  code[2];

    switch (s->opcode) {

    case NGX_PDS_WS_PING:
        if (!s->closing) {
            return ngx_pds_fh_frame(s, NGX_PDS_WS_PONG, s->ctl, s->ctl_len);
        }
        return NGX_OK;

    case NGX_PDS_WS_CLOSE:
        if (s->closing) {
            /* the answer to our close frame */
            return NGX_DONE;
        }

        /* echo the status code, and go */

        if (s->ctl_len >= 2) {
            code[0] = s->ctl[0];
            code[1] = s->ctl[1];

        } else {
            code[0] = 0x03;
            code[1] = 0xe8;      /* 1000 */
        }

        if (ngx_pds_fh_frame(s, NGX_PDS_WS_CLOSE, code, 2) != NGX_OK) {
            return NGX_ERROR;
        }

        s->closing = 1;
        return NGX_OK;

    default:   /* pong */
        return NGX_OK;
    }
}


/*
 * Parses client frames in p..p+n: answers pings and close frames, drops
 * data frames (this subscription takes no messages).  NGX_OK, NGX_DONE
 * (close now) or NGX_ERROR (protocol error).
 */
static ngx_int_t
ngx_pds_fh_parse(ngx_pds_sub_t *s, u_char *p, size_t n)
{
    u_char     *last;
    size_t      need, take;
    uint64_t    len;
    ngx_int_t   rc;
    ngx_uint_t  i;

    last = p + n;

    while (p < last) {

        if (!s->in_frame) {
            s->hdr[s->hdr_len++] = *p++;

            if (s->hdr_len < 2) {
                continue;
            }

            need = 2 + 4;

            if ((s->hdr[1] & 0x7f) == 126) {
                need += 2;

            } else if ((s->hdr[1] & 0x7f) == 127) {
                need += 8;
            }

            if (s->hdr_len < need) {
                continue;
            }

            if (!(s->hdr[1] & 0x80)) {
                /* clients must mask */
                return NGX_ERROR;
            }

            len = s->hdr[1] & 0x7f;

            if (len == 126) {
                len = ((uint64_t) s->hdr[2] << 8) | s->hdr[3];

            } else if (len == 127) {
                len = 0;
                for (i = 0; i < 8; i++) {
                    len = (len << 8) | s->hdr[2 + i];
                }
            }

            s->opcode = s->hdr[0] & 0x0f;
            s->payload = len;
            s->ctl_len = 0;
            s->mask_at = 0;

            if (s->opcode >= 0x8) {
                if (len > 125 || !(s->hdr[0] & 0x80)) {
                    return NGX_ERROR;
                }

                if (s->opcode != NGX_PDS_WS_CLOSE
                    && s->opcode != NGX_PDS_WS_PING
                    && s->opcode != NGX_PDS_WS_PONG)
                {
                    return NGX_ERROR;
                }

            } else if (s->opcode > NGX_PDS_WS_BINARY) {
                return NGX_ERROR;
            }

            s->in_frame = 1;
            s->alive = 1;
        }

        take = (size_t) ngx_min((uint64_t) (last - p), s->payload);

        if (s->opcode >= 0x8) {
            for (i = 0; i < take; i++) {
                s->ctl[s->ctl_len] = p[i] ^ s->hdr[s->hdr_len - 4
                                                    + (s->ctl_len & 3)];
                s->ctl_len++;
            }
        }

        p += take;
        s->payload -= take;

        if (s->payload) {
            continue;
        }

        s->in_frame = 0;
        s->hdr_len = 0;

        if (s->opcode >= 0x8) {
            rc = ngx_pds_fh_control(s);
            if (rc != NGX_OK) {
                return rc;
            }
        }
    }

    return NGX_OK;
}


static void
ngx_pds_fh_read_handler(ngx_http_request_t *r)
{
    u_char             buf[4096];
    ssize_t            n;
    ngx_int_t          rc;
    ngx_pds_sub_t     *s;
    ngx_connection_t  *c = r->connection;

    s = ngx_pds_fh_sub(r);
    if (s == NULL) {
        return;
    }

    for ( ;; ) {
        n = c->recv(c, buf, sizeof(buf));

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == 0 || n == NGX_ERROR) {
            /* the peer went away */
            ngx_pds_fh_close(s, 0);
            return;
        }

        rc = ngx_pds_fh_parse(s, buf, (size_t) n);

        if (rc == NGX_DONE) {
            ngx_pds_fh_close(s, 0);
            return;
        }

        if (rc == NGX_ERROR) {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "pds: firehose: WebSocket protocol error");
            ngx_pds_fh_close(s, 0);
            return;
        }
    }

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_pds_fh_close(s, 0);
        return;
    }

    if (!s->blocked && s->out_pos < s->out_len) {
        ngx_pds_fh_pump(s, NULL);
    }
}


/* ---- the subscription -------------------------------------------------- */


static ngx_table_elt_t *
ngx_pds_fh_header(ngx_http_request_t *r, const char *name)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = ngx_strlen(name);
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


/* a case-insensitive token in a comma-separated header value */
static ngx_int_t
ngx_pds_fh_has_token(ngx_table_elt_t *h, const char *token)
{
    u_char  *p, *last, *start;
    size_t   len;

    if (h == NULL) {
        return 0;
    }

    len = ngx_strlen(token);
    p = h->value.data;
    last = p + h->value.len;

    while (p < last) {
        while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }

        start = p;

        while (p < last && *p != ',' && *p != ' ' && *p != '\t') {
            p++;
        }

        if ((size_t) (p - start) == len
            && ngx_strncasecmp(start, (u_char *) token, len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* the "time" of an event frame in ms since the epoch, or -1 */
static int64_t
ngx_pds_fh_event_time(ngx_pds_ctx_t *ctx, const uint8_t *p, size_t n)
{
    size_t             used;
    int64_t            us;
    pds_cbor_t        *body;
    const pds_cbor_t  *t;

    if (pds_cbor_validate(p, n, &used) != 0) {
        return -1;
    }

    if (pds_cbor_decode(p + used, n - used, &ctx->alloc, &body) != 0) {
        return -1;
    }

    t = pds_cbor_map_get(body, "time");

    if (t == NULL || t->type != PDS_CBOR_STRING
        || pds_datetime_parse(t->u.str.data, t->u.str.len, &us) != 0)
    {
        pds_cbor_free(&ctx->alloc, body);
        return -1;
    }

    pds_cbor_free(&ctx->alloc, body);

    return us / 1000;
}


/*
 * Where a subscriber with this cursor starts: *start, and *outdated when
 * the cursor is older than the backfill window (the reference: the event
 * after the cursor was sequenced before now - window; then replay from
 * the first event inside the window).  NGX_DECLINED: FutureCursor.
 */
static ngx_int_t
ngx_pds_fh_start(ngx_pds_ctx_t *ctx, MDB_txn *txn, pds_store_t *store,
    ngx_int_t has_cursor, uint64_t cursor, int64_t window_ms,
    uint64_t *start, ngx_uint_t *outdated)
{
    int             rc;
    size_t          len;
    int64_t         cutoff, t;
    uint64_t        last, lo, hi, mid, found;
    ngx_time_t     *tp;
    const uint8_t  *frame;

    *outdated = 0;

    if (pds_store_seq_last(store, txn, &last) != 0) {
        return NGX_ERROR;
    }

    if (!has_cursor) {
        *start = last + 1;
        return NGX_OK;
    }

    if (cursor > last) {
        return NGX_DECLINED;
    }

    rc = pds_event_first_from(store, txn, cursor + 1, &found, &frame, &len);

    if (rc == PDS_NOTFOUND) {
        *start = cursor + 1;
        return NGX_OK;
    }

    if (rc != 0) {
        return NGX_ERROR;
    }

    tp = ngx_timeofday();
    cutoff = (int64_t) tp->sec * 1000 + (int64_t) tp->msec - window_ms;

    t = ngx_pds_fh_event_time(ctx, frame, len);

    if (t < 0 || t >= cutoff) {
        *start = cursor + 1;
        return NGX_OK;
    }

    *outdated = 1;

    /* the first event at or after the cutoff: a binary search over seq */

    lo = found;
    hi = last;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        rc = pds_event_first_from(store, txn, mid, &found, &frame, &len);
        if (rc == PDS_NOTFOUND) {
            hi = mid;
            continue;
        }

        if (rc != 0) {
            return NGX_ERROR;
        }

        t = ngx_pds_fh_event_time(ctx, frame, len);

        if (t >= cutoff) {
            hi = found;

        } else {
            lo = found + 1;
        }
    }

    rc = pds_event_first_from(store, txn, lo, &found, &frame, &len);

    if (rc == 0 && ngx_pds_fh_event_time(ctx, frame, len) >= cutoff) {
        *start = found;

    } else {
        *start = last + 1;
    }

    return NGX_OK;
}


ngx_int_t
ngx_pds_subscribe_repos(ngx_pds_ctx_t *ctx)
{
    u_char                 accept[ngx_base64_encoded_length(20)];
    u_char                 digest[20], *p;
    int64_t                window;
    uint64_t               cursor, start;
    MDB_txn               *txn;
    off_t                  num;
    ngx_int_t              rc, has_cursor, max_lag;
    ngx_str_t              v, src, dst;
    ngx_uint_t             outdated, bad_cursor;
    ngx_sha1_t             sha1;
    pds_store_t           *store;
    ngx_pds_sub_t         *s;
    ngx_table_elt_t       *key, *version;
    ngx_connection_t      *c;
    ngx_pds_fh_env_t      *fe;
    ngx_http_request_t    *r = ctx->request;
    ngx_pool_cleanup_t    *cln;

    static u_char  head[] = "HTTP/1.1 101 Switching Protocols" CRLF
                            "Upgrade: websocket" CRLF
                            "Connection: Upgrade" CRLF
                            "Sec-WebSocket-Accept: ";

    c = r->connection;

    key = ngx_pds_fh_header(r, "Sec-WebSocket-Key");
    version = ngx_pds_fh_header(r, "Sec-WebSocket-Version");

    if (r->method != NGX_HTTP_GET
        || r->http_version != NGX_HTTP_VERSION_11
#if (NGX_HTTP_V2)
        || r->stream
#endif
        || !ngx_pds_fh_has_token(ngx_pds_fh_header(r, "Upgrade"),
                                 "websocket")
        || !ngx_pds_fh_has_token(ngx_pds_fh_header(r, "Connection"),
                                 "upgrade")
        || key == NULL || key->value.len == 0)
    {
        return ngx_pds_send_error(r, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                  "com.atproto.sync.subscribeRepos is a "
                                  "WebSocket subscription: HTTP/1.1 GET "
                                  "with Upgrade: websocket expected");
    }

    if (version == NULL || version->value.len != 2
        || ngx_strncmp(version->value.data, "13", 2) != 0)
    {
        r->headers_out.status = NGX_HTTP_BAD_REQUEST;
        return ngx_pds_send_error(r, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                  "Sec-WebSocket-Version 13 expected");
    }

    fe = ngx_pds_fh_env(ctx->conf->env);
    store = ngx_pds_store(r, ctx->conf);

    if (fe == NULL || store == NULL) {
        return ngx_pds_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                  "NotEnoughResources",
                                  "Storage is not available");
    }

    /* the cursor: absent or empty means live only */

    has_cursor = 0;
    bad_cursor = 0;
    outdated = 0;
    cursor = 0;

    if (ngx_pds_arg(r, "cursor", &v) == NGX_OK && v.len) {
        has_cursor = 1;

        if (v.len > 19) {
            bad_cursor = 1;

        } else {
            num = ngx_atoof(v.data, v.len);
            if (num == NGX_ERROR) {
                bad_cursor = 1;
            }
            cursor = (uint64_t) num;
        }
    }

    window = (ngx_int_t) ctx->conf->firehose_backfill;
    max_lag = (ngx_int_t) ctx->conf->firehose_max_lag;

    /* take the connection over */

    s = ngx_pcalloc(r->pool, sizeof(ngx_pds_sub_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (s == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    s->request = r;
    s->conn = c;
    s->fe = fe;
    s->max_lag = (ngx_uint_t) (max_lag > 0 ? max_lag : 1);
    s->alive = 1;

    s->timer.handler = ngx_pds_fh_timer_handler;
    s->timer.data = s;
    s->timer.log = c->log;
    s->timer.cancelable = 1;

    cln->handler = ngx_pds_fh_cleanup;
    cln->data = s;

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, key->value.data, key->value.len);
    ngx_sha1_update(&sha1, NGX_PDS_WS_GUID, sizeof(NGX_PDS_WS_GUID) - 1);
    ngx_sha1_final(digest, &sha1);

    src.data = digest;
    src.len = sizeof(digest);
    dst.data = accept;
    ngx_encode_base64(&dst, &src);

    if (ngx_pds_fh_reserve(s, sizeof(head) + dst.len + 4) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(s->out, head, sizeof(head) - 1);
    p = ngx_cpymem(p, dst.data, dst.len);
    *p++ = CR; *p++ = LF; *p++ = CR; *p++ = LF;
    s->out_len = p - s->out;

    r->keepalive = 0;
    r->lingering_close = 0;
    c->log->action = "serving the firehose";

    ctx->data = s;

    r->read_event_handler = ngx_pds_fh_read_handler;
    r->write_event_handler = ngx_pds_fh_write_handler;

    if (c->tcp_nodelay == NGX_TCP_NODELAY_UNSET) {
        (void) ngx_tcp_nodelay(c);
    }

    ngx_pds_read_done(ctx);

    /* where to start: errors go out as error frames, as the reference */

    if (bad_cursor) {
        rc = ngx_pds_fh_error(s, "InvalidRequest",
                              "cursor must be an integer");
        goto started;
    }

    if (pds_store_read_begin(store, &txn) != 0) {
        rc = ngx_pds_fh_error(s, "InternalServerError",
                              "Internal Server Error");
        goto started;
    }

    rc = ngx_pds_fh_start(ctx, txn, store, has_cursor, cursor, window,
                          &start, &outdated);

    mdb_txn_abort(txn);

    if (rc == NGX_DECLINED) {
        rc = ngx_pds_fh_error(s, "FutureCursor", "Cursor in the future.");
        goto started;
    }

    if (rc != NGX_OK) {
        rc = ngx_pds_fh_error(s, "InternalServerError",
                              "Internal Server Error");
        goto started;
    }

    if (outdated) {
        rc = ngx_pds_fh_message(s, "#info", "name", "OutdatedCursor",
                                "message", "Requested cursor exceeded "
                                "limit. Possibly missing events");
        if (rc != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    s->next = start;

    if (start > fe->known + 1) {
        fe->known = start - 1;
    }

    ngx_add_timer(&s->timer, NGX_PDS_WS_PING_MS);

    rc = NGX_OK;

started:

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_queue_insert_tail(&fe->subs, &s->queue);
    s->linked = 1;
    fe->nsubs++;
    ngx_pds_fh->nsubs++;

    if (!ngx_pds_fh->poll.timer_set) {
        ngx_add_timer(&ngx_pds_fh->poll, NGX_PDS_FIREHOSE_POLL_MS);
    }

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "pds: firehose subscriber from seq %uL%s",
                  s->next, outdated ? " (outdated cursor)" : "");

    /* from here on the connection is ours: nothing else may answer */

    r->headers_out.status = NGX_HTTP_SWITCHING_PROTOCOLS;
    r->header_sent = 1;
    r->main->count++;

    /* the handshake (and maybe an error), then replay, as the socket takes */
    ngx_post_event(c->write, &ngx_posted_events);

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_DONE;
    }

    return NGX_DONE;
}
