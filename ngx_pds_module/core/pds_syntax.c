/*
 * ngx_pds_module core: AT Protocol identifier syntax (hand-written
 * scanners, no regular expressions).
 */

#include <string.h>

#include "pds_syntax.h"


#define pds_is_lower(c)   ((c) >= 'a' && (c) <= 'z')
#define pds_is_upper(c)   ((c) >= 'A' && (c) <= 'Z')
#define pds_is_alpha(c)   (pds_is_lower(c) || pds_is_upper(c))
#define pds_is_digit(c)   ((c) >= '0' && (c) <= '9')
#define pds_is_alnum(c)   (pds_is_alpha(c) || pds_is_digit(c))
#define pds_lower(c)      (pds_is_upper(c) ? (c) | 0x20 : (c))


#define PDS_LANG_MAX_VARIANTS  256


static int pds_suffix_icase(const char *s, size_t len, const char *suffix);
static int pds_did_char(unsigned char c);
static int pds_rkey_char(unsigned char c);
static int pds_tid_char(unsigned char c);
static int pds_aturi_char(unsigned char c);
static int pds_pointer_char(unsigned char c);
static int pds_hex_value(unsigned char c);
static int pds_fragment_valid(const unsigned char *p, size_t len);
static unsigned pds_dt_num(const char *p, size_t n);
static int pds_dt_fields(const char *s, int64_t *us);
static int pds_is_leap(unsigned y);
static unsigned pds_month_days(unsigned y, unsigned m);
static int64_t pds_days_before_year(int64_t y);
static int64_t pds_days_from_civil(unsigned y, unsigned m, unsigned d);
static size_t pds_lang_subtag(const char *s, size_t len, size_t i);
static int pds_lang_all(const char *p, size_t n, int alpha, int digit);
static uint64_t pds_lang_key(const char *p, size_t n);
static int pds_lang_grandfathered(const char *s, size_t len);


/* days from 0000-01-01 to 1970-01-01 (proleptic Gregorian) */
#define PDS_DT_DAYS_TO_EPOCH   719528
#define PDS_US_PER_DAY         86400000000LL


static const char  *pds_reserved_tlds[] = {
    ".alt", ".arpa", ".example", ".internal", ".invalid", ".local",
    ".localhost", ".onion", NULL
};


