/*
 * ngx_pds_module core: blob bookkeeping (see pds_blob.h).
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pds_blob.h"
#include "pds_hash.h"
#include "pds_row.h"


#define PDS_BLOB_KEY_MAX  511


static int pds_blob_referenced(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    const pds_cid_t *cid);


typedef struct {
    uint8_t   data[PDS_BLOB_KEY_MAX];
    size_t    len;
} pds_bkey_t;


static int
pds_bkey(pds_bkey_t *k, char tag, uint64_t uid, const pds_cid_t *cid,
    const char *path, size_t plen, int cid_after_path)
{
    size_t  need;

    need = (tag ? 1 : 0) + PDS_UID_LEN + PDS_CID_BIN_LEN
           + (path ? plen + 1 : 0);

    if (need > PDS_BLOB_KEY_MAX) {
        return -1;
    }

    k->len = 0;

    if (tag) {
        k->data[k->len++] = (uint8_t) tag;
    }

    pds_store_put_u64(k->data + k->len, uid);
    k->len += PDS_UID_LEN;

    if (cid_after_path) {
        if (path) {
            memcpy(k->data + k->len, path, plen);
            k->len += plen;
            k->data[k->len++] = 0;
        }
        if (cid) {
            k->len += pds_cid_to_bytes(cid, k->data + k->len);
        }

    } else {
        if (cid) {
            k->len += pds_cid_to_bytes(cid, k->data + k->len);
        }
        if (path) {
            memcpy(k->data + k->len, path, plen);
            k->len += plen;
        }
    }

    return 0;
}


size_t
pds_blob_path(char *out, size_t cap, uint64_t uid, const pds_cid_t *cid)
{
    int   n;
    char  s[PDS_CID_STR_SIZE];

    pds_cid_format(cid, s);
    n = snprintf(out, cap, "%016llx/%s", (unsigned long long) uid, s);

    return (n < 0 || (size_t) n >= cap) ? 0 : (size_t) n;
}


static int
pds_blob_put_row(pds_store_t *s, MDB_txn *txn, pds_bkey_t *k,
    const pds_blob_t *b)
{
    pds_row_t  row;

    row.n = 0;
    pds_row_str(&row, "mimeType", b->mime);
    pds_row_int(&row, "size", (int64_t) b->size);
    pds_row_int(&row, "createdAt", b->created);
    pds_row_bool(&row, "temp", b->temp);

    return pds_row_put(txn, s->db_blobs, k->data, k->len, &row);
}


/* a blob row's value, decoded: 0, ENOMEM or MDB_CORRUPTED */
static int
pds_blob_decode(const MDB_val *v, pds_blob_t *b)
{
    int           rc;
    const char   *mime;
    pds_cbor_t   *row;
    pds_alloc_t   a;
    pds_arena_t  *arena;

    arena = pds_arena_create();
    if (arena == NULL) {
        return ENOMEM;
    }

    a = pds_arena_allocator(arena);

    rc = pds_row_decode(v, &a, &row);

    if (rc == 0) {
        mime = pds_row_get_str(row, "mimeType");
        snprintf(b->mime, sizeof(b->mime), "%s", mime ? mime : "");
        b->size = (uint64_t) pds_row_get_int(row, "size", 0);
        b->created = pds_row_get_int(row, "createdAt", 0);
        b->temp = pds_row_get_bool(row, "temp");
    }

    pds_arena_destroy(arena);

    return rc;
}


static int
pds_blob_get_row(pds_store_t *s, MDB_txn *txn, pds_bkey_t *k, pds_blob_t *b)
{
    int      rc;
    MDB_val  key, val;

    key.mv_data = k->data;
    key.mv_size = k->len;

    rc = mdb_get(txn, s->db_blobs, &key, &val);
    if (rc != 0) {
        return rc == MDB_NOTFOUND ? PDS_NOTFOUND : rc;
    }

    return pds_blob_decode(&val, b);
}


int
pds_blob_put(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    const pds_cid_t *cid, const char *mime, uint64_t size, int64_t now)
{
    int         rc;
    pds_bkey_t  k;
    pds_blob_t  b;

    pds_bkey(&k, 0, uid, cid, NULL, 0, 0);

    rc = pds_blob_get_row(s, txn, &k, &b);

    if (rc == 0 && !b.temp) {
        return 0;                       /* already permanent: keep it */
    }

    if (rc != 0 && rc != PDS_NOTFOUND) {
        return rc;
    }

    snprintf(b.mime, sizeof(b.mime), "%s", mime);
    b.size = size;
    b.created = now;

    /* a blob that imported records already reference (a migration's
     * missing blob) is permanent at once */
    b.temp = !pds_blob_referenced(s, txn, uid, cid);

    return pds_blob_put_row(s, txn, &k, &b);
}


