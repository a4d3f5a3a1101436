/*
 * ngx_pds_module core: OAuth client ids, loopback clients, client metadata
 * and redirect URIs.
 */

#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "pds_oauth.h"
#include "pds_oauth_client.h"


#define PDS_OAUTH_LOOPBACK  "http://localhost"


typedef struct {
    const char  *scheme;        /* without ':' */
    size_t       scheme_len;
    const char  *host;          /* IPv6 literals with their brackets */
    size_t       host_len;
    const char  *port;          /* NULL when absent */
    size_t       port_len;
    const char  *path;
    size_t       path_len;
    const char  *query;         /* after '?', NULL when absent */
    size_t       query_len;
    int          fragment;
    int          userinfo;
    int          authority;     /* "//" present */
} pds_url_t;


static int
pds_url_split(const char *s, pds_url_t *u)
{
    const char  *p, *a, *ae, *end;

    memset(u, 0, sizeof(*u));
    end = s + strlen(s);

    for (p = s; p < end; p++) {
        if ((unsigned char) *p <= 0x20 || *p == 0x7f) {
            return -1;
        }
    }

    p = strchr(s, ':');
    if (p == NULL || p == s) {
        return -1;
    }

    u->scheme = s;
    u->scheme_len = (size_t) (p - s);

    for (a = s; a < p; a++) {
        if (!((*a >= 'a' && *a <= 'z') || (*a >= 'A' && *a <= 'Z')
              || (a > s && ((*a >= '0' && *a <= '9') || *a == '+'
                            || *a == '-' || *a == '.'))))
        {
            return -1;
        }
    }

    p++;

    if (end - p >= 2 && p[0] == '/' && p[1] == '/') {
        u->authority = 1;
        a = p + 2;
        ae = a;
        while (ae < end && *ae != '/' && *ae != '?' && *ae != '#') {
            ae++;
        }
        if (memchr(a, '@', (size_t) (ae - a))) {
            u->userinfo = 1;
            a = (const char *) memchr(a, '@', (size_t) (ae - a)) + 1;
        }
        u->host = a;
        if (a < ae && *a == '[') {
            p = memchr(a, ']', (size_t) (ae - a));
            if (p == NULL) {
                return -1;
            }
            p++;
        } else {
            p = a;
            while (p < ae && *p != ':') {
                p++;
            }
        }
        u->host_len = (size_t) (p - a);
        if (p < ae) {
            if (*p != ':') {
                return -1;
            }
            u->port = p + 1;
            u->port_len = (size_t) (ae - p - 1);
            for (a = u->port; a < ae; a++) {
                if (*a < '0' || *a > '9') {
                    return -1;
                }
            }
            if (u->port_len == 0) {
                u->port = NULL;
            }
        }
        p = ae;
    }

    u->path = p;
    while (p < end && *p != '?' && *p != '#') {
        p++;
    }
    u->path_len = (size_t) (p - u->path);

    if (p < end && *p == '?') {
        u->query = ++p;
        while (p < end && *p != '#') {
            p++;
        }
        u->query_len = (size_t) (p - u->query);
    }

    u->fragment = p < end && *p == '#';

    return 0;
}


static int
pds_url_is(const char *s, size_t n, const char *lit)
{
    return n == strlen(lit) && strncasecmp(s, lit, n) == 0;
}


static int
pds_url_loopback_host(const pds_url_t *u)
{
    return pds_url_is(u->host, u->host_len, "localhost")
           || pds_url_is(u->host, u->host_len, "127.0.0.1")
           || pds_url_is(u->host, u->host_len, "[::1]");
}


static int
pds_url_host_is_ip(const pds_url_t *u)
{
    size_t  i;

    if (u->host_len > 0 && u->host[0] == '[') {
        return 1;
    }

    for (i = 0; i < u->host_len; i++) {
        if (!((u->host[i] >= '0' && u->host[i] <= '9') || u->host[i] == '.')) {
            return 0;
        }
    }

    return u->host_len > 0;
}


