/*
 * ngx_pds_module core: compiling checked Lexicon documents into the nodes
 * the validator walks (allocated from the registry's arena), and linking
 * their references.
 */

#include <stdio.h>
#include <stdlib.h>

#include "pds_syntax.h"
#include "pds_lexicon_int.h"


typedef struct {
    pds_lexicon_t  *lex;
    const char     *nsid;
    size_t          nsid_len;
    int             oom;
} lx_build_t;


static lx_str_t
lx_dup(lx_build_t *b, const char *s, size_t len)
{
    lx_str_t  r;

    r.s = pds_strndup(&b->lex->a, s, len);
    r.len = len;

    if (r.s == NULL) {
        b->oom = 1;
        r.s = "";
        r.len = 0;
    }

    return r;
}


static lx_str_t
lx_dup_json(lx_build_t *b, const json_t *s)
{
    return lx_dup(b, json_string_value(s), json_string_length(s));
}


static void *
lx_calloc(lx_build_t *b, size_t n)
{
    void  *p;

    p = pds_calloc(&b->lex->a, n ? n : 1);
    if (p == NULL) {
        b->oom = 1;
    }

    return p;
}


static int
lx_get_int(const json_t *o, const char *k, int64_t *x)
{
    return lx_is_int(json_object_get(o, k), x);
}


/* fills r from a ref string written in the document */
static void
lx_make_ref(lx_build_t *b, lx_ref_t *r, const char *s, size_t len,
    int in_union)
{
    char         buf[PDS_NSID_MAX + 256];
    const char  *hash;
    size_t       n;

    /* the reference's absolute form "lex:nsid#name" */
    if (len > 4 && memcmp(s, "lex:", 4) == 0) {
        s += 4;
        len -= 4;
    }

    hash = memchr(s, '#', len);

    if (hash == s) {
        n = (size_t) snprintf(buf, sizeof(buf), "%.*s%.*s",
                              (int) b->nsid_len, b->nsid, (int) len, s);
    } else if (hash == NULL) {
        n = (size_t) snprintf(buf, sizeof(buf), "%.*s#main", (int) len, s);
    } else {
        n = (size_t) snprintf(buf, sizeof(buf), "%.*s", (int) len, s);
    }

    if (n >= sizeof(buf)) {
        n = sizeof(buf) - 1;
    }

    r->ref = lx_dup(b, buf, n);

    /* the $type form drops "#main" */
    if (n > 5 && memcmp(buf + n - 5, "#main", 5) == 0) {
        r->type = lx_dup(b, buf, n - 5);
    } else {
        r->type = r->ref;
    }

    r->in_union = in_union;
    r->node = NULL;

    if (b->lex->nrefs == b->lex->refcap) {
        size_t     cap = b->lex->refcap ? b->lex->refcap * 2 : 256;
        lx_ref_t **nr = realloc(b->lex->refs, cap * sizeof(lx_ref_t *));

        if (nr == NULL) {
            b->oom = 1;
            return;
        }
        b->lex->refs = nr;
        b->lex->refcap = cap;
    }

    b->lex->refs[b->lex->nrefs++] = r;
}


static lx_node_t *lx_compile(lx_build_t *b, const json_t *def,
    const char *name, size_t name_len);


/* 1 if key is in the list (an array of strings, or NULL) */
static unsigned
lx_listed(const json_t *list, const char *key, size_t len)
{
    size_t  i;

    for (i = 0; i < json_array_size(list); i++) {
        if (lx_streq(json_array_get(list, i), key, len)) {
            return 1;
        }
    }

    return 0;
}


