/*
 * ngx_pds_module: an SMTP session on nginx's event loop (see
 * ngx_pds_smtp.h): ngx_event_connect_peer, non-blocking reads and writes,
 * OpenSSL through ngx_ssl_create_connection / ngx_ssl_handshake as nginx's
 * upstream and mail proxy do, the certificate checked against the system
 * CA store (or pds_email_smtp_ca_file) and the host name.
 */

#include "ngx_pds.h"
#include "ngx_pds_smtp.h"


#define NGX_PDS_SMTP_STEP_TIMEOUT   30000   /* ms per reply or write */
#define NGX_PDS_SMTP_DEADLINE       120000  /* ms for the whole session */
#define NGX_PDS_SMTP_IN_SIZE        8192
#define NGX_PDS_SMTP_CMD_SIZE       1024


enum {
    NGX_PDS_SMTP_CONNECT = 0,
    NGX_PDS_SMTP_GREETING,
    NGX_PDS_SMTP_EHLO,
    NGX_PDS_SMTP_HELO,
    NGX_PDS_SMTP_STARTTLS,
    NGX_PDS_SMTP_AUTH_LOGIN,        /* waiting for 334 to send the user */
    NGX_PDS_SMTP_AUTH_USER,         /* ... for 334 to send the password */
    NGX_PDS_SMTP_AUTH,              /* ... for 235 */
    NGX_PDS_SMTP_MAIL,
    NGX_PDS_SMTP_RCPT,
    NGX_PDS_SMTP_DATA,
    NGX_PDS_SMTP_BODY,
    NGX_PDS_SMTP_DONE
};


static const char  *ngx_pds_smtp_steps[] = {
    "connecting", "the greeting", "EHLO", "HELO", "STARTTLS", "AUTH LOGIN",
    "AUTH LOGIN", "AUTH", "MAIL FROM", "RCPT TO", "DATA", "the message",
    "QUIT"
};


static void ngx_pds_smtp_read_handler(ngx_event_t *ev);
static void ngx_pds_smtp_write_handler(ngx_event_t *ev);
static void ngx_pds_smtp_reply(ngx_pds_smtp_t *s, pds_smtp_reply_t *r,
    u_char *text);


static void
ngx_pds_smtp_done_handler(ngx_event_t *ev)
{
    ngx_pds_smtp_t  *s = ev->data;

    s->done(s);
}


/* ends the session with result (reason: printf-style, for the log) */
static void
ngx_pds_smtp_finish(ngx_pds_smtp_t *s, ngx_uint_t result, const char *fmt,
    ...)
{
    va_list            args;
    ngx_connection_t  *c;

    if (s->finished) {
        return;
    }

    s->finished = 1;
    s->result = result;

    if (fmt != NULL) {
        u_char  *p;

        va_start(args, fmt);
        p = ngx_vslprintf(s->reason, s->reason + sizeof(s->reason) - 1, fmt,
                          args);
        va_end(args);
        *p = '\0';
    }

    c = s->peer.connection;

    if (c != NULL) {
        if (c->ssl) {
            /* no close_notify exchange: the SSL object goes at once */
            c->ssl->no_wait_shutdown = 1;
            c->ssl->no_send_shutdown = 1;
            (void) ngx_ssl_shutdown(c);
        }

        ngx_close_connection(c);
        s->peer.connection = NULL;
    }

    if (s->deadline.timer_set) {
        ngx_del_timer(&s->deadline);
    }

    /* the caller hears of it from the event loop, never from within */
    s->deadline.handler = ngx_pds_smtp_done_handler;
    ngx_post_event(&s->deadline, &ngx_posted_events);
}


static void
ngx_pds_smtp_deadline_handler(ngx_event_t *ev)
{
    ngx_pds_smtp_t  *s = ev->data;

    ngx_pds_smtp_finish(s, NGX_PDS_SMTP_TEMPORARY,
                        "the session took longer than %ui s",
                        (ngx_uint_t) NGX_PDS_SMTP_DEADLINE / 1000);
}


/* a failed reply: 5xx for this message is final, anything else not */
static void
ngx_pds_smtp_refused(ngx_pds_smtp_t *s, pds_smtp_reply_t *r,
    ngx_uint_t mail_specific)
{
    s->code = r->code;

    ngx_pds_smtp_finish(s, (mail_specific && r->code >= 500)
                           ? NGX_PDS_SMTP_REFUSED : NGX_PDS_SMTP_TEMPORARY,
                        "%s: %ui %*s", ngx_pds_smtp_steps[s->state],
                        (ngx_uint_t) r->code, r->last_len, r->last);
}


