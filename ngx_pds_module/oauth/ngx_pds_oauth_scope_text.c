/*
 * ngx_pds_module: what an OAuth request's scope lets the app do, in plain
 * words for the consent page: one list item per scope value, every part
 * taken from the request escaped as HTML.
 */

#include "ngx_pds_oauth.h"
#include "pds_oauth_permset.h"


typedef struct {
    const char  *nsid;
    const char  *words;
} ngx_pds_scope_name_t;

static const ngx_pds_scope_name_t  ngx_pds_scope_names[] = {
    { "app.bsky.feed.post", "posts" },
    { "app.bsky.feed.like", "likes" },
    { "app.bsky.feed.repost", "reposts" },
    { "app.bsky.feed.threadgate", "reply settings of posts" },
    { "app.bsky.feed.postgate", "quote settings of posts" },
    { "app.bsky.feed.generator", "feeds" },
    { "app.bsky.graph.follow", "follows" },
    { "app.bsky.graph.block", "blocks" },
    { "app.bsky.graph.list", "lists" },
    { "app.bsky.graph.listitem", "list members" },
    { "app.bsky.graph.listblock", "list blocks" },
    { "app.bsky.graph.starterpack", "starter packs" },
    { "app.bsky.actor.profile", "your profile" },
    { "chat.bsky.actor.declaration", "chat settings" },
};


/* 1 when the second field (the actions) lists s */
static int
ngx_pds_scope_listed(pds_scope_parsed_t *ps, const char *s)
{
    int  i;

    for (i = 0; i < ps->n[1]; i++) {
        if (ngx_strcmp(ps->v[1][i], s) == 0) {
            return 1;
        }
    }

    return 0;
}


/* "a, b and c" of n values, each through f */
static u_char *
ngx_pds_scope_list(u_char *p, const char **v, int n,
    u_char *(*f)(u_char *p, const char *s))
{
    int  i;

    for (i = 0; i < n; i++) {
        if (i > 0) {
            p = ngx_cpymem(p, i == n - 1 ? " and " : ", ",
                           i == n - 1 ? 5 : 2);
        }
        p = f(p, v[i]);
    }

    return p;
}


/* "posts (app.bsky.feed.post)", or "records (com.example.thing)" */
static u_char *
ngx_pds_scope_collection(u_char *p, const char *nsid)
{
    size_t  i;

    if (ngx_strcmp(nsid, "*") == 0) {
        return ngx_sprintf(p, "records of any type");
    }

    for (i = 0; i < sizeof(ngx_pds_scope_names) / sizeof(*ngx_pds_scope_names);
         i++)
    {
        if (ngx_strcmp(ngx_pds_scope_names[i].nsid, nsid) == 0) {
            p = ngx_sprintf(p, "%s (", ngx_pds_scope_names[i].words);
            return ngx_sprintf(ngx_pds_oauth_html(p, nsid), ")");
        }
    }

    p = ngx_sprintf(p, "records (");
    return ngx_sprintf(ngx_pds_oauth_html(p, nsid), ")");
}


static u_char *
ngx_pds_scope_word(u_char *p, const char *action)
{
    return ngx_sprintf(p, "%s", action);
}


static u_char *
ngx_pds_scope_mime(u_char *p, const char *accept)
{
    if (ngx_strcmp(accept, "*/*") == 0) {
        return ngx_sprintf(p, "any type");
    }

    return ngx_pds_oauth_html(p, accept);
}


