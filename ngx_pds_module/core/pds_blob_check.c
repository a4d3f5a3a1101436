/*
 * ngx_pds_module core: blob hygiene (see pds_blob_check.h).
 *
 * A check runs in two phases, each cut into steps:
 *
 *   rows    the blobs table in key order from a cursor: each row's file is
 *           looked at (stat; with verify, hashed); rows whose file is
 *           missing or damaged are, when repairing, deleted in one write
 *           transaction per step, after looking at row and file again
 *   files   <data>/blobs/<uid>/ folder by folder: each file named by a
 *           CID is looked up (a read transaction per step); a file without
 *           a row past the grace period is removed, files an interrupted
 *           check moved aside are removed, other names are reported
 */

#include <dirent.h>
#include <signal.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pds_blob.h"
#include "pds_blob_check.h"
#include "pds_hash.h"


#define PDS_BLOB_CHECK_PATH  4096
#define PDS_BLOB_KEY_LEN     (PDS_UID_LEN + PDS_CID_BIN_LEN)


typedef struct {
    uint64_t               uid;
    pds_cid_t              cid;
    uint64_t               size;         /* the row's */
    struct stat            st;           /* the file's, when found */
    int                    kind;         /* 0: fine; pds_blob_check_kind_e */
} pds_blob_item_t;


struct pds_blob_check_s {
    pds_store_t             *store;
    char                     root[PDS_BLOB_CHECK_PATH];  /* <data>/blobs */
    pds_blob_check_conf_t    conf;
    pds_blob_check_stats_t   stats;
    long                     pid;

    int                      phase;      /* 0 rows, 1 files, 2 done */
    uint8_t                  cursor[PDS_BLOB_KEY_LEN];
    int                      have_cursor;

    DIR                     *top;
    DIR                     *sub;
    uint64_t                 sub_uid;
    char                     sub_name[32];
    uint64_t                 sub_seen;   /* entries in sub so far */
    uint64_t                 sub_gone;   /* ... removed */

    pds_blob_item_t         *items;
    size_t                   cap;
};


static void
pds_blob_check_tell(pds_blob_check_t *c, pds_blob_check_kind_e kind,
    uint64_t uid, const char *name, int fixed)
{
    if (c->conf.report) {
        c->conf.report(c->conf.report_ctx, kind, uid, name, fixed);
    }
}


/* "blobs/<uid>/<cid>" (rel) and its full path */
static int
pds_blob_check_paths(pds_blob_check_t *c, uint64_t uid, const pds_cid_t *cid,
    char *rel, size_t rel_cap, char *full, size_t full_cap)
{
    char    name[128];
    size_t  n;
    int     m;

    n = pds_blob_path(name, sizeof(name), uid, cid);
    if (n == 0) {
        return -1;
    }

    m = snprintf(rel, rel_cap, "blobs/%s", name);
    if (m < 0 || (size_t) m >= rel_cap) {
        return -1;
    }

    m = snprintf(full, full_cap, "%s/%s", c->root, name);

    return (m < 0 || (size_t) m >= full_cap) ? -1 : 0;
}


/* 1 if the file's bytes hash to the CID's digest */
static int
pds_blob_check_hash(const char *path, const pds_cid_t *cid)
{
    uint64_t   size;
    pds_cid_t  got;

    return pds_blob_hash_file(path, &got, &size) == 0
           && cid->codec == PDS_CID_CODEC_RAW
           && memcmp(got.digest, cid->digest, PDS_SHA256_LEN) == 0;
}


/* 1 if path + PDS_BLOB_ASIDE + <pid> exists (the file moved aside) */
static int
pds_blob_check_aside(const char *path)
{
    int             found;
    DIR            *d;
    size_t          blen;
    char            dir[PDS_BLOB_CHECK_PATH];
    const char     *base;
    struct dirent  *e;

    base = strrchr(path, '/');
    if (base == NULL || (size_t) (base - path) >= sizeof(dir)) {
        return 0;
    }

    memcpy(dir, path, base - path);
    dir[base - path] = '\0';
    base++;
    blen = strlen(base);

    d = opendir(dir);
    if (d == NULL) {
        return 0;
    }

    found = 0;

    while (!found && (e = readdir(d)) != NULL) {
        found = strncmp(e->d_name, base, blen) == 0
                && strncmp(e->d_name + blen, PDS_BLOB_ASIDE,
                           sizeof(PDS_BLOB_ASIDE) - 1) == 0;
    }

    closedir(d);

    return found;
}


