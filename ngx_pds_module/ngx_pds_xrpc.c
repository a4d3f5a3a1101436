/*
 * ngx_pds_module: XRPC dispatch.
 *
 * /xrpc/<nsid> is looked up in one table (NSID -> handler, HTTP method,
 * auth kind, input encoding), built from the per-namespace method lists at
 * configuration time from the tables ngx_pds_methods.h lists.  Dispatch
 * checks the HTTP method, authenticates as the entry says, reads a JSON
 * body, runs the handler and renders the XRPC error the handler recorded
 * (ngx_pds_finish).  An NSID not in the table goes to the one entry marked
 * NGX_PDS_FALLBACK (the AppView proxy), authenticated the same way.
 */

#include "ngx_pds.h"
#include "ngx_pds_methods.h"


#define NGX_PDS_JSON_LIMIT  (150 * 1024)


static const ngx_pds_method_t *ngx_pds_method_lists[] = {
    NGX_PDS_METHOD_TABLES,
    NULL
};


static void ngx_pds_xrpc_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_pds_xrpc_json(ngx_http_request_t *r,
    ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_xrpc_run(ngx_http_request_t *r, ngx_pds_ctx_t *ctx);


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

    pmcf->fallback = NULL;

    for (list = ngx_pds_method_lists; *list; list++) {
        for (i = 0, m = *list; m[i].nsid.len; i++) {
            if (m[i].flags & NGX_PDS_FALLBACK) {
                if (pmcf->fallback) {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "pds: two XRPC fallback methods");
                    return NGX_ERROR;
                }

                pmcf->fallback = &m[i];
                continue;
            }

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
            /* no method has a path below it */
            ngx_http_discard_request_body(r);
            return ngx_pds_send_error(r, NGX_HTTP_NOT_FOUND, "NotFound",
                                      "Not Found");
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
        m = pmcf->fallback;

        if (m == NULL) {
            ngx_http_discard_request_body(r);
            return ngx_pds_send_error(r, NGX_HTTP_NOT_IMPLEMENTED,
                                      "MethodNotImplemented",
                                      "Method Not Implemented");
        }
    }

    if ((m->type == NGX_PDS_QUERY
         && !(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)))
        || (m->type == NGX_PDS_PROCEDURE && r->method != NGX_HTTP_POST))
    {
        ngx_http_discard_request_body(r);
        ctx = ngx_pds_ctx_create(r, m, &nsid);
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_pds_finish(ctx,
                   ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "Incorrect HTTP method (%V) expected %s",
                                 &r->method_name,
                                 m->type == NGX_PDS_QUERY ? "GET" : "POST"));
    }

    ctx = ngx_pds_ctx_create(r, m, &nsid);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "pds: xrpc %V -> %V", &nsid, &m->nsid);

    if (m->check) {
        rc = m->check(ctx);

        if (rc == NGX_DECLINED) {
            ngx_http_discard_request_body(r);
            return ngx_pds_send_error(r, NGX_HTTP_NOT_IMPLEMENTED,
                                      "MethodNotImplemented",
                                      "Method Not Implemented");
        }

        if (rc != NGX_OK) {
            return ngx_pds_finish(ctx, rc);
        }
    }

    if (ngx_pds_authenticate(ctx) != NGX_OK) {
        return ngx_pds_finish(ctx, ctx->sent_rc);
    }

    if (m->input == NGX_PDS_IN_PASS) {
        return ngx_pds_xrpc_run(r, ctx);
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
    ngx_pds_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_pds_module);

    ngx_http_finalize_request(r, ngx_pds_xrpc_json(r, ctx));
}


/* the JSON input of a procedure into ctx->body, then the handler */
static ngx_int_t
ngx_pds_xrpc_json(ngx_http_request_t *r, ngx_pds_ctx_t *ctx)
{
    ngx_int_t       rc;
    ngx_str_t       body, ct;
    json_error_t    jerr;

    if (ctx->method->input != NGX_PDS_IN_JSON) {
        return ngx_pds_xrpc_run(r, ctx);
    }

    if (r->headers_in.content_length_n <= 0 && !r->headers_in.chunked) {
        return ngx_pds_finish(ctx,
                   ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "A request body is expected but none was "
                                 "provided"));
    }

    if (!ngx_pds_content_type_is(r, "application/json")) {
        if (r->headers_in.content_type) {
            ct = r->headers_in.content_type->value;
        } else {
            ngx_str_set(&ct, "");
        }

        if (ct.len == 0) {
            rc = ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                               "Request encoding (Content-Type) required but "
                               "not provided");
        } else {
            rc = ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                               "Wrong request encoding (Content-Type): %*s",
                               ngx_min(ct.len, 128), ct.data);
        }

        return ngx_pds_finish(ctx, rc);
    }

    rc = ngx_pds_read_body(r, &body, ctx->method->max_body
                                     ? ctx->method->max_body
                                     : NGX_PDS_JSON_LIMIT);
    if (rc == NGX_DECLINED) {
        return ngx_pds_finish(ctx,
                   ngx_pds_error(ctx, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                 "PayloadTooLarge",
                                 "request entity too large"));
    }

    if (rc != NGX_OK) {
        return ngx_pds_finish(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    ctx->body = json_loadb((char *) body.data, body.len,
                           JSON_REJECT_DUPLICATES, &jerr);

    if (ctx->body == NULL || !json_is_object(ctx->body)) {
        if (ctx->body) {
            json_decref(ctx->body);
            ctx->body = NULL;
        }

        return ngx_pds_finish(ctx,
                   ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "Input must be a JSON object"));
    }

    if (ngx_pds_json_track(r, ctx->body) == NULL) {
        return ngx_pds_finish(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    return ngx_pds_xrpc_run(r, ctx);
}


static ngx_int_t
ngx_pds_xrpc_run(ngx_http_request_t *r, ngx_pds_ctx_t *ctx)
{
    /* as the reference: after the input and the caller are known */
    if (ngx_pds_ratelimit_route(ctx) != NGX_OK) {
        return ngx_pds_finish(ctx, ctx->sent_rc);
    }

    return ngx_pds_finish(ctx, ctx->method->handler(ctx));
}
