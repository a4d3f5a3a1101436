/*
 * ngx_pds_module: invite codes (methods of ngx_pds_account_methods).
 *
 *   com.atproto.server.createInviteCode / createInviteCodes   (admin)
 *   com.atproto.server.getAccountInviteCodes                  (full session)
 *
 * getAccountInviteCodes leaves out disabled codes (admin.disableInviteCodes)
 * and, with includeUsed=false, used-up ones; createAvailable makes no
 * codes, as the reference with no invite interval configured. *
 * Codes are made on the event loop and stored in one LMDB write
 * transaction in the thread pool.  createAccount uses them.
 */

#include "ngx_pds_methods_int.h"
#include "pds_syntax.h"

#include "pds_enc.h"
#include "pds_hash.h"



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


/*
 * forAccount, as the lexicon says, is a DID (the reference checks the
 * format); "admin" is what the module itself files codes under.  A DID
 * longer than a table key allows cannot be a local account.
 */
static ngx_uint_t
ngx_pds_invite_for_valid(json_t *v)
{
    const char  *s = json_string_value(v);
    size_t       n = json_string_length(v);

    return n <= 256 && pds_did_valid(s, n);
}


ngx_int_t
ngx_pds_create_invite_code(ngx_pds_ctx_t *ctx)
{
    ngx_int_t    rc;
    json_t      *use, *for_account, *answer, *codes;
    const char  *account;

    use = json_object_get(ctx->body, "useCount");
    for_account = json_object_get(ctx->body, "forAccount");

    if (!json_is_integer(use)) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Input must have the property \"useCount\"");
    }

    if (for_account && !json_is_string(for_account)) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Input/forAccount must be a string");
    }

    if (for_account && !ngx_pds_invite_for_valid(for_account)) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Input/forAccount must be a valid did");
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

    rc = ngx_pds_invites_create(ctx, &account, 1, 1, json_integer_value(use),
                                answer, &codes);
    if (rc != NGX_DONE) {
        return rc;
    }

    json_object_set(answer, "code", json_array_get(codes, 0));
    json_object_del(answer, "_codes");

    return NGX_DONE;
}


ngx_int_t
ngx_pds_create_invite_codes(ngx_pds_ctx_t *ctx)
{
    size_t        i, n;
    json_t       *count, *use, *fors, *answer, *list, *item, **codes;
    const char  **accounts;

    count = json_object_get(ctx->body, "codeCount");
    use = json_object_get(ctx->body, "useCount");
    fors = json_object_get(ctx->body, "forAccounts");

    if (!json_is_integer(count) || !json_is_integer(use)) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Input must have the properties "
                             "\"codeCount\" and \"useCount\"");
    }

    if (json_integer_value(count) < 1 || json_integer_value(count) > 1000) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Input/codeCount must be between 1 and 1000");
    }

    if (fors && (!json_is_array(fors) || json_array_size(fors) > 1000)) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
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
                return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST,
                                     "InvalidRequest",
                                     "Input/forAccounts must be strings");
            }

            if (!ngx_pds_invite_for_valid(item)) {
                return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST,
                                     "InvalidRequest",
                                     "Input/forAccounts/%uz must be a valid "
                                     "did", i);
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


json_t *
ngx_pds_invite_json(const pds_invite_t *inv)
{
    size_t   j;
    json_t  *uses;

    uses = json_array();
    if (uses == NULL) {
        return NULL;
    }

    for (j = 0; j < inv->nuses; j++) {
        json_array_append_new(uses, json_pack("{s:s, s:s}",
                              "usedBy", inv->uses[j].used_by,
                              "usedAt", inv->uses[j].used_at));
    }

    return json_pack("{s:s, s:I, s:b, s:s, s:s, s:s, s:o}",
                     "code", inv->code,
                     "available", (json_int_t) inv->available,
                     "disabled", inv->disabled,
                     "forAccount", inv->for_account ? inv->for_account : "",
                     "createdBy", inv->created_by ? inv->created_by : "",
                     "createdAt", inv->created_at ? inv->created_at : "",
                     "uses", uses);
}



ngx_int_t
ngx_pds_get_account_invite_codes(ngx_pds_ctx_t *ctx)
{
    int            rc;
    size_t         i, n;
    json_t        *answer, *codes, *code;
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
        /* disabled codes are left out, as the reference's */
        if (list[i].disabled) {
            continue;
        }

        if (!include_used && (int64_t) list[i].nuses >= list[i].available) {
            continue;
        }

        code = ngx_pds_invite_json(&list[i]);
        if (code) {
            json_array_append_new(codes, code);
        }
    }

    ngx_pds_read_done(ctx);

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
}
