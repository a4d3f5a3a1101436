/*
 * ngx_pds_module: an account's life after sign-up.
 *
 *   com.atproto.server.deactivateAccount     (optional deleteAfter)
 *   com.atproto.server.activateAccount
 *   com.atproto.server.requestAccountDelete  mails a token
 *   com.atproto.server.deleteAccount         DID, password and the token
 *
 * Each change of status appends the #account event the reference
 * sequences (deactivation: active false, status "deactivated"; activation:
 * #account active, then #identity and #sync; deletion: status "deleted").
 * A deactivated account still logs in, reads and is read as before but
 * for the answers the request plumbing gives to inactive repos; writes
 * are refused (AccountDeactivated).
 *
 * Deletion runs in the thread pool in bounded transactions (core:
 * pds_account_delete.h; methods/ngx_pds_purge.c): the account is unlinked
 * at once, then its rows are purged a few thousand at a time, so that a
 * big account never holds the write lock for long, then its blob files
 * are removed.  The answer comes once everything is gone.  Purges an
 * earlier deletion left behind (nginx stopped in the middle) are finished
 * by the next deletion.
 */

#include "ngx_pds_methods_int.h"
#include "ngx_pds_did.h"
#include "ngx_pds_mail.h"
#include "ngx_pds_mailed.h"

#include "pds_repo_import.h"
#include "pds_account_delete.h"
#include "pds_oauth_store.h"
#include "pds_password.h"
#include "pds_syntax.h"


#define NGX_PDS_LOGIN_PASSWORD_MAX 512      /* the reference's old limit */


static ngx_int_t ngx_pds_deactivate_account(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_activate_account(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_request_account_delete(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_delete_account(ngx_pds_ctx_t *ctx);


const ngx_pds_method_t  ngx_pds_lifecycle_methods[] = {

    { ngx_string("com.atproto.server.deactivateAccount"), NGX_PDS_PROCEDURE,
      NGX_PDS_AUTH_FULL, NGX_PDS_IN_JSON, NGX_PDS_ALLOW_TAKENDOWN, 0,
      ngx_pds_deactivate_account, NULL },

    { ngx_string("com.atproto.server.activateAccount"), NGX_PDS_PROCEDURE,
      NGX_PDS_AUTH_FULL, NGX_PDS_IN_NONE, 0, 0,
      ngx_pds_activate_account, NULL },

    { ngx_string("com.atproto.server.requestAccountDelete"),
      NGX_PDS_PROCEDURE, NGX_PDS_AUTH_FULL, NGX_PDS_IN_NONE,
      NGX_PDS_CHECK_TAKEDOWN, 0, ngx_pds_request_account_delete, NULL },

    { ngx_string("com.atproto.server.deleteAccount"), NGX_PDS_PROCEDURE,
      NGX_PDS_AUTH_NONE, NGX_PDS_IN_JSON, 0, 0,
      ngx_pds_delete_account, NULL },

    { ngx_null_string, 0, 0, 0, 0, 0, NULL, NULL }
};


#define NGX_PDS_LC_GONE  1200             /* no such account (any more) */
#define NGX_PDS_LC_IMPORTING  1201        /* an import is writing its repo */


typedef struct {
    const char           *did;
    const char           *now;
    const char           *delete_after;
    const char           *password;
    const char           *token;
    pds_account_t         account;
    ngx_uint_t            matched;
    ngx_uint_t            oauth;          /* deactivated by an OAuth app */
    int                   result;

    /* deleteAccount's purge (methods/ngx_pds_purge.c) */
    ngx_pds_purge_run_t   run;

    /* activateAccount: the DID must point here with the account's key */
    char                  didkey[128];
    ngx_pds_did_check_t   check;
} ngx_pds_lc_t;


static ngx_pds_lc_t *
ngx_pds_lc_state(ngx_pds_ctx_t *ctx)
{
    ngx_pds_lc_t  *st;

    st = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_lc_t));
    if (st) {
        st->did = ctx->auth.did;
        ctx->data = st;
    }

    return st;
}


/* the account of st->did in txn, into st->account (arena a) */
static int
ngx_pds_lc_account(pds_store_t *store, MDB_txn *txn, ngx_pds_lc_t *st,
    pds_alloc_t *a)
{
    int  rc;

    rc = pds_account_get_by_did(store, txn, st->did, a, &st->account);

    return rc == PDS_NOTFOUND ? NGX_PDS_LC_GONE : rc;
}


static ngx_int_t
ngx_pds_lc_done(ngx_pds_ctx_t *ctx)
{
    ngx_pds_lc_t  *st = ctx->data;

    if (st->result == NGX_PDS_LC_GONE) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Account not found");
    }

    if (st->result != 0) {
        return ngx_pds_store_failed(ctx, st->result);
    }

    return ngx_pds_send_text(ctx->request, NGX_HTTP_OK, "text/plain", NULL,
                             0);
}


