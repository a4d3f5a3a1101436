/*
 * ngx_pds_module core: the checks of a Lexicon document, with the rules of
 * the reference's Lexicon document schema (lex-document); see
 * pds_lexicon.h.  A document that passes can be compiled without further
 * checks.
 */

#include "pds_syntax.h"
#include "pds_lexicon_int.h"


/* the types allowed in each place of a document */
#define LX_T_CONCRETE  (LX_T_BOOLEAN | LX_T_INTEGER | LX_T_STRING             \
                        | LX_T_BYTES | LX_T_CIDLINK | LX_T_BLOB)
#define LX_T_ITEMS     (LX_T_CONCRETE | LX_T_UNKNOWN | LX_T_REF | LX_T_UNION \
                        | LX_T_OBJECT)
#define LX_T_PROPS     (LX_T_ITEMS | LX_T_ARRAY)
#define LX_T_NAMED     (LX_T_CONCRETE | LX_T_ARRAY | LX_T_OBJECT | LX_T_TOKEN)
#define LX_T_MAIN      (LX_T_NAMED | LX_T_RECORD | LX_T_QUERY               \
                        | LX_T_PROCEDURE | LX_T_SUBSCRIPTION | LX_T_PERMSET)


static const struct {
    const char  *name;
    unsigned     bit;
} lx_types[] = {
    { "boolean", LX_T_BOOLEAN }, { "integer", LX_T_INTEGER },
    { "string", LX_T_STRING }, { "bytes", LX_T_BYTES },
    { "cid-link", LX_T_CIDLINK }, { "blob", LX_T_BLOB },
    { "array", LX_T_ARRAY }, { "object", LX_T_OBJECT },
    { "token", LX_T_TOKEN }, { "unknown", LX_T_UNKNOWN },
    { "ref", LX_T_REF }, { "union", LX_T_UNION },
    { "record", LX_T_RECORD }, { "query", LX_T_QUERY },
    { "procedure", LX_T_PROCEDURE }, { "subscription", LX_T_SUBSCRIPTION },
    { "permission-set", LX_T_PERMSET }
};

/* indexed by LX_FMT_* */
static const char *const  lx_formats[] = {
    "", "datetime", "uri", "at-uri", "did", "handle", "at-identifier",
    "nsid", "cid", "language", "tid", "record-key"
};


unsigned
pds_lx_type_bit(const json_t *def)
{
    size_t         i;
    const json_t  *t;

    t = json_object_get(def, "type");
    if (!json_is_string(t)) {
        return 0;
    }

    for (i = 0; i < sizeof(lx_types) / sizeof(lx_types[0]); i++) {
        if (strcmp(json_string_value(t), lx_types[i].name) == 0) {
            return lx_types[i].bit;
        }
    }

    return 0;
}


int
pds_lx_format_id(const json_t *f)
{
    size_t  i;

    for (i = 1; i < sizeof(lx_formats) / sizeof(lx_formats[0]); i++) {
        if (lx_str_is(f, lx_formats[i])) {
            return (int) i;
        }
    }

    return -1;
}


/* optional field checks: absent is fine */
static int
lx_opt_str(const json_t *o, const char *k)
{
    const json_t  *v = json_object_get(o, k);

    return v == NULL || json_is_string(v);
}


static int
lx_opt_int(const json_t *o, const char *k)
{
    int64_t        x;
    const json_t  *v = json_object_get(o, k);

    return v == NULL || lx_is_int(v, &x);
}


static int
lx_opt_bool(const json_t *o, const char *k)
{
    const json_t  *v = json_object_get(o, k);

    return v == NULL || json_is_boolean(v);
}


static int
lx_opt_array(const json_t *o, const char *k, int what)
{
    size_t         i;
    int64_t        x;
    const json_t  *v, *e;

    v = json_object_get(o, k);
    if (v == NULL) {
        return 1;
    }

    if (!json_is_array(v)) {
        return 0;
    }

    for (i = 0; i < json_array_size(v); i++) {
        e = json_array_get(v, i);
        if (what == 's' ? !json_is_string(e) : !lx_is_int(e, &x)) {
            return 0;
        }
    }

    return 1;
}


static const char *lx_check_def(const json_t *def, unsigned allowed,
    int depth);


