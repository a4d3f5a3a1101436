/*
 * ngx_pds_module core: AT Protocol identifier syntax (hand-written
 * scanners, no regular expressions): handle, DID, NSID, record key, TID,
 * at-identifier and the AT-URI made of them.  The other string formats
 * (datetime, language, uri, cid) are in pds_syntax_format.c.
 */

#include <string.h>

#include "pds_syntax.h"
#include "pds_syntax_int.h"


static int pds_suffix_icase(const char *s, size_t len, const char *suffix);
static int pds_did_char(unsigned char c);
static int pds_rkey_char(unsigned char c);
static int pds_tid_char(unsigned char c);
static int pds_aturi_char(unsigned char c);
static int pds_pointer_char(unsigned char c);
static int pds_hex_value(unsigned char c);
static int pds_fragment_valid(const unsigned char *p, size_t len);


static const char  *pds_reserved_tlds[] = {
    ".alt", ".arpa", ".example", ".internal", ".invalid", ".local",
    ".localhost", ".onion", NULL
};


/* handle */

int
pds_handle_valid(const char *s, size_t len)
{
    size_t         i, start, last;
    unsigned       labels;
    unsigned char  c;

    if (len == 0 || len > PDS_HANDLE_MAX) {
        return 0;
    }

    start = 0;
    last = 0;
    labels = 0;

    for (i = 0; i <= len; i++) {

        if (i == len || s[i] == '.') {
            if (i == start || i - start > 63) {
                return 0;
            }

            if (s[start] == '-' || s[i - 1] == '-') {
                return 0;
            }

            labels++;
            last = start;
            start = i + 1;
            continue;
        }

        c = (unsigned char) s[i];

        if (!pds_is_alnum(c) && c != '-') {
            return 0;
        }
    }

    if (labels < 2) {
        return 0;
    }

    /* the TLD can not start with a digit */
    c = (unsigned char) s[last];

    return pds_is_alpha(c);
}


long
pds_handle_normalize(char *dst, size_t cap, const char *s, size_t len)
{
    size_t         i;
    unsigned char  c;

    if (!pds_handle_valid(s, len) || cap < len) {
        return -1;
    }

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];
        dst[i] = (char) pds_lower(c);
    }

    return (long) len;
}


static int
pds_suffix_icase(const char *s, size_t len, const char *suffix)
{
    size_t         n, i;
    unsigned char  a;

    n = strlen(suffix);

    if (len <= n) {
        return 0;
    }

    s += len - n;

    for (i = 0; i < n; i++) {
        a = (unsigned char) s[i];
        if (pds_lower(a) != (unsigned char) suffix[i]) {
            return 0;
        }
    }

    return 1;
}


int
pds_handle_is_reserved_tld(const char *s, size_t len)
{
    const char  **t;

    for (t = pds_reserved_tlds; *t; t++) {
        if (pds_suffix_icase(s, len, *t)) {
            return 1;
        }
    }

    return 0;
}


int
pds_handle_is_test_tld(const char *s, size_t len)
{
    return pds_suffix_icase(s, len, ".test");
}


/* did */

static int
pds_did_char(unsigned char c)
{
    return pds_is_alnum(c) || c == '.' || c == '_' || c == ':' || c == '%'
           || c == '-';
}


int
pds_did_valid(const char *s, size_t len)
{
    size_t         i;
    unsigned char  c;

    /* shortest: "did:m:x" */
    if (len < 7 || len > PDS_DID_MAX || memcmp(s, "did:", 4) != 0) {
        return 0;
    }

    for (i = 4; i < len && pds_is_lower((unsigned char) s[i]); i++) {
        /* method name */
    }

    if (i == 4 || i >= len || s[i] != ':') {
        return 0;
    }

    if (++i == len) {
        return 0;
    }

    for ( /* void */ ; i < len; i++) {
        if (!pds_did_char((unsigned char) s[i])) {
            return 0;
        }
    }

    c = (unsigned char) s[len - 1];

    return c != ':' && c != '%';
}


int
pds_did_split(const char *s, size_t len, pds_span_t *method, pds_span_t *id)
{
    const char  *colon;

    if (!pds_did_valid(s, len)) {
        return -1;
    }

    colon = memchr(s + 4, ':', len - 4);

    /* pds_did_valid guarantees the second colon */
    if (colon == NULL) {
        return -1;
    }

    method->data = s + 4;
    method->len = (size_t) (colon - s) - 4;
    id->data = colon + 1;
    id->len = len - (size_t) (colon + 1 - s);

    return 0;
}


/* nsid */

