/*
 * ngx_pds_module: blob hygiene in the background (core: pds_blob_check).
 *
 * A little after a worker starts, and then once a day, each tenant's blob
 * files are checked against its blob rows and repaired: rows whose file is
 * missing or damaged are deleted (the records' references stay, so the
 * blob is listed by listMissingBlobs until uploaded again), files without
 * a row older than an hour are removed.  One worker per tenant does it
 * (tenants spread over the workers), in the thread pool, one step of at
 * most NGX_PDS_BCHECK_STEP rows or files per task, the next task posted
 * once the last is back: a write transaction covers one step, so the write
 * lock is never held long, and the event loop only posts tasks.  A summary
 * is logged at the end of each pass; every repair is logged as it is made.
 * "pds_blob_check off;" turns it off (tools/pdsadmin "blobs check" still
 * works).
 */

#include "ngx_pds_methods_int.h"

#include "pds_blob_check.h"


#define NGX_PDS_BCHECK_STEP    256          /* rows or files per task */
#define NGX_PDS_BCHECK_START   5000         /* ms after start-up ... */
#define NGX_PDS_BCHECK_SPREAD  50           /* ... plus this per tenant */
#define NGX_PDS_BCHECK_EVERY   (24 * 60 * 60 * 1000)


typedef struct {
    ngx_pds_srv_conf_t   *conf;
    char                 *data_dir;         /* NUL-terminated */
    ngx_event_t           timer;
    ngx_thread_task_t    *task;
    ngx_log_t            *log;

    pds_blob_check_t     *check;            /* the pass under way */
    ngx_msec_t            started;
    int                   done;
    int                   rc;
} ngx_pds_bcheck_t;


static const char  *ngx_pds_bcheck_kinds[] = {
    "", "a blob row without its file: row deleted, the blob is listed by "
        "listMissingBlobs until uploaded again",
    "a blob file that does not match its row: row and file deleted, the "
        "blob is listed by listMissingBlobs until uploaded again",
    "a blob file without a row: removed", "", "a stale leftover: removed",
    ""
};


/* in the thread: each repair, as it is made */
static void
ngx_pds_bcheck_report(void *ctx, pds_blob_check_kind_e kind, uint64_t uid,
    const char *name, int fixed)
{
    ngx_pds_bcheck_t  *bc = ctx;

    (void) uid;

    if (!fixed || kind < PDS_BLOB_CHECK_MISSING
        || kind > PDS_BLOB_CHECK_UNKNOWN)
    {
        return;
    }

    ngx_log_error(NGX_LOG_WARN, bc->log, 0,
                  "pds: blob check of \"%V\": %s: %s", &bc->conf->hostname,
                  name, ngx_pds_bcheck_kinds[kind]);
}


static void
ngx_pds_bcheck_work(void *data, ngx_log_t *log)
{
    ngx_pds_bcheck_t  *bc = data;

    (void) log;

    bc->rc = pds_blob_check_step(bc->check, NGX_PDS_BCHECK_STEP, &bc->done);
}


static void
ngx_pds_bcheck_summary(ngx_pds_bcheck_t *bc)
{
    const pds_blob_check_stats_t  *st;

    st = pds_blob_check_stats(bc->check);

    if (bc->rc != 0) {
        ngx_log_error(NGX_LOG_ERR, bc->log, 0,
                      "pds: blob check of \"%V\" stopped: %s",
                      &bc->conf->hostname,
                      bc->rc > 0 ? strerror(bc->rc) : mdb_strerror(bc->rc));
    }

    ngx_log_error(NGX_LOG_NOTICE, bc->log, 0,
                  "pds: blob check of \"%V\": %uL rows, %uL files "
                  "(%uL bytes); found %uL missing, %uL damaged, %uL orphans, "
                  "%uL young, %uL leftovers, %uL unknown; repaired %uL rows, "
                  "removed %uL files; %uL errors; %M ms",
                  &bc->conf->hostname, st->rows, st->files, st->bytes,
                  st->missing, st->damaged, st->orphans, st->young,
                  st->leftovers, st->unknown, st->repaired, st->removed,
                  st->errors, ngx_current_msec - bc->started);
}


