/*
 * ngx_pds_module: what a repo and its account look like (methods of
 * ngx_pds_identity_methods).
 *
 *   com.atproto.repo.describeRepo          the repo's collections, its
 *                                          DID document and handle check
 *   com.atproto.server.checkAccountStatus  the repo's counts and whether
 *                                          the DID points at this PDS
 *
 * The DID document or the PLC data come from the PLC directory (or a
 * did:web host) through nginx (ngx_pds_fetch.c).
 */

#include "ngx_pds_methods_int.h"
#include "ngx_pds_did.h"

#include "pds_repo.h"


/* ---- describeRepo ------------------------------------------------------ */


typedef struct {
    pds_account_t    account;
    json_t          *collections;
} ngx_pds_describe_t;


static int
ngx_pds_describe_collection(void *data, const char *name, size_t len)
{
    json_t  *list = data;

    return json_array_append_new(list, json_stringn(name, len));
}


static ngx_int_t
ngx_pds_describe_repo_doc(ngx_pds_ctx_t *ctx)
{
    json_t              *doc, *aka, *answer;
    const char          *first;
    ngx_uint_t           correct;
    ngx_pds_describe_t  *st = ctx->data;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "pds: describeRepo %s: DID document answered %ui",
                   st->account.did, ctx->response.status);

    doc = ngx_pds_response_json(ctx);
    if (doc == NULL) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Could not resolve DID: %s", st->account.did);
    }

    correct = 0;
    aka = json_object_get(doc, "alsoKnownAs");
    first = json_string_value(json_array_get(aka, 0));

    if (first && ngx_strncmp(first, "at://", 5) == 0
        && ngx_strcmp(first + 5, st->account.handle) == 0)
    {
        correct = 1;
    }

    answer = ngx_pds_json_track(ctx->request,
                                json_pack("{s:s, s:s, s:O, s:O, s:b}",
                                          "handle", st->account.handle,
                                          "did", st->account.did,
                                          "didDoc", doc,
                                          "collections", st->collections,
                                          "handleIsCorrect", correct));
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
}


/* where the DID document of did is: the PLC directory or a did:web host */
static ngx_str_t *
ngx_pds_describe_doc_url(ngx_pds_ctx_t *ctx, const char *did)
{
    ngx_str_t  *url;

    if (ngx_strncmp(did, "did:plc:", 8) == 0) {
        return ngx_pds_plc_url(ctx, did, "");
    }

    url = ngx_palloc(ctx->request->pool, sizeof(ngx_str_t));
    if (url == NULL) {
        return NULL;
    }

    url->data = ngx_pnalloc(ctx->request->pool, ngx_strlen(did) + 40);
    if (url->data == NULL) {
        return NULL;
    }

    url->len = ngx_sprintf(url->data, "https://%s/.well-known/did.json",
                           did + 8)
               - url->data;

    return url;
}


ngx_int_t
ngx_pds_describe_repo(ngx_pds_ctx_t *ctx)
{
    ngx_str_t           *url;
    ngx_pds_describe_t  *st;

    st = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_describe_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = st;

    if (ngx_pds_repo_account(ctx, "repo", &st->account, 0) != NGX_OK) {
        return ctx->sent_rc;
    }

    st->collections = ngx_pds_json_track(ctx->request, json_array());
    if (st->collections == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (pds_repo_list_collections(ctx->conf->env->store, ctx->rtxn,
                                  st->account.uid,
                                  ngx_pds_describe_collection,
                                  st->collections)
        < 0)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_pds_read_done(ctx);

    if (ngx_strncmp(st->account.did, "did:plc:", 8) != 0
        && ngx_strncmp(st->account.did, "did:web:", 8) != 0)
    {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Could not resolve DID: %s", st->account.did);
    }

    url = ngx_pds_describe_doc_url(ctx, st->account.did);
    if (url == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_fetch(ctx, NGX_HTTP_GET, url, NULL, NULL, NULL,
                         ngx_pds_describe_repo_doc);
}


/* ---- checkAccountStatus ------------------------------------------------ */


typedef struct {
    pds_account_t        account;
    char                 didkey[128];
    pds_repo_root_t      root;
    pds_account_usage_t  usage;
    ngx_pds_did_check_t  check;
} ngx_pds_status_t;


static ngx_int_t
ngx_pds_check_account_status_data(ngx_pds_ctx_t *ctx)
{
    char               commit[PDS_CID_STR_SIZE];
    json_t            *answer;
    ngx_uint_t         valid;
    ngx_pds_status_t  *st = ctx->data;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "pds: checkAccountStatus %s: %s", st->account.did,
                   st->check.problem ? st->check.problem
                                     : "the DID points here");

    valid = st->check.problem == NULL;

    pds_cid_format(&st->root.commit, commit);

    answer = ngx_pds_json_track(ctx->request,
                json_pack("{s:b, s:b, s:s, s:s, s:I, s:I, s:i, s:i, s:i}",
                          "activated", st->account.deactivated_at == NULL,
                          "validDid", valid,
                          "repoCommit", commit,
                          "repoRev", st->root.rev,
                          "repoBlocks", (json_int_t) st->usage.blocks,
                          "indexedRecords", (json_int_t) st->usage.records,
                          "privateStateValues", 0,
                          "expectedBlobs", (int) st->usage.expected_blobs,
                          "importedBlobs", (int) st->usage.imported_blobs));
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
}


ngx_int_t
ngx_pds_check_account_status(ngx_pds_ctx_t *ctx)
{
    int                rc;
    ngx_pds_status_t  *st;

    st = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_status_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = st;

    rc = ngx_pds_session_account(ctx, &st->account, st->didkey,
                                 sizeof(st->didkey));
    if (rc == PDS_NOTFOUND) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Account not found");
    }

    if (rc != 0
        || pds_repo_get_root(ctx->conf->env->store, ctx->rtxn,
                             st->account.uid, &st->root)
           != 0
        || pds_account_usage(ctx->conf->env->store, ctx->rtxn,
                             st->account.uid, &st->usage)
           != 0)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_pds_read_done(ctx);

    return ngx_pds_did_check_service(ctx, st->account.did, st->didkey,
                                     &st->check,
                                     ngx_pds_check_account_status_data);
}
