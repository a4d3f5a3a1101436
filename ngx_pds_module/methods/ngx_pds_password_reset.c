/*
 * ngx_pds_module: forgotten passwords.
 *
 *   com.atproto.server.requestPasswordReset   mails a token (15 minutes,
 *                                             one use) to the account
 *   com.atproto.server.resetPassword          token + new password
 *
 * Unlike the reference, an address no account has is answered like any
 * other (200, nothing sent): the answer does not tell who has an account
 * here.  A reset revokes every refresh token of the account (sessions of
 * app passwords too), as the reference does; app passwords stay, and
 * access tokens live out their two hours.
 */

#include "ngx_pds_methods_int.h"
#include "ngx_pds_mail.h"
#include "ngx_pds_mailed.h"

#include "pds_password.h"


#define NGX_PDS_NEW_PASSWORD_MAX  256        /* the reference's limit */


static ngx_int_t ngx_pds_request_password_reset(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_reset_password(ngx_pds_ctx_t *ctx);


const ngx_pds_method_t  ngx_pds_password_reset_methods[] = {

    { ngx_string("com.atproto.server.requestPasswordReset"),
      NGX_PDS_PROCEDURE, NGX_PDS_AUTH_NONE, NGX_PDS_IN_JSON, 0, 0,
      ngx_pds_request_password_reset, NULL },

    { ngx_string("com.atproto.server.resetPassword"), NGX_PDS_PROCEDURE,
      NGX_PDS_AUTH_NONE, NGX_PDS_IN_JSON, 0, 0, ngx_pds_reset_password,
      NULL },

    { ngx_null_string, 0, 0, 0, 0, 0, NULL, NULL }
};


typedef struct {
    uint64_t                 uid;
    const char              *email;      /* lower case */
    const char              *token;
    ngx_pds_new_password_t   np;
    int                      result;
} ngx_pds_reset_t;


/* a required string property of the input: its value, or NULL (refused) */
static const char *
ngx_pds_reset_str(ngx_pds_ctx_t *ctx, const char *name)
{
    json_t  *v;

    v = json_object_get(ctx->body, name);

    if (!json_is_string(v)) {
        (void) ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Input must have the property \"%s\"", name);
        return NULL;
    }

    return json_string_value(v);
}


/* ---- requestPasswordReset ---------------------------------------------- */


static int
ngx_pds_reset_request_txn(pds_store_t *store, MDB_txn *txn, void *data,
    pds_alloc_t *a)
{
    int               rc;
    pds_account_t     acc;
    ngx_pds_reset_t  *st = data;
    ngx_pds_mailed_t  m;

    /* the account may have changed since the lookup: read it again here */
    rc = pds_account_uid_by_email(store, txn, st->email, &st->uid);
    if (rc == 0) {
        rc = pds_account_get(store, txn, st->uid, a, &acc);
    }

    if (rc == 0 && acc.email != NULL) {
        m.uid = st->uid;
        m.purpose = PDS_TOKEN_RESET_PASSWORD;
        m.to = acc.email;
        m.did = acc.did;
        m.subject = "Password reset requested";
        m.intro = "Someone asked to reset the password of your account "
                  "on this server. To choose a new password, enter this "
                  "code (valid for 15 minutes) in your app:";
        m.outro = "If you did not ask for this, you can ignore this mail: "
                  "your password stays as it is.";

        rc = ngx_pds_mailed_token(store, txn, &m);
    }

    /* gone meanwhile: nothing to send, as for an unknown address */
    return rc == PDS_NOTFOUND ? 0 : rc;
}


static ngx_int_t
ngx_pds_reset_requested(ngx_pds_ctx_t *ctx)
{
    ngx_pds_reset_t  *st = ctx->data;

    if (st->result != 0) {
        return ngx_pds_store_failed(ctx, st->result);
    }

    ngx_pds_mail_wake(ctx->conf);

    return ngx_pds_send_text(ctx->request, NGX_HTTP_OK, "text/plain", NULL,
                             0);
}


static ngx_int_t
ngx_pds_request_password_reset(ngx_pds_ctx_t *ctx)
{
    int               rc;
    char             *email;
    size_t            len;
    MDB_txn          *txn;
    const char       *v;
    ngx_pds_reset_t  *st;

    v = ngx_pds_reset_str(ctx, "email");
    if (v == NULL) {
        return ctx->error.status;
    }

    st = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_reset_t));
    len = ngx_strlen(v);
    email = ngx_pnalloc(ctx->request->pool, len + 1);
    if (st == NULL || email == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_strlow((u_char *) email, (u_char *) v, len + 1);
    st->email = email;
    ctx->data = st;

    txn = ngx_pds_read_txn(ctx);
    if (txn == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = pds_account_uid_by_email(ctx->conf->env->store, txn, email,
                                  &st->uid);
    ngx_pds_read_done(ctx);

    if (rc == PDS_NOTFOUND) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                       "pds: requestPasswordReset: no account has \"%s\"",
                       email);

        return ngx_pds_send_text(ctx->request, NGX_HTTP_OK, "text/plain",
                                 NULL, 0);
    }

    if (rc != 0) {
        return ngx_pds_store_failed(ctx, rc);
    }

    return ngx_pds_txn_post_alloc(ctx, ngx_pds_reset_request_txn, st,
                                  &st->result, ngx_pds_reset_requested);
}


