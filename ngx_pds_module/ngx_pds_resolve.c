/*
 * ngx_pds_module: the addresses of outbound hosts.
 *
 * Every outbound call connects to an address this file chose, never to a
 * name nginx resolves later: so a name is resolved the way the system
 * resolves it (/etc/hosts, nss: getaddrinfo in the thread pool, never on
 * the event loop), the answer is cached for a minute per worker, and for
 * a target a user chose (a DID document, a handle, a client's metadata)
 * the address checked against the SSRF rules (core/pds_net.h) is the very
 * address connected to: no DNS-rebinding window.
 *
 * When the configuration has a "resolver", names go to it instead (nginx's
 * own asynchronous resolver, as the admin asked), with the same cache and
 * the same checks.
 *
 * A step that needs an address calls ngx_pds_resolve(); NGX_DONE means a
 * thread (or the resolver) is asking and the request resumes in "done",
 * which calls ngx_pds_resolve() again and finds the answer in the cache.
 */

#include "ngx_pds.h"
#include "pds_net.h"

#include <netdb.h>


#define NGX_PDS_RESOLVE_SLOTS   64
#define NGX_PDS_RESOLVE_ADDRS   8
#define NGX_PDS_RESOLVE_TTL     60      /* seconds an answer is kept */
#define NGX_PDS_RESOLVE_NEG_TTL 5       /* ... and a failure */
#define NGX_PDS_HOST_MAX        253


typedef struct {
    u_char                    host[NGX_PDS_HOST_MAX + 1];
    size_t                    host_len;
    time_t                    expires;
    int                       error;       /* getaddrinfo's, 0: found */
    ngx_uint_t                naddrs;
    ngx_sockaddr_t            addrs[NGX_PDS_RESOLVE_ADDRS];
    socklen_t                 lens[NGX_PDS_RESOLVE_ADDRS];
} ngx_pds_resolved_t;


typedef struct {
    ngx_pds_resolved_t        answer;      /* filled in the thread */
    ngx_pds_resume_pt         done;
    ngx_pds_ctx_t            *ctx;         /* nginx's resolver: the request */
    ngx_resolver_ctx_t       *rctx;
    unsigned                  waiting:1;
    unsigned                  answered:1;
} ngx_pds_resolve_job_t;


static ngx_pds_resolved_t  ngx_pds_resolve_cache[NGX_PDS_RESOLVE_SLOTS];
static ngx_uint_t          ngx_pds_resolve_next;


static ngx_pds_resolved_t *
ngx_pds_resolve_cached(ngx_str_t *host)
{
    ngx_uint_t           i;
    ngx_pds_resolved_t  *e;

    for (i = 0; i < NGX_PDS_RESOLVE_SLOTS; i++) {
        e = &ngx_pds_resolve_cache[i];

        if (e->host_len == host->len && e->expires > ngx_time()
            && ngx_strncasecmp(e->host, host->data, host->len) == 0)
        {
            return e;
        }
    }

    return NULL;
}


/* runs in a thread: the system's answer, IPv4 addresses first */
static void
ngx_pds_resolve_work(void *data, ngx_log_t *log)
{
    int                   rc, pass;
    struct addrinfo       hints, *res, *ai;
    ngx_pds_resolved_t   *a;
    ngx_pds_resolve_job_t  *job = data;

    a = &job->answer;

    ngx_memzero(&hints, sizeof(struct addrinfo));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;

    rc = getaddrinfo((char *) a->host, NULL, &hints, &res);

    if (rc == EAI_NONAME || rc == EAI_NODATA || rc == EAI_ADDRFAMILY) {
        /* AI_ADDRCONFIG hides ::1 and 127.0.0.1 on a host without a
           configured address of that family: ask once more without it */
        hints.ai_flags = 0;
        rc = getaddrinfo((char *) a->host, NULL, &hints, &res);
    }

    if (rc != 0) {
        a->error = rc;
        return;
    }

    /*
     * IPv4 first: a local service named "localhost" often listens on
     * 127.0.0.1 only, and the call has one address to connect to.
     */
    for (pass = 0; pass < 2; pass++) {
        for (ai = res; ai && a->naddrs < NGX_PDS_RESOLVE_ADDRS;
             ai = ai->ai_next)
        {
            if ((pass == 0) != (ai->ai_family == AF_INET)
                || (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
                || ai->ai_addrlen > sizeof(ngx_sockaddr_t))
            {
                continue;
            }

            ngx_memcpy(&a->addrs[a->naddrs], ai->ai_addr, ai->ai_addrlen);
            a->lens[a->naddrs] = ai->ai_addrlen;
            a->naddrs++;
        }
    }

    freeaddrinfo(res);

    if (a->naddrs == 0) {
        a->error = EAI_NODATA;
    }
}


/* an answer into the cache */
static ngx_pds_resolved_t *
ngx_pds_resolve_store(ngx_pds_ctx_t *ctx, ngx_pds_resolve_job_t *job)
{
    ngx_pds_resolved_t  *e;

    e = &ngx_pds_resolve_cache[ngx_pds_resolve_next++
                               % NGX_PDS_RESOLVE_SLOTS];
    *e = job->answer;
    e->expires = ngx_time() + (e->error ? NGX_PDS_RESOLVE_NEG_TTL
                                        : NGX_PDS_RESOLVE_TTL);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "pds: resolved \"%s\": %ui addresses, error %d",
                   e->host, e->naddrs, e->error);

    return e;
}