static void
lx_compile_object(lx_build_t *b, lx_node_t *n, const json_t *def)
{
    size_t         i, k;
    const char    *key;
    const json_t  *props, *req, *nul, *pv;
    lx_prop_t     *p;

    props = json_object_get(def, "properties");
    n->nprops = json_object_size(props);
    n->props = lx_calloc(b, n->nprops * sizeof(lx_prop_t));
    if (n->props == NULL) {
        n->nprops = 0;
        return;
    }

    req = json_object_get(def, "required");
    nul = json_object_get(def, "nullable");
    i = 0;

    json_object_foreach((json_t *) props, key, pv) {
        p = &n->props[i++];
        k = strlen(key);
        p->name = lx_dup(b, key, k);
        p->node = lx_compile(b, pv, NULL, 0);

        p->required = lx_listed(req, key, k);
        p->nullable = lx_listed(nul, key, k);

        if (p->node == NULL) {
            b->oom = 1;
            return;
        }
    }
}


/* the $type of a named definition: "nsid" for main, else "nsid#name" */
static void
lx_compile_id(lx_build_t *b, lx_node_t *node, const char *name,
    size_t name_len)
{
    size_t  n;
    char    id[PDS_NSID_MAX + 256];

    if (name_len == 4 && memcmp(name, "main", 4) == 0) {
        node->id = lx_dup(b, b->nsid, b->nsid_len);
        return;
    }

    n = (size_t) snprintf(id, sizeof(id), "%.*s#%.*s",
                          (int) b->nsid_len, b->nsid, (int) name_len, name);
    node->id = lx_dup(b, id, n < sizeof(id) ? n : sizeof(id) - 1);
}


/* the lower and upper limits named min and max in def */
static void
lx_compile_limits(lx_node_t *node, const json_t *def, const char *min,
    const char *max)
{
    if (lx_get_int(def, min, &node->min)) {
        node->flags |= LX_HAS_MIN;
    }

    if (lx_get_int(def, max, &node->max)) {
        node->flags |= LX_HAS_MAX;
    }
}


static void
lx_compile_boolean(lx_node_t *node, const json_t *def)
{
    const json_t  *v;

    node->type = LX_BOOLEAN;

    v = json_object_get(def, "const");
    if (json_is_boolean(v)) {
        node->flags |= LX_HAS_CONST;
        node->cbool = json_is_true(v);
    }
}


static int
lx_compile_integer(lx_build_t *b, lx_node_t *node, const json_t *def)
{
    size_t         i;
    const json_t  *v;

    node->type = LX_INTEGER;
    lx_compile_limits(node, def, "minimum", "maximum");

    if (lx_get_int(def, "const", &node->cint)) {
        node->flags |= LX_HAS_CONST;
    }

    v = json_object_get(def, "enum");
    if (!json_is_array(v)) {
        return 0;
    }

    node->flags |= LX_HAS_ENUM;
    node->nenum = json_array_size(v);
    node->ienum = lx_calloc(b, node->nenum * sizeof(int64_t));
    if (node->ienum == NULL) {
        return -1;
    }

    for (i = 0; i < node->nenum; i++) {
        (void) lx_is_int(json_array_get(v, i), &node->ienum[i]);
    }

    if (node->flags & LX_HAS_CONST) {
        for (i = 0; i < node->nenum; i++) {
            if (node->ienum[i] == node->cint) {
                break;
            }
        }
        if (i == node->nenum) {
            node->flags |= LX_NEVER;
        }
    }

    return 0;
}


