/*
 * ngx_pds_module: POST /oauth/par, pushed authorization requests (RFC
 * 9126) as the atproto profile requires them: PKCE S256, a registered
 * redirect URI, scopes the client declared (with "atproto"), and, when the
 * request carries a DPoP proof, the key the tokens will be bound to.
 */

#include "ngx_pds_oauth.h"


#define NGX_PDS_OAUTH_REPLAYED_DPOP       101
#define NGX_PDS_OAUTH_REPLAYED_ASSERTION  103


typedef struct {
    json_t      *row;
    char         req_id[PDS_OAUTH_ID_MAX];
    const char  *jti;
    char        *assertion;         /* client_id + 0 + jti, or NULL */
    size_t       assertion_len;
    int64_t      now;
} ngx_pds_oauth_par_t;


static ngx_int_t ngx_pds_oauth_par_client(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_oauth_par_row(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_oauth_par_stored(ngx_pds_ctx_t *ctx);


ngx_int_t
ngx_pds_oauth_par(ngx_pds_ctx_t *ctx)
{
    ngx_int_t         rc;
    ngx_pds_oauth_t  *st = ngx_pds_oauth_state(ctx);

    rc = ngx_pds_oauth_dpop(ctx, st, 0);
    if (rc != NGX_OK || ctx->request->header_sent) {
        return rc;
    }

    st->client_id = ngx_pds_oauth_param(st, "client_id");

    return ngx_pds_oauth_client(ctx, st, ngx_pds_oauth_par_client);
}


/*
 * Each requested scope must be one the client declared; values that are
 * not atproto scopes are then dropped (as the reference does, so that an
 * app asking for scopes this server does not know yet still signs in),
 * repeats too.  "atproto" is required and "openid" refused.  Permission
 * sets (include:) are resolved afterwards (ngx_pds_oauth_permset.c).
 */
static ngx_int_t
ngx_pds_oauth_par_scope(ngx_pds_ctx_t *ctx, ngx_pds_oauth_t *st,
    const char **scope)
{
    u_char            *p, *out, *o, *e;
    size_t             n, cn, tl;
    const char        *s, *declared, *sp;
    pds_scope_kind_e   kind;

    declared = json_string_value(json_object_get(st->client, "scope"));
    cn = ngx_strlen(declared);
    s = ngx_pds_oauth_param(st, "scope");

    if (s == NULL) {
        *scope = declared;
        return NGX_OK;
    }

    n = ngx_strlen(s);
    if (!pds_oauth_scope_syntax_ok(s, n)) {
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_request", "Invalid scope");
    }

    out = ngx_pnalloc(ctx->request->pool, n + 1);
    e = ngx_pnalloc(ctx->request->pool, n + 128);
    if (out == NULL || e == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    o = out;

    for (p = (u_char *) s; *p; p = (u_char *) sp + (*sp == ' ')) {
        sp = ngx_strchr(p, ' ');
        if (sp == NULL) {
            sp = (char *) p + ngx_strlen(p);
        }
        tl = sp - (char *) p;
        *ngx_cpymem(e, p, tl) = '\0';

        if (!pds_oauth_scope_has(declared, cn, (char *) e)) {
            *ngx_sprintf(e, "Scope \"%*s\" is not declared in the client "
                         "metadata", tl, p) = '\0';
            return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                       "invalid_scope", (char *) e);
        }

        kind = pds_scope_value_kind((char *) p, tl);
        if (kind == PDS_SCOPE_NONE
            || pds_oauth_scope_has((char *) out, o - out, (char *) e))
        {
            continue;
        }
        if (o != out) {
            *o++ = ' ';
        }
        o = ngx_cpymem(o, p, tl);
    }
    *o = '\0';

    if (!pds_oauth_scope_has(s, n, "atproto")) {
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST, "invalid_scope",
                                   "The \"atproto\" scope is required");
    }
    if (pds_oauth_scope_has(s, n, "openid")) {
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST, "invalid_scope",
                                   "OpenID Connect is not compatible with "
                                   "atproto");
    }

    *scope = (char *) out;
    return NGX_OK;
}