long
pds_oauth_form_decode(const char *s, size_t n, char *dst, size_t cap)
{
    size_t  i, o;
    int     h, l;

    if (cap < n + 1) {
        return -1;
    }

    for (i = 0, o = 0; i < n; i++) {
        if (s[i] == '+') {
            dst[o++] = ' ';

        } else if (s[i] == '%' && i + 2 < n) {
            h = s[i + 1];
            l = s[i + 2];
            h = (h >= '0' && h <= '9') ? h - '0'
                : (h | 0x20) >= 'a' && (h | 0x20) <= 'f' ? (h | 0x20) - 'a' + 10
                : -1;
            l = (l >= '0' && l <= '9') ? l - '0'
                : (l | 0x20) >= 'a' && (l | 0x20) <= 'f' ? (l | 0x20) - 'a' + 10
                : -1;
            if (h < 0 || l < 0) {
                dst[o++] = '%';         /* as URLSearchParams: kept */
                continue;
            }
            dst[o++] = (char) (h * 16 + l);
            i += 2;

        } else {
            dst[o++] = s[i];
        }
    }

    dst[o] = '\0';
    return (long) o;
}


/* ---- client ids --------------------------------------------------------- */

pds_oauth_client_kind_t
pds_oauth_client_id_kind(const char *id, size_t len, const char **why)
{
    pds_url_t  u;
    char       buf[2048];
    size_t     i;

    if (len == 0 || len >= sizeof(buf) || memchr(id, '\0', len)) {
        *why = "Invalid client ID";
        return PDS_OAUTH_CLIENT_BAD;
    }

    memcpy(buf, id, len);
    buf[len] = '\0';

    if (len >= 16 && memcmp(buf, PDS_OAUTH_LOOPBACK, 16) == 0) {
        json_t  *md = pds_oauth_loopback_metadata(id, len, why);

        if (md == NULL) {
            return PDS_OAUTH_CLIENT_BAD;
        }
        json_decref(md);
        return PDS_OAUTH_CLIENT_LOOPBACK;
    }

    if (pds_url_split(buf, &u) != 0 || !u.authority
        || !pds_url_is(u.scheme, u.scheme_len, "https"))
    {
        *why = "Invalid client ID: URL must use the \"https:\" protocol";
        return PDS_OAUTH_CLIENT_BAD;
    }

    if (u.host_len == 0 || pds_url_loopback_host(&u)) {
        *why = "Invalid client ID: URL must not use a loopback host";
        return PDS_OAUTH_CLIENT_BAD;
    }

    if (u.userinfo) {
        *why = "ClientID must not contain credentials";
        return PDS_OAUTH_CLIENT_BAD;
    }

    if (u.fragment) {
        *why = "ClientID must not contain a fragment";
        return PDS_OAUTH_CLIENT_BAD;
    }

    if (u.path_len == 0 || (u.path_len == 1 && u.path[0] == '/')) {
        *why = "ClientID must contain a path component "
               "(e.g. \"/client-metadata.json\")";
        return PDS_OAUTH_CLIENT_BAD;
    }

    if (u.path[u.path_len - 1] == '/') {
        *why = "ClientID path must not end with a trailing slash";
        return PDS_OAUTH_CLIENT_BAD;
    }

    if (pds_url_host_is_ip(&u)) {
        *why = "ClientID hostname must not be an IP address";
        return PDS_OAUTH_CLIENT_BAD;
    }

    /* canonical form: no dot segments, lower-case host */
    for (i = 0; i + 1 < u.path_len; i++) {
        if (u.path[i] == '/' && u.path[i + 1] == '.'
            && (i + 2 == u.path_len || u.path[i + 2] == '/'
                || (u.path[i + 2] == '.'
                    && (i + 3 == u.path_len || u.path[i + 3] == '/'))))
        {
            *why = "ClientID must be in canonical form";
            return PDS_OAUTH_CLIENT_BAD;
        }
    }
    for (i = 0; i < u.host_len; i++) {
        if (u.host[i] >= 'A' && u.host[i] <= 'Z') {
            *why = "ClientID must be in canonical form";
            return PDS_OAUTH_CLIENT_BAD;
        }
    }

    return PDS_OAUTH_CLIENT_DISCOVERABLE;
}


