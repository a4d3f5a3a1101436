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
        "192.168.1.1", "198.18.0.1", "198.19.255.255", "198.51.100.7",
        "203.0.113.9", "224.0.0.1", "239.255.255.250", "240.0.0.1",
        "255.255.255.255",
    };
    static const char  *allowed4[] = {
        "1.1.1.1", "8.8.8.8", "9.255.255.255", "11.0.0.1", "100.63.255.255",
        "100.128.0.1", "128.0.0.1", "169.253.0.1", "172.15.255.255",
        "172.32.0.1", "192.0.1.1", "192.169.0.1", "198.17.255.255",
        "198.20.0.1", "223.255.255.255",
    };
    static const char  *refused6[] = {
        "::", "::1", "::127.0.0.1", "::ffff:127.0.0.1", "::ffff:10.1.2.3",
        "::ffff:169.254.169.254", "64:ff9b::7f00:1", "64:ff9b::a00:1",
        "2002:7f00:1::", "2002:c0a8:101::1", "100::1", "2001:db8::1",
        "2001::1", "fc00::1", "fd12:3456::1", "fe80::1", "febf::1",
        "fec0::1", "ff02::1", "ff05::2",
    };
    static const char  *allowed6[] = {
        "2001:4860:4860::8888", "2606:4700:4700::1111", "2a00:1450::1",
        "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
        "2400:cb00::1", "fe00::1",
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
