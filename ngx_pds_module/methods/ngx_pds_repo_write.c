/*
 * ngx_pds_module: record writes (methods of ngx_pds_repo_methods).
 *
 *   com.atproto.repo.createRecord / putRecord / deleteRecord / applyWrites
 *   (one commit each, queued for group commit: ngx_pds_writer.c)
 *
 * Records arrive as atproto JSON, are checked and turned into DAG-CBOR on
 * the event loop (a few µs), and the signed commit happens in the thread
 * pool together with every other write queued at that moment; the blob
 * references of the records follow in the same transaction
 * (ngx_pds_blob.c).
 */

#include "ngx_pds_methods_int.h"
#include "ngx_pds_repo_input.h"

#include "pds_json.h"
#include "pds_lexicon.h"
#include "pds_repo.h"
#include "pds_syntax.h"
#include "pds_tid.h"


/* rate-limit points of one write, as the reference counts them */
#define NGX_PDS_POINTS_CREATE  3
#define NGX_PDS_POINTS_UPDATE  2
#define NGX_PDS_POINTS_DELETE  1


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
    int                  action;             /* of createRecord (CREATE),
                                                putRecord (PUT) and
                                                deleteRecord (DELETE);
                                                applyWrites: 0 */
    ngx_pds_blob_ops_t   blobs;
} ngx_pds_wstate_t;


static pds_tid_gen_t  ngx_pds_rkey_gen;
static ngx_uint_t     ngx_pds_rkey_gen_ready;



/*
 * The repo being written must be the caller's: "repo" may be the DID or
 * the handle.  The reference's errors for missing, taken-down and
 * deactivated accounts.  NGX_OK, or the refusal's status.
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

    v = json_object_get(ctx->body, "repo");
    if (!json_is_string(v)) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Input must have the property \"repo\"");
    }

    repo = (char *) json_string_value(v);
    store = ctx->conf->env->store;

    txn = ngx_pds_read_txn(ctx);
    if (txn == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
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
        return ngx_pds_error(ctx, NGX_HTTP_FORBIDDEN, "AccountNotFound",
                             "Account not found");
    }

    if (rc != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (st->account.takedown_ref) {
        return ngx_pds_error(ctx, NGX_HTTP_UNAUTHORIZED, "AccountTakedown",
                             "Account has been taken down");
    }

    if (st->account.deactivated_at) {
        return ngx_pds_error(ctx, NGX_HTTP_UNAUTHORIZED,
                             "AccountDeactivated", "Account is deactivated");
    }

    if (ngx_strcmp(st->account.did, ctx->auth.did) != 0) {
        return ngx_pds_error(ctx, NGX_HTTP_UNAUTHORIZED,
                             "AuthenticationRequired",
                             "Authentication Required");
    }

    st->key = ngx_pds_account_key(ctx, &st->account);
    if (st->key == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
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
 * NGX_OK, or the refusal's status.
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
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "Unknown lexicon type: %s", collection);
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

    return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest", "%s",
                         err);
}


/*
 * The collection and record key of one write (a new TID when the key may
 * be left out): NGX_OK, or the refusal's status.
 */
static ngx_int_t
ngx_pds_prepare_key(ngx_pds_ctx_t *ctx, pds_repo_op_t *op,
    ngx_pds_rec_t *rec, json_t *collection, json_t *rkey,
    ngx_uint_t rkey_required)
{
    if (!json_is_string(collection)
        || !pds_nsid_valid(json_string_value(collection),
                           json_string_length(collection)))
    {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Input/collection must be a valid NSID");
    }

    rec->collection = json_string_value(collection);

    if (rkey && !json_is_null(rkey)) {
        if (!json_is_string(rkey)
            || !pds_rkey_valid(json_string_value(rkey),
                               json_string_length(rkey)))
        {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "Invalid record key: %s",
                                 json_is_string(rkey)
                                 ? json_string_value(rkey) : "");
        }

        rec->rkey = json_string_value(rkey);

    } else if (rkey_required) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Input must have the property \"rkey\"");

    } else {
        if (!ngx_pds_rkey_gen_ready) {
            pds_tid_gen_init(&ngx_pds_rkey_gen);
            ngx_pds_rkey_gen_ready = 1;
        }

        if (pds_tid_next(&ngx_pds_rkey_gen, rec->tid) != 0) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rec->rkey = rec->tid;
    }

    op->collection = rec->collection;
    op->collection_len = ngx_strlen(rec->collection);
    op->rkey = rec->rkey;
    op->rkey_len = ngx_strlen(rec->rkey);

    return NGX_OK;
}


