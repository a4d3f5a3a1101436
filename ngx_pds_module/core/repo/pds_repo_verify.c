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


/* the commit's fields match the root (did, version 3, data, rev, no prev) */
static int
pds_verify_commit_fields(const pds_cbor_t *commit,
    const pds_repo_root_t *root)
{
    const pds_cbor_t  *f_did, *f_ver, *f_data, *f_rev, *f_prev, *f_sig;

    f_did = pds_cbor_map_get(commit, "did");
    f_ver = pds_cbor_map_get(commit, "version");
    f_data = pds_cbor_map_get(commit, "data");
    f_rev = pds_cbor_map_get(commit, "rev");
    f_prev = pds_cbor_map_get(commit, "prev");
    f_sig = pds_cbor_map_get(commit, "sig");

    return commit->u.map.len == 6
           && f_did && f_did->type == PDS_CBOR_STRING
           && f_did->u.str.len == root->did_len
           && memcmp(f_did->u.str.data, root->did, root->did_len) == 0
           && f_ver && f_ver->type == PDS_CBOR_INT && f_ver->u.integer == 3
           && f_data && f_data->type == PDS_CBOR_CID
           && pds_cid_equal(&f_data->u.cid, &root->data)
           && f_rev && f_rev->type == PDS_CBOR_STRING
           && strcmp(f_rev->u.str.data, root->rev) == 0
           && f_prev && f_prev->type == PDS_CBOR_NULL
           && f_sig && f_sig->type == PDS_CBOR_BYTES
           && f_sig->u.bytes.len == PDS_SIG_LEN;
}


/* the commit block: its CID, its fields, its signature (did_key: NULL) */
static int
pds_verify_commit(pds_verify_t *v, const pds_repo_root_t *root,
    const char *did_key, const pds_alloc_t *a)
{
    size_t             n;
    pds_cid_t          check;
    pds_buf_t          unsig;
    pds_cbor_t        *commit;
    const uint8_t     *p;
    const pds_cbor_t  *sig;

    if (pds_repo_get_block(v->store, v->txn, v->uid, &root->commit, &p, &n)
        != 0)
    {
        snprintf(v->err, v->err_len, "commit block missing");
        return -1;
    }

    pds_cid_of_cbor(&check, p, n);

    if (!pds_cid_equal(&check, &root->commit)
        || pds_cbor_decode(p, n, a, &commit) != 0)
    {
        snprintf(v->err, v->err_len, "bad commit block");
        return -1;
    }

    if (!pds_verify_commit_fields(commit, root)) {
        snprintf(v->err, v->err_len, "commit does not match the repo root");
        return -1;
    }

    if (did_key) {
        sig = pds_cbor_map_get(commit, "sig");
        pds_buf_init(&unsig, a);

        if (pds_commit_encode(&unsig, root->did, root->did_len, root->rev,
                              &root->data, NULL) != 0
            || !pds_did_key_verify(did_key, strlen(did_key), unsig.data,
                                   unsig.len, sig->u.bytes.data,
                                   PDS_SIG_LEN, PDS_SIG_STRICT))
        {
            snprintf(v->err, v->err_len,
                     "commit signature does not verify");
            return -1;
        }
    }

    return pds_verify_ref(v, &root->commit);
}


/* every node of the tree, and every leaf in the record index */
static int
pds_verify_tree(pds_verify_t *v, const pds_repo_root_t *root,
    const pds_alloc_t *a)
{
    pds_mst_t          *mst;
    pds_src_ctx_t       src;
    pds_blocksource_t   bs;

    pds_src_init(&src, &bs, v->store, v->txn, v->uid, NULL);

    mst = pds_mst_load(a, &bs, &root->data);
    if (mst == NULL) {
        snprintf(v->err, v->err_len, "out of memory");
        return -1;
    }

    if (pds_mst_nodes(mst, pds_verify_node, v) != 0) {
        if (v->err[0] == '\0') {
            snprintf(v->err, v->err_len, "MST incomplete or invalid");
        }
        return -1;
    }

    v->err[0] = '\0';

    if (pds_mst_walk(mst, NULL, 0, pds_verify_leaf, v) != 0) {
        if (v->err[0] == '\0') {
            snprintf(v->err, v->err_len, "MST walk failed");
        }
        return -1;
    }

    return 0;
}


/* the record index holds nothing but the tree's leaves */
static int
pds_verify_records(pds_verify_t *v)
{
    uint8_t   k[PDS_UID_LEN];
    uint64_t  records;

    pds_store_put_u64(k, v->uid);

    if (pds_store_count_prefix(v->txn, v->store->db_records, k, sizeof(k),
                               &records) != 0)
    {
        snprintf(v->err, v->err_len, "cursor error");
        return -1;
    }

    if (records != v->leaves) {
        snprintf(v->err, v->err_len, "record index has %zu entries, MST %zu",
                 (size_t) records, v->leaves);
        return -1;
    }

    return 0;
}


