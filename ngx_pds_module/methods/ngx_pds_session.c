/*
 * ngx_pds_module: sessions.
 *
 *   com.atproto.server.createSession / refreshSession / getSession /
 *   deleteSession, and in this table the app password methods of
 *   ngx_pds_app_password.c
 *
 * Password checks (scrypt, tens of ms) run in the thread pool; token rows
 * are written in one LMDB transaction there too.
 *
 * Email sign-in codes: an account with emailAuthFactor (set by updateEmail)
 * that logs in with its password alone gets 401 AuthFactorTokenRequired
 * and a code by mail (15 minutes, one use); createSession with the code
 * as authFactorToken then succeeds, and the code is used up in the
 * transaction that stores the session.  A wrong code: 400 InvalidToken
 * "Token is invalid" (what the Bluesky app looks for), an old one 400
 * ExpiredToken.  App passwords do not need a code.
 */

#include "ngx_pds_methods_int.h"
#include "ngx_pds_mail.h"
#include "ngx_pds_mailed.h"

#include "pds_jwt.h"
#include "pds_password.h"


#define NGX_PDS_LOGIN_PASSWORD_MAX  512
#define NGX_PDS_LOGIN_MIN_MSEC      350     /* as the reference: no timing
                                               hints about accounts */
#define NGX_PDS_REFRESH_GRACE       (2 * 60 * 60)

/* what the password of a login matched */
#define NGX_PDS_MATCHED_NONE        0
#define NGX_PDS_MATCHED_ACCOUNT     1       /* the account's password */
#define NGX_PDS_MATCHED_APP         2       /* one of its app passwords */


