/*
 * ngx_pds_module: com.atproto.sync.subscribeRepos, the firehose.
 *
 * The request is upgraded to a WebSocket (ngx_pds_websocket.c) and its
 * connection taken over: binary messages are the event frames exactly as
 * the core stores them (DAG-CBOR header + body).
 *
 * Every subscriber is only a position (the next seq to send) and one
 * output buffer: the events table is the outbox, read through the core's
 * event iterator in batches of about 64 KB when the socket can take more.
 * A subscriber that has caught up and then falls more than max_lag events
 * behind while its socket is full gets a ConsumerTooSlow error frame and
 * is closed; memory stays bounded whatever the consumer does.
 *
 * New events reach the subscribers of every worker through the wake-ups
 * of ngx_pds_wake.c, which run ngx_pds_fh_wake_handler() here.  On worker
 * exit (reload, stop) subscribers get a 1001 close frame and are closed,
 * so they reconnect with their cursor to the new workers.
 */

#include "ngx_pds_sync.h"
#include "pds_cbor.h"
#include "pds_repo.h"


#define NGX_PDS_FH_BATCH     (64 * 1024)     /* bytes read per fill */
#define NGX_PDS_FH_ROUNDS    8               /* fills per turn */
#define NGX_PDS_FH_PING_MS   30000
#define NGX_PDS_FH_GRACE_MS  5000            /* to flush a final frame */


typedef struct {
    ngx_pds_ws_t           ws;
    ngx_queue_t            queue;
    ngx_pds_wake_env_t    *we;

    uint64_t               next;          /* the next seq to send */
    ngx_uint_t             max_lag;

    ngx_event_t            timer;         /* ping, or the final grace */

    unsigned               caught_up:1;   /* reached the head once */
    unsigned               blocked:1;     /* the socket is full */
    unsigned               linked:1;
    unsigned               outdated:1;    /* the cursor was too old */
} ngx_pds_sub_t;


static void ngx_pds_fh_wake_handler(ngx_event_t *ev);
static void ngx_pds_fh_pump(ngx_pds_sub_t *s, MDB_txn *txn);
static void ngx_pds_fh_close(ngx_pds_sub_t *s, ngx_uint_t linger);
static ngx_int_t ngx_pds_fh_error(ngx_pds_sub_t *s, const char *error,
    const char *message);


/* ---- process hooks ----------------------------------------------------- */


ngx_int_t
ngx_pds_firehose_init_process(ngx_cycle_t *cycle)
{
    return ngx_pds_wake_init_process(cycle, ngx_pds_fh_wake_handler);
}


void
ngx_pds_firehose_exit_process(void)
{
    ngx_uint_t           i, n;
    ngx_queue_t         *q, *next;
    ngx_pds_sub_t       *s;
    ngx_pds_wake_env_t  *envs;

    envs = ngx_pds_wake_envs(&n);

    for (i = 0; i < n; i++) {

        for (q = ngx_queue_head(&envs[i].subs);
             q != ngx_queue_sentinel(&envs[i].subs);
             q = next)
        {
            next = ngx_queue_next(q);
            s = ngx_queue_data(q, ngx_pds_sub_t, queue);

            /* best effort: what is pending, then "going away" */

            if (!s->ws.closing) {
                (void) ngx_pds_ws_close_frame(&s->ws, NGX_PDS_WS_GOING_AWAY);
            }

            (void) ngx_pds_ws_send(&s->ws);
            ngx_pds_fh_close(s, 0);
        }
    }

    ngx_pds_wake_exit_process();
}


/* ---- waking ------------------------------------------------------------ */


/* a subscriber lagging behind the head while its socket is full */
static ngx_int_t
ngx_pds_fh_too_slow(ngx_pds_sub_t *s)
{
    uint64_t  head;

    head = s->we->known;

    return s->caught_up && s->blocked && !s->ws.closing
           && head >= s->next && head - s->next + 1 > s->max_lag;
}


static void
ngx_pds_fh_drop_slow(ngx_pds_sub_t *s)
{
    ngx_log_error(NGX_LOG_INFO, s->ws.conn->log, 0,
                  "pds: firehose consumer too slow, %uL events behind",
                  s->we->known - s->next + 1);

    if (ngx_pds_fh_error(s, "ConsumerTooSlow", "Stream consumer too slow")
        != NGX_OK)
    {
        ngx_pds_fh_close(s, 0);
    }
}