/*
 * Every stored block matches its CID and is referenced (v->refs, sorted)
 * exactly as often as its count says; no referenced block is missing.
 */
static int
pds_verify_blocks(pds_verify_t *v)
{
    int               rc;
    char              s[PDS_CID_STR_SIZE];
    size_t            i, n, bn;
    MDB_val           key, val;
    uint32_t          refs;
    uint64_t          rev;
    pds_cid_t         cid, check;
    const uint8_t    *p;
    pds_store_iter_t  it;

    qsort(v->refs, v->nrefs, sizeof(pds_cid_t), pds_verify_cid_cmp);

    if (pds_store_iter_open_id(v->txn, v->store->db_blocks, v->uid, 1, &it)
        != 0)
    {
        snprintf(v->err, v->err_len, "cursor");
        return -1;
    }

    i = 0;

    while ((rc = pds_store_iter_next(&it, &key, &val)) == 0) {
        if (pds_block_row(&key, &val, &cid, &rev, &refs, &p, &bn) != 0) {
            snprintf(v->err, v->err_len, "bad block entry");
            break;
        }

        pds_cid_compute(&check, cid.codec, p, bn);

        if (!pds_cid_equal(&check, &cid)) {
            snprintf(v->err, v->err_len, "block does not match its CID");
            break;
        }

        if (i < v->nrefs && pds_cid_cmp(&v->refs[i], &cid) < 0) {
            pds_cid_format(&v->refs[i], s);
            snprintf(v->err, v->err_len, "referenced block %s missing", s);
            break;
        }

        for (n = 0; i < v->nrefs && pds_cid_equal(&v->refs[i], &cid); i++) {
            n++;
        }

        if (n != refs) {
            pds_cid_format(&cid, s);
            snprintf(v->err, v->err_len,
                     "block %s has refcount %u, used %zu times", s, refs, n);
            break;
        }
    }

    pds_store_iter_close(&it);

    if (rc == 0) {
        return -1;                      /* a check failed: err says why */
    }

    if (rc != PDS_NOTFOUND) {
        snprintf(v->err, v->err_len, "cursor error");
        return -1;
    }

    if (i != v->nrefs) {
        snprintf(v->err, v->err_len, "referenced block missing");
        return -1;
    }

    return 0;
}


int
pds_repo_verify(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    const char *did_key, char *err, size_t err_len)
{
    int              rc;
    pds_alloc_t      a;
    pds_arena_t     *arena;
    pds_verify_t     v;
    pds_repo_root_t  root;

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

    rc = pds_verify_commit(&v, &root, did_key, &a);

    if (rc == 0) {
        rc = pds_verify_tree(&v, &root, &a);
    }

    if (rc == 0) {
        rc = pds_verify_records(&v);
    }

    if (rc == 0) {
        rc = pds_verify_blocks(&v);
    }

    free(v.refs);
    pds_arena_destroy(arena);

    return rc;
}


/* the event log: each repo's last #commit so far */
typedef struct {
    char        *did;
    pds_cid_t    commit;
    char         rev[PDS_TID_BUF];
} pds_verify_last_t;

typedef struct {
    pds_verify_last_t  *last;
    size_t              n;
    size_t              cap;
    char               *err;
    size_t              err_len;
} pds_verify_log_t;


/* the entry of did, added if new (rev ""); NULL on no memory */
static pds_verify_last_t *
pds_verify_last(pds_verify_log_t *log, const char *did)
{
    size_t              i;
    pds_verify_last_t  *nl;

    for (i = 0; i < log->n; i++) {
        if (strcmp(log->last[i].did, did) == 0) {
            return &log->last[i];
        }
    }

    if (log->n == log->cap) {
        log->cap = log->cap ? log->cap * 2 : 16;
        nl = realloc(log->last, log->cap * sizeof(pds_verify_last_t));
        if (nl == NULL) {
            return NULL;
        }

        log->last = nl;
    }

    nl = &log->last[i];
    nl->did = strdup(did);
    nl->rev[0] = '\0';
    log->n++;

    return nl->did ? nl : NULL;
}


/* a #commit body: well formed, its rev after the repo's previous one */
static int
pds_verify_commit_event(pds_verify_log_t *log, uint64_t seq,
    const pds_cbor_t *b)
{
    pds_verify_last_t  *last;
    const pds_cbor_t   *repo, *commit, *rev;

    repo = pds_cbor_map_get(b, "repo");
    commit = pds_cbor_map_get(b, "commit");
    rev = pds_cbor_map_get(b, "rev");

    if (repo == NULL || repo->type != PDS_CBOR_STRING
        || commit == NULL || commit->type != PDS_CBOR_CID
        || rev == NULL || rev->type != PDS_CBOR_STRING
        || rev->u.str.len != PDS_TID_LEN)
    {
        snprintf(log->err, log->err_len, "event %llu: bad #commit",
                 (unsigned long long) seq);
        return -1;
    }

    last = pds_verify_last(log, repo->u.str.data);
    if (last == NULL) {
        snprintf(log->err, log->err_len, "out of memory");
        return -1;
    }

    if (last->rev[0] && strcmp(rev->u.str.data, last->rev) <= 0) {
        snprintf(log->err, log->err_len, "event %llu: rev %s not after %s",
                 (unsigned long long) seq, rev->u.str.data, last->rev);
        return -1;
    }

    last->commit = commit->u.cid;
    memcpy(last->rev, rev->u.str.data, PDS_TID_BUF);

    return 0;
}


