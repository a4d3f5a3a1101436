/*
 * ngx_pds_module: the outbound locations at configuration time.
 *
 * The locations every outbound call goes through (see ngx_pds_fetch.c),
 * injected into each PDS server block: /_pds_outbound, and
 * /_pds_outbound_quick with short timeouts; their CA store (the system's,
 * or "pds_outbound_ca_file"), their resolver (the "resolver" set, else the
 * name servers of /etc/resolv.conf), and one TLS context shared by all.
 */

#include "ngx_pds.h"

#if (NGX_LINUX)
#include <malloc.h>
#endif


#define NGX_PDS_CA_FILE  "/etc/ssl/certs/ca-certificates.crt"


/* The name servers of /etc/resolv.conf, for "resolver" when none is set. */
static ngx_array_t *
ngx_pds_system_resolvers(ngx_conf_t *cf)
{
    u_char       *p, *last, *q;
    ssize_t       n;
    ngx_str_t    *s;
    ngx_file_t    file;
    ngx_array_t  *a;
    u_char        buf[4096];

    a = ngx_array_create(cf->pool, 2, sizeof(ngx_str_t));
    if (a == NULL) {
        return NULL;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    ngx_str_set(&file.name, "/etc/resolv.conf");
    file.log = cf->log;

    file.fd = ngx_open_file(file.name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN,
                            0);
    if (file.fd == NGX_INVALID_FILE) {
        return a;
    }

    n = ngx_read_file(&file, buf, sizeof(buf) - 1, 0);
    ngx_close_file(file.fd);

    if (n <= 0) {
        return a;
    }

    last = buf + n;
    *last = '\n';

    for (p = buf; p < last; p = q + 1) {
        q = ngx_strlchr(p, last + 1, '\n');
        if (q == NULL) {
            break;
        }

        if (q - p > 11 && ngx_strncmp(p, "nameserver", 10) == 0
            && (p[10] == ' ' || p[10] == '\t'))
        {
            p += 11;
            while (p < q && (*p == ' ' || *p == '\t')) {
                p++;
            }

            n = 0;
            while (p + n < q && p[n] != ' ' && p[n] != '\t' && p[n] != '\r') {
                n++;
            }

            if (n > 0 && n < 64) {
                s = ngx_array_push(a);
                if (s == NULL) {
                    return NULL;
                }

                s->data = ngx_pnalloc(cf->pool, n + 2);
                if (s->data == NULL) {
                    return NULL;
                }

                s->len = ngx_cpymem(s->data, p, n) - s->data;
            }
        }
    }

    return a;
}


/*
 * Parses a configuration snippet as if it stood in the current server
 * block.  The text must end with the "}" that closes the pretend block;
 * nothing is read from a file (the pretend file is empty), the descriptor
 * only selects nginx's block-parsing mode.
 */
char *
ngx_pds_conf_inject(ngx_conf_t *cf, ngx_str_t *text)
{
    char             *rv;
    ngx_buf_t         b;
    ngx_conf_file_t  *saved, conf_file;

    ngx_memzero(&conf_file, sizeof(ngx_conf_file_t));
    ngx_memzero(&b, sizeof(ngx_buf_t));

    b.start = text->data;
    b.pos = text->data;
    b.last = text->data + text->len;
    b.end = b.last;
    b.temporary = 1;

    conf_file.file.fd = 0;
    ngx_str_set(&conf_file.file.name, "ngx_pds_module");
    conf_file.line = 1;
    conf_file.buffer = &b;

    saved = cf->conf_file;
    cf->conf_file = &conf_file;

    rv = ngx_conf_parse(cf, NULL);

    cf->conf_file = saved;

    return rv;
}


/* the location named name, with the given timeouts */
static char *
ngx_pds_fetch_inject_one(ngx_conf_t *cf, const char *name,
    const char *connect, const char *io, ngx_http_core_loc_conf_t **loc)
{
    char                       *rv;
    u_char                     *p;
    ngx_str_t                   text, *ca;
    ngx_queue_t                *q;
    ngx_pds_main_conf_t        *pmcf;
    ngx_http_location_queue_t  *lq;
    ngx_http_core_loc_conf_t   *pclcf, *clcf;

    static const char  head[] =
        "    internal;\n"
        "    proxy_pass $pds_outbound_url;\n"
        "    proxy_pass_request_headers off;\n"
        "    proxy_set_header Host $pds_outbound_host;\n"
        "    proxy_set_header Content-Type $pds_outbound_content_type;\n"
        "    proxy_set_header Authorization $pds_outbound_authorization;\n"
        "    proxy_set_header Accept \"application/json, */*\";\n"
        "    proxy_set_header User-Agent \"ngx_pds_module/"
                                          NGX_PDS_VERSION "\";\n"
        "    proxy_http_version 1.1;\n"
        "    proxy_intercept_errors off;\n"
        "    proxy_ssl_server_name on;\n"
        "    proxy_ssl_name $pds_outbound_sni;\n"
        "    subrequest_output_buffer_size 1m;\n";

    static const char  verify[] =
        "    proxy_ssl_verify on;\n"
        "    proxy_ssl_verify_depth 5;\n"
        "    proxy_ssl_trusted_certificate ";

    /* pds_outbound_ca_file (http level) replaces the system's CA store */
    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_pds_module);
    ca = (pmcf && pmcf->outbound_ca_file.len) ? &pmcf->outbound_ca_file
                                              : NULL;

    text.data = ngx_pnalloc(cf->pool, sizeof(head) + sizeof(verify) + 256
                                      + ngx_strlen(name)
                                      + (ca ? ca->len : sizeof(NGX_PDS_CA_FILE)));
    if (text.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_sprintf(text.data, "location = %s {\n", name);
    p = ngx_cpymem(p, head, sizeof(head) - 1);
    p = ngx_sprintf(p, "    proxy_connect_timeout %s;\n"
                       "    proxy_send_timeout %s;\n"
                       "    proxy_read_timeout %s;\n", connect, io, io);

    if (ca) {
        if (ngx_pds_outbound_load_ca(cf)) {
            p = ngx_cpymem(p, verify, sizeof(verify) - 1);
            p = ngx_sprintf(p, "\"%V\";\n", ca);
        }

    } else if (access(NGX_PDS_CA_FILE, R_OK) == 0) {
        if (ngx_pds_outbound_load_ca(cf)) {
            p = ngx_cpymem(p, verify, sizeof(verify) - 1);
            p = ngx_cpymem(p, NGX_PDS_CA_FILE ";\n",
                           sizeof(NGX_PDS_CA_FILE ";\n") - 1);
        }

    } else if (ngx_strcmp(name, NGX_PDS_FETCH_LOCATION) == 0) {
        /* said once, of the first location */
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "pds: no CA store at \"" NGX_PDS_CA_FILE "\" "
                           "(Debian: ca-certificates): outbound TLS "
                           "certificates are not verified");
    }

    p = ngx_cpymem(p, "}\n}", 3);
    text.len = p - text.data;

    rv = ngx_pds_conf_inject(cf, &text);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    /* remember the new location, to give it a resolver at merge time */

    pclcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    for (q = ngx_queue_head(pclcf->locations);
         q != ngx_queue_sentinel(pclcf->locations);
         q = ngx_queue_next(q))
    {
        lq = (ngx_http_location_queue_t *) q;
        clcf = lq->exact ? lq->exact : lq->inclusive;

        if (clcf && clcf->name.len == ngx_strlen(name)
            && ngx_strncmp(clcf->name.data, name, clcf->name.len) == 0)
        {
            *loc = clcf;
        }
    }

    if (*loc == NULL) {
        return "cannot add the outbound location";
    }

    return NGX_CONF_OK;
}


