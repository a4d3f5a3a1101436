/*
 * CAR v1 writer and reader: layout, chunked output, round trips in pieces
 * of every size, and the reader's checks (CIDs, limits, truncation).
 */

#include <stddef.h>

#include "tap.h"

#include "pds_car.h"
#include "pds_cbor.h"
#include "pds_enc.h"


typedef struct {
    pds_cid_t   cids[16];
    size_t      lens[16];
    uint8_t     data[16][4096];
    size_t      n;
    int         stop_at;
} got_t;


typedef struct {
    uint8_t     buf[1 << 16];
    size_t      len;
    size_t      calls;
    size_t      max_call;
} sink_t;


static int
sink(void *ctx, const uint8_t *p, size_t n)
{
    sink_t  *s = ctx;

    if (s->len + n > sizeof(s->buf)) {
        return -1;
    }

    memcpy(s->buf + s->len, p, n);
    s->len += n;
    s->calls++;

    if (n > s->max_call) {
        s->max_call = n;
    }

    return 0;
}


static int
collect(void *ctx, const pds_cid_t *cid, const uint8_t *p, size_t n)
{
    got_t  *g = ctx;

    if (g->stop_at && (int) g->n + 1 == g->stop_at) {
        return 1;
    }

    if (g->n == 16 || n > 4096) {
        return -1;
    }

    g->cids[g->n] = *cid;
    g->lens[g->n] = n;
    memcpy(g->data[g->n], p, n);
    g->n++;

    return 0;
}


/* reads car in pieces of size step (0: all at once) */
static int
read_car(const uint8_t *car, size_t len, size_t step, size_t max_block,
    uint64_t max_total, got_t *g, pds_car_reader_t *r)
{
    int     rc;
    size_t  off, n;

    memset(g, 0, offsetof(got_t, stop_at));
    pds_car_reader_init(r, &pds_malloc_allocator, max_block, max_total,
                        collect, g);

    rc = 0;

    for (off = 0; off < len && rc == 0; off += n) {
        n = step ? step : len;
        if (n > len - off) {
            n = len - off;
        }

        rc = pds_car_reader_feed(r, car + off, n);
    }

    if (rc == 0) {
        rc = pds_car_reader_finish(r);
    }

    pds_car_reader_free(r);

    return rc;
}


