/*
 * ngx_pds_module: sessions and app passwords.
 *
 *   com.atproto.server.createSession / refreshSession / getSession /
 *   deleteSession, createAppPassword / listAppPasswords / revokeAppPassword
 *
 * Password checks (scrypt, tens of ms) run in the thread pool; token rows
 * are written in one LMDB transaction there too.
 */

#include "ngx_pds.h"
#include "ngx_pds_methods.h"

#include "pds_jwt.h"
#include "pds_password.h"
#include "pds_syntax.h"


#define NGX_PDS_LOGIN_PASSWORD_MAX  512
#define NGX_PDS_LOGIN_MIN_MSEC      350     /* as the reference: no timing
                                               hints about accounts */
#define NGX_PDS_REFRESH_GRACE       (2 * 60 * 60)


static ngx_int_t ngx_pds_create_session(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_refresh_session(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_get_session(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_delete_session(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_create_app_password(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_list_app_passwords(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_revoke_app_password(ngx_pds_ctx_t *ctx);


const ngx_pds_method_t  ngx_pds_session_methods[] = {

    { ngx_string("com.atproto.server.createSession"), NGX_PDS_PROCEDURE,
      NGX_PDS_AUTH_NONE, NGX_PDS_IN_JSON, 0, 0, ngx_pds_create_session, NULL },

    { ngx_string("com.atproto.server.refreshSession"), NGX_PDS_PROCEDURE,
      NGX_PDS_AUTH_REFRESH, NGX_PDS_IN_NONE, 0, 0,
      ngx_pds_refresh_session, NULL },

    { ngx_string("com.atproto.server.getSession"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_ACCESS, NGX_PDS_IN_NONE, NGX_PDS_ALLOW_SIGNUP_QUEUED, 0,
      ngx_pds_get_session, NULL },

    { ngx_string("com.atproto.server.deleteSession"), NGX_PDS_PROCEDURE,
      NGX_PDS_AUTH_REFRESH_ANY, NGX_PDS_IN_NONE, 0, 0,
      ngx_pds_delete_session, NULL },

    { ngx_string("com.atproto.server.createAppPassword"), NGX_PDS_PROCEDURE,
      NGX_PDS_AUTH_FULL, NGX_PDS_IN_JSON, NGX_PDS_CHECK_TAKEDOWN, 0,
      ngx_pds_create_app_password, NULL },

    { ngx_string("com.atproto.server.listAppPasswords"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_ACCESS, NGX_PDS_IN_NONE, 0, 0,
      ngx_pds_list_app_passwords, NULL },

    { ngx_string("com.atproto.server.revokeAppPassword"), NGX_PDS_PROCEDURE,
      NGX_PDS_AUTH_ACCESS, NGX_PDS_IN_JSON, 0, 0,
      ngx_pds_revoke_app_password, NULL },

    { ngx_null_string, 0, 0, 0, 0, 0, NULL, NULL }
};


typedef struct {
    /* the login */
    const char            *identifier;
    const char            *password;
    ngx_uint_t             allow_takendown;
    pds_account_t          account;
    pds_app_password_t    *app_passwords;
    size_t                 napp_passwords;

    /* the outcome of the password check (thread) */
    ngx_int_t              matched;           /* 0 none, 1 account, 2 app */
    const char            *app_password_name;
    ngx_uint_t             privileged;

    ngx_msec_t             started;          /* createSession only */

    /* tokens and their rows */
    const char            *scope;
    char                  *access_jwt;
    char                  *refresh_jwt;
    char                   jti[PDS_JWT_REFRESH_ID_LEN + 1];
    pds_token_t            token;
    pds_token_t            old;               /* refresh: the rotated one */
    ngx_uint_t             store_token;
    int                    result;
} ngx_pds_login_t;


static ngx_int_t
ngx_pds_session_invalid_login_now(ngx_pds_ctx_t *ctx)
{
    return ngx_pds_send_error(ctx->request, NGX_HTTP_UNAUTHORIZED,
                              "AuthenticationRequired",
                              "Invalid identifier or password");
}


/*
 * A login answers after at least NGX_PDS_LOGIN_MIN_MSEC whatever the
 * outcome (the reference pads the same way), waiting on a timer.
 */
static ngx_int_t
ngx_pds_login_padded(ngx_pds_ctx_t *ctx, ngx_int_t (*answer)(ngx_pds_ctx_t *))
{
    ngx_msec_t        elapsed;
    ngx_pds_login_t  *st = ctx->data;

    elapsed = ngx_current_msec - st->started;

    if (elapsed >= NGX_PDS_LOGIN_MIN_MSEC) {
        return answer(ctx);
    }

    return ngx_pds_delay(ctx, NGX_PDS_LOGIN_MIN_MSEC - elapsed, answer);
}


static ngx_int_t
ngx_pds_session_invalid_login(ngx_pds_ctx_t *ctx)
{
    return ngx_pds_login_padded(ctx, ngx_pds_session_invalid_login_now);
}


/* {did, handle, email?, emailConfirmed, active, status?} into obj */
static void
ngx_pds_session_account(json_t *obj, const pds_account_t *acc)
{
    json_object_set_new(obj, "did", json_string(acc->did));
    json_object_set_new(obj, "handle",
                        json_string(acc->handle ? acc->handle
                                                : PDS_HANDLE_INVALID));

    if (acc->email) {
        json_object_set_new(obj, "email", json_string(acc->email));
    }

    json_object_set_new(obj, "emailConfirmed",
                        json_boolean(acc->email_confirmed_at != NULL));

    if (acc->takedown_ref) {
        json_object_set_new(obj, "active", json_false());
        json_object_set_new(obj, "status", json_string("takendown"));

    } else if (acc->deactivated_at) {
        json_object_set_new(obj, "active", json_false());
        json_object_set_new(obj, "status", json_string("deactivated"));

    } else {
        json_object_set_new(obj, "active", json_true());
    }
}


/*
 * Mints an access token of scope st->scope and a refresh token with id
 * jti (new unless given) for st->account; fills st->token for storing.
 */
static ngx_int_t
ngx_pds_session_mint(ngx_pds_ctx_t *ctx, ngx_pds_login_t *st,
    const char *jti)
{
    int64_t              now;
    const char          *aud;
    const uint8_t       *secret;
    ngx_pds_srv_conf_t  *conf = ctx->conf;

    if (jti) {
        ngx_cpystrn((u_char *) st->jti, (u_char *) jti, sizeof(st->jti));

    } else if (pds_jwt_refresh_id(st->jti) != 0) {
        return NGX_ERROR;
    }

    now = (int64_t) ngx_time();
    secret = conf->jwt_secret.data;
    aud = (char *) conf->service_did.data;

    st->access_jwt = pds_jwt_session_mint(&ctx->alloc, PDS_JWT_ACCESS,
                                          secret, conf->jwt_secret.len,
                                          st->scope, aud, st->account.did,
                                          NULL, now,
                                          now + PDS_JWT_ACCESS_TTL);
    st->refresh_jwt = pds_jwt_session_mint(&ctx->alloc, PDS_JWT_REFRESH,
                                           secret, conf->jwt_secret.len,
                                           PDS_JWT_SCOPE_REFRESH, aud,
                                           st->account.did, st->jti, now,
                                           now + PDS_JWT_REFRESH_TTL);

    if (st->access_jwt == NULL || st->refresh_jwt == NULL) {
        return NGX_ERROR;
    }

    st->token.id = st->jti;
    st->token.did = st->account.did;
    st->token.app_password_name = st->app_password_name;
    st->token.expires_at = now + PDS_JWT_REFRESH_TTL;
    st->token.next_id = NULL;

    return NGX_OK;
}


static ngx_int_t
ngx_pds_session_answer(ngx_pds_ctx_t *ctx, ngx_pds_login_t *st)
{
    json_t  *answer;

    answer = ngx_pds_json_track(ctx->request, json_object());
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_object_set_new(answer, "accessJwt", json_string(st->access_jwt));
    json_object_set_new(answer, "refreshJwt", json_string(st->refresh_jwt));
    ngx_pds_session_account(answer, &st->account);

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
}


/* ---- createSession ----------------------------------------------------- */


static ngx_int_t
ngx_pds_takedown_now(ngx_pds_ctx_t *ctx)
{
    return ngx_pds_send_error(ctx->request, NGX_HTTP_UNAUTHORIZED,
                              "AccountTakedown",
                              "Account has been taken down");
}


static void
ngx_pds_login_work(void *data, ngx_log_t *log)
{
    size_t            i, len;
    char              hash[PDS_PASSWORD_HASH_LEN + 1];
    ngx_pds_login_t  *st = data;

    len = ngx_strlen(st->password);

    if (st->account.password_scrypt
        && pds_password_verify(st->password, len, st->account.password_scrypt,
                               ngx_strlen(st->account.password_scrypt))
           == 1)
    {
        st->matched = 1;
        return;
    }

    if (st->account.takedown_ref || st->napp_passwords == 0) {
        return;
    }

    if (pds_app_password_hash(st->account.did, ngx_strlen(st->account.did),
                              st->password, len, hash, sizeof(hash))
        < 0)
    {
        return;
    }

    for (i = 0; i < st->napp_passwords; i++) {
        if (st->app_passwords[i].password_scrypt
            && ngx_strcmp(st->app_passwords[i].password_scrypt, hash) == 0)
        {
            st->matched = 2;
            st->app_password_name = st->app_passwords[i].name;
            st->privileged = st->app_passwords[i].privileged;
            return;
        }
    }
}


static int
ngx_pds_token_txn(pds_store_t *store, MDB_txn *txn, void *data)
{
    int               rc;
    ngx_pds_login_t  *st = data;

    if (st->old.id) {
        rc = pds_token_put(store, txn, &st->old);
        if (rc != 0) {
            return rc;
        }
    }

    return pds_token_put(store, txn, &st->token);
}


static ngx_int_t
ngx_pds_session_answer_now(ngx_pds_ctx_t *ctx)
{
    return ngx_pds_session_answer(ctx, ctx->data);
}


static ngx_int_t
ngx_pds_create_session_stored(ngx_pds_ctx_t *ctx)
{
    ngx_pds_login_t  *st = ctx->data;

    if (st->result != 0) {
        ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                      "pds: storing a session failed: %d", st->result);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (st->started) {
        return ngx_pds_login_padded(ctx, ngx_pds_session_answer_now);
    }

    return ngx_pds_session_answer(ctx, st);
}


static ngx_int_t
ngx_pds_create_session_checked(ngx_pds_ctx_t *ctx)
{
    ngx_pds_login_t  *st = ctx->data;

    if (!st->matched) {
        return ngx_pds_session_invalid_login(ctx);
    }

    if (st->account.takedown_ref) {
        if (!st->allow_takendown) {
            return ngx_pds_login_padded(ctx, ngx_pds_takedown_now);
        }

        st->scope = PDS_JWT_SCOPE_TAKENDOWN;

    } else if (st->matched == 2) {
        st->scope = st->privileged ? PDS_JWT_SCOPE_APP_PASS_PRIV
                                   : PDS_JWT_SCOPE_APP_PASS;

    } else {
        st->scope = PDS_JWT_SCOPE_ACCESS;
    }

    if (ngx_pds_session_mint(ctx, st, NULL) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* a taken-down session cannot be refreshed: its token is not kept */
    if (st->account.takedown_ref) {
        return ngx_pds_login_padded(ctx, ngx_pds_session_answer_now);
    }

    return ngx_pds_txn_post(ctx, ngx_pds_token_txn, st, &st->result,
                            ngx_pds_create_session_stored);
}


static ngx_int_t
ngx_pds_create_session(ngx_pds_ctx_t *ctx)
{
    int                  rc;
    char                *id, *p;
    size_t               len;
    json_t              *v;
    MDB_txn             *txn;
    uint64_t             uid;
    pds_store_t         *store;
    ngx_pds_login_t     *st;

    st = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_login_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = st;
    st->started = ngx_current_msec;

    v = json_object_get(ctx->body, "identifier");
    if (!json_is_string(v)) {
        return ngx_pds_send_error(ctx->request, NGX_HTTP_BAD_REQUEST,
                                  "InvalidRequest", "Input must have the "
                                  "property \"identifier\"");
    }
    st->identifier = json_string_value(v);

    v = json_object_get(ctx->body, "password");
    if (!json_is_string(v)) {
        return ngx_pds_send_error(ctx->request, NGX_HTTP_BAD_REQUEST,
                                  "InvalidRequest", "Input must have the "
                                  "property \"password\"");
    }
    st->password = json_string_value(v);

    st->allow_takendown = json_is_true(json_object_get(ctx->body,
                                                       "allowTakendown"));

    if (ngx_strlen(st->password) > NGX_PDS_LOGIN_PASSWORD_MAX) {
        return ngx_pds_send_error(ctx->request, NGX_HTTP_UNAUTHORIZED,
                                  "AuthenticationRequired",
                                  "Password too long. Consider resetting "
                                  "your password.");
    }

    /* the identifier in lower case: an email, a DID or a handle */

    len = ngx_strlen(st->identifier);
    id = ngx_pnalloc(ctx->request->pool, len + 1);
    if (id == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_strlow((u_char *) id, (u_char *) st->identifier, len + 1);

    store = ngx_pds_store(ctx->request, ctx->conf);
    txn = ngx_pds_read_txn(ctx);
    if (store == NULL || txn == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = strchr(id, '@');

    if (p) {
        rc = pds_account_uid_by_email(store, txn, id, &uid);

    } else if (pds_did_valid(id, len)) {
        rc = pds_store_uid_get(store, txn, id, len, &uid);
        rc = (rc == 0) ? 0 : PDS_NOTFOUND;

    } else if (pds_handle_valid(id, len)) {
        rc = pds_account_uid_by_handle(store, txn, id, &uid);

    } else {
        rc = PDS_NOTFOUND;
    }

    if (rc == 0) {
        rc = pds_account_get(store, txn, uid, &ctx->alloc, &st->account);
    }

    if (rc == PDS_NOTFOUND) {
        ngx_pds_read_done(ctx);
        return ngx_pds_session_invalid_login(ctx);
    }

    if (rc != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = pds_app_password_list(store, txn, st->account.did, &ctx->alloc,
                               &st->app_passwords, &st->napp_passwords);
    if (rc != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_pds_read_done(ctx);

    return ngx_pds_thread_post(ctx, ngx_pds_login_work, st,
                               ngx_pds_create_session_checked);
}


/* ---- refreshSession ---------------------------------------------------- */


static ngx_int_t
ngx_pds_refresh_session(ngx_pds_ctx_t *ctx)
{
    int                  rc;
    int64_t              now, grace = 0;
    MDB_txn             *txn;
    u_char               msg[300];
    pds_store_t         *store;
    ngx_pds_login_t     *st;

    st = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_login_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = st;

    store = ngx_pds_store(ctx->request, ctx->conf);
    txn = ngx_pds_read_txn(ctx);
    if (store == NULL || txn == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = pds_account_get_by_did(store, txn, ctx->auth.did, &ctx->alloc,
                                &st->account);

    if (rc == PDS_NOTFOUND) {
        ngx_snprintf(msg, sizeof(msg) - 1, "Could not find user info for "
                     "account: %s%Z", ctx->auth.did);
        return ngx_pds_send_error(ctx->request, NGX_HTTP_BAD_REQUEST,
                                  "InvalidRequest", (char *) msg);
    }

    if (rc != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (st->account.takedown_ref) {
        return ngx_pds_send_error(ctx->request, NGX_HTTP_UNAUTHORIZED,
                                  "AccountTakedown",
                                  "Account has been taken down");
    }

    rc = pds_token_get(store, txn, ctx->auth.jti, &ctx->alloc, &st->old);

    now = (int64_t) ngx_time();

    if (rc == 0) {
        /* the old token lives on for a grace period, never extended */
        grace = now + NGX_PDS_REFRESH_GRACE;
        if (st->old.expires_at < grace) {
            grace = st->old.expires_at;
        }

        if (grace <= now || ngx_strcmp(st->old.did, st->account.did) != 0) {
            rc = PDS_NOTFOUND;
        }
    }

    if (rc == PDS_NOTFOUND) {
        ngx_pds_read_done(ctx);
        return ngx_pds_send_error(ctx->request, NGX_HTTP_BAD_REQUEST,
                                  "ExpiredToken", "Token has been revoked");
    }

    if (rc != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_pds_read_done(ctx);

    st->app_password_name = st->old.app_password_name;

    if (st->app_password_name) {
        /* the scope carries over: privileged or not, as when issued */
        st->scope = PDS_JWT_SCOPE_APP_PASS;

        if (ngx_pds_read_txn(ctx)) {
            pds_app_password_t  *aps;
            size_t               n, i;

            if (pds_app_password_list(store, ctx->rtxn, st->account.did,
                                      &ctx->alloc, &aps, &n) == 0)
            {
                for (i = 0; i < n; i++) {
                    if (ngx_strcmp(aps[i].name, st->app_password_name) == 0
                        && aps[i].privileged)
                    {
                        st->scope = PDS_JWT_SCOPE_APP_PASS_PRIV;
                    }
                }
            }

            ngx_pds_read_done(ctx);
        }

    } else {
        st->scope = PDS_JWT_SCOPE_ACCESS;
    }

    if (ngx_pds_session_mint(ctx, st, st->old.next_id) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st->old.expires_at = grace;
    st->old.next_id = st->jti;

    return ngx_pds_txn_post(ctx, ngx_pds_token_txn, st, &st->result,
                            ngx_pds_create_session_stored);
}


/* ---- getSession -------------------------------------------------------- */


static ngx_int_t
ngx_pds_get_session(ngx_pds_ctx_t *ctx)
{
    int             rc;
    json_t         *answer;
    MDB_txn        *txn;
    u_char          msg[300];
    pds_account_t   acc;

    txn = ngx_pds_read_txn(ctx);
    if (txn == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = pds_account_get_by_did(ctx->conf->env->store, txn, ctx->auth.did,
                                &ctx->alloc, &acc);

    if (rc == PDS_NOTFOUND || (rc == 0 && acc.takedown_ref)) {
        ngx_snprintf(msg, sizeof(msg) - 1, "Could not find user info for "
                     "account: %s%Z", ctx->auth.did);
        return ngx_pds_send_error(ctx->request, NGX_HTTP_BAD_REQUEST,
                                  "InvalidRequest", (char *) msg);
    }

    if (rc != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    answer = ngx_pds_json_track(ctx->request, json_object());
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_pds_session_account(answer, &acc);
    ngx_pds_read_done(ctx);

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
}


/* ---- deleteSession ----------------------------------------------------- */


static int
ngx_pds_delete_token_txn(pds_store_t *store, MDB_txn *txn, void *data)
{
    return pds_token_delete(store, txn, data);
}


static ngx_int_t
ngx_pds_empty_done(ngx_pds_ctx_t *ctx)
{
    int  *result = ctx->data;

    if (*result != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_text(ctx->request, NGX_HTTP_OK, "text/plain", NULL,
                             0);
}


static ngx_int_t
ngx_pds_delete_session(ngx_pds_ctx_t *ctx)
{
    int  *result;

    result = ngx_palloc(ctx->request->pool, sizeof(int));
    if (result == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = result;

    return ngx_pds_txn_post(ctx, ngx_pds_delete_token_txn,
                            (void *) ctx->auth.jti, result,
                            ngx_pds_empty_done);
}


/* ---- app passwords ----------------------------------------------------- */


typedef struct {
    const char           *did;
    const char           *password;
    char                  plain[PDS_APP_PASSWORD_LEN + 1];
    char                  hash[PDS_PASSWORD_HASH_LEN + 1];
    pds_app_password_t    ap;
    int                   failed;
    int                   result;
} ngx_pds_app_pw_t;


static void
ngx_pds_app_password_work(void *data, ngx_log_t *log)
{
    ngx_pds_app_pw_t  *st = data;

    st->failed = 1;

    if (pds_app_password_generate(st->plain) != 0) {
        return;
    }

    if (pds_app_password_hash(st->did, ngx_strlen(st->did), st->plain,
                              ngx_strlen(st->plain), st->hash,
                              sizeof(st->hash))
        < 0)
    {
        return;
    }

    st->failed = 0;
}


static int
ngx_pds_app_password_txn(pds_store_t *store, MDB_txn *txn, void *data)
{
    ngx_pds_app_pw_t  *st = data;

    return pds_app_password_put(store, txn, st->did, &st->ap);
}


static ngx_int_t
ngx_pds_app_password_stored(ngx_pds_ctx_t *ctx)
{
    json_t            *answer;
    ngx_pds_app_pw_t  *st = ctx->data;

    if (st->result != 0) {
        /* a duplicate name is a plain 500 in the reference too */
        return ngx_pds_send_error(ctx->request,
                                  NGX_HTTP_INTERNAL_SERVER_ERROR,
                                  "InternalServerError",
                                  "Internal Server Error");
    }

    answer = ngx_pds_json_track(ctx->request,
                                json_pack("{s:s, s:s, s:s, s:b}",
                                          "name", st->ap.name,
                                          "password", st->plain,
                                          "createdAt", st->ap.created_at,
                                          "privileged", st->ap.privileged));
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
}


static ngx_int_t
ngx_pds_app_password_made(ngx_pds_ctx_t *ctx)
{
    ngx_pds_app_pw_t  *st = ctx->data;

    if (st->failed) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st->ap.password_scrypt = st->hash;
    st->ap.created_at = ngx_pds_iso_now(ctx->request->pool);
    if (st->ap.created_at == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_txn_post(ctx, ngx_pds_app_password_txn, st, &st->result,
                            ngx_pds_app_password_stored);
}


static ngx_int_t
ngx_pds_create_app_password(ngx_pds_ctx_t *ctx)
{
    json_t            *name, *priv;
    ngx_pds_app_pw_t  *st;

    name = json_object_get(ctx->body, "name");
    priv = json_object_get(ctx->body, "privileged");

    if (!json_is_string(name)) {
        return ngx_pds_send_error(ctx->request, NGX_HTTP_BAD_REQUEST,
                                  "InvalidRequest", "Input must have the "
                                  "property \"name\"");
    }

    if (priv && !json_is_boolean(priv)) {
        return ngx_pds_send_error(ctx->request, NGX_HTTP_BAD_REQUEST,
                                  "InvalidRequest",
                                  "Input/privileged must be a boolean");
    }

    st = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_app_pw_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st->did = ctx->auth.did;
    st->ap.name = json_string_value(name);
    st->ap.privileged = json_is_true(priv);
    ctx->data = st;

    return ngx_pds_thread_post(ctx, ngx_pds_app_password_work, st,
                               ngx_pds_app_password_made);
}


static ngx_int_t
ngx_pds_list_app_passwords(ngx_pds_ctx_t *ctx)
{
    int                  rc;
    size_t               i, n;
    json_t              *answer, *list;
    MDB_txn             *txn;
    pds_app_password_t  *aps;

    txn = ngx_pds_read_txn(ctx);
    if (txn == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = pds_app_password_list(ctx->conf->env->store, txn, ctx->auth.did,
                               &ctx->alloc, &aps, &n);
    if (rc != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    answer = ngx_pds_json_track(ctx->request, json_object());
    list = json_array();
    if (answer == NULL || list == NULL) {
        json_decref(list);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_object_set_new(answer, "passwords", list);

    /* newest first, as the reference orders them */
    for (i = n; i > 0; i--) {
        json_array_append_new(list, json_pack("{s:s, s:s, s:b}",
                              "name", aps[i - 1].name,
                              "createdAt", aps[i - 1].created_at,
                              "privileged", aps[i - 1].privileged));
    }

    ngx_pds_read_done(ctx);

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
}


typedef struct {
    const char  *did;
    const char  *name;
} ngx_pds_revoke_t;


static int
ngx_pds_revoke_txn(pds_store_t *store, MDB_txn *txn, void *data)
{
    int                rc;
    ngx_pds_revoke_t  *rv = data;

    rc = pds_app_password_delete(store, txn, rv->did, rv->name);
    if (rc != 0) {
        return rc;
    }

    return pds_token_delete_for(store, txn, rv->did, rv->name);
}


static ngx_int_t
ngx_pds_revoke_app_password(ngx_pds_ctx_t *ctx)
{
    int               *result;
    json_t            *name;
    ngx_pds_revoke_t  *rv;

    name = json_object_get(ctx->body, "name");
    if (!json_is_string(name)) {
        return ngx_pds_send_error(ctx->request, NGX_HTTP_BAD_REQUEST,
                                  "InvalidRequest", "Input must have the "
                                  "property \"name\"");
    }

    rv = ngx_palloc(ctx->request->pool, sizeof(ngx_pds_revoke_t));
    result = ngx_palloc(ctx->request->pool, sizeof(int));
    if (rv == NULL || result == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rv->did = ctx->auth.did;
    rv->name = json_string_value(name);
    ctx->data = result;

    return ngx_pds_txn_post(ctx, ngx_pds_revoke_txn, rv, result,
                            ngx_pds_empty_done);
}
