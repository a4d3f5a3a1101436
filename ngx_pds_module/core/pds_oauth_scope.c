/*
 * ngx_pds_module core: atproto OAuth permission scopes (see the header).
 */

#include <string.h>

#include "pds_enc.h"
#include "pds_oauth_scope.h"
#include "pds_syntax.h"


typedef int (*pds_scope_valid_pt)(const char *s, size_t len);

typedef struct {
    const char          *name;
    unsigned             multiple:1;
    unsigned             required:1;
    pds_scope_valid_pt   valid;
} pds_scope_field_t;

typedef struct {
    const char          *prefix;
    pds_scope_kind_e     kind;
    pds_scope_field_t    f[2];            /* f[0] is the positional one */
} pds_scope_schema_t;


/* ---- validators ------------------------------------------------------- */

static int
pds_scope_is(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(s, lit, len) == 0;
}


static int
pds_scope_nsid_or_star(const char *s, size_t len)
{
    return pds_scope_is(s, len, "*") || pds_nsid_valid(s, len);
}


static int
pds_scope_repo_action(const char *s, size_t len)
{
    return pds_scope_is(s, len, "create") || pds_scope_is(s, len, "update")
           || pds_scope_is(s, len, "delete");
}


static int
pds_scope_account_attr(const char *s, size_t len)
{
    return pds_scope_is(s, len, "email") || pds_scope_is(s, len, "repo")
           || pds_scope_is(s, len, "status");
}


static int
pds_scope_account_action(const char *s, size_t len)
{
    return pds_scope_is(s, len, "read") || pds_scope_is(s, len, "manage");
}


static int
pds_scope_identity_attr(const char *s, size_t len)
{
    return pds_scope_is(s, len, "handle") || pds_scope_is(s, len, "*");
}


/* a URI fragment (RFC 3986): pchar / "/" / "?" */
static int
pds_scope_fragment(const char *s, size_t len)
{
    size_t         i;
    unsigned char  c;

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9')
            || (c != '\0' && strchr("-._~!$&'()*+,;=:@/?", c)))
        {
            continue;
        }
        if (c == '%' && i + 2 < len && pds_hex_val(s[i + 1]) >= 0
            && pds_hex_val(s[i + 2]) >= 0)
        {
            i += 2;
            continue;
        }
        return 0;
    }

    return 1;
}


/* "did:plc:..." or a did:web without path or port: a DID atproto allows */
static int
pds_scope_atproto_did(const char *s, size_t len)
{
    size_t  i;

    if (!pds_did_valid(s, len)) {
        return 0;
    }

    if (len > 8 && memcmp(s, "did:plc:", 8) == 0) {
        if (len != 32) {
            return 0;
        }
        for (i = 8; i < len; i++) {
            if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '2' && s[i] <= '7')))
            {
                return 0;
            }
        }
        return 1;
    }

    if (len > 8 && memcmp(s, "did:web:", 8) == 0) {
        if (memchr(s + 8, ':', len - 8) != NULL) {
            return 0;                                   /* a path */
        }
        if ((len - 8 >= 9 && memcmp(s + 8, "localhost", 9) == 0
             && (len == 17 || s[17] == '%')))
        {
            return 1;
        }
        /* a port ("%3A", as the reference looks for it) */
        for (i = 8; i + 3 <= len; i++) {
            if (s[i] == '%' && s[i + 1] == '3' && s[i + 2] == 'A') {
                return 0;
            }
        }
        return 1;
    }

    return 0;
}


/* "did:...#fragment" of a DID atproto allows */
static int
pds_scope_did_ref(const char *s, size_t len)
{
    const char  *h;

    h = memchr(s, '#', len);
    if (h == NULL || h == s + len - 1
        || memchr(h + 1, '#', len - (h + 1 - s)) != NULL)
    {
        return 0;
    }

    return pds_scope_fragment(h + 1, len - (h + 1 - s))
           && pds_scope_atproto_did(s, h - s);
}