/* queues one command line and writes */
static void
ngx_pds_smtp_cmd(ngx_pds_smtp_t *s, ngx_uint_t state, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    s->out->pos = s->out->start;

    va_start(args, fmt);
    p = ngx_vslprintf(s->out->start, s->out->end - 2, fmt, args);
    va_end(args);

    *p++ = CR;
    *p++ = LF;
    s->out->last = p;
    s->state = state;

    ngx_pds_smtp_write_handler(s->peer.connection->write);
}


/* ---- TLS ------------------------------------------------------------------ */


static void
ngx_pds_smtp_handshaked(ngx_connection_t *c)
{
    long             rc;
    ngx_str_t        name;
    ngx_pds_smtp_t  *s = c->data;

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    if (!c->ssl->handshaked) {
        ngx_pds_smtp_finish(s, NGX_PDS_SMTP_TEMPORARY, "TLS handshake failed");
        return;
    }

    rc = SSL_get_verify_result(c->ssl->connection);
    if (rc != X509_V_OK) {
        ngx_pds_smtp_finish(s, NGX_PDS_SMTP_TEMPORARY,
                            "the server's certificate is not trusted: "
                            "(%l) %s", rc, X509_verify_cert_error_string(rc));
        return;
    }

    name.data = (u_char *) s->url->host;
    name.len = ngx_strlen(s->url->host);

    if (ngx_ssl_check_host(c, &name) != NGX_OK) {
        ngx_pds_smtp_finish(s, NGX_PDS_SMTP_TEMPORARY,
                            "the server's certificate does not match \"%V\"",
                            &name);
        return;
    }

    s->tls = 1;

    c->read->handler = ngx_pds_smtp_read_handler;
    c->write->handler = ngx_pds_smtp_write_handler;

    if (s->state == NGX_PDS_SMTP_CONNECT) {
        /* smtps: now the greeting */
        s->state = NGX_PDS_SMTP_GREETING;
        ngx_add_timer(c->read, NGX_PDS_SMTP_STEP_TIMEOUT);
        ngx_pds_smtp_read_handler(c->read);
        return;
    }

    /* after STARTTLS: everything learned before is forgotten (RFC 3207) */
    s->ext = 0;
    ngx_pds_smtp_cmd(s, NGX_PDS_SMTP_EHLO, "EHLO %V", &s->helo);
}


static void
ngx_pds_smtp_tls(ngx_pds_smtp_t *s)
{
    ngx_int_t          rc;
    ngx_connection_t  *c = s->peer.connection;

    /* what came before the handshake must not count after it */
    s->in->pos = s->in->last = s->in->start;

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (ngx_ssl_create_connection(s->ssl, c,
                                  NGX_SSL_BUFFER|NGX_SSL_CLIENT) != NGX_OK)
    {
        ngx_pds_smtp_finish(s, NGX_PDS_SMTP_TEMPORARY,
                            "cannot create a TLS connection");
        return;
    }

    if (ngx_inet_addr((u_char *) s->url->host, ngx_strlen(s->url->host))
        == INADDR_NONE && ngx_strchr(s->url->host, ':') == NULL)
    {
        if (SSL_set_tlsext_host_name(c->ssl->connection,
                                     (char *) s->url->host) == 0)
        {
            ngx_pds_smtp_finish(s, NGX_PDS_SMTP_TEMPORARY,
                                "cannot set the TLS server name");
            return;
        }
    }

    rc = ngx_ssl_handshake(c);

    if (rc == NGX_AGAIN) {
        if (!c->write->timer_set) {
            ngx_add_timer(c->write, NGX_PDS_SMTP_STEP_TIMEOUT);
        }

        c->ssl->handler = ngx_pds_smtp_handshaked;
        return;
    }

    ngx_pds_smtp_handshaked(c);
}


/* ---- replies -------------------------------------------------------------- */


