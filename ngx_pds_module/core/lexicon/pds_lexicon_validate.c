/*
 * ngx_pds_module core: validation of records and values against the
 * compiled Lexicon definitions, as the reference PDS does (see
 * pds_lexicon.h).  Runs on a read-only registry and allocates nothing.
 */

#include "pds_cid.h"
#include "pds_syntax.h"
#include "pds_lexicon_int.h"


static int
lx_is_blob(const json_t *v)
{
    int64_t        size;
    const json_t  *m;

    if (!json_is_object(v) || !lx_str_is(json_object_get(v, "$type"), "blob"))
    {
        return 0;
    }

    m = json_object_get(v, "mimeType");

    return lx_link(json_object_get(v, "ref")) != NULL
           && json_is_string(m)
           && lx_is_int(json_object_get(v, "size"), &size) && size >= 0;
}


static size_t
lx_base64_decoded_len(const json_t *s)
{
    size_t       n;
    const char  *p;

    p = json_string_value(s);
    n = json_string_length(s);

    while (n > 0 && p[n - 1] == '=') {
        n--;
    }

    return n / 4 * 3 + (n % 4 == 3 ? 2 : n % 4 == 2 ? 1 : 0);
}


/* enters a property of the value: 0, or -1 with the message written */
static int
lx_push_key(lx_ctx_t *c, const char *key, size_t len)
{
    if (c->depth >= LX_MAX_DEPTH) {
        return pds_lx_err(c, "too deeply nested");
    }

    c->seg[c->depth].key = key;
    c->seg[c->depth].len = len;
    c->depth++;
    return 0;
}


/* enters an item of the value: 0, or -1 with the message written */
static int
lx_push_idx(lx_ctx_t *c, size_t idx)
{
    if (c->depth >= LX_MAX_DEPTH) {
        return pds_lx_err(c, "too deeply nested");
    }

    c->seg[c->depth].key = NULL;
    c->seg[c->depth].idx = idx;
    c->depth++;
    return 0;
}


static int
lx_format_ok(int format, const char *s, size_t len)
{
    pds_cid_t  cid;

    switch (format) {
    case LX_FMT_DATETIME:  return pds_datetime_valid(s, len);
    case LX_FMT_URI:       return pds_uri_valid(s, len);
    case LX_FMT_ATURI:     return pds_aturi_valid(s, len);
    case LX_FMT_DID:       return pds_did_valid(s, len);
    case LX_FMT_HANDLE:    return pds_handle_valid(s, len);
    case LX_FMT_ATID:      return pds_atidentifier_valid(s, len);
    case LX_FMT_NSID:      return pds_nsid_valid(s, len);
    case LX_FMT_CID:
        return pds_cid_string_valid(s, len)
               && pds_cid_parse(&cid, s, len) == 0;
    case LX_FMT_LANGUAGE:  return pds_language_valid(s, len);
    case LX_FMT_TID:       return pds_tid_valid(s, len);
    case LX_FMT_RKEY:      return pds_rkey_valid(s, len);
    default:               return 1;
    }
}


static int lx_validate(lx_ctx_t *c, const lx_node_t *n, const json_t *v);


/* minLength and maxLength of a string (bytes), bytes or array */
static int
lx_validate_length(lx_ctx_t *c, const lx_node_t *n, const char *what,
    size_t len)
{
    if ((n->flags & LX_HAS_MIN) && (int64_t) len < n->min) {
        return pds_lx_err_size(c, what, 0, n->min, (int64_t) len);
    }

    if ((n->flags & LX_HAS_MAX) && (int64_t) len > n->max) {
        return pds_lx_err_size(c, what, 1, n->max, (int64_t) len);
    }

    return 0;
}


/* a string with "const" or "enum": only the listed values pass */
static int
lx_validate_choice(lx_ctx_t *c, const lx_node_t *n, const json_t *v)
{
    size_t  i;

    if (json_is_string(v) && !(n->flags & LX_NEVER)) {
        if (n->flags & LX_HAS_CONST) {
            if (lx_streq(v, n->cstr.s, n->cstr.len)) {
                return 0;
            }
        } else {
            for (i = 0; i < n->nenum; i++) {
                if (lx_streq(v, n->senum[i].s, n->senum[i].len)) {
                    return 0;
                }
            }
        }
    }

    if (n->flags & LX_HAS_CONST) {
        return pds_lx_err_values_str(c, v, &n->cstr, 1, NULL);
    }

    return pds_lx_err_values_str(c, v, n->senum, n->nenum, NULL);
}


