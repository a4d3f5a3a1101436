/*
 * Unit tests of the account tables (pds_account.c) on a real LMDB store.
 */

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "pds_account.h"


static pds_store_t *
open_store(char *dir)
{
    char          err[256];
    pds_store_t  *s;

    if (mkdtemp(dir) == NULL) {
        return NULL;
    }

    if (pds_store_open(dir, 64 * 1024 * 1024, 16, &s, err, sizeof(err))
        != 0)
    {
        tap_diag("open: %s", err);
        return NULL;
    }

    return s;
}


int
main(void)
{
    int                  rc;
    char                 dir[] = "/tmp/pds-test-account-XXXXXX", cmd[128];
    size_t               n;
    MDB_txn             *txn;
    uint64_t             uid;
    pds_alloc_t          a;
    pds_arena_t         *arena;
    pds_store_t         *s;
    pds_token_t          tok;
    pds_invite_t         inv, *invs;
    pds_account_t        acc, acc2, got;
    pds_app_password_t   ap, *aps;
    uint8_t              key[32];

    s = open_store(dir);
    if (!ok(s != NULL, "store opens")) {
        return tap_done();
    }

    arena = pds_arena_create();
    a = pds_arena_allocator(arena);
    memset(key, 7, sizeof(key));

    /* accounts */

    memset(&acc, 0, sizeof(acc));
    acc.did = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa";
    acc.handle = "Alice.test";
    acc.email = "Alice@Example.com";
    acc.password_scrypt = "00:11";
    acc.created_at = "2026-11-24T00:00:00.000Z";
    acc.signing_key = key;
    acc.signing_key_len = sizeof(key);

    rc = pds_store_write_begin(s, &txn);
    is_int(rc, 0, "write txn");
    is_int(pds_account_insert(s, txn, &acc), 0, "insert an account");
    ok(acc.uid > 0, "it gets a uid");

    acc2 = acc;
    acc2.did = "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb";
    acc2.handle = "alice.TEST";
    acc2.email = "bob@example.com";
    is_int(pds_account_insert(s, txn, &acc2), PDS_ACCOUNT_HANDLE_TAKEN,
           "handles are unique, case-insensitively");
    mdb_txn_abort(txn);

    rc = pds_store_write_begin(s, &txn);
    is_int(pds_account_insert(s, txn, &acc), 0, "insert again after abort");
    acc2.handle = "bob.test";
    acc2.email = "alice@example.COM";
    is_int(pds_account_insert(s, txn, &acc2), PDS_ACCOUNT_EMAIL_TAKEN,
           "emails are unique, case-insensitively");
    mdb_txn_abort(txn);

    rc = pds_store_write_begin(s, &txn);
    is_int(pds_account_insert(s, txn, &acc), 0, "insert");
    acc2 = acc;
    acc2.handle = "carol.test";
    acc2.email = NULL;
    is_int(pds_account_insert(s, txn, &acc2), PDS_ACCOUNT_DID_TAKEN,
           "a DID has one account");
    mdb_txn_abort(txn);

    rc = pds_store_write_begin(s, &txn);
    is_int(pds_account_insert(s, txn, &acc), 0, "insert");
    acc2.did = "did:plc:cccccccccccccccccccccccc";
    is_int(pds_account_insert(s, txn, &acc2), 0, "an account without email");
    is_int(mdb_txn_commit(txn), 0, "commit");

    pds_store_read_begin(s, &txn);
    is_int(pds_account_uid_by_handle(s, txn, "ALICE.test", &uid), 0,
           "find by handle");
    is_int(uid, acc.uid, "... the right uid");
    is_int(pds_account_uid_by_email(s, txn, "alice@example.com", &uid), 0,
           "find by email");
    is_int(pds_account_get_by_did(s, txn, acc.did, &a, &got), 0,
           "get by DID");
    is_str(got.handle, "Alice.test", "handle as stored");
    is_str(got.password_scrypt, "00:11", "password hash");
    ok(got.signing_key_len == 32 && memcmp(got.signing_key, key, 32) == 0,
       "signing key round trip");
    ok(got.deactivated_at == NULL && got.email_confirmed_at == NULL,
       "absent fields stay absent");
    is_int(pds_account_uid_by_handle(s, txn, "nobody.test", &uid),
           PDS_NOTFOUND, "unknown handle");
    mdb_txn_abort(txn);

    pds_store_write_begin(s, &txn);
    pds_account_get(s, txn, acc.uid, &a, &got);
    is_int(pds_account_set_handle(s, txn, &got, "carol.test"),
           PDS_ACCOUNT_HANDLE_TAKEN, "cannot take another's handle");
    is_int(pds_account_set_handle(s, txn, &got, "alice2.test"), 0,
           "change handle");
    mdb_txn_commit(txn);

    pds_store_read_begin(s, &txn);
    is_int(pds_account_uid_by_handle(s, txn, "alice.test", &uid),
           PDS_NOTFOUND, "old handle is free");
    is_int(pds_account_uid_by_handle(s, txn, "alice2.test", &uid), 0,
           "new handle found");
    pds_account_get(s, txn, uid, &a, &got);
    is_str(got.handle, "alice2.test", "row updated");
    mdb_txn_abort(txn);

    /* email changes and the flags kept in the row */
    pds_store_write_begin(s, &txn);
    pds_account_get(s, txn, acc2.uid, &a, &got);
    is_int(pds_account_set_email(s, txn, &got, "ALICE@example.com"),
           PDS_ACCOUNT_EMAIL_TAKEN, "cannot take another's email");
    is_int(pds_account_set_email(s, txn, &got, "cc@example.com"), 0,
           "an account without email gets one");
    pds_account_get(s, txn, acc.uid, &a, &got);
    is_int(pds_account_set_email(s, txn, &got, "Alice@Example.com"), 0,
           "the same address in another case");
    got.email_auth_factor = 1;
    got.delete_after = "2030-01-01T00:00:00.000Z";
    is_int(pds_account_set_email(s, txn, &got, "new@example.com"), 0,
           "change email");
    mdb_txn_commit(txn);

    pds_store_read_begin(s, &txn);
    is_int(pds_account_uid_by_email(s, txn, "alice@example.com", &uid),
           PDS_NOTFOUND, "old email is free");
    is_int(pds_account_uid_by_email(s, txn, "NEW@example.com", &uid), 0,
           "new email found");
    is_int(uid, acc.uid, "... for the right account");
    is_int(pds_account_uid_by_email(s, txn, "cc@example.com", &uid), 0,
           "the other account's new email found");
    pds_account_get(s, txn, acc.uid, &a, &got);
    ok(got.email_auth_factor == 1, "email auth factor kept");
    is_str(got.delete_after, "2030-01-01T00:00:00.000Z", "deleteAfter kept");
    mdb_txn_abort(txn);

    pds_store_write_begin(s, &txn);
    pds_account_get(s, txn, acc.uid, &a, &got);
    is_int(pds_account_set_email(s, txn, &got, NULL), 0, "email removed");
    mdb_txn_commit(txn);
    pds_store_read_begin(s, &txn);
    is_int(pds_account_uid_by_email(s, txn, "new@example.com", &uid),
           PDS_NOTFOUND, "... and its index");
    mdb_txn_abort(txn);

    /* put the address back for the tests below */
    pds_store_write_begin(s, &txn);
    pds_account_get(s, txn, acc.uid, &a, &got);
    pds_account_set_email(s, txn, &got, "alice@example.com");
    mdb_txn_commit(txn);

    /* invites */

    memset(&inv, 0, sizeof(inv));
    inv.code = "localhost-abcde-fghij";
    inv.available = 2;
    inv.for_account = "admin";
    inv.created_by = "admin";
    inv.created_at = "2026-11-24T00:00:01.000Z";

    pds_store_write_begin(s, &txn);
    is_int(pds_invite_create(s, txn, &inv), 0, "create invite");
    inv.code = "localhost-zzzzz-zzzzz";
    inv.created_at = "2026-11-24T00:00:02.000Z";
    inv.available = 1;
    is_int(pds_invite_create(s, txn, &inv), 0, "create another");
    is_int(pds_invite_use(s, txn, "localhost-abcde-fghij", acc.did,
                          "2026-11-24T00:00:03.000Z"), 0, "use 1 of 2");
    is_int(pds_invite_use(s, txn, "localhost-abcde-fghij", acc2.did,
                          "2026-11-24T00:00:04.000Z"), 0, "use 2 of 2");
    is_int(pds_invite_use(s, txn, "localhost-abcde-fghij", "did:plc:x",
                          "2026-11-24T00:00:05.000Z"),
           PDS_ACCOUNT_UNAVAILABLE, "used up");
    is_int(pds_invite_use(s, txn, "nope", "did:plc:x", "t"),
           PDS_NOTFOUND, "unknown code");
    mdb_txn_commit(txn);

    pds_store_read_begin(s, &txn);
    is_int(pds_invite_get(s, txn, "localhost-abcde-fghij", &a, &inv), 0,
           "get invite");
    is_int(inv.nuses, 2, "two uses recorded");
    is_int(inv.available, 2, "available as created");
    is_int(pds_invite_list_for(s, txn, "admin", &a, &invs, &n), 0,
           "list invites for admin");
    is_int(n, 2, "two of them");
    if (n == 2) {
        is_str(invs[0].code, "localhost-zzzzz-zzzzz", "newest first");
    }
    mdb_txn_abort(txn);

    /* the operator's: every code, disabling, a taken-down account's code */
    {
        pds_account_t  owner;

        pds_store_write_begin(s, &txn);
        inv.code = "localhost-fffff-ggggg";
        inv.available = 5;
        inv.disabled = 0;
        inv.for_account = acc.did;
        inv.created_at = "2026-11-24T00:00:06.000Z";
        is_int(pds_invite_create(s, txn, &inv), 0, "a code for an account");
        is_int(pds_invite_list_all(s, txn, &a, &invs, &n), 0, "every code");
        is_int(n, 3, "three codes");
        if (n == 3) {
            is_str(invs[0].code, "localhost-abcde-fghij", "in code order");
            is_int(invs[0].nuses, 2, "with their uses");
        }
        is_int(pds_invite_check(s, txn, "localhost-fffff-ggggg", &a, &inv), 0,
               "available");
        is_int(pds_invite_disable(s, txn, "localhost-zzzzz-zzzzz"), 0,
               "disable a code");
        is_int(pds_invite_disable(s, txn, "nope"), PDS_NOTFOUND,
               "disable an unknown code: not found");
        is_int(pds_invite_get(s, txn, "localhost-zzzzz-zzzzz", &a, &inv), 0,
               "read back");
        is_int(inv.disabled, 1, "disabled");
        is_int(inv.available, 1, "the rest of the row kept");
        is_int(pds_invite_use(s, txn, "localhost-zzzzz-zzzzz", "did:plc:y",
                              "t"), PDS_ACCOUNT_UNAVAILABLE,
               "a disabled code is not used");

        is_int(pds_account_get_by_did(s, txn, acc.did, &a, &owner), 0,
               "its account");
        owner.takedown_ref = "MOD-1";
        is_int(pds_account_update(s, txn, &owner), 0, "taken down");
        is_int(pds_invite_check(s, txn, "localhost-fffff-ggggg", &a, &inv),
               PDS_ACCOUNT_UNAVAILABLE, "its code is not available");
        owner.takedown_ref = NULL;
        is_int(pds_account_update(s, txn, &owner), 0, "restored");
        is_int(pds_invite_check(s, txn, "localhost-fffff-ggggg", &a, &inv), 0,
               "available again");

        is_int(pds_invite_disable_for(s, txn, acc.did), 0,
               "disable the account's codes");
        is_int(pds_invite_get(s, txn, "localhost-fffff-ggggg", &a, &inv), 0,
               "read back");
        is_int(inv.disabled, 1, "disabled by account");
        is_int(pds_invite_get(s, txn, "localhost-abcde-fghij", &a, &inv), 0,
               "the admin's code");
        is_int(inv.disabled, 0, "is not");
        mdb_txn_abort(txn);
    }

    /* refresh tokens */

    memset(&tok, 0, sizeof(tok));
    tok.id = "tok1";
    tok.did = acc.did;
    tok.expires_at = 1000;

    pds_store_write_begin(s, &txn);
    is_int(pds_token_put(s, txn, &tok), 0, "put token");
    tok.id = "tok2";
    tok.app_password_name = "phone";
    is_int(pds_token_put(s, txn, &tok), 0, "put app password token");
    tok.id = "tok3";
    tok.did = acc2.did;
    tok.app_password_name = NULL;
    is_int(pds_token_put(s, txn, &tok), 0, "put token of another account");
    is_int(pds_token_delete_for(s, txn, acc.did, "phone"), 0,
           "revoke an app password's tokens");
    is_int(pds_token_get(s, txn, "tok2", &a, &tok), PDS_NOTFOUND,
           "its token is gone");
    is_int(pds_token_get(s, txn, "tok1", &a, &tok), 0, "the other stays");
    is_int(tok.expires_at, 1000, "expiry round trip");
    is_int(pds_token_delete_for(s, txn, acc.did, NULL), 0,
           "revoke all of an account");
    is_int(pds_token_get(s, txn, "tok1", &a, &tok), PDS_NOTFOUND,
           "gone too");
    is_int(pds_token_get(s, txn, "tok3", &a, &tok), 0,
           "another account's token stays");
    mdb_txn_commit(txn);

    /* app passwords */

    memset(&ap, 0, sizeof(ap));
    ap.name = "phone";
    ap.password_scrypt = "aa:bb";
    ap.created_at = "2026-11-24T00:00:00.000Z";

    pds_store_write_begin(s, &txn);
    is_int(pds_app_password_put(s, txn, acc.did, &ap), 0, "add app password");
    is_int(pds_app_password_put(s, txn, acc.did, &ap),
           PDS_ACCOUNT_NAME_TAKEN, "names are unique per account");
    is_int(pds_app_password_put(s, txn, acc2.did, &ap), 0,
           "another account may use the name");
    ap.name = "laptop";
    ap.privileged = 1;
    pds_app_password_put(s, txn, acc.did, &ap);
    is_int(pds_app_password_list(s, txn, acc.did, &a, &aps, &n), 0, "list");
    is_int(n, 2, "two");
    if (n == 2) {
        is_str(aps[0].name, "laptop", "in name order");
        ok(aps[0].privileged && !aps[1].privileged, "privileged flag");
    }
    is_int(pds_app_password_delete(s, txn, acc.did, "phone"), 0, "revoke");
    pds_app_password_list(s, txn, acc.did, &a, &aps, &n);
    is_int(n, 1, "one left");
    mdb_txn_commit(txn);

    pds_arena_destroy(arena);
    pds_store_close(s);

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0) {
        tap_diag("could not remove %s", dir);
    }

    return tap_done();
}
