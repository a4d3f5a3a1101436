/*
 * ngx_pds_module core: hex, base64, base32, base58btc and varints.
 */

#include <string.h>

#include "pds_enc.h"


static const char  pds_hex_digits[] = "0123456789abcdef";

static const char  pds_b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char  pds_b64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static const char  pds_b32[] = "abcdefghijklmnopqrstuvwxyz234567";

static const char  pds_b58[] =
    "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";


size_t
pds_hex_encode(char *dst, const uint8_t *src, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        dst[2 * i] = pds_hex_digits[src[i] >> 4];
        dst[2 * i + 1] = pds_hex_digits[src[i] & 0x0f];
    }

    return 2 * n;
}


int
pds_hex_val(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}


long
pds_hex_decode(uint8_t *dst, const char *src, size_t n)
{
    int     hi, lo;
    size_t  i;

    if (n % 2) {
        return -1;
    }

    for (i = 0; i < n; i += 2) {
        hi = pds_hex_val(src[i]);
        lo = pds_hex_val(src[i + 1]);
        if (hi < 0 || lo < 0) {
            return -1;
        }
        dst[i / 2] = (uint8_t) (hi << 4 | lo);
    }

    return (long) (n / 2);
}


size_t
pds_base64_encode(char *dst, const uint8_t *src, size_t n, int url, int pad)
{
    char        *d = dst;
    size_t       i;
    uint32_t     v;
    const char  *alpha = url ? pds_b64_url : pds_b64_std;

    for (i = 0; i + 2 < n; i += 3) {
        v = (uint32_t) src[i] << 16 | (uint32_t) src[i + 1] << 8 | src[i + 2];
        *d++ = alpha[v >> 18];
        *d++ = alpha[(v >> 12) & 63];
        *d++ = alpha[(v >> 6) & 63];
        *d++ = alpha[v & 63];
    }

    if (n - i == 1) {
        v = (uint32_t) src[i] << 16;
        *d++ = alpha[v >> 18];
        *d++ = alpha[(v >> 12) & 63];
        if (pad) {
            *d++ = '=';
            *d++ = '=';
        }

    } else if (n - i == 2) {
        v = (uint32_t) src[i] << 16 | (uint32_t) src[i + 1] << 8;
        *d++ = alpha[v >> 18];
        *d++ = alpha[(v >> 12) & 63];
        *d++ = alpha[(v >> 6) & 63];
        if (pad) {
            *d++ = '=';
        }
    }

    return (size_t) (d - dst);
}


static int
pds_b64_val(char c, int url)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == (url ? '-' : '+')) {
        return 62;
    }
    if (c == (url ? '_' : '/')) {
        return 63;
    }
    return -1;
}


long
pds_base64_decode(uint8_t *dst, const char *src, size_t n, int url)
{
    int       c;
    size_t    i, rem, out;
    uint32_t  v;

    if (n % 4 == 0 && n >= 4) {
        if (src[n - 1] == '=') {
            n--;
            if (src[n - 1] == '=') {
                n--;
            }
        }
    }

    rem = n % 4;
    if (rem == 1) {
        return -1;
    }

    out = 0;
    v = 0;

    for (i = 0; i < n; i++) {
        c = pds_b64_val(src[i], url);
        if (c < 0) {
            return -1;
        }
        v = v << 6 | (uint32_t) c;
        if (i % 4 == 3) {
            dst[out++] = (uint8_t) (v >> 16);
            dst[out++] = (uint8_t) (v >> 8);
            dst[out++] = (uint8_t) v;
            v = 0;
        }
    }

    if (rem == 2) {
        if (v & 0x0f) {
            return -1;
        }
        dst[out++] = (uint8_t) (v >> 4);

    } else if (rem == 3) {
        if (v & 0x03) {
            return -1;
        }
        dst[out++] = (uint8_t) (v >> 10);
        dst[out++] = (uint8_t) (v >> 2);
    }

    return (long) out;
}


size_t
pds_base32_encode(char *dst, const uint8_t *src, size_t n)
{
    int       bits;
    char     *d = dst;
    size_t    i;
    uint32_t  acc;

    acc = 0;
    bits = 0;

    for (i = 0; i < n; i++) {
        acc = (acc << 8 | src[i]) & 0xffff;
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            *d++ = pds_b32[(acc >> bits) & 31];
        }
    }

    if (bits > 0) {
        *d++ = pds_b32[(acc << (5 - bits)) & 31];
    }

    return (size_t) (d - dst);
}


