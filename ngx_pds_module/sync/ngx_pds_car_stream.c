/*
 * ngx_pds_module: the com.atproto.sync.* reads that answer with a CAR.
 *
 * getRepo / getCheckout stream the CAR through nginx's output chain: a
 * round of about 64 KB is produced by the core's resumable export
 * (pds_repo_export_step) only when the previous one has left, so memory
 * stays flat for any repository size.  The request's read transaction is
 * held across those yields (MDB_NOTLS), which gives the whole CAR one
 * consistent snapshot.  getRecord (a proof) and getBlocks are small and
 * built whole.
 */

#include "ngx_pds_sync.h"
#include "pds_car.h"
#include "pds_repo.h"
#include "pds_syntax.h"


#define NGX_PDS_CAR_TYPE        "application/vnd.ipld.car"
#define NGX_PDS_CAR_ROUND       (64 * 1024)
#define NGX_PDS_CAR_CHUNK       (16 * 1024)
#define NGX_PDS_CAR_ROUNDS      16          /* rounds per turn */


typedef struct {
    ngx_pds_ctx_t         *ctx;
    pds_store_t           *store;
    uint64_t               uid;
    uint64_t               since;
    pds_repo_export_t      ex;            /* the core's resumable export */
    pds_car_writer_t       w;

    ngx_chain_t           *out;
    ngx_chain_t          **last_out;
    ngx_chain_t           *free;
    ngx_chain_t           *busy;

    unsigned               started:1;
    unsigned               done:1;
} ngx_pds_car_stream_t;


static void ngx_pds_car_write_handler(ngx_http_request_t *r);


/* ---- getRepo / getCheckout: a streamed CAR ----------------------------- */


/* the last buffer of st->out, or NULL */
static ngx_buf_t *
ngx_pds_car_last(ngx_pds_car_stream_t *st)
{
    if (st->out == NULL) {
        return NULL;
    }

    return ((ngx_chain_t *) ((u_char *) st->last_out
                             - offsetof(ngx_chain_t, next)))->buf;
}


/* a buffer appended to st->out: a free one, or a new one of a round */
static ngx_buf_t *
ngx_pds_car_buf(ngx_pds_car_stream_t *st, size_t size)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;
    ngx_pool_t   *pool = st->ctx->request->pool;

    cl = ngx_chain_get_free_buf(pool, &st->free);
    if (cl == NULL) {
        return NULL;
    }

    b = cl->buf;

    if (b->start == NULL && size) {
        b->start = ngx_palloc(pool, size);
        if (b->start == NULL) {
            return NULL;
        }

        b->end = b->start + size;
        b->pos = b->start;
        b->last = b->start;
        b->temporary = 1;
    }

    b->tag = (ngx_buf_tag_t) &ngx_pds_module;
    b->flush = 0;
    b->last_buf = 0;
    b->last_in_chain = 0;

    *st->last_out = cl;
    st->last_out = &cl->next;

    return b;
}


/* the CAR writer's output: copied into the stream's buffers */
static int
ngx_pds_car_out(void *data, const uint8_t *p, size_t n)
{
    size_t                 k;
    ngx_buf_t             *b;
    ngx_pds_car_stream_t  *st = data;

    while (n) {
        b = ngx_pds_car_last(st);

        if (b == NULL || b->last == b->end) {
            b = ngx_pds_car_buf(st, NGX_PDS_CAR_ROUND);
            if (b == NULL) {
                return -1;
            }
        }

        k = ngx_min(n, (size_t) (b->end - b->last));
        b->last = ngx_cpymem(b->last, p, k);
        p += k;
        n -= k;
    }

    return 0;
}


