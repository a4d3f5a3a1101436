/*
 * ngx_pds_module: the operator's subject statuses (of ngx_pds_admin_methods;
 * methods/ngx_pds_admin.c holds the table and the moderator check).
 *
 *   com.atproto.admin.getSubjectStatus      a repo (did), a record (uri)
 *                                           or a blob (did + blob)
 *   com.atproto.admin.updateSubjectStatus   takedowns of the three
 *
 * A repo's takedown stores its ref in the account row, revokes the
 * refresh tokens and appends #account {active: false, status:
 * "takendown"}; its reversal appends #account active (or "deactivated").
 * A record's or a blob's takedown is a marker in the takedowns table
 * (core/pds_takedown.c), set only when the record or the blob exists, as
 * the reference updates its row: repo.getRecord and repo.listRecords do
 * not serve such a record, sync.getBlob and uploadBlob refuse such a blob.
 * sync.getRecord and getRepo still carry the record (the reference's: the
 * repository stays whole and verifiable).
 */

#include "ngx_pds_methods_int.h"
#include "ngx_pds_params.h"

#include "pds_blob.h"
#include "pds_cid.h"
#include "pds_syntax.h"
#include "pds_takedown.h"


#define NGX_PDS_ADMIN_NO_REPO  1301         /* result: no such repository */


/* ---- getSubjectStatus -------------------------------------------------- */


static const ngx_pds_field_t  ngx_pds_admin_subject_params[] = {
    { "did", NGX_PDS_V_STRING, NGX_PDS_FMT_DID, 0, 0, 0, 0 },
    { "uri", NGX_PDS_V_STRING, NGX_PDS_FMT_AT_URI, 0, 0, 0, 0 },
    { "blob", NGX_PDS_V_STRING, NGX_PDS_FMT_CID, 0, 0, 0, 0 },
    { NULL, 0, 0, 0, 0, 0, 0 }
};


static json_t *
ngx_pds_admin_takedown_json(int rc, const char *ref)
{
    return rc == 0 ? json_pack("{s:b, s:s}", "applied", 1, "ref", ref)
                   : json_pack("{s:b}", "applied", 0);
}


/*
 * A blob's or a record's status: 0 with *answer (NULL: no such subject),
 * NGX_PDS_ADMIN_NO_REPO, or a storage error.
 */
static int
ngx_pds_admin_item_status(ngx_pds_ctx_t *ctx, MDB_txn *txn, ngx_str_t *did,
    ngx_str_t *uri, ngx_str_t *blob, json_t **answer)
{
    int             rc, trc;
    char            cs[PDS_CID_STR_SIZE], *ref;
    size_t          n;
    uint64_t        uid;
    pds_cid_t       cid;
    pds_blob_t      b;
    pds_aturi_t     at;
    pds_store_t    *store = ctx->conf->env->store;
    const uint8_t  *p;

    *answer = NULL;
    ref = NULL;

    if (blob) {
        if (pds_cid_parse(&cid, (char *) blob->data, blob->len) != 0) {
            return 0;
        }

        rc = pds_repo_uid(store, txn, (char *) did->data, did->len, &uid);
        if (rc != 0) {
            return rc == PDS_NOTFOUND ? NGX_PDS_ADMIN_NO_REPO : rc;
        }

        rc = pds_blob_get(store, txn, uid, &cid, &b);
        if (rc != 0) {
            return rc == PDS_NOTFOUND ? 0 : rc;
        }

        trc = pds_takedown_blob(store, txn, uid, &cid, &ctx->alloc, &ref);
        if (trc != 0 && trc != PDS_NOTFOUND) {
            return trc;
        }

        pds_cid_format(&cid, cs);
        *answer = json_pack("{s:{s:s, s:s%, s:s}, s:o}",
                            "subject",
                                "$type", "com.atproto.admin.defs#repoBlobRef",
                                "did", did->data, did->len,
                                "cid", cs,
                            "takedown", ngx_pds_admin_takedown_json(trc, ref));

        return *answer ? 0 : ENOMEM;
    }

    if (pds_aturi_parse((char *) uri->data, uri->len, &at) != 0) {
        return 0;
    }

    rc = pds_repo_uid(store, txn, at.authority.data, at.authority.len, &uid);
    if (rc != 0) {
        return rc == PDS_NOTFOUND ? NGX_PDS_ADMIN_NO_REPO : rc;
    }

    if (at.rkey.len == 0) {
        return 0;
    }

    rc = pds_repo_get_record(store, txn, uid, at.collection.data,
                             at.collection.len, at.rkey.data, at.rkey.len,
                             &cid, &p, &n);
    if (rc != 0) {
        return rc == PDS_NOTFOUND ? 0 : rc;
    }

    trc = pds_takedown_record(store, txn, uid, at.collection.data,
                              at.collection.len, at.rkey.data, at.rkey.len,
                              &ctx->alloc, &ref);
    if (trc != 0 && trc != PDS_NOTFOUND) {
        return trc;
    }

    pds_cid_format(&cid, cs);
    *answer = json_pack("{s:{s:s, s:s%, s:s}, s:o}",
                        "subject",
                            "$type", "com.atproto.repo.strongRef",
                            "uri", uri->data, uri->len,
                            "cid", cs,
                        "takedown", ngx_pds_admin_takedown_json(trc, ref));

    return *answer ? 0 : ENOMEM;
}


