/*
 * ngx_pds_module: com.atproto.sync.* reads, relay notification
 * (requestCrawl), and the hooks of the firehose (ngx_pds_firehose.c).
 *
 * getRepo / getCheckout stream the CAR through nginx's output chain: a
 * round of about 64 KB is produced by the core's resumable export
 * (pds_repo_export_step) only when the
 * previous one has left, so memory stays flat for any repository size.
 * The request's read transaction is held across those yields (MDB_NOTLS),
 * which gives the whole CAR one consistent snapshot.
 */

#include "ngx_pds_sync.h"
#include "ngx_pds_methods.h"
#include "pds_blob.h"
#include "pds_car.h"
#include "pds_cbor.h"
#include "pds_repo.h"
#include "pds_syntax.h"


#define NGX_PDS_CAR_TYPE        "application/vnd.ipld.car"
#define NGX_PDS_CAR_ROUND       (64 * 1024)
#define NGX_PDS_CAR_CHUNK       (16 * 1024)
#define NGX_PDS_CAR_ROUNDS      16          /* rounds per turn */

#define NGX_PDS_CRAWL_EVERY     (20 * 60)   /* seconds, per relay */
#define NGX_PDS_CRAWL_RETRY     60          /* after a failure */
#define NGX_PDS_CRAWL_NSID      "/xrpc/com.atproto.sync.requestCrawl"


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


typedef struct {
    ngx_str_t             *crawler;       /* an element of pscf->crawlers */
    time_t                 next;          /* not before this time */
} ngx_pds_crawl_t;