/*
 * Checks one record write on the loop: collection, rkey (or a new TID),
 * $type, validation, the DAG-CBOR bytes and their CID, the blobs it
 * references.  record NULL: a delete.  NGX_OK, or the refusal's status.
 */
static ngx_int_t
ngx_pds_prepare_record(ngx_pds_ctx_t *ctx, pds_repo_op_t *op,
    ngx_pds_rec_t *rec, json_t *record, json_t *collection, json_t *rkey,
    json_t *validate, ngx_uint_t rkey_required, pds_cid_t **blobs,
    size_t *nblobs, const char *path)
{
    json_t       *type;
    ngx_int_t     rc;
    const char   *err, *c;
    pds_buf_t     buf;

    rc = ngx_pds_prepare_key(ctx, op, rec, collection, rkey, rkey_required);
    if (rc != NGX_OK || record == NULL) {
        return rc;
    }

    if (!json_is_object(record)) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Input/record must be an object");
    }

    c = rec->collection;
    type = json_object_get(record, "$type");

    if (type == NULL) {
        json_object_set_new(record, "$type", json_string(c));

    } else if (!json_is_string(type) || ngx_strcmp(json_string_value(type), c)
                                        != 0)
    {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Invalid $type: expected %s, got %s", c,
                             json_is_string(type)
                             ? json_string_value(type) : "?");
    }

    rc = ngx_pds_validate_record(ctx, record, c, rec->rkey, path, validate,
                                 &rec->validation);
    if (rc != NGX_OK) {
        return rc;
    }

    pds_buf_init(&buf, &ctx->alloc);

    err = pds_json_record_to_cbor_bytes(record, &buf);
    if (err) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Invalid record: %s", err);
    }

    op->record = buf.data;
    op->record_len = buf.len;
    pds_cid_of_cbor(&rec->cid, buf.data, buf.len);

    if (ngx_pds_blob_refs(ctx->request->pool, record, blobs, nblobs)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
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
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Input/%s must be a cid string", name);
    }

    return NGX_OK;
}


/*
 * What every write has (once ngx_pds_writable_repo() found the caller's
 * repo and signing key): the ops, their
 * blob lists, the blob hook and swapCommit.  NGX_OK, or the refusal's
 * status.
 */