/* ---- deactivateAccount ------------------------------------------------- */


/*
 * Deactivated through OAuth: as the reference, the account's OAuth
 * sessions and its app passwords end too.
 */
static int
ngx_pds_deactivate_credentials(pds_store_t *store, MDB_txn *txn,
    const char *did, pds_alloc_t *a)
{
    int                  rc;
    size_t               i, n;
    pds_app_password_t  *list;

    rc = pds_oauth_revoke_account(store, txn, did, NULL);
    if (rc == 0) {
        rc = pds_app_password_list(store, txn, did, a, &list, &n);
    }
    for (i = 0; rc == 0 && i < n; i++) {
        rc = pds_app_password_delete(store, txn, did, list[i].name);
    }

    return rc;
}


static int
ngx_pds_deactivate_do(pds_store_t *store, MDB_txn *txn, void *data,
    pds_alloc_t *a)
{
    int            rc;
    ngx_pds_lc_t  *st = data;

    rc = ngx_pds_lc_account(store, txn, st, a);
    if (rc != 0) {
        return rc;
    }

    st->account.deactivated_at = st->now;
    st->account.delete_after = st->delete_after;

    rc = pds_account_update(store, txn, &st->account);
    if (rc == 0 && st->oauth) {
        rc = ngx_pds_deactivate_credentials(store, txn, st->did, a);
    }
    if (rc != 0) {
        return rc;
    }

    rc = pds_repo_event_account(store, txn, st->did, 0,
                                st->account.takedown_ref ? "takendown"
                                                         : "deactivated",
                                NULL);

    return rc == 0 ? 0 : NGX_PDS_TXN_FAILED;
}


static ngx_int_t
ngx_pds_deactivate_account(ngx_pds_ctx_t *ctx)
{
    json_t        *v;
    const char    *s;
    ngx_pds_lc_t  *st;

    st = ngx_pds_lc_state(ctx);
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    v = json_object_get(ctx->body, "deleteAfter");

    if (v && !json_is_null(v)) {
        s = json_is_string(v) ? json_string_value(v) : NULL;

        if (s == NULL || !pds_datetime_valid(s, ngx_strlen(s))) {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "Input/deleteAfter must be a valid "
                                 "datetime");
        }

        st->delete_after = s;
    }

    st->now = ngx_pds_iso_now(ctx->request->pool);
    if (st->now == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    st->oauth = ctx->auth.oauth;

    return ngx_pds_txn_post_alloc(ctx, ngx_pds_deactivate_do, st,
                                  &st->result, ngx_pds_lc_done);
}


/* ---- activateAccount --------------------------------------------------- */


static int
ngx_pds_activate_do(pds_store_t *store, MDB_txn *txn, void *data,
    pds_alloc_t *a)
{
    int            rc;
    ngx_pds_lc_t  *st = data;

    rc = ngx_pds_lc_account(store, txn, st, a);
    if (rc != 0) {
        return rc;
    }

    /* a taken-down account cannot activate itself */
    if (st->account.takedown_ref) {
        return NGX_PDS_LC_GONE;
    }

    /* nor go live with a repo an import is still writing in steps (or
     * left incomplete when it was cut short) */
    if (pds_repo_import_pending(store, txn, st->account.uid)) {
        return NGX_PDS_LC_IMPORTING;
    }

    st->account.deactivated_at = NULL;
    st->account.delete_after = NULL;

    rc = pds_account_update(store, txn, &st->account);
    if (rc != 0) {
        return rc;
    }

    /* the reference's order: #account, #identity, #sync */
    if (pds_repo_event_account(store, txn, st->did, 1, NULL, NULL) != 0
        || pds_repo_event_identity(store, txn, st->did, st->account.handle,
                                   NULL) != 0
        || pds_repo_event_sync(store, txn, st->account.uid, NULL) != 0)
    {
        return NGX_PDS_TXN_FAILED;
    }

    return 0;
}


