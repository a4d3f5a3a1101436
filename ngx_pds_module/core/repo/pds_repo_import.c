/*
 * ngx_pds_module core: importing a repository from a CAR file (see
 * pds_repo_import.h).
 */

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pds_repo_import.h"
#include "pds_repo_int.h"
#include "pds_car.h"
#include "pds_cbor.h"
#include "pds_keys.h"
#include "pds_syntax.h"


struct pds_repo_import_s {
    pds_arena_t        *arena;
    pds_alloc_t         a;

    uint8_t            *map;            /* the file, mapped */
    size_t              map_len;

    pds_bset_t          blocks;         /* CID -> bytes in the mapping */
    pds_mst_t          *tree;           /* the imported tree, loaded */
    pds_blocksource_t   src;

    pds_cid_t           commit;
    pds_cid_t           data;
    const uint8_t      *commit_p;
    size_t              commit_n;
    char                rev[PDS_TID_LEN + 1];
    const char         *did;

    uint64_t            records;
};


/* the walk over the leaves while checking */
typedef struct {
    pds_repo_import_t  *imp;
    pds_mst_t          *canon;          /* rebuilt from the leaves */
    char                prev[PDS_MST_KEY_MAX];
    size_t              prev_len;
    char               *err;
    size_t              err_len;
} pds_import_check_t;

/* the walk over the leaves while writing */
typedef struct {
    pds_repo_import_t          *imp;
    pds_store_t                *store;
    MDB_txn                    *txn;
    uint64_t                    uid;
    uint64_t                    rev64;
    pds_repo_import_record_cb   record;
    void                       *ctx;
    int                         rc;
} pds_import_write_t;


static int
pds_import_fail(char *err, size_t err_len, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    vsnprintf(err, err_len, fmt, args);
    va_end(args);

    return -1;
}


/* pds_car_reader's block callback: index the block where it lies */
static int
pds_import_block(void *ctx, const pds_cid_t *cid, const uint8_t *p,
    size_t n)
{
    int                 copy;
    pds_repo_import_t  *imp = ctx;

    copy = !(p >= imp->map && p + n <= imp->map + imp->map_len);

    return pds_bset_add(&imp->blocks, cid, p, n, copy) < 0 ? -1 : 0;
}


/* the block source over the indexed blocks */
static int
pds_import_get(void *ctx, const pds_cid_t *cid, const uint8_t **p, size_t *n)
{
    pds_bset_slot_t    *slot;
    pds_repo_import_t  *imp = ctx;

    slot = pds_bset_find(&imp->blocks, cid);
    if (!slot->used) {
        return 1;
    }

    *p = slot->p;
    *n = slot->n;

    return 0;
}


/* maps the file and indexes its blocks */
static int
pds_import_read(pds_repo_import_t *imp, const char *path, uint64_t max_bytes,
    char *err, size_t err_len)
{
    int               fd, rc;
    struct stat       st;
    pds_car_reader_t  r;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1 || fstat(fd, &st) == -1) {
        rc = errno;
        if (fd != -1) {
            close(fd);
        }
        return pds_import_fail(err, err_len, "cannot read the upload: %s",
                               strerror(rc));
    }

    if (st.st_size == 0) {
        close(fd);
        return pds_import_fail(err, err_len, "empty CAR file");
    }

    if (max_bytes && (uint64_t) st.st_size > max_bytes) {
        close(fd);
        return pds_import_fail(err, err_len,
                               "CAR file over %llu bytes",
                               (unsigned long long) max_bytes);
    }

    imp->map = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);

    if (imp->map == MAP_FAILED) {
        imp->map = NULL;
        return pds_import_fail(err, err_len, "cannot map the upload");
    }

    imp->map_len = (size_t) st.st_size;
    (void) madvise(imp->map, imp->map_len, MADV_SEQUENTIAL);

    if (pds_bset_init(&imp->blocks, &imp->a, 1024) != 0) {
        return pds_import_fail(err, err_len, "out of memory");
    }

    pds_car_reader_init(&r, &imp->a, 0, max_bytes, pds_import_block, imp);

    rc = pds_car_reader_feed(&r, imp->map, imp->map_len);
    if (rc == 0) {
        rc = pds_car_reader_finish(&r);
    }

    if (rc == 0 && r.nroots != 1) {
        pds_car_reader_free(&r);
        return pds_import_fail(err, err_len,
                               "the CAR must have one root (the commit), "
                               "it has %zu", r.nroots);
    }

    if (rc != 0) {
        pds_car_reader_free(&r);
        return pds_import_fail(err, err_len, "invalid CAR file: %s",
                               pds_car_strerror(rc));
    }

    imp->commit = r.roots[0];
    pds_car_reader_free(&r);

    (void) madvise(imp->map, imp->map_len, MADV_RANDOM);

    return 0;
}


