/*
 * ngx_pds_module: the operator's account methods (of ngx_pds_admin_methods,
 * HTTP Basic admin auth; methods/ngx_pds_admin.c holds the table).
 *
 *   com.atproto.admin.updateAccountPassword   new password; the account's
 *                                             refresh tokens and password
 *                                             reset token are revoked
 *   com.atproto.admin.updateAccountHandle     the handle policy without
 *                                             its reserved names, then the
 *                                             PLC update and #identity of
 *                                             identity.updateHandle
 *   com.atproto.admin.updateAccountEmail      by DID or handle; the address
 *                                             is unconfirmed, mailed tokens
 *                                             go
 *   com.atproto.admin.deleteAccount           as server.deleteAccount,
 *                                             without password or token
 *
 * updateAccountPassword and deleteAccount answer 200 for a DID that has
 * no account, as the reference does (it updates or deletes no row).
 */

#include "ngx_pds_methods_int.h"
#include "ngx_pds_params.h"

#include "pds_account_delete.h"
#include "pds_email_token.h"
#include "pds_handle.h"
#include "pds_syntax.h"


#define NGX_PDS_ADMIN_PASSWORD_MAX  256      /* the reference's limit */


/* the inputs, as their Lexicons give them */
static const ngx_pds_field_t  ngx_pds_admin_password_input[] = {
    { "did", NGX_PDS_V_STRING, NGX_PDS_FMT_DID, NGX_PDS_F_REQUIRED, 0, 0, 0 },
    { "password", NGX_PDS_V_STRING, NGX_PDS_FMT_NONE, NGX_PDS_F_REQUIRED,
      0, 0, 0 },
    { NULL, 0, 0, 0, 0, 0, 0 }
};

static const ngx_pds_field_t  ngx_pds_admin_delete_input[] = {
    { "did", NGX_PDS_V_STRING, NGX_PDS_FMT_DID, NGX_PDS_F_REQUIRED, 0, 0, 0 },
    { NULL, 0, 0, 0, 0, 0, 0 }
};


/* ---- updateAccountPassword --------------------------------------------- */


typedef struct {
    const char               *did;
    ngx_pds_new_password_t    np;       /* methods/ngx_pds_password_reset.c */
    int                       result;
} ngx_pds_admin_pw_t;


static int
ngx_pds_admin_pw_txn(pds_store_t *store, MDB_txn *txn, void *data,
    pds_alloc_t *a)
{
    int                  rc;
    pds_account_t        acc;
    ngx_pds_admin_pw_t  *st = data;

    rc = pds_account_get_by_did(store, txn, st->did, a, &acc);

    if (rc == 0) {
        /* every refresh token goes, app passwords' too (the reference's) */
        rc = ngx_pds_new_password_set(store, txn, &acc, st->np.hash);
    }

    /* an unknown DID: the reference updates no row and answers 200 */
    return rc == PDS_NOTFOUND ? 0 : rc;
}


static ngx_int_t
ngx_pds_admin_pw_done(ngx_pds_ctx_t *ctx)
{
    ngx_pds_admin_pw_t  *st = ctx->data;

    if (st->result != 0) {
        return ngx_pds_store_failed(ctx, st->result);
    }

    ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                  "pds: admin set the password of %s", st->did);

    return ngx_pds_send_text(ctx->request, NGX_HTTP_OK, "text/plain", NULL,
                             0);
}


static ngx_int_t
ngx_pds_admin_pw_hashed(ngx_pds_ctx_t *ctx)
{
    ngx_pds_admin_pw_t  *st = ctx->data;

    if (!st->np.hashed) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_txn_post_alloc(ctx, ngx_pds_admin_pw_txn, st,
                                  &st->result, ngx_pds_admin_pw_done);
}


