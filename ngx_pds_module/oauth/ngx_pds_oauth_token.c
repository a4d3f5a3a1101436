/*
 * ngx_pds_module: POST /oauth/token (authorization_code and refresh_token
 * grants, DPoP-bound) and POST /oauth/revoke.
 */

#include "ngx_pds_oauth.h"


/* transaction outcomes besides 0 (the txn is aborted for these) */
#define NGX_PDS_OAUTH_T_REPLAYED_DPOP   101
#define NGX_PDS_OAUTH_T_BAD_CODE        102
#define NGX_PDS_OAUTH_T_BAD_REFRESH     103
#define NGX_PDS_OAUTH_T_BAD_CLIENT      104
#define NGX_PDS_OAUTH_T_BAD_REDIRECT    105
#define NGX_PDS_OAUTH_T_BAD_VERIFIER    106
#define NGX_PDS_OAUTH_T_BAD_JKT         107
#define NGX_PDS_OAUTH_T_CHALLENGE_USED  108
#define NGX_PDS_OAUTH_T_BAD_AUTH        109
#define NGX_PDS_OAUTH_T_REPLAYED_AUTH   110


typedef struct {
    ngx_uint_t       refresh;           /* the grant */
    const char      *code;
    const char      *redirect_uri;
    const char      *verifier;
    const char      *refresh_token;
    const char      *client_id;
    const char      *jti;
    const char      *jkt;
    int64_t          now;
    json_t          *family;            /* the family row once issued */
    ngx_pds_oauth_t *st;
    char            *assertion;         /* client_id + 0 + jti, or NULL */
    size_t           assertion_len;
    ngx_uint_t       replayed;          /* committed revocation */
} ngx_pds_oauth_grant_t;


static ngx_int_t ngx_pds_oauth_token_client(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_oauth_token_done(ngx_pds_ctx_t *ctx);


ngx_int_t
ngx_pds_oauth_token(ngx_pds_ctx_t *ctx)
{
    ngx_int_t         rc;
    ngx_pds_oauth_t  *st = ngx_pds_oauth_state(ctx);

    rc = ngx_pds_oauth_dpop(ctx, st, 1);
    if (rc != NGX_OK || ctx->request->header_sent) {
        return rc;
    }

    st->client_id = ngx_pds_oauth_param(st, "client_id");

    return ngx_pds_oauth_client(ctx, st, ngx_pds_oauth_token_client);
}


static const char *
ngx_pds_oauth_row_str(json_t *row, const char *name)
{
    return json_string_value(json_object_get(row, name));
}


static int
ngx_pds_oauth_streq(const char *a, const char *b)
{
    return a && b && ngx_strcmp(a, b) == 0;
}


static int
ngx_pds_oauth_code_txn(pds_store_t *store, MDB_txn *txn,
    ngx_pds_oauth_grant_t *g)
{
    int          rc;
    json_t      *code, *params;
    const char  *bound, *challenge;
    char         ses[PDS_OAUTH_ID_MAX], tok[PDS_OAUTH_ID_MAX];
    char         ref[PDS_OAUTH_ID_MAX];

    rc = pds_oauth_code_take(store, txn, g->code, g->now, &code);
    if (rc == PDS_OAUTH_REPLAY) {
        g->replayed = 1;
        return 0;
    }
    if (rc == PDS_NOTFOUND) {
        return NGX_PDS_OAUTH_T_BAD_CODE;
    }
    if (rc != 0) {
        return rc;
    }

    params = json_object_get(code, "params");
    bound = ngx_pds_oauth_row_str(code, "dpop_jkt");
    challenge = ngx_pds_oauth_row_str(params, "code_challenge");

    rc = !ngx_pds_oauth_streq(ngx_pds_oauth_row_str(code, "client_id"),
                              g->client_id)
         ? NGX_PDS_OAUTH_T_BAD_CLIENT
         : !ngx_pds_oauth_streq(ngx_pds_oauth_row_str(params, "redirect_uri"),
                                g->redirect_uri)
         ? NGX_PDS_OAUTH_T_BAD_REDIRECT
         : !ngx_pds_oauth_client_auth_same(g->st, code)
         ? NGX_PDS_OAUTH_T_BAD_AUTH
         : (bound && !ngx_pds_oauth_streq(bound, g->jkt))
         ? NGX_PDS_OAUTH_T_BAD_JKT
         : (challenge == NULL
            || !pds_oauth_pkce_s256_check(challenge, ngx_strlen(challenge),
                                          g->verifier,
                                          ngx_strlen(g->verifier)))
         ? NGX_PDS_OAUTH_T_BAD_VERIFIER : 0;

    /* as the reference: a code challenge serves one exchange a day */
    if (rc == 0) {
        rc = pds_oauth_once(store, txn, PDS_OAUTH_ONCE_CHALLENGE, challenge,
                            ngx_strlen(challenge),
                            g->now + PDS_OAUTH_CHALLENGE_TTL_MS, g->now);
        if (rc == PDS_EXISTS) {
            rc = NGX_PDS_OAUTH_T_CHALLENGE_USED;
        }
    }

    if (rc == 0
        && (pds_oauth_random_id("ses-", 16, ses) != 0
            || pds_oauth_random_id("tok-", 16, tok) != 0
            || pds_oauth_random_id("ref-", 32, ref) != 0))
    {
        rc = -1;
    }

    if (rc == 0) {
        g->family = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I}",
                              "session", ses, "id", tok, "refresh", ref,
                              "sub", ngx_pds_oauth_row_str(code, "sub"),
                              "client_id", g->client_id,
                              "scope",
                              /* include: values expanded at PAR */
                              ngx_pds_oauth_row_str(params, "token_scope")
                              ? ngx_pds_oauth_row_str(params, "token_scope")
                              : ngx_pds_oauth_row_str(params, "scope"),
                              "dpop_jkt", g->jkt,
                              "created", (json_int_t) g->now,
                              "expires", (json_int_t) (g->now
                                  + PDS_OAUTH_SESSION_TTL_MS));
        if (g->family == NULL) {
            rc = -1;
        }
    }

    if (rc == 0 && json_object_get(code, "auth")) {
        json_object_set(g->family, "auth", json_object_get(code, "auth"));
    }

    if (rc == 0) {
        rc = pds_oauth_token_put(store, txn, g->family);
    }

    if (rc == 0) {
        rc = pds_oauth_code_used(store, txn, g->code, ses);
    }

    json_decref(code);
    return rc;
}


