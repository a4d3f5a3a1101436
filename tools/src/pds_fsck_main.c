/*
 * pds-fsck: checks a tenant's data directory while nginx runs (see
 * core/pds_blob_check.h).  Used by tools/pdsadmin's "blobs check" verb.
 *
 *   pds-fsck blobs <data directory> [--repair] [--verify]
 *                  [--grace SECONDS] [--temp DIR]
 *
 * Prints one line per finding, then a summary as one line of JSON.  Exits
 * 0 when nothing is wrong (or everything found was repaired), 3 when
 * problems remain (reported only, or not repairable), 1 when the check
 * failed, 2 on a usage error.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

#include "pds_blob_check.h"
#include "pds_store.h"


static const char  *pds_fsck_kinds[] = {
    "", "missing", "damaged", "orphan", "young", "leftover", "unknown"
};


static void
pds_fsck_usage(FILE *f)
{
    fprintf(f, "usage: pds-fsck blobs <data directory> [--repair] [--verify]"
               " [--grace SECONDS] [--temp DIR]\n");
}


static void
pds_fsck_report(void *ctx, pds_blob_check_kind_e kind, uint64_t uid,
    const char *name, int fixed)
{
    const char  *what;

    (void) ctx;
    (void) uid;

    switch (kind) {

    case PDS_BLOB_CHECK_MISSING:
        what = fixed ? "row deleted: listed by listMissingBlobs until "
                       "uploaded again"
                     : "a blob row without its file";
        break;

    case PDS_BLOB_CHECK_DAMAGED:
        what = fixed ? "row and file deleted: listed by listMissingBlobs "
                       "until uploaded again"
                     : "the file does not match its row (size or hash)";
        break;

    case PDS_BLOB_CHECK_ORPHAN:
        what = fixed ? "removed" : "a file without a row, past the grace";
        break;

    case PDS_BLOB_CHECK_YOUNG:
        what = "a file without a row, within the grace (an upload in "
               "flight): kept";
        break;

    case PDS_BLOB_CHECK_LEFTOVER:
        what = fixed ? "removed" : "a stale leftover file";
        break;

    default:
        what = "not a blob's name: left alone";
        break;
    }

    printf("%-8s %s: %s\n", pds_fsck_kinds[kind], name, what);
}


int
main(int argc, char **argv)
{
    int                     i, rc, problems;
    char                    err[512], lmdb[4096];
    char                   *end;
    double                  secs;
    const char             *data, *temp;
    struct stat             sb;
    pds_store_t            *s;
    struct timeval          t0, t1;
    pds_blob_check_conf_t   conf;
    pds_blob_check_stats_t  st;

    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        pds_fsck_usage(stdout);
        return 0;
    }

    if (argc < 3 || strcmp(argv[1], "blobs") != 0) {
        pds_fsck_usage(stderr);
        return 2;
    }

    memset(&conf, 0, sizeof(conf));
    memset(&st, 0, sizeof(st));
    data = argv[2];
    temp = NULL;

    for (i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--repair") == 0) {
            conf.repair = 1;

        } else if (strcmp(argv[i], "--verify") == 0) {
            conf.verify = 1;

        } else if (strcmp(argv[i], "--grace") == 0 && i + 1 < argc) {
            errno = 0;
            conf.grace = strtoll(argv[++i], &end, 10);
            if (errno || *end || conf.grace < 1) {
                pds_fsck_usage(stderr);
                return 2;
            }

        } else if (strcmp(argv[i], "--temp") == 0 && i + 1 < argc) {
            temp = argv[++i];

        } else {
            pds_fsck_usage(stderr);
            return 2;
        }
    }

    conf.now = (int64_t) time(NULL);

    conf.report = pds_fsck_report;

    snprintf(lmdb, sizeof(lmdb), "%s/lmdb/data.mdb", data);
    if (stat(lmdb, &sb) != 0) {
        fprintf(stderr, "pds-fsck: %s is not a tenant's data directory (no "
                        "lmdb/data.mdb in it)\n", data);
        return 1;
    }

    snprintf(lmdb, sizeof(lmdb), "%s/lmdb", data);

    /* map size 0: the one the environment has; nginx may have it open */
    if (pds_store_open(lmdb, 0, 126, &s, err, sizeof(err)) != 0) {
        fprintf(stderr, "pds-fsck: %s\n", err);
        return 1;
    }

    gettimeofday(&t0, NULL);

    rc = pds_blob_check_run(s, data, &conf, &st);

    if (rc == 0 && temp) {
        rc = pds_blob_check_temp(temp, &conf, &st);
        if (rc != 0) {
            fprintf(stderr, "pds-fsck: %s: %s\n", temp, strerror(rc));
        }
    }

    pds_store_close(s);

    if (rc != 0) {
        fprintf(stderr, "pds-fsck: the check of %s failed: %s\n", data,
                rc > 0 ? strerror(rc) : mdb_strerror(rc));
        return 1;
    }

    gettimeofday(&t1, NULL);
    secs = (double) (t1.tv_sec - t0.tv_sec)
           + (double) (t1.tv_usec - t0.tv_usec) / 1e6;

    printf("{\"rows\":%llu,\"files\":%llu,\"bytes\":%llu,\"missing\":%llu,"
           "\"damaged\":%llu,\"orphans\":%llu,\"young\":%llu,"
           "\"leftovers\":%llu,\"unknown\":%llu,\"repaired\":%llu,"
           "\"removed\":%llu,\"errors\":%llu,\"repair\":%s,\"verify\":%s,"
           "\"seconds\":%.3f}\n",
           (unsigned long long) st.rows, (unsigned long long) st.files,
           (unsigned long long) st.bytes, (unsigned long long) st.missing,
           (unsigned long long) st.damaged, (unsigned long long) st.orphans,
           (unsigned long long) st.young, (unsigned long long) st.leftovers,
           (unsigned long long) st.unknown, (unsigned long long) st.repaired,
           (unsigned long long) st.removed, (unsigned long long) st.errors,
           conf.repair ? "true" : "false", conf.verify ? "true" : "false",
           secs);

    /* what is left wrong: all of it when only reporting */
    problems = st.errors > 0
               || (conf.repair ? st.repaired < st.missing + st.damaged
                               : st.missing + st.damaged + st.orphans
                                 + st.leftovers > 0);

    return problems ? 3 : 0;
}