ngx_int_t
ngx_pds_admin_update_account_password(ngx_pds_ctx_t *ctx)
{
    ngx_pds_admin_pw_t  *st;

    st = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_admin_pw_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = st;

    if (ngx_pds_check_input(ctx, ctx->body, "$", ngx_pds_admin_password_input)
        != NGX_OK)
    {
        return ctx->error.status;
    }

    st->did = json_string_value(json_object_get(ctx->body, "did"));
    st->np.password = json_string_value(json_object_get(ctx->body,
                                                        "password"));

    if (ngx_strlen(st->np.password) > NGX_PDS_ADMIN_PASSWORD_MAX) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Invalid password length.");
    }

    return ngx_pds_thread_post(ctx, ngx_pds_new_password_work, &st->np,
                               ngx_pds_admin_pw_hashed);
}


/* ---- updateAccountHandle ---------------------------------------------- */


static const ngx_pds_field_t  ngx_pds_admin_handle_input[] = {
    { "did", NGX_PDS_V_STRING, NGX_PDS_FMT_DID, NGX_PDS_F_REQUIRED, 0, 0, 0 },
    { "handle", NGX_PDS_V_STRING, NGX_PDS_FMT_HANDLE, NGX_PDS_F_REQUIRED,
      0, 0, 0 },
    { NULL, 0, 0, 0, 0, 0, 0 }
};


/*
 * The new handle, as the reference's allowAnyValid: an allowed TLD, under
 * one of the tenant's domains, one label of the right length, reserved
 * names allowed.  NGX_OK, or the refusal.
 */
static ngx_int_t
ngx_pds_admin_handle_check(ngx_pds_ctx_t *ctx, ngx_pds_handle_t *st,
    json_t *v)
{
    int          rc;
    char        *tmp;
    size_t       len;
    ngx_str_t   *d;
    ngx_uint_t   i, n;
    pds_span_t  *domains;

    rc = ngx_pds_update_handle_syntax(ctx, st, v);
    if (rc != NGX_OK) {
        return rc;
    }

    len = ngx_strlen(st->handle);
    tmp = ngx_pnalloc(ctx->request->pool, len + 1);
    if (tmp == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!ngx_pds_is_service_handle(ctx->conf, st->handle, len)) {
        /* a domain of the user's: it must resolve to the DID */
        st->external = 1;
        return NGX_OK;
    }

    d = ctx->conf->handle_domains->elts;
    n = ctx->conf->handle_domains->nelts;

    domains = ngx_palloc(ctx->request->pool, (n + 1) * sizeof(pds_span_t));
    if (domains == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < n; i++) {
        domains[i].data = (char *) d[i].data;
        domains[i].len = d[i].len;
    }

    rc = pds_handle_check_new(tmp, len + 1, st->handle, len, domains, n);

    if (rc == PDS_HANDLE_OK || rc == PDS_HANDLE_ERESERVED) {
        return NGX_OK;
    }

    /* the refusal in the words sign-up uses */
    return ngx_pds_check_new_handle(ctx, st->handle);
}


ngx_int_t
ngx_pds_admin_update_account_handle(ngx_pds_ctx_t *ctx)
{
    int                rc;
    MDB_txn           *txn;
    ngx_int_t          nrc;
    const char        *did;
    ngx_pds_handle_t  *st;

    nrc = ngx_pds_check_input(ctx, ctx->body, "$", ngx_pds_admin_handle_input);
    if (nrc != NGX_OK) {
        return nrc;
    }

    st = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_handle_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = st;
    did = json_string_value(json_object_get(ctx->body, "did"));

    txn = ngx_pds_read_txn(ctx);
    if (txn == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the reference's order: the account, the handle, then its owner */
    rc = pds_account_get_by_did(ctx->conf->env->store, txn, did, &ctx->alloc,
                                &st->account);
    if (rc != 0) {
        ngx_pds_read_done(ctx);

        if (rc != PDS_NOTFOUND) {
            return ngx_pds_store_failed(ctx, rc);
        }

        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Account not found");
    }

    nrc = ngx_pds_admin_handle_check(ctx, st,
                                     json_object_get(ctx->body, "handle"));
    ngx_pds_read_done(ctx);

    if (nrc != NGX_OK) {
        return nrc;
    }

    ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                  "pds: admin sets the handle of %s to %s", did, st->handle);

    /*
     * a domain of the user's resolved, not another account's; the PLC
     * update, the row and #identity: identity.updateHandle's
     */
    return ngx_pds_update_handle_claim(ctx);
}


