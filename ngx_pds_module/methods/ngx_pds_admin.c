/*
 * ngx_pds_module: the operator's methods (HTTP Basic admin:<password>).
 *
 *   com.atproto.admin.getAccountInfo / getAccountInfos   AccountView
 *   com.atproto.admin.getSubjectStatus                   repo subjects
 *   com.atproto.admin.updateSubjectStatus                repo takedowns
 *   com.atproto.admin.updateAccountPassword              revokes sessions
 *   com.atproto.admin.deleteAccount                      no password/token
 *
 * The reference guards the first four with its "moderator" check, which
 * sends a Bearer token to the moderation service's check; with no
 * moderation service configured (as here) that is 401 UntrustedIss.  The
 * last two (methods/ngx_pds_admin_account.c) take the admin password
 * only (401 AuthenticationRequired).
 *
 * A takedown stores its ref in the account row, revokes the refresh
 * tokens and appends #account {active: false, status:
 * "takendown"}; its reversal appends #account active (or "deactivated").
 * Takedowns of single records and blobs are not stored here:
 * updateSubjectStatus refuses such subjects (400 InvalidRequest), and
 * getSubjectStatus answers {applied: false} for an existing one.
 */

#include "ngx_pds_methods_int.h"
#include "ngx_pds_params.h"

#include "pds_blob.h"
#include "pds_cid.h"
#include "pds_syntax.h"


