/*
 * ngx_pds_module: CPU-heavy or blocking work (scrypt, LMDB write
 * transactions) in an nginx thread pool, off the event loop.
 *
 * A handler posts work and returns NGX_DONE; when the work is done the
 * request resumes on the event loop in ctx->resume, whose return value
 * finalizes the request (or NGX_DONE again for a further step).
 */

#include "ngx_pds.h"


typedef struct {
    ngx_pds_work_pt   work;
    void             *data;
} ngx_pds_task_t;


static void
ngx_pds_thread_handler(void *data, ngx_log_t *log)
{
    ngx_pds_task_t  *t = data;

    t->work(t->data, log);
}


/*
 * A request waiting for a thread task has no timer of its own, and a
 * worker that is shutting down leaves once no (non-cancelable) timer is
 * left: it would drop the request with its task still running.  This
 * timer holds the worker until the task is done.
 */
static void
ngx_pds_hold_handler(ngx_event_t *ev)
{
    ngx_pds_ctx_t  *ctx = ev->data;

    if (ctx->waiting) {
        ngx_add_timer(ev, 1000);
    }
}


static void
ngx_pds_hold_cleanup(void *data)
{
    ngx_pds_unhold(data);
}


void
ngx_pds_hold(ngx_pds_ctx_t *ctx)
{
    ngx_event_t         *ev = &ctx->hold;
    ngx_pool_cleanup_t  *cln;

    if (ev->handler == NULL) {
        cln = ngx_pool_cleanup_add(ctx->request->pool, 0);
        if (cln == NULL) {
            return;
        }

        cln->handler = ngx_pds_hold_cleanup;
        cln->data = ctx;

        ev->handler = ngx_pds_hold_handler;
        ev->data = ctx;
        ev->log = ctx->request->connection->log;
    }

    if (!ev->timer_set) {
        ngx_add_timer(ev, 1000);
    }
}


void
ngx_pds_unhold(ngx_pds_ctx_t *ctx)
{
    if (ctx->hold.timer_set) {
        ngx_del_timer(&ctx->hold);
    }
}


static void
ngx_pds_thread_event_handler(ngx_event_t *ev)
{
    ngx_pds_ctx_t       *ctx;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ev->data;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    ctx = ngx_http_get_module_ctx(r, ngx_pds_module);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "pds: %V: thread task done",
                   ctx ? &ctx->nsid : &r->uri);

    if (ctx) {
        ngx_pds_unblock(ctx);

    } else {
        r->main->blocked--;
        r->aio = 0;
    }

    r->write_event_handler(r);

    ngx_http_run_posted_requests(c);
}




ngx_int_t
ngx_pds_thread_post(ngx_pds_ctx_t *ctx, ngx_pds_work_pt work, void *data,
    ngx_pds_resume_pt done)
{
    return ngx_pds_thread_post_to(ctx, ctx->conf->thread_pool, work, data,
                                  done);
}


