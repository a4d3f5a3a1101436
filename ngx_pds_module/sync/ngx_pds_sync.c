/*
 * ngx_pds_module: com.atproto.sync.*, the top of the sync layer (sync/):
 * the method table, the module's hooks (the commit hook among them) and
 * the reads that answer with JSON.  The CAR answers are in
 * ngx_pds_car_stream.c, the firehose in ngx_pds_firehose.c; the private
 * header ngx_pds_sync.h shows what each file of the layer offers.
 */

#include "ngx_pds_sync.h"
#include "ngx_pds_methods.h"
#include "pds_blob.h"
#include "pds_repo.h"
#include "pds_syntax.h"


static ngx_int_t ngx_pds_get_latest_commit(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_get_head(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_get_repo_status(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_list_repos(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_list_blobs(ngx_pds_ctx_t *ctx);


const ngx_pds_method_t  ngx_pds_sync_methods[] = {

    { ngx_string("com.atproto.sync.getRepo"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_OPTIONAL, NGX_PDS_IN_NONE, NGX_PDS_ALLOW_TAKENDOWN, 0,
      ngx_pds_get_repo, NULL },

    { ngx_string("com.atproto.sync.getCheckout"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_OPTIONAL, NGX_PDS_IN_NONE, 0, 0, ngx_pds_get_checkout, NULL },

    { ngx_string("com.atproto.sync.getRecord"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_OPTIONAL, NGX_PDS_IN_NONE, 0, 0, ngx_pds_get_record, NULL },

    { ngx_string("com.atproto.sync.getBlocks"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_OPTIONAL, NGX_PDS_IN_NONE, 0, 0, ngx_pds_get_blocks, NULL },

    { ngx_string("com.atproto.sync.getLatestCommit"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_OPTIONAL, NGX_PDS_IN_NONE, 0, 0,
      ngx_pds_get_latest_commit, NULL },

    { ngx_string("com.atproto.sync.getHead"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_OPTIONAL, NGX_PDS_IN_NONE, 0, 0, ngx_pds_get_head, NULL },

    { ngx_string("com.atproto.sync.getRepoStatus"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_NONE, NGX_PDS_IN_NONE, 0, 0, ngx_pds_get_repo_status, NULL },

    { ngx_string("com.atproto.sync.listRepos"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_NONE, NGX_PDS_IN_NONE, 0, 0, ngx_pds_list_repos, NULL },

    { ngx_string("com.atproto.sync.listBlobs"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_OPTIONAL, NGX_PDS_IN_NONE, NGX_PDS_ALLOW_TAKENDOWN, 0,
      ngx_pds_list_blobs, NULL },

    { ngx_string("com.atproto.sync.subscribeRepos"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_NONE, NGX_PDS_IN_NONE, 0, 0, ngx_pds_subscribe_repos, NULL },

    { ngx_null_string, 0, 0, 0, 0, 0, NULL, NULL }
};


/* ---- hooks ------------------------------------------------------------- */


/* new events were committed by the request of ctx (the commit hook) */
static void
ngx_pds_sync_notify(ngx_pds_ctx_t *ctx)
{
    ngx_pds_wake_notify(ctx);
    ngx_pds_crawl_notify(ctx);
}


ngx_int_t
ngx_pds_sync_init_conf(ngx_conf_t *cf)
{
    ngx_pds_store_on_commit(ngx_pds_sync_notify);

    return ngx_pds_wake_init_conf(cf);
}


ngx_int_t
ngx_pds_sync_init_process(ngx_cycle_t *cycle)
{
    ngx_pds_crawl_init_process();

    if (ngx_pds_retention_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_pds_firehose_init_process(cycle);
}


void
ngx_pds_sync_exit_process(ngx_cycle_t *cycle)
{
    ngx_pds_firehose_exit_process();
}


/* ---- JSON answers ------------------------------------------------------ */


/* the reference's formatAccountStatus: NULL status when active */
static const char *
ngx_pds_sync_status(pds_account_t *acc)
{
    if (acc->takedown_ref) {
        return "takendown";
    }

    if (acc->deactivated_at) {
        return "deactivated";
    }

    return NULL;
}


/*
 * getLatestCommit ({cid, rev}) and getHead ({root}, head set): the commit
 * of the "did" parameter's repo; error names its absence.
 */
static ngx_int_t
ngx_pds_sync_commit(ngx_pds_ctx_t *ctx, const char *error, ngx_uint_t head)
{
    int              rc;
    char             cid[PDS_CID_STR_SIZE];
    json_t          *json;
    ngx_int_t        st;
    pds_account_t    acc;
    pds_repo_root_t  root;

    st = ngx_pds_sync_repo(ctx, &acc, 0);
    if (st != NGX_OK) {
        return st;
    }

    rc = pds_repo_get_root(ctx->conf->env->store, ctx->rtxn, acc.uid, &root);

    if (rc == PDS_NOTFOUND) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, error,
                             "Could not find root for DID: %s", acc.did);
    }

    if (rc != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    pds_cid_format(&root.commit, cid);

    json = head ? json_pack("{s:s}", "root", cid)
                : json_pack("{s:s, s:s}", "cid", cid, "rev", root.rev);

    if (ngx_pds_json_track(ctx->request, json) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, json);
}


static ngx_int_t
ngx_pds_get_latest_commit(ngx_pds_ctx_t *ctx)
{
    return ngx_pds_sync_commit(ctx, "RepoNotFound", 0);
}


static ngx_int_t
ngx_pds_get_head(ngx_pds_ctx_t *ctx)
{
    return ngx_pds_sync_commit(ctx, "HeadNotFound", 1);
}


static ngx_int_t
ngx_pds_get_repo_status(ngx_pds_ctx_t *ctx)
{
    json_t           *json;
    ngx_int_t         rc;
    const char       *status;
    pds_account_t     acc;
    pds_repo_root_t   root;

    rc = ngx_pds_sync_repo(ctx, &acc, 1);
    if (rc != NGX_OK) {
        return rc;
    }

    status = ngx_pds_sync_status(&acc);

    json = ngx_pds_json_track(ctx->request,
                              json_pack("{s:s, s:b}", "did", acc.did,
                                        "active", status == NULL));
    if (json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (status) {
        json_object_set_new(json, "status", json_string(status));

    } else if (pds_repo_get_root(ctx->conf->env->store, ctx->rtxn, acc.uid,
                                 &root) == 0)
    {
        json_object_set_new(json, "rev", json_string(root.rev));
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, json);
}


/* ---- listRepos --------------------------------------------------------- */


/* where a page of listRepos starts */
typedef struct {
    uint64_t               uid;           /* the first account to look at */
    ngx_uint_t             skip;          /* the cursor's account is gone */
    int64_t                ms;            /* the cursor's (createdAt, did) */
    ngx_str_t              did;
} ngx_pds_repos_from_t;


/* an account's createdAt in ms, as the listRepos cursor has it */
static int64_t
ngx_pds_repos_created_ms(pds_account_t *acc)
{
    int64_t  us;

    if (acc->created_at == NULL
        || pds_datetime_parse(acc->created_at, ngx_strlen(acc->created_at),
                              &us) != 0)
    {
        us = 0;
    }

    return us / 1000;
}


/* "<createdAt in ms>::<did>", the reference's listRepos cursor */
static ngx_int_t
ngx_pds_repos_cursor(ngx_pool_t *pool, pds_account_t *acc, ngx_str_t *out)
{
    u_char  *p;

    out->data = ngx_pnalloc(pool, NGX_INT64_LEN + 2 + ngx_strlen(acc->did));
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(out->data, "%L::%s", ngx_pds_repos_created_ms(acc),
                    acc->did);
    out->len = p - out->data;

    return NGX_OK;
}


/*
 * The "cursor" parameter.  Accounts are in uid order, which is creation
 * order: the page starts after the cursor's account, or, when that is
 * gone, at the first account created after (createdAt, did).  NGX_OK or
 * the status of a refusal.
 */
static ngx_int_t
ngx_pds_repos_from(ngx_pds_ctx_t *ctx, MDB_txn *txn,
    ngx_pds_repos_from_t *from)
{
    int         rc;
    u_char     *sep;
    ngx_int_t   ms;
    ngx_str_t   cursor;

    ngx_memzero(from, sizeof(ngx_pds_repos_from_t));

    if (ngx_pds_arg(ctx->request, "cursor", &cursor) != NGX_OK
        || cursor.len == 0)
    {
        return NGX_OK;
    }

    sep = ngx_strlcasestrn(cursor.data, cursor.data + cursor.len,
                           (u_char *) "::", 2 - 1);

    ms = sep ? ngx_atoi(cursor.data, sep - cursor.data) : NGX_ERROR;

    if (ms == NGX_ERROR) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Malformed cursor");
    }

    from->ms = ms;
    from->did.data = sep + 2;
    from->did.len = cursor.data + cursor.len - from->did.data;

    rc = pds_store_uid_get(ctx->conf->env->store, txn,
                           (char *) from->did.data, from->did.len,
                           &from->uid);
    if (rc == 0) {
        from->uid++;

    } else if (rc == PDS_NOTFOUND) {
        from->uid = 0;
        from->skip = 1;

    } else {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_OK;
}


/* the entry of an account with a repo, or NULL (and nothing is wrong) */
static json_t *
ngx_pds_repos_entry(ngx_pds_ctx_t *ctx, MDB_txn *txn, uint64_t uid,
    ngx_pds_repos_from_t *from, pds_account_t *acc)
{
    char             cid[PDS_CID_STR_SIZE];
    json_t          *repo;
    int64_t          ms;
    const char      *status;
    pds_store_t     *store;
    pds_repo_root_t  root;

    store = ctx->conf->env->store;

    if (pds_account_get(store, txn, uid, &ctx->alloc, acc) != 0) {
        return NULL;
    }

    if (from->skip) {
        ms = ngx_pds_repos_created_ms(acc);

        if (ms < from->ms
            || (ms == from->ms && ngx_strcmp(acc->did, from->did.data) <= 0))
        {
            return NULL;
        }
    }

    if (pds_repo_get_root(store, txn, uid, &root) != 0) {
        return NULL;
    }

    pds_cid_format(&root.commit, cid);
    status = ngx_pds_sync_status(acc);

    repo = json_pack("{s:s, s:s, s:s, s:b}", "did", acc->did, "head", cid,
                     "rev", root.rev, "active", status == NULL);

    if (repo && status) {
        json_object_set_new(repo, "status", json_string(status));
    }

    return repo;
}


/* up to limit entries into repos, from from; NGX_OK or NGX_ERROR */
static ngx_int_t
ngx_pds_repos_page(ngx_pds_ctx_t *ctx, MDB_txn *txn,
    ngx_pds_repos_from_t *from, ngx_uint_t limit, json_t *repos,
    ngx_str_t *last)
{
    int                  rc;
    json_t              *repo;
    uint64_t             uid;
    pds_account_t        acc;
    pds_account_iter_t   it;

    if (pds_account_iter_open(ctx->conf->env->store, txn, from->uid, &it)
        != 0)
    {
        return NGX_ERROR;
    }

    rc = 0;

    while (json_array_size(repos) < limit
           && (rc = pds_account_iter_next(&it, &uid)) == 0)
    {
        repo = ngx_pds_repos_entry(ctx, txn, uid, from, &acc);
        if (repo == NULL) {
            continue;
        }

        json_array_append_new(repos, repo);

        if (ngx_pds_repos_cursor(ctx->request->pool, &acc, last) != NGX_OK) {
            break;
        }
    }

    pds_account_iter_close(&it);

    return (rc == 0 || rc == PDS_NOTFOUND) ? NGX_OK : NGX_ERROR;
}


static ngx_int_t
ngx_pds_list_repos(ngx_pds_ctx_t *ctx)
{
    MDB_txn               *txn;
    json_t                *json, *repos;
    ngx_int_t              rc;
    ngx_str_t              last;
    ngx_uint_t             limit;
    ngx_pds_repos_from_t   from;

    rc = ngx_pds_sync_limit(ctx, &limit);
    if (rc != NGX_OK) {
        return rc;
    }

    txn = ngx_pds_read_txn(ctx);
    if (txn == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_pds_repos_from(ctx, txn, &from);
    if (rc != NGX_OK) {
        return rc;
    }

    repos = json_array();
    json = ngx_pds_json_track(ctx->request, json_object());
    if (repos == NULL || json == NULL) {
        json_decref(repos);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_object_set_new(json, "repos", repos);
    ngx_str_null(&last);

    if (ngx_pds_repos_page(ctx, txn, &from, limit, repos, &last) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (last.len) {
        json_object_set_new(json, "cursor",
                            json_stringn((char *) last.data, last.len));
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, json);
}


/* ---- listBlobs --------------------------------------------------------- */


typedef struct {
    ngx_pds_ctx_t         *ctx;
    uint64_t               uid;
    json_t                *cids;
    char                   last[PDS_CID_STR_SIZE];
    int                    error;
} ngx_pds_blob_list_t;


static int
ngx_pds_list_blobs_cb(void *data, const pds_cid_t *cid)
{
    int                   rc;
    pds_blob_t            blob;
    ngx_pds_blob_list_t  *bl = data;

    rc = pds_blob_get(bl->ctx->conf->env->store, bl->ctx->rtxn, bl->uid, cid,
                      &blob);
    if (rc != 0) {
        bl->error = (rc != PDS_NOTFOUND);
        return bl->error;
    }

    /* only blobs that records reference, as the reference's record_blob */

    if (blob.temp) {
        return 0;
    }

    pds_cid_format(cid, bl->last);

    return json_array_append_new(bl->cids, json_string(bl->last)) != 0;
}


/* listBlobs' parameters: NGX_OK or the status of a refusal */
static ngx_int_t
ngx_pds_list_blobs_args(ngx_pds_ctx_t *ctx, pds_account_t *acc,
    ngx_uint_t *limit, pds_cid_t *cursor, pds_cid_t **after)
{
    uint64_t   since;
    ngx_int_t  rc;
    ngx_str_t  v;

    rc = ngx_pds_sync_repo(ctx, acc, 0);

    if (rc == NGX_OK) {
        rc = ngx_pds_sync_limit(ctx, limit);
    }

    if (rc == NGX_OK) {
        rc = ngx_pds_sync_since(ctx, &since);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    *after = NULL;

    if (ngx_pds_arg(ctx->request, "cursor", &v) == NGX_OK && v.len) {
        if (pds_cid_parse(cursor, (char *) v.data, v.len) != 0) {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "Malformed cursor");
        }

        *after = cursor;
    }

    return NGX_OK;
}


/*
 * The blobs of a repo, in CID order.  "since" is checked but cannot
 * filter yet: blob rows do not record the rev that first referenced them.
 */
static ngx_int_t
ngx_pds_list_blobs(ngx_pds_ctx_t *ctx)
{
    long                  n;
    json_t               *json;
    ngx_int_t             rc;
    pds_cid_t             cursor, *after;
    ngx_uint_t            limit;
    pds_account_t         acc;
    ngx_pds_blob_list_t   bl;

    rc = ngx_pds_list_blobs_args(ctx, &acc, &limit, &cursor, &after);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_memzero(&bl, sizeof(ngx_pds_blob_list_t));
    bl.ctx = ctx;
    bl.uid = acc.uid;
    bl.cids = json_array();

    json = ngx_pds_json_track(ctx->request, json_object());
    if (bl.cids == NULL || json == NULL) {
        json_decref(bl.cids);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_object_set_new(json, "cids", bl.cids);

    n = pds_blob_list(ctx->conf->env->store, ctx->rtxn, acc.uid, after,
                      limit, ngx_pds_list_blobs_cb, &bl);

    if (n < 0 || bl.error) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (bl.last[0]) {
        json_object_set_new(json, "cursor", json_string(bl.last));
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, json);
}
