/*
 * ngx_pds_module core: a hot backup of a tenant's data directory (see
 * pds_backup.h).
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>

#include "pds_backup.h"
#include "pds_blob.h"
#include "pds_cid.h"
#include "pds_store.h"


#define PDS_BACKUP_PATH  4096


static int
pds_backup_fail(char *err, size_t err_len, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    vsnprintf(err, err_len, fmt, args);
    va_end(args);

    return -1;
}


/* out does not exist (it is made) or is an empty directory */
static int
pds_backup_target(const char *out, char *err, size_t err_len)
{
    DIR            *d;
    struct dirent  *e;

    if (mkdir(out, 0700) == 0) {
        return 0;
    }

    if (errno != EEXIST) {
        return pds_backup_fail(err, err_len, "cannot create %s: %s", out,
                               strerror(errno));
    }

    d = opendir(out);
    if (d == NULL) {
        return pds_backup_fail(err, err_len, "%s: %s", out, strerror(errno));
    }

    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            closedir(d);
            return pds_backup_fail(err, err_len,
                                   "%s is not empty: back up into a new "
                                   "directory", out);
        }
    }

    closedir(d);

    return 0;
}


/* the compacting copy of <data>/lmdb into <out>/lmdb */
static int
pds_backup_db(const char *data_dir, const char *out, pds_backup_stats_t *st,
    char *err, size_t err_len)
{
    int           rc;
    char          src[PDS_BACKUP_PATH], dst[PDS_BACKUP_PATH];
    MDB_env      *env;
    struct stat   sb;

    snprintf(src, sizeof(src), "%s/lmdb", data_dir);
    snprintf(dst, sizeof(dst), "%s/lmdb", out);

    if (stat(src, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        return pds_backup_fail(err, err_len,
                               "%s is not a tenant's data directory (no "
                               "lmdb/ in it)", data_dir);
    }

    if (mkdir(dst, 0700) != 0) {
        return pds_backup_fail(err, err_len, "cannot create %s: %s", dst,
                               strerror(errno));
    }

    rc = mdb_env_create(&env);
    if (rc != 0) {
        return pds_backup_fail(err, err_len, "LMDB: %s", mdb_strerror(rc));
    }

    mdb_env_set_maxdbs(env, 64);

    /* the live environment: read-only, a reader slot in its lock file */
    rc = mdb_env_open(env, src, MDB_RDONLY | MDB_NOTLS, 0600);
    if (rc == 0) {
        rc = mdb_env_copy2(env, dst, MDB_CP_COMPACT);
    }

    mdb_env_close(env);

    if (rc != 0) {
        return pds_backup_fail(err, err_len, "copying %s: %s", src,
                               mdb_strerror(rc));
    }

    snprintf(dst, sizeof(dst), "%s/lmdb/data.mdb", out);
    if (stat(dst, &sb) == 0) {
        st->db_bytes = (uint64_t) sb.st_size;
    }

    return 0;
}


/* mkdir -p of the directory part of path (below root, which exists) */
static int
pds_backup_mkdirs(char *path, size_t root_len)
{
    char  *p;

    for (p = path + root_len + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            *p = '/';
            return -1;
        }
        *p = '/';
    }

    return 0;
}


static int
pds_backup_copy_file(const char *from, const char *to, uint64_t *bytes)
{
    int      in, out, rc;
    char     buf[65536];
    ssize_t  n;

    in = open(from, O_RDONLY | O_CLOEXEC);
    if (in == -1) {
        return -1;
    }

    out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out == -1) {
        close(in);
        return -1;
    }

    rc = 0;

    while ((n = read(in, buf, sizeof(buf))) > 0) {
        if (write(out, buf, (size_t) n) != n) {
            rc = -1;
            break;
        }
        *bytes += (uint64_t) n;
    }

    if (n < 0 || fsync(out) != 0) {
        rc = -1;
    }

    close(in);

    if (close(out) != 0) {
        rc = -1;
    }

    if (rc != 0) {
        unlink(to);
    }

    return rc;
}


