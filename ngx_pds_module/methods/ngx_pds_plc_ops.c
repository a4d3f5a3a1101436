
/*
 * ngx_pds_module: did:plc operations for an account moving away or here.
 *
 *   com.atproto.identity.requestPlcOperationSignature
 *       mails a token (15 minutes, one use, "XXXXX-XXXXX") to the
 *       account's address, in one write transaction with its outbox row
 *   com.atproto.identity.signPlcOperation
 *       with that token (checked and used up in one write transaction,
 *       before anything else, as the reference): the DID's last operation
 *       from the PLC directory, the requested changes (rotationKeys,
 *       alsoKnownAs, verificationMethods, services, each replacing the
 *       previous value as a whole) on top, signed with the tenant's
 *       rotation key; the operation is answered, not sent
 *   com.atproto.identity.submitPlcOperation
 *       an operation signed elsewhere (by the old PDS) that points the
 *       account here: the tenant's rotation key among its rotationKeys, its
 *       #atproto_pds service ours, verificationMethods.atproto the
 *       account's signing key, alsoKnownAs[0] its handle; then sent to the
 *       PLC directory and an #identity event appended
 *
 * Unlike the reference, signPlcOperation refuses changes that do not make
 * a valid operation (pds_plc_update_op_json checks the keys), and a PLC
 * directory that refuses an operation is answered 400 with its reason.
 */

#include "ngx_pds_methods_int.h"
#include "ngx_pds_mail.h"
#include "ngx_pds_mailed.h"

#include "pds_plc.h"
#include "pds_repo.h"


static ngx_int_t ngx_pds_request_plc_signature(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_sign_plc_operation(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_submit_plc_operation(ngx_pds_ctx_t *ctx);


const ngx_pds_method_t  ngx_pds_plc_ops_methods[] = {

    { ngx_string("com.atproto.identity.requestPlcOperationSignature"),
      NGX_PDS_PROCEDURE, NGX_PDS_AUTH_FULL, NGX_PDS_IN_NONE,
      NGX_PDS_ALLOW_TAKENDOWN, 0, ngx_pds_request_plc_signature, NULL },

    { ngx_string("com.atproto.identity.signPlcOperation"),
      NGX_PDS_PROCEDURE, NGX_PDS_AUTH_FULL, NGX_PDS_IN_JSON,
      NGX_PDS_ALLOW_TAKENDOWN, 0, ngx_pds_sign_plc_operation, NULL },

    { ngx_string("com.atproto.identity.submitPlcOperation"),
      NGX_PDS_PROCEDURE, NGX_PDS_AUTH_ACCESS, NGX_PDS_IN_JSON, 0, 0,
      ngx_pds_submit_plc_operation, NULL },

    { ngx_null_string, 0, 0, 0, 0, 0, NULL, NULL }
};


#define NGX_PDS_PLC_GONE     1300         /* no such account */
#define NGX_PDS_PLC_NOMAIL   1301         /* the account has no address */


typedef struct {
    const char           *did;
    const char           *token;
    const char           *handle;        /* submit: the account's */
    json_t               *changes;       /* sign: the requested fields */
    json_t               *op;
    char                  didkey[128];   /* submit: the account's key */
    int                   result;
} ngx_pds_plc_op_t;


static ngx_pds_plc_op_t *
ngx_pds_plc_op_state(ngx_pds_ctx_t *ctx)
{
    ngx_pds_plc_op_t  *st;

    st = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_plc_op_t));
    if (st) {
        st->did = ctx->auth.did;
        ctx->data = st;
    }

    return st;
}


/* the uid (and address) of st->did in a write transaction */
static int
ngx_pds_plc_op_account(pds_store_t *store, MDB_txn *txn,
    ngx_pds_plc_op_t *st, ngx_pds_mailed_t *m, pds_alloc_t *a)
{
    int             rc;
    pds_account_t   acc;

    rc = pds_account_get_by_did(store, txn, st->did, a, &acc);

    if (rc == PDS_NOTFOUND) {
        rc = NGX_PDS_PLC_GONE;

    } else if (rc == 0 && m->to == NULL && acc.email == NULL) {
        rc = NGX_PDS_PLC_NOMAIL;

    } else if (rc == 0) {
        m->uid = acc.uid;

        if (m->to == NULL) {
            /* requestPlcOperationSignature: mail it now, in this arena */
            m->to = acc.email;
            m->did = acc.did;
            rc = ngx_pds_mailed_token(store, txn, m);
            m->to = NULL;
        }
    }

    return rc;
}


/* ---- requestPlcOperationSignature -------------------------------------- */


