/*
 * ngx_pds_module: outbound HTTP through nginx itself.
 *
 * Every call out (PLC directory, DID documents, relays) is a subrequest to
 * an internal location that the module adds to each PDS server block when
 * it sees "pds_hostname":
 *
 *     location = /_pds_outbound {
 *         internal;
 *         proxy_pass $pds_outbound_url;
 *         ...
 *     }
 *
 * so nginx's proxy does the connecting, TLS (verified against the system
 * CA store), timeouts and DNS (its asynchronous resolver), and the worker
 * never blocks.  The answer is collected in memory and the parent request
 * resumes in ctx->resume with ctx->response filled in.  The locations
 * themselves are made at configuration time by ngx_pds_fetch_conf.c.
 */

#include "ngx_pds.h"



/* a subrequest's context, read by the $pds_outbound_* variables */
typedef struct {
    ngx_str_t              url;           /* to connect to (an address) */
    ngx_str_t              content_type;
    ngx_str_t              authorization;
    ngx_str_t              host;          /* Host: as the URL named it */
    ngx_str_t              sni;           /* the TLS name to verify */
    ngx_pds_ctx_t         *parent;        /* waits for the answer, or NULL */
    ngx_pds_fetch_done_pt  done;          /* background: hears the status */
    void                  *data;

    /* a call that waits for its host's address first */
    ngx_str_t              target;        /* the URL as given */
    ngx_uint_t             method;
    ngx_str_t              body;
    ngx_uint_t             public_only;
    ngx_uint_t             quick;         /* the short-timeout location */
    ngx_pds_resume_pt      resume;
} ngx_pds_out_t;


static ngx_int_t ngx_pds_out_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_pds_fetch_done(ngx_http_request_t *r, void *data,
    ngx_int_t rc);


