/*
 * ngx_pds_module: the mailer (see ngx_pds_mail.c).
 *
 * Methods queue a mail with pds_outbox_put() in their write transaction
 * and, once it has committed, call ngx_pds_mail_wake() so the mailer sends
 * it without waiting for its next pass.
 */

#ifndef _NGX_PDS_MAIL_H_INCLUDED_
#define _NGX_PDS_MAIL_H_INCLUDED_

#include "ngx_pds.h"

void ngx_pds_mail_wake(ngx_pds_srv_conf_t *conf);

/* the tenant's mail settings, checked (nginx -t) and prepared */
char *ngx_pds_mail_merge(ngx_conf_t *cf, ngx_pds_srv_conf_t *conf);
/* a worker's mailers, one per tenant */
ngx_int_t ngx_pds_mail_init_process(ngx_cycle_t *cycle);

#endif /* _NGX_PDS_MAIL_H_INCLUDED_ */