/* BCP 47 grandfathered tags, matched exactly (as the reference does) */
static const char  *pds_lang_gf[] = {
    "en-GB-oed", "i-ami", "i-bnn", "i-default", "i-enochian", "i-hak",
    "i-klingon", "i-lux", "i-mingo", "i-navajo", "i-pwn", "i-tao", "i-tay",
    "i-tsu", "sgn-BE-FR", "sgn-BE-NL", "sgn-CH-DE", "art-lojban",
    "cel-gaulish", "no-bok", "no-nyn", "zh-guoyu", "zh-hakka", "zh-min",
    "zh-min-nan", "zh-xiang", NULL
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


/* datetime */

int
pds_datetime_syntax_valid(const char *s, size_t len)
{
    size_t      i;
    const char *tpl = "dddd-dd-ddTdd:dd:dd";

    /* "1985-04-12T23:20:50Z" is the shortest form */
    if (len < 20 || len > PDS_DATETIME_MAX) {
        return 0;
    }

    for (i = 0; i < 19; i++) {
        if (tpl[i] == 'd') {
            if (!pds_is_digit((unsigned char) s[i])) {
                return 0;
            }

        } else if (s[i] != tpl[i]) {
            return 0;
        }
    }

    if (s[i] == '.') {
        for (i++; i < len && pds_is_digit((unsigned char) s[i]); i++) {
            /* void */
        }

        if (i == 20) {
            return 0;
        }
    }

    if (i == len) {
        return 0;
    }

    if (s[i] == 'Z') {
        return i + 1 == len;
    }

    if ((s[i] != '+' && s[i] != '-') || len - i != 6) {
        return 0;
    }

    if (!pds_is_digit((unsigned char) s[i + 1])
        || !pds_is_digit((unsigned char) s[i + 2])
        || s[i + 3] != ':'
        || !pds_is_digit((unsigned char) s[i + 4])
        || !pds_is_digit((unsigned char) s[i + 5]))
    {
        return 0;
    }

    /* ISO 8601 forbids "negative zero" for UTC */
    if (s[i] == '-' && memcmp(s + i + 1, "00:00", 5) == 0) {
        return 0;
    }

    return 1;
}


static unsigned
pds_dt_num(const char *p, size_t n)
{
    unsigned  v;

    for (v = 0; n; n--, p++) {
        v = v * 10 + (unsigned) (*p - '0');
    }

    return v;
}


static int
pds_is_leap(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}


static unsigned
pds_month_days(unsigned y, unsigned m)
{
    static const unsigned char  days[12] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    return days[m - 1] + (m == 2 && pds_is_leap(y));
}


/* days from 0000-01-01 to the first day of year y (y >= 0) */
static int64_t
pds_days_before_year(int64_t y)
{
    return y * 365 + (y + 3) / 4 - (y + 99) / 100 + (y + 399) / 400;
}


/* days since 1970-01-01 of a valid proleptic Gregorian date */
static int64_t
pds_days_from_civil(unsigned y, unsigned m, unsigned d)
{
    unsigned  i;
    int64_t   days;

    days = pds_days_before_year(y) - PDS_DT_DAYS_TO_EPOCH;

    for (i = 1; i < m; i++) {
        days += pds_month_days(y, i);
    }

    return days + d - 1;
}


/* semantic checks of a syntax-valid datetime, and conversion */
static int
pds_dt_fields(const char *s, int64_t *us)
{
    size_t    i, digits;
    int64_t   v, frac, off, lo, hi;
    unsigned  y, mo, d, h, mi, sec, oh, om;

    y = pds_dt_num(s, 4);
    mo = pds_dt_num(s + 5, 2);
    d = pds_dt_num(s + 8, 2);
    h = pds_dt_num(s + 11, 2);
    mi = pds_dt_num(s + 14, 2);
    sec = pds_dt_num(s + 17, 2);

    if (mo < 1 || mo > 12 || d < 1 || d > pds_month_days(y, mo)
        || h > 23 || mi > 59 || sec > 59)
    {
        return -1;
    }

    /* fraction: keep microseconds, truncate the rest */
    frac = 0;
    digits = 0;
    i = 19;

    if (s[i] == '.') {
        for (i++; pds_is_digit((unsigned char) s[i]); i++) {
            if (digits < 6) {
                frac = frac * 10 + (s[i] - '0');
                digits++;
            }
        }
    }

    for ( /* void */ ; digits < 6; digits++) {
        frac *= 10;
    }

    off = 0;

    if (s[i] != 'Z') {
        oh = pds_dt_num(s + i + 1, 2);
        om = pds_dt_num(s + i + 4, 2);

        if (oh > 23 || om > 59) {
            return -1;
        }

        off = ((int64_t) oh * 60 + om) * 60;

        if (s[i] == '-') {
            off = -off;
        }
    }

    v = pds_days_from_civil(y, mo, d) * 86400
        + (int64_t) h * 3600 + (int64_t) mi * 60 + sec - off;
    v = v * 1000000 + frac;

    /* the instant, in UTC, must lie within years 0000..9999 */
    lo = -(int64_t) PDS_DT_DAYS_TO_EPOCH * PDS_US_PER_DAY;
    hi = (pds_days_before_year(10000) - PDS_DT_DAYS_TO_EPOCH)
         * PDS_US_PER_DAY;

    if (v < lo || v >= hi) {
        return -1;
    }

    *us = v;

    return 0;
}


int
pds_datetime_valid(const char *s, size_t len)
{
    int64_t  us;

    return pds_datetime_parse(s, len, &us) == 0;
}


int
pds_datetime_parse(const char *s, size_t len, int64_t *us)
{
    if (!pds_datetime_syntax_valid(s, len)) {
        return -1;
    }

    return pds_dt_fields(s, us);
}


int
pds_datetime_format(char *dst, int64_t us)
{
    int64_t   days, rem, lo, hi, y;
    unsigned  m, d, md, v[6], i, w;
    char     *p;

    lo = -(int64_t) PDS_DT_DAYS_TO_EPOCH * PDS_US_PER_DAY;
    hi = (pds_days_before_year(10000) - PDS_DT_DAYS_TO_EPOCH)
         * PDS_US_PER_DAY;

    if (us < lo || us >= hi) {
        return -1;
    }

    /* days since 0000-01-01 and microseconds into the day (floor) */
    days = (us - lo) / PDS_US_PER_DAY;
    rem = (us - lo) % PDS_US_PER_DAY;

    y = days * 400 / 146097;

    while (y > 0 && pds_days_before_year(y) > days) {
        y--;
    }

    while (pds_days_before_year(y + 1) <= days) {
        y++;
    }

    days -= pds_days_before_year(y);

    for (m = 1; m < 12; m++) {
        md = pds_month_days((unsigned) y, m);

        if (days < md) {
            break;
        }

        days -= md;
    }

    d = (unsigned) days + 1;

    v[0] = (unsigned) y;
    v[1] = m;
    v[2] = d;
    v[3] = (unsigned) (rem / 3600000000LL);
    v[4] = (unsigned) (rem / 60000000 % 60);
    v[5] = (unsigned) (rem / 1000000 % 60);

    p = dst;

    for (i = 0; i < 6; i++) {
        w = (i == 0) ? 4 : 2;

        if (w == 4) {
            *p++ = (char) ('0' + v[i] / 1000);
            *p++ = (char) ('0' + v[i] / 100 % 10);
        }

        *p++ = (char) ('0' + v[i] / 10 % 10);
        *p++ = (char) ('0' + v[i] % 10);
        *p++ = "--T::."[i];
    }

    i = (unsigned) (rem / 1000 % 1000);
    *p++ = (char) ('0' + i / 100);
    *p++ = (char) ('0' + i / 10 % 10);
    *p++ = (char) ('0' + i % 10);
    *p++ = 'Z';
    *p = '\0';

    return (int) (p - dst);
}


/* language */

/* returns the end of the subtag starting at i */
static size_t
pds_lang_subtag(const char *s, size_t len, size_t i)
{
    while (i < len && s[i] != '-') {
        i++;
    }

    return i;
}


static int
pds_lang_all(const char *p, size_t n, int alpha, int digit)
{
    size_t         i;
    unsigned char  c;

    for (i = 0; i < n; i++) {
        c = (unsigned char) p[i];

        if (!((alpha && pds_is_alpha(c)) || (digit && pds_is_digit(c)))) {
            return 0;
        }
    }

    return 1;
}


/* a case-folded, collision-free key of an alphanumeric subtag (<= 8) */
static uint64_t
pds_lang_key(const char *p, size_t n)
{
    size_t         i;
    uint64_t       k;
    unsigned char  c;

    k = 0;

    for (i = 0; i < n; i++) {
        c = (unsigned char) p[i];
        k = (k << 6) | (pds_is_digit(c) ? c - '0' + 1u
                                         : pds_lower(c) - 'a' + 11u);
    }

    return k;
}


static int
pds_lang_grandfathered(const char *s, size_t len)
{
    const char  **g;

    for (g = pds_lang_gf; *g; g++) {
        if (strlen(*g) == len && memcmp(*g, s, len) == 0) {
            return 1;
        }
    }

    return 0;
}


int
pds_language_valid(const char *s, size_t len)
{
    size_t       i, e, n, k;
    unsigned     ext, nvar;
    uint64_t     key, seen_singletons;
    uint64_t     variants[PDS_LANG_MAX_VARIANTS];
    const char  *t;

    if (len == 0) {
        return 0;
    }

    if (pds_lang_grandfathered(s, len)) {
        return 1;
    }

    e = pds_lang_subtag(s, len, 0);
    n = e;

    /* private use only: "x-..." */
    if (n == 1 && (s[0] == 'x' || s[0] == 'X')) {
        goto privateuse;
    }

    /* primary language: lower-case 2 or 3 letters */
    if (n < 2 || n > 3 || !pds_is_lower((unsigned char) s[0])
        || !pds_is_lower((unsigned char) s[1])
        || (n == 3 && !pds_is_lower((unsigned char) s[2])))
    {
        return 0;
    }

    i = e;
    k = 0;
    nvar = 0;
    seen_singletons = 0;

#define pds_lang_next()                                                       \
    if (i == len) {                                                           \
        return 1;                                                             \
    }                                                                         \
    i++;                                                                      \
    t = s + i;                                                                \
    e = pds_lang_subtag(s, len, i);                                           \
    n = e - i;                                                                \
    if (n == 0) {                                                             \
        return 0;                                                             \
    }

    pds_lang_next();

    /* up to three extlang subtags */
    while (k < 3 && n == 3 && pds_lang_all(t, n, 1, 0)) {
        k++;
        i = e;
        pds_lang_next();
    }

    /* script */
    if (n == 4 && pds_lang_all(t, n, 1, 0)) {
        i = e;
        pds_lang_next();
    }

    /* region */
    if ((n == 2 && pds_lang_all(t, n, 1, 0))
        || (n == 3 && pds_lang_all(t, n, 0, 1)))
    {
        i = e;
        pds_lang_next();
    }

    /* variants, no repeats */
    while ((n >= 5 && n <= 8 && pds_lang_all(t, n, 1, 1))
           || (n == 4 && pds_is_digit((unsigned char) t[0])
               && pds_lang_all(t, n, 1, 1)))
    {
        key = pds_lang_key(t, n);

        for (k = 0; k < nvar; k++) {
            if (variants[k] == key) {
                return 0;
            }
        }

        if (nvar == PDS_LANG_MAX_VARIANTS) {
            return 0;
        }

        variants[nvar++] = key;
        i = e;
        pds_lang_next();
    }

    /* extensions: singleton 1*("-" 2-8 alphanum), singletons not repeated */
    while (n == 1 && pds_is_alnum((unsigned char) t[0])
           && t[0] != 'x' && t[0] != 'X')
    {
        ext = (unsigned) pds_lang_key(t, 1);

        if (seen_singletons & ((uint64_t) 1 << ext)) {
            return 0;
        }

        seen_singletons |= (uint64_t) 1 << ext;

        i = e;
        k = 0;

        for ( ;; ) {
            if (i == len) {
                return k > 0;
            }

            i++;
            t = s + i;
            e = pds_lang_subtag(s, len, i);
            n = e - i;

            if (n < 2 || n > 8 || !pds_lang_all(t, n, 1, 1)) {
                break;
            }

            k++;
            i = e;
        }

        if (k == 0 || n == 0) {
            return 0;
        }
    }

    if (!(n == 1 && (t[0] == 'x' || t[0] == 'X'))) {
        return 0;
    }

#undef pds_lang_next

privateuse:

    /* "x" 1*("-" 1-8 alphanum) up to the end */
    i = e;

    if (i == len) {
        return 0;
    }

    while (i < len) {
        i++;
        e = pds_lang_subtag(s, len, i);
        n = e - i;

        if (n < 1 || n > 8 || !pds_lang_all(s + i, n, 1, 1)) {
            return 0;
        }

        i = e;
    }

    return 1;
}


/* uri, cid */

int
pds_uri_valid(const char *s, size_t len)
{
    size_t         i;
    unsigned char  c;

    if (len < 3 || len > PDS_URI_MAX || !pds_is_alpha((unsigned char) s[0])) {
        return 0;
    }

    /* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
    for (i = 1; i < len; i++) {
        c = (unsigned char) s[i];

        if (!(pds_is_alnum(c) || c == '+' || c == '-' || c == '.')) {
            break;
        }
    }

    if (i == len || s[i] != ':' || ++i == len) {
        return 0;
    }

    for ( /* void */ ; i < len; i++) {
        c = (unsigned char) s[i];

        if (c < 0x21 || c > 0x7e) {
            return 0;
        }
    }

    return 1;
}


int
pds_cid_string_valid(const char *s, size_t len)
{
    size_t         i;
    unsigned char  c;

    if (len < PDS_CID_STRING_MIN || len > PDS_CID_STRING_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (!pds_is_alnum(c) && c != '+' && c != '=') {
            return 0;
        }
    }

    /* CIDv0 (base58btc sha2-256 multihash) is not allowed */
    return !(s[0] == 'Q' && s[1] == 'm');
}
