/*
 * ngx_pds_module core: the address rules of pds_net.h.  Ranges from the
 * IANA special-purpose address registries (RFC 6890 and later); every
 * range that is not plain unicast in the reference PDS's check (ipaddr.js
 * range names: anything but "unicast" is refused) is refused here too,
 * except the IPv6 forms that embed an IPv4 address (NAT64 64:ff9b::/96,
 * 6to4), which are judged by that address.
 */

#include <string.h>

#include "pds_net.h"


typedef struct {
    uint8_t   prefix[16];
    unsigned  bits;
} pds_net_range_t;


/* IPv4 ranges that are not globally reachable unicast */
static const pds_net_range_t  pds_ipv4_refused[] = {
    { { 0 }, 8 },                       /* "this network", 0.0.0.0 */
    { { 10 }, 8 },                      /* private */
    { { 100, 64 }, 10 },                /* shared address space (CGNAT) */
    { { 127 }, 8 },                     /* loopback */
    { { 169, 254 }, 16 },               /* link-local (cloud metadata) */
    { { 172, 16 }, 12 },                /* private */
    { { 192, 0, 0 }, 24 },              /* IETF protocol assignments */
    { { 192, 0, 2 }, 24 },              /* documentation */
    { { 192, 31, 196 }, 24 },           /* AS112 (RFC 7535) */
    { { 192, 52, 193 }, 24 },           /* AMT relays (RFC 7450) */
    { { 192, 88, 99 }, 24 },            /* 6to4 relay anycast */
    { { 192, 168 }, 16 },               /* private */
    { { 192, 175, 48 }, 24 },           /* AS112 (RFC 7534) */
    { { 198, 18 }, 15 },                /* benchmarking */
    { { 198, 51, 100 }, 24 },           /* documentation */
    { { 203, 0, 113 }, 24 },            /* documentation */
    { { 224 }, 4 },                     /* multicast */
    { { 240 }, 4 },                     /* reserved, broadcast */
};


/* IPv6 ranges refused outright (embedded IPv4 forms are handled apart) */
static const pds_net_range_t  pds_ipv6_refused[] = {
    { { 0 }, 96 },                      /* ::, ::1, IPv4-compatible */
    { { 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff }, 96 },
                                        /* IPv4-translated (RFC 6145) */
    { { 0x00, 0x64, 0xff, 0x9b, 0x00, 0x01 }, 48 },
                                        /* local-use NAT64 (RFC 8215) */
    { { 0x01, 0x00 }, 64 },             /* discard-only */
    { { 0x20, 0x01, 0x00, 0x00 }, 23 }, /* IETF protocol assignments:
                                           Teredo, benchmarking, AMT,
                                           AS112, ORCHID, DETs */
    { { 0x20, 0x01, 0x0d, 0xb8 }, 32 }, /* documentation */
    { { 0x26, 0x20, 0x00, 0x4f, 0x80, 0x00 }, 48 },
                                        /* AS112 (RFC 7534) */
    { { 0x3f, 0xff, 0x00 }, 20 },       /* documentation (RFC 9637) */
    { { 0x5f, 0x00 }, 16 },             /* segment routing (RFC 9602) */
    { { 0xfc }, 7 },                    /* unique local */
    { { 0xfe, 0x80 }, 10 },             /* link-local */
    { { 0xfe, 0xc0 }, 10 },             /* site-local (deprecated) */
    { { 0xff }, 8 },                    /* multicast */
};


static int
pds_net_in(const uint8_t *a, const pds_net_range_t *r)
{
    unsigned  full = r->bits / 8, rest = r->bits % 8;

    if (memcmp(a, r->prefix, full) != 0) {
        return 0;
    }

    if (rest == 0) {
        return 1;
    }

    return ((a[full] ^ r->prefix[full]) & (uint8_t) (0xff << (8 - rest)))
           == 0;
}


int
pds_ipv4_is_public(const uint8_t a[4])
{
    size_t  i;

    for (i = 0; i < sizeof(pds_ipv4_refused) / sizeof(pds_ipv4_refused[0]);
         i++)
    {
        if (pds_net_in(a, &pds_ipv4_refused[i])) {
            return 0;
        }
    }

    return 1;
}


int
pds_ipv6_is_public(const uint8_t a[16])
{
    size_t          i;
    static const uint8_t  mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                         0xff, 0xff };
    static const uint8_t  nat64[12] = { 0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0,
                                        0, 0, 0, 0 };

    /* ::ffff:a.b.c.d and 64:ff9b::a.b.c.d reach a.b.c.d */
    if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0) {
        return pds_ipv4_is_public(a + 12);
    }

    /* 6to4 (2002::/16) carries an IPv4 address in bytes 2-5 */
    if (a[0] == 0x20 && a[1] == 0x02) {
        return pds_ipv4_is_public(a + 2);
    }

    for (i = 0; i < sizeof(pds_ipv6_refused) / sizeof(pds_ipv6_refused[0]);
         i++)
    {
        if (pds_net_in(a, &pds_ipv6_refused[i])) {
            return 0;
        }
    }

    return 1;
}