int
pds_nsid_valid(const char *s, size_t len)
{
    size_t         i, start, last_dot;
    unsigned       segs;
    unsigned char  c;

    if (len == 0 || len > PDS_NSID_MAX) {
        return 0;
    }

    start = 0;
    last_dot = 0;
    segs = 0;

    for (i = 0; i <= len; i++) {

        if (i == len || s[i] == '.') {
            if (i == start || i - start > 63) {
                return 0;
            }

            if (s[start] == '-' || s[i - 1] == '-') {
                return 0;
            }

            segs++;

            if (i < len) {
                last_dot = i;
            }

            start = i + 1;
            continue;
        }

        c = (unsigned char) s[i];

        if (!pds_is_alnum(c) && c != '-') {
            return 0;
        }
    }

    /*
     * The spec also caps the authority at 253 characters, but neither the
     * reference implementation nor the interop fixtures (which accept a
     * 283-character authority) enforce it: only the 317 total applies.
     */
    if (segs < 3) {
        return 0;
    }

    /* the first (top-level domain) segment starts with a letter */
    if (!pds_is_alpha((unsigned char) s[0])) {
        return 0;
    }

    /* the name: a letter, then letters and digits only */
    if (!pds_is_alpha((unsigned char) s[last_dot + 1])) {
        return 0;
    }

    for (i = last_dot + 2; i < len; i++) {
        if (s[i] == '-') {
            return 0;
        }
    }

    return 1;
}


int
pds_nsid_split(const char *s, size_t len, pds_span_t *authority,
    pds_span_t *name)
{
    size_t  i;

    if (!pds_nsid_valid(s, len)) {
        return -1;
    }

    for (i = len; s[i - 1] != '.'; i--) {
        /* void */
    }

    authority->data = s;
    authority->len = i - 1;
    name->data = s + i;
    name->len = len - i;

    return 0;
}


long
pds_nsid_authority_domain(char *dst, size_t cap, const char *s, size_t len)
{
    size_t          end, seg, out, k;
    pds_span_t      auth, name;
    unsigned char   c;

    if (pds_nsid_split(s, len, &auth, &name) != 0 || cap < auth.len) {
        return -1;
    }

    /* copy the authority segments last-to-first */
    out = 0;
    end = auth.len;

    while (end > 0) {
        for (seg = end; seg > 0 && s[seg - 1] != '.'; seg--) {
            /* void */
        }

        if (out) {
            dst[out++] = '.';
        }

        for (k = seg; k < end; k++) {
            c = (unsigned char) s[k];
            dst[out++] = (char) pds_lower(c);
        }

        end = seg ? seg - 1 : 0;
    }

    return (long) out;
}


long
pds_nsid_normalize(char *dst, size_t cap, const char *s, size_t len)
{
    size_t          i;
    pds_span_t      auth, name;
    unsigned char   c;

    if (pds_nsid_split(s, len, &auth, &name) != 0 || cap < len) {
        return -1;
    }

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];
        dst[i] = (char) (i < auth.len ? pds_lower(c) : c);
    }

    return (long) len;
}


/* record key, tid, at-identifier */

static int
pds_rkey_char(unsigned char c)
{
    return pds_is_alnum(c) || c == '.' || c == '-' || c == '_' || c == ':'
           || c == '~';
}


int
pds_rkey_valid(const char *s, size_t len)
{
    size_t  i;

    if (len == 0 || len > PDS_RKEY_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!pds_rkey_char((unsigned char) s[i])) {
            return 0;
        }
    }

    if (s[0] == '.' && (len == 1 || (len == 2 && s[1] == '.'))) {
        return 0;
    }

    return 1;
}


static int
pds_tid_char(unsigned char c)
{
    return (c >= '2' && c <= '7') || pds_is_lower(c);
}


int
pds_tid_valid(const char *s, size_t len)
{
    size_t         i;
    unsigned char  c;

    if (len != PDS_TID_LEN) {
        return 0;
    }

    /* the top bit is zero: first character is worth at most 15 */
    c = (unsigned char) s[0];

    if (!((c >= '2' && c <= '7') || (c >= 'a' && c <= 'j'))) {
        return 0;
    }

    for (i = 1; i < len; i++) {
        if (!pds_tid_char((unsigned char) s[i])) {
            return 0;
        }
    }

    return 1;
}


int
pds_atidentifier_valid(const char *s, size_t len)
{
    if (len >= 4 && memcmp(s, "did:", 4) == 0) {
        return pds_did_valid(s, len);
    }

    return pds_handle_valid(s, len);
}


/* at-uri */