static int
ngx_pds_request_plc_txn(pds_store_t *store, MDB_txn *txn, void *data,
    pds_alloc_t *a)
{
    ngx_pds_mailed_t   m;
    ngx_pds_plc_op_t  *st = data;

    ngx_memzero(&m, sizeof(ngx_pds_mailed_t));
    m.purpose = PDS_TOKEN_PLC_OPERATION;
    m.subject = "PLC Update Operation Requested";
    m.intro = "Someone asked to change your account's DID document (the "
              "record that says which server holds your account and which "
              "keys speak for it), as moving to another server does. To "
              "sign the change, enter this code (valid for 15 minutes):";
    m.outro = "If you did not ask for this, ignore this mail and change "
              "your password: without the code nothing is signed.";

    return ngx_pds_plc_op_account(store, txn, st, &m, a);
}


static ngx_int_t
ngx_pds_request_plc_done(ngx_pds_ctx_t *ctx)
{
    ngx_pds_plc_op_t  *st = ctx->data;

    switch (st->result) {

    case 0:
        ngx_pds_mail_wake(ctx->conf);
        return ngx_pds_send_text(ctx->request, NGX_HTTP_OK, "text/plain",
                                 NULL, 0);

    case NGX_PDS_PLC_GONE:
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "account not found");

    case NGX_PDS_PLC_NOMAIL:
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "account does not have an email address");

    default:
        return ngx_pds_store_failed(ctx, st->result);
    }
}


static ngx_int_t
ngx_pds_request_plc_signature(ngx_pds_ctx_t *ctx)
{
    ngx_pds_plc_op_t  *st;

    st = ngx_pds_plc_op_state(ctx);
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_txn_post_alloc(ctx, ngx_pds_request_plc_txn, st,
                                  &st->result, ngx_pds_request_plc_done);
}


/* ---- signPlcOperation -------------------------------------------------- */


static ngx_int_t ngx_pds_sign_plc_last_op(ngx_pds_ctx_t *ctx);


/* the token checked and used up, in one write transaction */
static int
ngx_pds_sign_plc_txn(pds_store_t *store, MDB_txn *txn, void *data,
    pds_alloc_t *a)
{
    int                rc;
    ngx_pds_mailed_t   m;
    ngx_pds_plc_op_t  *st = data;

    ngx_memzero(&m, sizeof(ngx_pds_mailed_t));
    m.to = "";                            /* no mail: find the uid only */

    rc = ngx_pds_plc_op_account(store, txn, st, &m, a);
    if (rc != 0) {
        return rc;
    }

    rc = pds_email_token_check(store, txn, m.uid, PDS_TOKEN_PLC_OPERATION,
                               st->token, ngx_strlen(st->token),
                               ngx_pds_now_ms());
    if (rc != 0) {
        return rc;
    }

    return pds_email_token_delete(store, txn, m.uid, PDS_TOKEN_PLC_OPERATION);
}


static ngx_int_t
ngx_pds_sign_plc_checked(ngx_pds_ctx_t *ctx)
{
    ngx_str_t         *url;
    ngx_pds_plc_op_t  *st = ctx->data;

    if (st->result == NGX_PDS_PLC_GONE) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "account not found");
    }

    if (ngx_pds_token_bad(st->result)) {
        return ngx_pds_token_refused(ctx, st->result);
    }

    if (st->result != 0) {
        return ngx_pds_store_failed(ctx, st->result);
    }

    url = ngx_pds_plc_url(ctx, st->did, "/log/last");
    if (url == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_fetch(ctx, NGX_HTTP_GET, url, NULL, NULL, NULL,
                         ngx_pds_sign_plc_last_op);
}


static ngx_int_t
ngx_pds_sign_plc_last_op(ngx_pds_ctx_t *ctx)
{
    json_t            *last, *op, *answer;
    const char        *type;
    ngx_pds_plc_op_t  *st = ctx->data;

    last = ngx_pds_response_json(ctx);
    if (last == NULL) {
        return ngx_pds_upstream_error(ctx, "Reading the DID's last PLC "
                                      "operation");
    }

    type = json_string_value(json_object_get(last, "type"));

    if (type && ngx_strcmp(type, "plc_tombstone") == 0) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Did is tombstoned");
    }

    op = ngx_pds_json_track(ctx->request,
                            pds_plc_update_op_json(last, st->changes));
    if (op == NULL) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "The requested changes do not make a valid PLC "
                             "operation");
    }

    if (pds_plc_sign(op, ctx->conf->rotation_key) != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    answer = ngx_pds_json_track(ctx->request,
                                json_pack("{s:O}", "operation", op));
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
}