/* every name in def's "required" list is one of props */
static const char *
lx_check_required(const json_t *def, const json_t *props)
{
    size_t         i;
    const json_t  *req;

    req = json_object_get(def, "required");
    for (i = 0; req && i < json_array_size(req); i++) {
        if (json_object_get(props,
                json_string_value(json_array_get(req, i))) == NULL)
        {
            return "All required parameters must be defined in properties";
        }
    }

    return NULL;
}


static const char *
lx_check_object(const json_t *def, int depth)
{
    const char    *key, *err;
    const json_t  *props, *pv;

    props = json_object_get(def, "properties");
    if (!json_is_object(props)) {
        return "object definition without properties";
    }

    if (!lx_opt_array(def, "required", 's')
        || !lx_opt_array(def, "nullable", 's'))
    {
        return "invalid required or nullable list";
    }

    json_object_foreach((json_t *) props, key, pv) {
        err = lx_check_def(pv, LX_T_PROPS, depth + 1);
        if (err) {
            return err;
        }
    }

    return lx_check_required(def, props);
}


static const char *
lx_check_params(const json_t *p)
{
    const char    *key;
    const json_t  *props, *pv;
    unsigned       bit;

    if (!json_is_object(p) || !lx_str_is(json_object_get(p, "type"), "params"))
    {
        return "invalid parameters";
    }

    props = json_object_get(p, "properties");
    if (!json_is_object(props) || !lx_opt_array(p, "required", 's')
        || !lx_opt_str(p, "description"))
    {
        return "invalid parameters";
    }

    json_object_foreach((json_t *) props, key, pv) {
        bit = pds_lx_type_bit(pv);
        if (bit == LX_T_ARRAY) {
            if (!json_is_object(json_object_get(pv, "items"))
                || !(pds_lx_type_bit(json_object_get(pv, "items"))
                     & (LX_T_BOOLEAN | LX_T_INTEGER | LX_T_STRING)))
            {
                return "invalid parameter type";
            }
        } else if (!(bit & (LX_T_BOOLEAN | LX_T_INTEGER | LX_T_STRING))) {
            return "invalid parameter type";
        }
        if (lx_check_def(pv, bit, 1) != NULL) {
            return "invalid parameter";
        }
    }

    return lx_check_required(p, props);
}


static const char *
lx_check_payload(const json_t *p)
{
    const char    *enc;
    const json_t  *s;

    if (p == NULL) {
        return NULL;
    }

    if (!json_is_object(p) || !json_is_string(json_object_get(p, "encoding"))
        || !lx_opt_str(p, "description"))
    {
        return "invalid input or output";
    }

    enc = json_string_value(json_object_get(p, "encoding"));
    if (strpbrk(enc, ",; ") != NULL) {
        return "Invalid encoding string (must be a single MIME type without "
               "parameters)";
    }

    s = json_object_get(p, "schema");
    if (s != NULL) {
        return lx_check_def(s, LX_T_REF | LX_T_UNION | LX_T_OBJECT, 1);
    }

    return NULL;
}


static const char *
lx_check_errors(const json_t *def)
{
    size_t         i;
    const json_t  *errs, *e, *name;

    errs = json_object_get(def, "errors");
    if (errs == NULL) {
        return NULL;
    }

    if (!json_is_array(errs)) {
        return "invalid errors";
    }

    for (i = 0; i < json_array_size(errs); i++) {
        e = json_array_get(errs, i);
        name = json_object_get(e, "name");
        if (!json_is_object(e) || !json_is_string(name)
            || json_string_length(name) == 0 || !lx_opt_str(e, "description"))
        {
            return "invalid errors";
        }
    }

    return NULL;
}


static int
lx_param_value(const json_t *v)
{
    size_t   i;
    int64_t  x;
    int      kind, k;

    if (json_is_string(v) || json_is_boolean(v) || lx_is_int(v, &x)) {
        return 1;
    }

    if (!json_is_array(v)) {
        return 0;
    }

    kind = 0;
    for (i = 0; i < json_array_size(v); i++) {
        const json_t  *e = json_array_get(v, i);

        k = json_is_string(e) ? 1 : json_is_boolean(e) ? 2
            : lx_is_int(e, &x) ? 3 : 0;
        if (k == 0 || (kind && k != kind)) {
            return 0;
        }
        kind = k;
    }

    return 1;
}


