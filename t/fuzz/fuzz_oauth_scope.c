/*
 * libFuzzer target: pds_oauth_scope on any input: a scope value read, a
 * whole scope string matched against needs made of the input's own words,
 * the scope a refusal names written; the answers must agree with each
 * other (a value's kind, a need the scope "repo:*" grants...).
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Ingx_pds_module/core \
 *       ngx_pds_module/core/pds_oauth_scope.c ngx_pds_module/core/pds_syntax.c \
 *       t/fuzz/fuzz_oauth_scope.c -o fuzz_oauth_scope
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pds_oauth_scope.h"


#define check(cond)  do { if (!(cond)) { abort(); } } while (0)


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                  k;
    char                *s, *a, *b, out[256];
    long                 n;
    size_t               half;
    pds_scope_need_t     need;
    pds_scope_parsed_t   ps;

    /* an exact-size copy so that ASan sees any read past the end */
    s = malloc(size ? size : 1);
    if (s == NULL) {
        return 0;
    }
    memcpy(s, data, size);

    k = pds_scope_parse(s, size, &ps);
    check((k == 0) == (pds_scope_value_kind(s, size) != PDS_SCOPE_NONE));
    if (k == 0 && ps.kind != PDS_SCOPE_STATIC) {
        check(ps.n[0] >= 1);
    }

    /* needs from the input's two halves, NUL-terminated */
    half = size / 2;
    a = malloc(half + 1);
    b = malloc(size - half + 1);
    if (a != NULL && b != NULL) {
        memcpy(a, data, half);
        a[half] = '\0';
        memcpy(b, data + half, size - half);
        b[size - half] = '\0';

        for (k = PDS_SCOPE_REPO; k <= PDS_SCOPE_IDENTITY; k++) {
            need.kind = (pds_scope_kind_e) k;
            need.a = a;
            need.b = b;
            (void) pds_scope_allows(s, size, &need);
            n = pds_scope_needed(out, sizeof(out), &need);
            check(n == -1 || (n > 0 && (size_t) n < sizeof(out)
                              && out[n] == '\0'));
        }

        /* "repo:*" grants every action on every collection */
        need.kind = PDS_SCOPE_REPO;
        need.a = a;
        need.b = "update";
        check(pds_scope_allows("repo:*", 6, &need));
    }

    free(a);
    free(b);
    free(s);

    return 0;
}