/*
 * The outbound locations of a tenant: /_pds_outbound for every call, and
 * /_pds_outbound_quick, the same with short timeouts, for the calls a
 * client waits on that give up early (a handle's well-known document).
 */
char *
ngx_pds_fetch_inject(ngx_conf_t *cf, ngx_pds_srv_conf_t *pscf)
{
    char  *rv;

    rv = ngx_pds_fetch_inject_one(cf, NGX_PDS_FETCH_LOCATION, "10s", "30s",
                                  &pscf->outbound);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    return ngx_pds_fetch_inject_one(cf, NGX_PDS_FETCH_QUICK_LOCATION,
                                    NGX_PDS_FETCH_QUICK_TIMEOUT,
                                    NGX_PDS_FETCH_QUICK_TIMEOUT,
                                    &pscf->outbound_quick);
}


/*
 * Called once the server block is merged: unless "resolver" was set (in
 * http, server or anywhere it is inherited from), outbound calls resolve
 * names with the system's name servers.
 */
char *
ngx_pds_fetch_merge(ngx_conf_t *cf, ngx_pds_srv_conf_t *pscf)
{
    ngx_array_t  *ns;

    if (pscf->outbound == NULL || pscf->outbound->resolver == NULL) {
        return NGX_CONF_OK;
    }

    if (pscf->outbound->resolver->connections.nelts) {
        /* "resolver" is configured: outbound names go to it */
        pscf->resolver = pscf->outbound->resolver;
        pscf->resolver_timeout = pscf->outbound->resolver_timeout;
        return NGX_CONF_OK;
    }

    ns = ngx_pds_system_resolvers(cf);
    if (ns == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ns->nelts == 0) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "pds: no \"resolver\" and no name server in "
                           "/etc/resolv.conf: outbound calls can only use "
                           "IP addresses");
        return NGX_CONF_OK;
    }

    pscf->outbound->resolver = ngx_resolver_create(cf, ns->elts, ns->nelts);
    if (pscf->outbound->resolver == NULL) {
        return NGX_CONF_ERROR;
    }

    if (pscf->outbound_quick) {
        pscf->outbound_quick->resolver = pscf->outbound->resolver;
    }

    /* the AppView proxy location resolves the same way */
    if (pscf->proxy_location) {
        pscf->proxy_location->resolver = pscf->outbound->resolver;
    }

    return NGX_CONF_OK;
}