/* the input's fields of signPlcOperation, with the Lexicon's types */
static ngx_int_t
ngx_pds_sign_plc_input(ngx_pds_ctx_t *ctx, ngx_pds_plc_op_t *st)
{
    size_t       i, j;
    json_t      *v, *e;
    const char  *arrays[] = { "rotationKeys", "alsoKnownAs" };
    const char  *objects[] = { "verificationMethods", "services" };

    v = json_object_get(ctx->body, "token");

    if (v && !json_is_null(v) && !json_is_string(v)) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Input/token must be a string");
    }

    st->changes = ngx_pds_json_track(ctx->request, json_object());
    if (st->changes == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < 2; i++) {
        v = json_object_get(ctx->body, arrays[i]);
        if (v == NULL) {
            continue;
        }

        if (!json_is_array(v)) {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "Input/%s must be an array", arrays[i]);
        }

        for (j = 0; j < json_array_size(v); j++) {
            e = json_array_get(v, j);
            if (!json_is_string(e)) {
                return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST,
                                     "InvalidRequest",
                                     "Input/%s/%uz must be a string",
                                     arrays[i], j);
            }
        }

        json_object_set(st->changes, arrays[i], v);
    }

    for (i = 0; i < 2; i++) {
        v = json_object_get(ctx->body, objects[i]);
        if (v == NULL) {
            continue;
        }

        if (!json_is_object(v)) {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "Input/%s must be an object", objects[i]);
        }

        json_object_set(st->changes, objects[i], v);
    }

    v = json_object_get(ctx->body, "token");

    if (!json_is_string(v) || json_string_length(v) == 0) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "email confirmation token required to sign "
                             "PLC operations");
    }

    st->token = json_string_value(v);

    return NGX_OK;
}


static ngx_int_t
ngx_pds_sign_plc_operation(ngx_pds_ctx_t *ctx)
{
    ngx_int_t          rc;
    ngx_pds_plc_op_t  *st;

    st = ngx_pds_plc_op_state(ctx);
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_pds_sign_plc_input(ctx, st);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_strncmp(st->did, "did:plc:", 8) != 0) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "The account's DID is not a did:plc");
    }

    return ngx_pds_txn_post_alloc(ctx, ngx_pds_sign_plc_txn, st,
                                  &st->result, ngx_pds_sign_plc_checked);
}


/* ---- submitPlcOperation ------------------------------------------------ */