int
pds_blob_get(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    const pds_cid_t *cid, pds_blob_t *blob)
{
    pds_bkey_t  k;

    pds_bkey(&k, 0, uid, cid, NULL, 0, 0);

    return pds_blob_get_row(s, txn, &k, blob);
}


/* appends cid to a growable array (*v, *n, *cap): 0 or ENOMEM */
static int
pds_cids_add(pds_cid_t **v, size_t *n, size_t *cap, const pds_cid_t *cid)
{
    size_t      c;
    pds_cid_t  *more;

    if (*n == *cap) {
        c = *cap ? *cap * 2 : 8;
        more = realloc(*v, c * sizeof(pds_cid_t));
        if (more == NULL) {
            return ENOMEM;
        }
        *v = more;
        *cap = c;
    }

    (*v)[(*n)++] = *cid;

    return 0;
}


/* whether pds_blob_scan() keeps the CID of a key, given its value */
typedef int (*pds_blob_keep_pt)(const MDB_val *val, void *data);


/*
 * The CIDs that end the keys "prefix + CID" of dbi (those keep() accepts,
 * or all when keep is NULL) into a new array *out of *n (free() it):
 * 0 or an LMDB error / ENOMEM.
 */
static int
pds_blob_scan(MDB_txn *txn, MDB_dbi dbi, const pds_bkey_t *prefix,
    pds_blob_keep_pt keep, void *data, pds_cid_t **out, size_t *n)
{
    int          rc;
    size_t       cap;
    MDB_val      key, val;
    pds_cid_t    cid;
    MDB_cursor  *cur;

    *out = NULL;
    *n = 0;
    cap = 0;

    rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc != 0) {
        return rc;
    }

    key.mv_data = (void *) prefix->data;
    key.mv_size = prefix->len;

    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
         rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
    {
        if (key.mv_size != prefix->len + PDS_CID_BIN_LEN
            || memcmp(key.mv_data, prefix->data, prefix->len) != 0)
        {
            break;
        }

        if ((keep == NULL || keep(&val, data))
            && pds_cid_from_bytes(&cid, (uint8_t *) key.mv_data + prefix->len,
                                  PDS_CID_BIN_LEN) == 0)
        {
            rc = pds_cids_add(out, n, &cap, &cid);
            if (rc != 0) {
                break;
            }
        }
    }

    mdb_cursor_close(cur);

    if (rc != 0 && rc != MDB_NOTFOUND) {
        free(*out);
        *out = NULL;
        *n = 0;
        return rc;
    }

    return 0;
}


static int
pds_blob_gone_add(pds_blob_gone_t *gone, const pds_cid_t *cid)
{
    if (gone == NULL) {
        return 0;
    }

    return pds_cids_add(&gone->cids, &gone->n, &gone->cap, cid);
}


void
pds_blob_gone_free(pds_blob_gone_t *gone)
{
    free(gone->cids);
    gone->cids = NULL;
    gone->n = 0;
    gone->cap = 0;
}


/* 1 if some record still references the blob */
static int
pds_blob_referenced(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    const pds_cid_t *cid)
{
    int          rc;
    MDB_val      key, val;
    pds_bkey_t   k;
    MDB_cursor  *cur;

    pds_bkey(&k, 'r', uid, cid, NULL, 0, 0);

    if (mdb_cursor_open(txn, s->db_blob_refs, &cur) != 0) {
        return 1;                       /* when in doubt, keep it */
    }

    key.mv_data = k.data;
    key.mv_size = k.len;

    rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
    rc = (rc == 0 && key.mv_size >= k.len
          && memcmp(key.mv_data, k.data, k.len) == 0);

    mdb_cursor_close(cur);

    return rc;
}


static int
pds_blob_drop(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    const pds_cid_t *cid, pds_blob_gone_t *gone)
{
    int         rc;
    MDB_val     key;
    pds_bkey_t  k;

    pds_bkey(&k, 0, uid, cid, NULL, 0, 0);

    key.mv_data = k.data;
    key.mv_size = k.len;

    rc = mdb_del(txn, s->db_blobs, &key, NULL);
    if (rc == MDB_NOTFOUND) {
        return 0;
    }

    if (rc != 0) {
        return rc;
    }

    return pds_blob_gone_add(gone, cid);
}


