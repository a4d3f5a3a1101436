/*
 * ngx_pds_module core: deleting an account (see pds_account_delete.h).
 *
 * Keys removed (docs/STORAGE.md):
 *   at once   accounts uid, handles <handle>, emails <email>, dids <did>,
 *             repos uid, prefs uid, tokens 't'/'d' (pds_token_delete_for, with the
 *             account's OAuth families),
 *             app_passwords <did> 0 *, email_tokens (all purposes),
 *             invites 'a' <did> 0 * with each code's 'c' and 'u' keys
 *   purged    records uid *, blocks uid *, blobs uid *, takedowns uid *,
 *             blob_refs 'r' uid *
 *             and 'p' uid *, events of the DID before the deletion event
 *   marker    meta "purge" uid -> seq (8) + did
 */

#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "pds_account_delete.h"
#include "pds_cbor.h"
#include "pds_email_token.h"
#include "pds_repo.h"
#include "pds_repo_import.h"


#define PDS_PURGE_TAG      "purge"
#define PDS_PURGE_TAG_LEN  (sizeof(PDS_PURGE_TAG) - 1)
#define PDS_PURGE_KEY_LEN  (PDS_PURGE_TAG_LEN + PDS_UID_LEN)
#define PDS_DEL_KEY_MAX    511

/* the stages of a purge, in order */
enum {
    PDS_PURGE_RECORDS = 0,
    PDS_PURGE_BLOCKS,
    PDS_PURGE_BLOBS,
    PDS_PURGE_TAKEDOWNS,
    PDS_PURGE_REFS_R,
    PDS_PURGE_REFS_P,
    PDS_PURGE_EVENTS,
    PDS_PURGE_DONE
};


static int
pds_del_rc(int rc)
{
    return rc == MDB_NOTFOUND ? 0 : rc;
}


static int
pds_del_key(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t n)
{
    MDB_val  key;

    key.mv_data = (void *) k;
    key.mv_size = n;

    return pds_del_rc(mdb_del(txn, dbi, &key, NULL));
}


/* a string key in lower case (handles and emails are indexed so) */
static int
pds_del_lower(MDB_txn *txn, MDB_dbi dbi, const char *s)
{
    size_t   i, n;
    uint8_t  k[PDS_DEL_KEY_MAX];

    n = strlen(s);
    if (n == 0 || n > sizeof(k)) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        k[i] = (uint8_t) tolower((unsigned char) s[i]);
    }

    return pds_del_key(txn, dbi, k, n);
}


/*
 * Removes up to budget keys starting with prefix (*removed counts them):
 * 0 when none is left, 1 when the budget ran out, or an LMDB error.  The
 * cursor seeks the prefix again after each delete, so it never depends on
 * where a delete leaves it.
 */
static int
pds_del_prefix(MDB_txn *txn, MDB_dbi dbi, const uint8_t *prefix, size_t len,
    size_t budget, uint64_t *removed)
{
    int          rc;
    size_t       n = 0;
    MDB_val      key, val;
    MDB_cursor  *cur;

    rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc != 0) {
        return rc;
    }

    for ( ;; ) {
        key.mv_data = (void *) prefix;
        key.mv_size = len;

        rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
        if (rc == MDB_NOTFOUND
            || (rc == 0
                && (key.mv_size < len || memcmp(key.mv_data, prefix, len))))
        {
            rc = 0;
            break;
        }

        if (rc != 0) {
            break;
        }

        if (n == budget) {
            rc = 1;
            break;
        }

        rc = mdb_cursor_del(cur, 0);
        if (rc != 0) {
            break;
        }

        n++;
    }

    mdb_cursor_close(cur);

    if (removed) {
        *removed += n;
    }

    return rc;
}


