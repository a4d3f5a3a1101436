/*
 * ngx_pds_module: the operator's account methods (of ngx_pds_admin_methods,
 * HTTP Basic admin auth; methods/ngx_pds_admin.c holds the table).
 *
 *   com.atproto.admin.updateAccountPassword   new password; the account's
 *                                             refresh tokens and password
 *                                             reset token are revoked
 *   com.atproto.admin.deleteAccount           as server.deleteAccount,
 *                                             without password or token
 *
 * Both answer 200 for a DID that has no account, as the reference does
 * (it updates or deletes no row).
 */

#include "ngx_pds_methods_int.h"
#include "ngx_pds_params.h"

#include "pds_account_delete.h"


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
