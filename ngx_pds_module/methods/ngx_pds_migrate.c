
/*
 * ngx_pds_module: moving an account in (com.atproto.repo.importRepo,
 * listMissingBlobs).
 *
 *   importRepo        the CAR is spooled by nginx to a file (the method's
 *                     body limit is pds_blob_upload_limit, the reference's
 *                     default), the account's DID document is fetched fresh
 *                     for its signing key, the file is checked in the
 *                     thread pool (core/repo/pds_repo_import.c: the commit
 *                     is the account's and signed with that key, the tree
 *                     is complete and canonical, checked node by node as
 *                     it is walked from the file, nothing of it held in
 *                     memory) and then written, with the blobs its records
 *                     name noted as expected.  Nothing is written unless
 *                     all of it checks.  A deactivated account's (the
 *                     migration case: its repo is not served) is written
 *                     in steps of NGX_PDS_IMPORT_STEP records, one write
 *                     transaction each, so that LMDB's dirty pages (heap)
 *                     stay bounded and other writers get the lock between
 *                     steps (a step that fails leaves the repo incomplete
 *                     and the import marker in place: activateAccount
 *                     refuses until an import completes); an active
 *                     account's in one transaction, so that no reader sees
 *                     it half written.  Unlike the
 *                     reference, an active account's repo is not rolled
 *                     back: its import must be newer.
 *   listMissingBlobs  the blobs imported records name that were never
 *                     uploaded.
 */

#include "ngx_pds_methods_int.h"
#include "ngx_pds_did.h"

#include "pds_blob.h"
#include "pds_cbor.h"
#include "pds_repo_import.h"
#include "pds_tid.h"


#define NGX_PDS_MISSING_LIMIT_MAX  1000
#define NGX_PDS_IMPORT_STEP        2000     /* records (or rows removed) a
                                               write transaction */


typedef struct {
    ngx_pds_did_t         did;
    pds_store_t          *store;
    uint64_t              uid;
    char                 *temp;          /* the spooled CAR */
    uint64_t              max;
    int                   active;
    pds_repo_import_t    *imp;
    char                  err[256];
    int                   result;        /* the check's: 0 or -1 */
    int                   txn_result;
    int                   more;          /* another step to write */
    uint64_t              car;           /* bytes of the CAR */
    uint64_t              need;          /* bytes the next step may add */
    uint64_t              blobs;
} ngx_pds_import_t;


