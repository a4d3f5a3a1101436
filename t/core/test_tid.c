/*
 * Unit tests for pds_tid: encoding, decoding and the monotonic generator.
 */

#include <stdint.h>

#include "tap.h"
#include "pds_tid.h"


/* tap.h's is_str wants a pointer, not an array (-Waddress) */
static const char *
str_of(const char *p)
{
    return p;
}


static uint64_t
rnd64(uint64_t *state)
{
    /* xorshift64 */
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}


static void
test_codec(void)
{
    int        i, bad;
    char       a[PDS_TID_BUF], b[PDS_TID_BUF];
    uint64_t   v, w, x, st;

    pds_tid_encode(a, 0);
    is_str(str_of(a), "2222222222222", "zero encodes as 2222222222222");

    pds_tid_encode(a, INT64_MAX);
    is_str(str_of(a), "bzzzzzzzzzzzz", "largest top-bit-clear value");
    ok(pds_tid_valid(a, PDS_TID_LEN), "... and it is syntax-valid");

    ok(pds_tid_decode("3jzfcijpj2z2a", 13, &v) == 0, "decode example");
    pds_tid_encode(a, v);
    is_str(str_of(a), "3jzfcijpj2z2a", "example round-trips");
    is_int(pds_tid_clock(v), 0 * 32 + 6, "example clock id (\"2a\")");
    ok(pds_tid_make(pds_tid_time(v), pds_tid_clock(v)) == v,
       "make(time, clock) rebuilds the value");

    ok(pds_tid_decode("jzzzzzzzzzzzz", 13, &v) == 0
       && v == UINT64_MAX,
       "largest syntax-valid TID decodes (top bit set)");

    ok(pds_tid_decode("3jzfcijpj2z21", 13, &v) == -1
       && pds_tid_decode("kjzfcijpj2z2a", 13, &v) == -1
       && pds_tid_decode("3jzfcijpj2z2", 12, &v) == -1
       && pds_tid_decode("3jzfcijpj2z2\0", 13, &v) == -1,
       "decode refuses invalid strings");

    /* random values: round trip, and string order == numeric order */
    bad = 0;
    st = 0x9e3779b97f4a7c15ULL;

    for (i = 0; i < 100000; i++) {
        v = rnd64(&st) >> 1;
        w = rnd64(&st) >> (1 + (i & 31));
        pds_tid_encode(a, v);
        pds_tid_encode(b, w);

        if (!pds_tid_valid(a, PDS_TID_LEN) || pds_tid_decode(a, 13, &x) != 0
            || x != v || a[PDS_TID_LEN] != '\0')
        {
            bad++;
            continue;
        }

        if ((strcmp(a, b) < 0) != (v < w) || (strcmp(a, b) == 0) != (v == w))
        {
            bad++;
        }
    }

    is_int(bad, 0, "100000 random values round-trip and sort as numbers");
}


