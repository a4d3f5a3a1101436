/*
 * ngx_pds_module: one SMTP session on nginx's event loop (ngx_pds_smtp.c),
 * used by the mailer (ngx_pds_mail.c).
 *
 * Connects to an address already resolved, speaks SMTP with TLS from the
 * start (smtps) or after STARTTLS when the server offers it, checks the
 * server's certificate and name, authenticates when credentials are
 * configured, hands over one message and reports how it went.  Every step
 * has a timeout and the whole session a deadline.
 */

#ifndef _NGX_PDS_SMTP_H_INCLUDED_
#define _NGX_PDS_SMTP_H_INCLUDED_

#include "ngx_pds.h"
#include "pds_smtp.h"


/* ngx_pds_smtp_t.result */
#define NGX_PDS_SMTP_SENT       0   /* the server accepted the message */
#define NGX_PDS_SMTP_TEMPORARY  1   /* try again later */
#define NGX_PDS_SMTP_REFUSED    2   /* refused for good (5xx for it) */


typedef struct ngx_pds_smtp_s  ngx_pds_smtp_t;

typedef void (*ngx_pds_smtp_done_pt)(ngx_pds_smtp_t *s);


struct ngx_pds_smtp_s {
    /* set by the caller */
    const pds_smtp_url_t     *url;
    const pds_smtp_from_t    *from;
    void                     *ssl;           /* ngx_ssl_t */
    ngx_str_t                 helo;          /* our name in EHLO */
    ngx_addr_t                addr;          /* where to connect (with port) */
    const char               *rcpt;
    ngx_str_t                 payload;       /* pds_smtp_message()'s */
    ngx_log_t                *log;
    ngx_pds_smtp_done_pt      done;
    void                     *data;

    /* the outcome */
    ngx_uint_t                result;
    ngx_uint_t                code;          /* the last reply's, or 0 */
    u_char                    reason[256];   /* for the log, NUL-ended */

    /* private */
    ngx_pool_t               *pool;
    ngx_peer_connection_t     peer;
    ngx_buf_t                *in;
    ngx_buf_t                *out;
    ngx_event_t               deadline;
    ngx_uint_t                state;
    unsigned                  ext;           /* EHLO extensions */
    unsigned                  tls:1;         /* TLS is on */
    unsigned                  helo_tried:1;
    unsigned                  finished:1;
};


/* starts the session; s->done runs once, later, on the event loop */
void ngx_pds_smtp_send(ngx_pds_smtp_t *s);

#endif /* _NGX_PDS_SMTP_H_INCLUDED_ */
