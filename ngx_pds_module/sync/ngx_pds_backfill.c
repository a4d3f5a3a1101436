/*
 * ngx_pds_module: the firehose's cursor rules, where a subscriber starts.
 *
 * No cursor: live, after the last event.  A cursor after the last event
 * is in the future (refused).  Otherwise the replay starts after the
 * cursor, unless that is older than the backfill window
 * (pds_firehose_backfill): as the reference, when the event after the
 * cursor was sequenced before now - window, the subscriber is told its
 * cursor is outdated and the replay starts at the first event inside the
 * window, found by a binary search over seq through the core's
 * pds_event_first_from().  A cursor before the last event removed by
 * retention (ngx_pds_retention.c) is outdated too: events after it are
 * gone, and the replay starts at the first event kept.
 */

#include "ngx_pds_sync.h"
#include "pds_cbor.h"
#include "pds_repo.h"
#include "pds_syntax.h"


/* the "time" of an event frame in ms since the epoch, or -1 */
static int64_t
ngx_pds_backfill_time(ngx_pds_ctx_t *ctx, const uint8_t *p, size_t n)
{
    size_t             used;
    int64_t            us;
    pds_cbor_t        *body;
    const pds_cbor_t  *t;

    if (pds_cbor_validate(p, n, &used) != 0) {
        return -1;
    }

    if (pds_cbor_decode(p + used, n - used, &ctx->alloc, &body) != 0) {
        return -1;
    }

    t = pds_cbor_map_get(body, "time");

    if (t == NULL || t->type != PDS_CBOR_STRING
        || pds_datetime_parse(t->u.str.data, t->u.str.len, &us) != 0)
    {
        pds_cbor_free(&ctx->alloc, body);
        return -1;
    }

    pds_cbor_free(&ctx->alloc, body);

    return us / 1000;
}


/*
 * The first event in lo..last sequenced at or after cutoff, by a binary
 * search over seq (lo is an event older than the cutoff); last + 1 when
 * there is none.  NGX_OK or NGX_ERROR.
 */
static ngx_int_t
ngx_pds_backfill_window(ngx_pds_ctx_t *ctx, MDB_txn *txn, uint64_t lo,
    uint64_t last, int64_t cutoff, uint64_t *start)
{
    int             rc;
    size_t          len;
    uint64_t        hi, mid, found;
    pds_store_t    *store;
    const uint8_t  *frame;

    store = ctx->conf->env->store;
    hi = last;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        rc = pds_event_first_from(store, txn, mid, &found, &frame, &len);
        if (rc == PDS_NOTFOUND) {
            hi = mid;
            continue;
        }

        if (rc != 0) {
            return NGX_ERROR;
        }

        if (ngx_pds_backfill_time(ctx, frame, len) >= cutoff) {
            hi = found;

        } else {
            lo = found + 1;
        }
    }

    rc = pds_event_first_from(store, txn, lo, &found, &frame, &len);

    if (rc == 0 && ngx_pds_backfill_time(ctx, frame, len) >= cutoff) {
        *start = found;

    } else {
        *start = last + 1;
    }

    return NGX_OK;
}


/* as ngx_pds_backfill_start(), within a read transaction */
static ngx_int_t
ngx_pds_backfill_find(ngx_pds_ctx_t *ctx, MDB_txn *txn, ngx_uint_t has,
    uint64_t cursor, uint64_t *start, ngx_uint_t *outdated)
{
    int             rc;
    size_t          len;
    int64_t         cutoff, t;
    uint64_t        last, found, trimmed;
    ngx_time_t     *tp;
    pds_store_t    *store;
    const uint8_t  *frame;

    store = ctx->conf->env->store;

    if (pds_store_seq_last(store, txn, &last) != 0) {
        return NGX_ERROR;
    }

    if (!has) {
        *start = last + 1;
        return NGX_OK;
    }

    if (cursor > last) {
        return NGX_DECLINED;
    }

    /* events after the cursor were removed (ngx_pds_retention.c) */
    if (pds_event_trimmed(store, txn, &trimmed) != 0) {
        return NGX_ERROR;
    }

    if (cursor < trimmed) {
        *outdated = 1;
    }

    rc = pds_event_first_from(store, txn, cursor + 1, &found, &frame, &len);

    if (rc == PDS_NOTFOUND) {
        *start = cursor + 1;
        return NGX_OK;
    }

    if (rc != 0) {
        return NGX_ERROR;
    }

    tp = ngx_timeofday();
    cutoff = (int64_t) tp->sec * 1000 + (int64_t) tp->msec
             - (int64_t) ctx->conf->firehose_backfill;

    t = ngx_pds_backfill_time(ctx, frame, len);

    if (t < 0 || t >= cutoff) {
        *start = cursor + 1;
        return NGX_OK;
    }

    *outdated = 1;

    return ngx_pds_backfill_window(ctx, txn, found, last, cutoff, start);
}


/*
 * Where a subscriber starts (*start), *outdated when the cursor (has: one
 * was given) is older than the backfill window.  NGX_OK, NGX_DECLINED (the
 * cursor is in the future) or NGX_ERROR.
 */
ngx_int_t
ngx_pds_backfill_start(ngx_pds_ctx_t *ctx, ngx_uint_t has, uint64_t cursor,
    uint64_t *start, ngx_uint_t *outdated)
{
    MDB_txn    *txn;
    ngx_int_t   rc;

    *start = 0;
    *outdated = 0;

    if (pds_store_read_begin(ctx->conf->env->store, &txn) != 0) {
        return NGX_ERROR;
    }

    rc = ngx_pds_backfill_find(ctx, txn, has, cursor, start, outdated);

    mdb_txn_abort(txn);

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "pds: firehose backfill: cursor %uL (given: %ui), "
                   "start %uL, rc %i", cursor, has, *start, rc);

    return rc;
}
