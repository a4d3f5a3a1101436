/*
 * ngx_pds_module: the AppView / chat proxy, getServiceAuth.
 *
 * An XRPC method the PDS does not serve itself is forwarded, as the
 * reference PDS's pipethrough does, to the service the "atproto-proxy:
 * <did>#<serviceId>" header names (its DID document resolved through
 * nginx's outbound path and cached per worker) or by default to the
 * AppView, with a fresh service JWT signed by the caller's account key.
 *
 * The forwarding itself is nginx's proxy: after authentication the
 * request is internally redirected to an injected location
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

#include "pds_jwt.h"
#include "pds_syntax.h"


#define NGX_PDS_PROXY_LOCATION  "/_pds_proxy"
#define NGX_PDS_PROXY_CA_FILE   "/etc/ssl/certs/ca-certificates.crt"

#define NGX_PDS_DIDDOC_SLOTS    64
#define NGX_PDS_DIDDOC_TTL      300          /* seconds */
#define NGX_PDS_DIDDOC_KEY_MAX  320
#define NGX_PDS_DIDDOC_URL_MAX  512

#define NGX_PDS_HOUR            3600
#define NGX_PDS_MINUTE          60


/* the variables that carry the forwarding to the proxy location */
enum {
    NGX_PDS_PV_URL = 0,
    NGX_PDS_PV_AUTHORIZATION,
    NGX_PDS_PV_CONTENT_TYPE,
    NGX_PDS_PV_CONTENT_ENCODING,
    NGX_PDS_PV_ACCEPT_ENCODING,
    NGX_PDS_PV_N
};

static ngx_str_t  ngx_pds_proxy_var_names[NGX_PDS_PV_N] = {
    ngx_string("pds_proxy_url"),
    ngx_string("pds_proxy_authorization"),
    ngx_string("pds_proxy_content_type"),
    ngx_string("pds_proxy_content_encoding"),
    ngx_string("pds_proxy_accept_encoding")
};


/* where a call goes */
typedef struct {
    ngx_str_t                 did;           /* aud: the bare DID */
    ngx_str_t                 service_id;    /* without '#' */
    ngx_str_t                 url;           /* endpoint, once known */
} ngx_pds_target_t;


/* per-request state in the proxy location, after the redirect */
typedef struct {
    ngx_pds_ctx_t             base;          /* zeroed: not resumable */
    ngx_int_t               (*process_header)(ngx_http_request_t *r);
    ngx_int_t               (*reinit_request)(ngx_http_request_t *r);
} ngx_pds_proxy_up_t;


/* a DID document's service endpoint, cached in the worker */
typedef struct {
    time_t                    expires;
    size_t                    key_len;
    size_t                    url_len;
    u_char                    key[NGX_PDS_DIDDOC_KEY_MAX];
    u_char                    url[NGX_PDS_DIDDOC_URL_MAX];
} ngx_pds_diddoc_slot_t;