static u_char *
ngx_pds_scope_item(u_char *p, const char *v, pds_scope_parsed_t *ps)
{
    static const char  *all[] = { "create", "update", "delete" };
    const char         *acts[3], *cap;
    int                 i, n;

    switch (ps->kind) {

    case PDS_SCOPE_STATIC:
        cap = ngx_strcmp(v, "atproto") == 0
              ? "Know which account is yours (your handle and DID)"
              : ngx_strcmp(v, "transition:generic") == 0
              ? "Read and change your data: posts, likes, follows, profile"
              : ngx_strcmp(v, "transition:chat.bsky") == 0
              ? "Read and send your chat messages" : "See your email address";
        return ngx_sprintf(p, "%s", cap);

    case PDS_SCOPE_REPO:
        /* the actions in their usual order, whatever the request's */
        for (i = 0, n = 0; i < 3; i++) {
            if (ps->n[1] == 0 || ngx_pds_scope_listed(ps, all[i])) {
                acts[n++] = all[i];
            }
        }
        p = ngx_pds_scope_list(p, acts, n, ngx_pds_scope_word);
        return ngx_pds_scope_list(ngx_sprintf(p, " "), ps->v[0], ps->n[0],
                                  ngx_pds_scope_collection);

    case PDS_SCOPE_RPC:
        p = ngx_sprintf(p, "Use ");
        p = ngx_strcmp(ps->v[0][0], "*") == 0 && ps->n[0] == 1
            ? ngx_sprintf(p, "any method")
            : ngx_pds_scope_list(p, ps->v[0], ps->n[0], ngx_pds_oauth_html);
        p = ngx_sprintf(p, " of ");
        return ngx_strcmp(ps->v[1][0], "*") == 0
               ? ngx_sprintf(p, "any service, as you")
               : ngx_sprintf(ngx_pds_oauth_html(p, ps->v[1][0]), ", as you");

    case PDS_SCOPE_BLOB:
        p = ngx_sprintf(p, "Upload files (images, videos...) of ");
        return ngx_pds_scope_list(p, ps->v[0], ps->n[0], ngx_pds_scope_mime);

    case PDS_SCOPE_ACCOUNT:
        i = ps->n[1] > 0 && ngx_pds_scope_listed(ps, "manage");
        cap = ngx_strcmp(ps->v[0][0], "email") == 0
              ? (i ? "See and confirm your email address"
                   : "See your email address")
              : ngx_strcmp(ps->v[0][0], "repo") == 0
              ? (i ? "Import a whole repository into your account"
                   : "See the state of your repository")
              : (i ? "Deactivate your account"
                   : "See whether your account is active");
        return ngx_sprintf(p, "%s", cap);

    case PDS_SCOPE_IDENTITY:
        return ngx_sprintf(p, "%s", ngx_strcmp(ps->v[0][0], "handle") == 0
                                    ? "Change your handle"
                                    : "Change your identity: handle, keys "
                                      "and where your account is hosted");

    default:
        p = ngx_sprintf(p, "Use the permissions of ");
        return ngx_pds_oauth_html(p, v);
    }
}


size_t
ngx_pds_oauth_scope_html_len(const char *scope, json_t *sets)
{
    size_t       n;
    const char  *k, *t, *d;
    json_t      *set;

    /* per byte: escaped (6), in a list (", "), plain words around; each
     * set's title and detail escaped, once per include: naming it */
    n = scope ? ngx_strlen(scope) * 16 + 256 : 0;

    json_object_foreach(sets, k, set) {
        t = json_string_value(json_object_get(set, "title"));
        d = json_string_value(json_object_get(set, "detail"));
        n += ((t ? ngx_strlen(t) : 0) + (d ? ngx_strlen(d) : 0) + 32) * 6
             * (scope ? ngx_strlen(scope) / 10 + 1 : 1);
    }

    return n;
}


/* a permission set: its title and detail (as the publisher wrote them) */
static u_char *
ngx_pds_scope_set(u_char *p, const char *v, json_t *sets)
{
    char         nsid[320];
    const char  *title, *detail;
    json_t      *set;

    if (pds_permset_nsid(v, ngx_strlen(v), nsid, sizeof(nsid)) != 0
        || (set = json_object_get(sets, nsid)) == NULL)
    {
        return NULL;
    }

    title = json_string_value(json_object_get(set, "title"));
    detail = json_string_value(json_object_get(set, "detail"));

    if (title == NULL) {
        p = ngx_sprintf(p, "Use the permissions of ");
        p = ngx_pds_oauth_html(p, nsid);
    } else {
        p = ngx_sprintf(p, "<strong>");
        p = ngx_pds_oauth_html(p, title);
        p = ngx_sprintf(p, "</strong>");
    }
    if (detail) {
        p = ngx_sprintf(p, ": ");
        p = ngx_pds_oauth_html(p, detail);
    }

    return p;
}


u_char *
ngx_pds_oauth_scope_html(u_char *p, const char *scope, json_t *sets)
{
    size_t               n;
    u_char              *start, *q;
    const char          *sp, *e;
    char                 v[PDS_SCOPE_VALUE_MAX + 1];
    pds_scope_parsed_t   ps;

    for (sp = scope; sp && *sp; sp = e ? e + 1 : sp + n) {
        e = ngx_strchr(sp, ' ');
        n = e ? (size_t) (e - sp) : ngx_strlen(sp);

        if (n > PDS_SCOPE_VALUE_MAX || pds_scope_parse(sp, n, &ps) != 0) {
            continue;
        }
        ngx_memcpy(v, sp, n);
        v[n] = '\0';

        p = ngx_cpymem(p, "<li>", 4);
        start = p;
        q = ps.kind == PDS_SCOPE_INCLUDE ? ngx_pds_scope_set(p, v, sets)
                                         : NULL;
        p = q ? q : ngx_pds_scope_item(p, v, &ps);
        if (p > start && *start >= 'a' && *start <= 'z') {
            *start = (u_char) (*start - 'a' + 'A');
        }
        p = ngx_cpymem(p, "</li>", 5);
    }

    return p;
}