static int
ngx_pds_oauth_grant_txn(pds_store_t *store, MDB_txn *txn, void *data)
{
    int                     rc;
    ngx_pds_oauth_grant_t  *g = data;

    rc = pds_oauth_once(store, txn, PDS_OAUTH_ONCE_DPOP, g->jti,
                        ngx_strlen(g->jti),
                        g->now + PDS_OAUTH_DPOP_JTI_TTL * 1000, g->now);
    if (rc == PDS_EXISTS) {
        return NGX_PDS_OAUTH_T_REPLAYED_DPOP;
    }
    if (rc != 0) {
        return rc;
    }

    if (g->assertion) {
        rc = pds_oauth_once(store, txn, PDS_OAUTH_ONCE_ASSERTION,
                            g->assertion, g->assertion_len, g->now + 66000,
                            g->now);
        if (rc == PDS_EXISTS) {
            return NGX_PDS_OAUTH_T_REPLAYED_AUTH;
        }
        if (rc != 0) {
            return rc;
        }
    }

    if (!g->refresh) {
        return ngx_pds_oauth_code_txn(store, txn, g);
    }

    rc = pds_oauth_token_refresh(store, txn, g->refresh_token, g->now,
                                 &g->family);
    if (rc == PDS_OAUTH_REPLAY) {
        g->replayed = 1;
        return 0;
    }
    if (rc == PDS_NOTFOUND) {
        return NGX_PDS_OAUTH_T_BAD_REFRESH;
    }
    if (rc != 0) {
        return rc;
    }

    if (!ngx_pds_oauth_streq(ngx_pds_oauth_row_str(g->family, "client_id"),
                             g->client_id))
    {
        return NGX_PDS_OAUTH_T_BAD_CLIENT;
    }

    if (!ngx_pds_oauth_client_auth_same(g->st, g->family)) {
        return NGX_PDS_OAUTH_T_BAD_AUTH;
    }

    if (!ngx_pds_oauth_streq(ngx_pds_oauth_row_str(g->family, "dpop_jkt"),
                             g->jkt))
    {
        return NGX_PDS_OAUTH_T_BAD_JKT;
    }

    return 0;
}


