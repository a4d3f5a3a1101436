/*
 * ngx_pds_module core, the repository engine: consistency
 * checks of one repo (its commit, tree, record index and block counts) and
 * of the event log, for tools and tests.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pds_repo_int.h"
#include "pds_cbor.h"


typedef struct {
    pds_store_t     *store;
    MDB_txn         *txn;
    uint64_t         uid;
    pds_cid_t       *refs;
    size_t           nrefs;
    size_t           cap;
    size_t           leaves;
    char            *err;
    size_t           err_len;
} pds_verify_t;


static int
pds_verify_ref(pds_verify_t *v, const pds_cid_t *cid)
{
    pds_cid_t  *n;

    if (v->nrefs == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 1024;
        n = realloc(v->refs, v->cap * sizeof(pds_cid_t));
        if (n == NULL) {
            snprintf(v->err, v->err_len, "out of memory");
            return -1;
        }

        v->refs = n;
    }

    v->refs[v->nrefs++] = *cid;
    return 0;
}


static int
pds_verify_node(void *ctx, const pds_cid_t *cid, const uint8_t *p, size_t n)
{
    (void) p;
    (void) n;

    return pds_verify_ref(ctx, cid);
}


static int
pds_verify_leaf(void *ctx, const char *key, size_t len,
    const pds_cid_t *value)
{
    int            rc;
    char           s[PDS_CID_STR_SIZE];
    const char    *slash;
    pds_cid_t      cid;
    pds_verify_t  *v = ctx;

    slash = memchr(key, '/', len);
    if (slash == NULL) {
        snprintf(v->err, v->err_len, "bad MST key");
        return -1;
    }

    rc = pds_repo_get_record(v->store, v->txn, v->uid, key,
                             (size_t) (slash - key), slash + 1,
                             len - (size_t) (slash - key) - 1, &cid, NULL,
                             NULL);

    if (rc != 0 || !pds_cid_equal(&cid, value)) {
        pds_cid_format(value, s);
        snprintf(v->err, v->err_len, "MST leaf %.*s (%s) %s",
                 (int) (len < 200 ? len : 200), key, s,
                 rc ? "missing from the record index"
                    : "has another CID in the record index");
        return -1;
    }

    v->leaves++;

    return pds_verify_ref(v, value);
}


static int
pds_verify_cid_cmp(const void *a, const void *b)
{
    return pds_cid_cmp(a, b);
}


int
pds_repo_verify(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    const char *did_key, char *err, size_t err_len)
{
    int                 rc;
    char                s[PDS_CID_STR_SIZE];
    size_t              n, i, records;
    uint8_t             k[PDS_UID_LEN];
    uint32_t            refs;
    MDB_val             key, val;
    pds_cid_t           cid, check;
    pds_mst_t          *mst;
    pds_buf_t           unsig;
    MDB_cursor         *c;
    pds_alloc_t         a;
    pds_arena_t        *arena;
    pds_cbor_t         *commit;
    pds_verify_t        v;
    pds_src_ctx_t       src;
    const uint8_t      *p;
    pds_repo_root_t     root;
    pds_blocksource_t   bs;
    const pds_cbor_t   *f_did, *f_ver, *f_data, *f_rev, *f_prev, *f_sig;

    memset(&v, 0, sizeof(v));
    v.store = store;
    v.txn = txn;
    v.uid = uid;
    v.err = err;
    v.err_len = err_len;

    if (pds_repo_get_root(store, txn, uid, &root) != 0) {
        snprintf(err, err_len, "no root for uid %llu",
                 (unsigned long long) uid);
        return -1;
    }

    arena = pds_arena_create();
    if (arena == NULL) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }

    a = pds_arena_allocator(arena);
    rc = -1;
    c = NULL;

    if (pds_repo_get_block(store, txn, uid, &root.commit, &p, &n) != 0) {
        snprintf(err, err_len, "commit block missing");
        goto done;
    }

    pds_cid_of_cbor(&check, p, n);

    if (!pds_cid_equal(&check, &root.commit)
        || pds_cbor_decode(p, n, &a, &commit) != 0)
    {
        snprintf(err, err_len, "bad commit block");
        goto done;
    }

    f_did = pds_cbor_map_get(commit, "did");
    f_ver = pds_cbor_map_get(commit, "version");
    f_data = pds_cbor_map_get(commit, "data");
    f_rev = pds_cbor_map_get(commit, "rev");
    f_prev = pds_cbor_map_get(commit, "prev");
    f_sig = pds_cbor_map_get(commit, "sig");

    if (commit->u.map.len != 6
        || f_did == NULL || f_did->type != PDS_CBOR_STRING
        || f_did->u.str.len != root.did_len
        || memcmp(f_did->u.str.data, root.did, root.did_len) != 0
        || f_ver == NULL || f_ver->type != PDS_CBOR_INT
        || f_ver->u.integer != 3
        || f_data == NULL || f_data->type != PDS_CBOR_CID
        || !pds_cid_equal(&f_data->u.cid, &root.data)
        || f_rev == NULL || f_rev->type != PDS_CBOR_STRING
        || strcmp(f_rev->u.str.data, root.rev) != 0
        || f_prev == NULL || f_prev->type != PDS_CBOR_NULL
        || f_sig == NULL || f_sig->type != PDS_CBOR_BYTES
        || f_sig->u.bytes.len != PDS_SIG_LEN)
    {
        snprintf(err, err_len, "commit does not match the repo root");
        goto done;
    }

    if (did_key) {
        pds_buf_init(&unsig, &a);

        if (pds_commit_encode(&unsig, root.did, root.did_len, root.rev,
                              &root.data, NULL) != 0
            || !pds_did_key_verify(did_key, strlen(did_key), unsig.data,
                                   unsig.len, f_sig->u.bytes.data,
                                   PDS_SIG_LEN, PDS_SIG_STRICT))
        {
            snprintf(err, err_len, "commit signature does not verify");
            goto done;
        }
    }

    if (pds_verify_ref(&v, &root.commit) != 0) {
        goto done;
    }

    pds_src_init(&src, &bs, store, txn, uid, NULL);

    mst = pds_mst_load(&a, &bs, &root.data);
    if (mst == NULL) {
        snprintf(err, err_len, "out of memory");
        goto done;
    }

    if (pds_mst_nodes(mst, pds_verify_node, &v) != 0) {
        if (err[0] == '\0') {
            snprintf(err, err_len, "MST incomplete or invalid");
        }
        goto done;
    }

    err[0] = '\0';

    if (pds_mst_walk(mst, NULL, 0, pds_verify_leaf, &v) != 0) {
        if (err[0] == '\0') {
            snprintf(err, err_len, "MST walk failed");
        }
        goto done;
    }

    /* the record index holds nothing else */

    if (mdb_cursor_open(txn, store->db_records, &c) != 0) {
        snprintf(err, err_len, "cursor");
        goto done;
    }

    pds_store_put_u64(k, uid);
    key.mv_data = k;
    key.mv_size = PDS_UID_LEN;
    records = 0;

    for (rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
         rc == 0 && key.mv_size > PDS_UID_LEN
         && memcmp(key.mv_data, k, PDS_UID_LEN) == 0;
         rc = mdb_cursor_get(c, &key, &val, MDB_NEXT))
    {
        records++;
    }

    mdb_cursor_close(c);
    c = NULL;

    if (records != v.leaves) {
        snprintf(err, err_len, "record index has %zu entries, MST %zu",
                 records, v.leaves);
        rc = -1;
        goto done;
    }

    /* every block referenced as often as its count says, no others */

    qsort(v.refs, v.nrefs, sizeof(pds_cid_t), pds_verify_cid_cmp);

    if (mdb_cursor_open(txn, store->db_blocks, &c) != 0) {
        snprintf(err, err_len, "cursor");
        rc = -1;
        goto done;
    }

    key.mv_data = k;
    key.mv_size = PDS_UID_LEN;
    i = 0;

    for (rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
         rc == 0 && key.mv_size == PDS_BLOCK_KEY_LEN
         && memcmp(key.mv_data, k, PDS_UID_LEN) == 0;
         rc = mdb_cursor_get(c, &key, &val, MDB_NEXT))
    {
        if (val.mv_size < PDS_BLOCK_HDR_LEN
            || pds_cid_unpack(&cid, (uint8_t *) key.mv_data + PDS_UID_LEN)
               != 0)
        {
            snprintf(err, err_len, "bad block entry");
            rc = -1;
            goto done;
        }

        pds_cid_compute(&check, cid.codec,
                        (uint8_t *) val.mv_data + PDS_BLOCK_HDR_LEN,
                        val.mv_size - PDS_BLOCK_HDR_LEN);

        if (!pds_cid_equal(&check, &cid)) {
            snprintf(err, err_len, "block does not match its CID");
            rc = -1;
            goto done;
        }

        refs = pds_get_u32((uint8_t *) val.mv_data + 8);
        n = 0;

        while (i < v.nrefs && pds_cid_cmp(&v.refs[i], &cid) < 0) {
            pds_cid_format(&v.refs[i], s);
            snprintf(err, err_len, "referenced block %s missing", s);
            rc = -1;
            goto done;
        }

        while (i < v.nrefs && pds_cid_equal(&v.refs[i], &cid)) {
            i++;
            n++;
        }

        if (n != refs) {
            pds_cid_format(&cid, s);
            snprintf(err, err_len, "block %s has refcount %u, used %zu times",
                     s, refs, n);
            rc = -1;
            goto done;
        }
    }

    if (rc != 0 && rc != MDB_NOTFOUND) {
        snprintf(err, err_len, "cursor error");
        rc = -1;
        goto done;
    }

    if (i != v.nrefs) {
        snprintf(err, err_len, "referenced block missing");
        rc = -1;
        goto done;
    }

    rc = 0;

