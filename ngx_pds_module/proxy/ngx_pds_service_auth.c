/*
 * ngx_pds_module: service auth, the JWTs an account's key signs for
 * another service (iss the account, aud the service's DID, lxm the method
 * it may call), minted for every forwarded request and on demand by
 * com.atproto.server.getServiceAuth; and which methods such a token may
 * never name (the reference's PROTECTED_METHODS) or only with privileged
 * credentials (PRIVILEGED_METHODS).
 */

#include "ngx_pds_proxy.h"

#include "pds_jwt.h"
#include "pds_syntax.h"


#define NGX_PDS_HOUR            3600
#define NGX_PDS_MINUTE          60


/* a getServiceAuth request */
typedef struct {
    char                     *aud;
    char                     *lxm;           /* NULL: any method */
    ngx_str_t                 lxm_v;
    int64_t                   exp;           /* 0: the default */
} ngx_pds_service_auth_t;


/*
 * Account management: never proxied nor service-authed (the reference's
 * PROTECTED_METHODS), compared case-insensitively.
 */
static const char  *ngx_pds_protected_methods[] = {
    "com.atproto.admin.sendEmail",
    "com.atproto.identity.requestPlcOperationSignature",
    "com.atproto.identity.signPlcOperation",
    "com.atproto.identity.updateHandle",
    "com.atproto.server.activateAccount",
    "com.atproto.server.confirmEmail",
    "com.atproto.server.createAppPassword",
    "com.atproto.server.deactivateAccount",
    "com.atproto.server.getAccountInviteCodes",
    "com.atproto.server.getSession",
    "com.atproto.server.listAppPasswords",
    "com.atproto.server.requestAccountDelete",
    "com.atproto.server.requestEmailConfirmation",
    "com.atproto.server.requestEmailUpdate",
    "com.atproto.server.revokeAppPassword",
    "com.atproto.server.updateEmail",
    NULL
};


/* chat DMs and createAccount: full session or privileged app password */
static const char  *ngx_pds_privileged_methods[] = {
    "chat.bsky.actor.deleteAccount",
    "chat.bsky.actor.exportAccountData",
    "chat.bsky.convo.deleteMessageForSelf",
    "chat.bsky.convo.getConvo",
    "chat.bsky.convo.getConvoForMembers",
    "chat.bsky.convo.getLog",
    "chat.bsky.convo.getMessages",
    "chat.bsky.convo.leaveConvo",
    "chat.bsky.convo.listConvos",
    "chat.bsky.convo.muteConvo",
    "chat.bsky.convo.sendMessage",
    "chat.bsky.convo.sendMessageBatch",
    "chat.bsky.convo.unmuteConvo",
    "chat.bsky.convo.updateRead",
    "com.atproto.server.createAccount",
    NULL
};


ngx_uint_t
ngx_pds_nsid_in_list(const char **list, ngx_str_t *nsid)
{
    size_t  n;

    for ( /* void */ ; *list; list++) {
        n = ngx_strlen(*list);
        if (n == nsid->len
            && ngx_strncasecmp((u_char *) *list, nsid->data, n) == 0)
        {
            return 1;
        }
    }

    return 0;
}


ngx_uint_t
ngx_pds_nsid_protected(ngx_str_t *nsid)
{
    return ngx_pds_nsid_in_list(ngx_pds_protected_methods, nsid);
}


ngx_uint_t
ngx_pds_nsid_privileged(ngx_str_t *nsid)
{
    return ngx_pds_nsid_in_list(ngx_pds_privileged_methods, nsid);
}


char *
ngx_pds_service_jwt(ngx_pds_ctx_t *ctx, const char *aud, const char *lxm,
    int64_t exp)
{
    int             rc;
    char           *token;
    pds_key_t      *key;
    pds_account_t   acc;

    rc = ngx_pds_caller_account(ctx, &acc);
    if (rc != 0 || acc.signing_key == NULL) {
        ngx_pds_read_done(ctx);
        ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                      "pds: no signing key for \"%s\" (%d)", ctx->auth.did,
                      rc);
        return NULL;
    }

    key = pds_key_from_private(PDS_KEY_K256, acc.signing_key,
                               acc.signing_key_len);
    ngx_pds_read_done(ctx);

    if (key == NULL) {
        return NULL;
    }

    token = pds_jwt_service_mint(&ctx->alloc, key, ctx->auth.did, aud, lxm,
                                 (int64_t) ngx_time(), exp);
    pds_key_free(key);

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "pds proxy: service token for \"%s\": aud \"%s\", "
                   "lxm \"%s\"%s", ctx->auth.did, aud, lxm ? lxm : "*",
                   token ? "" : " failed");

    return token;
}


