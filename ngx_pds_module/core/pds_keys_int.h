/*
 * ngx_pds_module core: what pds_keys.c (keys and ECDSA) and pds_didkey.c
 * (their string forms and names) share: the table of curves, defined in
 * pds_keys.c.  Included by those two files only.
 */

#ifndef PDS_KEYS_INT_H
#define PDS_KEYS_INT_H

#include <stdint.h>

#include "pds_keys.h"


typedef struct {
    pds_key_type_t   type;
    int              nid;               /* OpenSSL NID */
    const char      *group;             /* OpenSSL group name */
    const char      *jwt_alg;
    const char      *suite;             /* DID document verification type */
    uint64_t         codec;             /* multicodec of the public key */
    uint8_t          order[32];         /* n, big-endian */
} pds_curve_t;


#define PDS_KEY_NCURVES  2

extern const pds_curve_t  pds_curves[PDS_KEY_NCURVES];

/* the curve of a key type, or NULL */
const pds_curve_t *pds_curve(pds_key_type_t type);


#endif /* PDS_KEYS_INT_H */