done:

    if (c) {
        mdb_cursor_close(c);
    }

    free(v.refs);
    pds_arena_destroy(arena);

    return rc;
}


typedef struct {
    char        *did;
    pds_cid_t    commit;
    char         rev[PDS_TID_BUF];
} pds_verify_last_t;


int
pds_repo_verify_events(pds_store_t *store, MDB_txn *txn, char *err,
    size_t err_len)
{
    int                 rc;
    size_t              i, used, nlast, cap;
    uint64_t            seq, prev, meta, uid;
    MDB_val             key, val;
    pds_cbor_t         *h, *b;
    MDB_cursor         *c;
    pds_alloc_t         a;
    pds_arena_t        *arena;
    pds_repo_root_t     root;
    const pds_cbor_t   *t, *op, *s, *repo, *commit, *rev;
    pds_verify_last_t  *last, *nl;

    static const char  last_seq[] = "last_seq";

    key.mv_data = (void *) last_seq;
    key.mv_size = sizeof(last_seq) - 1;

    rc = mdb_get(txn, store->meta, &key, &val);
    meta = (rc == 0 && val.mv_size == 8) ? pds_store_get_u64(val.mv_data)
                                         : 0;

    if (mdb_cursor_open(txn, store->db_events, &c) != 0) {
        snprintf(err, err_len, "cursor");
        return -1;
    }

    last = NULL;
    nlast = 0;
    cap = 0;
    prev = 0;
    rc = -1;
    arena = NULL;

    for (rc = mdb_cursor_get(c, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &key, &val, MDB_NEXT))
    {
        if (key.mv_size != PDS_SEQ_LEN) {
            snprintf(err, err_len, "bad event key");
            goto failed;
        }

        seq = pds_store_get_u64(key.mv_data);

        if (seq <= prev || seq > meta) {
            snprintf(err, err_len, "event %llu out of order (last_seq %llu)",
                     (unsigned long long) seq, (unsigned long long) meta);
            goto failed;
        }

        prev = seq;

        arena = pds_arena_create();
        if (arena == NULL) {
            snprintf(err, err_len, "out of memory");
            goto failed;
        }

        a = pds_arena_allocator(arena);

        if (pds_cbor_decode_prefix(val.mv_data, val.mv_size, &a, &h, &used)
            != 0
            || pds_cbor_decode((uint8_t *) val.mv_data + used,
                               val.mv_size - used, &a, &b) != 0)
        {
            snprintf(err, err_len, "event %llu does not decode",
                     (unsigned long long) seq);
            goto failed;
        }

        t = pds_cbor_map_get(h, "t");
        op = pds_cbor_map_get(h, "op");
        s = pds_cbor_map_get(b, "seq");

        if (t == NULL || t->type != PDS_CBOR_STRING || op == NULL
            || op->type != PDS_CBOR_INT || op->u.integer != 1
            || s == NULL || s->type != PDS_CBOR_INT
            || (uint64_t) s->u.integer != seq)
        {
            snprintf(err, err_len, "event %llu: bad header or seq",
                     (unsigned long long) seq);
            goto failed;
        }

        if (strcmp(t->u.str.data, "#commit") == 0) {
            repo = pds_cbor_map_get(b, "repo");
            commit = pds_cbor_map_get(b, "commit");
            rev = pds_cbor_map_get(b, "rev");

            if (repo == NULL || repo->type != PDS_CBOR_STRING
                || commit == NULL || commit->type != PDS_CBOR_CID
                || rev == NULL || rev->type != PDS_CBOR_STRING
                || rev->u.str.len != PDS_TID_LEN)
            {
                snprintf(err, err_len, "event %llu: bad #commit",
                         (unsigned long long) seq);
                goto failed;
            }

            for (i = 0; i < nlast; i++) {
                if (strcmp(last[i].did, repo->u.str.data) == 0) {
                    break;
                }
            }

            if (i == nlast) {
                if (nlast == cap) {
                    cap = cap ? cap * 2 : 16;
                    nl = realloc(last, cap * sizeof(pds_verify_last_t));
                    if (nl == NULL) {
                        snprintf(err, err_len, "out of memory");
                        goto failed;
                    }

                    last = nl;
                }

                last[i].did = strdup(repo->u.str.data);
                last[i].rev[0] = '\0';
                nlast++;

                if (last[i].did == NULL) {
                    snprintf(err, err_len, "out of memory");
                    goto failed;
                }

            } else if (strcmp(rev->u.str.data, last[i].rev) <= 0) {
                snprintf(err, err_len, "event %llu: rev %s not after %s",
                         (unsigned long long) seq, rev->u.str.data,
                         last[i].rev);
                goto failed;
            }

            last[i].commit = commit->u.cid;
            memcpy(last[i].rev, rev->u.str.data, PDS_TID_BUF);
        }

        pds_arena_destroy(arena);
        arena = NULL;
    }

    if (rc != MDB_NOTFOUND) {
        snprintf(err, err_len, "cursor error");
        goto failed;
    }

    for (i = 0; i < nlast; i++) {
        if (pds_repo_uid(store, txn, last[i].did, strlen(last[i].did), &uid)
            != 0)
        {
            continue;
        }

        if (pds_repo_get_root(store, txn, uid, &root) != 0
            || !pds_cid_equal(&root.commit, &last[i].commit)
            || strcmp(root.rev, last[i].rev) != 0)
        {
            snprintf(err, err_len, "%s: root is not its last #commit event",
                     last[i].did);
            goto failed;
        }
    }

    rc = 0;
    goto done;

failed:

    rc = -1;

done:

    if (arena) {
        pds_arena_destroy(arena);
    }

    for (i = 0; i < nlast; i++) {
        free(last[i].did);
    }

    free(last);
    mdb_cursor_close(c);

    return rc;
}
