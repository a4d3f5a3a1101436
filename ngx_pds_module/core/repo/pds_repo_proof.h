/*
 * ngx_pds_module core: the proof com.atproto.sync.getRecord answers (a
 * CAR: the signed commit, the MST nodes on the way to one key, the record)
 * checked as a reader of another repository checks it (the reference's
 * verifyRecordProof, @atproto/lex-resolver):
 *
 *   - the CAR is well formed, its blocks hash to their CIDs, its first
 *     root is the commit;
 *   - the commit is a version 3 commit of did whose signature verifies
 *     with did_key ("did:key:z...", from the DID document);
 *   - walking the MST from the commit's data to collection/rkey finds the
 *     record's CID, and its block is in the CAR: a DAG-CBOR map whose
 *     $type is collection.
 *
 * Pure; allocates through a (an arena or a pool: decoded trees are not
 * freed one by one); the record points into car.
 */

#ifndef PDS_REPO_PROOF_H
#define PDS_REPO_PROOF_H

#include <stddef.h>
#include <stdint.h>

#include "pds_mem.h"
#include "pds_cid.h"


#define PDS_REPO_PROOF_BLOCKS_MAX  256      /* blocks in a proof CAR */

/*
 * 0 with *rec / *rec_n (the record's DAG-CBOR) and *cid set, or -1 with
 * why (a static string) set.  did_key NULL skips the signature check
 * (tests and fuzzing only).
 */
int pds_repo_proof_record(const pds_alloc_t *a, const uint8_t *car,
    size_t car_n, const char *did, const char *did_key,
    const char *collection, const char *rkey, const uint8_t **rec,
    size_t *rec_n, pds_cid_t *cid, const char **why);

#endif /* PDS_REPO_PROOF_H */
