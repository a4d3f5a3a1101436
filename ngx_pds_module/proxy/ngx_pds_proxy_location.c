/*
 * ngx_pds_module: the proxy location, where forwarded requests leave.
 *
 * The forwarding itself is nginx's proxy: after authentication and
 * routing (ngx_pds_proxy.c) the request is internally redirected to an
 * injected location
 *
 *     location = /_pds_proxy {
 *         internal;
 *         proxy_pass $pds_proxy_url;
 *         proxy_pass_request_headers off;
 *         proxy_set_header Authorization $pds_proxy_authorization;
 *         ...
 *     }
 *
 * so bodies stream both ways through bounded buffers.  Module contexts do
 * not survive an internal redirect, but indexed variable values in
 * r->variables do: the target URL and the headers travel there.  The
 * location's content handler wraps nginx's proxy handler to keep only the
 * reference's response headers, and error_page turns upstream failures
 * into XRPC errors (502 UpstreamFailure, 504 UpstreamTimeout).
 */

#include "ngx_pds_proxy.h"
#include "ngx_pds_methods.h"


#define NGX_PDS_PROXY_CA_FILE   "/etc/ssl/certs/ca-certificates.crt"


/* the variables that carry the forwarding to the proxy location */
enum {
    NGX_PDS_PV_URL = 0,
    NGX_PDS_PV_AUTHORIZATION,
    NGX_PDS_PV_CONTENT_TYPE,
    NGX_PDS_PV_CONTENT_ENCODING,
    NGX_PDS_PV_ACCEPT_ENCODING,
    NGX_PDS_PV_HOST,
    NGX_PDS_PV_SNI,
    NGX_PDS_PV_N
};

static ngx_str_t  ngx_pds_proxy_var_names[NGX_PDS_PV_N] = {
    ngx_string("pds_proxy_url"),
    ngx_string("pds_proxy_authorization"),
    ngx_string("pds_proxy_content_type"),
    ngx_string("pds_proxy_content_encoding"),
    ngx_string("pds_proxy_accept_encoding"),
    ngx_string("pds_proxy_host"),
    ngx_string("pds_proxy_sni")
};


/* per-request state in the proxy location, after the redirect */
typedef struct {
    ngx_pds_ctx_t             base;          /* zeroed: not resumable */
    ngx_int_t               (*process_header)(ngx_http_request_t *r);
    ngx_int_t               (*reinit_request)(ngx_http_request_t *r);
} ngx_pds_proxy_up_t;


static ngx_int_t ngx_pds_proxy_content(ngx_http_request_t *r);


/* response headers passed back (the reference's responseHeaders()) */
static ngx_str_t  ngx_pds_proxy_pass_headers[] = {
    ngx_string("content-type"),
    ngx_string("content-length"),
    ngx_string("content-encoding"),
    ngx_string("content-language"),
    ngx_string("atproto-repo-rev"),
    ngx_string("atproto-content-labelers"),
    ngx_string("retry-after"),
    ngx_null_string
};


/* the injected configuration: head [verify] tail */

static const char  ngx_pds_proxy_conf_head[] =
    "location = " NGX_PDS_PROXY_LOCATION " {\n"
    "    internal;\n"
    "    proxy_pass $pds_proxy_url;\n"
    "    proxy_pass_request_headers off;\n"
    "    proxy_set_header Host $pds_proxy_host;\n"
    "    proxy_set_header Authorization $pds_proxy_authorization;\n"
    "    proxy_set_header Accept-Encoding $pds_proxy_accept_encoding;\n"
    "    proxy_set_header Accept-Language $http_accept_language;\n"
    "    proxy_set_header Atproto-Accept-Labelers "
                                    "$http_atproto_accept_labelers;\n"
    "    proxy_set_header X-Bsky-Topics $http_x_bsky_topics;\n"
    "    proxy_set_header Content-Type $pds_proxy_content_type;\n"
    "    proxy_set_header Content-Encoding "
                                    "$pds_proxy_content_encoding;\n"
    "    proxy_http_version 1.1;\n"
    "    proxy_connect_timeout 10s;\n"
    "    proxy_send_timeout 60s;\n"
    "    proxy_read_timeout 60s;\n"
    "    proxy_buffering on;\n"
    "    proxy_buffer_size 16k;\n"
    "    proxy_buffers 16 16k;\n"
    "    proxy_busy_buffers_size 32k;\n"
    "    proxy_max_temp_file_size 0;\n"
    "    proxy_request_buffering on;\n"
    "    client_max_body_size 10m;\n"
    "    proxy_ignore_headers X-Accel-Redirect X-Accel-Expires"
            " X-Accel-Limit-Rate X-Accel-Buffering X-Accel-Charset"
            " Expires Cache-Control Set-Cookie Vary;\n"
    "    proxy_ssl_server_name on;\n"
    "    proxy_ssl_name $pds_proxy_sni;\n"
    "    proxy_intercept_errors on;\n"
    "    error_page 500 502 503 =502 " NGX_PDS_PROXY_LOCATION "_failure;\n"
    "    error_page 504 =504 " NGX_PDS_PROXY_LOCATION "_timeout;\n";

