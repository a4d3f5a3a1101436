/*
 * ngx_pds_module core: the Lexicon registry, a hash table of the compiled
 * definitions keyed by NSID and name, and the loading of documents from a
 * directory tree, all of them or only those the record types reach.
 */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "pds_lexicon_int.h"


/* ---- the table of definitions ------------------------------------------- */

/* FNV-1a of "nsid#name" */
static uint32_t
lx_hash(const char *nsid, size_t nlen, const char *name, size_t len)
{
    size_t    i;
    uint32_t  h = 2166136261u;

    for (i = 0; i < nlen; i++) {
        h = (h ^ (unsigned char) nsid[i]) * 16777619u;
    }

    h = (h ^ '#') * 16777619u;

    for (i = 0; i < len; i++) {
        h = (h ^ (unsigned char) name[i]) * 16777619u;
    }

    return h;
}


lx_entry_t *
pds_lx_find(const pds_lexicon_t *lex, const char *nsid, size_t nlen,
    const char *name, size_t len)
{
    size_t       i;
    uint32_t     h;
    lx_entry_t  *e;

    if (lex->cap == 0) {
        return NULL;
    }

    h = lx_hash(nsid, nlen, name, len);

    for (i = h & (lex->cap - 1); ; i = (i + 1) & (lex->cap - 1)) {
        e = &lex->tab[i];
        if (e->nsid.s == NULL) {
            return NULL;
        }
        if (e->hash == h && e->nsid.len == nlen && e->name.len == len
            && memcmp(e->nsid.s, nsid, nlen) == 0
            && memcmp(e->name.s, name, len) == 0)
        {
            return e;
        }
    }
}


int
pds_lx_insert(pds_lexicon_t *lex, lx_str_t nsid, lx_str_t name,
    lx_node_t *node)
{
    size_t       i, j, cap;
    uint32_t     h;
    lx_entry_t  *tab, *old, *e;

    if ((lex->n + 1) * 2 > lex->cap) {
        cap = lex->cap ? lex->cap * 2 : 1024;
        tab = calloc(cap, sizeof(lx_entry_t));
        if (tab == NULL) {
            return -1;
        }

        old = lex->tab;
        for (i = 0; i < lex->cap; i++) {
            e = &old[i];
            if (e->nsid.s != NULL) {
                for (j = e->hash & (cap - 1); tab[j].nsid.s != NULL;
                     j = (j + 1) & (cap - 1))
                {
                    /* probe */
                }
                tab[j] = *e;
            }
        }

        free(old);
        lex->tab = tab;
        lex->cap = cap;
    }

    h = lx_hash(nsid.s, nsid.len, name.s, name.len);

    for (i = h & (lex->cap - 1); lex->tab[i].nsid.s != NULL;
         i = (i + 1) & (lex->cap - 1))
    {
        /* probe */
    }

    e = &lex->tab[i];
    e->hash = h;

    e->nsid = nsid;
    e->name = name;
    e->node = node;
    lex->n++;

    return 0;
}


pds_lexicon_t *
pds_lexicon_create(void)
{
    pds_lexicon_t  *lex;

    lex = calloc(1, sizeof(pds_lexicon_t));
    if (lex == NULL) {
        return NULL;
    }

    lex->arena = pds_arena_create();
    if (lex->arena == NULL) {
        free(lex);
        return NULL;
    }

    lex->a = pds_arena_allocator(lex->arena);

    return lex;
}


void
pds_lexicon_destroy(pds_lexicon_t *lex)
{
    if (lex == NULL) {
        return;
    }

    pds_arena_destroy(lex->arena);
    free(lex->tab);
    free(lex->refs);
    free(lex);
}


size_t
pds_lexicon_count(const pds_lexicon_t *lex)
{
    return lex->ndocs;
}


/* ---- loading documents from a directory --------------------------------- */

static int
lx_has_suffix(const char *s, const char *suffix)
{
    size_t  n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}


/* documents read but not compiled yet (pds_lexicon_load_dir_for) */
typedef struct {
    json_t  **docs;
    size_t    n;
    size_t    cap;
} lx_docs_t;