/* new events for a tenant (or a periodic look): pump its subscribers */
static void
ngx_pds_fh_wake_handler(ngx_event_t *ev)
{
    uint64_t             seq;
    MDB_txn             *txn;
    ngx_queue_t         *q, *next;
    pds_store_t         *store;
    ngx_pds_sub_t       *s;
    ngx_pds_wake_env_t  *we = ev->data;

    store = we->env->store;

    if (we->nsubs == 0 || store == NULL) {
        return;
    }

    /* one read transaction for every subscriber of the round */

    if (pds_store_read_begin(store, &txn) != 0) {
        ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                      "pds: firehose: cannot begin an LMDB read transaction");
        return;
    }

    if (pds_store_seq_last(store, txn, &seq) == 0 && seq > we->known) {
        we->known = seq;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, ev->log, 0,
                   "pds: firehose: woken at seq %uL, %ui subscribers",
                   we->known, we->nsubs);

    for (q = ngx_queue_head(&we->subs);
         q != ngx_queue_sentinel(&we->subs);
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

        if (s->ws.closing || s->next > we->known) {
            continue;
        }

        ngx_pds_fh_pump(s, txn);
    }

    mdb_txn_abort(txn);
}


/* ---- output ------------------------------------------------------------ */


/* header {op: 1, t} (or {op: -1} when t is NULL) then a body */
static ngx_int_t
ngx_pds_fh_message(ngx_pds_sub_t *s, const char *t, const char *k1,
    const char *v1, const char *k2, const char *v2)
{
    ngx_int_t    rc;
    pds_buf_t    b;
    pds_alloc_t  a;

    ngx_pds_pool_allocator(s->ws.request->pool, &a);
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

    rc = ngx_pds_ws_frame(&s->ws, NGX_PDS_WS_BINARY, b.data, b.len);

    pds_buf_free(&b);

    return rc;
}


/*
 * An error frame, then a close frame; the connection closes once sent.
 * After the upgrade this is how the firehose refuses (the reference's
 * errors of a subscription), not ngx_pds_error(): no HTTP answer can
 * carry it any more.
 */
static ngx_int_t
ngx_pds_fh_error(ngx_pds_sub_t *s, const char *error, const char *message)
{
    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, s->ws.conn->log, 0,
                   "pds: firehose: error frame %s: %s", error, message);

    if (ngx_pds_fh_message(s, NULL, "error", error, "message", message)
        != NGX_OK
        || ngx_pds_ws_close_frame(&s->ws, NGX_PDS_WS_POLICY) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* whatever happens, the connection is gone after the grace period */

    if (s->timer.timer_set) {
        ngx_del_timer(&s->timer);
    }

    ngx_add_timer(&s->timer, NGX_PDS_FH_GRACE_MS);

    if (!s->blocked) {
        ngx_post_event(s->ws.conn->write, &ngx_posted_events);
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

    if (pds_event_iter_open(s->we->env->store, txn, s->next, &it) != 0) {
        return NGX_ERROR;
    }

    count = 0;

    while ((rc = pds_event_iter_next(&it, &seq, &frame, &len)) == 0) {

        if (ngx_pds_ws_frame(&s->ws, NGX_PDS_WS_BINARY, frame, len)
            != NGX_OK)
        {
            pds_event_iter_close(&it);
            return NGX_ERROR;
        }

        s->next = seq + 1;

        if (seq > s->we->known) {
            s->we->known = seq;
        }

        count++;

        if (ngx_pds_ws_pending(&s->ws) >= NGX_PDS_FH_BATCH) {
            break;
        }
    }

    pds_event_iter_close(&it);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, s->ws.conn->log, 0,
                   "pds: firehose subscriber: %i events queued, next %uL",
                   count, s->next);

    if (rc == PDS_NOTFOUND) {
        if (!s->caught_up) {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, s->ws.conn->log, 0,
                           "pds: firehose subscriber caught up at seq %uL",
                           s->next);
        }

        s->caught_up = 1;

    } else if (rc != 0) {
        ngx_log_error(NGX_LOG_ERR, s->ws.conn->log, 0,
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
    MDB_txn      *own;
    ngx_int_t     rc;
    ngx_uint_t    rounds;
    pds_store_t  *store;

    own = NULL;
    store = s->we->env->store;

    for (rounds = 1; /* void */ ; rounds++) {

        rc = ngx_pds_ws_send(&s->ws);

        if (rc == NGX_AGAIN) {
            s->blocked = 1;

            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, s->ws.conn->log, 0,
                           "pds: firehose subscriber waits for its socket, "
                           "%uz bytes pending", ngx_pds_ws_pending(&s->ws));

            if (ngx_pds_fh_too_slow(s)) {
                ngx_pds_fh_drop_slow(s);
            }

            break;
        }

        if (rc != NGX_OK) {
            ngx_pds_fh_close(s, 0);
            break;
        }

        s->blocked = 0;

        if (s->ws.closing) {
            ngx_pds_fh_close(s, 1);
            break;
        }

        if (store == NULL) {
            break;
        }

        if (rounds > NGX_PDS_FH_ROUNDS) {
            /* let others have the event loop; go on in a moment */
            ngx_post_event(s->ws.conn->write, &ngx_posted_events);
            break;
        }

        if (txn == NULL) {
            if (pds_store_read_begin(store, &own) != 0) {
                ngx_pds_fh_close(s, 0);
                break;
            }

            txn = own;
        }

        rc = ngx_pds_fh_fill(s, txn);

        if (rc == NGX_ERROR) {
            ngx_pds_fh_close(s, 0);
            break;
        }

        if (rc == 0) {
            break;
        }
    }

    if (own) {
        mdb_txn_abort(own);
    }
}


