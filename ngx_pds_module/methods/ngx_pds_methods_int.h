/*
 * ngx_pds_module: what the XRPC method files (methods/) share.  Their uses
 * go one way, from a namespace's table to the files it gathers, and down
 * to ngx_pds_common.c, which uses no other method file:
 *
 *   ngx_pds_account.c   -> ngx_pds_invite.c
 *   ngx_pds_session.c   -> ngx_pds_app_password.c
 *   ngx_pds_identity.c  -> ngx_pds_describe.c
 *   ngx_pds_repo.c      -> ngx_pds_repo_write.c -> ngx_pds_blob.c
 *   ngx_pds_admin.c     -> ngx_pds_admin_account.c -> ngx_pds_password_reset.c
 *   ngx_pds_admin.c     -> ngx_pds_admin_subject.c, ngx_pds_admin_invite.c
 *   ngx_pds_admin.c     -> ngx_pds_admin_invite.c -> ngx_pds_invite.c
 *   ngx_pds_admin_account.c -> ngx_pds_identity.c (the handle's PLC update)
 *   ngx_pds_lifecycle.c, ngx_pds_admin_account.c -> ngx_pds_purge.c
 *   all but ngx_pds_server.c and ngx_pds_blob.c -> ngx_pds_common.c
 *
 * A namespace's method table stays in one file (ngx_pds_methods.h lists
 * the tables); the handlers of another file of the same namespace are
 * declared here.  Nothing outside methods/ includes this header.
 */

#ifndef NGX_PDS_METHODS_INT_H
#define NGX_PDS_METHODS_INT_H

#include "ngx_pds.h"
#include "ngx_pds_methods.h"
#include "ngx_pds_handle_resolve.h"

#include "pds_account_delete.h"
#include "pds_password.h"


/* ---- ngx_pds_common.c: helpers of several method files ---------------- */

/*
 * The tenant's handle policy (core/pds_handle.c) with the reference's
 * answers: handle (NUL-terminated) is lower-cased in place; NGX_OK, or the
 * refusal's status with the XRPC error recorded (ngx_pds_error).
 */
ngx_int_t ngx_pds_check_new_handle(ngx_pds_ctx_t *ctx, char *handle);
/* 1 if handle is under one of the tenant's domains (or is one of them) */
ngx_uint_t ngx_pds_is_service_handle(ngx_pds_srv_conf_t *conf,
    const char *handle, size_t len);

/* <plc_url>/<did><suffix>, from the request pool, or NULL */
ngx_str_t *ngx_pds_plc_url(ngx_pds_ctx_t *ctx, const char *did,
    const char *suffix);
/* the JSON of a 200 answer to an outbound call (ctx->response), or NULL */
json_t *ngx_pds_response_json(ngx_pds_ctx_t *ctx);
/*
 * POSTs the signed operation op for did to the PLC directory; done runs
 * with its answer (ctx->response).  what names the operation in traces.
 */
ngx_int_t ngx_pds_plc_send(ngx_pds_ctx_t *ctx, const char *did,
    json_t *op, const char *what, ngx_pds_resume_pt done);

/*
 * The account of the session (in the request's read transaction, which
 * stays open), and its signing key as a did:key into didkey unless NULL:
 * 0, PDS_NOTFOUND or another error.
 */
int ngx_pds_session_account(ngx_pds_ctx_t *ctx, pds_account_t *acc,
    char *didkey, size_t cap);

/*
 * The signing key of acc for a commit: kept by this worker (for up to 64
 * accounts, never freed) or made for this request (freed with it); NULL
 * on failure.
 */
pds_key_t *ngx_pds_account_key(ngx_pds_ctx_t *ctx, pds_account_t *acc);

/* "at://<did>[/<collection>/<rkey>]" from pool, or NULL */
char *ngx_pds_at_uri(ngx_pool_t *pool, const char *did,
    const char *collection, size_t clen, const char *rkey, size_t rlen);

/* a storage error: logged, then 500 */
ngx_int_t ngx_pds_store_failed(ngx_pds_ctx_t *ctx, int rc);
/* the step after a write whose result is the int at ctx->data: 200, empty */
ngx_int_t ngx_pds_written_empty(ngx_pds_ctx_t *ctx);


