/*
 * ngx_pds_module: wake-ups across workers when new events are committed.
 *
 * A commit in this worker calls ngx_pds_wake_notify(), which publishes the
 * tenant's last seq in a shared memory slot and posts the tenant's wake
 * event.  Workers that have subscribers run a short cancelable timer
 * comparing the slot with what they have seen (and post the wake event
 * now and then anyway, as LMDB has the truth); workers without
 * subscribers do nothing.  What a wake event runs is the caller's (the
 * firehose's) handler: this file knows seqs, not subscribers.
 */

#include "ngx_pds_sync.h"


/* other workers look for new events this often while anyone subscribes */
#define NGX_PDS_WAKE_POLL_MS    20
/* ... and look at LMDB every this many polls, whatever shm says */
#define NGX_PDS_WAKE_RECHECK    50

#define NGX_PDS_WAKE_SLOT       64          /* one cache line per tenant */
#define NGX_PDS_WAKE_SLOTS      16384       /* tenants at most (1 MB) */
#define NGX_PDS_WAKE_ZONE_SIZE  (NGX_PDS_WAKE_SLOTS * NGX_PDS_WAKE_SLOT      \
                                 + 64 * 1024)


typedef struct {
    ngx_pds_wake_env_t    *envs;
    ngx_uint_t             nenvs;
    ngx_uint_t             nsubs;         /* of every tenant */
    ngx_uint_t             polls;
    ngx_event_t            poll;
} ngx_pds_wake_worker_t;


static ngx_int_t ngx_pds_wake_zone_init(ngx_shm_zone_t *zone, void *data);
static void ngx_pds_wake_poll_handler(ngx_event_t *ev);


static ngx_str_t               ngx_pds_wake_zone_name =
    ngx_string("pds_firehose");

static ngx_pds_wake_worker_t  *ngx_pds_wake;


/* ---- configuration and process hooks ---------------------------------- */


ngx_int_t
ngx_pds_wake_init_conf(ngx_conf_t *cf)
{
    ngx_shm_zone_t       *zone;
    ngx_pds_main_conf_t  *pmcf;

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_pds_module);

    if (pmcf->envs.nelts == 0) {
        return NGX_OK;
    }

    if (pmcf->envs.nelts > NGX_PDS_WAKE_SLOTS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "pds: too many tenants for the firehose zone");
        return NGX_ERROR;
    }

    zone = ngx_shared_memory_add(cf, &ngx_pds_wake_zone_name,
                                 NGX_PDS_WAKE_ZONE_SIZE, &ngx_pds_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    zone->init = ngx_pds_wake_zone_init;

    return NGX_OK;
}


static ngx_int_t
ngx_pds_wake_zone_init(ngx_shm_zone_t *zone, void *data)
{
    ngx_slab_pool_t  *shpool;

    /*
     * A zone kept over a reload keeps its numbers: they only ever tell a
     * worker to look at LMDB, which has the truth.
     */

    if (data) {
        zone->data = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    zone->data = ngx_slab_calloc(shpool,
                                 NGX_PDS_WAKE_SLOTS * NGX_PDS_WAKE_SLOT);
    if (zone->data == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_shm_zone_t *
ngx_pds_wake_find_zone(ngx_cycle_t *cycle)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_shm_zone_t   *zone;

    part = &cycle->shared_memory.part;
    zone = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            zone = part->elts;
            i = 0;
        }

        if (zone[i].tag == &ngx_pds_module
            && zone[i].shm.name.len == ngx_pds_wake_zone_name.len
            && ngx_strncmp(zone[i].shm.name.data, ngx_pds_wake_zone_name.data,
                           ngx_pds_wake_zone_name.len) == 0)
        {
            return &zone[i];
        }
    }
}


