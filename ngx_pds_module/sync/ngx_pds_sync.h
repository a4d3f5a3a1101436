/*
 * ngx_pds_module: the sync layer's private header, included by the
 * files of sync/ only.  What the module and dispatch call of it (the
 * method table, the configuration and process hooks) is declared in
 * ngx_pds_methods.h.
 *
 * The files, each using only those below it:
 *
 *   ngx_pds_sync.c        the method table, the hooks (the commit hook),
 *                         the JSON reads (getLatestCommit, getHead,
 *                         getRepoStatus, listRepos, listBlobs)
 *   ngx_pds_car_stream.c  the CAR answers: getRepo / getCheckout streamed,
 *                         getRecord, getBlocks
 *   ngx_pds_firehose.c    subscribeRepos: subscribers, their output, the
 *                         wake-up handler, the worker's exit
 *   ngx_pds_backfill.c    the cursor rules: where a subscriber starts
 *   ngx_pds_crawl.c       requestCrawl at the relays after a commit
 *   ngx_pds_sync_args.c   the parameters the sync reads share
 *   ngx_pds_websocket.c   RFC 6455: handshake, frames out and in, close
 *   ngx_pds_wake.c        the latest seq in shared memory, the poll timer,
 *                         wake-ups across workers
 *   ngx_pds_retention.c   events older than the backfill window removed
 */

#ifndef NGX_PDS_SYNC_H
#define NGX_PDS_SYNC_H

#include "ngx_pds.h"


/* ---- ngx_pds_retention.c ----------------------------------------------- */

ngx_int_t ngx_pds_retention_init_process(ngx_cycle_t *cycle);


/* ---- ngx_pds_websocket.c ----------------------------------------------- */

#define NGX_PDS_WS_CONT            0x0
#define NGX_PDS_WS_TEXT            0x1
#define NGX_PDS_WS_BINARY          0x2
#define NGX_PDS_WS_CLOSE           0x8
#define NGX_PDS_WS_PING            0x9
#define NGX_PDS_WS_PONG            0xa

#define NGX_PDS_WS_NORMAL          1000        /* close codes */
#define NGX_PDS_WS_GOING_AWAY      1001
#define NGX_PDS_WS_PROTOCOL        1002
#define NGX_PDS_WS_INVALID_DATA    1007
#define NGX_PDS_WS_POLICY          1008


/* one WebSocket connection, taken over from an HTTP/1.1 request */
typedef struct {
    ngx_http_request_t    *request;
    ngx_connection_t      *conn;

    u_char                *out;           /* pending bytes: [pos, len) */
    size_t                 out_pos;
    size_t                 out_len;
    size_t                 out_cap;

    u_char                 hdr[14];       /* incoming frame header */
    size_t                 hdr_len;
    uint64_t               length;        /* of the frame's payload */
    uint64_t               payload;       /* bytes left in the frame */
    u_char                 ctl[125];      /* control frame payload */
    size_t                 ctl_len;
    ngx_uint_t             opcode;
    u_char                 utf8[3];       /* a text message's incomplete */
    size_t                 utf8_len;      /* UTF-8 sequence so far */

    unsigned               closing:1;     /* a close frame is queued */
    unsigned               alive:1;       /* a frame came in */
    unsigned               in_frame:1;    /* reading a payload */
    unsigned               message:1;     /* a data message goes on */
    unsigned               text:1;        /* ... and it is text */
    unsigned               discard:1;     /* input is read and dropped */
} ngx_pds_ws_t;


#define ngx_pds_ws_pending(ws)  ((ws)->out_len - (ws)->out_pos)

/* the upgrade request's checks: NGX_OK (*key set), or ngx_pds_error() */
ngx_int_t ngx_pds_ws_check(ngx_pds_ctx_t *ctx, ngx_str_t *key);
/* queues the 101 answer for key */
ngx_int_t ngx_pds_ws_init(ngx_pds_ws_t *ws, ngx_http_request_t *r,
    ngx_str_t *key);
/* the connection is the WebSocket's from here on: NGX_DONE */
ngx_int_t ngx_pds_ws_takeover(ngx_pds_ws_t *ws,
    ngx_http_event_handler_pt read, ngx_http_event_handler_pt write);
