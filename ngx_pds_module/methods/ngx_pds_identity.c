/*
 * ngx_pds_module: identity.
 *
 *   com.atproto.identity.resolveHandle / getRecommendedDidCredentials /
 *   updateHandle, com.atproto.repo.describeRepo,
 *   com.atproto.server.checkAccountStatus / reserveSigningKey, and
 *   GET /.well-known/atproto-did (the handle from the Host header).
 *
 * DID documents and PLC operations come from the PLC directory through
 * nginx (ngx_pds_fetch.c); nothing here blocks the event loop.
 */

#include "ngx_pds.h"
#include "ngx_pds_methods.h"

#include "pds_plc.h"
#include "pds_repo.h"
#include "pds_syntax.h"


static ngx_int_t ngx_pds_resolve_handle(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_recommended_credentials(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_update_handle(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_describe_repo(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_check_account_status(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_reserve_signing_key(ngx_pds_ctx_t *ctx);


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

    { ngx_null_string, 0, 0, 0, 0, 0, NULL, NULL }
};


static ngx_int_t
ngx_pds_bad(ngx_pds_ctx_t *ctx, const char *error, const char *fmt,
    const char *arg)
{
    u_char  *p, msg[512];

    p = ngx_snprintf(msg, sizeof(msg) - 1, fmt, arg);
    *p = '\0';

    return ngx_pds_send_error(ctx->request, NGX_HTTP_BAD_REQUEST,
                              error ? error : "InvalidRequest", (char *) msg);
}


/* 1 if handle is under one of the tenant's domains (or is one of them) */
static ngx_uint_t
ngx_pds_is_service_handle(ngx_pds_srv_conf_t *conf, const char *handle,
    size_t len)
{
    ngx_str_t   *d;
    ngx_uint_t   i;

    d = conf->handle_domains->elts;

    for (i = 0; i < conf->handle_domains->nelts; i++) {
        if (len > d[i].len
            && ngx_strncasecmp((u_char *) handle + len - d[i].len, d[i].data,
                               d[i].len)
               == 0)
        {
            return 1;
        }

        if (len == d[i].len - 1
            && ngx_strncasecmp((u_char *) handle, d[i].data + 1, len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


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
    ctx->conf = ngx_http_get_module_srv_conf(r, ngx_pds_module);
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


static ngx_int_t
ngx_pds_resolve_handle_remote(ngx_pds_ctx_t *ctx)
{
    u_char     *p, *last;
    json_t     *answer;
    ngx_str_t  *b = &ctx->response.body;

    if (ctx->response.status == NGX_HTTP_OK && b->len > 8 && b->len < 2048) {
        p = b->data;
        last = b->data + b->len;

        while (last > p && (last[-1] == '\n' || last[-1] == '\r'
                            || last[-1] == ' '))
        {
            last--;
        }

        if (pds_did_valid((char *) p, last - p)) {
            answer = ngx_pds_json_track(ctx->request,
                                        json_pack("{s:s%}", "did", p,
                                                  (size_t) (last - p)));
            if (answer == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
        }
    }

    return ngx_pds_bad(ctx, NULL, "Unable to resolve handle%s", "");
}


static ngx_int_t
ngx_pds_resolve_handle(ngx_pds_ctx_t *ctx)
{
    int             rc;
    char           *handle;
    json_t         *answer;
    ngx_str_t       v, url;
    pds_account_t   acc;

    if (ngx_pds_arg(ctx->request, "handle", &v) != NGX_OK) {
        return ngx_pds_bad(ctx, NULL, "Params must have the property "
                           "\"handle\"%s", "");
    }

    handle = (char *) v.data;

    if (pds_handle_normalize(handle, v.len + 1, handle, v.len) < 0) {
        return ngx_pds_bad(ctx, NULL, "handle must be a valid handle%s", "");
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
        return ngx_pds_bad(ctx, "HandleNotFound",
                           "Unable to resolve handle%s", "");
    }

    /* another server's handle: its HTTPS well-known document */

    url.len = sizeof("https://") - 1 + v.len
              + sizeof("/.well-known/atproto-did") - 1;
    url.data = ngx_pnalloc(ctx->request->pool, url.len);
    if (url.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf(url.data, "https://%s/.well-known/atproto-did", handle);

    return ngx_pds_fetch(ctx, NGX_HTTP_GET, &url, NULL, NULL, NULL,
                         ngx_pds_resolve_handle_remote);
}


/* ---- getRecommendedDidCredentials -------------------------------------- */


/* the account of the session, its signing did:key into didkey */
static int
ngx_pds_session_account(ngx_pds_ctx_t *ctx, pds_account_t *acc,
    char *didkey, size_t cap)
{
    int         rc;
    long        n;
    MDB_txn    *txn;
    pds_key_t  *key;

    txn = ngx_pds_read_txn(ctx);
    if (txn == NULL) {
        return -1;
    }

    rc = pds_account_get_by_did(ctx->conf->env->store, txn, ctx->auth.did,
                                &ctx->alloc, acc);
    if (rc != 0) {
        return rc;
    }

    if (didkey == NULL) {
        return 0;
    }

    key = pds_key_from_private(PDS_KEY_K256, acc->signing_key,
                               acc->signing_key_len);
    if (key == NULL) {
        return -1;
    }

    n = pds_key_did_key(key, didkey, cap - 1);
    pds_key_free(key);

    if (n < 0) {
        return -1;
    }

    didkey[n] = '\0';

    return 0;
}


static ngx_int_t
ngx_pds_recommended_credentials(ngx_pds_ctx_t *ctx)
{
    int             rc;
    char            didkey[128], at[300];
    json_t         *answer, *rot;
    pds_account_t   acc;

    rc = ngx_pds_session_account(ctx, &acc, didkey, sizeof(didkey));
    ngx_pds_read_done(ctx);

    if (rc == PDS_NOTFOUND) {
        return ngx_pds_bad(ctx, NULL, "Account not found%s", "");
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

    ngx_snprintf((u_char *) at, sizeof(at) - 1, "at://%s%Z", acc.handle);

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


typedef struct {
    char            *handle;
    pds_account_t    account;
    ngx_str_t        op_text;
    int              result;
} ngx_pds_handle_t;


static ngx_int_t ngx_pds_update_handle_last_op(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_update_handle_sent(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_update_handle_stored(ngx_pds_ctx_t *ctx);


static ngx_str_t *
ngx_pds_plc_url(ngx_pds_ctx_t *ctx, const char *did, const char *suffix)
{
    ngx_str_t  *url;

    url = ngx_palloc(ctx->request->pool, sizeof(ngx_str_t));
    if (url == NULL) {
        return NULL;
    }

    url->data = ngx_pnalloc(ctx->request->pool, ctx->conf->plc_url.len
                            + ngx_strlen(did) + ngx_strlen(suffix) + 2);
    if (url->data == NULL) {
        return NULL;
    }

    url->len = ngx_sprintf(url->data, "%V/%s%s", &ctx->conf->plc_url, did,
                           suffix)
               - url->data;

    return url;
}


static ngx_int_t
ngx_pds_update_handle(ngx_pds_ctx_t *ctx)
{
    int                rc;
    size_t             len;
    json_t            *v;
    uint64_t           uid;
    ngx_str_t         *url;
    ngx_pds_handle_t  *st;

    v = json_object_get(ctx->body, "handle");
    if (!json_is_string(v)) {
        return ngx_pds_bad(ctx, NULL, "Input must have the property "
                           "\"handle\"%s", "");
    }

    st = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_handle_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = st;

    len = json_string_length(v);
    st->handle = ngx_pnalloc(ctx->request->pool, len + 1);
    if (st->handle == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (pds_handle_normalize(st->handle, len + 1, json_string_value(v), len)
        < 0)
    {
        return ngx_pds_bad(ctx, "InvalidHandle", "Invalid handle%s", "");
    }

    st->handle[len] = '\0';

    if (!ngx_pds_is_service_handle(ctx->conf, st->handle, len)) {
        /* an own domain must already point at the DID: not supported yet */
        return ngx_pds_bad(ctx, NULL, "External handle did not resolve "
                           "to DID%s", "");
    }

    /* the same rules as at sign-up: length, reserved names, TLD */
    if (ngx_pds_check_new_handle(ctx, st->handle) != NGX_OK) {
        return ctx->sent_rc;
    }

    rc = ngx_pds_session_account(ctx, &st->account, NULL, 0);

    if (rc == PDS_NOTFOUND) {
        return ngx_pds_bad(ctx, NULL, "Account not found%s", "");
    }

    if (rc != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = pds_account_uid_by_handle(ctx->conf->env->store, ctx->rtxn,
                                   st->handle, &uid);
    ngx_pds_read_done(ctx);

    if (rc == 0 && uid != st->account.uid) {
        return ngx_pds_bad(ctx, "HandleNotAvailable",
                           "Handle already taken: %s", st->handle);
    }

    if (ngx_strncmp(st->account.did, "did:plc:", 8) != 0) {
        return ngx_pds_bad(ctx, NULL, "DID is not properly configured for "
                           "handle%s", "");
    }

    url = ngx_pds_plc_url(ctx, st->account.did, "/log/last");
    if (url == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_fetch(ctx, NGX_HTTP_GET, url, NULL, NULL, NULL,
                         ngx_pds_update_handle_last_op);
}


static ngx_int_t
ngx_pds_update_handle_last_op(ngx_pds_ctx_t *ctx)
{
    json_t            *last, *op;
    ngx_str_t         *url, ct;
    json_error_t       err;
    ngx_pds_handle_t  *st = ctx->data;
    pds_plc_params_t   params;

    if (ctx->response.status != NGX_HTTP_OK) {
        return ngx_pds_upstream_error(ctx, "Reading the DID's last PLC "
                                      "operation");
    }

    last = json_loadb((char *) ctx->response.body.data,
                      ctx->response.body.len, 0, &err);
    if (ngx_pds_json_track(ctx->request, last) == NULL) {
        return ngx_pds_upstream_error(ctx, "Reading the DID's last PLC "
                                      "operation");
    }

    ngx_memzero(&params, sizeof(pds_plc_params_t));
    params.handle = st->handle;

    op = ngx_pds_json_track(ctx->request, pds_plc_update_op(last, &params));
    if (op == NULL || pds_plc_sign(op, ctx->conf->rotation_key) != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st->op_text.len = json_dumpb(op, NULL, 0, JSON_COMPACT);
    st->op_text.data = ngx_pnalloc(ctx->request->pool, st->op_text.len);
    if (st->op_text.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_dumpb(op, (char *) st->op_text.data, st->op_text.len, JSON_COMPACT);

    url = ngx_pds_plc_url(ctx, st->account.did, "");
    if (url == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&ct, "application/json");

    return ngx_pds_fetch(ctx, NGX_HTTP_POST, url, &ct, &st->op_text, NULL,
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
        return ngx_pds_bad(ctx, "HandleNotAvailable",
                           "Handle already taken: %s", st->handle);
    }

    if (st->result != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_text(ctx->request, NGX_HTTP_OK, "text/plain", NULL,
                             0);
}


/* ---- describeRepo ------------------------------------------------------ */


typedef struct {
    pds_account_t    account;
    json_t          *collections;
} ngx_pds_describe_t;


static int
ngx_pds_describe_collection(void *data, const char *name, size_t len)
{
    json_t  *list = data;

    return json_array_append_new(list, json_stringn(name, len));
}




static ngx_int_t
ngx_pds_describe_repo_doc(ngx_pds_ctx_t *ctx)
{
    json_t              *doc, *aka, *answer;
    const char          *first;
    json_error_t         err;
    ngx_uint_t           correct;
    ngx_pds_describe_t  *st = ctx->data;

    doc = NULL;

    if (ctx->response.status == NGX_HTTP_OK) {
        doc = ngx_pds_json_track(ctx->request,
                                 json_loadb((char *) ctx->response.body.data,
                                            ctx->response.body.len, 0,
                                            &err));
    }

    if (doc == NULL) {
        return ngx_pds_bad(ctx, NULL, "Could not resolve DID: %s",
                           st->account.did);
    }

    correct = 0;
    aka = json_object_get(doc, "alsoKnownAs");
    first = json_string_value(json_array_get(aka, 0));

    if (first && ngx_strncmp(first, "at://", 5) == 0
        && ngx_strcmp(first + 5, st->account.handle) == 0)
    {
        correct = 1;
    }

    answer = ngx_pds_json_track(ctx->request,
                                json_pack("{s:s, s:s, s:O, s:O, s:b}",
                                          "handle", st->account.handle,
                                          "did", st->account.did,
                                          "didDoc", doc,
                                          "collections", st->collections,
                                          "handleIsCorrect", correct));
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
}


static ngx_int_t
ngx_pds_describe_repo(ngx_pds_ctx_t *ctx)
{
    ngx_str_t           *url;
    ngx_pds_describe_t  *st;

    st = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_describe_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = st;

    if (ngx_pds_repo_account(ctx, "repo", &st->account, 0) != NGX_OK) {
        return ctx->sent_rc;
    }

    st->collections = ngx_pds_json_track(ctx->request, json_array());
    if (st->collections == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (pds_repo_list_collections(ctx->conf->env->store, ctx->rtxn,
                                  st->account.uid,
                                  ngx_pds_describe_collection,
                                  st->collections)
        < 0)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_pds_read_done(ctx);

    if (ngx_strncmp(st->account.did, "did:plc:", 8) == 0) {
        url = ngx_pds_plc_url(ctx, st->account.did, "");

    } else if (ngx_strncmp(st->account.did, "did:web:", 8) == 0) {
        url = ngx_palloc(ctx->request->pool, sizeof(ngx_str_t));
        if (url) {
            url->data = ngx_pnalloc(ctx->request->pool,
                                    ngx_strlen(st->account.did) + 40);
            if (url->data == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
            url->len = ngx_sprintf(url->data, "https://%s/.well-known/did.json",
                                   st->account.did + 8)
                       - url->data;
        }

    } else {
        return ngx_pds_bad(ctx, NULL, "Could not resolve DID: %s",
                           st->account.did);
    }

    if (url == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_fetch(ctx, NGX_HTTP_GET, url, NULL, NULL, NULL,
                         ngx_pds_describe_repo_doc);
}


/* ---- checkAccountStatus ------------------------------------------------ */


typedef struct {
    pds_account_t       account;
    char                didkey[128];
    pds_repo_root_t     root;
    uint64_t            blocks;
    uint64_t            records;
    uint64_t            expected_blobs;
    uint64_t            imported_blobs;
} ngx_pds_status_t;


static ngx_int_t
ngx_pds_check_account_status_data(ngx_pds_ctx_t *ctx)
{
    char               commit[PDS_CID_STR_SIZE];
    json_t            *data, *answer, *rot;
    size_t             i;
    json_error_t       err;
    const char        *endpoint, *atproto;
    ngx_uint_t         valid, rotation;
    ngx_pds_status_t  *st = ctx->data;

    valid = 0;

    if (ctx->response.status == NGX_HTTP_OK) {
        data = ngx_pds_json_track(ctx->request,
                                  json_loadb((char *) ctx->response.body.data,
                                             ctx->response.body.len, 0,
                                             &err));

        endpoint = json_string_value(json_object_get(
                       json_object_get(json_object_get(data, "services"),
                                       "atproto_pds"), "endpoint"));
        atproto = json_string_value(json_object_get(
                       json_object_get(data, "verificationMethods"),
                       "atproto"));
        rot = json_object_get(data, "rotationKeys");

        rotation = 0;
        for (i = 0; i < json_array_size(rot); i++) {
            const char  *k = json_string_value(json_array_get(rot, i));

            if (k && ngx_strcmp(k, ctx->conf->rotation_did_key.data) == 0) {
                rotation = 1;
            }
        }

        valid = rotation && endpoint && atproto
                && ngx_strcmp(endpoint, ctx->conf->public_url.data) == 0
                && ngx_strcmp(atproto, st->didkey) == 0;
    }

    pds_cid_format(&st->root.commit, commit);

    answer = ngx_pds_json_track(ctx->request,
                json_pack("{s:b, s:b, s:s, s:s, s:I, s:I, s:i, s:i, s:i}",
                          "activated", st->account.deactivated_at == NULL,
                          "validDid", valid,
                          "repoCommit", commit,
                          "repoRev", st->root.rev,
                          "repoBlocks", (json_int_t) st->blocks,
                          "indexedRecords", (json_int_t) st->records,
                          "privateStateValues", 0,
                          "expectedBlobs", (int) st->expected_blobs,
                          "importedBlobs", (int) st->imported_blobs));
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
}


static ngx_int_t
ngx_pds_check_account_status(ngx_pds_ctx_t *ctx)
{
    int                rc;
    ngx_str_t         *url;
    ngx_pds_status_t  *st;

    st = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_status_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = st;

    rc = ngx_pds_session_account(ctx, &st->account, st->didkey,
                                 sizeof(st->didkey));
    if (rc == PDS_NOTFOUND) {
        return ngx_pds_bad(ctx, NULL, "Account not found%s", "");
    }

    if (rc != 0
        || pds_repo_get_root(ctx->conf->env->store, ctx->rtxn,
                             st->account.uid, &st->root)
           != 0)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    {
        uint8_t       uid[PDS_UID_LEN];
        pds_store_t  *store = ctx->conf->env->store;

        pds_store_put_u64(uid, st->account.uid);

        /* blobs are counted once blob storage exists (issue: records) */
        if (pds_store_count_prefix(ctx->rtxn, store->db_blocks, uid,
                                   sizeof(uid), &st->blocks) != 0
            || pds_store_count_prefix(ctx->rtxn, store->db_records, uid,
                                      sizeof(uid), &st->records) != 0
            || pds_store_count_prefix(ctx->rtxn, store->db_blob_refs, uid,
                                      sizeof(uid), &st->expected_blobs) != 0
            || pds_store_count_prefix(ctx->rtxn, store->db_blobs, uid,
                                      sizeof(uid), &st->imported_blobs) != 0)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    ngx_pds_read_done(ctx);

    url = ngx_pds_plc_url(ctx, st->account.did, "/data");
    if (url == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_fetch(ctx, NGX_HTTP_GET, url, NULL, NULL, NULL,
                         ngx_pds_check_account_status_data);
}


/* ---- reserveSigningKey ------------------------------------------------- */


static ngx_int_t
ngx_pds_reserve_signing_key(ngx_pds_ctx_t *ctx)
{
    long        n;
    char        didkey[128];
    json_t     *answer;
    pds_key_t  *key;

    /*
     * The key is only handed out: standalone createAccount makes a fresh
     * one, as the reference does, so nothing needs to be kept here.
     */
    key = pds_key_generate(PDS_KEY_K256);
    if (key == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = pds_key_did_key(key, didkey, sizeof(didkey) - 1);
    pds_key_free(key);

    if (n < 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    didkey[n] = '\0';

    answer = ngx_pds_json_track(ctx->request,
                                json_pack("{s:s}", "signingKey", didkey));
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
}