/* ---- the subscriber's events ------------------------------------------- */


/* the subscriber of a request (in the XRPC context's data), or NULL */
static ngx_pds_sub_t *
ngx_pds_fh_sub(ngx_http_request_t *r)
{
    ngx_pds_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_pds_module);

    return ctx ? ctx->data : NULL;
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
ngx_pds_fh_read_handler(ngx_http_request_t *r)
{
    ngx_pds_sub_t  *s;

    s = ngx_pds_fh_sub(r);
    if (s == NULL) {
        return;
    }

    if (ngx_pds_ws_read(&s->ws) != NGX_OK) {
        ngx_pds_fh_close(s, 0);
        return;
    }

    if (!s->blocked && ngx_pds_ws_pending(&s->ws)) {
        ngx_pds_fh_pump(s, NULL);
    }
}


static void
ngx_pds_fh_timer_handler(ngx_event_t *ev)
{
    ngx_pds_sub_t  *s = ev->data;

    if (s->ws.closing) {
        /* the final frames could not be delivered in time */
        ngx_pds_fh_close(s, 0);
        return;
    }

    if (!s->ws.alive) {
        ngx_log_error(NGX_LOG_INFO, s->ws.conn->log, 0,
                      "pds: firehose subscriber did not answer a ping");
        ngx_pds_fh_close(s, 0);
        return;
    }

    s->ws.alive = 0;

    if (ngx_pds_ws_frame(&s->ws, NGX_PDS_WS_PING, (u_char *) "", 0)
        != NGX_OK)
    {
        ngx_pds_fh_close(s, 0);
        return;
    }

    ngx_add_timer(&s->timer, NGX_PDS_FH_PING_MS);

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
        ngx_pds_wake_detach(s->we, &s->queue);
        s->linked = 0;
    }
}


static void
ngx_pds_fh_close(ngx_pds_sub_t *s, ngx_uint_t linger)
{
    ngx_pds_ctx_t       *ctx;
    ngx_http_request_t  *r = s->ws.request;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, s->ws.conn->log, 0,
                   "pds: firehose subscriber leaves at seq %uL%s", s->next,
                   linger ? ", after its close frame" : "");

    ngx_pds_fh_unlink(s);

    ctx = ngx_http_get_module_ctx(r, ngx_pds_module);
    if (ctx) {
        ctx->data = NULL;
    }

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


/* ---- the subscription -------------------------------------------------- */


