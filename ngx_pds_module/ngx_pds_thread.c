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


static void
ngx_pds_thread_event_handler(ngx_event_t *ev)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ev->data;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    r->main->blocked--;
    r->aio = 0;

    r->write_event_handler(r);

    ngx_http_run_posted_requests(c);
}


/*
 * Runs the next step of a request that waited for a thread task or a
 * subrequest.  A request terminated meanwhile has had its write handler
 * replaced by nginx, so this only runs for live requests.
 */
void
ngx_pds_resume_handler(ngx_http_request_t *r)
{
    ngx_int_t           rc;
    ngx_pds_ctx_t      *ctx;
    ngx_pds_resume_pt   resume;

    ctx = ngx_http_get_module_ctx(r, ngx_pds_module);

    r->write_event_handler = ngx_http_request_empty_handler;

    if (ctx == NULL || ctx->resume == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    resume = ctx->resume;
    ctx->resume = NULL;

    rc = resume(ctx);

    ngx_http_finalize_request(r, rc);
}


ngx_int_t
ngx_pds_thread_post(ngx_pds_ctx_t *ctx, ngx_pds_work_pt work, void *data,
    ngx_pds_resume_pt done)
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

    if (ngx_thread_task_post(ctx->conf->thread_pool, task) != NGX_OK) {
        return ngx_pds_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                  "NotEnoughResources",
                                  "The server is too busy right now");
    }

    ctx->resume = done;
    r->write_event_handler = ngx_pds_resume_handler;

    r->main->blocked++;
    r->aio = 1;
    r->main->count++;

    return NGX_DONE;
}