/* the invite codes made for did: each code's row, uses and listing key */
static int
pds_del_invites(pds_store_t *s, MDB_txn *txn, const char *did)
{
    int             rc;
    size_t          dlen, clen, alen;
    uint8_t         k[PDS_DEL_KEY_MAX], ck[PDS_DEL_KEY_MAX];
    uint8_t         ak[PDS_DEL_KEY_MAX];
    MDB_val         key, val;
    MDB_cursor     *cur;
    const uint8_t  *rest, *sep;

    dlen = strlen(did);
    if (1 + dlen + 1 > sizeof(k)) {
        return 0;
    }

    k[0] = 'a';
    memcpy(k + 1, did, dlen);
    k[1 + dlen] = 0;

    rc = mdb_cursor_open(txn, s->db_invites, &cur);
    if (rc != 0) {
        return rc;
    }

    for ( ;; ) {
        key.mv_data = k;
        key.mv_size = dlen + 2;

        rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
        if (rc == MDB_NOTFOUND
            || (rc == 0
                && (key.mv_size < dlen + 2
                    || memcmp(key.mv_data, k, dlen + 2) != 0)))
        {
            rc = 0;
            break;
        }

        if (rc != 0) {
            break;
        }

        /* a copy: the deletes below may move what LMDB pointed at */
        if (key.mv_size > sizeof(ak)) {
            rc = MDB_CORRUPTED;
            break;
        }

        alen = key.mv_size;
        memcpy(ak, key.mv_data, alen);

        /* 'a' did 0 createdAt 0 code */
        rest = ak + dlen + 2;
        sep = memchr(rest, 0, alen - (dlen + 2));

        if (sep != NULL) {
            clen = alen - (size_t) (sep + 1 - ak);

            if (clen > 0 && 2 + clen <= sizeof(ck)) {
                /* the code's 'u' keys, then its 'c' row */
                ck[0] = 'u';
                memcpy(ck + 1, sep + 1, clen);
                ck[1 + clen] = 0;

                rc = pds_del_prefix(txn, s->db_invites, ck, clen + 2,
                                    (size_t) -1, NULL);
                if (rc != 0) {
                    break;
                }

                ck[0] = 'c';
                rc = pds_del_key(txn, s->db_invites, ck, clen + 1);
                if (rc != 0) {
                    break;
                }
            }
        }

        /* the listing key; the next turn seeks the prefix again */
        rc = pds_del_key(txn, s->db_invites, ak, alen);
        if (rc != 0) {
            break;
        }
    }

    mdb_cursor_close(cur);

    return rc;
}


static void
pds_purge_key(uint8_t *k, uint64_t uid)
{
    memcpy(k, PDS_PURGE_TAG, PDS_PURGE_TAG_LEN);
    pds_store_put_u64(k + PDS_PURGE_TAG_LEN, uid);
}


static int
pds_purge_init(pds_purge_t *p, uint64_t uid, uint64_t seq, const char *did,
    size_t len)
{
    if (len > PDS_PURGE_DID_MAX) {
        return EINVAL;
    }

    memset(p, 0, sizeof(pds_purge_t));
    p->uid = uid;
    p->seq = seq;
    memcpy(p->did, did, len);
    p->did[len] = '\0';
    p->stage = PDS_PURGE_RECORDS;

    return 0;
}


int
pds_account_delete(pds_store_t *s, MDB_txn *txn, const pds_account_t *acc,
    uint64_t *seqp, pds_purge_t *purge)
{
    int       rc;
    size_t    dlen;
    uint8_t   uid[PDS_UID_LEN], mk[PDS_PURGE_KEY_LEN];
    uint8_t   mv[8 + PDS_PURGE_DID_MAX];
    uint64_t  seq;
    MDB_val   key, val;

    dlen = strlen(acc->did);
    if (dlen == 0 || dlen > PDS_PURGE_DID_MAX || 1 + dlen + 1 > PDS_DEL_KEY_MAX)
    {
        return EINVAL;
    }

    pds_store_put_u64(uid, acc->uid);

    rc = pds_del_key(txn, s->db_accounts, uid, sizeof(uid));
    if (rc == 0) {
        rc = pds_del_key(txn, s->db_repos, uid, sizeof(uid));
    }
    if (rc == 0) {
        rc = pds_del_key(txn, s->db_prefs, uid, sizeof(uid));
    }
    if (rc == 0) {
        rc = pds_del_key(txn, s->db_dids, acc->did, dlen);
    }
    if (rc == 0 && acc->handle) {
        rc = pds_del_lower(txn, s->db_handles, acc->handle);
    }
    if (rc == 0 && acc->email) {
        rc = pds_del_lower(txn, s->db_emails, acc->email);
    }
    if (rc != 0) {
        return rc;
    }

    rc = pds_token_delete_for(s, txn, acc->did, NULL);
    if (rc != 0 && rc != PDS_NOTFOUND) {
        return rc;
    }

    /* app passwords: did 0 name */
    memcpy(mv, acc->did, dlen);
    mv[dlen] = 0;

    rc = pds_del_prefix(txn, s->db_app_passwords, mv, dlen + 1, (size_t) -1,
                        NULL);
    if (rc == 0) {
        rc = pds_email_token_delete_all(s, txn, acc->uid);
    }
    if (rc == 0) {
        rc = pds_del_invites(s, txn, acc->did);
    }
    if (rc == 0) {
        /* an import of the account cut short leaves its marker */
        rc = pds_repo_import_forget(s, txn, acc->uid) == 0 ? 0 : EIO;
    }
    if (rc != 0) {
        return rc;
    }

    rc = pds_repo_event_account(s, txn, acc->did, 0, "deleted", &seq);
    if (rc != 0) {
        return rc == PDS_REPO_EMAPFULL ? MDB_MAP_FULL : EIO;
    }

    /* the marker of what is left to purge */
    pds_purge_key(mk, acc->uid);
    pds_store_put_u64(mv, seq);
    memcpy(mv + 8, acc->did, dlen);

    key.mv_data = mk;
    key.mv_size = sizeof(mk);
    val.mv_data = mv;
    val.mv_size = 8 + dlen;

    rc = mdb_put(txn, s->meta, &key, &val, 0);
    if (rc != 0) {
        return rc;
    }

    if (seqp) {
        *seqp = seq;
    }

    return purge ? pds_purge_init(purge, acc->uid, seq, acc->did, dlen) : 0;
}


