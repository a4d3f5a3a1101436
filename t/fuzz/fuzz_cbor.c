/*
 * libFuzzer target: strict DAG-CBOR decoder.
 *
 * Accepted input must re-encode to exactly the same bytes (canonical form
 * is bijective), the allocation-free validator must agree with the
 * decoder, and the JSON conversion must not crash.
 */

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pds_mem.h"
#include "pds_cbor.h"
#include "pds_json.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int           rc, rc2;
    size_t        used, used2;
    json_t       *j;
    pds_buf_t     b;
    pds_alloc_t   a;
    pds_cbor_t   *v, *v2;
    pds_arena_t  *arena;

    arena = pds_arena_create();
    if (arena == NULL) {
        return 0;
    }

    a = pds_arena_allocator(arena);

    rc = pds_cbor_decode(data, size, &a, &v);
    rc2 = pds_cbor_validate(data, size, NULL);

    if (rc != rc2 && rc != PDS_CBOR_ENOMEM) {
        abort();
    }

    if (rc == 0) {
        pds_buf_init(&b, &a);

        if (pds_cbor_encode(v, &b) != 0) {
            abort();
        }

        if (b.len != size || memcmp(b.data, data, size) != 0) {
            abort();
        }

        j = pds_cbor_to_json(v);
        json_decref(j);
    }

    /* prefix decoding: same item as a validate with used */
    rc = pds_cbor_decode_prefix(data, size, &a, &v2, &used);
    rc2 = pds_cbor_validate(data, size, &used2);

    if (rc != rc2 || (rc == 0 && used != used2) || (rc == 0 && used > size)) {
        abort();
    }

    pds_arena_destroy(arena);

    /* the malloc allocator path frees partial trees */
    rc = pds_cbor_decode(data, size, &pds_malloc_allocator, &v);
    if (rc == 0) {
        pds_cbor_free(&pds_malloc_allocator, v);
    }

    return 0;
}