/* ---- com.atproto.server.getServiceAuth --------------------------------- */


/* aud, lxm and exp: NGX_OK or the refusal's status */
static ngx_int_t
ngx_pds_service_auth_params(ngx_pds_ctx_t *ctx, ngx_pds_service_auth_t *sa)
{
    u_char              *hash;
    ngx_str_t            v;
    ngx_http_request_t  *r = ctx->request;

    if (ngx_pds_arg(r, "aud", &v) != NGX_OK) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Params must have the property \"aud\"");
    }

    sa->aud = (char *) v.data;

    if (!pds_did_valid(sa->aud, v.len)) {
        hash = (u_char *) ngx_strchr(sa->aud, '#');

        if (hash == NULL || hash == v.data || hash[1] == '\0'
            || !pds_did_valid(sa->aud, hash - v.data))
        {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "aud must be a valid atproto DID or "
                                 "did#serviceId reference");
        }
    }

    if (ngx_pds_arg(r, "lxm", &sa->lxm_v) != NGX_OK) {
        sa->lxm_v.len = 0;
    }

    sa->lxm = sa->lxm_v.len ? (char *) sa->lxm_v.data : NULL;

    if (sa->lxm && !pds_nsid_valid(sa->lxm, sa->lxm_v.len)
        && ngx_strcmp(sa->lxm, "*") != 0)
    {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "lxm must be a valid nsid");
    }

    sa->exp = 0;

    if (ngx_pds_arg(r, "exp", &v) == NGX_OK) {
        sa->exp = (int64_t) ngx_atoi(v.data, v.len);

        if (sa->exp == NGX_ERROR) {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "exp must be an integer");
        }
    }

    return NGX_OK;
}


/* an expiration asked for: within the hour, or the minute without lxm */
static ngx_int_t
ngx_pds_service_auth_expiration(ngx_pds_ctx_t *ctx,
    ngx_pds_service_auth_t *sa)
{
    int64_t  diff;

    diff = sa->exp - (int64_t) ngx_time();

    if (diff < 0) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "BadExpiration",
                             "expiration is in past");
    }

    if (diff > NGX_PDS_HOUR) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "BadExpiration",
                             "cannot request a token with an expiration "
                             "more than an hour in the future");
    }

    if (sa->lxm == NULL && diff > NGX_PDS_MINUTE) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "BadExpiration",
                             "cannot request a method-less token with an "
                             "expiration more than a minute in the future");
    }

    return NGX_OK;
}


/* what the caller's credentials may ask for: NGX_OK or the refusal */
static ngx_int_t
ngx_pds_service_auth_allowed(ngx_pds_ctx_t *ctx, ngx_pds_service_auth_t *sa)
{
    ngx_int_t  rc;

    if (ctx->auth.scope
        && ngx_strcmp(ctx->auth.scope, PDS_JWT_SCOPE_TAKENDOWN) == 0
        && (sa->lxm == NULL
            || ngx_strcmp(sa->lxm, "com.atproto.server.createAccount") != 0))
    {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidToken",
                             "Bad token scope");
    }

    if (sa->lxm && !ctx->auth.privileged
        && ngx_pds_nsid_privileged(&sa->lxm_v))
    {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "insufficient access to request a service auth "
                             "token for the following method: %s", sa->lxm);
    }

    if (sa->exp) {
        rc = ngx_pds_service_auth_expiration(ctx, sa);
        if (rc != NGX_OK) {
            return rc;
        }

    } else {
        sa->exp = (int64_t) ngx_time() + PDS_JWT_SERVICE_TTL;
    }

    if (sa->lxm && ngx_pds_nsid_protected(&sa->lxm_v)) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "cannot request a service auth token for the "
                             "following protected method: %s", sa->lxm);
    }

    return NGX_OK;
}


ngx_int_t
ngx_pds_get_service_auth(ngx_pds_ctx_t *ctx)
{
    char                    *token;
    json_t                  *answer;
    ngx_int_t                rc;
    ngx_pds_service_auth_t   sa;

    rc = ngx_pds_service_auth_params(ctx, &sa);
    if (rc == NGX_OK) {
        rc = ngx_pds_auth_permit(ctx, PDS_SCOPE_RPC, sa.lxm ? sa.lxm : "*",
                                 sa.aud);
    }
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_pds_service_auth_allowed(ctx, &sa);
    if (rc != NGX_OK) {
        return rc;
    }

    token = ngx_pds_service_jwt(ctx, sa.aud, sa.lxm, sa.exp);
    if (token == NULL) {
        return ngx_pds_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                             "InternalServerError",
                             "Could not sign a service token");
    }

    answer = ngx_pds_json_track(ctx->request,
                                json_pack("{s:s}", "token", token));
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
}