/* ---- updateAccountEmail ----------------------------------------------- */


#define NGX_PDS_ADMIN_EMAIL_TAKEN  1401      /* result */


typedef struct {
    const char   *did;
    const char   *email;                /* lower case; NULL: none */
    int           result;
} ngx_pds_admin_email_t;


static const ngx_pds_field_t  ngx_pds_admin_email_input[] = {
    { "account", NGX_PDS_V_STRING, NGX_PDS_FMT_AT_ID, NGX_PDS_F_REQUIRED,
      0, 0, 0 },
    { "email", NGX_PDS_V_STRING, NGX_PDS_FMT_NONE, NGX_PDS_F_REQUIRED,
      0, 0, 0 },
    { NULL, 0, 0, 0, 0, 0, 0 }
};


static int
ngx_pds_admin_email_txn(pds_store_t *store, MDB_txn *txn, void *data,
    pds_alloc_t *a)
{
    int                     rc;
    pds_account_t           acc;
    ngx_pds_admin_email_t  *st = data;

    rc = pds_account_get_by_did(store, txn, st->did, a, &acc);
    if (rc != 0) {
        return rc == PDS_NOTFOUND ? 0 : rc;
    }

    /* the new address is unconfirmed (sign-in codes need a confirmed one) */
    acc.email_confirmed_at = NULL;
    if (acc.email == NULL || st->email == NULL
        || ngx_strcmp(acc.email, st->email) != 0)
    {
        acc.email_auth_factor = 0;
    }

    rc = pds_account_set_email(store, txn, &acc, st->email);
    if (rc == PDS_ACCOUNT_EMAIL_TAKEN) {
        return NGX_PDS_ADMIN_EMAIL_TAKEN;
    }

    if (rc != 0) {
        return rc;
    }

    /* every mailed token of the account goes, as the reference's */
    rc = pds_email_token_delete_all(store, txn, acc.uid);

    return rc == PDS_NOTFOUND ? 0 : rc;
}


static ngx_int_t
ngx_pds_admin_email_done(ngx_pds_ctx_t *ctx)
{
    ngx_pds_admin_email_t  *st = ctx->data;

    if (st->result == NGX_PDS_ADMIN_EMAIL_TAKEN) {
        /* the reference fails (500) on its unique index */
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "This email address is already in use, please "
                             "use a different email.");
    }

    if (st->result != 0) {
        return ngx_pds_store_failed(ctx, st->result);
    }

    return ngx_pds_send_text(ctx->request, NGX_HTTP_OK, "text/plain", NULL,
                             0);
}


