/*
 * ngx_pds_module core: what the OAuth authorization server keeps, in the
 * tenant's "oauth" table (layout in docs/STORAGE.md).
 *
 *   pushed authorization requests (PAR), until they expire (5 minutes) or
 *   are used; authorization codes, single use: a code exchanged twice
 *   revokes the tokens the first exchange issued, as the reference does;
 *   token families: one row per authorization, its current access token id
 *   (tok-...) and refresh token (ref-...), rotated on every refresh; an
 *   old refresh token presented again revokes the family (replay); an
 *   index by account so that a password change or a takedown revokes all;
 *   one-time values (DPoP jti, PKCE code challenges) remembered until they
 *   expire, with a time index so that expired ones are removed as new ones
 *   are written.
 *
 * Rows are compact JSON objects.  Every function works inside the
 * caller's transaction and returns 0, PDS_NOTFOUND, PDS_EXISTS or an error
 * (< 0): PDS_STORE_ERROR, PDS_STORE_MAPFULL.
 */

#ifndef PDS_OAUTH_STORE_H
#define PDS_OAUTH_STORE_H

#include <stdint.h>

#include <jansson.h>
#include <lmdb.h>

#include "pds_mem.h"
#include "pds_oauth.h"
#include "pds_store.h"


#define PDS_OAUTH_PAR_TTL_MS        (5 * 60 * 1000)
#define PDS_OAUTH_CODE_TTL_MS       (5 * 60 * 1000)
#define PDS_OAUTH_TOKEN_TTL         (60 * 60)               /* s */
#define PDS_OAUTH_SESSION_TTL_MS    (14LL * 24 * 3600 * 1000)
#define PDS_OAUTH_CHALLENGE_TTL_MS  (26LL * 3600 * 1000)    /* 1 d + 10 % */

/* the replay of an old refresh token or of a used code */
#define PDS_OAUTH_REPLAY            3


/* PAR: params is the authorization request (a JSON object) */
int pds_oauth_par_put(pds_store_t *s, MDB_txn *txn, const char *req_id,
    json_t *row);
/* the request's row (a new reference), PDS_NOTFOUND also when expired */
int pds_oauth_par_get(pds_store_t *s, MDB_txn *txn, const char *req_id,
    int64_t now_ms, json_t **row);
int pds_oauth_par_del(pds_store_t *s, MDB_txn *txn, const char *req_id);


/* codes: row has the grant (client_id, redirect_uri, code_challenge,
 * scope, sub, dpop_jkt...) and "expires" (ms) */
int pds_oauth_code_put(pds_store_t *s, MDB_txn *txn, const char *code,
    json_t *row);
/*
 * Takes a code: 0 with *row (the grant) and the code marked used, to be
 * followed by pds_oauth_code_used once the token exists; PDS_NOTFOUND when
 * unknown or expired; PDS_OAUTH_REPLAY when it was used already, in which
 * case the family it issued is revoked here.
 */
int pds_oauth_code_take(pds_store_t *s, MDB_txn *txn, const char *code,
    int64_t now_ms, json_t **row);
int pds_oauth_code_used(pds_store_t *s, MDB_txn *txn, const char *code,
    const char *tok_id);


/*
 * Token families.  row: sub, client_id, scope, dpop_jkt, created and
 * expires (ms, the session's end), and the current ids, "id" (tok-) and
 * "refresh" (ref-).
 */
int pds_oauth_token_put(pds_store_t *s, MDB_txn *txn, json_t *row);
/* by access token id (the JWT's jti); PDS_NOTFOUND when revoked/rotated */
int pds_oauth_token_get(pds_store_t *s, MDB_txn *txn, const char *tok_id,
    json_t **row);
/*
 * Rotates the family of refresh token ref: new ids written into the row
 * (returned in *row); PDS_NOTFOUND if unknown or the session ended;
 * PDS_OAUTH_REPLAY (family revoked) if ref was already rotated away.
 */
int pds_oauth_token_refresh(pds_store_t *s, MDB_txn *txn, const char *ref,
    int64_t now_ms, json_t **row);
/*
 * revokes the family of an access token id or a refresh token; with
 * client_id, only if the family is that client's (else PDS_NOTFOUND)
 */
int pds_oauth_token_revoke(pds_store_t *s, MDB_txn *txn, const char *token,
    const char *client_id);
/* revokes every family of an account; *count set when not NULL */
int pds_oauth_revoke_account(pds_store_t *s, MDB_txn *txn, const char *did,
    unsigned *count);


/* one-time values: kinds */
#define PDS_OAUTH_ONCE_DPOP       'j'
#define PDS_OAUTH_ONCE_CHALLENGE  'p'
#define PDS_OAUTH_ONCE_ASSERTION  'a'      /* client_id + 0 + jti */

/*
 * Remembers value until expires_ms: 0, or PDS_EXISTS if it was seen and
 * has not expired.  Removes up to 16 expired values on the way.
 */
int pds_oauth_once(pds_store_t *s, MDB_txn *txn, char kind,
    const char *value, size_t len, int64_t expires_ms, int64_t now_ms);

#endif /* PDS_OAUTH_STORE_H */