/* the request's next step once the answer came (it asks again) */
static ngx_int_t
ngx_pds_resolve_done(ngx_pds_ctx_t *ctx)
{
    ngx_pds_resolve_job_t  *job = ctx->job;

    ctx->job = NULL;

    (void) ngx_pds_resolve_store(ctx, job);

    return job->done(ctx);
}


/* the answer of nginx's resolver into the job (on the event loop) */
static void
ngx_pds_resolve_answer(ngx_resolver_ctx_t *rctx)
{
    ngx_uint_t              i, pass;
    ngx_pds_ctx_t          *ctx;
    ngx_pds_resolved_t     *a;
    ngx_connection_t       *c;
    ngx_http_request_t     *r;
    ngx_pds_resolve_job_t  *job = rctx->data;

    a = &job->answer;

    if (rctx->state != NGX_OK || rctx->naddrs == 0) {
        a->error = EAI_NONAME;

    } else {
        for (pass = 0; pass < 2; pass++) {
            for (i = 0; i < rctx->naddrs && a->naddrs < NGX_PDS_RESOLVE_ADDRS;
                 i++)
            {
                if ((pass == 0)
                    != (rctx->addrs[i].sockaddr->sa_family == AF_INET)
                    || rctx->addrs[i].socklen > sizeof(ngx_sockaddr_t))
                {
                    continue;
                }

                ngx_memcpy(&a->addrs[a->naddrs], rctx->addrs[i].sockaddr,
                           rctx->addrs[i].socklen);
                a->lens[a->naddrs] = rctx->addrs[i].socklen;
                a->naddrs++;
            }
        }
    }

    ngx_resolve_name_done(rctx);

    job->answered = 1;

    if (!job->waiting) {
        return;                 /* answered from nginx's cache, in the call */
    }

    /* the request waits: resume it as a finished thread task would */

    ctx = job->ctx;
    r = ctx->request;
    c = r->connection;          /* r may be gone after its handler */

    ctx->waiting = 0;
    r->write_event_handler(r);
    ngx_http_run_posted_requests(c);
}


/* a request that ends before the answer: the resolver must forget it */
static void
ngx_pds_resolve_cleanup(void *data)
{
    ngx_pds_resolve_job_t  *job = data;

    if (!job->answered && job->rctx) {
        ngx_resolve_name_done(job->rctx);
        job->answered = 1;
    }
}