static int
lx_compile_string(lx_build_t *b, lx_node_t *node, const json_t *def)
{
    size_t         i;
    int            found;
    const json_t  *v, *e;

    node->type = LX_STRING;

    v = json_object_get(def, "format");
    if (v != NULL) {
        node->format = pds_lx_format_id(v);
    }

    lx_compile_limits(node, def, "minLength", "maxLength");

    if (lx_get_int(def, "minGraphemes", &node->mingr)) {
        node->flags |= LX_HAS_MINGR;
    }
    if (lx_get_int(def, "maxGraphemes", &node->maxgr)) {
        node->flags |= LX_HAS_MAXGR;
    }

    v = json_object_get(def, "const");
    if (json_is_string(v)) {
        node->flags |= LX_HAS_CONST;
        node->cstr = lx_dup_json(b, v);
    }

    v = json_object_get(def, "enum");
    if (!json_is_array(v)) {
        return 0;
    }

    node->flags |= LX_HAS_ENUM;
    node->nenum = json_array_size(v);
    node->senum = lx_calloc(b, node->nenum * sizeof(lx_str_t));
    if (node->senum == NULL) {
        return -1;
    }

    found = 0;
    for (i = 0; i < node->nenum; i++) {
        e = json_array_get(v, i);
        node->senum[i] = lx_dup_json(b, e);
        if ((node->flags & LX_HAS_CONST)
            && lx_streq(e, node->cstr.s, node->cstr.len))
        {
            found = 1;
        }
    }

    if ((node->flags & LX_HAS_CONST) && !found) {
        node->flags |= LX_NEVER;
    }

    return 0;
}


static int
lx_compile_blob(lx_build_t *b, lx_node_t *node, const json_t *def)
{
    size_t         i;
    const json_t  *v;

    node->type = LX_BLOB;

    if (lx_get_int(def, "maxSize", &node->max)) {
        node->flags |= LX_HAS_MAX;
    }

    v = json_object_get(def, "accept");
    if (!json_is_array(v)) {
        return 0;
    }

    node->flags |= LX_HAS_ACCEPT;
    node->naccept = json_array_size(v);
    node->accept = lx_calloc(b, node->naccept * sizeof(lx_str_t));
    if (node->accept == NULL) {
        return -1;
    }

    for (i = 0; i < node->naccept; i++) {
        node->accept[i] = lx_dup_json(b, json_array_get(v, i));
    }

    return 0;
}


static int
lx_compile_ref(lx_build_t *b, lx_node_t *node, const json_t *def)
{
    const json_t  *v;

    node->type = LX_REF;
    node->nrefs = 1;
    node->refs = lx_calloc(b, sizeof(lx_ref_t));
    if (node->refs == NULL) {
        return -1;
    }

    v = json_object_get(def, "ref");
    lx_make_ref(b, &node->refs[0], json_string_value(v),
                json_string_length(v), 0);

    return 0;
}


static int
lx_compile_union(lx_build_t *b, lx_node_t *node, const json_t *def)
{
    size_t         i;
    const json_t  *v, *e;

    node->type = LX_UNION;

    if (json_is_true(json_object_get(def, "closed"))) {
        node->flags |= LX_CLOSED;
    }

    v = json_object_get(def, "refs");
    node->nrefs = json_array_size(v);
    node->refs = lx_calloc(b, node->nrefs * sizeof(lx_ref_t));
    if (node->refs == NULL) {
        return -1;
    }

    for (i = 0; i < node->nrefs; i++) {
        e = json_array_get(v, i);
        lx_make_ref(b, &node->refs[i], json_string_value(e),
                    json_string_length(e), 1);
    }

    return 0;
}