/* the commit: its fields, its canonical form, its signature */
static int
pds_import_commit(pds_repo_import_t *imp, const char *did,
    const char *did_key, char *err, size_t err_len)
{
    int                rc;
    pds_buf_t          b;
    pds_cbor_t        *c;
    pds_bset_slot_t   *slot;
    const pds_cbor_t  *f_did, *f_ver, *f_data, *f_rev, *f_prev, *f_sig;

    slot = pds_bset_find(&imp->blocks, &imp->commit);
    if (!slot->used) {
        return pds_import_fail(err, err_len,
                               "the CAR's root block (the commit) is missing");
    }

    imp->commit_p = slot->p;
    imp->commit_n = slot->n;

    if (pds_cbor_decode(slot->p, slot->n, &imp->a, &c) != 0
        || c->type != PDS_CBOR_MAP)
    {
        return pds_import_fail(err, err_len, "the commit does not decode");
    }

    f_did = pds_cbor_map_get(c, "did");
    f_ver = pds_cbor_map_get(c, "version");
    f_data = pds_cbor_map_get(c, "data");
    f_rev = pds_cbor_map_get(c, "rev");
    f_prev = pds_cbor_map_get(c, "prev");
    f_sig = pds_cbor_map_get(c, "sig");

    if (f_ver == NULL || f_ver->type != PDS_CBOR_INT
        || f_ver->u.integer != 3)
    {
        return pds_import_fail(err, err_len,
                               "the commit is not a version 3 commit");
    }

    if (f_did == NULL || f_did->type != PDS_CBOR_STRING
        || f_data == NULL || f_data->type != PDS_CBOR_CID
        || f_rev == NULL || f_rev->type != PDS_CBOR_STRING
        || f_sig == NULL || f_sig->type != PDS_CBOR_BYTES
        || (f_prev != NULL && f_prev->type != PDS_CBOR_NULL
            && f_prev->type != PDS_CBOR_CID))
    {
        return pds_import_fail(err, err_len, "the commit is malformed");
    }

    if (f_did->u.str.len != strlen(did)
        || memcmp(f_did->u.str.data, did, f_did->u.str.len) != 0)
    {
        return pds_import_fail(err, err_len,
                               "the repo is another account's (its commit "
                               "is for %.*s)",
                               (int) (f_did->u.str.len < 200
                                      ? f_did->u.str.len : 200),
                               f_did->u.str.data);
    }

    if (f_prev != NULL && f_prev->type == PDS_CBOR_CID) {
        return pds_import_fail(err, err_len,
                               "the commit links a previous commit (prev); "
                               "only commits with prev null are accepted");
    }

    if (!pds_tid_valid(f_rev->u.str.data, f_rev->u.str.len)) {
        return pds_import_fail(err, err_len, "the commit's rev is invalid");
    }

    if (f_sig->u.bytes.len != PDS_SIG_LEN) {
        return pds_import_fail(err, err_len,
                               "the commit's signature is malformed");
    }

    memcpy(imp->rev, f_rev->u.str.data, f_rev->u.str.len);
    imp->rev[f_rev->u.str.len] = '\0';
    imp->data = f_data->u.cid;

    /* the block must be the canonical encoding (so its CID is the one an
     * implementation computes from the fields) */

    pds_buf_init(&b, &imp->a);
    rc = pds_commit_encode(&b, did, strlen(did), imp->rev, &imp->data,
                           f_sig->u.bytes.data);

    if (rc != 0 || b.len != slot->n || memcmp(b.data, slot->p, b.len) != 0) {
        return pds_import_fail(err, err_len,
                               "the commit is not canonically encoded");
    }

    if (did_key == NULL) {
        return 0;
    }

    b.len = 0;
    rc = pds_commit_encode(&b, did, strlen(did), imp->rev, &imp->data, NULL);

    if (rc != 0
        || !pds_did_key_verify(did_key, strlen(did_key), b.data, b.len,
                               f_sig->u.bytes.data, PDS_SIG_LEN,
                               PDS_SIG_STRICT))
    {
        return pds_import_fail(err, err_len,
                               "the commit's signature does not verify with "
                               "the account's signing key");
    }

    return 0;
}