#if (NGX_HTTP_SSL)
extern ngx_module_t  ngx_http_proxy_module;
#endif


/*
 * 1 the first time in a configuration: that location loads the CA store
 * (proxy_ssl_verify, proxy_ssl_trusted_certificate); the later ones get
 * no verify lines, so nginx does not parse the store again for each (about
 * 20 ms and 0.85 MB of heap a location, three locations a tenant), and
 * take the first one's context and its verification at postconfiguration.
 */
ngx_uint_t
ngx_pds_outbound_load_ca(ngx_conf_t *cf)
{
    ngx_pds_main_conf_t  *pmcf;

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_pds_module);

    if (pmcf->outbound_ca_loaded) {
        return 0;
    }

    pmcf->outbound_ca_loaded = 1;

    return 1;
}


/*
 * The injected outbound locations (/_pds_outbound, /_pds_outbound_quick
 * and /_pds_proxy of every tenant) have the same TLS settings.  Only the
 * first loaded the CA store (ngx_pds_outbound_load_ca); called after all
 * merges, every other one gets a reference to that one's context (its own
 * is freed) and its verification (proxy_ssl_verify): certificates are
 * checked against the same store everywhere.  A location that cannot
 * share fails the configuration rather than connect unverified.  The
 * proxy module's location configuration begins with its
 * ngx_http_upstream_conf_t, as it has throughout nginx 1.x.
 */
ngx_int_t
ngx_pds_outbound_share_ssl(ngx_conf_t *cf)
{
#if (NGX_HTTP_SSL)
    ngx_uint_t                  s, i, pass, freed;
    ngx_ssl_t                  *shared, *own;
    ngx_flag_t                  verify;
    ngx_pds_srv_conf_t         *pscf;
    ngx_http_core_srv_conf_t  **cscfp;
    ngx_http_core_loc_conf_t   *locs[3];
    ngx_http_upstream_conf_t   *ucf;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    cscfp = cmcf->servers.elts;

    shared = NULL;
    verify = 0;
    freed = 0;

    /* pass 0: the context that loaded the store; pass 1: the others */

    for (pass = 0; pass < 2; pass++) {
        for (s = 0; s < cmcf->servers.nelts; s++) {
            pscf = cscfp[s]->ctx->srv_conf[ngx_pds_module.ctx_index];

            locs[0] = pscf->outbound;
            locs[1] = pscf->outbound_quick;
            locs[2] = pscf->proxy_location;

            for (i = 0; i < 3; i++) {
                if (locs[i] == NULL) {
                    continue;
                }

                ucf = locs[i]->loc_conf[ngx_http_proxy_module.ctx_index];
                own = ucf->ssl;

                if (own == NULL || own->ctx == NULL) {
                    continue;
                }

                if (pass == 0) {
                    if (shared == NULL
                        || (!verify && ucf->ssl_verify))
                    {
                        shared = own;
                        verify = ucf->ssl_verify;
                    }

                    continue;
                }

                if (own->ctx != shared->ctx) {
                    if (!SSL_CTX_up_ref(shared->ctx)) {
                        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                                      "pds: cannot share the outbound TLS "
                                      "context");
                        return NGX_ERROR;
                    }

                    /* one more reference, dropped by own's pool cleanup */
                    SSL_CTX_free(own->ctx);
                    own->ctx = shared->ctx;
                    freed++;
                }

                ucf->ssl_verify = verify;
            }
        }

        if (shared == NULL) {
            break;
        }
    }

#if (NGX_LINUX)
    if (freed) {
        /* give the freed pages back before the workers are forked */
        (void) malloc_trim(0);
    }
#endif

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, cf->log, 0,
                   "pds: %ui outbound TLS contexts shared (verify: %i)",
                   freed, verify);
#else
    (void) cf;
#endif

    return NGX_OK;
}