static ngx_int_t
ngx_pds_prepare_write(ngx_pds_ctx_t *ctx, ngx_pds_wstate_t *st,
    ngx_uint_t nops)
{
    json_t     *swap;
    pds_cid_t  *cid;
    ngx_int_t   rc;

    st->ops = ngx_pcalloc(ctx->request->pool, nops * sizeof(pds_repo_op_t));
    st->recs = ngx_pcalloc(ctx->request->pool, nops * sizeof(ngx_pds_rec_t));
    if (st->ops == NULL || st->recs == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st->nops = nops;
    st->write.ops = st->ops;
    st->write.nops = nops;

    st->blobs.blobs = ngx_pcalloc(ctx->request->pool,
                                  nops * sizeof(pds_cid_t *));
    st->blobs.nblobs = ngx_pcalloc(ctx->request->pool, nops * sizeof(size_t));
    if (st->blobs.blobs == NULL || st->blobs.nblobs == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st->blobs.conf = ctx->conf;
    st->blobs.pool = ctx->request->pool;
    st->write.hook = ngx_pds_blob_commit_hook;
    st->write.hook_data = &st->blobs;

    swap = json_object_get(ctx->body, "swapCommit");

    if (swap && !json_is_null(swap)) {
        cid = ngx_palloc(ctx->request->pool, sizeof(pds_cid_t));
        if (cid == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rc = ngx_pds_parse_cid(ctx, swap, "swapCommit", cid);
        if (rc != NGX_OK) {
            return rc;
        }

        st->write.swap_commit = cid;
    }

    return NGX_OK;
}


/* the rate-limit points of a write's ops */
static ngx_uint_t
ngx_pds_write_points(ngx_pds_wstate_t *st)
{
    ngx_uint_t  i, points;

    points = 0;

    for (i = 0; i < st->nops; i++) {
        switch (st->ops[i].action) {

        case PDS_REPO_CREATE:
            points += NGX_PDS_POINTS_CREATE;
            break;

        case PDS_REPO_UPDATE:
        case PDS_REPO_PUT:
            points += NGX_PDS_POINTS_UPDATE;
            break;

        default:
            points += NGX_PDS_POINTS_DELETE;
        }
    }

    return points;
}


/* rate-limited, then queued for group commit; done answers */
static ngx_int_t
ngx_pds_write_queue(ngx_pds_ctx_t *ctx, ngx_pds_wstate_t *st,
    ngx_pds_resume_pt done)
{
    if (ngx_pds_ratelimit(ctx, ngx_pds_write_points(st)) != NGX_OK) {
        return ctx->sent_rc;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "pds: %V: %ui ops for %s queued", &ctx->nsid, st->nops,
                   st->account.did);

    return ngx_pds_write(ctx, &st->write, ngx_pds_blob_after_write,
                         &st->blobs, done);
}


/* the refusal for a failed commit, with the reference's names */
static ngx_int_t
ngx_pds_write_failed(ngx_pds_ctx_t *ctx, ngx_pds_wstate_t *st)
{
    char                 cid[PDS_CID_STR_SIZE], *uri;
    pds_repo_op_t       *op;
    pds_repo_write_t    *w = &st->write;

    op = (w->failed_op < st->nops) ? &st->ops[w->failed_op] : NULL;

    switch (w->status) {

    case PDS_REPO_ESWAP:
        if (op && op->swap != PDS_REPO_SWAP_NONE) {
            if (op->has_prev) {
                pds_cid_format(&op->prev, cid);
            } else {
                ngx_cpystrn((u_char *) cid, (u_char *) "null", sizeof(cid));
            }

            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidSwap",
                                 "Record was at %s", cid);
        }

        pds_cid_format(&w->prev_commit, cid);

        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidSwap",
                             "Commit was at %s", cid);

    case PDS_REPO_EEXISTS:
    case PDS_REPO_ENOTFOUND:
        uri = ngx_pds_at_uri(ctx->request->pool, st->account.did,
                             op ? op->collection : "",
                             op ? op->collection_len : 0,
                             op ? op->rkey : "", op ? op->rkey_len : 0);
        if (uri == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (w->status == PDS_REPO_EEXISTS) {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidSwap",
                                 "Record already exists: %s", uri);
        }

        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Could not find record: %s", uri);

    case PDS_REPO_EHOOK:
        if (st->blobs.missing) {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "BlobNotFound",
                                 "%s", w->error);
        }
        /* fall through */

    case PDS_REPO_EINVAL:
    case PDS_REPO_ETOOBIG:
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "%s", w->error[0] ? w->error
                                               : pds_repo_strerror(w->status));

    case PDS_REPO_EMAPFULL:
        return ngx_pds_storage_full(ctx);

    case PDS_REPO_EBUSY:
        return ngx_pds_error(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                             "NotEnoughResources",
                             "The server is too busy right now");

    default:
        ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                      "pds: commit for %s failed: %s (%s)", st->account.did,
                      pds_repo_strerror(w->status), w->error);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