static ngx_int_t
ngx_pds_activated(ngx_pds_ctx_t *ctx)
{
    ngx_pds_lc_t  *st = ctx->data;

    if (st->result == NGX_PDS_LC_GONE) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "AccountNotFound",
                             "user not found");
    }

    if (st->result == NGX_PDS_LC_IMPORTING) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "The account's repo is being imported, or its "
                             "last import was cut short: activate it once an "
                             "importRepo has completed");
    }

    return ngx_pds_lc_done(ctx);
}


static ngx_int_t ngx_pds_activate_checked(ngx_pds_ctx_t *ctx);


/*
 * As the reference, an account is activated only while its DID points
 * here with its key (a move in: once submitPlcOperation has been sent).
 */
static ngx_int_t
ngx_pds_activate_account(ngx_pds_ctx_t *ctx)
{
    int             rc;
    ngx_pds_lc_t   *st;
    pds_account_t   acc;

    st = ngx_pds_lc_state(ctx);
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_pds_session_account(ctx, &acc, st->didkey, sizeof(st->didkey));
    ngx_pds_read_done(ctx);

    if (rc == PDS_NOTFOUND) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "AccountNotFound",
                             "user not found");
    }

    if (rc != 0) {
        return ngx_pds_store_failed(ctx, rc);
    }

    return ngx_pds_did_check_service(ctx, st->did, st->didkey, &st->check,
                                     ngx_pds_activate_checked);
}


static ngx_int_t
ngx_pds_activate_checked(ngx_pds_ctx_t *ctx)
{
    ngx_pds_lc_t  *st = ctx->data;

    if (st->check.unreachable) {
        return ngx_pds_upstream_error(ctx, "Resolving the account's DID");
    }

    if (st->check.problem) {
        ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                      "pds: activateAccount %s refused: %s", st->did,
                      st->check.problem);

        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "%s", st->check.problem);
    }

    return ngx_pds_txn_post_alloc(ctx, ngx_pds_activate_do, st,
                                  &st->result, ngx_pds_activated);
}


/* ---- requestAccountDelete ---------------------------------------------- */


static int
ngx_pds_delete_request_do(pds_store_t *store, MDB_txn *txn, void *data,
    pds_alloc_t *a)
{
    int               rc;
    ngx_pds_lc_t     *st = data;
    ngx_pds_mailed_t  m;

    rc = ngx_pds_lc_account(store, txn, st, a);
    if (rc != 0) {
        return rc;
    }

    if (st->account.email == NULL) {
        return PDS_NOTFOUND;
    }

    m.uid = st->account.uid;
    m.purpose = PDS_TOKEN_DELETE_ACCOUNT;
    m.to = st->account.email;
    m.did = st->account.did;
    m.subject = "Account deletion requested";
    m.intro = "Someone asked to delete your account on this server, with "
              "its posts, media and everything else it holds. To confirm, "
              "enter this code (valid for 15 minutes) with your password:";
    m.outro = "If you did not ask for this, ignore this mail and change "
              "your password: without the code nothing is deleted.";

    return ngx_pds_mailed_token(store, txn, &m);
}


static ngx_int_t
ngx_pds_delete_requested(ngx_pds_ctx_t *ctx)
{
    ngx_pds_lc_t  *st = ctx->data;

    if (st->result == PDS_NOTFOUND) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "account does not have an email address");
    }

    if (st->result == NGX_PDS_LC_GONE) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "account not found");
    }

    if (st->result == 0) {
        ngx_pds_mail_wake(ctx->conf);
    }

    return ngx_pds_lc_done(ctx);
}


static ngx_int_t
ngx_pds_request_account_delete(ngx_pds_ctx_t *ctx)
{
    ngx_pds_lc_t  *st;

    st = ngx_pds_lc_state(ctx);
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_txn_post_alloc(ctx, ngx_pds_delete_request_do, st,
                                  &st->result, ngx_pds_delete_requested);
}


