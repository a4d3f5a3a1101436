/*
 * ngx_pds_module core: blob hygiene, nginx's temporary files (see
 * pds_blob_check.h).  Request bodies (uploads, imported CARs) are spooled
 * by nginx to its client_body_temp_path and removed when the request
 * ends; a worker killed meanwhile leaves its files behind.
 */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pds_blob_check.h"


#define PDS_BLOB_CHECK_PATH  4096


static void
pds_blob_check_temp_dir(const char *dir, int depth,
    const pds_blob_check_conf_t *conf, pds_blob_check_stats_t *stats)
{
    int             fixed;
    DIR            *d;
    char            path[PDS_BLOB_CHECK_PATH];
    struct stat     st;
    struct dirent  *e;

    d = opendir(dir);
    if (d == NULL) {
        stats->errors++;
        return;
    }

    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }

        if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name)
            >= (int) sizeof(path)
            || lstat(path, &st) != 0)
        {
            continue;
        }

        if (S_ISDIR(st.st_mode)) {
            if (depth < 3) {
                pds_blob_check_temp_dir(path, depth + 1, conf, stats);
            }
            continue;
        }

        if (!S_ISREG(st.st_mode)
            || (int64_t) st.st_mtime >= conf->now - conf->grace)
        {
            continue;
        }

        stats->leftovers++;
        fixed = 0;

        if (conf->repair) {
            if (unlink(path) == 0) {
                fixed = 1;
                stats->removed++;

            } else {
                stats->errors++;
            }
        }

        if (conf->report) {
            conf->report(conf->report_ctx, PDS_BLOB_CHECK_LEFTOVER, 0, path,
                         fixed);
        }
    }

    closedir(d);
}


int
pds_blob_check_temp(const char *dir, const pds_blob_check_conf_t *conf,
    pds_blob_check_stats_t *stats)
{
    struct stat            st;
    pds_blob_check_conf_t  cf;

    if (stat(dir, &st) != 0) {
        return errno;
    }

    if (!S_ISDIR(st.st_mode)) {
        return ENOTDIR;
    }

    cf = *conf;

    if (cf.grace <= 0) {
        cf.grace = PDS_BLOB_CHECK_GRACE;
    }

    pds_blob_check_temp_dir(dir, 0, &cf, stats);

    return 0;
}
