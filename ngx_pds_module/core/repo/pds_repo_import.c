/*
 * ngx_pds_module core: importing a repository from a CAR file (see
 * pds_repo_import.h).
 */

/* O_TMPFILE (Linux); elsewhere a named file removed at once */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pds_repo_import_int.h"
#include "pds_car.h"
#include "pds_cbor.h"
#include "pds_enc.h"
#include "pds_hash.h"
#include "pds_keys.h"
#include "pds_syntax.h"


/* the walk over the leaves while checking */
typedef struct {
    pds_repo_import_t  *imp;
    char               *err;
    size_t              err_len;
} pds_import_check_t;

static int
pds_import_fail(char *err, size_t err_len, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    vsnprintf(err, err_len, fmt, args);
    va_end(args);

    return -1;
}


static size_t
pds_import_hash(const pds_repo_import_t *imp, uint64_t tag)
{
    /* seeded, so that a CAR cannot be made to pile its blocks up */
    tag ^= imp->ix_seed;
    tag *= 0x9e3779b97f4a7c15ULL;

    return (size_t) (tag ^ (tag >> 29)) & (imp->ix_cap - 1);
}


pds_import_slot_t *
pds_import_slot(const pds_repo_import_t *imp, const pds_cid_t *cid)
{
    size_t              i;
    uint64_t            tag, off;
    pds_cid_t           c;
    pds_import_slot_t  *s;

    if (imp->unhashed) {
        return NULL;
    }

    memcpy(&tag, cid->digest, sizeof(tag));

    for (i = pds_import_hash(imp, tag); ; i = (i + 1) & (imp->ix_cap - 1)) {
        s = &imp->ix[i];

        if (s->pos == 0) {
            return NULL;
        }

        if (s->tag != tag) {
            continue;
        }

        off = s->pos >> PDS_IMPORT_LEN_BITS;

        if (pds_cid_read(&c, imp->map + off - PDS_CID_BIN_LEN,
                         PDS_CID_BIN_LEN) == PDS_CID_BIN_LEN
            && pds_cid_equal(&c, cid))
        {
            return s;
        }
    }
}


void
pds_import_slot_block(const pds_repo_import_t *imp,
    const pds_import_slot_t *s, pds_cid_t *cid, const uint8_t **p, size_t *n)
{
    uint64_t  off;

    off = s->pos >> PDS_IMPORT_LEN_BITS;
    *p = imp->map + off;
    *n = (size_t) (s->pos & ((1ULL << PDS_IMPORT_LEN_BITS) - 1));

    if (cid) {
        (void) pds_cid_read(cid, imp->map + off - PDS_CID_BIN_LEN,
                            PDS_CID_BIN_LEN);
    }
}


int
pds_import_find(const pds_repo_import_t *imp, const pds_cid_t *cid,
    const uint8_t **p, size_t *n)
{
    pds_import_slot_t  *s;

    s = pds_import_slot(imp, cid);
    if (s == NULL) {
        return 1;
    }

    pds_import_slot_block(imp, s, NULL, p, n);

    return 0;
}


/* CID order: the codec, then the digest (its first 8 bytes; the order of
 * two blocks that share them does not matter) */
static int
pds_import_slot_cmp(const pds_import_slot_t *a, const pds_import_slot_t *b)
{
    if (a->codec != b->codec) {
        return a->codec < b->codec ? -1 : 1;
    }

    return memcmp(&a->tag, &b->tag, sizeof(a->tag));
}


static void
pds_import_sift(pds_import_slot_t *v, size_t i, size_t n)
{
    size_t             c;
    pds_import_slot_t  t;

    for ( ;; ) {
        c = 2 * i + 1;
        if (c >= n) {
            return;
        }

        if (c + 1 < n && pds_import_slot_cmp(&v[c], &v[c + 1]) < 0) {
            c++;
        }

        if (pds_import_slot_cmp(&v[i], &v[c]) >= 0) {
            return;
        }

        t = v[i];
        v[i] = v[c];
        v[c] = t;
        i = c;
    }
}


