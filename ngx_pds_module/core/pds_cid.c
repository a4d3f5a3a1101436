/*
 * ngx_pds_module core: CIDv1 (dag-cbor / raw, sha2-256).
 */

#include <string.h>

#include "pds_enc.h"
#include "pds_hash.h"
#include "pds_cid.h"


long
pds_cid_read(pds_cid_t *cid, const uint8_t *p, size_t n)
{
    long      len, off;
    uint64_t  v;

    /*
     * Each header field is a varint; every value we accept fits in one
     * byte, but decode them as varints so that a non-minimal or oversized
     * encoding is reported as invalid rather than misread.
     */

    off = 0;

    len = pds_varint_decode(p, n, &v);
    if (len < 0 || v != 1) {
        return -1;
    }
    off += len;

    len = pds_varint_decode(p + off, n - off, &v);
    if (len < 0 || (v != PDS_CID_CODEC_DAG_CBOR && v != PDS_CID_CODEC_RAW)) {
        return -1;
    }
    off += len;
    cid->codec = (uint8_t) v;

    len = pds_varint_decode(p + off, n - off, &v);
    if (len < 0 || v != PDS_CID_HASH_SHA256) {
        return -1;
    }
    off += len;

    len = pds_varint_decode(p + off, n - off, &v);
    if (len < 0 || v != PDS_CID_DIGEST_LEN) {
        return -1;
    }
    off += len;

    if (n - off < PDS_CID_DIGEST_LEN) {
        return -1;
    }

    memcpy(cid->digest, p + off, PDS_CID_DIGEST_LEN);

    return off + PDS_CID_DIGEST_LEN;
}


int
pds_cid_from_bytes(pds_cid_t *cid, const uint8_t *p, size_t n)
{
    if (n != PDS_CID_BIN_LEN) {
        return -1;
    }

    return pds_cid_read(cid, p, n) == PDS_CID_BIN_LEN ? 0 : -1;
}


size_t
pds_cid_to_bytes(const pds_cid_t *cid, uint8_t *out)
{
    out[0] = 0x01;
    out[1] = cid->codec;
    out[2] = PDS_CID_HASH_SHA256;
    out[3] = PDS_CID_DIGEST_LEN;
    memcpy(out + 4, cid->digest, PDS_CID_DIGEST_LEN);

    return PDS_CID_BIN_LEN;
}


int
pds_cid_parse(pds_cid_t *cid, const char *s, size_t len)
{
    uint8_t  bin[PDS_CID_BIN_LEN + 2];

    if (len != PDS_CID_STR_LEN || s[0] != 'b') {
        return -1;
    }

    if (pds_base32_decode(bin, s + 1, len - 1) != PDS_CID_BIN_LEN) {
        return -1;
    }

    return pds_cid_from_bytes(cid, bin, PDS_CID_BIN_LEN);
}


size_t
pds_cid_format(const pds_cid_t *cid, char *out)
{
    size_t   n;
    uint8_t  bin[PDS_CID_BIN_LEN];

    pds_cid_to_bytes(cid, bin);

    out[0] = 'b';
    n = pds_base32_encode(out + 1, bin, PDS_CID_BIN_LEN);
    out[n + 1] = '\0';

    return n + 1;
}


void
pds_cid_compute(pds_cid_t *cid, uint8_t codec, const uint8_t *p, size_t n)
{
    cid->codec = codec;
    pds_sha256(p, n, cid->digest);
}


int
pds_cid_cmp(const pds_cid_t *a, const pds_cid_t *b)
{
    if (a->codec != b->codec) {
        return a->codec < b->codec ? -1 : 1;
    }

    return memcmp(a->digest, b->digest, PDS_CID_DIGEST_LEN);
}


int
pds_cid_equal(const pds_cid_t *a, const pds_cid_t *b)
{
    return a->codec == b->codec
           && memcmp(a->digest, b->digest, PDS_CID_DIGEST_LEN) == 0;
}
