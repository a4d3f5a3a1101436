/*
 * ngx_pds_module core: the handle policy of a tenant.
 *
 * Which handles a new account (or a handle change) may take on this PDS:
 * a valid handle (pds_syntax), in lower case, with an allowed TLD, under
 * one of the tenant's handle domains with a single label of 3 to 18
 * characters in front, and not one of the reserved names.  The caller
 * maps the outcome to its error answer.
 *
 * Domains are given with their leading dot (".bsky.social"), in lower
 * case, as the configuration stores them.  Pure, reentrant, allocates
 * nothing.
 */

#ifndef PDS_HANDLE_H
#define PDS_HANDLE_H

#include <stddef.h>

#include "pds_syntax.h"


/* the label in front of the domain */
#define PDS_HANDLE_LABEL_MIN   3
#define PDS_HANDLE_LABEL_MAX   18

/* what pds_handle_check_new() decides, in the order it checks */
#define PDS_HANDLE_OK          0
#define PDS_HANDLE_ESYNTAX     1    /* not a handle */
#define PDS_HANDLE_ETLD        2    /* a disallowed TLD (.local, .onion...) */
#define PDS_HANDLE_EDOMAIN     3    /* under none of the domains */
#define PDS_HANDLE_EDOTS       4    /* more than one label in front */
#define PDS_HANDLE_ESHORT      5    /* a label under LABEL_MIN */
#define PDS_HANDLE_ELONG       6    /* a label over LABEL_MAX */
#define PDS_HANDLE_ERESERVED   7    /* a reserved name ("admin", ...) */


/*
 * Decides whether the handle s (len bytes) may be taken under one of
 * domains[0 .. n - 1]; writes its lower-case form to dst (cap bytes at
 * least len, no NUL added; dst may equal s) when it is one.  Returns
 * PDS_HANDLE_OK or the first rule it breaks, PDS_HANDLE_E*.
 */
int pds_handle_check_new(char *dst, size_t cap, const char *s, size_t len,
    const pds_span_t *domains, size_t n);

/*
 * 1 if s is a handle of this service: under one of the domains, or one of
 * them without its leading dot; compared case-insensitively.  0 otherwise.
 */
int pds_handle_is_service(const char *s, size_t len,
    const pds_span_t *domains, size_t n);

/* 1 if label (the part in front of the domain) is a reserved name */
int pds_handle_is_reserved(const char *label, size_t len);


#endif /* PDS_HANDLE_H */