static ngx_http_variable_t  ngx_pds_fetch_vars[] = {

    { ngx_string("pds_outbound_url"), NULL, ngx_pds_out_variable,
      offsetof(ngx_pds_out_t, url), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("pds_outbound_content_type"), NULL, ngx_pds_out_variable,
      offsetof(ngx_pds_out_t, content_type), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("pds_outbound_authorization"), NULL, ngx_pds_out_variable,
      offsetof(ngx_pds_out_t, authorization), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("pds_outbound_host"), NULL, ngx_pds_out_variable,
      offsetof(ngx_pds_out_t, host), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("pds_outbound_sni"), NULL, ngx_pds_out_variable,
      offsetof(ngx_pds_out_t, sni), NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_pds_fetch_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_pds_fetch_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_pds_out_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    ngx_str_t      *s;
    ngx_pds_out_t  *out;

    out = (r != r->main) ? ngx_http_get_module_ctx(r, ngx_pds_module) : NULL;

    if (out == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = (ngx_str_t *) ((char *) out + data);

    v->data = s->data;
    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


/*
 * The one way the module calls out: a subrequest of r to the injected
 * outbound location for out->url, with method (NGX_HTTP_GET or
 * NGX_HTTP_POST) and an optional body, answered in memory.
 */
static ngx_int_t
ngx_pds_fetch_subrequest(ngx_http_request_t *r, ngx_pds_out_t *out,
    ngx_uint_t method, ngx_str_t *body, ngx_uint_t flags,
    ngx_http_post_subrequest_pt handler)
{
    ngx_buf_t                    *b;
    ngx_str_t                     uri;
    ngx_chain_t                  *cl;
    ngx_http_request_t           *sr;
    ngx_http_request_body_t      *rb;
    ngx_http_post_subrequest_t   *ps;

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = handler;
    ps->data = out;

    if (out->quick) {
        ngx_str_set(&uri, NGX_PDS_FETCH_QUICK_LOCATION);

    } else {
        ngx_str_set(&uri, NGX_PDS_FETCH_LOCATION);
    }

    if (ngx_http_subrequest(r, &uri, NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_IN_MEMORY|flags)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_set_ctx(sr, out, ngx_pds_module);

    sr->header_only = 0;
    sr->headers_in.chunked = 0;
    sr->headers_in.content_length = NULL;
    sr->headers_in.content_type = NULL;

    if (method == NGX_HTTP_POST) {
        sr->method = NGX_HTTP_POST;
        ngx_str_set(&sr->method_name, "POST");

    } else {
        sr->method = NGX_HTTP_GET;
        ngx_str_set(&sr->method_name, "GET");
    }

    if (body && body->len) {
        rb = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
        b = ngx_calloc_buf(r->pool);
        cl = ngx_alloc_chain_link(r->pool);
        if (rb == NULL || b == NULL || cl == NULL) {
            return NGX_ERROR;
        }

        b->pos = body->data;
        b->last = body->data + body->len;
        b->start = b->pos;
        b->end = b->last;
        b->memory = 1;
        b->last_buf = 1;
        b->last_in_chain = 1;

        cl->buf = b;
        cl->next = NULL;

        rb->bufs = cl;
        rb->buf = b;

        sr->request_body = rb;
        sr->headers_in.content_length_n = (off_t) body->len;

    } else {
        sr->request_body = NULL;
        sr->headers_in.content_length_n = (method == NGX_HTTP_POST) ? 0 : -1;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "pds outbound %s \"%V\"%s",
                   method == NGX_HTTP_POST ? "POST" : "GET", &out->url,
                   (flags & NGX_HTTP_SUBREQUEST_BACKGROUND)
                   ? " in the background" : "");

    return NGX_OK;
}


static ngx_pds_out_t *
ngx_pds_fetch_out(ngx_http_request_t *r, ngx_str_t *url,
    ngx_str_t *content_type, ngx_str_t *authorization)
{
    ngx_pds_out_t  *out;

    out = ngx_pcalloc(r->pool, sizeof(ngx_pds_out_t));
    if (out == NULL) {
        return NULL;
    }

    out->url = *url;

    if (content_type) {
        out->content_type = *content_type;
    }

    if (authorization) {
        out->authorization = *authorization;
    }

    return out;
}


/*
 * Splits an http(s) URL: *name gets its host (without the brackets of an
 * IPv6 literal), *port its port, *rest what follows the authority, and
 * o->host the authority for the Host header, o->sni the name TLS checks.
 * NGX_ERROR for anything else.
 */
static ngx_int_t
ngx_pds_url_split(ngx_str_t *url, ngx_pds_outbound_t *o, ngx_str_t *name,
    ngx_str_t *scheme, in_port_t *port, ngx_str_t *rest)
{
    u_char     *p, *last, *auth, *colon;
    ngx_int_t   n;

    p = url->data;
    last = p + url->len;

    if (url->len > 8 && ngx_strncasecmp(p, (u_char *) "https://", 8) == 0) {
        ngx_str_set(scheme, "https");
        *port = 443;
        p += 8;

    } else if (url->len > 7
               && ngx_strncasecmp(p, (u_char *) "http://", 7) == 0)
    {
        ngx_str_set(scheme, "http");
        *port = 80;
        p += 7;

    } else {
        return NGX_ERROR;
    }

    auth = p;

    while (p < last && *p != '/' && *p != '?' && *p != '#') {
        if (*p == '@' || *p == '\\' || *p <= ' ' || *p >= 0x7f) {
            return NGX_ERROR;          /* no userinfo, no odd bytes */
        }
        p++;
    }

    o->host.data = auth;
    o->host.len = p - auth;
    rest->data = p;
    rest->len = last - p;

    /* the path and query go into the upstream request line as they are */
    for ( /* void */ ; p < last; p++) {
        if (*p <= ' ' || *p == 0x7f) {
            return NGX_ERROR;
        }
    }

    colon = NULL;

    if (o->host.len && auth[0] == '[') {
        p = ngx_strlchr(auth, auth + o->host.len, ']');
        if (p == NULL) {
            return NGX_ERROR;
        }

        name->data = auth + 1;
        name->len = p - auth - 1;

        if (p + 1 < auth + o->host.len) {
            if (p[1] != ':') {
                return NGX_ERROR;
            }
            colon = p + 1;
        }

    } else {
        colon = ngx_strlchr(auth, auth + o->host.len, ':');
        name->data = auth;
        name->len = colon ? (size_t) (colon - auth) : o->host.len;
    }

    if (colon) {
        n = ngx_atoi(colon + 1, auth + o->host.len - colon - 1);
        if (n < 1 || n > 65535) {
            return NGX_ERROR;
        }
        *port = (in_port_t) n;
    }

    if (name->len == 0) {
        return NGX_ERROR;
    }

    o->sni = *name;

    return NGX_OK;
}


/*
 * Where a call to url connects: o->url is url with the address chosen for
 * its host (so that nginx connects exactly there), o->host and o->sni the
 * Host header and TLS name of url.  NGX_OK, NGX_DONE while the name is
 * resolved (the request resumes in done, which calls this again), or an
 * error status.  public_only: a user chose url; https only, and only to
 * public addresses, unless pds_disable_ssrf_protection is on.
 */
ngx_int_t
ngx_pds_outbound_url(ngx_pds_ctx_t *ctx, ngx_str_t *url,
    ngx_uint_t public_only, ngx_pds_outbound_t *o, ngx_pds_resume_pt done)
{
    u_char             *p;
    in_port_t           port;
    ngx_int_t           rc;
    ngx_str_t           scheme, rest, name;
    ngx_pds_address_t   addr;

    if (ngx_pds_url_split(url, o, &name, &scheme, &port, &rest) != NGX_OK) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_GATEWAY, "UpstreamFailure",
                             "Invalid URL");
    }

    if (public_only && !ctx->conf->ssrf_disabled
        && scheme.len != sizeof("https") - 1)
    {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_GATEWAY, "UpstreamFailure",
                             "Forbidden protocol \"http:\"");
    }

    rc = ngx_pds_resolve(ctx, &name, public_only, &addr, done);
    if (rc != NGX_OK) {
        return rc;
    }

    o->url.data = ngx_pnalloc(ctx->request->pool,
                              scheme.len + sizeof("://[]:65535/")
                              + NGX_SOCKADDR_STRLEN + rest.len);
    if (o->url.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_inet_set_port(&addr.sockaddr.sockaddr, port);

    p = ngx_cpymem(o->url.data, scheme.data, scheme.len);
    p = ngx_cpymem(p, "://", 3);
    p += ngx_sock_ntop(&addr.sockaddr.sockaddr, addr.socklen, p,
                       NGX_SOCKADDR_STRLEN, 1);
    p = ngx_cpymem(p, rest.data, rest.len);

    if (rest.len == 0) {
        *p++ = '/';
    }

    o->url.len = p - o->url.data;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "pds outbound \"%V\" connects to %V", url, &o->url);

    return NGX_OK;
}


/* the call, once its host's address is known */
static ngx_int_t
ngx_pds_fetch_go(ngx_pds_ctx_t *ctx)
{
    ngx_int_t            rc;
    ngx_pds_out_t       *out = ctx->out;
    ngx_pds_outbound_t   o;
    ngx_http_request_t  *r = ctx->request;

    rc = ngx_pds_outbound_url(ctx, &out->target, out->public_only, &o,
                              ngx_pds_fetch_go);

    if (rc == NGX_DONE) {
        return NGX_DONE;
    }

    if (rc != NGX_OK) {
        /*
         * No address to connect to (a name that does not resolve, a target
         * the SSRF rules refuse, a bad URL): the caller hears "no answer",
         * as for a failed connection, and answers as it would then.
         */
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "pds: outbound \"%V\": %s", &out->target,
                      ctx->error.message ? ctx->error.message : "failed");

        ctx->error.name = NULL;
        ngx_memzero(&ctx->response, sizeof(ngx_pds_response_t));

        return out->resume(ctx);
    }

    out->url = o.url;
    out->host = o.host;
    out->sni = o.sni;

    ngx_memzero(&ctx->response, sizeof(ngx_pds_response_t));

    if (ngx_pds_fetch_subrequest(r, out, out->method, &out->body, 0,
                                 ngx_pds_fetch_done)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->resume = out->resume;
    ctx->waiting = 1;
    r->write_event_handler = ngx_pds_resume_handler;
    r->main->count++;

    return NGX_DONE;
}


static ngx_int_t
ngx_pds_fetch_start(ngx_pds_ctx_t *ctx, ngx_uint_t method, ngx_str_t *url,
    ngx_str_t *content_type, ngx_str_t *body, ngx_str_t *authorization,
    ngx_uint_t public_only, ngx_pds_resume_pt done, ngx_uint_t quick)
{
    ngx_pds_out_t  *out;

    out = ngx_pds_fetch_out(ctx->request, url, content_type, authorization);
    if (out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    out->parent = ctx;
    out->target = *url;
    out->method = method;
    out->public_only = public_only;
    out->quick = quick;
    out->resume = done;

    if (body) {
        out->body = *body;
    }

    ctx->out = out;

    return ngx_pds_fetch_go(ctx);
}


/*
 * Calls url (a configured service: PLC directory, AppView...) with method
 * (NGX_HTTP_GET or NGX_HTTP_POST) and an optional body; returns NGX_DONE
 * (the request resumes in done with ctx->response) or an error status.
 */
ngx_int_t
ngx_pds_fetch(ngx_pds_ctx_t *ctx, ngx_uint_t method, ngx_str_t *url,
    ngx_str_t *content_type, ngx_str_t *body, ngx_str_t *authorization,
    ngx_pds_resume_pt done)
{
    return ngx_pds_fetch_start(ctx, method, url, content_type, body,
                               authorization, 0, done, 0);
}


/*
 * The same for a URL a user chose (a DID document's service, did:web, a
 * handle's domain): https only, and only to public addresses, unless
 * pds_disable_ssrf_protection is on.
 */
ngx_int_t
ngx_pds_fetch_public(ngx_pds_ctx_t *ctx, ngx_uint_t method, ngx_str_t *url,
    ngx_str_t *content_type, ngx_str_t *body, ngx_str_t *authorization,
    ngx_pds_resume_pt done)
{
    return ngx_pds_fetch_start(ctx, method, url, content_type, body,
                               authorization, 1, done, 0);
}


/*
 * A GET of a URL a user chose (as ngx_pds_fetch_public) through the
 * location with short timeouts: for a call a client waits on that gives up
 * early rather than holding the request for half a minute.
 */
ngx_int_t
ngx_pds_fetch_public_quick(ngx_pds_ctx_t *ctx, ngx_str_t *url,
    ngx_pds_resume_pt done)
{
    ngx_int_t  rc;

    rc = ngx_pds_fetch_start(ctx, NGX_HTTP_GET, url, NULL, NULL, NULL, 1,
                             done, 1);

    return rc;
}


static ngx_int_t
ngx_pds_fetch_background_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc)
{
    ngx_uint_t      status;
    ngx_pds_out_t  *out = data;

    status = (sr->upstream && rc != NGX_ERROR) ? sr->headers_out.status : 0;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                   "pds outbound \"%V\" in the background: rc %i, "
                   "status %ui", &out->url, rc, status);

    if (out->done) {
        out->done(out->data, status, sr->connection->log);
    }

    return rc;
}