static int
lx_docs_push(lx_docs_t *all, json_t *doc)
{
    size_t    cap;
    json_t  **p;

    if (all->n == all->cap) {
        cap = all->cap ? all->cap * 2 : 256;
        p = realloc(all->docs, cap * sizeof(json_t *));
        if (p == NULL) {
            return -1;
        }

        all->docs = p;
        all->cap = cap;
    }

    all->docs[all->n++] = doc;

    return 0;
}


static void
lx_docs_free(lx_docs_t *all)
{
    size_t  i;

    for (i = 0; i < all->n; i++) {
        json_decref(all->docs[i]);
    }

    free(all->docs);
}


/* one document file: compiled at once, or checked and kept in all */
static int
lx_load_file(pds_lexicon_t *lex, const char *path, lx_docs_t *all,
    char *err, size_t errlen)
{
    json_t        *doc;
    const char    *msg;
    json_error_t   jerr;

    doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        snprintf(err, errlen, "%s: %s", path, jerr.text);
        return -1;
    }

    if (all != NULL) {
        msg = pds_lexicon_doc_valid(doc);

        if (msg != NULL || lx_docs_push(all, doc) != 0) {
            snprintf(err, errlen, "%s: %s", path, msg ? msg : "no memory");
            json_decref(doc);
            return -1;
        }

        return 0;
    }

    if (pds_lexicon_add(lex, doc, err, errlen) != 0) {
        json_decref(doc);
        return -1;
    }

    json_decref(doc);

    return 0;
}


/* reads the tree: the number of documents, or -1 */
static long
lx_load_tree(pds_lexicon_t *lex, const char *dir, int depth, lx_docs_t *all,
    char *err, size_t errlen)
{
    long            total, n;
    DIR            *d;
    struct stat     st;
    struct dirent  *de;
    char            path[4096];

    if (depth > 16) {
        return 0;
    }

    d = opendir(dir);
    if (d == NULL) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }

    total = 0;

    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }

        if ((size_t) snprintf(path, sizeof(path), "%s/%s", dir, de->d_name)
            >= sizeof(path))
        {
            continue;
        }

        if (stat(path, &st) != 0) {
            continue;
        }

        if (S_ISDIR(st.st_mode)) {
            n = lx_load_tree(lex, path, depth + 1, all, err, errlen);

        } else if (S_ISREG(st.st_mode) && lx_has_suffix(de->d_name, ".json"))
        {
            n = lx_load_file(lex, path, all, err, errlen) == 0 ? 1 : -1;

        } else {
            continue;
        }

        if (n < 0) {
            closedir(d);
            return -1;
        }

        total += n;
    }

    closedir(d);

    return total;
}


long
pds_lexicon_load_dir(pds_lexicon_t *lex, const char *dir, char *err,
    size_t errlen)
{
    long  n;

    n = lx_load_tree(lex, dir, 0, NULL, err, errlen);
    if (n < 0) {
        return -1;
    }

    if (pds_lexicon_resolve(lex, err, errlen) != 0) {
        return -1;
    }

    return n;
}


/* the index of the document with this id (len bytes), or -1 */
static long
lx_docs_find(const lx_docs_t *all, const char *id, size_t len)
{
    size_t       i;
    const char  *s;

    for (i = 0; i < all->n; i++) {
        s = json_string_value(json_object_get(all->docs[i], "id"));

        if (s != NULL && strlen(s) == len && memcmp(s, id, len) == 0) {
            return (long) i;
        }
    }

    return -1;
}


typedef struct {
    const lx_docs_t  *all;
    char             *keep;
    size_t           *queue;
    size_t            tail;
} lx_reach_t;


static void
lx_reach_mark(lx_reach_t *r, const char *ref)
{
    long         i;
    const char  *hash;

    hash = strchr(ref, '#');

    /* "#def" is a definition of the same document */
    i = lx_docs_find(r->all, ref, hash ? (size_t) (hash - ref) : strlen(ref));

    if (i >= 0 && !r->keep[i]) {
        r->keep[i] = 1;
        r->queue[r->tail++] = (size_t) i;
    }
}