static ngx_int_t ngx_pds_create_session(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_refresh_session(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_get_session(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_delete_session(ngx_pds_ctx_t *ctx);


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
    const char            *factor_token;      /* authFactorToken */
    ngx_uint_t             allow_takendown;
    ngx_uint_t             check_factor;      /* use up factor_token */
    pds_account_t          account;
    pds_app_password_t    *app_passwords;
    size_t                 napp_passwords;

    /* the outcome of the password check (thread) */
    ngx_uint_t             matched;           /* NGX_PDS_MATCHED_* */
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
    int                    result;
} ngx_pds_login_t;


static ngx_int_t
ngx_pds_session_invalid_login_now(ngx_pds_ctx_t *ctx)
{
    return ngx_pds_error(ctx, NGX_HTTP_UNAUTHORIZED, "AuthenticationRequired",
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
ngx_pds_session_account_json(json_t *obj, const pds_account_t *acc)
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
    json_object_set_new(obj, "emailAuthFactor",
                        json_boolean(acc->email_auth_factor));

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
    ngx_pds_session_account_json(answer, &st->account);

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
}


/* ---- createSession ----------------------------------------------------- */


static ngx_int_t
ngx_pds_takedown_now(ngx_pds_ctx_t *ctx)
{
    return ngx_pds_error(ctx, NGX_HTTP_UNAUTHORIZED, "AccountTakedown",
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
        st->matched = NGX_PDS_MATCHED_ACCOUNT;
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
            st->matched = NGX_PDS_MATCHED_APP;
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

    if (st->check_factor) {
        rc = pds_email_token_check(store, txn, st->account.uid,
                                   PDS_TOKEN_SIGN_IN, st->factor_token,
                                   ngx_strlen(st->factor_token),
                                   ngx_pds_now_ms());
        if (rc == 0) {
            rc = pds_email_token_delete(store, txn, st->account.uid,
                                        PDS_TOKEN_SIGN_IN);
        }

        if (rc != 0) {
            return rc;
        }
    }

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


/* ---- email sign-in codes ----------------------------------------------- */


static ngx_int_t
ngx_pds_factor_refused_now(ngx_pds_ctx_t *ctx)
{
    ngx_pds_login_t  *st = ctx->data;

    return ngx_pds_token_refused(ctx, st->result);
}


static ngx_int_t
ngx_pds_factor_required_now(ngx_pds_ctx_t *ctx)
{
    return ngx_pds_error(ctx, NGX_HTTP_UNAUTHORIZED,
                         "AuthFactorTokenRequired",
                         "A sign-in code has been sent to your email "
                         "address");
}


static int
ngx_pds_factor_mail_txn(pds_store_t *store, MDB_txn *txn, void *data)
{
    ngx_pds_login_t   *st = data;
    ngx_pds_mailed_t   m;

    m.uid = st->account.uid;
    m.purpose = PDS_TOKEN_SIGN_IN;
    m.to = st->account.email;
    m.did = st->account.did;
    m.subject = "Your sign-in code";
    m.intro = "Someone signed in to your account with its password. To "
              "finish signing in, enter this code (valid for 15 minutes):";
    m.outro = "If this was not you, change your password now: the code "
              "alone does not let anyone in.";

    return ngx_pds_mailed_token(store, txn, &m);
}


static ngx_int_t
ngx_pds_factor_mailed(ngx_pds_ctx_t *ctx)
{
    ngx_pds_login_t  *st = ctx->data;

    if (st->result != 0) {
        ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                      "pds: queuing a sign-in code failed: %d", st->result);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_pds_mail_wake(ctx->conf);

    return ngx_pds_login_padded(ctx, ngx_pds_factor_required_now);
}


static ngx_int_t
ngx_pds_create_session_stored(ngx_pds_ctx_t *ctx)
{
    ngx_pds_login_t  *st = ctx->data;

    if (st->check_factor && ngx_pds_token_bad(st->result)) {
        return ngx_pds_login_padded(ctx, ngx_pds_factor_refused_now);
    }

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

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "pds: createSession %s: password check done, matched %ui",
                   st->account.did, st->matched);

    if (st->matched == NGX_PDS_MATCHED_NONE) {
        return ngx_pds_session_invalid_login(ctx);
    }

    if (st->account.takedown_ref) {
        if (!st->allow_takendown) {
            return ngx_pds_login_padded(ctx, ngx_pds_takedown_now);
        }

        st->scope = PDS_JWT_SCOPE_TAKENDOWN;

    } else if (st->matched == NGX_PDS_MATCHED_APP) {
        st->scope = st->privileged ? PDS_JWT_SCOPE_APP_PASS_PRIV
                                   : PDS_JWT_SCOPE_APP_PASS;

    } else {
        st->scope = PDS_JWT_SCOPE_ACCESS;
    }

    /* a second factor: the account's password alone is not enough */
    if (st->matched == NGX_PDS_MATCHED_ACCOUNT
        && st->account.email_auth_factor && st->account.email
        && !st->account.takedown_ref)
    {
        if (st->factor_token == NULL) {
            return ngx_pds_txn_post(ctx, ngx_pds_factor_mail_txn, st,
                                    &st->result, ngx_pds_factor_mailed);
        }

        st->check_factor = 1;
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


/* the login's identifier and password: NGX_OK, or the refusal's status */
static ngx_int_t
ngx_pds_create_session_input(ngx_pds_ctx_t *ctx, ngx_pds_login_t *st)
{
    json_t  *v;

    v = json_object_get(ctx->body, "identifier");
    if (!json_is_string(v)) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Input must have the property \"identifier\"");
    }

    st->identifier = json_string_value(v);

    v = json_object_get(ctx->body, "password");
    if (!json_is_string(v)) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Input must have the property \"password\"");
    }

    st->password = json_string_value(v);

    st->allow_takendown = json_is_true(json_object_get(ctx->body,
                                                       "allowTakendown"));

    v = json_object_get(ctx->body, "authFactorToken");
    if (v && !json_is_null(v)) {
        if (!json_is_string(v)) {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "Input/authFactorToken must be a string");
        }

        /* an empty code is no code (the app sends "" before it has one) */
        if (json_string_length(v) > 0) {
            st->factor_token = json_string_value(v);
        }
    }

    if (ngx_strlen(st->password) > NGX_PDS_LOGIN_PASSWORD_MAX) {
        return ngx_pds_error(ctx, NGX_HTTP_UNAUTHORIZED,
                             "AuthenticationRequired",
                             "Password too long. Consider resetting your "
                             "password.");
    }

    return NGX_OK;
}


/*
 * The account the identifier names (in lower case: an email, a DID or a
 * handle) and its app passwords: 0, PDS_NOTFOUND or another error.
 */
static int
ngx_pds_login_account(ngx_pds_ctx_t *ctx, ngx_pds_login_t *st)
{
    int           rc;
    MDB_txn      *txn;
    pds_store_t  *store;

    store = ngx_pds_store(ctx->request, ctx->conf);
    txn = ngx_pds_read_txn(ctx);
    if (store == NULL || txn == NULL) {
        return -1;
    }

    rc = pds_account_get_by_identifier(store, txn, st->identifier,
                                       &ctx->alloc, &st->account);

    if (rc == 0) {
        rc = pds_app_password_list(store, txn, st->account.did, &ctx->alloc,
                                   &st->app_passwords, &st->napp_passwords);
        if (rc == PDS_NOTFOUND) {
            rc = -1;
        }
    }

    ngx_pds_read_done(ctx);

    return rc;
}


static ngx_int_t
ngx_pds_create_session(ngx_pds_ctx_t *ctx)
{
    int               rc;
    ngx_int_t         nrc;
    ngx_pds_login_t  *st;

    st = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_login_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = st;
    st->started = ngx_current_msec;

    nrc = ngx_pds_create_session_input(ctx, st);
    if (nrc != NGX_OK) {
        return nrc;
    }

    rc = ngx_pds_login_account(ctx, st);

    if (rc == PDS_NOTFOUND) {
        return ngx_pds_session_invalid_login(ctx);
    }

    if (rc != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "pds: createSession %s: password check (scrypt) posted",
                   st->account.did);

    return ngx_pds_thread_post(ctx, ngx_pds_login_work, st,
                               ngx_pds_create_session_checked);
}


/* ---- refreshSession ---------------------------------------------------- */


/*
 * The refresh token being used must still be stored, for the session's
 * account, and within its grace period, which it gets now (never longer
 * than it had): NGX_OK, or the refusal's status.
 */
static ngx_int_t
ngx_pds_refresh_token(ngx_pds_ctx_t *ctx, ngx_pds_login_t *st,
    int64_t *grace)
{
    int       rc;
    int64_t   now;

    rc = pds_token_get(ctx->conf->env->store, ctx->rtxn, ctx->auth.jti,
                       &ctx->alloc, &st->old);

    now = (int64_t) ngx_time();

    if (rc == 0) {
        /* the old token lives on for a grace period, never extended */
        *grace = now + NGX_PDS_REFRESH_GRACE;
        if (st->old.expires_at < *grace) {
            *grace = st->old.expires_at;
        }

        if (*grace <= now || ngx_strcmp(st->old.did, st->account.did) != 0) {
            rc = PDS_NOTFOUND;
        }
    }

    ngx_pds_read_done(ctx);

    if (rc == PDS_NOTFOUND) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "ExpiredToken",
                             "Token has been revoked");
    }

    if (rc != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_OK;
}


