/*
 * ngx_pds_module core: the messages of Lexicon validation, worded as the
 * reference's (@atproto/lex-schema): previews of the offending value, the
 * JSON path of it, and the usual shapes ("Expected ... value type",
 * "... too big (maximum ..., got ...)", "Expected one of ...").
 */

#include <stdarg.h>
#include <stdio.h>

#include "pds_lexicon_int.h"


void
pds_lx_put(lx_out_t *o, const char *s, size_t n)
{
    size_t  room;

    if (o->cap == 0) {
        return;
    }

    room = o->cap - 1 - o->len;
    if (n > room) {
        n = room;
    }

    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}


void
pds_lx_puts(lx_out_t *o, const char *s)
{
    pds_lx_put(o, s, strlen(s));
}


void
pds_lx_printf(lx_out_t *o, const char *fmt, ...)
{
    char     buf[64];
    int      n;
    va_list  ap;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);

    if (n > 0) {
        pds_lx_put(o, buf, (size_t) n < sizeof(buf) ? (size_t) n
                                                     : sizeof(buf) - 1);
    }
}


/* JSON.stringify of a string, at most max UTF-16 units then "…" */
void
pds_lx_put_quoted(lx_out_t *o, const char *s, size_t len, size_t max)
{
    size_t                i, k, units;
    int32_t               cp;
    const unsigned char  *p = (const unsigned char *) s;

    if (max > 0 && pds_lx_utf16_len(s, len) >= max) {
        max = max - 1;
    } else {
        max = (size_t) -1;
    }

    pds_lx_put(o, "\"", 1);
    units = 0;

    for (i = 0; i < len; i += k) {
        k = pds_lx_utf8_next(p + i, len - i, &cp);
        units += cp >= 0x10000 ? 2 : 1;

        if (units > max) {
            pds_lx_puts(o, "\xe2\x80\xa6");
            break;
        }

        if (cp < 0) {
            pds_lx_puts(o, "\xef\xbf\xbd");
        } else if (cp == '"' || cp == '\\') {
            pds_lx_put(o, "\\", 1);
            pds_lx_put(o, (const char *) p + i, 1);
        } else if (cp == '\n') {
            pds_lx_puts(o, "\\n");
        } else if (cp == '\r') {
            pds_lx_puts(o, "\\r");
        } else if (cp == '\t') {
            pds_lx_puts(o, "\\t");
        } else if (cp == '\b') {
            pds_lx_puts(o, "\\b");
        } else if (cp == '\f') {
            pds_lx_puts(o, "\\f");
        } else if (cp < 0x20) {
            pds_lx_printf(o, "\\u%04x", (unsigned) cp);
        } else {
            pds_lx_put(o, (const char *) p + i, k);
        }
    }

    pds_lx_put(o, "\"", 1);
}


/* the reference's preview of a value in messages ("got ...") */
void
pds_lx_put_value(lx_out_t *o, const json_t *v)
{
    size_t       i, n;
    const char  *key;
    json_t      *item;
    void        *it;

    if (v == NULL) {
        pds_lx_puts(o, "undefined");
        return;
    }

    switch (json_typeof(v)) {
    case JSON_STRING:
        pds_lx_put_quoted(o, json_string_value(v), json_string_length(v),
                          LX_PREVIEW_MAX);
        break;

    case JSON_INTEGER:
        pds_lx_printf(o, "%lld", (long long) json_integer_value(v));
        break;

    case JSON_REAL:
        pds_lx_printf(o, "%.17g", json_real_value(v));
        break;

    case JSON_TRUE:
        pds_lx_puts(o, "true");
        break;

    case JSON_FALSE:
        pds_lx_puts(o, "false");
        break;

    case JSON_NULL:
        pds_lx_puts(o, "null");
        break;

    case JSON_ARRAY:
        n = json_array_size(v);
        pds_lx_put(o, "[", 1);
        for (i = 0; i < n && i < 2; i++) {
            if (i) {
                pds_lx_puts(o, ", ");
            }
            item = json_array_get(v, i);
            if (json_is_array(item) || json_is_object(item)) {
                pds_lx_puts(o, json_is_array(item) ? "[...]" : "{...}");
            } else {
                pds_lx_put_value(o, item);
            }
        }
        if (n > 2) {
            pds_lx_puts(o, ", ...");
        }
        pds_lx_put(o, "]", 1);
        break;

    case JSON_OBJECT:
        if (lx_link(v)) {
            pds_lx_puts(o, "cid");
            break;
        }
        if (lx_bytes(v)) {
            pds_lx_puts(o, "object");
            break;
        }
        pds_lx_put(o, "{", 1);
        i = 0;
        for (it = json_object_iter((json_t *) v); it != NULL && i < 2;
             it = json_object_iter_next((json_t *) v, it))
        {
            key = json_object_iter_key(it);
            if (i++) {
                pds_lx_puts(o, ", ");
            }
            pds_lx_put_quoted(o, key, strlen(key), 0);
            pds_lx_puts(o, ": ...");
        }
        if (json_object_size(v) > 2) {
            pds_lx_puts(o, ", ...");
        }
        pds_lx_put(o, "}", 1);
        break;
    }
}


/* " (got <preview>)", how most messages end */
static void
lx_put_got(lx_out_t *o, const json_t *v)
{
    pds_lx_puts(o, " (got ");
    pds_lx_put_value(o, v);
    pds_lx_puts(o, ")");
}


/* a key that the path shows as ".key" rather than "["key"]" */
static int
lx_ident(const char *s, size_t len)
{
    size_t  i;
    char    ch;

    if (len == 0) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        ch = s[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_'
            || (i == 0 && ch == '$') || (i > 0 && ch >= '0' && ch <= '9'))
        {
            continue;
        }
        return 0;
    }

    return 1;
}