static int
pds_scope_aud(const char *s, size_t len)
{
    return pds_scope_is(s, len, "*") || pds_scope_did_ref(s, len);
}


/* the reference's isStringSlashString */
static int
pds_scope_slash(const char *s, size_t len)
{
    const char  *sl;

    sl = memchr(s, '/', len);

    return sl != NULL && sl != s && sl != s + len - 1
           && memchr(sl + 1, '/', len - (sl + 1 - s)) == NULL
           && memchr(s, ' ', len) == NULL;
}


int
pds_scope_mime_ok(const char *s, size_t len)
{
    return pds_scope_slash(s, len) && memchr(s, '*', len) == NULL;
}


static int
pds_scope_accept(const char *s, size_t len)
{
    if (pds_scope_is(s, len, "*/*")) {
        return 1;
    }

    if (!pds_scope_slash(s, len)) {
        return 0;
    }

    return memchr(s, '*', len) == NULL
           || (len >= 2 && s[len - 2] == '/' && s[len - 1] == '*');
}


static const pds_scope_schema_t  pds_scope_schemas[] = {
    { "repo", PDS_SCOPE_REPO,
      { { "collection", 1, 1, pds_scope_nsid_or_star },
        { "action", 1, 0, pds_scope_repo_action } } },
    { "rpc", PDS_SCOPE_RPC,
      { { "lxm", 1, 1, pds_scope_nsid_or_star },
        { "aud", 0, 1, pds_scope_aud } } },
    { "blob", PDS_SCOPE_BLOB,
      { { "accept", 1, 1, pds_scope_accept },
        { NULL, 0, 0, NULL } } },
    { "account", PDS_SCOPE_ACCOUNT,
      { { "attr", 0, 1, pds_scope_account_attr },
        { "action", 1, 0, pds_scope_account_action } } },
    { "identity", PDS_SCOPE_IDENTITY,
      { { "attr", 0, 1, pds_scope_identity_attr },
        { NULL, 0, 0, NULL } } },
    { "include", PDS_SCOPE_INCLUDE,
      { { "nsid", 0, 1, pds_nsid_valid },
        { "aud", 0, 0, pds_scope_did_ref } } },
};


/* ---- decoding --------------------------------------------------------- */

/*
 * Decodes s into *p (form: '+' is a space and a bad escape stays as it
 * is, as URLSearchParams; else decodeURIComponent, which refuses a bad
 * escape).  Decoded bytes outside ASCII are refused (no validator takes
 * them).  Returns the length, or -1.
 */
static long
pds_scope_decode(const char *s, size_t len, char **p, char *end, int form)
{
    int     h1, h2, c;
    char   *d = *p, *start = *p;
    size_t  i;

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (c == '%') {
            h1 = (i + 1 < len) ? pds_hex_val(s[i + 1]) : -1;
            h2 = (i + 2 < len) ? pds_hex_val(s[i + 2]) : -1;
            if (h1 >= 0 && h2 >= 0) {
                c = h1 << 4 | h2;
                i += 2;
            } else if (!form) {
                return -1;
            }
        } else if (c == '+' && form) {
            c = ' ';
        }

        if (c == 0 || c > 0x7e || d >= end - 1) {
            return -1;
        }
        *d++ = (char) c;
    }

    *d++ = '\0';
    *p = d;

    return d - start - 1;
}


/* ---- parsing ---------------------------------------------------------- */

static const pds_scope_schema_t *
pds_scope_schema(const char *v, size_t len, size_t *plen)
{
    size_t  i, n;

    for (n = 0; n < len && v[n] != ':' && v[n] != '?'; n++) {
        /* the prefix */
    }

    for (i = 0; i < sizeof(pds_scope_schemas) / sizeof(pds_scope_schemas[0]);
         i++)
    {
        if (pds_scope_is(v, n, pds_scope_schemas[i].prefix)) {
            *plen = n;
            return &pds_scope_schemas[i];
        }
    }

    return NULL;
}


