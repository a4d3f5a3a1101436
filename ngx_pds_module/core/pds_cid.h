/*
 * ngx_pds_module core: content identifiers (CIDs).
 *
 * Only the atproto "blessed" CID form is supported: CIDv1, codec dag-cbor
 * (0x71) or raw (0x55), multihash sha2-256 (0x12) with a 32-byte digest.
 * Anything else (CIDv0, other codecs or hashes, truncated digests) is
 * rejected by every parser here, so an accepted CID always re-serializes to
 * exactly the bytes or string it was parsed from.
 *
 * Binary form: 01 <codec> 12 20 <32 bytes> (36 bytes).
 * String form: multibase base32 lower case without padding, 'b' prefix
 * (59 characters, "bafy..." for dag-cbor, "bafk..." for raw).
 */

#ifndef PDS_CID_H
#define PDS_CID_H

#include <stddef.h>
#include <stdint.h>


#define PDS_CID_CODEC_DAG_CBOR  0x71
#define PDS_CID_CODEC_RAW       0x55
#define PDS_CID_HASH_SHA256     0x12
#define PDS_CID_DIGEST_LEN      32
#define PDS_CID_BIN_LEN         36
#define PDS_CID_STR_LEN         59
#define PDS_CID_STR_SIZE        60      /* with the NUL */


typedef struct {
    uint8_t  codec;                         /* 0x71 or 0x55 */
    uint8_t  digest[PDS_CID_DIGEST_LEN];    /* sha2-256 */
} pds_cid_t;


/* parses exactly n bytes of binary CID; 0 or -1 */
int pds_cid_from_bytes(pds_cid_t *cid, const uint8_t *p, size_t n);
/* parses a binary CID at the start of p (CAR blocks); bytes used or -1 */
long pds_cid_read(pds_cid_t *cid, const uint8_t *p, size_t n);
/* writes the 36-byte binary form; returns PDS_CID_BIN_LEN */
size_t pds_cid_to_bytes(const pds_cid_t *cid, uint8_t *out);

/* parses the "b..." string form (exactly len characters); 0 or -1 */
int pds_cid_parse(pds_cid_t *cid, const char *s, size_t len);
/* writes the string form and a NUL into out[PDS_CID_STR_SIZE]; returns 59 */
size_t pds_cid_format(const pds_cid_t *cid, char *out);

/* computes the sha2-256 CID of data with the given codec */
void pds_cid_compute(pds_cid_t *cid, uint8_t codec, const uint8_t *p,
    size_t n);
/* codec 0x71 / 0x55 shorthands */
#define pds_cid_of_cbor(cid, p, n)                                           \
    pds_cid_compute(cid, PDS_CID_CODEC_DAG_CBOR, p, n)
#define pds_cid_of_raw(cid, p, n)                                            \
    pds_cid_compute(cid, PDS_CID_CODEC_RAW, p, n)

/* orders like the binary forms (memcmp); <0, 0, >0 */
int pds_cid_cmp(const pds_cid_t *a, const pds_cid_t *b);
int pds_cid_equal(const pds_cid_t *a, const pds_cid_t *b);

#endif /* PDS_CID_H */
