/*
 * Unit tests of mailed tokens (pds_email_token.c) and the outbox's queuing
 * (pds_outbox.c) on a real LMDB store.
 */

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "pds_email_token.h"
#include "pds_outbox.h"


int
main(void)
{
    int           rc, shape;
    char          dir[] = "/tmp/pds-test-token-XXXXXX", cmd[128];
    char          t1[PDS_EMAIL_TOKEN_LEN + 1], t2[PDS_EMAIL_TOKEN_LEN + 1];
    char          lower[PDS_EMAIL_TOKEN_LEN + 1], err[256];
    size_t        i;
    int64_t       now = 1700000000000LL;
    uint64_t      uid;
    MDB_txn      *txn;
    pds_mail_t    m;
    pds_store_t  *s;

    if (mkdtemp(dir) == NULL
        || pds_store_open(dir, 16 * 1024 * 1024, 16, &s, err, sizeof(err))
           != 0)
    {
        ok(0, "store opens");
        return tap_done();
    }

    ok(pds_store_write_begin(s, &txn) == 0, "write txn");

    ok(pds_email_token_issue(s, txn, 7, PDS_TOKEN_CONFIRM_EMAIL, now, t1) == 0,
       "issue a token");

    shape = strlen(t1) == PDS_EMAIL_TOKEN_LEN && t1[5] == '-';
    for (i = 0; i < PDS_EMAIL_TOKEN_LEN; i++) {
        if (i != 5 && !(isupper((unsigned char) t1[i])
                        || (t1[i] >= '2' && t1[i] <= '7')))
        {
            shape = 0;
        }
    }
    ok(shape, "XXXXX-XXXXX in upper-case base32 (%s)", t1);

    ok(pds_email_token_check(s, txn, 7, PDS_TOKEN_CONFIRM_EMAIL, t1,
                             strlen(t1), now + 1000) == 0, "it checks");

    for (i = 0; i <= PDS_EMAIL_TOKEN_LEN; i++) {
        lower[i] = (char) tolower((unsigned char) t1[i]);
    }
    ok(pds_email_token_check(s, txn, 7, PDS_TOKEN_CONFIRM_EMAIL, lower,
                             strlen(lower), now) == 0, "in lower case too");

    ok(pds_email_token_check(s, txn, 8, PDS_TOKEN_CONFIRM_EMAIL, t1,
                             strlen(t1), now) == PDS_TOKEN_INVALID,
       "not for another account");
    ok(pds_email_token_check(s, txn, 7, PDS_TOKEN_RESET_PASSWORD, t1,
                             strlen(t1), now) == PDS_TOKEN_INVALID,
       "not for another purpose");
    ok(pds_email_token_check(s, txn, 7, PDS_TOKEN_CONFIRM_EMAIL, t1, 5, now)
       == PDS_TOKEN_INVALID, "not a prefix");
    ok(pds_email_token_check(s, txn, 7, PDS_TOKEN_CONFIRM_EMAIL, t1,
                             strlen(t1), now + PDS_EMAIL_TOKEN_TTL_MS)
       == PDS_TOKEN_EXPIRED, "expired after 15 minutes");

    ok(pds_email_token_issue(s, txn, 7, PDS_TOKEN_RESET_PASSWORD, now, t2) == 0,
       "a reset token");
    rc = pds_email_token_find(s, txn, PDS_TOKEN_RESET_PASSWORD, t2,
                              strlen(t2), now, &uid);
    ok(rc == 0 && uid == 7, "found by the token alone");
    ok(pds_email_token_find(s, txn, PDS_TOKEN_CONFIRM_EMAIL, t2, strlen(t2),
                            now, &uid) == PDS_TOKEN_INVALID,
       "... only under its purpose");

    ok(pds_email_token_issue(s, txn, 7, PDS_TOKEN_RESET_PASSWORD, now, t1) == 0,
       "a second request");
    ok(pds_email_token_find(s, txn, PDS_TOKEN_RESET_PASSWORD, t2, strlen(t2),
                            now, &uid) == PDS_TOKEN_INVALID,
       "replaces the earlier token");
    ok(pds_email_token_check(s, txn, 7, PDS_TOKEN_RESET_PASSWORD, t1,
                             strlen(t1), now) == 0, "the new one checks");

    ok(pds_email_token_delete(s, txn, 7, PDS_TOKEN_RESET_PASSWORD) == 0,
       "used up");
    ok(pds_email_token_find(s, txn, PDS_TOKEN_RESET_PASSWORD, t1, strlen(t1),
                            now, &uid) == PDS_TOKEN_INVALID, "one use only");
    ok(pds_email_token_delete(s, txn, 7, PDS_TOKEN_RESET_PASSWORD) == 0,
       "deleting nothing is fine");

    ok(pds_email_token_delete_all(s, txn, 7) == 0, "delete all");
    ok(pds_email_token_check(s, txn, 7, PDS_TOKEN_CONFIRM_EMAIL, lower,
                             strlen(lower), now) == PDS_TOKEN_INVALID,
       "nothing left");

    memset(&m, 0, sizeof(m));
    m.to = "a@example.com";
    m.subject = "Hello";
    m.text = "body\n";
    ok(pds_outbox_put(s, txn, &m, now) == 0, "a mail is queued");
    ok(pds_outbox_put(s, txn, &m, now) == 0, "and another");
    m.subject = "two\r\nBcc: x@example.com";
    ok(pds_outbox_put(s, txn, &m, now) == EINVAL,
       "a line break in a header is refused");
    m.subject = "Hello";
    m.to = NULL;
    ok(pds_outbox_put(s, txn, &m, now) == EINVAL, "no recipient: refused");

    ok(mdb_txn_commit(txn) == 0, "commit");

    pds_store_close(s);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0) {
        tap_diag("could not remove %s", dir);
    }

    return tap_done();
}
