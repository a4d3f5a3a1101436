/*
 * ngx_pds_module: app.bsky.actor.getPreferences / putPreferences, kept by
 * the PDS itself as the reference does (actor-store account_pref).
 *
 * One row per account in store->db_prefs, keyed by the 8-byte big-endian
 * uid: a JSON array of the preference objects, in the order they were
 * put.  Only the app.bsky namespace is read or replaced here;
 * personalDetailsPref is seen and set by full (password) sessions only,
 * a declaredAgePref is derived from its birthDate on read and never
 * stored.  With an "atproto-proxy" header naming another AppView both
 * methods are forwarded there instead.
 */

#include "ngx_pds_proxy.h"
#include "ngx_pds_methods.h"

#include "pds_jwt.h"


#define NGX_PDS_PREF_NS        "app.bsky"
#define NGX_PDS_PREF_PERSONAL  "app.bsky.actor.defs#personalDetailsPref"
#define NGX_PDS_PREF_AGE       "app.bsky.actor.defs#declaredAgePref"


typedef struct {
    uint8_t         key[8];
    char           *put;           /* the new preferences, a JSON array */
    size_t          put_len;
    ngx_uint_t      full;
    int             result;
} ngx_pds_prefs_job_t;


static ngx_uint_t
ngx_pds_pref_in_ns(const char *type)
{
    size_t  n = sizeof(NGX_PDS_PREF_NS) - 1;

    return ngx_strncmp(type, NGX_PDS_PREF_NS, n) == 0
           && (type[n] == '\0' || type[n] == '.');
}


static ngx_uint_t
ngx_pds_pref_allowed(const char *type, ngx_uint_t full)
{
    return full || ngx_strcmp(type, NGX_PDS_PREF_PERSONAL) != 0;
}


static const char *
ngx_pds_pref_type(json_t *pref)
{
    json_t  *t;

    t = json_is_object(pref) ? json_object_get(pref, "$type") : NULL;

    return json_is_string(t) ? json_string_value(t) : NULL;
}


/* a password session (not an app password, not a takendown token) */
static ngx_uint_t
ngx_pds_pref_full(ngx_pds_ctx_t *ctx)
{
    return ctx->auth.scope != NULL
           && ngx_strcmp(ctx->auth.scope, PDS_JWT_SCOPE_ACCESS) == 0;
}


static void
ngx_pds_pref_key(uint8_t key[8], uint64_t uid)
{
    ngx_uint_t  i;

    for (i = 0; i < 8; i++) {
        key[i] = (uint8_t) (uid >> (56 - 8 * i));
    }
}


/* the caller's uid; NGX_OK, or NGX_DECLINED with the refusal sent */
static ngx_int_t
ngx_pds_pref_uid(ngx_pds_ctx_t *ctx, uint64_t *uid)
{
    int             rc;
    MDB_txn        *txn;
    pds_account_t   acc;

    txn = ngx_pds_read_txn(ctx);
    if (txn == NULL) {
        return ngx_pds_fail(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL);
    }

    rc = pds_account_get_by_did(ctx->conf->env->store, txn, ctx->auth.did,
                                &ctx->alloc, &acc);

    if (rc == PDS_NOTFOUND) {
        return ngx_pds_fail(ctx, NGX_HTTP_BAD_REQUEST, "AccountNotFound",
                            "Account not found");
    }

    if (rc != 0) {
        return ngx_pds_fail(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL);
    }

    *uid = acc.uid;

    return NGX_OK;
}


/*
 * Whole years from a date "YYYY-MM-DD..." to today (UTC), as the
 * reference's getAgeFromDatestring; -1 if unreadable.
 */
static ngx_int_t
ngx_pds_pref_age(const char *date)
{
    ngx_tm_t   tm;
    ngx_int_t  y, m, d, age;

    if (ngx_strlen(date) < 10 || date[4] != '-' || date[7] != '-') {
        return -1;
    }

    y = ngx_atoi((u_char *) date, 4);
    m = ngx_atoi((u_char *) date + 5, 2);
    d = ngx_atoi((u_char *) date + 8, 2);

    if (y == NGX_ERROR || m == NGX_ERROR || d == NGX_ERROR) {
        return -1;
    }

    ngx_gmtime(ngx_time(), &tm);

    age = tm.ngx_tm_year - y;

    if (tm.ngx_tm_mon < m || (tm.ngx_tm_mon == m && tm.ngx_tm_mday < d)) {
        age--;
    }

    return age;
}


