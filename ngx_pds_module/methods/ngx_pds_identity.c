/*
 * ngx_pds_module: identity.
 *
 *   com.atproto.identity.resolveHandle / getRecommendedDidCredentials /
 *   updateHandle, com.atproto.server.reserveSigningKey,
 *   com.atproto.temp.checkSignupQueue (no queue: activated), and
 *   GET /.well-known/atproto-did (the handle from the Host header; also
 *   in other server blocks, ngx_pds_well_known.c);
 *   in this table, describeRepo and checkAccountStatus of
 *   ngx_pds_describe.c.
 *
 * DID documents and PLC operations come from the PLC directory through
 * nginx (ngx_pds_fetch.c); nothing here blocks the event loop.
 */

#include "ngx_pds_methods_int.h"
#include "ngx_pds_params.h"

#include "ngx_pds_mailed.h"
#include "ngx_pds_handle_resolve.h"
#include "ngx_pds_did.h"

#include "pds_plc.h"
#include "pds_plc_reserve.h"
#include "pds_repo.h"
#include "pds_syntax.h"


static ngx_int_t ngx_pds_resolve_handle(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_recommended_credentials(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_update_handle(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_reserve_signing_key(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_check_signup_queue(ngx_pds_ctx_t *ctx);


const ngx_pds_method_t  ngx_pds_identity_methods[] = {

    { ngx_string("com.atproto.identity.resolveHandle"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_NONE, NGX_PDS_IN_NONE, 0, 0, ngx_pds_resolve_handle, NULL },

    { ngx_string("com.atproto.identity.getRecommendedDidCredentials"),
      NGX_PDS_QUERY, NGX_PDS_AUTH_ACCESS, NGX_PDS_IN_NONE, 0, 0,
      ngx_pds_recommended_credentials, NULL },

    { ngx_string("com.atproto.identity.updateHandle"), NGX_PDS_PROCEDURE,
      NGX_PDS_AUTH_ACCESS, NGX_PDS_IN_JSON, NGX_PDS_CHECK_TAKEDOWN, 0,
      ngx_pds_update_handle, NULL },

    { ngx_string("com.atproto.repo.describeRepo"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_NONE, NGX_PDS_IN_NONE, 0, 0, ngx_pds_describe_repo, NULL },

    { ngx_string("com.atproto.server.checkAccountStatus"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_ACCESS, NGX_PDS_IN_NONE, 0, 0,
      ngx_pds_check_account_status, NULL },

    { ngx_string("com.atproto.server.reserveSigningKey"), NGX_PDS_PROCEDURE,
      NGX_PDS_AUTH_NONE, NGX_PDS_IN_JSON, 0, 0,
      ngx_pds_reserve_signing_key, NULL },

    { ngx_string("com.atproto.temp.checkSignupQueue"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_ACCESS, NGX_PDS_IN_NONE, NGX_PDS_ALLOW_SIGNUP_QUEUED, 0,
      ngx_pds_check_signup_queue, NULL },

    { ngx_null_string, 0, 0, 0, 0, 0, NULL, NULL }
};


/*
 * The active local account with this handle: 0 (acc set), PDS_NOTFOUND,
 * or another error.
 */
static int
ngx_pds_local_handle(ngx_pds_ctx_t *ctx, const char *handle,
    pds_account_t *acc)
{
    int        rc;
    MDB_txn   *txn;
    uint64_t   uid;

    txn = ngx_pds_read_txn(ctx);
    if (txn == NULL) {
        return -1;
    }

    rc = pds_account_uid_by_handle(ctx->conf->env->store, txn, handle, &uid);
    if (rc == 0) {
        rc = pds_account_get(ctx->conf->env->store, txn, uid, &ctx->alloc,
                             acc);
    }

    if (rc == 0 && (acc->deactivated_at || acc->takedown_ref)) {
        rc = PDS_NOTFOUND;
    }

    return rc;
}


/* ---- GET /.well-known/atproto-did -------------------------------------- */


ngx_int_t
ngx_pds_well_known_did(ngx_http_request_t *r)
{
    return ngx_pds_well_known_answer(r,
                                ngx_http_get_module_srv_conf(r, ngx_pds_module));
}


/* the DID of the handle the Host header names, among conf's accounts */
ngx_int_t
ngx_pds_well_known_answer(ngx_http_request_t *r, ngx_pds_srv_conf_t *conf)
{
    int                  rc;
    ngx_str_t           *host;
    ngx_pds_ctx_t       *ctx;
    pds_account_t        acc;
    char                 handle[256];
    static u_char        not_found[] = "User not found";

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    /* from the pool: the read transaction's cleanup points at it */
    ctx = ngx_pcalloc(r->pool, sizeof(ngx_pds_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ctx->conf = conf;
    ngx_pds_pool_allocator(r->pool, &ctx->alloc);

    /* validated, lower-cased and without the port by nginx */
    host = &r->headers_in.server;

    if (host->len == 0 || host->len >= sizeof(handle)
        || !ngx_pds_is_service_handle(ctx->conf, (char *) host->data,
                                      host->len))
    {
        return ngx_pds_send_text(r, NGX_HTTP_NOT_FOUND,
                                 "text/plain; charset=utf-8", not_found,
                                 sizeof(not_found) - 1);
    }

    ngx_memcpy(handle, host->data, host->len);
    handle[host->len] = '\0';

    rc = ngx_pds_local_handle(ctx, handle, &acc);
    ngx_pds_read_done(ctx);

    if (rc == PDS_NOTFOUND) {
        return ngx_pds_send_text(r, NGX_HTTP_NOT_FOUND,
                                 "text/plain; charset=utf-8", not_found,
                                 sizeof(not_found) - 1);
    }

    if (rc != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_text(r, NGX_HTTP_OK, "text/plain; charset=utf-8",
                             (u_char *) acc.did, ngx_strlen(acc.did));
}


/* ---- resolveHandle ----------------------------------------------------- */


/* the DID of another server's handle, found (or not) */
static ngx_int_t
ngx_pds_resolve_handle_remote(ngx_pds_ctx_t *ctx)
{
    json_t                  *answer;
    ngx_pds_handle_found_t  *found = ctx->data;

    if (found->did == NULL
        || !pds_did_valid(found->did, ngx_strlen(found->did)))
    {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Unable to resolve handle");
    }

    answer = ngx_pds_json_track(ctx->request,
                                json_pack("{s:s}", "did", found->did));
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
}


static ngx_int_t
ngx_pds_resolve_handle(ngx_pds_ctx_t *ctx)
{
    int                      rc;
    char                    *handle;
    json_t                  *answer;
    ngx_str_t                v;
    pds_account_t            acc;
    ngx_pds_handle_found_t  *found;

    if (ngx_pds_arg(ctx->request, "handle", &v) != NGX_OK) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Params must have the property \"handle\"");
    }

    handle = (char *) v.data;

    if (pds_handle_normalize(handle, v.len + 1, handle, v.len) < 0) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "handle must be a valid handle");
    }

    rc = ngx_pds_local_handle(ctx, handle, &acc);
    ngx_pds_read_done(ctx);

    if (rc == 0) {
        answer = ngx_pds_json_track(ctx->request,
                                    json_pack("{s:s}", "did", acc.did));
        if (answer == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
    }

    if (rc != PDS_NOTFOUND) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_pds_is_service_handle(ctx->conf, handle, v.len)) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "HandleNotFound",
                             "Unable to resolve handle");
    }

    /* another server's handle: DNS TXT, then HTTPS (the SSRF rules) */

    found = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_handle_found_t));
    if (found == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = found;

    return ngx_pds_handle_resolve(ctx, handle, 0, found,
                                  ngx_pds_resolve_handle_remote);
}


/* ---- getRecommendedDidCredentials -------------------------------------- */


static ngx_int_t
ngx_pds_recommended_credentials(ngx_pds_ctx_t *ctx)
{
    int             rc;
    char            didkey[128], *at;
    json_t         *answer, *rot;
    pds_account_t   acc;

    rc = ngx_pds_session_account(ctx, &acc, didkey, sizeof(didkey));
    ngx_pds_read_done(ctx);

    if (rc == PDS_NOTFOUND) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Account not found");
    }

    if (rc != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rot = json_array();
    if (ctx->conf->recovery_did_key.len) {
        json_array_append_new(rot,
                        json_string((char *) ctx->conf->recovery_did_key.data));
    }
    json_array_append_new(rot,
                        json_string((char *) ctx->conf->rotation_did_key.data));

    at = ngx_pds_at_uri(ctx->request->pool, acc.handle, NULL, 0, NULL, 0);
    if (rot == NULL || at == NULL) {
        json_decref(rot);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    answer = ngx_pds_json_track(ctx->request,
                json_pack("{s:[s], s:{s:s}, s:o, s:{s:{s:s, s:s%}}}",
                          "alsoKnownAs", at,
                          "verificationMethods", "atproto", didkey,
                          "rotationKeys", rot,
                          "services", "atproto_pds",
                          "type", "AtprotoPersonalDataServer",
                          "endpoint", ctx->conf->public_url.data,
                          ctx->conf->public_url.len));
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
}


/* ---- updateHandle ------------------------------------------------------ */


/* the input's shape (a syntax error is the Lexicon's InvalidRequest) */
static const ngx_pds_field_t  ngx_pds_update_handle_input[] = {
    { "handle", NGX_PDS_V_STRING, NGX_PDS_FMT_HANDLE, NGX_PDS_F_REQUIRED,
      0, 0, 0 },
    { NULL, 0, 0, 0, 0, 0, 0 }
};


static ngx_int_t ngx_pds_update_handle_resolved(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_update_handle_available(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_update_handle_last_op(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_update_handle_sent(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_update_handle_stored(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_update_handle_doc(ngx_pds_ctx_t *ctx);
static int ngx_pds_update_handle_txn(pds_store_t *store, MDB_txn *txn,
    void *data);


/*
 * 1 if handle is under one of the tenant's handle domains (a name in
 * front of ".domain"; the domain itself is not: as the reference, a root
 * domain is taken as any other domain the user controls).
 */
static ngx_uint_t
ngx_pds_under_handle_domain(ngx_pds_srv_conf_t *conf, const char *handle,
    size_t len)
{
    ngx_str_t   *d;
    ngx_uint_t   i;

    d = conf->handle_domains->elts;

    for (i = 0; i < conf->handle_domains->nelts; i++) {
        if (len > d[i].len
            && ngx_strncasecmp((u_char *) handle + len - d[i].len,
                               d[i].data, d[i].len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * The new handle (its syntax checked): lower-cased, with an allowed TLD;
 * under a handle domain, acceptable to the handle policy; otherwise a
 * domain the user controls (st->external), whose resolution is checked
 * later; in the reference's order.  NGX_OK, or the refusal's status.
 */
ngx_int_t
ngx_pds_update_handle_syntax(ngx_pds_ctx_t *ctx, ngx_pds_handle_t *st,
    json_t *v)
{
    size_t  len;

    len = json_string_length(v);
    st->handle = ngx_pnalloc(ctx->request->pool, len + 1);
    if (st->handle == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (pds_handle_normalize(st->handle, len + 1, json_string_value(v), len)
        < 0)
    {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidHandle",
                             "Invalid handle");
    }

    st->handle[len] = '\0';

    if (pds_handle_is_reserved_tld(st->handle, len)) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidHandle",
                             "Handle TLD is invalid or disallowed");
    }

    return NGX_OK;
}


static ngx_int_t
ngx_pds_update_handle_check(ngx_pds_ctx_t *ctx, ngx_pds_handle_t *st,
    json_t *v)
{
    size_t     len;
    ngx_int_t  rc;

    rc = ngx_pds_update_handle_syntax(ctx, st, v);
    if (rc != NGX_OK) {
        return rc;
    }

    len = ngx_strlen(st->handle);

    if (!ngx_pds_under_handle_domain(ctx->conf, st->handle, len)) {
        /* a domain of the user's: it must already resolve to the DID */
        st->external = 1;
        return NGX_OK;
    }

    /* the same rules as at sign-up: length, reserved names, TLD */
    return ngx_pds_check_new_handle(ctx, st->handle);
}


static ngx_int_t
ngx_pds_update_handle(ngx_pds_ctx_t *ctx)
{
    int                rc;
    json_t            *v;
    ngx_int_t          nrc;
    ngx_pds_handle_t  *st;

    nrc = ngx_pds_check_input(ctx, ctx->body, "$",
                              ngx_pds_update_handle_input);
    if (nrc != NGX_OK) {
        return nrc;
    }

    v = json_object_get(ctx->body, "handle");

    st = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_handle_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = st;

    nrc = ngx_pds_update_handle_check(ctx, st, v);
    if (nrc != NGX_OK) {
        return nrc;
    }

    rc = ngx_pds_session_account(ctx, &st->account, NULL, 0);

    if (rc == PDS_NOTFOUND) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Account not found");
    }

    if (rc != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_pds_read_done(ctx);

    return ngx_pds_update_handle_claim(ctx);
}


ngx_int_t
ngx_pds_update_handle_claim(ngx_pds_ctx_t *ctx)
{
    ngx_pds_handle_t  *st = ctx->data;

    if (st->external) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                       "pds: updateHandle %s: resolving %s",
                       st->account.did, st->handle);

        return ngx_pds_handle_resolve(ctx, st->handle, 1, &st->found,
                                      ngx_pds_update_handle_resolved);
    }

    return ngx_pds_update_handle_available(ctx);
}


/* an external handle must resolve to the caller's DID (afresh) */
static ngx_int_t
ngx_pds_update_handle_resolved(ngx_pds_ctx_t *ctx)
{
    ngx_pds_handle_t  *st = ctx->data;

    if (st->found.did == NULL
        || ngx_strcmp(st->found.did, st->account.did) != 0)
    {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "External handle did not resolve to DID");
    }

    return ngx_pds_update_handle_available(ctx);
}


/* not another account's, then the PLC operation */
static ngx_int_t
ngx_pds_update_handle_available(ngx_pds_ctx_t *ctx)
{
    int                rc;
    uint64_t           uid;
    MDB_txn           *txn;
    ngx_pds_handle_t  *st = ctx->data;

    txn = ngx_pds_read_txn(ctx);
    if (txn == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = pds_account_uid_by_handle(ctx->conf->env->store, txn, st->handle,
                                   &uid);
    ngx_pds_read_done(ctx);

    if (rc == 0 && uid != st->account.uid) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "HandleNotAvailable",
                             "Handle already taken: %s", st->handle);
    }

    return ngx_pds_update_handle_plc(ctx);
}


ngx_int_t
ngx_pds_update_handle_plc(ngx_pds_ctx_t *ctx)
{
    ngx_str_t         *url;
    ngx_pds_handle_t  *st = ctx->data;

    if (ngx_strncmp(st->account.did, "did:plc:", 8) != 0) {
        /* nothing to update: its document must already say the handle */
        st->doc = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_did_t));
        if (st->doc == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_pds_did_resolve(ctx, st->account.did, st->doc,
                                   ngx_pds_update_handle_doc);
    }

    url = ngx_pds_plc_url(ctx, st->account.did, "/log/last");
    if (url == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "pds: updateHandle %s: reading the last PLC operation",
                   st->account.did);

    return ngx_pds_fetch(ctx, NGX_HTTP_GET, url, NULL, NULL, NULL,
                         ngx_pds_update_handle_last_op);
}


/*
 * A DID that is not did:plc (did:web): its document, fetched fresh, must
 * name the new handle (the reference's resolveAtprotoData check).
 */
static ngx_int_t
ngx_pds_update_handle_doc(ngx_pds_ctx_t *ctx)
{
    ngx_pds_did_t     *doc;
    ngx_pds_handle_t  *st = ctx->data;

    doc = st->doc;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "pds: updateHandle %s: DID document says \"%s\"",
                   st->account.did,
                   doc->status == NGX_PDS_DID_OK && doc->doc.handle
                   ? doc->doc.handle : "");

    if (doc->status != NGX_PDS_DID_OK || doc->doc.handle == NULL
        || ngx_strcmp(doc->doc.handle, st->handle) != 0)
    {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "DID is not properly configured for handle");
    }

    return ngx_pds_txn_post(ctx, ngx_pds_update_handle_txn, st, &st->result,
                            ngx_pds_update_handle_stored);
}


static ngx_int_t
ngx_pds_update_handle_last_op(ngx_pds_ctx_t *ctx)
{
    json_t            *last, *op;
    ngx_pds_handle_t  *st = ctx->data;
    pds_plc_params_t   params;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "pds: updateHandle %s: the last PLC operation answered %ui",
                   st->account.did, ctx->response.status);

    last = ngx_pds_response_json(ctx);
    if (last == NULL) {
        return ngx_pds_upstream_error(ctx, "Reading the DID's last PLC "
                                      "operation");
    }

    ngx_memzero(&params, sizeof(pds_plc_params_t));
    params.handle = st->handle;

    op = ngx_pds_json_track(ctx->request, pds_plc_update_op(last, &params));
    if (op == NULL || pds_plc_sign(op, ctx->conf->rotation_key) != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_plc_send(ctx, st->account.did, op, "handle update",
                            ngx_pds_update_handle_sent);
}


static int
ngx_pds_update_handle_txn(pds_store_t *store, MDB_txn *txn, void *data)
{
    int                rc;
    uint64_t           seq;
    ngx_pds_handle_t  *st = data;

    if (ngx_strcmp(st->account.handle, st->handle) != 0) {
        rc = pds_account_set_handle(store, txn, &st->account, st->handle);
        if (rc != 0) {
            return rc;
        }
    }

    return pds_repo_event_identity(store, txn, st->account.did, st->handle,
                                   &seq);
}


static ngx_int_t
ngx_pds_update_handle_sent(ngx_pds_ctx_t *ctx)
{
    ngx_pds_handle_t  *st = ctx->data;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "pds: updateHandle %s: the PLC directory answered %ui",
                   st->account.did, ctx->response.status);

    if (ctx->response.status != NGX_HTTP_OK) {
        return ngx_pds_upstream_error(ctx, "Sending the handle update to "
                                      "the PLC directory");
    }

    return ngx_pds_txn_post(ctx, ngx_pds_update_handle_txn, st, &st->result,
                            ngx_pds_update_handle_stored);
}


static ngx_int_t
ngx_pds_update_handle_stored(ngx_pds_ctx_t *ctx)
{
    ngx_pds_handle_t  *st = ctx->data;

    if (st->result == PDS_ACCOUNT_HANDLE_TAKEN) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "HandleNotAvailable",
                             "Handle already taken: %s", st->handle);
    }

    if (st->result != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_text(ctx->request, NGX_HTTP_OK, "text/plain", NULL,
                             0);
}


/* ---- reserveSigningKey ------------------------------------------------- */


/*
 * With a DID, the key is kept for it (core/pds_plc_reserve.c) until
 * createAccount makes the account that moves here, and reserving again
 * hands back the same key; the reference keeps it too but its standalone
 * createAccount then makes a fresh one.  Without a DID the key is only
 * handed out: nothing here could use it (no entryway).
 */
typedef struct {
    const char  *did;
    uint8_t      priv[PDS_KEY_PRIV_LEN];
    char         didkey[128];
    ngx_uint_t   existed;
    int          result;
} ngx_pds_reserve_t;


static int
ngx_pds_reserve_txn(pds_store_t *store, MDB_txn *txn, void *data)
{
    int                 rc;
    uint8_t             old[PDS_KEY_PRIV_LEN];
    ngx_pds_reserve_t  *rs = data;

    rc = pds_plc_reserve_get(store, txn, rs->did, old, NULL);
    if (rc == 0) {
        ngx_memcpy(rs->priv, old, sizeof(old));
        OPENSSL_cleanse(old, sizeof(old));
        rs->existed = 1;
        return 0;
    }

    if (rc != PDS_NOTFOUND) {
        return rc;
    }

    return pds_plc_reserve_put(store, txn, rs->did, rs->priv,
                               ngx_pds_now_ms());
}


static ngx_int_t ngx_pds_reserve_answer(ngx_pds_ctx_t *ctx);


static ngx_int_t
ngx_pds_reserve_kept(ngx_pds_ctx_t *ctx)
{
    long                n;
    pds_key_t          *key;
    ngx_pds_reserve_t  *rs = ctx->data;

    if (rs->result != 0) {
        OPENSSL_cleanse(rs->priv, sizeof(rs->priv));
        if (rs->result == EAGAIN) {
            return ngx_pds_error(ctx, NGX_HTTP_TOO_MANY_REQUESTS,
                                 "RateLimitExceeded",
                                 "Too many signing keys are reserved here; "
                                 "try again later");
        }

        return ngx_pds_store_failed(ctx, rs->result);
    }

    if (rs->existed) {
        key = pds_key_from_private(PDS_KEY_K256, rs->priv, sizeof(rs->priv));
        OPENSSL_cleanse(rs->priv, sizeof(rs->priv));
        if (key == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        n = pds_key_did_key(key, rs->didkey, sizeof(rs->didkey) - 1);
        pds_key_free(key);

        if (n < 0) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rs->didkey[n] = '\0';
    }

    return ngx_pds_reserve_answer(ctx);
}


/* com.atproto.server.reserveSigningKey's input */
static const ngx_pds_field_t  ngx_pds_reserve_input[] = {
    { "did", NGX_PDS_V_STRING, NGX_PDS_FMT_DID, 0, 0, 0, 0 },
    { NULL, 0, 0, 0, 0, 0, 0 }
};


static ngx_int_t
ngx_pds_reserve_signing_key(ngx_pds_ctx_t *ctx)
{
    long                n;
    json_t             *v;
    pds_key_t          *key;
    ngx_pds_reserve_t  *rs;

    rs = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_reserve_t));
    if (rs == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = rs;

    if (ngx_pds_check_input(ctx, ctx->body, "$", ngx_pds_reserve_input)
        != NGX_OK)
    {
        return ctx->error.status;
    }

    v = json_object_get(ctx->body, "did");

    if (v && !json_is_null(v)) {
        /* a DID the syntax allows but an LMDB key cannot hold */
        if (!json_is_string(v)
            || json_string_length(v) > PDS_RESERVE_DID_MAX)
        {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "Input/did must be a valid did");
        }

        rs->did = json_string_value(v);
    }

    key = pds_key_generate(PDS_KEY_K256);
    if (key == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = pds_key_did_key(key, rs->didkey, sizeof(rs->didkey) - 1);

    if (n < 0 || (rs->did && pds_key_private_bytes(key, rs->priv) != 0)) {
        pds_key_free(key);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    pds_key_free(key);
    rs->didkey[n] = '\0';

    if (rs->did) {
        return ngx_pds_txn_post(ctx, ngx_pds_reserve_txn, rs, &rs->result,
                                ngx_pds_reserve_kept);
    }

    return ngx_pds_reserve_answer(ctx);
}


static ngx_int_t
ngx_pds_reserve_answer(ngx_pds_ctx_t *ctx)
{
    json_t             *answer;
    ngx_pds_reserve_t  *rs = ctx->data;
    char               *didkey = rs->didkey;

    answer = ngx_pds_json_track(ctx->request,
                                json_pack("{s:s}", "signingKey", didkey));
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
}


/* ---- checkSignupQueue -------------------------------------------------- */


/* no signup queue here (nor an entryway): every account is activated */
static ngx_int_t
ngx_pds_check_signup_queue(ngx_pds_ctx_t *ctx)
{
    json_t  *answer;

    answer = ngx_pds_json_track(ctx->request,
                                json_pack("{s:b}", "activated", 1));
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
}