static ngx_int_t ngx_pds_import_repo(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_list_missing_blobs(ngx_pds_ctx_t *ctx);


const ngx_pds_method_t  ngx_pds_migrate_methods[] = {

    { ngx_string("com.atproto.repo.importRepo"), NGX_PDS_PROCEDURE,
      NGX_PDS_AUTH_FULL, NGX_PDS_IN_RAW, NGX_PDS_CHECK_TAKEDOWN, 0,
      ngx_pds_import_repo, NULL },

    { ngx_string("com.atproto.repo.listMissingBlobs"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_ACCESS, NGX_PDS_IN_NONE, 0, 0,
      ngx_pds_list_missing_blobs, NULL },

    { ngx_null_string, 0, 0, 0, 0, 0, NULL, NULL }
};


/* ---- importRepo ---------------------------------------------------------- */


static ngx_int_t ngx_pds_import_resolved(ngx_pds_ctx_t *ctx);
static void ngx_pds_import_check(void *data, ngx_log_t *log);
static ngx_int_t ngx_pds_import_checked(ngx_pds_ctx_t *ctx);
static int ngx_pds_import_write(pds_store_t *store, MDB_txn *txn,
    void *data);
static ngx_int_t ngx_pds_import_next(ngx_pds_ctx_t *ctx);
static int ngx_pds_import_step(pds_store_t *store, MDB_txn *txn,
    void *data);
static ngx_int_t ngx_pds_import_stepped(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_import_written(ngx_pds_ctx_t *ctx);


/* closes the checked import: its mappings (the upload and the block
 * index); nothing of it is on the heap but a few hundred bytes */
static void
ngx_pds_import_release(ngx_pds_import_t *im)
{
    if (im->imp == NULL) {
        return;
    }

    pds_repo_import_close(im->imp);
    im->imp = NULL;
}


static void
ngx_pds_import_cleanup(void *data)
{
    ngx_pds_import_release(data);
}


static ngx_int_t
ngx_pds_import_repo(ngx_pds_ctx_t *ctx)
{
    int                  rc;
    pds_account_t        acc;
    ngx_temp_file_t     *tf;
    ngx_pds_import_t    *im;
    ngx_pool_cleanup_t  *cln;
    ngx_http_request_t  *r = ctx->request;

    if (r->request_body == NULL || r->request_body->temp_file == NULL
        || r->request_body->temp_file->file.offset == 0)
    {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "A request body is expected but none was "
                             "provided");
    }

    tf = r->request_body->temp_file;

    if (tf->file.offset > (off_t) ctx->conf->blob_upload_limit) {
        return ngx_pds_error(ctx, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                             "PayloadTooLarge", "request entity too large");
    }

    rc = ngx_pds_caller_account(ctx, &acc);
    if (rc != 0) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Account not found");
    }

    im = ngx_pcalloc(r->pool, sizeof(ngx_pds_import_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (im == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_pds_import_cleanup;
    cln->data = im;

    ctx->data = im;
    im->store = ctx->conf->env->store;
    im->uid = acc.uid;
    im->temp = (char *) tf->file.name.data;
    im->max = ctx->conf->blob_upload_limit;
    im->active = acc.deactivated_at == NULL;

    /* the key the repo must be signed with, as the DID says now */
    return ngx_pds_did_resolve(ctx, ctx->auth.did, &im->did,
                               ngx_pds_import_resolved);
}


static ngx_int_t
ngx_pds_import_resolved(ngx_pds_ctx_t *ctx)
{
    ngx_pds_import_t  *im = ctx->data;

    if (im->did.status != NGX_PDS_DID_OK
        || im->did.doc.signing_key[0] == '\0')
    {
        ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                      "pds: importRepo: no signing key for %s (DID status "
                      "%d)", ctx->auth.did, im->did.status);
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Could not resolve the account's signing key "
                             "from its DID document");
    }

    return ngx_pds_thread_post(ctx, ngx_pds_import_check, im,
                               ngx_pds_import_checked);
}


/* in the thread pool: map, index and check the CAR */
static void
ngx_pds_import_check(void *data, ngx_log_t *log)
{
    ngx_pds_import_t  *im = data;

    im->result = pds_repo_import_open(im->temp, im->max, im->did.did,
                                      im->did.doc.signing_key, &im->imp,
                                      im->err, sizeof(im->err));

    if (im->result != 0) {
        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "pds: importRepo for %s refused: %s", im->did.did,
                      im->err);
    }
}


static ngx_int_t
ngx_pds_import_checked(ngx_pds_ctx_t *ctx)
{
    ngx_pds_import_t  *im = ctx->data;

    if (im->result != 0) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "%s", im->err);
    }

    /* refused when full: about three times the CAR (blocks, rows, event) */
    im->car = (uint64_t) ctx->request->request_body->temp_file->file.offset;
    im->need = 3 * im->car;

    if (im->active) {
        return ngx_pds_txn_post_adding(ctx, ngx_pds_import_write, im,
                                       im->need, &im->txn_result,
                                       ngx_pds_import_written);
    }

    return ngx_pds_import_next(ctx);
}


static ngx_int_t
ngx_pds_import_next(ngx_pds_ctx_t *ctx)
{
    ngx_pds_import_t  *im = ctx->data;

    return ngx_pds_txn_post_adding(ctx, ngx_pds_import_step, im, im->need,
                                   &im->txn_result, ngx_pds_import_stepped);
}


static ngx_int_t
ngx_pds_import_stepped(ngx_pds_ctx_t *ctx)
{
    uint64_t           records;
    ngx_pds_import_t  *im = ctx->data;

    if (im->txn_result != 0 || !im->more) {
        return ngx_pds_import_written(ctx);
    }

    /* a later step adds its share of the CAR (the first, all of it) */
    records = pds_repo_import_records(im->imp);
    im->need = 3 * im->car * NGX_PDS_IMPORT_STEP
               / (records > NGX_PDS_IMPORT_STEP ? records
                                                : NGX_PDS_IMPORT_STEP);
    if (im->need < 1024 * 1024) {
        im->need = 1024 * 1024;
    }

    return ngx_pds_import_next(ctx);
}


/* the blob objects of a decoded record ({"$type": "blob", "ref": CID}, or
 * the legacy {"cid": "...", "mimeType": ...}) */