static json_t *
ngx_pds_commit_json(pds_repo_write_t *w)
{
    char  cid[PDS_CID_STR_SIZE];

    pds_cid_format(&w->commit, cid);

    return json_pack("{s:s, s:s}", "cid", cid, "rev", w->rev);
}


/* {uri, cid} of a record written, into obj */
static ngx_int_t
ngx_pds_record_json(ngx_pds_ctx_t *ctx, ngx_pds_wstate_t *st,
    ngx_pds_rec_t *rec, json_t *obj)
{
    char   cid[PDS_CID_STR_SIZE], *uri;

    uri = ngx_pds_at_uri(ctx->request->pool, st->account.did,
                         rec->collection, ngx_strlen(rec->collection),
                         rec->rkey, ngx_strlen(rec->rkey));
    if (uri == NULL) {
        return NGX_ERROR;
    }

    pds_cid_format(&rec->cid, cid);

    json_object_set_new(obj, "uri", json_string(uri));
    json_object_set_new(obj, "cid", json_string(cid));

    return NGX_OK;
}


static void
ngx_pds_validation_json(ngx_pds_rec_t *rec, json_t *obj)
{
    if (rec->validation) {
        json_object_set_new(obj, "validationStatus",
                            json_string(rec->validation));
    }
}


/* ---- createRecord / putRecord / deleteRecord --------------------------- */


