/*
 * ngx_pds_module: parameters and JSON input checked against their
 * Lexicon shape, worded as the reference (see ngx_pds_params.h).
 */

#include "ngx_pds_params.h"

#include "pds_cid.h"
#include "pds_syntax.h"
#include "pds_lexicon_preview.h"


/* room for a preview: 255 UTF-16 units, escaped */
#define NGX_PDS_PREVIEW_MAX  1600


static const char *
ngx_pds_format_desc(ngx_uint_t format)
{
    switch (format) {
    case NGX_PDS_FMT_DID:     return "DID";
    case NGX_PDS_FMT_HANDLE:  return "handle";
    case NGX_PDS_FMT_AT_ID:   return "AT identifier";
    case NGX_PDS_FMT_NSID:    return "NSID";
    case NGX_PDS_FMT_RKEY:    return "record key";
    case NGX_PDS_FMT_CID:     return "CID string";
    default:                  return "at-uri";
    }
}


static const char *
ngx_pds_type_desc(ngx_uint_t type)
{
    switch (type) {
    case NGX_PDS_V_STRING:    return "string";
    case NGX_PDS_V_BOOLEAN:   return "boolean";
    case NGX_PDS_V_INTEGER:   return "integer";
    case NGX_PDS_V_ARRAY:     return "array";
    default:                  return "object";
    }
}


/* 1 if the string s (len bytes) has the format */
static ngx_uint_t
ngx_pds_format_ok(ngx_uint_t format, const char *s, size_t len)
{
    pds_cid_t  cid;

    switch (format) {
    case NGX_PDS_FMT_NONE:    return 1;
    case NGX_PDS_FMT_DID:     return pds_did_valid(s, len);
    case NGX_PDS_FMT_HANDLE:  return pds_handle_valid(s, len);
    case NGX_PDS_FMT_AT_ID:   return pds_atidentifier_valid(s, len);
    case NGX_PDS_FMT_NSID:    return pds_nsid_valid(s, len);
    case NGX_PDS_FMT_RKEY:    return pds_rkey_valid(s, len);
    case NGX_PDS_FMT_CID:     return pds_cid_parse(&cid, s, len) == 0;
    default:                  return pds_aturi_valid(s, len);
    }
}


static char *
ngx_pds_preview(ngx_pds_ctx_t *ctx, json_t *v)
{
    char  *p;

    p = ngx_pnalloc(ctx->request->pool, NGX_PDS_PREVIEW_MAX);
    if (p != NULL) {
        (void) pds_lexicon_preview(p, NGX_PDS_PREVIEW_MAX, v);
    }

    return p;
}


static char *
ngx_pds_preview_str(ngx_pds_ctx_t *ctx, ngx_str_t *s)
{
    char  *p;

    p = ngx_pnalloc(ctx->request->pool, NGX_PDS_PREVIEW_MAX);
    if (p != NULL) {
        (void) pds_lexicon_preview_str(p, NGX_PDS_PREVIEW_MAX,
                                       (char *) s->data, s->len);
    }

    return p;
}


/* ---- JSON input -------------------------------------------------------- */


static ngx_int_t
ngx_pds_input_bad(ngx_pds_ctx_t *ctx, const char *what, json_t *v,
    const char *path, const char *name)
{
    char  *got;

    got = ngx_pds_preview(ctx, v);
    if (got == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                         "%s (got %s) at %s.%s", what, got, path, name);
}


static ngx_int_t
ngx_pds_input_field(ngx_pds_ctx_t *ctx, json_t *v, const char *path,
    const ngx_pds_field_t *f)
{
    char        what[64];
    size_t      len;
    u_char     *p;
    json_int_t  n;

    switch (f->type) {

    case NGX_PDS_V_BOOLEAN:
        if (json_is_boolean(v)) {
            return NGX_OK;
        }
        break;

    case NGX_PDS_V_INTEGER:
        if (!json_is_integer(v)) {
            break;
        }

        n = json_integer_value(v);

        if (f->minimum < f->maximum && n < f->minimum) {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "integer too small (minimum %i, got %L) "
                                 "at %s.%s", f->minimum, (int64_t) n, path,
                                 f->name);
        }

        if (f->minimum < f->maximum && n > f->maximum) {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "integer too big (maximum %i, got %L) "
                                 "at %s.%s", f->maximum, (int64_t) n, path,
                                 f->name);
        }

        return NGX_OK;

    case NGX_PDS_V_UNKNOWN:
        if (json_is_object(v)) {
            return NGX_OK;
        }
        break;

    case NGX_PDS_V_ARRAY:
        if (json_is_array(v)) {
            return NGX_OK;
        }
        break;

    default: /* NGX_PDS_V_STRING */
        if (!json_is_string(v)) {
            break;
        }

        len = json_string_length(v);

        if (f->max_length && len > f->max_length) {
            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "string too big (maximum %uz, got %uz) "
                                 "at %s.%s", f->max_length, len, path,
                                 f->name);
        }

        if (ngx_pds_format_ok(f->format, json_string_value(v), len)) {
            return NGX_OK;
        }

        p = ngx_snprintf((u_char *) what, sizeof(what) - 1, "Invalid %s",
                         ngx_pds_format_desc(f->format));
        *p = '\0';

        return ngx_pds_input_bad(ctx, what, v, path, f->name);
    }

    p = ngx_snprintf((u_char *) what, sizeof(what) - 1,
                     "Expected %s value type", ngx_pds_type_desc(f->type));
    *p = '\0';

    return ngx_pds_input_bad(ctx, what, v, path, f->name);
}


