/*
 * ngx_pds_module: the permission sets a pushed authorization request's
 * include: scopes name, resolved as the reference's LexResolver does
 * (atproto specs/lexicon, "Lexicon publication and resolution"):
 *
 *   1. the NSID's authority (its segments but the last, reversed:
 *      com.example.perms -> example.com) publishes its DID as the DNS TXT
 *      record "_lexicon.<authority>" ("did=<did>", exactly one), asked of
 *      the system's resolver, then of pds_handle_backup_nameservers
 *      (ngx_pds_handle_resolve.c);
 *   2. that DID's document (ngx_pds_did.c) names its PDS and signing key;
 *   3. a DID hosted by this tenant: the record read from the store (as the
 *      reference's PDS reads its own accounts'); otherwise
 *      com.atproto.sync.getRecord of the record
 *      com.atproto.lexicon.schema/<nsid> is fetched from that PDS under
 *      the SSRF rules (ngx_pds_fetch_public), and its proof checked: the
 *      commit signed by that key, the MST path to the record
 *      (core/repo/pds_repo_proof.c);
 *   4. the record must be the Lexicon document of the NSID whose main
 *      definition is a permission set (core/pds_oauth_permset.c).
 *
 * A set that cannot be had is the reference's invalid_scope "Could not
 * resolve Lexicon for NSID (<nsid>)"; a Lexicon that is no permission set
 * "Lexicon document is not a permission set (<nsid>)".
 *
 * Resolved sets are kept per worker (NGX_PDS_PERMSET_SLOTS, five minutes,
 * the reference's LEXICON_REFRESH_FREQUENCY); failures a few seconds.
 * The token's scope is the request's with every include: value replaced
 * by the scopes its set grants (the reference's buildTokenScope).
 */

#include "ngx_pds_oauth.h"
#include "ngx_pds_did.h"
#include "ngx_pds_handle_resolve.h"
#include "pds_oauth_permset.h"
#include "pds_oauth_scope.h"
#include "pds_repo_proof.h"
#include "pds_account.h"
#include "pds_json.h"
#include "pds_syntax.h"
#include "pds_takedown.h"


#define NGX_PDS_PERMSET_SLOTS     32
#define NGX_PDS_PERMSET_TTL       300
#define NGX_PDS_PERMSET_NEG_TTL   5
#define NGX_PDS_PERMSET_NSID_MAX  318
#define NGX_PDS_PERMSET_MAX       16     /* distinct sets in one request */

#define NGX_PDS_LEXICON_COLLECTION  "com.atproto.lexicon.schema"


typedef struct {
    char                      nsid[NGX_PDS_PERMSET_NSID_MAX + 1];
    json_t                   *set;          /* NULL: known to fail */
    ngx_uint_t                not_set;      /* a Lexicon, not a set */
    time_t                    expires;
} ngx_pds_permset_slot_t;


static ngx_pds_permset_slot_t  ngx_pds_permset_cache[NGX_PDS_PERMSET_SLOTS];
static ngx_uint_t              ngx_pds_permset_next;


static ngx_int_t ngx_pds_permset_next_set(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_permset_txt_done(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_permset_did_done(ngx_pds_ctx_t *ctx);
static ngx_int_t ngx_pds_permset_fetched(ngx_pds_ctx_t *ctx);


static ngx_pds_permsets_t *
ngx_pds_permset_state(ngx_pds_ctx_t *ctx)
{
    return ngx_pds_oauth_state(ctx)->permsets;
}


/* ---- the cache ---------------------------------------------------------- */

static ngx_pds_permset_slot_t *
ngx_pds_permset_cached(const char *nsid)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_PDS_PERMSET_SLOTS; i++) {
        if (ngx_pds_permset_cache[i].expires > ngx_time()
            && ngx_strcmp(ngx_pds_permset_cache[i].nsid, nsid) == 0)
        {
            return &ngx_pds_permset_cache[i];
        }
    }

    return NULL;
}


static void
ngx_pds_permset_keep(const char *nsid, const json_t *set, ngx_uint_t not_set)
{
    ngx_uint_t               i;
    ngx_pds_permset_slot_t  *e;

    e = NULL;
    for (i = 0; i < NGX_PDS_PERMSET_SLOTS; i++) {
        if (ngx_strcmp(ngx_pds_permset_cache[i].nsid, nsid) == 0) {
            e = &ngx_pds_permset_cache[i];
            break;
        }
    }
    if (e == NULL) {
        e = &ngx_pds_permset_cache[ngx_pds_permset_next++
                                   % NGX_PDS_PERMSET_SLOTS];
    }

    if (e->set) {
        json_decref(e->set);
    }

    ngx_cpystrn((u_char *) e->nsid, (u_char *) nsid, sizeof(e->nsid));
    e->set = set ? json_deep_copy(set) : NULL;
    e->not_set = not_set;
    e->expires = ngx_time() + (e->set ? NGX_PDS_PERMSET_TTL
                                      : NGX_PDS_PERMSET_NEG_TTL);
}


