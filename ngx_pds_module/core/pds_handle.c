/*
 * ngx_pds_module core: the handle policy of a tenant (see pds_handle.h).
 */

#include <string.h>

#include "pds_handle.h"


/* names no account may take, whatever the domain */
static const char  *pds_handle_reserved[] = {
    "at", "atp", "plc", "pds", "did", "repo", "tid", "nsid", "xrpc", "lex",
    "lexicon", "bsky", "bluesky", "handle", "admin", "administrator",
    "root", "support", "help", "abuse", "security", "postmaster",
    "hostmaster", "webmaster", "www", "mail", "email", "api", "ftp",
    "system", "sysadmin", "moderator", "mod", "staff", "official", "info",
    "noreply", "no-reply", "account", "accounts", "login", "signup",
    "register", "status", "test", "null", "undefined", "localhost",
    NULL
};


/* ASCII case-insensitive equality of n bytes */
static int
pds_handle_eq_icase(const char *a, const char *b, size_t n)
{
    size_t         i;
    unsigned char  x, y;

    for (i = 0; i < n; i++) {
        x = (unsigned char) a[i];
        y = (unsigned char) b[i];

        if (x >= 'A' && x <= 'Z') {
            x |= 0x20;
        }

        if (y >= 'A' && y <= 'Z') {
            y |= 0x20;
        }

        if (x != y) {
            return 0;
        }
    }

    return 1;
}


int
pds_handle_is_reserved(const char *label, size_t len)
{
    const char  **r;

    for (r = pds_handle_reserved; *r; r++) {
        if (strlen(*r) == len && memcmp(label, *r, len) == 0) {
            return 1;
        }
    }

    return 0;
}


int
pds_handle_check_new(char *dst, size_t cap, const char *s, size_t len,
    const pds_span_t *domains, size_t n)
{
    size_t  i, front;

    if (pds_handle_normalize(dst, cap, s, len) < 0) {
        return PDS_HANDLE_ESYNTAX;
    }

    if (pds_handle_is_reserved_tld(dst, len)) {
        return PDS_HANDLE_ETLD;
    }

    /* the first domain the handle ends with (the handle is lower case) */

    for (i = 0; i < n; i++) {
        if (len > domains[i].len
            && memcmp(dst + len - domains[i].len, domains[i].data,
                      domains[i].len)
               == 0)
        {
            break;
        }
    }

    if (i == n) {
        return PDS_HANDLE_EDOMAIN;
    }

    front = len - domains[i].len;

    if (memchr(dst, '.', front) != NULL) {
        return PDS_HANDLE_EDOTS;
    }

    if (front < PDS_HANDLE_LABEL_MIN) {
        return PDS_HANDLE_ESHORT;
    }

    if (front > PDS_HANDLE_LABEL_MAX) {
        return PDS_HANDLE_ELONG;
    }

    if (pds_handle_is_reserved(dst, front)) {
        return PDS_HANDLE_ERESERVED;
    }

    return PDS_HANDLE_OK;
}


int
pds_handle_is_service(const char *s, size_t len, const pds_span_t *domains,
    size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (len > domains[i].len
            && pds_handle_eq_icase(s + len - domains[i].len, domains[i].data,
                                   domains[i].len))
        {
            return 1;
        }

        /* the domain itself, without its leading dot */
        if (domains[i].len > 0
            && len == domains[i].len - 1
            && pds_handle_eq_icase(s, domains[i].data + 1, len))
        {
            return 1;
        }
    }

    return 0;
}