ngx_int_t ngx_pds_ws_frame(ngx_pds_ws_t *ws, ngx_uint_t opcode,
    const u_char *data, size_t n);
ngx_int_t ngx_pds_ws_close_frame(ngx_pds_ws_t *ws, ngx_uint_t code);
/* writes what is pending: NGX_OK (all), NGX_AGAIN (socket full), error */
ngx_int_t ngx_pds_ws_send(ngx_pds_ws_t *ws);
/* reads and answers client frames: NGX_OK, or NGX_DONE to close now */
ngx_int_t ngx_pds_ws_read(ngx_pds_ws_t *ws);


/* ---- ngx_pds_wake.c ---------------------------------------------------- */

/* one tenant in one worker */
typedef struct {
    ngx_pds_env_t         *env;
    ngx_atomic_uint_t     *shm_seq;       /* the last seq, all workers */
    ngx_atomic_uint_t      seen;          /* *shm_seq when last looked */
    uint64_t               known;         /* the last seq seen in LMDB */
    ngx_queue_t            subs;          /* the firehose's subscribers */
    ngx_uint_t             nsubs;
    ngx_event_t            wake;          /* posted: new events */
} ngx_pds_wake_env_t;


ngx_int_t ngx_pds_wake_init_conf(ngx_conf_t *cf);
/* handler: what a wake-up runs, with the tenant's ngx_pds_wake_env_t */
ngx_int_t ngx_pds_wake_init_process(ngx_cycle_t *cycle,
    ngx_event_handler_pt handler);
void ngx_pds_wake_exit_process(void);
ngx_pds_wake_env_t *ngx_pds_wake_env(ngx_pds_env_t *env);
ngx_pds_wake_env_t *ngx_pds_wake_envs(ngx_uint_t *n);
/* new events were committed (in this worker): wake every worker */
void ngx_pds_wake_notify(ngx_pds_ctx_t *ctx);
/* a subscriber comes or goes: the poll timer runs while there are any */
void ngx_pds_wake_attach(ngx_pds_wake_env_t *we, ngx_queue_t *q);
void ngx_pds_wake_detach(ngx_pds_wake_env_t *we, ngx_queue_t *q);


/* ---- ngx_pds_sync_args.c ----------------------------------------------- */

/* each: NGX_OK, or the status of the refusal (ngx_pds_error) */
ngx_int_t ngx_pds_sync_param(ngx_pds_ctx_t *ctx, const char *name,
    ngx_str_t *v);
ngx_int_t ngx_pds_sync_repo(ngx_pds_ctx_t *ctx, pds_account_t *acc,
    ngx_uint_t always);
ngx_int_t ngx_pds_sync_limit(ngx_pds_ctx_t *ctx, ngx_uint_t *limit);
ngx_int_t ngx_pds_sync_since(ngx_pds_ctx_t *ctx, uint64_t *since);


/* ---- ngx_pds_backfill.c ------------------------------------------------ */

/* where a subscriber starts: NGX_OK, NGX_DECLINED (future cursor), error */
ngx_int_t ngx_pds_backfill_start(ngx_pds_ctx_t *ctx, ngx_uint_t has,
    uint64_t cursor, uint64_t *start, ngx_uint_t *outdated);


/* ---- ngx_pds_crawl.c --------------------------------------------------- */

void ngx_pds_crawl_init_process(void);
void ngx_pds_crawl_notify(ngx_pds_ctx_t *ctx);


/* ---- ngx_pds_car_stream.c ---------------------------------------------- */

ngx_int_t ngx_pds_get_repo(ngx_pds_ctx_t *ctx);
ngx_int_t ngx_pds_get_checkout(ngx_pds_ctx_t *ctx);
ngx_int_t ngx_pds_get_record(ngx_pds_ctx_t *ctx);
ngx_int_t ngx_pds_get_blocks(ngx_pds_ctx_t *ctx);


/* ---- ngx_pds_firehose.c ------------------------------------------------ */

ngx_int_t ngx_pds_subscribe_repos(ngx_pds_ctx_t *ctx);
ngx_int_t ngx_pds_firehose_init_process(ngx_cycle_t *cycle);
void ngx_pds_firehose_exit_process(void);

#endif /* NGX_PDS_SYNC_H */
