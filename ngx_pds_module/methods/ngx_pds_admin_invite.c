/*
 * ngx_pds_module: the operator's invite methods (of ngx_pds_admin_methods;
 * methods/ngx_pds_admin.c holds the table and the moderator check).
 *
 *   com.atproto.admin.getInviteCodes         every code, newest first
 *                                            ("recent") or most used first
 *                                            ("usage"); the reference's
 *                                            cursor "<primary>::<code>"
 *   com.atproto.admin.disableInviteCodes     codes, and every code made
 *                                            for accounts ("admin" refused)
 *   com.atproto.admin.disableAccountInvites  the account's invitesDisabled
 *   com.atproto.admin.enableAccountInvites
 *
 * A disabled code is refused by createAccount (InvalidInviteCode) and left
 * out of server.getAccountInviteCodes.  invitesDisabled, in the reference,
 * only disables the codes its getAccountInviteCodes makes on a schedule
 * (PDS_INVITE_INTERVAL), which this module does not make: here it is
 * stored and shown by getAccountInfo.
 *
 * getInviteCodes reads every code of the tenant and sorts them in memory
 * (an operator's occasional listing; codes are few next to records).
 */

#include "ngx_pds_methods_int.h"
#include "ngx_pds_params.h"

#include "pds_lexicon_preview.h"

#include <stdio.h>
#include <time.h>


#define NGX_PDS_INVITES_LIMIT_DEFAULT  100


static const ngx_pds_field_t  ngx_pds_admin_invites_params[] = {
    { "sort", NGX_PDS_V_STRING, NGX_PDS_FMT_NONE, 0, 0, 0, 0 },
    { "limit", NGX_PDS_V_INTEGER, NGX_PDS_FMT_NONE, 0, 0, 1, 500 },
    { "cursor", NGX_PDS_V_STRING, NGX_PDS_FMT_NONE, 0, 0, 0, 0 },
    { NULL, 0, 0, 0, 0, 0, 0 }
};


typedef struct {
    ngx_uint_t      usage;              /* sort by uses, else by createdAt */
    ngx_uint_t      has_cursor;
    char            created[96];        /* the cursor's, as ISO 8601 */
    int64_t         uses;
    const char     *code;
} ngx_pds_invites_cursor_t;


/* milliseconds since the epoch of "YYYY-MM-DDTHH:MM:SS[.mmm]Z", or -1 */
static int64_t
ngx_pds_invite_ms(const char *s)
{
    int         y, mo, d, h, mi, sec, ms, n, k;
    struct tm   tm;
    const char *p;

    n = 0;
    if (s == NULL
        || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec,
                  &n) != 6)
    {
        return -1;
    }

    ms = 0;
    p = s + n;

    if (*p == '.') {
        for (p++, k = 0; k < 3; k++) {
            ms = ms * 10 + ((*p >= '0' && *p <= '9') ? *p++ - '0' : 0);
        }
    }

    ngx_memzero(&tm, sizeof(struct tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;

    return (int64_t) timegm(&tm) * 1000 + ms;
}


/* JavaScript's parseInt(s, 10) of the cursor's first part: 0 or -1 (NaN) */
static int
ngx_pds_invite_parse_int(const u_char *p, const u_char *end, int64_t *v)
{
    int       neg, digits;
    int64_t   n;

    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
        p++;
    }

    neg = 0;
    if (p < end && (*p == '+' || *p == '-')) {
        neg = (*p == '-');
        p++;
    }

    for (n = 0, digits = 0; p < end && *p >= '0' && *p <= '9'; p++, digits++)
    {
        if (n < INT64_MAX / 100) {
            n = n * 10 + (*p - '0');
        }
    }

    if (digits == 0) {
        return -1;
    }

    *v = neg ? -n : n;

    return 0;
}


/*
 * The cursor "<primary>::<code>": NGX_OK, or 400 "Malformed cursor" as the
 * reference's keyset (two non-empty parts; a number, for "recent" a valid
 * JavaScript date in milliseconds).
 */
