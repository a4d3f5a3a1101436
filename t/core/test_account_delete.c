/*
 * Unit tests of account deletion (pds_account_delete.c) on a real LMDB
 * store: two accounts with repos, records, blobs, tokens, app passwords,
 * preferences, mailed tokens and invites; one is deleted and purged in
 * small steps; the other keeps everything, and the events of the deleted
 * one are gone but for its deletion event.
 */

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "pds_account.h"
#include "pds_account_delete.h"
#include "pds_repo_import.h"
#include "pds_blob.h"
#include "pds_cbor.h"
#include "pds_email_token.h"
#include "pds_keys.h"
#include "pds_prefs.h"
#include "pds_repo.h"


static const char  did_a[] = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa";
static const char  did_b[] = "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb";

static pds_store_t  *s;
static pds_key_t    *key;


static void
account(MDB_txn *txn, const char *did, const char *handle, const char *email,
    uint64_t *uid)
{
    pds_account_t     acc;
    pds_repo_write_t  res;

    pds_repo_event_identity(s, txn, did, handle, NULL);
    pds_repo_event_account(s, txn, did, 1, NULL, NULL);
    pds_repo_create(s, txn, did, strlen(did), key, uid, &res);

    memset(&acc, 0, sizeof(acc));
    acc.did = did;
    acc.handle = handle;
    acc.email = email;
    acc.password_scrypt = "x:y";
    acc.created_at = "2026-01-01T00:00:00.000Z";
    acc.uid = *uid;

    is_int(pds_account_insert(s, txn, &acc), 0, "account %s", handle);
}


/* n records in one commit */
static void
posts(uint64_t uid, int from, int n)
{
    int               i;
    char              rk[32][16];
    pds_buf_t         b[32];
    pds_repo_op_t     ops[32];
    pds_repo_write_t  w;

    memset(ops, 0, sizeof(ops));

    for (i = 0; i < n; i++) {
        snprintf(rk[i], sizeof(rk[i]), "3k%011d", from + i);
        pds_buf_init(&b[i], &pds_malloc_allocator);
        pds_cbor_put_map(&b[i], 2);
        pds_cbor_put_str(&b[i], "text");
        pds_cbor_put_str(&b[i], rk[i]);
        pds_cbor_put_str(&b[i], "$type");
        pds_cbor_put_str(&b[i], "app.bsky.feed.post");

        ops[i].action = PDS_REPO_CREATE;
        ops[i].collection = "app.bsky.feed.post";
        ops[i].collection_len = strlen(ops[i].collection);
        ops[i].rkey = rk[i];
        ops[i].rkey_len = strlen(rk[i]);
        ops[i].record = b[i].data;
        ops[i].record_len = b[i].len;
    }

    memset(&w, 0, sizeof(w));
    w.uid = uid;
    w.key = key;
    w.ops = ops;
    w.nops = (size_t) n;

    is_int(pds_repo_write_batch(s, &w, 1), 0, "write %d records", n);
    is_int(w.status, 0, "committed");

    for (i = 0; i < n; i++) {
        pds_buf_free(&b[i]);
    }
}


static uint64_t
count(MDB_txn *txn, MDB_dbi dbi, const void *prefix, size_t len)
{
    uint64_t  n = 0;

    pds_store_count_prefix(txn, dbi, prefix, len, &n);

    return n;
}


/* events whose frame mentions did, and the last one's type */
static uint64_t
events_of(MDB_txn *txn, const char *did, char *last_type)
{
    size_t            n, used;
    uint64_t          seq, cnt = 0;
    pds_arena_t      *arena;
    pds_alloc_t       a;
    pds_cbor_t       *h, *b;
    pds_event_iter_t  it;
    const uint8_t    *p;
    const pds_cbor_t *v;

    arena = pds_arena_create();
    a = pds_arena_allocator(arena);

    pds_event_iter_open(s, txn, 0, &it);

    while (pds_event_iter_next(&it, &seq, &p, &n) == 0) {
        if (pds_cbor_decode_prefix(p, n, &a, &h, &used) != 0
            || pds_cbor_decode(p + used, n - used, &a, &b) != 0)
        {
            continue;
        }

        v = pds_cbor_map_get(b, "did");
        if (v == NULL) {
            v = pds_cbor_map_get(b, "repo");
        }

        if (v && v->u.str.len == strlen(did)
            && memcmp(v->u.str.data, did, strlen(did)) == 0)
        {
            cnt++;
            v = pds_cbor_map_get(h, "t");
            snprintf(last_type, 64, "%.*s", (int) v->u.str.len, v->u.str.data);

            v = pds_cbor_map_get(b, "status");
            if (v) {
                snprintf(last_type + strlen(last_type), 32, "/%.*s",
                         (int) v->u.str.len, v->u.str.data);
            }
        }
    }

    pds_event_iter_close(&it);
    pds_arena_destroy(arena);

    return cnt;
}