static int
ngx_pds_import_blob_walk(const pds_cbor_t *v, ngx_uint_t depth,
    pds_cid_t *cids, size_t *n, size_t max)
{
    size_t             i;
    const pds_cbor_t  *type, *ref, *legacy;

    if (depth > 32 || *n == max) {
        return 0;
    }

    if (v->type == PDS_CBOR_ARRAY) {
        for (i = 0; i < v->u.array.len; i++) {
            ngx_pds_import_blob_walk(&v->u.array.items[i], depth + 1, cids, n,
                                     max);
        }
        return 0;
    }

    if (v->type != PDS_CBOR_MAP) {
        return 0;
    }

    type = pds_cbor_map_get(v, "$type");
    ref = pds_cbor_map_get(v, "ref");
    legacy = pds_cbor_map_get(v, "cid");

    if (type && type->type == PDS_CBOR_STRING
        && ngx_strcmp(type->u.str.data, "blob") == 0
        && ref && ref->type == PDS_CBOR_CID)
    {
        cids[(*n)++] = ref->u.cid;
        return 0;
    }

    if (type == NULL && legacy && legacy->type == PDS_CBOR_STRING
        && pds_cbor_map_get(v, "mimeType") != NULL)
    {
        if (pds_cid_parse(&cids[*n], legacy->u.str.data, legacy->u.str.len)
            == 0)
        {
            (*n)++;
        }
        return 0;
    }

    for (i = 0; i < v->u.map.len; i++) {
        ngx_pds_import_blob_walk(&v->u.map.pairs[i].value, depth + 1, cids, n,
                                 max);
    }

    return 0;
}


typedef struct {
    ngx_pds_import_t  *im;
    MDB_txn           *txn;
} ngx_pds_import_rec_t;


/* in the thread pool, per written record: its blobs are expected */
static int
ngx_pds_import_record(void *data, const char *key, size_t len,
    const pds_cid_t *cid, const uint8_t *p, size_t n)
{
    int                    rc;
    size_t                 i, nblobs;
    pds_cid_t              cids[64];
    pds_cbor_t            *rec;
    pds_arena_t           *arena;
    pds_alloc_t            a;
    ngx_pds_import_rec_t  *ir = data;

    (void) cid;

    arena = pds_arena_create();
    if (arena == NULL) {
        return -1;
    }

    a = pds_arena_allocator(arena);
    nblobs = 0;

    if (pds_cbor_decode(p, n, &a, &rec) == 0) {
        ngx_pds_import_blob_walk(rec, 0, cids, &nblobs, 64);
    }

    pds_arena_destroy(arena);

    for (i = 0; i < nblobs; i++) {
        rc = pds_blob_expect(ir->im->store, ir->txn, ir->im->uid, key, len,
                             &cids[i]);
        if (rc != 0) {
            return rc;
        }

        ir->im->blobs++;
    }

    return 0;
}


/* in the thread pool, in a write transaction: one step of a deactivated
 * account's import */
static int
ngx_pds_import_step(pds_store_t *store, MDB_txn *txn, void *data)
{
    int                    rc;
    ngx_pds_import_t      *im = data;
    ngx_pds_import_rec_t   ir;

    ir.im = im;
    ir.txn = txn;
    im->more = 0;

    rc = pds_repo_import_step(store, txn, im->uid, im->imp,
                              NGX_PDS_IMPORT_STEP, ngx_pds_import_record,
                              &ir);

    if (rc == PDS_REPO_IMPORT_MORE) {
        im->more = 1;
        return 0;
    }

    if (rc == PDS_REPO_IMPORT_ELOST) {
        ngx_snprintf((u_char *) im->err, sizeof(im->err),
                     "Another import of this account began while this "
                     "one was being written, or the account was deleted%Z");
        im->err[sizeof(im->err) - 1] = '\0';
        return 1;
    }

    if (rc != 0) {
        /* the steps before this one are written: say so */
        ngx_snprintf((u_char *) im->err, sizeof(im->err),
                     "the import could not be written (%s); the account's "
                     "repo is incomplete until an import completes: import "
                     "it again%Z", pds_repo_strerror(rc));
        im->err[sizeof(im->err) - 1] = '\0';
        return rc == PDS_REPO_EMAPFULL ? MDB_MAP_FULL : 2;
    }

    return 0;
}


/* in the thread pool, in a write transaction: an active account's import
 * whole */