/* ---- deleteAccount ----------------------------------------------------- */


static int
ngx_pds_delete_do(pds_store_t *store, MDB_txn *txn, void *data,
    pds_alloc_t *a)
{
    int            rc;
    uint64_t       seq;
    ngx_pds_lc_t  *st = data;

    rc = ngx_pds_lc_account(store, txn, st, a);
    if (rc != 0) {
        return rc;
    }

    rc = pds_email_token_check(store, txn, st->account.uid,
                               PDS_TOKEN_DELETE_ACCOUNT, st->token,
                               ngx_strlen(st->token), ngx_pds_now_ms());
    if (rc != 0) {
        return rc;
    }

    rc = pds_account_delete(store, txn, &st->account, &seq,
                            &st->run.purge);
    if (rc != 0) {
        return rc;
    }

    st->run.purging = 1;

    return 0;
}


static ngx_int_t
ngx_pds_deleted(ngx_pds_ctx_t *ctx)
{
    ngx_pds_lc_t  *st = ctx->data;

    if (st->result == NGX_PDS_LC_GONE) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "account not found");
    }

    if (ngx_pds_token_bad(st->result)) {
        return ngx_pds_token_refused(ctx, st->result);
    }

    if (st->result != 0) {
        return ngx_pds_store_failed(ctx, st->result);
    }

    ngx_log_error(NGX_LOG_NOTICE, ctx->request->connection->log, 0,
                  "pds: account %s (uid %uL) deleted; purging its data",
                  st->did, st->run.purge.uid);

    st->run.did = st->did;

    return ngx_pds_purge_run(ctx, &st->run);
}


static void
ngx_pds_delete_check_work(void *data, ngx_log_t *log)
{
    ngx_pds_lc_t  *st = data;

    (void) log;

    if (st->account.password_scrypt
        && pds_password_verify(st->password, ngx_strlen(st->password),
                               st->account.password_scrypt,
                               ngx_strlen(st->account.password_scrypt))
           == 1)
    {
        st->matched = 1;
    }
}


static ngx_int_t
ngx_pds_delete_checked(ngx_pds_ctx_t *ctx)
{
    ngx_pds_lc_t  *st = ctx->data;

    if (!st->matched) {
        return ngx_pds_error(ctx, NGX_HTTP_UNAUTHORIZED,
                             "AuthenticationRequired",
                             "Invalid did or password");
    }

    return ngx_pds_txn_post_alloc(ctx, ngx_pds_delete_do, st,
                                  &st->result, ngx_pds_deleted);
}


static ngx_int_t
ngx_pds_delete_account(ngx_pds_ctx_t *ctx)
{
    int            rc;
    json_t        *v;
    ngx_uint_t     i;
    ngx_pds_lc_t  *st;
    const char    *names[] = { "did", "password", "token" };
    const char    *vals[3];

    st = ngx_pds_lc_state(ctx);
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < 3; i++) {
        v = json_object_get(ctx->body, names[i]);
        if (!json_is_string(v)) {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "Input must have the property \"%s\"",
                                 names[i]);
        }

        vals[i] = json_string_value(v);
    }

    st->did = vals[0];
    st->password = vals[1];
    st->token = vals[2];

    if (!pds_did_valid(st->did, ngx_strlen(st->did))) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Input/did must be a valid did");
    }

    if (ngx_strlen(st->password) > NGX_PDS_LOGIN_PASSWORD_MAX) {
        return ngx_pds_error(ctx, NGX_HTTP_UNAUTHORIZED,
                             "AuthenticationRequired",
                             "Password too long. Consider resetting your "
                             "password.");
    }

    if (ngx_pds_read_txn(ctx) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = pds_account_get_by_did(ctx->conf->env->store, ctx->rtxn, st->did,
                                &ctx->alloc, &st->account);
    ngx_pds_read_done(ctx);

    if (rc == PDS_NOTFOUND) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "account not found");
    }

    if (rc != 0) {
        return ngx_pds_store_failed(ctx, rc);
    }

    /* the account's own password only (no app password), in a thread */
    return ngx_pds_thread_post(ctx, ngx_pds_delete_check_work, st,
                               ngx_pds_delete_checked);
}
