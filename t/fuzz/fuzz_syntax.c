/*
 * libFuzzer target: runs every pds_syntax / pds_tid validator and helper on
 * the input and checks that results are stable and mutually consistent.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined \
 *       -Ingx_pds_module/core ngx_pds_module/core/pds_syntax.c \
 *       ngx_pds_module/core/pds_syntax_format.c \
 *       ngx_pds_module/core/pds_tid.c t/fuzz/fuzz_syntax.c -o fuzz_syntax
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pds_syntax.h"
#include "pds_tid.h"


#define check(cond)  do { if (!(cond)) { abort(); } } while (0)


typedef int (*validator_pt)(const char *s, size_t len);


static const validator_pt  validators[] = {
    pds_handle_valid, pds_did_valid, pds_nsid_valid, pds_rkey_valid,
    pds_tid_valid, pds_atidentifier_valid, pds_aturi_valid,
    pds_datetime_syntax_valid, pds_datetime_valid, pds_language_valid,
    pds_uri_valid, pds_cid_string_valid, pds_handle_is_reserved_tld,
    pds_handle_is_test_tld, NULL
};


static int
span_in(pds_span_t sp, const char *s, size_t len)
{
    return sp.data >= s && sp.len <= len
           && (size_t) (sp.data - s) <= len - sp.len;
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int            r, i;
    long           n;
    char          *s, *buf, tid[PDS_TID_BUF], dt[PDS_DATETIME_FMT_LEN];
    int64_t        us, us2;
    uint64_t       v, t;
    pds_span_t     a, b;
    pds_aturi_t    u;
    pds_tid_gen_t  g;

    /* an exact-size copy so that ASan sees any read past the end */
    s = malloc(size ? size : 1);
    buf = malloc(size ? size : 1);
    if (s == NULL || buf == NULL) {
        free(s);
        free(buf);
        return 0;
    }

    memcpy(s, data, size);

    for (i = 0; validators[i]; i++) {
        r = validators[i](s, size);
        check(r == 0 || r == 1);
        check(validators[i](s, size) == r);
        check(memcmp(s, data, size) == 0);
    }

    /* embedded NUL is never valid */
    if (size && memchr(s, '\0', size)) {
        for (i = 0; validators[i] != pds_handle_is_reserved_tld; i++) {
            check(validators[i](s, size) == 0);
        }
    }

    /* at-identifier is a DID or a handle */
    r = pds_atidentifier_valid(s, size);
    check(r == (pds_did_valid(s, size)
                || (!(size >= 4 && memcmp(s, "did:", 4) == 0)
                    && pds_handle_valid(s, size))));

    /* handle normalization */
    n = pds_handle_normalize(buf, size, s, size);
    check((n >= 0) == pds_handle_valid(s, size));

    if (n >= 0) {
        check((size_t) n == size && pds_handle_valid(buf, size));
        check(pds_handle_normalize(buf, size, buf, size) == n);
    }

    /* did split */
    if (pds_did_split(s, size, &a, &b) == 0) {
        check(pds_did_valid(s, size) && span_in(a, s, size)
              && span_in(b, s, size) && a.len > 0 && b.len > 0
              && a.len + b.len + 5 == size);
    } else {
        check(!pds_did_valid(s, size));
    }

    /* nsid helpers: the authority domain is a handle */
    if (pds_nsid_split(s, size, &a, &b) == 0) {
        check(pds_nsid_valid(s, size) && a.len + b.len + 1 == size);

        /* (authorities over 253 characters are accepted, see nsid) */
        n = pds_nsid_authority_domain(buf, size, s, size);
        check(n == (long) a.len);
        check(a.len > PDS_HANDLE_MAX || pds_handle_valid(buf, (size_t) n));

        n = pds_nsid_normalize(buf, size, s, size);
        check(n == (long) size && pds_nsid_valid(buf, size));
    } else {
        check(!pds_nsid_valid(s, size));
        check(pds_nsid_authority_domain(buf, size, s, size) == -1);
    }

    /* at-uri parts are valid on their own */
    if (pds_aturi_parse(s, size, &u) == 0) {
        check(pds_aturi_valid(s, size));
        check(span_in(u.authority, s, size)
              && pds_atidentifier_valid(u.authority.data, u.authority.len));
        check(u.authority_is_did
              == pds_did_valid(u.authority.data, u.authority.len));

        if (u.collection.data) {
            check(pds_nsid_valid(u.collection.data, u.collection.len));
        }

        if (u.rkey.data) {
            check(u.collection.data
                  && pds_rkey_valid(u.rkey.data, u.rkey.len));
        }

        if (u.fragment.data) {
            check(span_in(u.fragment, s, size) && u.fragment.len > 0);
        }

    } else {
        check(!pds_aturi_valid(s, size));
    }

    /* datetime: valid => syntax valid; parse/format round trip */
    if (pds_datetime_valid(s, size)) {
        check(pds_datetime_syntax_valid(s, size));
        check(pds_datetime_parse(s, size, &us) == 0);
        check(pds_datetime_format(dt, us) == PDS_DATETIME_FMT_LEN - 1);
        check(pds_datetime_valid(dt, PDS_DATETIME_FMT_LEN - 1));
        check(pds_datetime_parse(dt, PDS_DATETIME_FMT_LEN - 1, &us2) == 0);
        check(us2 <= us && us - us2 < 1000 && us2 % 1000 == 0);

    } else {
        check(pds_datetime_parse(s, size, &us) == -1);
    }

    /* tid: decode/encode round trip */
    if (pds_tid_decode(s, size, &v) == 0) {
        check(pds_tid_valid(s, size));
        pds_tid_encode(tid, v);
        check(memcmp(tid, s, PDS_TID_LEN) == 0);

        /* the generator continues strictly after it, or refuses */
        pds_tid_gen_init_clock(&g, (unsigned) v);

        if (pds_tid_next_at(&g, pds_tid_time(v), v, &t) == 0) {
            check(t > v && pds_tid_clock(t) == (v & PDS_TID_CLOCK_MAX));
            pds_tid_encode(tid, t);
            check(pds_tid_valid(tid, PDS_TID_LEN));
            check(memcmp(tid, s, PDS_TID_LEN) > 0);

        } else {
            check(pds_tid_time(v) >= PDS_TID_TIME_MAX);
        }

    } else {
        check(!pds_tid_valid(s, size));
    }

    /* 8 input bytes as a TID value: encoding is always syntax-valid */
    if (size >= 8) {
        memcpy(&v, s, 8);
        v >>= 1;
        pds_tid_encode(tid, v);
        check(pds_tid_valid(tid, PDS_TID_LEN)
              && pds_tid_decode(tid, PDS_TID_LEN, &t) == 0 && t == v);

        memcpy(&us, s, 8);

        if (pds_datetime_format(dt, us) > 0) {
            check(pds_datetime_parse(dt, PDS_DATETIME_FMT_LEN - 1, &us2)
                  == 0);
            check(us2 <= us && us - us2 < 1000);
        }
    }

    free(s);
    free(buf);

    return 0;
}
