/*
 * ngx_pds_module: accounts.
 *
 *   com.atproto.server.createAccount
 *   (and the invite methods of ngx_pds_invite.c, in this table)
 *
 * createAccount runs as a chain of steps: validation on the event loop;
 * scrypt, key generation and signing of the did:plc genesis operation in
 * the thread pool; the operation sent to the PLC directory through nginx;
 * then one LMDB write transaction in the thread pool for the repo, the
 * account, its events, the invite use and the session.  If the store
 * refuses after the DID was registered, the DID is tombstoned.
 *
 * An account that moves here brings its DID ("did" in the input) and a
 * service-auth token from its old PDS (Authorization: Bearer, lxm
 * createAccount, audience our service DID), verified against the signing
 * key the DID document names now (ngx_pds_did.c).  It is created
 * deactivated, with no events and no PLC operation (its DID is not ours
 * until it is pointed here: activateAccount checks that), with the key
 * reserved for the DID (reserveSigningKey) if there is one.
 */

#include "ngx_pds_methods_int.h"
#include "ngx_pds_did.h"
#include "ngx_pds_handle_resolve.h"
#include "ngx_pds_params.h"

#include "pds_hash.h"

#include "pds_jwt.h"
#include "pds_password.h"
#include "pds_plc.h"
#include "pds_plc_reserve.h"


/*
 * The longest DID an account may move here with: it becomes part of LMDB
 * keys (511 bytes at most) with other fields, e.g. refresh token indexes.
 * did:plc is 32 characters; a did:web host name at most 253.
 */
#define NGX_PDS_DID_IN_MAX  256
#include "pds_repo.h"
#include "pds_syntax.h"


#define NGX_PDS_PASSWORD_MAX  256


static ngx_int_t ngx_pds_create_account(ngx_pds_ctx_t *ctx);