/* ---- the steps ---------------------------------------------------------- */

/* the end of one set: kept, or the request refused */
static ngx_int_t
ngx_pds_permset_got(ngx_pds_ctx_t *ctx, ngx_pds_permsets_t *ps,
    const json_t *set, ngx_uint_t not_set, const char *why, ngx_uint_t keep)
{
    const char  *nsid = ps->nsids[ps->i];

    if (keep) {
        ngx_pds_permset_keep(nsid, set, not_set);
    }

    if (set == NULL) {
        ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                      "pds: permission set %s: %s", nsid, why);
        ps->error = ngx_pnalloc(ctx->request->pool, ngx_strlen(nsid) + 64);
        if (ps->error == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        *ngx_sprintf((u_char *) ps->error, "%s (%s)",
                     not_set ? "Lexicon document is not a permission set"
                             : "Could not resolve Lexicon for NSID",
                     nsid) = '\0';
        return ps->done(ctx);
    }

    if (json_object_set_new(ps->sets, nsid, json_deep_copy(set)) != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ps->i++;
    return ngx_pds_permset_next_set(ctx);
}


/* the request's scope with each include: value replaced by its scopes */
static ngx_int_t
ngx_pds_permset_expand(ngx_pds_ctx_t *ctx, ngx_pds_permsets_t *ps)
{
    size_t       n;
    ngx_uint_t   pass;
    const char  *sp, *e;
    pds_buf_t    b;
    char         nsid[NGX_PDS_PERMSET_NSID_MAX + 1];

    pds_buf_init(&b, &ctx->alloc);

    /* the included scopes first, then the others (as the reference) */
    for (pass = 0; pass < 2; pass++) {
        for (sp = ps->scope; *sp; sp = e ? e + 1 : sp + n) {
            e = ngx_strchr(sp, ' ');
            n = e ? (size_t) (e - sp) : ngx_strlen(sp);

            if (pds_permset_nsid(sp, n, nsid, sizeof(nsid)) == 0) {
                if (pass == 0
                    && pds_permset_expand(sp, n,
                                          json_object_get(ps->sets, nsid),
                                          &b) != 0)
                {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR;
                }
                continue;
            }

            if (pass == 1
                && ((b.len && pds_buf_putc(&b, ' ') != 0)
                    || pds_buf_append(&b, sp, n) != 0))
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }
    }

    if (pds_buf_putc(&b, '\0') != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ps->token_scope = (char *) b.data;

    return ps->done(ctx);
}


ngx_int_t
ngx_pds_oauth_permsets(ngx_pds_ctx_t *ctx, ngx_pds_permsets_t *ps,
    ngx_pds_resume_pt done)
{
    size_t        n;
    ngx_uint_t    k;
    const char   *sp, *e;
    char          nsid[NGX_PDS_PERMSET_NSID_MAX + 1];

    ps->done = done;
    ps->token_scope = (char *) ps->scope;
    ngx_pds_oauth_state(ctx)->permsets = ps;
    ps->nsids = ngx_pcalloc(ctx->request->pool,
                            NGX_PDS_PERMSET_MAX * sizeof(char *));
    if (ps->nsids == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (sp = ps->scope; sp && *sp; sp = e ? e + 1 : sp + n) {
        e = ngx_strchr(sp, ' ');
        n = e ? (size_t) (e - sp) : ngx_strlen(sp);

        if (pds_permset_nsid(sp, n, nsid, sizeof(nsid)) != 0) {
            continue;
        }
        for (k = 0; k < ps->n && ngx_strcmp(ps->nsids[k], nsid) != 0; k++) {
            /* void */
        }
        if (k < ps->n) {
            continue;
        }
        if (ps->n == NGX_PDS_PERMSET_MAX) {
            ps->error = "Too many permission sets";
            return done(ctx);
        }
        ps->nsids[ps->n] = ngx_pnalloc(ctx->request->pool,
                                       ngx_strlen(nsid) + 1);
        if (ps->nsids[ps->n] == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        ngx_memcpy(ps->nsids[ps->n++], nsid, ngx_strlen(nsid) + 1);
    }

    if (ps->n == 0) {
        return done(ctx);
    }

    ps->sets = ngx_pds_json_track(ctx->request, json_object());
    if (ps->sets == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_permset_next_set(ctx);
}


static ngx_int_t
ngx_pds_permset_next_set(ngx_pds_ctx_t *ctx)
{
    u_char                  *p;
    const char              *nsid, *end, *s;
    ngx_pds_permsets_t      *ps = ngx_pds_permset_state(ctx);
    ngx_pds_permset_slot_t  *c;

    if (ps->i == ps->n) {
        return ngx_pds_permset_expand(ctx, ps);
    }

    nsid = ps->nsids[ps->i];

    c = ngx_pds_permset_cached(nsid);
    if (c) {
        return ngx_pds_permset_got(ctx, ps, c->set, c->not_set,
                                   "known to fail (cached)", 0);
    }

    /* the authority: the segments but the last, in reverse order */
    ps->authority = ngx_pnalloc(ctx->request->pool, ngx_strlen(nsid) + 1);
    if (ps->authority == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    p = (u_char *) ps->authority;
    end = strrchr(nsid, '.');               /* the name is left out */

    while (end && end > nsid) {
        s = end;
        while (s > nsid && s[-1] != '.') {
            s--;
        }
        if (p != (u_char *) ps->authority) {
            *p++ = '.';
        }
        p = ngx_cpymem(p, s, end - s);
        end = s > nsid ? s - 1 : NULL;
    }
    *p = '\0';

    return ngx_pds_txt_did_resolve(ctx, "_lexicon", ps->authority, &ps->txt,
                                   ngx_pds_permset_txt_done);
}


/* the record read as JSON, then checked as the set of the NSID */
static ngx_int_t
ngx_pds_permset_record(ngx_pds_ctx_t *ctx, ngx_pds_permsets_t *ps,
    json_t *doc)
{
    int            rc;
    const json_t  *set;

    if (doc == NULL) {
        return ngx_pds_permset_got(ctx, ps, NULL, 0,
                                   "the record does not read as JSON", 1);
    }

    rc = pds_permset_check(doc, ps->nsids[ps->i], &set);

    return ngx_pds_permset_got(ctx, ps, rc == PDS_PERMSET_OK ? set : NULL,
                               rc == PDS_PERMSET_NOT_SET,
                               rc == PDS_PERMSET_NOT_SET
                               ? "its main definition is no permission set"
                               : "the record is not the Lexicon document of "
                                 "the NSID", 1);
}


/*
 * A DID hosted by this tenant: its record read from the store, as the
 * reference's PDS reads its own accounts' Lexicons (what getRecord would
 * serve: a taken-down repo or record is not, a deactivated account is
 * looked for on the network).  NGX_DECLINED: not hosted here.
 */
static ngx_int_t
ngx_pds_permset_local(ngx_pds_ctx_t *ctx, ngx_pds_permsets_t *ps)
{
    int              rc;
    size_t           n;
    json_t          *doc;
    MDB_txn         *txn;
    pds_cid_t        cid;
    const char      *jerr, *nsid = ps->nsids[ps->i];
    const uint8_t   *p;
    pds_store_t     *store = ctx->conf->env->store;
    pds_account_t    acc;

    txn = ngx_pds_read_txn(ctx);
    if (txn == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = pds_account_get_by_did(store, txn, ps->txt.did, &ctx->alloc, &acc);
    if (rc != 0 || acc.deactivated_at) {
        ngx_pds_read_done(ctx);
        return rc < 0 ? NGX_HTTP_INTERNAL_SERVER_ERROR : NGX_DECLINED;
    }

    rc = acc.takedown_ref ? PDS_NOTFOUND
         : pds_repo_get_record(store, txn, acc.uid,
                               NGX_PDS_LEXICON_COLLECTION,
                               sizeof(NGX_PDS_LEXICON_COLLECTION) - 1, nsid,
                               ngx_strlen(nsid), &cid, &p, &n);
    if (rc == 0
        && pds_takedown_record(store, txn, acc.uid,
                               NGX_PDS_LEXICON_COLLECTION,
                               sizeof(NGX_PDS_LEXICON_COLLECTION) - 1, nsid,
                               ngx_strlen(nsid), NULL, NULL) == 0)
    {
        rc = PDS_NOTFOUND;
    }

    doc = rc == 0 ? ngx_pds_json_track(ctx->request,
                                       pds_cbor_bytes_to_json(p, n, &jerr))
                  : NULL;
    ngx_pds_read_done(ctx);

    if (rc < 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (rc != 0) {
        return ngx_pds_permset_got(ctx, ps, NULL, 0,
                                   "its record is not served here", 1);
    }

    return ngx_pds_permset_record(ctx, ps, doc);
}


static ngx_int_t
ngx_pds_permset_txt_done(ngx_pds_ctx_t *ctx)
{
    ngx_int_t            rc;
    ngx_pds_permsets_t  *ps = ngx_pds_permset_state(ctx);

    if (ps->txt.did == NULL
        || !pds_did_valid(ps->txt.did, ngx_strlen(ps->txt.did)))
    {
        return ngx_pds_permset_got(ctx, ps, NULL, 0,
                                   "no DID published at _lexicon of its "
                                   "authority", 1);
    }

    rc = ngx_pds_permset_local(ctx, ps);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    return ngx_pds_did_resolve(ctx, ps->txt.did, &ps->did,
                               ngx_pds_permset_did_done);
}


static ngx_int_t
ngx_pds_permset_did_done(ngx_pds_ctx_t *ctx)
{
    size_t               len, elen;
    u_char              *p;
    uintptr_t            esc;
    ngx_str_t            url;
    ngx_pds_permsets_t  *ps = ngx_pds_permset_state(ctx);
    const char          *pds;

    pds = ps->did.status == NGX_PDS_DID_OK ? ps->did.doc.pds_endpoint : NULL;

    if (pds == NULL || ps->did.doc.signing_key[0] == '\0'
        || (ngx_strncmp(pds, "https://", 8) != 0
            && ngx_strncmp(pds, "http://", 7) != 0))
    {
        return ngx_pds_permset_got(ctx, ps, NULL, 0,
                                   "the DID document names no PDS or "
                                   "signing key", 1);
    }

    elen = ngx_strlen(pds);
    while (elen && pds[elen - 1] == '/') {
        elen--;
    }

    esc = ngx_escape_uri(NULL, (u_char *) ps->txt.did,
                         ngx_strlen(ps->txt.did), NGX_ESCAPE_ARGS);
    len = elen + sizeof("/xrpc/com.atproto.sync.getRecord?did=&collection="
                        NGX_PDS_LEXICON_COLLECTION "&rkey=")
          + ngx_strlen(ps->txt.did) + 2 * esc
          + ngx_strlen(ps->nsids[ps->i]);

    url.data = ngx_pnalloc(ctx->request->pool, len);
    if (url.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    p = ngx_cpymem(url.data, pds, elen);
    p = ngx_sprintf(p, "/xrpc/com.atproto.sync.getRecord?did=");
    p = (u_char *) ngx_escape_uri(p, (u_char *) ps->txt.did,
                                  ngx_strlen(ps->txt.did), NGX_ESCAPE_ARGS);
    p = ngx_sprintf(p, "&collection=" NGX_PDS_LEXICON_COLLECTION "&rkey=%s",
                    ps->nsids[ps->i]);
    url.len = p - url.data;

    return ngx_pds_fetch_public(ctx, NGX_HTTP_GET, &url, NULL, NULL, NULL,
                                ngx_pds_permset_fetched);
}


static ngx_int_t
ngx_pds_permset_fetched(ngx_pds_ctx_t *ctx)
{
    size_t               rec_n;
    pds_cid_t            cid;
    const char          *why, *jerr;
    const uint8_t       *rec;
    ngx_pds_permsets_t  *ps = ngx_pds_permset_state(ctx);

    if (ctx->response.status != NGX_HTTP_OK || ctx->response.body.len == 0) {
        return ngx_pds_permset_got(ctx, ps, NULL, 0,
                                   "getRecord of its schema record did not "
                                   "answer 200", 1);
    }

    if (pds_repo_proof_record(&ctx->alloc, ctx->response.body.data,
                              ctx->response.body.len, ps->txt.did,
                              ps->did.doc.signing_key,
                              NGX_PDS_LEXICON_COLLECTION, ps->nsids[ps->i],
                              &rec, &rec_n, &cid, &why) != 0)
    {
        return ngx_pds_permset_got(ctx, ps, NULL, 0, why, 1);
    }

    return ngx_pds_permset_record(ctx, ps,
               ngx_pds_json_track(ctx->request,
                                  pds_cbor_bytes_to_json(rec, rec_n, &jerr)));
}
