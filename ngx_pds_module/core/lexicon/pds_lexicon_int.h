/*
 * ngx_pds_module core: what the Lexicon files share, and no one else.
 *
 * Included only by the .c files of core/lexicon/.  The public API is
 * pds_lexicon.h.
 *
 *   pds_lexicon_registry.c   the table of definitions, loading documents
 *                            from a directory (and pruning to what the
 *                            record types reach), the reference types
 *   pds_lexicon_doc.c        the checks of a document (lex-document rules)
 *   pds_lexicon_compile.c    a checked document into nodes; references
 *   pds_lexicon_validate.c   a record or value against the nodes
 *   pds_lexicon_message.c    the validator's messages: value previews, the
 *                            JSON path, the reference's wording
 *   pds_lexicon_unicode.c    UTF-8, UTF-16 lengths, grapheme clusters
 *
 * Names: lx_* are static (in a file, or inline here), pds_lx_* are shared
 * between these files; every global of the core starts with pds_.
 */

#ifndef PDS_LEXICON_INT_H
#define PDS_LEXICON_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "pds_mem.h"
#include "pds_lexicon.h"


#define LX_MAX_DEPTH        160
#define LX_SAFE_INT         9007199254740991LL
#define LX_PREVIEW_MAX      256


/* compiled node types */
enum {
    LX_BOOLEAN = 1,
    LX_INTEGER,
    LX_STRING,
    LX_BYTES,
    LX_CIDLINK,
    LX_BLOB,
    LX_ARRAY,
    LX_OBJECT,
    LX_TOKEN,
    LX_UNKNOWN,
    LX_REF,
    LX_UNION,
    LX_RECORD,
    LX_OTHER            /* query, procedure, subscription, permission-set */
};

/* string formats, in the order of their names in pds_lexicon_doc.c */
enum {
    LX_FMT_NONE = 0,
    LX_FMT_DATETIME,
    LX_FMT_URI,
    LX_FMT_ATURI,
    LX_FMT_DID,
    LX_FMT_HANDLE,
    LX_FMT_ATID,
    LX_FMT_NSID,
    LX_FMT_CID,
    LX_FMT_LANGUAGE,
    LX_FMT_TID,
    LX_FMT_RKEY
};

/* node flags */
#define LX_HAS_MIN          0x0001      /* minimum / minLength */
#define LX_HAS_MAX          0x0002      /* maximum / maxLength / maxSize */
#define LX_HAS_MINGR        0x0004
#define LX_HAS_MAXGR        0x0008
#define LX_HAS_CONST        0x0010
#define LX_HAS_ENUM         0x0020
#define LX_CLOSED           0x0040
#define LX_HAS_ACCEPT       0x0080
#define LX_NEVER            0x0100      /* const not in enum */

/* the "type" of a definition in a document, one bit each */
#define LX_T_BOOLEAN       0x0001
#define LX_T_INTEGER       0x0002
#define LX_T_STRING        0x0004
#define LX_T_BYTES         0x0008
#define LX_T_CIDLINK       0x0010
#define LX_T_BLOB          0x0020
#define LX_T_ARRAY         0x0040
#define LX_T_OBJECT        0x0080
#define LX_T_TOKEN         0x0100
#define LX_T_UNKNOWN       0x0200
#define LX_T_REF           0x0400
#define LX_T_UNION         0x0800
#define LX_T_RECORD        0x1000
#define LX_T_QUERY         0x2000
#define LX_T_PROCEDURE     0x4000
#define LX_T_SUBSCRIPTION  0x8000
#define LX_T_PERMSET       0x10000


typedef struct {
    const char  *s;
    size_t       len;
} lx_str_t;

typedef struct lx_node_s  lx_node_t;

typedef struct {
    lx_str_t     name;
    lx_node_t   *node;
    unsigned     required:1;
    unsigned     nullable:1;
} lx_prop_t;

typedef struct {
    lx_str_t     ref;       /* "nsid#name" */
    lx_str_t     type;      /* the $type form: "nsid" for main */
    lx_node_t   *node;      /* set by pds_lexicon_resolve */
    int          in_union;
} lx_ref_t;

struct lx_node_s {
    int          type;
    unsigned     flags;
    int          format;
    int64_t      min;
    int64_t      max;
    int64_t      mingr;
    int64_t      maxgr;
    lx_str_t     cstr;
    int64_t      cint;
    int          cbool;
    lx_str_t    *senum;
    int64_t     *ienum;
    size_t       nenum;
    lx_str_t    *accept;
    size_t       naccept;
    lx_node_t   *items;
    lx_prop_t   *props;
    size_t       nprops;
    lx_ref_t    *refs;
    size_t       nrefs;
    lx_str_t     id;        /* $type of an object/record/token definition */
    lx_str_t     key;       /* record key type */
    lx_node_t   *record;    /* record: its object */
};

typedef struct {
    lx_str_t     nsid;
    lx_str_t     name;      /* "" marks the document itself */
    uint32_t     hash;
    lx_node_t   *node;
} lx_entry_t;

struct pds_lexicon_s {
    pds_arena_t  *arena;
    pds_alloc_t   a;
    lx_entry_t   *tab;
    size_t        cap;
    size_t        n;
    size_t        ndocs;
    lx_ref_t    **refs;
    size_t        nrefs;
    size_t        refcap;
};


