/*
 * Unit tests for pds_handle: the handle policy of a tenant (which new
 * handles are acceptable, which handles are the service's own).
 */

#include "tap.h"
#include "pds_handle.h"


static const pds_span_t  domains[] = {
    { ".bsky.test", sizeof(".bsky.test") - 1 },
    { ".pds.dev", sizeof(".pds.dev") - 1 },
};

#define NDOMAINS  (sizeof(domains) / sizeof(domains[0]))


typedef struct {
    const char  *handle;
    int          want;
    const char  *lower;       /* the normalized form, when accepted */
} case_t;


static const case_t  cases[] = {
    /* accepted, lower-cased */
    { "alice.bsky.test", PDS_HANDLE_OK, "alice.bsky.test" },
    { "Alice.BSKY.Test", PDS_HANDLE_OK, "alice.bsky.test" },
    { "bob.pds.dev", PDS_HANDLE_OK, "bob.pds.dev" },
    { "abc.bsky.test", PDS_HANDLE_OK, "abc.bsky.test" },
    { "abcdefghijklmnopqr.bsky.test", PDS_HANDLE_OK,
      "abcdefghijklmnopqr.bsky.test" },
    { "a-b.bsky.test", PDS_HANDLE_OK, "a-b.bsky.test" },
    { "admins.bsky.test", PDS_HANDLE_OK, "admins.bsky.test" },

    /* syntax first */
    { "", PDS_HANDLE_ESYNTAX, NULL },
    { "alice", PDS_HANDLE_ESYNTAX, NULL },
    { "-alice.bsky.test", PDS_HANDLE_ESYNTAX, NULL },
    { "al ice.bsky.test", PDS_HANDLE_ESYNTAX, NULL },
    { "alice.bsky.test.", PDS_HANDLE_ESYNTAX, NULL },
    { "alice.bsky.123", PDS_HANDLE_ESYNTAX, NULL },

    /* a disallowed TLD, before the domains are looked at */
    { "alice.local", PDS_HANDLE_ETLD, NULL },
    { "alice.onion", PDS_HANDLE_ETLD, NULL },
    { "alice.bsky.LOCALHOST", PDS_HANDLE_ETLD, NULL },

    /* not under a domain of the tenant */
    { "alice.other.test", PDS_HANDLE_EDOMAIN, NULL },
    { "bsky.test", PDS_HANDLE_EDOMAIN, NULL },
    { "alicebsky.test", PDS_HANDLE_EDOMAIN, NULL },
    { "alice.pds.dev.example.com", PDS_HANDLE_EDOMAIN, NULL },

    /* one label in front, checked before its length */
    { "a.b.bsky.test", PDS_HANDLE_EDOTS, NULL },
    { "alice.smith.bsky.test", PDS_HANDLE_EDOTS, NULL },

    /* label length */
    { "ab.bsky.test", PDS_HANDLE_ESHORT, NULL },
    { "a.pds.dev", PDS_HANDLE_ESHORT, NULL },
    { "at.bsky.test", PDS_HANDLE_ESHORT, NULL },   /* reserved, but short */
    { "abcdefghijklmnopqrs.bsky.test", PDS_HANDLE_ELONG, NULL },

    /* reserved names, in any case */
    { "admin.bsky.test", PDS_HANDLE_ERESERVED, NULL },
    { "Admin.bsky.test", PDS_HANDLE_ERESERVED, NULL },
    { "no-reply.pds.dev", PDS_HANDLE_ERESERVED, NULL },
    { "localhost.bsky.test", PDS_HANDLE_ERESERVED, NULL },
    { "administrator.bsky.test", PDS_HANDLE_ERESERVED, NULL },
};


static void
test_check_new(void)
{
    int     rc;
    char    buf[300];
    size_t  i, len;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        len = strlen(cases[i].handle);
        memset(buf, 0, sizeof(buf));

        rc = pds_handle_check_new(buf, sizeof(buf), cases[i].handle, len,
                                  domains, NDOMAINS);
        is_int(rc, cases[i].want, "check_new \"%s\"", cases[i].handle);

        if (cases[i].lower) {
            is_str(buf, cases[i].lower, "\"%s\" in lower case",
                   cases[i].handle);
        }
    }
}


