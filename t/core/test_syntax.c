/*
 * Unit tests for pds_syntax: the atproto interop syntax fixtures (read in
 * place from the shared folder) and hand-written cases.
 */

#define _DEFAULT_SOURCE

#include <dirent.h>
#include <stdint.h>
#include <time.h>

#include "tap.h"
#include "pds_syntax.h"


typedef int (*validator_pt)(const char *s, size_t len);

typedef struct {
    const char    *type;
    validator_pt   valid;       /* full validator */
    validator_pt   syntax;      /* grammar-only validator, or NULL */
    int            has_parse;   /* a *_parse_invalid.txt file is expected */
} fixture_type_t;


/* tap.h's is_str wants a pointer, not an array (-Waddress) */
static const char *
str_of(const char *p)
{
    return p;
}


static const fixture_type_t  types[] = {
    { "atidentifier", pds_atidentifier_valid, NULL, 0 },
    { "aturi", pds_aturi_valid, NULL, 0 },
    { "cid", pds_cid_string_valid, NULL, 0 },
    { "datetime", pds_datetime_valid, pds_datetime_syntax_valid, 1 },
    { "did", pds_did_valid, NULL, 0 },
    { "handle", pds_handle_valid, NULL, 0 },
    { "language", pds_language_valid, NULL, 1 },
    { "nsid", pds_nsid_valid, NULL, 0 },
    { "recordkey", pds_rkey_valid, NULL, 0 },
    { "tid", pds_tid_valid, NULL, 0 },
    { "uri", pds_uri_valid, NULL, 0 },
    { NULL, NULL, NULL, 0 }
};


/*
 * Runs one fixture file: every value must give "want" from fn (and, when
 * syntax_want >= 0, syntax_want from the grammar-only validator).
 */
static void
run_file(const char *name, validator_pt fn, int want, validator_pt syn,
    int syntax_want)
{
    int          got, n, bad;
    char         path[512], *data, *line, *nl, *end;
    size_t       size, len;

    tap_shared_path(path, sizeof(path), "interop/syntax/");
    strncat(path, name, sizeof(path) - strlen(path) - 1);

    data = tap_slurp(path, &size);
    if (data == NULL) {
        ok(0, "%s: readable (%s)", name, path);
        return;
    }

    n = 0;
    bad = 0;
    end = data + size;

    for (line = data; line < end; line = nl + 1) {
        nl = memchr(line, '\n', (size_t) (end - line));
        if (nl == NULL) {
            nl = end;
        }

        len = (size_t) (nl - line);

        if (len == 0 || line[0] == '#') {
            continue;
        }

        n++;
        got = fn(line, len);

        if (got != want) {
            bad++;
            tap_diag("  %s: got %d want %d: '%.*s'", name, got, want,
                     (int) (len > 100 ? 100 : len), line);
        }

        if (syn != NULL && syntax_want >= 0) {
            got = syn(line, len);

            if (got != syntax_want) {
                bad++;
                tap_diag("  %s (syntax only): got %d want %d: '%.*s'", name,
                         got, syntax_want, (int) (len > 100 ? 100 : len),
                         line);
            }
        }
    }

    free(data);

    ok(bad == 0 && n > 0, "%s: %d values, %d wrong", name, n, bad);
}


