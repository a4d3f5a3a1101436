/*
 * ngx_pds_module: records over XRPC.
 *
 *   com.atproto.repo.createRecord / putRecord / deleteRecord / applyWrites
 *   (one commit each, queued for group commit: ngx_pds_writer.c) and
 *   getRecord / listRecords (short LMDB read transactions on the loop).
 *
 * Records arrive as atproto JSON, are checked and turned into DAG-CBOR on
 * the event loop (a few µs), and the signed commit happens in the thread
 * pool together with every other write queued at that moment.
 */

#include "ngx_pds.h"
#include "ngx_pds_methods.h"

#include "pds_json.h"
#include "pds_lexicon.h"
#include "pds_repo.h"
#include "pds_syntax.h"
#include "pds_tid.h"


#define NGX_PDS_RECORD_JSON_LIMIT  1000000


static ngx_int_t ngx_pds_create_record(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_put_record(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_delete_record(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_apply_writes(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_get_record(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_list_records(ngx_pds_ctx_t *ctx);


#define NGX_PDS_WRITE_FLAGS  (NGX_PDS_CHECK_TAKEDOWN|NGX_PDS_CHECK_DEACTIVATED)

const ngx_pds_method_t  ngx_pds_repo_methods[] = {

    { ngx_string("com.atproto.repo.createRecord"), NGX_PDS_PROCEDURE,
      NGX_PDS_AUTH_ACCESS, NGX_PDS_IN_JSON, 0, NGX_PDS_RECORD_JSON_LIMIT,
      ngx_pds_create_record, NULL },

    { ngx_string("com.atproto.repo.putRecord"), NGX_PDS_PROCEDURE,
      NGX_PDS_AUTH_ACCESS, NGX_PDS_IN_JSON, 0, NGX_PDS_RECORD_JSON_LIMIT,
      ngx_pds_put_record, NULL },

    { ngx_string("com.atproto.repo.deleteRecord"), NGX_PDS_PROCEDURE,
      NGX_PDS_AUTH_ACCESS, NGX_PDS_IN_JSON, 0, 0, ngx_pds_delete_record, NULL },

    { ngx_string("com.atproto.repo.applyWrites"), NGX_PDS_PROCEDURE,
      NGX_PDS_AUTH_ACCESS, NGX_PDS_IN_JSON, 0, NGX_PDS_RECORD_JSON_LIMIT,
      ngx_pds_apply_writes, NULL },

    { ngx_string("com.atproto.repo.getRecord"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_NONE, NGX_PDS_IN_NONE, 0, 0, ngx_pds_get_record, NULL },

    { ngx_string("com.atproto.repo.listRecords"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_NONE, NGX_PDS_IN_NONE, 0, 0, ngx_pds_list_records, NULL },

    { ngx_null_string, 0, 0, 0, 0, 0, NULL, NULL }
};


/* one record write as prepared on the event loop */
typedef struct {
    const char          *collection;
    const char          *rkey;
    char                 tid[PDS_TID_BUF];
    const char          *validation;         /* "valid", "unknown", NULL */
    pds_cid_t            cid;
} ngx_pds_rec_t;


typedef struct {
    pds_account_t        account;
    pds_key_t           *key;
    pds_repo_write_t     write;
    pds_repo_op_t       *ops;
    ngx_pds_rec_t       *recs;
    ngx_uint_t           nops;
    ngx_uint_t           kind;               /* which method */
    ngx_pds_blob_ops_t   blobs;
} ngx_pds_wstate_t;


/* in the commit's transaction: blob references follow the records */
static int
ngx_pds_repo_hook(pds_store_t *store, MDB_txn *txn, pds_repo_write_t *w,
    void *data)
{
    return ngx_pds_blob_commit_refs(store, txn, w, data);
}


static void
ngx_pds_repo_after(void *data, pds_repo_write_t *w, ngx_uint_t committed,
    ngx_log_t *log)
{
    ngx_pds_blob_ops_t  *ops = data;

    if (committed) {
        ngx_pds_blob_after_commit(ops, w->uid, log);

    } else {
        pds_blob_gone_free(&ops->gone);
    }
}


static pds_tid_gen_t  ngx_pds_rkey_gen;
static ngx_uint_t     ngx_pds_rkey_gen_ready;


static ngx_int_t
ngx_pds_bad_request(ngx_pds_ctx_t *ctx, const char *error, const char *fmt,
    const char *a, const char *b)
{
    u_char  *p, msg[1024];

    p = ngx_snprintf(msg, sizeof(msg) - 1, fmt, a, b);
    *p = '\0';

    return ngx_pds_fail(ctx, NGX_HTTP_BAD_REQUEST,
                        error ? error : "InvalidRequest", (char *) msg);
}


static void
ngx_pds_key_cleanup(void *data)
{
    pds_key_free(data);
}


/*
 * Signing keys of the tenant's accounts, kept by this worker for its
 * lifetime (up to NGX_PDS_KEYS_CACHED accounts; others are loaded for each
 * write): deriving the public point costs ~20 us a write otherwise.  An
 * entry is used only while the account row still holds the same private
 * key, so a changed key is never missed.  Entries are never freed, so a
 * thread may sign with one while the event loop looks up another.
 */

#define NGX_PDS_KEYS_CACHED  64

typedef struct {
    uint64_t     uid;
    u_char       priv[32];
    pds_key_t   *key;
} ngx_pds_key_slot_t;

typedef struct {
    ngx_uint_t          n;
    ngx_pds_key_slot_t  slots[NGX_PDS_KEYS_CACHED];
} ngx_pds_keys_t;


static pds_key_t *
ngx_pds_signing_key(ngx_pds_srv_conf_t *conf, uint64_t uid,
    const uint8_t *priv, size_t len)
{
    ngx_uint_t           i;
    ngx_pds_keys_t      *keys;
    ngx_pds_key_slot_t  *slot;

    if (len != 32) {
        return NULL;
    }

    keys = conf->keys;

    if (keys == NULL) {
        keys = ngx_pcalloc(ngx_cycle->pool, sizeof(ngx_pds_keys_t));
        if (keys == NULL) {
            return NULL;
        }

        conf->keys = keys;
    }

    for (i = 0; i < keys->n; i++) {
        slot = &keys->slots[i];

        /* a replaced key stays: a thread may still sign with it */
        if (slot->uid == uid && ngx_memcmp(slot->priv, priv, 32) == 0) {
            return slot->key;
        }
    }

    if (keys->n == NGX_PDS_KEYS_CACHED) {
        return NULL;
    }

    slot = &keys->slots[keys->n];

    slot->key = pds_key_from_private(PDS_KEY_K256, priv, len);
    if (slot->key == NULL) {
        return NULL;
    }

    slot->uid = uid;
    ngx_memcpy(slot->priv, priv, 32);
    keys->n++;

    return slot->key;
}


/*
 * The repo being written must be the caller's: "repo" may be the DID or
 * the handle.  The reference's errors for missing, taken-down and
 * deactivated accounts.  NGX_OK, or NGX_DECLINED with the refusal sent.
 */
static ngx_int_t
ngx_pds_writable_repo(ngx_pds_ctx_t *ctx, ngx_pds_wstate_t *st)
{
    int                  rc;
    char                *repo;
    json_t              *v;
    MDB_txn             *txn;
    uint64_t             uid;
    pds_store_t         *store;
    ngx_pool_cleanup_t  *cln;

    v = json_object_get(ctx->body, "repo");
    if (!json_is_string(v)) {
        return ngx_pds_bad_request(ctx, NULL, "Input must have the "
                                   "property \"repo\"%s%s", "", "");
    }

    repo = (char *) json_string_value(v);
    store = ctx->conf->env->store;

    txn = ngx_pds_read_txn(ctx);
    if (txn == NULL) {
        return ngx_pds_fail(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL);
    }

    if (ngx_strncmp(repo, "did:", 4) == 0) {
        rc = pds_account_get_by_did(store, txn, repo, &ctx->alloc,
                                    &st->account);

    } else {
        rc = pds_account_uid_by_handle(store, txn, repo, &uid);
        if (rc == 0) {
            rc = pds_account_get(store, txn, uid, &ctx->alloc, &st->account);
        }
    }

    if (rc == PDS_NOTFOUND) {
        return ngx_pds_fail(ctx, NGX_HTTP_FORBIDDEN, "AccountNotFound",
                            "Account not found");
    }

    if (rc != 0) {
        return ngx_pds_fail(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL);
    }

    if (st->account.takedown_ref) {
        return ngx_pds_fail(ctx, NGX_HTTP_UNAUTHORIZED, "AccountTakedown",
                            "Account has been taken down");
    }

    if (st->account.deactivated_at) {
        return ngx_pds_fail(ctx, NGX_HTTP_UNAUTHORIZED, "AccountDeactivated",
                            "Account is deactivated");
    }

    if (ngx_strcmp(st->account.did, ctx->auth.did) != 0) {
        return ngx_pds_fail(ctx, NGX_HTTP_UNAUTHORIZED,
                            "AuthenticationRequired",
                            "Authentication Required");
    }

    st->key = ngx_pds_signing_key(ctx->conf, st->account.uid,
                                  st->account.signing_key,
                                  st->account.signing_key_len);

    if (st->key == NULL) {
        st->key = pds_key_from_private(PDS_KEY_K256, st->account.signing_key,
                                       st->account.signing_key_len);
        if (st->key == NULL) {
            return ngx_pds_fail(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR, NULL,
                                NULL);
        }

        cln = ngx_pool_cleanup_add(ctx->request->pool, 0);
        if (cln == NULL) {
            pds_key_free(st->key);
            return ngx_pds_fail(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR, NULL,
                                NULL);
        }

        cln->handler = ngx_pds_key_cleanup;
        cln->data = st->key;
    }

    ngx_pds_read_done(ctx);

    st->write.uid = st->account.uid;
    st->write.key = st->key;

    return NGX_OK;
}


/*
 * Record validation against the Lexicon schemas (pds_lexicons), as the
 * reference: the record types it knows are validated ("valid", or 400
 * with the path of the first error); others are "unknown", or refused when
 * the caller asked for validation; validate:false skips it (no status).
 */
static ngx_int_t
ngx_pds_validate_record(ngx_pds_ctx_t *ctx, json_t *record,
    const char *collection, const char *rkey, const char *path,
    json_t *validate, const char **status)
{
    int   rc;
    char  err[512];

    if (json_is_false(validate)) {
        *status = NULL;
        return NGX_OK;
    }

    if (ctx->conf->lexicons == NULL
        || !pds_lexicon_is_reference_type(collection, ngx_strlen(collection))
        || !pds_lexicon_has_record(ctx->conf->lexicons, collection,
                                   ngx_strlen(collection)))
    {
        if (json_is_true(validate)) {
            return ngx_pds_bad_request(ctx, NULL, "Unknown lexicon type: "
                                       "%s%s", collection, "");
        }

        *status = "unknown";
        return NGX_OK;
    }

    rc = pds_lexicon_validate_record(ctx->conf->lexicons, record, path, rkey,
                                     err, sizeof(err));

    if (rc == PDS_LEX_VALID) {
        *status = "valid";
        return NGX_OK;
    }

    if (rc == PDS_LEX_UNKNOWN) {
        *status = "unknown";
        return NGX_OK;
    }

    return ngx_pds_bad_request(ctx, NULL, "%s%s", err, "");
}


/*
 * Checks one record write on the loop: collection, rkey (or a new TID),
 * $type, validation, the DAG-CBOR bytes and their CID.
 */
static ngx_int_t
ngx_pds_prepare_record(ngx_pds_ctx_t *ctx, pds_repo_op_t *op,
    ngx_pds_rec_t *rec, json_t *record, json_t *collection, json_t *rkey,
    json_t *validate, ngx_uint_t rkey_required, pds_cid_t **blobs,
    size_t *nblobs, const char *path)
{
    json_t       *type;
    const char   *err, *c;
    pds_buf_t     buf;

    if (!json_is_string(collection)
        || !pds_nsid_valid(json_string_value(collection),
                           json_string_length(collection)))
    {
        return ngx_pds_bad_request(ctx, NULL, "Input/collection must be a "
                                   "valid NSID%s%s", "", "");
    }

    c = json_string_value(collection);
    rec->collection = c;

    if (rkey && !json_is_null(rkey)) {
        if (!json_is_string(rkey)
            || !pds_rkey_valid(json_string_value(rkey),
                               json_string_length(rkey)))
        {
            return ngx_pds_bad_request(ctx, NULL, "Invalid record key: %s%s",
                                       json_is_string(rkey)
                                       ? json_string_value(rkey) : "", "");
        }

        rec->rkey = json_string_value(rkey);

    } else if (rkey_required) {
        return ngx_pds_bad_request(ctx, NULL, "Input must have the property "
                                   "\"rkey\"%s%s", "", "");

    } else {
        if (!ngx_pds_rkey_gen_ready) {
            pds_tid_gen_init(&ngx_pds_rkey_gen);
            ngx_pds_rkey_gen_ready = 1;
        }

        if (pds_tid_next(&ngx_pds_rkey_gen, rec->tid) != 0) {
            return ngx_pds_fail(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR, NULL,
                                NULL);
        }

        rec->rkey = rec->tid;
    }

    op->collection = rec->collection;
    op->collection_len = ngx_strlen(rec->collection);
    op->rkey = rec->rkey;
    op->rkey_len = ngx_strlen(rec->rkey);

    if (record == NULL) {
        return NGX_OK;                      /* a delete */
    }

    if (!json_is_object(record)) {
        return ngx_pds_bad_request(ctx, NULL, "Input/record must be an "
                                   "object%s%s", "", "");
    }

    type = json_object_get(record, "$type");

    if (type == NULL) {
        json_object_set_new(record, "$type", json_string(c));

    } else if (!json_is_string(type) || ngx_strcmp(json_string_value(type), c)
                                        != 0)
    {
        return ngx_pds_bad_request(ctx, NULL, "Invalid $type: expected %s, "
                                   "got %s", c,
                                   json_is_string(type)
                                   ? json_string_value(type) : "?");
    }

    if (ngx_pds_validate_record(ctx, record, c, rec->rkey, path, validate,
                                &rec->validation)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    pds_buf_init(&buf, &ctx->alloc);

    err = pds_json_record_to_cbor_bytes(record, &buf);
    if (err) {
        return ngx_pds_bad_request(ctx, NULL, "Invalid record: %s%s", err,
                                   "");
    }

    op->record = buf.data;
    op->record_len = buf.len;
    pds_cid_of_cbor(&rec->cid, buf.data, buf.len);

    if (ngx_pds_blob_refs(ctx->request->pool, record, blobs, nblobs)
        != NGX_OK)
    {
        return ngx_pds_fail(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_pds_parse_cid(ngx_pds_ctx_t *ctx, json_t *v, const char *name,
    pds_cid_t *cid)
{
    if (!json_is_string(v)
        || pds_cid_parse(cid, json_string_value(v), json_string_length(v))
           != 0)
    {
        return ngx_pds_bad_request(ctx, NULL, "Input/%s must be a cid "
                                   "string%s", name, "");
    }

    return NGX_OK;
}


static ngx_int_t
ngx_pds_prepare_common(ngx_pds_ctx_t *ctx, ngx_pds_wstate_t *st,
    ngx_uint_t nops)
{
    json_t  *swap;

    st->ops = ngx_pcalloc(ctx->request->pool, nops * sizeof(pds_repo_op_t));
    st->recs = ngx_pcalloc(ctx->request->pool, nops * sizeof(ngx_pds_rec_t));
    if (st->ops == NULL || st->recs == NULL) {
        return ngx_pds_fail(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL);
    }

    st->nops = nops;
    st->write.ops = st->ops;
    st->write.nops = nops;

    st->blobs.blobs = ngx_pcalloc(ctx->request->pool,
                                  nops * sizeof(pds_cid_t *));
    st->blobs.nblobs = ngx_pcalloc(ctx->request->pool, nops * sizeof(size_t));
    if (st->blobs.blobs == NULL || st->blobs.nblobs == NULL) {
        return ngx_pds_fail(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL);
    }

    st->blobs.conf = ctx->conf;
    st->blobs.pool = ctx->request->pool;
    st->write.hook = ngx_pds_repo_hook;
    st->write.hook_data = &st->blobs;

    swap = json_object_get(ctx->body, "swapCommit");

    if (swap && !json_is_null(swap)) {
        pds_cid_t  *cid;

        cid = ngx_palloc(ctx->request->pool, sizeof(pds_cid_t));
        if (cid == NULL) {
            return ngx_pds_fail(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR, NULL,
                                NULL);
        }

        if (ngx_pds_parse_cid(ctx, swap, "swapCommit", cid) != NGX_OK) {
            return NGX_DECLINED;
        }

        st->write.swap_commit = cid;
    }

    return NGX_OK;
}


/* the refusal for a failed commit, with the reference's names */
static ngx_int_t
ngx_pds_write_failed(ngx_pds_ctx_t *ctx, ngx_pds_wstate_t *st)
{
    char                 cid[PDS_CID_STR_SIZE], uri[1024];
    pds_repo_op_t       *op;
    pds_repo_write_t    *w = &st->write;
    ngx_http_request_t  *r = ctx->request;

    op = (w->failed_op < st->nops) ? &st->ops[w->failed_op] : NULL;

    switch (w->status) {

    case PDS_REPO_ESWAP:
        if (op && op->swap != PDS_REPO_SWAP_NONE) {
            if (op->has_prev) {
                pds_cid_format(&op->prev, cid);
            } else {
                ngx_cpystrn((u_char *) cid, (u_char *) "null", sizeof(cid));
            }
            ngx_pds_bad_request(ctx, "InvalidSwap", "Record was at %s%s",
                                cid, "");
            return ctx->sent_rc;
        }

        pds_cid_format(&w->prev_commit, cid);
        ngx_pds_bad_request(ctx, "InvalidSwap", "Commit was at %s%s", cid,
                            "");
        return ctx->sent_rc;

    case PDS_REPO_EEXISTS:
        ngx_snprintf((u_char *) uri, sizeof(uri) - 1, "at://%s/%s/%s%Z",
                     st->account.did, op ? op->collection : "",
                     op ? op->rkey : "");
        ngx_pds_bad_request(ctx, "InvalidSwap", "Record already exists: %s%s",
                            uri, "");
        return ctx->sent_rc;

    case PDS_REPO_ENOTFOUND:
        ngx_snprintf((u_char *) uri, sizeof(uri) - 1, "at://%s/%s/%s%Z",
                     st->account.did, op ? op->collection : "",
                     op ? op->rkey : "");
        ngx_pds_bad_request(ctx, NULL, "Could not find record: %s%s", uri,
                            "");
        return ctx->sent_rc;

    case PDS_REPO_EHOOK:
        if (st->blobs.missing) {
            ngx_pds_bad_request(ctx, "BlobNotFound", "%s%s", w->error, "");
            return ctx->sent_rc;
        }
        /* fall through */

    case PDS_REPO_EINVAL:
    case PDS_REPO_ETOOBIG:
        ngx_pds_bad_request(ctx, NULL, "%s%s",
                            w->error[0] ? w->error
                                        : pds_repo_strerror(w->status), "");
        return ctx->sent_rc;

    case PDS_REPO_EBUSY:
        return ngx_pds_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                  "NotEnoughResources",
                                  "The server is too busy right now");

    default:
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pds: commit for %s failed: %s (%s)", st->account.did,
                      pds_repo_strerror(w->status), w->error);
        return ngx_pds_send_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                  "InternalServerError",
                                  "Internal Server Error");
    }
}


static json_t *
ngx_pds_commit_json(pds_repo_write_t *w)
{
    char  cid[PDS_CID_STR_SIZE];

    pds_cid_format(&w->commit, cid);

    return json_pack("{s:s, s:s}", "cid", cid, "rev", w->rev);
}


static json_t *
ngx_pds_uri_json(ngx_pds_wstate_t *st, ngx_pds_rec_t *rec)
{
    u_char  uri[1024];

    ngx_snprintf(uri, sizeof(uri) - 1, "at://%s/%s/%s%Z", st->account.did,
                 rec->collection, rec->rkey);

    return json_string((char *) uri);
}


static json_t *
ngx_pds_cid_json(pds_cid_t *cid)
{
    char  s[PDS_CID_STR_SIZE];

    pds_cid_format(cid, s);

    return json_string(s);
}


/* ---- createRecord / putRecord / deleteRecord --------------------------- */


static ngx_int_t
ngx_pds_single_written(ngx_pds_ctx_t *ctx)
{
    json_t            *answer;
    ngx_pds_rec_t     *rec;
    ngx_pds_wstate_t  *st = ctx->data;
    pds_repo_write_t  *w = &st->write;

    if (w->status != PDS_REPO_OK && w->status != PDS_REPO_UNCHANGED) {
        return ngx_pds_write_failed(ctx, st);
    }

    answer = ngx_pds_json_track(ctx->request, json_object());
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rec = &st->recs[0];

    if (st->kind != 3) {
        json_object_set_new(answer, "uri", ngx_pds_uri_json(st, rec));
        json_object_set_new(answer, "cid", ngx_pds_cid_json(&rec->cid));
    }

    if (w->status == PDS_REPO_OK) {
        json_object_set_new(answer, "commit", ngx_pds_commit_json(w));
    }

    if (st->kind != 3 && rec->validation) {
        json_object_set_new(answer, "validationStatus",
                            json_string(rec->validation));
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
}


static ngx_int_t
ngx_pds_single_write(ngx_pds_ctx_t *ctx, ngx_uint_t kind)
{
    json_t            *swap;
    pds_repo_op_t     *op;
    ngx_pds_wstate_t  *st;

    st = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_wstate_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = st;
    st->kind = kind;

    if (ngx_pds_writable_repo(ctx, st) != NGX_OK
        || ngx_pds_prepare_common(ctx, st, 1) != NGX_OK)
    {
        return ctx->sent_rc;
    }

    op = &st->ops[0];

    if (ngx_pds_prepare_record(ctx, op, &st->recs[0],
                               kind == 3 ? NULL
                                         : json_object_get(ctx->body,
                                                           "record"),
                               json_object_get(ctx->body, "collection"),
                               json_object_get(ctx->body, "rkey"),
                               json_object_get(ctx->body, "validate"),
                               kind != 1, &st->blobs.blobs[0],
                               &st->blobs.nblobs[0], "$.record")
        != NGX_OK)
    {
        return ctx->sent_rc;
    }

    if (kind != 3 && op->record == NULL) {
        return ngx_pds_send_error(ctx->request, NGX_HTTP_BAD_REQUEST,
                                  "InvalidRequest", "Input must have the "
                                  "property \"record\"");
    }

    switch (kind) {

    case 1:
        op->action = PDS_REPO_CREATE;
        break;

    case 2:
        op->action = PDS_REPO_PUT;
        st->write.flags |= PDS_REPO_SKIP_NOOP;
        break;

    default:
        op->action = PDS_REPO_DELETE;
        op->flags |= PDS_REPO_OP_IF_EXISTS;
        st->write.flags |= PDS_REPO_SKIP_NOOP;
        break;
    }

    if (kind != 1) {
        swap = json_object_get(ctx->body, "swapRecord");

        if (swap && json_is_null(swap)) {
            op->swap = PDS_REPO_SWAP_ABSENT;

        } else if (swap) {
            if (ngx_pds_parse_cid(ctx, swap, "swapRecord", &op->swap_cid)
                != NGX_OK)
            {
                return ctx->sent_rc;
            }
            op->swap = PDS_REPO_SWAP_CID;
        }
    }

    if (ngx_pds_ratelimit(ctx, kind == 1 ? 3 : (kind == 2 ? 2 : 1))
        != NGX_OK)
    {
        return ctx->sent_rc;
    }

    return ngx_pds_write(ctx, &st->write, ngx_pds_repo_after, &st->blobs,
                         ngx_pds_single_written);
}


static ngx_int_t
ngx_pds_create_record(ngx_pds_ctx_t *ctx)
{
    return ngx_pds_single_write(ctx, 1);
}


static ngx_int_t
ngx_pds_put_record(ngx_pds_ctx_t *ctx)
{
    return ngx_pds_single_write(ctx, 2);
}


static ngx_int_t
ngx_pds_delete_record(ngx_pds_ctx_t *ctx)
{
    return ngx_pds_single_write(ctx, 3);
}


/* ---- applyWrites ------------------------------------------------------- */


static ngx_int_t
ngx_pds_apply_written(ngx_pds_ctx_t *ctx)
{
    json_t            *answer, *results, *res;
    ngx_uint_t         i;
    ngx_pds_rec_t     *rec;
    ngx_pds_wstate_t  *st = ctx->data;
    pds_repo_write_t  *w = &st->write;

    if (w->status != PDS_REPO_OK) {
        return ngx_pds_write_failed(ctx, st);
    }

    answer = ngx_pds_json_track(ctx->request, json_object());
    results = json_array();
    if (answer == NULL || results == NULL) {
        json_decref(results);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_object_set_new(answer, "commit", ngx_pds_commit_json(w));
    json_object_set_new(answer, "results", results);

    for (i = 0; i < st->nops; i++) {
        rec = &st->recs[i];

        switch (st->ops[i].action) {

        case PDS_REPO_CREATE:
        case PDS_REPO_UPDATE:
            res = json_pack("{s:s, s:o, s:o}", "$type",
                            st->ops[i].action == PDS_REPO_CREATE
                            ? "com.atproto.repo.applyWrites#createResult"
                            : "com.atproto.repo.applyWrites#updateResult",
                            "uri", ngx_pds_uri_json(st, rec),
                            "cid", ngx_pds_cid_json(&rec->cid));
            if (res && rec->validation) {
                json_object_set_new(res, "validationStatus",
                                    json_string(rec->validation));
            }
            break;

        default:
            res = json_pack("{s:s}", "$type",
                            "com.atproto.repo.applyWrites#deleteResult");
            break;
        }

        json_array_append_new(results, res);
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
}


static ngx_int_t
ngx_pds_apply_writes(ngx_pds_ctx_t *ctx)
{
    size_t             i, n;
    char               path[40];
    json_t            *writes, *item, *validate;
    ngx_uint_t         points;
    const char        *type;
    pds_repo_op_t     *op;
    ngx_pds_wstate_t  *st;

    st = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_wstate_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = st;
    st->kind = 4;

    writes = json_object_get(ctx->body, "writes");
    if (!json_is_array(writes)) {
        return ngx_pds_send_error(ctx->request, NGX_HTTP_BAD_REQUEST,
                                  "InvalidRequest", "Input must have the "
                                  "property \"writes\"");
    }

    n = json_array_size(writes);
    if (n > PDS_REPO_MAX_OPS) {
        return ngx_pds_send_error(ctx->request, NGX_HTTP_BAD_REQUEST,
                                  "InvalidRequest",
                                  "Too many writes. Max: 200");
    }

    if (n == 0) {
        return ngx_pds_send_error(ctx->request, NGX_HTTP_BAD_REQUEST,
                                  "InvalidRequest",
                                  "Input/writes must not be empty");
    }

    if (ngx_pds_writable_repo(ctx, st) != NGX_OK
        || ngx_pds_prepare_common(ctx, st, n) != NGX_OK)
    {
        return ctx->sent_rc;
    }

    validate = json_object_get(ctx->body, "validate");

    for (i = 0; i < n; i++) {
        item = json_array_get(writes, i);
        op = &st->ops[i];

        ngx_sprintf((u_char *) path, "$.writes[%uz].value%Z", i);
        type = json_string_value(json_object_get(item, "$type"));

        if (type == NULL) {
            type = "";
        }

        if (ngx_strcmp(type, "com.atproto.repo.applyWrites#create") == 0) {
            op->action = PDS_REPO_CREATE;

        } else if (ngx_strcmp(type, "com.atproto.repo.applyWrites#update")
                   == 0)
        {
            op->action = PDS_REPO_UPDATE;

        } else if (ngx_strcmp(type, "com.atproto.repo.applyWrites#delete")
                   == 0)
        {
            op->action = PDS_REPO_DELETE;

        } else {
            return ngx_pds_send_error(ctx->request, NGX_HTTP_BAD_REQUEST,
                                      "InvalidRequest",
                                      "Action not supported");
        }

        if (ngx_pds_prepare_record(ctx, op, &st->recs[i],
                                   op->action == PDS_REPO_DELETE
                                   ? NULL : json_object_get(item, "value"),
                                   json_object_get(item, "collection"),
                                   json_object_get(item, "rkey"),
                                   validate,
                                   op->action != PDS_REPO_CREATE,
                                   &st->blobs.blobs[i],
                                   &st->blobs.nblobs[i], path)
            != NGX_OK)
        {
            return ctx->sent_rc;
        }

        if (op->action != PDS_REPO_DELETE && op->record == NULL) {
            return ngx_pds_send_error(ctx->request, NGX_HTTP_BAD_REQUEST,
                                      "InvalidRequest", "A create or update "
                                      "write must have a \"value\"");
        }
    }

    points = 0;
    for (i = 0; i < n; i++) {
        points += (st->ops[i].action == PDS_REPO_CREATE) ? 3
                  : (st->ops[i].action == PDS_REPO_UPDATE ? 2 : 1);
    }

    if (ngx_pds_ratelimit(ctx, points) != NGX_OK) {
        return ctx->sent_rc;
    }

    return ngx_pds_write(ctx, &st->write, ngx_pds_repo_after, &st->blobs,
                         ngx_pds_apply_written);
}


/* ---- getRecord / listRecords ------------------------------------------- */


/* the DID of a local "repo" parameter (DID or handle), or NULL */
static const char *
ngx_pds_local_did(ngx_pds_ctx_t *ctx, MDB_txn *txn, ngx_str_t *repo,
    uint64_t *uid)
{
    int             rc;
    pds_account_t   acc;
    pds_store_t    *store = ctx->conf->env->store;

    if (repo->len > 4 && ngx_strncmp(repo->data, "did:", 4) == 0) {
        rc = pds_store_uid_get(store, txn, (char *) repo->data, repo->len,
                               uid);
        return rc == 0 ? (char *) repo->data : NULL;
    }

    ngx_strlow(repo->data, repo->data, repo->len);

    if (pds_account_uid_by_handle(store, txn, (char *) repo->data, uid) != 0
        || pds_account_get(store, txn, *uid, &ctx->alloc, &acc) != 0)
    {
        return NULL;
    }

    return acc.did;
}


static ngx_int_t
ngx_pds_get_record(ngx_pds_ctx_t *ctx)
{
    int                  rc;
    size_t               n;
    json_t              *answer, *value;
    MDB_txn             *txn;
    uint64_t             uid;
    pds_cid_t            cid, want;
    ngx_str_t            repo, collection, rkey, cidp;
    const char          *did, *err;
    const uint8_t       *p;
    char                 cids[PDS_CID_STR_SIZE];
    u_char               uri[1024];

    if (ngx_pds_arg(ctx->request, "repo", &repo) != NGX_OK
        || ngx_pds_arg(ctx->request, "collection", &collection) != NGX_OK
        || ngx_pds_arg(ctx->request, "rkey", &rkey) != NGX_OK)
    {
        return ngx_pds_send_error(ctx->request, NGX_HTTP_BAD_REQUEST,
                                  "InvalidRequest", "Params must have the "
                                  "properties \"repo\", \"collection\" and "
                                  "\"rkey\"");
    }

    ngx_str_null(&cidp);

    if (ngx_pds_arg(ctx->request, "cid", &cidp) == NGX_OK
        && pds_cid_parse(&want, (char *) cidp.data, cidp.len) != 0)
    {
        return ngx_pds_send_error(ctx->request, NGX_HTTP_BAD_REQUEST,
                                  "InvalidRequest", "cid must be a cid");
    }

    txn = ngx_pds_read_txn(ctx);
    if (txn == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    did = ngx_pds_local_did(ctx, txn, &repo, &uid);
    if (did == NULL) {
        ngx_pds_read_done(ctx);
        return ngx_pds_send_error(ctx->request, NGX_HTTP_BAD_REQUEST,
                                  "InvalidRequest", "Could not locate record");
    }

    ngx_snprintf(uri, sizeof(uri) - 1, "at://%s/%V/%V%Z", did, &collection,
                 &rkey);

    rc = pds_repo_get_record(ctx->conf->env->store, txn, uid,
                             (char *) collection.data, collection.len,
                             (char *) rkey.data, rkey.len, &cid, &p, &n);

    if (rc == 0 && cidp.len && !pds_cid_equal(&cid, &want)) {
        rc = PDS_NOTFOUND;
    }

    if (rc != 0) {
        ngx_pds_read_done(ctx);

        if (rc < 0) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_pds_bad_request(ctx, "RecordNotFound",
                            "Could not locate record: %s%s", (char *) uri,
                            "");
        return ctx->sent_rc;
    }

    value = pds_cbor_bytes_to_json(p, n, &err);
    ngx_pds_read_done(ctx);

    if (value == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    pds_cid_format(&cid, cids);

    answer = ngx_pds_json_track(ctx->request,
                                json_pack("{s:s, s:s, s:o}", "uri", uri,
                                          "cid", cids, "value", value));
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
}


typedef struct {
    json_t          *records;
    const char      *did;
    ngx_str_t        collection;
    char             last[PDS_TID_BUF + 512];
    ngx_uint_t       failed;
} ngx_pds_list_t;


static int
ngx_pds_list_record(void *data, const char *rkey, size_t rlen,
    const pds_cid_t *cid, const uint8_t *p, size_t n)
{
    json_t          *value;
    const char      *err;
    char             cids[PDS_CID_STR_SIZE];
    u_char           uri[1024];
    ngx_pds_list_t  *ls = data;

    value = pds_cbor_bytes_to_json(p, n, &err);
    if (value == NULL || rlen >= sizeof(ls->last)) {
        json_decref(value);
        ls->failed = 1;
        return -1;
    }

    ngx_snprintf(uri, sizeof(uri) - 1, "at://%s/%V/%*s%Z", ls->did,
                 &ls->collection, rlen, rkey);
    pds_cid_format(cid, cids);

    json_array_append_new(ls->records, json_pack("{s:s, s:s, s:o}",
                                                 "uri", uri, "cid", cids,
                                                 "value", value));

    ngx_memcpy(ls->last, rkey, rlen);
    ls->last[rlen] = '\0';

    return 0;
}


static ngx_int_t
ngx_pds_list_records(ngx_pds_ctx_t *ctx)
{
    long             n;
    json_t          *answer;
    MDB_txn         *txn;
    uint64_t         uid;
    ngx_int_t        limit;
    ngx_str_t        repo, v, cursor;
    ngx_uint_t       reverse;
    ngx_pds_list_t   ls;
    u_char           msg[512];

    ngx_memzero(&ls, sizeof(ngx_pds_list_t));

    if (ngx_pds_arg(ctx->request, "repo", &repo) != NGX_OK
        || ngx_pds_arg(ctx->request, "collection", &ls.collection) != NGX_OK)
    {
        return ngx_pds_send_error(ctx->request, NGX_HTTP_BAD_REQUEST,
                                  "InvalidRequest", "Params must have the "
                                  "properties \"repo\" and \"collection\"");
    }

    limit = 50;

    if (ngx_pds_arg(ctx->request, "limit", &v) == NGX_OK) {
        limit = ngx_atoi(v.data, v.len);

        if (limit == NGX_ERROR || limit < 1 || limit > 100) {
            return ngx_pds_send_error(ctx->request, NGX_HTTP_BAD_REQUEST,
                                      "InvalidRequest", "limit must be an "
                                      "integer from 1 to 100");
        }
    }

    reverse = (ngx_pds_arg(ctx->request, "reverse", &v) == NGX_OK
               && v.len == 4 && ngx_strncmp(v.data, "true", 4) == 0);

    if (ngx_pds_arg(ctx->request, "cursor", &cursor) != NGX_OK) {
        ngx_str_null(&cursor);
    }

    txn = ngx_pds_read_txn(ctx);
    if (txn == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ls.did = ngx_pds_local_did(ctx, txn, &repo, &uid);
    if (ls.did == NULL) {
        ngx_pds_read_done(ctx);
        ngx_snprintf(msg, sizeof(msg) - 1, "Could not find repo: %V%Z",
                     &repo);
        return ngx_pds_send_error(ctx->request, NGX_HTTP_BAD_REQUEST,
                                  "InvalidRequest", (char *) msg);
    }

    answer = ngx_pds_json_track(ctx->request, json_object());
    ls.records = json_array();
    if (answer == NULL || ls.records == NULL) {
        json_decref(ls.records);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_object_set_new(answer, "records", ls.records);

    n = pds_repo_list_records(ctx->conf->env->store, txn, uid,
                              (char *) ls.collection.data, ls.collection.len,
                              (size_t) limit,
                              cursor.len ? (char *) cursor.data : NULL,
                              cursor.len, reverse, ngx_pds_list_record, &ls);

    ngx_pds_read_done(ctx);

    if (n < 0 || ls.failed) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (n > 0) {
        json_object_set_new(answer, "cursor", json_string(ls.last));
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
}