static int
ngx_pds_import_write(pds_store_t *store, MDB_txn *txn, void *data)
{
    int                    rc;
    pds_repo_root_t        root;
    ngx_pds_import_t      *im = data;
    ngx_pds_import_rec_t   ir;

    /* an active account's repo is not rolled back */

    if (im->active) {
        rc = pds_repo_get_root(store, txn, im->uid, &root);

        if (rc == 0
            && strcmp(pds_repo_import_rev(im->imp), root.rev) <= 0)
        {
            ngx_snprintf((u_char *) im->err, sizeof(im->err),
                         "The account is active and the imported repo "
                         "(rev %s) is not newer than its own (rev %s): "
                         "deactivate the account to replace it%Z",
                         pds_repo_import_rev(im->imp), root.rev);
            im->err[sizeof(im->err) - 1] = '\0';
            return 1;
        }
    }

    ir.im = im;
    ir.txn = txn;

    rc = pds_repo_import_write(store, txn, im->uid, im->imp,
                               ngx_pds_import_record, &ir);
    if (rc != 0) {
        ngx_snprintf((u_char *) im->err, sizeof(im->err),
                     "the import could not be written: %s%Z",
                     pds_repo_strerror(rc));
        im->err[sizeof(im->err) - 1] = '\0';
        /* a full map is said as such (ngx_pds_txn_post's StorageFull) */
        return rc == PDS_REPO_EMAPFULL ? MDB_MAP_FULL : 2;
    }

    /* an active account's followers learn of its new state */
    if (im->active) {
        rc = pds_repo_event_sync(store, txn, im->uid, NULL);
        if (rc != 0) {
            return rc == PDS_REPO_EMAPFULL ? MDB_MAP_FULL : 2;
        }
    }

    return 0;
}


static ngx_int_t
ngx_pds_import_written(ngx_pds_ctx_t *ctx)
{
    json_t            *answer;
    ngx_pds_import_t  *im = ctx->data;

    if (im->txn_result == 1) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "%s", im->err);
    }

    if (im->txn_result != 0) {
        ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                      "pds: importRepo for %s failed: %s", im->did.did,
                      im->err[0] ? im->err : "LMDB transaction failed");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_error(NGX_LOG_NOTICE, ctx->request->connection->log, 0,
                  "pds: importRepo for %s: rev %s, %uL records, %uL blocks, "
                  "%uL blob references", im->did.did,
                  pds_repo_import_rev(im->imp),
                  pds_repo_import_records(im->imp),
                  pds_repo_import_blocks(im->imp), im->blobs);

    ngx_pds_import_release(im);

    answer = ngx_pds_json_track(ctx->request, json_object());
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
}


/* ---- listMissingBlobs ---------------------------------------------------- */


typedef struct {
    json_t          *list;
    const char      *did;
    pds_cid_t        last;
} ngx_pds_missing_t;


static int
ngx_pds_missing_cb(void *data, const pds_cid_t *cid, const char *path,
    size_t len)
{
    char                s[PDS_CID_STR_SIZE];
    char                uri[1100];
    ngx_pds_missing_t  *m = data;

    pds_cid_format(cid, s);
    ngx_snprintf((u_char *) uri, sizeof(uri) - 1, "at://%s/%*s",
                 m->did, len, path)[0] = '\0';

    m->last = *cid;

    return json_array_append_new(m->list,
                                 json_pack("{s:s, s:s}", "cid", s,
                                           "recordUri", uri));
}


static ngx_int_t
ngx_pds_list_missing_blobs(ngx_pds_ctx_t *ctx)
{
    long                n;
    MDB_txn            *txn;
    json_t             *answer;
    ngx_int_t           limit;
    ngx_str_t           v;
    pds_cid_t           cursor;
    pds_account_t       acc;
    ngx_pds_missing_t   m;
    char                s[PDS_CID_STR_SIZE];

    limit = 500;

    if (ngx_pds_arg(ctx->request, "limit", &v) == NGX_OK) {
        limit = ngx_atoi(v.data, v.len);
        if (limit < 1 || limit > NGX_PDS_MISSING_LIMIT_MAX) {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "limit must be between 1 and %d",
                                 NGX_PDS_MISSING_LIMIT_MAX);
        }
    }

    ngx_str_null(&v);

    if (ngx_pds_arg(ctx->request, "cursor", &v) == NGX_OK
        && pds_cid_parse(&cursor, (char *) v.data, v.len) != 0)
    {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Invalid cursor");
    }

    if (ngx_pds_caller_account(ctx, &acc) != 0) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Account not found");
    }

    m.list = ngx_pds_json_track(ctx->request, json_array());
    m.did = ctx->auth.did;

    txn = ngx_pds_read_txn(ctx);
    if (m.list == NULL || txn == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = pds_blob_list_missing(ctx->conf->env->store, txn, acc.uid,
                              v.len ? &cursor : NULL, (size_t) limit,
                              ngx_pds_missing_cb, &m);
    ngx_pds_read_done(ctx);

    if (n < 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    answer = ngx_pds_json_track(ctx->request,
                                json_pack("{s:O}", "blobs", m.list));
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (n > 0) {
        pds_cid_format(&m.last, s);
        json_object_set_new(answer, "cursor", json_string(s));
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
}
