/*
 * ngx_pds_module core: what a handle's DNS and HTTPS answers say its DID
 * is (atproto's handle resolution, specs/handle).
 *
 * - DNS: the TXT records of "_atproto.<handle>", read from a DNS response
 *   message (RFC 1035) as the system resolver returns it.  Each record's
 *   character-strings are joined; exactly one record must begin "did=",
 *   and its rest is the DID (none, or more than one: no DID), as the
 *   reference's HandleResolver decides.
 * - HTTPS: the body of https://<handle>/.well-known/atproto-did; its first
 *   line, without surrounding white space, when it begins "did:".
 *
 * The DID's syntax is the caller's to check.  Pure, reentrant, allocates
 * nothing.
 */

#ifndef PDS_DNS_H
#define PDS_DNS_H

#include <stddef.h>
#include <stdint.h>


/* the longest DID taken from an answer (the DID syntax allows 2 KB) */
#define PDS_DNS_DID_MAX       2048

#define PDS_DNS_TYPE_TXT      16
#define PDS_DNS_TYPE_CNAME    5
#define PDS_DNS_CLASS_IN      1

/* what pds_dns_txt_did() and pds_handle_http_did() find */
#define PDS_DNS_FOUND         0
#define PDS_DNS_NONE          1     /* no record (or line) with a DID */
#define PDS_DNS_AMBIGUOUS     2     /* more than one "did=" record */
#define PDS_DNS_TOOLONG       3     /* a DID longer than the buffer */
#define PDS_DNS_MALFORMED    -1     /* not a well-formed DNS response */


/*
 * The DID of the TXT records in the answer section of the DNS response
 * msg (len bytes): PDS_DNS_FOUND with did (cap bytes, NUL-terminated)
 * set, or another PDS_DNS_* code.  Records of other types (a CNAME on the
 * way) are skipped; a response code other than NOERROR is PDS_DNS_NONE.
 */
int pds_dns_txt_did(const uint8_t *msg, size_t len, char *did, size_t cap);

/*
 * The DID of one TXT record's text (its character-strings joined):
 * PDS_DNS_FOUND when it begins "did=" (the rest copied to did), else
 * PDS_DNS_NONE (or PDS_DNS_TOOLONG).
 */
int pds_dns_txt_value(const char *txt, size_t len, char *did, size_t cap);

/*
 * The DID in the body of a well-known atproto-did document: its first
 * line, trimmed of white space, if it begins "did:".  PDS_DNS_FOUND,
 * PDS_DNS_NONE or PDS_DNS_TOOLONG.
 */
int pds_handle_http_did(const char *body, size_t len, char *did, size_t cap);

/*
 * Builds the DNS query for the TXT records of "_atproto.<handle>" with
 * the identifier id (recursion desired): its length, or -1 when the name
 * does not fit (a label over 63 bytes, a name over 255) or cap is short.
 */
int pds_dns_txt_query(const char *handle, size_t len, uint16_t id,
    uint8_t *out, size_t cap);

/* the same for "<first>.<name>" ("_lexicon" and an NSID's authority) */
int pds_dns_txt_query_label(const char *first, const char *name, size_t len,
    uint16_t id, uint8_t *out, size_t cap);

#endif /* PDS_DNS_H */