ngx_int_t
ngx_pds_get_preferences(ngx_pds_ctx_t *ctx)
{
    int                  rc;
    size_t               i;
    json_t              *stored, *out, *pref, *birth, *answer;
    uint8_t              key[8];
    MDB_val              k, v;
    uint64_t             uid;
    ngx_int_t            age;
    ngx_uint_t           full;
    const char          *type;
    ngx_http_request_t  *r = ctx->request;

    if (ngx_pds_proxy_foreign(ctx)) {
        return ngx_pds_proxy_forward(ctx);
    }

    full = ngx_pds_pref_full(ctx);

    if (ngx_pds_pref_uid(ctx, &uid) != NGX_OK) {
        ngx_pds_read_done(ctx);
        return ctx->sent_rc;
    }

    ngx_pds_pref_key(key, uid);
    k.mv_size = 8;
    k.mv_data = key;

    rc = mdb_get(ctx->rtxn, ctx->conf->env->store->db_prefs, &k, &v);

    stored = NULL;

    if (rc == 0) {
        stored = ngx_pds_json_track(r, json_loadb(v.mv_data, v.mv_size, 0,
                                                  NULL));
        if (stored == NULL || !json_is_array(stored)) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "pds: unreadable preferences of \"%s\"",
                          ctx->auth.did);
            stored = NULL;
        }

    } else if (rc != MDB_NOTFOUND) {
        ngx_pds_read_done(ctx);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_pds_read_done(ctx);

    out = ngx_pds_json_track(r, json_array());
    if (out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    birth = NULL;

    json_array_foreach(stored, i, pref) {
        type = ngx_pds_pref_type(pref);

        if (type == NULL || !ngx_pds_pref_in_ns(type)) {
            continue;
        }

        if (ngx_strcmp(type, NGX_PDS_PREF_PERSONAL) == 0) {
            birth = json_object_get(pref, "birthDate");
        }

        if (ngx_pds_pref_allowed(type, full)) {
            json_array_append(out, pref);
        }
    }

    if (json_is_string(birth)) {
        age = ngx_pds_pref_age(json_string_value(birth));

        if (age >= 0) {
            json_array_append_new(out,
                json_pack("{s:s, s:b, s:b, s:b}",
                          "$type", NGX_PDS_PREF_AGE,
                          "isOverAge13", age >= 13,
                          "isOverAge16", age >= 16,
                          "isOverAge18", age >= 18));
        }
    }

    answer = ngx_pds_json_track(r, json_pack("{s:O}", "preferences", out));
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_json(r, NGX_HTTP_OK, answer);
}


/*
 * In the thread pool, inside the write transaction: the stored
 * preferences this caller may not replace (other namespaces, and
 * personalDetailsPref for partial sessions) followed by the new ones.
 */
static int
ngx_pds_put_preferences_txn(pds_store_t *store, MDB_txn *txn, void *data)
{
    ngx_pds_prefs_job_t  *job = data;

    int          rc;
    char        *text;
    size_t       i;
    json_t      *old, *put, *all, *pref;
    MDB_val      k, v;
    const char  *type;

    k.mv_size = 8;
    k.mv_data = job->key;

    old = NULL;
    rc = mdb_get(txn, store->db_prefs, &k, &v);

    if (rc == 0) {
        old = json_loadb(v.mv_data, v.mv_size, 0, NULL);

    } else if (rc != MDB_NOTFOUND) {
        return rc;
    }

    put = json_loadb(job->put, job->put_len, 0, NULL);
    all = json_array();

    if (put == NULL || all == NULL) {
        json_decref(old);
        json_decref(put);
        json_decref(all);
        return NGX_PDS_TXN_FAILED;
    }

    json_array_foreach(old, i, pref) {
        type = ngx_pds_pref_type(pref);

        if (type == NULL) {
            continue;
        }

        if (!ngx_pds_pref_in_ns(type)
            || !ngx_pds_pref_allowed(type, job->full))
        {
            json_array_append(all, pref);
        }
    }

    json_array_extend(all, put);

    text = json_dumps(all, JSON_COMPACT);

    json_decref(old);
    json_decref(put);
    json_decref(all);

    if (text == NULL) {
        return NGX_PDS_TXN_FAILED;
    }

    v.mv_size = ngx_strlen(text);
    v.mv_data = text;

    rc = mdb_put(txn, store->db_prefs, &k, &v, 0);

    free(text);

    return rc;
}


static ngx_int_t
ngx_pds_put_preferences_done(ngx_pds_ctx_t *ctx)
{
    ngx_pds_prefs_job_t  *job = ctx->data;

    if (job->result != 0) {
        ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                      "pds: storing preferences failed: %d", job->result);
        return ngx_pds_send_error(ctx->request,
                                  NGX_HTTP_INTERNAL_SERVER_ERROR,
                                  "InternalServerError",
                                  "Internal Server Error");
    }

    return ngx_pds_send_text(ctx->request, NGX_HTTP_OK, "text/plain", NULL,
                             0);
}


