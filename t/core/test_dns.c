/*
 * Unit tests for pds_dns: the DID of a handle's DNS TXT answer (a DNS
 * response message built here, as a name server sends it) and of its
 * well-known atproto-did document; the TXT query.
 */

#include <string.h>

#include "tap.h"
#include "pds_dns.h"


typedef struct {
    uint8_t  b[4096];
    size_t   n;
} msg_t;


static void
put(msg_t *m, const void *p, size_t n)
{
    memcpy(m->b + m->n, p, n);
    m->n += n;
}


static void
put16(msg_t *m, unsigned v)
{
    m->b[m->n++] = (uint8_t) (v >> 8);
    m->b[m->n++] = (uint8_t) v;
}


/* a response header: id 0x1234, QR RD RA, rcode, counts */
static void
header(msg_t *m, unsigned rcode, unsigned qd, unsigned an)
{
    m->n = 0;
    put16(m, 0x1234);
    m->b[m->n++] = 0x81;
    m->b[m->n++] = (uint8_t) (0x80 | rcode);
    put16(m, qd);
    put16(m, an);
    put16(m, 0);
    put16(m, 0);
}


/* the question _atproto.alice.test TXT IN, at offset 12 */
static void
question(msg_t *m)
{
    put(m, "\x08_atproto\x05" "alice\x04test", 21);
    put16(m, PDS_DNS_TYPE_TXT);
    put16(m, PDS_DNS_CLASS_IN);
}


/* an answer record owned by the question's name (a pointer to 12) */
static void
record(msg_t *m, unsigned type, const char **strings, size_t n)
{
    size_t  i, len, at;

    put16(m, 0xc00c);
    put16(m, type);
    put16(m, PDS_DNS_CLASS_IN);
    put16(m, 0);
    put16(m, 300);
    at = m->n;
    put16(m, 0);

    for (i = 0; i < n; i++) {
        len = strlen(strings[i]);
        m->b[m->n++] = (uint8_t) len;
        put(m, strings[i], len);
    }

    m->b[at] = (uint8_t) ((m->n - at - 2) >> 8);
    m->b[at + 1] = (uint8_t) (m->n - at - 2);
}