static ngx_int_t
ngx_pds_single_written(ngx_pds_ctx_t *ctx)
{
    json_t            *answer;
    ngx_pds_wstate_t  *st = ctx->data;
    pds_repo_write_t  *w = &st->write;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "pds: %V: written: %s", &ctx->nsid,
                   pds_repo_strerror(w->status));

    if (w->status != PDS_REPO_OK && w->status != PDS_REPO_UNCHANGED) {
        return ngx_pds_write_failed(ctx, st);
    }

    answer = ngx_pds_json_track(ctx->request, json_object());
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (st->action != PDS_REPO_DELETE
        && ngx_pds_record_json(ctx, st, &st->recs[0], answer) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (w->status == PDS_REPO_OK) {
        json_object_set_new(answer, "commit", ngx_pds_commit_json(w));
    }

    if (st->action != PDS_REPO_DELETE) {
        ngx_pds_validation_json(&st->recs[0], answer);
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
}


/* an OAuth token's permission for a write (putRecord: create and update) */
static ngx_int_t
ngx_pds_write_permit(ngx_pds_ctx_t *ctx, json_t *collection, int action)
{
    ngx_int_t    rc = NGX_OK;
    const char  *c = json_string_value(collection);

    if (c != NULL && (action == PDS_REPO_CREATE || action == PDS_REPO_PUT)) {
        rc = ngx_pds_auth_permit(ctx, PDS_SCOPE_REPO, c, "create");
    }
    if (c != NULL && rc == NGX_OK
        && (action == PDS_REPO_UPDATE || action == PDS_REPO_PUT))
    {
        rc = ngx_pds_auth_permit(ctx, PDS_SCOPE_REPO, c, "update");
    }
    if (c != NULL && action == PDS_REPO_DELETE) {
        rc = ngx_pds_auth_permit(ctx, PDS_SCOPE_REPO, c, "delete");
    }

    return rc;
}


/*
 * The op of createRecord (PDS_REPO_CREATE), putRecord (PDS_REPO_PUT) or
 * deleteRecord (PDS_REPO_DELETE) from the input: NGX_OK, or the refusal's
 * status.
 */
static ngx_int_t
ngx_pds_single_prepare(ngx_pds_ctx_t *ctx, ngx_pds_wstate_t *st)
{
    json_t         *swap;
    ngx_int_t       rc;
    pds_repo_op_t  *op = &st->ops[0];

    rc = ngx_pds_prepare_record(ctx, op, &st->recs[0],
                                st->action == PDS_REPO_DELETE
                                ? NULL : json_object_get(ctx->body, "record"),
                                json_object_get(ctx->body, "collection"),
                                json_object_get(ctx->body, "rkey"),
                                json_object_get(ctx->body, "validate"),
                                st->action != PDS_REPO_CREATE,
                                &st->blobs.blobs[0], &st->blobs.nblobs[0],
                                "$.record");
    if (rc != NGX_OK) {
        return rc;
    }

    if (st->action != PDS_REPO_DELETE && op->record == NULL) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Input must have the property \"record\"");
    }

    op->action = st->action;

    if (st->action == PDS_REPO_CREATE) {
        return NGX_OK;
    }

    /* a put or delete that changes nothing makes no commit */
    st->write.flags |= PDS_REPO_SKIP_NOOP;

    if (st->action == PDS_REPO_DELETE) {
        op->flags |= PDS_REPO_OP_IF_EXISTS;
    }

    swap = json_object_get(ctx->body, "swapRecord");

    if (swap && json_is_null(swap)) {
        op->swap = PDS_REPO_SWAP_ABSENT;

    } else if (swap) {
        rc = ngx_pds_parse_cid(ctx, swap, "swapRecord", &op->swap_cid);
        if (rc != NGX_OK) {
            return rc;
        }

        op->swap = PDS_REPO_SWAP_CID;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_pds_single_write(ngx_pds_ctx_t *ctx, int action)
{
    ngx_int_t          rc;
    ngx_pds_wstate_t  *st;

    st = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_wstate_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = st;
    st->action = action;

    /* the input's shape, then whose repo it is, as the reference */

    rc = ngx_pds_check_input(ctx, ctx->body, "$",
                             action == PDS_REPO_CREATE ? ngx_pds_create_input
                             : action == PDS_REPO_PUT ? ngx_pds_put_input
                             : ngx_pds_delete_input);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_pds_writable_repo(ctx, st);
    if (rc == NGX_OK) {
        rc = ngx_pds_write_permit(ctx, json_object_get(ctx->body,
                                                       "collection"), action);
    }
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_pds_prepare_write(ctx, st, 1);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_pds_single_prepare(ctx, st);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_pds_write_queue(ctx, st, ngx_pds_single_written);
}


ngx_int_t
ngx_pds_create_record(ngx_pds_ctx_t *ctx)
{
    return ngx_pds_single_write(ctx, PDS_REPO_CREATE);
}


ngx_int_t
ngx_pds_put_record(ngx_pds_ctx_t *ctx)
{
    return ngx_pds_single_write(ctx, PDS_REPO_PUT);
}


ngx_int_t
ngx_pds_delete_record(ngx_pds_ctx_t *ctx)
{
    return ngx_pds_single_write(ctx, PDS_REPO_DELETE);
}


/* ---- applyWrites ------------------------------------------------------- */


static ngx_int_t
ngx_pds_apply_written(ngx_pds_ctx_t *ctx)
{
    json_t            *answer, *results, *res;
    ngx_uint_t         i;
    ngx_pds_wstate_t  *st = ctx->data;
    pds_repo_write_t  *w = &st->write;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "pds: %V: written: %s", &ctx->nsid,
                   pds_repo_strerror(w->status));

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

        switch (st->ops[i].action) {

        case PDS_REPO_CREATE:
            res = json_pack("{s:s}", "$type",
                            "com.atproto.repo.applyWrites#createResult");
            break;

        case PDS_REPO_UPDATE:
            res = json_pack("{s:s}", "$type",
                            "com.atproto.repo.applyWrites#updateResult");
            break;

        default:
            res = json_pack("{s:s}", "$type",
                            "com.atproto.repo.applyWrites#deleteResult");
            json_array_append_new(results, res);
            continue;
        }

        if (res == NULL
            || ngx_pds_record_json(ctx, st, &st->recs[i], res) != NGX_OK)
        {
            json_decref(res);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_pds_validation_json(&st->recs[i], res);
        json_array_append_new(results, res);
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
}


/* the action of a write's "$type" (applyWrites#create...), or 0 */
static int
ngx_pds_apply_action(json_t *item)
{
    const char  *type;

    type = json_string_value(json_object_get(item, "$type"));

    if (type == NULL) {
        return 0;
    }

    if (ngx_strcmp(type, "com.atproto.repo.applyWrites#create") == 0) {
        return PDS_REPO_CREATE;
    }

    if (ngx_strcmp(type, "com.atproto.repo.applyWrites#update") == 0) {
        return PDS_REPO_UPDATE;
    }

    if (ngx_strcmp(type, "com.atproto.repo.applyWrites#delete") == 0) {
        return PDS_REPO_DELETE;
    }

    return 0;
}


/* the i-th write of applyWrites: NGX_OK, or the refusal's status */
static ngx_int_t
ngx_pds_apply_prepare(ngx_pds_ctx_t *ctx, ngx_pds_wstate_t *st, size_t i,
    json_t *item, json_t *validate)
{
    u_char         *p;
    char            path[40];
    ngx_int_t       rc;
    pds_repo_op_t  *op = &st->ops[i];

    op->action = ngx_pds_apply_action(item);

    if (op->action == 0) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Action not supported");
    }

    p = ngx_snprintf((u_char *) path, sizeof(path) - 1,
                     "$.writes[%uz].value", i);
    *p = '\0';

    rc = ngx_pds_prepare_record(ctx, op, &st->recs[i],
                                op->action == PDS_REPO_DELETE
                                ? NULL : json_object_get(item, "value"),
                                json_object_get(item, "collection"),
                                json_object_get(item, "rkey"),
                                validate, op->action != PDS_REPO_CREATE,
                                &st->blobs.blobs[i], &st->blobs.nblobs[i],
                                path);
    if (rc != NGX_OK) {
        return rc;
    }

    if (op->action != PDS_REPO_DELETE && op->record == NULL) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "A create or update write must have a "
                             "\"value\"");
    }

    return NGX_OK;
}