/* a repo's status: 0 with *answer (NULL: no account), or an error */
static int
ngx_pds_admin_repo_status(ngx_pds_ctx_t *ctx, MDB_txn *txn, ngx_str_t *did,
    json_t **answer)
{
    int             rc;
    char           *d;
    pds_account_t   acc;

    *answer = NULL;

    d = ngx_pnalloc(ctx->request->pool, did->len + 1);
    if (d == NULL) {
        return ENOMEM;
    }

    *ngx_cpymem(d, did->data, did->len) = '\0';

    rc = pds_account_get_by_did(ctx->conf->env->store, txn, d, &ctx->alloc,
                                &acc);
    if (rc != 0) {
        return rc == PDS_NOTFOUND ? 0 : rc;
    }

    *answer = json_pack("{s:{s:s, s:s}, s:o, s:{s:b}}",
                        "subject",
                            "$type", "com.atproto.admin.defs#repoRef",
                            "did", acc.did,
                        "takedown",
                            ngx_pds_admin_takedown_json(
                                acc.takedown_ref ? 0 : PDS_NOTFOUND,
                                acc.takedown_ref),
                        "deactivated",
                            "applied", acc.deactivated_at != NULL);

    return *answer ? 0 : ENOMEM;
}


ngx_int_t
ngx_pds_admin_get_subject_status(ngx_pds_ctx_t *ctx)
{
    int         rc;
    json_t     *answer;
    MDB_txn    *txn;
    ngx_int_t   st;
    ngx_str_t   did, uri, blob, *pdid, *puri, *pblob;

    st = ngx_pds_check_params(ctx, ngx_pds_admin_subject_params);
    if (st != NGX_OK) {
        return st;
    }

    pdid = ngx_pds_arg(ctx->request, "did", &did) == NGX_OK && did.len
           ? &did : NULL;
    puri = ngx_pds_arg(ctx->request, "uri", &uri) == NGX_OK && uri.len
           ? &uri : NULL;
    pblob = ngx_pds_arg(ctx->request, "blob", &blob) == NGX_OK && blob.len
            ? &blob : NULL;

    /* the reference's order: a blob, else a record, else a repo */
    if (pblob && pdid == NULL) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Must provide a did to request blob state");
    }

    if (pblob == NULL && puri == NULL && pdid == NULL) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "No provided subject");
    }

    txn = ngx_pds_read_txn(ctx);
    if (txn == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (pblob || puri) {
        rc = ngx_pds_admin_item_status(ctx, txn, pdid, pblob ? NULL : puri,
                                       pblob, &answer);
    } else {
        rc = ngx_pds_admin_repo_status(ctx, txn, pdid, &answer);
    }

    ngx_pds_read_done(ctx);

    if (rc == NGX_PDS_ADMIN_NO_REPO) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "NotFound",
                             "Repo not found");
    }

    if (rc != 0) {
        return ngx_pds_store_failed(ctx, rc);
    }

    if (answer == NULL) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "NotFound",
                             "Subject not found");
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK,
                             ngx_pds_json_track(ctx->request, answer));
}