ngx_int_t
ngx_pds_check_input(ngx_pds_ctx_t *ctx, json_t *obj, const char *path,
    const ngx_pds_field_t *fields)
{
    json_t                 *v;
    ngx_int_t               rc;
    const ngx_pds_field_t  *f;

    for (f = fields; f->name; f++) {
        v = obj ? json_object_get(obj, f->name) : NULL;

        if (v == NULL) {
            if (f->flags & NGX_PDS_F_REQUIRED) {
                return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST,
                                     "InvalidRequest",
                                     "Missing required key \"%s\" at %s",
                                     f->name, path);
            }

            continue;
        }

        if (json_is_null(v) && (f->flags & NGX_PDS_F_NULLABLE)) {
            continue;
        }

        rc = ngx_pds_input_field(ctx, v, path, f);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    return NGX_OK;
}


/* "Expected one of "a", "b" or "c"" for a "$type" that names none */
static ngx_int_t
ngx_pds_union_bad(ngx_pds_ctx_t *ctx, json_t *type, const char *path,
    const ngx_pds_variant_t *variants)
{
    char                      *got;
    u_char                    *p, *last;
    ngx_uint_t                 i, n;
    const ngx_pds_variant_t   *v;
    u_char                     list[512];

    got = ngx_pds_preview(ctx, type);
    if (got == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (n = 0; variants[n].type; n++) { /* void */ }

    p = list;
    last = list + sizeof(list) - 1;

    for (i = 0, v = variants; v->type; i++, v++) {
        if (i) {
            p = ngx_slprintf(p, last, i == n - 1 ? " or " : ", ");
        }

        p = ngx_slprintf(p, last, "\"%s\"", v->type);
    }

    *p = '\0';

    return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                         "Expected one of %s (got %s) at %s.$type", list,
                         got, path);
}


ngx_int_t
ngx_pds_check_union_items(ngx_pds_ctx_t *ctx, json_t *array,
    const char *path, const ngx_pds_variant_t *variants)
{
    char                     *got;
    u_char                   *p;
    size_t                    i;
    json_t                   *item, *type;
    ngx_int_t                 rc;
    const ngx_pds_variant_t  *v;
    char                      at[64];

    json_array_foreach(array, i, item) {
        p = ngx_snprintf((u_char *) at, sizeof(at) - 1, "%s[%uz]", path, i);
        *p = '\0';

        type = json_object_get(item, "$type");

        if (!json_is_object(item) || type == NULL) {
            got = ngx_pds_preview(ctx, item);
            if (got == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                                 "Expected an object which includes the "
                                 "\"$type\" property value type (got %s) "
                                 "at %s", got, at);
        }

        for (v = variants; v->type; v++) {
            if (json_is_string(type)
                && ngx_strcmp(json_string_value(type), v->type) == 0)
            {
                break;
            }
        }

        if (v->type == NULL) {
            return ngx_pds_union_bad(ctx, type, at, variants);
        }

        rc = ngx_pds_check_input(ctx, item, at, v->fields);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    return NGX_OK;
}


/* ---- query parameters -------------------------------------------------- */


static ngx_int_t
ngx_pds_params_bad(ngx_pds_ctx_t *ctx, const char *what, ngx_str_t *v)
{
    char  *got;

    got = ngx_pds_preview_str(ctx, v);
    if (got == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                         "Invalid %V params: %s (got %s)", &ctx->nsid, what,
                         got);
}


/* an integer parameter: digits with an optional sign */
static ngx_int_t
ngx_pds_params_integer(ngx_pds_ctx_t *ctx, ngx_str_t *v,
    const ngx_pds_field_t *f)
{
    u_char     *p;
    ngx_int_t   n;
    ngx_uint_t  neg;

    p = v->data;
    neg = (*p == '-');

    if (neg || *p == '+') {
        p++;
    }

    n = ngx_atoi(p, v->data + v->len - p);

    if (n == NGX_ERROR) {
        return ngx_pds_params_bad(ctx, "Expected integer value type", v);
    }

    if (neg) {
        n = -n;
    }

    if (f->minimum < f->maximum && n < f->minimum) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Invalid %V params: integer too small "
                             "(minimum %i, got %i)", &ctx->nsid, f->minimum,
                             n);
    }

    if (f->minimum < f->maximum && n > f->maximum) {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Invalid %V params: integer too big "
                             "(maximum %i, got %i)", &ctx->nsid, f->maximum,
                             n);
    }

    return NGX_OK;
}


ngx_int_t
ngx_pds_check_params(ngx_pds_ctx_t *ctx, const ngx_pds_field_t *fields)
{
    char                    what[64];
    u_char                 *p;
    ngx_str_t               v;
    ngx_int_t               rc;
    const ngx_pds_field_t  *f;

    for (f = fields; f->name; f++) {
        if (ngx_pds_arg(ctx->request, f->name, &v) != NGX_OK || v.len == 0) {
            if (f->flags & NGX_PDS_F_REQUIRED) {
                return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST,
                                     "InvalidRequest",
                                     "Invalid %V params: Missing required "
                                     "key \"%s\"", &ctx->nsid, f->name);
            }

            continue;
        }

        if (f->type == NGX_PDS_V_INTEGER) {
            rc = ngx_pds_params_integer(ctx, &v, f);
            if (rc != NGX_OK) {
                return rc;
            }

            continue;
        }

        if (ngx_pds_format_ok(f->format, (char *) v.data, v.len)) {
            continue;
        }

        p = ngx_snprintf((u_char *) what, sizeof(what) - 1, "Invalid %s",
                         ngx_pds_format_desc(f->format));
        *p = '\0';

        return ngx_pds_params_bad(ctx, what, &v);
    }

    return NGX_OK;
}
