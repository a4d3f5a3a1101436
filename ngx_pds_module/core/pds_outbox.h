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


/*
 * The mailer's side.  A mail is claimed by one sender at a time: the claim
 * writes the sender's owner id (the worker's pid) and a lease (next = now
 * + lease) into the row, so no other worker takes it until the lease ends
 * or its owner is gone (alive() says no: a killed worker's mails are due
 * at once).  The sender then removes it (accepted) or reschedules it with
 * the back-off below (not accepted yet).  Delivery is at least once: a
 * sender that dies between the server's "250" and the removal sends the
 * mail again.
 */

#define PDS_OUTBOX_RETRY_MIN_MS   5000             /* after the 1st failure */
#define PDS_OUTBOX_RETRY_MAX_MS   (10 * 60 * 1000) /* the delay's cap */
#define PDS_OUTBOX_LIFETIME_MS    (5LL * 24 * 3600 * 1000)  /* then given up */

typedef struct {
    uint64_t        id;
    const char     *to;
    const char     *subject;
    const char     *text;
    const char     *did;          /* may be NULL */
    int64_t         queued;       /* ms */
    int64_t         next;         /* ms: due, or the end of its lease */
    int64_t         tries;        /* failed attempts so far */
    int64_t         owner;        /* the sender holding it, 0: none */
} pds_outbox_mail_t;

/* is the sender with this owner id still there (a worker's pid) */
typedef int (*pds_outbox_alive_pt)(int64_t owner, void *data);

/*
 * When the next mail may be claimed: 0 with *due (ms; <= now_ms when one
 * is due now), or PDS_NOTFOUND when the outbox is empty.  A read
 * transaction is enough.
 */
int pds_outbox_next_due(pds_store_t *s, MDB_txn *txn, int64_t now_ms,
    pds_outbox_alive_pt alive, void *data, int64_t *due);

/*
 * Claims up to max due mails for owner until now_ms + lease_ms, oldest
 * first, copying them (strings from a) into out: 0 with *n, or an error.
 */
int pds_outbox_claim(pds_store_t *s, MDB_txn *txn, int64_t now_ms,
    int64_t owner, int64_t lease_ms, pds_outbox_alive_pt alive, void *data,
    const pds_alloc_t *a, pds_outbox_mail_t *out, size_t max, size_t *n);

/* removes a mail (sent, or given up): 0, also when it is gone already */
int pds_outbox_remove(pds_store_t *s, MDB_txn *txn, uint64_t id);

/*
 * A failed attempt: tries + 1, due again at next_ms, the lease released.
 * 0, PDS_NOTFOUND (removed meanwhile) or an error.
 */
int pds_outbox_retry(pds_store_t *s, MDB_txn *txn, uint64_t id,
    int64_t next_ms);

/* the delay before the next attempt after tries failed ones (>= 1) */
int64_t pds_outbox_backoff(int64_t tries);

/* every queued mail, oldest first, for tests and tools: 0 with *n */
int pds_outbox_list(pds_store_t *s, MDB_txn *txn, const pds_alloc_t *a,
    pds_outbox_mail_t *out, size_t max, size_t *n);

#endif /* PDS_OUTBOX_H */