static void
ngx_pds_smtp_auth_or_mail(ngx_pds_smtp_t *s)
{
    char  b64[2 * PDS_SMTP_CRED_MAX + 16];

    if (!s->url->auth) {
        ngx_pds_smtp_cmd(s, NGX_PDS_SMTP_MAIL, "MAIL FROM:<%s>",
                         s->from->addr);
        return;
    }

    if (s->ext & PDS_SMTP_EXT_AUTH_PLAIN) {
        if (pds_smtp_auth_plain(s->url->user, s->url->pass, b64,
                                sizeof(b64)) == 0)
        {
            ngx_pds_smtp_finish(s, NGX_PDS_SMTP_TEMPORARY,
                                "the credentials are too long");
            return;
        }

        ngx_pds_smtp_cmd(s, NGX_PDS_SMTP_AUTH, "AUTH PLAIN %s", b64);
        ngx_explicit_memzero(b64, sizeof(b64));
        return;
    }

    if (s->ext & PDS_SMTP_EXT_AUTH_LOGIN) {
        ngx_pds_smtp_cmd(s, NGX_PDS_SMTP_AUTH_LOGIN, "AUTH LOGIN");
        return;
    }

    ngx_pds_smtp_finish(s, NGX_PDS_SMTP_TEMPORARY,
                        "credentials are configured but the server offers "
                        "neither AUTH PLAIN nor AUTH LOGIN%s",
                        s->tls ? "" : " (without TLS)");
}


static void
ngx_pds_smtp_reply(ngx_pds_smtp_t *s, pds_smtp_reply_t *r, u_char *text)
{
    char  b64[2 * PDS_SMTP_CRED_MAX + 16];

    s->code = r->code;

    switch (s->state) {

    case NGX_PDS_SMTP_GREETING:
        if (r->code != 220) {
            ngx_pds_smtp_refused(s, r, 0);
            return;
        }

        ngx_pds_smtp_cmd(s, NGX_PDS_SMTP_EHLO, "EHLO %V", &s->helo);
        return;

    case NGX_PDS_SMTP_EHLO:
        if (r->code != 250) {
            if (r->code >= 500 && !s->helo_tried && !s->tls
                && !s->url->auth)
            {
                /* an old server: HELO, with nothing optional */
                s->helo_tried = 1;
                ngx_pds_smtp_cmd(s, NGX_PDS_SMTP_HELO, "HELO %V", &s->helo);
                return;
            }

            ngx_pds_smtp_refused(s, r, 0);
            return;
        }

        s->ext = pds_smtp_ehlo_ext((char *) text, r->len);

        if (!s->tls && (s->ext & PDS_SMTP_EXT_STARTTLS)) {
            ngx_pds_smtp_cmd(s, NGX_PDS_SMTP_STARTTLS, "STARTTLS");
            return;
        }

        ngx_pds_smtp_auth_or_mail(s);
        return;

    case NGX_PDS_SMTP_HELO:
        if (r->code != 250) {
            ngx_pds_smtp_refused(s, r, 0);
            return;
        }

        ngx_pds_smtp_auth_or_mail(s);
        return;

    case NGX_PDS_SMTP_STARTTLS:
        if (r->code != 220) {
            ngx_pds_smtp_refused(s, r, 0);
            return;
        }

        ngx_pds_smtp_tls(s);
        return;

    case NGX_PDS_SMTP_AUTH_LOGIN:
    case NGX_PDS_SMTP_AUTH_USER:
        if (r->code != 334) {
            ngx_pds_smtp_refused(s, r, 0);
            return;
        }

        if (pds_smtp_auth_login(s->state == NGX_PDS_SMTP_AUTH_LOGIN
                                ? s->url->user : s->url->pass,
                                b64, sizeof(b64)) == 0)
        {
            ngx_pds_smtp_finish(s, NGX_PDS_SMTP_TEMPORARY,
                                "the credentials are too long");
            return;
        }

        ngx_pds_smtp_cmd(s, s->state == NGX_PDS_SMTP_AUTH_LOGIN
                            ? NGX_PDS_SMTP_AUTH_USER : NGX_PDS_SMTP_AUTH,
                         "%s", b64);
        ngx_explicit_memzero(b64, sizeof(b64));
        return;

    case NGX_PDS_SMTP_AUTH:
        if (r->code != 235) {
            /* wrong credentials are the configuration's fault, not the
               mail's: kept and retried */
            ngx_pds_smtp_refused(s, r, 0);
            return;
        }

        ngx_pds_smtp_cmd(s, NGX_PDS_SMTP_MAIL, "MAIL FROM:<%s>",
                         s->from->addr);
        return;

    case NGX_PDS_SMTP_MAIL:
        if (r->code != 250) {
            ngx_pds_smtp_refused(s, r, 0);
            return;
        }

        ngx_pds_smtp_cmd(s, NGX_PDS_SMTP_RCPT, "RCPT TO:<%s>", s->rcpt);
        return;

    case NGX_PDS_SMTP_RCPT:
        if (r->code != 250 && r->code != 251) {
            ngx_pds_smtp_refused(s, r, 1);
            return;
        }

        ngx_pds_smtp_cmd(s, NGX_PDS_SMTP_DATA, "DATA");
        return;

    case NGX_PDS_SMTP_DATA:
        if (r->code != 354) {
            ngx_pds_smtp_refused(s, r, 1);
            return;
        }

        /* the message (already dot-stuffed and ended by ".") */
        s->out->pos = s->payload.data;
        s->out->last = s->payload.data + s->payload.len;
        s->state = NGX_PDS_SMTP_BODY;
        ngx_pds_smtp_write_handler(s->peer.connection->write);
        return;

    case NGX_PDS_SMTP_BODY:
        if (r->code != 250) {
            ngx_pds_smtp_refused(s, r, 1);
            return;
        }

        /* accepted: say goodbye without waiting for the answer */
        s->state = NGX_PDS_SMTP_DONE;
        (void) s->peer.connection->send(s->peer.connection,
                                        (u_char *) "QUIT\r\n", 6);

        ngx_pds_smtp_finish(s, NGX_PDS_SMTP_SENT, "%ui %*s",
                            (ngx_uint_t) r->code, r->last_len, r->last);
        return;

    default:
        ngx_pds_smtp_finish(s, NGX_PDS_SMTP_TEMPORARY,
                            "an unexpected reply %ui", (ngx_uint_t) r->code);
        return;
    }
}


