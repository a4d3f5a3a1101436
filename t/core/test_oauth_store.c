/*
 * Unit tests: pds_oauth_store (PAR rows with expiry, single-use codes,
 * token families with refresh rotation and replay revocation, revoking an
 * account's tokens, one-time values with their expiry sweep).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pds_oauth.h"
#include "pds_oauth_store.h"
#include "pds_store.h"
#include "tap.h"


static const char  *DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";


static json_t *
family(const char *ses, const char *sub, int64_t now)
{
    char  tok[PDS_OAUTH_ID_MAX], ref[PDS_OAUTH_ID_MAX];

    pds_oauth_random_id("tok-", 16, tok);
    pds_oauth_random_id("ref-", 32, ref);

    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I}",
                     "session", ses, "sub", sub, "client_id",
                     "http://localhost", "scope", "atproto", "id", tok,
                     "refresh", ref, "created", (json_int_t) now,
                     "expires", (json_int_t) (now + PDS_OAUTH_SESSION_TTL_MS));
}


static int
count_keys(pds_store_t *s, MDB_txn *txn)
{
    MDB_stat  st;

    mdb_stat(txn, s->db_oauth, &st);
    return (int) st.ms_entries;
}


int
main(void)
{
    char          dir[] = "/tmp/pds-test-oauth-XXXXXX", cmd[128], err[256];
    char          ses[PDS_OAUTH_ID_MAX], ses2[PDS_OAUTH_ID_MAX];
    char          tok1[PDS_OAUTH_ID_MAX], ref1[PDS_OAUTH_ID_MAX];
    char          tok2[PDS_OAUTH_ID_MAX], ref2[PDS_OAUTH_ID_MAX];
    int64_t       now = 1765000000000LL;
    unsigned      n;
    json_t       *row, *got;
    MDB_txn      *txn;
    pds_store_t  *s;
    int           i, rc, before;

    if (mkdtemp(dir) == NULL
        || pds_store_open(dir, 16 * 1024 * 1024, 16, &s, err, sizeof(err))
           != 0)
    {
        tap_ok(0, "store opens");
        return tap_done();
    }

    tap_ok(pds_store_write_begin(s, &txn) == 0, "write txn");

    /* PAR */
    row = json_pack("{s:s, s:I}", "client_id", "http://localhost", "expires",
                    (json_int_t) (now + PDS_OAUTH_PAR_TTL_MS));
    tap_ok(pds_oauth_par_put(s, txn, "req-00112233445566778899aabbccddeeff",
                             row) == 0, "PAR stored");
    json_decref(row);
    tap_ok(pds_oauth_par_get(s, txn, "req-00112233445566778899aabbccddeeff",
                             now + 1000, &got) == 0
           && strcmp(json_string_value(json_object_get(got, "client_id")),
                     "http://localhost") == 0, "PAR read back");
    json_decref(got);
    tap_ok(pds_oauth_par_get(s, txn, "req-00112233445566778899aabbccddeeff",
                             now + PDS_OAUTH_PAR_TTL_MS, &got)
           == PDS_NOTFOUND && got == NULL, "expired PAR not found");
    tap_ok(pds_oauth_par_get(s, txn, "req-ffffffffffffffffffffffffffffffff",
                             now, &got) == PDS_NOTFOUND, "unknown PAR");
    tap_ok(pds_oauth_par_del(s, txn, "req-00112233445566778899aabbccddeeff")
           == 0 && pds_oauth_par_get(s, txn,
                                     "req-00112233445566778899aabbccddeeff",
                                     now, &got) == PDS_NOTFOUND,
           "PAR deleted once used");

    /* codes and families */
    pds_oauth_random_id("ses-", 16, ses);
    row = json_pack("{s:s, s:s, s:I}", "client_id", "http://localhost",
                    "sub", DID, "expires",
                    (json_int_t) (now + PDS_OAUTH_CODE_TTL_MS));
    tap_ok(pds_oauth_code_put(s, txn, "cod-1", row) == 0, "code stored");
    json_decref(row);
    tap_ok(pds_oauth_code_take(s, txn, "cod-1", now + PDS_OAUTH_CODE_TTL_MS,
                               &got) == PDS_NOTFOUND, "expired code refused");
    tap_ok(pds_oauth_code_take(s, txn, "cod-1", now + 1000, &got) == 0
           && strcmp(json_string_value(json_object_get(got, "sub")), DID)
              == 0, "code taken");
    json_decref(got);

    row = family(ses, DID, now);
    snprintf(tok1, sizeof(tok1), "%s",
             json_string_value(json_object_get(row, "id")));
    snprintf(ref1, sizeof(ref1), "%s",
             json_string_value(json_object_get(row, "refresh")));
    tap_ok(pds_oauth_token_put(s, txn, row) == 0
           && pds_oauth_code_used(s, txn, "cod-1", ses) == 0,
           "family stored, code marked used");
    json_decref(row);

    tap_ok(pds_oauth_token_get(s, txn, tok1, &got) == 0
           && strcmp(json_string_value(json_object_get(got, "session")), ses)
              == 0, "access token id finds its family");
    json_decref(got);

    /* rotation */
    tap_ok(pds_oauth_token_refresh(s, txn, ref1, now + 5000, &got) == 0,
           "refresh rotates");
    snprintf(tok2, sizeof(tok2), "%s",
             json_string_value(json_object_get(got, "id")));
    snprintf(ref2, sizeof(ref2), "%s",
             json_string_value(json_object_get(got, "refresh")));
    json_decref(got);
    tap_ok(strcmp(tok1, tok2) != 0 && strcmp(ref1, ref2) != 0
           && pds_oauth_id_ok(ref2, strlen(ref2), "ref-", 32),
           "new token id and refresh token");
    tap_ok(pds_oauth_token_get(s, txn, tok1, &got) == PDS_NOTFOUND,
           "the old access token is dead");
    tap_ok(pds_oauth_token_get(s, txn, tok2, &got) == 0, "the new one lives");
    json_decref(got);

    /* replay of the rotated refresh token kills the family */
    tap_ok(pds_oauth_token_refresh(s, txn, ref1, now + 6000, &got)
           == PDS_OAUTH_REPLAY, "old refresh token: replay");
    tap_ok(pds_oauth_token_get(s, txn, tok2, &got) == PDS_NOTFOUND
           && pds_oauth_token_refresh(s, txn, ref2, now + 7000, &got)
              == PDS_NOTFOUND, "after a replay the whole family is revoked");

    /* code replay revokes what the code issued */
    pds_oauth_random_id("ses-", 16, ses2);
    row = json_pack("{s:s, s:I}", "sub", DID, "expires",
                    (json_int_t) (now + PDS_OAUTH_CODE_TTL_MS));
    pds_oauth_code_put(s, txn, "cod-2", row);
    json_decref(row);
    pds_oauth_code_take(s, txn, "cod-2", now, &got);
    json_decref(got);
    row = family(ses2, DID, now);
    snprintf(tok1, sizeof(tok1), "%s",
             json_string_value(json_object_get(row, "id")));
    pds_oauth_token_put(s, txn, row);
    json_decref(row);
    pds_oauth_code_used(s, txn, "cod-2", ses2);
    tap_ok(pds_oauth_code_take(s, txn, "cod-2", now + 1000, &got)
           == PDS_OAUTH_REPLAY && got == NULL, "code used twice: replay");
    tap_ok(pds_oauth_token_get(s, txn, tok1, &got) == PDS_NOTFOUND,
           "the tokens of the first exchange are revoked");

    /* revoke by token and by account */
    row = family("ses-a", DID, now);
    snprintf(ref1, sizeof(ref1), "%s",
             json_string_value(json_object_get(row, "refresh")));
    pds_oauth_token_put(s, txn, row);
    json_decref(row);
    tap_ok(pds_oauth_token_revoke(s, txn, ref1, "https://other.example/m")
           == PDS_NOTFOUND, "another client cannot revoke it (RFC 7009)");
    tap_ok(pds_oauth_token_refresh(s, txn, ref1, now, &got) == 0,
           "... it still works");
    snprintf(ref1, sizeof(ref1), "%s",
             json_string_value(json_object_get(got, "refresh")));
    json_decref(got);
    tap_ok(pds_oauth_token_revoke(s, txn, ref1, NULL) == 0
           && pds_oauth_token_refresh(s, txn, ref1, now, &got)
              == PDS_NOTFOUND, "revoked by its refresh token");
    tap_ok(pds_oauth_token_revoke(s, txn, "tok-nothing", NULL)
           == PDS_NOTFOUND, "revoking an unknown token: not found");

    for (i = 0; i < 3; i++) {
        char  id[16];

        snprintf(id, sizeof(id), "ses-%d", i);
        row = family(id, DID, now);
        pds_oauth_token_put(s, txn, row);
        json_decref(row);
    }
    row = family("ses-other", "did:plc:other", now);
    snprintf(tok2, sizeof(tok2), "%s",
             json_string_value(json_object_get(row, "id")));
    pds_oauth_token_put(s, txn, row);
    json_decref(row);

    n = 0;
    rc = pds_oauth_revoke_account(s, txn, DID, &n);
    tap_ok(rc == 0 && n == 3,
           "an account's three families revoked (%u)", n);
    tap_ok(pds_oauth_token_get(s, txn, tok2, &got) == 0,
           "another account's family untouched");
    json_decref(got);

    /* one-time values */
    tap_ok(pds_oauth_once(s, txn, PDS_OAUTH_ONCE_DPOP, "jti-1", 5,
                          now + 198000, now) == 0, "jti remembered");
    tap_ok(pds_oauth_once(s, txn, PDS_OAUTH_ONCE_DPOP, "jti-1", 5,
                          now + 199000, now + 1000) == PDS_EXISTS,
           "jti replay seen");
    tap_ok(pds_oauth_once(s, txn, PDS_OAUTH_ONCE_CHALLENGE, "jti-1", 5,
                          now + 1000, now + 1000) == 0,
           "kinds are separate");
    tap_ok(pds_oauth_once(s, txn, PDS_OAUTH_ONCE_DPOP, "jti-1", 5,
                          now + 400000, now + 198000) == 0,
           "an expired jti may be used again");

    before = count_keys(s, txn);
    for (i = 0; i < 40; i++) {
        char  j[16];

        snprintf(j, sizeof(j), "j-%d", i);
        pds_oauth_once(s, txn, PDS_OAUTH_ONCE_DPOP, j, strlen(j),
                       now + 1000 + i, now);
    }
    tap_ok(count_keys(s, txn) == before + 80, "40 values, two keys each");
    rc = pds_oauth_once(s, txn, PDS_OAUTH_ONCE_DPOP, "late", 4,
                        now + 900000, now + 500000);
    tap_ok(rc == 0 && count_keys(s, txn) < before + 80,
           "writing sweeps expired values (%d -> %d keys)", before + 80,
           count_keys(s, txn));
    tap_ok(pds_oauth_once(s, txn, PDS_OAUTH_ONCE_DPOP, "jti-1", 5,
                          now + 900000, now + 300000) == PDS_EXISTS,
           "a value written again survives the sweep of its old expiry");

    mdb_txn_commit(txn);
    pds_store_close(s);

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0) {
        tap_diag("could not remove %s", dir);
    }

    return tap_done();
}