static ngx_int_t ngx_pds_admin_moderator(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_admin_get_account_info(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_admin_get_account_infos(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_admin_get_subject_status(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_admin_update_subject_status(ngx_pds_ctx_t *ctx);


const ngx_pds_method_t  ngx_pds_admin_methods[] = {

    { ngx_string("com.atproto.admin.getAccountInfo"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_ADMIN, NGX_PDS_IN_NONE, 0, 0,
      ngx_pds_admin_get_account_info, ngx_pds_admin_moderator },

    { ngx_string("com.atproto.admin.getAccountInfos"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_ADMIN, NGX_PDS_IN_NONE, 0, 0,
      ngx_pds_admin_get_account_infos, ngx_pds_admin_moderator },

    { ngx_string("com.atproto.admin.getSubjectStatus"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_ADMIN, NGX_PDS_IN_NONE, 0, 0,
      ngx_pds_admin_get_subject_status, ngx_pds_admin_moderator },

    { ngx_string("com.atproto.admin.updateSubjectStatus"), NGX_PDS_PROCEDURE,
      NGX_PDS_AUTH_ADMIN, NGX_PDS_IN_JSON, 0, 0,
      ngx_pds_admin_update_subject_status, ngx_pds_admin_moderator },

    { ngx_string("com.atproto.admin.updateAccountPassword"),
      NGX_PDS_PROCEDURE, NGX_PDS_AUTH_ADMIN, NGX_PDS_IN_JSON, 0, 0,
      ngx_pds_admin_update_account_password, NULL },

    { ngx_string("com.atproto.admin.deleteAccount"), NGX_PDS_PROCEDURE,
      NGX_PDS_AUTH_ADMIN, NGX_PDS_IN_JSON, 0, 0,
      ngx_pds_admin_delete_account, NULL },

    { ngx_null_string, 0, 0, 0, 0, 0, NULL, NULL }
};


/* the reference's moderator check given a Bearer token, no mod service */
static ngx_int_t
ngx_pds_admin_moderator(ngx_pds_ctx_t *ctx)
{
    ngx_str_t  *v;

    if (ctx->request->headers_in.authorization == NULL) {
        return NGX_OK;
    }

    v = &ctx->request->headers_in.authorization->value;

    if (v->len >= 7 && ngx_strncasecmp(v->data, (u_char *) "Bearer ", 7) == 0)
    {
        return ngx_pds_error(ctx, NGX_HTTP_UNAUTHORIZED, "UntrustedIss",
                             "Untrusted issuer");
    }

    return NGX_OK;
}


/* ---- getAccountInfo(s) ------------------------------------------------- */


static json_t *
ngx_pds_admin_code_detail(const pds_invite_t *inv)
{
    size_t   j;
    json_t  *uses;

    uses = json_array();

    for (j = 0; j < inv->nuses; j++) {
        json_array_append_new(uses, json_pack("{s:s, s:s}",
                              "usedBy", inv->uses[j].used_by,
                              "usedAt", inv->uses[j].used_at));
    }

    return json_pack("{s:s, s:I, s:b, s:s, s:s, s:s, s:o}",
                     "code", inv->code,
                     "available", (json_int_t) inv->available,
                     "disabled", inv->disabled,
                     "forAccount", inv->for_account,
                     "createdBy", inv->created_by,
                     "createdAt", inv->created_at,
                     "uses", uses);
}


/*
 * The AccountView of did in txn: 0 with *out set, PDS_NOTFOUND, or an
 * error.
 */
static int
ngx_pds_admin_account_view(ngx_pds_ctx_t *ctx, MDB_txn *txn, const char *did,
    json_t **out)
{
    int             rc;
    size_t          i, n;
    json_t         *view, *invites, *detail;
    pds_store_t    *store = ctx->conf->env->store;
    pds_invite_t    inv, *list;
    pds_account_t   acc;

    rc = pds_account_get_by_did(store, txn, did, &ctx->alloc, &acc);
    if (rc != 0) {
        return rc;
    }

    rc = pds_invite_list_for(store, txn, acc.did, &ctx->alloc, &list, &n);
    if (rc != 0 && rc != PDS_NOTFOUND) {
        return rc;
    }

    if (rc == PDS_NOTFOUND) {
        n = 0;
    }

    view = json_pack("{s:s, s:s, s:s, s:b}",
                     "did", acc.did,
                     "handle", acc.handle ? acc.handle : "handle.invalid",
                     "indexedAt", acc.created_at ? acc.created_at : "",
                     "invitesDisabled", acc.invites_disabled);
    invites = json_array();

    if (view == NULL || invites == NULL) {
        json_decref(view);
        json_decref(invites);
        return ENOMEM;
    }

    if (acc.email) {
        json_object_set_new(view, "email", json_string(acc.email));
    }

    if (acc.email_confirmed_at) {
        json_object_set_new(view, "emailConfirmedAt",
                            json_string(acc.email_confirmed_at));
    }

    if (acc.deactivated_at) {
        json_object_set_new(view, "deactivatedAt",
                            json_string(acc.deactivated_at));
    }

    if (acc.invited_by
        && pds_invite_get(store, txn, acc.invited_by, &ctx->alloc, &inv) == 0)
    {
        detail = ngx_pds_admin_code_detail(&inv);
        if (detail) {
            json_object_set_new(view, "invitedBy", detail);
        }
    }

    for (i = 0; i < n; i++) {
        detail = ngx_pds_admin_code_detail(&list[i]);
        if (detail) {
            json_array_append_new(invites, detail);
        }
    }

    json_object_set_new(view, "invites", invites);

    *out = view;

    return 0;
}


static const ngx_pds_field_t  ngx_pds_admin_did_param[] = {
    { "did", NGX_PDS_V_STRING, NGX_PDS_FMT_DID, NGX_PDS_F_REQUIRED, 0, 0, 0 },
    { NULL, 0, 0, 0, 0, 0, 0 }
};


/* the "did" parameter, checked: NGX_OK or a refusal's status */
static ngx_int_t
ngx_pds_admin_did_arg(ngx_pds_ctx_t *ctx, const char **did)
{
    u_char     *p;
    ngx_int_t   rc;
    ngx_str_t   v;

    rc = ngx_pds_check_params(ctx, ngx_pds_admin_did_param);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_pds_arg(ctx->request, "did", &v) != NGX_OK) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Params must have the property \"did\"");
    }

    p = ngx_pnalloc(ctx->request->pool, v.len + 1);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *ngx_cpymem(p, v.data, v.len) = '\0';
    *did = (char *) p;

    return NGX_OK;
}


static ngx_int_t
ngx_pds_admin_get_account_info(ngx_pds_ctx_t *ctx)
{
    int          rc;
    json_t      *view;
    MDB_txn     *txn;
    ngx_int_t    st;
    const char  *did;

    st = ngx_pds_admin_did_arg(ctx, &did);
    if (st != NGX_OK) {
        return st;
    }

    txn = ngx_pds_read_txn(ctx);
    if (txn == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_pds_admin_account_view(ctx, txn, did, &view);
    ngx_pds_read_done(ctx);

    if (rc == PDS_NOTFOUND) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "NotFound",
                             "Account not found");
    }

    if (rc != 0) {
        return ngx_pds_store_failed(ctx, rc);
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK,
                             ngx_pds_json_track(ctx->request, view));
}


static ngx_int_t
ngx_pds_admin_get_account_infos(ngx_pds_ctx_t *ctx)
{
    int           rc;
    json_t       *answer, *infos, *view;
    MDB_txn      *txn;
    ngx_str_t    *v;
    ngx_uint_t    i, j;
    ngx_array_t   dids;

    if (ngx_array_init(&dids, ctx->request->pool, 4, sizeof(ngx_str_t))
        != NGX_OK
        || ngx_pds_args(ctx->request, "dids", &dids) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (dids.nelts == 0) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Invalid com.atproto.admin.getAccountInfos "
                             "params: Missing required key \"dids\"");
    }

    v = dids.elts;

    for (i = 0; i < dids.nelts; i++) {
        if (!pds_did_valid((char *) v[i].data, v[i].len)) {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "Invalid com.atproto.admin.getAccountInfos "
                                 "params: Invalid DID (got \"%s\") at "
                                 "$.dids[%ui]", v[i].data, i);
        }
    }

    answer = ngx_pds_json_track(ctx->request, json_object());
    infos = json_array();
    if (answer == NULL || infos == NULL) {
        json_decref(infos);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_object_set_new(answer, "infos", infos);

    txn = ngx_pds_read_txn(ctx);
    if (txn == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < dids.nelts; i++) {

        /* each account once, as the reference's map of accounts */
        for (j = 0; j < i; j++) {
            if (v[j].len == v[i].len
                && ngx_strncmp(v[j].data, v[i].data, v[i].len) == 0)
            {
                break;
            }
        }

        if (j < i) {
            continue;
        }

        rc = ngx_pds_admin_account_view(ctx, txn, (char *) v[i].data, &view);

        if (rc == PDS_NOTFOUND) {
            continue;
        }

        if (rc != 0) {
            ngx_pds_read_done(ctx);
            return ngx_pds_store_failed(ctx, rc);
        }

        json_array_append_new(infos, view);
    }

    ngx_pds_read_done(ctx);

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, answer);
}


/* ---- getSubjectStatus -------------------------------------------------- */


/*
 * A record's or a blob's status: takedowns of single records and blobs
 * are not stored here, so an existing one is {applied: false}, as the
 * reference answers for one never taken down.  0 with *answer, or a
 * refusal's status.
 */
static ngx_int_t
ngx_pds_admin_item_status(ngx_pds_ctx_t *ctx, MDB_txn *txn, ngx_str_t *uri,
    ngx_str_t *blob, const char *did, json_t **answer)
{
    int           rc;
    char          cs[PDS_CID_STR_SIZE];
    size_t        n;
    uint64_t      uid;
    pds_cid_t     cid;
    pds_blob_t    b;
    pds_aturi_t   at;
    const uint8_t *p;
    pds_store_t  *store = ctx->conf->env->store;

    *answer = NULL;

    if (blob) {
        if (pds_cid_parse(&cid, (char *) blob->data, blob->len) != 0) {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "Invalid CID: %V", blob);
        }

        rc = pds_repo_uid(store, txn, did, ngx_strlen(did), &uid);
        if (rc == 0) {
            rc = pds_blob_get(store, txn, uid, &cid, &b);
        }

        if (rc == 0) {
            pds_cid_format(&cid, cs);
            *answer = json_pack("{s:{s:s, s:s, s:s}, s:{s:b}}",
                                "subject",
                                    "$type", "com.atproto.admin.defs#repoBlobRef",
                                    "did", did, "cid", cs,
                                "takedown", "applied", 0);
        }

        return rc == 0 || rc == PDS_NOTFOUND ? NGX_OK
                                             : ngx_pds_store_failed(ctx, rc);
    }

    if (pds_aturi_parse((char *) uri->data, uri->len, &at) != 0) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Invalid com.atproto.admin.getSubjectStatus "
                             "params: Invalid AT URI");
    }

    if (!at.authority_is_did || at.rkey.len == 0) {
        return NGX_OK;
    }

    rc = pds_repo_uid(store, txn, at.authority.data, at.authority.len, &uid);
    if (rc == 0) {
        rc = pds_repo_get_record(store, txn, uid, at.collection.data,
                                 at.collection.len, at.rkey.data, at.rkey.len,
                                 &cid, &p, &n);
    }

    if (rc == 0) {
        pds_cid_format(&cid, cs);
        *answer = json_pack("{s:{s:s, s:s%, s:s}, s:{s:b}}",
                            "subject",
                                "$type", "com.atproto.repo.strongRef",
                                "uri", uri->data, uri->len, "cid", cs,
                            "takedown", "applied", 0);
    }

    return rc == 0 || rc == PDS_NOTFOUND ? NGX_OK
                                         : ngx_pds_store_failed(ctx, rc);
}