/* every blob the copied database lists, linked or copied beside it */
static int
pds_backup_blobs(const char *data_dir, const char *out,
    pds_backup_stats_t *st, char *err, size_t err_len)
{
    int            rc;
    char           dir[PDS_BACKUP_PATH], rel[128];
    char           from[PDS_BACKUP_PATH], to[PDS_BACKUP_PATH];
    size_t         n, root_len;
    MDB_txn       *txn;
    MDB_val        key, val;
    uint64_t       uid, seq, copied;
    pds_cid_t      cid;
    struct stat    sb;
    MDB_cursor    *cur;
    pds_store_t   *s;

    snprintf(dir, sizeof(dir), "%s/lmdb", out);

    if (pds_store_open(dir, 0, 16, &s, err, err_len) != 0) {
        return -1;
    }

    rc = pds_store_read_begin(s, &txn);
    if (rc != 0) {
        pds_store_close(s);
        return pds_backup_fail(err, err_len, "reading the copy failed");
    }

    if (pds_store_seq_last(s, txn, &seq) == 0) {
        st->last_seq = seq;
    }

    if (mdb_cursor_open(txn, s->db_accounts, &cur) == 0) {
        while (mdb_cursor_get(cur, &key, &val,
                              st->accounts ? MDB_NEXT : MDB_FIRST) == 0)
        {
            st->accounts++;
        }
        mdb_cursor_close(cur);
    }

    rc = mdb_cursor_open(txn, s->db_blobs, &cur);
    if (rc != 0) {
        mdb_txn_abort(txn);
        pds_store_close(s);
        return pds_backup_fail(err, err_len, "LMDB: %s", mdb_strerror(rc));
    }

    copied = 0;
    snprintf(to, sizeof(to), "%s/blobs", out);
    root_len = strlen(to);

    if (mkdir(to, 0700) != 0 && errno != EEXIST) {
        rc = -1;
        pds_backup_fail(err, err_len, "cannot create %s: %s", to,
                        strerror(errno));
    }

    for (rc = rc ? rc : mdb_cursor_get(cur, &key, &val, MDB_FIRST);
         rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
    {
        /* blob rows: uid (8) + binary CID */
        if (key.mv_size != PDS_UID_LEN + PDS_CID_BIN_LEN) {
            continue;
        }

        uid = pds_store_get_u64(key.mv_data);

        if (pds_cid_from_bytes(&cid, (uint8_t *) key.mv_data + PDS_UID_LEN,
                               PDS_CID_BIN_LEN)
            != 0)
        {
            continue;
        }

        n = pds_blob_path(rel, sizeof(rel), uid, &cid);
        if (n == 0) {
            continue;
        }

        snprintf(from, sizeof(from), "%s/blobs/%s", data_dir, rel);
        snprintf(to, sizeof(to), "%s/blobs/%s", out, rel);

        if (stat(from, &sb) != 0) {
            st->missing++;
            continue;
        }

        if (pds_backup_mkdirs(to, root_len) != 0) {
            rc = -1;
            pds_backup_fail(err, err_len, "cannot create the directory of "
                            "%s: %s", to, strerror(errno));
            break;
        }

        if (link(from, to) == 0) {
            st->linked++;

        } else if (pds_backup_copy_file(from, to, &copied) != 0) {
            if (errno == ENOENT) {
                st->missing++;          /* deleted meanwhile */
                continue;
            }

            rc = -1;
            pds_backup_fail(err, err_len, "cannot copy %s: %s", from,
                            strerror(errno));
            break;
        }

        st->blobs++;
        st->blob_bytes += (uint64_t) sb.st_size;
    }

    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    pds_store_close(s);

    return (rc == 0 || rc == MDB_NOTFOUND) ? 0 : -1;
}


int
pds_backup(const char *data_dir, const char *out_dir,
    pds_backup_stats_t *st, char *err, size_t err_len)
{
    memset(st, 0, sizeof(pds_backup_stats_t));

    if (pds_backup_target(out_dir, err, err_len) != 0
        || pds_backup_db(data_dir, out_dir, st, err, err_len) != 0
        || pds_backup_blobs(data_dir, out_dir, st, err, err_len) != 0)
    {
        return -1;
    }

    return 0;
}