static void
test_fixtures(void)
{
    int                    found, known;
    char                   dir[512], name[256];
    size_t                 tl;
    DIR                   *d;
    struct dirent         *de;
    const fixture_type_t  *t;

    for (t = types; t->type; t++) {
        snprintf(name, sizeof(name), "%s_syntax_valid.txt", t->type);
        run_file(name, t->valid, 1, t->syntax, 1);

        snprintf(name, sizeof(name), "%s_syntax_invalid.txt", t->type);
        run_file(name, t->valid, 0, t->syntax, 0);

        if (t->has_parse) {
            /* grammar fine, semantics wrong */
            snprintf(name, sizeof(name), "%s_parse_invalid.txt", t->type);
            run_file(name, t->valid, 0, t->syntax, 1);
        }
    }

    /* any other fixture file present must belong to a known type */
    tap_shared_path(dir, sizeof(dir), "interop/syntax");
    d = opendir(dir);

    if (!ok(d != NULL, "fixture folder %s opens", dir)) {
        return;
    }

    found = 0;
    known = 1;

    while ((de = readdir(d)) != NULL) {
        if (strstr(de->d_name, ".txt") == NULL) {
            continue;
        }

        found++;

        for (t = types; t->type; t++) {
            tl = strlen(t->type);

            if (strncmp(de->d_name, t->type, tl) != 0 || de->d_name[tl] != '_')
            {
                continue;
            }

            if (strcmp(de->d_name + tl, "_syntax_valid.txt") == 0
                || strcmp(de->d_name + tl, "_syntax_invalid.txt") == 0)
            {
                break;
            }

            if (strcmp(de->d_name + tl, "_parse_invalid.txt") == 0) {
                if (!t->has_parse) {
                    /* not expected: check it now with the full validator */
                    run_file(de->d_name, t->valid, 0, NULL, -1);
                }

                break;
            }
        }

        if (t->type == NULL) {
            known = 0;
            tap_diag("  unknown fixture file %s", de->d_name);
        }
    }

    closedir(d);

    ok(found > 0 && known, "all %d fixture files are of known types", found);
}


static void
test_handle(void)
{
    char  buf[300];
    long  n;

    n = pds_handle_normalize(buf, sizeof(buf), "XX.LCS.MIT.EDU", 14);
    is_int(n, 14, "normalize: length");
    buf[n > 0 ? n : 0] = '\0';
    is_str(str_of(buf), "xx.lcs.mit.edu", "normalize: lower case");

    memcpy(buf, "Jay.BSky.Social", 16);
    n = pds_handle_normalize(buf, sizeof(buf), buf, 15);
    is_str(str_of(n == 15 ? buf : "(failed)"), "jay.bsky.social",
           "normalize: in place");

    is_int(pds_handle_normalize(buf, sizeof(buf), "john..test", 10), -1,
           "normalize: refuses an invalid handle");
    is_int(pds_handle_normalize(buf, 5, "john.test", 9), -1,
           "normalize: refuses a short buffer");

    ok(pds_handle_is_reserved_tld("laptop.local", 12)
       && pds_handle_is_reserved_tld("blah.arpa", 9)
       && pds_handle_is_reserved_tld("handle.invalid", 14)
       && pds_handle_is_reserved_tld("a.LOCALHOST", 11)
       && pds_handle_is_reserved_tld("x.internal", 10)
       && pds_handle_is_reserved_tld("www.example", 11)
       && pds_handle_is_reserved_tld("x.alt", 5)
       && pds_handle_is_reserved_tld(
              "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion",
              62),
       "reserved TLDs are detected (case-insensitive)");

    ok(!pds_handle_is_reserved_tld("jay.bsky.social", 15)
       && !pds_handle_is_reserved_tld("john.test", 9)
       && !pds_handle_is_reserved_tld("my.salt", 7)
       && !pds_handle_is_reserved_tld("local", 5)
       && !pds_handle_is_reserved_tld("example.com", 11),
       "ordinary TLDs and .test are not reserved");

    ok(pds_handle_is_test_tld("alice.test", 10)
       && pds_handle_is_test_tld("alice.TEST", 10)
       && !pds_handle_is_test_tld("alice.testing", 13)
       && !pds_handle_is_test_tld("contest", 7),
       ".test detection");

    ok(pds_handle_valid("laptop.local", 12)
       && pds_handle_valid(PDS_HANDLE_INVALID, 14),
       "reserved TLDs stay syntax-valid");

    ok(!pds_handle_valid("john\0.test", 10)
       && !pds_handle_valid("", 0),
       "embedded NUL and empty are invalid");

    /* exactly 253 characters, labels of 63 */
    memset(buf, 'a', 253);
    buf[63] = '.';
    buf[127] = '.';
    buf[191] = '.';
    ok(pds_handle_valid(buf, 253), "253 characters accepted");
    buf[253] = 'a';
    ok(!pds_handle_valid(buf, 254), "254 characters refused");
}


