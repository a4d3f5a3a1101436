/*
 * ngx_pds_module core: the Lexicon string formats that are not
 * identifiers: datetime (checked, parsed and formatted), language (BCP 47),
 * uri and cid (the string syntax).  Identifiers are in pds_syntax.c.
 */

#include <string.h>

#include "pds_syntax.h"
#include "pds_syntax_int.h"


#define PDS_LANG_MAX_VARIANTS  256

/* days from 0000-01-01 to 1970-01-01 (proleptic Gregorian) */
#define PDS_DT_DAYS_TO_EPOCH   719528
#define PDS_US_PER_DAY         86400000000LL


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


/* BCP 47 grandfathered tags, matched exactly (as the reference does) */
static const char  *pds_lang_gf[] = {
    "en-GB-oed", "i-ami", "i-bnn", "i-default", "i-enochian", "i-hak",
    "i-klingon", "i-lux", "i-mingo", "i-navajo", "i-pwn", "i-tao", "i-tay",
    "i-tsu", "sgn-BE-FR", "sgn-BE-NL", "sgn-CH-DE", "art-lojban",
    "cel-gaulish", "no-bok", "no-nyn", "zh-guoyu", "zh-hakka", "zh-min",
    "zh-min-nan", "zh-xiang", NULL
};


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


/*
 * The walk over the subtags of a language tag: each phase below returns
 * PDS_LANG_BAD (not a valid tag), PDS_LANG_END (the tag ended validly) or
 * PDS_LANG_MORE with the cursor on a subtag that the phase did not take.
 */

#define PDS_LANG_BAD   0
#define PDS_LANG_END   1
#define PDS_LANG_MORE  2

typedef struct {
    const char  *s;
    size_t       len;
    const char  *t;        /* the current subtag */
    size_t       n;        /* its length */
    size_t       end;      /* where it ends in s */
} pds_lang_cur_t;


/* moves to the next subtag, which must not be empty */
static int
pds_lang_next(pds_lang_cur_t *c)
{
    size_t  i;

    if (c->end == c->len) {
        return PDS_LANG_END;
    }

    i = c->end + 1;
    c->t = c->s + i;
    c->end = pds_lang_subtag(c->s, c->len, i);
    c->n = c->end - i;

    return c->n == 0 ? PDS_LANG_BAD : PDS_LANG_MORE;
}


/* after the primary language: up to three extlangs, a script, a region */
static int
pds_lang_middle(pds_lang_cur_t *c)
{
    int     rc;
    size_t  k;

    rc = pds_lang_next(c);

    for (k = 0; rc == PDS_LANG_MORE && k < 3 && c->n == 3
                && pds_lang_all(c->t, c->n, 1, 0); k++)
    {
        rc = pds_lang_next(c);
    }

    if (rc == PDS_LANG_MORE && c->n == 4 && pds_lang_all(c->t, c->n, 1, 0)) {
        rc = pds_lang_next(c);
    }

    if (rc == PDS_LANG_MORE
        && ((c->n == 2 && pds_lang_all(c->t, c->n, 1, 0))
            || (c->n == 3 && pds_lang_all(c->t, c->n, 0, 1))))
    {
        rc = pds_lang_next(c);
    }

    return rc;
}


/* variants (5-8 alphanumerics, or a digit and 3), none repeated */
static int
pds_lang_variants(pds_lang_cur_t *c)
{
    int       rc;
    size_t    k, nvar;
    uint64_t  key;
    uint64_t  variants[PDS_LANG_MAX_VARIANTS];

    rc = PDS_LANG_MORE;
    nvar = 0;

    while ((c->n >= 5 && c->n <= 8 && pds_lang_all(c->t, c->n, 1, 1))
           || (c->n == 4 && pds_is_digit((unsigned char) c->t[0])
               && pds_lang_all(c->t, c->n, 1, 1)))
    {
        key = pds_lang_key(c->t, c->n);

        for (k = 0; k < nvar; k++) {
            if (variants[k] == key) {
                return PDS_LANG_BAD;
            }
        }

        if (nvar == PDS_LANG_MAX_VARIANTS) {
            return PDS_LANG_BAD;
        }

        variants[nvar++] = key;

        rc = pds_lang_next(c);
        if (rc != PDS_LANG_MORE) {
            break;
        }
    }

    return rc;
}


/* extensions: singleton 1*("-" 2-8 alphanum), singletons not repeated */
static int
pds_lang_extensions(pds_lang_cur_t *c)
{
    int       rc;
    size_t    k;
    unsigned  ext;
    uint64_t  seen;

    seen = 0;

    while (c->n == 1 && pds_is_alnum((unsigned char) c->t[0])
           && c->t[0] != 'x' && c->t[0] != 'X')
    {
        ext = (unsigned) pds_lang_key(c->t, 1);

        if (seen & ((uint64_t) 1 << ext)) {
            return PDS_LANG_BAD;
        }

        seen |= (uint64_t) 1 << ext;

        for (k = 0; ; k++) {
            rc = pds_lang_next(c);

            if (rc == PDS_LANG_END) {
                return k > 0 ? PDS_LANG_END : PDS_LANG_BAD;
            }

            if (rc == PDS_LANG_BAD || c->n < 2 || c->n > 8
                || !pds_lang_all(c->t, c->n, 1, 1))
            {
                break;
            }
        }

        if (k == 0 || rc == PDS_LANG_BAD) {
            return PDS_LANG_BAD;
        }
    }

    return PDS_LANG_MORE;
}


/*
 * 1 if the rest of the tag, from the "x" under the cursor, is private use:
 * "x" 1*("-" 1-8 alphanum)
 */
static int
pds_lang_privateuse(pds_lang_cur_t *c)
{
    int  rc;

    if (c->end == c->len) {
        return 0;
    }

    while ((rc = pds_lang_next(c)) == PDS_LANG_MORE) {
        if (c->n > 8 || !pds_lang_all(c->t, c->n, 1, 1)) {
            return 0;
        }
    }

    return rc == PDS_LANG_END;
}


int
pds_language_valid(const char *s, size_t len)
{
    int             rc;
    pds_lang_cur_t  c;

    if (len == 0) {
        return 0;
    }

    if (pds_lang_grandfathered(s, len)) {
        return 1;
    }

    c.s = s;
    c.len = len;
    c.t = s;
    c.end = pds_lang_subtag(s, len, 0);
    c.n = c.end;

    /* private use only: "x-..." */
    if (c.n == 1 && (s[0] == 'x' || s[0] == 'X')) {
        return pds_lang_privateuse(&c);
    }

    /* primary language: lower-case 2 or 3 letters */
    if (c.n < 2 || c.n > 3 || !pds_is_lower((unsigned char) s[0])
        || !pds_is_lower((unsigned char) s[1])
        || (c.n == 3 && !pds_is_lower((unsigned char) s[2])))
    {
        return 0;
    }

    rc = pds_lang_middle(&c);

    if (rc == PDS_LANG_MORE) {
        rc = pds_lang_variants(&c);
    }

    if (rc == PDS_LANG_MORE) {
        rc = pds_lang_extensions(&c);
    }

    if (rc != PDS_LANG_MORE) {
        return rc == PDS_LANG_END;
    }

    /* what is left must be private use */
    if (!(c.n == 1 && (c.t[0] == 'x' || c.t[0] == 'X'))) {
        return 0;
    }

    return pds_lang_privateuse(&c);
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