static int
ngx_pds_oauth_par_txn(pds_store_t *store, MDB_txn *txn, void *data)
{
    int                   rc;
    ngx_pds_oauth_par_t  *par = data;

    rc = 0;

    if (par->assertion) {
        rc = pds_oauth_once(store, txn, PDS_OAUTH_ONCE_ASSERTION,
                            par->assertion, par->assertion_len,
                            par->now + 66000, par->now);
        if (rc == PDS_EXISTS) {
            return NGX_PDS_OAUTH_REPLAYED_ASSERTION;
        }
    }

    if (rc == 0 && par->jti) {
        rc = pds_oauth_once(store, txn, PDS_OAUTH_ONCE_DPOP, par->jti,
                            ngx_strlen(par->jti),
                            par->now + PDS_OAUTH_DPOP_JTI_TTL * 1000,
                            par->now);
        if (rc == PDS_EXISTS) {
            return NGX_PDS_OAUTH_REPLAYED_DPOP;
        }
    }

    if (rc == 0) {
        rc = pds_oauth_par_put(store, txn, par->req_id, par->row);
    }

    return rc;
}


static ngx_int_t
ngx_pds_oauth_par_client(ngx_pds_ctx_t *ctx)
{
    ngx_int_t             rc;
    const char           *why, *redirect, *scope = NULL, *method, *s;
    ngx_pds_oauth_t      *st = ngx_pds_oauth_state(ctx);
    ngx_pds_permsets_t   *ps;

    s = ngx_pds_oauth_param(st, "response_type");
    if (s == NULL || ngx_strcmp(s, "code") != 0) {
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "unsupported_response_type",
                                   "Unsupported response_type");
    }

    redirect = pds_oauth_redirect_uri_pick(st->client,
                                           ngx_pds_oauth_param(st,
                                                               "redirect_uri"),
                                           &why);
    if (redirect == NULL) {
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_request", why);
    }

    rc = ngx_pds_oauth_par_scope(ctx, st, &scope);
    if (rc != NGX_OK || ctx->request->header_sent) {
        return rc;
    }

    /* the prompt values of the metadata (OpenID Connect's, and "create") */
    s = ngx_pds_oauth_param(st, "prompt");
    if (s && ngx_strcmp(s, "none") != 0 && ngx_strcmp(s, "login") != 0
        && ngx_strcmp(s, "consent") != 0
        && ngx_strcmp(s, "select_account") != 0
        && ngx_strcmp(s, "create") != 0)
    {
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_request", "Invalid prompt");
    }

    s = ngx_pds_oauth_param(st, "code_challenge");
    method = ngx_pds_oauth_param(st, "code_challenge_method");

    if (s == NULL) {
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_request",
                                   "Use of PKCE is required");
    }

    if (method == NULL || ngx_strcmp(method, "S256") != 0) {
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_request",
                                   "atproto requires use of \"S256\" "
                                   "code_challenge_method");
    }

    if (!pds_oauth_pkce_challenge_ok(s, ngx_strlen(s))) {
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_request",
                                   "Invalid code_challenge");
    }

    /* last, as the reference: the permission sets of include: scopes */
    ps = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_permsets_t));
    if (ps == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ps->scope = scope;

    return ngx_pds_oauth_permsets(ctx, ps, ngx_pds_oauth_par_row);
}


