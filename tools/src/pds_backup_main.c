/*
 * pds-backup: a hot backup of one tenant's data directory while nginx
 * runs (see core/pds_backup.h).  Used by tools/pdsadmin's "backup" verb.
 *
 *   pds-backup <data directory> <new backup directory>
 *
 * Prints what it copied as one line of JSON; exits 0, or 1 with a message.
 */

#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "pds_backup.h"


int
main(int argc, char **argv)
{
    char                err[512];
    double              secs;
    struct timeval      t0, t1;
    pds_backup_stats_t  st;

    if (argc != 3 || strcmp(argv[1], "--help") == 0) {
        fprintf(stderr, "usage: pds-backup <data directory> "
                        "<new backup directory>\n");
        return argc == 2 ? 0 : 2;
    }

    gettimeofday(&t0, NULL);

    if (pds_backup(argv[1], argv[2], &st, err, sizeof(err)) != 0) {
        fprintf(stderr, "pds-backup: %s\n", err);
        return 1;
    }

    gettimeofday(&t1, NULL);
    secs = (double) (t1.tv_sec - t0.tv_sec)
           + (double) (t1.tv_usec - t0.tv_usec) / 1e6;

    printf("{\"accounts\":%llu,\"lastSeq\":%llu,\"dbBytes\":%llu,"
           "\"blobs\":%llu,\"blobBytes\":%llu,\"linked\":%llu,"
           "\"missing\":%llu,\"seconds\":%.3f}\n",
           (unsigned long long) st.accounts,
           (unsigned long long) st.last_seq,
           (unsigned long long) st.db_bytes,
           (unsigned long long) st.blobs,
           (unsigned long long) st.blob_bytes,
           (unsigned long long) st.linked,
           (unsigned long long) st.missing, secs);

    return 0;
}