ngx_int_t
ngx_pds_apply_writes(ngx_pds_ctx_t *ctx)
{
    int                a;
    size_t             i, n;
    json_t            *writes, *validate, *item;
    ngx_int_t          rc;
    ngx_pds_wstate_t  *st;

    st = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_wstate_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = st;

    /* the input's shape, then whose repo it is, then how many writes */

    writes = json_object_get(ctx->body, "writes");

    rc = ngx_pds_check_input(ctx, ctx->body, "$", ngx_pds_apply_input);

    if (rc == NGX_OK) {
        rc = ngx_pds_check_union_items(ctx, writes, "$.writes",
                                       ngx_pds_apply_variants);
    }

    if (rc == NGX_OK) {
        rc = ngx_pds_check_input(ctx, ctx->body, "$",
                                 ngx_pds_apply_input_tail);
    }

    if (rc == NGX_OK) {
        rc = ngx_pds_writable_repo(ctx, st);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    n = json_array_size(writes);
    if (n > PDS_REPO_MAX_OPS) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Too many writes. Max: %d", PDS_REPO_MAX_OPS);
    }

    if (n == 0) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Input/writes must not be empty");
    }

    /* OAuth: every create's collection first, then updates, then deletes */
    for (a = PDS_REPO_CREATE; a <= PDS_REPO_DELETE; a++) {
        for (i = 0; i < n; i++) {
            item = json_array_get(writes, i);
            rc = ngx_pds_apply_action(item) == a
                 ? ngx_pds_write_permit(ctx, json_object_get(item,
                                                             "collection"), a)
                 : NGX_OK;
            if (rc != NGX_OK) {
                return rc;
            }
        }
    }

    rc = ngx_pds_prepare_write(ctx, st, n);
    if (rc != NGX_OK) {
        return rc;
    }

    validate = json_object_get(ctx->body, "validate");

    for (i = 0; i < n; i++) {
        rc = ngx_pds_apply_prepare(ctx, st, i, json_array_get(writes, i),
                                   validate);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    return ngx_pds_write_queue(ctx, st, ngx_pds_apply_written);
}
