/*
 * DAG-CBOR -> JSON text (pds_json_text.c) prints exactly what jansson
 * prints (json_dumpb(JSON_COMPACT)) for the same value through json_t:
 * the data-model interop fixtures, hand-made strings (every control
 * character, quotes, backslashes, NUL, multi-byte UTF-8, the slash), and
 * random nested values.
 */

#include <jansson.h>

#include "tap.h"
#include "pds_mem.h"
#include "pds_enc.h"
#include "pds_cid.h"
#include "pds_cbor.h"
#include "pds_json.h"
#include "pds_json_text.h"


static pds_arena_t  *arena;
static pds_alloc_t   A;


/* compares both ways of printing the DAG-CBOR bytes p */
static int
same_text(const uint8_t *p, size_t n, char **ours_out)
{
    int           same;
    char         *theirs;
    json_t       *j;
    pds_buf_t     b;
    const char   *err;

    j = pds_cbor_bytes_to_json(p, n, &err);
    if (j == NULL) {
        return 0;
    }

    theirs = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);

    pds_buf_init(&b, &pds_malloc_allocator);
    if (pds_json_text_from_cbor(&b, p, n, &A, &err) != 0
        || pds_buf_putc(&b, '\0') != 0)
    {
        free(theirs);
        pds_buf_free(&b);
        return 0;
    }

    same = theirs && strcmp((char *) b.data, theirs) == 0;
    if (!same) {
        tap_diag("ours:    %s", (char *) b.data);
        tap_diag("jansson: %s", theirs ? theirs : "(null)");
    }

    if (ours_out) {
        *ours_out = strdup((char *) b.data);
    }

    free(theirs);
    pds_buf_free(&b);

    return same;
}


static void
test_fixtures(void)
{
    long          n;
    size_t        i, count;
    char          path[1024], *text;
    size_t        len;
    json_t       *root, *e;
    uint8_t      *bytes;
    const char   *b64;

    tap_shared_path(path, sizeof(path),
                    "interop/data-model/data-model-fixtures.json");
    text = tap_slurp(path, &len);
    if (text == NULL) {
        ok(0, "read %s", path);
        return;
    }

    root = json_loadb(text, len, 0, NULL);
    free(text);
    if (!ok(json_is_array(root), "data-model fixtures loaded")) {
        return;
    }

    count = 0;
    json_array_foreach(root, i, e) {
        b64 = json_string_value(json_object_get(e, "cbor_base64"));
        bytes = malloc(pds_base64_dec_len(strlen(b64)));
        n = pds_base64_decode(bytes, b64, strlen(b64), 0);
        count += (n > 0 && same_text(bytes, (size_t) n, NULL));
        free(bytes);
    }

    ok(count == json_array_size(root),
       "every fixture (%zu) prints as jansson prints it", count);
    json_decref(root);
}


static int
text_of(const char *s, size_t n, char **out)
{
    pds_buf_t  b;
    int        rc;

    pds_buf_init(&b, &pds_malloc_allocator);
    if (pds_cbor_put_map(&b, 1) != 0 || pds_cbor_put_str(&b, "t") != 0
        || pds_cbor_put_text(&b, s, n) != 0)
    {
        pds_buf_free(&b);
        return 0;
    }

    rc = same_text(b.data, b.len, out);
    pds_buf_free(&b);

    return rc;
}


static void
test_strings(void)
{
    int    c;
    char   s[4], *out;
    size_t all;

    all = 0;
    for (c = 0; c < 0x80; c++) {
        s[0] = 'a';
        s[1] = (char) c;
        s[2] = 'z';
        all += text_of(s, 3, NULL);
    }
    ok(all == 0x80, "every ASCII character (NUL and controls too) as jansson");

    out = NULL;
    ok(text_of("q\"b\\s/\n\t\x01\x1f\x7f", 11, &out), "quotes, backslash, slash");
    is_str(out, "{\"t\":\"q\\\"b\\\\s/\\n\\t\\u0001\\u001F\x7f\"}",
           "... escaped as JSON requires, '/' and DEL verbatim");
    free(out);

    out = NULL;
    ok(text_of("caf\xc3\xa9 \xe2\x80\xa8 \xf0\x9f\xa6\x8b", 14, &out),
       "multi-byte UTF-8 (U+00E9, U+2028, U+1F98B)");
    is_str(out, "{\"t\":\"caf\xc3\xa9 \xe2\x80\xa8 \xf0\x9f\xa6\x8b\"}",
           "... verbatim");
    free(out);

    ok(text_of("", 0, NULL), "the empty string");
}


/* a random DAG-CBOR value written with the encoder's primitives */
static int
put_random(pds_buf_t *b, int depth)
{
    int         kind, i, n;
    char        s[24];
    uint8_t     raw[40];
    pds_cid_t   cid;

    kind = depth > 3 ? rand() % 5 : rand() % 8;

    switch (kind) {
    case 0:
        return pds_cbor_put_int(b, (int64_t) rand() * (rand() % 2 ? -1 : 1)
                                   * (rand() % 3 ? 1 : 1000003));
    case 1:
        return rand() % 3 ? pds_cbor_put_bool(b, rand() % 2)
                          : pds_cbor_put_null(b);
    case 2:
        n = rand() % (int) sizeof(s);
        for (i = 0; i < n; i++) {
            s[i] = (char) (rand() % 0x80);
        }
        return pds_cbor_put_text(b, s, (size_t) n);
    case 3:
        n = rand() % (int) sizeof(raw);
        for (i = 0; i < n; i++) {
            raw[i] = (uint8_t) rand();
        }
        return pds_cbor_put_bytes(b, raw, (size_t) n);
    case 4:
        for (i = 0; i < 8; i++) {
            raw[i] = (uint8_t) rand();
        }
        pds_cid_of_cbor(&cid, raw, 8);
        return pds_cbor_put_cid(b, &cid);
    case 5:
    case 6:
        n = rand() % 5;
        if (pds_cbor_put_array(b, (size_t) n) != 0) {
            return -1;
        }
        for (i = 0; i < n; i++) {
            if (put_random(b, depth + 1) != 0) {
                return -1;
            }
        }
        return 0;
    default:
        /* keys of one letter each, increasing: canonical order */
        n = rand() % 5;
        if (pds_cbor_put_map(b, (size_t) n) != 0) {
            return -1;
        }
        for (i = 0; i < n; i++) {
            s[0] = (char) ('a' + i * 2 + rand() % 2);
            if (pds_cbor_put_text(b, s, 1) != 0 || put_random(b, depth + 1) != 0) {
                return -1;
            }
        }
        return 0;
    }
}


static void
test_random(void)
{
    int        i, same, made;
    pds_buf_t  b;

    srand(20261206);
    same = 0;
    made = 0;

    for (i = 0; i < 2000; i++) {
        pds_buf_init(&b, &pds_malloc_allocator);
        if (put_random(&b, 0) == 0) {
            made++;
            same += same_text(b.data, b.len, NULL);
        }
        pds_buf_free(&b);
    }

    ok(made == 2000 && same == made,
       "2000 random nested values print as jansson prints them (%d)", same);
}


int
main(void)
{
    arena = pds_arena_create();
    A = pds_arena_allocator(arena);

    test_fixtures();
    test_strings();
    test_random();

    pds_arena_destroy(arena);

    return tap_done();
}