static void
test_txt(void)
{
    int          rc;
    msg_t        m;
    char         did[PDS_DNS_DID_MAX + 1];
    const char  *one[] = { "did=did:plc:abcdefghijklmnopqrstuvwx" };
    const char  *split[] = { "did=did:plc:abcdefghij", "klmnopqrstuvwx" };
    const char  *other[] = { "v=spf1 -all" };
    const char  *two[] = { "did=did:plc:bbbbbbbbbbbbbbbbbbbbbbbb" };
    const char  *upper[] = { "DID=did:plc:abcdefghijklmnopqrstuvwx" };
    const char  *cname[] = { "\x05" "other" };

    header(&m, 0, 1, 1);
    question(&m);
    record(&m, PDS_DNS_TYPE_TXT, one, 1);
    rc = pds_dns_txt_did(m.b, m.n, did, sizeof(did));
    tap_ok(rc == PDS_DNS_FOUND, "one did= record: found (%d)", rc);
    tap_is_str(did, "did:plc:abcdefghijklmnopqrstuvwx", "... its DID");

    header(&m, 0, 1, 1);
    question(&m);
    record(&m, PDS_DNS_TYPE_TXT, split, 2);
    rc = pds_dns_txt_did(m.b, m.n, did, sizeof(did));
    tap_ok(rc == PDS_DNS_FOUND, "a record of two strings: found");
    tap_is_str(did, "did:plc:abcdefghijklmnopqrstuvwx",
               "... the strings joined");

    header(&m, 0, 1, 3);
    question(&m);
    record(&m, PDS_DNS_TYPE_CNAME, cname, 1);
    record(&m, PDS_DNS_TYPE_TXT, other, 1);
    record(&m, PDS_DNS_TYPE_TXT, one, 1);
    rc = pds_dns_txt_did(m.b, m.n, did, sizeof(did));
    tap_ok(rc == PDS_DNS_FOUND, "a CNAME and another TXT record are skipped");
    tap_is_str(did, "did:plc:abcdefghijklmnopqrstuvwx", "... its DID");

    header(&m, 0, 1, 2);
    question(&m);
    record(&m, PDS_DNS_TYPE_TXT, one, 1);
    record(&m, PDS_DNS_TYPE_TXT, two, 1);
    rc = pds_dns_txt_did(m.b, m.n, did, sizeof(did));
    tap_ok(rc == PDS_DNS_AMBIGUOUS && did[0] == '\0',
           "two did= records: none taken (the reference's rule)");

    header(&m, 0, 1, 1);
    question(&m);
    record(&m, PDS_DNS_TYPE_TXT, other, 1);
    tap_ok(pds_dns_txt_did(m.b, m.n, did, sizeof(did)) == PDS_DNS_NONE,
           "no did= record: none");

    header(&m, 0, 1, 1);
    question(&m);
    record(&m, PDS_DNS_TYPE_TXT, upper, 1);
    tap_ok(pds_dns_txt_did(m.b, m.n, did, sizeof(did)) == PDS_DNS_NONE,
           "\"DID=\" is not \"did=\" (case matters)");

    header(&m, 3, 1, 0);
    question(&m);
    tap_ok(pds_dns_txt_did(m.b, m.n, did, sizeof(did)) == PDS_DNS_NONE,
           "NXDOMAIN: none");

    header(&m, 0, 1, 0);
    question(&m);
    tap_ok(pds_dns_txt_did(m.b, m.n, did, sizeof(did)) == PDS_DNS_NONE,
           "no answer: none");

    header(&m, 0, 1, 1);
    question(&m);
    record(&m, PDS_DNS_TYPE_TXT, one, 1);
    tap_ok(pds_dns_txt_did(m.b, m.n, did, 10) == PDS_DNS_TOOLONG,
           "a DID longer than the buffer: TOOLONG");

    /* malformed messages */

    header(&m, 0, 1, 1);
    question(&m);
    record(&m, PDS_DNS_TYPE_TXT, one, 1);
    tap_ok(pds_dns_txt_did(m.b, m.n - 3, did, sizeof(did))
           == PDS_DNS_MALFORMED, "a record cut short: malformed");
    tap_ok(pds_dns_txt_did(m.b, 11, did, sizeof(did)) == PDS_DNS_MALFORMED,
           "a header cut short: malformed");

    m.b[2] = 0x01;
    tap_ok(pds_dns_txt_did(m.b, m.n, did, sizeof(did)) == PDS_DNS_MALFORMED,
           "a query, not a response: malformed");

    header(&m, 0, 1, 1);
    question(&m);
    record(&m, PDS_DNS_TYPE_TXT, one, 1);
    m.b[37] = 0xc0;                 /* the record's owner points past the end */
    m.b[38] = 0xff;
    tap_ok(pds_dns_txt_did(m.b, m.n, did, sizeof(did)) == PDS_DNS_MALFORMED,
           "a compression pointer past the end: malformed");

    header(&m, 0, 1, 1);
    question(&m);
    record(&m, PDS_DNS_TYPE_TXT, one, 1);
    m.b[m.n - 1 - strlen(one[0])] = 200;  /* a string longer than RDATA */
    tap_ok(pds_dns_txt_did(m.b, m.n, did, sizeof(did)) != PDS_DNS_FOUND,
           "a character-string longer than its record: not taken");
}


static void
test_value(void)
{
    char  did[64];

    tap_ok(pds_dns_txt_value("did=did:web:x.test", 18, did, sizeof(did))
           == PDS_DNS_FOUND && strcmp(did, "did:web:x.test") == 0,
           "txt value: did=did:web:x.test");
    tap_ok(pds_dns_txt_value("did=", 4, did, sizeof(did)) == PDS_DNS_FOUND
           && did[0] == '\0', "txt value: \"did=\" alone is an empty DID "
           "(the caller's syntax check refuses it)");
    tap_ok(pds_dns_txt_value(" did=did:x:y", 12, did, sizeof(did))
           == PDS_DNS_NONE, "txt value: a leading space: none");
}


