/*
 * ngx_pds_module: an AT Protocol Personal Data Server inside nginx.
 *
 * Types shared by the nginx layer: configuration (one server block = one
 * PDS tenant), the per-request XRPC context and the dispatch table entry.
 */

#ifndef NGX_PDS_H
#define NGX_PDS_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#if !(NGX_THREADS)
#error "ngx_pds_module needs nginx built --with-threads, as Debian's is"
#endif

#include <ngx_thread_pool.h>
#include <jansson.h>

#include "pds_store.h"
#include "pds_store_space.h"
#include "pds_account.h"
#include "pds_keys.h"
#include "pds_blob.h"
#include "pds_repo.h"
#include "pds_oauth_scope.h"


#define NGX_PDS_VERSION  "0.1.0"


/* one LMDB environment, shared by nothing else: keyed by its directory */
typedef struct {
    ngx_str_t                 path;          /* <data dir>/lmdb */
    size_t                    map_size;      /* 0 until init_module: auto */
    pds_store_t              *store;         /* open in workers only */
    time_t                    space_logged;  /* "full" told the operator */
} ngx_pds_env_t;


typedef struct {
    ngx_str_t                 dir;
    struct pds_lexicon_s     *lex;
} ngx_pds_lexicons_t;


typedef struct {
    ngx_array_t               envs;          /* ngx_pds_env_t * */
    ngx_array_t               tenants;       /* ngx_pds_srv_conf_t * */
    ngx_array_t               lexicons;      /* ngx_pds_lexicons_t */
    ngx_hash_t                methods;       /* NSID -> ngx_pds_method_t */
    const struct ngx_pds_method_s *fallback; /* NGX_PDS_FALLBACK entry */
    ngx_str_t                 outbound_ca_file;   /* pds_outbound_ca_file */
    /*
     * the CA store is loaded by the first injected outbound location only:
     * the others share its TLS context (ngx_pds_outbound_share_ssl)
     */
    ngx_flag_t                outbound_ca_loaded;
    ngx_array_t               well_known;    /* ngx_pds_loc_conf_t *, of
                                                pds_well_known_did */
} ngx_pds_main_conf_t;


typedef struct {
    ngx_str_t                 hostname;      /* PDS_HOSTNAME */
    ngx_uint_t                port;          /* PDS_PORT (public URL) */
    ngx_str_t                 public_url;
    ngx_str_t                 service_did;   /* PDS_SERVICE_DID */
    ngx_str_t                 data_dir;      /* PDS_DATA_DIRECTORY */
    size_t                    map_size;

    ngx_str_t                 admin_password;
    ngx_str_t                 jwt_secret;
    ngx_str_t                 plc_rotation_key;   /* hex */
    ngx_str_t                 plc_url;            /* PDS_DID_PLC_URL */

    ngx_array_t              *handle_domains;     /* ngx_str_t ".x.y" */
    ngx_flag_t                invite_required;
    ngx_flag_t                rate_limits;
    ngx_msec_t                firehose_backfill;  /* backfill window */
    ngx_uint_t                firehose_max_lag;   /* events, then too slow */
    ngx_uint_t                firehose_backfill_events;  /* events kept at
                                                            most (0: any) */
    ngx_flag_t                blob_check;         /* the start-up pass */

    ngx_str_t                 appview_url;
    ngx_str_t                 appview_did;
    ngx_str_t                 mod_service_url;    /* PDS_MOD_SERVICE_* */
    ngx_str_t                 mod_service_did;
    ngx_str_t                 report_service_url; /* PDS_REPORT_SERVICE_* */
    ngx_str_t                 report_service_did;
    ngx_str_t                 chat_url;           /* chat.bsky.* */
    ngx_str_t                 chat_did;
    ngx_array_t              *crawlers;           /* ngx_str_t */
    ngx_str_t                 smtp_url;
    ngx_str_t                 email_from;
    ngx_str_t                 smtp_ca_file;       /* pds_email_smtp_ca_file */
    void                     *smtp;               /* pds_smtp_url_t */
    void                     *mail_from;          /* pds_smtp_from_t */
    void                     *smtp_ssl;           /* ngx_ssl_t */
    void                     *mailer;             /* per worker */
    ngx_str_t                 contact_email;
    ngx_str_t                 privacy_policy_url;
    ngx_str_t                 terms_of_service_url;
    size_t                    blob_upload_limit;
    ngx_flag_t                ssrf_disabled;      /* development only */
    ngx_array_t              *handle_nameservers; /* ngx_addr_t, backup
                                                     name servers of handle
                                                     resolution */

    ngx_pds_env_t            *env;
    ngx_str_t                 version;
    ngx_str_t                 thread_pool_name;
    ngx_thread_pool_t        *thread_pool;
    ngx_http_core_loc_conf_t *outbound;           /* /_pds_outbound */
    ngx_http_core_loc_conf_t *outbound_quick;     /* ..._quick: 3 s */
    ngx_resolver_t           *resolver;           /* "resolver", if set */
    ngx_msec_t                resolver_timeout;
    ngx_http_core_loc_conf_t *proxy_location;     /* /_pds_proxy */
    void                     *writer;             /* per worker, lazily */
    void                     *keys;               /* per worker, lazily */
    pds_key_t                *rotation_key;       /* from plc_rotation_key */
    ngx_str_t                 rotation_did_key;   /* its did:key */
    ngx_str_t                 recovery_did_key;   /* PDS_RECOVERY_DID_KEY */
    ngx_str_t                 lexicons_dir;       /* pds_lexicons */
    struct pds_lexicon_s     *lexicons;           /* loaded at config time */

    u_char                   *file;          /* where it was configured */
    ngx_uint_t                line;
} ngx_pds_srv_conf_t;