/*
 * The scope of the refreshed session: an app password's carries over,
 * privileged or not as the app password is now.
 */
static const char *
ngx_pds_refresh_scope(ngx_pds_ctx_t *ctx, ngx_pds_login_t *st)
{
    size_t               i, n;
    const char          *scope;
    pds_app_password_t  *aps;

    if (st->app_password_name == NULL) {
        return PDS_JWT_SCOPE_ACCESS;
    }

    scope = PDS_JWT_SCOPE_APP_PASS;

    if (ngx_pds_read_txn(ctx) == NULL) {
        return scope;
    }

    if (pds_app_password_list(ctx->conf->env->store, ctx->rtxn,
                              st->account.did, &ctx->alloc, &aps, &n)
        == 0)
    {
        for (i = 0; i < n; i++) {
            if (ngx_strcmp(aps[i].name, st->app_password_name) == 0
                && aps[i].privileged)
            {
                scope = PDS_JWT_SCOPE_APP_PASS_PRIV;
            }
        }
    }

    ngx_pds_read_done(ctx);

    return scope;
}


static ngx_int_t
ngx_pds_refresh_session(ngx_pds_ctx_t *ctx)
{
    int                  rc;
    int64_t              grace = 0;
    ngx_int_t            nrc;
    ngx_pds_login_t     *st;

    st = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_login_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = st;

    rc = ngx_pds_caller_account(ctx, &st->account);

    if (rc == PDS_NOTFOUND) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Could not find user info for account: %s",
                             ctx->auth.did);
    }

    if (rc != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (st->account.takedown_ref) {
        return ngx_pds_error(ctx, NGX_HTTP_UNAUTHORIZED, "AccountTakedown",
                             "Account has been taken down");
    }

    nrc = ngx_pds_refresh_token(ctx, st, &grace);
    if (nrc != NGX_OK) {
        return nrc;
    }

    st->app_password_name = st->old.app_password_name;
    st->scope = ngx_pds_refresh_scope(ctx, st);

    if (ngx_pds_session_mint(ctx, st, st->old.next_id) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st->old.expires_at = grace;
    st->old.next_id = st->jti;

    return ngx_pds_txn_post(ctx, ngx_pds_token_txn, st, &st->result,
                            ngx_pds_create_session_stored);
}


/* ---- getSession -------------------------------------------------------- */


/* what getSession's email needs of an OAuth token */
static const pds_scope_need_t  ngx_pds_email_read = {
    PDS_SCOPE_ACCOUNT, "email", "read"
};


static ngx_int_t
ngx_pds_get_session(ngx_pds_ctx_t *ctx)
{
    int             rc;
    json_t         *answer;
    pds_account_t   acc;

    rc = ngx_pds_caller_account(ctx, &acc);

    if (rc == PDS_NOTFOUND || (rc == 0 && acc.takedown_ref)) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Could not find user info for account: %s",
                             ctx->auth.did);
    }

    if (rc != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    answer = ngx_pds_json_track(ctx->request, json_object());
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_pds_session_account_json(answer, &acc);
    ngx_pds_read_done(ctx);

    /* an app signed in with OAuth reads the email only with its scope */
    if (ctx->auth.oauth
        && !pds_scope_allows(ctx->auth.scope, ngx_strlen(ctx->auth.scope),
                             &ngx_pds_email_read))
    {
        json_object_del(answer, "email");
        json_object_del(answer, "emailConfirmed");
        json_object_del(answer, "emailAuthFactor");
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
}


/* ---- deleteSession ----------------------------------------------------- */


static int
ngx_pds_delete_token_txn(pds_store_t *store, MDB_txn *txn, void *data)
{
    return pds_token_delete(store, txn, data);
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
                            ngx_pds_written_empty);
}