static ngx_int_t ngx_pds_get_repo(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_get_checkout(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_get_record(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_get_blocks(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_get_latest_commit(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_get_head(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_get_repo_status(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_list_repos(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_list_blobs(ngx_pds_ctx_t *ctx);
static void ngx_pds_car_write_handler(ngx_http_request_t *r);


const ngx_pds_method_t  ngx_pds_sync_methods[] = {

    { ngx_string("com.atproto.sync.getRepo"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_OPTIONAL, NGX_PDS_IN_NONE, NGX_PDS_ALLOW_TAKENDOWN, 0,
      ngx_pds_get_repo, NULL },

    { ngx_string("com.atproto.sync.getCheckout"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_OPTIONAL, NGX_PDS_IN_NONE, 0, 0, ngx_pds_get_checkout, NULL },

    { ngx_string("com.atproto.sync.getRecord"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_OPTIONAL, NGX_PDS_IN_NONE, 0, 0, ngx_pds_get_record, NULL },

    { ngx_string("com.atproto.sync.getBlocks"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_OPTIONAL, NGX_PDS_IN_NONE, 0, 0, ngx_pds_get_blocks, NULL },

    { ngx_string("com.atproto.sync.getLatestCommit"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_OPTIONAL, NGX_PDS_IN_NONE, 0, 0,
      ngx_pds_get_latest_commit, NULL },

    { ngx_string("com.atproto.sync.getHead"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_OPTIONAL, NGX_PDS_IN_NONE, 0, 0, ngx_pds_get_head, NULL },

    { ngx_string("com.atproto.sync.getRepoStatus"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_NONE, NGX_PDS_IN_NONE, 0, 0, ngx_pds_get_repo_status, NULL },

    { ngx_string("com.atproto.sync.listRepos"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_NONE, NGX_PDS_IN_NONE, 0, 0, ngx_pds_list_repos, NULL },

    { ngx_string("com.atproto.sync.listBlobs"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_OPTIONAL, NGX_PDS_IN_NONE, NGX_PDS_ALLOW_TAKENDOWN, 0,
      ngx_pds_list_blobs, NULL },

    { ngx_string("com.atproto.sync.subscribeRepos"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_NONE, NGX_PDS_IN_NONE, 0, 0, ngx_pds_subscribe_repos, NULL },

    { ngx_null_string, 0, 0, 0, 0, 0, NULL, NULL }
};


static ngx_array_t  *ngx_pds_crawls;      /* ngx_pds_crawl_t, per worker */


/* ---- hooks ------------------------------------------------------------- */


ngx_int_t
ngx_pds_sync_init_conf(ngx_conf_t *cf)
{
    ngx_pds_store_on_commit(ngx_pds_sync_notify);

    return ngx_pds_firehose_init_conf(cf);
}


ngx_int_t
ngx_pds_sync_init_process(ngx_cycle_t *cycle)
{
    ngx_pds_crawls = NULL;

    return ngx_pds_firehose_init_process(cycle);
}


void
ngx_pds_sync_exit_process(ngx_cycle_t *cycle)
{
    ngx_pds_firehose_exit_process(cycle);
}


static void ngx_pds_crawl_notify(ngx_pds_ctx_t *ctx);


void
ngx_pds_sync_notify(ngx_pds_ctx_t *ctx)
{
    ngx_pds_firehose_notify(ctx);
    ngx_pds_crawl_notify(ctx);
}


/* ---- common ------------------------------------------------------------ */


static ngx_int_t
ngx_pds_sync_bad(ngx_pds_ctx_t *ctx, const char *error, const char *fmt,
    const char *arg)
{
    u_char  *p, msg[512];

    p = ngx_snprintf(msg, sizeof(msg) - 1, fmt, arg);
    *p = '\0';

    return ngx_pds_fail(ctx, NGX_HTTP_BAD_REQUEST,
                        error ? error : "InvalidRequest", (char *) msg);
}


/* a required string parameter, NUL-terminated */
static ngx_int_t
ngx_pds_sync_param(ngx_pds_ctx_t *ctx, const char *name, ngx_str_t *v)
{
    if (ngx_pds_arg(ctx->request, name, v) != NGX_OK || v->len == 0) {
        return ngx_pds_sync_bad(ctx, NULL,
                                "Params must have the property \"%s\"",
                                name);
    }

    return NGX_OK;
}


/*
 * The repository of the "did" parameter, with the reference's checks
 * (assertRepoAvailability): the owner and the admin see taken-down and
 * deactivated repos, others get RepoTakendown / RepoDeactivated.
 */
static ngx_int_t
ngx_pds_sync_repo(ngx_pds_ctx_t *ctx, pds_account_t *acc,
    ngx_uint_t always)
{
    ngx_str_t   did;
    ngx_uint_t  allow;

    if (ngx_pds_sync_param(ctx, "did", &did) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (!pds_did_valid((char *) did.data, did.len)) {
        return ngx_pds_sync_bad(ctx, NULL, "did must be a valid did", "");
    }

    allow = always || ctx->auth.admin
            || (ctx->auth.did && ngx_strlen(ctx->auth.did) == did.len
                && ngx_strncmp(ctx->auth.did, did.data, did.len) == 0);

    return ngx_pds_repo_account(ctx, "did", acc, allow);
}


/* limit: an integer in 1..1000, 500 when absent */
static ngx_int_t
ngx_pds_sync_limit(ngx_pds_ctx_t *ctx, ngx_uint_t *limit)
{
    ngx_int_t  n;
    ngx_str_t  v;

    *limit = 500;

    if (ngx_pds_arg(ctx->request, "limit", &v) != NGX_OK || v.len == 0) {
        return NGX_OK;
    }

    n = ngx_atoi(v.data, v.len);

    if (n == NGX_ERROR) {
        return ngx_pds_sync_bad(ctx, NULL, "limit must be an integer", "");
    }

    if (n < 1) {
        return ngx_pds_sync_bad(ctx, NULL, "limit can not be less than 1",
                                "");
    }

    if (n > 1000) {
        return ngx_pds_sync_bad(ctx, NULL,
                                "limit can not be greater than 1000", "");
    }

    *limit = (ngx_uint_t) n;

    return NGX_OK;
}


static ngx_int_t
ngx_pds_sync_storage_error(ngx_pds_ctx_t *ctx)
{
    return ngx_pds_send_error(ctx->request, NGX_HTTP_INTERNAL_SERVER_ERROR,
                              "InternalServerError",
                              "Internal Server Error");
}


static ngx_int_t
ngx_pds_send_car(ngx_pds_ctx_t *ctx, pds_car_writer_t *w)
{
    return ngx_pds_send_text(ctx->request, NGX_HTTP_OK, NGX_PDS_CAR_TYPE,
                             w->buf.data, w->buf.len);
}


/* ---- getRepo / getCheckout: a streamed CAR ----------------------------- */


/* the CAR writer's output: copied into the stream's buffers */
static int
ngx_pds_car_out(void *data, const uint8_t *p, size_t n)
{
    size_t                 k;
    ngx_buf_t             *b;
    ngx_chain_t           *cl;
    ngx_http_request_t    *r;
    ngx_pds_car_stream_t  *st = data;

    r = st->ctx->request;

    while (n) {
        cl = (st->out == NULL) ? NULL
             : (ngx_chain_t *) ((u_char *) st->last_out
                                - offsetof(ngx_chain_t, next));

        b = cl ? cl->buf : NULL;

        if (b == NULL || b->last == b->end) {
            cl = ngx_chain_get_free_buf(r->pool, &st->free);
            if (cl == NULL) {
                return -1;
            }

            b = cl->buf;

            if (b->start == NULL) {
                b->start = ngx_palloc(r->pool, NGX_PDS_CAR_ROUND);
                if (b->start == NULL) {
                    return -1;
                }

                b->end = b->start + NGX_PDS_CAR_ROUND;
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
    int           rc;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

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

    if (rc == PDS_NOTFOUND) {
        if (pds_car_finish(&st->w) != 0) {
            return NGX_ERROR;
        }

        st->done = 1;

        if (st->out == NULL) {
            cl = ngx_chain_get_free_buf(st->ctx->request->pool, &st->free);
            if (cl == NULL) {
                return NGX_ERROR;
            }

            *st->last_out = cl;
            st->last_out = &cl->next;
        }

        b = ((ngx_chain_t *) ((u_char *) st->last_out
                              - offsetof(ngx_chain_t, next)))->buf;
        b->last_buf = 1;
        b->last_in_chain = 1;
        b->tag = (ngx_buf_tag_t) &ngx_pds_module;

    } else if (rc != 0) {
        ngx_log_error(NGX_LOG_ERR, st->ctx->request->connection->log, 0,
                      "pds: getRepo: reading the repository failed");
        return NGX_ERROR;
    }

    if (st->w.error) {
        return NGX_ERROR;
    }

    return NGX_OK;
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
            rc = ngx_http_output_filter(r, NULL);

            ngx_chain_update_chains(r->pool, &st->free, &st->busy, &st->out,
                                    (ngx_buf_tag_t) &ngx_pds_module);

            if (rc == NGX_ERROR) {
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

        rc = ngx_http_output_filter(r, st->out);

        ngx_chain_update_chains(r->pool, &st->free, &st->busy, &st->out,
                                (ngx_buf_tag_t) &ngx_pds_module);

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
    ngx_pds_car_stream_t      *st;
    ngx_http_core_loc_conf_t  *clcf;

    wev = r->connection->write;
    ctx = ngx_http_get_module_ctx(r, ngx_pds_module);
    st = ctx->data;

    if (wev->timedout) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, NGX_ETIMEDOUT,
                      "client timed out");
        r->connection->timedout = 1;
        ngx_http_finalize_request(r, NGX_HTTP_REQUEST_TIME_OUT);
        return;
    }

    rc = ngx_pds_car_send(st);

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


static ngx_int_t
ngx_pds_car_stream(ngx_pds_ctx_t *ctx, pds_account_t *acc, uint64_t since)
{
    ngx_int_t              rc;
    pds_repo_root_t        root;
    ngx_pool_cleanup_t    *cln;
    ngx_http_request_t    *r = ctx->request;
    ngx_pds_car_stream_t  *st;

    if (ngx_pds_read_txn(ctx) == NULL) {
        return ngx_pds_sync_storage_error(ctx);
    }

    rc = pds_repo_get_root(ctx->conf->env->store, ctx->rtxn, acc->uid, &root);

    if (rc == PDS_NOTFOUND) {
        ngx_pds_sync_bad(ctx, NULL, "Could not find repo for DID: %s",
                         acc->did);
        return ctx->sent_rc;
    }

    if (rc != 0) {
        return ngx_pds_sync_storage_error(ctx);
    }

    st = ngx_pcalloc(r->pool, sizeof(ngx_pds_car_stream_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (st == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
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

    ctx->data = st;

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

    r->write_event_handler = ngx_pds_car_write_handler;
    r->main->count++;

    ngx_pds_car_write_handler(r);

    return NGX_DONE;
}


static ngx_int_t
ngx_pds_get_repo(ngx_pds_ctx_t *ctx)
{
    uint64_t       since;
    ngx_str_t      v;
    pds_account_t  acc;

    since = 0;

    if (ngx_pds_arg(ctx->request, "since", &v) == NGX_OK && v.len) {
        if (!pds_tid_valid((char *) v.data, v.len)
            || pds_tid_decode((char *) v.data, v.len, &since) != 0)
        {
            return ngx_pds_send_error(ctx->request, NGX_HTTP_BAD_REQUEST,
                                      "InvalidRequest",
                                      "since must be a valid TID");
        }
    }

    if (ngx_pds_sync_repo(ctx, &acc, 0) != NGX_OK) {
        return ctx->sent_rc;
    }

    return ngx_pds_car_stream(ctx, &acc, since);
}


static ngx_int_t
ngx_pds_get_checkout(ngx_pds_ctx_t *ctx)
{
    pds_account_t  acc;

    if (ngx_pds_sync_repo(ctx, &acc, 0) != NGX_OK) {
        return ctx->sent_rc;
    }

    return ngx_pds_car_stream(ctx, &acc, 0);
}


/* ---- small CARs and JSON answers -------------------------------------- */


static ngx_int_t
ngx_pds_get_record(ngx_pds_ctx_t *ctx)
{
    int               rc;
    ngx_str_t         collection, rkey;
    pds_account_t     acc;
    pds_car_writer_t  w;

    if (ngx_pds_sync_repo(ctx, &acc, 0) != NGX_OK
        || ngx_pds_sync_param(ctx, "collection", &collection) != NGX_OK
        || ngx_pds_sync_param(ctx, "rkey", &rkey) != NGX_OK)
    {
        return ctx->sent_rc;
    }

    if (!pds_nsid_valid((char *) collection.data, collection.len)) {
        ngx_pds_sync_bad(ctx, NULL, "collection must be a valid nsid", "");
        return ctx->sent_rc;
    }

    if (!pds_rkey_valid((char *) rkey.data, rkey.len)) {
        ngx_pds_sync_bad(ctx, NULL, "rkey must be a valid Record Key", "");
        return ctx->sent_rc;
    }

    pds_car_writer_init(&w, &ctx->alloc, 0, NULL, NULL);

    rc = pds_repo_export_proof(ctx->conf->env->store, ctx->rtxn, acc.uid,
                               (char *) collection.data, collection.len,
                               (char *) rkey.data, rkey.len, &w);

    if (rc == PDS_NOTFOUND) {
        ngx_pds_sync_bad(ctx, NULL, "Could not find repo for DID: %s",
                         acc.did);
        return ctx->sent_rc;
    }

    if (rc != 0 || pds_car_finish(&w) != 0) {
        return ngx_pds_sync_storage_error(ctx);
    }

    return ngx_pds_send_car(ctx, &w);
}


/* every value of a repeated query parameter, URL-decoded */
static ngx_int_t
ngx_pds_sync_params(ngx_http_request_t *r, const char *name,
    ngx_array_t *values)
{
    u_char     *p, *last, *start, *end, *dst, *src;
    size_t      len;
    ngx_str_t  *v;

    len = ngx_strlen(name);
    p = r->args.data;
    last = p + r->args.len;

    while (p < last) {
        start = p;
        end = ngx_strlchr(p, last, '&');
        if (end == NULL) {
            end = last;
        }

        p = end + 1;

        if ((size_t) (end - start) > len && start[len] == '='
            && ngx_strncmp(start, name, len) == 0)
        {
            v = ngx_array_push(values);
            if (v == NULL) {
                return NGX_ERROR;
            }

            src = start + len + 1;
            dst = ngx_pnalloc(r->pool, end - src + 1);
            if (dst == NULL) {
                return NGX_ERROR;
            }

            v->data = dst;
            ngx_unescape_uri(&dst, &src, end - src, NGX_UNESCAPE_URI);
            *dst = '\0';
            v->len = dst - v->data;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_pds_get_blocks(ngx_pds_ctx_t *ctx)
{
    int                rc;
    u_char            *p, *msg, *found;
    size_t             missing, n, bn;
    pds_cid_t         *cids;
    ngx_str_t         *v;
    ngx_uint_t         i;
    ngx_array_t        values;
    pds_account_t      acc;
    pds_car_writer_t   w;
    const uint8_t     *bp;
    ngx_http_request_t *r = ctx->request;

    if (ngx_pds_sync_repo(ctx, &acc, 0) != NGX_OK) {
        return ctx->sent_rc;
    }

    if (ngx_array_init(&values, r->pool, 4, sizeof(ngx_str_t)) != NGX_OK
        || ngx_pds_sync_params(r, "cids", &values) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (values.nelts == 0) {
        ngx_pds_sync_bad(ctx, NULL, "Params must have the property \"%s\"",
                         "cids");
        return ctx->sent_rc;
    }

    cids = ngx_palloc(r->pool, values.nelts * sizeof(pds_cid_t));
    if (cids == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    v = values.elts;

    for (i = 0; i < values.nelts; i++) {
        if (pds_cid_parse(&cids[i], (char *) v[i].data, v[i].len) != 0) {
            ngx_pds_sync_bad(ctx, NULL, "Invalid CID: %s",
                             (char *) v[i].data);
            return ctx->sent_rc;
        }
    }

    /* the reference refuses the whole request when any block is missing */

    found = ngx_pcalloc(r->pool, values.nelts);
    if (found == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = 0;

    for (i = 0; i < values.nelts; i++) {
        rc = pds_repo_get_block(ctx->conf->env->store, ctx->rtxn, acc.uid,
                                &cids[i], &bp, &bn);
        if (rc == 0) {
            found[i] = 1;

        } else if (rc == PDS_NOTFOUND) {
            n += v[i].len + 1;

        } else {
            return ngx_pds_sync_storage_error(ctx);
        }
    }

    if (n) {
        msg = ngx_pnalloc(r->pool, sizeof("Could not find cids: ") + n);
        if (msg == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_cpymem(msg, "Could not find cids: ",
                       sizeof("Could not find cids: ") - 1);

        for (i = 0; i < values.nelts; i++) {
            if (!found[i]) {
                if (p[-1] != ' ') {
                    *p++ = ',';
                }

                p = ngx_cpymem(p, v[i].data, v[i].len);
            }
        }

        *p = '\0';

        return ngx_pds_send_error(r, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                  (char *) msg);
    }

    pds_car_writer_init(&w, &ctx->alloc, 0, NULL, NULL);

    if (pds_repo_export_blocks(ctx->conf->env->store, ctx->rtxn, acc.uid,
                               cids, values.nelts, &w, &missing) != 0
        || pds_car_finish(&w) != 0)
    {
        return ngx_pds_sync_storage_error(ctx);
    }

    return ngx_pds_send_car(ctx, &w);
}


/* the repo root: NGX_OK, or an answer already sent (ctx->sent_rc) */
static ngx_int_t
ngx_pds_sync_root(ngx_pds_ctx_t *ctx, pds_account_t *acc,
    pds_repo_root_t *root, const char *error)
{
    int  rc;

    rc = pds_repo_get_root(ctx->conf->env->store, ctx->rtxn, acc->uid, root);

    if (rc == PDS_NOTFOUND) {
        return ngx_pds_sync_bad(ctx, error, "Could not find root for DID: %s",
                                acc->did);
    }

    if (rc != 0) {
        ctx->sent_rc = ngx_pds_sync_storage_error(ctx);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_pds_get_latest_commit(ngx_pds_ctx_t *ctx)
{
    char             cid[PDS_CID_STR_SIZE];
    json_t          *json;
    pds_account_t    acc;
    pds_repo_root_t  root;

    if (ngx_pds_sync_repo(ctx, &acc, 0) != NGX_OK
        || ngx_pds_sync_root(ctx, &acc, &root, "RepoNotFound") != NGX_OK)
    {
        return ctx->sent_rc;
    }

    pds_cid_format(&root.commit, cid);

    json = ngx_pds_json_track(ctx->request,
                              json_pack("{s:s, s:s}", "cid", cid,
                                        "rev", root.rev));
    if (json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, json);
}


static ngx_int_t
ngx_pds_get_head(ngx_pds_ctx_t *ctx)
{
    char             cid[PDS_CID_STR_SIZE];
    json_t          *json;
    pds_account_t    acc;
    pds_repo_root_t  root;

    if (ngx_pds_sync_repo(ctx, &acc, 0) != NGX_OK
        || ngx_pds_sync_root(ctx, &acc, &root, "HeadNotFound") != NGX_OK)
    {
        return ctx->sent_rc;
    }

    pds_cid_format(&root.commit, cid);

    json = ngx_pds_json_track(ctx->request,
                              json_pack("{s:s}", "root", cid));
    if (json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, json);
}


/* the reference's formatAccountStatus: NULL status when active */
static const char *
ngx_pds_sync_status(pds_account_t *acc)
{
    if (acc->takedown_ref) {
        return "takendown";
    }

    if (acc->deactivated_at) {
        return "deactivated";
    }

    return NULL;
}


static ngx_int_t
ngx_pds_get_repo_status(ngx_pds_ctx_t *ctx)
{
    json_t           *json;
    const char       *status;
    pds_account_t     acc;
    pds_repo_root_t   root;

    if (ngx_pds_sync_repo(ctx, &acc, 1) != NGX_OK) {
        return ctx->sent_rc;
    }

    status = ngx_pds_sync_status(&acc);

    json = ngx_pds_json_track(ctx->request,
                              json_pack("{s:s, s:b}", "did", acc.did,
                                        "active", status == NULL));
    if (json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (status) {
        json_object_set_new(json, "status", json_string(status));

    } else if (pds_repo_get_root(ctx->conf->env->store, ctx->rtxn, acc.uid,
                                 &root) == 0)
    {
        json_object_set_new(json, "rev", json_string(root.rev));
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, json);
}


/* "<createdAt in ms>::<did>", the reference's listRepos cursor */
static ngx_int_t
ngx_pds_repo_cursor(ngx_pool_t *pool, pds_account_t *acc, ngx_str_t *out)
{
    int64_t  us;

    if (acc->created_at == NULL
        || pds_datetime_parse(acc->created_at, ngx_strlen(acc->created_at),
                              &us) != 0)
    {
        us = 0;
    }

    out->data = ngx_pnalloc(pool, NGX_INT64_LEN + 2
                                  + ngx_strlen(acc->did) + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    out->len = ngx_sprintf(out->data, "%L::%s%Z", us / 1000, acc->did)
               - out->data - 1;

    return NGX_OK;
}


static ngx_int_t
ngx_pds_list_repos(ngx_pds_ctx_t *ctx)
{
    int               rc;
    u_char               *sep;
    int64_t               us;
    uint64_t              uid;
    MDB_txn              *txn;
    json_t               *json, *repos, *repo;
    ngx_int_t             cur_ms;
    ngx_str_t             cursor, cur_did, last;
    ngx_uint_t            limit, skip;
    const char           *status;
    pds_store_t          *store;
    pds_account_t         acc;
    pds_repo_root_t       root;
    pds_account_iter_t    it;
    char                  cid[PDS_CID_STR_SIZE];

    if (ngx_pds_sync_limit(ctx, &limit) != NGX_OK) {
        return ctx->sent_rc;
    }

    txn = ngx_pds_read_txn(ctx);
    if (txn == NULL) {
        return ngx_pds_sync_storage_error(ctx);
    }

    store = ctx->conf->env->store;

    uid = 0;
    skip = 0;
    cur_ms = 0;
    ngx_str_null(&cur_did);

    if (ngx_pds_arg(ctx->request, "cursor", &cursor) == NGX_OK
        && cursor.len)
    {
        sep = ngx_strlcasestrn(cursor.data, cursor.data + cursor.len,
                               (u_char *) "::", 2 - 1);

        cur_ms = sep ? ngx_atoi(cursor.data, sep - cursor.data) : NGX_ERROR;

        if (cur_ms == NGX_ERROR) {
            ngx_pds_sync_bad(ctx, NULL, "Malformed cursor", "");
            return ctx->sent_rc;
        }

        cur_did.data = sep + 2;
        cur_did.len = cursor.data + cursor.len - cur_did.data;

        /* accounts are in uid order, which is creation order */

        rc = pds_store_uid_get(store, txn, (char *) cur_did.data,
                               cur_did.len, &uid);
        if (rc == 0) {
            uid++;

        } else if (rc == PDS_NOTFOUND) {
            uid = 0;
            skip = 1;

        } else {
            return ngx_pds_sync_storage_error(ctx);
        }
    }

    repos = json_array();
    json = ngx_pds_json_track(ctx->request, json_object());
    if (repos == NULL || json == NULL) {
        json_decref(repos);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_object_set_new(json, "repos", repos);

    if (pds_account_iter_open(store, txn, uid, &it) != 0) {
        return ngx_pds_sync_storage_error(ctx);
    }

    ngx_str_null(&last);

    for (rc = pds_account_iter_next(&it, &uid);
         rc == 0 && json_array_size(repos) < limit;
         rc = pds_account_iter_next(&it, &uid))
    {
        if (pds_account_get(store, txn, uid, &ctx->alloc, &acc) != 0) {
            continue;
        }

        if (skip) {
            /* the cursor's account is gone: compare (createdAt, did) */

            if (acc.created_at == NULL
                || pds_datetime_parse(acc.created_at,
                                      ngx_strlen(acc.created_at), &us) != 0)
            {
                us = 0;
            }

            if (us / 1000 < cur_ms
                || (us / 1000 == cur_ms
                    && ngx_strcmp(acc.did, cur_did.data) <= 0))
            {
                continue;
            }
        }

        if (pds_repo_get_root(store, txn, uid, &root) != 0) {
            continue;
        }

        pds_cid_format(&root.commit, cid);
        status = ngx_pds_sync_status(&acc);

        repo = json_pack("{s:s, s:s, s:s, s:b}", "did", acc.did, "head", cid,
                         "rev", root.rev, "active", status == NULL);
        if (repo == NULL) {
            break;
        }

        if (status) {
            json_object_set_new(repo, "status", json_string(status));
        }

        json_array_append_new(repos, repo);

        if (ngx_pds_repo_cursor(ctx->request->pool, &acc, &last) != NGX_OK) {
            break;
        }
    }

    pds_account_iter_close(&it);

    if (rc != 0 && rc != PDS_NOTFOUND) {
        return ngx_pds_sync_storage_error(ctx);
    }

    if (last.len) {
        json_object_set_new(json, "cursor",
                            json_stringn((char *) last.data, last.len));
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, json);
}


typedef struct {
    ngx_pds_ctx_t         *ctx;
    uint64_t               uid;
    json_t                *cids;
    char                   last[PDS_CID_STR_SIZE];
    int                    error;
} ngx_pds_blob_list_t;


static int
ngx_pds_list_blobs_cb(void *data, const pds_cid_t *cid)
{
    int                   rc;
    pds_blob_t            blob;
    ngx_pds_blob_list_t  *bl = data;

    rc = pds_blob_get(bl->ctx->conf->env->store, bl->ctx->rtxn, bl->uid, cid,
                      &blob);
    if (rc != 0) {
        bl->error = (rc != PDS_NOTFOUND);
        return bl->error;
    }

    /* only blobs that records reference, as the reference's record_blob */

    if (blob.temp) {
        return 0;
    }

    pds_cid_format(cid, bl->last);

    return json_array_append_new(bl->cids, json_string(bl->last)) != 0;
}


/*
 * The blobs of a repo, in CID order.  "since" is checked but cannot
 * filter yet: blob rows do not record the rev that first referenced them.
 */
static ngx_int_t
ngx_pds_list_blobs(ngx_pds_ctx_t *ctx)
{
    long                  n;
    uint64_t              since;
    json_t               *json;
    ngx_str_t             v;
    pds_cid_t             cursor, *after;
    ngx_uint_t            limit;
    pds_account_t         acc;
    ngx_pds_blob_list_t   bl;

    if (ngx_pds_sync_repo(ctx, &acc, 0) != NGX_OK
        || ngx_pds_sync_limit(ctx, &limit) != NGX_OK)
    {
        return ctx->sent_rc;
    }

    if (ngx_pds_arg(ctx->request, "since", &v) == NGX_OK && v.len) {
        if (!pds_tid_valid((char *) v.data, v.len)
            || pds_tid_decode((char *) v.data, v.len, &since) != 0)
        {
            ngx_pds_sync_bad(ctx, NULL, "since must be a valid TID", "");
            return ctx->sent_rc;
        }
    }

    after = NULL;

    if (ngx_pds_arg(ctx->request, "cursor", &v) == NGX_OK && v.len) {
        if (pds_cid_parse(&cursor, (char *) v.data, v.len) != 0) {
            ngx_pds_sync_bad(ctx, NULL, "Malformed cursor", "");
            return ctx->sent_rc;
        }

        after = &cursor;
    }

    ngx_memzero(&bl, sizeof(ngx_pds_blob_list_t));
    bl.ctx = ctx;
    bl.uid = acc.uid;
    bl.cids = json_array();

    json = ngx_pds_json_track(ctx->request, json_object());
    if (bl.cids == NULL || json == NULL) {
        json_decref(bl.cids);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_object_set_new(json, "cids", bl.cids);

    n = pds_blob_list(ctx->conf->env->store, ctx->rtxn, acc.uid, after,
                      limit, ngx_pds_list_blobs_cb, &bl);

    if (n < 0 || bl.error) {
        return ngx_pds_sync_storage_error(ctx);
    }

    if (bl.last[0]) {
        json_object_set_new(json, "cursor", json_string(bl.last));
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, json);
}


/* ---- requestCrawl ------------------------------------------------------ */


static void
ngx_pds_crawl_done(void *data, ngx_uint_t status, ngx_log_t *log)
{
    ngx_pds_crawl_t  *cr = data;

    if (status >= 200 && status < 300) {
        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "pds: requestCrawl at \"%V\": %ui", cr->crawler,
                      status);
        return;
    }

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "pds: requestCrawl at \"%V\" failed (status %ui), "
                  "retrying after the next event in %d s",
                  cr->crawler, status, NGX_PDS_CRAWL_RETRY);

    cr->next = ngx_time() + NGX_PDS_CRAWL_RETRY;
}


static ngx_int_t
ngx_pds_crawl_request(ngx_pds_ctx_t *ctx, ngx_pds_crawl_t *cr)
{
    size_t               len;
    u_char              *p;
    ngx_str_t            url, body, ct, *crawler;
    ngx_http_request_t  *r = ctx->request;

    crawler = cr->crawler;

    len = crawler->len;
    while (len && crawler->data[len - 1] == '/') {
        len--;
    }

    url.data = ngx_pnalloc(r->pool, len + sizeof(NGX_PDS_CRAWL_NSID));
    body.data = ngx_pnalloc(r->pool, ctx->conf->hostname.len * 6 + 32);
    if (url.data == NULL || body.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(url.data, crawler->data, len);
    p = ngx_cpymem(p, NGX_PDS_CRAWL_NSID, sizeof(NGX_PDS_CRAWL_NSID) - 1);
    url.len = p - url.data;

    p = ngx_cpymem(body.data, "{\"hostname\":\"", 13);
    p = (u_char *) ngx_escape_json(p, ctx->conf->hostname.data,
                                   ctx->conf->hostname.len);
    p = ngx_cpymem(p, "\"}", 2);
    body.len = p - body.data;

    ngx_str_set(&ct, "application/json");

    return ngx_pds_fetch_background(ctx, NGX_HTTP_POST, &url, &ct, &body,
                                    ngx_pds_crawl_done, cr);
}


/* after new events: requestCrawl at each relay, once per 20 minutes */
static void
ngx_pds_crawl_notify(ngx_pds_ctx_t *ctx)
{
    time_t              now;
    ngx_str_t          *crawler;
    ngx_uint_t          i, j;
    ngx_pds_crawl_t    *cr;
    ngx_http_request_t *r = ctx->request;

    if (ctx->conf->crawlers == NULL || ctx->conf->crawlers->nelts == 0
        || ctx->conf->outbound == NULL)
    {
        return;
    }

    if (ngx_pds_crawls == NULL) {
        ngx_pds_crawls = ngx_array_create(ngx_cycle->pool, 4,
                                          sizeof(ngx_pds_crawl_t));
        if (ngx_pds_crawls == NULL) {
            return;
        }
    }

    now = ngx_time();
    crawler = ctx->conf->crawlers->elts;

    for (i = 0; i < ctx->conf->crawlers->nelts; i++) {

        cr = ngx_pds_crawls->elts;

        for (j = 0; j < ngx_pds_crawls->nelts; j++) {
            if (cr[j].crawler == &crawler[i]) {
                break;
            }
        }

        if (j == ngx_pds_crawls->nelts) {
            cr = ngx_array_push(ngx_pds_crawls);
            if (cr == NULL) {
                return;
            }

            cr->crawler = &crawler[i];
            cr->next = 0;

        } else {
            cr = &cr[j];
        }

        if (now < cr->next) {
            continue;
        }

        cr->next = now + NGX_PDS_CRAWL_EVERY;

        if (ngx_pds_crawl_request(ctx, cr) != NGX_OK) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "pds: cannot start requestCrawl at \"%V\"",
                          &crawler[i]);
            cr->next = now + NGX_PDS_CRAWL_RETRY;
        }
    }
}
