/*
 * ngx_pds_module core: OAuth permission sets ("include:<nsid>[?aud=...]"),
 * read as the reference's authorization server reads them
 * (@atproto/oauth-provider's LexiconManager, @atproto/oauth-scopes'
 * IncludeScope, @atproto/lex-document's schema).
 *
 * A permission set is a Lexicon document published as the record
 * com.atproto.lexicon.schema/<nsid> of the NSID authority's DID: "lexicon"
 * 1, "id" the NSID, and defs.main of type "permission-set" with
 * "permissions" (objects {"type": "permission", "resource": ..., params}),
 * optional "title", "detail" (and their ":lang" maps of translations).
 *
 * An include: value stands, in the token, for the repo: and rpc: scopes
 * its set lists, each kept only when it reads as a scope and every
 * collection or method it names is under the set's own NSID group (the
 * NSID up to its last dot: "com.example.perms" covers "com.example.*",
 * never "*"); other resources are left out.  An rpc permission may not
 * name its audience (only "*"); with "inheritAud": true it takes the
 * include's ?aud= (without one, it is left out, as the reference's parser
 * refuses the unknown key).
 */

#ifndef PDS_OAUTH_PERMSET_H
#define PDS_OAUTH_PERMSET_H

#include <stddef.h>
#include <jansson.h>

#include "pds_mem.h"


#define PDS_PERMSET_OK        0
#define PDS_PERMSET_INVALID   1     /* not a Lexicon document of the NSID */
#define PDS_PERMSET_NOT_SET   2     /* one, but main is no permission set */

/*
 * Checks doc (the record, JSON) as the Lexicon document of nsid with a
 * permission set as its main definition (*set, pointing into doc).
 */
int pds_permset_check(const json_t *doc, const char *nsid,
    const json_t **set);

/*
 * Appends to out the scope values the include: value v (len bytes) stands
 * for with set (its permission set), space-separated (a space before each
 * when out is not empty).  0, or -1 (v is no include: value, no memory).
 */
int pds_permset_expand(const char *v, size_t len, const json_t *set,
    pds_buf_t *out);

/* the NSID of the include: value v, NUL-terminated in dst: 0 or -1 */
int pds_permset_nsid(const char *v, size_t len, char *dst, size_t cap);

#endif /* PDS_OAUTH_PERMSET_H */