static void
ngx_pds_smtp_read_handler(ngx_event_t *ev)
{
    int                rc;
    u_char            *p;
    ssize_t            n;
    ngx_buf_t         *b;
    ngx_pds_smtp_t    *s;
    ngx_connection_t  *c;
    pds_smtp_reply_t   r;

    c = ev->data;
    s = c->data;
    b = s->in;

    if (ev->timedout) {
        ngx_pds_smtp_finish(s, NGX_PDS_SMTP_TEMPORARY,
                            "no answer to %s within %ui s",
                            ngx_pds_smtp_steps[s->state],
                            (ngx_uint_t) NGX_PDS_SMTP_STEP_TIMEOUT / 1000);
        return;
    }

    for ( ;; ) {
        rc = pds_smtp_reply_parse((char *) b->pos, b->last - b->pos, &r);

        if (rc == 0) {
            if (ev->timer_set) {
                ngx_del_timer(ev);
            }

            /*
             * Consumed before it is handled: the next command may read its
             * own reply at once (into the buffer made empty here; the text
             * of this one stays readable until then).
             */
            p = b->pos;
            b->pos += r.len;

            if (b->pos == b->last) {
                b->pos = b->last = b->start;
            }

            ngx_pds_smtp_reply(s, &r, p);
            return;
        }

        if (rc < 0) {
            ngx_pds_smtp_finish(s, NGX_PDS_SMTP_TEMPORARY,
                                "the server does not speak SMTP");
            return;
        }

        if (b->last == b->end) {
            ngx_pds_smtp_finish(s, NGX_PDS_SMTP_TEMPORARY,
                                "a reply longer than %ui bytes",
                                (ngx_uint_t) NGX_PDS_SMTP_IN_SIZE);
            return;
        }

        n = c->recv(c, b->last, b->end - b->last);

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(ev, 0) != NGX_OK) {
                ngx_pds_smtp_finish(s, NGX_PDS_SMTP_TEMPORARY,
                                    "cannot wait for the server");
                return;
            }

            if (!ev->timer_set) {
                ngx_add_timer(ev, NGX_PDS_SMTP_STEP_TIMEOUT);
            }

            return;
        }

        if (n == 0 || n == NGX_ERROR) {
            ngx_pds_smtp_finish(s, NGX_PDS_SMTP_TEMPORARY,
                                "the server closed the connection during %s",
                                ngx_pds_smtp_steps[s->state]);
            return;
        }

        b->last += n;
    }
}