static ngx_int_t
ngx_pds_oauth_token_client(ngx_pds_ctx_t *ctx)
{
    const char             *gt;
    ngx_pds_oauth_t        *st = ngx_pds_oauth_state(ctx);
    ngx_pds_oauth_grant_t  *g;

    g = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_oauth_grant_t));
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    g->client_id = st->client_id;
    g->st = st;
    g->assertion_len = ngx_pds_oauth_assertion_key(ctx, st, &g->assertion);
    g->jti = st->proof.jti;
    g->jkt = st->proof.jkt;
    g->now = ngx_pds_oauth_now_ms();

    gt = ngx_pds_oauth_param(st, "grant_type");

    if (ngx_pds_oauth_streq(gt, "authorization_code")) {
        g->code = ngx_pds_oauth_param(st, "code");
        g->redirect_uri = ngx_pds_oauth_param(st, "redirect_uri");
        g->verifier = ngx_pds_oauth_param(st, "code_verifier");

        if (g->code == NULL
            || !pds_oauth_id_ok(g->code, ngx_strlen(g->code), "cod-", 32))
        {
            return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                       "invalid_grant", "Invalid code");
        }
        if (g->redirect_uri == NULL) {
            return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                       "invalid_grant",
                                       "redirect_uri is required");
        }
        if (g->verifier == NULL) {
            return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                       "invalid_grant",
                                       "code_verifier is required");
        }
        if (ngx_strlen(g->verifier) < PDS_OAUTH_VERIFIER_MIN) {
            return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                       "invalid_grant",
                                       "code_verifier too short");
        }

    } else if (ngx_pds_oauth_streq(gt, "refresh_token")) {
        g->refresh = 1;
        g->refresh_token = ngx_pds_oauth_param(st, "refresh_token");

        if (g->refresh_token == NULL
            || !pds_oauth_id_ok(g->refresh_token,
                                ngx_strlen(g->refresh_token), "ref-", 32))
        {
            return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                       "invalid_grant",
                                       "Invalid refresh token");
        }

    } else {
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "unsupported_grant_type",
                                   "Unsupported grant_type");
    }

    st->data = g;

    return ngx_pds_txn_post(ctx, ngx_pds_oauth_grant_txn, g, &st->result,
                            ngx_pds_oauth_token_done);
}