/*
 * minGraphemes and maxGraphemes: a string has no more graphemes than
 * UTF-16 units, so the count, which is slower, runs only when the length
 * does not decide
 */
static int
lx_validate_graphemes(lx_ctx_t *c, const lx_node_t *n, const char *s,
    size_t len)
{
    size_t  u16, gr;

    u16 = pds_lx_utf16_len(s, len);
    gr = (size_t) -1;

    if (n->flags & LX_HAS_MINGR) {
        if ((int64_t) u16 < n->mingr) {
            return pds_lx_err_size(c, "grapheme", 0, n->mingr, (int64_t) u16);
        }
        gr = pds_grapheme_count(s, len);
        if ((int64_t) gr < n->mingr) {
            return pds_lx_err_size(c, "grapheme", 0, n->mingr, (int64_t) gr);
        }
    }

    if ((n->flags & LX_HAS_MAXGR) && (int64_t) u16 > n->maxgr) {
        if (gr == (size_t) -1) {
            gr = pds_grapheme_count(s, len);
        }
        if ((int64_t) gr > n->maxgr) {
            return pds_lx_err_size(c, "grapheme", 1, n->maxgr, (int64_t) gr);
        }
    }

    return 0;
}


static int
lx_validate_string(lx_ctx_t *c, const lx_node_t *n, const json_t *v)
{
    size_t         len;
    const char    *s;
    const json_t  *str;

    if (n->flags & (LX_HAS_CONST | LX_HAS_ENUM | LX_NEVER)) {
        return lx_validate_choice(c, n, v);
    }

    str = json_is_string(v) ? v : lx_link(v);
    if (str == NULL) {
        return pds_lx_err_type(c, v, "string");
    }

    s = json_string_value(str);
    len = json_string_length(str);

    if (lx_validate_length(c, n, "string", len) != 0) {
        return -1;
    }

    if ((n->flags & (LX_HAS_MINGR | LX_HAS_MAXGR))
        && lx_validate_graphemes(c, n, s, len) != 0)
    {
        return -1;
    }

    if (n->format != LX_FMT_NONE
        && (memchr(s, '\0', len) != NULL || !lx_format_ok(n->format, s, len)))
    {
        return pds_lx_err_format(c, n->format, str);
    }

    return 0;
}


static int
lx_validate_integer(lx_ctx_t *c, const lx_node_t *n, const json_t *v)
{
    size_t   i;
    int64_t  x;
    int      isint;

    isint = lx_is_int(v, &x);

    if (n->flags & (LX_HAS_CONST | LX_NEVER)) {
        if (isint && x == n->cint && !(n->flags & LX_NEVER)) {
            return 0;
        }
        return pds_lx_err_values_int(c, v, &n->cint, 1);
    }

    if (n->flags & LX_HAS_ENUM) {
        if (isint) {
            for (i = 0; i < n->nenum; i++) {
                if (n->ienum[i] == x) {
                    return 0;
                }
            }
        }
        return pds_lx_err_values_int(c, v, n->ienum, n->nenum);
    }

    if (!isint) {
        return pds_lx_err_type(c, v, "integer");
    }

    if ((n->flags & LX_HAS_MIN) && x < n->min) {
        return pds_lx_err_size(c, "integer", 0, n->min, x);
    }

    if ((n->flags & LX_HAS_MAX) && x > n->max) {
        return pds_lx_err_size(c, "integer", 1, n->max, x);
    }

    return 0;
}


