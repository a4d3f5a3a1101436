/*
 * ngx_pds_module: handle resolution (atproto specs/handle).
 *
 * A handle's DID is published as a DNS TXT record "_atproto.<handle>"
 * ("did=<did>") or as the document https://<handle>/.well-known/atproto-did.
 * In the reference's order (packages/identity HandleResolver):
 *
 *   1. TXT with the system's resolver;
 *   2. the well-known document, through the outbound location with short
 *      timeouts (ngx_pds_fetch_public_quick: https, public addresses only,
 *      the address checked is the one connected to);
 *   3. TXT with "pds_handle_backup_nameservers" (PDS_HANDLE_BACKUP_NAMESERVERS),
 *      when set.
 *
 * TXT queries: nginx's resolver asks only A/AAAA (and SRV), so they are
 * made with the system's resolver, res_nsend() on a resolver state of the
 * task's own (res_ninit: no state shared between threads), in the
 * tenant's thread pool; never on the event loop.  glibc brings what a
 * DNS client needs (/etc/resolv.conf, retries over its name servers, TCP
 * when an answer is truncated, query ids and source ports) with no new
 * package; the query is built and the answer read by core/pds_dns.c.
 * For the backup name servers, the same state with its name servers
 * replaced.  A query takes a pool thread for at most its timeout
 * (NGX_PDS_DNS_RETRANS seconds per name server and try).
 *
 * Answers are kept in a small per-worker cache (a found DID a minute, a
 * miss a few seconds); a handle being claimed (updateHandle) is resolved
 * afresh.
 */

#include "ngx_pds.h"
#include "ngx_pds_handle_resolve.h"

#include <netinet/in.h>
#include <arpa/nameser.h>
#include <resolv.h>


#define NGX_PDS_DNS_RETRANS      2      /* seconds per name server, try */
#define NGX_PDS_DNS_RETRY        2      /* tries of each name server */
#define NGX_PDS_DNS_ANSWER_MAX   8192

#define NGX_PDS_HCACHE_SLOTS     64
#define NGX_PDS_HCACHE_DID_MAX   256    /* longer DIDs are not kept */
#define NGX_PDS_HCACHE_TTL       60
#define NGX_PDS_HCACHE_NEG_TTL   5


typedef struct {
    char                      handle[254];
    char                      did[NGX_PDS_HCACHE_DID_MAX + 1]; /* "": none */
    time_t                    expires;
} ngx_pds_hcache_t;


/* a TXT query, made in a thread */
typedef struct {
    char                      name[254];
    size_t                    len;
    const char               *label;         /* "_atproto", "_lexicon" */
    struct sockaddr_in        ns[MAXNS];     /* backup: these, else the
                                                system's */
    ngx_uint_t                nns;
    int                       rc;            /* PDS_DNS_*; -2: no answer */
    int                       err;           /* errno of a failed send */
    char                      did[PDS_DNS_DID_MAX + 1];
} ngx_pds_dns_job_t;


typedef struct {
    ngx_pds_handle_found_t   *out;
    ngx_pds_resume_pt         done;
    void                     *data;          /* the handler's ctx->data */
    ngx_pds_dns_job_t        *job;
    const char               *label;
    ngx_uint_t                txt_only;      /* no HTTPS, no cache */
} ngx_pds_hres_t;


static ngx_pds_hcache_t  ngx_pds_hcache[NGX_PDS_HCACHE_SLOTS];
static ngx_uint_t        ngx_pds_hcache_next;


static const char *ngx_pds_handle_how[] = {
    "none", "DNS", "HTTPS", "DNS (backup name servers)", "cache"
};


static ngx_int_t ngx_pds_handle_dns_done(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_handle_https_done(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_handle_backup_done(ngx_pds_ctx_t *ctx);


/* ---- the cache ---------------------------------------------------------- */


static ngx_pds_hcache_t *
ngx_pds_hcache_find(const char *handle)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_PDS_HCACHE_SLOTS; i++) {
        if (ngx_pds_hcache[i].expires > ngx_time()
            && ngx_strcmp(ngx_pds_hcache[i].handle, handle) == 0)
        {
            return &ngx_pds_hcache[i];
        }
    }

    return NULL;
}