ngx_int_t
ngx_pds_put_preferences(ngx_pds_ctx_t *ctx)
{
    u_char               *p, *last, msg[512];
    char                 *text;
    size_t                i;
    json_t               *prefs, *put, *pref;
    uint64_t              uid;
    ngx_uint_t            full, forbidden;
    const char           *type;
    ngx_http_request_t   *r = ctx->request;
    ngx_pds_prefs_job_t  *job;

    if (ngx_pds_proxy_foreign(ctx)) {
        return ngx_pds_proxy_forward(ctx);
    }

    full = ngx_pds_pref_full(ctx);

    prefs = json_object_get(ctx->body, "preferences");
    if (!json_is_array(prefs)) {
        return ngx_pds_send_error(r, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                  "Input must have the property "
                                  "\"preferences\"");
    }

    json_array_foreach(prefs, i, pref) {
        if (ngx_pds_pref_type(pref) == NULL) {
            return ngx_pds_send_error(r, NGX_HTTP_BAD_REQUEST,
                                      "InvalidRequest",
                                      "Preference is missing a $type");
        }
    }

    json_array_foreach(prefs, i, pref) {
        if (!ngx_pds_pref_in_ns(ngx_pds_pref_type(pref))) {
            return ngx_pds_send_error(r, NGX_HTTP_BAD_REQUEST,
                                      "InvalidRequest",
                                      "Some preferences are not in the "
                                      NGX_PDS_PREF_NS " namespace");
        }
    }

    p = ngx_cpymem(msg, "Do not have authorization to set preferences: ",
                   sizeof("Do not have authorization to set preferences: ")
                   - 1);
    last = msg + sizeof(msg) - 1;
    forbidden = 0;

    json_array_foreach(prefs, i, pref) {
        type = ngx_pds_pref_type(pref);

        if (!ngx_pds_pref_allowed(type, full)) {
            p = ngx_slprintf(p, last, "%s%s", forbidden ? ", " : "", type);
            forbidden++;
        }
    }

    if (forbidden) {
        *p = '\0';
        return ngx_pds_send_error(r, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                  (char *) msg);
    }

    /* declaredAgePref is derived, never stored */

    put = ngx_pds_json_track(r, json_array());
    if (put == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_array_foreach(prefs, i, pref) {
        if (ngx_strcmp(ngx_pds_pref_type(pref), NGX_PDS_PREF_AGE) != 0) {
            json_array_append(put, pref);
        }
    }

    if (ngx_pds_pref_uid(ctx, &uid) != NGX_OK) {
        ngx_pds_read_done(ctx);
        return ctx->sent_rc;
    }

    ngx_pds_read_done(ctx);

    job = ngx_pcalloc(r->pool, sizeof(ngx_pds_prefs_job_t));
    if (job == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    text = json_dumps(put, JSON_COMPACT);
    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    job->put_len = ngx_strlen(text);
    job->put = ngx_pnalloc(r->pool, job->put_len);
    if (job->put == NULL) {
        free(text);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(job->put, text, job->put_len);
    free(text);

    ngx_pds_pref_key(job->key, uid);
    job->full = full;

    ctx->data = job;

    return ngx_pds_txn_post(ctx, ngx_pds_put_preferences_txn, job,
                            &job->result, ngx_pds_put_preferences_done);
}