static void
ngx_pds_smtp_write_handler(ngx_event_t *ev)
{
    ssize_t            n;
    ngx_buf_t         *b;
    ngx_pds_smtp_t    *s;
    ngx_connection_t  *c;

    c = ev->data;
    s = c->data;
    b = s->out;

    if (ev->timedout) {
        ngx_pds_smtp_finish(s, NGX_PDS_SMTP_TEMPORARY,
                            "could not send %s within %ui s",
                            ngx_pds_smtp_steps[s->state],
                            (ngx_uint_t) NGX_PDS_SMTP_STEP_TIMEOUT / 1000);
        return;
    }

    while (b->pos < b->last) {
        n = c->send(c, b->pos, b->last - b->pos);

        if (n == NGX_AGAIN) {
            if (ngx_handle_write_event(ev, 0) != NGX_OK) {
                ngx_pds_smtp_finish(s, NGX_PDS_SMTP_TEMPORARY,
                                    "cannot wait for the server");
                return;
            }

            if (!ev->timer_set) {
                ngx_add_timer(ev, NGX_PDS_SMTP_STEP_TIMEOUT);
            }

            return;
        }

        if (n == NGX_ERROR || n == 0) {
            ngx_pds_smtp_finish(s, NGX_PDS_SMTP_TEMPORARY,
                                "could not send %s",
                                ngx_pds_smtp_steps[s->state]);
            return;
        }

        b->pos += n;
    }

    if (ev->timer_set) {
        ngx_del_timer(ev);
    }

    /* all sent: the reply */
    if (!c->read->timer_set) {
        ngx_add_timer(c->read, NGX_PDS_SMTP_STEP_TIMEOUT);
    }

    if (c->read->ready) {
        ngx_pds_smtp_read_handler(c->read);
    }
}


/* the connection is made (or failed) */
static void
ngx_pds_smtp_connected(ngx_event_t *ev)
{
    int                err;
    socklen_t          len;
    ngx_pds_smtp_t    *s;
    ngx_connection_t  *c;

    c = ev->data;
    s = c->data;

    if (ev->timedout) {
        ngx_pds_smtp_finish(s, NGX_PDS_SMTP_TEMPORARY,
                            "could not connect to %V within %ui s",
                            &s->addr.name,
                            (ngx_uint_t) NGX_PDS_SMTP_STEP_TIMEOUT / 1000);
        return;
    }

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1) {
        err = ngx_socket_errno;
    }

    if (err) {
        ngx_pds_smtp_finish(s, NGX_PDS_SMTP_TEMPORARY,
                            "could not connect to %V: %s", &s->addr.name,
                            strerror(err));
        return;
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    c->read->handler = ngx_pds_smtp_read_handler;
    c->write->handler = ngx_pds_smtp_write_handler;

    if (s->url->tls) {
        ngx_pds_smtp_tls(s);
        return;
    }

    s->state = NGX_PDS_SMTP_GREETING;
    ngx_add_timer(c->read, NGX_PDS_SMTP_STEP_TIMEOUT);

    if (c->read->ready) {
        ngx_pds_smtp_read_handler(c->read);
    }
}


static void
ngx_pds_smtp_connect_read(ngx_event_t *ev)
{
    /* before the connection is made nothing is read */
}


void
ngx_pds_smtp_send(ngx_pds_smtp_t *s)
{
    ngx_int_t          rc;
    ngx_connection_t  *c;

    s->deadline.handler = ngx_pds_smtp_deadline_handler;
    s->deadline.data = s;
    s->deadline.log = s->log;

    s->in = ngx_create_temp_buf(s->pool, NGX_PDS_SMTP_IN_SIZE);
    s->out = ngx_create_temp_buf(s->pool, NGX_PDS_SMTP_CMD_SIZE);

    if (s->in == NULL || s->out == NULL) {
        ngx_pds_smtp_finish(s, NGX_PDS_SMTP_TEMPORARY, "no memory");
        return;
    }

    ngx_add_timer(&s->deadline, NGX_PDS_SMTP_DEADLINE);

    s->peer.sockaddr = s->addr.sockaddr;
    s->peer.socklen = s->addr.socklen;
    s->peer.name = &s->addr.name;
    s->peer.get = ngx_event_get_peer;
    s->peer.log = s->log;
    s->peer.log_error = NGX_ERROR_ERR;

    rc = ngx_event_connect_peer(&s->peer);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        if (s->peer.connection) {
            ngx_close_connection(s->peer.connection);
            s->peer.connection = NULL;
        }

        ngx_pds_smtp_finish(s, NGX_PDS_SMTP_TEMPORARY,
                            "could not connect to %V", &s->addr.name);
        return;
    }

    c = s->peer.connection;
    c->data = s;
    c->pool = s->pool;
    c->read->handler = ngx_pds_smtp_connect_read;
    c->write->handler = ngx_pds_smtp_connected;

    if (rc == NGX_AGAIN) {
        ngx_add_timer(c->write, NGX_PDS_SMTP_STEP_TIMEOUT);
        return;
    }

    ngx_pds_smtp_connected(c->write);
}