/* ---- redirect URIs ------------------------------------------------------ */

int
pds_oauth_redirect_uri_ok(const char *uri, const char **why)
{
    pds_url_t    u;
    const char  *p;
    size_t       dots;

    if (pds_url_split(uri, &u) != 0) {
        *why = "Invalid URL";
        return 0;
    }

    if (pds_url_is(u.scheme, u.scheme_len, "https")) {
        if (!u.authority || u.host_len == 0 || u.userinfo) {
            *why = "Invalid URL";
            return 0;
        }
        if (pds_url_loopback_host(&u)) {
            *why = "https: URL must not use a loopback host";
            return 0;
        }
        return 1;
    }

    if (pds_url_is(u.scheme, u.scheme_len, "http")) {
        if (!u.authority || u.userinfo) {
            *why = "Invalid URL";
            return 0;
        }
        if (pds_url_is(u.host, u.host_len, "localhost")) {
            *why = "Use of \"localhost\" hostname is not allowed (RFC 8252), "
                   "use a loopback IP such as \"127.0.0.1\" instead";
            return 0;
        }
        if (!pds_url_loopback_host(&u)) {
            *why = "URL must use \"localhost\", \"127.0.0.1\" or \"[::1]\" "
                   "as hostname";
            return 0;
        }
        return 1;
    }

    /* a private-use scheme: a reverse domain name ("com.example.app:/cb") */
    dots = 0;
    for (p = u.scheme; p < u.scheme + u.scheme_len; p++) {
        dots += *p == '.';
    }

    if (dots == 0) {
        *why = "Invalid redirect URI scheme";
        return 0;
    }

    if (u.authority || u.path_len == 0 || u.path[0] != '/') {
        *why = "Private-use URI scheme requires a single slash after the "
               "scheme";
        return 0;
    }

    return 1;
}


int
pds_oauth_redirect_uri_match(const char *allowed, const char *req)
{
    pds_url_t  a, r;

    if (strcmp(allowed, req) == 0) {
        return 1;
    }

    if (pds_url_split(allowed, &a) != 0 || pds_url_split(req, &r) != 0
        || !a.authority || !r.authority || !pds_url_loopback_host(&a)
        || pds_url_is(a.host, a.host_len, "localhost"))
    {
        return 0;
    }

    /* a loopback IP: any port if the registered URI has none */
    return (a.port == NULL
            || (r.port && a.port_len == r.port_len
                && memcmp(a.port, r.port, a.port_len) == 0))
           && a.scheme_len == r.scheme_len
           && memcmp(a.scheme, r.scheme, a.scheme_len) == 0
           && a.host_len == r.host_len
           && memcmp(a.host, r.host, a.host_len) == 0
           && a.path_len == r.path_len
           && memcmp(a.path, r.path, a.path_len) == 0
           && ((a.query == NULL && r.query == NULL)
               || (a.query && r.query && a.query_len == r.query_len
                   && memcmp(a.query, r.query, a.query_len) == 0))
           && !r.fragment && !r.userinfo;
}


const char *
pds_oauth_redirect_uri_pick(json_t *md, const char *req, const char **why)
{
    json_t  *uris, *v;
    size_t   i;

    uris = json_object_get(md, "redirect_uris");

    if (req == NULL) {
        if (json_array_size(uris) == 1) {
            return json_string_value(json_array_get(uris, 0));
        }
        *why = "redirect_uri is required";
        return NULL;
    }

    json_array_foreach(uris, i, v) {
        if (json_is_string(v)
            && pds_oauth_redirect_uri_match(json_string_value(v), req))
        {
            return req;
        }
    }

    *why = "Invalid redirect_uri";
    return NULL;
}


