/*
 * ngx_pds_module: XRPC dispatch.
 *
 * /xrpc/<nsid> is looked up in one table (NSID -> handler, HTTP method,
 * auth kind, input encoding), built from the per-namespace method lists at
 * configuration time.  This file also holds the request plumbing every
 * handler shares: query parameters, JSON bodies, JSON and error responses.
 */

#include "ngx_pds.h"


#define NGX_PDS_JSON_LIMIT  (150 * 1024)


static const ngx_pds_method_t *ngx_pds_method_lists[] = {
    ngx_pds_server_methods,
    ngx_pds_account_methods,
    ngx_pds_session_methods,
    ngx_pds_identity_methods,
    ngx_pds_repo_methods,
    ngx_pds_blob_methods,
    ngx_pds_sync_methods,
    ngx_pds_proxy_methods,
    NULL
};


static void ngx_pds_xrpc_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_pds_xrpc_run(ngx_http_request_t *r, ngx_pds_ctx_t *ctx);
static void ngx_pds_json_cleanup(void *data);


ngx_int_t
ngx_pds_xrpc_init(ngx_conf_t *cf)
{
    ngx_str_t                  name;
    ngx_uint_t                 i;
    ngx_hash_init_t            hash;
    ngx_hash_keys_arrays_t     keys;
    ngx_pds_main_conf_t       *pmcf;
    const ngx_pds_method_t   **list, *m;

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_pds_module);

    keys.pool = cf->pool;
    keys.temp_pool = cf->temp_pool;

    if (ngx_hash_keys_array_init(&keys, NGX_HASH_SMALL) != NGX_OK) {
        return NGX_ERROR;
    }

    for (list = ngx_pds_method_lists; *list; list++) {
        for (i = 0, m = *list; m[i].nsid.len; i++) {
            name.len = m[i].nsid.len;
            name.data = ngx_pstrdup(cf->pool, (ngx_str_t *) &m[i].nsid);
            if (name.data == NULL) {
                return NGX_ERROR;
            }

            /* lower-cased in place by nginx, as lookups are */

            if (ngx_hash_add_key(&keys, &name, (void *) &m[i], 0) != NGX_OK)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "pds: duplicate XRPC method \"%V\"",
                                   &m[i].nsid);
                return NGX_ERROR;
            }
        }
    }

    hash.hash = &pmcf->methods;
    hash.key = ngx_hash_key;
    hash.max_size = 1024;
    hash.bucket_size = ngx_align(256, ngx_cacheline_size);
    hash.name = "pds_methods_hash";
    hash.pool = cf->pool;
    hash.temp_pool = NULL;

    return ngx_hash_init(&hash, keys.keys.elts, keys.keys.nelts);
}


