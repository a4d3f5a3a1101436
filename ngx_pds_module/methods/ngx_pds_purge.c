/*
 * ngx_pds_module: the rest of an account's deletion, for
 * com.atproto.server.deleteAccount (methods/ngx_pds_lifecycle.c) and
 * com.atproto.admin.deleteAccount (methods/ngx_pds_admin_account.c), once
 * the account is unlinked (core: pds_account_delete).  Its rows are purged
 * in bounded transactions, so that a big account never holds the write
 * lock for long, then its blob files are removed (thread pool); purges an
 * earlier deletion left behind (nginx stopped in the middle) are finished
 * too.  The answer, 200 and empty, comes once everything is gone.
 */

#include <dirent.h>

#include "ngx_pds_methods_int.h"


#define NGX_PDS_PURGE_BUDGET  4000     /* rows per transaction */


static ngx_int_t ngx_pds_purge_next(ngx_pds_ctx_t *ctx);


/* <data dir>/blobs/<uid>: the files, then the folder (thread) */
static void
ngx_pds_purge_files_work(void *data, ngx_log_t *log)
{
    DIR                 *d;
    char                 path[NGX_MAX_PATH];
    char                *dir;
    size_t               n;
    struct dirent       *e;
    ngx_pds_purge_run_t *run = data;

    dir = run->blob_dir;

    d = opendir(dir);
    if (d == NULL) {
        if (ngx_errno != NGX_ENOENT) {
            ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                          "pds: opendir(\"%s\") failed", dir);
        }
        return;
    }

    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }

        n = ngx_strlen(dir) + 1 + ngx_strlen(e->d_name);
        if (n + 1 > sizeof(path)) {
            continue;
        }

        *ngx_sprintf((u_char *) path, "%s/%s", dir, e->d_name) = '\0';

        if (unlink(path) == -1 && ngx_errno != NGX_ENOENT) {
            ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                          "pds: unlink(\"%s\") failed", path);
        }
    }

    closedir(d);

    if (rmdir(dir) == -1 && ngx_errno != NGX_ENOENT) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "pds: rmdir(\"%s\") failed", dir);
    }
}


/* one bounded step: of the purge at hand, or of one left behind */
static int
ngx_pds_purge_txn(pds_store_t *store, MDB_txn *txn, void *data)
{
    int                   rc;
    uint64_t              before;
    ngx_pds_purge_run_t  *run = data;

    if (!run->purging) {
        rc = pds_purge_find(store, txn, 0, &run->purge);
        if (rc == PDS_NOTFOUND) {
            run->all_done = 1;
            return 0;
        }

        if (rc != 0) {
            return rc;
        }

        run->purging = 1;
    }

    before = run->purge.removed;

    rc = pds_purge_step(store, txn, &run->purge, NGX_PDS_PURGE_BUDGET);

    run->rows += run->purge.removed - before;

    if (rc == PDS_NOTFOUND) {
        run->purging = 0;
        run->rm_uid = run->purge.uid;
        return 0;
    }

    return rc;
}


static ngx_int_t
ngx_pds_purged(ngx_pds_ctx_t *ctx)
{
    u_char               *p;
    ngx_pds_purge_run_t  *run = ctx->data;

    run->txns++;

    if (run->result != 0) {
        /* the marker stays: the next deletion takes the purge up again */
        ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                      "pds: purging the rows of a deleted account failed: "
                      "%d", run->result);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (run->rm_uid) {
        p = ngx_pnalloc(ctx->request->pool,
                        ctx->conf->data_dir.len + sizeof("/blobs/") + 16);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *ngx_sprintf(p, "%V/blobs/%016xL", &ctx->conf->data_dir,
                     run->rm_uid) = '\0';

        run->blob_dir = (char *) p;
        run->rm_uid = 0;

        return ngx_pds_thread_post(ctx, ngx_pds_purge_files_work, run,
                                   ngx_pds_purge_next);
    }

    return ngx_pds_purge_next(ctx);
}


static ngx_int_t
ngx_pds_purge_next(ngx_pds_ctx_t *ctx)
{
    ngx_pds_purge_run_t  *run = ctx->data;

    if (run->all_done) {
        if (run->did) {
            ngx_log_error(NGX_LOG_NOTICE, ctx->request->connection->log, 0,
                          "pds: account %s deleted: %uL rows purged in %ui "
                          "transactions", run->did, run->rows, run->txns);
        }

        return ngx_pds_send_text(ctx->request, NGX_HTTP_OK, "text/plain",
                                 NULL, 0);
    }

    return ngx_pds_txn_post(ctx, ngx_pds_purge_txn, run, &run->result,
                            ngx_pds_purged);
}


ngx_int_t
ngx_pds_purge_run(ngx_pds_ctx_t *ctx, ngx_pds_purge_run_t *run)
{
    ctx->data = run;

    return ngx_pds_purge_next(ctx);
}