static void
test_generator(void)
{
    int            i, bad, distinct;
    char           prev[PDS_TID_BUF], cur[PDS_TID_BUF], rev[PDS_TID_BUF];
    unsigned       first;
    uint64_t       t, last, now, fut;
    pds_tid_gen_t  g, h;

    pds_tid_gen_init_clock(&g, 5);

    ok(pds_tid_next_at(&g, 1000, 0, &t) == 0
       && pds_tid_time(t) == 1000 && pds_tid_clock(t) == 5,
       "first TID uses the clock and the clock id");

    ok(pds_tid_next_at(&g, 1000, 0, &t) == 0 && pds_tid_time(t) == 1001,
       "clock stands still: timestamp + 1");
    ok(pds_tid_next_at(&g, 1000, 0, &t) == 0 && pds_tid_time(t) == 1002,
       "clock still stands: + 1 again");
    ok(pds_tid_next_at(&g, 10, 0, &t) == 0 && pds_tid_time(t) == 1003,
       "clock steps back: still increasing");
    ok(pds_tid_next_at(&g, 5000, 0, &t) == 0 && pds_tid_time(t) == 5000
       && pds_tid_clock(t) == 5,
       "clock moves ahead: follows it");

    /* "after" from another generator, with a higher clock id */
    last = pds_tid_make(9000, 1000);
    ok(pds_tid_next_at(&g, 9000, last, &t) == 0 && t > last
       && pds_tid_time(t) == 9001,
       "same microsecond as 'after' with a higher clock id: + 1");

    last = pds_tid_make(9000, 0);
    ok(pds_tid_next_at(&g, 9500, last, &t) == 0 && pds_tid_time(t) == 9500,
       "'after' in the past does not hold the clock back");

    pds_tid_gen_init_clock(&g, 5);
    ok(pds_tid_next_at(&g, PDS_TID_TIME_MAX, 0, &t) == 0
       && pds_tid_time(t) == PDS_TID_TIME_MAX,
       "largest timestamp");
    is_int(pds_tid_next_at(&g, PDS_TID_TIME_MAX, 0, &t), -1,
           "nothing after the largest timestamp");

    /* 100k from the real clock, strictly increasing */
    pds_tid_gen_init_clock(&g, 77);
    bad = 0;
    prev[0] = '\0';

    for (i = 0; i < 100000; i++) {
        if (pds_tid_next(&g, cur) != 0
            || !pds_tid_valid(cur, strlen(cur))
            || strcmp(cur, prev) <= 0
            || cur[11] != '4' || cur[12] != 'h')    /* 77 = 2*32 + 13 */
        {
            if (bad++ < 3) {
                tap_diag("  #%d: '%s' after '%s'", i, cur, prev);
            }
        }

        memcpy(prev, cur, sizeof(cur));
    }

    is_int(bad, 0, "100000 TIDs strictly increasing, valid, same clock id");

    now = pds_tid_now_us();
    ok(pds_tid_decode(prev, 13, &t) == 0
       && pds_tid_time(t) + 60000000 > now && pds_tid_time(t) < now + 60000000,
       "timestamps are the current time in microseconds");

    /* continue after a rev from the future (e.g. another clock) */
    fut = pds_tid_make(now + 3600000000ULL, 3);
    pds_tid_encode(rev, fut);

    ok(pds_tid_next_after(&g, rev, 13, cur) == 0 && strcmp(cur, rev) > 0
       && pds_tid_decode(cur, 13, &t) == 0
       && pds_tid_time(t) == pds_tid_time(fut) + 1,
       "next_after a future rev: just past it");

    memcpy(prev, cur, sizeof(cur));
    ok(pds_tid_next(&g, cur) == 0 && strcmp(cur, prev) > 0,
       "next after that stays ahead of the future rev");

    ok(pds_tid_next_after(&g, "2222222222222", 13, rev) == 0
       && strcmp(rev, cur) > 0,
       "next_after an old rev still increases");

    is_int(pds_tid_next_after(&g, "3jzf-cij-pj2z", 13, cur), -1,
           "next_after refuses an invalid rev");
    is_int(pds_tid_next_after(&g, "jzzzzzzzzzzzz", 13, cur), -1,
           "next_after a top-bit rev: nothing can follow");

    /* random clock ids */
    distinct = 0;
    ok(pds_tid_gen_init(&h) == 0 && h.clock_id <= PDS_TID_CLOCK_MAX
       && h.last == 0, "random init");
    first = h.clock_id;

    for (i = 0; i < 20; i++) {
        if (pds_tid_gen_init(&h) != 0 || h.clock_id > PDS_TID_CLOCK_MAX) {
            distinct = -1000;
        }

        if (h.clock_id != first) {
            distinct++;
        }
    }

    ok(distinct > 0, "random clock ids vary (%d of 20 differ)", distinct);
}


int
main(void)
{
    /* unused tap.h helpers would otherwise warn (-Wunused-function) */
    (void) tap_shared_path;
    (void) tap_slurp;

    test_codec();
    test_generator();

    return tap_done();
}
