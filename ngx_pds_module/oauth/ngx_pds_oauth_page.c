/*
 * ngx_pds_module: GET and POST /oauth/authorize, the sign-in and consent
 * page.  Server-rendered HTML without JavaScript: one form with the
 * identifier (autocomplete=username) and the password
 * (autocomplete=current-password), what the app asks for, "Authorize" and
 * "Deny".  A per-page CSRF token is both a hidden field and a
 * SameSite=Strict cookie; the page may not be framed (frame-ancestors
 * 'none'); redirects go only to the redirect URI the pushed request
 * registered (checked against the client's metadata at PAR).
 */

#include <openssl/crypto.h>

#include "ngx_pds_methods.h"
#include "ngx_pds_mail.h"
#include "ngx_pds_mailed.h"
#include "ngx_pds_oauth.h"
#include "pds_account.h"
#include "pds_hash.h"
#include "pds_password.h"


#define NGX_PDS_OAUTH_CSRF_COOKIE  "pds-oauth-csrf"

/*
 * A password tried on the page is answered after at least this long
 * whatever the outcome, as the reference's sign-in (its
 * TIMING_ATTACK_MITIGATION_DELAY): an identifier with no account would
 * otherwise be answered at once, without scrypt, and tell that no such
 * account (or email address) is here.
 */
#define NGX_PDS_OAUTH_SIGNIN_MIN_MSEC  400

/* outcomes of the code transaction besides 0 and PDS_NOTFOUND */
#define NGX_PDS_OAUTH_FACTOR_INVALID  2001
#define NGX_PDS_OAUTH_FACTOR_EXPIRED  2002


typedef struct {
    const char      *req_id;
    json_t          *par;           /* the pushed request's row */
    const char      *csrf;
    const char      *identifier;
    const char      *password;
    const char      *error;         /* shown on the page */
    const char      *factor;        /* the sign-in code typed, or NULL */
    ngx_uint_t       ask_factor;    /* a code was mailed: ask for it */
    pds_account_t    account;
    ngx_uint_t       matched;
    char             code[PDS_OAUTH_ID_MAX];
    const char      *deny;          /* the error the client is sent */
    ngx_msec_t       started;       /* the password check's */
} ngx_pds_oauth_page_t;


/* the form_post page's one script and its CSP hash (sha256, base64) */
#define NGX_PDS_OAUTH_FORM_SCRIPT       "document.forms[0].submit()"
#define NGX_PDS_OAUTH_FORM_SCRIPT_HASH                                        \
    "sha256-ePniVEkSivX/c7XWBGafqh8tSpiRrKiqYeqbG7N1TOE="


/* ---- text ---------------------------------------------------------------- */

static u_char *
ngx_pds_urlenc(u_char *p, const char *s)
{
    static const char  hex[] = "0123456789ABCDEF";

    for ( ; *s; s++) {
        u_char c = (u_char) *s;

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
            || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
            || c == '~')
        {
            *p++ = c;
        } else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
    }

    return p;
}


static const char *
ngx_pds_page_str(json_t *o, const char *name)
{
    return json_string_value(json_object_get(o, name));
}


/* ---- the page ------------------------------------------------------------ */

static const char  ngx_pds_page_css[] =
"*{box-sizing:border-box}"
"body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,"
"sans-serif;background:#f1f3f5;color:#1b1d21}"
"main{max-width:26rem;margin:6vh auto;padding:0 1rem}"
".card{background:#fff;border-radius:12px;padding:1.75rem;"
"box-shadow:0 1px 3px rgba(0,0,0,.12)}"
"h1{font-size:1.4rem;margin:0 0 .25rem}"
".sub{color:#545b66;margin:0 0 1.25rem}"
".sub strong{overflow-wrap:anywhere}"
"label{display:block;font-weight:600;margin:1rem 0 .3rem}"
"input{width:100%;font:inherit;padding:.65rem .75rem;border:1px solid #b9c0c8;"
"border-radius:8px}"
"input:focus{outline:3px solid #7aa7ff;border-color:#2d6cdf}"
"input[readonly]{background:#eef0f3}"
"ul{padding-left:1.2rem;margin:.5rem 0 0}"
".note{background:#eaf2ff;border:1px solid #b6cdf5;border-radius:8px;"
"padding:.6rem .8rem;margin:1rem 0 0}"
".alert{background:#fdecec;color:#8a1c1c;border:1px solid #f3b4b4;"
"border-radius:8px;padding:.6rem .8rem;margin:0 0 1rem}"
".actions{display:flex;gap:.75rem;margin-top:1.5rem}"
"button{flex:1;font:inherit;font-weight:600;padding:.7rem;border-radius:8px;"
"border:1px solid #2d6cdf;cursor:pointer}"
".accept{background:#2d6cdf;color:#fff}"
".deny{background:#fff;color:#2d6cdf}"
"button:focus{outline:3px solid #7aa7ff;outline-offset:2px}"
"footer{color:#6a717c;font-size:.85rem;margin-top:1rem;text-align:center}";