/* heapsort, in the mapped file: no memory of its own */
void
pds_import_sort(pds_repo_import_t *imp)
{
    size_t              i, n;
    pds_import_slot_t  *v, t;

    v = imp->ix;
    n = 0;

    for (i = 0; i < imp->ix_cap; i++) {
        if (v[i].pos != 0 && v[i].refs != 0) {
            v[n++] = v[i];
        }
    }

    for (i = n / 2; i > 0; i--) {
        pds_import_sift(v, i - 1, n);
    }

    for (i = n; i > 1; i--) {
        t = v[0];
        v[0] = v[i - 1];
        v[i - 1] = t;
        pds_import_sift(v, 0, i - 1);
    }

    imp->sorted = n;
    imp->unhashed = 1;
    imp->next = 0;
}


static void
pds_import_add(pds_repo_import_t *imp, const pds_cid_t *cid, size_t off,
    size_t n)
{
    size_t              i;
    uint64_t            tag;
    const uint8_t      *p;
    size_t              pn;
    pds_import_slot_t  *s;

    if (pds_import_find(imp, cid, &p, &pn) == 0) {
        return;                         /* a block given twice */
    }

    memcpy(&tag, cid->digest, sizeof(tag));

    for (i = pds_import_hash(imp, tag); imp->ix[i].pos != 0;
         i = (i + 1) & (imp->ix_cap - 1))
    {
        /* void */
    }

    s = &imp->ix[i];
    s->tag = tag;
    s->pos = ((uint64_t) off << PDS_IMPORT_LEN_BITS) | n;
    s->refs = 0;
    s->codec = cid->codec;
    imp->blocks++;
}


/* the block source over the index */
static int
pds_import_get(void *ctx, const pds_cid_t *cid, const uint8_t **p, size_t *n)
{
    return pds_import_find(ctx, cid, p, n);
}


/* an unnamed file of size bytes next to path, mapped shared */
static void *
pds_import_tmpmap(const char *path, size_t size)
{
    int     fd, rc;
    char    dir[4096], tmpl[4096 + 32];
    void   *m;
    size_t  len;
    char   *slash;

    slash = strrchr(path, '/');
    len = slash ? (size_t) (slash - path) : 0;

    if (len >= sizeof(dir)) {
        return NULL;
    }

    if (len) {
        memcpy(dir, path, len);
        dir[len] = '\0';

    } else {
        dir[0] = slash ? '/' : '.';
        dir[1] = '\0';
    }

    fd = -1;

#ifdef O_TMPFILE
    fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
#endif

    if (fd == -1) {
        snprintf(tmpl, sizeof(tmpl), "%s/.import-index-XXXXXX", dir);
        fd = mkstemp(tmpl);
        if (fd == -1) {
            return NULL;
        }
        (void) unlink(tmpl);
        (void) fcntl(fd, F_SETFD, FD_CLOEXEC);
    }

    /*
     * the blocks allocated now, not sparse: the index is written through
     * the map, and a store into a page the full disk cannot back would
     * kill the worker (SIGBUS) instead of failing the import
     */
    rc = posix_fallocate(fd, 0, (off_t) size);
    if (rc == EOPNOTSUPP || rc == EINVAL) {
        rc = ftruncate(fd, (off_t) size) == -1 ? errno : 0;
    }
    if (rc != 0) {
        close(fd);
        errno = rc;
        return NULL;
    }

    m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);

    return m == MAP_FAILED ? NULL : m;
}


/* the index over the sections of a CAR already read whole */
static int
pds_import_index(pds_repo_import_t *imp, const char *path, uint64_t count)
{
    int             header;
    long            vn;
    size_t          off, cap;
    uint64_t        len;
    pds_cid_t       cid;

    for (cap = 64; cap < count + count / 3 + 1; cap <<= 1) {
        /* void */
    }

    if (pds_random(&imp->ix_seed, sizeof(imp->ix_seed)) != 0) {
        return -1;
    }

    imp->ix = pds_import_tmpmap(path, cap * sizeof(pds_import_slot_t));
    if (imp->ix == NULL) {
        return -1;
    }

    imp->ix_cap = cap;

    /* the header, then the sections (the reader checked them all) */

    off = 0;
    header = 1;

    while (off < imp->map_len) {
        vn = pds_varint_decode(imp->map + off, imp->map_len - off, &len);
        if (vn <= 0 || len > imp->map_len - off - (size_t) vn) {
            return -1;
        }

        off += (size_t) vn;

        if (header) {
            header = 0;

        } else {
            if (len < PDS_CID_BIN_LEN
                || pds_cid_read(&cid, imp->map + off, PDS_CID_BIN_LEN)
                   != PDS_CID_BIN_LEN)
            {
                return -1;
            }

            pds_import_add(imp, &cid, off + PDS_CID_BIN_LEN,
                           (size_t) len - PDS_CID_BIN_LEN);
        }

        off += (size_t) len;
    }

    return 0;
}