/* the tenants of the configuration, or NULL when there are none */
static ngx_array_t *
ngx_pds_wake_tenants(ngx_cycle_t *cycle)
{
    ngx_http_conf_ctx_t  *hctx;
    ngx_pds_main_conf_t  *pmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NULL;
    }

    hctx = (ngx_http_conf_ctx_t *) cycle->conf_ctx[ngx_http_module.index];
    if (hctx == NULL) {
        return NULL;
    }

    pmcf = hctx->main_conf[ngx_pds_module.ctx_index];
    if (pmcf == NULL || pmcf->envs.nelts == 0) {
        return NULL;
    }

    return &pmcf->envs;
}


/* a tenant's slot: its shared seq, and the last seq LMDB has now */
static void
ngx_pds_wake_env_init(ngx_pds_wake_env_t *we, ngx_pds_env_t *env,
    u_char *slot, ngx_event_handler_pt handler, ngx_log_t *log)
{
    uint64_t  seq;
    MDB_txn  *txn;

    we->env = env;
    we->shm_seq = (ngx_atomic_uint_t *) slot;
    we->seen = *we->shm_seq;
    ngx_queue_init(&we->subs);

    we->wake.handler = handler;
    we->wake.data = we;
    we->wake.log = log;

    if (env->store && pds_store_read_begin(env->store, &txn) == 0) {
        if (pds_store_seq_last(env->store, txn, &seq) == 0) {
            we->known = seq;
        }

        mdb_txn_abort(txn);
    }
}


ngx_int_t
ngx_pds_wake_init_process(ngx_cycle_t *cycle, ngx_event_handler_pt handler)
{
    ngx_uint_t              i;
    ngx_array_t            *tenants;
    ngx_pds_env_t         **envs;
    ngx_shm_zone_t         *zone;
    ngx_pds_wake_worker_t  *w;

    ngx_pds_wake = NULL;

    tenants = ngx_pds_wake_tenants(cycle);
    if (tenants == NULL) {
        return NGX_OK;
    }

    zone = ngx_pds_wake_find_zone(cycle);
    if (zone == NULL || zone->data == NULL) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "pds: the firehose shared memory zone is missing");
        return NGX_ERROR;
    }

    w = ngx_pcalloc(cycle->pool, sizeof(ngx_pds_wake_worker_t));
    if (w == NULL) {
        return NGX_ERROR;
    }

    w->nenvs = tenants->nelts;
    w->envs = ngx_pcalloc(cycle->pool,
                          w->nenvs * sizeof(ngx_pds_wake_env_t));
    if (w->envs == NULL) {
        return NGX_ERROR;
    }

    w->poll.handler = ngx_pds_wake_poll_handler;
    w->poll.data = w;
    w->poll.log = cycle->log;
    w->poll.cancelable = 1;

    envs = tenants->elts;

    for (i = 0; i < w->nenvs; i++) {
        ngx_pds_wake_env_init(&w->envs[i], envs[i],
                              (u_char *) zone->data + i * NGX_PDS_WAKE_SLOT,
                              handler, cycle->log);
    }

    ngx_pds_wake = w;

    return NGX_OK;
}


/* after the subscribers are gone */
void
ngx_pds_wake_exit_process(void)
{
    ngx_uint_t              i;
    ngx_pds_wake_worker_t  *w = ngx_pds_wake;

    if (w == NULL) {
        return;
    }

    if (w->poll.timer_set) {
        ngx_del_timer(&w->poll);
    }

    for (i = 0; i < w->nenvs; i++) {
        if (w->envs[i].wake.posted) {
            ngx_delete_posted_event(&w->envs[i].wake);
        }
    }

    ngx_pds_wake = NULL;
}


ngx_pds_wake_env_t *
ngx_pds_wake_env(ngx_pds_env_t *env)
{
    ngx_uint_t  i;

    if (ngx_pds_wake == NULL) {
        return NULL;
    }

    for (i = 0; i < ngx_pds_wake->nenvs; i++) {
        if (ngx_pds_wake->envs[i].env == env) {
            return &ngx_pds_wake->envs[i];
        }
    }

    return NULL;
}