static void
ngx_pds_bcheck_done(ngx_event_t *ev)
{
    ngx_pds_bcheck_t  *bc = ev->data;

    if (bc->done || ngx_exiting || ngx_quit || ngx_terminate) {
        if (bc->done) {
            ngx_pds_bcheck_summary(bc);
        }

        pds_blob_check_free(bc->check);
        bc->check = NULL;

        if (ngx_exiting || ngx_quit || ngx_terminate) {
            return;
        }

        ngx_add_timer(&bc->timer, NGX_PDS_BCHECK_EVERY);
        return;
    }

    /* the next step, after the event loop's turn */
    ngx_add_timer(&bc->timer, 1);
}


static void
ngx_pds_bcheck_pass(ngx_event_t *ev)
{
    pds_blob_check_conf_t   cf;
    ngx_pds_bcheck_t       *bc = ev->data;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    if (bc->check == NULL) {
        ngx_memzero(&cf, sizeof(cf));
        cf.now = (int64_t) ngx_time();
        cf.grace = PDS_BLOB_CHECK_GRACE;
        cf.repair = 1;
        cf.report = ngx_pds_bcheck_report;
        cf.report_ctx = bc;

        bc->check = pds_blob_check_create(bc->conf->env->store, bc->data_dir,
                                          &cf);
        if (bc->check == NULL) {
            ngx_add_timer(&bc->timer, NGX_PDS_BCHECK_EVERY);
            return;
        }

        bc->started = ngx_current_msec;
        bc->done = 0;
        bc->rc = 0;
    }

    if (ngx_thread_task_post(bc->conf->thread_pool, bc->task) != NGX_OK) {
        ngx_add_timer(&bc->timer, 1000);
    }
}


ngx_int_t
ngx_pds_blob_check_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t             i, workers, mine;
    ngx_core_conf_t       *ccf;
    ngx_pds_bcheck_t      *bc;
    ngx_pds_srv_conf_t   **tenants;
    ngx_pds_main_conf_t   *pmcf;

    if (ngx_process != NGX_PROCESS_SINGLE && ngx_process != NGX_PROCESS_WORKER)
    {
        return NGX_OK;
    }

    pmcf = ngx_pds_main_conf(cycle);
    if (pmcf == NULL) {
        return NGX_OK;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);
    workers = (ngx_process == NGX_PROCESS_WORKER && ccf->worker_processes > 0)
              ? (ngx_uint_t) ccf->worker_processes : 1;
    mine = (ngx_process == NGX_PROCESS_WORKER) ? ngx_worker : 0;

    tenants = pmcf->tenants.elts;

    for (i = 0; i < pmcf->tenants.nelts; i++) {
        if (i % workers != mine || !tenants[i]->blob_check
            || tenants[i]->env == NULL || tenants[i]->env->store == NULL
            || tenants[i]->thread_pool == NULL)
        {
            continue;
        }

        bc = ngx_pcalloc(cycle->pool, sizeof(ngx_pds_bcheck_t));
        if (bc == NULL) {
            return NGX_ERROR;
        }

        bc->data_dir = ngx_pnalloc(cycle->pool,
                                   tenants[i]->data_dir.len + 1);
        bc->task = ngx_pds_background(cycle->pool, cycle->log, bc,
                                      ngx_pds_bcheck_work, ngx_pds_bcheck_done,
                                      &bc->timer, ngx_pds_bcheck_pass);
        if (bc->data_dir == NULL || bc->task == NULL) {
            return NGX_ERROR;
        }

        ngx_cpystrn((u_char *) bc->data_dir, tenants[i]->data_dir.data,
                    tenants[i]->data_dir.len + 1);

        bc->conf = tenants[i];
        bc->log = cycle->log;

        ngx_add_timer(&bc->timer, NGX_PDS_BCHECK_START
                      + ngx_min(i / workers, 1000) * NGX_PDS_BCHECK_SPREAD);
    }

    return NGX_OK;
}