ngx_int_t
ngx_pds_admin_update_account_email(ngx_pds_ctx_t *ctx)
{
    int                     rc;
    u_char                 *p;
    json_t                 *v;
    size_t                  len;
    MDB_txn                *txn;
    uint64_t                uid;
    ngx_int_t               nrc;
    const char             *account;
    pds_account_t           acc;
    pds_store_t            *store = ctx->conf->env->store;
    ngx_pds_admin_email_t  *st;

    nrc = ngx_pds_check_input(ctx, ctx->body, "$", ngx_pds_admin_email_input);
    if (nrc != NGX_OK) {
        return nrc;
    }

    st = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_admin_email_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = st;
    account = json_string_value(json_object_get(ctx->body, "account"));

    txn = ngx_pds_read_txn(ctx);
    if (txn == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* any account: deactivated and taken down too */
    if (ngx_strncmp(account, "did:", 4) == 0) {
        rc = pds_account_get_by_did(store, txn, account, &ctx->alloc, &acc);

    } else {
        rc = pds_account_uid_by_handle(store, txn, account, &uid);
        if (rc == 0) {
            rc = pds_account_get(store, txn, uid, &ctx->alloc, &acc);
        }
    }

    ngx_pds_read_done(ctx);

    if (rc == PDS_NOTFOUND) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Account does not exist: %s", account);
    }

    if (rc != 0) {
        return ngx_pds_store_failed(ctx, rc);
    }

    st->did = acc.did;

    /* stored in lower case; an empty address (which the reference keeps
       as "") is none here: the email index has no empty key */
    v = json_object_get(ctx->body, "email");
    len = json_string_length(v);

    /*
     * what the email index can hold (the reference stores any string):
     * an address no mail system takes (over RFC 5321's 254 bytes, or with
     * a NUL) is refused in the words of updateEmail
     */
    if (len > 254 || ngx_strlen(json_string_value(v)) != len) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "This email address is not supported, please "
                             "use a different email.");
    }

    if (len) {
        p = ngx_pnalloc(ctx->request->pool, len + 1);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_strlow(p, (u_char *) json_string_value(v), len);
        p[len] = '\0';
        st->email = (char *) p;
    }

    return ngx_pds_txn_post_alloc(ctx, ngx_pds_admin_email_txn, st,
                                  &st->result, ngx_pds_admin_email_done);
}


/* ---- deleteAccount ----------------------------------------------------- */

/*
 * As com.atproto.server.deleteAccount (methods/ngx_pds_lifecycle.c) does
 * once the password and token are checked: unlink in one transaction
 * (core: pds_account_delete), then purge in bounded transactions and
 * remove the blob files (methods/ngx_pds_purge.c).
 */

typedef struct {
    const char           *did;
    int                   result;
    ngx_uint_t            gone;
    ngx_pds_purge_run_t   run;          /* methods/ngx_pds_purge.c */
} ngx_pds_admin_del_t;


static int
ngx_pds_admin_delete_txn(pds_store_t *store, MDB_txn *txn, void *data,
    pds_alloc_t *a)
{
    int                   rc;
    uint64_t              seq;
    pds_account_t         acc;
    ngx_pds_admin_del_t  *st = data;

    rc = pds_account_get_by_did(store, txn, st->did, a, &acc);

    if (rc == 0) {
        rc = pds_account_delete(store, txn, &acc, &seq, &st->run.purge);
        if (rc == 0) {
            st->run.purging = 1;
        }

    } else if (rc == PDS_NOTFOUND) {
        st->gone = 1;
        rc = 0;
    }

    return rc;
}


static ngx_int_t
ngx_pds_admin_deleted(ngx_pds_ctx_t *ctx)
{
    ngx_pds_admin_del_t  *st = ctx->data;

    if (st->result != 0) {
        return ngx_pds_store_failed(ctx, st->result);
    }

    if (st->gone) {
        /* the reference answers 200 for a DID it does not have */
        return ngx_pds_send_text(ctx->request, NGX_HTTP_OK, "text/plain",
                                 NULL, 0);
    }

    ngx_log_error(NGX_LOG_NOTICE, ctx->request->connection->log, 0,
                  "pds: admin deleted account %s (uid %uL); purging its "
                  "data", st->did, st->run.purge.uid);

    return ngx_pds_purge_run(ctx, &st->run);
}


ngx_int_t
ngx_pds_admin_delete_account(ngx_pds_ctx_t *ctx)
{
    ngx_pds_admin_del_t  *st;

    st = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_admin_del_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = st;

    if (ngx_pds_check_input(ctx, ctx->body, "$", ngx_pds_admin_delete_input)
        != NGX_OK)
    {
        return ctx->error.status;
    }

    st->did = json_string_value(json_object_get(ctx->body, "did"));

    return ngx_pds_txn_post_alloc(ctx, ngx_pds_admin_delete_txn, st,
                                  &st->result, ngx_pds_admin_deleted);
}
