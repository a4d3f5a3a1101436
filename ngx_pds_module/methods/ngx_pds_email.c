/*
 * ngx_pds_module: an account's email address.
 *
 *   com.atproto.server.requestEmailConfirmation / confirmEmail /
 *   requestEmailUpdate / updateEmail
 *
 * Each runs as one LMDB write transaction in the thread pool, which reads
 * the account again, checks the mailed token (core/pds_email_token.c),
 * changes the account and queues the mail with its new token in the
 * outbox (core/pds_outbox.c): a committed request never loses its mail and
 * a failed one sends none.  Once committed, the mailer is woken
 * (ngx_pds_mail.c).  Statuses and error names are the reference's.
 */

#include "ngx_pds_methods_int.h"
#include "ngx_pds_mail.h"

#include "pds_email_token.h"
#include "pds_outbox.h"
#include "pds_smtp.h"


/* what the transaction found, besides 0 and storage errors */
#define NGX_PDS_EM_NO_ACCOUNT      3001
#define NGX_PDS_EM_NO_EMAIL        3002
#define NGX_PDS_EM_WRONG_EMAIL     3003
#define NGX_PDS_EM_TOKEN_INVALID   3004
#define NGX_PDS_EM_TOKEN_EXPIRED   3005
#define NGX_PDS_EM_TOKEN_REQUIRED  3006
#define NGX_PDS_EM_TAKEN           3007
#define NGX_PDS_EM_FACTOR          3008

#define NGX_PDS_EM_TEXT_MAX        2048


typedef enum {
    NGX_PDS_EM_REQUEST_CONFIRM = 0,
    NGX_PDS_EM_CONFIRM,
    NGX_PDS_EM_REQUEST_UPDATE,
    NGX_PDS_EM_UPDATE
} ngx_pds_em_op_e;


typedef struct {
    ngx_pds_em_op_e      op;
    const char          *did;
    ngx_str_t            hostname;
    const char          *email;          /* confirmEmail, updateEmail */
    const char          *token;          /* NULL: none given */
    size_t               token_len;
    ngx_int_t            factor;         /* emailAuthFactor: -1 absent */
    const char          *now_iso;
    int64_t              now;
    int                  result;
    unsigned             token_required:1;
    unsigned             queued:1;       /* a mail is in the outbox */
} ngx_pds_em_t;


/* ---- the mails ------------------------------------------------------------ */


static int
ngx_pds_em_queue(pds_store_t *store, MDB_txn *txn, ngx_pds_em_t *em,
    pds_account_t *acc, pds_token_purpose_t purpose)
{
    int          rc;
    char         token[PDS_EMAIL_TOKEN_LEN + 1];
    char         text[NGX_PDS_EM_TEXT_MAX];
    u_char      *p;
    pds_mail_t   mail;

    rc = pds_email_token_issue(store, txn, acc->uid, purpose, em->now, token);
    if (rc != 0) {
        return rc;
    }

    if (purpose == PDS_TOKEN_CONFIRM_EMAIL) {
        mail.subject = "Confirm your email address";
        p = ngx_snprintf((u_char *) text, sizeof(text) - 1,
                "Hello @%s,\n"
                "\n"
                "Enter this code in your app to confirm that this is the "
                "email address of your account on %V:\n"
                "\n"
                "%s\n"
                "\n"
                "The code works once, within 15 minutes. If you did not "
                "ask for it, you can ignore this message.\n",
                acc->handle, &em->hostname, token);

    } else {
        mail.subject = "Your code to change your email address";
        p = ngx_snprintf((u_char *) text, sizeof(text) - 1,
                "Hello @%s,\n"
                "\n"
                "Someone (hopefully you) asked to change the email address "
                "of your account on %V. Enter this code in your app to go "
                "on:\n"
                "\n"
                "%s\n"
                "\n"
                "The code works once, within 15 minutes. If you did not "
                "ask for it, do not share it with anyone; your address "
                "stays as it is.\n",
                acc->handle, &em->hostname, token);
    }

    *p = '\0';

    mail.to = acc->email;
    mail.text = text;
    mail.did = acc->did;

    rc = pds_outbox_put(store, txn, &mail, em->now);
    if (rc != 0) {
        return rc;
    }

    em->queued = 1;
    return 0;
}


