/*
 * ngx_pds_module: the OAuth authorization server's nginx side (private to
 * oauth/).  ngx_pds_oauth.c routes /oauth/... and the two well-known
 * metadata documents and reads form or JSON bodies (the top);
 * ngx_pds_oauth_common.c checks DPoP proofs, hands out nonces and renders
 * OAuth answers and errors (the bottom); ngx_pds_oauth_client.c
 * finds a client's metadata (implied by a loopback client_id, or fetched
 * with the SSRF rules); ngx_pds_oauth_par.c and ngx_pds_oauth_token.c are
 * the endpoints; ngx_pds_oauth_page.c is the sign-in and consent page.
 */

#ifndef NGX_PDS_OAUTH_H
#define NGX_PDS_OAUTH_H

#include "ngx_pds.h"
#include "ngx_pds_did.h"
#include "ngx_pds_handle_resolve.h"
#include "pds_oauth.h"
#include "pds_oauth_client.h"
#include "pds_oauth_store.h"


#define NGX_PDS_OAUTH_BODY_MAX   (64 * 1024)
#define NGX_PDS_OAUTH_REQUEST_URI_PREFIX "urn:ietf:params:oauth:request_uri:"


/* ngx_pds_oauth_permset.c: the permission sets of a request's scope */
typedef struct {
    const char              *scope;         /* in: the request's */
    json_t                  *sets;          /* NSID -> its set; NULL: none */
    char                    *token_scope;   /* include: values expanded */
    char                    *error;         /* invalid_scope, or NULL */
    ngx_pds_resume_pt        done;
    char                   **nsids;
    ngx_uint_t               n, i;
    char                    *authority;
    ngx_pds_handle_found_t   txt;
    ngx_pds_did_t            did;
} ngx_pds_permsets_t;


typedef struct {
    json_t              *params;        /* the body's fields (strings) */
    json_t              *client;        /* the client's metadata */
    const char          *client_id;
    pds_dpop_proof_t     proof;
    const char          *auth_method;   /* "none" / "private_key_jwt" */
    pds_oauth_assertion_t assertion;    /* private_key_jwt */
    unsigned             has_proof:1;
    ngx_pds_resume_pt    client_done;   /* after the client is known */
    json_t              *row;           /* a stored row being worked on */
    void                *data;          /* the endpoint's own state */
    ngx_pds_permsets_t  *permsets;
    int                  result;
} ngx_pds_oauth_t;


/* ngx_pds_oauth_common.c */
ngx_pds_oauth_t *ngx_pds_oauth_state(ngx_pds_ctx_t *ctx);
const char *ngx_pds_oauth_param(ngx_pds_oauth_t *st, const char *name);
/* {"error", "error_description"} with the DPoP-Nonce header */
ngx_int_t ngx_pds_oauth_error(ngx_pds_ctx_t *ctx, ngx_uint_t status,
    const char *error, const char *description);
ngx_int_t ngx_pds_oauth_send(ngx_pds_ctx_t *ctx, ngx_uint_t status,
    json_t *body);
u_char *ngx_pds_oauth_html(u_char *p, const char *s);
ngx_int_t ngx_pds_oauth_header(ngx_http_request_t *r, const char *name,
    const char *value);
/*
 * Checks the request's DPoP proof, if any (required: "DPoP proof
 * required" without one).  NGX_OK with st->proof filled (has_proof), or
 * the status of the answer already sent.
 */
ngx_int_t ngx_pds_oauth_dpop(ngx_pds_ctx_t *ctx, ngx_pds_oauth_t *st,
    ngx_uint_t required);
void ngx_pds_oauth_nonce_secret(ngx_pds_srv_conf_t *conf, uint8_t out[32]);
int64_t ngx_pds_oauth_now_ms(void);

/*
 * ngx_pds_oauth_client.c: st->client from st->client_id, and the client
 * authenticated (private_key_jwt: its assertion checked against its JWKS,
 * inline or fetched), then done.
 */
ngx_int_t ngx_pds_oauth_client(ngx_pds_ctx_t *ctx, ngx_pds_oauth_t *st,
    ngx_pds_resume_pt done);
/* {"method", "jkt"}: how the client authenticated, kept with the grant */
json_t *ngx_pds_oauth_client_auth(ngx_pds_oauth_t *st);
/* 1 when the client authenticated now as it did when row was made */
ngx_uint_t ngx_pds_oauth_client_auth_same(ngx_pds_oauth_t *st, json_t *row);
/* the assertion's jti, for the replay check: client_id + 0 + jti */
size_t ngx_pds_oauth_assertion_key(ngx_pds_ctx_t *ctx, ngx_pds_oauth_t *st,
    char **key);

/*
 * ngx_pds_oauth_scope_text.c: "<li>" items saying in plain words what each
 * value of scope lets the app do (escaped HTML; an include: value: its
 * permission set's title and detail, from sets), and a bound on their
 * size.
 */
u_char *ngx_pds_oauth_scope_html(u_char *p, const char *scope,
    json_t *sets);
size_t ngx_pds_oauth_scope_html_len(const char *scope, json_t *sets);

/*
 * Resolves the permission sets ps->scope's include: values name (DNS,
 * the DID document, a getRecord proof; a per-worker cache), then runs
 * done with ps->sets, ps->token_scope (the scope the tokens carry) or
 * ps->error (the reference's invalid_scope description) set.
 */
ngx_int_t ngx_pds_oauth_permsets(ngx_pds_ctx_t *ctx, ngx_pds_permsets_t *ps,
    ngx_pds_resume_pt done);

/* the endpoints */
ngx_int_t ngx_pds_oauth_par(ngx_pds_ctx_t *ctx);
ngx_int_t ngx_pds_oauth_token(ngx_pds_ctx_t *ctx);
ngx_int_t ngx_pds_oauth_revoke(ngx_pds_ctx_t *ctx);
ngx_int_t ngx_pds_oauth_authorize(ngx_pds_ctx_t *ctx);

#endif /* NGX_PDS_OAUTH_H */