/* the state of a row's file: 0 (fine), MISSING or DAMAGED; -1 error */
static int
pds_blob_check_file(pds_blob_check_t *c, const char *path,
    pds_blob_item_t *it)
{
    if (stat(path, &it->st) != 0) {
        return errno == ENOENT ? PDS_BLOB_CHECK_MISSING : -1;
    }

    if (!S_ISREG(it->st.st_mode) || (uint64_t) it->st.st_size != it->size) {
        return PDS_BLOB_CHECK_DAMAGED;
    }

    if (c->conf.verify && !pds_blob_check_hash(path, &it->cid)) {
        return PDS_BLOB_CHECK_DAMAGED;
    }

    return 0;
}


/* whether a file moved aside is still to be removed */
typedef int (*pds_blob_still_pt)(pds_blob_check_t *c, const char *aside,
    const struct stat *st, void *data);


/*
 * Removes path if what is there, once moved aside, still satisfies
 * still(); otherwise it is put back (link: a file renamed to path
 * meanwhile, the same blob's bytes, wins).  1 removed, 0 kept or already
 * gone, -1 error.
 */
static int
pds_blob_check_remove(pds_blob_check_t *c, const char *path,
    pds_blob_still_pt still, void *data)
{
    int          m;
    char         aside[PDS_BLOB_CHECK_PATH + 32];
    struct stat  st;

    m = snprintf(aside, sizeof(aside), "%s%s%ld", path, PDS_BLOB_CHECK_ASIDE,
                 c->pid);
    if (m < 0 || (size_t) m >= sizeof(aside)) {
        return -1;
    }

    if (rename(path, aside) != 0) {
        return errno == ENOENT ? 0 : -1;
    }

    if (lstat(aside, &st) == 0 && still(c, aside, &st, data)) {
        return unlink(aside) == 0 ? 1 : -1;
    }

    if (link(aside, path) != 0 && errno != EEXIST) {
        return rename(aside, path) == 0 ? 0 : -1;
    }

    (void) unlink(aside);

    return 0;
}


static int
pds_blob_still_old(pds_blob_check_t *c, const char *aside,
    const struct stat *st, void *data)
{
    (void) aside;
    (void) data;

    return (int64_t) st->st_mtime < c->conf.now - c->conf.grace;
}


static int
pds_blob_still_damaged(pds_blob_check_t *c, const char *aside,
    const struct stat *st, void *data)
{
    pds_blob_item_t  *it = data;

    if (!S_ISREG(st->st_mode) || (uint64_t) st->st_size != it->size) {
        return 1;
    }

    return c->conf.verify && !pds_blob_check_hash(aside, &it->cid);
}


static int
pds_blob_check_grow(pds_blob_check_t *c, size_t n)
{
    pds_blob_item_t  *more;

    if (n <= c->cap) {
        return 0;
    }

    more = realloc(c->items, n * sizeof(pds_blob_item_t));
    if (more == NULL) {
        return ENOMEM;
    }

    c->items = more;
    c->cap = n;

    return 0;
}


/* ---- rows ------------------------------------------------------------- */


