/*
 * ngx_pds_module: a method's parameters and JSON input checked against
 * the shape its Lexicon gives them, in the Lexicon's property order and
 * with the reference's wording (@atproto/lex-schema, which the reference
 * runs before any handler):
 *
 *   Invalid com.atproto.repo.getRecord params: Invalid NSID (got "x")
 *   Missing required key "rkey" at $.writes[0]
 *   Expected string value type (got 5) at $.collection
 *
 * So a malformed request is refused for its shape before anything looks
 * at accounts or credentials, as the reference does.  Used by the method
 * files (methods/) and the AppView methods (proxy/); it uses only the
 * request plumbing and the core.
 */

#ifndef NGX_PDS_PARAMS_H
#define NGX_PDS_PARAMS_H

#include "ngx_pds.h"


/* ngx_pds_field_t.type */
#define NGX_PDS_V_STRING         0
#define NGX_PDS_V_BOOLEAN        1
#define NGX_PDS_V_INTEGER        2
#define NGX_PDS_V_UNKNOWN        3       /* any object */
#define NGX_PDS_V_ARRAY          4       /* items unchecked here */

/* ngx_pds_field_t.format (strings) */
#define NGX_PDS_FMT_NONE         0
#define NGX_PDS_FMT_DID          1
#define NGX_PDS_FMT_HANDLE       2
#define NGX_PDS_FMT_AT_ID        3
#define NGX_PDS_FMT_NSID         4
#define NGX_PDS_FMT_RKEY         5
#define NGX_PDS_FMT_CID          6
#define NGX_PDS_FMT_AT_URI       7

/* ngx_pds_field_t.flags */
#define NGX_PDS_F_REQUIRED       0x01
#define NGX_PDS_F_NULLABLE       0x02


/* one property; a list ends with a NULL name */
typedef struct {
    const char               *name;
    ngx_uint_t                type;
    ngx_uint_t                format;
    ngx_uint_t                flags;
    size_t                    max_length;    /* UTF-8 bytes; 0: no limit */
    ngx_int_t                 minimum;       /* integers, when min < max */
    ngx_int_t                 maximum;
} ngx_pds_field_t;


/* one variant of a closed union ("$type"); a list ends with a NULL type */
typedef struct {
    const char               *type;
    const ngx_pds_field_t    *fields;
} ngx_pds_variant_t;


/*
 * The JSON object obj (at path, "$" for the whole input) against fields:
 * NGX_OK, or 400 InvalidRequest recorded (ngx_pds_error) with the
 * reference's message.  obj NULL is an empty object.
 */
ngx_int_t ngx_pds_check_input(ngx_pds_ctx_t *ctx, json_t *obj,
    const char *path, const ngx_pds_field_t *fields);

/*
 * The items of the array at path (e.g. "$.writes"), each an object of one
 * of the variants by its "$type": NGX_OK, or the refusal as above.
 * */
ngx_int_t ngx_pds_check_union_items(ngx_pds_ctx_t *ctx, json_t *array,
    const char *path, const ngx_pds_variant_t *variants);

/*
 * The query parameters against fields (strings and integers; an empty
 * value counts as absent): NGX_OK, or 400 InvalidRequest "Invalid <nsid>
 * params: ...".
 */
ngx_int_t ngx_pds_check_params(ngx_pds_ctx_t *ctx,
    const ngx_pds_field_t *fields);


#endif /* NGX_PDS_PARAMS_H */
