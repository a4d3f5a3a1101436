/*
 * ngx_pds_module: com.atproto.server.* and the plain HTTP routes
 * (/, /robots.txt, /xrpc/_health).
 */

#include "ngx_pds.h"
#include "ngx_pds_methods.h"


static ngx_int_t ngx_pds_health(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_describe_server(ngx_pds_ctx_t *ctx);


const ngx_pds_method_t  ngx_pds_server_methods[] = {

    { ngx_string("_health"), NGX_PDS_QUERY, NGX_PDS_AUTH_NONE,
      NGX_PDS_IN_NONE, 0, 0, ngx_pds_health, NULL },

    { ngx_string("com.atproto.server.describeServer"), NGX_PDS_QUERY,
      NGX_PDS_AUTH_NONE, NGX_PDS_IN_NONE, 0, 0, ngx_pds_describe_server, NULL },

    { ngx_null_string, 0, 0, 0, 0, 0, NULL, NULL }
};


static u_char  ngx_pds_banner_text[] =
"\n"
"        _                    _\n"
"   __ _| |_ _ __  _ __ ___  | |_ ___\n"
"  / _` | __| '_ \\| '__/ _ \\ | __/ _ \\\n"
" | (_| | |_| |_) | | | (_) || || (_) |\n"
"  \\__,_|\\__| .__/|_|  \\___(_)__\\___/\n"
"           |_|\n"
"\n"
"This is an AT Protocol Personal Data Server (aka, an atproto PDS),\n"
"served by nginx with ngx_pds_module.\n"
"\n"
"Most API routes are under /xrpc/\n"
"\n"
"      Code: https://github.com/ngx-pds/ngx_pds_module\n"
"  Protocol: https://atproto.com\n";


static u_char  ngx_pds_robots_text[] =
"# Hello!\n"
"\n"
"# Crawling the public API is allowed\n"
"User-agent: *\n"
"Allow: /\n";


static ngx_int_t
ngx_pds_static_text(ngx_http_request_t *r, u_char *text, size_t len)
{
    ngx_int_t  rc;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_pds_send_text(r, NGX_HTTP_OK, "text/plain; charset=utf-8",
                             text, len);
}


ngx_int_t
ngx_pds_banner(ngx_http_request_t *r)
{
    return ngx_pds_static_text(r, ngx_pds_banner_text,
                               sizeof(ngx_pds_banner_text) - 1);
}


ngx_int_t
ngx_pds_robots(ngx_http_request_t *r)
{
    return ngx_pds_static_text(r, ngx_pds_robots_text,
                               sizeof(ngx_pds_robots_text) - 1);
}


static ngx_int_t
ngx_pds_health(ngx_pds_ctx_t *ctx)
{
    json_t              *json;
    ngx_uint_t           ok;
    ngx_http_request_t  *r = ctx->request;

    ok = (ctx->conf->env && pds_store_health(ctx->conf->env->store) == 0);

    if (ok) {
        json = json_pack("{s:s%}", "version", ctx->conf->version.data,
                         ctx->conf->version.len);
    } else {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pds: health check of \"%V\" failed: storage is "
                      "not usable", &ctx->conf->hostname);
        json = json_pack("{s:s%, s:s}", "version", ctx->conf->version.data,
                         ctx->conf->version.len, "error",
                         "Service Unavailable");
    }

    if (ngx_pds_json_track(r, json) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_json(r, ok ? NGX_HTTP_OK
                                   : NGX_HTTP_SERVICE_UNAVAILABLE, json);
}


static json_t *
ngx_pds_json_str(ngx_str_t *s)
{
    return json_stringn((char *) s->data, s->len);
}


static ngx_int_t
ngx_pds_describe_server(ngx_pds_ctx_t *ctx)
{
    json_t              *json, *domains, *links, *contact;
    ngx_str_t           *d;
    ngx_uint_t           i;
    ngx_pds_srv_conf_t  *conf = ctx->conf;

    json = ngx_pds_json_track(ctx->request, json_object());
    if (json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    domains = json_array();
    links = json_object();
    contact = json_object();

    json_object_set_new(json, "did", ngx_pds_json_str(&conf->service_did));
    json_object_set_new(json, "availableUserDomains", domains);
    json_object_set_new(json, "inviteCodeRequired",
                        json_boolean(conf->invite_required));
    /* not in the Lexicon; the reference answers it, and clients read it */
    json_object_set_new(json, "blobUploadLimit",
                        json_integer((json_int_t) conf->blob_upload_limit));
    json_object_set_new(json, "links", links);
    json_object_set_new(json, "contact", contact);

    d = conf->handle_domains->elts;
    for (i = 0; i < conf->handle_domains->nelts; i++) {
        json_array_append_new(domains, ngx_pds_json_str(&d[i]));
    }

    if (conf->privacy_policy_url.len) {
        json_object_set_new(links, "privacyPolicy",
                            ngx_pds_json_str(&conf->privacy_policy_url));
    }

    if (conf->terms_of_service_url.len) {
        json_object_set_new(links, "termsOfService",
                            ngx_pds_json_str(&conf->terms_of_service_url));
    }

    if (conf->contact_email.len) {
        json_object_set_new(contact, "email",
                            ngx_pds_json_str(&conf->contact_email));
    }

    return ngx_pds_send_json(ctx->request, NGX_HTTP_OK, json);
}