/* starts the message: "Invalid <type> record: " */
lx_out_t *
pds_lx_begin(lx_ctx_t *c)
{
    c->out.len = 0;
    if (c->out.cap) {
        c->out.p[0] = '\0';
    }

    pds_lx_puts(&c->out, "Invalid ");
    pds_lx_puts(&c->out, c->head);
    pds_lx_puts(&c->out, " ");
    pds_lx_puts(&c->out, c->what);
    pds_lx_puts(&c->out, ": ");

    return &c->out;
}


/* ends the message with " at <path>" plus an optional extra key */
int
pds_lx_end(lx_ctx_t *c, const char *extra)
{
    int        i;
    lx_out_t  *o = &c->out;

    pds_lx_puts(o, " at ");
    pds_lx_puts(o, c->prefix);

    for (i = 0; i < c->depth; i++) {
        if (c->seg[i].key == NULL) {
            pds_lx_printf(o, "[%zu]", c->seg[i].idx);
        } else if (lx_ident(c->seg[i].key, c->seg[i].len)) {
            pds_lx_put(o, ".", 1);
            pds_lx_put(o, c->seg[i].key, c->seg[i].len);
        } else {
            pds_lx_put(o, "[", 1);
            pds_lx_put_quoted(o, c->seg[i].key, c->seg[i].len, 0);
            pds_lx_put(o, "]", 1);
        }
    }

    if (extra) {
        pds_lx_put(o, ".", 1);
        pds_lx_puts(o, extra);
    }

    return -1;
}


int
pds_lx_err_type_at(lx_ctx_t *c, const json_t *v, const char *expected,
    const char *extra)
{
    lx_out_t  *o = pds_lx_begin(c);

    pds_lx_puts(o, "Expected ");
    pds_lx_puts(o, expected);
    pds_lx_puts(o, " value type");
    lx_put_got(o, v);

    return pds_lx_end(c, extra);
}


int
pds_lx_err_type(lx_ctx_t *c, const json_t *v, const char *expected)
{
    return pds_lx_err_type_at(c, v, expected, NULL);
}


int
pds_lx_err_size(lx_ctx_t *c, const char *type, int big, int64_t limit,
    int64_t actual)
{
    lx_out_t  *o = pds_lx_begin(c);

    pds_lx_printf(o, "%s too %s (%s %lld, got %lld)", type,
                  big ? "big" : "small", big ? "maximum" : "minimum",
                  (long long) limit, (long long) actual);

    return pds_lx_end(c, NULL);
}


static void
lx_put_oneof_begin(lx_out_t *o, size_t n)
{
    pds_lx_puts(o, "Expected ");
    if (n > 1) {
        pds_lx_puts(o, "one of ");
    }
}


static void
lx_put_sep(lx_out_t *o, size_t i, size_t n)
{
    if (i + 1 < n) {
        pds_lx_puts(o, i + 2 < n ? ", " : " or ");
    }
}


/* "Expected one of "a", "b" or "c" (got x)" */
int
pds_lx_err_values_str(lx_ctx_t *c, const json_t *v, const lx_str_t *vals,
    size_t n, const char *extra)
{
    size_t     i;
    lx_out_t  *o = pds_lx_begin(c);

    lx_put_oneof_begin(o, n);
    for (i = 0; i < n; i++) {
        pds_lx_put_quoted(o, vals[i].s, vals[i].len, LX_PREVIEW_MAX);
        lx_put_sep(o, i, n);
    }
    lx_put_got(o, v);

    return pds_lx_end(c, extra);
}


int
pds_lx_err_values_int(lx_ctx_t *c, const json_t *v, const int64_t *vals,
    size_t n)
{
    size_t     i;
    lx_out_t  *o = pds_lx_begin(c);

    lx_put_oneof_begin(o, n);
    for (i = 0; i < n; i++) {
        pds_lx_printf(o, "%lld", (long long) vals[i]);
        lx_put_sep(o, i, n);
    }
    lx_put_got(o, v);

    return pds_lx_end(c, NULL);
}


static const char *
lx_format_desc(int format)
{
    switch (format) {
    case LX_FMT_DATETIME:  return "datetime";
    case LX_FMT_URI:       return "uri";
    case LX_FMT_ATURI:     return "at-uri";
    case LX_FMT_DID:       return "DID";
    case LX_FMT_HANDLE:    return "handle";
    case LX_FMT_ATID:      return "AT identifier";
    case LX_FMT_NSID:      return "NSID";
    case LX_FMT_CID:       return "CID string";
    case LX_FMT_LANGUAGE:  return "language";
    case LX_FMT_TID:       return "TID string";
    default:               return "record key";
    }
}


/* a message of a fixed text */
int
pds_lx_err(lx_ctx_t *c, const char *msg)
{
    pds_lx_puts(pds_lx_begin(c), msg);

    return pds_lx_end(c, NULL);
}


/* "Invalid <format> (got ...)" for a string that fails its format */
int
pds_lx_err_format(lx_ctx_t *c, int format, const json_t *v)
{
    lx_out_t  *o = pds_lx_begin(c);

    pds_lx_puts(o, "Invalid ");
    pds_lx_puts(o, lx_format_desc(format));
    lx_put_got(o, v);

    return pds_lx_end(c, NULL);
}


/* a reference that pds_lexicon_resolve() left unresolved */
int
pds_lx_err_not_found(lx_ctx_t *c, const lx_ref_t *r)
{
    lx_out_t  *o = pds_lx_begin(c);

    pds_lx_puts(o, "Lexicon not found: ");
    pds_lx_put(o, r->ref.s, r->ref.len);

    return pds_lx_end(c, NULL);
}
