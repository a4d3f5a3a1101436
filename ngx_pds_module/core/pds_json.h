/*
 * ngx_pds_module core: atproto JSON (jansson) <-> DAG-CBOR data model.
 *
 * JSON conventions: {"$link": "<cid>"} (the only key) is a CID link,
 * {"$bytes": "<base64>"} (the only key; standard alphabet, padding
 * optional) is a byte string, an object with "$type": "blob" must be a
 * well-formed blob ({$type, ref: CID link, mimeType "x/y", size >= 0}), and
 * any "$type" must be a non-empty string.  Numbers must be integers (a JSON
 * real is accepted only if it is integral within +-(2^53 - 1), e.g. 123.0);
 * other floats are rejected.  Nesting is limited to PDS_CBOR_MAX_DEPTH.
 *
 * Functions that can reject input return NULL on success or a short static
 * English message suitable for an XRPC InvalidRequest error.
 */

#ifndef PDS_JSON_H
#define PDS_JSON_H

#include <jansson.h>

#include "pds_mem.h"
#include "pds_cbor.h"


/* any data model value -> canonical DAG-CBOR appended to out */
const char *pds_json_to_cbor_bytes(const json_t *j, pds_buf_t *out);
/* any data model value -> tree allocated from a */
const char *pds_json_to_cbor(const json_t *j, const pds_alloc_t *a,
    pds_cbor_t **out);
/* checks a value against the data model rules without encoding it */
const char *pds_json_validate(const json_t *j);

/* the same for records: the top level must be an object */
const char *pds_json_record_to_cbor_bytes(const json_t *j, pds_buf_t *out);
const char *pds_json_validate_record(const json_t *j);

/* tree -> new JSON value (a new reference), NULL if out of memory */
json_t *pds_cbor_to_json(const pds_cbor_t *v);
/*
 * strict DAG-CBOR bytes (exactly one item) -> new JSON value; on failure
 * returns NULL and sets *err (if err is not NULL) to a message
 */
json_t *pds_cbor_bytes_to_json(const uint8_t *p, size_t n, const char **err);

#endif /* PDS_JSON_H */