/* ---- the transaction ------------------------------------------------------ */


static int
ngx_pds_em_token(pds_store_t *store, MDB_txn *txn, ngx_pds_em_t *em,
    pds_account_t *acc, pds_token_purpose_t purpose)
{
    int  rc;

    rc = pds_email_token_check(store, txn, acc->uid, purpose, em->token,
                               em->token_len, em->now);

    switch (rc) {
    case 0:
        return 0;
    case PDS_TOKEN_INVALID:
        return NGX_PDS_EM_TOKEN_INVALID;
    case PDS_TOKEN_EXPIRED:
        return NGX_PDS_EM_TOKEN_EXPIRED;
    default:
        return rc;
    }
}


static int
ngx_pds_em_update(pds_store_t *store, MDB_txn *txn, ngx_pds_em_t *em,
    pds_account_t *acc)
{
    int         rc;
    ngx_uint_t  same;

    em->token_required = (acc->email_confirmed_at != NULL);

    if (em->token == NULL && em->token_required) {
        return NGX_PDS_EM_TOKEN_REQUIRED;
    }

    if (em->token != NULL) {
        rc = ngx_pds_em_token(store, txn, em, acc, PDS_TOKEN_UPDATE_EMAIL);
        if (rc != 0) {
            return rc;
        }
    }

    same = (acc->email != NULL && ngx_strcasecmp((u_char *) acc->email,
                                                 (u_char *) em->email) == 0);

    /*
     * Sign-in codes go to a confirmed address only: turning them on needs
     * the confirmed address kept (and so the mailed token).  A new address
     * is unconfirmed, which turns them off.
     */
    if (em->factor == 1 && !(same && acc->email_confirmed_at != NULL)) {
        return NGX_PDS_EM_FACTOR;
    }

    if (!same) {
        acc->email_confirmed_at = NULL;
        acc->email_auth_factor = 0;
    }

    if (em->factor != -1) {
        acc->email_auth_factor = (int) em->factor;
    }

    rc = pds_account_set_email(store, txn, acc, em->email);
    if (rc == PDS_ACCOUNT_EMAIL_TAKEN) {
        return NGX_PDS_EM_TAKEN;
    }

    if (rc != 0) {
        return rc;
    }

    /* as the reference: every mailed token of the account is spent */
    return pds_email_token_delete_all(store, txn, acc->uid);
}


static int
ngx_pds_em_txn(pds_store_t *store, MDB_txn *txn, void *data,
    pds_alloc_t *a)
{
    int             rc;
    ngx_pds_em_t   *em = data;
    pds_account_t   acc;

    rc = pds_account_get_by_did(store, txn, em->did, a, &acc);
    if (rc != 0) {
        rc = (rc == PDS_NOTFOUND) ? NGX_PDS_EM_NO_ACCOUNT : rc;
        goto done;
    }

    switch (em->op) {

    case NGX_PDS_EM_REQUEST_CONFIRM:
        rc = acc.email ? ngx_pds_em_queue(store, txn, em, &acc,
                                          PDS_TOKEN_CONFIRM_EMAIL)
                       : NGX_PDS_EM_NO_EMAIL;
        break;

    case NGX_PDS_EM_CONFIRM:
        if (acc.email == NULL
            || ngx_strcasecmp((u_char *) acc.email, (u_char *) em->email)
               != 0)
        {
            rc = NGX_PDS_EM_WRONG_EMAIL;
            break;
        }

        rc = ngx_pds_em_token(store, txn, em, &acc, PDS_TOKEN_CONFIRM_EMAIL);
        if (rc != 0) {
            break;
        }

        rc = pds_email_token_delete(store, txn, acc.uid,
                                    PDS_TOKEN_CONFIRM_EMAIL);
        if (rc != 0) {
            break;
        }

        acc.email_confirmed_at = em->now_iso;
        rc = pds_account_update(store, txn, &acc);
        break;

    case NGX_PDS_EM_REQUEST_UPDATE:
        if (acc.email == NULL) {
            rc = NGX_PDS_EM_NO_EMAIL;
            break;
        }

        em->token_required = (acc.email_confirmed_at != NULL);

        /* the token goes to the current, confirmed address */
        rc = em->token_required
             ? ngx_pds_em_queue(store, txn, em, &acc, PDS_TOKEN_UPDATE_EMAIL)
             : 0;
        break;

    default: /* NGX_PDS_EM_UPDATE */
        rc = ngx_pds_em_update(store, txn, em, &acc);
        break;
    }

done:

    if (rc != 0) {
        em->queued = 0;
    }

    return rc;
}


