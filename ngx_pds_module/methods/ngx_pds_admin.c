/*
 * ngx_pds_module: the operator's methods (HTTP Basic admin:<password>).
 *
 *   com.atproto.admin.getAccountInfo / getAccountInfos   AccountView
 *   com.atproto.admin.getSubjectStatus                   repo, record, blob
 *   com.atproto.admin.updateSubjectStatus                their takedowns
 *                                  (methods/ngx_pds_admin_subject.c)
 *   com.atproto.admin.getInviteCodes, disableInviteCodes,
 *   disableAccountInvites, enableAccountInvites
 *                                  (methods/ngx_pds_admin_invite.c)
 *   com.atproto.admin.updateAccountPassword              revokes sessions
 *   com.atproto.admin.updateAccountHandle                PLC, #identity
 *   com.atproto.admin.updateAccountEmail
 *   com.atproto.admin.deleteAccount                      no password/token
 *                                  (methods/ngx_pds_admin_account.c)
 *
 * The reference guards the account infos, the subject statuses and the
 * invite methods with its "moderator" check, which sends a Bearer token
 * to the moderation service's check; with no moderation service
 * configured (as here) that is 401 UntrustedIss.  The account methods
 * take the admin password only (401 AuthenticationRequired).
 */

#include "ngx_pds_methods_int.h"
#include "ngx_pds_params.h"

#include "pds_syntax.h"


static ngx_int_t ngx_pds_admin_moderator(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_admin_get_account_info(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_admin_get_account_infos(ngx_pds_ctx_t *ctx);


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

    { ngx_string("com.atproto.admin.getInviteCodes"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_ADMIN, NGX_PDS_IN_NONE, 0, 0,
      ngx_pds_admin_get_invite_codes, ngx_pds_admin_moderator },

    { ngx_string("com.atproto.admin.disableInviteCodes"), NGX_PDS_PROCEDURE,
      NGX_PDS_AUTH_ADMIN, NGX_PDS_IN_JSON, 0, 0,
      ngx_pds_admin_disable_invite_codes, ngx_pds_admin_moderator },

    { ngx_string("com.atproto.admin.disableAccountInvites"),
      NGX_PDS_PROCEDURE, NGX_PDS_AUTH_ADMIN, NGX_PDS_IN_JSON, 0, 0,
      ngx_pds_admin_disable_account_invites, ngx_pds_admin_moderator },

    { ngx_string("com.atproto.admin.enableAccountInvites"),
      NGX_PDS_PROCEDURE, NGX_PDS_AUTH_ADMIN, NGX_PDS_IN_JSON, 0, 0,
      ngx_pds_admin_enable_account_invites, ngx_pds_admin_moderator },

    { ngx_string("com.atproto.admin.updateAccountHandle"),
      NGX_PDS_PROCEDURE, NGX_PDS_AUTH_ADMIN, NGX_PDS_IN_JSON, 0, 0,
      ngx_pds_admin_update_account_handle, NULL },

    { ngx_string("com.atproto.admin.updateAccountEmail"),
      NGX_PDS_PROCEDURE, NGX_PDS_AUTH_ADMIN, NGX_PDS_IN_JSON, 0, 0,
      ngx_pds_admin_update_account_email, NULL },

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
        detail = ngx_pds_invite_json(&inv);
        if (detail) {
            json_object_set_new(view, "invitedBy", detail);
        }
    }

    for (i = 0; i < n; i++) {
        detail = ngx_pds_invite_json(&list[i]);
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

    did = NULL;

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