/* a definition (named, or NULL inside another) into a node; NULL: no memory */
static lx_node_t *
lx_compile(lx_build_t *b, const json_t *def, const char *name, size_t name_len)
{
    int         rc;
    lx_node_t  *node;

    node = lx_calloc(b, sizeof(lx_node_t));
    if (node == NULL) {
        return NULL;
    }

    if (name != NULL) {
        lx_compile_id(b, node, name, name_len);
    }

    rc = 0;

    switch (pds_lx_type_bit(def)) {
    case LX_T_BOOLEAN:
        lx_compile_boolean(node, def);
        break;

    case LX_T_INTEGER:
        rc = lx_compile_integer(b, node, def);
        break;

    case LX_T_STRING:
        rc = lx_compile_string(b, node, def);
        break;

    case LX_T_BYTES:
        node->type = LX_BYTES;
        lx_compile_limits(node, def, "minLength", "maxLength");
        break;

    case LX_T_CIDLINK:
        node->type = LX_CIDLINK;
        break;

    case LX_T_BLOB:
        rc = lx_compile_blob(b, node, def);
        break;

    case LX_T_ARRAY:
        node->type = LX_ARRAY;
        lx_compile_limits(node, def, "minLength", "maxLength");
        node->items = lx_compile(b, json_object_get(def, "items"), NULL, 0);
        rc = node->items ? 0 : -1;
        break;

    case LX_T_OBJECT:
        node->type = LX_OBJECT;
        lx_compile_object(b, node, def);
        break;

    case LX_T_TOKEN:
        node->type = LX_TOKEN;
        break;

    case LX_T_UNKNOWN:
        node->type = LX_UNKNOWN;
        break;

    case LX_T_REF:
        rc = lx_compile_ref(b, node, def);
        break;

    case LX_T_UNION:
        rc = lx_compile_union(b, node, def);
        break;

    case LX_T_RECORD:
        node->type = LX_RECORD;
        node->key = lx_dup_json(b, json_object_get(def, "key"));
        node->record = lx_compile(b, json_object_get(def, "record"), NULL, 0);
        rc = node->record ? 0 : -1;
        break;

    default:
        node->type = LX_OTHER;
        break;
    }

    return (rc != 0 || b->oom) ? NULL : node;
}


int
pds_lexicon_add(pds_lexicon_t *lex, const json_t *doc, char *err,
    size_t errlen)
{
    size_t         nlen;
    const char    *msg, *nsid, *name;
    const json_t  *id, *defs, *def;
    lx_node_t     *node;
    lx_build_t     b;
    lx_str_t       sn, sname;

    msg = pds_lexicon_doc_valid(doc);
    if (msg != NULL) {
        id = json_object_get(doc, "id");
        snprintf(err, errlen, "%s: %s",
                 json_is_string(id) ? json_string_value(id) : "lexicon", msg);
        return -1;
    }

    id = json_object_get(doc, "id");
    nsid = json_string_value(id);
    nlen = json_string_length(id);

    if (pds_lx_find(lex, nsid, nlen, "", 0) != NULL) {
        snprintf(err, errlen, "%s has already been registered", nsid);
        return -1;
    }

    b.lex = lex;
    b.oom = 0;
    sn = lx_dup(&b, nsid, nlen);
    b.nsid = sn.s;
    b.nsid_len = sn.len;

    if (b.oom || pds_lx_insert(lex, sn, lx_dup(&b, "", 0), NULL) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    defs = json_object_get(doc, "defs");

    json_object_foreach((json_t *) defs, name, def) {
        sname = lx_dup(&b, name, strlen(name));
        node = lx_compile(&b, def, sname.s, sname.len);
        if (node == NULL || b.oom
            || pds_lx_insert(lex, sn, sname, node) != 0)
        {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }

    lex->ndocs++;

    return 0;
}


int
pds_lexicon_resolve(pds_lexicon_t *lex, char *err, size_t errlen)
{
    int          rc;
    size_t       i, nlen;
    const char  *hash;
    lx_ref_t    *r;
    lx_entry_t  *e;

    rc = 0;

    for (i = 0; i < lex->nrefs; i++) {
        r = lex->refs[i];
        hash = memchr(r->ref.s, '#', r->ref.len);
        e = NULL;

        if (hash != NULL) {
            nlen = (size_t) (hash - r->ref.s);
            e = pds_lx_find(lex, r->ref.s, nlen, hash + 1,
                            r->ref.len - nlen - 1);
        }

        r->node = NULL;

        if (e != NULL && e->node != NULL
            && (r->in_union ? (e->node->type == LX_OBJECT
                               || e->node->type == LX_RECORD)
                            : e->node->type != LX_OTHER))
        {
            r->node = e->node;

        } else if (rc == 0) {
            snprintf(err, errlen, "unresolved reference %.*s",
                     (int) r->ref.len, r->ref.s);
            rc = -1;
        }
    }

    return rc;
}