static ngx_int_t ngx_pds_submit_plc_sent(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_submit_plc_done(ngx_pds_ctx_t *ctx);


/* an array of strings */
static ngx_uint_t
ngx_pds_plc_strings(json_t *v)
{
    size_t  i;

    if (!json_is_array(v)) {
        return 0;
    }

    for (i = 0; i < json_array_size(v); i++) {
        if (!json_is_string(json_array_get(v, i))) {
            return 0;
        }
    }

    return 1;
}


/* the shape of a plc_operation (@did-plc/lib's def.operation) */
static ngx_uint_t
ngx_pds_plc_op_shape(json_t *op)
{
    json_t      *vm, *svc, *v, *prev;
    const char  *k, *type;

    type = json_string_value(json_object_get(op, "type"));
    vm = json_object_get(op, "verificationMethods");
    svc = json_object_get(op, "services");
    prev = json_object_get(op, "prev");

    if (!json_is_object(op) || type == NULL
        || ngx_strcmp(type, "plc_operation") != 0
        || !ngx_pds_plc_strings(json_object_get(op, "rotationKeys"))
        || !ngx_pds_plc_strings(json_object_get(op, "alsoKnownAs"))
        || !json_is_object(vm) || !json_is_object(svc)
        || prev == NULL || !(json_is_null(prev) || json_is_string(prev))
        || !json_is_string(json_object_get(op, "sig")))
    {
        return 0;
    }

    json_object_foreach(vm, k, v) {
        if (!json_is_string(v)) {
            return 0;
        }
    }

    json_object_foreach(svc, k, v) {
        if (!json_is_object(v)
            || !json_is_string(json_object_get(v, "type"))
            || !json_is_string(json_object_get(v, "endpoint")))
        {
            return 0;
        }
    }

    return 1;
}


/* the reference's checks of an operation that points the account here */
static ngx_int_t
ngx_pds_submit_plc_check(ngx_pds_ctx_t *ctx, ngx_pds_plc_op_t *st)
{
    size_t       i;
    json_t      *rot, *pds;
    const char  *s, *aka;
    ngx_uint_t   ours;

    rot = json_object_get(st->op, "rotationKeys");
    ours = 0;

    for (i = 0; i < json_array_size(rot); i++) {
        s = json_string_value(json_array_get(rot, i));
        if (ngx_strcmp(s, ctx->conf->rotation_did_key.data) == 0) {
            ours = 1;
        }
    }

    if (!ours) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Rotation keys do not include server's "
                             "rotation key");
    }

    pds = json_object_get(json_object_get(st->op, "services"),
                          "atproto_pds");

    s = json_string_value(json_object_get(pds, "type"));
    if (s == NULL || ngx_strcmp(s, "AtprotoPersonalDataServer") != 0) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Incorrect type on atproto_pds service");
    }

    s = json_string_value(json_object_get(pds, "endpoint"));
    if (s == NULL || ngx_strcmp(s, ctx->conf->public_url.data) != 0) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Incorrect endpoint on atproto_pds service");
    }

    s = json_string_value(json_object_get(
            json_object_get(st->op, "verificationMethods"), "atproto"));
    if (s == NULL || ngx_strcmp(s, st->didkey) != 0) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Incorrect signing key");
    }

    if (st->handle) {
        aka = json_string_value(json_array_get(
                  json_object_get(st->op, "alsoKnownAs"), 0));

        if (aka == NULL || ngx_strncmp(aka, "at://", 5) != 0
            || ngx_strcmp(aka + 5, st->handle) != 0)
        {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "Incorrect handle in alsoKnownAs");
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_pds_submit_plc_operation(ngx_pds_ctx_t *ctx)
{
    int                rc;
    size_t             n;
    char              *handle;
    json_t            *op;
    ngx_int_t          nrc;
    pds_account_t      acc;
    ngx_pds_plc_op_t  *st;

    st = ngx_pds_plc_op_state(ctx);
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    op = json_object_get(ctx->body, "operation");
    if (op == NULL || json_is_null(op)) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Input must have the property \"operation\"");
    }

    if (!ngx_pds_plc_op_shape(op)) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Invalid operation");
    }

    st->op = op;

    rc = ngx_pds_session_account(ctx, &acc, st->didkey, sizeof(st->didkey));

    if (rc == 0 && acc.handle) {
        n = ngx_strlen(acc.handle);
        handle = ngx_pnalloc(ctx->request->pool, n + 1);
        if (handle == NULL) {
            ngx_pds_read_done(ctx);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(handle, acc.handle, n + 1);
        st->handle = handle;
    }

    ngx_pds_read_done(ctx);

    if (rc == PDS_NOTFOUND) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Account not found");
    }

    if (rc != 0) {
        return ngx_pds_store_failed(ctx, rc);
    }

    nrc = ngx_pds_submit_plc_check(ctx, st);
    if (nrc != NGX_OK) {
        return nrc;
    }

    if (ngx_strncmp(st->did, "did:plc:", 8) != 0) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "The account's DID is not a did:plc");
    }

    return ngx_pds_plc_send(ctx, st->did, op, "submitted",
                            ngx_pds_submit_plc_sent);
}


static int
ngx_pds_submit_plc_txn(pds_store_t *store, MDB_txn *txn, void *data)
{
    ngx_pds_plc_op_t  *st = data;

    /* the reference's #identity of a PLC change carries no handle */
    return pds_repo_event_identity(store, txn, st->did, NULL, NULL);
}


static ngx_int_t
ngx_pds_submit_plc_sent(ngx_pds_ctx_t *ctx)
{
    u_char            *p, *last;
    ngx_pds_plc_op_t  *st = ctx->data;

    if (ctx->response.status >= 400 && ctx->response.status < 500) {
        /* its reason, made printable: {"message": "..."} or the text */
        p = ctx->response.body.data;
        last = p + ngx_min(ctx->response.body.len, 300);

        ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                      "pds: the PLC directory refused an operation for %s: "
                      "%ui %*s", st->did, ctx->response.status,
                      (size_t) (last - p), p);

        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "The PLC directory refused the operation: %*s",
                             (size_t) (last - p), p);
    }

    if (ctx->response.status != NGX_HTTP_OK) {
        return ngx_pds_upstream_error(ctx, "Sending the operation to the "
                                      "PLC directory");
    }

    return ngx_pds_txn_post(ctx, ngx_pds_submit_plc_txn, st, &st->result,
                            ngx_pds_submit_plc_done);
}


static ngx_int_t
ngx_pds_submit_plc_done(ngx_pds_ctx_t *ctx)
{
    ngx_pds_plc_op_t  *st = ctx->data;

    if (st->result != 0) {
        return ngx_pds_store_failed(ctx, st->result);
    }

    return ngx_pds_send_text(ctx->request, NGX_HTTP_OK, "text/plain", NULL,
                             0);
}