ngx_pds_wake_env_t *
ngx_pds_wake_envs(ngx_uint_t *n)
{
    if (ngx_pds_wake == NULL) {
        *n = 0;
        return NULL;
    }

    *n = ngx_pds_wake->nenvs;

    return ngx_pds_wake->envs;
}


/* ---- subscribers ------------------------------------------------------- */


void
ngx_pds_wake_attach(ngx_pds_wake_env_t *we, ngx_queue_t *q)
{
    ngx_queue_insert_tail(&we->subs, q);
    we->nsubs++;

    if (ngx_pds_wake == NULL) {
        return;
    }

    ngx_pds_wake->nsubs++;

    if (!ngx_pds_wake->poll.timer_set) {
        ngx_add_timer(&ngx_pds_wake->poll, NGX_PDS_WAKE_POLL_MS);
    }
}


void
ngx_pds_wake_detach(ngx_pds_wake_env_t *we, ngx_queue_t *q)
{
    ngx_queue_remove(q);
    we->nsubs--;

    if (ngx_pds_wake) {
        ngx_pds_wake->nsubs--;
    }
}


/* ---- waking ------------------------------------------------------------ */


static void
ngx_pds_wake_publish(ngx_pds_wake_env_t *we, uint64_t seq)
{
    ngx_atomic_uint_t  old;

    for ( ;; ) {
        old = *we->shm_seq;

        if (old >= (ngx_atomic_uint_t) seq) {
            break;
        }

        if (ngx_atomic_cmp_set(we->shm_seq, old, (ngx_atomic_uint_t) seq)) {
            break;
        }
    }
}


void
ngx_pds_wake_notify(ngx_pds_ctx_t *ctx)
{
    uint64_t             seq;
    MDB_txn             *txn;
    pds_store_t         *store;
    ngx_pds_wake_env_t  *we;

    we = ngx_pds_wake_env(ctx->conf->env);
    if (we == NULL) {
        return;
    }

    store = we->env->store;
    if (store == NULL || pds_store_read_begin(store, &txn) != 0) {
        return;
    }

    if (pds_store_seq_last(store, txn, &seq) != 0) {
        seq = 0;
    }

    mdb_txn_abort(txn);

    if (seq == 0) {
        return;
    }

    ngx_pds_wake_publish(we, seq);

    if (seq > we->known) {
        we->known = seq;
    }

    we->seen = *we->shm_seq;

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, ctx->request->connection->log, 0,
                   "pds: wake: committed up to seq %uL, %ui subscribers here",
                   seq, we->nsubs);

    if (we->nsubs && !we->wake.posted) {
        ngx_post_event(&we->wake, &ngx_posted_events);
    }
}


static void
ngx_pds_wake_poll_handler(ngx_event_t *ev)
{
    ngx_uint_t              i, recheck;
    ngx_atomic_uint_t       v;
    ngx_pds_wake_env_t     *we;
    ngx_pds_wake_worker_t  *w = ev->data;

    recheck = (++w->polls % NGX_PDS_WAKE_RECHECK) == 0;

    for (i = 0; i < w->nenvs; i++) {
        we = &w->envs[i];

        if (we->nsubs == 0) {
            continue;
        }

        v = *we->shm_seq;

        if ((v != we->seen || recheck) && !we->wake.posted) {

            if (v != we->seen) {
                ngx_log_debug2(NGX_LOG_DEBUG_EVENT, ev->log, 0,
                               "pds: wake: seq %uA published elsewhere, "
                               "seen %uA", v, we->seen);
            }

            we->seen = v;
            ngx_post_event(&we->wake, &ngx_posted_events);
        }
    }

    if (w->nsubs && !ngx_exiting && !ngx_terminate) {
        ngx_add_timer(&w->poll, NGX_PDS_WAKE_POLL_MS);
    }
}
