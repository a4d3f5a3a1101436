/*
 * ngx_pds_module: the request plumbing every handler shares.
 *
 * This file is the bottom of the nginx layer: it uses the core and nginx,
 * and nothing else of the module.  It holds the XRPC context of a request,
 * query parameters, JSON and error answers (the one error vocabulary:
 * ngx_pds_error() records the XRPC error, ngx_pds_finish() renders it),
 * the request's LMDB read transaction, a core allocator on a pool, how a
 * request that waited resumes, and the account a "repo" parameter names.
 */

#include "ngx_pds.h"
#include "pds_cbor.h"


#define NGX_PDS_ERROR_MAX  512      /* bytes of an error message */


ngx_pds_ctx_t *
ngx_pds_ctx_create(ngx_http_request_t *r, const ngx_pds_method_t *m,
    ngx_str_t *nsid)
{
    ngx_pds_ctx_t  *ctx;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_pds_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    ctx->request = r;
    ctx->conf = ngx_http_get_module_srv_conf(r, ngx_pds_module);
    ctx->method = m;
    ctx->nsid = *nsid;

    ngx_pds_pool_allocator(r->pool, &ctx->alloc);
    ngx_http_set_ctx(r, ctx, ngx_pds_module);

    return ctx;
}


/* the tenant's LMDB store, or NULL (logged) when it could not be opened */
pds_store_t *
ngx_pds_store(ngx_http_request_t *r, ngx_pds_srv_conf_t *pscf)
{
    if (pscf->env == NULL || pscf->env->store == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pds: the LMDB environment of \"%V\" is not open",
                      &pscf->hostname);
        return NULL;
    }

    return pscf->env->store;
}


/*
 * The value of query parameter "name", URL-decoded into the request pool.
 * NGX_DECLINED when absent.
 */
ngx_int_t
ngx_pds_arg(ngx_http_request_t *r, const char *name, ngx_str_t *value)
{
    u_char     *dst, *src;
    ngx_str_t   raw;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &raw) != NGX_OK) {
        return NGX_DECLINED;
    }

    dst = ngx_pnalloc(r->pool, raw.len + 1);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    value->data = dst;
    src = raw.data;

    /* '+' means a space in a query string */
    ngx_unescape_uri(&dst, &src, raw.len, NGX_UNESCAPE_URI);
    *dst = '\0';
    value->len = (size_t) (dst - value->data);

    for (dst = value->data; dst < value->data + value->len; dst++) {
        if (*dst == '+') {
            *dst = ' ';
        }
    }

    return NGX_OK;
}


/*
 * Every value of a repeated query parameter ("cids=a&cids=b"),
 * URL-decoded and NUL-terminated, pushed onto values (ngx_str_t).
 */
ngx_int_t
ngx_pds_args(ngx_http_request_t *r, const char *name,
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


static void *
ngx_pds_pool_alloc(void *pool, size_t size)
{
    return ngx_palloc(pool, size);
}


static void
ngx_pds_pool_free(void *pool, void *p)
{
    ngx_pfree(pool, p);
}


void
ngx_pds_pool_allocator(ngx_pool_t *pool, pds_alloc_t *a)
{
    a->alloc = ngx_pds_pool_alloc;
    a->free = ngx_pds_pool_free;
    a->ctx = pool;
}


static void
ngx_pds_txn_cleanup(void *data)
{
    ngx_pds_ctx_t  *ctx = data;

    ngx_pds_read_done(ctx);
}


/*
 * The request's read transaction, begun on first use and aborted by
 * ngx_pds_read_done() or with the request pool at the latest.  Handlers
 * end it before they wait for anything (MDB_NOTLS would allow holding it
 * across a yield, but it would pin old pages).  NULL if storage is not
 * usable.
 */
MDB_txn *
ngx_pds_read_txn(ngx_pds_ctx_t *ctx)
{
    pds_store_t          *store;
    ngx_pool_cleanup_t   *cln;

    if (ctx->rtxn) {
        return ctx->rtxn;
    }

    store = ngx_pds_store(ctx->request, ctx->conf);
    if (store == NULL) {
        return NULL;
    }

    if (!ctx->rtxn_cleanup) {
        cln = ngx_pool_cleanup_add(ctx->request->pool, 0);
        if (cln == NULL) {
            return NULL;
        }

        cln->handler = ngx_pds_txn_cleanup;
        cln->data = ctx;
        ctx->rtxn_cleanup = 1;
    }

    if (pds_store_read_begin(store, &ctx->rtxn) != 0) {
        ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                      "pds: cannot begin an LMDB read transaction");
        ctx->rtxn = NULL;
        return NULL;
    }

    return ctx->rtxn;
}


