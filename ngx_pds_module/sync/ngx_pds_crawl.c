/*
 * ngx_pds_module: relay notification.  After new events, each relay of
 * pds_crawlers is asked to crawl this PDS (com.atproto.sync.requestCrawl
 * with our hostname) at most once per 20 minutes, a minute after a
 * failure.  The call is a background subrequest of the request that
 * committed (ngx_pds_fetch_background): nobody waits for it.
 */

#include "ngx_pds_sync.h"


#define NGX_PDS_CRAWL_EVERY     (20 * 60)   /* seconds, per relay */
#define NGX_PDS_CRAWL_RETRY     60          /* after a failure */
#define NGX_PDS_CRAWL_NSID      "/xrpc/com.atproto.sync.requestCrawl"


typedef struct {
    ngx_str_t             *crawler;       /* an element of pscf->crawlers */
    time_t                 next;          /* not before this time */
} ngx_pds_crawl_t;


static ngx_array_t  *ngx_pds_crawls;      /* ngx_pds_crawl_t *, per worker */


void
ngx_pds_crawl_init_process(void)
{
    ngx_pds_crawls = NULL;
}


static void
ngx_pds_crawl_done(void *data, ngx_uint_t status, ngx_log_t *log)
{
    ngx_pds_crawl_t  *cr = data;

    if (status >= 200 && status < 300) {
        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "pds: requestCrawl at \"%V\": %ui", cr->crawler,
                      status);
        return;
    }

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "pds: requestCrawl at \"%V\" failed (status %ui), "
                  "retrying after the next event in %d s",
                  cr->crawler, status, NGX_PDS_CRAWL_RETRY);

    cr->next = ngx_time() + NGX_PDS_CRAWL_RETRY;
}


static ngx_int_t
ngx_pds_crawl_request(ngx_pds_ctx_t *ctx, ngx_pds_crawl_t *cr)
{
    size_t               len;
    u_char              *p;
    ngx_str_t            url, body, ct, *crawler;
    ngx_http_request_t  *r = ctx->request;

    crawler = cr->crawler;

    len = crawler->len;
    while (len && crawler->data[len - 1] == '/') {
        len--;
    }

    url.data = ngx_pnalloc(r->pool, len + sizeof(NGX_PDS_CRAWL_NSID));
    body.data = ngx_pnalloc(r->pool, ctx->conf->hostname.len * 6 + 32);
    if (url.data == NULL || body.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(url.data, crawler->data, len);
    p = ngx_cpymem(p, NGX_PDS_CRAWL_NSID, sizeof(NGX_PDS_CRAWL_NSID) - 1);
    url.len = p - url.data;

    p = ngx_cpymem(body.data, "{\"hostname\":\"", 13);
    p = (u_char *) ngx_escape_json(p, ctx->conf->hostname.data,
                                   ctx->conf->hostname.len);
    p = ngx_cpymem(p, "\"}", 2);
    body.len = p - body.data;

    ngx_str_set(&ct, "application/json");

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "pds: requestCrawl at \"%V\" starts", &url);

    return ngx_pds_fetch_background(ctx, NGX_HTTP_POST, &url, &ct, &body,
                                    ngx_pds_crawl_done, cr);
}


/*
 * The state of a relay, made on first use.  Each lives in its own block
 * (the array holds pointers): a fetch in flight keeps a pointer to it,
 * which must stay valid when the array grows.
 */
static ngx_pds_crawl_t *
ngx_pds_crawl_get(ngx_str_t *crawler)
{
    ngx_uint_t         i;
    ngx_pds_crawl_t   *cr, **crp;

    if (ngx_pds_crawls == NULL) {
        ngx_pds_crawls = ngx_array_create(ngx_cycle->pool, 4,
                                          sizeof(ngx_pds_crawl_t *));
        if (ngx_pds_crawls == NULL) {
            return NULL;
        }
    }

    crp = ngx_pds_crawls->elts;

    for (i = 0; i < ngx_pds_crawls->nelts; i++) {
        if (crp[i]->crawler == crawler) {
            return crp[i];
        }
    }

    cr = ngx_pcalloc(ngx_cycle->pool, sizeof(ngx_pds_crawl_t));
    if (cr == NULL) {
        return NULL;
    }

    crp = ngx_array_push(ngx_pds_crawls);
    if (crp == NULL) {
        return NULL;
    }

    cr->crawler = crawler;
    cr->next = 0;
    *crp = cr;

    return cr;
}


/* after new events: requestCrawl at each relay that is due */
void
ngx_pds_crawl_notify(ngx_pds_ctx_t *ctx)
{
    time_t            now;
    ngx_str_t        *crawler;
    ngx_uint_t        i;
    ngx_pds_crawl_t  *cr;

    if (ctx->conf->crawlers == NULL || ctx->conf->crawlers->nelts == 0
        || ctx->conf->outbound == NULL)
    {
        return;
    }

    now = ngx_time();
    crawler = ctx->conf->crawlers->elts;

    for (i = 0; i < ctx->conf->crawlers->nelts; i++) {

        cr = ngx_pds_crawl_get(&crawler[i]);
        if (cr == NULL) {
            return;
        }

        if (now < cr->next) {
            continue;
        }

        cr->next = now + NGX_PDS_CRAWL_EVERY;

        if (ngx_pds_crawl_request(ctx, cr) != NGX_OK) {
            ngx_log_error(NGX_LOG_WARN, ctx->request->connection->log, 0,
                          "pds: cannot start requestCrawl at \"%V\"",
                          &crawler[i]);
            cr->next = now + NGX_PDS_CRAWL_RETRY;
        }
    }
}
