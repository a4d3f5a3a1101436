/*
 * ngx_pds_module: what the methods that mail a token share (password
 * reset, email sign-in codes, account deletion): issuing the token and
 * queuing its mail in one write transaction, and the reference's answers
 * to a token that does not check.  Used by ngx_pds_password_reset.c,
 * ngx_pds_session.c and ngx_pds_lifecycle.c; uses nothing of methods/.
 */

#ifndef NGX_PDS_MAILED_H
#define NGX_PDS_MAILED_H

#include "ngx_pds.h"
#include "pds_email_token.h"


typedef struct {
    uint64_t              uid;
    pds_token_purpose_t   purpose;
    const char           *to;            /* the account's address */
    const char           *did;
    const char           *subject;
    const char           *intro;         /* the text above the token */
    const char           *outro;         /* below it, or NULL */
} ngx_pds_mailed_t;


/*
 * In a write transaction (any thread): a fresh token for (uid, purpose)
 * and its mail queued in the outbox, the token on a line of its own.
 * 0, or an LMDB / errno code.  After the commit, ngx_pds_mail_wake().
 */
int ngx_pds_mailed_token(pds_store_t *store, MDB_txn *txn,
    const ngx_pds_mailed_t *m);

/*
 * The answer to a token that did not check (pds_email_token_check /
 * _find's result): 400 InvalidToken "Token is invalid" / ExpiredToken
 * "Token is expired", as the reference; other codes: a storage error.
 */
ngx_int_t ngx_pds_token_refused(ngx_pds_ctx_t *ctx, int rc);

/* 1 if rc is one of the two results ngx_pds_token_refused answers */
#define ngx_pds_token_bad(rc)                                              \
    ((rc) == PDS_TOKEN_INVALID || (rc) == PDS_TOKEN_EXPIRED)

/* now in milliseconds, for the token and outbox calls (any thread) */
int64_t ngx_pds_now_ms(void);

#endif /* NGX_PDS_MAILED_H */
