/*
 * ngx_pds_module: authentication of XRPC calls, as the reference PDS does
 * it (error names, messages and statuses included):
 *
 *   admin      HTTP Basic "admin:<pds_admin_password>"
 *   sessions   Bearer HS256 access tokens (typ at+jwt) whose scope the
 *              method accepts: full (password login), privileged app
 *              password, app password
 *   refresh    Bearer refresh tokens (typ refresh+jwt) with a jti
 */

#include "ngx_pds.h"

#include <openssl/crypto.h>

#include "pds_jwt.h"


static void
ngx_pds_auth_headers(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    if (r->headers_out.status == NGX_HTTP_OK
        && r->header_sent)
    {
        return;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h != NULL) {
        h->hash = 1;
        ngx_str_set(&h->key, "Cache-Control");
        ngx_str_set(&h->value, "private");
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h != NULL) {
        h->hash = 1;
        ngx_str_set(&h->key, "Vary");
        ngx_str_set(&h->value, "Authorization");
    }
}


static ngx_int_t
ngx_pds_auth_required(ngx_pds_ctx_t *ctx)
{
    return ngx_pds_fail(ctx, NGX_HTTP_UNAUTHORIZED, "AuthenticationRequired",
                        "Authentication Required");
}


static ngx_int_t
ngx_pds_auth_admin(ngx_pds_ctx_t *ctx)
{
    ngx_int_t            rc;
    ngx_str_t           *pass;
    ngx_http_request_t  *r = ctx->request;
    ngx_pds_srv_conf_t  *pscf = ctx->conf;

    rc = ngx_http_auth_basic_user(r);

    if (rc != NGX_OK
        || r->headers_in.user.len != 5
        || ngx_strncmp(r->headers_in.user.data, "admin", 5) != 0)
    {
        return ngx_pds_auth_required(ctx);
    }

    pass = &pscf->admin_password;

    if (r->headers_in.passwd.len != pass->len
        || CRYPTO_memcmp(r->headers_in.passwd.data, pass->data, pass->len)
           != 0)
    {
        return ngx_pds_auth_required(ctx);
    }

    return NGX_OK;
}


typedef enum {
    NGX_PDS_AUTH_TYPE_NONE = 0,
    NGX_PDS_AUTH_TYPE_BASIC,
    NGX_PDS_AUTH_TYPE_BEARER,
    NGX_PDS_AUTH_TYPE_DPOP,
    NGX_PDS_AUTH_TYPE_OTHER
} ngx_pds_auth_type_e;


static ngx_pds_auth_type_e
ngx_pds_auth_type(ngx_http_request_t *r, ngx_str_t *token)
{
    ngx_str_t  *v;

    if (r->headers_in.authorization == NULL) {
        return NGX_PDS_AUTH_TYPE_NONE;
    }

    v = &r->headers_in.authorization->value;

    if (v->len > 7 && ngx_strncasecmp(v->data, (u_char *) "Bearer ", 7) == 0)
    {
        token->data = v->data + 7;
        token->len = v->len - 7;

        while (token->len && token->data[0] == ' ') {
            token->data++;
            token->len--;
        }

        return NGX_PDS_AUTH_TYPE_BEARER;
    }

    if (v->len > 6 && ngx_strncasecmp(v->data, (u_char *) "Basic ", 6) == 0)
    {
        return NGX_PDS_AUTH_TYPE_BASIC;
    }

    if (v->len > 5 && ngx_strncasecmp(v->data, (u_char *) "DPoP ", 5) == 0) {
        return NGX_PDS_AUTH_TYPE_DPOP;
    }

    return NGX_PDS_AUTH_TYPE_OTHER;
}


/*
 * Checks a Bearer session token of the given kind; on success fills
 * ctx->auth.  Returns NGX_OK or the response to an error.
 */