/* the next round of the CAR into st->out; sets st->done at the end */
static ngx_int_t
ngx_pds_car_produce(ngx_pds_car_stream_t *st)
{
    int          rc;
    uint64_t     before;
    ngx_buf_t   *b;
    ngx_log_t   *log = st->ctx->request->connection->log;

    before = st->w.total;

    if (!st->started) {
        st->started = 1;

        if (pds_repo_export_start(st->store, st->ctx->rtxn, st->uid,
                                  st->since, &st->w, &st->ex)
            != 0)
        {
            return NGX_ERROR;
        }
    }

    rc = pds_repo_export_step(&st->ex, &st->w, NGX_PDS_CAR_ROUND);

    if (rc != 0 && rc != PDS_NOTFOUND) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "pds: getRepo: reading the repository failed");
        return NGX_ERROR;
    }

    if (rc == PDS_NOTFOUND) {
        if (pds_car_finish(&st->w) != 0) {
            return NGX_ERROR;
        }

        st->done = 1;

        b = ngx_pds_car_last(st);

        if (b == NULL) {
            b = ngx_pds_car_buf(st, 0);
            if (b == NULL) {
                return NGX_ERROR;
            }
        }

        b->last_buf = 1;
        b->last_in_chain = 1;
    }

    if (st->w.error) {
        return NGX_ERROR;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, log, 0,
                   "pds: getRepo: %uL bytes produced, %uL in all%s",
                   st->w.total - before, st->w.total,
                   st->done ? ", done" : "");

    return NGX_OK;
}


/* st->out to the output filters; NGX_ERROR, or what the filters said */
static ngx_int_t
ngx_pds_car_output(ngx_pds_car_stream_t *st, ngx_chain_t *in)
{
    ngx_int_t            rc;
    ngx_http_request_t  *r = st->ctx->request;

    rc = ngx_http_output_filter(r, in);

    ngx_chain_update_chains(r->pool, &st->free, &st->busy, &st->out,
                            (ngx_buf_tag_t) &ngx_pds_module);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "pds: getRepo: output %i, %s", rc,
                   st->busy ? "the socket is full" : "all sent");

    return rc;
}


/*
 * Sends rounds while the connection takes them.  NGX_AGAIN: wait for the
 * socket; otherwise the final code for ngx_http_finalize_request().
 */
static ngx_int_t
ngx_pds_car_send(ngx_pds_car_stream_t *st)
{
    ngx_int_t            rc;
    ngx_uint_t           rounds;
    ngx_http_request_t  *r = st->ctx->request;

    for (rounds = 0; /* void */ ; rounds++) {

        if (st->busy) {
            if (ngx_pds_car_output(st, NULL) == NGX_ERROR) {
                return NGX_ERROR;
            }

            if (st->busy) {
                return NGX_AGAIN;
            }
        }

        if (st->done) {
            return NGX_OK;
        }

        if (rounds == NGX_PDS_CAR_ROUNDS) {
            /* give other connections their turn */
            ngx_post_event(r->connection->write, &ngx_posted_events);
            return NGX_AGAIN;
        }

        st->out = NULL;
        st->last_out = &st->out;

        if (ngx_pds_car_produce(st) != NGX_OK) {
            return NGX_ERROR;
        }

        if (st->out == NULL) {
            continue;
        }

        rc = ngx_pds_car_output(st, st->out);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (st->done) {
            /* nginx flushes whatever is left as it finalizes */
            return rc;
        }
    }
}


static void
ngx_pds_car_write_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_event_t               *wev;
    ngx_pds_ctx_t             *ctx;
    ngx_http_core_loc_conf_t  *clcf;

    wev = r->connection->write;
    ctx = ngx_http_get_module_ctx(r, ngx_pds_module);

    if (wev->timedout) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, NGX_ETIMEDOUT,
                      "client timed out");
        r->connection->timedout = 1;
        ngx_http_finalize_request(r, NGX_HTTP_REQUEST_TIME_OUT);
        return;
    }

    rc = ngx_pds_car_send(ctx->data);

    if (rc == NGX_AGAIN) {
        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

        if (!wev->delayed && !wev->posted) {
            ngx_add_timer(wev, clcf->send_timeout);
        }

        if (ngx_handle_write_event(wev, clcf->send_lowat) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_ERROR);
        }

        return;
    }

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    ngx_http_finalize_request(r, rc);
}


static void
ngx_pds_car_cleanup(void *data)
{
    ngx_pds_car_stream_t  *st = data;

    /* before the read transaction's own cleanup, added earlier */
    pds_repo_export_end(&st->ex);
}