/* ---- resetPassword ----------------------------------------------------- */


/* (declared in ngx_pds_methods_int.h: admin.updateAccountPassword's too) */
void
ngx_pds_new_password_work(void *data, ngx_log_t *log)
{
    ngx_pds_new_password_t  *np = data;

    if (pds_password_hash(np->password, ngx_strlen(np->password), np->hash,
                          sizeof(np->hash))
        < 0)
    {
        ngx_log_error(NGX_LOG_ERR, log, 0, "pds: password hashing failed");
        return;
    }

    np->hashed = 1;
}


int
ngx_pds_new_password_set(pds_store_t *store, MDB_txn *txn,
    pds_account_t *acc, char *hash)
{
    int  rc;

    acc->password_scrypt = hash;

    rc = pds_account_update(store, txn, acc);

    if (rc == 0) {
        rc = pds_email_token_delete(store, txn, acc->uid,
                                    PDS_TOKEN_RESET_PASSWORD);
    }

    if (rc == 0) {
        /* every session's refresh token, those of app passwords too */
        rc = pds_token_delete_for(store, txn, acc->did, NULL);
        if (rc == PDS_NOTFOUND) {
            rc = 0;
        }
    }

    return rc;
}


static int
ngx_pds_reset_txn(pds_store_t *store, MDB_txn *txn, void *data,
    pds_alloc_t *a)
{
    int               rc;
    pds_account_t     acc;
    ngx_pds_reset_t  *st = data;

    /* checked again: the token may have been used meanwhile */
    rc = pds_email_token_find(store, txn, PDS_TOKEN_RESET_PASSWORD,
                              st->token, ngx_strlen(st->token),
                              ngx_pds_now_ms(), &st->uid);
    if (rc != 0) {
        return rc;
    }

    rc = pds_account_get(store, txn, st->uid, a, &acc);

    if (rc == 0) {
        rc = ngx_pds_new_password_set(store, txn, &acc, st->np.hash);
    }

    /* an account deleted meanwhile: its token is gone with it */
    return rc == PDS_NOTFOUND ? PDS_TOKEN_INVALID : rc;
}


static ngx_int_t
ngx_pds_reset_done(ngx_pds_ctx_t *ctx)
{
    ngx_pds_reset_t  *st = ctx->data;

    if (st->result != 0) {
        return ngx_pds_token_refused(ctx, st->result);
    }

    ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                  "pds: the password of account %uL was reset", st->uid);

    return ngx_pds_send_text(ctx->request, NGX_HTTP_OK, "text/plain", NULL,
                             0);
}


static ngx_int_t
ngx_pds_reset_hashed(ngx_pds_ctx_t *ctx)
{
    ngx_pds_reset_t  *st = ctx->data;

    if (!st->np.hashed) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_txn_post_alloc(ctx, ngx_pds_reset_txn, st,
                                  &st->result, ngx_pds_reset_done);
}


static ngx_int_t
ngx_pds_reset_password(ngx_pds_ctx_t *ctx)
{
    int               rc;
    size_t            len;
    MDB_txn          *txn;
    uint64_t          uid;
    ngx_pds_reset_t  *st;

    st = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_reset_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = st;

    st->token = ngx_pds_reset_str(ctx, "token");
    if (st->token == NULL) {
        return ctx->error.status;
    }

    st->np.password = ngx_pds_reset_str(ctx, "password");
    if (st->np.password == NULL) {
        return ctx->error.status;
    }

    len = ngx_strlen(st->np.password);

    /* (the reference takes an empty password; no login could use it) */
    if (len == 0 || len > NGX_PDS_NEW_PASSWORD_MAX) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Invalid password length.");
    }

    /* a wrong token is refused before any scrypt work */
    txn = ngx_pds_read_txn(ctx);
    if (txn == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = pds_email_token_find(ctx->conf->env->store, txn,
                              PDS_TOKEN_RESET_PASSWORD, st->token,
                              ngx_strlen(st->token), ngx_pds_now_ms(), &uid);
    ngx_pds_read_done(ctx);

    if (rc != 0) {
        return ngx_pds_token_refused(ctx, rc);
    }

    return ngx_pds_thread_post(ctx, ngx_pds_new_password_work, &st->np,
                               ngx_pds_reset_hashed);
}