/* the same in another thread pool than the tenant's */
ngx_int_t
ngx_pds_thread_post_to(ngx_pds_ctx_t *ctx, ngx_thread_pool_t *tp,
    ngx_pds_work_pt work, void *data, ngx_pds_resume_pt done)
{
    ngx_pds_task_t      *t;
    ngx_thread_task_t   *task;
    ngx_http_request_t  *r = ctx->request;

    task = ngx_thread_task_alloc(r->pool, sizeof(ngx_pds_task_t));
    if (task == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    t = task->ctx;
    t->work = work;
    t->data = data;

    task->handler = ngx_pds_thread_handler;
    task->event.data = r;
    task->event.handler = ngx_pds_thread_event_handler;

    if (ngx_thread_task_post(tp, task) != NGX_OK) {
        return ngx_pds_error(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                             "NotEnoughResources",
                             "The server is too busy right now");
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "pds: %V: thread task posted", &ctx->nsid);

    ngx_pds_block(ctx, done);

    return NGX_DONE;
}


/*
 * A request blocked for a thread: counted (it outlives its handler),
 * "blocked" (a client that goes away cannot free what the thread uses),
 * and the worker held alive until it resumes.
 */
void
ngx_pds_block(ngx_pds_ctx_t *ctx, ngx_pds_resume_pt done)
{
    ngx_http_request_t  *r = ctx->request;

    ctx->resume = done;
    ctx->waiting = 1;
    r->write_event_handler = ngx_pds_resume_handler;

    r->main->blocked++;
    r->aio = 1;
    r->main->count++;

    ngx_pds_hold(ctx);
}


void
ngx_pds_unblock(ngx_pds_ctx_t *ctx)
{
    ngx_http_request_t  *r = ctx->request;

    r->main->blocked--;
    r->aio = 0;
    ctx->waiting = 0;
    ngx_pds_unhold(ctx);
}


/* ---- write transactions in the thread pool ----------------------------- */


typedef struct {
    ngx_pds_txn_pt       fn;
    ngx_pds_txn_alloc_pt fn_alloc;
    void                *data;
    pds_store_t         *store;
    ngx_pds_env_t       *env;
    uint64_t             adds;          /* bytes it may add; 0: none */
    int                  full;          /* PDS_SPACE_*: the store is full */
    int                 *result;
    ngx_pds_resume_pt    done;
} ngx_pds_txn_job_t;


static void
ngx_pds_txn_work(void *data, ngx_log_t *log)
{
    int                 rc;
    MDB_txn            *txn;
    pds_alloc_t         a;
    pds_arena_t        *arena;
    ngx_pds_txn_job_t  *job = data;

    rc = pds_store_write_begin(job->store, &txn);
    if (rc != 0) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "pds: cannot begin an LMDB write transaction: %d", rc);
        *job->result = NGX_PDS_TXN_FAILED;
        return;
    }

    if (job->adds) {
        job->full = ngx_pds_space_check(job->env, txn, job->adds, log);

        if (job->full != PDS_SPACE_OK) {
            mdb_txn_abort(txn);
            *job->result = NGX_PDS_TXN_FAILED;
            return;
        }
    }

    if (job->fn_alloc) {
        arena = pds_arena_create();
        if (arena == NULL) {
            rc = ENOMEM;

        } else {
            a = pds_arena_allocator(arena);
            rc = job->fn_alloc(job->store, txn, job->data, &a);
            pds_arena_destroy(arena);
        }

    } else {
        rc = job->fn(job->store, txn, job->data);
    }

    if (rc != 0) {
        mdb_txn_abort(txn);
        /* (the core's account code reports the map full as MDB_MAP_FULL) */
        job->full = ngx_pds_space_failed(job->env, rc, log);
        *job->result = rc;
        return;
    }

    rc = mdb_txn_commit(txn);
    if (rc != 0) {
        job->full = ngx_pds_space_failed(job->env, rc, log);
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "pds: LMDB commit failed: %s", mdb_strerror(rc));
        *job->result = NGX_PDS_TXN_FAILED;
        return;
    }

    *job->result = 0;
}


/* after a write: wake the firehose, then the handler's next step */
static ngx_int_t
ngx_pds_txn_done(ngx_pds_ctx_t *ctx)
{
    ngx_pds_txn_job_t  *job = ctx->job;

    if (*job->result == 0) {
        ngx_pds_store_committed(ctx);

    } else if (job->full != PDS_SPACE_OK) {
        ctx->storage_full = 1;
    }

    return job->done(ctx);
}


/*
 * Runs fn(store, txn, data) in one LMDB write transaction in the thread
 * pool: committed when fn returns 0, aborted otherwise.  The outcome (0,
 * fn's code, or NGX_PDS_TXN_FAILED) is left in *result for done.
 */
