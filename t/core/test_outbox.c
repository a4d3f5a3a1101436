/*
 * Unit tests of the outbox's sender side (pds_outbox.c): claims and their
 * leases, a dead owner's mails, removal, rescheduling and the back-off.
 */

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "pds_outbox.h"


static int
alive_odd(int64_t owner, void *data)
{
    /* odd owners live, even ones died (4 too, once *data says so) */
    return owner % 2 == 1 || (owner == 4 && !*(int *) data);
}


int
main(void)
{
    char                dir[] = "/tmp/pds-test-outbox-XXXXXX", err[256];
    char                cmd[128];
    int                 dead4 = 0;
    size_t              n;
    int64_t             now = 1700000000000LL, due;
    MDB_txn            *txn;
    pds_mail_t          m;
    pds_alloc_t         a;
    pds_arena_t        *arena;
    pds_store_t        *s;
    pds_outbox_mail_t   out[8];

    if (mkdtemp(dir) == NULL
        || pds_store_open(dir, 16 * 1024 * 1024, 16, &s, err, sizeof(err))
           != 0)
    {
        ok(0, "store opens");
        return tap_done();
    }

    arena = pds_arena_create();
    a = pds_arena_allocator(arena);

    ok(pds_store_write_begin(s, &txn) == 0, "write txn");

    ok(pds_outbox_next_due(s, txn, now, alive_odd, &dead4, &due)
       == PDS_NOTFOUND, "an empty outbox has nothing due");

    m.to = "a@example.com";
    m.subject = "one";
    m.text = "token\nABCDE-FGHIJ\n";
    m.did = "did:plc:a";
    ok(pds_outbox_put(s, txn, &m, now) == 0, "queue one");
    m.subject = "two";
    m.did = NULL;
    ok(pds_outbox_put(s, txn, &m, now + 1) == 0, "queue two");
    m.subject = "three";
    ok(pds_outbox_put(s, txn, &m, now + 60000) == 0, "queue a later one");

    ok(pds_outbox_next_due(s, txn, now, alive_odd, &dead4, &due) == 0
       && due == now, "the first is due now");

    ok(pds_outbox_claim(s, txn, now + 10, 3, 300000, alive_odd, &dead4, &a,
                        out, 8, &n) == 0 && n == 2,
       "owner 3 claims the two due ones (%zu)", n);
    ok(n == 2 && out[0].id == 1 && out[1].id == 2
       && strcmp(out[0].subject, "one") == 0
       && strcmp(out[0].did, "did:plc:a") == 0 && out[1].did == NULL
       && strcmp(out[0].text, "token\nABCDE-FGHIJ\n") == 0
       && out[0].queued == now && out[0].tries == 0,
       "oldest first, fields copied");

    ok(pds_outbox_claim(s, txn, now + 20, 5, 300000, alive_odd, &dead4, &a,
                        out, 8, &n) == 0 && n == 0,
       "another live owner cannot take them while leased");
    ok(pds_outbox_next_due(s, txn, now + 20, alive_odd, &dead4, &due) == 0
       && due == now + 60000, "next due: the later one");

    ok(pds_outbox_claim(s, txn, now + 300011, 5, 300000, alive_odd, &dead4,
                        &a, out, 8, &n) == 0 && n == 3,
       "after the lease ends they are due again (%zu)", n);

    /* owner 4 holds them now and "dies" */
    ok(pds_outbox_claim(s, txn, now + 700000, 4, 300000, alive_odd, &dead4,
                        &a, out, 1, &n) == 0 && n == 1 && out[0].id == 1,
       "max is kept");
    ok(pds_outbox_claim(s, txn, now + 700000, 4, 300000, alive_odd, &dead4,
                        &a, out, 8, &n) == 0 && n == 2,
       "owner 4 takes the rest");
    dead4 = 1;
    ok(pds_outbox_next_due(s, txn, now + 700001, alive_odd, &dead4, &due) == 0
       && due == now + 700001, "a dead owner's mail is due at once");
    ok(pds_outbox_claim(s, txn, now + 700002, 7, 300000, alive_odd, &dead4,
                        &a, out, 8, &n) == 0 && n == 3 && out[0].id == 1,
       "and is claimed by a live one");

    ok(pds_outbox_retry(s, txn, 1, now + 800000) == 0, "a failed attempt");
    ok(pds_outbox_list(s, txn, &a, out, 8, &n) == 0 && n == 3
       && out[0].tries == 1 && out[0].owner == 0
       && out[0].next == now + 800000, "tries counted, lease released");
    ok(pds_outbox_remove(s, txn, 2) == 0 && pds_outbox_remove(s, txn, 2) == 0,
       "remove (twice is fine)");
    ok(pds_outbox_retry(s, txn, 2, now) == PDS_NOTFOUND,
       "retry of a removed one: not found");
    ok(pds_outbox_list(s, txn, &a, out, 8, &n) == 0 && n == 2
       && out[0].id == 1 && out[1].id == 3, "two left");

    ok(mdb_txn_commit(txn) == 0, "commit");

    ok(pds_outbox_backoff(1) == PDS_OUTBOX_RETRY_MIN_MS
       && pds_outbox_backoff(2) == 2 * PDS_OUTBOX_RETRY_MIN_MS
       && pds_outbox_backoff(3) == 4 * PDS_OUTBOX_RETRY_MIN_MS
       && pds_outbox_backoff(40) == PDS_OUTBOX_RETRY_MAX_MS,
       "back-off doubles up to its cap");

    pds_arena_destroy(arena);
    pds_store_close(s);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0) {
        tap_diag("could not remove %s", dir);
    }

    return tap_done();
}