/* asks nginx's resolver: NGX_OK (answered at once), NGX_DONE, or error */
static ngx_int_t
ngx_pds_resolve_nginx(ngx_pds_ctx_t *ctx, ngx_pds_resolve_job_t *job)
{
    ngx_str_t            name;
    ngx_pool_cleanup_t  *cln;
    ngx_resolver_ctx_t  *rctx;
    ngx_http_request_t  *r = ctx->request;

    name.data = job->answer.host;
    name.len = job->answer.host_len;

    rctx = ngx_resolve_start(ctx->conf->resolver, NULL);
    if (rctx == NULL || rctx == NGX_NO_RESOLVER) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        ngx_resolve_name_done(rctx);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_pds_resolve_cleanup;
    cln->data = job;

    rctx->name = name;
    rctx->handler = ngx_pds_resolve_answer;
    rctx->data = job;
    rctx->timeout = ctx->conf->resolver_timeout;

    job->ctx = ctx;
    job->rctx = rctx;

    if (ngx_resolve_name(rctx) != NGX_OK) {
        job->answered = 1;      /* nginx freed rctx */
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (job->answered) {
        return NGX_OK;
    }

    job->waiting = 1;
    ctx->resume = ngx_pds_resolve_done;
    ctx->waiting = 1;
    r->write_event_handler = ngx_pds_resume_handler;
    r->main->count++;

    return NGX_DONE;
}


/* is this address one an outbound call to a user's target may reach */
static ngx_uint_t
ngx_pds_address_public(struct sockaddr *sa)
{
    switch (sa->sa_family) {

    case AF_INET:
        return pds_ipv4_is_public(
                   (uint8_t *) &((struct sockaddr_in *) sa)->sin_addr);

#if (NGX_HAVE_INET6)
    case AF_INET6:
        return pds_ipv6_is_public(
                   ((struct sockaddr_in6 *) sa)->sin6_addr.s6_addr);
#endif

    default:
        return 0;
    }
}


/*
 * The address to connect to for host (a name or an IP literal; IPv6
 * without brackets): NGX_OK with *addr set (its port is left 0), NGX_DONE
 * while a thread resolves (the request resumes in done, which calls this
 * again), or an error status with the XRPC error recorded.  public_only:
 * the host was chosen by a user, and only addresses that pass the SSRF
 * rules may be used (unless the tenant disabled that protection).
 */
ngx_int_t
ngx_pds_resolve(ngx_pds_ctx_t *ctx, ngx_str_t *host, ngx_uint_t public_only,
    ngx_pds_address_t *addr, ngx_pds_resume_pt done)
{
    ngx_int_t               rc;
    ngx_uint_t              i, check;
    ngx_pds_resolved_t     *e;
    ngx_pds_resolve_job_t  *job;

    check = public_only && !ctx->conf->ssrf_disabled;

    if (host->len == 0 || host->len > NGX_PDS_HOST_MAX
        || ngx_strlchr(host->data, host->data + host->len, '\0'))
    {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_GATEWAY, "UpstreamFailure",
                             "Invalid host name");
    }

    /* an IP literal is its own answer */

    ngx_memzero(addr, sizeof(ngx_pds_address_t));

    if (ngx_inet_addr(host->data, host->len) != INADDR_NONE) {
        addr->sockaddr.sockaddr_in.sin_family = AF_INET;
        addr->sockaddr.sockaddr_in.sin_addr.s_addr =
                                       ngx_inet_addr(host->data, host->len);
        addr->socklen = sizeof(struct sockaddr_in);
        goto found;
    }

#if (NGX_HAVE_INET6)
    if (ngx_strlchr(host->data, host->data + host->len, ':')) {
        if (ngx_inet6_addr(host->data, host->len,
                           addr->sockaddr.sockaddr_in6.sin6_addr.s6_addr)
            != NGX_OK)
        {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_GATEWAY,
                                 "UpstreamFailure", "Invalid IPv6 address");
        }

        addr->sockaddr.sockaddr_in6.sin6_family = AF_INET6;
        addr->socklen = sizeof(struct sockaddr_in6);
        goto found;
    }
#endif

    e = ngx_pds_resolve_cached(host);

    if (e == NULL) {
        job = ngx_pcalloc(ctx->request->pool, sizeof(ngx_pds_resolve_job_t));
        if (job == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(job->answer.host, host->data, host->len);
        job->answer.host[host->len] = '\0';
        job->answer.host_len = host->len;
        job->done = done;

        ctx->job = job;

        if (ctx->conf->resolver) {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP,
                           ctx->request->connection->log, 0,
                           "pds: resolving \"%V\" with nginx's resolver",
                           host);

            rc = ngx_pds_resolve_nginx(ctx, job);
            if (rc != NGX_OK) {
                if (rc != NGX_DONE) {
                    ctx->job = NULL;
                }

                return rc;
            }

            /* answered at once (nginx's own cache): on with it */
            ctx->job = NULL;
            e = ngx_pds_resolve_store(ctx, job);
            goto answered;
        }

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                       "pds: resolving \"%V\" in a thread", host);

        rc = ngx_pds_thread_post(ctx, ngx_pds_resolve_work, job,
                                 ngx_pds_resolve_done);
        if (rc != NGX_DONE) {
            ctx->job = NULL;
        }

        return rc;
    }

answered:

    if (e->error) {
        ngx_log_error(NGX_LOG_WARN, ctx->request->connection->log, 0,
                      "pds: \"%V\" could not be resolved: %s", host,
                      gai_strerror(e->error));

        return ngx_pds_error(ctx, NGX_HTTP_BAD_GATEWAY, "UpstreamFailure",
                             "%V could not be resolved", host);
    }

    for (i = 0; i < e->naddrs; i++) {
        if (!check || ngx_pds_address_public(&e->addrs[i].sockaddr)) {
            ngx_memcpy(&addr->sockaddr, &e->addrs[i], e->lens[i]);
            addr->socklen = e->lens[i];
            break;
        }
    }

    if (i == e->naddrs) {
        goto refused;
    }

    return NGX_OK;

found:

    if (check && !ngx_pds_address_public(&addr->sockaddr.sockaddr)) {
        goto refused;
    }

    return NGX_OK;

refused:

    ngx_log_error(NGX_LOG_WARN, ctx->request->connection->log, 0,
                  "pds: \"%V\" resolves only to addresses that are not "
                  "public: refused (\"pds_disable_ssrf_protection on\" "
                  "allows them, for development)", host);

    return ngx_pds_error(ctx, NGX_HTTP_BAD_GATEWAY, "UpstreamFailure",
                         "%V resolves to a non-unicast address", host);
}
