/*
 * ngx_pds_module core: the tenant's outgoing mail queue.
 *
 * A mail is queued inside the caller's LMDB write transaction, the same
 * one that stores the token it carries, so that a committed request never
 * loses its mail and an aborted one never sends it.  The mailer (nginx
 * layer) sends queued mails and removes each once the SMTP server has
 * accepted it; delivery is at least once.
 */

#ifndef PDS_OUTBOX_H
#define PDS_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "pds_mem.h"
#include "pds_store.h"


typedef struct {
    const char     *to;          /* one address, as the account stores it */
    const char     *subject;     /* UTF-8, one line */
    const char     *text;        /* plain-text body, UTF-8, "\n" line ends */
    const char     *did;         /* the account it concerns (logs), or NULL */
} pds_mail_t;


/*
 * Queues m in txn, due now.  0, EINVAL (a missing field, a line break in
 * the address or subject), or an LMDB error.
 */
int pds_outbox_put(pds_store_t *s, MDB_txn *txn, const pds_mail_t *m,
    int64_t now_ms);

/* The mailer's side (claiming, rescheduling, removing) is declared below
 * by pds_outbox.c's author. */

#endif /* PDS_OUTBOX_H */
