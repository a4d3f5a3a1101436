/*
 * ngx_pds_module core: atproto OAuth permission scopes, as the reference
 * (@atproto/oauth-scopes) reads them.
 *
 * A scope string is space-separated values.  Besides the four static ones
 * ("atproto", "transition:email", "transition:generic",
 * "transition:chat.bsky") a value is "<resource>[:<positional>][?<query>]"
 * with resource repo, rpc, blob, account, identity or include.  The
 * positional part is percent-decoded; the query is form-decoded; every
 * query key must belong to the resource; a key given twice is refused
 * where only one value is allowed; the positional value and its own query
 * key are never both given:
 *
 *   repo:<nsid|*>[?action=create|update|delete...]   (all three if none)
 *   rpc:<nsid|*>?aud=<did#service|*>                  (not rpc:*?aud=*)
 *   blob:<type/subtype|type/(star)|(star)/(star)>  (or ?accept=..., several)
 *   account:<email|repo|status>[?action=read|manage]  (read if none)
 *   identity:<handle|*>
 *   include:<nsid>[?aud=<did#service>]               (a permission set)
 *
 * A value that does not read this way is not an atproto scope: the
 * authorization server drops it from a request.  Matching is the
 * reference's ScopePermissionsTransition: "transition:generic" allows
 * every repo and blob permission and every rpc outside chat.bsky.*,
 * "transition:chat.bsky" the chat.bsky.* rpcs, "transition:email" reading
 * the email.  Values over PDS_SCOPE_VALUE_MAX bytes are refused.
 */

#ifndef PDS_OAUTH_SCOPE_H
#define PDS_OAUTH_SCOPE_H

#include <stddef.h>


#define PDS_SCOPE_VALUE_MAX  1024

typedef enum {
    PDS_SCOPE_NONE = 0,     /* not an atproto scope value */
    PDS_SCOPE_STATIC,       /* atproto, transition:* */
    PDS_SCOPE_REPO,
    PDS_SCOPE_RPC,
    PDS_SCOPE_BLOB,
    PDS_SCOPE_ACCOUNT,
    PDS_SCOPE_IDENTITY,
    PDS_SCOPE_INCLUDE
} pds_scope_kind_e;


/* what kind of atproto scope value v is (PDS_SCOPE_NONE: none) */
pds_scope_kind_e pds_scope_value_kind(const char *v, size_t len);

/*
 * The permission a request needs, as the reference's assert* functions
 * take it: repo (a = collection, b = create|update|delete), rpc (a = lxm
 * or "*", b = aud "did#service"), blob (a = MIME type), account (a =
 * email|repo|status, b = read|manage), identity (a = handle|*).
 */
typedef struct {
    pds_scope_kind_e   kind;
    const char        *a;
    const char        *b;
} pds_scope_need_t;

/* 1 when the space-separated scope grants need */
int pds_scope_allows(const char *scope, size_t len,
    const pds_scope_need_t *need);

/*
 * The scope value the reference names in "Missing required scope" for
 * need (its scopeNeededFor), NUL-terminated in dst; the length, or -1
 * when it does not fit.
 */
long pds_scope_needed(char *dst, size_t cap, const pds_scope_need_t *need);

/*
 * One value read for display: the kind, and up to PDS_SCOPE_SHOW_MAX
 * values of each of its two fields (repo collection / action, rpc lxm /
 * aud, blob accept, account attr / action, identity attr, include nsid /
 * aud), pointing into buf; n = 0 where the field took its default.
 */
#define PDS_SCOPE_SHOW_MAX  16

typedef struct {
    pds_scope_kind_e   kind;
    const char        *v[2][PDS_SCOPE_SHOW_MAX];
    int                n[2];
    char               buf[PDS_SCOPE_VALUE_MAX * 2];
} pds_scope_parsed_t;

int pds_scope_parse(const char *v, size_t len, pds_scope_parsed_t *out);

/* "image/png": type "/" subtype, no "*", no space (the reference's isMime) */
int pds_scope_mime_ok(const char *s, size_t len);

#endif /* PDS_OAUTH_SCOPE_H */
