/*
 * ngx_pds_module: an OAuth client's metadata: implied by a loopback
 * client_id, or fetched from the client_id URL through the outbound
 * location with the SSRF rules (https, public addresses only).
 */

#include "ngx_pds_oauth.h"


static ngx_int_t ngx_pds_oauth_client_fetched(ngx_pds_ctx_t *ctx);


static ngx_int_t
ngx_pds_oauth_client_checked(ngx_pds_ctx_t *ctx, ngx_pds_oauth_t *st)
{
    const char  *why;

    if (pds_oauth_client_metadata_check(st->client, st->client_id, &why)
        != 0)
    {
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_client_metadata", why);
    }

    return st->client_done(ctx);
}


ngx_int_t
ngx_pds_oauth_client(ngx_pds_ctx_t *ctx, ngx_pds_oauth_t *st,
    ngx_pds_resume_pt done)
{
    ngx_str_t    url;
    const char  *why;

    st->client_done = done;

    if (st->client_id == NULL) {
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_request",
                                   "Missing client_id");
    }

    switch (pds_oauth_client_id_kind(st->client_id,
                                     ngx_strlen(st->client_id), &why))
    {
    case PDS_OAUTH_CLIENT_LOOPBACK:
        st->client = ngx_pds_json_track(ctx->request,
                         pds_oauth_loopback_metadata(st->client_id,
                             ngx_strlen(st->client_id), &why));
        if (st->client == NULL) {
            return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                       "invalid_client_id", why);
        }
        return ngx_pds_oauth_client_checked(ctx, st);

    case PDS_OAUTH_CLIENT_DISCOVERABLE:
        url.data = (u_char *) st->client_id;
        url.len = ngx_strlen(st->client_id);
        return ngx_pds_fetch_public(ctx, NGX_HTTP_GET, &url, NULL, NULL,
                                    NULL, ngx_pds_oauth_client_fetched);

    default:
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_client_id", why);
    }
}


static ngx_int_t
ngx_pds_oauth_client_fetched(ngx_pds_ctx_t *ctx)
{
    ngx_pds_oauth_t  *st = ngx_pds_oauth_state(ctx);
    ngx_str_t        *b = &ctx->response.body;

    if (ctx->response.status != NGX_HTTP_OK || b->len == 0) {
        ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                      "pds: client metadata of %s: status %ui",
                      st->client_id, ctx->response.status);
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_client_metadata",
                                   "Unable to obtain client metadata");
    }

    st->client = ngx_pds_json_track(ctx->request,
                                    json_loadb((char *) b->data, b->len, 0,
                                               NULL));
    if (st->client == NULL || !json_is_object(st->client)) {
        return ngx_pds_oauth_error(ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_client_metadata",
                                   "Client metadata is not a JSON object");
    }

    return ngx_pds_oauth_client_checked(ctx, st);
}
