/*
 * ngx_pds_module core: what an AT Protocol DID document says.
 *
 * The account's handle (the first "at://" alsoKnownAs), its repo signing
 * key (the "#atproto" verification method, as a did:key string, from a
 * Multikey or the legacy secp256k1 / P-256 suites) and its PDS (the
 * "#atproto_pds" service of type AtprotoPersonalDataServer), as the atproto
 * identity spec reads them.
 */

#ifndef PDS_DIDDOC_H
#define PDS_DIDDOC_H

#include <stddef.h>

#include <jansson.h>

#include "pds_keys.h"


typedef struct {
    const char  *handle;                 /* without "at://"; NULL: none */
    char         signing_key[PDS_DID_KEY_MAX];   /* "": none */
    const char  *pds_endpoint;           /* NULL: none */
} pds_diddoc_t;


/*
 * Reads doc (which must have "id": did); strings point into doc.  0, or -1
 * when it is not a DID document of did.
 */
int pds_diddoc_read(const json_t *doc, const char *did, pds_diddoc_t *out);

#endif /* PDS_DIDDOC_H */