static int
pds_import_check_leaf(void *ctx, const char *key, size_t len,
    const pds_cid_t *value)
{
    int                  rc;
    char                 s[PDS_CID_STR_SIZE];
    pds_cbor_t          *rec;
    pds_arena_t         *arena;
    pds_alloc_t          a;
    pds_bset_slot_t     *slot;
    pds_import_check_t  *c = ctx;

    /* the record index's key (uid + collection + 0 + rkey) must fit
     * LMDB's key limit */
    if (!pds_mst_key_valid(key, len) || PDS_UID_LEN + len > 511) {
        pds_import_fail(c->err, c->err_len, "invalid record key in the MST");
        return -1;
    }

    if (c->prev_len) {
        rc = memcmp(c->prev, key, len < c->prev_len ? len : c->prev_len);
        if (rc > 0 || (rc == 0 && len <= c->prev_len)) {
            pds_import_fail(c->err, c->err_len,
                            "MST keys out of order at %.*s",
                            (int) (len < 200 ? len : 200), key);
            return -1;
        }
    }

    memcpy(c->prev, key, len);
    c->prev_len = len;

    slot = pds_bset_find(&c->imp->blocks, value);
    if (!slot->used) {
        pds_cid_format(value, s);
        pds_import_fail(c->err, c->err_len,
                        "record %.*s: block %s missing from the CAR",
                        (int) (len < 200 ? len : 200), key, s);
        return -1;
    }

    arena = pds_arena_create();
    if (arena == NULL) {
        pds_import_fail(c->err, c->err_len, "out of memory");
        return -1;
    }

    a = pds_arena_allocator(arena);
    rc = pds_cbor_decode(slot->p, slot->n, &a, &rec);

    if (rc != 0 || rec->type != PDS_CBOR_MAP) {
        pds_arena_destroy(arena);
        pds_import_fail(c->err, c->err_len, "record %.*s does not decode",
                        (int) (len < 200 ? len : 200), key);
        return -1;
    }

    pds_arena_destroy(arena);

    if (pds_mst_put(c->canon, key, len, value) != 0) {
        pds_import_fail(c->err, c->err_len, "out of memory");
        return -1;
    }

    c->imp->records++;

    return 0;
}