static void
test_did_nsid_rkey(void)
{
    char        buf[400];
    long        n;
    pds_span_t  a, b;

    ok(pds_did_split("did:plc:abc123", 14, &a, &b) == 0
       && a.len == 3 && memcmp(a.data, "plc", 3) == 0
       && b.len == 6 && memcmp(b.data, "abc123", 6) == 0,
       "did split");
    ok(pds_did_split("did:web:a:b", 11, &a, &b) == 0
       && b.len == 3 && memcmp(b.data, "a:b", 3) == 0,
       "did split keeps colons in the id");
    is_int(pds_did_split("did:plc:", 8, &a, &b), -1, "did split refuses");
    ok(!pds_did_valid("did:plc:ab\0c", 12), "did with NUL refused");

    ok(pds_nsid_split("com.example.fooBar", 18, &a, &b) == 0
       && a.len == 11 && memcmp(a.data, "com.example", 11) == 0
       && b.len == 6 && memcmp(b.data, "fooBar", 6) == 0,
       "nsid split");

    n = pds_nsid_authority_domain(buf, sizeof(buf),
                                  "App.Bsky.Feed.post", 18);
    is_int(n, 13, "nsid authority domain: length");
    buf[n > 0 ? n : 0] = '\0';
    is_str(str_of(buf), "feed.bsky.app",
           "nsid authority domain: reversed, lower");

    n = pds_nsid_normalize(buf, sizeof(buf), "Com.Example.fooBar", 18);
    buf[n > 0 ? n : 0] = '\0';
    is_str(str_of(buf), "com.example.fooBar",
           "nsid normalize keeps the name case");

    is_int(pds_nsid_authority_domain(buf, 3, "com.example.foo", 15), -1,
           "nsid authority domain: short buffer");
    is_int(pds_nsid_split("com.example", 11, &a, &b), -1,
           "nsid split refuses two segments");

    /* authority over 253 characters, total under 317 */
    memset(buf, 'a', 300);
    buf[0] = 'c';
    buf[63] = '.';
    buf[127] = '.';
    buf[191] = '.';
    buf[255] = '.';
    buf[258] = '.';
    ok(pds_nsid_valid(buf, 260),
       "nsid with a 258-character authority is accepted (as the fixtures)");
    ok(!pds_nsid_valid("com.example.foo-bar", 19),
       "nsid name with a hyphen refused");
    ok(pds_nsid_valid(buf + 64, 260 - 64),
       "nsid with a 194-character authority is accepted");

    ok(!pds_rkey_valid(".", 1) && !pds_rkey_valid("..", 2)
       && pds_rkey_valid("...", 3) && pds_rkey_valid(".a", 2)
       && !pds_rkey_valid("", 0) && !pds_rkey_valid("a\0", 2),
       "record key: . and .. refused, ... and .a accepted");
}


static void
test_aturi(void)
{
    pds_aturi_t  u;
    const char  *s;

    s = "at://did:plc:asdf123/com.atproto.feed.post/3jzfcijpj2z2a";
    ok(pds_aturi_parse(s, strlen(s), &u) == 0
       && u.authority_is_did
       && u.authority.len == 15 && memcmp(u.authority.data,
                                          "did:plc:asdf123", 15) == 0
       && u.collection.len == 21 && memcmp(u.collection.data,
                                           "com.atproto.feed.post", 21) == 0
       && u.rkey.len == 13 && memcmp(u.rkey.data, "3jzfcijpj2z2a", 13) == 0
       && u.fragment.data == NULL,
       "at-uri parse: did, collection, rkey");

    s = "at://Alice.Test/app.bsky.actor.profile";
    ok(pds_aturi_parse(s, strlen(s), &u) == 0
       && !u.authority_is_did
       && u.authority.len == 10 && u.authority.data == s + 5
       && u.collection.len == 22 && u.rkey.data == NULL && u.rkey.len == 0,
       "at-uri parse: handle and collection");

    s = "at://did:web:example.com";
    ok(pds_aturi_parse(s, strlen(s), &u) == 0 && u.authority_is_did
       && u.authority.len == 19 && u.collection.data == NULL,
       "at-uri parse: authority only");

    s = "at://did:plc:x/a.b.c/self#/text/0";
    ok(pds_aturi_parse(s, strlen(s), &u) == 0
       && u.fragment.len == 7 && memcmp(u.fragment.data, "/text/0", 7) == 0,
       "at-uri parse: fragment");

    s = "at://did:plc:x#/a%C3%A9";
    ok(pds_aturi_valid(s, strlen(s)), "at-uri fragment: UTF-8 escapes");
    s = "at://did:plc:x#/a%FF";
    ok(!pds_aturi_valid(s, strlen(s)), "at-uri fragment: bad UTF-8 refused");
    s = "at://did:plc:x#/a%C3";
    ok(!pds_aturi_valid(s, strlen(s)), "at-uri fragment: truncated UTF-8");
    s = "at://did:plc:x#/%ED%A0%80";
    ok(!pds_aturi_valid(s, strlen(s)), "at-uri fragment: surrogate refused");
    s = "at://did:plc:x?x=1";
    ok(!pds_aturi_valid(s, strlen(s)), "at-uri: query refused");
    s = "at://did:plc:x/a.b.c/";
    ok(pds_aturi_parse(s, strlen(s), &u) == -1 && u.authority.data == NULL,
       "at-uri: trailing slash refused, parts cleared");
    s = "at://did:plc:x/a.b.c/k\0";
    ok(!pds_aturi_valid(s, 23), "at-uri: NUL refused");
}


