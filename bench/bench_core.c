/*
 * Micro-benchmark of the data model core: DAG-CBOR encode / decode /
 * validate, JSON <-> CBOR and CID computation on a post-like record.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "pds_mem.h"
#include "pds_cid.h"
#include "pds_cbor.h"
#include "pds_json.h"


#define BENCH_ITERS  200000


static const char  bench_record[] =
    "{\"$type\":\"app.bsky.feed.post\","
    "\"text\":\"Hello from the fastest PDS! This is a fairly ordinary post "
    "with a mention of @alice.example.com and a link https://example.com/"
    "a/b/c?d=e \\u00e9\\u00e8 \\ud83d\\ude00\","
    "\"createdAt\":\"2024-11-05T12:34:56.789Z\","
    "\"langs\":[\"en\",\"fr\"],"
    "\"facets\":[{\"index\":{\"byteStart\":46,\"byteEnd\":64},"
    "\"features\":[{\"$type\":\"app.bsky.richtext.facet#mention\","
    "\"did\":\"did:plc:ewvi7nxzyoun6zhxrhs64oiz\"}]},"
    "{\"index\":{\"byteStart\":76,\"byteEnd\":102},"
    "\"features\":[{\"$type\":\"app.bsky.richtext.facet#link\","
    "\"uri\":\"https://example.com/a/b/c?d=e\"}]}],"
    "\"reply\":{\"root\":{\"cid\":\"bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4ruj"
    "cjtnci5beludirz2a\",\"uri\":\"at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app."
    "bsky.feed.post/3k2yihcrp6f2c\"},\"parent\":{\"cid\":\"bafyreidfayvfuwqa"
    "7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a\",\"uri\":\"at://did:plc:ew"
    "vi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3k2yihcrp6f2c\"}},"
    "\"embed\":{\"$type\":\"app.bsky.embed.images\",\"images\":[{\"alt\":"
    "\"a picture\",\"image\":{\"$type\":\"blob\",\"ref\":{\"$link\":\"bafkre"
    "iccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity\"},\"mimeType\":"
    "\"image/jpeg\",\"size\":123456},\"aspectRatio\":{\"width\":1200,"
    "\"height\":800}}]},"
    "\"bytes\":{\"$bytes\":\"nFERjvLLiw9qm45JrqH9QTzyC2Lu1Xb4ne6+sBrCzI0\"},"
    "\"link\":{\"$link\":\"bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5"
    "beludirz2a\"}}";


static double
now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}


static void
report(const char *what, double secs, size_t bytes, long iters)
{
    printf("%-34s %9.1f MB/s %9.0f ns/op\n", what,
           (double) bytes * (double) iters / secs / 1e6,
           secs * 1e9 / (double) iters);
}


int
main(void)
{
    long          i;
    double        t0, t;
    size_t        len, sink;
    json_t       *j, *back;
    uint8_t       big[4096];
    pds_cid_t     cid;
    pds_buf_t     b, out;
    pds_alloc_t   a;
    pds_cbor_t   *v;
    pds_arena_t  *arena;

    j = json_loads(bench_record, 0, NULL);
    if (j == NULL) {
        fprintf(stderr, "bad bench record\n");
        return 1;
    }

    pds_buf_init(&b, &pds_malloc_allocator);
    if (pds_json_record_to_cbor_bytes(j, &b) != NULL) {
        fprintf(stderr, "record does not encode\n");
        return 1;
    }

    len = b.len;
    printf("record: %zu bytes of DAG-CBOR, %zu of JSON, %d iterations\n",
           len, strlen(bench_record), BENCH_ITERS);

    sink = 0;

    /* JSON tree -> CBOR bytes */
    pds_buf_init(&out, &pds_malloc_allocator);
    t0 = now();
    for (i = 0; i < BENCH_ITERS; i++) {
        out.len = 0;
        pds_json_to_cbor_bytes(j, &out);
        sink += out.len;
    }
    t = now() - t0;
    report("json_t -> cbor (output bytes)", t, len, BENCH_ITERS);

    /* strict validation only */
    t0 = now();
    for (i = 0; i < BENCH_ITERS; i++) {
        sink += (size_t) pds_cbor_validate(b.data, b.len, NULL);
    }
    t = now() - t0;
    report("cbor validate", t, len, BENCH_ITERS);

    /* decode into an arena (reset every 16 records, like a request pool) */
    arena = pds_arena_create();
    a = pds_arena_allocator(arena);
    t0 = now();
    for (i = 0; i < BENCH_ITERS; i++) {
        if (i % 16 == 15) {
            pds_arena_destroy(arena);
            arena = pds_arena_create();
            a = pds_arena_allocator(arena);
        }
        pds_cbor_decode(b.data, b.len, &a, &v);
        sink += v->u.map.len;
    }
    t = now() - t0;
    report("cbor decode -> tree", t, len, BENCH_ITERS);

    /* tree encode (already sorted: the common decoded case) */
    t0 = now();
    for (i = 0; i < BENCH_ITERS; i++) {
        out.len = 0;
        pds_cbor_encode(v, &out);
        sink += out.len;
    }
    t = now() - t0;
    report("tree -> cbor", t, len, BENCH_ITERS);

    /* CBOR -> JSON (tree conversion, jansson allocation included) */
    t0 = now();
    for (i = 0; i < BENCH_ITERS / 4; i++) {
        back = pds_cbor_to_json(v);
        sink += json_object_size(back);
        json_decref(back);
    }
    t = now() - t0;
    report("tree -> json_t", t, len, BENCH_ITERS / 4);

    t0 = now();
    for (i = 0; i < BENCH_ITERS / 4; i++) {
        back = pds_cbor_bytes_to_json(b.data, b.len, NULL);
        sink += json_object_size(back);
        json_decref(back);
    }
    t = now() - t0;
    report("cbor bytes -> json_t", t, len, BENCH_ITERS / 4);

    pds_arena_destroy(arena);

    /* CIDs */
    t0 = now();
    for (i = 0; i < BENCH_ITERS; i++) {
        pds_cid_of_cbor(&cid, b.data, b.len);
        sink += cid.digest[0];
    }
    t = now() - t0;
    report("CID of the record", t, len, BENCH_ITERS);

    memset(big, 0x5a, sizeof(big));
    t0 = now();
    for (i = 0; i < BENCH_ITERS / 4; i++) {
        big[0] = (uint8_t) i;
        pds_cid_of_raw(&cid, big, sizeof(big));
        sink += cid.digest[0];
    }
    t = now() - t0;
    report("CID of 4 KiB", t, sizeof(big), BENCH_ITERS / 4);

    {
        char  str[PDS_CID_STR_SIZE];

        t0 = now();
        for (i = 0; i < BENCH_ITERS; i++) {
            cid.digest[1] = (uint8_t) i;
            pds_cid_format(&cid, str);
            pds_cid_parse(&cid, str, PDS_CID_STR_LEN);
            sink += cid.digest[2];
        }
        t = now() - t0;
        report("CID format + parse (string)", t, PDS_CID_STR_LEN,
               BENCH_ITERS);
    }

    printf("(checksum %zu)\n", sink);

    pds_buf_free(&b);
    pds_buf_free(&out);
    json_decref(j);

    return 0;
}