typedef struct {
    ngx_flag_t                enable;        /* "pds" in this location */
    ngx_flag_t                cors;          /* answers carry CORS headers */
    ngx_str_t                 well_known_of; /* pds_well_known_did */
    ngx_pds_srv_conf_t       *well_known;    /* that tenant */
} ngx_pds_loc_conf_t;


typedef struct ngx_pds_ctx_s  ngx_pds_ctx_t;

typedef ngx_int_t (*ngx_pds_handler_pt)(ngx_pds_ctx_t *ctx);


typedef enum {
    NGX_PDS_QUERY = 0,        /* GET */
    NGX_PDS_PROCEDURE,        /* POST */
    NGX_PDS_ANY               /* GET, HEAD or POST (the proxy fallback) */
} ngx_pds_method_type_e;


typedef enum {
    NGX_PDS_AUTH_NONE = 0,    /* public; credentials are ignored */
    NGX_PDS_AUTH_ADMIN,       /* HTTP Basic admin:<password> */
    NGX_PDS_AUTH_ACCESS,      /* session: password or any app password */
    NGX_PDS_AUTH_PRIVILEGED,  /* session: password or privileged app pw */
    NGX_PDS_AUTH_FULL,        /* session: password login only */
    NGX_PDS_AUTH_REFRESH,     /* a refresh token */
    NGX_PDS_AUTH_REFRESH_ANY, /* a refresh token, even expired */
    NGX_PDS_AUTH_OPTIONAL     /* public, or a session, or admin */
} ngx_pds_auth_e;


/* ngx_pds_method_t.flags */
#define NGX_PDS_CHECK_TAKEDOWN     0x01  /* account must not be taken down */
#define NGX_PDS_CHECK_DEACTIVATED  0x02  /* account must be active */
#define NGX_PDS_ALLOW_TAKENDOWN    0x04  /* accepts the takendown scope */
#define NGX_PDS_ALLOW_SIGNUP_QUEUED 0x08 /* accepts the signupQueued scope */
#define NGX_PDS_FALLBACK           0x10  /* serves every NSID not in the
                                            table (one entry at most) */


/* who called, once authenticated */
typedef struct {
    ngx_uint_t                type;          /* NGX_PDS_AUTH_* that passed */
    const char               *did;           /* sessions: the account */
    const char               *scope;
    const char               *jti;           /* refresh tokens */
    int64_t                   exp;
    unsigned                  admin:1;
    unsigned                  app_password:1;
    unsigned                  privileged:1;  /* full or privileged app pw */
    unsigned                  oauth:1;       /* an OAuth access token (scope) */
} ngx_pds_auth_t;


