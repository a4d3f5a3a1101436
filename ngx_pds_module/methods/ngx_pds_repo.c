/*
 * ngx_pds_module: records over XRPC.
 *
 *   com.atproto.repo.getRecord / listRecords (short LMDB read transactions
 *   on the loop; getRecord of a repo hosted elsewhere goes to the AppView,
 *   as the reference's, without the caller's credentials), and in this
 *   table the writes of ngx_pds_repo_write.c:
 *   createRecord / putRecord / deleteRecord / applyWrites.
 */

#include "ngx_pds_methods_int.h"
#include "ngx_pds_params.h"
#include "ngx_pds_forward.h"

#include "pds_json.h"
#include "pds_json_text.h"
#include "pds_repo.h"
#include "pds_tid.h"
#include "pds_takedown.h"


/* the JSON input of a write that carries records */
#define NGX_PDS_RECORD_JSON_LIMIT  1000000


static ngx_int_t ngx_pds_get_record(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_list_records(ngx_pds_ctx_t *ctx);


static const ngx_pds_field_t  ngx_pds_get_record_params[] = {
    { "repo", NGX_PDS_V_STRING, NGX_PDS_FMT_AT_ID, NGX_PDS_F_REQUIRED,
      0, 0, 0 },
    { "collection", NGX_PDS_V_STRING, NGX_PDS_FMT_NSID, NGX_PDS_F_REQUIRED,
      0, 0, 0 },
    { "rkey", NGX_PDS_V_STRING, NGX_PDS_FMT_RKEY, NGX_PDS_F_REQUIRED,
      0, 0, 0 },
    { "cid", NGX_PDS_V_STRING, NGX_PDS_FMT_CID, 0, 0, 0, 0 },
    { NULL, 0, 0, 0, 0, 0, 0 }
};


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

    } else {
        ngx_strlow(repo->data, repo->data, repo->len);
        rc = pds_account_uid_by_handle(store, txn, (char *) repo->data, uid);
    }

    /* as the reference's getDidForActor: only active accounts are found */
    if (rc != 0
        || pds_account_get(store, txn, *uid, &ctx->alloc, &acc) != 0
        || acc.deactivated_at != NULL || acc.takedown_ref != NULL)
    {
        return NULL;
    }

    return acc.did;
}


static ngx_int_t
ngx_pds_get_record(ngx_pds_ctx_t *ctx)
{
    int                  rc;
    char                *uri;
    size_t               n;
    json_t              *answer, *value;
    MDB_txn             *txn;
    uint64_t             uid;
    pds_cid_t            cid, want;
    ngx_str_t            repo, collection, rkey, cidp;
    const char          *did, *err;
    const uint8_t       *p;
    char                 cids[PDS_CID_STR_SIZE];

    rc = ngx_pds_check_params(ctx, ngx_pds_get_record_params);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_pds_arg(ctx->request, "repo", &repo) != NGX_OK
        || ngx_pds_arg(ctx->request, "collection", &collection) != NGX_OK
        || ngx_pds_arg(ctx->request, "rkey", &rkey) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_pds_arg(ctx->request, "cid", &cidp) != NGX_OK
        || pds_cid_parse(&want, (char *) cidp.data, cidp.len) != 0)
    {
        ngx_str_null(&cidp);
    }

    txn = ngx_pds_read_txn(ctx);
    if (txn == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    did = ngx_pds_local_did(ctx, txn, &repo, &uid);
    if (did == NULL) {
        ngx_pds_read_done(ctx);

        if (ctx->conf->appview_url.len == 0) {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "Could not locate record");
        }

        /* not hosted here: the AppView's copy, asked without credentials */
        return ngx_pds_proxy_forward_as(ctx, NULL, NULL, 1);
    }

    uri = ngx_pds_at_uri(ctx->request->pool, did, (char *) collection.data,
                         collection.len, (char *) rkey.data, rkey.len);
    if (uri == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = pds_repo_get_record(ctx->conf->env->store, txn, uid,
                             (char *) collection.data, collection.len,
                             (char *) rkey.data, rkey.len, &cid, &p, &n);

    if (rc == 0 && cidp.len && !pds_cid_equal(&cid, &want)) {
        rc = PDS_NOTFOUND;
    }

    /* a record an operator took down is not served (the reference's) */
    if (rc == 0
        && pds_takedown_record(ctx->conf->env->store, txn, uid,
                               (char *) collection.data, collection.len,
                               (char *) rkey.data, rkey.len, NULL, NULL) == 0)
    {
        rc = PDS_NOTFOUND;
    }

    if (rc != 0) {
        ngx_pds_read_done(ctx);

        if (rc < 0) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "RecordNotFound",
                             "Could not locate record: %s", uri);
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
    pds_buf_t        out;              /* the answer's JSON text */
    pds_alloc_t      a;                /* the values' decoded trees */
    size_t           count;
    const char      *did;
    ngx_str_t        collection;
    char             last[PDS_TID_BUF + 512];
    ngx_pool_t      *pool;
    ngx_uint_t       failed;
    pds_store_t     *store;            /* for takedowns */
    MDB_txn         *txn;
    uint64_t         uid;
} ngx_pds_list_t;