/* up to budget rows after the cursor into c->items: their count, or -1 */
static long
pds_blob_check_read_rows(pds_blob_check_t *c, size_t budget, int *last)
{
    int          rc;
    long         n;
    MDB_txn     *txn;
    MDB_val      key, val;
    MDB_cursor  *cur;
    pds_blob_t   b;
    pds_blob_item_t  *it;

    *last = 0;

    if (pds_store_read_begin(c->store, &txn) != 0) {
        return -1;
    }

    if (mdb_cursor_open(txn, c->store->db_blobs, &cur) != 0) {
        mdb_txn_abort(txn);
        return -1;
    }

    n = 0;

    if (c->have_cursor) {
        key.mv_data = c->cursor;
        key.mv_size = PDS_BLOB_KEY_LEN;
        rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);

        if (rc == 0 && key.mv_size == PDS_BLOB_KEY_LEN
            && memcmp(key.mv_data, c->cursor, PDS_BLOB_KEY_LEN) == 0)
        {
            rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
        }

    } else {
        rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
    }

    for ( ; rc == 0 && (size_t) n < budget;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
    {
        if (key.mv_size != PDS_BLOB_KEY_LEN) {
            continue;
        }

        memcpy(c->cursor, key.mv_data, PDS_BLOB_KEY_LEN);
        c->have_cursor = 1;

        it = &c->items[n];
        memset(it, 0, sizeof(pds_blob_item_t));
        it->uid = pds_store_get_u64(key.mv_data);

        if (pds_cid_from_bytes(&it->cid, (uint8_t *) key.mv_data + PDS_UID_LEN,
                               PDS_CID_BIN_LEN) != 0
            || pds_blob_get(c->store, txn, it->uid, &it->cid, &b) != 0)
        {
            c->stats.errors++;
            continue;
        }

        it->size = b.size;
        n++;
    }

    if (rc == MDB_NOTFOUND) {
        *last = 1;

    } else if (rc != 0) {
        n = -1;
    }

    mdb_cursor_close(cur);
    mdb_txn_abort(txn);

    return n;
}


/*
 * In one write transaction: the rows of the bad items deleted when row and
 * file are still as found.  Each item's kind is set to 0 when it turned
 * out fine, or negated when its row was deleted.
 */
static int
pds_blob_check_repair_rows(pds_blob_check_t *c, size_t n)
{
    int               rc, now;
    char              rel[PDS_BLOB_CHECK_PATH], path[PDS_BLOB_CHECK_PATH];
    size_t            i;
    uint8_t           k[PDS_BLOB_KEY_LEN];
    MDB_txn          *txn;
    MDB_val           key;
    pds_blob_t        b;
    pds_blob_item_t  *it;

    rc = pds_store_write_begin(c->store, &txn);
    if (rc != 0) {
        return rc;
    }

    for (i = 0; i < n; i++) {
        it = &c->items[i];

        if (it->kind <= 0) {
            continue;
        }

        /* the row as read, and the file as found: under the write lock no
         * deletion of the row (after which its file goes) can come between */

        if (pds_blob_get(c->store, txn, it->uid, &it->cid, &b) != 0
            || pds_blob_check_paths(c, it->uid, &it->cid, rel, sizeof(rel),
                                    path, sizeof(path)) != 0)
        {
            it->kind = 0;
            continue;
        }

        it->size = b.size;
        now = pds_blob_check_file(c, path, it);

        /* moved aside by a write dropping the blob, which puts it back
         * if the row is there: not missing */
        if (now == PDS_BLOB_CHECK_MISSING && pds_blob_check_aside(path)) {
            now = 0;
        }

        if (now <= 0) {
            it->kind = 0;               /* an upload put it back */
            continue;
        }

        it->kind = now;

        pds_store_put_u64(k, it->uid);
        pds_cid_to_bytes(&it->cid, k + PDS_UID_LEN);
        key.mv_data = k;
        key.mv_size = sizeof(k);

        rc = mdb_del(txn, c->store->db_blobs, &key, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND) {
            mdb_txn_abort(txn);
            return rc;
        }

        it->kind = -now;
    }

    return mdb_txn_commit(txn);
}


