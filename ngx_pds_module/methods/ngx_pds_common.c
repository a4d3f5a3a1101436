/*
 * ngx_pds_module: what several XRPC method files share (declared in
 * ngx_pds_methods_int.h): the handle policy's answers, the PLC directory
 * (URLs, sending an operation, reading an answer), the session's account
 * and its did:key, the signing keys of accounts, AT-URIs, and two common
 * answers.  It uses no other method file.
 */

#include "ngx_pds_methods_int.h"

#include "pds_handle.h"
#include "pds_plc.h"


/* the reference's answer for each refusal of the handle policy */
static const struct {
    const char  *name;
    const char  *message;
} ngx_pds_handle_errors[] = {
    /* PDS_HANDLE_OK */        { NULL, NULL },
    /* PDS_HANDLE_ESYNTAX */   { "InvalidHandle", "Invalid handle" },
    /* PDS_HANDLE_ETLD */      { "InvalidHandle",
                                 "Handle TLD is invalid or disallowed" },
    /* PDS_HANDLE_EDOMAIN */   { "UnsupportedDomain",
                                 "Not a supported handle domain" },
    /* PDS_HANDLE_EDOTS */     { "InvalidHandle",
                                 "Invalid characters in handle" },
    /* PDS_HANDLE_ESHORT */    { "InvalidHandle", "Handle too short" },
    /* PDS_HANDLE_ELONG */     { "InvalidHandle", "Handle too long" },
    /* PDS_HANDLE_ERESERVED */ { "HandleNotAvailable", "Reserved handle" },
};


ngx_int_t
ngx_pds_check_new_handle(ngx_pds_ctx_t *ctx, char *handle)
{
    int          rc;
    size_t       len;
    ngx_str_t   *d;
    ngx_uint_t   i, n;
    pds_span_t  *domains;

    d = ctx->conf->handle_domains->elts;
    n = ctx->conf->handle_domains->nelts;

    domains = ngx_palloc(ctx->request->pool, (n + 1) * sizeof(pds_span_t));
    if (domains == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < n; i++) {
        domains[i].data = (char *) d[i].data;
        domains[i].len = d[i].len;
    }

    len = ngx_strlen(handle);

    rc = pds_handle_check_new(handle, len + 1, handle, len, domains, n);

    if (rc == PDS_HANDLE_OK) {
        return NGX_OK;
    }

    if (rc < 0 || (size_t) rc >= sizeof(ngx_pds_handle_errors)
                                 / sizeof(ngx_pds_handle_errors[0]))
    {
        rc = PDS_HANDLE_ESYNTAX;
    }

    return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST,
                         ngx_pds_handle_errors[rc].name, "%s",
                         ngx_pds_handle_errors[rc].message);
}


ngx_uint_t
ngx_pds_is_service_handle(ngx_pds_srv_conf_t *conf, const char *handle,
    size_t len)
{
    ngx_str_t   *d;
    ngx_uint_t   i;
    pds_span_t   domain;

    d = conf->handle_domains->elts;

    for (i = 0; i < conf->handle_domains->nelts; i++) {
        domain.data = (char *) d[i].data;
        domain.len = d[i].len;

        if (pds_handle_is_service(handle, len, &domain, 1)) {
            return 1;
        }
    }

    return 0;
}


/* ---- the PLC directory ------------------------------------------------- */


ngx_str_t *
ngx_pds_plc_url(ngx_pds_ctx_t *ctx, const char *did, const char *suffix)
{
    ngx_str_t  *url;

    url = ngx_palloc(ctx->request->pool, sizeof(ngx_str_t));
    if (url == NULL) {
        return NULL;
    }

    url->data = ngx_pnalloc(ctx->request->pool, ctx->conf->plc_url.len
                            + ngx_strlen(did) + ngx_strlen(suffix) + 2);
    if (url->data == NULL) {
        return NULL;
    }

    url->len = ngx_sprintf(url->data, "%V/%s%s", &ctx->conf->plc_url, did,
                           suffix)
               - url->data;

    return url;
}


json_t *
ngx_pds_response_json(ngx_pds_ctx_t *ctx)
{
    json_error_t  err;

    if (ctx->response.status != NGX_HTTP_OK) {
        return NULL;
    }

    return ngx_pds_json_track(ctx->request,
                              json_loadb((char *) ctx->response.body.data,
                                         ctx->response.body.len, 0, &err));
}


ngx_int_t
ngx_pds_plc_send(ngx_pds_ctx_t *ctx, const char *did, json_t *op,
    const char *what, ngx_pds_resume_pt done)
{
    ngx_str_t  *url, ct, body;

    body.len = json_dumpb(op, NULL, 0, JSON_COMPACT);
    body.data = ngx_pnalloc(ctx->request->pool, body.len);
    if (body.len == 0 || body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.len = json_dumpb(op, (char *) body.data, body.len, JSON_COMPACT);

    url = ngx_pds_plc_url(ctx, did, "");
    if (url == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&ct, "application/json");

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "pds: %V: PLC operation (%s) for %s sent",
                   &ctx->nsid, what, did);

    return ngx_pds_fetch(ctx, NGX_HTTP_POST, url, &ct, &body, NULL, done);
}


