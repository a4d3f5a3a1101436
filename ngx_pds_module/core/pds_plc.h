/*
 * ngx_pds_module core: did:plc operations (github.com/did-method-plc).
 *
 * Operations are jansson objects in the JSON form the PLC directory takes:
 *
 *   {"type":"plc_operation", "rotationKeys":[did:key, ...],
 *    "verificationMethods":{"atproto":did:key},
 *    "alsoKnownAs":["at://<handle>"],
 *    "services":{"atproto_pds":{"type":"AtprotoPersonalDataServer",
 *                               "endpoint":<url>}},
 *    "prev":null | "<CID of the previous signed op>", "sig":"..."}
 *
 *   {"type":"plc_tombstone", "prev":"<cid>", "sig":"..."}
 *
 * "sig" is base64url (no padding) of the 64-byte compact low-S ECDSA
 * signature, by one of the rotation keys, over the DAG-CBOR encoding of the
 * operation without "sig".  The DID is "did:plc:" + the first 24 characters
 * of base32-lower(sha256(DAG-CBOR of the signed genesis op))).
 */

#ifndef PDS_PLC_H
#define PDS_PLC_H

#include <stddef.h>

#include <jansson.h>

#include "pds_cid.h"
#include "pds_keys.h"
#include "pds_mem.h"


#define PDS_PLC_DID_LEN         32      /* "did:plc:" + 24 */
#define PDS_PLC_MAX_ROTATION    5
#define PDS_PLC_MAX_OP_SIZE     7500    /* DAG-CBOR bytes (directory limit) */


/*
 * What an operation says.  For updates, NULL / 0 fields keep the value of
 * the previous operation.
 */
typedef struct {
    const char  **rotation_keys;        /* did:keys, most trusted first */
    size_t        n_rotation_keys;
    const char   *signing_key;          /* verificationMethods.atproto */
    const char   *handle;               /* "at://" is added if missing */
    const char   *pds_endpoint;         /* "https://" is added if no scheme */
} pds_plc_params_t;


/*
 * Builds an unsigned plc_operation (a new reference) with prev = NULL
 * (genesis) or the given CID string.  All fields are required.  NULL on
 * bad input (no or over 5 rotation keys, duplicate keys, a key that is not
 * a did:key of a supported curve) or no memory.
 */
json_t *pds_plc_op_new(const pds_plc_params_t *p, const char *prev);

/*
 * Builds an unsigned update on top of prev_op (a signed operation, also a
 * legacy "create" op): its fields, with those set in p replacing them, and
 * prev = CID of prev_op.  NULL on failure (e.g. prev_op is a tombstone).
 */
json_t *pds_plc_update_op(const json_t *prev_op, const pds_plc_params_t *p);

/*
 * The same, with any of "rotationKeys", "verificationMethods",
 * "alsoKnownAs", "services" in the object changes replacing the previous
 * values as a whole (signPlcOperation).  changes may be NULL.
 */
json_t *pds_plc_update_op_json(const json_t *prev_op, const json_t *changes);

/* Builds an unsigned tombstone on top of prev_op. */
json_t *pds_plc_tombstone_new(const json_t *prev_op);

/* Signs op in place (sets or replaces "sig").  0 or -1. */
int pds_plc_sign(json_t *op, const pds_key_t *rotation_key);

/*
 * Appends the DAG-CBOR of op (with "sig" if present; without it if
 * unsigned is set) to out.  0 or -1 (not representable).
 */
int pds_plc_op_cbor(const json_t *op, int unsigned_form, pds_buf_t *out);

/* The CID of a signed op (used as the next op's prev).  0 or -1. */
int pds_plc_op_cid(const json_t *op, pds_cid_t *cid);
/* ... as its string, NUL-terminated, into out[PDS_CID_STR_SIZE]. */
int pds_plc_op_cid_str(const json_t *op, char *out);

/* The DID of a signed genesis op: writes "did:plc:..." and a NUL. */
int pds_plc_did(const json_t *genesis, char out[PDS_PLC_DID_LEN + 1]);

/*
 * Checks the shape of an operation (plc_operation or plc_tombstone) and
 * that "sig" is a valid strict (low-S, compact) signature by one of keys
 * (did:key strings; for a genesis op pass its own rotationKeys or NULL to
 * use them).  Returns the index of the signing key, or -1.
 */
int pds_plc_verify(const json_t *op, const char *const *keys, size_t n_keys);

#endif /* PDS_PLC_H */