/* ---- ngx_pds_invite.c: the invite methods of ngx_pds_account_methods -- */

ngx_int_t ngx_pds_create_invite_code(ngx_pds_ctx_t *ctx);
ngx_int_t ngx_pds_create_invite_codes(ngx_pds_ctx_t *ctx);
ngx_int_t ngx_pds_get_account_invite_codes(ngx_pds_ctx_t *ctx);


/* ---- ngx_pds_app_password.c: of ngx_pds_session_methods --------------- */

ngx_int_t ngx_pds_create_app_password(ngx_pds_ctx_t *ctx);
ngx_int_t ngx_pds_list_app_passwords(ngx_pds_ctx_t *ctx);
ngx_int_t ngx_pds_revoke_app_password(ngx_pds_ctx_t *ctx);


/* ---- ngx_pds_admin_account.c: of ngx_pds_admin_methods --------------- */

ngx_int_t ngx_pds_admin_update_account_password(ngx_pds_ctx_t *ctx);
ngx_int_t ngx_pds_admin_update_account_handle(ngx_pds_ctx_t *ctx);
ngx_int_t ngx_pds_admin_update_account_email(ngx_pds_ctx_t *ctx);
ngx_int_t ngx_pds_admin_delete_account(ngx_pds_ctx_t *ctx);


/* ---- ngx_pds_admin_subject.c: of ngx_pds_admin_methods --------------- */

ngx_int_t ngx_pds_admin_get_subject_status(ngx_pds_ctx_t *ctx);
ngx_int_t ngx_pds_admin_update_subject_status(ngx_pds_ctx_t *ctx);


/* ---- ngx_pds_admin_invite.c: of ngx_pds_admin_methods ---------------- */

ngx_int_t ngx_pds_admin_get_invite_codes(ngx_pds_ctx_t *ctx);
ngx_int_t ngx_pds_admin_disable_invite_codes(ngx_pds_ctx_t *ctx);
ngx_int_t ngx_pds_admin_disable_account_invites(ngx_pds_ctx_t *ctx);
ngx_int_t ngx_pds_admin_enable_account_invites(ngx_pds_ctx_t *ctx);
/* an invite code's JSON (admin.defs#inviteCode), or NULL */
json_t *ngx_pds_invite_json(const pds_invite_t *inv);


/* ---- ngx_pds_password_reset.c: a new password, of resetPassword and ---
 * ---- admin.updateAccountPassword -------------------------------------- */

typedef struct {
    const char     *password;       /* NUL-terminated */
    char            hash[PDS_PASSWORD_HASH_LEN + 1];
    ngx_uint_t      hashed;         /* hash is set */
} ngx_pds_new_password_t;

/* hashes password into hash (ngx_pds_thread_post(), data: the struct) */
void ngx_pds_new_password_work(void *data, ngx_log_t *log);
/*
 * In a write transaction: acc (as read in it) gets hash as its password;
 * its password reset token and every refresh token of it (app passwords'
 * sessions too) go.  0, or a storage error (PDS_NOTFOUND untouched).
 */
int ngx_pds_new_password_set(pds_store_t *store, MDB_txn *txn,
    pds_account_t *acc, char *hash);


/* ---- ngx_pds_purge.c: the purge after an account's deletion ---------- */

typedef struct {
    pds_purge_t     purge;          /* pds_account_delete's, if purging */
    ngx_uint_t      purging;        /* purge holds a purge to do */
    const char     *did;            /* named in the closing notice; NULL:
                                       no notice */

    /* the purge's own */
    int             result;
    ngx_uint_t      all_done;
    uint64_t        rm_uid;         /* blob files to remove */
    char           *blob_dir;       /* their folder */
    ngx_uint_t      txns;
    uint64_t        rows;
} ngx_pds_purge_run_t;

/*
 * Purges run->purge (when run->purging), then every purge an earlier
 * deletion left behind, in bounded transactions, and each account's blob
 * files; then answers 200, empty (a failure: logged, 500).  ctx->data
 * becomes run, which lives as long as the request.
 */
