/*
 * ngx_pds_module core: which network addresses an outbound call whose
 * target a user chose may reach.
 *
 * A DID document, a handle or a client's metadata URL can name any host;
 * resolved, it must not lead the server to itself or into the network
 * behind it (SSRF).  Only globally routable unicast addresses pass:
 * loopback, private, shared (CGNAT), link-local, multicast, documentation,
 * benchmarking, reserved, unspecified, anycast-service (AS112, AMT),
 * local-use NAT64 (64:ff9b:1::/48), IPv4-translated, Teredo, ORCHID and
 * segment-routing ranges are refused, and IPv6 forms that embed an IPv4
 * address (mapped, NAT64 64:ff9b::/96, 6to4) are judged by that address.
 * That is the reference PDS's rule (every ipaddr.js range but "unicast"),
 * except that the reference refuses NAT64 and 6to4 addresses outright.
 */

#ifndef PDS_NET_H
#define PDS_NET_H

#include <stddef.h>
#include <stdint.h>


/* 1 if the IPv4 address (4 bytes, network order) may be reached */
int pds_ipv4_is_public(const uint8_t a[4]);

/* 1 if the IPv6 address (16 bytes) may be reached */
int pds_ipv6_is_public(const uint8_t a[16]);

#endif /* PDS_NET_H */
