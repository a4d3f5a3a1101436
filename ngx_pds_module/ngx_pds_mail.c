/*
 * ngx_pds_module: the mailer.
 *
 * Methods queue mails in the tenant's outbox (core/pds_outbox.c) in the
 * write transaction that stores the token they carry.  In every worker,
 * for every tenant, a timer looks at the outbox (a read transaction on the
 * event loop: is anything due?), and when something is:
 *
 *   1. a thread-pool task claims up to NGX_PDS_MAIL_BATCH due mails in a
 *      write transaction (each leased to this worker's pid for
 *      NGX_PDS_MAIL_LEASE, so no other worker sends it meanwhile; a lease
 *      whose worker died is free at once) and resolves the SMTP host
 *      (getaddrinfo, cached a minute);
 *   2. on the event loop, one SMTP session per mail (ngx_pds_smtp.c);
 *   3. a second task removes what the server accepted (250 after DATA)
 *      and what it refused for good (5xx to RCPT or to the message: logged
 *      at "error"), and reschedules the rest with a growing delay (5 s,
 *      10 s, 20 s ... at most 10 min; given up after 5 days in the queue).
 *
 * No LMDB write ever runs on the event loop, and the loop never waits for
 * the network.  A mail is removed only after the server accepted it, so a
 * crash anywhere loses none (it may be sent twice: at least once).
 * Without pds_email_smtp_url mails are written to the error log at
 * "notice" (recipient, subject and body) and removed.
 */

#include "ngx_pds.h"
#include "ngx_pds_mail.h"
#include "ngx_pds_smtp.h"
#include "pds_outbox.h"

#include <netdb.h>


#define NGX_PDS_MAIL_BATCH     8
#define NGX_PDS_MAIL_LEASE     (10 * 60 * 1000)  /* > a session's deadline */
#define NGX_PDS_MAIL_POLL      30000             /* ms between idle looks */
#define NGX_PDS_MAIL_START     1000              /* first look after start */
#define NGX_PDS_MAIL_DNS_TTL   60                /* s */


enum {
    NGX_PDS_MAIL_SENT = 0,     /* remove */
    NGX_PDS_MAIL_DROP,         /* remove: refused for good, or too old */
    NGX_PDS_MAIL_RETRY         /* keep, due again after the back-off */
};


typedef struct {
    ngx_pds_srv_conf_t       *conf;
    ngx_event_t               timer;
    ngx_thread_task_t        *task;
    ngx_log_t                *log;

    /* one pass */
    pds_arena_t              *arena;
    pds_outbox_mail_t         mails[NGX_PDS_MAIL_BATCH];
    ngx_uint_t                outcome[NGX_PDS_MAIL_BATCH];
    size_t                    n;
    ngx_uint_t                cur;
    int64_t                   now;
    int                       rc;              /* the task's LMDB result */
    unsigned                  finishing:1;     /* the task is the 2nd one */
    unsigned                  running:1;
    unsigned                  again:1;

    /* the SMTP server's address, resolved in the claim task */
    unsigned                  resolve:1;
    int                       gai_error;
    time_t                    addr_expires;
    ngx_sockaddr_t            sockaddr;
    socklen_t                 socklen;
    u_char                    addr_text[PDS_SMTP_HOST_MAX + 8];
    ngx_addr_t                addr;
} ngx_pds_mailer_t;


static void ngx_pds_mail_pass(ngx_event_t *ev);
static void ngx_pds_mail_next(ngx_pds_mailer_t *m);


static int64_t
ngx_pds_mail_now(void)
{
    ngx_time_t  *tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + tp->msec;
}