static void
test_http(void)
{
    char  did[64];

#define HTTP(body, want, expect, what)                                        \
    do {                                                                      \
        int rc_ = pds_handle_http_did(body, sizeof(body) - 1, did,            \
                                      sizeof(did));                           \
        tap_ok(rc_ == (want) && ((want) != PDS_DNS_FOUND                      \
                                 || strcmp(did, expect) == 0),                \
               "well-known: %s", what);                                       \
    } while (0)

    HTTP("did:plc:abc", PDS_DNS_FOUND, "did:plc:abc", "a bare DID");
    HTTP("did:plc:abc\n", PDS_DNS_FOUND, "did:plc:abc", "a trailing newline");
    HTTP("  did:plc:abc \r\nmore\n", PDS_DNS_FOUND, "did:plc:abc",
         "first line, trimmed");
    HTTP("\xef\xbb\xbf" "did:plc:abc", PDS_DNS_FOUND, "did:plc:abc",
         "a byte order mark is white space");
    HTTP("\ndid:plc:abc", PDS_DNS_NONE, "", "an empty first line: none");
    HTTP("<html>did:plc:abc</html>", PDS_DNS_NONE, "", "an HTML page: none");
    HTTP("DID:plc:abc", PDS_DNS_NONE, "", "\"DID:\": none");
    HTTP("", PDS_DNS_NONE, "", "empty: none");
    HTTP("did:plc:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaa", PDS_DNS_TOOLONG, "", "longer than the buffer: TOOLONG");
#undef HTTP
}


static void
test_query(void)
{
    int      n;
    uint8_t  q[512];
    char     big[300];

    static const uint8_t  want[] =
        "\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
        "\x08_atproto\x05" "alice\x04test\x00\x00\x10\x00\x01";

    n = pds_dns_txt_query("alice.test", 10, 0xabcd, q, sizeof(q));
    tap_ok(n == (int) sizeof(want) - 1 && memcmp(q, want, n) == 0,
           "the query for _atproto.alice.test TXT IN");

    n = pds_dns_txt_query("alice.test.", 11, 0xabcd, q, sizeof(q));
    tap_ok(n == (int) sizeof(want) - 1 && memcmp(q, want, n) == 0,
           "a trailing dot is the same name");

    tap_ok(pds_dns_txt_query("a..test", 7, 1, q, sizeof(q)) == -1,
           "an empty label: refused");
    tap_ok(pds_dns_txt_query("alice.test", 10, 1, q, 20) == -1,
           "a buffer too small: refused");

    memset(big, 'a', sizeof(big));
    big[64] = '.';
    tap_ok(pds_dns_txt_query(big, 70, 1, q, sizeof(q)) == -1,
           "a label of 64 bytes: refused");
    tap_ok(pds_dns_txt_query(big, 250, 1, q, sizeof(q)) == -1,
           "a name over 255 bytes with _atproto: refused");

    /* an NSID's authority: "_lexicon.<authority>" */
    {
        static const uint8_t  lex[] =
            "\x00\x07\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
            "\x08_lexicon\x05" "perms\x07" "example\x03" "com"
            "\x00\x00\x10\x00\x01";

        n = pds_dns_txt_query_label("_lexicon", "perms.example.com", 17, 7,
                                    q, sizeof(q));
        tap_ok(n == (int) sizeof(lex) - 1 && memcmp(q, lex, n) == 0,
               "the query for _lexicon.perms.example.com TXT IN");
        tap_ok(pds_dns_txt_query_label("", "a.test", 6, 1, q, sizeof(q))
               == -1, "an empty first label: refused");
    }
}


int
main(void)
{
    test_txt();
    test_value();
    test_http();
    test_query();

    return tap_done();
}
