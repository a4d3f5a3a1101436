/*
 * The SSRF address rules (core/pds_net.c): which resolved addresses an
 * outbound call to a user-chosen host may connect to.
 */

#include <arpa/inet.h>

#include "tap.h"
#include "pds_net.h"


static int
public4(const char *s)
{
    uint8_t  a[4];

    if (inet_pton(AF_INET, s, a) != 1) {
        return -1;
    }

    return pds_ipv4_is_public(a);
}


static int
public6(const char *s)
{
    uint8_t  a[16];

    if (inet_pton(AF_INET6, s, a) != 1) {
        return -1;
    }

    return pds_ipv6_is_public(a);
}


int
main(void)
{
    size_t  i;

    static const char  *refused4[] = {
        "0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1",
        "100.127.255.254", "127.0.0.1", "127.1.2.3", "169.254.169.254",
        "172.16.0.1", "172.31.255.255", "192.0.0.8", "192.0.2.1",
        "192.168.1.1", "192.31.196.1", "192.52.193.1", "192.175.48.6",
        "198.18.0.1", "198.19.255.255", "198.51.100.7",
        "203.0.113.9", "224.0.0.1", "239.255.255.250", "240.0.0.1",
        "255.255.255.255",
    };
    static const char  *allowed4[] = {
        "1.1.1.1", "8.8.8.8", "9.255.255.255", "11.0.0.1", "100.63.255.255",
        "100.128.0.1", "128.0.0.1", "169.253.0.1", "172.15.255.255",
        "172.32.0.1", "192.0.1.1", "192.169.0.1", "198.17.255.255",
        "198.20.0.1", "223.255.255.255", "192.31.195.255", "192.31.197.0",
        "192.52.192.1", "192.175.49.1",
    };
    static const char  *refused6[] = {
        "::", "::1", "::127.0.0.1", "::ffff:127.0.0.1", "::ffff:10.1.2.3",
        "::ffff:169.254.169.254", "64:ff9b::7f00:1", "64:ff9b::a00:1",
        "2002:7f00:1::", "2002:c0a8:101::1", "100::1", "2001:db8::1",
        "2001::1", "fc00::1", "fd12:3456::1", "fe80::1", "febf::1",
        "fec0::1", "ff02::1", "ff05::2",
        /* local-use NAT64 (RFC 8215), whatever it embeds */
        "64:ff9b:1::", "64:ff9b:1::808:808", "64:ff9b:1:ffff:ffff::1",
        /* IPv4-translated (RFC 6145) */
        "::ffff:0:808:808", "::ffff:0:7f00:1",
        /* Teredo, benchmarking, AMT, AS112, ORCHIDv2, DETs */
        "2001:0:4136:e378::1", "2001:2::1", "2001:3::1", "2001:4:112::1",
        "2001:20::1", "2001:30::1",
        "2620:4f:8000::1",                      /* AS112 (RFC 7534) */
        "3fff::1", "3fff:fff:ffff::1",          /* documentation, RFC 9637 */
        "5f00::1", "5f00:ffff::1",              /* segment routing */
        "::ffff:192.175.48.1", "64:ff9b::c034:c101",
    };
    static const char  *allowed6[] = {
        "2001:4860:4860::8888", "2606:4700:4700::1111", "2a00:1450::1",
        "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
        "2400:cb00::1", "fe00::1",
        /* just outside the ranges above */
        "64:ff9b:2::1", "64:ff9a:ffff::1", "2620:4f:8001::1",
        "2620:4e:8000::1", "3fff:1000::1", "3ffe:ffff::1", "5f01::1",
        "5eff::1", "0:0:0:1:ffff::808:808", "2001:200::1",
    };

    for (i = 0; i < sizeof(refused4) / sizeof(refused4[0]); i++) {
        tap_ok(public4(refused4[i]) == 0, "IPv4 %s refused", refused4[i]);
    }

    for (i = 0; i < sizeof(allowed4) / sizeof(allowed4[0]); i++) {
        tap_ok(public4(allowed4[i]) == 1, "IPv4 %s allowed", allowed4[i]);
    }

    for (i = 0; i < sizeof(refused6) / sizeof(refused6[0]); i++) {
        tap_ok(public6(refused6[i]) == 0, "IPv6 %s refused", refused6[i]);
    }

    for (i = 0; i < sizeof(allowed6) / sizeof(allowed6[0]); i++) {
        tap_ok(public6(allowed6[i]) == 1, "IPv6 %s allowed", allowed6[i]);
    }

    return tap_done();
}
