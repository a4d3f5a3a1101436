/*
 * libFuzzer target: atproto JSON -> DAG-CBOR -> JSON.
 *
 * Whatever the JSON converter accepts must be strict DAG-CBOR, the
 * validate-only walk must agree with the encoder, and converting the
 * result back to JSON and encoding again must give the same bytes.
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
    json_t       *j, *back;
    pds_buf_t     b, b2;
    const char   *err, *verr;

    j = json_loadb((const char *) data, size,
                   JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (j == NULL) {
        return 0;
    }

    pds_buf_init(&b, &pds_malloc_allocator);
    pds_buf_init(&b2, &pds_malloc_allocator);

    err = pds_json_to_cbor_bytes(j, &b);
    verr = pds_json_validate(j);

    if ((err == NULL) != (verr == NULL)) {
        abort();
    }

    if ((pds_json_validate_record(j) == NULL)
        != (err == NULL && json_is_object(j)))
    {
        abort();
    }

    if (err == NULL) {
        if (pds_cbor_validate(b.data, b.len, NULL) != 0) {
            abort();
        }

        back = pds_cbor_bytes_to_json(b.data, b.len, &err);
        if (back == NULL) {
            abort();
        }

        if (pds_json_to_cbor_bytes(back, &b2) != NULL
            || b2.len != b.len || memcmp(b.data, b2.data, b.len) != 0)
        {
            abort();
        }

        json_decref(back);

    } else if (b.len != 0) {
        abort();
    }

    pds_buf_free(&b);
    pds_buf_free(&b2);
    json_decref(j);

    return 0;
}