int
main(void)
{
    int                 rc, steps;
    char                dir[] = "/tmp/pds-test-delete-XXXXXX", cmd[128];
    char                err[256], tok[PDS_EMAIL_TOKEN_LEN + 1], type[128];
    char                mark_a[48], mark_b[48];
    uint8_t             k[9];
    uint64_t            uid_a, uid_b, seq, n, u, mv;
    MDB_txn            *txn;
    pds_cid_t           cid;
    pds_token_t         t;
    pds_invite_t        inv;
    pds_purge_t         p, q;
    pds_account_t       acc;
    pds_blob_gone_t     gone;
    size_t              naps;
    pds_app_password_t  ap, *aps;
    pds_arena_t        *arena;
    pds_alloc_t         a;
    const pds_cid_t    *missing;

    key = pds_key_generate(PDS_KEY_K256);
    arena = pds_arena_create();
    a = pds_arena_allocator(arena);

    if (key == NULL || mkdtemp(dir) == NULL
        || pds_store_open(dir, 64 * 1024 * 1024, 16, &s, err, sizeof(err))
           != 0)
    {
        ok(0, "store opens");
        return tap_done();
    }

    /* two accounts and what they own */
    pds_store_write_begin(s, &txn);
    account(txn, did_a, "alice.test", "Alice@Example.com", &uid_a);
    account(txn, did_b, "bob.test", "bob@example.com", &uid_b);

    memset(&t, 0, sizeof(t));
    t.id = "jti-a";
    t.did = did_a;
    t.expires_at = 2000000000;
    pds_token_put(s, txn, &t);
    t.id = "jti-b";
    t.did = did_b;
    pds_token_put(s, txn, &t);

    memset(&ap, 0, sizeof(ap));
    ap.name = "phone";
    ap.password_scrypt = "h";
    ap.created_at = "2026-01-01T00:00:00.000Z";
    pds_app_password_put(s, txn, did_a, &ap);
    pds_app_password_put(s, txn, did_b, &ap);

    pds_prefs_put(s, txn, uid_a, "[]", 2);
    pds_prefs_put(s, txn, uid_b, "[]", 2);

    /* imports of both cut short: their markers */
    snprintf(mark_a, sizeof(mark_a), "import:%llu", (unsigned long long) uid_a);
    snprintf(mark_b, sizeof(mark_b), "import:%llu", (unsigned long long) uid_b);
    pds_store_meta_set_u64(s, txn, mark_a, 7);
    pds_store_meta_set_u64(s, txn, mark_b, 8);
    pds_email_token_issue(s, txn, uid_a, PDS_TOKEN_DELETE_ACCOUNT, 0, tok);
    pds_email_token_issue(s, txn, uid_b, PDS_TOKEN_SIGN_IN, 0, tok);

    memset(&inv, 0, sizeof(inv));
    inv.code = "code-a";
    inv.available = 1;
    inv.for_account = did_a;
    inv.created_by = "admin";
    inv.created_at = "2026-01-01T00:00:00.000Z";
    pds_invite_create(s, txn, &inv);
    pds_invite_use(s, txn, "code-a", did_b, "2026-01-02T00:00:00.000Z");
    inv.code = "code-b";
    inv.for_account = did_b;
    pds_invite_create(s, txn, &inv);

    memset(&cid, 0, sizeof(cid));
    pds_cid_parse(&cid,
        "bafkreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm", 59);
    pds_blob_put(s, txn, uid_a, &cid, "image/png", 10, 0);
    pds_blob_put(s, txn, uid_b, &cid, "image/png", 10, 0);
    memset(&gone, 0, sizeof(gone));
    pds_blob_set_refs(s, txn, uid_a, "app.bsky.feed.post/x", 20, &cid, 1,
                      &gone, &missing);
    pds_blob_set_refs(s, txn, uid_b, "app.bsky.feed.post/x", 20, &cid, 1,
                      &gone, &missing);

    ok(mdb_txn_commit(txn) == 0, "set up");

    posts(uid_a, 0, 30);
    posts(uid_b, 0, 5);
    posts(uid_a, 30, 30);

    /* the deletion */
    pds_store_write_begin(s, &txn);
    rc = pds_account_get_by_did(s, txn, did_a, &a, &acc);
    is_int(rc, 0, "read A");
    is_int(pds_account_delete(s, txn, &acc, &seq, &p), 0, "delete A");
    ok(p.uid == uid_a && p.seq == seq && strcmp(p.did, did_a) == 0,
       "purge set up");
    ok(mdb_txn_commit(txn) == 0, "committed");

    pds_store_read_begin(s, &txn);
    is_int(pds_account_get_by_did(s, txn, did_a, &a, &acc), PDS_NOTFOUND,
           "A is no account");
    is_int(pds_account_uid_by_handle(s, txn, "alice.test", &u), PDS_NOTFOUND,
           "its handle is free");
    is_int(pds_account_uid_by_email(s, txn, "alice@example.com", &u),
           PDS_NOTFOUND, "its email is free");
    is_int(pds_repo_uid(s, txn, did_a, strlen(did_a), &u), PDS_NOTFOUND,
           "no repo for the DID");
    is_int(pds_token_get(s, txn, "jti-a", &a, &t), PDS_NOTFOUND,
           "its refresh token is gone");
    is_int(pds_token_get(s, txn, "jti-b", &a, &t), 0, "B's is not");
    ok(pds_store_meta_u64(s, txn, mark_a, &mv) == 0 && mv == 0,
       "A's import marker is gone");
    ok(pds_store_meta_u64(s, txn, mark_b, &mv) == 0 && mv == 8,
       "B's is not");
    ok(pds_repo_import_pending(s, txn, uid_b) == 1
       && pds_repo_import_pending(s, txn, uid_a) == 0,
       "an import is pending for B (activateAccount refuses), not for A");
    is_int(pds_invite_get(s, txn, "code-a", &a, &inv), PDS_NOTFOUND,
           "its invite code is gone");
    is_int(pds_invite_get(s, txn, "code-b", &a, &inv), 0, "B's is not");
    pds_store_put_u64(k, uid_a);
    is_int(count(txn, s->db_prefs, k, 8), 0, "its preferences are gone");
    ok(pds_app_password_list(s, txn, did_a, &a, &aps, &naps) == 0
       && naps == 0, "its app passwords are gone");
    ok(pds_app_password_list(s, txn, did_b, &a, &aps, &naps) == 0
       && naps == 1, "B's are not");
    is_int(pds_email_token_check(s, txn, uid_a, PDS_TOKEN_DELETE_ACCOUNT,
                                 tok, strlen(tok), 0),
           PDS_TOKEN_INVALID, "its mailed tokens are gone");
    ok(count(txn, s->db_records, k, 8) == 60, "records await the purge");
    mdb_txn_abort(txn);

    /* a purge found again (as after a restart) */
    pds_store_read_begin(s, &txn);
    is_int(pds_purge_find(s, txn, 0, &q), 0, "the marker is found");
    ok(q.uid == uid_a && q.seq == seq && strcmp(q.did, did_a) == 0,
       "with its uid, event and DID");
    is_int(pds_purge_find(s, txn, uid_a, &q), PDS_NOTFOUND, "only one");
    mdb_txn_abort(txn);

    /* in steps of 7 rows */
    steps = 0;
    do {
        pds_store_write_begin(s, &txn);
        rc = pds_purge_step(s, txn, &q, 7);
        if (rc == 0 || rc == PDS_NOTFOUND) {
            mdb_txn_commit(txn);
        } else {
            mdb_txn_abort(txn);
        }
        steps++;
    } while (rc == 0 && steps < 1000);

    is_int(rc, PDS_NOTFOUND, "purged (%d steps, %llu rows)", steps,
           (unsigned long long) q.removed);
    ok(steps > 10, "in many transactions");

    pds_store_read_begin(s, &txn);
    is_int(count(txn, s->db_records, k, 8), 0, "its records are gone");
    is_int(count(txn, s->db_blocks, k, 8), 0, "its blocks are gone");
    is_int(count(txn, s->db_blobs, k, 8), 0, "its blob rows are gone");
    k[0] = 'r';
    pds_store_put_u64(k + 1, uid_a);
    is_int(count(txn, s->db_blob_refs, k, 9), 0, "its blob refs are gone");
    k[0] = 'p';
    is_int(count(txn, s->db_blob_refs, k, 9), 0, "both kinds");
    pds_store_put_u64(k, uid_b);
    ok(count(txn, s->db_records, k, 8) == 5, "B keeps its records");
    ok(count(txn, s->db_blobs, k, 8) == 1, "and its blob");
    n = events_of(txn, did_a, type);
    is_int(n, 1, "one event of A is left");
    is_str(type, "#account/deleted", "its deletion");
    n = events_of(txn, did_b, type);
    is_int(n, 5, "B's events stay (identity, account, commit, sync, commit)");
    is_int(pds_purge_find(s, txn, 0, &q), PDS_NOTFOUND, "no marker left");
    rc = pds_repo_verify(s, txn, uid_b, NULL, err, sizeof(err));
    is_int(rc, 0, "B's repo verifies %s", rc ? err : "");
    rc = pds_repo_verify_events(s, txn, err, sizeof(err));
    is_int(rc, 0, "the event log verifies %s", rc ? err : "");
    mdb_txn_abort(txn);

    /* the DID may come back as a new account (a new uid) */
    pds_store_write_begin(s, &txn);
    account(txn, did_a, "alice.test", "alice@example.com", &u);
    ok(u != uid_a, "a new uid");
    ok(mdb_txn_commit(txn) == 0, "committed");

    pds_store_close(s);
    pds_key_free(key);
    pds_arena_destroy(arena);

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    (void) system(cmd);

    return tap_done();
}
