/*
 * ngx_pds_module: OAuth access tokens on XRPC calls ("Authorization: DPoP
 * <token>" with a "DPoP" proof), as the reference's OAuth verifier checks
 * them: the proof (htm, htu = the public URL of the request, iat, the
 * server nonce, ath = the token's hash), the token (HS256 at+jwt of this
 * issuer and service, not expired), its binding (cnf.jkt = the proof's
 * key), and that its family is still stored (the reference's stateful
 * mode: refresh, revocation and replay end it at once).  Scopes are
 * the reference's: "atproto" always, then what each method needs of the
 * permission scopes (core/pds_oauth_scope.c: repo, rpc, blob, account,
 * identity, with the transition scopes), refused with 403
 * ScopeMissingError; methods the reference keeps from OAuth answer 403
 * Forbidden.
 *
 * A proof's jti is used once: remembered per worker process for the
 * proof's window (as the reference remembers them per process without
 * Redis), in a fixed table; when the table is full of live entries the
 * one that expires first gives way.
 */

#include <sys/time.h>

#include "ngx_pds.h"
#include "pds_hash.h"
#include "pds_oauth.h"
#include "pds_oauth_scope.h"
#include "pds_oauth_store.h"


#define NGX_PDS_DPOP_SEEN_SLOTS  8192          /* a power of two */
#define NGX_PDS_DPOP_SEEN_PROBE  8

typedef struct {
    uint8_t     id[16];                         /* SHA-256 of the jti, cut */
    int64_t     expires;                        /* s */
} ngx_pds_dpop_seen_t;

static ngx_pds_dpop_seen_t  *ngx_pds_dpop_seen;


/* 1 when jti was not seen within its window (and remembers it), else 0 */
static ngx_uint_t
ngx_pds_auth_dpop_unique(const char *jti, int64_t now)
{
    uint8_t               d[32];
    ngx_uint_t            i, h, victim;
    ngx_pds_dpop_seen_t  *e;

    if (ngx_pds_dpop_seen == NULL) {
        ngx_pds_dpop_seen = ngx_calloc(NGX_PDS_DPOP_SEEN_SLOTS
                                       * sizeof(ngx_pds_dpop_seen_t),
                                       ngx_cycle->log);
        if (ngx_pds_dpop_seen == NULL) {
            return 1;
        }
    }

    pds_sha256(jti, ngx_strlen(jti), d);
    h = ((ngx_uint_t) d[16] << 8 | d[17]) & (NGX_PDS_DPOP_SEEN_SLOTS - 1);
    victim = h;

    for (i = 0; i < NGX_PDS_DPOP_SEEN_PROBE; i++) {
        e = &ngx_pds_dpop_seen[(h + i) & (NGX_PDS_DPOP_SEEN_SLOTS - 1)];

        if (e->expires > now && ngx_memcmp(e->id, d, 16) == 0) {
            return 0;
        }

        if (e->expires <= now) {
            victim = (h + i) & (NGX_PDS_DPOP_SEEN_SLOTS - 1);
            break;
        }

        if (e->expires < ngx_pds_dpop_seen[victim].expires) {
            victim = (h + i) & (NGX_PDS_DPOP_SEEN_SLOTS - 1);
        }
    }

    /* the rest of the probe run may still hold this jti */
    for ( /* void */ ; i < NGX_PDS_DPOP_SEEN_PROBE; i++) {
        e = &ngx_pds_dpop_seen[(h + i) & (NGX_PDS_DPOP_SEEN_SLOTS - 1)];
        if (e->expires > now && ngx_memcmp(e->id, d, 16) == 0) {
            return 0;
        }
    }

    e = &ngx_pds_dpop_seen[victim];
    ngx_memcpy(e->id, d, 16);
    e->expires = now + PDS_OAUTH_DPOP_JTI_TTL;

    return 1;
}


static ngx_int_t
ngx_pds_auth_dpop_header(ngx_http_request_t *r, const char *name,
    u_char *value, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value.data = value;
    h->value.len = len;

    return NGX_OK;
}


/* a 401 with WWW-Authenticate: DPoP error=..., the XRPC body */
static ngx_int_t
ngx_pds_auth_dpop_refuse(ngx_pds_ctx_t *ctx, const char *error,
    const char *why)
{
    u_char              *p, *e;
    ngx_http_request_t  *r = ctx->request;

    p = ngx_pnalloc(r->pool, ngx_strlen(why) + 128);
    if (p != NULL) {
        if (ngx_strchr(why, '"') == NULL) {
            e = ngx_sprintf(p, "DPoP algs=\"ES256 ES256K\", error=\"%s\", "
                            "error_description=\"%s\"", error, why);
        } else {
            e = ngx_sprintf(p, "DPoP algs=\"ES256 ES256K\", error=\"%s\"",
                            error);
        }
        (void) ngx_pds_auth_dpop_header(r, "WWW-Authenticate", p, e - p);
    }

    return ngx_pds_fail(ctx, NGX_HTTP_UNAUTHORIZED, error, why);
}