static ngx_int_t
ngx_pds_auth_bearer(ngx_pds_ctx_t *ctx, ngx_str_t *token,
    pds_jwt_kind_t kind, ngx_uint_t allow_expired)
{
    int64_t              now;
    const char          *scope;
    ngx_uint_t           auth, flags, ok;
    pds_jwt_err_t        err;
    pds_jwt_session_t    claims;

    auth = ctx->method->auth;
    flags = ctx->method->flags;

    now = (int64_t) ngx_time();

    /* an expired refresh token still identifies the session to delete */
    err = pds_jwt_session_verify(&ctx->alloc, (char *) token->data,
                                 token->len, kind,
                                 ctx->conf->jwt_secret.data,
                                 ctx->conf->jwt_secret.len,
                                 (char *) ctx->conf->service_did.data,
                                 allow_expired ? 0 : now, &claims);

    if (err == PDS_JWT_ERR_EXPIRED) {
        return ngx_pds_fail(ctx, NGX_HTTP_BAD_REQUEST, "ExpiredToken",
                                  "Token has expired");
    }

    if (err == PDS_JWT_ERR_CLAIMS) {
        return ngx_pds_fail(ctx, NGX_HTTP_BAD_REQUEST, "InvalidToken",
                                  "Malformed token");
    }

    if (err != PDS_JWT_OK) {
        return ngx_pds_fail(ctx, NGX_HTTP_BAD_REQUEST, "InvalidToken",
                                  "Token could not be verified");
    }

    scope = claims.scope ? claims.scope : "";

    if (kind == PDS_JWT_REFRESH) {
        ok = (ngx_strcmp(scope, PDS_JWT_SCOPE_REFRESH) == 0);

        if (ok && claims.jti == NULL) {
            return ngx_pds_fail(ctx, NGX_HTTP_UNAUTHORIZED,
                                      "MissingTokenId",
                                      "Unexpected missing refresh token id");
        }

    } else if (ngx_strcmp(scope, PDS_JWT_SCOPE_ACCESS) == 0) {
        ok = 1;
        ctx->auth.privileged = 1;

    } else if (ngx_strcmp(scope, PDS_JWT_SCOPE_APP_PASS_PRIV) == 0) {
        ok = (auth != NGX_PDS_AUTH_FULL);
        ctx->auth.app_password = 1;
        ctx->auth.privileged = 1;

    } else if (ngx_strcmp(scope, PDS_JWT_SCOPE_APP_PASS) == 0) {
        ok = (auth == NGX_PDS_AUTH_ACCESS || auth == NGX_PDS_AUTH_OPTIONAL);
        ctx->auth.app_password = 1;

    } else if (ngx_strcmp(scope, PDS_JWT_SCOPE_TAKENDOWN) == 0) {
        ok = (flags & NGX_PDS_ALLOW_TAKENDOWN) != 0;

    } else if (ngx_strcmp(scope, PDS_JWT_SCOPE_SIGNUP_QUEUED) == 0) {
        ok = (flags & NGX_PDS_ALLOW_SIGNUP_QUEUED) != 0;

    } else {
        ok = 0;
    }

    if (!ok) {
        return ngx_pds_fail(ctx, NGX_HTTP_BAD_REQUEST, "InvalidToken",
                                  "Bad token scope");
    }

    ctx->auth.type = auth;
    ctx->auth.did = claims.sub;
    ctx->auth.scope = claims.scope;
    ctx->auth.jti = claims.jti;
    ctx->auth.exp = claims.exp;

    return NGX_OK;
}