static int
pds_blob_check_rows(pds_blob_check_t *c, size_t budget)
{
    int               rc, kind, last, bad, fixed;
    long              n, i;
    char              rel[PDS_BLOB_CHECK_PATH], path[PDS_BLOB_CHECK_PATH];
    pds_blob_item_t  *it;

    n = pds_blob_check_read_rows(c, budget, &last);
    if (n < 0) {
        return EIO;
    }

    bad = 0;

    for (i = 0; i < n; i++) {
        it = &c->items[i];
        c->stats.rows++;

        if (pds_blob_check_paths(c, it->uid, &it->cid, rel, sizeof(rel),
                                 path, sizeof(path)) != 0)
        {
            c->stats.errors++;
            continue;
        }

        kind = pds_blob_check_file(c, path, it);

        if (kind < 0) {
            c->stats.errors++;          /* unreadable: left alone */
            continue;
        }

        it->kind = kind;
        bad += (kind != 0);
    }

    if (bad && c->conf.repair) {
        rc = pds_blob_check_repair_rows(c, (size_t) n);
        if (rc != 0) {
            return rc;
        }
    }

    for (i = 0; bad && i < n; i++) {
        it = &c->items[i];

        if (it->kind == 0) {
            continue;
        }

        fixed = it->kind < 0;
        kind = fixed ? -it->kind : it->kind;

        if (kind == PDS_BLOB_CHECK_MISSING) {
            c->stats.missing++;

        } else {
            c->stats.damaged++;
        }

        pds_blob_check_paths(c, it->uid, &it->cid, rel, sizeof(rel), path,
                             sizeof(path));

        if (fixed) {
            c->stats.repaired++;

            /* the damaged file goes too, unless an upload replaced it */
            if (kind == PDS_BLOB_CHECK_DAMAGED) {
                rc = pds_blob_check_remove(c, path, pds_blob_still_damaged,
                                           it);
                if (rc == 1) {
                    c->stats.removed++;

                } else if (rc < 0) {
                    c->stats.errors++;
                }
            }
        }

        pds_blob_check_tell(c, (pds_blob_check_kind_e) kind, it->uid, rel,
                            fixed);
    }

    if (last) {
        c->phase = 1;
    }

    return 0;
}


/* ---- files ------------------------------------------------------------ */


static int
pds_blob_check_hex16(const char *s, uint64_t *v)
{
    int       i;
    uint64_t  x;

    if (strlen(s) != 16) {
        return 0;
    }

    x = 0;

    for (i = 0; i < 16; i++) {
        if (s[i] >= '0' && s[i] <= '9') {
            x = x << 4 | (uint64_t) (s[i] - '0');

        } else if (s[i] >= 'a' && s[i] <= 'f') {
            x = x << 4 | (uint64_t) (s[i] - 'a' + 10);

        } else {
            return 0;
        }
    }

    *v = x;

    return 1;
}


/* a name the blob code writes: the CID's canonical string */
static int
pds_blob_check_cid_name(const char *name, pds_cid_t *cid)
{
    char    back[PDS_CID_STR_SIZE];
    size_t  len;

    len = strlen(name);

    if (len + 1 != PDS_CID_STR_SIZE
        || pds_cid_parse(cid, name, len) != 0)
    {
        return 0;
    }

    pds_cid_format(cid, back);

    return strcmp(back, name) == 0;
}


