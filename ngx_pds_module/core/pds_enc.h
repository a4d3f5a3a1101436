/*
 * ngx_pds_module core: byte <-> text encodings used across the protocol:
 * hex, base64 / base64url, base32 (RFC 4648 lower case, no padding; the
 * multibase 'b' alphabet), base58btc (multibase 'z') and unsigned varints.
 *
 * Encoders write into a caller buffer (no NUL terminator) and return the
 * number of characters written.  Decoders are strict: any character outside
 * the alphabet, bad padding or non-zero trailing bits fail with -1.
 */

#ifndef PDS_ENC_H
#define PDS_ENC_H

#include <stddef.h>
#include <stdint.h>


#define pds_hex_len(n)          ((n) * 2)
#define pds_base64_len(n)       (((n) + 2) / 3 * 4)         /* padded */
#define pds_base64_dec_len(n)   ((n) / 4 * 3 + 3)           /* upper bound */
#define pds_base32_len(n)       (((n) * 8 + 4) / 5)
#define pds_base32_dec_len(n)   ((n) * 5 / 8 + 1)
#define pds_base58_len(n)       ((n) * 138 / 100 + 2)       /* upper bound */
#define PDS_VARINT_MAX          10


size_t pds_hex_encode(char *dst, const uint8_t *src, size_t n);
/* accepts upper and lower case; n must be even; returns bytes or -1 */
long pds_hex_decode(uint8_t *dst, const char *src, size_t n);
/* the value of one hex digit (either case), or -1 */
int pds_hex_val(char c);

/* url: base64url alphabet; pad: emit '=' padding */
size_t pds_base64_encode(char *dst, const uint8_t *src, size_t n, int url,
    int pad);
/* accepts padded or unpadded input of the chosen alphabet */
long pds_base64_decode(uint8_t *dst, const char *src, size_t n, int url);

size_t pds_base32_encode(char *dst, const uint8_t *src, size_t n);
long pds_base32_decode(uint8_t *dst, const char *src, size_t n);

/* returns characters written, or -1 if dst_cap is too small */
long pds_base58_encode(char *dst, size_t dst_cap, const uint8_t *src,
    size_t n);
/* returns bytes written, or -1 (bad character or dst_cap too small) */
long pds_base58_decode(uint8_t *dst, size_t dst_cap, const char *src,
    size_t n);

size_t pds_varint_encode(uint8_t *dst, uint64_t v);
/* returns bytes consumed, or -1 (truncated, over 64 bits, not minimal) */
long pds_varint_decode(const uint8_t *p, size_t n, uint64_t *v);

#endif /* PDS_ENC_H */