static int
pds_scope_add(pds_scope_parsed_t *out, int f, const char *s)
{
    if (out->n[f] == PDS_SCOPE_SHOW_MAX) {
        return -1;
    }
    out->v[f][out->n[f]++] = s;
    return 0;
}


int
pds_scope_parse(const char *v, size_t len, pds_scope_parsed_t *out)
{
    int                        f, have_pos;
    long                       kl, vl;
    char                      *p, *end, *pos, *key, *val;
    size_t                     plen, i, j, n;
    const char                *q, *amp, *eq, *seg;
    const pds_scope_schema_t  *sc;

    memset(out, 0, sizeof(*out) - sizeof(out->buf));

    if (len == 0 || len > PDS_SCOPE_VALUE_MAX) {
        return -1;
    }

    if (pds_scope_is(v, len, "atproto")
        || pds_scope_is(v, len, "transition:email")
        || pds_scope_is(v, len, "transition:generic")
        || pds_scope_is(v, len, "transition:chat.bsky"))
    {
        out->kind = PDS_SCOPE_STATIC;
        return 0;
    }

    sc = pds_scope_schema(v, len, &plen);
    if (sc == NULL) {
        return -1;
    }

    p = out->buf;
    end = out->buf + sizeof(out->buf);
    q = memchr(v, '?', len);
    pos = NULL;
    have_pos = 0;

    if (plen < len && v[plen] == ':') {
        n = (q ? (size_t) (q - v) : len) - plen - 1;
        pos = p;
        if (pds_scope_decode(v + plen + 1, n, &p, end, 0) < 0) {
            return -1;
        }
        have_pos = 1;
    }

    /* the query: every key is the schema's; values decoded in order */
    if (q != NULL && (size_t) (q - v) < len - 1) {
        seg = q + 1;
        while (seg < v + len) {
            amp = memchr(seg, '&', v + len - seg);
            n = (amp ? amp : v + len) - seg;
            if (n > 0) {
                eq = memchr(seg, '=', n);
                key = p;
                kl = pds_scope_decode(seg, eq ? (size_t) (eq - seg) : n, &p,
                                      end, 1);
                val = p;
                vl = eq ? pds_scope_decode(eq + 1, n - (eq + 1 - seg), &p,
                                           end, 1)
                        : pds_scope_decode("", 0, &p, end, 1);
                if (kl < 0 || vl < 0) {
                    return -1;
                }
                for (f = 0; f < 2; f++) {
                    if (sc->f[f].name && strcmp(sc->f[f].name, key) == 0) {
                        break;
                    }
                }
                if (f == 2) {
                    return -1;
                }
                if (pds_scope_add(out, f, val) != 0) {
                    return -1;
                }
            }
            seg += n + 1;
        }
    }

    for (f = 0; f < 2 && sc->f[f].name; f++) {
        if (out->n[f] > 0) {
            if ((f == 0 && have_pos)
                || (!sc->f[f].multiple && out->n[f] > 1))
            {
                return -1;
            }
            for (i = 0; i < (size_t) out->n[f]; i++) {
                if (!sc->f[f].valid(out->v[f][i], strlen(out->v[f][i]))) {
                    return -1;
                }
            }
        } else if (f == 0 && have_pos) {
            if (!sc->f[0].valid(pos, strlen(pos))) {
                return -1;
            }
            out->v[0][0] = pos;
            out->n[0] = 1;
        } else if (sc->f[f].required) {
            return -1;
        }
    }

    /* rpc:*?aud=* is refused */
    if (sc->kind == PDS_SCOPE_RPC && strcmp(out->v[1][0], "*") == 0) {
        for (j = 0; j < (size_t) out->n[0]; j++) {
            if (strcmp(out->v[0][j], "*") == 0) {
                return -1;
            }
        }
    }

    out->kind = sc->kind;

    return 0;
}