/* every "ref" and every member of "refs" under v */
static void
lx_reach_walk(lx_reach_t *r, const json_t *v)
{
    size_t       i;
    const char  *key;
    json_t      *m;

    if (json_is_array(v)) {
        json_array_foreach(v, i, m) {
            lx_reach_walk(r, m);
        }

        return;
    }

    if (!json_is_object(v)) {
        return;
    }

    json_object_foreach((json_t *) v, key, m) {
        if (strcmp(key, "ref") == 0 && json_is_string(m)) {
            lx_reach_mark(r, json_string_value(m));

        } else if (strcmp(key, "refs") == 0 && json_is_array(m)) {
            json_t  *e;

            json_array_foreach(m, i, e) {
                if (json_is_string(e)) {
                    lx_reach_mark(r, json_string_value(e));
                }
            }

        } else {
            lx_reach_walk(r, m);
        }
    }
}


long
pds_lexicon_load_dir_for(pds_lexicon_t *lex, const char *dir,
    const char *const *roots, char *err, size_t errlen)
{
    long        n;
    size_t      i, head;
    lx_docs_t   all;
    lx_reach_t  r;

    memset(&all, 0, sizeof(all));

    if (lx_load_tree(lex, dir, 0, &all, err, errlen) < 0) {
        lx_docs_free(&all);
        return -1;
    }

    r.all = &all;
    r.keep = calloc(all.n ? all.n : 1, 1);
    r.queue = malloc((all.n ? all.n : 1) * sizeof(size_t));
    r.tail = 0;

    if (r.keep == NULL || r.queue == NULL) {
        free(r.keep);
        free(r.queue);
        lx_docs_free(&all);
        snprintf(err, errlen, "no memory");
        return -1;
    }

    for (i = 0; roots[i] != NULL; i++) {
        lx_reach_mark(&r, roots[i]);
    }

    for (head = 0; head < r.tail; head++) {
        lx_reach_walk(&r, all.docs[r.queue[head]]);
    }

    n = 0;

    for (i = 0; i < all.n; i++) {
        if (!r.keep[i]) {
            continue;
        }

        if (pds_lexicon_add(lex, all.docs[i], err, errlen) != 0) {
            n = -1;
            break;
        }

        n++;
    }

    free(r.keep);
    free(r.queue);
    lx_docs_free(&all);

    if (n < 0 || pds_lexicon_resolve(lex, err, errlen) != 0) {
        return -1;
    }

    return n;
}


/* ---- record types ------------------------------------------------------- */

const lx_node_t *
pds_lx_record_def(const pds_lexicon_t *lex, const char *nsid, size_t len)
{
    lx_entry_t  *e;

    e = pds_lx_find(lex, nsid, len, "main", 4);

    return (e != NULL && e->node != NULL && e->node->type == LX_RECORD)
           ? e->node : NULL;
}


int
pds_lexicon_has_record(const pds_lexicon_t *lex, const char *nsid,
    size_t len)
{
    return pds_lx_record_def(lex, nsid, len) != NULL;
}


const char *const  pds_lexicon_reference_types[] = {
    "app.bsky.actor.profile",
    "app.bsky.actor.status",
    "app.bsky.feed.generator",
    "app.bsky.feed.like",
    "app.bsky.feed.post",
    "app.bsky.feed.postgate",
    "app.bsky.feed.repost",
    "app.bsky.feed.threadgate",
    "app.bsky.graph.block",
    "app.bsky.graph.follow",
    "app.bsky.graph.list",
    "app.bsky.graph.listblock",
    "app.bsky.graph.listitem",
    "app.bsky.graph.starterpack",
    "app.bsky.graph.verification",
    "app.bsky.labeler.service",
    "app.bsky.notification.declaration",
    "chat.bsky.actor.declaration",
    "com.atproto.lexicon.schema",
    "com.germnetwork.declaration",
    NULL
};


int
pds_lexicon_is_reference_type(const char *nsid, size_t len)
{
    size_t  i;

    for (i = 0; pds_lexicon_reference_types[i] != NULL; i++) {
        if (strlen(pds_lexicon_reference_types[i]) == len
            && memcmp(pds_lexicon_reference_types[i], nsid, len) == 0)
        {
            return 1;
        }
    }

    return 0;
}