static ngx_pds_sub_t *
ngx_pds_fh_create(ngx_pds_ctx_t *ctx, ngx_pds_wake_env_t *we,
    ngx_str_t *key)
{
    ngx_pds_sub_t       *s;
    ngx_pool_cleanup_t  *cln;
    ngx_http_request_t  *r = ctx->request;

    s = ngx_pcalloc(r->pool, sizeof(ngx_pds_sub_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (s == NULL || cln == NULL) {
        return NULL;
    }

    s->we = we;
    s->max_lag = ngx_max(ctx->conf->firehose_max_lag, 1);

    s->timer.handler = ngx_pds_fh_timer_handler;
    s->timer.data = s;
    s->timer.log = r->connection->log;
    s->timer.cancelable = 1;

    cln->handler = ngx_pds_fh_cleanup;
    cln->data = s;

    if (ngx_pds_ws_init(&s->ws, r, key) != NGX_OK) {
        return NULL;
    }

    r->connection->log->action = "serving the firehose";
    ctx->data = s;

    return s;
}


/* the "cursor" parameter: NGX_OK (*has set), or NGX_DECLINED if malformed */
static ngx_int_t
ngx_pds_fh_cursor(ngx_pds_ctx_t *ctx, ngx_uint_t *has, uint64_t *cursor)
{
    off_t      num;
    ngx_str_t  v;

    *has = 0;
    *cursor = 0;

    /* absent or empty: live only */

    if (ngx_pds_arg(ctx->request, "cursor", &v) != NGX_OK || v.len == 0) {
        return NGX_OK;
    }

    *has = 1;

    if (v.len > 19) {
        return NGX_DECLINED;
    }

    num = ngx_atoof(v.data, v.len);
    if (num == NGX_ERROR) {
        return NGX_DECLINED;
    }

    *cursor = (uint64_t) num;

    return NGX_OK;
}


/*
 * Where the subscriber starts (s->next).  A cursor refused is answered
 * with an error frame after the upgrade, as the reference does.  NGX_OK,
 * or NGX_ERROR when not even that could be queued.
 */
static ngx_int_t
ngx_pds_fh_position(ngx_pds_ctx_t *ctx, ngx_pds_sub_t *s)
{
    uint64_t    cursor, start;
    ngx_int_t   rc;
    ngx_uint_t  has, outdated;

    if (ngx_pds_fh_cursor(ctx, &has, &cursor) != NGX_OK) {
        return ngx_pds_fh_error(s, "InvalidRequest",
                                "cursor must be an integer");
    }

    rc = ngx_pds_backfill_start(ctx, has, cursor, &start, &outdated);

    if (rc == NGX_DECLINED) {
        return ngx_pds_fh_error(s, "FutureCursor", "Cursor in the future.");
    }

    if (rc != NGX_OK) {
        return ngx_pds_fh_error(s, "InternalServerError",
                                "Internal Server Error");
    }

    if (outdated) {
        s->outdated = 1;

        if (ngx_pds_fh_message(s, "#info", "name", "OutdatedCursor",
                               "message", "Requested cursor exceeded "
                               "limit. Possibly missing events")
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    s->next = start;

    if (start > s->we->known + 1) {
        s->we->known = start - 1;
    }

    ngx_add_timer(&s->timer, NGX_PDS_FH_PING_MS);

    return NGX_OK;
}


ngx_int_t
ngx_pds_subscribe_repos(ngx_pds_ctx_t *ctx)
{
    ngx_int_t            rc;
    ngx_str_t            key;
    ngx_pds_sub_t       *s;
    ngx_pds_wake_env_t  *we;
    ngx_http_request_t  *r = ctx->request;

    rc = ngx_pds_ws_check(ctx, &key);
    if (rc != NGX_OK) {
        return rc;
    }

    we = ngx_pds_wake_env(ctx->conf->env);

    if (we == NULL || ngx_pds_store(r, ctx->conf) == NULL) {
        return ngx_pds_error(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                             "NotEnoughResources",
                             "Storage is not available");
    }

    s = ngx_pds_fh_create(ctx, we, &key);
    if (s == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_pds_read_done(ctx);

    if (ngx_pds_fh_position(ctx, s) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_pds_wake_attach(we, &s->queue);
    s->linked = 1;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "pds: firehose subscriber from seq %uL%s",
                  s->next, s->outdated ? " (outdated cursor)" : "");

    /* the handshake (and maybe an error), then replay, as the socket takes */

    return ngx_pds_ws_takeover(&s->ws, ngx_pds_fh_read_handler,
                               ngx_pds_fh_write_handler);
}
