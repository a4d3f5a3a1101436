/*
 * ngx_pds_module: app.bsky.actor.getPreferences / putPreferences, kept by
 * the PDS itself as the reference does (actor-store account_pref).
 *
 * The core's preferences table (pds_prefs.h) holds one JSON array of
 * preference objects per account, in the order they were put.  Only the
 * app.bsky namespace is read or replaced here; personalDetailsPref is
 * seen and set by full (password) sessions only, a declaredAgePref is
 * derived from its birthDate on read and never stored.  With an
 * "atproto-proxy" header naming another AppView both methods are
 * forwarded there instead (the proxy layer: ngx_pds_forward.h).
 */

#include "ngx_pds.h"
#include "ngx_pds_methods.h"
#include "ngx_pds_forward.h"

#include "pds_jwt.h"
#include "pds_prefs.h"


#define NGX_PDS_PREF_NS        "app.bsky"
#define NGX_PDS_PREF_PERSONAL  "app.bsky.actor.defs#personalDetailsPref"
#define NGX_PDS_PREF_AGE       "app.bsky.actor.defs#declaredAgePref"

#define NGX_PDS_PREF_DENIED    "Do not have authorization to set preferences: "


typedef struct {
    uint64_t        uid;
    char           *put;           /* the new preferences, a JSON array */
    size_t          put_len;
    ngx_uint_t      full;
    int             result;
} ngx_pds_prefs_job_t;


static ngx_int_t ngx_pds_get_preferences(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_put_preferences(ngx_pds_ctx_t *ctx);


const ngx_pds_method_t  ngx_pds_prefs_methods[] = {

    { ngx_string("app.bsky.actor.getPreferences"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_ACCESS, NGX_PDS_IN_NONE, NGX_PDS_ALLOW_TAKENDOWN, 0,
      ngx_pds_get_preferences, NULL },

    { ngx_string("app.bsky.actor.putPreferences"), NGX_PDS_PROCEDURE,
      NGX_PDS_AUTH_ACCESS, NGX_PDS_IN_JSON, NGX_PDS_CHECK_TAKEDOWN, 0,
      ngx_pds_put_preferences, NULL },

    { ngx_null_string, 0, 0, 0, 0, 0, NULL, NULL }
};


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


/* the caller's uid, in the read transaction: NGX_OK or the refusal */
static ngx_int_t
ngx_pds_pref_uid(ngx_pds_ctx_t *ctx, uint64_t *uid)
{
    int             rc;
    pds_account_t   acc;

    rc = ngx_pds_caller_account(ctx, &acc);

    if (rc == PDS_NOTFOUND) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "AccountNotFound",
                             "Account not found");
    }

    if (rc != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *uid = acc.uid;

    return NGX_OK;
}


/* an OAuth token's rpc permission for the method at the AppView */
static ngx_int_t
ngx_pds_prefs_permit(ngx_pds_ctx_t *ctx)
{
    u_char  *aud, *lxm;

    if (!ctx->auth.oauth) {
        return NGX_OK;
    }

    aud = ngx_pnalloc(ctx->request->pool, ctx->conf->appview_did.len
                      + sizeof("#bsky_appview") + ctx->nsid.len + 1);
    if (aud == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    lxm = ngx_sprintf(aud, "%V#bsky_appview", &ctx->conf->appview_did) + 1;
    lxm[-1] = '\0';
    *ngx_cpymem(lxm, ctx->nsid.data, ctx->nsid.len) = '\0';

    return ngx_pds_auth_permit(ctx, PDS_SCOPE_RPC, (char *) lxm,
                               (char *) aud);
}


/* elsewhere when "atproto-proxy" names another service */
static ngx_uint_t
ngx_pds_prefs_foreign(ngx_pds_ctx_t *ctx)
{
    if (!ngx_pds_proxy_foreign(ctx)) {
        return 0;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "pds: %V forwarded (atproto-proxy)", &ctx->nsid);

    return 1;
}


/* ---- app.bsky.actor.getPreferences ------------------------------------- */


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


/*
 * The caller's stored preferences into *stored (NULL: none, or
 * unreadable): NGX_OK or an error status.
 */
static ngx_int_t
ngx_pds_prefs_load(ngx_pds_ctx_t *ctx, json_t **stored)
{
    int                  rc;
    size_t               len;
    uint64_t             uid;
    ngx_int_t            status;
    const uint8_t       *json;
    ngx_http_request_t  *r = ctx->request;

    *stored = NULL;
    uid = 0;

    status = ngx_pds_pref_uid(ctx, &uid);
    if (status != NGX_OK) {
        ngx_pds_read_done(ctx);
        return status;
    }

    rc = pds_prefs_get(ctx->conf->env->store, ctx->rtxn, uid, &json, &len);

    if (rc == 0) {
        *stored = ngx_pds_json_track(r, json_loadb((const char *) json, len,
                                                   0, NULL));
        if (*stored == NULL || !json_is_array(*stored)) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "pds: unreadable preferences of \"%s\"",
                          ctx->auth.did);
            *stored = NULL;
        }

    } else if (rc != PDS_NOTFOUND) {
        ngx_pds_read_done(ctx);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_pds_read_done(ctx);

    return NGX_OK;
}


/* what the caller sees: its app.bsky preferences, a derived age */
static json_t *
ngx_pds_prefs_visible(ngx_http_request_t *r, json_t *stored, ngx_uint_t full)
{
    size_t       i;
    json_t      *out, *pref, *birth;
    ngx_int_t    age;
    const char  *type;

    out = ngx_pds_json_track(r, json_array());
    if (out == NULL) {
        return NULL;
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

    return out;
}


static ngx_int_t
ngx_pds_get_preferences(ngx_pds_ctx_t *ctx)
{
    json_t     *stored, *out, *answer;
    ngx_int_t   rc;

    if (ngx_pds_prefs_foreign(ctx)) {
        return ngx_pds_proxy_forward(ctx);
    }

    rc = ngx_pds_prefs_permit(ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_pds_prefs_load(ctx, &stored);
    if (rc != NGX_OK) {
        return rc;
    }

    out = ngx_pds_prefs_visible(ctx->request, stored, ngx_pds_pref_full(ctx));
    if (out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    answer = ngx_pds_json_track(ctx->request,
                                json_pack("{s:O}", "preferences", out));
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
}


/* ---- app.bsky.actor.putPreferences ------------------------------------- */


/*
 * In the thread pool, inside the write transaction: the stored
 * preferences this caller may not replace (other namespaces, and
 * personalDetailsPref for partial sessions) followed by the new ones.
 */
static int
ngx_pds_put_preferences_txn(pds_store_t *store, MDB_txn *txn, void *data)
{
    ngx_pds_prefs_job_t  *job = data;

    int             rc;
    char           *text;
    size_t          i, len;
    json_t         *old, *put, *all, *pref;
    const char     *type;
    const uint8_t  *json;

    old = NULL;
    rc = pds_prefs_get(store, txn, job->uid, &json, &len);

    if (rc == 0) {
        old = json_loadb((const char *) json, len, 0, NULL);

    } else if (rc != PDS_NOTFOUND) {
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

    rc = pds_prefs_put(store, txn, job->uid, text, ngx_strlen(text));

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
        return ngx_pds_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                             "InternalServerError", "Internal Server Error");
    }

    return ngx_pds_send_text(ctx->request, NGX_HTTP_OK, "text/plain", NULL,
                             0);
}


/* every preference typed, in app.bsky, and the caller's to set */
static ngx_int_t
ngx_pds_prefs_check(ngx_pds_ctx_t *ctx, json_t *prefs, ngx_uint_t full)
{
    u_char      *p, *last, denied[512];
    size_t       i;
    json_t      *pref;
    ngx_uint_t   n;
    const char  *type;

    json_array_foreach(prefs, i, pref) {
        if (ngx_pds_pref_type(pref) == NULL) {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "Preference is missing a $type");
        }
    }

    json_array_foreach(prefs, i, pref) {
        if (!ngx_pds_pref_in_ns(ngx_pds_pref_type(pref))) {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "Some preferences are not in the "
                                 NGX_PDS_PREF_NS " namespace");
        }
    }

    p = denied;
    last = denied + sizeof(denied) - 1;
    n = 0;

    json_array_foreach(prefs, i, pref) {
        type = ngx_pds_pref_type(pref);

        if (!ngx_pds_pref_allowed(type, full)) {
            p = ngx_slprintf(p, last, "%s%s", n ? ", " : "", type);
            n++;
        }
    }

    *p = '\0';

    if (n) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             NGX_PDS_PREF_DENIED "%s", denied);
    }

    return NGX_OK;
}


