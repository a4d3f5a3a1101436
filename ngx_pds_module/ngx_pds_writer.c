/*
 * ngx_pds_module: repository writes with group commit.
 *
 * Each worker keeps, per tenant, a queue of write requests (each one
 * commit: pds_repo_write_t).  When no batch is running, everything queued
 * is handed to one thread-pool task that applies it in ONE LMDB write
 * transaction (one fsync for the whole batch, each request its own signed
 * commit and event: pds_repo_write_batch).  Requests that arrive while a
 * batch runs wait for the next one.  On the event loop each request then
 * resumes in its own handler, and the firehose is woken once per batch.
 *
 * A request in a batch is "blocked" (r->main->blocked), so a client that
 * goes away cannot free what the thread still uses.
 */

#include "ngx_pds.h"

#include <pthread.h>
#if (NGX_LINUX)
#include <malloc.h>
#endif

#include "pds_repo.h"


#define NGX_PDS_BATCH_MAX  64
/*
 * and at most this many record operations, unless one request alone has
 * more: LMDB (without MDB_WRITEMAP) keeps the dirty pages of a write
 * transaction on a free list of the worker until the environment closes,
 * so a worker's memory follows the largest batch it ever wrote (64
 * applyWrites of 200 kept ~8 MB a tenant)
 */
#define NGX_PDS_BATCH_OPS  1000


typedef struct ngx_pds_writer_s  ngx_pds_writer_t;

typedef struct {
    ngx_queue_t              queue;
    ngx_pds_ctx_t           *ctx;
    pds_repo_write_t        *write;
    ngx_pds_after_pt         after;
    void                    *after_data;
} ngx_pds_write_item_t;


typedef struct {
    ngx_pds_writer_t        *writer;
    ngx_pool_t              *pool;
    ngx_uint_t               n;
    ngx_pds_write_item_t    *items[NGX_PDS_BATCH_MAX];
    pds_repo_write_t         writes[NGX_PDS_BATCH_MAX];
    int                      rc;
} ngx_pds_batch_t;


struct ngx_pds_writer_s {
    ngx_queue_t              pending;       /* under lock */
    ngx_uint_t               running;       /* event loop only */
    pthread_mutex_t          lock;
    ngx_pds_srv_conf_t      *conf;
    ngx_log_t               *log;
};


static ngx_int_t ngx_pds_writer_start(ngx_pds_writer_t *w);
static void ngx_pds_writer_fail(ngx_pds_write_item_t *it);
static void ngx_pds_writer_idle(ngx_event_t *ev);


/*
 * A second after the last batch of a burst, the worker's malloc heap gives
 * the pages that the burst freed back to the system (malloc_trim): batches
 * allocate and free a few MB, which otherwise stay resident.  Each batch
 * pushes the timer back, so under load it never fires.
 */
#define NGX_PDS_IDLE_TRIM  1000

static ngx_event_t       ngx_pds_writer_idle_ev;
static ngx_connection_t  ngx_pds_writer_idle_conn;  /* for debug logs only */


static ngx_pds_writer_t *
ngx_pds_writer_get(ngx_pds_ctx_t *ctx)
{
    ngx_pds_writer_t  *w;

    if (ctx->conf->writer) {
        return ctx->conf->writer;
    }

    /* once per worker and tenant, for the worker's lifetime */
    w = ngx_pcalloc(ngx_cycle->pool, sizeof(ngx_pds_writer_t));
    if (w == NULL) {
        return NULL;
    }

    ngx_queue_init(&w->pending);

    if (pthread_mutex_init(&w->lock, NULL) != 0) {
        return NULL;
    }

    w->conf = ctx->conf;
    w->log = ngx_cycle->log;

    ctx->conf->writer = w;

    return w;
}


/* under w->lock: moves up to NGX_PDS_BATCH_MAX queued writes (and
 * NGX_PDS_BATCH_OPS operations) into b */