static const char  ngx_pds_proxy_conf_verify[] =
    "    proxy_ssl_verify on;\n"
    "    proxy_ssl_verify_depth 5;\n"
    "    proxy_ssl_trusted_certificate " NGX_PDS_PROXY_CA_FILE ";\n";

static const char  ngx_pds_proxy_conf_tail[] =
    "}\n"
    "location = " NGX_PDS_PROXY_LOCATION "_failure {\n"
    "    internal;\n"
    "    default_type application/json;\n"
    "    return 502 '{\"error\":\"UpstreamFailure\","
                     "\"message\":\"Upstream service unreachable\"}';\n"
    "}\n"
    "location = " NGX_PDS_PROXY_LOCATION "_timeout {\n"
    "    internal;\n"
    "    default_type application/json;\n"
    "    return 504 '{\"error\":\"UpstreamTimeout\","
                     "\"message\":\"Upstream service timed out\"}';\n"
    "}\n"
    "}";


/* nginx's proxy handler, which the proxy location's handler wraps */
static ngx_http_handler_pt  ngx_pds_proxy_upstream_handler;


/* ---- configuration ----------------------------------------------------- */


static ngx_int_t
ngx_pds_proxy_var_unset(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    /* only ever set by ngx_pds_proxy_pass() before the redirect */
    v->not_found = 1;
    return NGX_OK;
}