/* ---- answers -------------------------------------------------------------- */


static ngx_int_t
ngx_pds_em_done(ngx_pds_ctx_t *ctx)
{
    json_t        *answer;
    ngx_pds_em_t  *em = ctx->data;

    switch (em->result) {

    case 0:
        break;

    case NGX_PDS_EM_NO_ACCOUNT:
        if (em->op == NGX_PDS_EM_CONFIRM) {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "AccountNotFound",
                                 "user not found");
        }

        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "account not found");

    case NGX_PDS_EM_NO_EMAIL:
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "account does not have an email address");

    case NGX_PDS_EM_WRONG_EMAIL:
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidEmail",
                             "invalid email");

    case NGX_PDS_EM_TOKEN_INVALID:
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidToken",
                             "Token is invalid");

    case NGX_PDS_EM_TOKEN_EXPIRED:
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "ExpiredToken",
                             "Token is expired");

    case NGX_PDS_EM_TOKEN_REQUIRED:
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "TokenRequired",
                             "confirmation token required");

    case NGX_PDS_EM_TAKEN:
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "This email address is already in use, please "
                             "use a different email.");

    case NGX_PDS_EM_FACTOR:
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Email sign-in codes need a confirmed email "
                             "address: confirm it first, and keep it while "
                             "turning them on");

    default:
        return ngx_pds_store_failed(ctx, em->result);
    }

    if (em->queued) {
        ngx_pds_mail_wake(ctx->conf);
    }

    if (em->op != NGX_PDS_EM_REQUEST_UPDATE) {
        return ngx_pds_send_text(ctx->request, NGX_HTTP_OK, "text/plain",
                                 NULL, 0);
    }

    answer = ngx_pds_json_track(ctx->request,
                                json_pack("{s:b}", "tokenRequired",
                                          (int) em->token_required));
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
}


static ngx_int_t
ngx_pds_em_post(ngx_pds_ctx_t *ctx, ngx_pds_em_t *em)
{
    ngx_time_t  *tp;

    em->did = ctx->auth.did;
    em->hostname = ctx->conf->hostname;
    em->now_iso = ngx_pds_iso_now(ctx->request->pool);
    if (em->now_iso == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    tp = ngx_timeofday();
    em->now = (int64_t) tp->sec * 1000 + tp->msec;

    ctx->data = em;

    return ngx_pds_txn_post_alloc(ctx, ngx_pds_em_txn, em, &em->result,
                                  ngx_pds_em_done);
}


/* a string property of the body: NGX_OK (maybe NULL), or refused */
static ngx_int_t
ngx_pds_em_str(ngx_pds_ctx_t *ctx, const char *name, ngx_uint_t required,
    const char **value, size_t *len)
{
    json_t  *v;

    v = json_object_get(ctx->body, name);
    *value = NULL;

    if (v == NULL) {
        if (required) {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "Input must have the property \"%s\"",
                                 name);
        }

        return NGX_OK;
    }

    if (!json_is_string(v)) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Input/%s must be a string", name);
    }

    *value = json_string_value(v);
    if (len) {
        *len = json_string_length(v);
    }

    return NGX_OK;
}


static ngx_pds_em_t *
ngx_pds_em_alloc(ngx_pds_ctx_t *ctx, ngx_pds_em_op_e op)
{
    ngx_pds_em_t  *em;

    em = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_em_t));
    if (em != NULL) {
        em->op = op;
        em->factor = -1;
    }

    return em;
}


