/*
 * ngx_pds_module: internals shared by the sync reads (ngx_pds_sync.c) and
 * the subscribeRepos firehose (ngx_pds_firehose.c).
 */

#ifndef NGX_PDS_SYNC_H
#define NGX_PDS_SYNC_H

#include "ngx_pds.h"


/* the reference's defaults (PDS_REPO_BACKFILL_LIMIT_MS, maxBuffer 500) */
#define NGX_PDS_FIREHOSE_BACKFILL_MS   (24 * 60 * 60 * 1000)
#define NGX_PDS_FIREHOSE_MAX_LAG       500

/*
 * Until these become directives, a server block may override the defaults
 * with variables ("set $pds_firehose_backfill_ms 2000;").
 */
#define NGX_PDS_FIREHOSE_BACKFILL_VAR  "pds_firehose_backfill_ms"
#define NGX_PDS_FIREHOSE_MAX_LAG_VAR   "pds_firehose_max_lag"

/* other workers look for new events this often while anyone subscribes */
#define NGX_PDS_FIREHOSE_POLL_MS       20
/* ... and read LMDB directly every this many polls, whatever shm says */
#define NGX_PDS_FIREHOSE_RECHECK       50


ngx_int_t ngx_pds_subscribe_repos(ngx_pds_ctx_t *ctx);

ngx_int_t ngx_pds_firehose_init_conf(ngx_conf_t *cf);
ngx_int_t ngx_pds_firehose_init_process(ngx_cycle_t *cycle);
void ngx_pds_firehose_exit_process(ngx_cycle_t *cycle);
/* new events were committed in env (by this worker) */
void ngx_pds_firehose_notify(ngx_pds_ctx_t *ctx);

/* an integer variable of the request, or def when unset / not a number */
ngx_int_t ngx_pds_sync_var(ngx_http_request_t *r, const char *name,
    ngx_int_t def);

#endif /* NGX_PDS_SYNC_H */