const ngx_pds_method_t  ngx_pds_account_methods[] = {

    { ngx_string("com.atproto.server.createInviteCode"), NGX_PDS_PROCEDURE,
      NGX_PDS_AUTH_ADMIN, NGX_PDS_IN_JSON, 0, 0,
      ngx_pds_create_invite_code, NULL },

    { ngx_string("com.atproto.server.createInviteCodes"), NGX_PDS_PROCEDURE,
      NGX_PDS_AUTH_ADMIN, NGX_PDS_IN_JSON, 0, 0,
      ngx_pds_create_invite_codes, NULL },

    { ngx_string("com.atproto.server.getAccountInviteCodes"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_FULL, NGX_PDS_IN_NONE, NGX_PDS_CHECK_TAKEDOWN, 0,
      ngx_pds_get_account_invite_codes, NULL },

    { ngx_string("com.atproto.server.createAccount"), NGX_PDS_PROCEDURE,
      NGX_PDS_AUTH_NONE, NGX_PDS_IN_JSON, 0, 0, ngx_pds_create_account, NULL },

    { ngx_null_string, 0, 0, 0, 0, 0, NULL, NULL }
};


/* ---- createAccount ----------------------------------------------------- */


typedef struct {
    /* input */
    const char         *email;
    const char         *handle;
    const char         *password;
    const char         *invite;
    const char         *recovery_key;
    const char         *did_in;        /* a DID moving here */

    /* the service auth of a move, and what it found */
    ngx_pds_service_auth_t *sa;
    ngx_uint_t          reserved;      /* signing_priv is the reserved key */
    ngx_pds_handle_found_t  found;     /* an external handle's DID */

    /* made in the thread pool */
    char                password_hash[PDS_PASSWORD_HASH_LEN + 1];
    uint8_t             signing_priv[PDS_KEY_PRIV_LEN];
    char                signing_did_key[128];
    char                did[NGX_PDS_DID_IN_MAX + 1];
    json_t             *op;
    int                 failed;

    /* the write */
    const char         *now;
    pds_key_t          *signing_key;
    pds_account_t       account;
    pds_token_t         token;
    pds_repo_write_t    repo;
    char               *access_jwt;
    char               *refresh_jwt;
    int                 result;

    ngx_pds_srv_conf_t *conf;
} ngx_pds_create_t;


static ngx_int_t ngx_pds_create_account_signed(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_create_account_registered(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_create_account_store(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_create_account_stored(ngx_pds_ctx_t *ctx);


static void
ngx_pds_create_cleanup(void *data)
{
    ngx_pds_create_t  *st = data;

    if (st->op) {
        json_decref(st->op);
    }

    if (st->signing_key) {
        pds_key_free(st->signing_key);
    }

    OPENSSL_cleanse(st->signing_priv, sizeof(st->signing_priv));
}


/* a plausible email address: local@domain.tld, no spaces */
static ngx_uint_t
ngx_pds_email_valid(const char *s)
{
    size_t       len;
    const char  *at, *dot, *p;

    len = ngx_strlen(s);
    if (len < 5 || len > 254) {
        return 0;
    }

    at = strchr(s, '@');
    if (at == NULL || at == s || strchr(at + 1, '@') != NULL) {
        return 0;
    }

    for (p = s; *p; p++) {
        if (*p <= ' ' || *p == 0x7f || *p == '<' || *p == '>'
            || *p == '(' || *p == ')' || *p == ',' || *p == ';'
            || *p == '\\' || *p == '"' || *p == '[' || *p == ']')
        {
            return 0;
        }
    }

    dot = strrchr(at, '.');

    return dot != NULL && dot > at + 1 && dot[1] != '\0';
}


static const char *
ngx_pds_body_str(ngx_pds_ctx_t *ctx, const char *name, ngx_int_t *bad)
{
    json_t  *v;

    v = json_object_get(ctx->body, name);

    if (v == NULL || json_is_null(v)) {
        return NULL;
    }

    if (!json_is_string(v)) {
        *bad = 1;
        return NULL;
    }

    return json_string_value(v);
}


static void
ngx_pds_create_work(void *data, ngx_log_t *log)
{
    long               n;
    json_t            *op;
    pds_key_t         *key;
    const char        *rotation[3];
    size_t             nrot;
    ngx_pds_create_t  *st = data;
    pds_plc_params_t   params;

    st->failed = 1;

    if (pds_password_hash(st->password, ngx_strlen(st->password),
                          st->password_hash, sizeof(st->password_hash)) < 0)
    {
        ngx_log_error(NGX_LOG_ERR, log, 0, "pds: password hashing failed");
        return;
    }

    if (st->reserved) {
        key = pds_key_from_private(PDS_KEY_K256, st->signing_priv,
                                   sizeof(st->signing_priv));
        if (key == NULL) {
            return;
        }

    } else {
        key = pds_key_generate(PDS_KEY_K256);
        if (key == NULL
            || pds_key_private_bytes(key, st->signing_priv) != 0)
        {
            pds_key_free(key);
            return;
        }
    }

    n = pds_key_did_key(key, st->signing_did_key,
                        sizeof(st->signing_did_key) - 1);
    pds_key_free(key);

    if (n < 0) {
        return;
    }

    st->signing_did_key[n] = '\0';

    if (st->did_in) {
        /* a DID moving here: no operation of ours */
        st->failed = 0;
        return;
    }

    nrot = 0;

    if (st->recovery_key) {
        rotation[nrot++] = st->recovery_key;
    }

    if (st->conf->recovery_did_key.len) {
        rotation[nrot++] = (char *) st->conf->recovery_did_key.data;
    }

    rotation[nrot++] = (char *) st->conf->rotation_did_key.data;

    params.rotation_keys = rotation;
    params.n_rotation_keys = nrot;
    params.signing_key = st->signing_did_key;
    params.handle = st->handle;
    params.pds_endpoint = (char *) st->conf->public_url.data;

    op = pds_plc_op_new(&params, NULL);
    if (op == NULL) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "pds: cannot build the did:plc operation");
        return;
    }

    if (pds_plc_sign(op, st->conf->rotation_key) != 0
        || pds_plc_did(op, st->did) != 0)
    {
        json_decref(op);
        return;
    }

    st->op = op;
    st->failed = 0;
}


static const ngx_pds_field_t  ngx_pds_create_handle_input[] = {
    { "handle", NGX_PDS_V_STRING, NGX_PDS_FMT_HANDLE, NGX_PDS_F_REQUIRED,
      0, 0, 0 },
    { NULL, 0, 0, 0, 0, 0, 0 }
};


/*
 * The input of createAccount, checked in the reference's order: NGX_OK,
 * or the refusal's status (recorded).
 */
static ngx_int_t
ngx_pds_create_account_input(ngx_pds_ctx_t *ctx, ngx_pds_create_t *st)
{
    ngx_int_t  bad, rc;

    /* the handle's shape first: its syntax is the Lexicon's to refuse */
    rc = ngx_pds_check_input(ctx, ctx->body, "$",
                             ngx_pds_create_handle_input);
    if (rc != NGX_OK) {
        return rc;
    }

    bad = 0;
    st->email = ngx_pds_body_str(ctx, "email", &bad);
    st->handle = ngx_pds_body_str(ctx, "handle", &bad);
    st->password = ngx_pds_body_str(ctx, "password", &bad);
    st->invite = ngx_pds_body_str(ctx, "inviteCode", &bad);
    st->recovery_key = ngx_pds_body_str(ctx, "recoveryKey", &bad);

    if (bad) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Input has a property of the wrong type");
    }

    if (st->handle == NULL) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Input must have the property \"handle\"");
    }

    if (json_object_get(ctx->body, "plcOp")) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Unsupported input: \"plcOp\"");
    }

    st->did_in = ngx_pds_body_str(ctx, "did", &bad);

    if (bad || (st->did_in
                && (ngx_strlen(st->did_in) > NGX_PDS_DID_IN_MAX
                    || !pds_did_valid(st->did_in, ngx_strlen(st->did_in)))))
    {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Input/did must be a valid did");
    }

    if (st->password && ngx_strlen(st->password) > NGX_PDS_PASSWORD_MAX) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Password too long. Maximum length is 256 "
                             "characters.");
    }

    if (ctx->conf->invite_required && st->invite == NULL) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidInviteCode",
                             "No invite code provided");
    }

    if (st->email == NULL) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Email is required");
    }

    if (!ngx_pds_email_valid(st->email)) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "This email address is not supported, please "
                             "use a different email.");
    }

    if (st->password == NULL || st->password[0] == '\0') {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Password is required");
    }

    if (st->recovery_key
        && ngx_strncmp(st->recovery_key, "did:key:", 8) != 0)
    {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Invalid recovery key: it must be a did:key");
    }

    return NGX_OK;
}