static ngx_int_t
ngx_pds_oauth_page_send(ngx_pds_ctx_t *ctx, ngx_pds_oauth_page_t *pg,
    ngx_uint_t status)
{
    u_char              *buf, *p;
    size_t               cap;
    const char          *name, *client_id, *scope, *hint;
    json_t              *params;
    u_char              *cookie;
    ngx_http_request_t  *r = ctx->request;
    char                 tok[256];

    params = json_object_get(pg->par, "params");
    client_id = ngx_pds_page_str(pg->par, "client_id");
    name = ngx_pds_page_str(pg->par, "client_name");
    scope = ngx_pds_page_str(params, "scope");
    hint = ngx_pds_page_str(params, "login_hint");

    if (name == NULL) {
        name = client_id;
    }

    cap = sizeof(ngx_pds_page_css) + 8192 + 6 * (ngx_strlen(client_id) * 2 + ngx_strlen(name)
                      + (scope ? ngx_strlen(scope) * 2 : 0)
                      + ngx_pds_oauth_scope_html_len(scope,
                            json_object_get(params, "permission_sets"))
                      + (hint ? ngx_strlen(hint) : 0)
                      + (pg->identifier ? ngx_strlen(pg->identifier) : 0)
                      + (pg->error ? ngx_strlen(pg->error) : 0));

    buf = ngx_pnalloc(r->pool, cap);
    if (buf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(buf, "<!doctype html><html lang=\"en\"><head>"
                    "<meta charset=\"utf-8\">"
                    "<meta name=\"viewport\" content=\"width=device-width,"
                    "initial-scale=1\"><title>Sign in to ");
    p = ngx_pds_oauth_html(p, name);
    p = ngx_sprintf(p, "</title><style>%s</style></head><body><main>"
                    "<div class=\"card\"><h1>Sign in to ", ngx_pds_page_css);
    p = ngx_pds_oauth_html(p, name);
    p = ngx_sprintf(p, "</h1><p class=\"sub\">with your account on ");
    p = ngx_pds_oauth_html(p, (char *) ctx->conf->hostname.data);
    if (ngx_strncmp(client_id, "http://localhost", 16) == 0) {
        p = ngx_sprintf(p, ". A development app running on your computer "
                        "(<strong>http://localhost</strong>) asks to:</p><ul>");

    } else {
        /* the app's site: the client_id up to its path */
        const char  *host = client_id + sizeof("https://") - 1;
        const char  *end = ngx_strchr(host, '/');

        p = ngx_sprintf(p, ". The app at <strong>");
        if (end && (size_t) (end - host) < sizeof(tok)) {
            ngx_memcpy(tok, host, end - host);
            tok[end - host] = '\0';
            p = ngx_pds_oauth_html(p, tok);
        } else {
            p = ngx_pds_oauth_html(p, client_id);
        }
        p = ngx_sprintf(p, "</strong> asks to:</p><ul>");
    }

    p = ngx_pds_oauth_scope_html(p, scope,
                                 json_object_get(params, "permission_sets"));

    p = ngx_sprintf(p, "</ul><form method=\"post\" action=\"/oauth/authorize\">");

    if (pg->error) {
        p = ngx_sprintf(p, "<p class=\"alert\" role=\"alert\">");
        p = ngx_pds_oauth_html(p, pg->error);
        p = ngx_sprintf(p, "</p>");
    }

    p = ngx_sprintf(p, "<input type=\"hidden\" name=\"request_uri\" value=\""
                    NGX_PDS_OAUTH_REQUEST_URI_PREFIX);
    p = ngx_pds_oauth_html(p, pg->req_id);
    p = ngx_sprintf(p, "\"><input type=\"hidden\" name=\"client_id\" value=\"");
    p = ngx_pds_oauth_html(p, client_id);
    p = ngx_sprintf(p, "\"><input type=\"hidden\" name=\"csrf\" value=\"");
    p = ngx_pds_oauth_html(p, pg->csrf);
    p = ngx_sprintf(p, "\"><label for=\"username\">Handle or email</label>"
                    "<input id=\"username\" name=\"username\" type=\"text\" "
                    "autocomplete=\"username\" autocapitalize=\"none\" "
                    "spellcheck=\"false\" required value=\"");
    p = ngx_pds_oauth_html(p, hint ? hint : pg->identifier);
    p = ngx_sprintf(p, "\"%s><label for=\"password\">Password</label>"
                    "<input id=\"password\" name=\"password\" "
                    "type=\"password\" autocomplete=\"current-password\" "
                    "required%s>%s"
                    "<div class=\"actions\">"
                    "<button class=\"deny\" type=\"submit\" name=\"action\" "
                    "value=\"deny\" formnovalidate>Deny</button>"
                    "<button class=\"accept\" type=\"submit\" name=\"action\" "
                    "value=\"accept\">Authorize</button></div></form></div>"
                    "<footer>Only authorize apps you trust. You can revoke "
                    "access at any time.</footer></main></body></html>",
                    hint ? " readonly" : "", hint ? " autofocus" : "",
                    pg->ask_factor
                    ? "<p class=\"note\" role=\"status\">A sign-in code has "
                      "been sent to your email address. Enter it with your "
                      "password.</p><label for=\"code\">Sign-in code</label>"
                      "<input id=\"code\" name=\"code\" type=\"text\" "
                      "autocomplete=\"one-time-code\" autocapitalize="
                      "\"characters\" spellcheck=\"false\" required>"
                    : "");

    if ((size_t) (p - buf) > cap) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_pds_oauth_header(r, "Content-Security-Policy",
                             "default-src 'none'; style-src 'unsafe-inline'; "
                             "frame-ancestors 'none'; base-uri 'none'")
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_pds_oauth_header(r, "X-Frame-Options", "DENY") != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cookie = ngx_pnalloc(r->pool, 160);
    if (cookie == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    (void) ngx_sprintf(cookie, NGX_PDS_OAUTH_CSRF_COOKIE "=%s; Path=/oauth/"
                       "authorize; HttpOnly; SameSite=Strict%s%Z", pg->csrf,
                       ngx_strncmp(ctx->conf->public_url.data, "https:", 6)
                       == 0 ? "; Secure" : "");

    if (ngx_pds_oauth_header(r, "Set-Cookie", (char *) cookie) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_pds_oauth_header(r, "Cache-Control", "no-store") != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_text(r, status, "text/html; charset=utf-8", buf,
                             p - buf);
}


static ngx_int_t
ngx_pds_oauth_page_fail(ngx_pds_ctx_t *ctx, ngx_uint_t status,
    const char *msg)
{
    u_char  *buf, *p;

    buf = ngx_pnalloc(ctx->request->pool,
                      sizeof(ngx_pds_page_css) + 1024 + 6 * ngx_strlen(msg));
    if (buf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(buf, "<!doctype html><html lang=\"en\"><head>"
                    "<meta charset=\"utf-8\"><meta name=\"viewport\" "
                    "content=\"width=device-width,initial-scale=1\">"
                    "<title>Sign-in error</title><style>%s</style></head>"
                    "<body><main><div class=\"card\"><h1>Sign-in error</h1>"
                    "<p class=\"alert\" role=\"alert\">", ngx_pds_page_css);
    p = ngx_pds_oauth_html(p, msg);
    p = ngx_sprintf(p, "</p><p>Go back to the app and start again.</p>"
                    "</div></main></body></html>");

    return ngx_pds_send_text(ctx->request, status, "text/html; charset=utf-8",
                             buf, p - buf);
}


/* ---- the pushed request -------------------------------------------------- */

static ngx_int_t
ngx_pds_oauth_page_request(ngx_pds_ctx_t *ctx, ngx_pds_oauth_page_t *pg,
    const char *request_uri, const char *client_id)
{
    int           rc;
    size_t        pl;
    MDB_txn      *txn;
    pds_store_t  *store;

    pl = sizeof(NGX_PDS_OAUTH_REQUEST_URI_PREFIX) - 1;

    if (request_uri == NULL || client_id == NULL
        || ngx_strncmp(request_uri, NGX_PDS_OAUTH_REQUEST_URI_PREFIX, pl) != 0
        || !pds_oauth_id_ok(request_uri + pl, ngx_strlen(request_uri + pl),
                            "req-", 16))
    {
        return ngx_pds_oauth_page_fail(ctx, NGX_HTTP_BAD_REQUEST,
                                       "This sign-in request is invalid.");
    }

    pg->req_id = request_uri + pl;

    store = ngx_pds_store(ctx->request, ctx->conf);
    txn = ngx_pds_read_txn(ctx);
    if (store == NULL || txn == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = pds_oauth_par_get(store, txn, pg->req_id, ngx_pds_oauth_now_ms(),
                           &pg->par);
    ngx_pds_read_done(ctx);

    if (rc == PDS_NOTFOUND) {
        return ngx_pds_oauth_page_fail(ctx, NGX_HTTP_BAD_REQUEST,
                                       "This sign-in request has expired or "
                                       "was already used.");
    }
    if (rc != 0 || ngx_pds_json_track(ctx->request, pg->par) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_strcmp(ngx_pds_page_str(pg->par, "client_id"), client_id) != 0) {
        return ngx_pds_oauth_page_fail(ctx, NGX_HTTP_BAD_REQUEST,
                                       "This sign-in request belongs to "
                                       "another app.");
    }

    return NGX_OK;
}


/* a query parameter, form-decoded (values may hold '?': a client_id) */
static char *
ngx_pds_oauth_query(ngx_pds_ctx_t *ctx, const char *name)
{
    u_char     *q, *end, *amp, *eq;
    char       *v;
    size_t      n;
    long        vn;
    ngx_str_t  *args = &ctx->request->args;

    n = ngx_strlen(name);
    q = args->data;
    end = args->data + args->len;

    while (q < end) {
        amp = ngx_strlchr(q, end, '&');
        if (amp == NULL) {
            amp = end;
        }

        eq = ngx_strlchr(q, amp, '=');

        if (eq && (size_t) (eq - q) == n && ngx_strncmp(q, name, n) == 0) {
            v = ngx_pnalloc(ctx->request->pool, amp - eq);
            if (v == NULL) {
                return NULL;
            }
            vn = pds_oauth_form_decode((char *) eq + 1, amp - eq - 1, v,
                                       amp - eq);
            return (vn > 0 && (size_t) vn == ngx_strlen(v)) ? v : NULL;
        }

        q = amp + 1;
    }

    return NULL;
}


static ngx_int_t ngx_pds_oauth_page_post(ngx_pds_ctx_t *ctx,
    ngx_pds_oauth_page_t *pg);
static int ngx_pds_oauth_code_txn(pds_store_t *store, MDB_txn *txn,
    void *data);
static ngx_int_t ngx_pds_oauth_page_stored(ngx_pds_ctx_t *ctx);


ngx_int_t
ngx_pds_oauth_authorize(ngx_pds_ctx_t *ctx)
{
    ngx_int_t              rc;
    uint8_t                r[16];
    char                  *csrf;
    const char            *prompt;
    ngx_pds_oauth_t       *st = ngx_pds_oauth_state(ctx);
    ngx_pds_oauth_page_t  *pg;

    pg = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_oauth_page_t));
    if (pg == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    st->data = pg;

    if (ctx->request->method == NGX_HTTP_POST) {
        return ngx_pds_oauth_page_post(ctx, pg);
    }

    rc = ngx_pds_oauth_page_request(ctx, pg,
                                    ngx_pds_oauth_query(ctx, "request_uri"),
                                    ngx_pds_oauth_query(ctx, "client_id"));
    if (rc != NGX_OK || ctx->request->header_sent) {
        return rc;
    }

    /*
     * prompt=none (no page may be shown) and select_account (choose among
     * the accounts signed in on this device): there are no device sessions
     * here, every sign-in asks for the password, so both end the request
     * and send the client the reference's error for a device without one
     */
    prompt = ngx_pds_page_str(json_object_get(pg->par, "params"), "prompt");

    if (prompt && (ngx_strcmp(prompt, "none") == 0
                   || ngx_strcmp(prompt, "select_account") == 0))
    {
        pg->deny = prompt[0] == 'n' ? "login_required"
                                    : "account_selection_required";
        return ngx_pds_txn_post(ctx, ngx_pds_oauth_code_txn, pg, &st->result,
                                ngx_pds_oauth_page_stored);
    }

    csrf = ngx_pnalloc(ctx->request->pool, 33);
    if (csrf == NULL || pds_random(r, sizeof(r)) != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ngx_hex_dump((u_char *) csrf, r, sizeof(r));
    csrf[32] = '\0';
    pg->csrf = csrf;

    return ngx_pds_oauth_page_send(ctx, pg, NGX_HTTP_OK);
}


/* ---- the answer ---------------------------------------------------------- */

/*
 * response_mode=form_post: a page whose form posts the answer to the
 * redirect URI, sent by its one script (allowed by its hash) or, without
 * JavaScript, by its button
 */
static ngx_int_t
ngx_pds_oauth_form_post(ngx_pds_ctx_t *ctx, ngx_pds_oauth_page_t *pg,
    const char *uri, const char *state, const char *error)
{
    u_char              *buf, *p;
    ngx_http_request_t  *r = ctx->request;

    buf = ngx_pnalloc(r->pool, 6 * (ngx_strlen(uri) + ctx->conf->public_url.len
                                    + (state ? ngx_strlen(state) : 0))
                               + 1024);
    if (buf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(buf, "<!doctype html><html lang=\"en\"><head>"
                         "<meta charset=\"utf-8\"><title>Signing in"
                         "</title></head><body><form method=\"post\" "
                         "action=\"");
    p = ngx_pds_oauth_html(p, uri);
    p = ngx_sprintf(p, "\"><input type=\"hidden\" name=\"%s\" value=\"%s\">",
                    error ? "error" : "code", error ? error : pg->code);

    if (state) {
        p = ngx_sprintf(p, "<input type=\"hidden\" name=\"state\" value=\"");
        p = ngx_pds_oauth_html(p, state);
        p = ngx_sprintf(p, "\">");
    }

    p = ngx_sprintf(p, "<input type=\"hidden\" name=\"iss\" value=\"");
    p = ngx_pds_oauth_html(p, (char *) ctx->conf->public_url.data);
    p = ngx_sprintf(p, "\"><noscript><button type=\"submit\">Continue"
                       "</button></noscript></form><script>"
                       NGX_PDS_OAUTH_FORM_SCRIPT "</script></body></html>");

    if (ngx_pds_oauth_header(r, "Content-Security-Policy",
                             "default-src 'none'; script-src '"
                             NGX_PDS_OAUTH_FORM_SCRIPT_HASH "'; "
                             "frame-ancestors 'none'; base-uri 'none'")
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_pds_oauth_header(r, "Cache-Control", "no-store") != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_send_text(r, NGX_HTTP_OK, "text/html; charset=utf-8", buf,
                             p - buf);
}


static ngx_int_t
ngx_pds_oauth_redirect(ngx_pds_ctx_t *ctx, ngx_pds_oauth_page_t *pg,
    const char *error)
{
    u_char              *buf, *p;
    json_t              *params;
    const char          *uri, *state, *mode;
    ngx_http_request_t  *r = ctx->request;

    params = json_object_get(pg->par, "params");
    uri = ngx_pds_page_str(params, "redirect_uri");
    state = ngx_pds_page_str(params, "state");
    mode = ngx_pds_page_str(params, "response_mode");

    if (mode && ngx_strcmp(mode, "form_post") == 0) {
        return ngx_pds_oauth_form_post(ctx, pg, uri, state, error);
    }

    buf = ngx_pnalloc(r->pool, ngx_strlen(uri) + 3 * (ctx->conf->public_url.len
                      + (state ? ngx_strlen(state) : 0)) + 256);
    if (buf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(buf, uri, ngx_strlen(uri));

    if (mode && ngx_strcmp(mode, "fragment") == 0) {
        *p++ = '#';
    } else {
        *p++ = ngx_strchr(uri, '?') ? '&' : '?';
    }

    if (error) {
        p = ngx_sprintf(p, "error=%s", error);
    } else {
        p = ngx_sprintf(p, "code=%s", pg->code);
    }

    if (state) {
        p = ngx_sprintf(p, "&state=");
        p = ngx_pds_urlenc(p, state);
    }

    p = ngx_sprintf(p, "&iss=");
    *p = '\0';
    p = ngx_pds_urlenc(p, (char *) ctx->conf->public_url.data);
    *p = '\0';

    if (ngx_pds_oauth_header(r, "Location", (char *) buf) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = NGX_HTTP_SEE_OTHER;
    r->headers_out.content_length_n = 0;
    r->header_only = 1;

    if (ngx_pds_oauth_header(r, "Cache-Control", "no-store") != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_send_header(r);
}


static int
ngx_pds_oauth_code_txn(pds_store_t *store, MDB_txn *txn, void *data)
{
    int                    rc;
    json_t                *row, *code;
    int64_t                now;
    ngx_pds_oauth_page_t  *pg = data;

    now = ngx_pds_oauth_now_ms();

    /* used once, and not after it expired */
    rc = pds_oauth_par_get(store, txn, pg->req_id, now, &row);
    if (rc != 0) {
        return rc;
    }

    if (pg->factor) {
        rc = pds_email_token_check(store, txn, pg->account.uid,
                                   PDS_TOKEN_SIGN_IN, pg->factor,
                                   ngx_strlen(pg->factor), now);
        if (rc == 0) {
            rc = pds_email_token_delete(store, txn, pg->account.uid,
                                        PDS_TOKEN_SIGN_IN);
        } else if (ngx_pds_token_bad(rc)) {
            json_decref(row);
            return rc == PDS_TOKEN_EXPIRED ? NGX_PDS_OAUTH_FACTOR_EXPIRED
                                           : NGX_PDS_OAUTH_FACTOR_INVALID;
        }
    }

    if (rc == 0) {
        rc = pds_oauth_par_del(store, txn, pg->req_id);
    }

    if (rc == 0 && pg->deny == NULL) {
        code = json_pack("{s:O, s:O, s:s, s:I}",
                         "client_id", json_object_get(row, "client_id"),
                         "params", json_object_get(row, "params"),
                         "sub", pg->account.did,
                         "expires", (json_int_t) (now
                                                  + PDS_OAUTH_CODE_TTL_MS));
        if (code == NULL) {
            rc = -1;

        } else {
            if (json_object_get(row, "auth")) {
                json_object_set(code, "auth", json_object_get(row, "auth"));
            }
            if (json_object_get(row, "dpop_jkt")) {
                json_object_set(code, "dpop_jkt",
                                json_object_get(row, "dpop_jkt"));
            }
            rc = pds_oauth_code_put(store, txn, pg->code, code);
            json_decref(code);
        }
    }

    json_decref(row);
    return rc;
}


static ngx_int_t
ngx_pds_oauth_page_stored(ngx_pds_ctx_t *ctx)
{
    ngx_pds_oauth_t       *st = ngx_pds_oauth_state(ctx);
    ngx_pds_oauth_page_t  *pg = st->data;

    if (st->result == NGX_PDS_OAUTH_FACTOR_EXPIRED
        || st->result == NGX_PDS_OAUTH_FACTOR_INVALID)
    {
        pg->ask_factor = 1;
        pg->error = st->result == NGX_PDS_OAUTH_FACTOR_EXPIRED
                    ? "This sign-in code has expired"
                    : "Invalid sign-in code";
        return ngx_pds_oauth_page_send(ctx, pg, NGX_HTTP_BAD_REQUEST);
    }

    if (st->result == PDS_NOTFOUND) {
        return ngx_pds_oauth_page_fail(ctx, NGX_HTTP_BAD_REQUEST,
                                       "This sign-in request has expired or "
                                       "was already used.");
    }

    if (st->result != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_oauth_redirect(ctx, pg, pg->deny);
}


static void
ngx_pds_oauth_password_work(void *data, ngx_log_t *log)
{
    ngx_pds_oauth_page_t  *pg = data;

    (void) log;

    pg->matched = pg->account.password_scrypt
                  && pds_password_verify(pg->password,
                                         ngx_strlen(pg->password),
                                         pg->account.password_scrypt,
                                         ngx_strlen(pg->account
                                                    .password_scrypt)) == 1;
}


static int
ngx_pds_oauth_factor_txn(pds_store_t *store, MDB_txn *txn, void *data)
{
    ngx_pds_mailed_t       m;
    ngx_pds_oauth_page_t  *pg = data;

    m.uid = pg->account.uid;
    m.purpose = PDS_TOKEN_SIGN_IN;
    m.to = pg->account.email;
    m.did = pg->account.did;
    m.subject = "Your sign-in code";
    m.intro = "Someone signed in to your account with its password to "
              "authorize an app. To finish signing in, enter this code "
              "(valid for 15 minutes):";
    m.outro = "If this was not you, change your password now: the code "
              "alone does not let anyone in.";

    return ngx_pds_mailed_token(store, txn, &m);
}


static ngx_int_t
ngx_pds_oauth_factor_mailed(ngx_pds_ctx_t *ctx)
{
    ngx_pds_oauth_t       *st = ngx_pds_oauth_state(ctx);
    ngx_pds_oauth_page_t  *pg = st->data;

    if (st->result != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_pds_mail_wake(ctx->conf);

    pg->ask_factor = 1;
    return ngx_pds_oauth_page_send(ctx, pg, NGX_HTTP_OK);
}


static ngx_int_t ngx_pds_oauth_password_answer(ngx_pds_ctx_t *ctx);


static ngx_int_t
ngx_pds_oauth_password_checked(ngx_pds_ctx_t *ctx)
{
    ngx_msec_t             elapsed;
    ngx_pds_oauth_t       *st = ngx_pds_oauth_state(ctx);
    ngx_pds_oauth_page_t  *pg = st->data;

    elapsed = ngx_current_msec - pg->started;

    if (elapsed < NGX_PDS_OAUTH_SIGNIN_MIN_MSEC) {
        return ngx_pds_delay(ctx, NGX_PDS_OAUTH_SIGNIN_MIN_MSEC - elapsed,
                             ngx_pds_oauth_password_answer);
    }

    return ngx_pds_oauth_password_answer(ctx);
}


static ngx_int_t
ngx_pds_oauth_password_answer(ngx_pds_ctx_t *ctx)
{
    ngx_pds_oauth_t       *st = ngx_pds_oauth_state(ctx);
    ngx_pds_oauth_page_t  *pg = st->data;

    if (!pg->matched) {
        pg->error = "Invalid identifier or password";
        return ngx_pds_oauth_page_send(ctx, pg, NGX_HTTP_BAD_REQUEST);
    }

    if (pg->account.takedown_ref) {
        pg->error = "This account has been taken down";
        return ngx_pds_oauth_page_send(ctx, pg, NGX_HTTP_FORBIDDEN);
    }

    /* a second factor: the password alone is not enough */
    if (pg->account.email_auth_factor && pg->account.email
        && pg->factor == NULL)
    {
        return ngx_pds_txn_post(ctx, ngx_pds_oauth_factor_txn, pg,
                                &st->result, ngx_pds_oauth_factor_mailed);
    }

    if (!pg->account.email_auth_factor) {
        pg->factor = NULL;
    }

    if (pds_oauth_random_id("cod-", 32, pg->code) != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_txn_post(ctx, ngx_pds_oauth_code_txn, pg, &st->result,
                            ngx_pds_oauth_page_stored);
}


static int
ngx_pds_oauth_page_account(ngx_pds_ctx_t *ctx, ngx_pds_oauth_page_t *pg)
{
    int           rc;
    MDB_txn      *txn;
    pds_store_t  *store;

    store = ngx_pds_store(ctx->request, ctx->conf);
    txn = ngx_pds_read_txn(ctx);
    if (store == NULL || txn == NULL) {
        return -1;
    }

    rc = pds_account_get_by_identifier(store, txn, pg->identifier,
                                       &ctx->alloc, &pg->account);

    ngx_pds_read_done(ctx);
    return rc;
}


/* the value of the request's cookie called name (nginx's parser), or NULL */
static const char *
ngx_pds_oauth_cookie(ngx_http_request_t *r, const char *name)
{
    u_char     *v;
    ngx_str_t   n, value;

    n.data = (u_char *) name;
    n.len = ngx_strlen(name);

#if (nginx_version >= 1023000)
    if (ngx_http_parse_multi_header_lines(r, r->headers_in.cookie, &n,
                                          &value)
        == NULL)
    {
        return NULL;
    }
#else
    if (ngx_http_parse_multi_header_lines(&r->headers_in.cookies, &n,
                                          &value)
        == NGX_DECLINED)
    {
        return NULL;
    }
#endif

    v = ngx_pnalloc(r->pool, value.len + 1);
    if (v == NULL) {
        return NULL;
    }

    *ngx_cpymem(v, value.data, value.len) = '\0';

    return (const char *) v;
}


static ngx_int_t
ngx_pds_oauth_page_post(ngx_pds_ctx_t *ctx, ngx_pds_oauth_page_t *pg)
{
    int               rc;
    const char       *cookie, *action;
    ngx_pds_oauth_t  *st = ngx_pds_oauth_state(ctx);

    rc = ngx_pds_oauth_page_request(ctx, pg,
                                    ngx_pds_oauth_param(st, "request_uri"),
                                    ngx_pds_oauth_param(st, "client_id"));
    if (rc != NGX_OK || ctx->request->header_sent) {
        return rc;
    }

    pg->csrf = ngx_pds_oauth_param(st, "csrf");
    cookie = ngx_pds_oauth_cookie(ctx->request, NGX_PDS_OAUTH_CSRF_COOKIE);

    if (pg->csrf == NULL || cookie == NULL || ngx_strlen(pg->csrf) != 32
        || ngx_strlen(cookie) != 32
        || CRYPTO_memcmp(pg->csrf, cookie, 32) != 0)
    {
        return ngx_pds_oauth_page_fail(ctx, NGX_HTTP_FORBIDDEN,
                                       "The form could not be verified "
                                       "(CSRF). Reload the page and try "
                                       "again.");
    }

    action = ngx_pds_oauth_param(st, "action");

    if (action && ngx_strcmp(action, "deny") == 0) {
        pg->deny = "access_denied";
        return ngx_pds_txn_post(ctx, ngx_pds_oauth_code_txn, pg, &st->result,
                                ngx_pds_oauth_page_stored);
    }

    pg->identifier = ngx_pds_oauth_param(st, "username");
    pg->password = ngx_pds_oauth_param(st, "password");
    pg->factor = ngx_pds_oauth_param(st, "code");

    if (pg->identifier == NULL || pg->password == NULL) {
        pg->error = "Enter your handle or email and your password";
        return ngx_pds_oauth_page_send(ctx, pg, NGX_HTTP_BAD_REQUEST);
    }

    /* password guessing: createSession's limits, its counters */
    if (ngx_pds_ratelimit_signin(ctx, pg->identifier) != NGX_OK) {
        pg->error = "Too many sign-in attempts. Wait a few minutes and "
                    "try again.";
        return ngx_pds_oauth_page_send(ctx, pg, 429);
    }

    pg->started = ngx_current_msec;

    rc = ngx_pds_oauth_page_account(ctx, pg);
    if (rc == PDS_NOTFOUND) {
        /* the same answer as a wrong password */
        pg->account.password_scrypt = NULL;
    } else if (rc != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_thread_post(ctx, ngx_pds_oauth_password_work, pg,
                               ngx_pds_oauth_password_checked);
}