/* ---- loopback clients --------------------------------------------------- */

json_t *
pds_oauth_loopback_metadata(const char *id, size_t len, const char **why)
{
    const char  *q, *end, *amp, *eq;
    json_t      *md, *uris, *scope;
    char         key[64], val[2048];
    long         kn, vn;

    if (len < 16 || memcmp(id, PDS_OAUTH_LOOPBACK, 16) != 0) {
        *why = "Invalid loopback client ID: Value must start with "
               "\"http://localhost\"";
        return NULL;
    }

    end = id + len;
    q = id + 16;

    if (memchr(q, '#', (size_t) (end - q))) {
        *why = "Invalid loopback client ID: Value must not contain a hash "
               "component";
        return NULL;
    }

    if (q < end && *q == '/') {
        q++;
    }

    if (q < end && *q != '?') {
        *why = "Invalid loopback client ID: Value must not contain a path "
               "component";
        return NULL;
    }

    if (q < end) {
        q++;
    }

    uris = json_array();
    scope = NULL;
    md = NULL;

    if (uris == NULL) {
        return NULL;
    }

    while (q < end) {
        amp = memchr(q, '&', (size_t) (end - q));
        if (amp == NULL) {
            amp = end;
        }
        if (amp == q) {
            q++;
            continue;
        }

        eq = memchr(q, '=', (size_t) (amp - q));
        if (eq == NULL) {
            eq = amp;
        }

        kn = pds_oauth_form_decode(q, (size_t) (eq - q), key, sizeof(key));
        vn = eq < amp ? pds_oauth_form_decode(eq + 1, (size_t) (amp - eq - 1),
                                              val, sizeof(val))
                      : (val[0] = '\0', 0);

        if (kn < 0 || vn < 0) {
            *why = "Invalid loopback client ID: parameter too long";
            goto fail;
        }

        if (strcmp(key, "scope") == 0) {
            if (scope) {
                *why = "Invalid loopback client ID: Duplicate \"scope\" "
                       "query parameter";
                goto fail;
            }
            if (!pds_oauth_scope_syntax_ok(val, (size_t) vn)) {
                *why = "Invalid loopback client ID: Invalid \"scope\" query "
                       "parameter: Invalid OAuth scope";
                goto fail;
            }
            scope = json_stringn(val, (size_t) vn);

        } else if (strcmp(key, "redirect_uri") == 0) {
            if (strlen(val) != (size_t) vn
                || strncmp(val, "http://", 7) != 0
                || !pds_oauth_redirect_uri_ok(val, why))
            {
                *why = "Invalid loopback client ID: Invalid \"redirect_uri\" "
                       "query parameter";
                goto fail;
            }
            json_array_append_new(uris, json_string(val));

        } else {
            *why = "Invalid loopback client ID: Unexpected query parameter";
            goto fail;
        }

        q = amp + (amp < end);
    }

    if (scope == NULL) {
        scope = json_string("atproto");
    }

    if (!pds_oauth_scope_has(json_string_value(scope),
                             json_string_length(scope), "atproto"))
    {
        *why = "ATProto Loopback ClientID must include \"atproto\" scope";
        goto fail;
    }

    if (json_array_size(uris) == 0) {
        json_array_append_new(uris, json_string("http://127.0.0.1/"));
        json_array_append_new(uris, json_string("http://[::1]/"));
    }

    md = json_pack("{s:s#, s:s, s:o, s:o, s:[s], s:[s, s], s:s, s:s, s:b}",
                   "client_id", id, (int) len,
                   "client_name", "Loopback client",
                   "redirect_uris", uris,
                   "scope", scope,
                   "response_types", "code",
                   "grant_types", "authorization_code", "refresh_token",
                   "token_endpoint_auth_method", "none",
                   "application_type", "native",
                   "dpop_bound_access_tokens", 1);

    return md;

fail:

    json_decref(uris);
    if (scope) {
        json_decref(scope);
    }
    return NULL;
}