static void
ngx_pds_hcache_put(const char *handle, const char *did)
{
    size_t             dlen;
    ngx_uint_t         i;
    ngx_pds_hcache_t  *e;

    dlen = did ? ngx_strlen(did) : 0;

    if (ngx_strlen(handle) >= sizeof(e->handle)
        || dlen > NGX_PDS_HCACHE_DID_MAX)
    {
        return;
    }

    e = NULL;

    for (i = 0; i < NGX_PDS_HCACHE_SLOTS; i++) {
        if (ngx_strcmp(ngx_pds_hcache[i].handle, handle) == 0) {
            e = &ngx_pds_hcache[i];
            break;
        }
    }

    if (e == NULL) {
        e = &ngx_pds_hcache[ngx_pds_hcache_next++ % NGX_PDS_HCACHE_SLOTS];
    }

    ngx_cpystrn((u_char *) e->handle, (u_char *) handle, sizeof(e->handle));
    ngx_memcpy(e->did, did ? did : "", dlen + 1);
    e->expires = ngx_time() + (dlen ? NGX_PDS_HCACHE_TTL
                                    : NGX_PDS_HCACHE_NEG_TTL);
}


/* ---- DNS TXT in a thread ------------------------------------------------ */


/*
 * TXT lookups block a thread for up to 2 s a try, and resolveHandle needs
 * no sign-in: they run in nginx's "default" thread pool, not the tenant's
 * (scrypt and write transactions never wait behind them), and at most
 * this many at once per worker; beyond, a lookup finds nothing.
 */
#define NGX_PDS_DNS_IN_FLIGHT_MAX  64

static ngx_thread_pool_t  *ngx_pds_dns_pool;
static ngx_atomic_int_t    ngx_pds_dns_in_flight;


ngx_int_t
ngx_pds_handle_resolve_init_conf(ngx_conf_t *cf)
{
    ngx_pds_main_conf_t  *pmcf;

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_pds_module);

    if (pmcf->tenants.nelts == 0) {
        return NGX_OK;              /* no PDS here: no threads for it */
    }

    ngx_pds_dns_pool = ngx_thread_pool_add(cf, NULL);

    return ngx_pds_dns_pool ? NGX_OK : NGX_ERROR;
}


static void ngx_pds_handle_dns_query(ngx_pds_dns_job_t *job, ngx_log_t *log);


static void
ngx_pds_handle_dns_work(void *data, ngx_log_t *log)
{
    ngx_pds_handle_dns_query(data, log);

    (void) __atomic_sub_fetch(&ngx_pds_dns_in_flight, 1, __ATOMIC_RELAXED);
}


static void
ngx_pds_handle_dns_query(ngx_pds_dns_job_t *job, ngx_log_t *log)
{
    int                 n, qlen;
    ngx_uint_t          i;
    struct __res_state  rs;
    u_char              query[300];
    u_char              answer[NGX_PDS_DNS_ANSWER_MAX];

    job->rc = -2;

    qlen = pds_dns_txt_query_label(job->label, job->name, job->len,
                                   (uint16_t) ngx_random(), query,
                                   sizeof(query));
    if (qlen < 0) {
        job->rc = PDS_DNS_NONE;
        return;
    }

    ngx_memzero(&rs, sizeof(struct __res_state));

    if (res_ninit(&rs) != 0) {
        job->err = errno;
        return;
    }

    if (job->nns) {
        for (i = 0; i < job->nns; i++) {
            rs.nsaddr_list[i] = job->ns[i];
        }

        rs.nscount = (int) job->nns;
    }

    if (rs.retrans > NGX_PDS_DNS_RETRANS || rs.retrans <= 0) {
        rs.retrans = NGX_PDS_DNS_RETRANS;
    }

    if (rs.retry > NGX_PDS_DNS_RETRY || rs.retry <= 0) {
        rs.retry = NGX_PDS_DNS_RETRY;
    }

    n = res_nsend(&rs, query, qlen, answer, sizeof(answer));
    job->err = errno;

    res_nclose(&rs);

    if (n < 0) {
        return;                     /* no answer in time */
    }

    job->rc = pds_dns_txt_did(answer, (size_t) ngx_min(n, (int) sizeof(answer)),
                              job->did, sizeof(job->did));

    ngx_log_debug4(NGX_LOG_DEBUG_CORE, log, 0,
                   "pds: TXT %s.%s: %d bytes, result %d", job->label,
                   job->name, n, job->rc);
}