/* the tree: complete, its records present, and canonical */
static int
pds_import_tree(pds_repo_import_t *imp, char *err, size_t err_len)
{
    char                 s[PDS_CID_STR_SIZE];
    pds_cid_t            root;
    pds_import_check_t   c;

    imp->src.get = pds_import_get;
    imp->src.ctx = imp;

    imp->tree = pds_mst_load(&imp->a, &imp->src, &imp->data);
    if (imp->tree == NULL) {
        return pds_import_fail(err, err_len, "out of memory");
    }

    memset(&c, 0, sizeof(c));
    c.imp = imp;
    c.err = err;
    c.err_len = err_len;
    err[0] = '\0';

    c.canon = pds_mst_load(&imp->a, &imp->src, NULL);
    if (c.canon == NULL) {
        return pds_import_fail(err, err_len, "out of memory");
    }

    if (pds_mst_walk(imp->tree, NULL, 0, pds_import_check_leaf, &c) != 0) {
        if (err[0] == '\0') {
            pds_cid_format(&imp->data, s);
            pds_import_fail(err, err_len,
                            "the MST (%s) is incomplete or invalid", s);
        }
        return -1;
    }

    if (pds_mst_commit(c.canon, &root, NULL, NULL, NULL) != 0) {
        return pds_import_fail(err, err_len, "out of memory");
    }

    if (!pds_cid_equal(&root, &imp->data)) {
        return pds_import_fail(err, err_len,
                               "the MST is not the canonical tree of its "
                               "records");
    }

    return 0;
}


int
pds_repo_import_open(const char *path, uint64_t max_bytes, const char *did,
    const char *did_key, pds_repo_import_t **out, char *err, size_t err_len)
{
    pds_alloc_t         a;
    pds_arena_t        *arena;
    pds_repo_import_t  *imp;

    *out = NULL;

    arena = pds_arena_create();
    if (arena == NULL) {
        return pds_import_fail(err, err_len, "out of memory");
    }

    a = pds_arena_allocator(arena);

    imp = pds_alloc(&a, sizeof(pds_repo_import_t));
    if (imp == NULL) {
        pds_arena_destroy(arena);
        return pds_import_fail(err, err_len, "out of memory");
    }

    memset(imp, 0, sizeof(pds_repo_import_t));
    imp->arena = arena;
    imp->a = a;
    imp->did = pds_strndup(&imp->a, did, strlen(did));

    if (imp->did == NULL
        || pds_import_read(imp, path, max_bytes, err, err_len) != 0
        || pds_import_commit(imp, did, did_key, err, err_len) != 0
        || pds_import_tree(imp, err, err_len) != 0)
    {
        pds_repo_import_close(imp);
        return -1;
    }

    *out = imp;

    return 0;
}


const char *
pds_repo_import_rev(const pds_repo_import_t *imp)
{
    return imp->rev;
}


const pds_cid_t *
pds_repo_import_commit(const pds_repo_import_t *imp)
{
    return &imp->commit;
}


uint64_t
pds_repo_import_records(const pds_repo_import_t *imp)
{
    return imp->records;
}


uint64_t
pds_repo_import_blocks(const pds_repo_import_t *imp)
{
    return imp->blocks.len;
}


/* removes every key of dbi under the uid prefix */
static int
pds_import_del_prefix(MDB_txn *txn, MDB_dbi dbi, uint64_t uid)
{
    int          rc;
    uint8_t      k[PDS_UID_LEN];
    MDB_val      key, val;
    MDB_cursor  *cur;

    pds_store_put_u64(k, uid);

    rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc != 0) {
        return rc;
    }

    for ( ;; ) {
        key.mv_data = k;
        key.mv_size = sizeof(k);

        rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);

        if (rc != 0 || key.mv_size < PDS_UID_LEN
            || memcmp(key.mv_data, k, PDS_UID_LEN) != 0)
        {
            break;
        }

        rc = mdb_cursor_del(cur, 0);
        if (rc != 0) {
            break;
        }
    }

    mdb_cursor_close(cur);

    return rc == MDB_NOTFOUND ? 0 : rc;
}