static int
lx_lang_dict(const json_t *d)
{
    const char  *key;
    json_t      *v;

    if (d == NULL) {
        return 1;
    }

    if (!json_is_object(d)) {
        return 0;
    }

    json_object_foreach((json_t *) d, key, v) {
        if (!pds_language_valid(key, strlen(key)) || !json_is_string(v)) {
            return 0;
        }
    }

    return 1;
}


static const char *
lx_check_permset(const json_t *def)
{
    size_t         i;
    const char    *key;
    const json_t  *perms, *p, *r, *v;

    perms = json_object_get(def, "permissions");
    if (!json_is_array(perms) || !lx_opt_str(def, "title")
        || !lx_opt_str(def, "detail")
        || !lx_lang_dict(json_object_get(def, "title:lang"))
        || !lx_lang_dict(json_object_get(def, "detail:lang")))
    {
        return "invalid permission-set";
    }

    for (i = 0; i < json_array_size(perms); i++) {
        p = json_array_get(perms, i);
        r = json_object_get(p, "resource");
        if (!json_is_object(p)
            || !lx_str_is(json_object_get(p, "type"), "permission")
            || !json_is_string(r) || json_string_length(r) == 0)
        {
            return "invalid permission";
        }

        json_object_foreach((json_t *) p, key, v) {
            if (!lx_param_value(v)) {
                return "invalid permission parameter";
            }
        }
    }

    return NULL;
}


static int
lx_rkey_type_ok(const json_t *k)
{
    const char  *s;
    size_t       len;

    if (!json_is_string(k)) {
        return 0;
    }

    s = json_string_value(k);
    len = json_string_length(k);

    if (strcmp(s, "any") == 0 || strcmp(s, "nsid") == 0
        || strcmp(s, "tid") == 0)
    {
        return 1;
    }

    return len > 8 && memcmp(s, "literal:", 8) == 0
           && pds_rkey_valid(s + 8, len - 8);
}


/* the fields of boolean, integer, string, bytes and blob definitions */
static const char *
lx_check_scalar(const json_t *def, unsigned bit)
{
    const json_t  *v;

    switch (bit) {
    case LX_T_BOOLEAN:
        if (!lx_opt_bool(def, "default") || !lx_opt_bool(def, "const")) {
            return "invalid boolean definition";
        }
        break;

    case LX_T_INTEGER:
        if (!lx_opt_int(def, "default") || !lx_opt_int(def, "minimum")
            || !lx_opt_int(def, "maximum") || !lx_opt_int(def, "const")
            || !lx_opt_array(def, "enum", 'i'))
        {
            return "invalid integer definition";
        }
        break;

    case LX_T_STRING:
        v = json_object_get(def, "format");
        if ((v != NULL && pds_lx_format_id(v) < 0)
            || !lx_opt_str(def, "default") || !lx_opt_str(def, "const")
            || !lx_opt_int(def, "minLength") || !lx_opt_int(def, "maxLength")
            || !lx_opt_int(def, "minGraphemes")
            || !lx_opt_int(def, "maxGraphemes")
            || !lx_opt_array(def, "enum", 's')
            || !lx_opt_array(def, "knownValues", 's'))
        {
            return "invalid string definition";
        }
        break;

    case LX_T_BYTES:
        if (!lx_opt_int(def, "minLength") || !lx_opt_int(def, "maxLength")) {
            return "invalid bytes definition";
        }
        break;

    case LX_T_BLOB:
        if (!lx_opt_array(def, "accept", 's') || !lx_opt_int(def, "maxSize")) {
            return "invalid blob definition";
        }
        break;
    }

    return NULL;
}


static const char *
lx_check_array(const json_t *def, int depth)
{
    const json_t  *v;

    if (!lx_opt_int(def, "minLength") || !lx_opt_int(def, "maxLength")) {
        return "invalid array definition";
    }

    v = json_object_get(def, "items");
    if (v == NULL) {
        return "array definition without items";
    }

    return lx_check_def(v, LX_T_ITEMS, depth + 1);
}