static ngx_int_t
ngx_pds_handle_dns_post(ngx_pds_ctx_t *ctx, ngx_pds_hres_t *hr,
    ngx_uint_t backup, ngx_pds_resume_pt next)
{
    ngx_int_t            rc;
    ngx_uint_t           i;
    ngx_addr_t          *a;
    ngx_pds_dns_job_t   *job;

    job = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_dns_job_t));
    if (job == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    job->len = ngx_strlen(hr->out->handle);
    if (job->len >= sizeof(job->name)) {
        job->rc = PDS_DNS_NONE;
        return next(ctx);
    }
    ngx_memcpy(job->name, hr->out->handle, job->len + 1);
    job->label = hr->label ? hr->label : "_atproto";

    if (backup) {
        a = ctx->conf->handle_nameservers->elts;

        for (i = 0; i < ctx->conf->handle_nameservers->nelts && i < MAXNS;
             i++)
        {
            ngx_memcpy(&job->ns[i], a[i].sockaddr, sizeof(struct sockaddr_in));
        }

        job->nns = i;
    }

    hr->job = job;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "pds: handle %s: TXT query%s posted", job->name,
                   backup ? " to the backup name servers" : "");

    if (__atomic_add_fetch(&ngx_pds_dns_in_flight, 1, __ATOMIC_RELAXED)
        > NGX_PDS_DNS_IN_FLIGHT_MAX)
    {
        (void) __atomic_sub_fetch(&ngx_pds_dns_in_flight, 1,
                                  __ATOMIC_RELAXED);

        ngx_log_error(NGX_LOG_WARN, ctx->request->connection->log, 0,
                      "pds: handle %s: %d TXT lookups under way already, "
                      "not asked", job->name, NGX_PDS_DNS_IN_FLIGHT_MAX);

        job->rc = PDS_DNS_NONE;
        return next(ctx);
    }

    rc = ngx_pds_thread_post_to(ctx, ngx_pds_dns_pool,
                                ngx_pds_handle_dns_work, job, next);

    if (rc != NGX_DONE) {
        (void) __atomic_sub_fetch(&ngx_pds_dns_in_flight, 1,
                                  __ATOMIC_RELAXED);
    }

    return rc;
}


/* ---- the steps ---------------------------------------------------------- */


/* the end: the DID (or none) into out, the cache, then the caller's step */
static ngx_int_t
ngx_pds_handle_answer(ngx_pds_ctx_t *ctx, ngx_pds_hres_t *hr,
    ngx_pds_handle_how_e how, const char *did)
{
    size_t                   n;
    ngx_pds_handle_found_t  *out = hr->out;

    ctx->data = hr->data;

    if (did && *did) {
        n = ngx_strlen(did);
        out->did = ngx_pnalloc(ctx->request->pool, n + 1);
        if (out->did == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(out->did, did, n + 1);
        out->how = how;

    } else {
        out->did = NULL;
        out->how = NGX_PDS_HANDLE_NONE;
    }

    if (how != NGX_PDS_HANDLE_CACHED && !hr->txt_only) {
        ngx_pds_hcache_put(out->handle, out->did);
    }

    ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                  "pds: handle %s: %s%s%s", out->handle,
                  out->did ? out->did : "no DID found",
                  out->did ? " by " : "",
                  out->did ? ngx_pds_handle_how[out->how] : "");

    return hr->done(ctx);
}


/* one resolution's state, the request's context data until it answers */
static ngx_pds_hres_t *
ngx_pds_hres_new(ngx_pds_ctx_t *ctx, const char *name,
    ngx_pds_handle_found_t *out, ngx_pds_resume_pt done)
{
    ngx_pds_hres_t  *hr;

    ngx_memzero(out, sizeof(ngx_pds_handle_found_t));
    out->handle = name;

    hr = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_hres_t));
    if (hr == NULL) {
        return NULL;
    }

    hr->out = out;
    hr->done = done;
    hr->data = ctx->data;
    ctx->data = hr;

    return hr;
}