/* the record's references to old[] (both directions) are removed */
static int
pds_blob_unref(pds_store_t *s, MDB_txn *txn, uint64_t uid, const char *path,
    size_t path_len, const pds_cid_t *old, size_t nold)
{
    int          rc;
    size_t       i;
    MDB_val      key;
    pds_bkey_t   k;

    for (i = 0; i < nold; i++) {
        pds_bkey(&k, 'p', uid, &old[i], path, path_len, 1);
        key.mv_data = k.data;
        key.mv_size = k.len;
        rc = mdb_del(txn, s->db_blob_refs, &key, NULL);

        if (rc == 0) {
            pds_bkey(&k, 'r', uid, &old[i], path, path_len, 0);
            key.mv_data = k.data;
            key.mv_size = k.len;
            rc = mdb_del(txn, s->db_blob_refs, &key, NULL);
        }

        if (rc != 0 && rc != MDB_NOTFOUND) {
            return rc;
        }
    }

    return 0;
}


/*
 * The record references cid: the blob must have been uploaded
 * (PDS_NOTFOUND otherwise) and becomes permanent.
 */
static int
pds_blob_ref(pds_store_t *s, MDB_txn *txn, uint64_t uid, const char *path,
    size_t path_len, const pds_cid_t *cid)
{
    int          rc;
    MDB_val      key, val;
    pds_bkey_t   k;
    pds_blob_t   b;

    pds_bkey(&k, 0, uid, cid, NULL, 0, 0);

    rc = pds_blob_get_row(s, txn, &k, &b);
    if (rc != 0) {
        return rc;
    }

    if (b.temp) {
        b.temp = 0;
        rc = pds_blob_put_row(s, txn, &k, &b);
        if (rc != 0) {
            return rc;
        }
    }

    val.mv_data = "";
    val.mv_size = 0;

    pds_bkey(&k, 'r', uid, cid, path, path_len, 0);
    key.mv_data = k.data;
    key.mv_size = k.len;
    rc = mdb_put(txn, s->db_blob_refs, &key, &val, 0);

    if (rc == 0) {
        pds_bkey(&k, 'p', uid, cid, path, path_len, 1);
        key.mv_data = k.data;
        key.mv_size = k.len;
        rc = mdb_put(txn, s->db_blob_refs, &key, &val, 0);
    }

    return rc;
}


/* old blobs that neither cids[] nor any other record references go */
static int
pds_blob_drop_unused(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    const pds_cid_t *old, size_t nold, const pds_cid_t *cids, size_t n,
    pds_blob_gone_t *gone)
{
    int     rc;
    size_t  i, j;

    for (i = 0; i < nold; i++) {
        for (j = 0; j < n; j++) {
            if (pds_cid_equal(&old[i], &cids[j])) {
                break;
            }
        }

        if (j < n || pds_blob_referenced(s, txn, uid, &old[i])) {
            continue;
        }

        rc = pds_blob_drop(s, txn, uid, &old[i], gone);
        if (rc != 0) {
            return rc;
        }
    }

    return 0;
}


int
pds_blob_set_refs(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    const char *path, size_t path_len, const pds_cid_t *cids, size_t n,
    pds_blob_gone_t *gone, const pds_cid_t **missing)
{
    int          rc;
    size_t       i, nold;
    pds_bkey_t   prefix;
    pds_cid_t   *old;

    *missing = NULL;

    /* the blobs the record referenced so far */

    if (pds_bkey(&prefix, 'p', uid, NULL, path, path_len, 1) != 0) {
        return EINVAL;
    }

    rc = pds_blob_scan(txn, s->db_blob_refs, &prefix, NULL, NULL, &old, &nold);
    if (rc != 0) {
        return rc;
    }

    rc = pds_blob_unref(s, txn, uid, path, path_len, old, nold);

    /* the new ones: each must have been uploaded */

    for (i = 0; rc == 0 && i < n; i++) {
        rc = pds_blob_ref(s, txn, uid, path, path_len, &cids[i]);

        if (rc == PDS_NOTFOUND) {
            *missing = &cids[i];
        }
    }

    if (rc == 0) {
        rc = pds_blob_drop_unused(s, txn, uid, old, nold, cids, n, gone);
    }

    free(old);

    return rc;
}


/* a temporary blob created before *data (an int64_t) */
static int
pds_blob_expired(const MDB_val *val, void *data)
{
    pds_blob_t  b;

    return pds_blob_decode(val, &b) == 0
           && b.temp && b.created < *(int64_t *) data;
}


