/*
 * ngx_pds_module core: the DID a handle's DNS TXT records or well-known
 * document name (see pds_dns.h).
 */

#include <string.h>

#include "pds_dns.h"


#define PDS_DNS_HEADER   12
#define PDS_DNS_PREFIX   "did="


static uint16_t
pds_dns_u16(const uint8_t *p)
{
    return (uint16_t) ((p[0] << 8) | p[1]);
}


/*
 * Skips the (possibly compressed) name at msg[*off]: 0 with *off after
 * it, or -1.  A pointer ends the name where it stands; the name it points
 * to is not followed (only its bytes in place are skipped), so no loop.
 */
static int
pds_dns_skip_name(const uint8_t *msg, size_t len, size_t *off)
{
    size_t   p = *off;
    uint8_t  c;

    for ( ;; ) {
        if (p >= len) {
            return -1;
        }

        c = msg[p];

        if (c == 0) {
            *off = p + 1;
            return 0;
        }

        if ((c & 0xc0) == 0xc0) {
            if (p + 2 > len || (((size_t) (c & 0x3f) << 8) | msg[p + 1])
                                >= len)
            {
                return -1;
            }

            *off = p + 2;
            return 0;
        }

        if (c & 0xc0) {
            return -1;              /* the reserved label types */
        }

        p += 1 + c;
    }
}


int
pds_dns_txt_value(const char *txt, size_t len, char *did, size_t cap)
{
    size_t  n = sizeof(PDS_DNS_PREFIX) - 1;

    if (len < n || memcmp(txt, PDS_DNS_PREFIX, n) != 0) {
        return PDS_DNS_NONE;
    }

    if (len - n >= cap) {
        return PDS_DNS_TOOLONG;
    }

    memcpy(did, txt + n, len - n);
    did[len - n] = '\0';

    return PDS_DNS_FOUND;
}


/*
 * One TXT record's RDATA (rdlen bytes at rd): its character-strings
 * joined into buf.  The length, or -1 if malformed or over cap.
 */
static long
pds_dns_txt_join(const uint8_t *rd, size_t rdlen, char *buf, size_t cap)
{
    size_t  p, n, out;

    out = 0;

    for (p = 0; p < rdlen; p += 1 + n) {
        n = rd[p];

        if (p + 1 + n > rdlen || out + n > cap) {
            return -1;
        }

        memcpy(buf + out, rd + p + 1, n);
        out += n;
    }

    return (long) out;
}


int
pds_dns_txt_did(const uint8_t *msg, size_t len, char *did, size_t cap)
{
    int       rc, found, toolong;
    long      tlen;
    size_t    off, i, qd, an;
    uint16_t  type, class, rdlen;
    char      txt[PDS_DNS_DID_MAX + 64];

    if (len < PDS_DNS_HEADER || !(msg[2] & 0x80)) {
        return PDS_DNS_MALFORMED;       /* too short, or not a response */
    }

    if ((msg[3] & 0x0f) != 0) {
        return PDS_DNS_NONE;            /* NXDOMAIN, SERVFAIL, REFUSED... */
    }

    qd = pds_dns_u16(msg + 4);
    an = pds_dns_u16(msg + 6);
    off = PDS_DNS_HEADER;

    for (i = 0; i < qd; i++) {
        if (pds_dns_skip_name(msg, len, &off) != 0 || off + 4 > len) {
            return PDS_DNS_MALFORMED;
        }

        off += 4;
    }

    found = 0;
    toolong = 0;

    if (cap) {
        did[0] = '\0';
    }

    for (i = 0; i < an; i++) {
        if (pds_dns_skip_name(msg, len, &off) != 0 || off + 10 > len) {
            return PDS_DNS_MALFORMED;
        }

        type = pds_dns_u16(msg + off);
        class = pds_dns_u16(msg + off + 2);
        rdlen = pds_dns_u16(msg + off + 8);
        off += 10;

        if (off + rdlen > len) {
            return PDS_DNS_MALFORMED;
        }

        if (type == PDS_DNS_TYPE_TXT && class == PDS_DNS_CLASS_IN) {
            tlen = pds_dns_txt_join(msg + off, rdlen, txt, sizeof(txt));

            if (tlen < 0) {
                /* longer than any DID we take: one of ours if "did=" */
                rc = (rdlen > sizeof(PDS_DNS_PREFIX)
                      && msg[off] >= sizeof(PDS_DNS_PREFIX) - 1
                      && memcmp(msg + off + 1, PDS_DNS_PREFIX,
                                sizeof(PDS_DNS_PREFIX) - 1) == 0)
                     ? PDS_DNS_TOOLONG : PDS_DNS_NONE;

            } else {
                rc = pds_dns_txt_value(txt, (size_t) tlen, did, cap);
            }

            if (rc != PDS_DNS_NONE) {
                found++;
                toolong = (rc == PDS_DNS_TOOLONG);
            }
        }

        off += rdlen;
    }

    if (found > 1) {
        did[0] = '\0';
        return PDS_DNS_AMBIGUOUS;
    }

    if (found && toolong) {
        did[0] = '\0';
        return PDS_DNS_TOOLONG;
    }

    return found ? PDS_DNS_FOUND : PDS_DNS_NONE;
}