/* what to store: the new preferences without declaredAgePref (derived) */
static ngx_int_t
ngx_pds_prefs_job(ngx_pds_ctx_t *ctx, json_t *prefs,
    ngx_pds_prefs_job_t *job)
{
    char    *text;
    size_t   i;
    json_t  *put, *pref;

    put = ngx_pds_json_track(ctx->request, json_array());
    if (put == NULL) {
        return NGX_ERROR;
    }

    json_array_foreach(prefs, i, pref) {
        if (ngx_strcmp(ngx_pds_pref_type(pref), NGX_PDS_PREF_AGE) != 0) {
            json_array_append(put, pref);
        }
    }

    text = json_dumps(put, JSON_COMPACT);
    if (text == NULL) {
        return NGX_ERROR;
    }

    job->put_len = ngx_strlen(text);
    job->put = ngx_pnalloc(ctx->request->pool, job->put_len);
    if (job->put == NULL) {
        free(text);
        return NGX_ERROR;
    }

    ngx_memcpy(job->put, text, job->put_len);
    free(text);

    return NGX_OK;
}


static ngx_int_t
ngx_pds_put_preferences(ngx_pds_ctx_t *ctx)
{
    json_t               *prefs;
    ngx_int_t             rc;
    ngx_pds_prefs_job_t  *job;

    if (ngx_pds_prefs_foreign(ctx)) {
        return ngx_pds_proxy_forward(ctx);
    }

    rc = ngx_pds_prefs_permit(ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    job = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_prefs_job_t));
    if (job == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    job->full = ngx_pds_pref_full(ctx);

    prefs = json_object_get(ctx->body, "preferences");
    if (!json_is_array(prefs)) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Input must have the property \"preferences\"");
    }

    rc = ngx_pds_prefs_check(ctx, prefs, job->full);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_pds_prefs_job(ctx, prefs, job) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_pds_pref_uid(ctx, &job->uid);
    ngx_pds_read_done(ctx);

    if (rc != NGX_OK) {
        return rc;
    }

    ctx->data = job;

    return ngx_pds_txn_post(ctx, ngx_pds_put_preferences_txn, job,
                            &job->result, ngx_pds_put_preferences_done);
}