/*
 * What an OAuth token needs for a method besides "atproto": the
 * reference's "authorize" of each method.  kind PDS_SCOPE_NONE refuses
 * with a (403 Forbidden) and b NULL.  Repo writes, getSession's email
 * and forwarded calls check in their handlers (ngx_pds_auth_permit);
 * methods not listed need nothing more, except those of a password login
 * (NGX_PDS_AUTH_FULL), which stay refused.
 */
typedef struct {
    ngx_str_t          nsid;
    pds_scope_kind_e   kind;
    const char        *a;
    const char        *b;
} ngx_pds_oauth_rule_t;

#define NGX_PDS_OAUTH_NO  "OAuth credentials are not supported for this " \
                          "endpoint"
#define NGX_PDS_OAUTH_EMAIL "Use the account manager interface to update " \
                          "email address associated with an account"

static const ngx_pds_oauth_rule_t  ngx_pds_oauth_rules[] = {
    { ngx_string("com.atproto.server.createAppPassword"), PDS_SCOPE_NONE,
      NGX_PDS_OAUTH_NO, NULL },
    { ngx_string("com.atproto.server.listAppPasswords"), PDS_SCOPE_NONE,
      NGX_PDS_OAUTH_NO, NULL },
    { ngx_string("com.atproto.server.revokeAppPassword"), PDS_SCOPE_NONE,
      NGX_PDS_OAUTH_NO, NULL },
    { ngx_string("com.atproto.server.requestAccountDelete"), PDS_SCOPE_NONE,
      NGX_PDS_OAUTH_NO, NULL },
    { ngx_string("com.atproto.server.getAccountInviteCodes"), PDS_SCOPE_NONE,
      NGX_PDS_OAUTH_NO, NULL },
    { ngx_string("com.atproto.temp.checkSignupQueue"), PDS_SCOPE_NONE,
      NGX_PDS_OAUTH_NO, NULL },
    { ngx_string("com.atproto.server.requestEmailUpdate"), PDS_SCOPE_NONE,
      NGX_PDS_OAUTH_EMAIL, NULL },
    { ngx_string("com.atproto.server.updateEmail"), PDS_SCOPE_NONE,
      NGX_PDS_OAUTH_EMAIL, NULL },
    { ngx_string("com.atproto.server.activateAccount"), PDS_SCOPE_NONE,
      "Account reactivation is not available with OAuth credentials. "
      "Sign in to your account management page to reactivate.", NULL },
    { ngx_string("com.atproto.server.requestEmailConfirmation"),
      PDS_SCOPE_ACCOUNT, "email", "manage" },
    { ngx_string("com.atproto.server.confirmEmail"), PDS_SCOPE_ACCOUNT,
      "email", "manage" },
    { ngx_string("com.atproto.server.deactivateAccount"), PDS_SCOPE_ACCOUNT,
      "status", "manage" },
    { ngx_string("com.atproto.repo.importRepo"), PDS_SCOPE_ACCOUNT, "repo",
      "manage" },
    { ngx_string("com.atproto.identity.updateHandle"), PDS_SCOPE_IDENTITY,
      "handle", NULL },
    { ngx_string("com.atproto.identity.requestPlcOperationSignature"),
      PDS_SCOPE_IDENTITY, "*", NULL },
    { ngx_string("com.atproto.identity.signPlcOperation"),
      PDS_SCOPE_IDENTITY, "*", NULL },
    { ngx_string("com.atproto.identity.submitPlcOperation"),
      PDS_SCOPE_IDENTITY, "*", NULL },
    { ngx_string("com.atproto.repo.uploadBlob"), PDS_SCOPE_BLOB, NULL,
      NULL },
};


ngx_int_t
ngx_pds_auth_permit(ngx_pds_ctx_t *ctx, pds_scope_kind_e kind,
    const char *a, const char *b)
{
    char              needed[512];
    pds_scope_need_t  need;

    if (!ctx->auth.oauth || ctx->auth.scope == NULL) {
        return NGX_OK;
    }

    need.kind = kind;
    need.a = a;
    need.b = b ? b : "";

    if (pds_scope_allows(ctx->auth.scope, ngx_strlen(ctx->auth.scope),
                         &need))
    {
        return NGX_OK;
    }

    if (pds_scope_needed(needed, sizeof(needed), &need) < 0) {
        ngx_cpystrn((u_char *) needed, (u_char *) "(too long)", 11);
    }

    return ngx_pds_error(ctx, NGX_HTTP_FORBIDDEN, "ScopeMissingError",
                         "Missing required scope \"%s\"", needed);
}


