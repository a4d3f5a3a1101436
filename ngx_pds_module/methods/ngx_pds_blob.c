/*
 * ngx_pds_module: blobs.
 *
 *   com.atproto.repo.uploadBlob    the body is spooled by nginx to a
 *                                  temporary file (never held in memory),
 *                                  hashed and moved into place in the
 *                                  thread pool, recorded as temporary
 *   com.atproto.sync.getBlob       served from the file by nginx
 *                                  (sendfile, ranges) with the reference's
 *                                  safety headers
 *
 * Blobs become permanent when a record references them and are removed
 * with their last referencing record: record writes (ngx_pds_repo_write.c)
 * run ngx_pds_blob_commit_hook in the commit's transaction and
 * ngx_pds_blob_after_write after it; temporary blobs are collected an hour
 * after upload.
 */

#include "ngx_pds_methods_int.h"
#include "ngx_pds_params.h"

#include "pds_hash.h"

#include "pds_blob.h"
#include "pds_cid.h"
#include "pds_takedown.h"


#define NGX_PDS_BLOB_GRACE  3600


static ngx_int_t ngx_pds_upload_blob(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_get_blob(ngx_pds_ctx_t *ctx);


const ngx_pds_method_t  ngx_pds_blob_methods[] = {

    { ngx_string("com.atproto.repo.uploadBlob"), NGX_PDS_PROCEDURE,
      NGX_PDS_AUTH_ACCESS, NGX_PDS_IN_RAW, NGX_PDS_CHECK_TAKEDOWN, 0,
      ngx_pds_upload_blob, NULL },

    { ngx_string("com.atproto.sync.getBlob"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_NONE, NGX_PDS_IN_NONE, 0, 0, ngx_pds_get_blob, NULL },

    { ngx_null_string, 0, 0, 0, 0, 0, NULL, NULL }
};


/* <data dir>/blobs/<uid>/<cid>, NUL-terminated, from pool */
static char *
ngx_pds_blob_file(ngx_pool_t *pool, ngx_pds_srv_conf_t *conf, uint64_t uid,
    const pds_cid_t *cid, size_t *dir_len)
{
    u_char  *p, *name;
    char     rel[128];
    size_t   n;

    n = pds_blob_path(rel, sizeof(rel), uid, cid);
    if (n == 0) {
        return NULL;
    }

    name = ngx_pnalloc(pool, conf->data_dir.len + sizeof("/blobs/") + n);
    if (name == NULL) {
        return NULL;
    }

    p = ngx_sprintf(name, "%V/blobs/", &conf->data_dir);

    if (dir_len) {
        /* up to and without the "/<cid>" */
        *dir_len = (p - name) + 16;
    }

    ngx_memcpy(p, rel, n);
    p[n] = '\0';

    return (char *) name;
}


/* ---- uploadBlob -------------------------------------------------------- */


#define NGX_PDS_UPLOAD_TAKENDOWN  1201     /* result: the blob is taken down */
#define NGX_PDS_UPLOAD_FULL       1202     /* result: the store is full */


typedef struct {
    pds_store_t         *store;
    ngx_pds_srv_conf_t  *conf;
    uint64_t             uid;
    char                *temp;          /* the spooled body */
    char                *mime;
    off_t                size;
    int64_t              now;
    ngx_pool_t          *pool;          /* the request's: names only */

    pds_cid_t            cid;
    int                  result;        /* 0, or an errno / LMDB code */
    pds_blob_gone_t      gone;
} ngx_pds_upload_t;


static int
ngx_pds_hash_file(const char *name, pds_cid_t *cid, off_t *size)
{
    int       rc;
    uint64_t  n;

    rc = pds_blob_hash_file(name, cid, &n);
    *size = (off_t) n;

    return rc;
}


static void
ngx_pds_blob_unlink_gone(ngx_pds_srv_conf_t *conf, ngx_pool_t *pool,
    uint64_t uid, pds_blob_gone_t *gone, ngx_log_t *log)
{
    char    *name;
    size_t   i;

    for (i = 0; i < gone->n; i++) {
        name = ngx_pds_blob_file(pool, conf, uid, &gone->cids[i], NULL);
        if (name
            && pds_blob_file_drop(conf->env->store, uid, &gone->cids[i], name,
                                  (long) ngx_pid)
               == -1)
        {
            ngx_log_error(NGX_LOG_WARN, log, errno,
                          "pds: cannot remove blob \"%s\"", name);
        }
    }

    pds_blob_gone_free(gone);
}


/*
 * A file is already where the upload goes: the same bytes, unless it is
 * damaged (a wrong size): then the upload's file replaces it (linked
 * aside, then renamed over it).  0 or -1 (errno).
 */
static int
ngx_pds_blob_replace(ngx_pds_upload_t *up, const char *name)
{
    char         *side;
    size_t        n;
    struct stat   st;

    if (stat(name, &st) == 0 && st.st_size == up->size) {
        return 0;
    }

    n = ngx_strlen(name);
    side = ngx_pnalloc(up->pool, n + sizeof(PDS_BLOB_ASIDE) + NGX_INT64_LEN);
    if (side == NULL) {
        errno = ENOMEM;
        return -1;
    }

    ngx_sprintf((u_char *) side, "%s%s%P%Z", name, PDS_BLOB_ASIDE, ngx_pid);

    if (link(up->temp, side) == -1) {
        return -1;
    }

    if (rename(side, name) == -1) {
        (void) unlink(side);
        return -1;
    }

    return 0;
}


/* in the thread pool: hash, move into place, record, collect */
static void
ngx_pds_upload_work(void *data, ngx_log_t *log)
{
    int                rc;
    char              *name, *dir;
    size_t             dir_len;
    MDB_txn           *txn;
    ngx_pds_upload_t  *up = data;

    up->result = ngx_pds_hash_file(up->temp, &up->cid, &up->size);
    if (up->result != 0) {
        ngx_log_error(NGX_LOG_ERR, log, up->result,
                      "pds: cannot read the uploaded blob \"%s\"", up->temp);
        return;
    }

    name = ngx_pds_blob_file(up->pool, up->conf, up->uid, &up->cid,
                             &dir_len);
    if (name == NULL) {
        up->result = ENOMEM;
        return;
    }

    /* <data>/blobs and <data>/blobs/<uid> */

    dir = ngx_pnalloc(up->pool, dir_len + 1);
    if (dir == NULL) {
        up->result = ENOMEM;
        return;
    }

    ngx_memcpy(dir, name, dir_len);
    dir[dir_len - 17] = '\0';
    (void) mkdir(dir, 0700);
    dir[dir_len - 17] = '/';
    dir[dir_len] = '\0';
    (void) mkdir(dir, 0700);

    /*
     * a link, not a rename: the spooled file (nginx removes it when the
     * request ends) can put the blob back after the commit if a write that
     * dropped the same blob removed it meanwhile (pds_blob_file_drop); a
     * file already there is the same bytes
     */
    if (link(up->temp, name) == -1
        && (errno != EEXIST || ngx_pds_blob_replace(up, name) != 0))
    {
        up->result = errno;
        ngx_log_error(NGX_LOG_ERR, log, errno,
                      "pds: cannot link the blob to \"%s\"", name);
        return;
    }

    rc = pds_store_write_begin(up->store, &txn);
    if (rc != 0) {
        up->result = EIO;
        return;
    }

    /* the row of a new blob is refused when the store is nearly full */
    if (ngx_pds_space_check(up->conf->env, txn, 16 * 1024, log)
        != PDS_SPACE_OK)
    {
        mdb_txn_abort(txn);
        up->result = NGX_PDS_UPLOAD_FULL;
        return;
    }

    /* a blob an operator took down is not taken again (the reference's) */
    if (pds_takedown_blob(up->store, txn, up->uid, &up->cid, NULL, NULL)
        == 0)
    {
        mdb_txn_abort(txn);
        up->result = NGX_PDS_UPLOAD_TAKENDOWN;
        return;
    }

    rc = pds_blob_put(up->store, txn, up->uid, &up->cid, up->mime,
                      (uint64_t) up->size, up->now);

    if (rc == 0) {
        rc = pds_blob_collect(up->store, txn, up->uid,
                              up->now - NGX_PDS_BLOB_GRACE, &up->gone);
    }

    if (rc != 0) {
        mdb_txn_abort(txn);
        pds_blob_gone_free(&up->gone);
        up->result = rc;
        return;
    }

    rc = mdb_txn_commit(txn);
    if (rc != 0) {
        pds_blob_gone_free(&up->gone);
        up->result = ngx_pds_space_failed(up->conf->env, rc, log)
                     ? NGX_PDS_UPLOAD_FULL : rc;
        return;
    }

    if (access(name, F_OK) == -1 && errno == ENOENT
        && link(up->temp, name) == -1 && errno != EEXIST)
    {
        ngx_log_error(NGX_LOG_ERR, log, errno,
                      "pds: cannot link the blob to \"%s\" again", name);
    }

    ngx_pds_blob_unlink_gone(up->conf, up->pool, up->uid, &up->gone, log);
}


static ngx_int_t
ngx_pds_upload_done(ngx_pds_ctx_t *ctx)
{
    char               cid[PDS_CID_STR_SIZE];
    json_t            *answer;
    ngx_pds_upload_t  *up = ctx->data;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "pds: uploadBlob: hashed and stored, %O bytes, result %d",
                   up->size, up->result);

    if (up->result == NGX_PDS_UPLOAD_TAKENDOWN) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Blob has been takendown, cannot re-upload");
    }

    if (up->result == NGX_PDS_UPLOAD_FULL) {
        return ngx_pds_storage_full(ctx);
    }

    if (up->result != 0) {
        ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                      "pds: storing a blob failed: %d", up->result);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_pds_store_committed(ctx);

    pds_cid_format(&up->cid, cid);

    answer = ngx_pds_json_track(ctx->request,
                json_pack("{s:{s:s, s:{s:s}, s:s, s:I}}", "blob",
                          "$type", "blob",
                          "ref", "$link", cid,
                          "mimeType", up->mime,
                          "size", (json_int_t) up->size));
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
}