static ngx_int_t
ngx_pds_admin_get_subject_status(ngx_pds_ctx_t *ctx)
{
    int             rc;
    json_t         *answer, *takedown;
    MDB_txn        *txn;
    ngx_str_t       v, item, *uri, *blob;
    ngx_int_t       st;
    ngx_uint_t      has_did;
    const char     *did;
    pds_account_t   acc;

    uri = NULL;
    blob = NULL;

    has_did = ngx_pds_arg(ctx->request, "did", &v) == NGX_OK && v.len;

    if (ngx_pds_arg(ctx->request, "blob", &item) == NGX_OK && item.len) {
        if (!has_did) {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "Must provide a did to request blob state");
        }
        blob = &item;

    } else if (ngx_pds_arg(ctx->request, "uri", &item) == NGX_OK
               && item.len)
    {
        uri = &item;
    }

    if (blob || uri) {
        did = NULL;
        if (blob) {
            st = ngx_pds_admin_did_arg(ctx, &did);
            if (st != NGX_OK) {
                return st;
            }
        }

        txn = ngx_pds_read_txn(ctx);
        if (txn == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        st = ngx_pds_admin_item_status(ctx, txn, uri, blob, did, &answer);
        ngx_pds_read_done(ctx);

        if (st != NGX_OK) {
            return st;
        }

        if (answer == NULL) {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "NotFound",
                                 "Subject not found");
        }

        return ngx_pds_send_json(ctx->request, NGX_HTTP_OK,
                                 ngx_pds_json_track(ctx->request, answer));
    }

    if (!has_did) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "No provided subject");
    }

    st = ngx_pds_admin_did_arg(ctx, &did);
    if (st != NGX_OK) {
        return st;
    }

    txn = ngx_pds_read_txn(ctx);
    if (txn == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = pds_account_get_by_did(ctx->conf->env->store, txn, did, &ctx->alloc,
                                &acc);
    ngx_pds_read_done(ctx);

    if (rc == PDS_NOTFOUND) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "NotFound",
                             "Subject not found");
    }

    if (rc != 0) {
        return ngx_pds_store_failed(ctx, rc);
    }

    takedown = acc.takedown_ref
               ? json_pack("{s:b, s:s}", "applied", 1, "ref", acc.takedown_ref)
               : json_pack("{s:b}", "applied", 0);

    answer = json_pack("{s:{s:s, s:s}, s:o, s:{s:b}}",
                       "subject",
                           "$type", "com.atproto.admin.defs#repoRef",
                           "did", acc.did,
                       "takedown", takedown,
                       "deactivated",
                           "applied", acc.deactivated_at != NULL);

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK,
                             ngx_pds_json_track(ctx->request, answer));
}