static void
ngx_pds_batch_take(ngx_pds_writer_t *w, ngx_pds_batch_t *b)
{
    size_t                 ops;
    ngx_queue_t           *q;
    ngx_pds_write_item_t  *it;

    ops = 0;

    while (b->n < NGX_PDS_BATCH_MAX && !ngx_queue_empty(&w->pending)) {
        q = ngx_queue_head(&w->pending);
        it = ngx_queue_data(q, ngx_pds_write_item_t, queue);

        if (b->n && ops + it->write->nops > NGX_PDS_BATCH_OPS) {
            break;
        }

        ops += it->write->nops;
        ngx_queue_remove(q);

        b->items[b->n] = ngx_queue_data(q, ngx_pds_write_item_t, queue);
        b->writes[b->n] = *b->items[b->n]->write;
        b->n++;
    }
}


/* does the write add data (not only deletions)? its records' bytes */
static ngx_uint_t
ngx_pds_write_adds(pds_repo_write_t *w, uint64_t *bytes)
{
    size_t      i;
    ngx_uint_t  adds;

    adds = 0;
    *bytes = 0;

    for (i = 0; i < w->nops; i++) {
        if (w->ops[i].action != PDS_REPO_DELETE) {
            adds = 1;
            *bytes += w->ops[i].record_len;
        }
    }

    return adds;
}


/*
 * In the batch's write transaction: the writes that add data run only
 * while the store keeps its reserve for deletions; those refused get
 * PDS_REPO_EMAPFULL and are moved after the ones that run (in order), so
 * that the first n of the batch are handed to the repository engine.
 */
static ngx_uint_t
ngx_pds_batch_admit(ngx_pds_batch_t *b, MDB_txn *txn, ngx_log_t *log)
{
    int                    verdict, refused;
    uint64_t               bytes, need[NGX_PDS_BATCH_MAX], total;
    ngx_uint_t             i, n, k;
    pds_space_t            sp;
    ngx_pds_env_t         *env = b->writer->conf->env;
    pds_repo_write_t       wr;
    ngx_pds_write_item_t  *item;

    /* what each write may add (0: deletions only), then one look */

    total = 0;

    for (i = 0; i < b->n; i++) {
        need[i] = ngx_pds_write_adds(&b->writes[i], &bytes)
                  ? pds_space_need(1, bytes, 4096) : 0;
        total += need[i];
    }

    if (total == 0 || ngx_pds_space_get(env, txn, total, &sp) != 0) {
        return b->n;
    }

    total = 0;
    n = 0;
    refused = PDS_SPACE_OK;

    for (i = 0; i < b->n; i++) {
        if (need[i]) {
            verdict = pds_space_verdict(&sp, total + need[i]);

            if (verdict != PDS_SPACE_OK) {
                refused = verdict;
                b->writes[i].status = PDS_REPO_EMAPFULL;
                b->writes[i].seq = 0;
                ngx_cpystrn((u_char *) b->writes[i].error,
                            (u_char *) (verdict == PDS_SPACE_DISK
                                        ? "the disk is full"
                                        : "the map is full"),
                            sizeof(b->writes[i].error));
                continue;
            }

            total += need[i];
        }

        /* runs: moved up to the n-th place, the refused ones shift down */
        if (n != i) {
            wr = b->writes[i];
            item = b->items[i];

            for (k = i; k > n; k--) {
                b->writes[k] = b->writes[k - 1];
                b->items[k] = b->items[k - 1];
            }

            b->writes[n] = wr;
            b->items[n] = item;
        }

        n++;
    }

    if (refused != PDS_SPACE_OK) {
        ngx_pds_space_refused(env, refused, &sp, log);
    }

    return n;
}