static int
pds_aturi_char(unsigned char c)
{
    if (pds_is_alnum(c)) {
        return 1;
    }

    /* '?' (query) is not allowed in the Lexicon at-uri form */
    switch (c) {
    case '.': case '_': case '~': case ':': case '@': case '!': case '$':
    case '&': case '\'': case '(': case ')': case '*': case '+': case ',':
    case ';': case '=': case '%': case '/': case '[': case ']': case '#':
    case '-':
        return 1;
    default:
        return 0;
    }
}


static int
pds_pointer_char(unsigned char c)
{
    return c != '#' && pds_aturi_char(c);
}


static int
pds_hex_value(unsigned char c)
{
    if (pds_is_digit(c)) {
        return c - '0';
    }

    c = pds_lower(c);

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


/*
 * A JSON pointer fragment: "/" then pointer characters; the percent-escapes
 * must be well formed and the decoded bytes must be valid UTF-8.
 */
static int
pds_fragment_valid(const unsigned char *p, size_t len)
{
    int       hi, lo;
    size_t    i;
    unsigned  need, b, min, max;

    if (len == 0 || p[0] != '/') {
        return 0;
    }

    need = 0;
    min = 0x80;
    max = 0xbf;

    for (i = 0; i < len; i++) {

        if (!pds_pointer_char(p[i])) {
            return 0;
        }

        if (p[i] == '%') {
            if (len - i < 3) {
                return 0;
            }

            hi = pds_hex_value(p[i + 1]);
            lo = pds_hex_value(p[i + 2]);

            if (hi < 0 || lo < 0) {
                return 0;
            }

            b = (unsigned) (hi * 16 + lo);
            i += 2;

        } else {
            b = p[i];
        }

        if (need) {
            if (b < min || b > max) {
                return 0;
            }

            need--;
            min = 0x80;
            max = 0xbf;
            continue;
        }

        if (b < 0x80) {
            continue;
        }

        if (b >= 0xc2 && b <= 0xdf) {
            need = 1;

        } else if (b >= 0xe0 && b <= 0xef) {
            need = 2;
            min = (b == 0xe0) ? 0xa0 : 0x80;
            max = (b == 0xed) ? 0x9f : 0xbf;

        } else if (b >= 0xf0 && b <= 0xf4) {
            need = 3;
            min = (b == 0xf0) ? 0x90 : 0x80;
            max = (b == 0xf4) ? 0x8f : 0xbf;

        } else {
            return 0;
        }
    }

    return need == 0;
}


int
pds_aturi_parse(const char *s, size_t len, pds_aturi_t *uri)
{
    size_t       i, end, p, q;
    pds_span_t   seg[3];
    unsigned     n;
    const char  *hash;

    memset(uri, 0, sizeof(pds_aturi_t));

    if (len < 6 || len > PDS_ATURI_MAX || memcmp(s, "at://", 5) != 0) {
        return -1;
    }

    for (i = 5; i < len; i++) {
        if (!pds_aturi_char((unsigned char) s[i])) {
            return -1;
        }
    }

    hash = memchr(s + 5, '#', len - 5);
    end = hash ? (size_t) (hash - s) : len;

    /* authority [ "/" collection [ "/" rkey ] ]: no empty segments */
    p = 5;
    n = 0;

    for ( ;; ) {
        for (q = p; q < end && s[q] != '/'; q++) {
            /* void */
        }

        if (q == p || n == 3) {
            return -1;
        }

        seg[n].data = s + p;
        seg[n].len = q - p;
        n++;

        if (q == end) {
            break;
        }

        p = q + 1;
    }

    if (!pds_atidentifier_valid(seg[0].data, seg[0].len)) {
        return -1;
    }

    if (n > 1 && !pds_nsid_valid(seg[1].data, seg[1].len)) {
        return -1;
    }

    if (n > 2 && !pds_rkey_valid(seg[2].data, seg[2].len)) {
        return -1;
    }

    if (hash
        && !pds_fragment_valid((const unsigned char *) hash + 1,
                               len - end - 1))
    {
        return -1;
    }

    uri->authority = seg[0];
    uri->authority_is_did = (seg[0].len >= 4
                             && memcmp(seg[0].data, "did:", 4) == 0);

    if (n > 1) {
        uri->collection = seg[1];
    }

    if (n > 2) {
        uri->rkey = seg[2];
    }

    if (hash) {
        uri->fragment.data = hash + 1;
        uri->fragment.len = len - end - 1;
    }

    return 0;
}


int
pds_aturi_valid(const char *s, size_t len)
{
    pds_aturi_t  uri;

    return pds_aturi_parse(s, len, &uri) == 0;
}