static ngx_int_t
ngx_pds_invite_cursor(ngx_pds_ctx_t *ctx, ngx_str_t *s,
    ngx_pds_invites_cursor_t *c)
{
    u_char     *sep, *code;
    int64_t     v;
    time_t      t;
    struct tm   tm;

    sep = ngx_strlcasestrn(s->data, s->data + s->len, (u_char *) "::", 1);

    if (sep == NULL || sep == s->data || sep + 2 >= s->data + s->len
        || ngx_strlcasestrn(sep + 2, s->data + s->len, (u_char *) "::", 1)
           != NULL
        || ngx_pds_invite_parse_int(s->data, sep, &v) != 0
        || (!c->usage && (v > 8640000000000000LL || v < -8640000000000000LL)))
    {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Malformed cursor");
    }

    code = ngx_pnalloc(ctx->request->pool, s->data + s->len - (sep + 2) + 1);
    if (code == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *ngx_cpymem(code, sep + 2, s->data + s->len - (sep + 2)) = '\0';
    c->code = (char *) code;
    c->uses = v;
    c->has_cursor = 1;

    if (!c->usage) {
        t = (time_t) (v >= 0 ? v / 1000 : (v - 999) / 1000);
        if (gmtime_r(&t, &tm) == NULL) {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "Malformed cursor");
        }

        snprintf(c->created, sizeof(c->created),
                 "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, (int) (v - (int64_t) t * 1000));
    }

    return NGX_OK;
}


static const char *
ngx_pds_invite_created(const pds_invite_t *inv)
{
    return inv->created_at ? inv->created_at : "";
}


/* descending by (createdAt, code) or (uses, code), as the reference */
static int
ngx_pds_invite_cmp_recent(const void *a, const void *b)
{
    int                  rc;
    const pds_invite_t  *x = a, *y = b;

    rc = ngx_strcmp(ngx_pds_invite_created(y), ngx_pds_invite_created(x));

    return rc ? rc : ngx_strcmp(y->code, x->code);
}


static int
ngx_pds_invite_cmp_usage(const void *a, const void *b)
{
    const pds_invite_t  *x = a, *y = b;

    if (x->nuses != y->nuses) {
        return x->nuses < y->nuses ? 1 : -1;
    }

    return ngx_strcmp(y->code, x->code);
}


/* whether inv comes after the cursor in the listing's order */
static ngx_uint_t
ngx_pds_invite_after(const pds_invite_t *inv,
    const ngx_pds_invites_cursor_t *c)
{
    int  rc;

    if (!c->has_cursor) {
        return 1;
    }

    if (c->usage) {
        if ((int64_t) inv->nuses != c->uses) {
            return (int64_t) inv->nuses < c->uses;
        }

    } else {
        rc = ngx_strcmp(ngx_pds_invite_created(inv), c->created);
        if (rc != 0) {
            return rc < 0;
        }
    }

    return ngx_strcmp(inv->code, c->code) < 0;
}


ngx_int_t
ngx_pds_admin_get_invite_codes(ngx_pds_ctx_t *ctx)
{
    int                        rc;
    char                       buf[64];
    size_t                     i, n, taken;
    json_t                    *answer, *codes, *code;
    MDB_txn                   *txn;
    ngx_str_t                  v;
    ngx_int_t                  limit, st;
    pds_invite_t              *list, *last;
    ngx_pds_invites_cursor_t   c;

    st = ngx_pds_check_params(ctx, ngx_pds_admin_invites_params);
    if (st != NGX_OK) {
        return st;
    }

    ngx_memzero(&c, sizeof(ngx_pds_invites_cursor_t));

    if (ngx_pds_arg(ctx->request, "sort", &v) == NGX_OK && v.len
        && !(v.len == 6 && ngx_strncmp(v.data, "recent", 6) == 0))
    {
        if (!(v.len == 5 && ngx_strncmp(v.data, "usage", 5) == 0)) {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "unknown sort method: %V", &v);
        }

        c.usage = 1;
    }

    limit = NGX_PDS_INVITES_LIMIT_DEFAULT;

    if (ngx_pds_arg(ctx->request, "limit", &v) == NGX_OK && v.len) {
        limit = ngx_atoi(v.data, v.len);
        if (limit == NGX_ERROR) {
            limit = NGX_PDS_INVITES_LIMIT_DEFAULT;
        }
    }

    if (ngx_pds_arg(ctx->request, "cursor", &v) == NGX_OK && v.len) {
        st = ngx_pds_invite_cursor(ctx, &v, &c);
        if (st != NGX_OK) {
            return st;
        }
    }

    txn = ngx_pds_read_txn(ctx);
    if (txn == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = pds_invite_list_all(ctx->conf->env->store, txn, &ctx->alloc, &list,
                             &n);
    ngx_pds_read_done(ctx);

    if (rc != 0) {
        return ngx_pds_store_failed(ctx, rc);
    }

    if (n > 1) {
        qsort(list, n, sizeof(pds_invite_t),
              c.usage ? ngx_pds_invite_cmp_usage : ngx_pds_invite_cmp_recent);
    }

    answer = ngx_pds_json_track(ctx->request, json_object());
    codes = json_array();
    if (answer == NULL || codes == NULL) {
        json_decref(codes);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = NULL;
    taken = 0;

    for (i = 0; i < n && taken < (size_t) limit; i++) {
        if (!ngx_pds_invite_after(&list[i], &c)) {
            continue;
        }

        code = ngx_pds_invite_json(&list[i]);
        if (code == NULL) {
            json_decref(codes);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        json_array_append_new(codes, code);
        last = &list[i];
        taken++;
    }

    /* the cursor of the page's last code, whenever there is one */
    if (last) {
        if (c.usage) {
            snprintf(buf, sizeof(buf), "%zu::", last->nuses);
        } else {
            snprintf(buf, sizeof(buf), "%lld::",
                     (long long) ngx_pds_invite_ms(last->created_at));
        }

        json_object_set_new(answer, "cursor",
                            json_pack("s++", buf, last->code, ""));
    }

    json_object_set_new(answer, "codes", codes);

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
}


/* ---- disableInviteCodes ------------------------------------------------ */


typedef struct {
    json_t      *codes;             /* arrays of strings, or NULL */
    json_t      *accounts;
    int          result;
} ngx_pds_invites_off_t;


static const ngx_pds_field_t  ngx_pds_admin_disable_codes_input[] = {
    { "codes", NGX_PDS_V_ARRAY, NGX_PDS_FMT_NONE, 0, 0, 0, 0 },
    { "accounts", NGX_PDS_V_ARRAY, NGX_PDS_FMT_NONE, 0, 0, 0, 0 },
    { NULL, 0, 0, 0, 0, 0, 0 }
};


static int
ngx_pds_invites_off_txn(pds_store_t *store, MDB_txn *txn, void *data)
{
    int                     rc;
    size_t                  i;
    ngx_pds_invites_off_t  *st = data;

    for (i = 0; i < json_array_size(st->codes); i++) {
        rc = pds_invite_disable(store, txn,
                                json_string_value(json_array_get(st->codes,
                                                                 i)));
        if (rc != 0 && rc != PDS_NOTFOUND) {
            return rc;
        }
    }

    for (i = 0; i < json_array_size(st->accounts); i++) {
        rc = pds_invite_disable_for(store, txn,
                           json_string_value(json_array_get(st->accounts, i)));
        if (rc != 0 && rc != PDS_NOTFOUND) {
            return rc;
        }
    }

    return 0;
}


/* every item of the array at name a string: NGX_OK, or the refusal */
static ngx_int_t
ngx_pds_invites_strings(ngx_pds_ctx_t *ctx, json_t *a, const char *name)
{
    char    got[300];
    size_t  i;

    for (i = 0; i < json_array_size(a); i++) {
        if (!json_is_string(json_array_get(a, i))) {
            (void) pds_lexicon_preview(got, sizeof(got), json_array_get(a, i));
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "Expected string value type (got %s) at "
                                 "$.%s[%uz]", got, name, i);
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_pds_admin_disable_invite_codes(ngx_pds_ctx_t *ctx)
{
    size_t                  i;
    ngx_int_t               rc;
    ngx_pds_invites_off_t  *st;

    rc = ngx_pds_check_input(ctx, ctx->body, "$",
                             ngx_pds_admin_disable_codes_input);
    if (rc != NGX_OK) {
        return rc;
    }

    st = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_invites_off_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st->codes = json_object_get(ctx->body, "codes");
    st->accounts = json_object_get(ctx->body, "accounts");

    rc = ngx_pds_invites_strings(ctx, st->codes, "codes");
    if (rc == NGX_OK) {
        rc = ngx_pds_invites_strings(ctx, st->accounts, "accounts");
    }

    if (rc != NGX_OK) {
        return rc;
    }

    for (i = 0; i < json_array_size(st->accounts); i++) {
        if (ngx_strcmp(json_string_value(json_array_get(st->accounts, i)),
                       "admin") == 0)
        {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "cannot disable admin invite codes");
        }
    }

    ctx->data = &st->result;

    return ngx_pds_txn_post(ctx, ngx_pds_invites_off_txn, st, &st->result,
                            ngx_pds_written_empty);
}


/* ---- disableAccountInvites / enableAccountInvites ---------------------- */


typedef struct {
    const char  *did;
    int          disabled;
    int          result;
} ngx_pds_account_invites_t;


static const ngx_pds_field_t  ngx_pds_admin_account_invites_input[] = {
    { "account", NGX_PDS_V_STRING, NGX_PDS_FMT_DID, NGX_PDS_F_REQUIRED,
      0, 0, 0 },
    { "note", NGX_PDS_V_STRING, NGX_PDS_FMT_NONE, 0, 0, 0, 0 },
    { NULL, 0, 0, 0, 0, 0, 0 }
};


static int
ngx_pds_account_invites_txn(pds_store_t *store, MDB_txn *txn, void *data,
    pds_alloc_t *a)
{
    int                         rc;
    pds_account_t               acc;
    ngx_pds_account_invites_t  *st = data;

    rc = pds_account_get_by_did(store, txn, st->did, a, &acc);
    if (rc == PDS_NOTFOUND) {
        /* the reference updates no row and answers 200 */
        return 0;
    }

    if (rc != 0 || acc.invites_disabled == st->disabled) {
        return rc;
    }

    acc.invites_disabled = st->disabled;

    return pds_account_update(store, txn, &acc);
}


static ngx_int_t
ngx_pds_admin_account_invites(ngx_pds_ctx_t *ctx, int disabled)
{
    ngx_int_t                   rc;
    ngx_pds_account_invites_t  *st;

    rc = ngx_pds_check_input(ctx, ctx->body, "$",
                             ngx_pds_admin_account_invites_input);
    if (rc != NGX_OK) {
        return rc;
    }

    st = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_account_invites_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st->did = json_string_value(json_object_get(ctx->body, "account"));
    st->disabled = disabled;
    ctx->data = &st->result;

    return ngx_pds_txn_post_alloc(ctx, ngx_pds_account_invites_txn, st,
                                  &st->result, ngx_pds_written_empty);
}


ngx_int_t
ngx_pds_admin_disable_account_invites(ngx_pds_ctx_t *ctx)
{
    return ngx_pds_admin_account_invites(ctx, 1);
}


ngx_int_t
ngx_pds_admin_enable_account_invites(ngx_pds_ctx_t *ctx)
{
    return ngx_pds_admin_account_invites(ctx, 0);
}