/* ASCII white space, NBSP and the byte order mark, as JavaScript trims */
static size_t
pds_dns_space(const unsigned char *p, size_t n)
{
    if (n >= 1 && (p[0] == ' ' || (p[0] >= '\t' && p[0] <= '\r'))) {
        return 1;
    }

    if (n >= 2 && p[0] == 0xc2 && p[1] == 0xa0) {
        return 2;
    }

    if (n >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) {
        return 3;
    }

    return 0;
}


static size_t
pds_dns_space_end(const unsigned char *p, size_t n)
{
    if (n >= 1 && (p[n - 1] == ' ' || (p[n - 1] >= '\t' && p[n - 1] <= '\r')))
    {
        return 1;
    }

    if (n >= 2 && p[n - 2] == 0xc2 && p[n - 1] == 0xa0) {
        return 2;
    }

    if (n >= 3 && p[n - 3] == 0xef && p[n - 2] == 0xbb && p[n - 1] == 0xbf) {
        return 3;
    }

    return 0;
}


int
pds_handle_http_did(const char *body, size_t len, char *did, size_t cap)
{
    size_t               k;
    const unsigned char *p = (const unsigned char *) body, *nl;

    nl = memchr(p, '\n', len);
    if (nl) {
        len = nl - p;
    }

    while ((k = pds_dns_space(p, len)) != 0) {
        p += k;
        len -= k;
    }

    while ((k = pds_dns_space_end(p, len)) != 0) {
        len -= k;
    }

    if (len < 4 || memcmp(p, "did:", 4) != 0) {
        return PDS_DNS_NONE;
    }

    if (len >= cap) {
        return PDS_DNS_TOOLONG;
    }

    memcpy(did, p, len);
    did[len] = '\0';

    return PDS_DNS_FOUND;
}


int
pds_dns_txt_query(const char *handle, size_t len, uint16_t id, uint8_t *out,
    size_t cap)
{
    return pds_dns_txt_query_label("_atproto", handle, len, id, out, cap);
}


int
pds_dns_txt_query_label(const char *first, const char *handle, size_t len,
    uint16_t id, uint8_t *out, size_t cap)
{
    size_t       o, label, i, fl;
    const char  *p, *last, *dot;

    fl = strlen(first);

    /* header, the first label, the name's labels, the root, type, class */
    if (len == 0 || fl == 0 || fl > 63 || len > 255 - (fl + 2)
        || cap < PDS_DNS_HEADER + fl + 2 + len + 1 + 4)
    {
        return -1;
    }

    memset(out, 0, PDS_DNS_HEADER);
    out[0] = (uint8_t) (id >> 8);
    out[1] = (uint8_t) id;
    out[2] = 0x01;                      /* RD */
    out[5] = 1;                         /* one question */

    o = PDS_DNS_HEADER;
    out[o++] = (uint8_t) fl;
    memcpy(out + o, first, fl);
    o += fl;

    p = handle;
    last = handle + len;

    if (last[-1] == '.') {
        last--;                          /* a fully-qualified form */
    }

    while (p < last) {
        dot = memchr(p, '.', last - p);
        label = (dot ? dot : last) - p;

        if (label == 0 || label > 63) {
            return -1;
        }

        for (i = 0; i < label; i++) {
            if ((unsigned char) p[i] <= ' ' || (unsigned char) p[i] >= 0x7f) {
                return -1;
            }
        }

        out[o++] = (uint8_t) label;
        memcpy(out + o, p, label);
        o += label;
        p += label + (dot ? 1 : 0);
    }

    out[o++] = 0;
    out[o++] = 0;
    out[o++] = PDS_DNS_TYPE_TXT;
    out[o++] = 0;
    out[o++] = PDS_DNS_CLASS_IN;

    return (int) o;
}
