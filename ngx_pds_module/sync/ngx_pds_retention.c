/*
 * ngx_pds_module: firehose event retention.
 *
 * Events sequenced before the backfill window (pds_firehose_backfill) can
 * never be replayed again: a cursor that old starts at the first event
 * inside the window (ngx_pds_backfill.c).  One worker (the first) removes
 * them per tenant, oldest first, in the thread pool: small write
 * transactions of at most NGX_PDS_TRIM_BATCH events each, a few per
 * thread-pool task (the next task is posted at once when more are left), so the write
 * lock is never held for long and writers get in between batches; LMDB
 * reuses the pages they free.  The highest seq removed is kept (meta
 * "events_trimmed"), so a cursor before it is told OutdatedCursor.
 *
 * Beyond the count bound (pds_firehose_backfill_events) the oldest events
 * go too, the same way, so a burst of writes cannot fill the map within
 * the window; a cursor before them is likewise told OutdatedCursor.
 *
 * A pass runs shortly after start-up and then every quarter of the window
 * (between one second and ten minutes).  Events of the last ten seconds
 * always stay, whatever the window or the bound: live subscribers read
 * from the table.
 */

#include "ngx_pds_sync.h"
#include "pds_repo.h"


#define NGX_PDS_TRIM_BATCH     500      /* events per write transaction */
#define NGX_PDS_TRIM_BATCHES   4        /* transactions per task */
#define NGX_PDS_TRIM_START     3000     /* ms after start-up */
#define NGX_PDS_TRIM_MIN       1000     /* ms between passes, at least */
#define NGX_PDS_TRIM_MAX       600000   /* ... and at most */
#define NGX_PDS_TRIM_FLOOR     10000    /* ms: younger events always stay */


typedef struct {
    ngx_pds_srv_conf_t   *conf;
    ngx_event_t           timer;
    ngx_thread_task_t    *task;
    ngx_log_t            *log;

    /* one pass, filled in by the thread */
    int64_t               cutoff;
    int64_t               floor;        /* count bound: never after this */
    size_t                removed;
    size_t                counted;      /* ... removed by the count bound */
    int                   more;
    int                   rc;
} ngx_pds_trim_t;


static void
ngx_pds_trim_work(void *data, ngx_log_t *log)
{
    int              rc, more, over;
    size_t           n, removed, counted;
    MDB_txn         *txn;
    pds_store_t     *store;
    ngx_pds_trim_t  *t = data;

    store = t->conf->env->store;
    t->removed = 0;
    t->counted = 0;
    t->more = 0;
    rc = 0;
    more = 0;
    over = 0;

    for (n = 0; n < NGX_PDS_TRIM_BATCHES; n++) {
        rc = pds_store_write_begin(store, &txn);
        if (rc != 0) {
            break;
        }

        rc = pds_event_trim(store, txn, t->cutoff, NGX_PDS_TRIM_BATCH,
                            &removed, &more);

        /* then the oldest beyond the count bound, in what the batch has
         * left */
        counted = 0;
        over = 0;

        if (rc == 0 && removed < NGX_PDS_TRIM_BATCH
            && t->conf->firehose_backfill_events)
        {
            rc = pds_event_trim_count(store, txn,
                                      t->conf->firehose_backfill_events,
                                      t->floor,
                                      NGX_PDS_TRIM_BATCH - removed,
                                      &counted, &over);
        }

        if (rc != 0 || removed + counted == 0) {
            mdb_txn_abort(txn);
            break;
        }

        rc = mdb_txn_commit(txn);
        if (rc != 0) {
            break;
        }

        t->removed += removed;
        t->counted += counted;

        if (!more && !over) {
            break;
        }
    }

    t->rc = rc;
    t->more = (rc == 0 && (more || over));
}


static ngx_msec_t
ngx_pds_trim_interval(ngx_pds_trim_t *t)
{
    ngx_msec_t  ms;

    ms = t->conf->firehose_backfill / 4;

    return ms < NGX_PDS_TRIM_MIN ? NGX_PDS_TRIM_MIN
           : ms > NGX_PDS_TRIM_MAX ? NGX_PDS_TRIM_MAX : ms;
}


static void
ngx_pds_trim_done(ngx_event_t *ev)
{
    ngx_pds_trim_t  *t = ev->data;

    if (t->rc != 0) {
        ngx_log_error(NGX_LOG_ERR, t->log, 0,
                      "pds: old firehose events of \"%V\" could not be "
                      "removed: %d", &t->conf->hostname, t->rc);

    } else {
        if (t->removed) {
            ngx_log_error(NGX_LOG_INFO, t->log, 0,
                          "pds: %uz firehose events of \"%V\" older than "
                          "the backfill window removed", t->removed,
                          &t->conf->hostname);
        }

        if (t->counted) {
            ngx_log_error(NGX_LOG_INFO, t->log, 0,
                          "pds: %uz firehose events of \"%V\" beyond the "
                          "newest %ui (pds_firehose_backfill_events) "
                          "removed", t->counted, &t->conf->hostname,
                          t->conf->firehose_backfill_events);
        }
    }

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_add_timer(&t->timer, t->more ? 1 : ngx_pds_trim_interval(t));
}


static void
ngx_pds_trim_pass(ngx_event_t *ev)
{
    ngx_msec_t       keep;
    ngx_time_t      *tp;
    ngx_pds_trim_t  *t = ev->data;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    /*
     * Live subscribers read new events from the table too: whatever the
     * window, the last seconds' events stay, so a subscriber a little
     * behind never misses one.
     */
    keep = ngx_max(t->conf->firehose_backfill, NGX_PDS_TRIM_FLOOR);

    tp = ngx_timeofday();
    t->cutoff = (int64_t) tp->sec * 1000 + (int64_t) tp->msec
                - (int64_t) keep;
    t->floor = (int64_t) tp->sec * 1000 + (int64_t) tp->msec
               - NGX_PDS_TRIM_FLOOR;

    if (ngx_thread_task_post(t->conf->thread_pool, t->task) != NGX_OK) {
        ngx_add_timer(&t->timer, ngx_pds_trim_interval(t));
    }
}


ngx_int_t
ngx_pds_retention_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t             i;
    ngx_pds_trim_t        *t;
    ngx_pds_srv_conf_t   **tenants;
    ngx_pds_main_conf_t   *pmcf;

    if (!(ngx_process == NGX_PROCESS_SINGLE
          || (ngx_process == NGX_PROCESS_WORKER && ngx_worker == 0)))
    {
        return NGX_OK;
    }

    pmcf = ngx_pds_main_conf(cycle);
    if (pmcf == NULL) {
        return NGX_OK;
    }

    tenants = pmcf->tenants.elts;

    for (i = 0; i < pmcf->tenants.nelts; i++) {
        if (tenants[i]->env == NULL || tenants[i]->env->store == NULL
            || tenants[i]->thread_pool == NULL)
        {
            continue;
        }

        t = ngx_pcalloc(cycle->pool, sizeof(ngx_pds_trim_t));
        if (t == NULL) {
            return NGX_ERROR;
        }

        t->task = ngx_pds_background(cycle->pool, cycle->log, t,
                                     ngx_pds_trim_work, ngx_pds_trim_done,
                                     &t->timer, ngx_pds_trim_pass);
        if (t->task == NULL) {
            return NGX_ERROR;
        }

        t->conf = tenants[i];
        t->log = cycle->log;

        ngx_add_timer(&t->timer, NGX_PDS_TRIM_START);
    }

    return NGX_OK;
}