/* ---- updateSubjectStatus ----------------------------------------------- */


/* the subject's kinds */
#define NGX_PDS_SUBJECT_REPO    0
#define NGX_PDS_SUBJECT_RECORD  1
#define NGX_PDS_SUBJECT_BLOB    2


typedef struct {
    ngx_uint_t        kind;
    const char       *did;               /* the repo's, or the blob's */
    pds_aturi_t       at;                /* a record's */
    pds_cid_t         cid;               /* a blob's */
    int               has_takedown;
    int               takedown;          /* applied */
    const char       *ref;               /* NULL: none given */
    int               has_deactivated;
    int               deactivated;       /* applied */
    const char       *now;
    int               result;
} ngx_pds_admin_status_t;


static const ngx_pds_field_t  ngx_pds_admin_repo_ref[] = {
    { "did", NGX_PDS_V_STRING, NGX_PDS_FMT_DID, NGX_PDS_F_REQUIRED, 0, 0, 0 },
    { NULL, 0, 0, 0, 0, 0, 0 }
};

static const ngx_pds_field_t  ngx_pds_admin_strong_ref[] = {
    { "uri", NGX_PDS_V_STRING, NGX_PDS_FMT_AT_URI, NGX_PDS_F_REQUIRED,
      0, 0, 0 },
    { "cid", NGX_PDS_V_STRING, NGX_PDS_FMT_CID, NGX_PDS_F_REQUIRED, 0, 0, 0 },
    { NULL, 0, 0, 0, 0, 0, 0 }
};

static const ngx_pds_field_t  ngx_pds_admin_blob_ref[] = {
    { "did", NGX_PDS_V_STRING, NGX_PDS_FMT_DID, NGX_PDS_F_REQUIRED, 0, 0, 0 },
    { "cid", NGX_PDS_V_STRING, NGX_PDS_FMT_CID, NGX_PDS_F_REQUIRED, 0, 0, 0 },
    { "recordUri", NGX_PDS_V_STRING, NGX_PDS_FMT_AT_URI, 0, 0, 0, 0 },
    { NULL, 0, 0, 0, 0, 0, 0 }
};


static int
ngx_pds_admin_status_repo(pds_store_t *store, MDB_txn *txn,
    ngx_pds_admin_status_t *st, pds_alloc_t *a)
{
    int             rc, active;
    const char     *status;
    pds_account_t   acc;

    rc = pds_account_get_by_did(store, txn, st->did, a, &acc);
    if (rc == PDS_NOTFOUND) {
        /* the reference updates no row and sequences nothing */
        return 0;
    }

    if (rc != 0) {
        return rc;
    }

    if (st->has_takedown) {
        /* the reference stores the ref, or a fresh TID-like one */
        acc.takedown_ref = st->takedown ? (st->ref ? st->ref : st->now)
                                        : NULL;
    }

    if (st->has_deactivated) {
        acc.deactivated_at = st->deactivated ? st->now : NULL;
        if (!st->deactivated) {
            acc.delete_after = NULL;
        }
    }

    if (st->has_takedown || st->has_deactivated) {
        rc = pds_account_update(store, txn, &acc);
        if (rc != 0) {
            return rc;
        }
    }

    if (st->has_takedown && st->takedown) {
        /* the refresh tokens go, as the reference's takedown */
        rc = pds_token_delete_for(store, txn, acc.did, NULL);
        if (rc != 0 && rc != PDS_NOTFOUND) {
            return rc;
        }
    }

    if (acc.takedown_ref) {
        active = 0;
        status = "takendown";

    } else if (acc.deactivated_at) {
        active = 0;
        status = "deactivated";

    } else {
        active = 1;
        status = NULL;
    }

    rc = pds_repo_event_account(store, txn, acc.did, active, status, NULL);

    return rc == 0 ? 0 : NGX_PDS_TXN_FAILED;
}