static void
ngx_pds_batch_work(void *data, ngx_log_t *log)
{
    int                rc, full;
    MDB_txn           *txn;
    ngx_uint_t         i, n;
    pds_store_t       *store;
    ngx_pds_batch_t   *b = data;
    ngx_pds_writer_t  *w = b->writer;

    store = w->conf->env->store;

    /* the write lock first (it may wait for another worker's batch) */
    rc = pds_store_write_begin(store, &txn);

    pthread_mutex_lock(&w->lock);
    ngx_pds_batch_take(w, b);
    pthread_mutex_unlock(&w->lock);

    ngx_log_debug2(NGX_LOG_DEBUG_CORE, log, 0,
                   "pds: batch of %ui writes begins (write lock: %d)",
                   b->n, rc);

    if (rc != 0) {
        b->rc = PDS_REPO_ESTORE;

        for (i = 0; i < b->n; i++) {
            b->writes[i].status = PDS_REPO_ESTORE;
        }

    } else {
        /* writes that add data are kept out of a nearly full store */
        n = ngx_pds_batch_admit(b, txn, log);

        if (n == 0) {
            mdb_txn_abort(txn);

        } else if (pds_repo_write_batch_txn(store, txn, b->writes, n) != 0) {
            /* the requests carry the error */
            mdb_txn_abort(txn);
            b->rc = PDS_REPO_ESTORE;

        } else {
            rc = mdb_txn_commit(txn);
            b->rc = (rc == 0) ? 0 : PDS_REPO_ESTORE;
        }

        if (rc != 0) {
            full = ngx_pds_space_failed(w->conf->env, rc, log);

            for (i = 0; i < n; i++) {
                if (b->writes[i].status >= 0) {
                    b->writes[i].status = full ? PDS_REPO_EMAPFULL
                                               : PDS_REPO_ESTORE;
                    b->writes[i].seq = 0;
                }
            }
        }

        for (i = 0; i < n; i++) {
            if (b->writes[i].status == PDS_REPO_EMAPFULL) {
                /* a record block may have found the map full */
                (void) ngx_pds_space_failed(w->conf->env, MDB_MAP_FULL, log);
                break;
            }
        }
    }

    if (b->rc != 0) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "pds: a batch of %ui writes failed to commit",
                      b->n);

    } else {
        ngx_log_debug1(NGX_LOG_DEBUG_CORE, log, 0,
                       "pds: batch of %ui writes committed", b->n);
    }

    /* what must follow a durable commit (e.g. removing blob files) */
    for (i = 0; i < b->n; i++) {
        if (b->items[i]->after) {
            b->items[i]->after(b->items[i]->after_data, &b->writes[i],
                               b->rc == 0
                               && b->writes[i].status == PDS_REPO_OK,
                               log);
        }
    }
}


static void
ngx_pds_batch_done(ngx_event_t *ev)
{
    ngx_uint_t            i;
    ngx_pds_ctx_t        *ctx, *first;
    ngx_pds_batch_t      *b = ev->data;
    ngx_pds_writer_t     *w = b->writer;
    ngx_connection_t     *c;
    ngx_http_request_t   *r;

    first = NULL;

    ngx_log_debug1(NGX_LOG_DEBUG_CORE, w->log, 0,
                   "pds: batch of %ui writes back on the event loop", b->n);

    for (i = 0; i < b->n; i++) {
        ctx = b->items[i]->ctx;
        r = ctx->request;

        /* the results back into the request's own copy */
        *b->items[i]->write = b->writes[i];

        ngx_pds_unblock(ctx);

        if (first == NULL && b->writes[i].status == PDS_REPO_OK) {
            first = ctx;
        }
    }

    if (first) {
        ngx_pds_store_committed(first);
    }

    for (i = 0; i < b->n; i++) {
        r = b->items[i]->ctx->request;
        c = r->connection;

        ngx_http_set_log_request(c->log, r);
        r->write_event_handler(r);
        ngx_http_run_posted_requests(c);
    }

    ngx_destroy_pool(b->pool);

    if (ngx_pds_writer_idle_ev.handler == NULL) {
        ngx_pds_writer_idle_ev.handler = ngx_pds_writer_idle;
        ngx_pds_writer_idle_ev.log = ngx_cycle->log;
        ngx_pds_writer_idle_conn.fd = (ngx_socket_t) -1;
        ngx_pds_writer_idle_ev.data = &ngx_pds_writer_idle_conn;
        ngx_pds_writer_idle_ev.cancelable = 1;
    }

    ngx_add_timer(&ngx_pds_writer_idle_ev, NGX_PDS_IDLE_TRIM);

    w->running = 0;

    /* no batch runs now: the queue is the event loop's alone */

    if (!ngx_queue_empty(&w->pending) && ngx_pds_writer_start(w) != NGX_OK) {
        ngx_queue_t  *q;

        while (!ngx_queue_empty(&w->pending)) {
            q = ngx_queue_head(&w->pending);
            ngx_queue_remove(q);
            ngx_pds_writer_fail(ngx_queue_data(q, ngx_pds_write_item_t,
                                               queue));
        }
    }
}