/*
 * One record of the answer, written as JSON text straight from its
 * DAG-CBOR (pds_json_text.c): the same bytes jansson would print, at a
 * fraction of the cost.
 */
static int
ngx_pds_list_record(void *data, const char *rkey, size_t rlen,
    const pds_cid_t *cid, const uint8_t *p, size_t n)
{
    char            *uri;
    const char      *err;
    char             cids[PDS_CID_STR_SIZE];
    ngx_pds_list_t  *ls = data;

    if (rlen >= sizeof(ls->last)) {
        ls->failed = 1;
        return -1;
    }

    ngx_memcpy(ls->last, rkey, rlen);
    ls->last[rlen] = '\0';

    /* a taken-down record is left out; the cursor still moves past it */
    if (pds_takedown_record(ls->store, ls->txn, ls->uid,
                            (char *) ls->collection.data,
                            ls->collection.len, rkey, rlen, NULL, NULL)
        == 0)
    {
        return 0;
    }

    uri = ngx_pds_at_uri(ls->pool, ls->did, (char *) ls->collection.data,
                         ls->collection.len, rkey, rlen);
    if (uri == NULL) {
        ls->failed = 1;
        return -1;
    }

    pds_cid_format(cid, cids);

    if (pds_buf_append(&ls->out, ls->count ? ",{\"uri\":" : "{\"uri\":",
                       ls->count ? 8 : 7) != 0
        || pds_json_text_string(&ls->out, uri, ngx_strlen(uri)) != 0
        || pds_buf_append(&ls->out, ",\"cid\":\"", 8) != 0
        || pds_buf_append(&ls->out, cids, PDS_CID_STR_LEN) != 0
        || pds_buf_append(&ls->out, "\",\"value\":", 10) != 0
        || pds_json_text_from_cbor(&ls->out, p, n, &ls->a, &err) != 0
        || pds_buf_putc(&ls->out, '}') != 0)
    {
        ls->failed = 1;
        return -1;
    }

    ls->count++;

    return 0;
}


static ngx_int_t
ngx_pds_list_records(ngx_pds_ctx_t *ctx)
{
    long             n;
    u_char          *text;
    MDB_txn         *txn;
    uint64_t         uid;
    ngx_int_t        limit, rc;
    ngx_str_t        repo, v, cursor;
    ngx_uint_t       reverse;
    pds_arena_t     *arena;
    ngx_pds_list_t   ls;

    ngx_memzero(&ls, sizeof(ngx_pds_list_t));
    ls.pool = ctx->request->pool;

    if (ngx_pds_arg(ctx->request, "repo", &repo) != NGX_OK
        || ngx_pds_arg(ctx->request, "collection", &ls.collection) != NGX_OK)
    {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Params must have the properties \"repo\" and "
                             "\"collection\"");
    }

    limit = 50;

    if (ngx_pds_arg(ctx->request, "limit", &v) == NGX_OK) {
        limit = ngx_atoi(v.data, v.len);

        if (limit == NGX_ERROR || limit < 1 || limit > 100) {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "limit must be an integer from 1 to 100");
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
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Could not find repo: %V", &repo);
    }

    arena = pds_arena_create();
    if (arena == NULL) {
        ngx_pds_read_done(ctx);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ls.a = pds_arena_allocator(arena);
    pds_buf_init(&ls.out, &pds_malloc_allocator);
    ls.store = ctx->conf->env->store;
    ls.txn = txn;
    ls.uid = uid;

    n = -1;

    if (pds_buf_append(&ls.out, "{\"records\":[", 12) == 0) {
        n = pds_repo_list_records(ctx->conf->env->store, txn, uid,
                                  (char *) ls.collection.data,
                                  ls.collection.len, (size_t) limit,
                                  cursor.len ? (char *) cursor.data : NULL,
                                  cursor.len, reverse, ngx_pds_list_record,
                                  &ls);
    }

    ngx_pds_read_done(ctx);
    pds_arena_destroy(arena);

    if (n < 0 || ls.failed
        || pds_buf_putc(&ls.out, ']') != 0
        || (n > 0
            && (pds_buf_append(&ls.out, ",\"cursor\":", 10) != 0
                || pds_json_text_string(&ls.out, ls.last,
                                        ngx_strlen(ls.last)) != 0))
        || pds_buf_putc(&ls.out, '}') != 0)
    {
        pds_buf_free(&ls.out);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    text = ngx_pnalloc(ctx->request->pool, ls.out.len);
    if (text == NULL) {
        pds_buf_free(&ls.out);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(text, ls.out.data, ls.out.len);
    rc = ngx_pds_send_text(ctx->request, NGX_HTTP_OK,
                           "application/json; charset=utf-8", text,
                           ls.out.len);
    pds_buf_free(&ls.out);

    return rc;
}