void
ngx_pds_read_done(ngx_pds_ctx_t *ctx)
{
    if (ctx->rtxn) {
        mdb_txn_abort(ctx->rtxn);
        ctx->rtxn = NULL;
    }
}


/* "2026-11-24T23:04:52.123Z" (the reference's timestamps) */
char *
ngx_pds_iso_now(ngx_pool_t *pool)
{
    u_char     *p;
    ngx_tm_t    tm;
    ngx_time_t *tp;

    p = ngx_pnalloc(pool, sizeof("2026-11-24T23:04:52.123Z"));
    if (p == NULL) {
        return NULL;
    }

    tp = ngx_timeofday();
    ngx_gmtime(tp->sec, &tm);

    ngx_sprintf(p, "%4d-%02d-%02dT%02d:%02d:%02d.%03MZ%Z",
                tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec, tp->msec);

    return (char *) p;
}


static void
ngx_pds_json_cleanup(void *data)
{
    json_decref(data);
}


/* Hands a jansson reference to the request pool: released with it. */
json_t *
ngx_pds_json_track(ngx_http_request_t *r, json_t *json)
{
    ngx_pool_cleanup_t  *cln;

    if (json == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        json_decref(json);
        return NULL;
    }

    cln->handler = ngx_pds_json_cleanup;
    cln->data = json;

    return json;
}