typedef enum {
    NGX_PDS_IN_NONE = 0,      /* no request body */
    NGX_PDS_IN_JSON,          /* application/json, parsed into ctx->body */
    NGX_PDS_IN_RAW,           /* any encoding, left to the handler */
    NGX_PDS_IN_PASS           /* not read: the handler passes it on */
} ngx_pds_input_e;


typedef struct ngx_pds_method_s {
    ngx_str_t                 nsid;
    ngx_pds_method_type_e     type;
    ngx_pds_auth_e            auth;
    ngx_pds_input_e           input;
    ngx_uint_t                flags;         /* NGX_PDS_CHECK_* ... */
    size_t                    max_body;      /* 0: the default JSON limit */
    ngx_pds_handler_pt        handler;
    /*
     * optional, runs before authentication: NGX_OK to go on, NGX_DECLINED
     * to answer as an unknown method, or an error status (ngx_pds_error)
     */
    ngx_pds_handler_pt        check;
} ngx_pds_method_t;


/* the answer of an outbound HTTP call (ngx_pds_fetch.c) */
typedef struct {
    ngx_uint_t                status;        /* 0: no answer at all */
    ngx_str_t                 body;
    ngx_str_t                 content_type;
} ngx_pds_response_t;


typedef ngx_int_t (*ngx_pds_resume_pt)(ngx_pds_ctx_t *ctx);
typedef void (*ngx_pds_work_pt)(void *data, ngx_log_t *log);


struct ngx_pds_ctx_s {
    ngx_http_request_t       *request;
    ngx_pds_srv_conf_t       *conf;
    const ngx_pds_method_t   *method;
    ngx_str_t                 nsid;
    json_t                   *body;          /* parsed JSON input, or NULL */

    ngx_pds_resume_pt         resume;        /* next step after async work */
    ngx_pds_response_t        response;      /* of the last outbound call */
    void                     *data;          /* the handler's own state */
    ngx_pds_auth_t            auth;
    pds_alloc_t               alloc;         /* on the request pool */
    MDB_txn                  *rtxn;          /* see ngx_pds_read_txn() */
    ngx_int_t                 sent_rc;       /* see ngx_pds_fail() */
    struct {
        ngx_uint_t            status;
        const char           *name;          /* NULL: none recorded */
        const char           *message;
    }                         error;         /* see ngx_pds_error() */
    unsigned                  rtxn_cleanup:1;
    unsigned                  waiting:1;     /* a task or subrequest runs */
    unsigned                  storage_full:1; /* a write found it full */
    void                     *job;           /* ngx_pds_txn_post() */
    void                     *out;           /* ngx_pds_fetch() */
    ngx_event_t               hold;          /* see ngx_pds_hold() */
};


extern ngx_module_t  ngx_pds_module;


/*
 * ngx_pds_request.c: the request plumbing (the bottom of the nginx layer,
 * which every other file may use and which uses none of them).
 */
ngx_pds_ctx_t *ngx_pds_ctx_create(ngx_http_request_t *r,
    const ngx_pds_method_t *m, ngx_str_t *nsid);
/* the one way to refuse: records the XRPC error, returns status */
ngx_int_t ngx_pds_error(ngx_pds_ctx_t *ctx, ngx_uint_t status,
    const char *name, const char *fmt, ...);
/* for checks: records the error, ctx->sent_rc = status, NGX_DECLINED */
ngx_int_t ngx_pds_fail(ngx_pds_ctx_t *ctx, ngx_uint_t status,
    const char *error, const char *message);
/* renders a recorded (or a bare status's) error; called by dispatch */
ngx_int_t ngx_pds_finish(ngx_pds_ctx_t *ctx, ngx_int_t rc);
ngx_int_t ngx_pds_send_json(ngx_http_request_t *r, ngx_uint_t status,
    json_t *json);
ngx_int_t ngx_pds_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *error, const char *message);
ngx_int_t ngx_pds_send_text(ngx_http_request_t *r, ngx_uint_t status,
    const char *type, u_char *data, size_t len);
json_t *ngx_pds_json_track(ngx_http_request_t *r, json_t *json);
ngx_int_t ngx_pds_arg(ngx_http_request_t *r, const char *name,
    ngx_str_t *value);
ngx_int_t ngx_pds_args(ngx_http_request_t *r, const char *name,
    ngx_array_t *values);
