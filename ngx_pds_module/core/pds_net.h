/*
 * ngx_pds_module core: which network addresses an outbound call whose
 * target a user chose may reach.
 *
 * A DID document, a handle or a client's metadata URL can name any host;
 * resolved, it must not lead the server to itself or into the network
 * behind it (SSRF).  Only globally routable unicast addresses pass:
 * loopback, private, shared (CGNAT), link-local, multicast, documentation,
 * benchmarking, reserved and unspecified ranges are refused, and IPv6
 * forms that embed an IPv4 address (mapped, NAT64, 6to4) are judged by
 * that address.
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