static ngx_int_t
ngx_pds_oauth_par_sets(json_t *params, ngx_pds_permsets_t *ps)
{
    const char  *nsid, *k;
    json_t      *set, *shown, *v;
    ngx_uint_t   i;

    shown = json_object();
    if (shown == NULL
        || json_object_set_new(params, "permission_sets", shown) != 0
        || json_object_set_new(params, "token_scope",
                               json_string(ps->token_scope)) != 0)
    {
        return NGX_ERROR;
    }

    json_object_foreach(ps->sets, nsid, set) {
        v = json_object();
        if (v == NULL || json_object_set_new(shown, nsid, v) != 0) {
            return NGX_ERROR;
        }
        for (i = 0; i < 2; i++) {
            k = i ? "detail" : "title";
            if (json_is_string(json_object_get(set, k))
                && json_object_set(v, k, json_object_get(set, k)) != 0)
            {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_pds_oauth_par_row(ngx_pds_ctx_t *ctx)
{
    const char           *redirect, *s;
    json_t               *params;
    ngx_pds_oauth_t      *st = ngx_pds_oauth_state(ctx);
    ngx_pds_permsets_t   *ps = st->permsets;
    ngx_pds_oauth_par_t  *par;
    static const char    *copied[] = { "state", "response_mode", "login_hint",
                                       "prompt", "display", "ui_locales",
                                       "nonce", NULL };
    const char          **c;

    if (ps->error) {
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST, "invalid_scope",
                                   ps->error);
    }

    redirect = pds_oauth_redirect_uri_pick(st->client,
                                           ngx_pds_oauth_param(st,
                                                               "redirect_uri"),
                                           &s);
    s = ngx_pds_oauth_param(st, "code_challenge");

    par = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_oauth_par_t));
    if (par == NULL || pds_oauth_random_id("req-", 16, par->req_id) != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    par->now = ngx_pds_oauth_now_ms();
    par->jti = st->has_proof ? st->proof.jti : NULL;

    params = json_pack("{s:s, s:s, s:s, s:s}", "redirect_uri", redirect,
                       "scope", ps->scope, "code_challenge", s,
                       "code_challenge_method", "S256");
    par->row = ngx_pds_json_track(ctx->request,
                                  json_pack("{s:s, s:o, s:I}",
                                            "client_id", st->client_id,
                                            "params", params,
                                            "expires",
                                            (json_int_t) (par->now
                                                + PDS_OAUTH_PAR_TTL_MS)));
    if (par->row == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* what the consent page shows of each set (title, detail), and the
     * scope the tokens will carry, as resolved now */
    if (ps->sets && ngx_pds_oauth_par_sets(params, ps) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (c = copied; *c; c++) {
        s = ngx_pds_oauth_param(st, *c);
        if (s) {
            json_object_set_new(params, *c, json_string(s));
        }
    }

    par->assertion_len = ngx_pds_oauth_assertion_key(ctx, st,
                                                     &par->assertion);
    if (json_object_set_new(par->row, "auth", ngx_pds_oauth_client_auth(st))
        != 0)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    s = json_string_value(json_object_get(st->client, "client_name"));
    if (s) {
        json_object_set_new(par->row, "client_name", json_string(s));
    }

    if (st->has_proof) {
        json_object_set_new(par->row, "dpop_jkt",
                            json_string(st->proof.jkt));
    }

    st->data = par;

    return ngx_pds_txn_post(ctx, ngx_pds_oauth_par_txn, par, &st->result,
                            ngx_pds_oauth_par_stored);
}


static ngx_int_t
ngx_pds_oauth_par_stored(ngx_pds_ctx_t *ctx)
{
    u_char               *uri;
    json_t               *o;
    ngx_pds_oauth_t      *st = ngx_pds_oauth_state(ctx);
    ngx_pds_oauth_par_t  *par = st->data;

    switch (st->result) {
    case 0:
        break;
    case NGX_PDS_OAUTH_REPLAYED_DPOP:
        return ngx_pds_oauth_error(ctx, NGX_HTTP_UNAUTHORIZED,
                                   "invalid_dpop_proof",
                                   "DPoP proof replayed");
    case NGX_PDS_OAUTH_REPLAYED_ASSERTION:
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_client",
                                   "Client assertion replayed");
    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    uri = ngx_pnalloc(ctx->request->pool,
                      sizeof(NGX_PDS_OAUTH_REQUEST_URI_PREFIX)
                      + PDS_OAUTH_ID_MAX);
    if (uri == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    *ngx_sprintf(uri, NGX_PDS_OAUTH_REQUEST_URI_PREFIX "%s", par->req_id)
        = '\0';

    o = ngx_pds_json_track(ctx->request,
                           json_pack("{s:s, s:i}", "request_uri", uri,
                                     "expires_in",
                                     PDS_OAUTH_PAR_TTL_MS / 1000 - 1));
    if (o == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_oauth_send(ctx, NGX_HTTP_CREATED, o);
}