static int
lx_mime_ok(const lx_node_t *n, const char *mime, size_t len)
{
    size_t           i;
    const lx_str_t  *a;

    for (i = 0; i < n->naccept; i++) {
        a = &n->accept[i];

        if ((a->len == 3 && memcmp(a->s, "*/*", 3) == 0)
            || (a->len == len && memcmp(a->s, mime, len) == 0))
        {
            return 1;
        }

        if (a->len >= 2 && a->s[a->len - 1] == '*' && a->s[a->len - 2] == '/'
            && len >= a->len - 1 && memcmp(a->s, mime, a->len - 1) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static int
lx_validate_blob(lx_ctx_t *c, const lx_node_t *n, const json_t *v)
{
    int64_t        size;
    const json_t  *mime;

    if (!lx_is_blob(v)) {
        return pds_lx_err_type(c, v, "blob");
    }

    if (n->flags & LX_HAS_ACCEPT) {
        mime = json_object_get(v, "mimeType");
        if (!lx_mime_ok(n, json_string_value(mime), json_string_length(mime)))
        {
            return pds_lx_err_values_str(c, mime, n->accept, n->naccept,
                                         "mimeType");
        }
    }

    if (n->flags & LX_HAS_MAX) {
        /* lx_is_blob() saw an integer size */
        size = 0;
        (void) lx_is_int(json_object_get(v, "size"), &size);
        if (size > n->max) {
            return pds_lx_err_size(c, "blob", 1, n->max, size);
        }
    }

    return 0;
}


static int
lx_validate_props(lx_ctx_t *c, const lx_node_t *n, const json_t *v)
{
    size_t           i;
    const json_t    *pv;
    const lx_prop_t *p;
    lx_out_t        *o;

    for (i = 0; i < n->nprops; i++) {
        p = &n->props[i];
        pv = json_object_get(v, p->name.s);

        if (pv == NULL) {
            if (!p->required) {
                continue;
            }
            o = pds_lx_begin(c);
            pds_lx_puts(o, "Missing required key ");
            pds_lx_put_quoted(o, p->name.s, p->name.len, 0);
            return pds_lx_end(c, NULL);
        }

        if (json_is_null(pv) && p->nullable) {
            continue;
        }

        if (lx_push_key(c, p->name.s, p->name.len) != 0) {
            return -1;
        }

        if (lx_validate(c, p->node, pv) != 0) {
            return -1;
        }

        c->depth--;
    }

    return 0;
}


static int
lx_plain_object(const json_t *v)
{
    return json_is_object(v) && lx_link(v) == NULL && lx_bytes(v) == NULL;
}


static int
lx_validate_typed(lx_ctx_t *c, const lx_node_t *n, const json_t *v)
{
    const json_t  *t;

    if (!lx_plain_object(v)) {
        return pds_lx_err_type(c, v, "object");
    }

    if (n->type == LX_OBJECT && n->id.len) {
        t = json_object_get(v, "$type");
        if (t != NULL && !lx_streq(t, n->id.s, n->id.len)) {
            return pds_lx_err_values_str(c, t, &n->id, 1, "$type");
        }
    }

    if (lx_validate_props(c, n->type == LX_RECORD ? n->record : n, v) != 0) {
        return -1;
    }

    if (n->type == LX_RECORD) {
        t = json_object_get(v, "$type");
        if (!lx_streq(t, n->id.s, n->id.len)) {
            return pds_lx_err_values_str(c, t, &n->id, 1, "$type");
        }
    }

    return 0;
}


static int
lx_validate_union(lx_ctx_t *c, const lx_node_t *n, const json_t *v)
{
    size_t          i;
    const json_t   *t;
    const lx_ref_t *r;
    lx_str_t        types[64];

    if (!lx_plain_object(v) || (t = json_object_get(v, "$type")) == NULL) {
        return pds_lx_err_type(c, v,
                  "an object which includes the \"$type\" property");
    }

    for (i = 0; i < n->nrefs; i++) {
        r = &n->refs[i];
        if (lx_streq(t, r->type.s, r->type.len)) {
            if (r->node == NULL) {
                return pds_lx_err_not_found(c, r);
            }
            return lx_validate(c, r->node, v);
        }
    }

    if (n->flags & LX_CLOSED) {
        for (i = 0; i < n->nrefs && i < 64; i++) {
            types[i] = n->refs[i].type;
        }
        return pds_lx_err_values_str(c, t, types, i, "$type");
    }

    if (!json_is_string(t)) {
        return pds_lx_err_type_at(c, t, "string", "$type");
    }

    return 0;
}


static int
lx_validate_boolean(lx_ctx_t *c, const lx_node_t *n, const json_t *v)
{
    lx_out_t  *o;

    if (!(n->flags & LX_HAS_CONST)) {
        return json_is_boolean(v) ? 0 : pds_lx_err_type(c, v, "boolean");
    }

    if (json_is_boolean(v) && json_is_true(v) == n->cbool) {
        return 0;
    }

    o = pds_lx_begin(c);
    pds_lx_printf(o, "Expected %s (got ", n->cbool ? "true" : "false");
    pds_lx_put_value(o, v);
    pds_lx_puts(o, ")");

    return pds_lx_end(c, NULL);
}


static int
lx_validate_bytes(lx_ctx_t *c, const lx_node_t *n, const json_t *v)
{
    const json_t  *b;

    b = lx_bytes(v);
    if (b == NULL) {
        return pds_lx_err_type(c, v, "bytes");
    }

    return lx_validate_length(c, n, "bytes", lx_base64_decoded_len(b));
}


static int
lx_validate_array(lx_ctx_t *c, const lx_node_t *n, const json_t *v)
{
    size_t  i, len;

    if (!json_is_array(v)) {
        return pds_lx_err_type(c, v, "array");
    }

    len = json_array_size(v);

    if (lx_validate_length(c, n, "array", len) != 0) {
        return -1;
    }

    for (i = 0; i < len; i++) {
        if (lx_push_idx(c, i) != 0
            || lx_validate(c, n->items, json_array_get(v, i)) != 0)
        {
            return -1;
        }
        c->depth--;
    }

    return 0;
}


static int
lx_validate_unknown(lx_ctx_t *c, const json_t *v)
{
    if (!lx_plain_object(v)
        || lx_str_is(json_object_get(v, "$type"), "blob"))
    {
        return pds_lx_err_type(c, v, "object");
    }

    return 0;
}


static int
lx_validate(lx_ctx_t *c, const lx_node_t *n, const json_t *v)
{
    if (++c->steps > 100000) {
        return pds_lx_err(c, "value too complex");
    }

    switch (n->type) {
    case LX_BOOLEAN:
        return lx_validate_boolean(c, n, v);

    case LX_INTEGER:
        return lx_validate_integer(c, n, v);

    case LX_STRING:
        return lx_validate_string(c, n, v);

    case LX_BYTES:
        return lx_validate_bytes(c, n, v);

    case LX_CIDLINK:
        return lx_link(v) ? 0 : pds_lx_err_type(c, v, "cid");

    case LX_BLOB:
        return lx_validate_blob(c, n, v);

    case LX_ARRAY:
        return lx_validate_array(c, n, v);

    case LX_OBJECT:
    case LX_RECORD:
        return lx_validate_typed(c, n, v);

    case LX_TOKEN:
        if (lx_streq(v, n->id.s, n->id.len)) {
            return 0;
        }
        return pds_lx_err_values_str(c, v, &n->id, 1, NULL);

    case LX_UNKNOWN:
        return lx_validate_unknown(c, v);

    case LX_REF:
        if (n->refs[0].node == NULL) {
            return pds_lx_err_not_found(c, &n->refs[0]);
        }
        return lx_validate(c, n->refs[0].node, v);

    case LX_UNION:
        return lx_validate_union(c, n, v);

    default:
        return pds_lx_err(c, "Unexpected lexicon type");
    }
}


/* ---- entry points ------------------------------------------------------- */

static void
lx_ctx_init(lx_ctx_t *c, const pds_lexicon_t *lex, const char *path,
    const char *head, const char *what, char *err, size_t errlen)
{
    c->lex = lex;
    c->prefix = path ? path : "$.record";
    c->head = head;
    c->what = what;
    c->out.p = err;
    c->out.cap = errlen;
    c->out.len = 0;
    c->depth = 0;
    c->steps = 0;

    if (errlen) {
        err[0] = '\0';
    }
}


static int
lx_check_rkey(const lx_node_t *rec, const char *type, const char *rkey,
    char *err, size_t errlen)
{
    size_t       len;
    const char  *k = rec->key.s;
    lx_out_t     o;

    len = strlen(rkey);
    o.p = err;
    o.cap = errlen;
    o.len = 0;

    if (errlen) {
        err[0] = '\0';
    }

    pds_lx_puts(&o, "Invalid record key for ");
    pds_lx_puts(&o, type);
    pds_lx_puts(&o, ": ");

    if (strcmp(k, "tid") == 0) {
        if (pds_tid_valid(rkey, len)) {
            return 0;
        }
        pds_lx_puts(&o, "Invalid TID string (got ");

    } else if (strcmp(k, "nsid") == 0) {
        if (pds_nsid_valid(rkey, len)) {
            return 0;
        }
        pds_lx_puts(&o, "Invalid NSID (got ");

    } else if (strncmp(k, "literal:", 8) == 0) {
        if (strcmp(k + 8, rkey) == 0) {
            return 0;
        }
        pds_lx_puts(&o, "Expected ");
        pds_lx_put_quoted(&o, k + 8, strlen(k + 8), LX_PREVIEW_MAX);
        pds_lx_puts(&o, " (got ");

    } else {
        if (pds_rkey_valid(rkey, len)) {
            return 0;
        }
        pds_lx_puts(&o, "Invalid record key (got ");
    }

    pds_lx_put_quoted(&o, rkey, len, LX_PREVIEW_MAX);
    pds_lx_puts(&o, ")");

    return -1;
}


int
pds_lexicon_validate_record(const pds_lexicon_t *lex, const json_t *rec,
    const char *path, const char *rkey, char *err, size_t errlen)
{
    const char       *type;
    const json_t     *t;
    const lx_node_t  *def;
    lx_ctx_t          c;

    t = json_object_get(rec, "$type");

    if (!json_is_object(rec) || !json_is_string(t)
        || json_string_length(t) == 0)
    {
        lx_ctx_init(&c, lex, path, "record", "value", err, errlen);
        c.out.len = 0;
        pds_lx_puts(&c.out, "Invalid record: ");
        if (!json_is_object(rec)) {
            pds_lx_puts(&c.out, "Expected object value type (got ");
            pds_lx_put_value(&c.out, rec);
            pds_lx_puts(&c.out, ")");
            pds_lx_end(&c, NULL);
        } else {
            pds_lx_puts(&c.out, "Expected string value type (got ");
            pds_lx_put_value(&c.out, t);
            pds_lx_puts(&c.out, ")");
            pds_lx_end(&c, "$type");
        }
        return PDS_LEX_INVALID;
    }

    type = json_string_value(t);
    def = pds_lx_record_def(lex, type, json_string_length(t));
    if (def == NULL) {
        if (errlen) {
            err[0] = '\0';
        }
        return PDS_LEX_UNKNOWN;
    }

    if (rkey != NULL && lx_check_rkey(def, type, rkey, err, errlen) != 0) {
        return PDS_LEX_INVALID;
    }

    lx_ctx_init(&c, lex, path, type, "record", err, errlen);

    return lx_validate(&c, def, rec) == 0 ? PDS_LEX_VALID : PDS_LEX_INVALID;
}


int
pds_lexicon_validate_value(const pds_lexicon_t *lex, const char *ref,
    const json_t *value, const char *path, char *err, size_t errlen)
{
    const char   *hash;
    lx_entry_t   *e;
    lx_ctx_t      c;

    hash = strchr(ref, '#');
    if (hash != NULL) {
        e = pds_lx_find(lex, ref, (size_t) (hash - ref), hash + 1,
                    strlen(hash + 1));
    } else {
        e = pds_lx_find(lex, ref, strlen(ref), "main", 4);
    }

    if (e == NULL || e->node == NULL || e->node->type == LX_OTHER) {
        if (errlen) {
            err[0] = '\0';
        }
        return PDS_LEX_UNKNOWN;
    }

    lx_ctx_init(&c, lex, path ? path : "$", ref, "value", err, errlen);

    return lx_validate(&c, e->node, value) == 0 ? PDS_LEX_VALID
                                                : PDS_LEX_INVALID;
}