ngx_int_t
ngx_pds_send_text(ngx_http_request_t *r, ngx_uint_t status,
    const char *type, u_char *data, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = status;
    r->headers_out.content_length_n = (off_t) len;
    r->headers_out.content_type.len = ngx_strlen(type);
    r->headers_out.content_type.data = (u_char *) type;
    r->headers_out.content_type_lowcase = NULL;

    if (len == 0 || r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = data;
    b->last = data + len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_pds_send_json(ngx_http_request_t *r, ngx_uint_t status, json_t *json)
{
    u_char  *p;
    size_t   len;

    len = json_dumpb(json, NULL, 0, JSON_COMPACT);
    if (len == 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (json_dumpb(json, (char *) p, len, JSON_COMPACT) != len) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_text(r, status, "application/json; charset=utf-8",
                             p, len);
}


/*
 * The one way a handler refuses a request: records the XRPC error (its
 * name and a message in ngx_sprintf() format, cut at NGX_PDS_ERROR_MAX
 * bytes and always terminated) and returns the HTTP status, which the
 * handler returns in turn; ngx_pds_finish() renders the answer.
 */
ngx_int_t
ngx_pds_error(ngx_pds_ctx_t *ctx, ngx_uint_t status, const char *name,
    const char *fmt, ...)
{
    u_char   *p, *last;
    va_list   args;

    ctx->error.status = status;
    ctx->error.name = name;
    ctx->error.message = NULL;

    p = ngx_pnalloc(ctx->request->pool, NGX_PDS_ERROR_MAX + 1);
    if (p != NULL) {
        va_start(args, fmt);
        last = ngx_vslprintf(p, p + NGX_PDS_ERROR_MAX, fmt, args);
        va_end(args);
        *last = '\0';
        ctx->error.message = (char *) p;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "pds: %V refused: %ui %s", &ctx->nsid, status, name);

    return (ngx_int_t) status;
}


/*
 * For checks that may refuse a request: records the error as
 * ngx_pds_error() does, keeps its status in ctx->sent_rc for the handler
 * to return, and returns NGX_DECLINED (never NGX_OK, so that a refusal
 * cannot pass for success).  error NULL: a bare status.
 */
ngx_int_t
ngx_pds_fail(ngx_pds_ctx_t *ctx, ngx_uint_t status, const char *error,
    const char *message)
{
    if (error != NULL) {
        (void) ngx_pds_error(ctx, status, error, "%s", message);
    }

    ctx->sent_rc = (ngx_int_t) status;

    return NGX_DECLINED;
}


/* the reference's name and message for a status given without an error */
static void
ngx_pds_error_default(ngx_uint_t status, const char **name,
    const char **message)
{
    switch (status) {
    case NGX_HTTP_BAD_REQUEST:
        *name = "InvalidRequest";
        *message = "Invalid Request";
        break;
    case NGX_HTTP_UNAUTHORIZED:
        *name = "AuthenticationRequired";
        *message = "Authentication Required";
        break;
    case NGX_HTTP_FORBIDDEN:
        *name = "Forbidden";
        *message = "Forbidden";
        break;
    case NGX_HTTP_NOT_FOUND:
        *name = "NotFound";
        *message = "Not Found";
        break;
    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        *name = "PayloadTooLarge";
        *message = "request entity too large";
        break;
    case NGX_HTTP_NOT_IMPLEMENTED:
        *name = "MethodNotImplemented";
        *message = "Method Not Implemented";
        break;
    case NGX_HTTP_BAD_GATEWAY:
        *name = "UpstreamFailure";
        *message = "Upstream Failure";
        break;
    case NGX_HTTP_SERVICE_UNAVAILABLE:
        *name = "NotEnoughResources";
        *message = "Service Unavailable";
        break;
    case NGX_HTTP_GATEWAY_TIME_OUT:
        *name = "UpstreamTimeout";
        *message = "Upstream Timeout";
        break;
    default:
        *name = "InternalServerError";
        *message = "Internal Server Error";
    }
}


/*
 * What a handler (or a resumed step) returned, made final: an HTTP error
 * status with nothing sent yet is answered with its XRPC error as JSON
 * (the recorded one, or the reference's for the bare status), so that no
 * path of the module ever answers with nginx's HTML error page.  Other
 * codes (NGX_OK, NGX_DONE, NGX_AGAIN, NGX_ERROR, a closed connection)
 * pass unchanged.
 */
ngx_int_t
ngx_pds_finish(ngx_pds_ctx_t *ctx, ngx_int_t rc)
{
    const char          *name, *message;
    ngx_http_request_t  *r = ctx->request;

    if (rc < NGX_HTTP_BAD_REQUEST
        || rc == NGX_HTTP_CLOSE
        || rc == NGX_HTTP_CLIENT_CLOSED_REQUEST
        || rc == NGX_HTTP_REQUEST_TIME_OUT
        || r->header_sent)
    {
        return rc;
    }

    /* whatever a method makes of a failed write, a full store is said */
    if (rc == NGX_HTTP_INTERNAL_SERVER_ERROR && ctx->storage_full) {
        rc = ngx_pds_storage_full(ctx);
    }

    if (ctx->error.name != NULL && ctx->error.status == (ngx_uint_t) rc) {
        name = ctx->error.name;
        message = ctx->error.message ? ctx->error.message : name;

    } else {
        ngx_pds_error_default(rc, &name, &message);
    }

    ctx->error.name = NULL;

    ngx_http_discard_request_body(r);

    return ngx_pds_send_error(r, rc, name, message);
}


/*
 * A copy of s that is valid UTF-8 without control characters: an error
 * message may echo what a client sent, and JSON cannot carry it as is.
 */
static const char *
ngx_pds_printable(ngx_pool_t *pool, const char *s)
{
    size_t    n, i, len;
    u_char   *out, *p;
    const u_char *in = (const u_char *) s;

    len = ngx_strlen(s);

    for (i = 0; i < len; i++) {
        if (in[i] < 0x20 || in[i] >= 0x80) {
            break;
        }
    }

    if (i == len) {
        return s;
    }

    /* each bad byte becomes U+FFFD (3 bytes) */
    out = ngx_pnalloc(pool, len * 3 + 1);
    if (out == NULL) {
        return "";
    }

    p = out;
    i = 0;

    while (i < len) {
        if (in[i] >= 0x80) {
            n = 1;
            while (i + n < len && n < 4 && (in[i + n] & 0xc0) == 0x80) {
                n++;
            }

            if (n > 1 && pds_cbor_utf8_valid(in + i, n)) {
                p = ngx_cpymem(p, in + i, n);
                i += n;
                continue;
            }

            p = ngx_cpymem(p, "\xef\xbf\xbd", 3);
            i++;
            continue;
        }

        *p++ = (in[i] < 0x20) ? ' ' : in[i];
        i++;
    }

    *p = '\0';

    return (const char *) out;
}


/*
 * Sends {"error": error, "message": message} now.  Handlers use
 * ngx_pds_error() instead; this is for what runs outside a handler.
 */
ngx_int_t
ngx_pds_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *error, const char *message)
{
    json_t  *json;

    message = ngx_pds_printable(r->pool, message ? message : "");

    json = ngx_pds_json_track(r, json_pack("{s:s, s:s}", "error", error,
                                           "message", message));
    if (json == NULL) {
        /* still JSON, never nginx's HTML page */
        static u_char  fallback[] = "{\"error\":\"InternalServerError\","
                                    "\"message\":\"Internal Server Error\"}";

        return ngx_pds_send_text(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 "application/json; charset=utf-8", fallback,
                                 sizeof(fallback) - 1);
    }

    if (status >= NGX_HTTP_INTERNAL_SERVER_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pds: %ui %s: %s", status, error, message);
    }

    return ngx_pds_send_json(r, status, json);
}


/*
 * The write event handler of a request that waits (a thread task, a
 * subrequest, a timer): runs the next step, ctx->resume, once the wait is
 * over, and finalizes the request with what it returned.
 */
void
ngx_pds_resume_handler(ngx_http_request_t *r)
{
    ngx_int_t           rc;
    ngx_pds_ctx_t      *ctx;
    ngx_pds_resume_pt   resume;

    ctx = ngx_http_get_module_ctx(r, ngx_pds_module);

    if (ctx && ctx->waiting) {
        /* a write event on the connection: the work is not done yet */
        return;
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    if (ctx == NULL || ctx->resume == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    resume = ctx->resume;
    ctx->resume = NULL;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "pds: %V resumes", &ctx->nsid);

    rc = resume(ctx);

    ngx_http_finalize_request(r, ngx_pds_finish(ctx, rc));
}


/*
 * The account of a "repo" parameter (a DID or a handle), with the
 * reference's RepoNotFound / RepoTakendown / RepoDeactivated answers.
 * NGX_OK, or NGX_DECLINED with the refusal recorded (ctx->sent_rc).
 */
ngx_int_t
ngx_pds_repo_account(ngx_pds_ctx_t *ctx, const char *param,
    pds_account_t *acc, ngx_uint_t allow_inactive)
{
    int          rc;
    char        *repo;
    MDB_txn     *txn;
    uint64_t     uid;
    ngx_str_t    v;

    if (ngx_pds_arg(ctx->request, param, &v) != NGX_OK || v.len == 0) {
        ctx->sent_rc = ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST,
                                     "InvalidRequest",
                                     "Params must have the property \"%s\"",
                                     param);
        return NGX_DECLINED;
    }

    repo = (char *) v.data;

    txn = ngx_pds_read_txn(ctx);
    if (txn == NULL) {
        return ngx_pds_fail(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL);
    }

    if (ngx_strncmp(repo, "did:", 4) == 0) {
        rc = pds_account_get_by_did(ctx->conf->env->store, txn, repo,
                                    &ctx->alloc, acc);

    } else {
        ngx_strlow(v.data, v.data, v.len);
        rc = pds_account_uid_by_handle(ctx->conf->env->store, txn, repo,
                                       &uid);
        if (rc == 0) {
            rc = pds_account_get(ctx->conf->env->store, txn, uid,
                                 &ctx->alloc, acc);
        }
    }

    if (rc == PDS_NOTFOUND) {
        ctx->sent_rc = ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST,
                                     "RepoNotFound",
                                     "Could not find repo for DID: %s", repo);
        return NGX_DECLINED;
    }

    if (rc != 0) {
        return ngx_pds_fail(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL);
    }

    if (!allow_inactive && acc->takedown_ref) {
        ctx->sent_rc = ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST,
                                     "RepoTakendown",
                                     "Repo has been takendown: %s", repo);
        return NGX_DECLINED;
    }

    if (!allow_inactive && acc->deactivated_at) {
        ctx->sent_rc = ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST,
                                     "RepoDeactivated",
                                     "Repo has been deactivated: %s", repo);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * Collects the request body into one contiguous buffer (from memory or
 * the temporary file nginx spooled it to), NUL-terminated (not counted in
 * body->len); an empty body is {0, NULL}.  NGX_DECLINED: over limit.
 */
ngx_int_t
ngx_pds_read_body(ngx_http_request_t *r, ngx_str_t *body, size_t limit)
{
    u_char       *p;
    off_t         len;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    body->len = 0;
    body->data = NULL;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    len = 0;
    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;
        len += b->in_file ? b->file_last - b->file_pos : b->last - b->pos;
    }

    if (len > (off_t) limit) {
        return NGX_DECLINED;
    }

    if (len == 0) {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, (size_t) len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;
    body->len = (size_t) len;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            n = ngx_read_file(b->file, p, (size_t) (b->file_last
                                                    - b->file_pos),
                              b->file_pos);
            if (n != b->file_last - b->file_pos) {
                return NGX_ERROR;
            }
            p += n;

        } else if (b->last > b->pos) {
            /* (an empty buffer may have no memory at all) */
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
        }
    }

    *p = '\0';

    return NGX_OK;
}


/* the first request header called name (case-insensitive), or NULL */
ngx_table_elt_t *
ngx_pds_request_header(ngx_http_request_t *r, const char *name)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = ngx_strlen(name);
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {
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


/*
 * The account of the authenticated caller, in the request's read
 * transaction: 0, PDS_NOTFOUND, or -1 when storage cannot be read.
 */
int
ngx_pds_caller_account(ngx_pds_ctx_t *ctx, pds_account_t *acc)
{
    MDB_txn  *txn;

    txn = ngx_pds_read_txn(ctx);
    if (txn == NULL || ctx->auth.did == NULL) {
        return -1;
    }

    return pds_account_get_by_did(ctx->conf->env->store, txn, ctx->auth.did,
                                  &ctx->alloc, acc);
}
