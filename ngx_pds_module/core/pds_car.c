/*
 * ngx_pds_module core: CAR v1 writer and reader.
 */

#include <string.h>

#include "pds_car.h"
#include "pds_cbor.h"
#include "pds_enc.h"


#define PDS_CAR_MAX_HEADER   2048
#define PDS_CAR_DEF_BLOCK    (2 * 1024 * 1024)


void
pds_car_writer_init(pds_car_writer_t *w, const pds_alloc_t *a, size_t chunk,
    pds_car_out_cb out, void *ctx)
{
    memset(w, 0, sizeof(pds_car_writer_t));
    pds_buf_init(&w->buf, a);
    w->chunk = chunk ? chunk : 65536;
    w->out = out;
    w->ctx = ctx;
}


static int
pds_car_flush(pds_car_writer_t *w)
{
    if (w->out == NULL || w->buf.len == 0 || w->error) {
        return w->error;
    }

    if (w->out(w->ctx, w->buf.data, w->buf.len) != 0) {
        w->error = -1;
        return -1;
    }

    w->buf.len = 0;
    return 0;
}


int
pds_car_header(pds_car_writer_t *w, const pds_cid_t *roots, size_t nroots)
{
    size_t     i, n;
    uint8_t    var[PDS_VARINT_MAX];
    pds_buf_t  h;

    pds_buf_init(&h, w->buf.a);

    if (pds_cbor_put_map(&h, 2) != 0
        || pds_cbor_put_str(&h, "roots") != 0
        || pds_cbor_put_array(&h, nroots) != 0)
    {
        goto failed;
    }

    for (i = 0; i < nroots; i++) {
        if (pds_cbor_put_cid(&h, &roots[i]) != 0) {
            goto failed;
        }
    }

    if (pds_cbor_put_str(&h, "version") != 0
        || pds_cbor_put_uint(&h, 1) != 0)
    {
        goto failed;
    }

    n = pds_varint_encode(var, h.len);

    if (pds_buf_append(&w->buf, var, n) != 0
        || pds_buf_append(&w->buf, h.data, h.len) != 0)
    {
        goto failed;
    }

    w->total += n + h.len;
    pds_buf_free(&h);

    return w->buf.len >= w->chunk ? pds_car_flush(w) : 0;

failed:

    pds_buf_free(&h);
    w->error = -1;
    return -1;
}


int
pds_car_block(void *ctx, const pds_cid_t *cid, const uint8_t *p, size_t n)
{
    size_t             vn;
    uint8_t            head[PDS_VARINT_MAX + PDS_CID_BIN_LEN];
    pds_car_writer_t  *w = ctx;

    if (w->error) {
        return -1;
    }

    vn = pds_varint_encode(head, PDS_CID_BIN_LEN + n);
    vn += pds_cid_to_bytes(cid, head + vn);

    if (pds_buf_append(&w->buf, head, vn) != 0) {
        w->error = -1;
        return -1;
    }

    w->total += vn + n;
    w->blocks++;

    if (w->out && n >= w->chunk) {
        /* a big block goes out as it is, without a copy */
        if (pds_car_flush(w) != 0) {
            return -1;
        }

        if (w->out(w->ctx, p, n) != 0) {
            w->error = -1;
            return -1;
        }

        return 0;
    }

    if (pds_buf_append(&w->buf, p, n) != 0) {
        w->error = -1;
        return -1;
    }

    return w->buf.len >= w->chunk ? pds_car_flush(w) : 0;
}


int
pds_car_finish(pds_car_writer_t *w)
{
    return pds_car_flush(w);
}


void
pds_car_writer_free(pds_car_writer_t *w)
{
    pds_buf_free(&w->buf);
}


/* the reader */


void
pds_car_reader_init(pds_car_reader_t *r, const pds_alloc_t *a,
    size_t max_block, uint64_t max_total, pds_car_block_cb block, void *ctx)
{
    memset(r, 0, sizeof(pds_car_reader_t));
    pds_buf_init(&r->pending, a);
    r->max_block = max_block ? max_block : PDS_CAR_DEF_BLOCK;
    r->max_total = max_total;
    r->block = block;
    r->ctx = ctx;
}


/*
 * The length of the section starting at p: 0 and *total set to its full
 * size (varint included), 1 if more bytes are needed to know, or an error.
 */
static int
pds_car_section_size(pds_car_reader_t *r, const uint8_t *p, size_t n,
    size_t *total)
{
    long      vn;
    size_t    i, max;
    uint64_t  len;

    max = n < PDS_VARINT_MAX ? n : PDS_VARINT_MAX;

    for (i = 0; i < max; i++) {
        if ((p[i] & 0x80) == 0) {
            break;
        }
    }

    if (i == max) {
        return n < PDS_VARINT_MAX ? 1 : PDS_CAR_ESECTION;
    }

    vn = pds_varint_decode(p, n, &len);
    if (vn < 0) {
        return r->have_header ? PDS_CAR_ESECTION : PDS_CAR_EHEADER;
    }

    if (!r->have_header) {
        if (len == 0 || len > PDS_CAR_MAX_HEADER) {
            return PDS_CAR_EHEADER;
        }

    } else {
        if (len < PDS_CID_BIN_LEN) {
            return PDS_CAR_ESECTION;
        }

        if (len - PDS_CID_BIN_LEN > r->max_block) {
            return PDS_CAR_EBLOCKSIZE;
        }
    }

    *total = (size_t) vn + (size_t) len;
    return 0;
}