int
pds_purge_find(pds_store_t *s, MDB_txn *txn, uint64_t after, pds_purge_t *p)
{
    int          rc;
    uint8_t      k[PDS_PURGE_KEY_LEN];
    MDB_val      key, val;
    MDB_cursor  *cur;

    if (after == UINT64_MAX) {
        return PDS_NOTFOUND;
    }

    pds_purge_key(k, after + 1);

    rc = mdb_cursor_open(txn, s->meta, &cur);
    if (rc != 0) {
        return rc;
    }

    key.mv_data = k;
    key.mv_size = sizeof(k);

    rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);

    if (rc == 0
        && (key.mv_size != PDS_PURGE_KEY_LEN
            || memcmp(key.mv_data, PDS_PURGE_TAG, PDS_PURGE_TAG_LEN) != 0))
    {
        rc = MDB_NOTFOUND;
    }

    if (rc == 0) {
        if (val.mv_size <= 8) {
            rc = MDB_CORRUPTED;

        } else {
            rc = pds_purge_init(p,
                         pds_store_get_u64((uint8_t *) key.mv_data
                                           + PDS_PURGE_TAG_LEN),
                         pds_store_get_u64(val.mv_data),
                         (const char *) val.mv_data + 8, val.mv_size - 8);
        }
    }

    mdb_cursor_close(cur);

    return rc == MDB_NOTFOUND ? PDS_NOTFOUND : rc;
}


/*
 * The DID of a stored frame: its body's "did" (#identity, #account,
 * #sync) or "repo" (#commit); 0 or -1.  The header and the fields before
 * it are skipped without decoding their contents.
 */
static int
pds_frame_did(const uint8_t *p, size_t n, const uint8_t **did, size_t *len)
{
    size_t    used, i, npairs, klen, vlen, hl;
    uint8_t   ib, major;
    uint64_t  v;

    if (pds_cbor_validate(p, n, &used) != 0) {
        return -1;
    }

    p += used;
    n -= used;

    if (n == 0 || (p[0] >> 5) != 5 || (p[0] & 0x1f) > 23) {
        return -1;
    }

    npairs = p[0] & 0x1f;
    p++;
    n--;

    for (i = 0; i < npairs; i++) {
        /* a key: a short text string */
        if (n == 0 || (p[0] >> 5) != 3 || (p[0] & 0x1f) > 23) {
            return -1;
        }

        klen = p[0] & 0x1f;
        if (n < 1 + klen) {
            return -1;
        }

        if ((klen == 3 && memcmp(p + 1, "did", 3) == 0)
            || (klen == 4 && memcmp(p + 1, "repo", 4) == 0))
        {
            p += 1 + klen;
            n -= 1 + klen;

            if (n == 0 || (p[0] >> 5) != 3) {
                return -1;
            }

            ib = p[0] & 0x1f;
            major = 0;

            if (ib < 24) {
                v = ib;
                hl = 1;

            } else if (ib == 24 && n >= 2) {
                v = p[1];
                hl = 2;

            } else if (ib == 25 && n >= 3) {
                v = ((uint64_t) p[1] << 8) | p[2];
                hl = 3;

            } else {
                major = 1;
                v = 0;
                hl = 0;
            }

            if (major || n < hl + v) {
                return -1;
            }

            *did = p + hl;
            *len = (size_t) v;

            return 0;
        }

        p += 1 + klen;
        n -= 1 + klen;

        if (pds_cbor_validate(p, n, &vlen) != 0) {
            return -1;
        }

        p += vlen;
        n -= vlen;
    }

    return -1;
}