/*
 * A call that the request does not wait for (it may finish first):
 * done, when not NULL, hears the answer's status (0: none) with data.
 *
 * For configured, trusted targets only: the URL goes to the proxy location
 * as given and nginx's resolver resolves its host, with no SSRF check (no
 * https-only rule, no address check).  Its one caller is requestCrawl to
 * the relays of "pds_crawlers" (sync/ngx_pds_crawl.c), whose URL is the
 * admin's and whose body carries only our hostname.  A URL that a user,
 * a DID document or a handle chose must go through ngx_pds_fetch_public.
 */
ngx_int_t
ngx_pds_fetch_background(ngx_pds_ctx_t *ctx, ngx_uint_t method,
    ngx_str_t *url, ngx_str_t *content_type, ngx_str_t *body,
    ngx_pds_fetch_done_pt done, void *data)
{
    in_port_t            port;
    ngx_str_t            scheme, rest, name;
    ngx_pds_out_t       *out;
    ngx_pds_outbound_t   o;
    ngx_http_request_t  *r = ctx->request;

    out = ngx_pds_fetch_out(r, url, content_type, NULL);
    if (out == NULL) {
        return NGX_ERROR;
    }

    out->done = done;
    out->data = data;
    out->target = *url;

    /* (resolved by nginx's resolver: the request does not wait) */
    if (ngx_pds_url_split(url, &o, &name, &scheme, &port, &rest) != NGX_OK) {
        return NGX_ERROR;
    }

    out->host = o.host;
    out->sni = o.sni;

    return ngx_pds_fetch_subrequest(r, out, method, body,
                                    NGX_HTTP_SUBREQUEST_BACKGROUND,
                                    ngx_pds_fetch_background_done);
}