/* the stream's state, ended with the request */
static ngx_pds_car_stream_t *
ngx_pds_car_stream_create(ngx_pds_ctx_t *ctx, pds_account_t *acc,
    uint64_t since)
{
    ngx_pool_cleanup_t    *cln;
    ngx_pds_car_stream_t  *st;
    ngx_http_request_t    *r = ctx->request;

    st = ngx_pcalloc(r->pool, sizeof(ngx_pds_car_stream_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (st == NULL || cln == NULL) {
        return NULL;
    }

    st->ctx = ctx;
    st->store = ctx->conf->env->store;
    st->uid = acc->uid;
    st->since = since;
    st->out = NULL;
    st->last_out = &st->out;

    cln->handler = ngx_pds_car_cleanup;
    cln->data = st;

    pds_car_writer_init(&st->w, &ctx->alloc, NGX_PDS_CAR_CHUNK,
                        ngx_pds_car_out, st);

    return st;
}


static ngx_int_t
ngx_pds_car_stream(ngx_pds_ctx_t *ctx, pds_account_t *acc, uint64_t since)
{
    int                  rc;
    pds_repo_root_t      root;
    ngx_http_request_t  *r = ctx->request;

    if (ngx_pds_read_txn(ctx) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = pds_repo_get_root(ctx->conf->env->store, ctx->rtxn, acc->uid, &root);

    if (rc == PDS_NOTFOUND) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Could not find repo for DID: %s", acc->did);
    }

    if (rc != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = ngx_pds_car_stream_create(ctx, acc, since);
    if (ctx->data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = -1;
    r->headers_out.content_type.len = sizeof(NGX_PDS_CAR_TYPE) - 1;
    r->headers_out.content_type.data = (u_char *) NGX_PDS_CAR_TYPE;
    r->headers_out.content_type_lowcase = NULL;

    if (r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "pds: getRepo: streaming the CAR of %s", acc->did);

    r->write_event_handler = ngx_pds_car_write_handler;
    r->main->count++;

    ngx_pds_car_write_handler(r);

    return NGX_DONE;
}


ngx_int_t
ngx_pds_get_repo(ngx_pds_ctx_t *ctx)
{
    uint64_t       since;
    ngx_int_t      rc;
    pds_account_t  acc;

    rc = ngx_pds_sync_since(ctx, &since);

    if (rc == NGX_OK) {
        rc = ngx_pds_sync_repo(ctx, &acc, 0);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_pds_car_stream(ctx, &acc, since);
}


ngx_int_t
ngx_pds_get_checkout(ngx_pds_ctx_t *ctx)
{
    ngx_int_t      rc;
    pds_account_t  acc;

    rc = ngx_pds_sync_repo(ctx, &acc, 0);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_pds_car_stream(ctx, &acc, 0);
}


/* ---- small CARs -------------------------------------------------------- */


static ngx_int_t
ngx_pds_car_send_whole(ngx_pds_ctx_t *ctx, pds_car_writer_t *w)
{
    if (pds_car_finish(w) != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_text(ctx->request, NGX_HTTP_OK, NGX_PDS_CAR_TYPE,
                             w->buf.data, w->buf.len);
}


ngx_int_t
ngx_pds_get_record(ngx_pds_ctx_t *ctx)
{
    int               rc;
    ngx_int_t         st;
    ngx_str_t         collection, rkey;
    pds_account_t     acc;
    pds_car_writer_t  w;

    st = ngx_pds_sync_repo(ctx, &acc, 0);

    if (st == NGX_OK) {
        st = ngx_pds_sync_param(ctx, "collection", &collection);
    }

    if (st == NGX_OK) {
        st = ngx_pds_sync_param(ctx, "rkey", &rkey);
    }

    if (st != NGX_OK) {
        return st;
    }

    if (!pds_nsid_valid((char *) collection.data, collection.len)) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "collection must be a valid nsid");
    }

    if (!pds_rkey_valid((char *) rkey.data, rkey.len)) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "rkey must be a valid Record Key");
    }

    pds_car_writer_init(&w, &ctx->alloc, 0, NULL, NULL);

    rc = pds_repo_export_proof(ctx->conf->env->store, ctx->rtxn, acc.uid,
                               (char *) collection.data, collection.len,
                               (char *) rkey.data, rkey.len, &w);

    if (rc == PDS_NOTFOUND) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Could not find repo for DID: %s", acc.did);
    }

    if (rc != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_car_send_whole(ctx, &w);
}


/* the "cids" parameters, parsed: NGX_OK or the status of a refusal */
static ngx_int_t
ngx_pds_car_cids(ngx_pds_ctx_t *ctx, ngx_array_t *values, pds_cid_t **cids)
{
    ngx_str_t           *v;
    ngx_uint_t           i;
    ngx_http_request_t  *r = ctx->request;

    if (ngx_array_init(values, r->pool, 4, sizeof(ngx_str_t)) != NGX_OK
        || ngx_pds_args(r, "cids", values) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (values->nelts == 0) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Params must have the property \"cids\"");
    }

    *cids = ngx_palloc(r->pool, values->nelts * sizeof(pds_cid_t));
    if (*cids == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    v = values->elts;

    for (i = 0; i < values->nelts; i++) {
        if (pds_cid_parse(&(*cids)[i], (char *) v[i].data, v[i].len) != 0) {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "Invalid CID: %s", (char *) v[i].data);
        }
    }

    return NGX_OK;
}


/*
 * The reference refuses the whole request when any block is missing, and
 * names them all: NGX_OK, or the status of that refusal.
 */
static ngx_int_t
ngx_pds_car_missing(ngx_pds_ctx_t *ctx, uint64_t uid, ngx_array_t *values,
    pds_cid_t *cids)
{
    int             rc;
    u_char         *p, *msg, *found;
    size_t          n, bn;
    ngx_str_t      *v;
    ngx_uint_t      i;
    const uint8_t  *bp;

    found = ngx_pcalloc(ctx->request->pool, values->nelts);
    if (found == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    v = values->elts;
    n = 0;

    for (i = 0; i < values->nelts; i++) {
        rc = pds_repo_get_block(ctx->conf->env->store, ctx->rtxn, uid,
                                &cids[i], &bp, &bn);
        if (rc == 0) {
            found[i] = 1;

        } else if (rc == PDS_NOTFOUND) {
            n += v[i].len + 1;

        } else {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (n == 0) {
        return NGX_OK;
    }

    msg = ngx_pnalloc(ctx->request->pool,
                      sizeof("Could not find cids: ") + n);
    if (msg == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(msg, "Could not find cids: ",
                   sizeof("Could not find cids: ") - 1);

    for (i = 0; i < values->nelts; i++) {
        if (!found[i]) {
            if (p[-1] != ' ') {
                *p++ = ',';
            }

            p = ngx_cpymem(p, v[i].data, v[i].len);
        }
    }

    *p = '\0';

    rc = ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest", "%s",
                       msg);

    /* the list may be longer than ngx_pds_error() keeps: all of it */
    ctx->error.message = (char *) msg;

    return rc;
}


ngx_int_t
ngx_pds_get_blocks(ngx_pds_ctx_t *ctx)
{
    size_t            missing;
    ngx_int_t         rc;
    pds_cid_t        *cids;
    ngx_array_t       values;
    pds_account_t     acc;
    pds_car_writer_t  w;

    cids = NULL;

    rc = ngx_pds_sync_repo(ctx, &acc, 0);

    if (rc == NGX_OK) {
        rc = ngx_pds_car_cids(ctx, &values, &cids);
    }

    if (rc == NGX_OK) {
        rc = ngx_pds_car_missing(ctx, acc.uid, &values, cids);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    pds_car_writer_init(&w, &ctx->alloc, 0, NULL, NULL);

    if (pds_repo_export_blocks(ctx->conf->env->store, ctx->rtxn, acc.uid,
                               cids, values.nelts, &w, &missing) != 0)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_car_send_whole(ctx, &w);
}