/*
 * The upload's MIME type as the reference reads it: the Content-Type up
 * to its parameters, as sent (not lower-cased, a space before ";" kept).
 */
static ngx_int_t
ngx_pds_auth_dpop_blob(ngx_pds_ctx_t *ctx)
{
    u_char              *mime, *e;
    ngx_str_t           *v;
    ngx_http_request_t  *r = ctx->request;

    if (r->headers_in.content_type == NULL
        || r->headers_in.content_type->value.len == 0)
    {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Request encoding (Content-Type) required but "
                             "not provided");
    }

    v = &r->headers_in.content_type->value;
    e = ngx_strlchr(v->data, v->data + v->len, ';');

    mime = ngx_pnalloc(r->pool, v->len + 1);
    if (mime == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    *ngx_cpymem(mime, v->data, (e ? e : v->data + v->len) - v->data) = '\0';

    return ngx_pds_auth_permit(ctx, PDS_SCOPE_BLOB, (char *) mime, NULL);
}


ngx_int_t
ngx_pds_auth_dpop_scope(ngx_pds_ctx_t *ctx)
{
    const char                  *scope = ctx->auth.scope;
    size_t                       n, i;
    ngx_int_t                    rc;
    const ngx_pds_oauth_rule_t  *rule;

    n = ngx_strlen(scope);

    if (!pds_oauth_scope_has(scope, n, "atproto")) {
        return ngx_pds_fail(ctx, NGX_HTTP_BAD_REQUEST, "InvalidToken",
                            "OAuth token does not have \"atproto\" scope");
    }

    /* what else an app may do its scope says (ngx_pds_auth_permit) */
    ctx->auth.app_password = 1;
    ctx->auth.privileged = 1;
    ctx->auth.oauth = 1;
    ctx->auth.scope = scope;

    rule = NULL;
    for (i = 0; i < sizeof(ngx_pds_oauth_rules) / sizeof(*rule); i++) {
        if (ctx->nsid.len == ngx_pds_oauth_rules[i].nsid.len
            && ngx_strncmp(ctx->nsid.data, ngx_pds_oauth_rules[i].nsid.data,
                           ctx->nsid.len) == 0)
        {
            rule = &ngx_pds_oauth_rules[i];
            break;
        }
    }

    if (rule == NULL) {
        if (ctx->method->auth == NGX_PDS_AUTH_FULL) {
            return ngx_pds_fail(ctx, NGX_HTTP_BAD_REQUEST, "InvalidToken",
                                "Bad token scope");
        }
        return NGX_OK;
    }

    switch (rule->kind) {
    case PDS_SCOPE_NONE:
        rc = ngx_pds_error(ctx, NGX_HTTP_FORBIDDEN, "Forbidden", "%s",
                           rule->a);
        break;
    case PDS_SCOPE_BLOB:
        rc = ngx_pds_auth_dpop_blob(ctx);
        break;
    default:
        rc = ngx_pds_auth_permit(ctx, rule->kind, rule->a, rule->b);
    }

    if (rc != NGX_OK) {
        ctx->sent_rc = rc;
        return NGX_DECLINED;
    }

    return NGX_OK;
}


