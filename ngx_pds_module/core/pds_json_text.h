/*
 * ngx_pds_module core: DAG-CBOR -> JSON text without an intermediate
 * json_t (pds_json_text.c).  Byte-for-byte what json_dumpb(JSON_COMPACT)
 * prints for pds_cbor_to_json()'s tree.  Functions return 0 or -1.
 */

#ifndef PDS_JSON_TEXT_H
#define PDS_JSON_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "pds_cbor.h"
#include "pds_mem.h"


/* a JSON string literal (quotes included) of n bytes of valid UTF-8 */
int pds_json_text_string(pds_buf_t *b, const char *s, size_t n);

/* a decoded DAG-CBOR value as atproto JSON */
int pds_json_text_cbor(pds_buf_t *b, const pds_cbor_t *v);

/*
 * Decodes one DAG-CBOR item (the tree allocated from a, e.g. an arena
 * shared by the calls of one request) and appends it as JSON; on error b
 * is as before and *err says why.
 */
int pds_json_text_from_cbor(pds_buf_t *b, const uint8_t *p, size_t n,
    const pds_alloc_t *a, const char **err);

#endif /* PDS_JSON_TEXT_H */