/* a record's or a blob's marker, set only if it exists */
static int
ngx_pds_admin_status_item(pds_store_t *store, MDB_txn *txn,
    ngx_pds_admin_status_t *st)
{
    int             rc;
    size_t          n;
    uint64_t        uid;
    pds_cid_t       cid;
    pds_blob_t      b;
    const char     *ref;
    const uint8_t  *p;

    if (st->kind == NGX_PDS_SUBJECT_BLOB) {
        rc = pds_repo_uid(store, txn, st->did, ngx_strlen(st->did), &uid);
    } else {
        rc = pds_repo_uid(store, txn, st->at.authority.data,
                          st->at.authority.len, &uid);
    }

    if (rc != 0) {
        return rc == PDS_NOTFOUND ? NGX_PDS_ADMIN_NO_REPO : rc;
    }

    ref = st->takedown ? (st->ref ? st->ref : st->now) : NULL;

    if (st->kind == NGX_PDS_SUBJECT_BLOB) {
        rc = pds_blob_get(store, txn, uid, &st->cid, &b);
        if (rc == 0) {
            rc = pds_takedown_blob_set(store, txn, uid, &st->cid, ref);
        }

        return rc == PDS_NOTFOUND ? 0 : rc;
    }

    if (st->at.rkey.len == 0) {
        return 0;
    }

    rc = pds_repo_get_record(store, txn, uid, st->at.collection.data,
                             st->at.collection.len, st->at.rkey.data,
                             st->at.rkey.len, &cid, &p, &n);
    if (rc == 0) {
        rc = pds_takedown_record_set(store, txn, uid, st->at.collection.data,
                                     st->at.collection.len, st->at.rkey.data,
                                     st->at.rkey.len, ref);
    }

    return rc == PDS_NOTFOUND ? 0 : rc;
}


static int
ngx_pds_admin_status_do(pds_store_t *store, MDB_txn *txn, void *data,
    pds_alloc_t *a)
{
    ngx_pds_admin_status_t  *st = data;

    if (st->kind == NGX_PDS_SUBJECT_REPO) {
        return ngx_pds_admin_status_repo(store, txn, st, a);
    }

    return ngx_pds_admin_status_item(store, txn, st);
}


/* the answer: the input's subject and takedown, as the reference echoes */
static ngx_int_t
ngx_pds_admin_status_answer(ngx_pds_ctx_t *ctx)
{
    json_t  *answer, *v;

    answer = json_object();
    if (answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_object_set(answer, "subject", json_object_get(ctx->body, "subject"));

    v = json_object_get(ctx->body, "takedown");
    if (v) {
        json_object_set(answer, "takedown", v);
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK,
                             ngx_pds_json_track(ctx->request, answer));
}


static ngx_int_t
ngx_pds_admin_status_done(ngx_pds_ctx_t *ctx)
{
    ngx_pds_admin_status_t  *st = ctx->data;

    if (st->result == NGX_PDS_ADMIN_NO_REPO) {
        /* the reference fails (500) opening an actor store it lacks */
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "NotFound",
                             "Repo not found");
    }

    if (st->result != 0) {
        return ngx_pds_store_failed(ctx, st->result);
    }

    return ngx_pds_admin_status_answer(ctx);
}


/* {applied: boolean, ref?: string}: NGX_OK or a refusal */
static ngx_int_t
ngx_pds_admin_status_attr(ngx_pds_ctx_t *ctx, json_t *attr, const char *name,
    int *applied, const char **ref)
{
    json_t  *v;

    if (!json_is_object(attr)) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Expected object value type at $.%s", name);
    }

    v = json_object_get(attr, "applied");
    if (!json_is_boolean(v)) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Missing required key \"applied\" at $.%s",
                             name);
    }

    *applied = json_is_true(v);

    v = json_object_get(attr, "ref");
    if (v && !json_is_string(v)) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Expected string value type at $.%s.ref", name);
    }

    if (ref) {
        *ref = v ? json_string_value(v) : NULL;
    }

    return NGX_OK;
}