static ngx_int_t
ngx_pds_txn_job_post(ngx_pds_ctx_t *ctx, ngx_pds_txn_pt fn,
    ngx_pds_txn_alloc_pt fn_alloc, void *data, uint64_t adds, int *result,
    ngx_pds_resume_pt done)
{
    pds_store_t        *store;
    ngx_pds_txn_job_t  *job;

    store = ngx_pds_store(ctx->request, ctx->conf);
    if (store == NULL) {
        return ngx_pds_error(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                             "NotEnoughResources", "Storage is not available");
    }

    /* a read transaction must not be held while this request writes */
    ngx_pds_read_done(ctx);

    job = ngx_palloc(ctx->request->pool, sizeof(ngx_pds_txn_job_t));
    if (job == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    job->fn = fn;
    job->fn_alloc = fn_alloc;
    job->data = data;
    job->store = store;
    job->env = ctx->conf->env;
    job->adds = adds;
    job->full = PDS_SPACE_OK;
    job->result = result;
    job->done = done;
    *result = NGX_PDS_TXN_FAILED;

    ctx->job = job;

    return ngx_pds_thread_post(ctx, ngx_pds_txn_work, job, ngx_pds_txn_done);
}


ngx_int_t
ngx_pds_txn_post(ngx_pds_ctx_t *ctx, ngx_pds_txn_pt fn, void *data,
    int *result, ngx_pds_resume_pt done)
{
    return ngx_pds_txn_job_post(ctx, fn, NULL, data, 0, result, done);
}


ngx_int_t
ngx_pds_txn_post_adding(ngx_pds_ctx_t *ctx, ngx_pds_txn_pt fn, void *data,
    uint64_t need, int *result, ngx_pds_resume_pt done)
{
    return ngx_pds_txn_job_post(ctx, fn, NULL, data, need ? need : 1, result,
                                done);
}


/* as ngx_pds_txn_post(), fn given an arena that lives as long as it runs */
ngx_int_t
ngx_pds_txn_post_alloc(ngx_pds_ctx_t *ctx, ngx_pds_txn_alloc_pt fn,
    void *data, int *result, ngx_pds_resume_pt done)
{
    return ngx_pds_txn_job_post(ctx, NULL, fn, data, 0, result, done);
}


/* ---- waiting on a timer ------------------------------------------------ */


static void
ngx_pds_delay_handler(ngx_event_t *ev)
{
    ngx_pds_ctx_t       *ctx;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ev->data;
    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_pds_module);

    ngx_http_set_log_request(c->log, r);

    if (ctx) {
        ctx->waiting = 0;
    }

    r->write_event_handler(r);
    ngx_http_run_posted_requests(c);
}


static void
ngx_pds_delay_cleanup(void *data)
{
    ngx_event_t  *ev = data;

    if (ev->timer_set) {
        ngx_del_timer(ev);
    }
}


/*
 * Resumes the request in done after msec milliseconds (the event loop goes
 * on meanwhile).  Returns NGX_DONE or an error status.
 */
ngx_int_t
ngx_pds_delay(ngx_pds_ctx_t *ctx, ngx_msec_t msec, ngx_pds_resume_pt done)
{
    ngx_event_t         *ev;
    ngx_pool_cleanup_t  *cln;
    ngx_http_request_t  *r = ctx->request;

    ev = ngx_pcalloc(r->pool, sizeof(ngx_event_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (ev == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ev->handler = ngx_pds_delay_handler;
    ev->data = r;
    ev->log = r->connection->log;

    cln->handler = ngx_pds_delay_cleanup;
    cln->data = ev;

    ctx->resume = done;
    ctx->waiting = 1;
    r->write_event_handler = ngx_pds_resume_handler;
    r->main->count++;

    ngx_add_timer(ev, msec);

    return NGX_DONE;
}


ngx_thread_task_t *
ngx_pds_background(ngx_pool_t *pool, ngx_log_t *log, void *data,
    ngx_pds_work_pt work, ngx_event_handler_pt done, ngx_event_t *timer,
    ngx_event_handler_pt pass)
{
    ngx_thread_task_t  *task;

    task = ngx_thread_task_alloc(pool, 0);
    if (task == NULL) {
        return NULL;
    }

    task->handler = work;
    task->ctx = data;
    task->event.handler = done;
    task->event.data = data;
    task->event.log = log;

    timer->handler = pass;
    timer->data = data;
    timer->log = log;
    timer->cancelable = 1;

    return task;
}