/* ---- updateSubjectStatus ----------------------------------------------- */


typedef struct {
    const char       *did;
    int               has_takedown;
    int               takedown;          /* applied */
    const char       *ref;               /* NULL: none given */
    int               has_deactivated;
    int               deactivated;       /* applied */
    const char       *now;
    int               result;
} ngx_pds_admin_status_t;


static int
ngx_pds_admin_status_do(pds_store_t *store, MDB_txn *txn, void *data,
    pds_alloc_t *a)
{
    int                      rc, active;
    const char              *status;
    pds_account_t            acc;
    ngx_pds_admin_status_t  *st = data;

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


static ngx_int_t
ngx_pds_admin_status_done(ngx_pds_ctx_t *ctx)
{
    json_t                  *answer, *v;
    ngx_pds_admin_status_t  *st = ctx->data;

    if (st->result != 0) {
        return ngx_pds_store_failed(ctx, st->result);
    }

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


static ngx_int_t
ngx_pds_admin_update_subject_status(ngx_pds_ctx_t *ctx)
{
    json_t                  *subject, *v;
    ngx_int_t                rc;
    const char              *type, *did;
    ngx_pds_admin_status_t  *st;

    st = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_admin_status_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = st;

    subject = json_object_get(ctx->body, "subject");
    if (!json_is_object(subject)) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Input must have the property \"subject\"");
    }

    v = json_object_get(subject, "$type");
    type = json_is_string(v) ? json_string_value(v) : "";

    if (ngx_strcmp(type, "com.atproto.repo.strongRef") == 0
        || ngx_strcmp(type, "com.atproto.admin.defs#repoBlobRef") == 0)
    {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Record and blob takedowns are not supported "
                             "here");
    }

    if (ngx_strcmp(type, "com.atproto.admin.defs#repoRef") != 0) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Invalid subject (%s)", type);
    }

    v = json_object_get(subject, "did");
    did = json_is_string(v) ? json_string_value(v) : NULL;

    if (did == NULL) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Missing required key \"did\" at $.subject");
    }

    if (!pds_did_valid(did, ngx_strlen(did))) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Invalid DID at $.subject.did");
    }

    st->did = did;

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

    st->now = ngx_pds_iso_now(ctx->request->pool);
    if (st->now == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_txn_post_alloc(ctx, ngx_pds_admin_status_do, st,
                                  &st->result, ngx_pds_admin_status_done);
}
