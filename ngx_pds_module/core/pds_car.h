/*
 * ngx_pds_module core: CAR v1 (content addressable archives).
 *
 * A CAR is varint(len) + DAG-CBOR header {version: 1, roots: [CID...]},
 * then sections varint(len) + binary CID + block bytes.
 *
 * The writer appends to a pds_buf_t and, when an output callback is set,
 * hands the buffer to it each time it holds at least "chunk" bytes (and at
 * pds_car_finish), so a large repository is never held in memory.  Without
 * a callback the whole CAR stays in the buffer (firehose event blocks).
 *
 * The reader is push based: feed it bytes as they arrive in pieces of any
 * size; it calls back once per block after checking that the block's
 * SHA-256 matches its CID, and enforces limits on the block size, the
 * number of roots and the total size.
 */

#ifndef PDS_CAR_H
#define PDS_CAR_H

#include <stddef.h>
#include <stdint.h>

#include "pds_mem.h"
#include "pds_cid.h"


#define PDS_CAR_MAX_ROOTS      8

/* reader results: 0 or one of these */
#define PDS_CAR_EHEADER       -1     /* bad header */
#define PDS_CAR_ESECTION      -2     /* bad section length or CID */
#define PDS_CAR_EHASH         -3     /* block does not match its CID */
#define PDS_CAR_EBLOCKSIZE    -4     /* block over max_block */
#define PDS_CAR_ETOTAL        -5     /* input over max_total */
#define PDS_CAR_ETRUNC        -6     /* input ends inside a section */
#define PDS_CAR_ENOMEM        -7
#define PDS_CAR_ECALLBACK     -8     /* the block callback said stop */


/* receives CAR bytes: return 0 to go on */
typedef int (*pds_car_out_cb)(void *ctx, const uint8_t *p, size_t n);


typedef struct {
    pds_buf_t        buf;
    size_t           chunk;
    pds_car_out_cb   out;
    void            *ctx;
    uint64_t         total;       /* bytes produced so far */
    uint64_t         blocks;
    int              error;       /* sticky: -1 once anything failed */
} pds_car_writer_t;


/* out may be NULL: the CAR accumulates in w->buf */
void pds_car_writer_init(pds_car_writer_t *w, const pds_alloc_t *a,
    size_t chunk, pds_car_out_cb out, void *ctx);
/* writes the header; roots may be empty (nroots 0) */
int pds_car_header(pds_car_writer_t *w, const pds_cid_t *roots,
    size_t nroots);
/* appends a section; a pds_block_cb, with the writer as ctx */
int pds_car_block(void *w, const pds_cid_t *cid, const uint8_t *p,
    size_t n);
/* flushes what is buffered to the callback; 0 or -1 */
int pds_car_finish(pds_car_writer_t *w);
/* releases the buffer */
void pds_car_writer_free(pds_car_writer_t *w);


/* receives a verified block */
typedef int (*pds_car_block_cb)(void *ctx, const pds_cid_t *cid,
    const uint8_t *p, size_t n);


typedef struct {
    size_t             max_block;     /* 0: 2 MiB */
    uint64_t           max_total;     /* 0: no limit */

    pds_car_block_cb   block;
    void              *ctx;

    /* after the header */
    int                have_header;
    pds_cid_t          roots[PDS_CAR_MAX_ROOTS];
    size_t             nroots;

    uint64_t           total;
    uint64_t           blocks;
    int                error;         /* sticky PDS_CAR_E* */

    pds_buf_t          pending;       /* a partial section */
} pds_car_reader_t;


void pds_car_reader_init(pds_car_reader_t *r, const pds_alloc_t *a,
    size_t max_block, uint64_t max_total, pds_car_block_cb block,
    void *ctx);
/* 0, or a PDS_CAR_E* code (sticky) */
int pds_car_reader_feed(pds_car_reader_t *r, const uint8_t *p, size_t n);
/* the end of input: 0 if it ended between sections after a header */
int pds_car_reader_finish(pds_car_reader_t *r);
void pds_car_reader_free(pds_car_reader_t *r);

const char *pds_car_strerror(int rc);

#endif /* PDS_CAR_H */