/* the next folder blobs/<uid>/ into c->sub; 0 when there is none left */
static int
pds_blob_check_next_dir(pds_blob_check_t *c)
{
    char            path[PDS_BLOB_CHECK_PATH + 512], rel[64];
    uint64_t        uid;
    struct stat     st;
    struct dirent  *e;

    while ((e = readdir(c->top)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }

        snprintf(path, sizeof(path), "%s/%s", c->root, e->d_name);

        if (pds_blob_check_hex16(e->d_name, &uid)
            && lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
        {
            c->sub = opendir(path);
            if (c->sub == NULL) {
                c->stats.errors++;
                continue;
            }

            c->sub_uid = uid;
            snprintf(c->sub_name, sizeof(c->sub_name), "%s", e->d_name);
            c->sub_seen = 0;
            c->sub_gone = 0;

            return 1;
        }

        c->stats.unknown++;
        snprintf(rel, sizeof(rel), "blobs/%.50s", e->d_name);
        pds_blob_check_tell(c, PDS_BLOB_CHECK_UNKNOWN, 0, rel, 0);
    }

    return 0;
}


/* an emptied folder of a uid without an account goes (repairing) */
static void
pds_blob_check_end_dir(pds_blob_check_t *c)
{
    int       gone;
    char      path[PDS_BLOB_CHECK_PATH + 64];
    MDB_txn  *txn;
    MDB_val   val;

    closedir(c->sub);
    c->sub = NULL;

    if (!c->conf.repair || c->sub_seen != c->sub_gone
        || pds_store_read_begin(c->store, &txn) != 0)
    {
        return;
    }

    gone = pds_store_get_id(txn, c->store->db_accounts, c->sub_uid, &val)
           == PDS_NOTFOUND;
    mdb_txn_abort(txn);

    if (gone) {
        snprintf(path, sizeof(path), "%s/%s", c->root, c->sub_name);
        (void) rmdir(path);
    }
}


/* a file that is no blob's: a check's leftover, or unknown */
static void
pds_blob_check_other(pds_blob_check_t *c, const char *name,
    const char *path, const char *rel)
{
    int          fixed;
    long         pid;
    char        *end;
    struct stat  st;

    if (strstr(name, PDS_BLOB_CHECK_ASIDE) == NULL) {
        c->stats.unknown++;
        pds_blob_check_tell(c, PDS_BLOB_CHECK_UNKNOWN, c->sub_uid, rel, 0);
        return;
    }

    /*
     * a check or a write's pds_blob_file_drop still running may have moved
     * it aside a moment ago: left to it unless the process that did is
     * gone (the pid ends the name) or it was moved long ago (a rename
     * keeps the mtime, not the ctime)
     */
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        return;
    }

    pid = strtol(strstr(name, PDS_BLOB_CHECK_ASIDE)
                 + sizeof(PDS_BLOB_CHECK_ASIDE) - 1, &end, 10);

    if ((int64_t) st.st_ctime >= c->conf.now - c->conf.grace
        && (pid <= 0 || *end != '\0' || kill((pid_t) pid, 0) == 0
            || errno != ESRCH))
    {
        return;
    }

    c->stats.leftovers++;
    fixed = 0;

    if (c->conf.repair) {
        if (unlink(path) == 0) {
            fixed = 1;
            c->stats.removed++;
            c->sub_gone++;

        } else {
            c->stats.errors++;
        }
    }

    pds_blob_check_tell(c, PDS_BLOB_CHECK_LEFTOVER, c->sub_uid, rel, fixed);
}


/* the files of c->items[0..n) without a row: orphans or young */
static int
pds_blob_check_rowless(pds_blob_check_t *c, size_t n)
{
    int               rc, fixed;
    char              rel[PDS_BLOB_CHECK_PATH], path[PDS_BLOB_CHECK_PATH];
    size_t            i;
    MDB_txn          *txn;
    pds_blob_t        b;
    pds_blob_item_t  *it;

    if (n == 0) {
        return 0;
    }

    rc = pds_store_read_begin(c->store, &txn);
    if (rc != 0) {
        return rc;
    }

    for (i = 0; i < n; i++) {
        it = &c->items[i];
        rc = pds_blob_get(c->store, txn, it->uid, &it->cid, &b);

        if (rc == 0) {
            it->kind = 0;

        } else if (rc == PDS_NOTFOUND) {
            it->kind = pds_blob_still_old(c, NULL, &it->st, NULL)
                       ? PDS_BLOB_CHECK_ORPHAN : PDS_BLOB_CHECK_YOUNG;

        } else {
            it->kind = 0;
            c->stats.errors++;
        }
    }

    mdb_txn_abort(txn);

    for (i = 0; i < n; i++) {
        it = &c->items[i];

        if (it->kind == 0
            || pds_blob_check_paths(c, it->uid, &it->cid, rel, sizeof(rel),
                                    path, sizeof(path)) != 0)
        {
            continue;
        }

        fixed = 0;

        if (it->kind == PDS_BLOB_CHECK_YOUNG) {
            c->stats.young++;

        } else {
            c->stats.orphans++;

            if (c->conf.repair) {
                rc = pds_blob_check_remove(c, path, pds_blob_still_old, NULL);

                if (rc == 1) {
                    fixed = 1;
                    c->stats.removed++;
                    if (it->uid == c->sub_uid) {
                        c->sub_gone++;
                    }

                } else if (rc < 0) {
                    c->stats.errors++;
                }
            }
        }

        pds_blob_check_tell(c, (pds_blob_check_kind_e) it->kind, it->uid,
                            rel, fixed);
    }

    return 0;
}