ngx_int_t ngx_pds_purge_run(ngx_pds_ctx_t *ctx, ngx_pds_purge_run_t *run);


/* ---- ngx_pds_identity.c: /.well-known/atproto-did of a tenant's handle,
 * ---- wherever it is asked (ngx_pds_well_known.c) --------------------- */

ngx_int_t ngx_pds_well_known_answer(ngx_http_request_t *r,
    ngx_pds_srv_conf_t *conf);


/* ---- ngx_pds_identity.c: a handle's update, of identity.updateHandle --
 * ---- and admin.updateAccountHandle ----------------------------------- */

typedef struct {
    char                    *handle;    /* checked, lower case */
    pds_account_t            account;
    int                      result;
    ngx_uint_t               external;  /* not under a handle domain */
    ngx_pds_handle_found_t   found;     /* what an external one says */
    void                    *doc;       /* a did:web account's document
                                           (ngx_pds_did_t), fetched fresh */
} ngx_pds_handle_t;

/*
 * The new handle v into st->handle, lower-cased: a valid handle with an
 * allowed TLD.  NGX_OK, or the refusal (400 InvalidHandle) sent.
 */
ngx_int_t ngx_pds_update_handle_syntax(ngx_pds_ctx_t *ctx,
    ngx_pds_handle_t *st, json_t *v);
/*
 * With ctx->data the ngx_pds_handle_t of an account and its new handle
 * (checked, and not another account's): a PLC operation with the handle,
 * signed with the rotation key and sent to the directory, then the handle
 * stored with an #identity event; answers 200, empty (HandleNotAvailable
 * if another account took it meanwhile).
 */
ngx_int_t ngx_pds_update_handle_plc(ngx_pds_ctx_t *ctx);
/*
 * The same, for a handle checked but maybe another account's, or (with
 * external set) a domain of the user's: that domain must resolve (afresh)
 * to the account's DID ("External handle did not resolve to DID"), and
 * the handle must not be another account's (HandleNotAvailable); then
 * ngx_pds_update_handle_plc.
 */
ngx_int_t ngx_pds_update_handle_claim(ngx_pds_ctx_t *ctx);


/* ---- ngx_pds_describe.c: of ngx_pds_identity_methods ------------------ */

ngx_int_t ngx_pds_describe_repo(ngx_pds_ctx_t *ctx);
ngx_int_t ngx_pds_check_account_status(ngx_pds_ctx_t *ctx);


/* ---- ngx_pds_repo_write.c: the record writes of ngx_pds_repo_methods -- */

ngx_int_t ngx_pds_create_record(ngx_pds_ctx_t *ctx);
ngx_int_t ngx_pds_put_record(ngx_pds_ctx_t *ctx);
ngx_int_t ngx_pds_delete_record(ngx_pds_ctx_t *ctx);
ngx_int_t ngx_pds_apply_writes(ngx_pds_ctx_t *ctx);


/* ---- ngx_pds_blob.c: the blob references of record writes ------------- */

typedef struct {
    pds_cid_t               **blobs;         /* per op: its blob refs */
    size_t                   *nblobs;
    pds_blob_gone_t           gone;
    ngx_pds_srv_conf_t       *conf;
    ngx_pool_t               *pool;
    ngx_uint_t                missing;
} ngx_pds_blob_ops_t;

/* the CIDs of the blobs a record references, into a pool array */
ngx_int_t ngx_pds_blob_refs(ngx_pool_t *pool, json_t *record,
    pds_cid_t **cids, size_t *n);
/* the write's hook (pds_repo_write_t.hook, data: ngx_pds_blob_ops_t) */
int ngx_pds_blob_commit_hook(pds_store_t *store, MDB_txn *txn,
    pds_repo_write_t *w, void *data);
/* the write's after step (ngx_pds_write(), data: ngx_pds_blob_ops_t) */
void ngx_pds_blob_after_write(void *data, pds_repo_write_t *w,
    ngx_uint_t committed, ngx_log_t *log);


#endif /* NGX_PDS_METHODS_INT_H */
