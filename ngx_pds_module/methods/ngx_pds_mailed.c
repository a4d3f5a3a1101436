/*
 * ngx_pds_module: mailed tokens (see ngx_pds_mailed.h).
 */

#include <sys/time.h>

#include "ngx_pds_mailed.h"
#include "pds_outbox.h"


int64_t
ngx_pds_now_ms(void)
{
    struct timeval  tv;

    /* not ngx_current_msec: this may run in a thread, and is wall time */
    (void) gettimeofday(&tv, NULL);

    return (int64_t) tv.tv_sec * 1000 + tv.tv_usec / 1000;
}


int
ngx_pds_mailed_token(pds_store_t *store, MDB_txn *txn,
    const ngx_pds_mailed_t *m)
{
    int          rc;
    char        *text;
    size_t       len;
    int64_t      now;
    u_char      *p;
    pds_mail_t   mail;
    char         token[PDS_EMAIL_TOKEN_LEN + 1];

    now = ngx_pds_now_ms();

    rc = pds_email_token_issue(store, txn, m->uid, m->purpose, now, token);
    if (rc != 0) {
        return rc;
    }

    /* intro, a blank line, the token, a blank line, outro */
    len = ngx_strlen(m->intro) + sizeof("\n\n") - 1 + PDS_EMAIL_TOKEN_LEN
          + sizeof("\n\n") - 1 + (m->outro ? ngx_strlen(m->outro) : 0)
          + sizeof("\n");

    /* malloc: this runs in a thread, where no request pool may be used */
    text = malloc(len);
    if (text == NULL) {
        return ENOMEM;
    }

    p = ngx_sprintf((u_char *) text, "%s\n\n%s\n\n%s\n", m->intro, token,
                    m->outro ? m->outro : "");
    *p = '\0';

    mail.to = m->to;
    mail.subject = m->subject;
    mail.text = text;
    mail.did = m->did;

    rc = pds_outbox_put(store, txn, &mail, now);

    free(text);

    return rc;
}


ngx_int_t
ngx_pds_token_refused(ngx_pds_ctx_t *ctx, int rc)
{
    if (rc == PDS_TOKEN_INVALID) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidToken",
                             "Token is invalid");
    }

    if (rc == PDS_TOKEN_EXPIRED) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "ExpiredToken",
                             "Token is expired");
    }

    ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                  "pds: storage error %d", rc);

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}
