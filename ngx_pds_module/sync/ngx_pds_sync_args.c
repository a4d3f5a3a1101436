/*
 * ngx_pds_module: the query parameters the com.atproto.sync.* reads share,
 * checked as the reference does.  Each returns NGX_OK, or the status of
 * the refusal it recorded with ngx_pds_error(), for the handler to return.
 */

#include "ngx_pds_sync.h"
#include "pds_syntax.h"


/* a required string parameter, NUL-terminated */
ngx_int_t
ngx_pds_sync_param(ngx_pds_ctx_t *ctx, const char *name, ngx_str_t *v)
{
    if (ngx_pds_arg(ctx->request, name, v) != NGX_OK || v->len == 0) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Params must have the property \"%s\"", name);
    }

    return NGX_OK;
}


/*
 * The repository of the "did" parameter, with the reference's checks
 * (assertRepoAvailability): the owner and the admin see taken-down and
 * deactivated repos, others get RepoTakendown / RepoDeactivated; always:
 * everyone does.
 */
ngx_int_t
ngx_pds_sync_repo(ngx_pds_ctx_t *ctx, pds_account_t *acc,
    ngx_uint_t always)
{
    ngx_int_t   rc;
    ngx_str_t   did;
    ngx_uint_t  allow;

    rc = ngx_pds_sync_param(ctx, "did", &did);
    if (rc != NGX_OK) {
        return rc;
    }

    if (!pds_did_valid((char *) did.data, did.len)) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "did must be a valid did");
    }

    allow = always || ctx->auth.admin
            || (ctx->auth.did && ngx_strlen(ctx->auth.did) == did.len
                && ngx_strncmp(ctx->auth.did, did.data, did.len) == 0);

    if (ngx_pds_repo_account(ctx, "did", acc, allow) != NGX_OK) {
        /* a check of the plumbing: its refusal's status is kept there */
        return ctx->sent_rc;
    }

    return NGX_OK;
}


/* limit: an integer in 1..1000, 500 when absent */
ngx_int_t
ngx_pds_sync_limit(ngx_pds_ctx_t *ctx, ngx_uint_t *limit)
{
    ngx_int_t    n;
    ngx_str_t    v;
    const char  *error;

    *limit = 500;

    if (ngx_pds_arg(ctx->request, "limit", &v) != NGX_OK || v.len == 0) {
        return NGX_OK;
    }

    n = ngx_atoi(v.data, v.len);

    if (n == NGX_ERROR) {
        error = "limit must be an integer";

    } else if (n < 1) {
        error = "limit can not be less than 1";

    } else if (n > 1000) {
        error = "limit can not be greater than 1000";

    } else {
        *limit = (ngx_uint_t) n;
        return NGX_OK;
    }

    return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest", "%s",
                         error);
}


/* since: a TID when given (its number in *since), 0 when absent */
ngx_int_t
ngx_pds_sync_since(ngx_pds_ctx_t *ctx, uint64_t *since)
{
    ngx_str_t  v;

    *since = 0;

    if (ngx_pds_arg(ctx->request, "since", &v) != NGX_OK || v.len == 0) {
        return NGX_OK;
    }

    if (!pds_tid_valid((char *) v.data, v.len)
        || pds_tid_decode((char *) v.data, v.len, since) != 0)
    {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "since must be a valid TID");
    }

    return NGX_OK;
}