/* ---- metadata ----------------------------------------------------------- */

static int
pds_oauth_has_str(json_t *arr, const char *s)
{
    json_t  *v;
    size_t   i;

    json_array_foreach(arr, i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
pds_oauth_str_array(json_t *v)
{
    json_t  *e;
    size_t   i;

    if (!json_is_array(v)) {
        return 0;
    }

    json_array_foreach(v, i, e) {
        if (!json_is_string(e)) {
            return 0;
        }
    }

    return 1;
}


/*
 * A discoverable client's private-use scheme redirect URIs (RFC 8252 7.1,
 * the atproto OAuth profile): the scheme must be the client_id's host name
 * in reverse order ("com.example.app:/cb" for https://app.example.com/...),
 * so that an app cannot claim another domain's scheme.  0, or -1 with why.
 */
static int
pds_oauth_private_schemes_ok(json_t *uris, const char *client_id,
    const char **why)
{
    size_t       i, o, end, start;
    json_t      *e;
    pds_url_t    id, u;
    char         rev[256];

    if (pds_url_split(client_id, &id) != 0 || id.host_len >= sizeof(rev)) {
        *why = "Invalid client ID";
        return -1;
    }

    /* the host's labels, last first */
    o = 0;
    end = id.host_len;

    while (end > 0) {
        start = end;
        while (start > 0 && id.host[start - 1] != '.') {
            start--;
        }

        memcpy(rev + o, id.host + start, end - start);
        o += end - start;

        if (start == 0) {
            break;
        }

        rev[o++] = '.';
        end = start - 1;
    }

    json_array_foreach(uris, i, e) {
        if (pds_url_split(json_string_value(e), &u) != 0) {
            *why = "Invalid URL";
            return -1;
        }

        if (memchr(u.scheme, '.', u.scheme_len) != NULL
            && (u.scheme_len != o || strncasecmp(u.scheme, rev, o) != 0))
        {
            *why = "Private-Use URI Scheme redirect URI, for discoverable "
                   "client metadata, must be the fully qualified domain "
                   "name (FQDN) of the client_id, in reverse order";
            return -1;
        }
    }

    return 0;
}


int
pds_oauth_client_metadata_check(json_t *md, const char *client_id,
    const char **why)
{
    json_t      *v, *e;
    const char  *s, *method, *app;
    size_t       i, j;
    int          loopback;

    if (!json_is_object(md)) {
        *why = "Client metadata must be a JSON object";
        return -1;
    }

    loopback = strncmp(client_id, PDS_OAUTH_LOOPBACK, 16) == 0;

    s = json_string_value(json_object_get(md, "client_id"));
    if (s == NULL || strcmp(s, client_id) != 0) {
        *why = "client_id does not match";
        return -1;
    }

    if (json_object_get(md, "jwks_uri") && json_object_get(md, "jwks")) {
        *why = "jwks_uri and jwks are mutually exclusive";
        return -1;
    }

    v = json_object_get(md, "scope");
    s = json_string_value(v);
    if (s == NULL) {
        *why = "Missing scope property";
        return -1;
    }
    if (!pds_oauth_scope_syntax_ok(s, strlen(s))
        || !pds_oauth_scope_has(s, strlen(s), "atproto"))
    {
        *why = "Missing \"atproto\" scope";
        return -1;
    }

    v = json_object_get(md, "grant_types");
    if (v == NULL) {
        /* the default of RFC 7591 */
        v = json_pack("[s]", "authorization_code");
        json_object_set_new(md, "grant_types", v);
    }
    if (!pds_oauth_str_array(v)) {
        *why = "Invalid grant_types";
        return -1;
    }
    json_array_foreach(v, i, e) {
        s = json_string_value(e);
        if (strcmp(s, "authorization_code") != 0
            && strcmp(s, "refresh_token") != 0)
        {
            *why = "Unsupported grant type";
            return -1;
        }
        for (j = i + 1; j < json_array_size(v); j++) {
            if (strcmp(s, json_string_value(json_array_get(v, j))) == 0) {
                *why = "Duplicate grant type";
                return -1;
            }
        }
    }

    v = json_object_get(md, "response_types");
    if (v == NULL) {
        v = json_pack("[s]", "code");
        json_object_set_new(md, "response_types", v);
    }
    if (!pds_oauth_str_array(v) || !pds_oauth_has_str(v, "code")) {
        *why = "response_types must include \"code\"";
        return -1;
    }
    if (!pds_oauth_has_str(json_object_get(md, "grant_types"),
                           "authorization_code"))
    {
        *why = "The \"code\" response type requires that \"grant_types\" "
               "contains \"authorization_code\"";
        return -1;
    }

    if (json_object_get(md, "dpop_bound_access_tokens") != json_true()) {
        *why = "\"dpop_bound_access_tokens\" must be true";
        return -1;
    }

    if (json_object_get(md, "authorization_encrypted_response_alg")
        || json_object_get(md, "authorization_encrypted_response_enc"))
    {
        *why = "Encrypted authorization response is not supported";
        return -1;
    }

    if (json_object_get(md, "tls_client_certificate_bound_access_tokens")
        == json_true())
    {
        *why = "Mutual-TLS bound access tokens are not supported";
        return -1;
    }

    v = json_object_get(md, "redirect_uris");
    if (!pds_oauth_str_array(v) || json_array_size(v) == 0) {
        *why = "At least one redirect_uri is required";
        return -1;
    }
    json_array_foreach(v, i, e) {
        if (!pds_oauth_redirect_uri_ok(json_string_value(e), why)) {
            return -1;
        }
    }

    if (!loopback && pds_oauth_private_schemes_ok(v, client_id, why) != 0) {
        return -1;
    }

    method = json_string_value(json_object_get(md,
                                               "token_endpoint_auth_method"));
    if (method == NULL) {
        method = "client_secret_basic";     /* the RFC 7591 default */
    }

    app = json_string_value(json_object_get(md, "application_type"));
    if (app == NULL) {
        app = "web";
    }
    if (strcmp(app, "web") != 0 && strcmp(app, "native") != 0) {
        *why = "Invalid application_type";
        return -1;
    }

    if (strcmp(method, "none") == 0) {
        if (json_object_get(md, "token_endpoint_auth_signing_alg")) {
            *why = "token_endpoint_auth_method \"none\" must not have "
                   "token_endpoint_auth_signing_alg";
            return -1;
        }

    } else if (strcmp(method, "private_key_jwt") == 0) {
        v = json_object_get(md, "jwks");
        if (v == NULL && json_object_get(md, "jwks_uri") == NULL) {
            *why = "private_key_jwt auth method requires jwks or jwks_uri";
            return -1;
        }
        if (v && json_array_size(json_object_get(v, "keys")) == 0) {
            *why = "private_key_jwt auth method requires at least one key "
                   "in jwks";
            return -1;
        }
        if (!json_is_string(json_object_get(md,
                                         "token_endpoint_auth_signing_alg")))
        {
            *why = "Missing token_endpoint_auth_signing_alg client metadata";
            return -1;
        }
        if (strcmp(app, "native") == 0) {
            *why = "Native clients must authenticate using \"none\" method";
            return -1;
        }

    } else {
        *why = "Unsupported client authentication method. Make sure "
               "\"token_endpoint_auth_method\" is set to one of: \"none\", "
               "\"private_key_jwt\"";
        return -1;
    }

    if (loopback) {
        if (json_object_get(md, "client_uri")) {
            *why = "client_uri is not allowed for loopback clients";
            return -1;
        }
        if (strcmp(app, "native") != 0) {
            *why = "Loopback clients must have application_type \"native\"";
            return -1;
        }
        if (strcmp(method, "none") != 0) {
            *why = "Loopback clients are not allowed to use "
                   "\"token_endpoint_auth_method\" private_key_jwt";
            return -1;
        }
    }

    return 0;
}
