/*
 * ngx_pds_module: handle resolution (see ngx_pds_handle_resolve.c).
 */

#ifndef _NGX_PDS_HANDLE_RESOLVE_H_INCLUDED_
#define _NGX_PDS_HANDLE_RESOLVE_H_INCLUDED_

#include "ngx_pds.h"

#include "pds_dns.h"


/* how a handle's DID was found */
typedef enum {
    NGX_PDS_HANDLE_NONE = 0,        /* not at all */
    NGX_PDS_HANDLE_DNS,             /* TXT _atproto.<handle>, system's */
    NGX_PDS_HANDLE_HTTPS,           /* https://<handle>/.well-known/... */
    NGX_PDS_HANDLE_DNS_BACKUP,      /* TXT, the backup name servers */
    NGX_PDS_HANDLE_CACHED           /* this worker's cache */
} ngx_pds_handle_how_e;


typedef struct {
    const char               *handle;       /* normalized, NUL-terminated */
    ngx_pds_handle_how_e      how;
    char                     *did;          /* the DID found, or NULL */
} ngx_pds_handle_found_t;


/*
 * Resolves handle as the spec (and the reference's HandleResolver) says:
 * DNS TXT "_atproto.<handle>" with the system's resolver, then the HTTPS
 * well-known document (under the SSRF rules, short timeouts), then DNS
 * TXT with the tenant's backup name servers; then runs done with out
 * filled (out->did NULL: no DID; its syntax is not checked).  fresh: do
 * not answer from the cache (a handle being claimed).  The handler's
 * ctx->data is kept.  NGX_DONE while resolving, done's result, or an
 * error status.
 */
/* at configuration: the thread pool of TXT lookups (nginx's "default") */
ngx_int_t ngx_pds_handle_resolve_init_conf(ngx_conf_t *cf);
ngx_int_t ngx_pds_handle_resolve(ngx_pds_ctx_t *ctx, const char *handle,
    ngx_uint_t fresh, ngx_pds_handle_found_t *out, ngx_pds_resume_pt done);

/*
 * The DID of the TXT record "<label>.<name>" ("did=<did>", exactly one),
 * asked of the system's resolver, then of the backup name servers; not
 * cached.  As ngx_pds_handle_resolve otherwise (out->handle is name).
 */
ngx_int_t ngx_pds_txt_did_resolve(ngx_pds_ctx_t *ctx, const char *label,
    const char *name, ngx_pds_handle_found_t *out, ngx_pds_resume_pt done);

/* "pds_handle_backup_nameservers ADDRESS[:PORT] ...;" */
char *ngx_pds_handle_nameservers(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

#endif /* _NGX_PDS_HANDLE_RESOLVE_H_INCLUDED_ */