/* is the worker holding a lease still there */
static int
ngx_pds_mail_alive(int64_t owner, void *data)
{
    if (owner == (int64_t) ngx_pid) {
        return 1;
    }

    if (owner <= 0 || owner > NGX_MAX_INT32_VALUE) {
        return 0;
    }

    if (kill((pid_t) owner, 0) != 0 && ngx_errno != NGX_EPERM) {
        return 0;
    }

#if (NGX_LINUX)
    {
        int     fd;
        char    path[64], stat[256], *p;
        ssize_t n;

        /*
         * A killed worker whose parent died too may stay a zombie for a
         * while (a container's init may never reap it): that is gone.
         */
        ngx_snprintf((u_char *) path, sizeof(path), "/proc/%L/stat%Z",
                     owner);

        fd = open(path, O_RDONLY);
        if (fd == -1) {
            return 1;
        }

        n = read(fd, stat, sizeof(stat) - 1);
        close(fd);

        if (n > 0) {
            stat[n] = '\0';
            p = strrchr(stat, ')');

            if (p != NULL && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X')) {
                return 0;
            }
        }
    }
#endif

    return 1;
}


static void
ngx_pds_mail_schedule(ngx_pds_mailer_t *m, ngx_msec_t delay)
{
    if (m->timer.timer_set) {
        ngx_del_timer(&m->timer);
    }

    ngx_add_timer(&m->timer, delay);
}


/* ---- the thread tasks ---------------------------------------------------- */


static void
ngx_pds_mail_resolve(ngx_pds_mailer_t *m)
{
    int               rc;
    struct addrinfo   hints, *res, *ai;
    pds_smtp_url_t   *url = m->conf->smtp;

    ngx_memzero(&hints, sizeof(struct addrinfo));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;

    rc = getaddrinfo(url->host, NULL, &hints, &res);
    if (rc != 0) {
        m->gai_error = rc;
        return;
    }

    /* IPv4 first, as ngx_pds_resolve.c chooses */
    for (ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET) {
            break;
        }
    }

    if (ai == NULL) {
        for (ai = res; ai; ai = ai->ai_next) {
            if (ai->ai_family == AF_INET6) {
                break;
            }
        }
    }

    if (ai == NULL || ai->ai_addrlen > sizeof(ngx_sockaddr_t)) {
        m->gai_error = EAI_NODATA;

    } else {
        ngx_memcpy(&m->sockaddr, ai->ai_addr, ai->ai_addrlen);
        m->socklen = ai->ai_addrlen;
        m->gai_error = 0;
    }

    freeaddrinfo(res);
}


static void
ngx_pds_mail_work(void *data, ngx_log_t *log)
{
    int                 rc;
    size_t              i;
    MDB_txn            *txn;
    pds_alloc_t         a;
    pds_store_t        *store;
    ngx_pds_mailer_t   *m = data;
    pds_outbox_mail_t  *mail;

    store = m->conf->env->store;

    rc = pds_store_write_begin(store, &txn);
    if (rc != 0) {
        m->rc = rc;
        return;
    }

    if (!m->finishing) {
        a = pds_arena_allocator(m->arena);
        rc = pds_outbox_claim(store, txn, m->now, (int64_t) ngx_pid,
                              NGX_PDS_MAIL_LEASE, ngx_pds_mail_alive, NULL,
                              &a, m->mails, NGX_PDS_MAIL_BATCH, &m->n);

    } else {
        for (i = 0; rc == 0 && i < m->n; i++) {
            mail = &m->mails[i];

            if (m->outcome[i] == NGX_PDS_MAIL_RETRY) {
                rc = pds_outbox_retry(store, txn, mail->id,
                                      m->now
                                      + pds_outbox_backoff(mail->tries + 1));
                if (rc == PDS_NOTFOUND) {
                    rc = 0;
                }

            } else {
                rc = pds_outbox_remove(store, txn, mail->id);
            }
        }
    }

    if (rc != 0) {
        mdb_txn_abort(txn);
        m->rc = rc;
        return;
    }

    m->rc = mdb_txn_commit(txn);

    if (m->rc == 0 && !m->finishing && m->n > 0 && m->resolve) {
        ngx_pds_mail_resolve(m);
    }
}