int
pds_repo_clear(pds_store_t *store, MDB_txn *txn, uint64_t uid)
{
    int      rc;
    uint8_t  k[PDS_UID_LEN];
    MDB_val  key;

    rc = pds_import_del_prefix(txn, store->db_blocks, uid);
    if (rc == 0) {
        rc = pds_import_del_prefix(txn, store->db_records, uid);
    }

    if (rc != 0) {
        return pds_repo_mdb(rc);
    }

    pds_store_put_u64(k, uid);
    key.mv_data = k;
    key.mv_size = sizeof(k);

    rc = mdb_del(txn, store->db_repos, &key, NULL);

    return (rc == 0 || rc == MDB_NOTFOUND) ? 0 : pds_repo_mdb(rc);
}


static int
pds_import_write_node(void *ctx, const pds_cid_t *cid, const uint8_t *p,
    size_t n)
{
    pds_import_write_t  *w = ctx;

    w->rc = pds_block_ref(w->store, w->txn, NULL, w->uid, cid, p, n,
                          w->rev64);

    return w->rc;
}


static int
pds_import_write_leaf(void *ctx, const char *key, size_t len,
    const pds_cid_t *value)
{
    int                  rc;
    size_t               klen;
    uint8_t              rk[PDS_RECORD_KEY_MAX], rv[PDS_RECORD_VAL_LEN];
    MDB_val              mkey, mval;
    const char          *slash;
    pds_bset_slot_t     *slot;
    pds_import_write_t  *w = ctx;

    slash = memchr(key, '/', len);
    slot = pds_bset_find(&w->imp->blocks, value);

    if (slash == NULL || !slot->used) {
        w->rc = PDS_REPO_EMST;          /* checked at open: cannot happen */
        return -1;
    }

    w->rc = pds_block_ref(w->store, w->txn, NULL, w->uid, value, slot->p,
                          slot->n, w->rev64);
    if (w->rc != 0) {
        return -1;
    }

    klen = pds_record_key(rk, w->uid, key, (size_t) (slash - key), slash + 1,
                          len - (size_t) (slash - key) - 1);

    pds_cid_pack(rv, value);
    pds_store_put_u64(rv + PDS_CID_PACK_LEN, w->rev64);

    mkey.mv_data = rk;
    mkey.mv_size = klen;
    mval.mv_data = rv;
    mval.mv_size = sizeof(rv);

    rc = mdb_put(w->txn, w->store->db_records, &mkey, &mval, 0);
    if (rc != 0) {
        w->rc = pds_repo_mdb(rc);
        return -1;
    }

    if (w->record
        && w->record(w->ctx, key, len, value, slot->p, slot->n) != 0)
    {
        w->rc = PDS_REPO_EHOOK;
        return -1;
    }

    return 0;
}


int
pds_repo_import_write(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    pds_repo_import_t *imp, pds_repo_import_record_cb record, void *ctx)
{
    int                 rc;
    pds_import_write_t  w;

    rc = pds_repo_clear(store, txn, uid);
    if (rc != 0) {
        return rc;
    }

    memset(&w, 0, sizeof(w));
    w.imp = imp;
    w.store = store;
    w.txn = txn;
    w.uid = uid;
    w.rev64 = pds_rev_u64(imp->rev);
    w.record = record;
    w.ctx = ctx;

    rc = pds_block_ref(store, txn, NULL, uid, &imp->commit, imp->commit_p,
                       imp->commit_n, w.rev64);
    if (rc != 0) {
        return rc;
    }

    if (pds_mst_nodes(imp->tree, pds_import_write_node, &w) != 0) {
        return w.rc ? w.rc : PDS_REPO_EMST;
    }

    if (pds_mst_walk(imp->tree, NULL, 0, pds_import_write_leaf, &w) != 0) {
        return w.rc ? w.rc : PDS_REPO_EMST;
    }

    return pds_repo_put_root(store, txn, uid, &imp->commit, &imp->data,
                             imp->rev, imp->did, strlen(imp->did));
}


void
pds_repo_import_close(pds_repo_import_t *imp)
{
    if (imp == NULL) {
        return;
    }

    if (imp->map) {
        munmap(imp->map, imp->map_len);
    }

    pds_arena_destroy(imp->arena);
}