void ngx_pds_pool_allocator(ngx_pool_t *pool, pds_alloc_t *a);
pds_store_t *ngx_pds_store(ngx_http_request_t *r, ngx_pds_srv_conf_t *pscf);
MDB_txn *ngx_pds_read_txn(ngx_pds_ctx_t *ctx);
void ngx_pds_read_done(ngx_pds_ctx_t *ctx);
char *ngx_pds_iso_now(ngx_pool_t *pool);
void ngx_pds_resume_handler(ngx_http_request_t *r);
ngx_table_elt_t *ngx_pds_request_header(ngx_http_request_t *r,
    const char *name);
/* the request body in one NUL-terminated buffer; NGX_DECLINED over limit */
ngx_int_t ngx_pds_read_body(ngx_http_request_t *r, ngx_str_t *body,
    size_t limit);
/* the authenticated caller's account: 0, PDS_NOTFOUND or -1 */
int ngx_pds_caller_account(ngx_pds_ctx_t *ctx, pds_account_t *acc);
/* the account a "repo" parameter names: NGX_OK or NGX_DECLINED (failed) */
ngx_int_t ngx_pds_repo_account(ngx_pds_ctx_t *ctx, const char *param,
    pds_account_t *acc, ngx_uint_t allow_inactive);

/* ngx_pds_conf.c: a tenant's configuration */
void *ngx_pds_create_main_conf(ngx_conf_t *cf);
void *ngx_pds_create_srv_conf(ngx_conf_t *cf);
char *ngx_pds_merge_srv_conf(ngx_conf_t *cf, void *parent, void *child);
char *ngx_pds_set_hostname(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_pds_set_str_list(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_pds_secret_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/* ngx_pds_xrpc.c: dispatch (the method tables: ngx_pds_methods.h) */
ngx_int_t ngx_pds_xrpc_init(ngx_conf_t *cf);
ngx_int_t ngx_pds_xrpc_handler(ngx_http_request_t *r);

/* ngx_pds_store.c: environments across processes, commit hook */
ngx_pds_env_t *ngx_pds_env_add(ngx_conf_t *cf, ngx_pds_srv_conf_t *pscf);
ngx_int_t ngx_pds_envs_init_module(ngx_cycle_t *cycle);
/* the module's main configuration of a cycle, NULL when it has none */
ngx_pds_main_conf_t *ngx_pds_main_conf(ngx_cycle_t *cycle);
ngx_int_t ngx_pds_envs_init_process(ngx_cycle_t *cycle);
void ngx_pds_envs_exit_process(ngx_cycle_t *cycle);
typedef void (*ngx_pds_commit_pt)(ngx_pds_ctx_t *ctx);
void ngx_pds_store_on_commit(ngx_pds_commit_pt hook);
void ngx_pds_store_committed(ngx_pds_ctx_t *ctx);
/*
 * In a write transaction of env (thread pool): may a write that adds need
 * bytes run?  PDS_SPACE_OK, or PDS_SPACE_MAP / _DISK (the operator told,
 * once a minute).  ngx_pds_space_failed(): the same for a failed commit's
 * LMDB code (0 when it was not the map or the disk being full).
 */
int ngx_pds_space_check(ngx_pds_env_t *env, MDB_txn *txn, uint64_t need,
    ngx_log_t *log);
int ngx_pds_space_failed(ngx_pds_env_t *env, int commit_rc, ngx_log_t *log);
/* the numbers themselves (one look for a batch; 0 or an error), and the log */
int ngx_pds_space_get(ngx_pds_env_t *env, MDB_txn *txn, uint64_t need,
    pds_space_t *sp);
void ngx_pds_space_refused(ngx_pds_env_t *env, int kind,
    const pds_space_t *sp, ngx_log_t *log);

/*
 * The store (its map or its disk) is full: 507, which RFC 4918 says a
 * client must not repeat on its own; XRPC clients show the message.
 */
#define NGX_PDS_STORAGE_FULL  507
#define ngx_pds_storage_full(ctx)                                            \
    ngx_pds_error(ctx, NGX_PDS_STORAGE_FULL, "StorageFull",                  \
                  "The server's storage is full: nothing new can be saved "  \
                  "until its operator adds space (deleting still works)")

/* ngx_pds_thread.c */
ngx_int_t ngx_pds_thread_post(ngx_pds_ctx_t *ctx, ngx_pds_work_pt work,
    void *data, ngx_pds_resume_pt done);
ngx_int_t ngx_pds_thread_post_to(ngx_pds_ctx_t *ctx, ngx_thread_pool_t *tp,
    ngx_pds_work_pt work, void *data, ngx_pds_resume_pt done);
void ngx_pds_hold(ngx_pds_ctx_t *ctx);
void ngx_pds_unhold(ngx_pds_ctx_t *ctx);
/* the request waits for work in a thread; done is its next step */
void ngx_pds_block(ngx_pds_ctx_t *ctx, ngx_pds_resume_pt done);
/* the thread is done with it (the caller then resumes it) */
void ngx_pds_unblock(ngx_pds_ctx_t *ctx);
ngx_int_t ngx_pds_delay(ngx_pds_ctx_t *ctx, ngx_msec_t msec,
    ngx_pds_resume_pt done);
/*
 * A worker's background job (retention, mail, the blob check): a thread
 * task whose work runs in a pool and whose done runs on the event loop,
 * and a cancelable timer whose handler (pass) posts it; all given data.
 * The task, allocated from pool, or NULL.
 */
ngx_thread_task_t *ngx_pds_background(ngx_pool_t *pool, ngx_log_t *log,
    void *data, ngx_pds_work_pt work, ngx_event_handler_pt done,
    ngx_event_t *timer, ngx_event_handler_pt pass);

#define NGX_PDS_TXN_FAILED  -1000
typedef int (*ngx_pds_txn_pt)(pds_store_t *store, MDB_txn *txn, void *data);
ngx_int_t ngx_pds_txn_post(ngx_pds_ctx_t *ctx, ngx_pds_txn_pt fn,
    void *data, int *result, ngx_pds_resume_pt done);
/* the same, fn also given an arena for the rows it reads (freed after) */
typedef int (*ngx_pds_txn_alloc_pt)(pds_store_t *store, MDB_txn *txn,
    void *data, pds_alloc_t *a);
ngx_int_t ngx_pds_txn_post_alloc(ngx_pds_ctx_t *ctx, ngx_pds_txn_alloc_pt fn,
    void *data, int *result, ngx_pds_resume_pt done);
/*
 * ngx_pds_txn_post() for a write that adds about need bytes (an account,
 * an import): refused, before fn runs, when the store is nearly full
 * (*result NGX_PDS_TXN_FAILED and ctx->storage_full set; answer with
 * ngx_pds_storage_full()).  Any write whose commit finds the map or the
 * disk full also sets ctx->storage_full.
 */
ngx_int_t ngx_pds_txn_post_adding(ngx_pds_ctx_t *ctx, ngx_pds_txn_pt fn,
    void *data, uint64_t need, int *result, ngx_pds_resume_pt done);

/* ngx_pds_writer.c: repository commits with group commit */
typedef void (*ngx_pds_after_pt)(void *data, pds_repo_write_t *w,
    ngx_uint_t committed, ngx_log_t *log);
ngx_int_t ngx_pds_write(ngx_pds_ctx_t *ctx, pds_repo_write_t *write,
    ngx_pds_after_pt after, void *after_data, ngx_pds_resume_pt done);

/* ngx_pds_ratelimit.c */
ngx_int_t ngx_pds_ratelimit_init_conf(ngx_conf_t *cf);
ngx_int_t ngx_pds_ratelimit(ngx_pds_ctx_t *ctx, ngx_uint_t points);
/* the route limits of the called method (the reference's), if any */
ngx_int_t ngx_pds_ratelimit_route(ngx_pds_ctx_t *ctx);
/* a password tried on the OAuth page, counted with createSession's */
ngx_int_t ngx_pds_ratelimit_signin(ngx_pds_ctx_t *ctx,
    const char *identifier);

/* ngx_pds_fetch.c: outbound HTTP through nginx */
#define NGX_PDS_FETCH_LOCATION  "/_pds_outbound"
/* nginx's own error answers of a PDS location, answered as XRPC errors */
#define NGX_PDS_ERROR_LOCATION  "/_pds_error"
char *ngx_pds_fetch_inject(ngx_conf_t *cf, ngx_pds_srv_conf_t *pscf);
char *ngx_pds_fetch_merge(ngx_conf_t *cf, ngx_pds_srv_conf_t *pscf);
ngx_int_t ngx_pds_outbound_share_ssl(ngx_conf_t *cf);
/* the verify lines of an injected location: only once per configuration */
ngx_uint_t ngx_pds_outbound_load_ca(ngx_conf_t *cf);
/* parses a configuration snippet (ending with a closing "}") in place */
char *ngx_pds_conf_inject(ngx_conf_t *cf, ngx_str_t *text);
ngx_int_t ngx_pds_fetch_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_pds_fetch(ngx_pds_ctx_t *ctx, ngx_uint_t method,
    ngx_str_t *url, ngx_str_t *content_type, ngx_str_t *body,
    ngx_str_t *authorization, ngx_pds_resume_pt done);
/* where an outbound call connects */
typedef struct {
    ngx_str_t                 url;           /* with the chosen address */
    ngx_str_t                 host;          /* Host: as the URL named it */
    ngx_str_t                 sni;           /* the TLS name to check */
} ngx_pds_outbound_t;

ngx_int_t ngx_pds_outbound_url(ngx_pds_ctx_t *ctx, ngx_str_t *url,
    ngx_uint_t public_only, ngx_pds_outbound_t *o, ngx_pds_resume_pt done);
ngx_int_t ngx_pds_fetch_public(ngx_pds_ctx_t *ctx, ngx_uint_t method,
    ngx_str_t *url, ngx_str_t *content_type, ngx_str_t *body,
    ngx_str_t *authorization, ngx_pds_resume_pt done);
/* the same with short timeouts (NGX_PDS_FETCH_QUICK_TIMEOUT), a GET */
#define NGX_PDS_FETCH_QUICK_LOCATION  "/_pds_outbound_quick"
#define NGX_PDS_FETCH_QUICK_TIMEOUT   "3s"
ngx_int_t ngx_pds_fetch_public_quick(ngx_pds_ctx_t *ctx, ngx_str_t *url,
    ngx_pds_resume_pt done);
ngx_int_t ngx_pds_upstream_error(ngx_pds_ctx_t *ctx, const char *what);
typedef void (*ngx_pds_fetch_done_pt)(void *data, ngx_uint_t status,
    ngx_log_t *log);
ngx_int_t ngx_pds_fetch_background(ngx_pds_ctx_t *ctx, ngx_uint_t method,
    ngx_str_t *url, ngx_str_t *content_type, ngx_str_t *body,
    ngx_pds_fetch_done_pt done, void *data);

/* ngx_pds_resolve.c: addresses of outbound hosts (system resolver, SSRF) */
typedef struct {
    ngx_sockaddr_t            sockaddr;
    socklen_t                 socklen;
} ngx_pds_address_t;

ngx_int_t ngx_pds_resolve(ngx_pds_ctx_t *ctx, ngx_str_t *host,
    ngx_uint_t public_only, ngx_pds_address_t *addr, ngx_pds_resume_pt done);

/* ngx_pds_cors.c */
ngx_int_t ngx_pds_cors_init(ngx_conf_t *cf);
ngx_int_t ngx_pds_cors_preflight(ngx_http_request_t *r);
ngx_int_t ngx_pds_cors_expose_rate_limits(ngx_http_request_t *r,
    ngx_uint_t retry_after);

/* ngx_pds_auth.c */
ngx_int_t ngx_pds_authenticate(ngx_pds_ctx_t *ctx);
/* ngx_pds_auth_dpop.c: OAuth access tokens with DPoP proofs */
ngx_int_t ngx_pds_auth_dpop(ngx_pds_ctx_t *ctx);
/* then, once the account's status passed: what the method needs of the
 * token's scope ("atproto", and the reference's per-method permission) */
ngx_int_t ngx_pds_auth_dpop_scope(ngx_pds_ctx_t *ctx);
/*
 * An OAuth token's permission for what the request does (kind and a, b
 * as pds_scope_need_t): NGX_OK, or 403 ScopeMissingError recorded and
 * its status returned.  Other credentials: always NGX_OK.
 */
ngx_int_t ngx_pds_auth_permit(ngx_pds_ctx_t *ctx, pds_scope_kind_e kind,
    const char *a, const char *b);

#endif /* NGX_PDS_H */