static void
ngx_pds_writer_fail(ngx_pds_write_item_t *it)
{
    ngx_pds_ctx_t       *ctx = it->ctx;
    ngx_connection_t    *c = ctx->request->connection;
    ngx_http_request_t  *r = ctx->request;

    it->write->status = PDS_REPO_EBUSY;

    ngx_pds_unblock(ctx);

    /* (the request may be freed by its handler: c was taken before) */
    r->write_event_handler(r);
    ngx_http_run_posted_requests(c);
}


/* a thread task that will take the queued writes once it can commit */
static ngx_int_t
ngx_pds_writer_start(ngx_pds_writer_t *w)
{
    ngx_pool_t            *pool;
    ngx_pds_batch_t       *b;
    ngx_thread_task_t     *task;

    pool = ngx_create_pool(1024, w->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    task = ngx_thread_task_alloc(pool, sizeof(ngx_pds_batch_t));
    if (task == NULL) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    b = task->ctx;
    b->writer = w;
    b->pool = pool;
    b->n = 0;

    task->handler = ngx_pds_batch_work;
    task->event.data = b;
    task->event.handler = ngx_pds_batch_done;

    if (ngx_thread_task_post(w->conf->thread_pool, task) != NGX_OK) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    w->running = 1;

    return NGX_OK;
}


/*
 * Queues one commit for the repo; the request resumes in done with the
 * results in *write.  after (may be NULL) runs in the thread pool once the
 * batch is committed or not.  Returns NGX_DONE (or an error status).
 */
ngx_int_t
ngx_pds_write(ngx_pds_ctx_t *ctx, pds_repo_write_t *write,
    ngx_pds_after_pt after, void *after_data, ngx_pds_resume_pt done)
{
    ngx_pds_writer_t      *w;
    ngx_pds_write_item_t  *it;
    ngx_http_request_t    *r = ctx->request;

    if (ngx_pds_store(r, ctx->conf) == NULL) {
        return ngx_pds_error(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                             "NotEnoughResources", "Storage is not available");
    }

    ngx_pds_read_done(ctx);

    w = ngx_pds_writer_get(ctx);
    it = ngx_palloc(r->pool, sizeof(ngx_pds_write_item_t));
    if (w == NULL || it == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    it->ctx = ctx;
    it->write = write;
    it->after = after;
    it->after_data = after_data;

    ngx_pds_block(ctx, done);

    pthread_mutex_lock(&w->lock);
    ngx_queue_insert_tail(&w->pending, &it->queue);
    pthread_mutex_unlock(&w->lock);

    if (!w->running && ngx_pds_writer_start(w) != NGX_OK) {
        /* no batch runs, so the queue is not shared right now */
        ngx_queue_remove(&it->queue);

        ngx_pds_unblock(ctx);
        r->main->count--;
        ctx->resume = NULL;
        r->write_event_handler = ngx_http_request_empty_handler;

        return ngx_pds_error(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                             "NotEnoughResources",
                             "The server is too busy right now");
    }

    return NGX_DONE;
}


static void
ngx_pds_writer_idle(ngx_event_t *ev)
{
#if (NGX_LINUX)
    (void) malloc_trim(0);
#endif
}