ngx_int_t
ngx_pds_auth_dpop(ngx_pds_ctx_t *ctx)
{
    int                  rc;
    u_char              *url, *nonce;
    json_t              *row;
    uint8_t              secret[32];
    MDB_txn             *txn;
    ngx_str_t           *v, token;
    const char          *why, *scope;
    pds_store_t         *store;
    pds_dpop_rc_t        drc;
    struct timeval       tv;
    pds_oauth_at_t       at;
    ngx_table_elt_t     *h;
    pds_dpop_proof_t     proof;
    pds_dpop_check_t     chk;
    pds_oauth_at_rc_t    arc;
    ngx_http_request_t  *r = ctx->request;
    ngx_pds_srv_conf_t  *conf = ctx->conf;

    gettimeofday(&tv, NULL);
    pds_oauth_nonce_secret(conf->jwt_secret.data, conf->jwt_secret.len,
                           secret);

    /* RFC 9449 8.2: a fresh nonce on every answer */
    nonce = ngx_pnalloc(r->pool, PDS_OAUTH_NONCE_LEN + 1);
    if (nonce == NULL) {
        return ngx_pds_fail(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL);
    }
    pds_oauth_nonce_next(secret, (int64_t) tv.tv_sec * 1000
                                 + tv.tv_usec / 1000, (char *) nonce);
    if (ngx_pds_auth_dpop_header(r, "DPoP-Nonce", nonce,
                                 PDS_OAUTH_NONCE_LEN) != NGX_OK
        || ngx_pds_auth_dpop_header(r, "Access-Control-Expose-Headers",
                                    (u_char *) "DPoP-Nonce, "
                                    "WWW-Authenticate", 28) != NGX_OK)
    {
        return ngx_pds_fail(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL);
    }

    v = &r->headers_in.authorization->value;
    token.data = v->data + 5;
    token.len = v->len - 5;
    while (token.len && token.data[0] == ' ') {
        token.data++;
        token.len--;
    }

    arc = pds_oauth_at_verify(&ctx->alloc, (char *) token.data, token.len,
                              conf->jwt_secret.data, conf->jwt_secret.len,
                              (char *) conf->public_url.data,
                              (char *) conf->service_did.data, tv.tv_sec,
                              &at);

    h = ngx_pds_request_header(r, "DPoP");

    if (h != NULL) {
        url = ngx_pnalloc(r->pool, conf->public_url.len
                                   + r->unparsed_uri.len + 1);
        chk.method = ngx_pnalloc(r->pool, r->method_name.len + 1);
        if (url == NULL || chk.method == NULL) {
            return ngx_pds_fail(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR, NULL,
                                NULL);
        }
        *ngx_sprintf(url, "%V%V", &conf->public_url, &r->unparsed_uri)
            = '\0';
        *ngx_cpymem((u_char *) chk.method, r->method_name.data,
                    r->method_name.len) = '\0';

        chk.url = (char *) url;
        chk.url_len = ngx_strlen(url);
        chk.access_token = (char *) token.data;
        chk.access_token_len = token.len;
        chk.nonce_secret = secret;
        chk.now_ms = (int64_t) tv.tv_sec * 1000 + tv.tv_usec / 1000;

        drc = pds_dpop_verify((char *) h->value.data, h->value.len, &chk,
                              &proof, &why);
        ngx_explicit_memzero(secret, sizeof(secret));

        if (drc == PDS_DPOP_USE_NONCE) {
            return ngx_pds_auth_dpop_refuse(ctx, "use_dpop_nonce", why);
        }
        if (drc != PDS_DPOP_OK) {
            return ngx_pds_auth_dpop_refuse(ctx, "invalid_dpop_proof", why);
        }
    }

    ngx_explicit_memzero(secret, sizeof(secret));

    if (arc == PDS_OAUTH_AT_EXPIRED) {
        return ngx_pds_auth_dpop_refuse(ctx, "invalid_token",
                                        "\"exp\" claim timestamp check "
                                        "failed");
    }
    if (arc != PDS_OAUTH_AT_OK) {
        return ngx_pds_auth_dpop_refuse(ctx, "invalid_token",
                                        "Invalid token");
    }

    if (at.jkt != NULL && h == NULL) {
        return ngx_pds_auth_dpop_refuse(ctx, "invalid_dpop_proof",
                                        "DPoP proof required");
    }

    if (at.jkt == NULL) {
        return ngx_pds_auth_dpop_refuse(ctx, "invalid_token",
                                        "Bearer token type must be used "
                                        "without a DPoP proof");
    }
    if (ngx_strcmp(at.jkt, proof.jkt) != 0) {
        return ngx_pds_auth_dpop_refuse(ctx, "invalid_dpop_key_binding",
                                        "DPoP proof does not match the "
                                        "expected JKT");
    }

    /*
     * The jti is remembered only now, for a proof of this token's key:
     * proofs anyone can sign with a key of their own, sent without a
     * valid token, must not fill the table and push out the entries that
     * stop replays of real ones.
     */
    if (!ngx_pds_auth_dpop_unique(proof.jti, tv.tv_sec)) {
        return ngx_pds_auth_dpop_refuse(ctx, "invalid_dpop_proof",
                                        "DPoP proof replayed");
    }

    /* stateful: the family must still hold this token */
    store = ngx_pds_store(r, conf);
    txn = ngx_pds_read_txn(ctx);
    if (store == NULL || txn == NULL) {
        return ngx_pds_fail(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL);
    }

    rc = pds_oauth_token_get(store, txn, at.jti, &row);
    ngx_pds_read_done(ctx);

    if (rc == PDS_NOTFOUND) {
        return ngx_pds_auth_dpop_refuse(ctx, "invalid_token",
                                        "Invalid token");
    }
    if (rc != 0) {
        return ngx_pds_fail(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL);
    }

    if (ngx_pds_json_track(r, row) == NULL) {
        return ngx_pds_fail(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL);
    }

    scope = json_string_value(json_object_get(row, "scope"));
    if (ngx_strcmp(json_string_value(json_object_get(row, "sub")) ?: "",
                   at.sub) != 0
        || scope == NULL)
    {
        return ngx_pds_auth_dpop_refuse(ctx, "invalid_token",
                                        "Invalid token");
    }

    ctx->auth.type = ctx->method->auth;
    ctx->auth.did = at.sub;
    ctx->auth.scope = scope;
    ctx->auth.exp = at.exp;
    ctx->auth.oauth = 1;

    return NGX_OK;
}