static ngx_int_t ngx_pds_proxy_check(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_proxy_unknown(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_proxy_get_service_auth(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_proxy_content(ngx_http_request_t *r);
static ngx_int_t ngx_pds_proxy_resolved(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_proxy_go(ngx_pds_ctx_t *ctx);


const ngx_pds_method_t  ngx_pds_proxy_methods[] = {

    { ngx_string("app.bsky.actor.getPreferences"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_ACCESS, NGX_PDS_IN_NONE, NGX_PDS_ALLOW_TAKENDOWN, 0,
      ngx_pds_get_preferences, NULL },

    { ngx_string("app.bsky.actor.putPreferences"), NGX_PDS_PROCEDURE,
      NGX_PDS_AUTH_ACCESS, NGX_PDS_IN_JSON, NGX_PDS_CHECK_TAKEDOWN, 0,
      ngx_pds_put_preferences, NULL },

    { ngx_string("com.atproto.server.getServiceAuth"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_ACCESS, NGX_PDS_IN_NONE, NGX_PDS_ALLOW_TAKENDOWN, 0,
      ngx_pds_proxy_get_service_auth, NULL },

    /* every other NSID: to the AppView, chat or atproto-proxy's target */
    { ngx_string("(proxied)"), NGX_PDS_ANY, NGX_PDS_AUTH_ACCESS,
      NGX_PDS_IN_PASS, NGX_PDS_FALLBACK, 0, ngx_pds_proxy_unknown,
      ngx_pds_proxy_check },

    { ngx_null_string, 0, 0, 0, 0, 0, NULL, NULL }
};


/*
 * Account management: never proxied nor service-authed (the reference's
 * PROTECTED_METHODS), compared case-insensitively.
 */
static const char  *ngx_pds_protected_methods[] = {
    "com.atproto.admin.sendEmail",
    "com.atproto.identity.requestPlcOperationSignature",
    "com.atproto.identity.signPlcOperation",
    "com.atproto.identity.updateHandle",
    "com.atproto.server.activateAccount",
    "com.atproto.server.confirmEmail",
    "com.atproto.server.createAppPassword",
    "com.atproto.server.deactivateAccount",
    "com.atproto.server.getAccountInviteCodes",
    "com.atproto.server.getSession",
    "com.atproto.server.listAppPasswords",
    "com.atproto.server.requestAccountDelete",
    "com.atproto.server.requestEmailConfirmation",
    "com.atproto.server.requestEmailUpdate",
    "com.atproto.server.revokeAppPassword",
    "com.atproto.server.updateEmail",
    NULL
};


/* chat DMs and createAccount: full session or privileged app password */
static const char  *ngx_pds_privileged_methods[] = {
    "chat.bsky.actor.deleteAccount",
    "chat.bsky.actor.exportAccountData",
    "chat.bsky.convo.deleteMessageForSelf",
    "chat.bsky.convo.getConvo",
    "chat.bsky.convo.getConvoForMembers",
    "chat.bsky.convo.getLog",
    "chat.bsky.convo.getMessages",
    "chat.bsky.convo.leaveConvo",
    "chat.bsky.convo.listConvos",
    "chat.bsky.convo.muteConvo",
    "chat.bsky.convo.sendMessage",
    "chat.bsky.convo.sendMessageBatch",
    "chat.bsky.convo.unmuteConvo",
    "chat.bsky.convo.updateRead",
    "com.atproto.server.createAccount",
    NULL
};


/* by default to the moderation service (#atproto_labeler) */
static const char  *ngx_pds_mod_methods[] = {
    "tools.ozone.communication.createTemplate",
    "tools.ozone.communication.deleteTemplate",
    "tools.ozone.communication.listTemplates",
    "tools.ozone.communication.updateTemplate",
    "tools.ozone.moderation.cancelScheduledActions",
    "tools.ozone.moderation.emitEvent",
    "tools.ozone.moderation.getAccountTimeline",
    "tools.ozone.moderation.getEvent",
    "tools.ozone.moderation.getRecord",
    "tools.ozone.moderation.getRepo",
    "tools.ozone.moderation.listScheduledActions",
    "tools.ozone.moderation.queryEvents",
    "tools.ozone.moderation.queryStatuses",
    "tools.ozone.moderation.scheduleAction",
    "tools.ozone.moderation.searchRepos",
    "tools.ozone.safelink.addRule",
    "tools.ozone.safelink.queryEvents",
    "tools.ozone.safelink.queryRules",
    "tools.ozone.safelink.removeRule",
    "tools.ozone.safelink.updateRule",
    "tools.ozone.team.addMember",
    "tools.ozone.team.deleteMember",
    "tools.ozone.team.listMembers",
    "tools.ozone.team.updateMember",
    "tools.ozone.verification.grantVerifications",
    "tools.ozone.verification.listVerifications",
    "tools.ozone.verification.revokeVerifications",
    NULL
};


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


/* nginx's proxy handler, which the proxy location's handler wraps */
static ngx_http_handler_pt  ngx_pds_proxy_upstream_handler;

/* per worker */
static ngx_pds_diddoc_slot_t  ngx_pds_diddoc_cache[NGX_PDS_DIDDOC_SLOTS];
static ngx_uint_t             ngx_pds_diddoc_next;


static ngx_uint_t
ngx_pds_in_list(const char **list, ngx_str_t *nsid)
{
    size_t  n;

    for ( /* void */ ; *list; list++) {
        n = ngx_strlen(*list);
        if (n == nsid->len
            && ngx_strncasecmp((u_char *) *list, nsid->data, n) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static ngx_uint_t
ngx_pds_str_in_list(const char **list, const char *s)
{
    ngx_str_t  v;

    v.data = (u_char *) s;
    v.len = ngx_strlen(s);

    return ngx_pds_in_list(list, &v);
}


static char *
ngx_pds_proxy_cstr(ngx_pool_t *pool, ngx_str_t *s)
{
    u_char  *p;

    p = ngx_pnalloc(pool, s->len + 1);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, s->data, s->len);
    p[s->len] = '\0';

    return (char *) p;
}


/* ---- configuration ----------------------------------------------------- */


static ngx_int_t
ngx_pds_proxy_var_unset(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    /* only ever set by ngx_pds_proxy_go() before the redirect */
    v->not_found = 1;
    return NGX_OK;
}


char *
ngx_pds_proxy_inject(ngx_conf_t *cf, ngx_pds_srv_conf_t *pscf)
{
    char                       *rv;
    u_char                     *p;
    ngx_str_t                   text;
    ngx_uint_t                  i;
    ngx_queue_t                *q;
    ngx_http_variable_t        *var;
    ngx_http_location_queue_t  *lq;
    ngx_http_core_loc_conf_t   *pclcf, *clcf, *found;

    static const char  head[] =
        "location = " NGX_PDS_PROXY_LOCATION " {\n"
        "    internal;\n"
        "    proxy_pass $pds_proxy_url;\n"
        "    proxy_pass_request_headers off;\n"
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
        "    proxy_intercept_errors on;\n"
        "    error_page 500 502 503 =502 " NGX_PDS_PROXY_LOCATION "_failure;\n"
        "    error_page 504 =504 " NGX_PDS_PROXY_LOCATION "_timeout;\n";

    static const char  verify[] =
        "    proxy_ssl_verify on;\n"
        "    proxy_ssl_verify_depth 5;\n"
        "    proxy_ssl_trusted_certificate " NGX_PDS_PROXY_CA_FILE ";\n";

    static const char  tail[] =
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

    for (i = 0; i < NGX_PDS_PV_N; i++) {
        var = ngx_http_add_variable(cf, &ngx_pds_proxy_var_names[i],
                                    NGX_HTTP_VAR_CHANGEABLE);
        if (var == NULL) {
            return NGX_CONF_ERROR;
        }

        var->get_handler = ngx_pds_proxy_var_unset;
        var->data = 0;

        if (ngx_http_get_variable_index(cf, &ngx_pds_proxy_var_names[i])
            == NGX_ERROR)
        {
            return NGX_CONF_ERROR;
        }
    }

    text.data = ngx_pnalloc(cf->pool, sizeof(head) + sizeof(verify)
                                      + sizeof(tail));
    if (text.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(text.data, head, sizeof(head) - 1);

    if (access(NGX_PDS_PROXY_CA_FILE, R_OK) == 0) {
        p = ngx_cpymem(p, verify, sizeof(verify) - 1);
    }

    p = ngx_cpymem(p, tail, sizeof(tail) - 1);
    text.len = p - text.data;

    rv = ngx_pds_conf_inject(cf, &text);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    /* wrap nginx's proxy handler in the new location */

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
        return "cannot add the proxy location";
    }

    if (found->handler != ngx_pds_proxy_content) {
        ngx_pds_proxy_upstream_handler = found->handler;
        found->handler = ngx_pds_proxy_content;
    }

    /* given the outbound location's resolver at merge time */
    pscf->proxy_location = found;

    return NGX_CONF_OK;
}


/* ---- the proxy location ------------------------------------------------ */


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


/* ---- routing ----------------------------------------------------------- */


static ngx_table_elt_t *
ngx_pds_proxy_header(ngx_http_request_t *r, const char *name)
{
    size_t            n;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    n = ngx_strlen(name);
    part = &r->headers_in.headers.part;
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

        if (h[i].key.len == n
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, n) == 0)
        {
            return &h[i];
        }
    }

    return NULL;
}


static ngx_int_t
ngx_pds_proxy_bad(ngx_pds_ctx_t *ctx, const char *message)
{
    return ngx_pds_fail(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                        message);
}


static ngx_uint_t
ngx_pds_proxy_is_appview(ngx_pds_srv_conf_t *pscf, ngx_str_t *v)
{
    ngx_str_t  *did = &pscf->appview_did;

    return pscf->appview_url.len && did->len
           && v->len == did->len + sizeof("#bsky_appview") - 1
           && ngx_strncmp(v->data, did->data, did->len) == 0
           && ngx_strncmp(v->data + did->len, "#bsky_appview",
                          sizeof("#bsky_appview") - 1) == 0;
}


ngx_uint_t
ngx_pds_proxy_foreign(ngx_pds_ctx_t *ctx)
{
    ngx_table_elt_t  *h;

    h = ngx_pds_proxy_header(ctx->request, "atproto-proxy");

    return h != NULL && !ngx_pds_proxy_is_appview(ctx->conf, &h->value);
}


/*
 * The reference's parseProxyInfo(): the target from the "atproto-proxy"
 * header (checked here, resolved later) or the default service.
 * NGX_OK, or NGX_DECLINED with the refusal sent.
 */
static ngx_int_t
ngx_pds_proxy_target(ngx_pds_ctx_t *ctx, ngx_pds_target_t *t)
{
    u_char              *hash, msg[320];
    ngx_str_t           *v;
    ngx_table_elt_t     *h;
    ngx_pds_srv_conf_t  *pscf = ctx->conf;

    ngx_memzero(t, sizeof(ngx_pds_target_t));

    h = ngx_pds_proxy_header(ctx->request, "atproto-proxy");

    if (h == NULL) {
        if (ngx_pds_in_list(ngx_pds_mod_methods, &ctx->nsid)) {
            t->did = pscf->mod_service_did;
            t->url = pscf->mod_service_url;
            ngx_str_set(&t->service_id, "atproto_labeler");

        } else if (ctx->nsid.len
                   == sizeof("com.atproto.moderation.createReport") - 1
                   && ngx_strncasecmp(ctx->nsid.data, (u_char *)
                                      "com.atproto.moderation.createReport",
                                      ctx->nsid.len) == 0)
        {
            t->did = pscf->report_service_did;
            t->url = pscf->report_service_url;
            ngx_str_set(&t->service_id, "atproto_labeler");

        } else if (ctx->nsid.len > sizeof("chat.bsky.") - 1
                   && ngx_strncmp(ctx->nsid.data, "chat.bsky.",
                                  sizeof("chat.bsky.") - 1) == 0
                   && pscf->chat_url.len)
        {
            t->did = pscf->chat_did;
            t->url = pscf->chat_url;
            ngx_str_set(&t->service_id, "bsky_chat");

        } else {
            t->did = pscf->appview_did;
            t->url = pscf->appview_url;
            ngx_str_set(&t->service_id, "bsky_appview");
        }

        if (t->url.len == 0 || t->did.len == 0) {
            goto none;
        }

        return NGX_OK;
    }

    v = &h->value;
    hash = ngx_strlchr(v->data, v->data + v->len, '#');

    if (hash == v->data) {
        return ngx_pds_proxy_bad(ctx, "no did specified in proxy header");
    }

    if (hash == NULL || hash == v->data + v->len - 1) {
        return ngx_pds_proxy_bad(ctx,
                                 "no service id specified in proxy header");
    }

    if (ngx_strlchr(hash + 1, v->data + v->len, '#')) {
        return ngx_pds_proxy_bad(ctx, "invalid proxy header format");
    }

    if (ngx_strlchr(v->data, v->data + v->len, ' ')) {
        return ngx_pds_proxy_bad(ctx, "proxy header cannot contain spaces");
    }

    t->did.data = v->data;
    t->did.len = hash - v->data;
    t->service_id.data = hash + 1;
    t->service_id.len = v->data + v->len - (hash + 1);

    if (ngx_pds_proxy_is_appview(pscf, v)) {
        t->url = pscf->appview_url;
    }

    return NGX_OK;

none:

    ngx_snprintf(msg, sizeof(msg) - 1, "No service configured for %V%Z",
                 &ctx->nsid);

    return ngx_pds_proxy_bad(ctx, (char *) msg);
}


static ngx_pds_diddoc_slot_t *
ngx_pds_diddoc_find(ngx_str_t *did, ngx_str_t *service_id)
{
    size_t                  n;
    ngx_uint_t              i;
    ngx_pds_diddoc_slot_t  *s;

    n = did->len + 1 + service_id->len;

    for (i = 0; i < NGX_PDS_DIDDOC_SLOTS; i++) {
        s = &ngx_pds_diddoc_cache[i];

        if (s->key_len == n && s->expires > ngx_time()
            && ngx_strncmp(s->key, did->data, did->len) == 0
            && s->key[did->len] == '#'
            && ngx_strncmp(s->key + did->len + 1, service_id->data,
                           service_id->len) == 0)
        {
            return s;
        }
    }

    return NULL;
}


static void
ngx_pds_diddoc_store(ngx_str_t *did, ngx_str_t *service_id, ngx_str_t *url)
{
    u_char                 *p;
    ngx_pds_diddoc_slot_t  *s;

    if (did->len + 1 + service_id->len > NGX_PDS_DIDDOC_KEY_MAX
        || url->len > NGX_PDS_DIDDOC_URL_MAX)
    {
        return;
    }

    s = ngx_pds_diddoc_find(did, service_id);

    if (s == NULL) {
        s = &ngx_pds_diddoc_cache[ngx_pds_diddoc_next];
        ngx_pds_diddoc_next = (ngx_pds_diddoc_next + 1)
                              % NGX_PDS_DIDDOC_SLOTS;
    }

    p = ngx_cpymem(s->key, did->data, did->len);
    *p++ = '#';
    p = ngx_cpymem(p, service_id->data, service_id->len);
    s->key_len = p - s->key;

    ngx_memcpy(s->url, url->data, url->len);
    s->url_len = url->len;
    s->expires = ngx_time() + NGX_PDS_DIDDOC_TTL;
}


/* where the DID document of did is: PLC directory or did:web */
static ngx_int_t
ngx_pds_diddoc_url(ngx_pds_ctx_t *ctx, ngx_str_t *did, ngx_str_t *url)
{
    u_char      *p, *s, *last;
    size_t       n;
    ngx_str_t   *plc;
    ngx_uint_t   localhost, path;

    if (!pds_did_valid((char *) did->data, did->len)) {
        return NGX_DECLINED;
    }

    if (did->len > 8 && ngx_strncmp(did->data, "did:plc:", 8) == 0) {
        plc = &ctx->conf->plc_url;
        n = plc->len;

        while (n && plc->data[n - 1] == '/') {
            n--;
        }

        url->data = ngx_pnalloc(ctx->request->pool, n + 1 + did->len);
        if (url->data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(url->data, plc->data, n);
        *p++ = '/';
        p = ngx_cpymem(p, did->data, did->len);
        url->len = p - url->data;

        return NGX_OK;
    }

    if (!(did->len > 8 && ngx_strncmp(did->data, "did:web:", 8) == 0)) {
        return NGX_DECLINED;
    }

    /* did:web:host%3Aport:path:to -> https://host:port/path/to/did.json */

    s = did->data + 8;
    last = did->data + did->len;

    url->data = ngx_pnalloc(ctx->request->pool,
                            sizeof("https://") + did->len
                            + sizeof("/.well-known/did.json"));
    if (url->data == NULL) {
        return NGX_ERROR;
    }

    localhost = (last - s >= 9 && ngx_strncmp(s, "localhost", 9) == 0
                 && (last - s == 9 || s[9] == '%' || s[9] == ':'));

    p = ngx_cpymem(url->data, localhost ? "http://" : "https://",
                   localhost ? 7 : 8);
    path = 0;

    while (s < last) {
        if (*s == ':') {
            *p++ = '/';
            path = 1;
            s++;

        } else if (*s == '%' && last - s >= 3 && s[1] == '3'
                   && (s[2] == 'A' || s[2] == 'a') && !path)
        {
            *p++ = ':';
            s += 3;

        } else if (*s == '%' || *s == '/' || *s == '?' || *s == '#'
                   || *s == '@')
        {
            return NGX_DECLINED;

        } else {
            *p++ = *s++;
        }
    }

    if (path) {
        p = ngx_cpymem(p, "/did.json", sizeof("/did.json") - 1);

    } else {
        p = ngx_cpymem(p, "/.well-known/did.json",
                       sizeof("/.well-known/did.json") - 1);
    }

    url->len = p - url->data;

    return NGX_OK;
}


/*
 * Forwards an authenticated request: the target, then (after resolving a
 * DID document if needed) the redirect into the proxy location.
 */
static ngx_int_t
ngx_pds_proxy_route(ngx_pds_ctx_t *ctx, ngx_pds_target_t *t)
{
    ngx_int_t               rc;
    ngx_str_t               url;
    ngx_pds_target_t       *saved;
    ngx_pds_diddoc_slot_t  *s;

    saved = ngx_palloc(ctx->request->pool, sizeof(ngx_pds_target_t));
    if (saved == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *saved = *t;
    ctx->data = saved;

    if (saved->url.len) {
        return ngx_pds_proxy_go(ctx);
    }

    s = ngx_pds_diddoc_find(&t->did, &t->service_id);

    if (s) {
        saved->url.data = ngx_pnalloc(ctx->request->pool, s->url_len);
        if (saved->url.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(saved->url.data, s->url, s->url_len);
        saved->url.len = s->url_len;

        return ngx_pds_proxy_go(ctx);
    }

    rc = ngx_pds_diddoc_url(ctx, &t->did, &url);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        ngx_pds_proxy_bad(ctx, "could not resolve proxy did");
        return ctx->sent_rc;
    }

    return ngx_pds_fetch(ctx, NGX_HTTP_GET, &url, NULL, NULL, NULL,
                         ngx_pds_proxy_resolved);
}


/* a URL the proxy can use: http(s)://host... without spaces */
static ngx_uint_t
ngx_pds_proxy_endpoint_ok(const char *s, size_t n)
{
    size_t  i;

    if (!(n > 7 && ngx_strncasecmp((u_char *) s, (u_char *) "http://", 7)
                   == 0)
        && !(n > 8 && ngx_strncasecmp((u_char *) s, (u_char *) "https://", 8)
                      == 0))
    {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if ((u_char) s[i] <= ' ' || s[i] == '"' || s[i] == '\\'
            || s[i] == 0x7f)
        {
            return 0;
        }
    }

    return 1;
}


static ngx_int_t
ngx_pds_proxy_resolved(ngx_pds_ctx_t *ctx)
{
    size_t             n, i;
    json_t            *doc, *services, *svc, *id, *ep;
    const char        *sid;
    ngx_pds_target_t  *t = ctx->data;

    if (ctx->response.status != NGX_HTTP_OK || ctx->response.body.len == 0) {
        ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                      "pds proxy: DID document of \"%V\": status %ui",
                      &t->did, ctx->response.status);
        ngx_pds_proxy_bad(ctx, "could not resolve proxy did");
        return ctx->sent_rc;
    }

    doc = ngx_pds_json_track(ctx->request,
                             json_loadb((char *) ctx->response.body.data,
                                        ctx->response.body.len, 0, NULL));

    id = doc ? json_object_get(doc, "id") : NULL;

    if (doc == NULL || !json_is_string(id)
        || json_string_length(id) != t->did.len
        || ngx_strncmp(json_string_value(id), t->did.data, t->did.len) != 0)
    {
        ngx_pds_proxy_bad(ctx, "could not resolve proxy did");
        return ctx->sent_rc;
    }

    services = json_object_get(doc, "service");
    ep = NULL;

    if (json_is_array(services)) {
        json_array_foreach(services, i, svc) {
            id = json_object_get(svc, "id");
            if (!json_is_string(id)) {
                continue;
            }

            sid = json_string_value(id);
            n = json_string_length(id);

            if (n > t->did.len
                && ngx_strncmp(sid, t->did.data, t->did.len) == 0)
            {
                sid += t->did.len;
                n -= t->did.len;
            }

            if (n == t->service_id.len + 1 && sid[0] == '#'
                && ngx_strncmp(sid + 1, t->service_id.data, n - 1) == 0)
            {
                ep = json_object_get(svc, "serviceEndpoint");
                break;
            }
        }
    }

    if (!json_is_string(ep)
        || !ngx_pds_proxy_endpoint_ok(json_string_value(ep),
                                      json_string_length(ep)))
    {
        ngx_pds_proxy_bad(ctx, "could not resolve proxy did service url");
        return ctx->sent_rc;
    }

    t->url.len = json_string_length(ep);
    t->url.data = ngx_pnalloc(ctx->request->pool, t->url.len);
    if (t->url.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(t->url.data, json_string_value(ep), t->url.len);

    ngx_pds_diddoc_store(&t->did, &t->service_id, &t->url);

    return ngx_pds_proxy_go(ctx);
}


char *
ngx_pds_service_jwt(ngx_pds_ctx_t *ctx, const char *aud, const char *lxm,
    int64_t exp)
{
    int             rc;
    char           *token;
    MDB_txn        *txn;
    pds_key_t      *key;
    pds_account_t   acc;

    txn = ngx_pds_read_txn(ctx);
    if (txn == NULL) {
        return NULL;
    }

    rc = pds_account_get_by_did(ctx->conf->env->store, txn, ctx->auth.did,
                                &ctx->alloc, &acc);
    if (rc != 0 || acc.signing_key == NULL) {
        ngx_pds_read_done(ctx);
        ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                      "pds: no signing key for \"%s\" (%d)", ctx->auth.did,
                      rc);
        return NULL;
    }

    key = pds_key_from_private(PDS_KEY_K256, acc.signing_key,
                               acc.signing_key_len);
    ngx_pds_read_done(ctx);

    if (key == NULL) {
        return NULL;
    }

    token = pds_jwt_service_mint(&ctx->alloc, key, ctx->auth.did, aud, lxm,
                                 (int64_t) ngx_time(), exp);
    pds_key_free(key);

    return token;
}


/* the service JWT, the variables, and the redirect to the proxy location */
static ngx_int_t
ngx_pds_proxy_go(ngx_pds_ctx_t *ctx)
{
    u_char              *p;
    char                *aud, *lxm, *jwt;
    size_t               n;
    ngx_str_t            url, auth, uri, v;
    ngx_table_elt_t     *h;
    ngx_pds_target_t    *t = ctx->data;
    ngx_http_request_t  *r = ctx->request;

    aud = ngx_pds_proxy_cstr(r->pool, &t->did);
    lxm = ngx_pds_proxy_cstr(r->pool, &ctx->nsid);
    if (aud == NULL || lxm == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    jwt = ngx_pds_service_jwt(ctx, aud, lxm,
                              (int64_t) ngx_time() + PDS_JWT_SERVICE_TTL);
    if (jwt == NULL) {
        ngx_http_discard_request_body(r);
        return ngx_pds_send_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                  "InternalServerError",
                                  "Could not sign a service token");
    }

    /* endpoint + the original path and query */

    n = t->url.len;
    while (n && t->url.data[n - 1] == '/') {
        n--;
    }

    url.len = n + sizeof("/xrpc/") - 1 + ctx->nsid.len + 1 + r->args.len;
    url.data = ngx_pnalloc(r->pool, url.len);
    if (url.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(url.data, t->url.data, n);
    p = ngx_cpymem(p, "/xrpc/", sizeof("/xrpc/") - 1);
    p = ngx_cpymem(p, ctx->nsid.data, ctx->nsid.len);

    if (r->args.len) {
        *p++ = '?';
        p = ngx_cpymem(p, r->args.data, r->args.len);
    }

    url.len = p - url.data;

    n = ngx_strlen(jwt);
    auth.len = sizeof("Bearer ") - 1 + n;
    auth.data = ngx_pnalloc(r->pool, auth.len);
    if (auth.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(ngx_cpymem(auth.data, "Bearer ", 7), jwt, n);

    if (ngx_pds_proxy_set_var(r, NGX_PDS_PV_URL, &url) != NGX_OK
        || ngx_pds_proxy_set_var(r, NGX_PDS_PV_AUTHORIZATION, &auth)
           != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pds: the proxy variables are not configured");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h = ngx_pds_proxy_header(r, "accept-encoding");
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
        h = ngx_pds_proxy_header(r, "content-encoding");
        (void) ngx_pds_proxy_set_var(r, NGX_PDS_PV_CONTENT_ENCODING,
                                     h ? &h->value : NULL);

    } else {
        (void) ngx_pds_proxy_set_var(r, NGX_PDS_PV_CONTENT_TYPE, NULL);
        (void) ngx_pds_proxy_set_var(r, NGX_PDS_PV_CONTENT_ENCODING, NULL);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "pds proxy to \"%V\"", &url);

    ngx_pds_read_done(ctx);

    ngx_str_set(&uri, NGX_PDS_PROXY_LOCATION);

    return ngx_http_internal_redirect(r, &uri, NULL);
}


ngx_int_t
ngx_pds_proxy_forward(ngx_pds_ctx_t *ctx)
{
    ngx_pds_target_t  t;

    if (ngx_pds_proxy_target(ctx, &t) != NGX_OK) {
        return ctx->sent_rc;
    }

    return ngx_pds_proxy_route(ctx, &t);
}


/*
 * The fallback entry's check, before authentication: an NSID the table
 * does not have is proxied when it is valid, called with GET or POST, not
 * one of the protected methods, and its target can be found.
 */
static ngx_int_t
ngx_pds_proxy_check(ngx_pds_ctx_t *ctx)
{
    ngx_pds_target_t    *t;
    ngx_http_request_t  *r = ctx->request;

    if (!pds_nsid_valid((char *) ctx->nsid.data, ctx->nsid.len)) {
        return NGX_DECLINED;
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_POST))) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "XRPC requests only supports GET and POST");
    }

    if (ngx_pds_in_list(ngx_pds_protected_methods, &ctx->nsid)) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidToken",
                             "Bad token method");
    }

    t = ngx_pcalloc(r->pool, sizeof(ngx_pds_target_t));
    if (t == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = t;

    if (ngx_pds_proxy_target(ctx, t) != NGX_OK) {
        return ctx->sent_rc;
    }

    return NGX_OK;
}


/* the fallback entry: an authenticated request for a method we lack */
static ngx_int_t
ngx_pds_proxy_unknown(ngx_pds_ctx_t *ctx)
{
    ngx_pds_target_t  *t = ctx->data;

    ngx_pds_read_done(ctx);

    if (!ctx->auth.privileged
        && ngx_pds_in_list(ngx_pds_privileged_methods, &ctx->nsid))
    {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidToken",
                             "Bad token method");
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "pds: proxy %V", &ctx->nsid);

    return ngx_pds_proxy_route(ctx, t);
}


/* ---- com.atproto.server.getServiceAuth --------------------------------- */


static ngx_int_t
ngx_pds_proxy_get_service_auth(ngx_pds_ctx_t *ctx)
{
    u_char               msg[320];
    char                *aud, *lxm, *token;
    json_t              *answer;
    int64_t              exp, now, diff;
    ngx_str_t            v, lxm_v;
    ngx_uint_t           has_lxm;
    ngx_http_request_t  *r = ctx->request;

    if (ngx_pds_arg(r, "aud", &v) != NGX_OK) {
        return ngx_pds_send_error(r, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                  "Params must have the property \"aud\"");
    }

    aud = (char *) v.data;

    if (!pds_did_valid(aud, v.len)) {
        u_char  *hash;

        hash = (u_char *) ngx_strchr(aud, '#');

        if (hash == NULL || hash == v.data || hash[1] == '\0'
            || !pds_did_valid(aud, hash - v.data))
        {
            return ngx_pds_send_error(r, NGX_HTTP_BAD_REQUEST,
                                      "InvalidRequest",
                                      "aud must be a valid atproto DID or "
                                      "did#serviceId reference");
        }
    }

    has_lxm = (ngx_pds_arg(r, "lxm", &lxm_v) == NGX_OK && lxm_v.len);
    lxm = has_lxm ? (char *) lxm_v.data : NULL;

    if (has_lxm && !pds_nsid_valid(lxm, lxm_v.len)
        && ngx_strcmp(lxm, "*") != 0)
    {
        return ngx_pds_send_error(r, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                  "lxm must be a valid nsid");
    }

    now = (int64_t) ngx_time();
    exp = 0;

    if (ngx_pds_arg(r, "exp", &v) == NGX_OK) {
        exp = (int64_t) ngx_atoi(v.data, v.len);

        if (exp == NGX_ERROR) {
            return ngx_pds_send_error(r, NGX_HTTP_BAD_REQUEST,
                                      "InvalidRequest",
                                      "exp must be an integer");
        }
    }

    if (ctx->auth.scope
        && ngx_strcmp(ctx->auth.scope, PDS_JWT_SCOPE_TAKENDOWN) == 0
        && (lxm == NULL
            || ngx_strcmp(lxm, "com.atproto.server.createAccount") != 0))
    {
        return ngx_pds_send_error(r, NGX_HTTP_BAD_REQUEST, "InvalidToken",
                                  "Bad token scope");
    }

    if (lxm && !ctx->auth.privileged
        && ngx_pds_str_in_list(ngx_pds_privileged_methods, lxm))
    {
        ngx_snprintf(msg, sizeof(msg) - 1, "insufficient access to request "
                     "a service auth token for the following method: %s%Z",
                     lxm);
        return ngx_pds_send_error(r, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                  (char *) msg);
    }

    if (exp) {
        diff = exp - now;

        if (diff < 0) {
            return ngx_pds_send_error(r, NGX_HTTP_BAD_REQUEST,
                                      "BadExpiration",
                                      "expiration is in past");
        }

        if (diff > NGX_PDS_HOUR) {
            return ngx_pds_send_error(r, NGX_HTTP_BAD_REQUEST,
                                      "BadExpiration",
                                      "cannot request a token with an "
                                      "expiration more than an hour in the "
                                      "future");
        }

        if (lxm == NULL && diff > NGX_PDS_MINUTE) {
            return ngx_pds_send_error(r, NGX_HTTP_BAD_REQUEST,
                                      "BadExpiration",
                                      "cannot request a method-less token "
                                      "with an expiration more than a "
                                      "minute in the future");
        }

    } else {
        exp = now + PDS_JWT_SERVICE_TTL;
    }

    if (lxm && ngx_pds_str_in_list(ngx_pds_protected_methods, lxm)) {
        ngx_snprintf(msg, sizeof(msg) - 1, "cannot request a service auth "
                     "token for the following protected method: %s%Z", lxm);
        return ngx_pds_send_error(r, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                  (char *) msg);
    }

    token = ngx_pds_service_jwt(ctx, aud, lxm, exp);
    if (token == NULL) {
        return ngx_pds_send_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                  "InternalServerError",
                                  "Could not sign a service token");
    }

    answer = ngx_pds_json_track(r, json_pack("{s:s}", "token", token));
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_json(r, NGX_HTTP_OK, answer);
}