static ngx_uint_t
ngx_pds_mime_valid(ngx_str_t *ct)
{
    size_t  i;

    if (ct->len > 255) {
        return 0;
    }

    for (i = 0; i < ct->len; i++) {
        if (ct->data[i] < 0x20 || ct->data[i] > 0x7e) {
            return 0;
        }
    }

    return 1;
}


static ngx_int_t
ngx_pds_upload_blob(ngx_pds_ctx_t *ctx)
{
    int                  rc;
    MDB_txn             *txn;
    ngx_str_t           *ct;
    ngx_temp_file_t     *tf;
    ngx_pds_upload_t    *up;
    ngx_http_request_t  *r = ctx->request;

    if (r->request_body == NULL || r->request_body->temp_file == NULL) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "A request body is expected but none was "
                             "provided");
    }

    tf = r->request_body->temp_file;

    if (tf->file.offset > (off_t) ctx->conf->blob_upload_limit) {
        return ngx_pds_error(ctx, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                             "PayloadTooLarge", "request entity too large");
    }

    up = ngx_pcalloc(r->pool, sizeof(ngx_pds_upload_t));
    if (up == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = up;

    up->store = ctx->conf->env->store;
    up->conf = ctx->conf;
    up->pool = r->pool;
    up->temp = (char *) tf->file.name.data;
    up->now = (int64_t) ngx_time();

    if (r->headers_in.content_type && r->headers_in.content_type->value.len)
    {
        ct = &r->headers_in.content_type->value;

        /* kept as the blob's mimeType: printable ASCII, like any MIME type */
        if (!ngx_pds_mime_valid(ct)) {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "Invalid Content-Type");
        }

        up->mime = ngx_pnalloc(r->pool, ct->len + 1);
        if (up->mime == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        ngx_cpystrn((u_char *) up->mime, ct->data, ct->len + 1);

    } else {
        up->mime = "application/octet-stream";
    }

    txn = ngx_pds_read_txn(ctx);
    if (txn == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = pds_store_uid_get(up->store, txn, ctx->auth.did,
                           ngx_strlen(ctx->auth.did), &up->uid);
    ngx_pds_read_done(ctx);

    if (rc != 0) {
        return ngx_pds_error(ctx, NGX_HTTP_FORBIDDEN, "AccountNotFound",
                             "Account not found");
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "pds: uploadBlob: hashing \"%s\" posted, %O bytes "
                   "spooled", up->temp, tf->file.offset);

    return ngx_pds_thread_post(ctx, ngx_pds_upload_work, up,
                               ngx_pds_upload_done);
}


/* ---- references from records ------------------------------------------- */


/*
 * Collects the CIDs of the blob objects ({"$type":"blob","ref":{"$link"}})
 * in a record, into a pool array.
 */
static ngx_int_t
ngx_pds_blob_walk(json_t *v, ngx_array_t *out, ngx_uint_t depth)
{
    size_t       i;
    json_t      *ref, *link, *item;
    const char  *key, *type;
    pds_cid_t   *cid;

    if (depth > 64) {
        return NGX_OK;
    }

    if (json_is_array(v)) {
        json_array_foreach(v, i, item) {
            if (ngx_pds_blob_walk(item, out, depth + 1) != NGX_OK) {
                return NGX_ERROR;
            }
        }
        return NGX_OK;
    }

    if (!json_is_object(v)) {
        return NGX_OK;
    }

    type = json_string_value(json_object_get(v, "$type"));
    ref = json_object_get(v, "ref");
    link = json_object_get(ref, "$link");

    if (type && ngx_strcmp(type, "blob") == 0 && json_is_string(link)) {
        cid = ngx_array_push(out);
        if (cid == NULL) {
            return NGX_ERROR;
        }

        if (pds_cid_parse(cid, json_string_value(link),
                          json_string_length(link))
            != 0)
        {
            out->nelts--;
        }

        return NGX_OK;
    }

    json_object_foreach(v, key, item) {
        if (ngx_pds_blob_walk(item, out, depth + 1) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_pds_blob_refs(ngx_pool_t *pool, json_t *record, pds_cid_t **cids,
    size_t *n)
{
    ngx_array_t  *out;

    out = ngx_array_create(pool, 2, sizeof(pds_cid_t));
    if (out == NULL || ngx_pds_blob_walk(record, out, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    *cids = out->elts;
    *n = out->nelts;

    return NGX_OK;
}


/*
 * In a commit's transaction: the blob references of every op of the write
 * (paths and blob lists given per op).  A blob that was never uploaded
 * refuses the write with "Could not find blob: <cid>".
 */
int
ngx_pds_blob_commit_hook(pds_store_t *store, MDB_txn *txn,
    pds_repo_write_t *w, void *data)
{
    int                  rc;
    char                 path[600], cid[PDS_CID_STR_SIZE];
    u_char              *p;
    size_t               i, j, plen;
    pds_repo_op_t       *op;
    const pds_cid_t     *missing;
    ngx_pds_blob_ops_t  *ops = data;

    for (i = 0; i < w->nops; i++) {
        op = &w->ops[i];

        if (op->done_action == PDS_REPO_NOOP || op->unchanged) {
            continue;
        }

        if (ops->nblobs[i] == 0 && op->done_action == PDS_REPO_CREATE) {
            continue;                   /* nothing before, nothing now */
        }

        if (op->collection_len + 1 + op->rkey_len >= sizeof(path)) {
            return PDS_REPO_EINVAL;
        }

        plen = ngx_sprintf((u_char *) path, "%*s/%*s", op->collection_len,
                           op->collection, op->rkey_len, op->rkey)
               - (u_char *) path;

        /* a taken-down blob is not referenced anew (the reference's) */
        missing = NULL;

        for (j = 0; op->done_action != PDS_REPO_DELETE && j < ops->nblobs[i];
             j++)
        {
            if (pds_takedown_blob(store, txn, w->uid, &ops->blobs[i][j],
                                  NULL, NULL) == 0)
            {
                missing = &ops->blobs[i][j];
                break;
            }
        }

        rc = missing ? PDS_NOTFOUND
                     : pds_blob_set_refs(store, txn, w->uid, path, plen,
                               op->done_action == PDS_REPO_DELETE
                               ? NULL : ops->blobs[i],
                               op->done_action == PDS_REPO_DELETE
                               ? 0 : ops->nblobs[i],
                               &ops->gone, &missing);

        if (rc == PDS_NOTFOUND && missing) {
            pds_cid_format(missing, cid);
            p = ngx_snprintf((u_char *) w->error, sizeof(w->error) - 1,
                             "Could not find blob: %s", cid);
            *p = '\0';
            ops->missing = 1;
            return PDS_REPO_EHOOK;
        }

        if (rc != 0) {
            return PDS_REPO_ESTORE;
        }
    }

    return 0;
}


/*
 * In the thread pool, after the write's transaction: the files of the
 * blobs it dropped once committed, else only the list.
 */
void
ngx_pds_blob_after_write(void *data, pds_repo_write_t *w,
    ngx_uint_t committed, ngx_log_t *log)
{
    ngx_pds_blob_ops_t  *ops = data;

    if (committed) {
        ngx_pds_blob_unlink_gone(ops->conf, ops->pool, w->uid, &ops->gone,
                                 log);

    } else {
        pds_blob_gone_free(&ops->gone);
    }
}


/* ---- getBlob ----------------------------------------------------------- */


static ngx_int_t
ngx_pds_set_header(ngx_http_request_t *r, const char *key, u_char *value,
    size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value.data = value;
    h->value.len = len;

    return NGX_OK;
}




static const ngx_pds_field_t  ngx_pds_get_blob_params[] = {
    { "did", NGX_PDS_V_STRING, NGX_PDS_FMT_DID, NGX_PDS_F_REQUIRED, 0, 0, 0 },
    { "cid", NGX_PDS_V_STRING, NGX_PDS_FMT_CID, NGX_PDS_F_REQUIRED, 0, 0, 0 },
    { NULL, 0, 0, 0, 0, 0, 0 }
};


/*
 * The blob a getBlob names ("did", "cid"): its row into blob, its file
 * name into name.  NGX_OK, or the refusal's status.
 */
static ngx_int_t
ngx_pds_get_blob_find(ngx_pds_ctx_t *ctx, ngx_str_t *cidp, pds_blob_t *blob,
    char **name)
{
    int             rc;
    pds_cid_t       cid;
    pds_account_t   acc;
    ngx_int_t       nrc;

    nrc = ngx_pds_check_params(ctx, ngx_pds_get_blob_params);
    if (nrc != NGX_OK) {
        return nrc;
    }

    if (ngx_pds_repo_account(ctx, "did", &acc, 0) != NGX_OK) {
        return ctx->sent_rc;
    }

    if (ngx_pds_arg(ctx->request, "cid", cidp) != NGX_OK
        || pds_cid_parse(&cid, (char *) cidp->data, cidp->len) != 0)
    {
        ngx_pds_read_done(ctx);
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Params must have the property \"cid\" "
                             "(a cid)");
    }

    rc = pds_blob_get(ctx->conf->env->store, ctx->rtxn, acc.uid, &cid, blob);

    /* a blob an operator took down is not served (the reference's) */
    if (rc == 0
        && pds_takedown_blob(ctx->conf->env->store, ctx->rtxn, acc.uid, &cid,
                             NULL, NULL) == 0)
    {
        rc = PDS_NOTFOUND;
    }

    ngx_pds_read_done(ctx);

    if (rc == PDS_NOTFOUND) {
        /* the reference's name, not the Lexicon's BlobNotFound */
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Blob not found");
    }

    if (rc != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *name = ngx_pds_blob_file(ctx->request->pool, ctx->conf, acc.uid, &cid,
                              NULL);
    if (*name == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_OK;
}


/*
 * The blob's file, open until the request ends; its size and time into
 * fi.  NGX_OK, or the refusal's status.
 */
static ngx_int_t
ngx_pds_get_blob_open(ngx_pds_ctx_t *ctx, char *name, ngx_fd_t *fd,
    ngx_file_info_t *fi)
{
    ngx_pool_cleanup_t       *cln;
    ngx_pool_cleanup_file_t  *clnf;
    ngx_http_request_t       *r = ctx->request;

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_pool_cleanup_file_t));
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *fd = ngx_open_file(name, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (*fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_errno,
                      "pds: blob file \"%s\" is missing", name);
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Blob not found");
    }

    cln->handler = ngx_pool_cleanup_file;
    clnf = cln->data;
    clnf->fd = *fd;
    clnf->name = (u_char *) name;
    clnf->log = r->pool->log;

    if (ngx_fd_info(*fd, fi) == NGX_FILE_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_OK;
}


/* the answer's headers: the blob's type, the reference's safety headers */
static ngx_int_t
ngx_pds_get_blob_headers(ngx_http_request_t *r, pds_blob_t *blob,
    ngx_str_t *cidp, ngx_file_info_t *fi)
{
    u_char  *disp;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = ngx_file_size(fi);
    r->headers_out.last_modified_time = ngx_file_mtime(fi);
    r->headers_out.content_type.len = ngx_strlen(blob->mime);
    r->headers_out.content_type.data = ngx_pnalloc(r->pool,
                                                   ngx_strlen(blob->mime));
    if (r->headers_out.content_type.data == NULL) {
        return NGX_ERROR;
    }
    ngx_memcpy(r->headers_out.content_type.data, blob->mime,
               r->headers_out.content_type.len);

    disp = ngx_pnalloc(r->pool,
                       cidp->len + sizeof("attachment; filename=\"\""));
    if (disp == NULL) {
        return NGX_ERROR;
    }

    if (ngx_pds_set_header(r, "x-content-type-options",
                           (u_char *) "nosniff", 7) != NGX_OK
        || ngx_pds_set_header(r, "content-security-policy",
                              (u_char *) "default-src 'none'; sandbox",
                              sizeof("default-src 'none'; sandbox") - 1)
           != NGX_OK
        || ngx_pds_set_header(r, "content-disposition", disp,
                              ngx_sprintf(disp, "attachment; filename=\"%V\"",
                                          cidp) - disp)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    r->allow_ranges = 1;

    return NGX_OK;
}


static ngx_int_t
ngx_pds_get_blob(ngx_pds_ctx_t *ctx)
{
    char                *name;
    ngx_fd_t             fd;
    ngx_str_t            cidp;
    ngx_buf_t           *b;
    ngx_int_t            rc;
    pds_blob_t           blob;
    ngx_chain_t          out;
    ngx_file_info_t      fi;
    ngx_http_request_t  *r = ctx->request;

    name = NULL;

    rc = ngx_pds_get_blob_find(ctx, &cidp, &blob, &name);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_pds_get_blob_open(ctx, name, &fd, &fi);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_pds_get_blob_headers(r, &blob, &cidp, &fi) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->method == NGX_HTTP_HEAD || ngx_file_size(&fi) == 0) {
        r->header_only = 1;
        return ngx_http_send_header(r);
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->file = ngx_pcalloc(r->pool, sizeof(ngx_file_t));
    if (b->file == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b->file_pos = 0;
    b->file_last = ngx_file_size(&fi);
    b->in_file = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    b->file->fd = fd;
    b->file->name.data = (u_char *) name;
    b->file->name.len = ngx_strlen(name);
    b->file->log = r->connection->log;
    b->file->directio = 0;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
