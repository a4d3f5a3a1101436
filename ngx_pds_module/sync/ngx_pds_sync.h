/*
 * ngx_pds_module: internals shared by the sync reads (ngx_pds_sync.c) and
 * the subscribeRepos firehose (ngx_pds_firehose.c).
 */

#ifndef NGX_PDS_SYNC_H
#define NGX_PDS_SYNC_H

#include "ngx_pds.h"


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

#endif /* NGX_PDS_SYNC_H */