int
pds_blob_collect(pds_store_t *s, MDB_txn *txn, uint64_t uid, int64_t before,
    pds_blob_gone_t *gone)
{
    int          rc;
    size_t       i, n;
    pds_bkey_t   prefix;
    pds_cid_t   *list;

    pds_bkey(&prefix, 0, uid, NULL, NULL, 0, 0);

    /* the rows are read once, by the scan's cursor */
    rc = pds_blob_scan(txn, s->db_blobs, &prefix, pds_blob_expired, &before,
                       &list, &n);
    if (rc != 0) {
        return rc;
    }

    for (i = 0; i < n && rc == 0; i++) {
        if (!pds_blob_referenced(s, txn, uid, &list[i])) {
            rc = pds_blob_drop(s, txn, uid, &list[i], gone);
        }
    }

    free(list);

    return rc;
}


long
pds_blob_list(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    const pds_cid_t *cursor, size_t limit, pds_blob_cb cb, void *ctx)
{
    int          rc;
    long         n;
    MDB_val      key, val;
    pds_cid_t    cid;
    pds_bkey_t   prefix, start;
    MDB_cursor  *cur;

    pds_bkey(&prefix, 0, uid, NULL, NULL, 0, 0);
    pds_bkey(&start, 0, uid, cursor, NULL, 0, 0);

    rc = mdb_cursor_open(txn, s->db_blobs, &cur);
    if (rc != 0) {
        return -1;
    }

    key.mv_data = start.data;
    key.mv_size = start.len;
    n = 0;

    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
         rc == 0 && (size_t) n < limit;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
    {
        if (key.mv_size != prefix.len + PDS_CID_BIN_LEN
            || memcmp(key.mv_data, prefix.data, prefix.len) != 0)
        {
            break;
        }

        if (cursor && key.mv_size == start.len
            && memcmp(key.mv_data, start.data, start.len) == 0)
        {
            continue;                   /* strictly after the cursor */
        }

        if (pds_cid_from_bytes(&cid, (uint8_t *) key.mv_data + prefix.len,
                               PDS_CID_BIN_LEN)
            != 0)
        {
            continue;
        }

        if (cb(ctx, &cid) != 0) {
            break;
        }

        n++;
    }

    mdb_cursor_close(cur);

    return n;
}


int
pds_blob_usage(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    uint64_t *expected, uint64_t *imported)
{
    int               rc;
    size_t            at;
    MDB_val           key, val;
    uint64_t          n;
    pds_bkey_t        prefix;
    const uint8_t    *last;
    pds_store_iter_t  it;

    pds_bkey(&prefix, 0, uid, NULL, NULL, 0, 0);

    rc = pds_store_count_prefix(txn, s->db_blobs, prefix.data, prefix.len,
                                imported);
    if (rc != 0) {
        return rc;
    }

    /* 'r' keys are sorted by CID: a blob's references are adjacent */

    pds_bkey(&prefix, 'r', uid, NULL, NULL, 0, 0);
    at = prefix.len;

    rc = pds_store_iter_open(txn, s->db_blob_refs, prefix.data, prefix.len,
                             prefix.len, &it);
    if (rc != 0) {
        return rc;
    }

    n = 0;
    last = NULL;

    while ((rc = pds_store_iter_next(&it, &key, &val)) == 0) {
        if (key.mv_size < at + PDS_CID_BIN_LEN) {
            continue;
        }

        if (last == NULL
            || memcmp(last, (uint8_t *) key.mv_data + at, PDS_CID_BIN_LEN)
               != 0)
        {
            n++;
        }

        last = (uint8_t *) key.mv_data + at;
    }

    pds_store_iter_close(&it);

    if (rc != PDS_NOTFOUND) {
        return rc;
    }

    *expected = n;

    return 0;
}


int
pds_blob_expect(pds_store_t *s, MDB_txn *txn, uint64_t uid, const char *path,
    size_t path_len, const pds_cid_t *cid)
{
    int          rc;
    MDB_val      key, val;
    pds_bkey_t   k;
    pds_blob_t   b;

    pds_bkey(&k, 0, uid, cid, NULL, 0, 0);

    rc = pds_blob_get_row(s, txn, &k, &b);

    if (rc == 0 && b.temp) {
        b.temp = 0;
        rc = pds_blob_put_row(s, txn, &k, &b);
    }

    if (rc != 0 && rc != PDS_NOTFOUND) {
        return rc;
    }

    val.mv_data = "";
    val.mv_size = 0;

    if (pds_bkey(&k, 'r', uid, cid, path, path_len, 0) != 0) {
        return EINVAL;
    }

    key.mv_data = k.data;
    key.mv_size = k.len;
    rc = mdb_put(txn, s->db_blob_refs, &key, &val, 0);

    if (rc == 0) {
        pds_bkey(&k, 'p', uid, cid, path, path_len, 1);
        key.mv_data = k.data;
        key.mv_size = k.len;
        rc = mdb_put(txn, s->db_blob_refs, &key, &val, 0);
    }

    return rc;
}