/* the reference's checkTakedown / checkDeactivated on the caller's account */
static ngx_int_t
ngx_pds_auth_status(ngx_pds_ctx_t *ctx)
{
    int                  rc;
    ngx_uint_t           flags;
    pds_account_t        acc;

    flags = ctx->method->flags;

    if (!(flags & (NGX_PDS_CHECK_TAKEDOWN|NGX_PDS_CHECK_DEACTIVATED))) {
        return NGX_OK;
    }

    rc = ngx_pds_caller_account(ctx, &acc);

    if (rc == PDS_NOTFOUND) {
        return ngx_pds_fail(ctx, NGX_HTTP_FORBIDDEN, "AccountNotFound",
                                  "Account not found");
    }

    if (rc != 0) {
        return ngx_pds_fail(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL);
    }

    if ((flags & NGX_PDS_CHECK_TAKEDOWN) && acc.takedown_ref) {
        return ngx_pds_fail(ctx, NGX_HTTP_UNAUTHORIZED,
                                  "AccountTakedown",
                                  "Account has been taken down");
    }

    if ((flags & NGX_PDS_CHECK_DEACTIVATED) && acc.deactivated_at) {
        return ngx_pds_fail(ctx, NGX_HTTP_UNAUTHORIZED,
                                  "AccountDeactivated",
                                  "Account is deactivated");
    }

    return NGX_OK;
}


/*
 * Runs the method's auth verifier: NGX_OK, or NGX_DECLINED with the
 * refusal sent (ctx->sent_rc).
 */
ngx_int_t
ngx_pds_authenticate(ngx_pds_ctx_t *ctx)
{
    ngx_int_t            rc;
    ngx_str_t            token;
    ngx_uint_t           auth;
    ngx_pds_auth_type_e  type;
    ngx_http_request_t  *r = ctx->request;

    auth = ctx->method->auth;
    ngx_str_null(&token);
    type = ngx_pds_auth_type(r, &token);

    if (auth != NGX_PDS_AUTH_NONE) {
        ngx_pds_auth_headers(r);
    }

    switch (auth) {

    case NGX_PDS_AUTH_NONE:
        /* public methods ignore credentials, as the reference's do */
        return NGX_OK;

    case NGX_PDS_AUTH_ADMIN:
        rc = ngx_pds_auth_admin(ctx);
        if (rc == NGX_OK) {
            ctx->auth.type = NGX_PDS_AUTH_ADMIN;
            ctx->auth.admin = 1;
        }
        return rc;

    case NGX_PDS_AUTH_OPTIONAL:
        if (type == NGX_PDS_AUTH_TYPE_NONE) {
            return NGX_OK;
        }

        if (type == NGX_PDS_AUTH_TYPE_BASIC) {
            rc = ngx_pds_auth_admin(ctx);
            if (rc == NGX_OK) {
                ctx->auth.type = NGX_PDS_AUTH_ADMIN;
                ctx->auth.admin = 1;
            }
            return rc;
        }

        break;

    case NGX_PDS_AUTH_REFRESH:
    case NGX_PDS_AUTH_REFRESH_ANY:
        if (type != NGX_PDS_AUTH_TYPE_BEARER) {
            return ngx_pds_fail(ctx, NGX_HTTP_UNAUTHORIZED,
                                      "AuthMissing",
                                      "Authentication Required");
        }

        return ngx_pds_auth_bearer(ctx, &token, PDS_JWT_REFRESH,
                                   auth == NGX_PDS_AUTH_REFRESH_ANY);

    default:
        break;
    }

    /* access tokens */

    if (type == NGX_PDS_AUTH_TYPE_NONE) {
        return ngx_pds_fail(ctx, NGX_HTTP_UNAUTHORIZED, "AuthMissing",
                                  "Authentication Required");
    }

    if (type == NGX_PDS_AUTH_TYPE_DPOP) {
        /* OAuth: ngx_pds_auth_dpop.c */
        rc = ngx_pds_auth_dpop(ctx);
        if (rc == NGX_OK) {
            rc = ngx_pds_auth_status(ctx);
        }
        return rc == NGX_OK ? ngx_pds_auth_dpop_scope(ctx) : rc;
    }

    if (type != NGX_PDS_AUTH_TYPE_BEARER) {
        return ngx_pds_fail(ctx, NGX_HTTP_BAD_REQUEST, "InvalidToken",
                                  "Unexpected authorization type");
    }

    rc = ngx_pds_auth_bearer(ctx, &token, PDS_JWT_ACCESS, 0);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_pds_auth_status(ctx);
}