/* maps the file, checks it as a CAR and indexes its blocks */
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

    /* one pass checks the whole file (every block against its CID) and
     * counts the blocks, a second indexes them; the file is fed whole, so
     * the reader never copies a section */

    pds_car_reader_init(&r, &imp->a, 0, max_bytes, NULL, NULL);

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

    if (pds_import_index(imp, path, r.blocks) != 0) {
        return pds_import_fail(err, err_len,
                               "cannot index the upload: %s",
                               strerror(errno ? errno : ENOMEM));
    }

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
    const pds_cbor_t  *f_did, *f_ver, *f_data, *f_rev, *f_prev, *f_sig;

    if (pds_import_find(imp, &imp->commit, &imp->commit_p, &imp->commit_n)
        != 0)
    {
        return pds_import_fail(err, err_len,
                               "the CAR's root block (the commit) is missing");
    }

    pds_import_slot(imp, &imp->commit)->refs++;

    if (pds_cbor_decode(imp->commit_p, imp->commit_n, &imp->a, &c) != 0
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

    if (rc != 0 || b.len != imp->commit_n
        || memcmp(b.data, imp->commit_p, b.len) != 0)
    {
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


/* a record block: present, and a map */
static int
pds_import_record(pds_repo_import_t *imp, const char *key, size_t len,
    const pds_cid_t *value, char *err, size_t err_len)
{
    int              rc;
    char             s[PDS_CID_STR_SIZE];
    size_t           n;
    pds_cbor_t      *rec;
    pds_arena_t     *arena;
    pds_alloc_t      a;
    const uint8_t   *p;

    if (pds_import_find(imp, value, &p, &n) != 0) {
        pds_cid_format(value, s);
        return pds_import_fail(err, err_len,
                               "record %.*s: block %s missing from the CAR",
                               (int) (len < 200 ? len : 200), key, s);
    }

    arena = pds_arena_create();
    if (arena == NULL) {
        return pds_import_fail(err, err_len, "out of memory");
    }

    a = pds_arena_allocator(arena);
    rc = pds_cbor_decode(p, n, &a, &rec);

    if (rc != 0 || rec->type != PDS_CBOR_MAP) {
        pds_arena_destroy(arena);
        return pds_import_fail(err, err_len, "record %.*s does not decode",
                               (int) (len < 200 ? len : 200), key);
    }

    pds_arena_destroy(arena);

    return 0;
}


static int
pds_import_check_leaf(void *ctx, const char *key, size_t len,
    const pds_cid_t *value)
{
    pds_import_check_t  *c = ctx;

    /* the record index's key (uid + collection + 0 + rkey) must fit
     * LMDB's key limit */
    if (PDS_UID_LEN + len > 511) {
        pds_import_fail(c->err, c->err_len, "invalid record key in the MST");
        return 1;
    }

    if (pds_import_record(c->imp, key, len, value, c->err, c->err_len)
        != 0)
    {
        return 1;
    }

    pds_import_slot(c->imp, value)->refs++;
    c->imp->records++;

    return 0;
}


/* a node of the tree: one more reference (the walk gave it) */
static int
pds_import_check_node(void *ctx, const pds_cid_t *cid, const uint8_t *p,
    size_t n)
{
    pds_import_check_t  *c = ctx;

    (void) p;
    (void) n;

    pds_import_slot(c->imp, cid)->refs++;

    return 0;
}


/* the tree: complete, its records present, and canonical (checked node by
 * node as it is walked, see pds_mst_check.c) */
static int
pds_import_tree(pds_repo_import_t *imp, char *err, size_t err_len)
{
    pds_import_check_t   c;

    imp->src.get = pds_import_get;
    imp->src.ctx = imp;

    c.imp = imp;
    c.err = err;
    c.err_len = err_len;

    imp->records = 0;

    return pds_mst_check_walk(&imp->src, &imp->data, pds_import_check_node,
                              pds_import_check_leaf, &c, err, err_len) == 0
           ? 0 : -1;
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
    return imp->blocks;
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

    if (imp->ix) {
        munmap(imp->ix, imp->ix_cap * sizeof(pds_import_slot_t));
    }

    pds_arena_destroy(imp->arena);
}