static ngx_int_t
ngx_pds_oauth_token_done(ngx_pds_ctx_t *ctx)
{
    char                   *at;
    int64_t                 exp, end;
    json_t                 *o, *f;
    pds_oauth_at_t          c;
    ngx_pds_oauth_t        *st = ngx_pds_oauth_state(ctx);
    ngx_pds_oauth_grant_t  *g = st->data;

    if (g->family) {
        ngx_pds_json_track(ctx->request, g->family);
    }

    switch (st->result) {
    case 0:
        break;
    case NGX_PDS_OAUTH_T_REPLAYED_DPOP:
        return ngx_pds_oauth_error(ctx, NGX_HTTP_UNAUTHORIZED,
                                   "invalid_dpop_proof",
                                   "DPoP proof replayed");
    case NGX_PDS_OAUTH_T_BAD_CODE:
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_grant", "Invalid code");
    case NGX_PDS_OAUTH_T_BAD_REFRESH:
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_grant", "Invalid refresh token");
    case NGX_PDS_OAUTH_T_BAD_CLIENT:
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_grant",
                                   "The code was not issued to this client");
    case NGX_PDS_OAUTH_T_BAD_REDIRECT:
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_grant",
                                   "The redirect_uri parameter must match "
                                   "the one used in the authorization "
                                   "request");
    case NGX_PDS_OAUTH_T_BAD_AUTH:
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_grant",
                                   "The session was created with another "
                                   "client authentication method or key");
    case NGX_PDS_OAUTH_T_REPLAYED_AUTH:
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_client",
                                   "Client assertion replayed");
    case NGX_PDS_OAUTH_T_CHALLENGE_USED:
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_grant",
                                   "Code challenge already used");
    case NGX_PDS_OAUTH_T_BAD_VERIFIER:
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_grant", "Invalid code_verifier");
    case NGX_PDS_OAUTH_T_BAD_JKT:
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_dpop_key_binding",
                                   "DPoP proof does not match the expected "
                                   "JKT");
    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (g->replayed) {
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_grant",
                                   g->refresh ? "Refresh token replayed"
                                              : "Code replayed");
    }

    f = g->family;
    end = json_integer_value(json_object_get(f, "expires")) / 1000;
    exp = g->now / 1000 + PDS_OAUTH_TOKEN_TTL;

    ngx_memzero(&c, sizeof(c));
    c.jti = (char *) ngx_pds_oauth_row_str(f, "id");
    c.sub = (char *) ngx_pds_oauth_row_str(f, "sub");
    c.aud = (char *) ctx->conf->service_did.data;
    c.iss = (char *) ctx->conf->public_url.data;
    c.client_id = (char *) ngx_pds_oauth_row_str(f, "client_id");
    c.jkt = (char *) ngx_pds_oauth_row_str(f, "dpop_jkt");
    c.iat = g->now / 1000;
    c.exp = exp < end ? exp : end;

    at = pds_oauth_at_mint(&ctx->alloc, ctx->conf->jwt_secret.data,
                           ctx->conf->jwt_secret.len, &c);
    if (at == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    o = ngx_pds_json_track(ctx->request,
                           json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}",
                                     "access_token", at,
                                     "token_type", "DPoP",
                                     "refresh_token",
                                     ngx_pds_oauth_row_str(f, "refresh"),
                                     "scope",
                                     ngx_pds_oauth_row_str(f, "scope"),
                                     "expires_in",
                                     (json_int_t) (c.exp - c.iat),
                                     "sub", c.sub));
    if (o == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_oauth_send(ctx, NGX_HTTP_OK, o);
}


/* ---- revoke -------------------------------------------------------------- */

static int
ngx_pds_oauth_revoke_txn(pds_store_t *store, MDB_txn *txn, void *data)
{
    int          rc;
    const char **tc = data;         /* token, client_id */

    /* another client's token, as an unknown one: nothing revoked, 200 */
    rc = pds_oauth_token_revoke(store, txn, tc[0], tc[1]);
    return rc == PDS_NOTFOUND ? 0 : rc;
}


static ngx_int_t
ngx_pds_oauth_revoked(ngx_pds_ctx_t *ctx)
{
    ngx_pds_oauth_t  *st = ngx_pds_oauth_state(ctx);

    if (st->result != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_oauth_send(ctx, NGX_HTTP_OK,
                              ngx_pds_json_track(ctx->request,
                                                 json_object()));
}


ngx_int_t
ngx_pds_oauth_revoke(ngx_pds_ctx_t *ctx)
{
    const char       *token, **tc;
    pds_oauth_at_t    at;
    ngx_pds_oauth_t  *st = ngx_pds_oauth_state(ctx);

    if (ngx_pds_oauth_param(st, "client_id") == NULL) {
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_request",
                                   "Client credentials missing");
    }

    token = ngx_pds_oauth_param(st, "token");

    if (token && ngx_strncmp(token, "ref-", 4) != 0) {
        /* an access token: its id, once its signature checks */
        if (pds_oauth_at_verify(&ctx->alloc, token, ngx_strlen(token),
                                ctx->conf->jwt_secret.data,
                                ctx->conf->jwt_secret.len,
                                (char *) ctx->conf->public_url.data,
                                (char *) ctx->conf->service_did.data,
                                0, &at)
            != PDS_OAUTH_AT_OK)
        {
            token = NULL;

        } else {
            token = at.jti;
        }
    }

    if (token == NULL) {
        /* RFC 7009: an unknown token is not an error */
        return ngx_pds_oauth_revoked(ctx);
    }

    tc = ngx_palloc(ctx->request->pool, 2 * sizeof(const char *));
    if (tc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    tc[0] = token;
    tc[1] = ngx_pds_oauth_param(st, "client_id");

    return ngx_pds_txn_post(ctx, ngx_pds_oauth_revoke_txn, (void *) tc,
                            &st->result, ngx_pds_oauth_revoked);
}