static ngx_int_t
ngx_pds_mail_post(ngx_pds_mailer_t *m, ngx_uint_t finishing)
{
    m->finishing = finishing;
    m->now = ngx_pds_mail_now();
    m->rc = -1;

    if (ngx_thread_task_post(m->conf->thread_pool, m->task) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* ---- a pass --------------------------------------------------------------- */


static void
ngx_pds_mail_end(ngx_pds_mailer_t *m, ngx_msec_t delay)
{
    if (m->arena) {
        pds_arena_destroy(m->arena);
        m->arena = NULL;
    }

    m->running = 0;
    m->n = 0;

    if (m->again) {
        m->again = 0;
        delay = 1;
    }

    if (!ngx_exiting && !ngx_quit && !ngx_terminate) {
        ngx_pds_mail_schedule(m, delay);
    }
}


/* back from a task */
static void
ngx_pds_mail_task_done(ngx_event_t *ev)
{
    ngx_uint_t         full;
    ngx_pds_mailer_t  *m = ev->data;

    if (m->rc != 0) {
        ngx_log_error(NGX_LOG_ERR, m->log, 0,
                      "pds: the outbox of \"%V\" could not be %s: %d",
                      &m->conf->hostname,
                      m->finishing ? "updated" : "read", m->rc);
        /* what was claimed stays leased and is retried when that ends */
        ngx_pds_mail_end(m, NGX_PDS_MAIL_POLL);
        return;
    }

    if (m->finishing) {
        full = (m->n == NGX_PDS_MAIL_BATCH);
        ngx_pds_mail_end(m, full ? 1 : 1000);
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, m->log, 0,
                   "pds: mailer of \"%V\": %uz mails claimed",
                   &m->conf->hostname, m->n);

    if (m->n == 0) {
        ngx_pds_mail_end(m, NGX_PDS_MAIL_POLL);
        return;
    }

    if (m->resolve) {
        if (m->gai_error == 0) {
            ngx_inet_set_port(&m->sockaddr.sockaddr,
                              ((pds_smtp_url_t *) m->conf->smtp)->port);
            m->addr.socklen = m->socklen;
            m->addr_expires = ngx_time() + NGX_PDS_MAIL_DNS_TTL;

        } else {
            ngx_log_error(NGX_LOG_WARN, m->log, 0,
                          "pds: the SMTP server \"%V\" could not be "
                          "resolved: %s", &m->addr.name,
                          gai_strerror(m->gai_error));
            m->addr_expires = 0;
        }

        m->resolve = 0;
    }

    m->cur = 0;
    ngx_pds_mail_next(m);
}


static void
ngx_pds_mail_finish_pass(ngx_pds_mailer_t *m)
{
    if (ngx_pds_mail_post(m, 1) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, m->log, 0,
                      "pds: mailer: the thread pool is full; the mails "
                      "claimed will be sent again when their lease ends");
        ngx_pds_mail_end(m, NGX_PDS_MAIL_POLL);
    }
}


/* a mail's outcome into the log and the pass */
static void
ngx_pds_mail_outcome(ngx_pds_mailer_t *m, ngx_uint_t outcome,
    const u_char *reason)
{
    pds_outbox_mail_t  *mail = &m->mails[m->cur];

    m->outcome[m->cur] = outcome;

    switch (outcome) {

    case NGX_PDS_MAIL_SENT:
        ngx_log_error(NGX_LOG_INFO, m->log, 0,
                      "pds: mail %uL to \"%s\" (%s) sent: %s",
                      mail->id, mail->to, mail->did ? mail->did : "-",
                      reason);
        break;

    case NGX_PDS_MAIL_DROP:
        ngx_log_error(NGX_LOG_ERR, m->log, 0,
                      "pds: mail %uL to \"%s\" (%s), subject \"%s\", is "
                      "given up after %L attempts: %s", mail->id, mail->to,
                      mail->did ? mail->did : "-", mail->subject,
                      mail->tries + 1, reason);
        break;

    default:
        ngx_log_error(NGX_LOG_WARN, m->log, 0,
                      "pds: mail %uL to \"%s\" not sent yet (attempt %L): "
                      "%s; next attempt in %L s", mail->id, mail->to,
                      mail->tries + 1, reason,
                      pds_outbox_backoff(mail->tries + 1) / 1000);
    }

    m->cur++;
}


static void
ngx_pds_mail_sent(ngx_pds_smtp_t *s)
{
    ngx_uint_t         outcome;
    ngx_pds_mailer_t  *m = s->data;

    switch (s->result) {
    case NGX_PDS_SMTP_SENT:
        outcome = NGX_PDS_MAIL_SENT;
        break;
    case NGX_PDS_SMTP_REFUSED:
        outcome = NGX_PDS_MAIL_DROP;
        break;
    default:
        outcome = NGX_PDS_MAIL_RETRY;
    }

    ngx_pds_mail_outcome(m, outcome, s->reason);

    ngx_destroy_pool(s->pool);

    ngx_pds_mail_next(m);
}


/* the next claimed mail: logged, or handed to an SMTP session */
static void
ngx_pds_mail_next(ngx_pds_mailer_t *m)
{
    u_char              *p;
    ngx_pool_t          *pool;
    pds_buf_t            buf;
    pds_alloc_t          a;
    ngx_pds_smtp_t      *s;
    pds_smtp_msg_t       msg;
    pds_outbox_mail_t   *mail;
    ngx_pds_srv_conf_t  *conf = m->conf;
    char                 mid[128];

    for ( ;; ) {
        if (m->cur == m->n) {
            ngx_pds_mail_finish_pass(m);
            return;
        }

        mail = &m->mails[m->cur];

        if (conf->smtp == NULL) {
            ngx_log_error(NGX_LOG_NOTICE, m->log, 0,
                          "pds: mail to \"%s\" (%s), not sent (no "
                          "pds_email_smtp_url):\nSubject: %s\n\n%s",
                          mail->to, mail->did ? mail->did : "-",
                          mail->subject, mail->text);
            m->outcome[m->cur++] = NGX_PDS_MAIL_SENT;
            continue;
        }

        if (m->now - mail->queued > PDS_OUTBOX_LIFETIME_MS) {
            ngx_pds_mail_outcome(m, NGX_PDS_MAIL_DROP,
                                 (u_char *) "in the queue for too long");
            continue;
        }

        if (m->addr_expires == 0) {
            ngx_pds_mail_outcome(m, NGX_PDS_MAIL_RETRY,
                                 (u_char *) gai_strerror(m->gai_error));
            continue;
        }

        break;
    }

    pool = ngx_create_pool(4096, m->log);
    if (pool == NULL) {
        goto failed;
    }

    s = ngx_pcalloc(pool, sizeof(ngx_pds_smtp_t));
    if (s == NULL) {
        ngx_destroy_pool(pool);
        goto failed;
    }

    /* the same Message-ID on every attempt: a receiver may drop repeats */
    p = ngx_snprintf((u_char *) mid, sizeof(mid) - 1, "<%uL.%L@%V>",
                     mail->id, mail->queued, &conf->hostname);
    *p = '\0';

    ngx_memzero(&msg, sizeof(pds_smtp_msg_t));
    msg.from = conf->mail_from;
    msg.to = mail->to;
    msg.subject = mail->subject;
    msg.text = mail->text;
    msg.date = (time_t) (mail->queued / 1000);
    msg.message_id = mid;

    ngx_pds_pool_allocator(pool, &a);
    pds_buf_init(&buf, &a);

    if (pds_smtp_message(&buf, &msg) != 0) {
        ngx_destroy_pool(pool);
        ngx_pds_mail_outcome(m, NGX_PDS_MAIL_DROP,
                             (u_char *) "the mail cannot be written as a "
                                        "message (a bad address?)");
        ngx_pds_mail_next(m);
        return;
    }

    s->pool = pool;
    s->url = conf->smtp;
    s->from = conf->mail_from;
    s->ssl = conf->smtp_ssl;
    s->helo = conf->hostname;
    s->addr = m->addr;
    s->rcpt = mail->to;
    s->payload.data = buf.data;
    s->payload.len = buf.len;
    s->log = m->log;
    s->done = ngx_pds_mail_sent;
    s->data = m;

    ngx_pds_smtp_send(s);
    return;

failed:

    ngx_pds_mail_outcome(m, NGX_PDS_MAIL_RETRY, (u_char *) "no memory");
    ngx_pds_mail_next(m);
}


/* the timer: is anything due? then claim it */
static void
ngx_pds_mail_pass(ngx_event_t *ev)
{
    int                rc;
    int64_t            due, now;
    MDB_txn           *txn;
    pds_store_t       *store;
    ngx_msec_t         delay;
    ngx_pds_mailer_t  *m = ev->data;

    if (m->running || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    store = m->conf->env ? m->conf->env->store : NULL;
    if (store == NULL) {
        return;
    }

    now = ngx_pds_mail_now();

    rc = pds_store_read_begin(store, &txn);
    if (rc != 0) {
        ngx_pds_mail_schedule(m, NGX_PDS_MAIL_POLL);
        return;
    }

    rc = pds_outbox_next_due(store, txn, now, ngx_pds_mail_alive, NULL, &due);
    mdb_txn_abort(txn);

    if (rc != 0) {
        if (rc != PDS_NOTFOUND) {
            ngx_log_error(NGX_LOG_ERR, m->log, 0,
                          "pds: the outbox of \"%V\" cannot be read: %d",
                          &m->conf->hostname, rc);
        }

        ngx_pds_mail_schedule(m, NGX_PDS_MAIL_POLL);
        return;
    }

    if (due > now) {
        delay = (due - now < NGX_PDS_MAIL_POLL) ? (ngx_msec_t) (due - now)
                                                : NGX_PDS_MAIL_POLL;
        ngx_pds_mail_schedule(m, delay);
        return;
    }

    m->arena = pds_arena_create();
    if (m->arena == NULL) {
        ngx_pds_mail_schedule(m, NGX_PDS_MAIL_POLL);
        return;
    }

    m->n = 0;
    m->resolve = (m->conf->smtp != NULL && m->addr_expires < ngx_time());
    m->running = 1;

    if (ngx_pds_mail_post(m, 0) != NGX_OK) {
        ngx_pds_mail_end(m, NGX_PDS_MAIL_START);
    }
}


void
ngx_pds_mail_wake(ngx_pds_srv_conf_t *conf)
{
    ngx_pds_mailer_t  *m = conf->mailer;

    if (m == NULL) {
        return;
    }

    if (m->running) {
        m->again = 1;
        return;
    }

    ngx_pds_mail_schedule(m, 1);
}


/* ---- configuration and process start ------------------------------------- */


/* an IP literal needs no resolution: NGX_OK with m->sockaddr set */
static ngx_int_t
ngx_pds_mail_literal(ngx_pool_t *pool, ngx_pds_mailer_t *m)
{
    ngx_addr_t       addr;
    pds_smtp_url_t  *url = m->conf->smtp;

    if (ngx_parse_addr(pool, &addr, (u_char *) url->host,
                       ngx_strlen(url->host)) != NGX_OK
        || addr.socklen > sizeof(ngx_sockaddr_t))
    {
        return NGX_DECLINED;
    }

    ngx_memcpy(&m->sockaddr, addr.sockaddr, addr.socklen);
    m->socklen = addr.socklen;
    ngx_inet_set_port(&m->sockaddr.sockaddr, url->port);

    return NGX_OK;
}


ngx_int_t
ngx_pds_mail_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t             i;
    ngx_pds_mailer_t      *m;
    ngx_pds_srv_conf_t   **t;
    ngx_pds_main_conf_t   *pmcf;
    pds_smtp_url_t        *url;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    pmcf = ngx_pds_main_conf(cycle);
    if (pmcf == NULL) {
        return NGX_OK;
    }

    t = pmcf->tenants.elts;

    for (i = 0; i < pmcf->tenants.nelts; i++) {
        if (t[i]->env == NULL) {
            continue;
        }

        m = ngx_pcalloc(cycle->pool, sizeof(ngx_pds_mailer_t));
        if (m == NULL) {
            return NGX_ERROR;
        }

        m->task = ngx_pds_background(cycle->pool, cycle->log, m,
                                     ngx_pds_mail_work, ngx_pds_mail_task_done,
                                     &m->timer, ngx_pds_mail_pass);
        if (m->task == NULL) {
            return NGX_ERROR;
        }

        m->conf = t[i];
        m->log = cycle->log;

        if (t[i]->smtp) {
            url = t[i]->smtp;

            if (ngx_pds_mail_literal(cycle->pool, m) == NGX_OK) {
                m->addr_expires = NGX_MAX_TIME_T_VALUE;

            } else {
                m->sockaddr.sockaddr.sa_family = AF_UNSPEC;
            }

            m->addr.sockaddr = &m->sockaddr.sockaddr;
            m->addr.socklen = m->socklen;
            m->addr.name.data = m->addr_text;
            m->addr.name.len = ngx_snprintf(m->addr_text,
                                            sizeof(m->addr_text), "%s:%d",
                                            url->host, (int) url->port)
                               - m->addr_text;
        }

        t[i]->mailer = m;

        ngx_add_timer(&m->timer, NGX_PDS_MAIL_START);
    }

    return NGX_OK;
}


/* pds_email_smtp_url, pds_email_from_address, pds_email_smtp_ca_file */
char *
ngx_pds_mail_merge(ngx_conf_t *cf, ngx_pds_srv_conf_t *conf)
{
    char                 err[128];
    ngx_ssl_t           *ssl;
    pds_smtp_url_t      *url;
    pds_smtp_from_t     *from;
    ngx_pool_cleanup_t  *cln;

    if (conf->email_from.len) {
        from = ngx_pcalloc(cf->pool, sizeof(pds_smtp_from_t));
        if (from == NULL) {
            return NGX_CONF_ERROR;
        }

        if (pds_smtp_from_parse((char *) conf->email_from.data,
                                conf->email_from.len, from) != 0)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"pds_email_from_address\" \"%V\" is neither an "
                          "address nor \"Name <address>\" (%s:%ui)",
                          &conf->email_from, conf->file, conf->line);
            return NGX_CONF_ERROR;
        }

        conf->mail_from = from;
    }

    if (conf->smtp_url.len == 0) {
        return NGX_CONF_OK;
    }

    url = ngx_pcalloc(cf->pool, sizeof(pds_smtp_url_t));
    if (url == NULL) {
        return NGX_CONF_ERROR;
    }

    if (pds_smtp_url_parse((char *) conf->smtp_url.data, conf->smtp_url.len,
                           url, err, sizeof(err)) != 0)
    {
        /* (the URL may hold a password: not repeated here) */
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"pds_email_smtp_url\" %s (%s:%ui)", err, conf->file,
                      conf->line);
        return NGX_CONF_ERROR;
    }

    if (conf->mail_from == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"pds_email_smtp_url\" needs \"pds_email_from_address\""
                      " (%s:%ui)", conf->file, conf->line);
        return NGX_CONF_ERROR;
    }

    ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
    if (ssl == NULL) {
        return NGX_CONF_ERROR;
    }

    ssl->log = cf->log;

    if (ngx_ssl_create(ssl, NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3, NULL)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(ssl);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = ssl;

    if (conf->smtp_ca_file.len) {
        if (ngx_ssl_trusted_certificate(cf, ssl, &conf->smtp_ca_file, 5)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

    } else if (SSL_CTX_set_default_verify_paths(ssl->ctx) != 1) {
        ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                      "the system's CA certificates cannot be loaded for "
                      "\"pds_email_smtp_url\"");
        return NGX_CONF_ERROR;
    }

    conf->smtp = url;
    conf->smtp_ssl = ssl;

    return NGX_CONF_OK;
}