/* one frame: it decodes, its header and seq are right */
static int
pds_verify_event(pds_verify_log_t *log, uint64_t seq, const MDB_val *val)
{
    int                rc;
    size_t             used;
    pds_cbor_t        *h, *b;
    pds_alloc_t        a;
    pds_arena_t       *arena;
    const pds_cbor_t  *t, *op, *s;

    arena = pds_arena_create();
    if (arena == NULL) {
        snprintf(log->err, log->err_len, "out of memory");
        return -1;
    }

    a = pds_arena_allocator(arena);
    rc = -1;

    if (pds_cbor_decode_prefix(val->mv_data, val->mv_size, &a, &h, &used)
        != 0
        || pds_cbor_decode((uint8_t *) val->mv_data + used,
                           val->mv_size - used, &a, &b) != 0)
    {
        snprintf(log->err, log->err_len, "event %llu does not decode",
                 (unsigned long long) seq);
        goto done;
    }

    t = pds_cbor_map_get(h, "t");
    op = pds_cbor_map_get(h, "op");
    s = pds_cbor_map_get(b, "seq");

    if (t == NULL || t->type != PDS_CBOR_STRING || op == NULL
        || op->type != PDS_CBOR_INT || op->u.integer != 1
        || s == NULL || s->type != PDS_CBOR_INT
        || (uint64_t) s->u.integer != seq)
    {
        snprintf(log->err, log->err_len, "event %llu: bad header or seq",
                 (unsigned long long) seq);
        goto done;
    }

    rc = 0;

    if (strcmp(t->u.str.data, "#commit") == 0) {
        rc = pds_verify_commit_event(log, seq, b);
    }

done:

    pds_arena_destroy(arena);

    return rc;
}


/* each repo with a #commit: its root is the last one */
static int
pds_verify_roots(pds_store_t *store, MDB_txn *txn, pds_verify_log_t *log)
{
    size_t              i;
    uint64_t            uid;
    pds_repo_root_t     root;
    pds_verify_last_t  *last;

    for (i = 0; i < log->n; i++) {
        last = &log->last[i];

        if (pds_repo_uid(store, txn, last->did, strlen(last->did), &uid)
            != 0)
        {
            continue;
        }

        if (pds_repo_get_root(store, txn, uid, &root) != 0
            || !pds_cid_equal(&root.commit, &last->commit)
            || strcmp(root.rev, last->rev) != 0)
        {
            snprintf(log->err, log->err_len,
                     "%s: root is not its last #commit event", last->did);
            return -1;
        }
    }

    return 0;
}


int
pds_repo_verify_events(pds_store_t *store, MDB_txn *txn, char *err,
    size_t err_len)
{
    int                rc;
    size_t             i;
    uint64_t           seq, prev, meta;
    MDB_val            key, val;
    pds_store_iter_t   it;
    pds_verify_log_t   log;

    static const char  last_seq[] = "last_seq";

    /* meta last_seq itself: every event must be at or below it */

    key.mv_data = (void *) last_seq;
    key.mv_size = sizeof(last_seq) - 1;

    rc = mdb_get(txn, store->meta, &key, &val);
    meta = (rc == 0 && val.mv_size == 8) ? pds_store_get_u64(val.mv_data)
                                         : 0;

    if (pds_store_iter_open(txn, store->db_events, NULL, 0, 0, &it) != 0) {
        snprintf(err, err_len, "cursor");
        return -1;
    }

    memset(&log, 0, sizeof(log));
    log.err = err;
    log.err_len = err_len;
    prev = 0;

    while ((rc = pds_store_iter_next(&it, &key, &val)) == 0) {
        if (key.mv_size != PDS_SEQ_LEN) {
            snprintf(err, err_len, "bad event key");
            break;
        }

        seq = pds_store_get_u64(key.mv_data);

        if (seq <= prev || seq > meta) {
            snprintf(err, err_len, "event %llu out of order (last_seq %llu)",
                     (unsigned long long) seq, (unsigned long long) meta);
            break;
        }

        prev = seq;

        if (pds_verify_event(&log, seq, &val) != 0) {
            break;
        }
    }

    pds_store_iter_close(&it);

    /* 0: a check failed and said why */

    if (rc == PDS_NOTFOUND) {
        rc = pds_verify_roots(store, txn, &log);

    } else {
        if (rc != 0) {
            snprintf(err, err_len, "cursor error");
        }
        rc = -1;
    }

    for (i = 0; i < log.n; i++) {
        free(log.last[i].did);
    }

    free(log.last);

    return rc;
}