/* ---- accounts ---------------------------------------------------------- */


int
ngx_pds_session_account(ngx_pds_ctx_t *ctx, pds_account_t *acc,
    char *didkey, size_t cap)
{
    int         rc;
    long        n;
    pds_key_t  *key;

    rc = ngx_pds_caller_account(ctx, acc);
    if (rc != 0) {
        return rc;
    }

    if (didkey == NULL) {
        return 0;
    }

    key = pds_key_from_private(PDS_KEY_K256, acc->signing_key,
                               acc->signing_key_len);
    if (key == NULL) {
        return -1;
    }

    n = pds_key_did_key(key, didkey, cap - 1);
    pds_key_free(key);

    if (n < 0) {
        return -1;
    }

    didkey[n] = '\0';

    return 0;
}


static void
ngx_pds_key_cleanup(void *data)
{
    pds_key_free(data);
}


/*
 * Signing keys of the tenant's accounts, kept by this worker for its
 * lifetime (up to NGX_PDS_KEYS_CACHED accounts; others are loaded for each
 * write): deriving the public point costs ~20 us a write otherwise.  An
 * entry is used only while the account row still holds the same private
 * key, so a changed key is never missed.  Entries are never freed, so a
 * thread may sign with one while the event loop looks up another.
 */

#define NGX_PDS_KEYS_CACHED  64

typedef struct {
    uint64_t     uid;
    u_char       priv[32];
    pds_key_t   *key;
} ngx_pds_key_slot_t;

typedef struct {
    ngx_uint_t          n;
    ngx_pds_key_slot_t  slots[NGX_PDS_KEYS_CACHED];
} ngx_pds_keys_t;


static pds_key_t *
ngx_pds_signing_key(ngx_pds_srv_conf_t *conf, uint64_t uid,
    const uint8_t *priv, size_t len)
{
    ngx_uint_t           i;
    ngx_pds_keys_t      *keys;
    ngx_pds_key_slot_t  *slot;

    if (len != 32) {
        return NULL;
    }

    keys = conf->keys;

    if (keys == NULL) {
        keys = ngx_pcalloc(ngx_cycle->pool, sizeof(ngx_pds_keys_t));
        if (keys == NULL) {
            return NULL;
        }

        conf->keys = keys;
    }

    for (i = 0; i < keys->n; i++) {
        slot = &keys->slots[i];

        /* a replaced key stays: a thread may still sign with it */
        if (slot->uid == uid && ngx_memcmp(slot->priv, priv, 32) == 0) {
            return slot->key;
        }
    }

    if (keys->n == NGX_PDS_KEYS_CACHED) {
        return NULL;
    }

    slot = &keys->slots[keys->n];

    slot->key = pds_key_from_private(PDS_KEY_K256, priv, len);
    if (slot->key == NULL) {
        return NULL;
    }

    slot->uid = uid;
    ngx_memcpy(slot->priv, priv, 32);
    keys->n++;

    return slot->key;
}


pds_key_t *
ngx_pds_account_key(ngx_pds_ctx_t *ctx, pds_account_t *acc)
{
    pds_key_t           *key;
    ngx_pool_cleanup_t  *cln;

    key = ngx_pds_signing_key(ctx->conf, acc->uid, acc->signing_key,
                              acc->signing_key_len);
    if (key != NULL) {
        return key;
    }

    /* not cached: made for this request, freed with it */

    cln = ngx_pool_cleanup_add(ctx->request->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    key = pds_key_from_private(PDS_KEY_K256, acc->signing_key,
                               acc->signing_key_len);
    if (key == NULL) {
        return NULL;
    }

    cln->handler = ngx_pds_key_cleanup;
    cln->data = key;

    return key;
}


char *
ngx_pds_at_uri(ngx_pool_t *pool, const char *did, const char *collection,
    size_t clen, const char *rkey, size_t rlen)
{
    u_char  *uri, *p;
    size_t   len;

    len = sizeof("at://") - 1 + ngx_strlen(did);

    if (collection) {
        len += 1 + clen + 1 + rlen;
    }

    uri = ngx_pnalloc(pool, len + 1);
    if (uri == NULL) {
        return NULL;
    }

    p = ngx_sprintf(uri, "at://%s", did);

    if (collection) {
        p = ngx_sprintf(p, "/%*s/%*s", clen, collection, rlen, rkey);
    }

    *p = '\0';

    return (char *) uri;
}


/* ---- common answers ---------------------------------------------------- */


ngx_int_t
ngx_pds_store_failed(ngx_pds_ctx_t *ctx, int rc)
{
    ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                  "pds: storage error %d", rc);

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


ngx_int_t
ngx_pds_written_empty(ngx_pds_ctx_t *ctx)
{
    int  *result = ctx->data;

    if (*result != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_text(ctx->request, NGX_HTTP_OK, "text/plain", NULL,
                             0);
}