static ngx_int_t
ngx_pds_proxy_add_variables(ngx_conf_t *cf)
{
    ngx_uint_t            i;
    ngx_http_variable_t  *var;

    for (i = 0; i < NGX_PDS_PV_N; i++) {
        var = ngx_http_add_variable(cf, &ngx_pds_proxy_var_names[i],
                                    NGX_HTTP_VAR_CHANGEABLE);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = ngx_pds_proxy_var_unset;
        var->data = 0;

        if (ngx_http_get_variable_index(cf, &ngx_pds_proxy_var_names[i])
            == NGX_ERROR)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* the locations' text; certificates verified when the CA file exists */
static ngx_int_t
ngx_pds_proxy_conf_text(ngx_conf_t *cf, ngx_str_t *text)
{
    u_char  *p;

    text->data = ngx_pnalloc(cf->pool, sizeof(ngx_pds_proxy_conf_head)
                                       + sizeof(ngx_pds_proxy_conf_verify)
                                       + sizeof(ngx_pds_proxy_conf_tail));
    if (text->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(text->data, ngx_pds_proxy_conf_head,
                   sizeof(ngx_pds_proxy_conf_head) - 1);

    if (access(NGX_PDS_PROXY_CA_FILE, R_OK) == 0
        && ngx_pds_outbound_load_ca(cf))
    {
        p = ngx_cpymem(p, ngx_pds_proxy_conf_verify,
                       sizeof(ngx_pds_proxy_conf_verify) - 1);
    }

    p = ngx_cpymem(p, ngx_pds_proxy_conf_tail,
                   sizeof(ngx_pds_proxy_conf_tail) - 1);
    text->len = p - text->data;

    return NGX_OK;
}


/* the injected location, its handler wrapped around nginx's proxy's */
static ngx_http_core_loc_conf_t *
ngx_pds_proxy_wrap(ngx_conf_t *cf)
{
    ngx_queue_t                *q;
    ngx_http_location_queue_t  *lq;
    ngx_http_core_loc_conf_t   *pclcf, *clcf, *found;

    pclcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    found = NULL;

    for (q = ngx_queue_head(pclcf->locations);
         q != ngx_queue_sentinel(pclcf->locations);
         q = ngx_queue_next(q))
    {
        lq = (ngx_http_location_queue_t *) q;
        clcf = lq->exact ? lq->exact : lq->inclusive;

        if (clcf && clcf->name.len == sizeof(NGX_PDS_PROXY_LOCATION) - 1
            && ngx_strncmp(clcf->name.data, NGX_PDS_PROXY_LOCATION,
                           clcf->name.len) == 0)
        {
            found = clcf;
        }
    }

    if (found == NULL || found->handler == NULL) {
        return NULL;
    }

    if (found->handler != ngx_pds_proxy_content) {
        ngx_pds_proxy_upstream_handler = found->handler;
        found->handler = ngx_pds_proxy_content;
    }

    return found;
}


char *
ngx_pds_proxy_inject(ngx_conf_t *cf, ngx_pds_srv_conf_t *pscf)
{
    char       *rv;
    ngx_str_t   text;

    if (ngx_pds_proxy_add_variables(cf) != NGX_OK
        || ngx_pds_proxy_conf_text(cf, &text) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    rv = ngx_pds_conf_inject(cf, &text);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    /* given the outbound location's resolver at merge time */
    pscf->proxy_location = ngx_pds_proxy_wrap(cf);

    if (pscf->proxy_location == NULL) {
        return "cannot add the proxy location";
    }

    return NGX_CONF_OK;
}


/* ---- into the proxy location ------------------------------------------- */


/* the indexes of our variables in this configuration (cached per worker) */
static ngx_int_t
ngx_pds_proxy_var_index(ngx_http_request_t *r, ngx_uint_t which)
{
    ngx_uint_t                  i, k;
    ngx_http_variable_t        *v;
    ngx_http_core_main_conf_t  *cmcf;

    static ngx_http_core_main_conf_t  *cached;
    static ngx_int_t                   index[NGX_PDS_PV_N];

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);

    if (cached != cmcf) {
        v = cmcf->variables.elts;

        for (k = 0; k < NGX_PDS_PV_N; k++) {
            index[k] = NGX_ERROR;

            for (i = 0; i < cmcf->variables.nelts; i++) {
                if (v[i].name.len == ngx_pds_proxy_var_names[k].len
                    && ngx_strncmp(v[i].name.data,
                                   ngx_pds_proxy_var_names[k].data,
                                   v[i].name.len) == 0)
                {
                    index[k] = (ngx_int_t) i;
                    break;
                }
            }
        }

        cached = cmcf;
    }

    return index[which];
}


static ngx_int_t
ngx_pds_proxy_set_var(ngx_http_request_t *r, ngx_uint_t which, ngx_str_t *s)
{
    ngx_int_t                   index;
    ngx_http_variable_value_t  *v;

    index = ngx_pds_proxy_var_index(r, which);
    if (index == NGX_ERROR) {
        return NGX_ERROR;
    }

    v = &r->variables[index];

    v->data = s ? s->data : (u_char *) "";
    v->len = s ? s->len : 0;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->escape = 0;

    return NGX_OK;
}




/* the request's own headers that travel on */
static void
ngx_pds_proxy_pass_request_headers(ngx_http_request_t *r)
{
    ngx_str_t         v;
    ngx_table_elt_t  *h;

    h = ngx_pds_request_header(r, "accept-encoding");
    if (h && h->value.len) {
        v = h->value;

    } else {
        ngx_str_set(&v, "identity");
    }

    (void) ngx_pds_proxy_set_var(r, NGX_PDS_PV_ACCEPT_ENCODING, &v);

    if (r->method == NGX_HTTP_POST) {
        h = r->headers_in.content_type;
        (void) ngx_pds_proxy_set_var(r, NGX_PDS_PV_CONTENT_TYPE,
                                     h ? &h->value : NULL);
        h = ngx_pds_request_header(r, "content-encoding");
        (void) ngx_pds_proxy_set_var(r, NGX_PDS_PV_CONTENT_ENCODING,
                                     h ? &h->value : NULL);

    } else {
        (void) ngx_pds_proxy_set_var(r, NGX_PDS_PV_CONTENT_TYPE, NULL);
        (void) ngx_pds_proxy_set_var(r, NGX_PDS_PV_CONTENT_ENCODING, NULL);
    }
}


ngx_int_t
ngx_pds_proxy_pass(ngx_pds_ctx_t *ctx, ngx_pds_outbound_t *o,
    ngx_str_t *authorization)
{
    ngx_str_t            uri;
    ngx_http_request_t  *r = ctx->request;

    if (ngx_pds_proxy_set_var(r, NGX_PDS_PV_URL, &o->url) != NGX_OK
        || ngx_pds_proxy_set_var(r, NGX_PDS_PV_HOST, &o->host) != NGX_OK
        || ngx_pds_proxy_set_var(r, NGX_PDS_PV_SNI, &o->sni) != NGX_OK
        || ngx_pds_proxy_set_var(r, NGX_PDS_PV_AUTHORIZATION, authorization)
           != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pds: the proxy variables are not configured");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_pds_proxy_pass_request_headers(r);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "pds proxy: %V to \"%V\"", &ctx->nsid, &o->url);

    ngx_pds_read_done(ctx);

    ngx_str_set(&uri, NGX_PDS_PROXY_LOCATION);

    return ngx_http_internal_redirect(r, &uri, NULL);
}


/* ---- in the proxy location --------------------------------------------- */


/*
 * Keeps only the reference's response headers: the others get a name no
 * table knows and a zero hash, so nginx copies them but never sends them.
 */
static void
ngx_pds_proxy_filter_headers(ngx_http_request_t *r, ngx_http_upstream_t *u)
{
    u_char           *p;
    ngx_uint_t        i, k, keep;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &u->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        keep = 0;

        for (k = 0; ngx_pds_proxy_pass_headers[k].len; k++) {
            if (h[i].key.len == ngx_pds_proxy_pass_headers[k].len
                && ngx_strncasecmp(h[i].key.data,
                                   ngx_pds_proxy_pass_headers[k].data,
                                   h[i].key.len) == 0)
            {
                keep = 1;
                break;
            }
        }

        if (keep) {
            continue;
        }

        p = ngx_pnalloc(r->pool, h[i].key.len);
        if (p == NULL) {
            /* keeps it hidden from the output at least */
            h[i].hash = 0;
            continue;
        }

        ngx_memset(p, '~', h[i].key.len);
        h[i].lowcase_key = p;
        h[i].hash = 0;
    }
}


static ngx_int_t
ngx_pds_proxy_process_header(ngx_http_request_t *r)
{
    ngx_int_t             rc;
    ngx_pds_proxy_up_t   *st;
    ngx_http_upstream_t  *u;

    st = ngx_http_get_module_ctx(r, ngx_pds_module);
    u = r->upstream;

    /* nginx's proxy moves from the status line to the headers itself */

    u->process_header = st->process_header;
    rc = st->process_header(r);
    st->process_header = u->process_header;
    u->process_header = ngx_pds_proxy_process_header;

    if (rc == NGX_OK) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "pds proxy: upstream answered %ui",
                       u->headers_in.status_n);

        ngx_pds_proxy_filter_headers(r, u);
    }

    return rc;
}


static ngx_int_t
ngx_pds_proxy_reinit_request(ngx_http_request_t *r)
{
    ngx_int_t             rc;
    ngx_pds_proxy_up_t   *st;
    ngx_http_upstream_t  *u;

    st = ngx_http_get_module_ctx(r, ngx_pds_module);
    u = r->upstream;

    rc = st->reinit_request(r);

    /* the next upstream address starts with the status line again */

    st->process_header = u->process_header;
    u->process_header = ngx_pds_proxy_process_header;

    return rc;
}


static ngx_int_t
ngx_pds_proxy_content(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_pds_proxy_up_t        *st;
    ngx_http_upstream_t       *u;

    st = ngx_pcalloc(r->pool, sizeof(ngx_pds_proxy_up_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_pds_proxy_upstream_handler(r);

    u = r->upstream;

    if (u && u->process_header && u->reinit_request) {
        st->process_header = u->process_header;
        st->reinit_request = u->reinit_request;
        u->process_header = ngx_pds_proxy_process_header;
        u->reinit_request = ngx_pds_proxy_reinit_request;
        ngx_http_set_ctx(r, st, ngx_pds_module);
    }

    return rc;
}