/* the events of p's DID before its deletion event */
static int
pds_purge_events(pds_store_t *s, MDB_txn *txn, pds_purge_t *p, size_t budget)
{
    int             rc;
    size_t          seen = 0, removed = 0, dlen, len;
    uint8_t         k[PDS_SEQ_LEN];
    uint64_t        seq;
    MDB_val         key, val;
    MDB_cursor     *cur;
    const uint8_t  *did;

    dlen = strlen(p->did);

    rc = mdb_cursor_open(txn, s->db_events, &cur);
    if (rc != 0) {
        return rc;
    }

    pds_store_put_u64(k, p->next_seq);
    key.mv_data = k;
    key.mv_size = sizeof(k);

    rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);

    while (rc == 0) {
        if (key.mv_size != PDS_SEQ_LEN) {
            rc = MDB_CORRUPTED;
            break;
        }

        seq = pds_store_get_u64(key.mv_data);

        if (seq >= p->seq) {
            rc = MDB_NOTFOUND;          /* the scan is complete */
            break;
        }

        if (seen == 16 * budget || removed == budget) {
            p->next_seq = seq;
            break;
        }

        seen++;

        if (pds_frame_did(val.mv_data, val.mv_size, &did, &len) == 0
            && len == dlen && memcmp(did, p->did, dlen) == 0)
        {
            rc = mdb_cursor_del(cur, 0);
            if (rc != 0) {
                break;
            }

            removed++;

            /* on from the next key, sought again */
            pds_store_put_u64(k, seq + 1);
            key.mv_data = k;
            key.mv_size = sizeof(k);

            rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
            continue;
        }

        rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
    }

    mdb_cursor_close(cur);

    p->removed += removed;

    if (rc == MDB_NOTFOUND) {
        return 0;                       /* done */
    }

    return rc == 0 ? 1 : rc;
}


int
pds_purge_step(pds_store_t *s, MDB_txn *txn, pds_purge_t *p, size_t budget)
{
    int       rc;
    size_t    len, left;
    uint8_t   k[1 + PDS_UID_LEN], mk[PDS_PURGE_KEY_LEN];
    uint64_t  before;

    left = budget ? budget : 1;

    while (p->stage < PDS_PURGE_DONE) {

        before = p->removed;

        switch (p->stage) {

        case PDS_PURGE_RECORDS:
        case PDS_PURGE_BLOCKS:
        case PDS_PURGE_BLOBS:
        case PDS_PURGE_TAKEDOWNS:
            pds_store_put_u64(k, p->uid);
            rc = pds_del_prefix(txn,
                                p->stage == PDS_PURGE_RECORDS ? s->db_records
                                : p->stage == PDS_PURGE_BLOCKS ? s->db_blocks
                                : p->stage == PDS_PURGE_BLOBS ? s->db_blobs
                                : s->db_takedowns,
                                k, PDS_UID_LEN, left, &p->removed);
            break;

        case PDS_PURGE_REFS_R:
        case PDS_PURGE_REFS_P:
            k[0] = (p->stage == PDS_PURGE_REFS_R) ? 'r' : 'p';
            pds_store_put_u64(k + 1, p->uid);
            len = 1 + PDS_UID_LEN;
            rc = pds_del_prefix(txn, s->db_blob_refs, k, len, left,
                                &p->removed);
            break;

        default: /* PDS_PURGE_EVENTS */
            rc = pds_purge_events(s, txn, p, left);
            break;
        }

        if (rc == 1) {
            return 0;                   /* more next time */
        }

        if (rc != 0) {
            return rc;
        }

        p->stage++;

        left -= (size_t) (p->removed - before);
        if (left == 0) {
            return 0;
        }
    }

    pds_purge_key(mk, p->uid);

    rc = pds_del_key(txn, s->meta, mk, sizeof(mk));

    return rc == 0 ? PDS_NOTFOUND : rc;
}