static int
pds_car_header_parse(pds_car_reader_t *r, const uint8_t *p, size_t n)
{
    int                rc;
    size_t             i;
    pds_cbor_t        *h;
    const pds_cbor_t  *v, *roots;

    if (pds_cbor_decode(p, n, r->pending.a, &h) != 0) {
        return PDS_CAR_EHEADER;
    }

    rc = PDS_CAR_EHEADER;

    if (h->type != PDS_CBOR_MAP) {
        goto done;
    }

    v = pds_cbor_map_get(h, "version");
    roots = pds_cbor_map_get(h, "roots");

    if (v == NULL || v->type != PDS_CBOR_INT || v->u.integer != 1
        || roots == NULL || roots->type != PDS_CBOR_ARRAY
        || roots->u.array.len > PDS_CAR_MAX_ROOTS)
    {
        goto done;
    }

    for (i = 0; i < roots->u.array.len; i++) {
        if (roots->u.array.items[i].type != PDS_CBOR_CID) {
            goto done;
        }

        r->roots[i] = roots->u.array.items[i].u.cid;
    }

    r->nroots = roots->u.array.len;
    r->have_header = 1;
    rc = 0;

done:

    pds_cbor_free(r->pending.a, h);
    return rc;
}


/* a complete section of size total at p */
static int
pds_car_section(pds_car_reader_t *r, const uint8_t *p, size_t total)
{
    long       vn, cn;
    uint64_t   len;
    pds_cid_t  cid, check;

    vn = pds_varint_decode(p, total, &len);
    p += vn;

    if (!r->have_header) {
        return pds_car_header_parse(r, p, (size_t) len);
    }

    cn = pds_cid_read(&cid, p, (size_t) len);
    if (cn != PDS_CID_BIN_LEN) {
        return PDS_CAR_ESECTION;
    }

    p += cn;
    len -= (uint64_t) cn;

    pds_cid_compute(&check, cid.codec, p, (size_t) len);

    if (!pds_cid_equal(&check, &cid)) {
        return PDS_CAR_EHASH;
    }

    r->blocks++;

    if (r->block && r->block(r->ctx, &cid, p, (size_t) len) != 0) {
        return PDS_CAR_ECALLBACK;
    }

    return 0;
}


int
pds_car_reader_feed(pds_car_reader_t *r, const uint8_t *p, size_t n)
{
    int     rc;
    size_t  need, take;

    if (r->error) {
        return r->error;
    }

    r->total += n;

    if (r->max_total && r->total > r->max_total) {
        r->error = PDS_CAR_ETOTAL;
        return r->error;
    }

    while (n > 0) {

        if (r->pending.len > 0) {
            rc = pds_car_section_size(r, r->pending.data, r->pending.len,
                                      &need);
            if (rc < 0) {
                goto failed;
            }

            if (rc == 1) {
                need = r->pending.len + 1;
            }

            take = need - r->pending.len;
            if (take > n) {
                take = n;
            }

            if (pds_buf_append(&r->pending, p, take) != 0) {
                rc = PDS_CAR_ENOMEM;
                goto failed;
            }

            p += take;
            n -= take;

            if (rc == 1 || r->pending.len < need) {
                continue;
            }

            rc = pds_car_section(r, r->pending.data, need);
            if (rc != 0) {
                goto failed;
            }

            r->pending.len = 0;
            continue;
        }

        rc = pds_car_section_size(r, p, n, &need);
        if (rc < 0) {
            goto failed;
        }

        if (rc == 1 || need > n) {
            if (pds_buf_append(&r->pending, p, n) != 0) {
                rc = PDS_CAR_ENOMEM;
                goto failed;
            }

            break;
        }

        rc = pds_car_section(r, p, need);
        if (rc != 0) {
            goto failed;
        }

        p += need;
        n -= need;
    }

    return 0;

failed:

    r->error = rc;
    return rc;
}


int
pds_car_reader_finish(pds_car_reader_t *r)
{
    if (r->error) {
        return r->error;
    }

    if (!r->have_header) {
        r->error = r->pending.len ? PDS_CAR_EHEADER : PDS_CAR_ETRUNC;
        return r->error;
    }

    if (r->pending.len) {
        r->error = PDS_CAR_ETRUNC;
        return r->error;
    }

    return 0;
}


void
pds_car_reader_free(pds_car_reader_t *r)
{
    pds_buf_free(&r->pending);
}


const char *
pds_car_strerror(int rc)
{
    switch (rc) {
    case 0:
        return "ok";
    case PDS_CAR_EHEADER:
        return "bad CAR header";
    case PDS_CAR_ESECTION:
        return "bad CAR section";
    case PDS_CAR_EHASH:
        return "block does not match its CID";
    case PDS_CAR_EBLOCKSIZE:
        return "block too large";
    case PDS_CAR_ETOTAL:
        return "CAR too large";
    case PDS_CAR_ETRUNC:
        return "CAR truncated";
    case PDS_CAR_ENOMEM:
        return "out of memory";
    case PDS_CAR_ECALLBACK:
        return "stopped by the block callback";
    default:
        return "unknown CAR error";
    }
}