int
main(void)
{
    int                rc, all;
    size_t             i, step;
    uint8_t            blocks[4][3000], *car;
    size_t             blens[4];
    pds_cid_t          cids[4];
    sink_t            *s;
    got_t             *g;
    pds_buf_t          bad;
    pds_car_reader_t   r;
    pds_car_writer_t   w, w2;

    static const uint8_t  head_prefix[] = {
        0xa2, 0x65, 'r', 'o', 'o', 't', 's', 0x81, 0xd8, 0x2a, 0x58, 0x25,
        0x00, 0x01, 0x71, 0x12, 0x20
    };

    s = calloc(1, sizeof(sink_t));
    g = calloc(1, sizeof(got_t));

    /* four blocks: small CBOR maps, a raw block, one bigger than a chunk */
    for (i = 0; i < 4; i++) {
        pds_buf_t  b;

        pds_buf_init(&b, &pds_malloc_allocator);

        if (i < 2) {
            pds_cbor_put_map(&b, 1);
            pds_cbor_put_str(&b, "n");
            pds_cbor_put_uint(&b, i);
            memcpy(blocks[i], b.data, b.len);
            blens[i] = b.len;
            pds_cid_of_cbor(&cids[i], blocks[i], blens[i]);

        } else {
            blens[i] = i == 2 ? 100 : 3000;
            memset(blocks[i], 'a' + (int) i, blens[i]);
            pds_cid_of_raw(&cids[i], blocks[i], blens[i]);
        }

        pds_buf_free(&b);
    }

    /* in memory */
    pds_car_writer_init(&w, &pds_malloc_allocator, 0, NULL, NULL);
    ok(pds_car_header(&w, &cids[0], 1) == 0, "header");

    for (i = 0; i < 4; i++) {
        pds_car_block(&w, &cids[i], blocks[i], blens[i]);
    }

    ok(pds_car_finish(&w) == 0 && w.error == 0, "finish without callback");
    is_int(w.blocks, 4, "4 blocks written");
    is_int(w.total, w.buf.len, "total counts every byte");

    /* header: varint length, then {roots: [cid], version: 1} canonical */
    ok(w.buf.data[0] == 0x3a
       && memcmp(w.buf.data + 1, head_prefix, sizeof(head_prefix)) == 0,
       "header is varint 58 + canonical {roots, version}");
    ok(memcmp(w.buf.data + 1 + sizeof(head_prefix), cids[0].digest, 32) == 0
       && memcmp(w.buf.data + 1 + sizeof(head_prefix) + 32,
                 "\x67version\x01", 9) == 0,
       "header root digest then version 1");

    {
        long      vn;
        uint64_t  len;
        uint8_t  *p = w.buf.data + 0x3b;

        vn = pds_varint_decode(p, 10, &len);
        ok(vn == 1 && len == 36 + blens[0]
           && memcmp(p + 1, "\x01\x71\x12\x20", 4) == 0
           && memcmp(p + 37, blocks[0], blens[0]) == 0,
           "first section: varint(36 + n), binary CID, bytes");
    }

    /* chunked through a callback: the same bytes, in bounded pieces */
    pds_car_writer_init(&w2, &pds_malloc_allocator, 64, sink, s);
    pds_car_header(&w2, &cids[0], 1);

    for (i = 0; i < 4; i++) {
        pds_car_block(&w2, &cids[i], blocks[i], blens[i]);
    }

    ok(pds_car_finish(&w2) == 0, "chunked finish");
    ok(s->len == w.buf.len && memcmp(s->buf, w.buf.data, s->len) == 0,
       "chunked output equals the in-memory CAR");
    ok(s->calls > 3 && w2.buf.len == 0, "output came in %zu calls",
       s->calls);
    ok(s->max_call <= 3000 && w2.buf.cap < 3000,
       "the big block went out without being buffered (cap %zu)",
       w2.buf.cap);
    pds_car_writer_free(&w2);

    car = w.buf.data;

    /* reading, in pieces of every size */
    all = 1;

    for (step = 0; step <= 70; step++) {
        rc = read_car(car, w.buf.len, step, 0, 0, g, &r);

        if (rc != 0 || g->n != 4 || r.nroots != 1
            || !pds_cid_equal(&r.roots[0], &cids[0]))
        {
            all = 0;
            tap_diag("step %zu: rc %d, %zu blocks", step, rc, g->n);
            continue;
        }

        for (i = 0; i < 4; i++) {
            if (!pds_cid_equal(&g->cids[i], &cids[i])
                || g->lens[i] != blens[i]
                || memcmp(g->data[i], blocks[i], blens[i]) != 0)
            {
                all = 0;
            }
        }
    }

    ok(all, "round trip fed whole and in pieces of 1..70 bytes");

    /* limits */
    is_int(read_car(car, w.buf.len, 0, 2999, 0, g, &r), PDS_CAR_EBLOCKSIZE,
           "block over max_block");
    is_int(read_car(car, w.buf.len, 0, 3000, 0, g, &r), 0,
           "block at max_block");
    is_int(read_car(car, w.buf.len, 7, 0, w.buf.len - 1, g, &r),
           PDS_CAR_ETOTAL, "over max_total");
    is_int(read_car(car, w.buf.len, 7, 0, w.buf.len, g, &r), 0,
           "at max_total");

    /* truncation anywhere inside a section */
    is_int(read_car(car, w.buf.len - 1, 5, 0, 0, g, &r), PDS_CAR_ETRUNC,
           "truncated last block");
    is_int(read_car(car, 20, 0, 0, 0, g, &r), PDS_CAR_EHEADER,
           "truncated header");
    is_int(read_car(car, 0, 0, 0, 0, g, &r), PDS_CAR_ETRUNC, "empty input");

    /* a flipped byte in a block: its CID no longer matches */
    pds_buf_init(&bad, &pds_malloc_allocator);
    pds_buf_append(&bad, car, w.buf.len);
    bad.data[w.buf.len - 10] ^= 1;
    is_int(read_car(bad.data, bad.len, 3, 0, 0, g, &r), PDS_CAR_EHASH,
           "a corrupted block is rejected");
    is_int(g->n, 3, "the good blocks before it were delivered");

    /* a CID with another hash function */
    memcpy(bad.data, car, w.buf.len);
    bad.data[0x3b + 3] = 0x13;
    is_int(read_car(bad.data, bad.len, 0, 0, 0, g, &r), PDS_CAR_ESECTION,
           "a non-sha256 CID is rejected");

    /* header: version 2, not a map, a section length over 10 bytes */
    memcpy(bad.data, car, w.buf.len);
    bad.data[1 + sizeof(head_prefix) + 32 + 8] = 0x02;
    is_int(read_car(bad.data, bad.len, 0, 0, 0, g, &r), PDS_CAR_EHEADER,
           "version 2 header");
    memcpy(bad.data, "\x01\x01", 2);
    is_int(read_car(bad.data, 2, 0, 0, 0, g, &r), PDS_CAR_EHEADER,
           "header that is not a map");
    memcpy(bad.data, car, 0x3b);
    memset(bad.data + 0x3b, 0xff, 11);
    is_int(read_car(bad.data, 0x3b + 11, 1, 0, 0, g, &r), PDS_CAR_ESECTION,
           "runaway varint");
    memcpy(bad.data + 0x3b, "\x10\x01", 2);
    is_int(read_car(bad.data, 0x3b + 2, 0, 0, 0, g, &r), PDS_CAR_ESECTION,
           "section shorter than a CID");
    pds_buf_free(&bad);

    /* the callback stops the reader */
    g->stop_at = 2;
    is_int(read_car(car, w.buf.len, 0, 0, 0, g, &r), PDS_CAR_ECALLBACK,
           "callback stop");
    g->stop_at = 0;

    /* no roots (getBlocks) */
    pds_car_writer_free(&w);
    pds_car_writer_init(&w, &pds_malloc_allocator, 0, NULL, NULL);
    pds_car_header(&w, NULL, 0);
    pds_car_block(&w, &cids[2], blocks[2], blens[2]);
    rc = read_car(w.buf.data, w.buf.len, 0, 0, 0, g, &r);
    ok(rc == 0 && r.nroots == 0 && g->n == 1, "CAR without roots");
    ok(strcmp(pds_car_strerror(PDS_CAR_EHASH),
              "block does not match its CID") == 0, "strerror");

    pds_car_writer_free(&w);
    free(s);
    free(g);

    return tap_done();
}