static void
test_datetime(void)
{
    int          i, bad, r;
    char         buf[80], fmt[PDS_DATETIME_FMT_LEN];
    int64_t      us;
    time_t       tt;
    struct tm    tm;
    unsigned     seed;
    const char  *s;

#define dt_is(str, want, msg)                                                 \
    s = str;                                                                  \
    us = 12345;                                                               \
    r = pds_datetime_parse(s, strlen(s), &us);                                \
    ok(r == 0 && us == (int64_t) (want), msg);                                \
    if (us != (int64_t) (want)) {                                             \
        tap_diag("  r %d got %lld", r, (long long) us);                       \
    }

    dt_is("1970-01-01T00:00:00Z", 0, "epoch is 0");
    dt_is("1985-04-12T23:20:50.123Z", 482196050123000LL, "1985 example");
    dt_is("1985-04-12T23:20:50.123+01:00", 482196050123000LL - 3600000000LL,
          "positive offset subtracts");
    dt_is("1985-04-12T23:20:50.1234567891Z", 482196050123456LL,
          "sub-microsecond digits truncated");
    dt_is("1969-12-31T23:59:59.999999Z", -1, "just before the epoch");
    dt_is("0000-01-01T00:00:00Z", -62167219200000000LL, "year zero");
    dt_is("2000-02-29T12:00:00-10:30", 951825600000000LL + 37800000000LL,
          "leap day 2000, negative offset");

    ok(!pds_datetime_valid("2023-02-29T00:00:00Z", 20)
       && !pds_datetime_valid("1900-02-29T00:00:00Z", 20)
       && pds_datetime_valid("2024-02-29T00:00:00Z", 20)
       && !pds_datetime_valid("2024-04-31T00:00:00Z", 20)
       && pds_datetime_syntax_valid("2024-04-31T00:00:00Z", 20),
       "days per month and leap years");
    ok(!pds_datetime_valid("1985-04-12T23:59:60Z", 20)
       && !pds_datetime_valid("1985-04-12T24:00:00Z", 20)
       && !pds_datetime_valid("1985-04-12T23:00:00+24:00", 25)
       && !pds_datetime_valid("1985-04-12T23:00:00+01:60", 25),
       "leap second, hour 24 and bad offsets refused");
    ok(pds_datetime_valid("9999-12-31T23:59:59.999999Z", 27)
       && !pds_datetime_valid("9999-12-31T23:00:00-01:00", 25)
       && !pds_datetime_valid("0000-01-01T00:00:00+00:01", 25)
       && pds_datetime_valid("0000-01-01T01:00:00+01:00", 25),
       "UTC instant must stay within 0000..9999");
    ok(!pds_datetime_valid("1985-04-12T23:20:50Z\0", 21)
       && !pds_datetime_syntax_valid("1985-04-12T23:20:50.\0Z", 22),
       "NUL refused");

    r = pds_datetime_format(fmt, 482196050123999LL);
    is_int(r, 24, "format length");
    is_str(str_of(fmt), "1985-04-12T23:20:50.123Z", "format 1985");
    pds_datetime_format(fmt, -1);
    is_str(str_of(fmt), "1969-12-31T23:59:59.999Z",
           "format floors before epoch");
    pds_datetime_format(fmt, -62167219200000000LL);
    is_str(str_of(fmt), "0000-01-01T00:00:00.000Z", "format year zero");
    is_int(pds_datetime_format(fmt, -62167219200000001LL), -1,
           "format refuses before year zero");

    /* cross-check against the C library over random instants */
    bad = 0;
    seed = 12345;

    for (i = 0; i < 20000; i++) {
        seed = seed * 1103515245 + 12345;
        memset(&tm, 0, sizeof(tm));
        tm.tm_year = (int) (seed >> 8) % 10000 - 1900;
        seed = seed * 1103515245 + 12345;
        tm.tm_mon = (int) ((seed >> 8) % 12);
        seed = seed * 1103515245 + 12345;
        tm.tm_mday = 1 + (int) ((seed >> 8) % 28);
        seed = seed * 1103515245 + 12345;
        tm.tm_hour = (int) ((seed >> 8) % 24);
        tm.tm_min = (int) ((seed >> 16) % 60);
        tm.tm_sec = (int) ((seed >> 4) % 60);
        tt = timegm(&tm);

        snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, i % 1000);

        if (pds_datetime_parse(buf, strlen(buf), &us) != 0
            || us != (int64_t) tt * 1000000 + (i % 1000) * 1000)
        {
            if (bad++ < 5) {
                tap_diag("  parse %s: %lld vs %lld", buf, (long long) us,
                         (long long) tt * 1000000);
            }
            continue;
        }

        if (pds_datetime_format(fmt, us) != 24 || strcmp(fmt, buf) != 0) {
            if (bad++ < 5) {
                tap_diag("  format %s: %s", buf, fmt);
            }
        }
    }

    ok(bad == 0, "20000 random instants agree with timegm, format "
       "round-trips");