static void
test_check_new_edges(void)
{
    char  buf[64], small[4];

    /* in place */
    strcpy(buf, "CAROL.Pds.Dev");
    is_int(pds_handle_check_new(buf, sizeof(buf), buf, strlen(buf),
                                domains, NDOMAINS),
           PDS_HANDLE_OK, "in place");
    ok(memcmp(buf, "carol.pds.dev", 13) == 0, "in place: lower-cased");

    /* no domains at all */
    is_int(pds_handle_check_new(buf, sizeof(buf), "alice.bsky.test", 15,
                                domains, 0),
           PDS_HANDLE_EDOMAIN, "no domains: nothing is acceptable");

    /* the first domain that matches decides */
    {
        static const pds_span_t  nested[] = {
            { ".b.bsky.test", sizeof(".b.bsky.test") - 1 },
            { ".bsky.test", sizeof(".bsky.test") - 1 },
        };

        is_int(pds_handle_check_new(buf, sizeof(buf), "alice.b.bsky.test",
                                    17, nested, 2),
               PDS_HANDLE_OK, "nested domains: the first listed matches");
        is_int(pds_handle_check_new(buf, sizeof(buf), "alice.b.bsky.test",
                                    17, nested + 1, 1),
               PDS_HANDLE_EDOTS, "the outer domain alone: two labels");
    }

    /* a buffer too small is refused, not overrun */
    is_int(pds_handle_check_new(small, sizeof(small), "alice.bsky.test", 15,
                                domains, NDOMAINS),
           PDS_HANDLE_ESYNTAX, "dst too small");

    /* not NUL-terminated input */
    is_int(pds_handle_check_new(buf, sizeof(buf), "alice.bsky.testXYZ", 15,
                                domains, NDOMAINS),
           PDS_HANDLE_OK, "length, not NUL, ends the handle");
}


static void
test_is_service(void)
{
    ok(pds_handle_is_service("alice.bsky.test", 15, domains, NDOMAINS),
       "is_service: under a domain");
    ok(pds_handle_is_service("ALICE.BSKY.TEST", 15, domains, NDOMAINS),
       "is_service: case-insensitive");
    ok(pds_handle_is_service("a.b.pds.dev", 11, domains, NDOMAINS),
       "is_service: any depth under a domain");
    ok(pds_handle_is_service("bsky.test", 9, domains, NDOMAINS),
       "is_service: the domain itself");
    ok(pds_handle_is_service("PDS.dev", 7, domains, NDOMAINS),
       "is_service: the domain itself, any case");
    ok(!pds_handle_is_service("other.test", 10, domains, NDOMAINS),
       "is_service: another domain");
    ok(!pds_handle_is_service("alicebsky.test", 14, domains, NDOMAINS),
       "is_service: a suffix without the dot");
    ok(!pds_handle_is_service(".bsky.test", 10, domains, NDOMAINS),
       "is_service: the bare suffix");
    ok(!pds_handle_is_service("", 0, domains, NDOMAINS),
       "is_service: empty");
    ok(!pds_handle_is_service("alice.bsky.test", 15, domains, 0),
       "is_service: no domains");
}


static void
test_reserved(void)
{
    ok(pds_handle_is_reserved("admin", 5), "reserved: admin");
    ok(pds_handle_is_reserved("no-reply", 8), "reserved: no-reply");
    ok(!pds_handle_is_reserved("admi", 4), "reserved: a prefix is not");
    ok(!pds_handle_is_reserved("admins", 6), "reserved: a longer name is not");
    ok(!pds_handle_is_reserved("ADMIN", 5),
       "reserved: compared as given (the handle is lower case by then)");
}


int
main(void)
{
    test_check_new();
    test_check_new_edges();
    test_is_service();
    test_reserved();

    return tap_done();
}