/* the subject, checked for its $type's shape: NGX_OK or a refusal */
static ngx_int_t
ngx_pds_admin_status_subject(ngx_pds_ctx_t *ctx, ngx_pds_admin_status_t *st,
    json_t *subject)
{
    json_t       *v;
    ngx_int_t     rc;
    const char   *type, *s;

    v = json_object_get(subject, "$type");
    type = json_is_string(v) ? json_string_value(v) : "";

    if (ngx_strcmp(type, "com.atproto.admin.defs#repoRef") == 0) {
        st->kind = NGX_PDS_SUBJECT_REPO;
        rc = ngx_pds_check_input(ctx, subject, "$.subject",
                                 ngx_pds_admin_repo_ref);

    } else if (ngx_strcmp(type, "com.atproto.repo.strongRef") == 0) {
        st->kind = NGX_PDS_SUBJECT_RECORD;
        rc = ngx_pds_check_input(ctx, subject, "$.subject",
                                 ngx_pds_admin_strong_ref);
        if (rc == NGX_OK) {
            v = json_object_get(subject, "uri");
            if (pds_aturi_parse(json_string_value(v), json_string_length(v),
                                &st->at) != 0)
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }

    } else if (ngx_strcmp(type, "com.atproto.admin.defs#repoBlobRef") == 0) {
        st->kind = NGX_PDS_SUBJECT_BLOB;
        rc = ngx_pds_check_input(ctx, subject, "$.subject",
                                 ngx_pds_admin_blob_ref);
        if (rc == NGX_OK) {
            v = json_object_get(subject, "cid");
            if (pds_cid_parse(&st->cid, json_string_value(v),
                              json_string_length(v)) != 0)
            {
                /* a CID string of another kind names no blob here */
                return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST,
                                     "InvalidRequest",
                                     "Invalid CID string (got \"%s\") at "
                                     "$.subject.cid", json_string_value(v));
            }
        }

    } else {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Invalid subject (%s)", type);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (st->kind != NGX_PDS_SUBJECT_RECORD) {
        s = json_string_value(json_object_get(subject, "did"));
        st->did = s;
    }

    return NGX_OK;
}


ngx_int_t
ngx_pds_admin_update_subject_status(ngx_pds_ctx_t *ctx)
{
    json_t                  *subject, *v;
    ngx_int_t                rc;
    ngx_pds_admin_status_t  *st;

    st = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_admin_status_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = st;

    subject = json_object_get(ctx->body, "subject");
    if (subject == NULL) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Missing required key \"subject\" at $");
    }

    if (!json_is_object(subject)) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Expected object value type at $.subject");
    }

    rc = ngx_pds_admin_status_subject(ctx, st, subject);
    if (rc != NGX_OK) {
        return rc;
    }

    v = json_object_get(ctx->body, "takedown");
    if (v && !json_is_null(v)) {
        rc = ngx_pds_admin_status_attr(ctx, v, "takedown", &st->takedown,
                                       &st->ref);
        if (rc != NGX_OK) {
            return rc;
        }

        st->has_takedown = 1;
    }

    v = json_object_get(ctx->body, "deactivated");
    if (v && !json_is_null(v)) {
        rc = ngx_pds_admin_status_attr(ctx, v, "deactivated",
                                       &st->deactivated, NULL);
        if (rc != NGX_OK) {
            return rc;
        }

        st->has_deactivated = 1;
    }

    if (st->has_takedown && st->takedown && st->has_deactivated
        && !st->deactivated)
    {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Cannot activate and takedown an account at "
                             "the same time");
    }

    if (st->kind != NGX_PDS_SUBJECT_REPO && !st->has_takedown) {
        /* "deactivated" concerns repos only: nothing to store */
        return ngx_pds_admin_status_answer(ctx);
    }

    st->now = ngx_pds_iso_now(ctx->request->pool);
    if (st->now == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_txn_post_alloc(ctx, ngx_pds_admin_status_do, st,
                                  &st->result, ngx_pds_admin_status_done);
}
