/*
 * ngx_pds_module: app passwords (methods of ngx_pds_session_methods).
 *
 *   com.atproto.server.createAppPassword / listAppPasswords /
 *   revokeAppPassword
 *
 * A new password is made and hashed (scrypt) in the thread pool; rows are
 * written in one LMDB transaction there too.  Logins with app passwords
 * are createSession's (ngx_pds_session.c).
 */

#include "ngx_pds_methods_int.h"


/* longer names cannot be keys of the app password table */
#define NGX_PDS_APP_PASSWORD_NAME_MAX  256

#include "pds_password.h"




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

    if (st->result == PDS_EXISTS) {
        /* (the reference lets its database's constraint answer 500) */
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "could not create app-specific password: the "
                             "name is already used");
    }

    if (st->result != 0) {
        return ngx_pds_store_failed(ctx, st->result);
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

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "pds: createAppPassword \"%s\": scrypt done%s",
                   st->ap.name, st->failed ? ": failed" : "");

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


ngx_int_t
ngx_pds_create_app_password(ngx_pds_ctx_t *ctx)
{
    json_t            *name, *priv;
    ngx_pds_app_pw_t  *st;

    name = json_object_get(ctx->body, "name");
    priv = json_object_get(ctx->body, "privileged");

    if (!json_is_string(name)) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Input must have the property \"name\"");
    }

    if (priv && !json_is_boolean(priv)) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Input/privileged must be a boolean");
    }

    if (json_string_length(name) == 0
        || json_string_length(name) > NGX_PDS_APP_PASSWORD_NAME_MAX)
    {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Input/name must be 1 to %d bytes",
                             NGX_PDS_APP_PASSWORD_NAME_MAX);
    }

    st = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_app_pw_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st->did = ctx->auth.did;
    st->ap.name = json_string_value(name);
    st->ap.privileged = json_is_true(priv);
    ctx->data = st;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "pds: createAppPassword \"%s\": scrypt posted",
                   st->ap.name);

    return ngx_pds_thread_post(ctx, ngx_pds_app_password_work, st,
                               ngx_pds_app_password_made);
}


ngx_int_t
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


ngx_int_t
ngx_pds_revoke_app_password(ngx_pds_ctx_t *ctx)
{
    int               *result;
    json_t            *name;
    ngx_pds_revoke_t  *rv;

    name = json_object_get(ctx->body, "name");
    if (!json_is_string(name)) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Input must have the property \"name\"");
    }

    rv = ngx_palloc(ctx->request->pool, sizeof(ngx_pds_revoke_t));
    result = ngx_palloc(ctx->request->pool, sizeof(int));
    if (rv == NULL || result == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (json_string_length(name) == 0
        || json_string_length(name) > NGX_PDS_APP_PASSWORD_NAME_MAX)
    {
        /* no app password has such a name: nothing to revoke */
        *result = 0;
        ctx->data = result;
        return ngx_pds_written_empty(ctx);
    }

    rv->did = ctx->auth.did;
    rv->name = json_string_value(name);
    ctx->data = result;

    return ngx_pds_txn_post(ctx, ngx_pds_revoke_txn, rv, result,
                            ngx_pds_written_empty);
}
