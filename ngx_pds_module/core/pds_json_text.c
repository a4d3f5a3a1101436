/*
 * ngx_pds_module core: DAG-CBOR -> JSON text, written straight into a
 * byte buffer.
 *
 * The answer of a read such as listRecords is mostly record values.  Going
 * through jansson (a json_t per value, then json_dumpb) cost more than
 * everything else the request does; this writes the same bytes directly
 * from the decoded tree: compact, map keys in their (canonical) order,
 * CIDs as {"$link": ...}, byte strings as {"$bytes": ...} (base64 without
 * padding), and strings escaped as jansson escapes them without flags
 * ('"', '\\', \b \f \n \r \t, other control characters as \u00XX in upper
 * case hex, everything else verbatim UTF-8), so clients see no change.
 */

#include <stdio.h>
#include <string.h>

#include "pds_cbor.h"
#include "pds_enc.h"
#include "pds_json_text.h"


int
pds_json_text_string(pds_buf_t *b, const char *s, size_t n)
{
    size_t          i, run;
    unsigned char   c;
    char            esc[8];
    const char     *e;
    static const char  hex[] = "0123456789ABCDEF";

    if (pds_buf_reserve(b, n + 2) != 0 || pds_buf_putc(b, '"') != 0) {
        return -1;
    }

    run = 0;

    for (i = 0; i < n; i++) {
        c = (unsigned char) s[i];

        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }

        if (pds_buf_append(b, s + run, i - run) != 0) {
            return -1;
        }
        run = i + 1;

        switch (c) {
        case '"':  e = "\\\""; break;
        case '\\': e = "\\\\"; break;
        case '\b': e = "\\b"; break;
        case '\f': e = "\\f"; break;
        case '\n': e = "\\n"; break;
        case '\r': e = "\\r"; break;
        case '\t': e = "\\t"; break;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0xf];
            esc[6] = '\0';
            e = esc;
        }

        if (pds_buf_append(b, e, strlen(e)) != 0) {
            return -1;
        }
    }

    if (pds_buf_append(b, s + run, n - run) != 0) {
        return -1;
    }

    return pds_buf_putc(b, '"');
}


static int
pds_json_text_lit(pds_buf_t *b, const char *s)
{
    return pds_buf_append(b, s, strlen(s));
}


static int
pds_json_text_bytes(pds_buf_t *b, const uint8_t *p, size_t n)
{
    size_t  len;

    if (pds_json_text_lit(b, "{\"$bytes\":\"") != 0
        || pds_buf_reserve(b, pds_base64_len(n) + 2) != 0)
    {
        return -1;
    }

    len = pds_base64_encode((char *) b->data + b->len, p, n, 0, 0);
    b->len += len;

    return pds_json_text_lit(b, "\"}");
}


int
pds_json_text_cbor(pds_buf_t *b, const pds_cbor_t *v)
{
    size_t                  i;
    char                    num[32];
    const pds_cbor_pair_t  *pair;

    switch (v->type) {

    case PDS_CBOR_NULL:
        return pds_json_text_lit(b, "null");

    case PDS_CBOR_BOOL:
        return pds_json_text_lit(b, v->u.boolean ? "true" : "false");

    case PDS_CBOR_INT:
        snprintf(num, sizeof(num), "%lld", (long long) v->u.integer);
        return pds_json_text_lit(b, num);

    case PDS_CBOR_STRING:
        return pds_json_text_string(b, v->u.str.data, v->u.str.len);

    case PDS_CBOR_BYTES:
        return pds_json_text_bytes(b, v->u.bytes.data, v->u.bytes.len);

    case PDS_CBOR_CID:
        if (pds_json_text_lit(b, "{\"$link\":\"") != 0
            || pds_buf_reserve(b, PDS_CID_STR_SIZE + 2) != 0)
        {
            return -1;
        }
        pds_cid_format(&v->u.cid, (char *) b->data + b->len);
        b->len += PDS_CID_STR_LEN;
        return pds_json_text_lit(b, "\"}");

    case PDS_CBOR_ARRAY:
        if (pds_buf_putc(b, '[') != 0) {
            return -1;
        }
        for (i = 0; i < v->u.array.len; i++) {
            if ((i && pds_buf_putc(b, ',') != 0)
                || pds_json_text_cbor(b, &v->u.array.items[i]) != 0)
            {
                return -1;
            }
        }
        return pds_buf_putc(b, ']');

    case PDS_CBOR_MAP:
        if (pds_buf_putc(b, '{') != 0) {
            return -1;
        }
        for (i = 0; i < v->u.map.len; i++) {
            pair = &v->u.map.pairs[i];
            if ((i && pds_buf_putc(b, ',') != 0)
                || pds_json_text_string(b, pair->key, pair->key_len) != 0
                || pds_buf_putc(b, ':') != 0
                || pds_json_text_cbor(b, &pair->value) != 0)
            {
                return -1;
            }
        }
        return pds_buf_putc(b, '}');
    }

    return -1;
}


int
pds_json_text_from_cbor(pds_buf_t *b, const uint8_t *p, size_t n,
    const pds_alloc_t *a, const char **err)
{
    int          rc;
    size_t       len;
    pds_cbor_t  *v;

    rc = pds_cbor_decode(p, n, a, &v);
    if (rc != 0) {
        *err = pds_cbor_strerror(rc);
        return -1;
    }

    len = b->len;

    if (pds_json_text_cbor(b, v) != 0) {
        b->len = len;
        *err = "out of memory";
        return -1;
    }

    return 0;
}