ngx_int_t
ngx_pds_handle_resolve(ngx_pds_ctx_t *ctx, const char *handle,
    ngx_uint_t fresh, ngx_pds_handle_found_t *out, ngx_pds_resume_pt done)
{
    ngx_pds_hres_t    *hr;
    ngx_pds_hcache_t  *e;

    hr = ngx_pds_hres_new(ctx, handle, out, done);
    if (hr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    e = fresh ? NULL : ngx_pds_hcache_find(handle);

    if (e) {
        return ngx_pds_handle_answer(ctx, hr, NGX_PDS_HANDLE_CACHED, e->did);
    }

    return ngx_pds_handle_dns_post(ctx, hr, 0, ngx_pds_handle_dns_done);
}


/*
 * "<label>.<name>" TXT with the system's resolver, then the backup name
 * servers: no HTTPS step, no cache (the DID of an NSID's authority,
 * "_lexicon").
 */
ngx_int_t
ngx_pds_txt_did_resolve(ngx_pds_ctx_t *ctx, const char *label,
    const char *name, ngx_pds_handle_found_t *out, ngx_pds_resume_pt done)
{
    ngx_pds_hres_t  *hr;

    hr = ngx_pds_hres_new(ctx, name, out, done);
    if (hr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    hr->label = label;
    hr->txt_only = 1;

    return ngx_pds_handle_dns_post(ctx, hr, 0, ngx_pds_handle_dns_done);
}


static ngx_int_t
ngx_pds_handle_dns_done(ngx_pds_ctx_t *ctx)
{
    ngx_str_t        url;
    ngx_pds_hres_t  *hr = ctx->data;

    if (hr->job->rc == PDS_DNS_FOUND) {
        return ngx_pds_handle_answer(ctx, hr, NGX_PDS_HANDLE_DNS,
                                     hr->job->did);
    }

    if (hr->job->rc == -2) {
        ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log,
                      hr->job->err, "pds: handle %s: no DNS answer",
                      hr->out->handle);
    }

    if (hr->txt_only) {
        ctx->response.status = 0;       /* straight to the backup servers */
        return ngx_pds_handle_https_done(ctx);
    }

    url.len = sizeof("https:///.well-known/atproto-did") - 1
              + ngx_strlen(hr->out->handle);
    url.data = ngx_pnalloc(ctx->request->pool, url.len + 1);
    if (url.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf(url.data, "https://%s/.well-known/atproto-did%Z",
                hr->out->handle);

    return ngx_pds_fetch_public_quick(ctx, &url, ngx_pds_handle_https_done);
}


static ngx_int_t
ngx_pds_handle_https_done(ngx_pds_ctx_t *ctx)
{
    int              rc;
    char            *did;
    ngx_pds_hres_t  *hr = ctx->data;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "pds: handle %s: the well-known document answered %ui",
                   hr->out->handle, ctx->response.status);

    if (ctx->response.status == NGX_HTTP_OK && ctx->response.body.len) {
        did = ngx_pnalloc(ctx->request->pool, PDS_DNS_DID_MAX + 1);
        if (did == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rc = pds_handle_http_did((char *) ctx->response.body.data,
                                 ctx->response.body.len, did,
                                 PDS_DNS_DID_MAX + 1);

        if (rc == PDS_DNS_FOUND) {
            return ngx_pds_handle_answer(ctx, hr, NGX_PDS_HANDLE_HTTPS, did);
        }
    }

    if (ctx->conf->handle_nameservers
        && ctx->conf->handle_nameservers->nelts)
    {
        return ngx_pds_handle_dns_post(ctx, hr, 1,
                                       ngx_pds_handle_backup_done);
    }

    return ngx_pds_handle_answer(ctx, hr, NGX_PDS_HANDLE_NONE, NULL);
}


static ngx_int_t
ngx_pds_handle_backup_done(ngx_pds_ctx_t *ctx)
{
    ngx_pds_hres_t  *hr = ctx->data;

    if (hr->job->rc == PDS_DNS_FOUND) {
        return ngx_pds_handle_answer(ctx, hr, NGX_PDS_HANDLE_DNS_BACKUP,
                                     hr->job->did);
    }

    if (hr->job->rc == -2) {
        ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log,
                      hr->job->err, "pds: handle %s: no answer from the "
                      "backup name servers", hr->out->handle);
    }

    return ngx_pds_handle_answer(ctx, hr, NGX_PDS_HANDLE_NONE, NULL);
}


/* ---- configuration ------------------------------------------------------ */


char *
ngx_pds_handle_nameservers(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_pds_srv_conf_t  *pscf = conf;

    ngx_url_t     u;
    ngx_str_t    *value;
    ngx_addr_t   *a;
    ngx_uint_t    i;

    if (pscf->handle_nameservers != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    if (cf->args->nelts - 1 > MAXNS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" takes at most %d name servers",
                           &cmd->name, MAXNS);
        return NGX_CONF_ERROR;
    }

    pscf->handle_nameservers = ngx_array_create(cf->pool, cf->args->nelts,
                                                sizeof(ngx_addr_t));
    if (pscf->handle_nameservers == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        ngx_memzero(&u, sizeof(ngx_url_t));
        u.url = value[i];
        u.default_port = 53;
        u.no_resolve = 1;

        if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs != 1
            || u.addrs[0].sockaddr->sa_family != AF_INET
            || u.uri.len)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\": \"%V\" is not an IPv4 address "
                               "(with an optional port)", &cmd->name,
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        a = ngx_array_push(pscf->handle_nameservers);
        if (a == NULL) {
            return NGX_CONF_ERROR;
        }

        *a = u.addrs[0];
    }

    return NGX_CONF_OK;
}