static const char *
lx_check_record(const json_t *def, int depth)
{
    const json_t  *v;

    if (!lx_rkey_type_ok(json_object_get(def, "key"))) {
        return "Invalid record key definition (must be \"any\", \"nsid\", "
               "\"tid\", or \"literal:<string>\")";
    }

    v = json_object_get(def, "record");
    if (pds_lx_type_bit(v) != LX_T_OBJECT) {
        return "record definition without an object";
    }

    return lx_check_object(v, depth + 1);
}


/* query, procedure and subscription: parameters, errors, then payloads */
static const char *
lx_check_xrpc(const json_t *def, unsigned bit, int depth)
{
    const char    *err;
    const json_t  *v;

    v = json_object_get(def, "parameters");
    if (v != NULL && (err = lx_check_params(v)) != NULL) {
        return err;
    }

    if ((err = lx_check_errors(def)) != NULL) {
        return err;
    }

    if (bit == LX_T_SUBSCRIPTION) {
        v = json_object_get(def, "message");
        if (!json_is_object(v) || !lx_opt_str(v, "description")) {
            return "subscription without message";
        }
        return lx_check_def(json_object_get(v, "schema"), LX_T_UNION,
                            depth + 1);
    }

    if ((err = lx_check_payload(json_object_get(def, "output"))) != NULL) {
        return err;
    }

    if (bit == LX_T_PROCEDURE) {
        return lx_check_payload(json_object_get(def, "input"));
    }

    return NULL;
}


/* def, of one of the allowed types, at depth in its document */
static const char *
lx_check_def(const json_t *def, unsigned allowed, int depth)
{
    unsigned  bit;

    if (depth > 32) {
        return "definition nested too deeply";
    }

    if (!json_is_object(def)) {
        return "definition must be an object";
    }

    bit = pds_lx_type_bit(def);
    if (bit == 0 || !(bit & allowed)) {
        return "definition of a type not allowed here";
    }

    if (!lx_opt_str(def, "description")) {
        return "description must be a string";
    }

    switch (bit) {
    case LX_T_ARRAY:
        return lx_check_array(def, depth);

    case LX_T_OBJECT:
        return lx_check_object(def, depth);

    case LX_T_REF:
        if (!json_is_string(json_object_get(def, "ref"))) {
            return "ref definition without ref";
        }
        return NULL;

    case LX_T_UNION:
        if (!json_is_array(json_object_get(def, "refs"))
            || !lx_opt_array(def, "refs", 's')
            || !lx_opt_bool(def, "closed"))
        {
            return "invalid union definition";
        }
        return NULL;

    case LX_T_RECORD:
        return lx_check_record(def, depth);

    case LX_T_QUERY:
    case LX_T_PROCEDURE:
    case LX_T_SUBSCRIPTION:
        return lx_check_xrpc(def, bit, depth);

    case LX_T_PERMSET:
        return lx_check_permset(def);

    default:
        return lx_check_scalar(def, bit);
    }
}


const char *
pds_lexicon_doc_valid(const json_t *doc)
{
    int64_t        x;
    const char    *name, *err;
    const json_t  *id, *defs, *def, *lv;

    if (!json_is_object(doc)) {
        return "lexicon document must be an object";
    }

    lv = json_object_get(doc, "lexicon");
    if (!lx_is_int(lv, &x) || x != 1) {
        return "lexicon must be 1";
    }

    id = json_object_get(doc, "id");
    if (!json_is_string(id)) {
        return "id must be a string";
    }

    if (!pds_nsid_valid(json_string_value(id), json_string_length(id))) {
        return "id must be a valid NSID";
    }

    if (!lx_opt_int(doc, "revision") || !lx_opt_str(doc, "description")) {
        return "invalid revision or description";
    }

    defs = json_object_get(doc, "defs");
    if (!json_is_object(defs)) {
        return "defs must be an object";
    }

    json_object_foreach((json_t *) defs, name, def) {
        if (name[0] == '\0') {
            return "definition names must not be empty";
        }

        err = lx_check_def(def, strcmp(name, "main") == 0 ? LX_T_MAIN
                                                           : LX_T_NAMED, 0);
        if (err) {
            return err;
        }
    }

    return NULL;
}
