/*
 * ngx_pds_module: accounts and invite codes.
 *
 *   com.atproto.server.createInviteCode / createInviteCodes   (admin)
 *   com.atproto.server.getAccountInviteCodes                  (full session)
 *   com.atproto.server.createAccount
 *
 * createAccount runs as a chain of steps: validation on the event loop;
 * scrypt, key generation and signing of the did:plc genesis operation in
 * the thread pool; the operation sent to the PLC directory through nginx;
 * then one LMDB write transaction in the thread pool for the repo, the
 * account, its events, the invite use and the session.  If the store
 * refuses after the DID was registered, the DID is tombstoned.
 */

#include "ngx_pds.h"
#include "ngx_pds_methods.h"

#include "pds_hash.h"

#include "pds_enc.h"
#include "pds_jwt.h"
#include "pds_password.h"
#include "pds_plc.h"
#include "pds_repo.h"
#include "pds_syntax.h"


#define NGX_PDS_PASSWORD_MAX  256


static ngx_int_t ngx_pds_create_invite_code(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_create_invite_codes(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_get_account_invite_codes(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_create_account(ngx_pds_ctx_t *ctx);


const ngx_pds_method_t  ngx_pds_account_methods[] = {

    { ngx_string("com.atproto.server.createInviteCode"), NGX_PDS_PROCEDURE,
      NGX_PDS_AUTH_ADMIN, NGX_PDS_IN_JSON, 0, 0,
      ngx_pds_create_invite_code, NULL },

    { ngx_string("com.atproto.server.createInviteCodes"), NGX_PDS_PROCEDURE,
      NGX_PDS_AUTH_ADMIN, NGX_PDS_IN_JSON, 0, 0,
      ngx_pds_create_invite_codes, NULL },

    { ngx_string("com.atproto.server.getAccountInviteCodes"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_FULL, NGX_PDS_IN_NONE, NGX_PDS_CHECK_TAKEDOWN, 0,
      ngx_pds_get_account_invite_codes, NULL },

    { ngx_string("com.atproto.server.createAccount"), NGX_PDS_PROCEDURE,
      NGX_PDS_AUTH_NONE, NGX_PDS_IN_JSON, 0, 0, ngx_pds_create_account, NULL },

    { ngx_null_string, 0, 0, 0, 0, 0, NULL, NULL }
};


static ngx_int_t
ngx_pds_invalid(ngx_pds_ctx_t *ctx, const char *error, const char *message)
{
    return ngx_pds_send_error(ctx->request, NGX_HTTP_BAD_REQUEST,
                              error ? error : "InvalidRequest", message);
}


static ngx_int_t
ngx_pds_refuse(ngx_pds_ctx_t *ctx, const char *error, const char *message)
{
    return ngx_pds_fail(ctx, NGX_HTTP_BAD_REQUEST,
                        error ? error : "InvalidRequest", message);
}


static ngx_int_t
ngx_pds_store_failed(ngx_pds_ctx_t *ctx, int rc)
{
    ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                  "pds: storage error %d", rc);

    return ngx_pds_send_error(ctx->request, NGX_HTTP_INTERNAL_SERVER_ERROR,
                              "InternalServerError",
                              "Internal Server Error");
}


/* "<hostname with - for .>-xxxxx-xxxxx" in base32, as the reference */
static char *
ngx_pds_invite_code(ngx_pds_ctx_t *ctx)
{
    u_char      *p, *q;
    uint8_t      rnd[8];
    char         b32[16];
    ngx_str_t   *host = &ctx->conf->hostname;

    if (pds_random(rnd, sizeof(rnd)) != 0) {
        return NULL;
    }

    pds_base32_encode(b32, rnd, sizeof(rnd));

    p = ngx_pnalloc(ctx->request->pool, host->len + sizeof("-xxxxx-xxxxx"));
    if (p == NULL) {
        return NULL;
    }

    q = ngx_cpymem(p, host->data, host->len);
    for (q = p; q < p + host->len; q++) {
        if (*q == '.') {
            *q = '-';
        }
    }

    ngx_sprintf(q, "-%*s-%*s%Z", (size_t) 5, b32, (size_t) 5, b32 + 5);

    return (char *) p;
}


/* ---- createInviteCode(s) ----------------------------------------------- */


typedef struct {
    pds_invite_t   *invites;
    size_t          n;
} ngx_pds_invites_job_t;


static int
ngx_pds_invites_txn(pds_store_t *store, MDB_txn *txn, void *data)
{
    int                     rc;
    size_t                  i;
    ngx_pds_invites_job_t  *job = data;

    for (i = 0; i < job->n; i++) {
        rc = pds_invite_create(store, txn, &job->invites[i]);
        if (rc != 0) {
            return rc;
        }
    }

    return 0;
}


typedef struct {
    ngx_pds_invites_job_t   job;
    int                     result;
    json_t                 *answer;
} ngx_pds_invites_state_t;


static ngx_int_t
ngx_pds_invites_done(ngx_pds_ctx_t *ctx)
{
    ngx_pds_invites_state_t  *st = ctx->data;

    if (st->result != 0) {
        return ngx_pds_store_failed(ctx, st->result);
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, st->answer);
}


/*
 * Builds invites for accounts[] (count codes each), queues the write and
 * answers with "answer" once stored.
 */
static ngx_int_t
ngx_pds_invites_create(ngx_pds_ctx_t *ctx, const char **accounts,
    size_t naccounts, size_t count, int64_t use_count, json_t *answer,
    json_t **codes_out)
{
    char                     *now;
    size_t                    a, i, k;
    pds_invite_t             *inv;
    ngx_pds_invites_state_t  *st;

    st = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_invites_state_t));
    inv = ngx_pcalloc(ctx->request->pool,
                      naccounts * count * sizeof(pds_invite_t));
    now = ngx_pds_iso_now(ctx->request->pool);
    if (st == NULL || inv == NULL || now == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    k = 0;

    for (a = 0; a < naccounts; a++) {
        for (i = 0; i < count; i++) {
            inv[k].code = ngx_pds_invite_code(ctx);
            if (inv[k].code == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            inv[k].available = use_count;
            inv[k].for_account = accounts[a];
            inv[k].created_by = "admin";
            inv[k].created_at = now;

            json_array_append_new(codes_out[a], json_string(inv[k].code));
            k++;
        }
    }

    st->job.invites = inv;
    st->job.n = k;
    st->answer = answer;
    ctx->data = st;

    return ngx_pds_txn_post(ctx, ngx_pds_invites_txn, &st->job, &st->result,
                            ngx_pds_invites_done);
}


static ngx_int_t
ngx_pds_create_invite_code(ngx_pds_ctx_t *ctx)
{
    json_t      *use, *for_account, *answer, *codes;
    const char  *account;

    use = json_object_get(ctx->body, "useCount");
    for_account = json_object_get(ctx->body, "forAccount");

    if (!json_is_integer(use)) {
        return ngx_pds_invalid(ctx, NULL,
                               "Input must have the property \"useCount\"");
    }

    if (for_account && !json_is_string(for_account)) {
        return ngx_pds_invalid(ctx, NULL,
                               "Input/forAccount must be a string");
    }

    account = for_account ? json_string_value(for_account) : "admin";

    answer = ngx_pds_json_track(ctx->request, json_object());
    codes = json_array();
    if (answer == NULL || codes == NULL) {
        json_decref(codes);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the answer is {code}: collect in a temporary array */
    json_object_set_new(answer, "_codes", codes);

    if (ngx_pds_invites_create(ctx, &account, 1, 1,
                               json_integer_value(use), answer, &codes)
        != NGX_DONE)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_object_set(answer, "code", json_array_get(codes, 0));
    json_object_del(answer, "_codes");

    return NGX_DONE;
}


static ngx_int_t
ngx_pds_create_invite_codes(ngx_pds_ctx_t *ctx)
{
    size_t        i, n;
    json_t       *count, *use, *fors, *answer, *list, *item, **codes;
    const char  **accounts;

    count = json_object_get(ctx->body, "codeCount");
    use = json_object_get(ctx->body, "useCount");
    fors = json_object_get(ctx->body, "forAccounts");

    if (!json_is_integer(count) || !json_is_integer(use)) {
        return ngx_pds_invalid(ctx, NULL, "Input must have the properties "
                               "\"codeCount\" and \"useCount\"");
    }

    if (json_integer_value(count) < 1 || json_integer_value(count) > 1000) {
        return ngx_pds_invalid(ctx, NULL,
                               "Input/codeCount must be between 1 and 1000");
    }

    if (fors && (!json_is_array(fors) || json_array_size(fors) > 1000)) {
        return ngx_pds_invalid(ctx, NULL,
                               "Input/forAccounts must be an array");
    }

    n = (fors && json_array_size(fors)) ? json_array_size(fors) : 1;

    accounts = ngx_palloc(ctx->request->pool, n * sizeof(char *));
    codes = ngx_palloc(ctx->request->pool, n * sizeof(json_t *));
    if (accounts == NULL || codes == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    answer = ngx_pds_json_track(ctx->request, json_object());
    list = json_array();
    if (answer == NULL || list == NULL) {
        json_decref(list);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_object_set_new(answer, "codes", list);

    for (i = 0; i < n; i++) {
        if (fors && json_array_size(fors)) {
            item = json_array_get(fors, i);
            if (!json_is_string(item)) {
                return ngx_pds_invalid(ctx, NULL,
                                       "Input/forAccounts must be strings");
            }
            accounts[i] = json_string_value(item);

        } else {
            accounts[i] = "admin";
        }

        codes[i] = json_array();
        json_array_append_new(list, json_pack("{s:s, s:o}", "account",
                                              accounts[i], "codes",
                                              codes[i]));
    }

    return ngx_pds_invites_create(ctx, accounts, n,
                                  (size_t) json_integer_value(count),
                                  json_integer_value(use), answer, codes);
}


/* ---- getAccountInviteCodes --------------------------------------------- */


static ngx_int_t
ngx_pds_get_account_invite_codes(ngx_pds_ctx_t *ctx)
{
    int            rc;
    size_t         i, j, n;
    json_t        *answer, *codes, *uses, *code;
    MDB_txn       *txn;
    ngx_str_t      v;
    ngx_uint_t     include_used;
    pds_invite_t  *list;

    include_used = 1;

    if (ngx_pds_arg(ctx->request, "includeUsed", &v) == NGX_OK
        && v.len == 5 && ngx_strncmp(v.data, "false", 5) == 0)
    {
        include_used = 0;
    }

    txn = ngx_pds_read_txn(ctx);
    if (txn == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = pds_invite_list_for(ctx->conf->env->store, txn, ctx->auth.did,
                             &ctx->alloc, &list, &n);
    if (rc != 0) {
        return ngx_pds_store_failed(ctx, rc);
    }

    answer = ngx_pds_json_track(ctx->request, json_object());
    codes = json_array();
    if (answer == NULL || codes == NULL) {
        json_decref(codes);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_object_set_new(answer, "codes", codes);

    for (i = 0; i < n; i++) {
        if (!include_used && (int64_t) list[i].nuses >= list[i].available) {
            continue;
        }

        uses = json_array();

        for (j = 0; j < list[i].nuses; j++) {
            json_array_append_new(uses, json_pack("{s:s, s:s}",
                                  "usedBy", list[i].uses[j].used_by,
                                  "usedAt", list[i].uses[j].used_at));
        }

        code = json_pack("{s:s, s:I, s:b, s:s, s:s, s:s, s:o}",
                         "code", list[i].code,
                         "available", (json_int_t) list[i].available,
                         "disabled", list[i].disabled,
                         "forAccount", list[i].for_account,
                         "createdBy", list[i].created_by,
                         "createdAt", list[i].created_at,
                         "uses", uses);

        json_array_append_new(codes, code);
    }

    ngx_pds_read_done(ctx);

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
}


/* ---- createAccount ----------------------------------------------------- */


typedef struct {
    /* input */
    const char         *email;
    const char         *handle;
    const char         *password;
    const char         *invite;
    const char         *recovery_key;

    /* made in the thread pool */
    char                password_hash[PDS_PASSWORD_HASH_LEN + 1];
    uint8_t             signing_priv[PDS_KEY_PRIV_LEN];
    char                signing_did_key[128];
    char                did[PDS_PLC_DID_LEN + 1];
    json_t             *op;
    ngx_str_t           op_text;
    int                 failed;

    /* the write */
    const char         *now;
    pds_key_t          *signing_key;
    pds_account_t       account;
    pds_token_t         token;
    pds_repo_write_t    repo;
    char               *access_jwt;
    char               *refresh_jwt;
    int                 result;

    ngx_pds_srv_conf_t *conf;
} ngx_pds_create_t;


static ngx_int_t ngx_pds_create_account_signed(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_create_account_registered(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_create_account_stored(ngx_pds_ctx_t *ctx);


static void
ngx_pds_create_cleanup(void *data)
{
    ngx_pds_create_t  *st = data;

    if (st->op) {
        json_decref(st->op);
    }

    if (st->signing_key) {
        pds_key_free(st->signing_key);
    }

    OPENSSL_cleanse(st->signing_priv, sizeof(st->signing_priv));
}


/* a plausible email address: local@domain.tld, no spaces */
static ngx_uint_t
ngx_pds_email_valid(const char *s)
{
    size_t       len;
    const char  *at, *dot, *p;

    len = ngx_strlen(s);
    if (len < 5 || len > 254) {
        return 0;
    }

    at = strchr(s, '@');
    if (at == NULL || at == s || strchr(at + 1, '@') != NULL) {
        return 0;
    }

    for (p = s; *p; p++) {
        if (*p <= ' ' || *p == 0x7f || *p == '<' || *p == '>'
            || *p == '(' || *p == ')' || *p == ',' || *p == ';'
            || *p == '\\' || *p == '"' || *p == '[' || *p == ']')
        {
            return 0;
        }
    }

    dot = strrchr(at, '.');

    return dot != NULL && dot > at + 1 && dot[1] != '\0';
}


static const char  *ngx_pds_reserved_names[] = {
    "at", "atp", "plc", "pds", "did", "repo", "tid", "nsid", "xrpc", "lex",
    "lexicon", "bsky", "bluesky", "handle", "admin", "administrator",
    "root", "support", "help", "abuse", "security", "postmaster",
    "hostmaster", "webmaster", "www", "mail", "email", "api", "ftp",
    "system", "sysadmin", "moderator", "mod", "staff", "official", "info",
    "noreply", "no-reply", "account", "accounts", "login", "signup",
    "register", "status", "test", "null", "undefined", "localhost",
    NULL
};


/*
 * The reference's handle rules for a new account: valid syntax (lower
 * case), an allowed TLD, under one of the tenant's domains with a single
 * label of 3 to 18 characters in front, not reserved.  NGX_OK, or
 * NGX_DECLINED with the refusal sent (ctx->sent_rc).
 */
ngx_int_t
ngx_pds_check_new_handle(ngx_pds_ctx_t *ctx, char *handle)
{
    size_t       len, front;
    ngx_str_t   *d;
    ngx_uint_t   i;
    const char  *err, **r;

    len = ngx_strlen(handle);

    if (pds_handle_normalize(handle, len + 1, handle, len) < 0) {
        return ngx_pds_refuse(ctx, "InvalidHandle", "Invalid handle");
    }

    if (pds_handle_is_reserved_tld(handle, len)) {
        return ngx_pds_refuse(ctx, "InvalidHandle",
                               "Handle TLD is invalid or disallowed");
    }

    d = ctx->conf->handle_domains->elts;

    for (i = 0; i < ctx->conf->handle_domains->nelts; i++) {
        if (len > d[i].len
            && ngx_strncmp(handle + len - d[i].len, d[i].data, d[i].len)
               == 0)
        {
            break;
        }
    }

    if (i == ctx->conf->handle_domains->nelts) {
        return ngx_pds_refuse(ctx, "UnsupportedDomain",
                               "Not a supported handle domain");
    }

    front = len - d[i].len;
    err = NULL;

    if (memchr(handle, '.', front) != NULL) {
        err = "Invalid characters in handle";

    } else if (front < 3) {
        err = "Handle too short";

    } else if (front > 18) {
        err = "Handle too long";
    }

    if (err) {
        return ngx_pds_refuse(ctx, "InvalidHandle", err);
    }

    for (r = ngx_pds_reserved_names; *r; r++) {
        if (ngx_strlen(*r) == front && ngx_strncmp(handle, *r, front) == 0) {
            return ngx_pds_refuse(ctx, "HandleNotAvailable",
                                   "Reserved handle");
        }
    }

    return NGX_OK;
}


static const char *
ngx_pds_body_str(ngx_pds_ctx_t *ctx, const char *name, ngx_int_t *bad)
{
    json_t  *v;

    v = json_object_get(ctx->body, name);

    if (v == NULL || json_is_null(v)) {
        return NULL;
    }

    if (!json_is_string(v)) {
        *bad = 1;
        return NULL;
    }

    return json_string_value(v);
}


static void
ngx_pds_create_work(void *data, ngx_log_t *log)
{
    long               n;
    json_t            *op;
    pds_key_t         *key;
    const char        *rotation[3];
    size_t             nrot;
    ngx_pds_create_t  *st = data;
    pds_plc_params_t   params;

    st->failed = 1;

    if (pds_password_hash(st->password, ngx_strlen(st->password),
                          st->password_hash, sizeof(st->password_hash)) < 0)
    {
        ngx_log_error(NGX_LOG_ERR, log, 0, "pds: password hashing failed");
        return;
    }

    key = pds_key_generate(PDS_KEY_K256);
    if (key == NULL || pds_key_private_bytes(key, st->signing_priv) != 0) {
        pds_key_free(key);
        return;
    }

    n = pds_key_did_key(key, st->signing_did_key,
                        sizeof(st->signing_did_key) - 1);
    pds_key_free(key);

    if (n < 0) {
        return;
    }

    st->signing_did_key[n] = '\0';

    nrot = 0;

    if (st->recovery_key) {
        rotation[nrot++] = st->recovery_key;
    }

    if (st->conf->recovery_did_key.len) {
        rotation[nrot++] = (char *) st->conf->recovery_did_key.data;
    }

    rotation[nrot++] = (char *) st->conf->rotation_did_key.data;

    params.rotation_keys = rotation;
    params.n_rotation_keys = nrot;
    params.signing_key = st->signing_did_key;
    params.handle = st->handle;
    params.pds_endpoint = (char *) st->conf->public_url.data;

    op = pds_plc_op_new(&params, NULL);
    if (op == NULL) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "pds: cannot build the did:plc operation");
        return;
    }

    if (pds_plc_sign(op, st->conf->rotation_key) != 0
        || pds_plc_did(op, st->did) != 0)
    {
        json_decref(op);
        return;
    }

    st->op = op;
    st->failed = 0;
}


static ngx_int_t
ngx_pds_create_account(ngx_pds_ctx_t *ctx)
{
    int                  rc;
    char                *handle;
    MDB_txn             *txn;
    uint64_t             uid;
    ngx_int_t            bad;
    pds_invite_t         inv;
    ngx_pds_create_t    *st;
    ngx_pool_cleanup_t  *cln;
    ngx_http_request_t  *r = ctx->request;
    u_char               msg[400];

    st = ngx_pcalloc(r->pool, sizeof(ngx_pds_create_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (st == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_pds_create_cleanup;
    cln->data = st;
    st->conf = ctx->conf;
    ctx->data = st;

    bad = 0;
    st->email = ngx_pds_body_str(ctx, "email", &bad);
    st->handle = ngx_pds_body_str(ctx, "handle", &bad);
    st->password = ngx_pds_body_str(ctx, "password", &bad);
    st->invite = ngx_pds_body_str(ctx, "inviteCode", &bad);
    st->recovery_key = ngx_pds_body_str(ctx, "recoveryKey", &bad);

    if (bad) {
        return ngx_pds_invalid(ctx, NULL, "Input has a property of the "
                               "wrong type");
    }

    if (st->handle == NULL) {
        return ngx_pds_invalid(ctx, NULL,
                               "Input must have the property \"handle\"");
    }

    if (json_object_get(ctx->body, "plcOp")) {
        return ngx_pds_invalid(ctx, NULL, "Unsupported input: \"plcOp\"");
    }

    if (json_object_get(ctx->body, "did")) {
        /* migration with service auth comes with the migration work */
        return ngx_pds_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                  "AuthenticationRequired",
                                  "Missing auth to create account with did");
    }

    if (st->password && ngx_strlen(st->password) > NGX_PDS_PASSWORD_MAX) {
        return ngx_pds_invalid(ctx, NULL, "Password too long. Maximum "
                               "length is 256 characters.");
    }

    if (ctx->conf->invite_required && st->invite == NULL) {
        return ngx_pds_invalid(ctx, "InvalidInviteCode",
                               "No invite code provided");
    }

    if (st->email == NULL) {
        return ngx_pds_invalid(ctx, NULL, "Email is required");
    }

    if (!ngx_pds_email_valid(st->email)) {
        return ngx_pds_invalid(ctx, NULL, "This email address is not "
                               "supported, please use a different email.");
    }

    if (st->password == NULL || st->password[0] == '\0') {
        return ngx_pds_invalid(ctx, NULL, "Password is required");
    }

    if (st->recovery_key
        && ngx_strncmp(st->recovery_key, "did:key:", 8) != 0)
    {
        return ngx_pds_invalid(ctx, NULL, "Invalid recovery key: it must "
                               "be a did:key");
    }

    handle = ngx_pnalloc(r->pool, ngx_strlen(st->handle) + 1);
    if (handle == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_cpystrn((u_char *) handle, (u_char *) st->handle,
                ngx_strlen(st->handle) + 1);

    if (ngx_pds_check_new_handle(ctx, handle) != NGX_OK) {
        return ctx->sent_rc;
    }

    st->handle = handle;

    /* availability, read on the loop; the write checks again */

    txn = ngx_pds_read_txn(ctx);
    if (txn == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->conf->invite_required) {
        rc = pds_invite_get(ctx->conf->env->store, txn, st->invite,
                            &ctx->alloc, &inv);

        if (rc != 0 || inv.disabled || (int64_t) inv.nuses >= inv.available) {
            return ngx_pds_invalid(ctx, "InvalidInviteCode",
                                   "Provided invite code not available");
        }
    }

    if (pds_account_uid_by_handle(ctx->conf->env->store, txn, handle, &uid)
        == 0)
    {
        ngx_snprintf(msg, sizeof(msg) - 1, "Handle already taken: %s%Z",
                     handle);
        return ngx_pds_invalid(ctx, NULL, (char *) msg);
    }

    if (pds_account_uid_by_email(ctx->conf->env->store, txn, st->email,
                                 &uid)
        == 0)
    {
        ngx_snprintf(msg, sizeof(msg) - 1, "Email already taken: %s%Z",
                     st->email);
        return ngx_pds_invalid(ctx, NULL, (char *) msg);
    }

    ngx_pds_read_done(ctx);

    return ngx_pds_thread_post(ctx, ngx_pds_create_work, st,
                               ngx_pds_create_account_signed);
}


static ngx_int_t
ngx_pds_create_account_signed(ngx_pds_ctx_t *ctx)
{
    u_char            *p;
    size_t             len;
    ngx_str_t          url, ct;
    ngx_pds_create_t  *st = ctx->data;

    if (st->failed) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = json_dumpb(st->op, NULL, 0, JSON_COMPACT);
    st->op_text.data = ngx_pnalloc(ctx->request->pool, len);
    if (st->op_text.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st->op_text.len = json_dumpb(st->op, (char *) st->op_text.data, len,
                                 JSON_COMPACT);

    url.len = ctx->conf->plc_url.len + 1 + PDS_PLC_DID_LEN;
    url.data = ngx_pnalloc(ctx->request->pool, url.len);
    if (url.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(url.data, ctx->conf->plc_url.data, ctx->conf->plc_url.len);
    *p++ = '/';
    ngx_memcpy(p, st->did, PDS_PLC_DID_LEN);

    ngx_str_set(&ct, "application/json");

    return ngx_pds_fetch(ctx, NGX_HTTP_POST, &url, &ct, &st->op_text, NULL,
                         ngx_pds_create_account_registered);
}


static int
ngx_pds_create_txn(pds_store_t *store, MDB_txn *txn, void *data)
{
    int                rc;
    uint64_t           uid, seq;
    ngx_pds_create_t  *st = data;

    rc = pds_repo_event_identity(store, txn, st->did, st->handle, &seq);
    if (rc != 0) {
        return rc;
    }

    rc = pds_repo_event_account(store, txn, st->did, 1, NULL, &seq);
    if (rc != 0) {
        return rc;
    }

    rc = pds_repo_create(store, txn, st->did, ngx_strlen(st->did),
                         st->signing_key, &uid, &st->repo);
    if (rc != 0) {
        return rc == PDS_REPO_EEXISTS ? PDS_ACCOUNT_DID_TAKEN : rc;
    }

    rc = pds_account_insert(store, txn, &st->account);
    if (rc != 0) {
        return rc;
    }

    if (st->invite) {
        rc = pds_invite_use(store, txn, st->invite, st->did, st->now);
        if (rc != 0) {
            return rc == PDS_NOTFOUND ? PDS_ACCOUNT_UNAVAILABLE : rc;
        }
    }

    return pds_token_put(store, txn, &st->token);
}


static ngx_int_t
ngx_pds_create_account_registered(ngx_pds_ctx_t *ctx)
{
    u_char            *p;
    char               jti[PDS_JWT_REFRESH_ID_LEN + 1];
    int64_t            now;
    const char        *secret, *aud;
    ngx_pds_create_t  *st = ctx->data;
    ngx_http_request_t *r = ctx->request;

    if (ctx->response.status != NGX_HTTP_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pds: the PLC directory refused %s: %ui %V", st->did,
                      ctx->response.status, &ctx->response.body);

        if (ctx->response.status >= 400 && ctx->response.status < 500) {
            return ngx_pds_send_error(r, NGX_HTTP_BAD_GATEWAY,
                                      "UpstreamFailure",
                                      "The PLC directory refused the new "
                                      "DID");
        }

        return ngx_pds_upstream_error(ctx, "Registering the DID at the PLC "
                                      "directory");
    }

    st->now = ngx_pds_iso_now(r->pool);
    st->signing_key = pds_key_from_private(PDS_KEY_K256, st->signing_priv,
                                           sizeof(st->signing_priv));
    if (st->now == NULL || st->signing_key == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st->account.did = st->did;
    st->account.handle = st->handle;
    st->account.email = st->email;
    st->account.password_scrypt = st->password_hash;
    st->account.created_at = st->now;
    st->account.invited_by = st->invite;
    st->account.signing_key = st->signing_priv;
    st->account.signing_key_len = sizeof(st->signing_priv);

    /* the session, stored with the account */

    if (pds_jwt_refresh_id(jti) != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    now = (int64_t) ngx_time();
    secret = (char *) ctx->conf->jwt_secret.data;
    aud = (char *) ctx->conf->service_did.data;

    st->access_jwt = pds_jwt_session_mint(&ctx->alloc, PDS_JWT_ACCESS,
                                          (uint8_t *) secret,
                                          ctx->conf->jwt_secret.len,
                                          PDS_JWT_SCOPE_ACCESS, aud, st->did,
                                          NULL, now,
                                          now + PDS_JWT_ACCESS_TTL);
    st->refresh_jwt = pds_jwt_session_mint(&ctx->alloc, PDS_JWT_REFRESH,
                                           (uint8_t *) secret,
                                           ctx->conf->jwt_secret.len,
                                           PDS_JWT_SCOPE_REFRESH, aud,
                                           st->did, jti, now,
                                           now + PDS_JWT_REFRESH_TTL);
    if (st->access_jwt == NULL || st->refresh_jwt == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_pnalloc(r->pool, sizeof(jti));
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(p, jti, sizeof(jti));
    st->token.id = (char *) p;
    st->token.did = st->did;
    st->token.expires_at = now + PDS_JWT_REFRESH_TTL;

    return ngx_pds_txn_post(ctx, ngx_pds_create_txn, st, &st->result,
                            ngx_pds_create_account_stored);
}


/* the DID document the PLC directory now serves for the new account */
static json_t *
ngx_pds_create_did_doc(ngx_pds_create_t *st)
{
    char     at[512];
    json_t  *doc;

    ngx_snprintf((u_char *) at, sizeof(at) - 1, "at://%s%Z", st->handle);

    doc = json_pack("{s:[s,s,s], s:s, s:[s], s:[{s:s, s:s, s:s, s:s}], "
                    "s:[{s:s, s:s, s:s%}]}",
                    "@context", "https://www.w3.org/ns/did/v1",
                    "https://w3id.org/security/multikey/v1",
                    "https://w3id.org/security/suites/secp256k1-2019/v1",
                    "id", st->did,
                    "alsoKnownAs", at,
                    "verificationMethod",
                    "id", "#atproto", "type", "Multikey",
                    "controller", st->did,
                    "publicKeyMultibase", st->signing_did_key + 8,
                    "service",
                    "id", "#atproto_pds",
                    "type", "AtprotoPersonalDataServer",
                    "serviceEndpoint", st->conf->public_url.data,
                    st->conf->public_url.len);

    if (doc) {
        /* the directory writes the verification method id in full */
        json_t  *vm = json_array_get(json_object_get(doc,
                                                     "verificationMethod"), 0);
        char     id[PDS_PLC_DID_LEN + 16];

        ngx_snprintf((u_char *) id, sizeof(id) - 1, "%s#atproto%Z", st->did);
        json_object_set_new(vm, "id", json_string(id));
    }

    return doc;
}


static ngx_int_t ngx_pds_create_account_answer(ngx_pds_ctx_t *ctx);


static ngx_int_t
ngx_pds_create_account_stored(ngx_pds_ctx_t *ctx)
{
    u_char             *p;
    json_t             *tomb;
    ngx_str_t           url, ct, body;
    ngx_pds_create_t   *st = ctx->data;
    ngx_http_request_t *r = ctx->request;

    if (st->result == 0) {
        return ngx_pds_create_account_answer(ctx);
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "pds: storing the new account %s failed (%d): "
                  "tombstoning the DID", st->did, st->result);

    /* undo the registration, then answer the error */

    tomb = pds_plc_tombstone_new(st->op);
    if (tomb == NULL || pds_plc_sign(tomb, ctx->conf->rotation_key) != 0) {
        json_decref(tomb);
        return ngx_pds_create_account_answer(ctx);
    }

    body.len = json_dumpb(tomb, NULL, 0, JSON_COMPACT);
    body.data = ngx_pnalloc(r->pool, body.len);
    if (body.data == NULL) {
        json_decref(tomb);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_dumpb(tomb, (char *) body.data, body.len, JSON_COMPACT);
    json_decref(tomb);

    url.len = ctx->conf->plc_url.len + 1 + PDS_PLC_DID_LEN;
    url.data = ngx_pnalloc(r->pool, url.len);
    if (url.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(url.data, ctx->conf->plc_url.data, ctx->conf->plc_url.len);
    *p++ = '/';
    ngx_memcpy(p, st->did, PDS_PLC_DID_LEN);

    ngx_str_set(&ct, "application/json");

    return ngx_pds_fetch(ctx, NGX_HTTP_POST, &url, &ct, &body, NULL,
                         ngx_pds_create_account_answer);
}


static ngx_int_t
ngx_pds_create_account_answer(ngx_pds_ctx_t *ctx)
{
    json_t            *answer;
    u_char             msg[400];
    ngx_pds_create_t  *st = ctx->data;

    switch (st->result) {

    case 0:
        break;

    case PDS_ACCOUNT_HANDLE_TAKEN:
        ngx_snprintf(msg, sizeof(msg) - 1, "Handle already taken: %s%Z",
                     st->handle);
        return ngx_pds_invalid(ctx, NULL, (char *) msg);

    case PDS_ACCOUNT_EMAIL_TAKEN:
        ngx_snprintf(msg, sizeof(msg) - 1, "Email already taken: %s%Z",
                     st->email);
        return ngx_pds_invalid(ctx, NULL, (char *) msg);

    case PDS_ACCOUNT_UNAVAILABLE:
        return ngx_pds_invalid(ctx, "InvalidInviteCode",
                               "Provided invite code not available");

    default:
        return ngx_pds_store_failed(ctx, st->result);
    }

    answer = ngx_pds_json_track(ctx->request,
                                json_pack("{s:s, s:s, s:o*, s:s, s:s}",
                                          "handle", st->handle,
                                          "did", st->did,
                                          "didDoc",
                                          ngx_pds_create_did_doc(st),
                                          "accessJwt", st->access_jwt,
                                          "refreshJwt", st->refresh_jwt));
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
}