static int
pds_blob_check_files(pds_blob_check_t *c, size_t budget)
{
    char              path[PDS_BLOB_CHECK_PATH + 1024], rel[600];
    size_t            n, seen;
    struct dirent    *e;
    pds_blob_item_t  *it;

    if (c->top == NULL) {
        c->top = opendir(c->root);

        if (c->top == NULL) {
            c->phase = 2;
            return errno == ENOENT ? 0 : errno;
        }
    }

    n = 0;

    for (seen = 0; seen < budget; ) {
        if (c->sub == NULL && !pds_blob_check_next_dir(c)) {
            c->phase = 2;
            break;
        }

        e = readdir(c->sub);

        if (e == NULL) {
            /* the rows of this folder's files first: sub_gone counts */
            if (pds_blob_check_rowless(c, n) != 0) {
                return EIO;
            }
            n = 0;
            pds_blob_check_end_dir(c);
            continue;
        }

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }

        seen++;
        c->sub_seen++;

        snprintf(path, sizeof(path), "%s/%s/%s", c->root, c->sub_name,
                 e->d_name);
        snprintf(rel, sizeof(rel), "blobs/%s/%.500s", c->sub_name, e->d_name);

        it = &c->items[n];
        memset(it, 0, sizeof(pds_blob_item_t));
        it->uid = c->sub_uid;

        if (!pds_blob_check_cid_name(e->d_name, &it->cid)
            || lstat(path, &it->st) != 0 || !S_ISREG(it->st.st_mode))
        {
            pds_blob_check_other(c, e->d_name, path, rel);
            continue;
        }

        c->stats.files++;
        c->stats.bytes += (uint64_t) it->st.st_size;
        n++;
    }

    return pds_blob_check_rowless(c, n) != 0 ? EIO : 0;
}


/* ---- the check -------------------------------------------------------- */


pds_blob_check_t *
pds_blob_check_create(pds_store_t *store, const char *data_dir,
    const pds_blob_check_conf_t *conf)
{
    int                m;
    pds_blob_check_t  *c;

    c = calloc(1, sizeof(pds_blob_check_t));
    if (c == NULL) {
        return NULL;
    }

    m = snprintf(c->root, sizeof(c->root), "%s/blobs", data_dir);
    if (m < 0 || (size_t) m >= sizeof(c->root) - 200) {
        free(c);
        return NULL;
    }

    c->store = store;
    c->conf = *conf;
    c->pid = (long) getpid();

    if (c->conf.grace <= 0) {
        c->conf.grace = PDS_BLOB_CHECK_GRACE;
    }

    return c;
}


int
pds_blob_check_step(pds_blob_check_t *c, size_t budget, int *done)
{
    int  rc;

    *done = 0;

    if (budget == 0) {
        budget = 1;
    }

    if (pds_blob_check_grow(c, budget) != 0) {
        *done = 1;
        return ENOMEM;
    }

    rc = 0;

    if (c->phase == 0) {
        rc = pds_blob_check_rows(c, budget);

    } else if (c->phase == 1) {
        rc = pds_blob_check_files(c, budget);
    }

    if (rc != 0) {
        c->phase = 2;
    }

    *done = (c->phase == 2);

    return rc;
}


const pds_blob_check_stats_t *
pds_blob_check_stats(pds_blob_check_t *c)
{
    return &c->stats;
}


void
pds_blob_check_free(pds_blob_check_t *c)
{
    if (c == NULL) {
        return;
    }

    if (c->sub) {
        closedir(c->sub);
    }

    if (c->top) {
        closedir(c->top);
    }

    free(c->items);
    free(c);
}


int
pds_blob_check_run(pds_store_t *store, const char *data_dir,
    const pds_blob_check_conf_t *conf, pds_blob_check_stats_t *stats)
{
    int                rc, done;
    pds_blob_check_t  *c;

    c = pds_blob_check_create(store, data_dir, conf);
    if (c == NULL) {
        return ENOMEM;
    }

    do {
        rc = pds_blob_check_step(c, 256, &done);
    } while (rc == 0 && !done);

    *stats = c->stats;
    pds_blob_check_free(c);

    return rc;
}