long
pds_blob_list_missing(pds_store_t *s, MDB_txn *txn, uint64_t uid,
    const pds_cid_t *cursor, size_t limit, pds_blob_missing_cb cb, void *ctx)
{
    int          rc, have;
    long         n;
    size_t       at;
    MDB_val      key, val;
    uint8_t      last[PDS_CID_BIN_LEN];
    pds_cid_t    cid;
    pds_bkey_t   prefix, start, bk;
    pds_blob_t   b;
    MDB_cursor  *cur;

    pds_bkey(&prefix, 'r', uid, NULL, NULL, 0, 0);
    pds_bkey(&start, 'r', uid, cursor, NULL, 0, 0);
    at = prefix.len;

    if (mdb_cursor_open(txn, s->db_blob_refs, &cur) != 0) {
        return -1;
    }

    n = 0;
    have = 0;

    if (cursor) {
        pds_cid_to_bytes(cursor, last);
        have = 1;
    }

    key.mv_data = start.data;
    key.mv_size = start.len;

    /* 'r' keys are in CID order: a blob's references are adjacent */

    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
         rc == 0 && (size_t) n < limit;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
    {
        if (key.mv_size < prefix.len
            || memcmp(key.mv_data, prefix.data, prefix.len) != 0)
        {
            break;
        }

        if (key.mv_size <= at + PDS_CID_BIN_LEN) {
            continue;
        }

        if (have
            && memcmp(last, (uint8_t *) key.mv_data + at, PDS_CID_BIN_LEN)
               == 0)
        {
            continue;                   /* the same blob, or the cursor's */
        }

        memcpy(last, (uint8_t *) key.mv_data + at, PDS_CID_BIN_LEN);
        have = 1;

        if (pds_cid_from_bytes(&cid, last, PDS_CID_BIN_LEN) != 0) {
            continue;
        }

        pds_bkey(&bk, 0, uid, &cid, NULL, 0, 0);
        rc = pds_blob_get_row(s, txn, &bk, &b);

        if (rc == 0) {
            continue;                   /* uploaded */
        }

        if (rc != PDS_NOTFOUND) {
            break;
        }

        rc = 0;
        n++;

        if (cb(ctx, &cid, (const char *) key.mv_data + at + PDS_CID_BIN_LEN,
               key.mv_size - at - PDS_CID_BIN_LEN)
            != 0)
        {
            break;
        }
    }

    mdb_cursor_close(cur);

    return (rc == 0 || rc == MDB_NOTFOUND) ? n : -1;
}


int
pds_blob_file_drop(pds_store_t *s, uint64_t uid, const pds_cid_t *cid,
    const char *path, long pid)
{
    int          m, rc;
    char         aside[4096];
    MDB_txn     *txn;
    pds_blob_t   blob;

    m = snprintf(aside, sizeof(aside), "%s%s%ld", path, PDS_BLOB_ASIDE, pid);
    if (m < 0 || (size_t) m >= sizeof(aside)) {
        errno = ENAMETOOLONG;
        return -1;
    }

    if (rename(path, aside) != 0) {
        return errno == ENOENT ? 0 : -1;
    }

    rc = pds_store_read_begin(s, &txn);
    if (rc == 0) {
        rc = pds_blob_get(s, txn, uid, cid, &blob);
        mdb_txn_abort(txn);
    }

    if (rc == PDS_NOTFOUND) {
        return unlink(aside) == 0 ? 1 : -1;
    }

    /* uploaded again (or the row cannot be read: keep it): put it back; a
     * file the upload linked in meanwhile is the same bytes */
    if (link(aside, path) != 0 && errno != EEXIST) {
        return rename(aside, path) == 0 ? 0 : -1;
    }

    (void) unlink(aside);

    return 0;
}


int
pds_blob_hash_file(const char *path, pds_cid_t *cid, uint64_t *size)
{
    int            fd, err;
    ssize_t        n;
    uint8_t        buf[65536];
    pds_sha256_t   h;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return errno;
    }

    pds_sha256_init(&h);
    *size = 0;
    err = 0;

    for ( ;; ) {
        n = read(fd, buf, sizeof(buf));

        if (n == 0) {
            break;
        }

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            err = errno ? errno : EIO;
            break;
        }

        *size += (uint64_t) n;
        pds_sha256_update(&h, buf, (size_t) n);
    }

    close(fd);

    if (err == 0) {
        cid->codec = PDS_CID_CODEC_RAW;
        pds_sha256_final(&h, cid->digest);
    }

    return err;
}