long
pds_base32_decode(uint8_t *dst, const char *src, size_t n)
{
    int       bits, c;
    size_t    i, out;
    uint32_t  acc;

    acc = 0;
    bits = 0;
    out = 0;

    for (i = 0; i < n; i++) {
        if (src[i] >= 'a' && src[i] <= 'z') {
            c = src[i] - 'a';
        } else if (src[i] >= '2' && src[i] <= '7') {
            c = src[i] - '2' + 26;
        } else {
            return -1;
        }

        acc = (acc << 5 | (uint32_t) c) & 0xffff;
        bits += 5;

        if (bits >= 8) {
            bits -= 8;
            dst[out++] = (uint8_t) (acc >> bits);
        }
    }

    /* leftover bits must be fewer than 5 and all zero */
    if (bits >= 5 || (acc & ((1u << bits) - 1)) != 0) {
        return -1;
    }

    return (long) out;
}


long
pds_base58_encode(char *dst, size_t dst_cap, const uint8_t *src, size_t n)
{
    int       carry;
    size_t    zeros, i, j, len, size;
    uint8_t   tmp[256];

    zeros = 0;
    while (zeros < n && src[zeros] == 0) {
        zeros++;
    }

    size = (n - zeros) * 138 / 100 + 1;
    if (size > sizeof(tmp)) {
        return -1;
    }

    memset(tmp, 0, size);
    len = 0;

    for (i = zeros; i < n; i++) {
        carry = src[i];
        for (j = 0; j < len || carry; j++) {
            carry += 256 * tmp[j];
            tmp[j] = (uint8_t) (carry % 58);
            carry /= 58;
        }
        len = j;
    }

    if (zeros + len > dst_cap) {
        return -1;
    }

    for (i = 0; i < zeros; i++) {
        dst[i] = '1';
    }

    for (j = 0; j < len; j++) {
        dst[zeros + j] = pds_b58[tmp[len - 1 - j]];
    }

    return (long) (zeros + len);
}


long
pds_base58_decode(uint8_t *dst, size_t dst_cap, const char *src, size_t n)
{
    int          carry;
    size_t       zeros, i, j, len, size;
    uint8_t      tmp[256];
    const char  *p;

    zeros = 0;
    while (zeros < n && src[zeros] == '1') {
        zeros++;
    }

    size = (n - zeros) * 733 / 1000 + 1;
    if (size > sizeof(tmp)) {
        return -1;
    }

    memset(tmp, 0, size);
    len = 0;

    for (i = zeros; i < n; i++) {
        p = memchr(pds_b58, src[i], sizeof(pds_b58) - 1);
        if (p == NULL || src[i] == '\0') {
            return -1;
        }
        carry = (int) (p - pds_b58);
        for (j = 0; j < len || carry; j++) {
            carry += 58 * tmp[j];
            tmp[j] = (uint8_t) (carry & 0xff);
            carry >>= 8;
        }
        len = j;
    }

    if (zeros + len > dst_cap) {
        return -1;
    }

    memset(dst, 0, zeros);

    for (j = 0; j < len; j++) {
        dst[zeros + j] = tmp[len - 1 - j];
    }

    return (long) (zeros + len);
}


size_t
pds_varint_encode(uint8_t *dst, uint64_t v)
{
    size_t  n = 0;

    while (v >= 0x80) {
        dst[n++] = (uint8_t) (v | 0x80);
        v >>= 7;
    }

    dst[n++] = (uint8_t) v;

    return n;
}


long
pds_varint_decode(const uint8_t *p, size_t n, uint64_t *v)
{
    size_t    i;
    uint64_t  r;

    r = 0;

    for (i = 0; i < n && i < PDS_VARINT_MAX; i++) {
        if (i == 9 && p[i] > 1) {
            return -1;
        }

        r |= (uint64_t) (p[i] & 0x7f) << (7 * i);

        if ((p[i] & 0x80) == 0) {
            if (i > 0 && p[i] == 0) {
                return -1;                     /* not minimal */
            }
            *v = r;
            return (long) (i + 1);
        }
    }

    return -1;
}