/* a message being written into the caller's buffer (always terminated) */
typedef struct {
    char    *p;
    size_t   cap;
    size_t   len;
} lx_out_t;

/* one step of the JSON path of the value being validated */
typedef struct {
    const char  *key;       /* NULL: index */
    size_t       len;
    size_t       idx;
} lx_seg_t;

typedef struct {
    const pds_lexicon_t  *lex;
    const char           *prefix;
    const char           *head;      /* "Invalid %s record: " subject */
    const char           *what;      /* "record" / "value" */
    lx_out_t              out;
    int                   depth;
    int                   steps;
    lx_seg_t              seg[LX_MAX_DEPTH];
} lx_ctx_t;


/* ---- small value tests, used by every stage ----------------------------- */

/* an integer within JavaScript's safe range, as an integer or a whole real */
static inline int
lx_is_int(const json_t *v, int64_t *out)
{
    double  d;

    if (json_is_integer(v)) {
        *out = (int64_t) json_integer_value(v);
        return *out >= -LX_SAFE_INT && *out <= LX_SAFE_INT;
    }

    if (json_is_real(v)) {
        d = json_real_value(v);
        if (d >= -9007199254740991.0 && d <= 9007199254740991.0
            && d == (double) (int64_t) d)
        {
            *out = (int64_t) d;
            return 1;
        }
    }

    return 0;
}


static inline int
lx_streq(const json_t *v, const char *s, size_t len)
{
    return json_is_string(v) && json_string_length(v) == len
           && memcmp(json_string_value(v), s, len) == 0;
}


static inline int
lx_str_is(const json_t *v, const char *s)
{
    return lx_streq(v, s, strlen(s));
}


/* the string of a one-key object {key: "..."}, else NULL */
static inline const json_t *
lx_only_string(const json_t *v, const char *key)
{
    const json_t  *s;

    if (!json_is_object(v) || json_object_size(v) != 1) {
        return NULL;
    }

    s = json_object_get(v, key);
    return json_is_string(s) ? s : NULL;
}


/* {"$link": "..."} exactly */
static inline const json_t *
lx_link(const json_t *v)
{
    return lx_only_string(v, "$link");
}


/* {"$bytes": "..."} exactly */
static inline const json_t *
lx_bytes(const json_t *v)
{
    return lx_only_string(v, "$bytes");
}


/* ---- pds_lexicon_registry.c --------------------------------------------- */

/* the entry of nsid#name (name "": the document itself), or NULL */
lx_entry_t *pds_lx_find(const pds_lexicon_t *lex, const char *nsid,
    size_t nlen, const char *name, size_t len);
/* adds an entry (no check for duplicates): 0, or -1 if out of memory */
int pds_lx_insert(pds_lexicon_t *lex, lx_str_t nsid, lx_str_t name,
    lx_node_t *node);
/* the record definition ("main") of an NSID, or NULL */
const lx_node_t *pds_lx_record_def(const pds_lexicon_t *lex,
    const char *nsid, size_t len);

/* ---- pds_lexicon_doc.c -------------------------------------------------- */

/* the LX_T_* bit of a definition's "type", 0 if none */
unsigned pds_lx_type_bit(const json_t *def);
/* the LX_FMT_* of a "format" name, -1 if none */
int pds_lx_format_id(const json_t *f);

/* ---- pds_lexicon_unicode.c ---------------------------------------------- */

/* decodes one code point; returns its length, or 1 with *cp = -1 if bad */
size_t pds_lx_utf8_next(const unsigned char *p, size_t n, int32_t *cp);
/* the length in UTF-16 units (JavaScript's string length) */
size_t pds_lx_utf16_len(const char *s, size_t len);

/* ---- pds_lexicon_message.c ---------------------------------------------- */

void pds_lx_put(lx_out_t *o, const char *s, size_t n);
void pds_lx_puts(lx_out_t *o, const char *s);
void pds_lx_printf(lx_out_t *o, const char *fmt, ...);
/* JSON.stringify of a string, at most max UTF-16 units (0: all) then "…" */
void pds_lx_put_quoted(lx_out_t *o, const char *s, size_t len, size_t max);
/* the reference's preview of a value in messages ("got ...") */
void pds_lx_put_value(lx_out_t *o, const json_t *v);

/*
 * A message is pds_lx_begin(), what went wrong, then pds_lx_end(), which
 * adds the path and returns -1; the pds_lx_err_* write whole messages.
 */
lx_out_t *pds_lx_begin(lx_ctx_t *c);
int pds_lx_end(lx_ctx_t *c, const char *extra);
int pds_lx_err(lx_ctx_t *c, const char *msg);
int pds_lx_err_type_at(lx_ctx_t *c, const json_t *v, const char *expected,
    const char *extra);
int pds_lx_err_type(lx_ctx_t *c, const json_t *v, const char *expected);
int pds_lx_err_size(lx_ctx_t *c, const char *type, int big, int64_t limit,
    int64_t actual);
int pds_lx_err_values_str(lx_ctx_t *c, const json_t *v, const lx_str_t *vals,
    size_t n, const char *extra);
int pds_lx_err_values_int(lx_ctx_t *c, const json_t *v, const int64_t *vals,
    size_t n);
int pds_lx_err_format(lx_ctx_t *c, int format, const json_t *v);
int pds_lx_err_not_found(lx_ctx_t *c, const lx_ref_t *r);

#endif /* PDS_LEXICON_INT_H */