/*
 * The reference's answer when the account cannot be made: its handle or
 * email is taken, or the invite is used up (PDS_ACCOUNT_* codes), or the
 * store failed.
 */
static ngx_int_t
ngx_pds_create_account_refused(ngx_pds_ctx_t *ctx, ngx_pds_create_t *st,
    int rc)
{
    switch (rc) {

    case PDS_ACCOUNT_HANDLE_TAKEN:
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Handle already taken: %s", st->handle);

    case PDS_ACCOUNT_EMAIL_TAKEN:
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Email already taken: %s", st->email);

    case PDS_ACCOUNT_UNAVAILABLE:
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidInviteCode",
                             "Provided invite code not available");

    case PDS_ACCOUNT_DID_TAKEN:
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "AlreadyExists",
                             "Repo already exists");

    default:
        return ngx_pds_store_failed(ctx, rc);
    }
}


/*
 * The invite, the handle and the email, read on the loop (the write
 * checks again): NGX_OK, or the refusal's status.
 */
static ngx_int_t
ngx_pds_create_account_available(ngx_pds_ctx_t *ctx, ngx_pds_create_t *st)
{
    int            rc;
    MDB_txn       *txn;
    uint64_t       uid;
    pds_store_t   *store;
    pds_invite_t   inv;

    txn = ngx_pds_read_txn(ctx);
    if (txn == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    store = ctx->conf->env->store;

    if (ctx->conf->invite_required) {
        rc = pds_invite_check(store, txn, st->invite, &ctx->alloc, &inv);

        if (rc != 0) {
            return ngx_pds_create_account_refused(ctx, st,
                                                  PDS_ACCOUNT_UNAVAILABLE);
        }
    }

    if (pds_account_uid_by_handle(store, txn, st->handle, &uid) == 0) {
        return ngx_pds_create_account_refused(ctx, st,
                                              PDS_ACCOUNT_HANDLE_TAKEN);
    }

    if (pds_account_uid_by_email(store, txn, st->email, &uid) == 0) {
        return ngx_pds_create_account_refused(ctx, st,
                                              PDS_ACCOUNT_EMAIL_TAKEN);
    }

    ngx_pds_read_done(ctx);

    return NGX_OK;
}


static ngx_int_t ngx_pds_create_account_checks(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_create_account_resolved(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_create_account_go(ngx_pds_ctx_t *ctx);


static ngx_int_t
ngx_pds_create_account(ngx_pds_ctx_t *ctx)
{
    ngx_str_t           *v;
    ngx_pds_create_t    *st;
    ngx_pool_cleanup_t  *cln;
    ngx_http_request_t  *r = ctx->request;

    st = ngx_pcalloc(r->pool, sizeof(ngx_pds_create_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (st == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_pds_create_cleanup;
    cln->data = st;
    st->conf = ctx->conf;
    ctx->data = st;

    if (r->headers_in.authorization == NULL) {
        return ngx_pds_create_account_checks(ctx);
    }

    /* the reference's optional service auth: a Bearer token or nothing */

    v = &r->headers_in.authorization->value;

    if (v->len <= 7 || ngx_strncasecmp(v->data, (u_char *) "Bearer ", 7) != 0)
    {
        return ngx_pds_error(ctx, NGX_HTTP_UNAUTHORIZED,
                             "AuthenticationRequired",
                             "Invalid authorization header");
    }

    st->sa = ngx_pcalloc(r->pool, sizeof(ngx_pds_service_auth_t));
    if (st->sa == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_did_service_auth(ctx, (char *) v->data + 7, v->len - 7,
                                    "com.atproto.server.createAccount",
                                    st->sa, ngx_pds_create_account_checks);
}


/*
 * A DID moving here (after the checks every account passes): the caller
 * is its service-auth issuer, it is not here yet; its reserved key, if
 * any.  NGX_OK, or the refusal's status.
 */
static ngx_int_t
ngx_pds_create_account_moving(ngx_pds_ctx_t *ctx, ngx_pds_create_t *st)
{
    int           rc;
    MDB_txn      *txn;
    uint64_t      uid;
    pds_store_t  *store;

    if (st->sa == NULL || ngx_strcmp(st->sa->claims.iss, st->did_in) != 0) {
        return ngx_pds_error(ctx, NGX_HTTP_UNAUTHORIZED,
                             "AuthenticationRequired",
                             "Missing auth to create account with did: %s",
                             st->did_in);
    }

    txn = ngx_pds_read_txn(ctx);
    if (txn == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    store = ctx->conf->env->store;

    if (pds_store_uid_get(store, txn, st->did_in, ngx_strlen(st->did_in),
                          &uid)
        == 0)
    {
        ngx_pds_read_done(ctx);
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "AlreadyExists",
                             "Repo already exists");
    }

    rc = pds_plc_reserve_get(store, txn, st->did_in, st->signing_priv, NULL);
    ngx_pds_read_done(ctx);

    if (rc == 0) {
        st->reserved = 1;

    } else if (rc != PDS_NOTFOUND) {
        return ngx_pds_store_failed(ctx, rc);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_pds_create_account_checks(ngx_pds_ctx_t *ctx)
{
    char                *handle;
    size_t               len;
    ngx_int_t            rc;
    ngx_pds_create_t    *st = ctx->data;
    ngx_http_request_t  *r = ctx->request;

    rc = ngx_pds_create_account_input(ctx, st);
    if (rc != NGX_OK) {
        return rc;
    }

    /* the handle policy lower-cases a copy in place */

    len = ngx_strlen(st->handle);

    handle = ngx_pnalloc(r->pool, len + 1);
    if (handle == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_cpystrn((u_char *) handle, (u_char *) st->handle, len + 1);

    if (st->did_in
        && pds_handle_normalize(handle, len + 1, handle, len) == (long) len
        && !ngx_pds_is_service_handle(ctx->conf, handle, len))
    {
        /*
         * An account moving here with a domain of its own as its handle
         * (the reference's normalizeAndValidateHandle with a DID): an
         * allowed TLD, then the domain must resolve to that DID now.
         */
        if (pds_handle_is_reserved_tld(handle, len)) {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidHandle",
                                 "Handle TLD is invalid or disallowed");
        }

        st->handle = handle;

        return ngx_pds_handle_resolve(ctx, handle, 1, &st->found,
                                      ngx_pds_create_account_resolved);
    }

    rc = ngx_pds_check_new_handle(ctx, handle);
    if (rc != NGX_OK) {
        return rc;
    }

    st->handle = handle;

    return ngx_pds_create_account_go(ctx);
}


/* an external handle of a DID moving here: it must name that DID */
static ngx_int_t
ngx_pds_create_account_resolved(ngx_pds_ctx_t *ctx)
{
    ngx_pds_create_t  *st = ctx->data;

    if (st->found.did == NULL || ngx_strcmp(st->found.did, st->did_in) != 0) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "External handle did not resolve to DID");
    }

    return ngx_pds_create_account_go(ctx);
}


/* the handle is acceptable: the invite, what is taken, a move's auth */
static ngx_int_t
ngx_pds_create_account_go(ngx_pds_ctx_t *ctx)
{
    ngx_int_t            rc;
    ngx_pds_create_t    *st = ctx->data;
    ngx_http_request_t  *r = ctx->request;

    rc = ngx_pds_create_account_available(ctx, st);
    if (rc != NGX_OK) {
        return rc;
    }

    if (st->did_in) {
        rc = ngx_pds_create_account_moving(ctx, st);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "pds: createAccount %s: scrypt, signing key and genesis "
                   "operation posted", st->handle);

    return ngx_pds_thread_post(ctx, ngx_pds_create_work, st,
                               ngx_pds_create_account_signed);
}


static ngx_int_t
ngx_pds_create_account_signed(ngx_pds_ctx_t *ctx)
{
    ngx_pds_create_t  *st = ctx->data;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "pds: createAccount %s: scrypt and genesis operation "
                   "done%s", st->handle, st->failed ? ": failed" : "");

    if (st->failed) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (st->did_in) {
        ngx_memcpy(st->did, st->did_in, ngx_strlen(st->did_in) + 1);
        return ngx_pds_create_account_store(ctx);
    }

    return ngx_pds_plc_send(ctx, st->did, st->op, "genesis",
                            ngx_pds_create_account_registered);
}


static int
ngx_pds_create_txn(pds_store_t *store, MDB_txn *txn, void *data)
{
    int                rc;
    uint64_t           uid, seq;
    ngx_pds_create_t  *st = data;

    if (st->did_in) {
        /* moving here: deactivated, silent until activateAccount */
        rc = pds_repo_create_quiet(store, txn, st->did, ngx_strlen(st->did),
                                   st->signing_key, &uid, &st->repo);
        if (rc != 0) {
            return rc == PDS_REPO_EEXISTS ? PDS_ACCOUNT_DID_TAKEN : rc;
        }

        rc = pds_plc_reserve_delete(store, txn, st->did);
        if (rc != 0) {
            return rc;
        }

        goto account;
    }

    rc = pds_repo_event_identity(store, txn, st->did, st->handle, &seq);
    if (rc != 0) {
        return rc;
    }

    rc = pds_repo_event_account(store, txn, st->did, 1, NULL, &seq);
    if (rc != 0) {
        return rc;
    }

    rc = pds_repo_create(store, txn, st->did, ngx_strlen(st->did),
                         st->signing_key, &uid, &st->repo);
    if (rc != 0) {
        return rc == PDS_REPO_EEXISTS ? PDS_ACCOUNT_DID_TAKEN : rc;
    }

account:

    rc = pds_account_insert(store, txn, &st->account);
    if (rc != 0) {
        return rc;
    }

    if (st->invite) {
        rc = pds_invite_use(store, txn, st->invite, st->did, st->now);
        if (rc != 0) {
            return rc == PDS_NOTFOUND ? PDS_ACCOUNT_UNAVAILABLE : rc;
        }
    }

    return pds_token_put(store, txn, &st->token);
}


/* the session of the new account, minted now and stored with it */
static ngx_int_t
ngx_pds_create_account_session(ngx_pds_ctx_t *ctx, ngx_pds_create_t *st)
{
    u_char              *p;
    char                 jti[PDS_JWT_REFRESH_ID_LEN + 1];
    int64_t              now;
    const char          *aud;
    ngx_pds_srv_conf_t  *conf = ctx->conf;

    if (pds_jwt_refresh_id(jti) != 0) {
        return NGX_ERROR;
    }

    now = (int64_t) ngx_time();
    aud = (char *) conf->service_did.data;

    st->access_jwt = pds_jwt_session_mint(&ctx->alloc, PDS_JWT_ACCESS,
                                          conf->jwt_secret.data,
                                          conf->jwt_secret.len,
                                          PDS_JWT_SCOPE_ACCESS, aud, st->did,
                                          NULL, now,
                                          now + PDS_JWT_ACCESS_TTL);
    st->refresh_jwt = pds_jwt_session_mint(&ctx->alloc, PDS_JWT_REFRESH,
                                           conf->jwt_secret.data,
                                           conf->jwt_secret.len,
                                           PDS_JWT_SCOPE_REFRESH, aud,
                                           st->did, jti, now,
                                           now + PDS_JWT_REFRESH_TTL);
    if (st->access_jwt == NULL || st->refresh_jwt == NULL) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(ctx->request->pool, sizeof(jti));
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, jti, sizeof(jti));
    st->token.id = (char *) p;
    st->token.did = st->did;
    st->token.expires_at = now + PDS_JWT_REFRESH_TTL;

    return NGX_OK;
}


static ngx_int_t
ngx_pds_create_account_registered(ngx_pds_ctx_t *ctx)
{
    ngx_pds_create_t    *st = ctx->data;
    ngx_http_request_t  *r = ctx->request;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "pds: createAccount %s: the PLC directory answered %ui",
                   st->did, ctx->response.status);

    if (ctx->response.status != NGX_HTTP_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pds: the PLC directory refused %s: %ui %V", st->did,
                      ctx->response.status, &ctx->response.body);

        if (ctx->response.status >= 400 && ctx->response.status < 500) {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_GATEWAY,
                                 "UpstreamFailure",
                                 "The PLC directory refused the new DID");
        }

        return ngx_pds_upstream_error(ctx, "Registering the DID at the PLC "
                                      "directory");
    }

    return ngx_pds_create_account_store(ctx);
}


static ngx_int_t
ngx_pds_create_account_store(ngx_pds_ctx_t *ctx)
{
    ngx_pds_create_t    *st = ctx->data;
    ngx_http_request_t  *r = ctx->request;

    st->now = ngx_pds_iso_now(r->pool);
    st->signing_key = pds_key_from_private(PDS_KEY_K256, st->signing_priv,
                                           sizeof(st->signing_priv));
    if (st->now == NULL || st->signing_key == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st->account.did = st->did;
    st->account.handle = st->handle;
    st->account.email = st->email;
    st->account.password_scrypt = st->password_hash;
    st->account.created_at = st->now;
    st->account.invited_by = st->invite;
    st->account.signing_key = st->signing_priv;
    st->account.signing_key_len = sizeof(st->signing_priv);
    st->account.deactivated_at = st->did_in ? st->now : NULL;

    if (ngx_pds_create_account_session(ctx, st) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* a new account adds rows, a repo and events: refused when full */
    return ngx_pds_txn_post_adding(ctx, ngx_pds_create_txn, st, 64 * 1024,
                                   &st->result,
                                   ngx_pds_create_account_stored);
}


/* the DID document the PLC directory now serves for the new account */
static json_t *
ngx_pds_create_did_doc(ngx_pds_ctx_t *ctx, ngx_pds_create_t *st)
{
    u_char  *p;
    char    *at, id[PDS_PLC_DID_LEN + 16];
    json_t  *doc, *vm;

    at = ngx_pds_at_uri(ctx->request->pool, st->handle, NULL, 0, NULL, 0);
    if (at == NULL) {
        return NULL;
    }

    doc = json_pack("{s:[s,s,s], s:s, s:[s], s:[{s:s, s:s, s:s, s:s}], "
                    "s:[{s:s, s:s, s:s%}]}",
                    "@context", "https://www.w3.org/ns/did/v1",
                    "https://w3id.org/security/multikey/v1",
                    "https://w3id.org/security/suites/secp256k1-2019/v1",
                    "id", st->did,
                    "alsoKnownAs", at,
                    "verificationMethod",
                    "id", "#atproto", "type", "Multikey",
                    "controller", st->did,
                    "publicKeyMultibase", st->signing_did_key + 8,
                    "service",
                    "id", "#atproto_pds",
                    "type", "AtprotoPersonalDataServer",
                    "serviceEndpoint", st->conf->public_url.data,
                    st->conf->public_url.len);

    if (doc) {
        /* the directory writes the verification method id in full */
        vm = json_array_get(json_object_get(doc, "verificationMethod"), 0);

        p = ngx_snprintf((u_char *) id, sizeof(id) - 1, "%s#atproto",
                         st->did);
        *p = '\0';

        json_object_set_new(vm, "id", json_string(id));
    }

    return doc;
}


static ngx_int_t ngx_pds_create_account_tombstoned(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_create_account_answer(ngx_pds_ctx_t *ctx);


static ngx_int_t
ngx_pds_create_account_stored(ngx_pds_ctx_t *ctx)
{
    json_t              *tomb;
    ngx_pds_create_t    *st = ctx->data;
    ngx_http_request_t  *r = ctx->request;

    if (st->result == 0) {
        return ngx_pds_create_account_answer(ctx);
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "pds: storing the new account %s failed (%d): "
                  "tombstoning the DID", st->did, st->result);

    if (st->op == NULL) {
        /* a DID that moves here is not ours to tombstone */
        return ngx_pds_create_account_answer(ctx);
    }

    /* undo the registration, then answer the error */

    tomb = ngx_pds_json_track(r, pds_plc_tombstone_new(st->op));
    if (tomb == NULL || pds_plc_sign(tomb, ctx->conf->rotation_key) != 0) {
        return ngx_pds_create_account_answer(ctx);
    }

    return ngx_pds_plc_send(ctx, st->did, tomb, "tombstone",
                            ngx_pds_create_account_tombstoned);
}


static ngx_int_t
ngx_pds_create_account_tombstoned(ngx_pds_ctx_t *ctx)
{
    ngx_pds_create_t  *st = ctx->data;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "pds: createAccount %s: the PLC directory answered the "
                   "tombstone: %ui", st->did, ctx->response.status);

    return ngx_pds_create_account_answer(ctx);
}


static ngx_int_t
ngx_pds_create_account_answer(ngx_pds_ctx_t *ctx)
{
    json_t            *answer, *doc;
    ngx_pds_create_t  *st = ctx->data;

    if (st->result != 0) {
        return ngx_pds_create_account_refused(ctx, st, st->result);
    }

    /* a DID that moved here: its document as fetched for the token */
    doc = st->did_in ? json_incref(st->sa->did.json)
                     : ngx_pds_create_did_doc(ctx, st);

    answer = ngx_pds_json_track(ctx->request,
                                json_pack("{s:s, s:s, s:o*, s:s, s:s}",
                                          "handle", st->handle,
                                          "did", st->did,
                                          "didDoc", doc,
                                          "accessJwt", st->access_jwt,
                                          "refreshJwt", st->refresh_jwt));
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
}