ngx_int_t
ngx_pds_xrpc_handler(ngx_http_request_t *r)
{
    u_char               *p, *last, low[320];
    size_t                limit;
    ngx_int_t             rc;
    ngx_str_t             nsid;
    ngx_uint_t            key;
    ngx_pds_ctx_t        *ctx;
    ngx_pds_main_conf_t  *pmcf;
    const ngx_pds_method_t *m;

    nsid.data = r->uri.data + sizeof("/xrpc/") - 1;
    nsid.len = r->uri.len - (sizeof("/xrpc/") - 1);

    last = nsid.data + nsid.len;
    for (p = nsid.data; p < last; p++) {
        if (*p == '/') {
            return NGX_HTTP_NOT_FOUND;
        }
    }

    pmcf = ngx_http_get_module_main_conf(r, ngx_pds_module);

    /* nginx hashes store names in lower case: compare exactly after */

    m = NULL;

    if (nsid.len <= sizeof(low)) {
        key = ngx_hash_strlow(low, nsid.data, nsid.len);
        m = ngx_hash_find(&pmcf->methods, key, low, nsid.len);

        if (m && ngx_strncmp(m->nsid.data, nsid.data, nsid.len) != 0) {
            m = NULL;
        }
    }

    if (m == NULL) {
        rc = ngx_pds_proxy_unknown(r, &nsid);
        if (rc != NGX_DECLINED) {
            return rc;
        }

        ngx_http_discard_request_body(r);
        return ngx_pds_send_error(r, NGX_HTTP_NOT_IMPLEMENTED,
                                  "MethodNotImplemented",
                                  "Method Not Implemented");
    }

    if ((m->type == NGX_PDS_QUERY
         && !(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)))
        || (m->type == NGX_PDS_PROCEDURE && r->method != NGX_HTTP_POST))
    {
        u_char  msg[128];

        ngx_http_discard_request_body(r);

        p = ngx_snprintf(msg, sizeof(msg) - 1,
                         "Incorrect HTTP method (%V) expected %s%Z",
                         &r->method_name,
                         m->type == NGX_PDS_QUERY ? "GET" : "POST");
        (void) p;

        return ngx_pds_send_error(r, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                  (char *) msg);
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_pds_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ctx->conf = ngx_http_get_module_srv_conf(r, ngx_pds_module);
    ctx->method = m;
    ctx->nsid = nsid;

    ngx_pds_pool_allocator(r->pool, &ctx->alloc);

    ngx_http_set_ctx(r, ctx, ngx_pds_module);

    if (ngx_pds_authenticate(ctx) != NGX_OK) {
        ngx_http_discard_request_body(r);
        return ctx->sent_rc;
    }

    if (m->type == NGX_PDS_QUERY || m->input == NGX_PDS_IN_NONE) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_pds_xrpc_run(r, ctx);
    }

    limit = m->max_body ? m->max_body
                        : (m->input == NGX_PDS_IN_RAW
                           ? ctx->conf->blob_upload_limit
                           : NGX_PDS_JSON_LIMIT);

    if (r->headers_in.content_length_n > (off_t) limit) {
        ngx_http_discard_request_body(r);
        return ngx_pds_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                  "PayloadTooLarge",
                                  "request entity too large");
    }

    if (m->input == NGX_PDS_IN_JSON) {
        r->request_body_in_single_buf = 1;

    } else {
        /* raw bodies (blobs) go to a file, never whole into memory */
        r->request_body_in_file_only = 1;
        r->request_body_in_persistent_file = 1;
        r->request_body_in_clean_file = 1;
    }

    rc = ngx_http_read_client_request_body(r, ngx_pds_xrpc_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/*
 * Collects the request body into one contiguous buffer (from memory or
 * the temporary file nginx spooled it to).
 */
static ngx_int_t
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

    p = ngx_pnalloc(r->pool, (size_t) len);
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

        } else {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_pds_content_type_is(ngx_http_request_t *r, const char *type)
{
    size_t      n;
    ngx_str_t  *ct;

    if (r->headers_in.content_type == NULL) {
        return 0;
    }

    ct = &r->headers_in.content_type->value;
    n = ngx_strlen(type);

    return ct->len >= n
           && ngx_strncasecmp(ct->data, (u_char *) type, n) == 0
           && (ct->len == n || ct->data[n] == ';' || ct->data[n] == ' ');
}


static void
ngx_pds_xrpc_body_handler(ngx_http_request_t *r)
{
    u_char          msg[256];
    ngx_int_t       rc;
    ngx_str_t       body, ct;
    json_error_t    jerr;
    ngx_pds_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_pds_module);

    if (ctx->method->input != NGX_PDS_IN_JSON) {
        ngx_http_finalize_request(r, ngx_pds_xrpc_run(r, ctx));
        return;
    }

    if (r->headers_in.content_length_n <= 0 && !r->headers_in.chunked) {
        rc = ngx_pds_send_error(r, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                "A request body is expected but none was "
                                "provided");
        ngx_http_finalize_request(r, rc);
        return;
    }

    if (!ngx_pds_content_type_is(r, "application/json")) {
        if (r->headers_in.content_type) {
            ct = r->headers_in.content_type->value;
        } else {
            ngx_str_set(&ct, "");
        }

        if (ct.len == 0) {
            rc = ngx_pds_send_error(r, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                    "Request encoding (Content-Type) "
                                    "required but not provided");

        } else {
            ngx_snprintf(msg, sizeof(msg) - 1,
                         "Wrong request encoding (Content-Type): %*s%Z",
                         ngx_min(ct.len, 128), ct.data);
            rc = ngx_pds_send_error(r, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                    (char *) msg);
        }

        ngx_http_finalize_request(r, rc);
        return;
    }

    rc = ngx_pds_read_body(r, &body, ctx->method->max_body
                                     ? ctx->method->max_body
                                     : NGX_PDS_JSON_LIMIT);

    if (rc == NGX_DECLINED) {
        rc = ngx_pds_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                "PayloadTooLarge", "request entity too large");
        ngx_http_finalize_request(r, rc);
        return;
    }

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->body = json_loadb((char *) body.data, body.len,
                           JSON_REJECT_DUPLICATES, &jerr);

    if (ctx->body == NULL || !json_is_object(ctx->body)) {
        if (ctx->body) {
            json_decref(ctx->body);
            ctx->body = NULL;
        }

        rc = ngx_pds_send_error(r, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                "Input must be a JSON object");
        ngx_http_finalize_request(r, rc);
        return;
    }

    if (ngx_pds_json_track(r, ctx->body) == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_finalize_request(r, ngx_pds_xrpc_run(r, ctx));
}


static ngx_int_t
ngx_pds_xrpc_run(ngx_http_request_t *r, ngx_pds_ctx_t *ctx)
{
    return ctx->method->handler(ctx);
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
 * For checks that may refuse a request: sends the error, keeps what the
 * send returned in ctx->sent_rc for the handler to return, and returns
 * NGX_DECLINED (never NGX_OK, so a refusal cannot pass for success).
 */
ngx_int_t
ngx_pds_fail(ngx_pds_ctx_t *ctx, ngx_uint_t status, const char *error,
    const char *message)
{
    if (error == NULL) {
        ctx->sent_rc = (ngx_int_t) status;

    } else {
        ctx->sent_rc = ngx_pds_send_error(ctx->request, status, error,
                                          message);
    }

    return NGX_DECLINED;
}


ngx_int_t
ngx_pds_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *error, const char *message)
{
    json_t  *json;

    json = ngx_pds_json_track(r, json_pack("{s:s, s:s}", "error", error,
                                           "message", message));
    if (json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (status == NGX_HTTP_INTERNAL_SERVER_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pds: %s: %s", error, message);
    }

    return ngx_pds_send_json(r, status, json);
}