#undef dt_is
}


static void
test_language_uri_cid(void)
{
    ok(pds_language_valid("zh-yue-HK", 9)
       && pds_language_valid("en-US-u-ca-gregory", 18)
       && pds_language_valid("x-a", 3)
       && pds_language_valid("en-x-a-b", 8)
       && pds_language_valid("zh-min-nan", 10)
       && pds_language_valid("de-1996", 7)
       && pds_language_valid("aaa-bbb-ccc-ddd-Latn", 20),
       "language: extlang, extension, private use, grandfathered");
    ok(!pds_language_valid("en-x", 4)
       && !pds_language_valid("en-a", 4)
       && !pds_language_valid("en-a-x-y", 8)
       && !pds_language_valid("en--US", 6)
       && !pds_language_valid("EN", 2)
       && !pds_language_valid("aaa-bbb-ccc-ddd-eee", 19)
       && !pds_language_valid("en-US-US", 8)
       && !pds_language_valid("en\0", 3)
       && !pds_language_valid("", 0),
       "language: malformed tags refused");
    ok(!pds_language_valid("sl-rozaj-biske-Rozaj", 20)
       && !pds_language_valid("en-u-aa-t-bb-U-cc", 17)
       && pds_language_valid("en-u-aa-t-bb-x-u-u", 18),
       "language: repeats refused, repeats in private use allowed");

    ok(pds_uri_valid("a:b", 3)
       && pds_uri_valid("coap+tcp://h/x", 14)
       && pds_uri_valid("HTTPS://x", 9)
       && !pds_uri_valid("1a:b", 4)
       && !pds_uri_valid("a:b\x7f", 4)
       && !pds_uri_valid("a:b\0", 4)
       && !pds_uri_valid("https://\xc3\xa9", 10),
       "uri: scheme and printable ASCII");

    ok(pds_cid_string_valid("bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnc"
                            "i5beludirz2a", 59)
       && !pds_cid_string_valid("Qmabcdefgh", 10)
       && !pds_cid_string_valid("bafy/ab+cd", 10)
       && !pds_cid_string_valid("bafy\0abcd", 9),
       "cid string");
}


int
main(void)
{
    test_fixtures();
    test_handle();
    test_did_nsid_rkey();
    test_aturi();
    test_datetime();
    test_language_uri_cid();

    return tap_done();
}