static ngx_int_t
ngx_pds_fetch_done(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_pds_out_t       *out = data;
    ngx_pds_ctx_t       *ctx = out->parent;
    ngx_buf_t           *b;
    ngx_http_request_t  *pr;

    pr = sr->parent;

    if (sr->upstream == NULL || rc == NGX_ERROR) {
        ctx->response.status = 0;

    } else {
        ctx->response.status = sr->headers_out.status;

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE && sr->headers_out.status == 0) {
            ctx->response.status = (ngx_uint_t) rc;
        }
    }

    if (sr->headers_out.content_type.len) {
        ctx->response.content_type = sr->headers_out.content_type;
    }

    if (sr->out && sr->out->buf) {
        b = sr->out->buf;
        ctx->response.body.data = b->pos;
        ctx->response.body.len = b->last - b->pos;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                   "pds outbound \"%V\": rc %i, status %ui",
                   &out->url, rc, ctx->response.status);

    /* wake the parent; its write handler runs ctx->resume */
    ctx->waiting = 0;
    pr->write_event_handler = ngx_pds_resume_handler;

    if (ngx_http_post_request(pr, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    return rc;
}


/*
 * The XRPC error for an outbound call that did not succeed: no answer or a
 * gateway error from nginx's proxy (connect/resolve failures are 502,
 * timeouts 504) becomes UpstreamFailure / UpstreamTimeout.
 */
ngx_int_t
ngx_pds_upstream_error(ngx_pds_ctx_t *ctx, const char *what)
{
    ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                  "pds: %s failed: upstream status %ui", what,
                  ctx->response.status);

    if (ctx->response.status == NGX_HTTP_GATEWAY_TIME_OUT) {
        return ngx_pds_error(ctx, NGX_HTTP_GATEWAY_TIME_OUT,
                             "UpstreamTimeout", "%s timed out", what);
    }

    return ngx_pds_error(ctx, NGX_HTTP_BAD_GATEWAY, "UpstreamFailure",
                         "%s failed", what);
}