static ngx_int_t
ngx_pds_request_email_confirmation(ngx_pds_ctx_t *ctx)
{
    ngx_pds_em_t  *em;

    em = ngx_pds_em_alloc(ctx, NGX_PDS_EM_REQUEST_CONFIRM);
    if (em == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_em_post(ctx, em);
}


static ngx_int_t
ngx_pds_confirm_email(ngx_pds_ctx_t *ctx)
{
    ngx_int_t      rc;
    ngx_pds_em_t  *em;

    em = ngx_pds_em_alloc(ctx, NGX_PDS_EM_CONFIRM);
    if (em == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_pds_em_str(ctx, "email", 1, &em->email, NULL);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_pds_em_str(ctx, "token", 1, &em->token, &em->token_len);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_pds_em_post(ctx, em);
}


static ngx_int_t
ngx_pds_request_email_update(ngx_pds_ctx_t *ctx)
{
    ngx_pds_em_t  *em;

    em = ngx_pds_em_alloc(ctx, NGX_PDS_EM_REQUEST_UPDATE);
    if (em == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_em_post(ctx, em);
}


/* an address the reference would take (and the mailer can write) */
static ngx_uint_t
ngx_pds_em_valid(const char *s, size_t len)
{
    const char  *at, *dot;

    if (len < 5 || !pds_smtp_addr_ok(s, len) || ngx_strlen(s) != len) {
        return 0;
    }

    at = strchr(s, '@');
    if (strchr(at + 1, '@') != NULL || strpbrk(s, ";\\[]:") != NULL) {
        return 0;
    }

    dot = strrchr(at, '.');

    return dot != NULL && dot > at + 1 && dot[1] != '\0';
}


static ngx_int_t
ngx_pds_update_email(ngx_pds_ctx_t *ctx)
{
    u_char        *lower;
    size_t         len, i;
    json_t        *factor;
    ngx_int_t      rc;
    ngx_pds_em_t  *em;

    em = ngx_pds_em_alloc(ctx, NGX_PDS_EM_UPDATE);
    if (em == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_pds_em_str(ctx, "email", 1, &em->email, &len);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_pds_em_str(ctx, "token", 0, &em->token, &em->token_len);
    if (rc != NGX_OK) {
        return rc;
    }

    factor = json_object_get(ctx->body, "emailAuthFactor");
    if (factor != NULL) {
        if (!json_is_boolean(factor)) {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "Input/emailAuthFactor must be a boolean");
        }

        em->factor = json_is_true(factor);
    }

    if (!ngx_pds_em_valid(em->email, len)) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "This email address is not supported, please "
                             "use a different email.");
    }

    /* stored in lower case, as the reference stores it */
    lower = ngx_pnalloc(ctx->request->pool, len + 1);
    if (lower == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < len; i++) {
        lower[i] = ngx_tolower(em->email[i]);
    }
    lower[len] = '\0';
    em->email = (char *) lower;

    /* the reference treats an empty token as none */
    if (em->token != NULL && em->token_len == 0) {
        em->token = NULL;
    }

    return ngx_pds_em_post(ctx, em);
}


const ngx_pds_method_t  ngx_pds_email_methods[] = {

    { ngx_string("com.atproto.server.requestEmailConfirmation"),
      NGX_PDS_PROCEDURE, NGX_PDS_AUTH_ACCESS, NGX_PDS_IN_NONE,
      NGX_PDS_CHECK_TAKEDOWN, 0, ngx_pds_request_email_confirmation, NULL },

    { ngx_string("com.atproto.server.confirmEmail"),
      NGX_PDS_PROCEDURE, NGX_PDS_AUTH_ACCESS, NGX_PDS_IN_JSON,
      NGX_PDS_CHECK_TAKEDOWN, 0, ngx_pds_confirm_email, NULL },

    { ngx_string("com.atproto.server.requestEmailUpdate"),
      NGX_PDS_PROCEDURE, NGX_PDS_AUTH_FULL, NGX_PDS_IN_NONE,
      NGX_PDS_CHECK_TAKEDOWN, 0, ngx_pds_request_email_update, NULL },

    { ngx_string("com.atproto.server.updateEmail"),
      NGX_PDS_PROCEDURE, NGX_PDS_AUTH_FULL, NGX_PDS_IN_JSON,
      NGX_PDS_CHECK_TAKEDOWN, 0, ngx_pds_update_email, NULL },

    { ngx_null_string, 0, 0, 0, 0, 0, NULL, NULL }
};