pds_scope_kind_e
pds_scope_value_kind(const char *v, size_t len)
{
    pds_scope_parsed_t  ps;

    if (pds_scope_parse(v, len, &ps) != 0) {
        return PDS_SCOPE_NONE;
    }

    return ps.kind;
}


/* ---- matching --------------------------------------------------------- */

static int
pds_scope_listed(const pds_scope_parsed_t *ps, int f, const char *s)
{
    int  i;

    for (i = 0; i < ps->n[f]; i++) {
        if (strcmp(ps->v[f][i], s) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
pds_scope_accepts(const char *accept, const char *mime)
{
    size_t  n;

    if (strcmp(accept, "*/*") == 0) {
        return 1;
    }

    n = strlen(accept);
    if (n >= 2 && accept[n - 1] == '*' && accept[n - 2] == '/') {
        return strncmp(mime, accept, n - 1) == 0;
    }

    return strcmp(accept, mime) == 0;
}


static int
pds_scope_matches(const pds_scope_parsed_t *ps, const pds_scope_need_t *need)
{
    int  i;

    switch (need->kind) {

    case PDS_SCOPE_REPO:
        return (ps->n[1] == 0 || pds_scope_listed(ps, 1, need->b))
               && (pds_scope_listed(ps, 0, "*")
                   || pds_scope_listed(ps, 0, need->a));

    case PDS_SCOPE_RPC:
        return (strcmp(ps->v[1][0], "*") == 0
                || strcmp(ps->v[1][0], need->b) == 0)
               && (pds_scope_listed(ps, 0, "*")
                   || pds_scope_listed(ps, 0, need->a));

    case PDS_SCOPE_BLOB:
        if (!pds_scope_mime_ok(need->a, strlen(need->a))) {
            return 0;
        }
        for (i = 0; i < ps->n[0]; i++) {
            if (pds_scope_accepts(ps->v[0][i], need->a)) {
                return 1;
            }
        }
        return 0;

    case PDS_SCOPE_ACCOUNT:
        return strcmp(ps->v[0][0], need->a) == 0
               && (ps->n[1] == 0 ? strcmp(need->b, "read") == 0
                   : pds_scope_listed(ps, 1, "manage")
                     || pds_scope_listed(ps, 1, need->b));

    case PDS_SCOPE_IDENTITY:
        return strcmp(ps->v[0][0], "*") == 0
               || strcmp(ps->v[0][0], need->a) == 0;

    default:
        return 0;
    }
}


static int
pds_scope_has(const char *scope, size_t len, const char *tok)
{
    size_t       tl;
    const char  *p, *end, *sp;

    tl = strlen(tok);
    end = scope + len;

    for (p = scope; p < end; p = sp + 1) {
        sp = memchr(p, ' ', (size_t) (end - p));
        if (sp == NULL) {
            sp = end;
        }
        if ((size_t) (sp - p) == tl && memcmp(p, tok, tl) == 0) {
            return 1;
        }
    }

    return 0;
}


int
pds_scope_allows(const char *scope, size_t len, const pds_scope_need_t *need)
{
    int                 chat;
    const char         *p, *end, *sp;
    pds_scope_parsed_t  ps;

    /* the transition scopes first, as ScopePermissionsTransition */
    switch (need->kind) {

    case PDS_SCOPE_ACCOUNT:
        if (strcmp(need->a, "email") == 0 && strcmp(need->b, "read") == 0
            && pds_scope_has(scope, len, "transition:email"))
        {
            return 1;
        }
        break;

    case PDS_SCOPE_REPO:
    case PDS_SCOPE_BLOB:
        if (pds_scope_has(scope, len, "transition:generic")) {
            return 1;
        }
        break;

    case PDS_SCOPE_RPC:
        chat = strncmp(need->a, "chat.bsky.", 10) == 0;
        if ((pds_scope_has(scope, len, "transition:generic")
             && (strcmp(need->a, "*") == 0 || !chat))
            || (chat && pds_scope_has(scope, len, "transition:chat.bsky")))
        {
            return 1;
        }
        break;

    default:
        break;
    }

    end = scope + len;

    for (p = scope; p < end; p = sp + 1) {
        sp = memchr(p, ' ', (size_t) (end - p));
        if (sp == NULL) {
            sp = end;
        }
        if (pds_scope_parse(p, sp - p, &ps) == 0 && ps.kind == need->kind
            && pds_scope_matches(&ps, need))
        {
            return 1;
        }
    }

    return 0;
}


/* ---- formatting ------------------------------------------------------- */

/*
 * Appends s encoded as encodeURIComponent (form = 0) or as URLSearchParams
 * writes it (form = 1), then with ":/+,@%" written plainly again, as the
 * reference normalizes its scope strings.
 */
static int
pds_scope_put(char **p, char *end, const char *s, int form)
{
    static const char   hex[] = "0123456789ABCDEF";
    unsigned char       c;

    for ( /* void */ ; *s; s++) {
        c = (unsigned char) *s;

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || strchr("-_.*:/+,@%", c)
            || (!form && strchr("!~'()", c)))
        {
            if (end - *p < 2) {
                return -1;
            }
            *(*p)++ = (char) c;

        } else if (form && c == ' ') {
            if (end - *p < 2) {
                return -1;
            }
            *(*p)++ = '+';

        } else {
            if (end - *p < 4) {
                return -1;
            }
            *(*p)++ = '%';
            *(*p)++ = hex[c >> 4];
            *(*p)++ = hex[c & 15];
        }
    }

    **p = '\0';

    return 0;
}


static int
pds_scope_lit(char **p, char *end, const char *s)
{
    size_t  n = strlen(s);

    if ((size_t) (end - *p) < n + 1) {
        return -1;
    }
    memcpy(*p, s, n + 1);
    *p += n;

    return 0;
}


long
pds_scope_needed(char *dst, size_t cap, const pds_scope_need_t *need)
{
    int    rc;
    char  *p = dst, *end = dst + cap, *m, low[PDS_SCOPE_VALUE_MAX];

    if (cap == 0) {
        return -1;
    }

    switch (need->kind) {

    case PDS_SCOPE_REPO:
        rc = pds_scope_lit(&p, end, "repo:")
             || pds_scope_put(&p, end, need->a, 0)
             || pds_scope_lit(&p, end, "?action=")
             || pds_scope_put(&p, end, need->b, 1);
        break;

    case PDS_SCOPE_RPC:
        rc = pds_scope_lit(&p, end, "rpc:")
             || pds_scope_put(&p, end, need->a, 0)
             || pds_scope_lit(&p, end, "?aud=")
             || pds_scope_put(&p, end, need->b, 1);
        break;

    case PDS_SCOPE_BLOB:
        /* the reference writes accept values lower-cased */
        if (strlen(need->a) >= sizeof(low)) {
            return -1;
        }
        for (m = low; need->a[m - low]; m++) {
            *m = need->a[m - low];
            if (*m >= 'A' && *m <= 'Z') {
                *m = (char) (*m - 'A' + 'a');
            }
        }
        *m = '\0';
        rc = pds_scope_lit(&p, end, "blob:") || pds_scope_put(&p, end, low, 0);
        break;

    case PDS_SCOPE_ACCOUNT:
        rc = pds_scope_lit(&p, end, "account:")
             || pds_scope_put(&p, end, need->a, 0);
        if (rc == 0 && strcmp(need->b, "read") != 0) {
            rc = pds_scope_lit(&p, end, "?action=")
                 || pds_scope_put(&p, end, need->b, 1);
        }
        break;

    case PDS_SCOPE_IDENTITY:
        rc = pds_scope_lit(&p, end, "identity:")
             || pds_scope_put(&p, end, need->a, 0);
        break;

    default:
        return -1;
    }

    return rc ? -1 : p - dst;
}
