/*
 * ngx_pds_module core: Lexicon schemas and record validation.
 */

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pds_mem.h"
#include "pds_cid.h"
#include "pds_syntax.h"
#include "pds_lexicon.h"


#define LX_MAX_DEPTH        160
#define LX_SAFE_INT         9007199254740991LL
#define LX_PREVIEW_MAX      256


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


/* ---- small helpers --------------------------------------------------------- */

static int
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


static int
lx_streq(const json_t *v, const char *s, size_t len)
{
    return json_is_string(v) && json_string_length(v) == len
           && memcmp(json_string_value(v), s, len) == 0;
}


static int
lx_str_is(const json_t *v, const char *s)
{
    return lx_streq(v, s, strlen(s));
}


/* {"$link": "..."} exactly */
static const json_t *
lx_link(const json_t *v)
{
    const json_t  *l;

    if (!json_is_object(v) || json_object_size(v) != 1) {
        return NULL;
    }

    l = json_object_get(v, "$link");
    return json_is_string(l) ? l : NULL;
}


/* {"$bytes": "..."} exactly */
static const json_t *
lx_bytes(const json_t *v)
{
    const json_t  *b;

    if (!json_is_object(v) || json_object_size(v) != 1) {
        return NULL;
    }

    b = json_object_get(v, "$bytes");
    return json_is_string(b) ? b : NULL;
}


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


/* ---- UTF-8, UTF-16 length and grapheme clusters ---------------------------- */

/* decodes one code point; returns its length, or 1 with *cp = -1 if bad */
static size_t
lx_utf8_next(const unsigned char *p, size_t n, int32_t *cp)
{
    unsigned  c = p[0];
    size_t    len, i;
    int32_t   v, min;

    if (c < 0x80) {
        *cp = (int32_t) c;
        return 1;
    }

    if (c >= 0xc2 && c <= 0xdf) {
        len = 2; v = c & 0x1f; min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3; v = c & 0x0f; min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4; v = c & 0x07; min = 0x10000;
    } else {
        *cp = -1;
        return 1;
    }

    if (len > n) {
        *cp = -1;
        return 1;
    }

    for (i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            *cp = -1;
            return 1;
        }
        v = (v << 6) | (p[i] & 0x3f);
    }

    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) {
        *cp = -1;
        return 1;
    }

    *cp = v;
    return len;
}


static size_t
lx_utf16_len(const char *s, size_t len)
{
    size_t                n, k;
    int32_t               cp;
    const unsigned char  *p = (const unsigned char *) s;

    n = 0;
    while (len > 0) {
        if (*p < 0x80) {
            n++; p++; len--;
            continue;
        }
        k = lx_utf8_next(p, len, &cp);
        n += cp >= 0x10000 ? 2 : 1;
        p += k;
        len -= k;
    }

    return n;
}


enum {
    GB_OTHER = 0,
    GB_CR,
    GB_LF,
    GB_CONTROL,
    GB_EXTEND,          /* Extend and SpacingMark (both: no break before) */
    GB_ZWJ,
    GB_RI,
    GB_PREPEND,
    GB_L,
    GB_V,
    GB_T,
    GB_LV,
    GB_LVT,
    GB_PICT,
    GB_CONSONANT        /* Indic_Conjunct_Break=Consonant (else Other) */
};

typedef struct {
    int32_t  lo;
    int32_t  hi;
} lx_range_t;


/* Grapheme_Cluster_Break=Extend plus SpacingMark, main scripts */
static const lx_range_t  lx_extend[] = {
    {0x0300, 0x036f}, {0x0483, 0x0489}, {0x0591, 0x05bd}, {0x05bf, 0x05bf},
    {0x05c1, 0x05c2}, {0x05c4, 0x05c5}, {0x05c7, 0x05c7}, {0x0610, 0x061a},
    {0x064b, 0x065f}, {0x0670, 0x0670}, {0x06d6, 0x06dc}, {0x06df, 0x06e4},
    {0x06e7, 0x06e8}, {0x06ea, 0x06ed}, {0x0711, 0x0711}, {0x0730, 0x074a},
    {0x07a6, 0x07b0}, {0x07eb, 0x07f3}, {0x07fd, 0x07fd}, {0x0816, 0x0819},
    {0x081b, 0x0823}, {0x0825, 0x0827}, {0x0829, 0x082d}, {0x0859, 0x085b},
    {0x0898, 0x089f}, {0x08ca, 0x08e1}, {0x08e3, 0x0903}, {0x093a, 0x093c},
    {0x093e, 0x094f}, {0x0951, 0x0957}, {0x0962, 0x0963}, {0x0981, 0x0983},
    {0x09bc, 0x09bc}, {0x09be, 0x09c4}, {0x09c7, 0x09c8}, {0x09cb, 0x09cd},
    {0x09d7, 0x09d7}, {0x09e2, 0x09e3}, {0x09fe, 0x09fe}, {0x0a01, 0x0a03},
    {0x0a3c, 0x0a3c}, {0x0a3e, 0x0a42}, {0x0a47, 0x0a48}, {0x0a4b, 0x0a4d},
    {0x0a51, 0x0a51}, {0x0a70, 0x0a71}, {0x0a75, 0x0a75}, {0x0a81, 0x0a83},
    {0x0abc, 0x0abc}, {0x0abe, 0x0ac5}, {0x0ac7, 0x0ac9}, {0x0acb, 0x0acd},
    {0x0ae2, 0x0ae3}, {0x0afa, 0x0aff}, {0x0b01, 0x0b03}, {0x0b3c, 0x0b3c},
    {0x0b3e, 0x0b44}, {0x0b47, 0x0b48}, {0x0b4b, 0x0b4d}, {0x0b55, 0x0b57},
    {0x0b62, 0x0b63}, {0x0b82, 0x0b82}, {0x0bbe, 0x0bc2}, {0x0bc6, 0x0bc8},
    {0x0bca, 0x0bcd}, {0x0bd7, 0x0bd7}, {0x0c00, 0x0c04}, {0x0c3c, 0x0c3c},
    {0x0c3e, 0x0c44}, {0x0c46, 0x0c48}, {0x0c4a, 0x0c4d}, {0x0c55, 0x0c56},
    {0x0c62, 0x0c63}, {0x0c81, 0x0c83}, {0x0cbc, 0x0cbc}, {0x0cbe, 0x0cc4},
    {0x0cc6, 0x0cc8}, {0x0cca, 0x0ccd}, {0x0cd5, 0x0cd6}, {0x0ce2, 0x0ce3},
    {0x0cf3, 0x0cf3}, {0x0d00, 0x0d03}, {0x0d3b, 0x0d3c}, {0x0d3e, 0x0d44},
    {0x0d46, 0x0d48}, {0x0d4a, 0x0d4d}, {0x0d57, 0x0d57}, {0x0d62, 0x0d63},
    {0x0d81, 0x0d83}, {0x0dca, 0x0dca}, {0x0dcf, 0x0dd4}, {0x0dd6, 0x0dd6},
    {0x0dd8, 0x0ddf}, {0x0df2, 0x0df3}, {0x0e31, 0x0e31}, {0x0e33, 0x0e3a},
    {0x0e47, 0x0e4e}, {0x0eb1, 0x0eb1}, {0x0eb3, 0x0ebc}, {0x0ec8, 0x0ece},
    {0x0f18, 0x0f19}, {0x0f35, 0x0f35}, {0x0f37, 0x0f37}, {0x0f39, 0x0f39},
    {0x0f3e, 0x0f3f}, {0x0f71, 0x0f84}, {0x0f86, 0x0f87}, {0x0f8d, 0x0f97},
    {0x0f99, 0x0fbc}, {0x0fc6, 0x0fc6}, {0x102b, 0x103e}, {0x1056, 0x1059},
    {0x105e, 0x1060}, {0x1062, 0x1064}, {0x1067, 0x106d}, {0x1071, 0x1074},
    {0x1082, 0x108d}, {0x108f, 0x108f}, {0x109a, 0x109d}, {0x135d, 0x135f},
    {0x1712, 0x1715}, {0x1732, 0x1734}, {0x1752, 0x1753}, {0x1772, 0x1773},
    {0x17b4, 0x17d3}, {0x17dd, 0x17dd}, {0x180b, 0x180d}, {0x180f, 0x180f},
    {0x1885, 0x1886}, {0x18a9, 0x18a9}, {0x1920, 0x192b}, {0x1930, 0x193b},
    {0x1a17, 0x1a1b}, {0x1a55, 0x1a5e}, {0x1a60, 0x1a7c}, {0x1a7f, 0x1a7f},
    {0x1ab0, 0x1ace}, {0x1b00, 0x1b04}, {0x1b34, 0x1b44}, {0x1b6b, 0x1b73},
    {0x1b80, 0x1b82}, {0x1ba1, 0x1bad}, {0x1be6, 0x1bf3}, {0x1c24, 0x1c37},
    {0x1cd0, 0x1cd2}, {0x1cd4, 0x1ce8}, {0x1ced, 0x1ced}, {0x1cf4, 0x1cf4},
    {0x1cf7, 0x1cf9}, {0x1dc0, 0x1dff}, {0x200c, 0x200c}, {0x20d0, 0x20f0},
    {0x2cef, 0x2cf1}, {0x2d7f, 0x2d7f}, {0x2de0, 0x2dff}, {0x302a, 0x302f},
    {0x3099, 0x309a}, {0xa66f, 0xa672}, {0xa674, 0xa67d}, {0xa69e, 0xa69f},
    {0xa6f0, 0xa6f1}, {0xa802, 0xa802}, {0xa806, 0xa806}, {0xa80b, 0xa80b},
    {0xa823, 0xa827}, {0xa82c, 0xa82c}, {0xa880, 0xa881}, {0xa8b4, 0xa8c5},
    {0xa8e0, 0xa8f1}, {0xa8ff, 0xa8ff}, {0xa926, 0xa92d}, {0xa947, 0xa953},
    {0xa980, 0xa983}, {0xa9b3, 0xa9c0}, {0xa9e5, 0xa9e5}, {0xaa29, 0xaa36},
    {0xaa43, 0xaa43}, {0xaa4c, 0xaa4d}, {0xaa7b, 0xaa7d}, {0xaab0, 0xaab0},
    {0xaab2, 0xaab4}, {0xaab7, 0xaab8}, {0xaabe, 0xaabf}, {0xaac1, 0xaac1},
    {0xaaeb, 0xaaef}, {0xaaf5, 0xaaf6}, {0xabe3, 0xabea}, {0xabec, 0xabed},
    {0xfb1e, 0xfb1e}, {0xfe00, 0xfe0f}, {0xfe20, 0xfe2f}, {0xff9e, 0xff9f},
    {0x101fd, 0x101fd}, {0x102e0, 0x102e0}, {0x10376, 0x1037a},
    {0x10a01, 0x10a0f}, {0x10a38, 0x10a3f}, {0x10ae5, 0x10ae6},
    {0x10d24, 0x10d27}, {0x10eab, 0x10eac}, {0x10f46, 0x10f50},
    {0x11000, 0x11002}, {0x11038, 0x11046}, {0x1107f, 0x11082},
    {0x110b0, 0x110ba}, {0x11100, 0x11102}, {0x11127, 0x11134},
    {0x11173, 0x11173}, {0x11180, 0x11182}, {0x111b3, 0x111c0},
    {0x1d165, 0x1d169}, {0x1d16d, 0x1d172}, {0x1d17b, 0x1d182},
    {0x1d185, 0x1d18b}, {0x1d1aa, 0x1d1ad}, {0x1e8d0, 0x1e8d6},
    {0x1e944, 0x1e94a}, {0x1f3fb, 0x1f3ff}, {0xe0020, 0xe007f},
    {0xe0100, 0xe01ef}
};

static const lx_range_t  lx_control[] = {
    {0x0000, 0x001f}, {0x007f, 0x009f}, {0x00ad, 0x00ad}, {0x061c, 0x061c},
    {0x180e, 0x180e}, {0x200b, 0x200b}, {0x200e, 0x200f}, {0x2028, 0x202e},
    {0x2060, 0x206f}, {0xfeff, 0xfeff}, {0xfff0, 0xfffb},
    {0x13430, 0x1343f}, {0x1bca0, 0x1bca3}, {0x1d173, 0x1d17a},
    {0xe0000, 0xe001f}, {0xe0080, 0xe00ff}, {0xe01f0, 0xe0fff}
};

static const lx_range_t  lx_prepend[] = {
    {0x0600, 0x0605}, {0x06dd, 0x06dd}, {0x070f, 0x070f}, {0x0890, 0x0891},
    {0x08e2, 0x08e2}, {0x0d4e, 0x0d4e}, {0x110bd, 0x110bd},
    {0x110cd, 0x110cd}, {0x111c2, 0x111c3}, {0x1193f, 0x1193f},
    {0x11941, 0x11941}, {0x11a3a, 0x11a3a}, {0x11a84, 0x11a89},
    {0x11d46, 0x11d46}
};

/* Indic_Conjunct_Break=Consonant */
static const lx_range_t  lx_consonant[] = {
    {0x0915, 0x0939}, {0x0958, 0x095f}, {0x0978, 0x097f}, {0x0995, 0x09a8},
    {0x09aa, 0x09b0}, {0x09b2, 0x09b2}, {0x09b6, 0x09b9}, {0x09dc, 0x09dd},
    {0x09df, 0x09df}, {0x09f0, 0x09f1}, {0x0a95, 0x0aa8}, {0x0aaa, 0x0ab0},
    {0x0ab2, 0x0ab3}, {0x0ab5, 0x0ab9}, {0x0af9, 0x0af9}, {0x0b15, 0x0b28},
    {0x0b2a, 0x0b30}, {0x0b32, 0x0b33}, {0x0b35, 0x0b39}, {0x0b5c, 0x0b5d},
    {0x0b5f, 0x0b5f}, {0x0b71, 0x0b71}, {0x0c15, 0x0c28}, {0x0c2a, 0x0c39},
    {0x0c58, 0x0c5a}, {0x0d15, 0x0d3a}, {0x1000, 0x1020}, {0x1780, 0x17a2}
};

/* Extended_Pictographic */
static const lx_range_t  lx_pict[] = {
    {0x00a9, 0x00a9}, {0x00ae, 0x00ae}, {0x203c, 0x203c}, {0x2049, 0x2049},
    {0x2122, 0x2122}, {0x2139, 0x2139}, {0x2194, 0x2199}, {0x21a9, 0x21aa},
    {0x231a, 0x231b}, {0x2328, 0x2328}, {0x2388, 0x2388}, {0x23cf, 0x23cf},
    {0x23e9, 0x23f3}, {0x23f8, 0x23fa}, {0x24c2, 0x24c2}, {0x25aa, 0x25ab},
    {0x25b6, 0x25b6}, {0x25c0, 0x25c0}, {0x25fb, 0x25fe}, {0x2600, 0x2605},
    {0x2607, 0x2612}, {0x2614, 0x2685}, {0x2690, 0x2705}, {0x2708, 0x2712},
    {0x2714, 0x2714}, {0x2716, 0x2716}, {0x271d, 0x271d}, {0x2721, 0x2721},
    {0x2728, 0x2728}, {0x2733, 0x2734}, {0x2744, 0x2744}, {0x2747, 0x2747},
    {0x274c, 0x274c}, {0x274e, 0x274e}, {0x2753, 0x2755}, {0x2757, 0x2757},
    {0x2763, 0x2767}, {0x2795, 0x2797}, {0x27a1, 0x27a1}, {0x27b0, 0x27b0},
    {0x27bf, 0x27bf}, {0x2934, 0x2935}, {0x2b05, 0x2b07}, {0x2b1b, 0x2b1c},
    {0x2b50, 0x2b50}, {0x2b55, 0x2b55}, {0x3030, 0x3030}, {0x303d, 0x303d},
    {0x3297, 0x3297}, {0x3299, 0x3299}, {0x1f000, 0x1f0ff},
    {0x1f10d, 0x1f10f}, {0x1f12f, 0x1f12f}, {0x1f16c, 0x1f171},
    {0x1f17e, 0x1f17f}, {0x1f18e, 0x1f18e}, {0x1f191, 0x1f19a},
    {0x1f1ad, 0x1f1e5}, {0x1f201, 0x1f20f}, {0x1f21a, 0x1f21a},
    {0x1f22f, 0x1f22f}, {0x1f232, 0x1f23a}, {0x1f23c, 0x1f23f},
    {0x1f249, 0x1f3fa}, {0x1f400, 0x1f53d}, {0x1f546, 0x1f64f},
    {0x1f680, 0x1f6ff}, {0x1f774, 0x1f77f}, {0x1f7d5, 0x1f7ff},
    {0x1f80c, 0x1f80f}, {0x1f848, 0x1f84f}, {0x1f85a, 0x1f85f},
    {0x1f888, 0x1f88f}, {0x1f8ae, 0x1f8ff}, {0x1f90c, 0x1f93a},
    {0x1f93c, 0x1f945}, {0x1f947, 0x1faff}, {0x1fc00, 0x1fffd}
};


static int
lx_in(const lx_range_t *t, size_t n, int32_t cp)
{
    size_t  lo, hi, mid;

    if (cp < t[0].lo || cp > t[n - 1].hi) {
        return 0;
    }

    lo = 0;
    hi = n;

    while (lo < hi) {
        mid = (lo + hi) / 2;
        if (cp < t[mid].lo) {
            hi = mid;
        } else if (cp > t[mid].hi) {
            lo = mid + 1;
        } else {
            return 1;
        }
    }

    return 0;
}


#define LX_IN(t, cp)  lx_in(t, sizeof(t) / sizeof(t[0]), cp)


static int
lx_gb_class(int32_t cp)
{
    if (cp < 0x7f) {
        if (cp >= 0x20) {
            return GB_OTHER;
        }
        return cp == '\r' ? GB_CR : cp == '\n' ? GB_LF : GB_CONTROL;
    }

    if (cp < 0x300) {
        if (cp == 0xa9 || cp == 0xae) {
            return GB_PICT;
        }
        return (cp <= 0x9f || cp == 0xad) ? GB_CONTROL : GB_OTHER;
    }

    if (cp == 0x200d) {
        return GB_ZWJ;
    }

    if (cp >= 0x1100 && cp <= 0x11ff) {
        return cp < 0x1160 ? GB_L : cp < 0x11a8 ? GB_V : GB_T;
    }

    if (cp >= 0xac00 && cp <= 0xd7a3) {
        return (cp - 0xac00) % 28 == 0 ? GB_LV : GB_LVT;
    }

    if (cp >= 0xa960 && cp <= 0xa97c) {
        return GB_L;
    }

    if (cp >= 0xd7b0 && cp <= 0xd7c6) {
        return GB_V;
    }

    if (cp >= 0xd7cb && cp <= 0xd7fb) {
        return GB_T;
    }

    if (cp >= 0x1f1e6 && cp <= 0x1f1ff) {
        return GB_RI;
    }

    if (LX_IN(lx_extend, cp)) {
        return GB_EXTEND;
    }

    if (LX_IN(lx_consonant, cp)) {
        return GB_CONSONANT;
    }

    if (LX_IN(lx_pict, cp)) {
        return GB_PICT;
    }

    if (LX_IN(lx_control, cp)) {
        return GB_CONTROL;
    }

    if (LX_IN(lx_prepend, cp)) {
        return GB_PREPEND;
    }

    return GB_OTHER;
}


/* 1 if there is a cluster boundary between prev and cur (UAX #29) */
static int
lx_gb_break(int prev, int cur, int pict_zwj, int ri_odd, int linker)
{
    if (prev == GB_CR && cur == GB_LF) {                        /* GB3 */
        return 0;
    }

    if (prev == GB_CR || prev == GB_LF || prev == GB_CONTROL    /* GB4 */
        || cur == GB_CR || cur == GB_LF || cur == GB_CONTROL)   /* GB5 */
    {
        return 1;
    }

    switch (prev) {
    case GB_L:                                                  /* GB6 */
        if (cur == GB_L || cur == GB_V || cur == GB_LV || cur == GB_LVT) {
            return 0;
        }
        break;

    case GB_LV:                                                 /* GB7 */
    case GB_V:
        if (cur == GB_V || cur == GB_T) {
            return 0;
        }
        break;

    case GB_LVT:                                                /* GB8 */
    case GB_T:
        if (cur == GB_T) {
            return 0;
        }
        break;
    }

    if (cur == GB_EXTEND || cur == GB_ZWJ) {                    /* GB9, 9a */
        return 0;
    }

    if (prev == GB_PREPEND) {                                   /* GB9b */
        return 0;
    }

    if (cur == GB_CONSONANT && linker == 2) {                   /* GB9c */
        return 0;
    }

    if (prev == GB_ZWJ && cur == GB_PICT && pict_zwj) {         /* GB11 */
        return 0;
    }

    if (prev == GB_RI && cur == GB_RI && ri_odd) {              /* GB12, 13 */
        return 0;
    }

    return 1;
}


size_t
pds_grapheme_count(const char *s, size_t len)
{
    int                   prev, cur, pict, ri, linker;
    size_t                n, k;
    int32_t               cp;
    const unsigned char  *p = (const unsigned char *) s;

    n = 0;
    prev = -1;
    pict = 0;       /* 1: ExtPict Extend*, 2: ExtPict Extend* ZWJ */
    ri = 0;         /* regional indicators just before */
    linker = 0;     /* GB9c: 1 consonant Extend*, 2 ... Linker Extend* */

    while (len > 0) {
        if (*p >= 0x20 && *p < 0x7f) {
            /* ASCII fast path: printable ASCII is "Other" */
            cur = GB_OTHER;
            k = 1;
            if (prev != GB_PREPEND) {
                n++;
            }

        } else {
            k = lx_utf8_next(p, len, &cp);
            cur = cp < 0 ? GB_OTHER : lx_gb_class(cp);

            if (prev == -1
                || lx_gb_break(prev, cur, pict == 2, ri & 1, linker))
            {
                n++;
            }
        }

        if (cur == GB_PICT) {
            pict = 1;
        } else if (cur == GB_EXTEND && pict == 1) {
            pict = 1;
        } else if (cur == GB_ZWJ && pict == 1) {
            pict = 2;
        } else {
            pict = 0;
        }

        ri = cur == GB_RI ? ri + 1 : 0;

        if (cur == GB_CONSONANT) {
            linker = 1;
        } else if (linker && (cur == GB_EXTEND || cur == GB_ZWJ)) {
            if (k == 3 && p[0] == 0xe0 && p[2] == 0x8d
                && (p[1] == 0xa5 || p[1] == 0xa7 || p[1] == 0xab
                    || p[1] == 0xad || p[1] == 0xb1 || p[1] == 0xb5))
            {
                linker = 2;     /* U+094D 09CD 0ACD 0B4D 0C4D 0D4D */
            }
        } else {
            linker = 0;
        }

        prev = cur;
        p += k;
        len -= k;
    }

    return n;
}


/* ---- error messages --------------------------------------------------------- */

typedef struct {
    char    *p;
    size_t   cap;
    size_t   len;
} lx_out_t;


static void
lx_put(lx_out_t *o, const char *s, size_t n)
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


static void
lx_puts(lx_out_t *o, const char *s)
{
    lx_put(o, s, strlen(s));
}


static void
lx_printf(lx_out_t *o, const char *fmt, ...)
{
    char     buf[64];
    int      n;
    va_list  ap;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);

    if (n > 0) {
        lx_put(o, buf, (size_t) n < sizeof(buf) ? (size_t) n : sizeof(buf) - 1);
    }
}


/* JSON.stringify of a string, at most max UTF-16 units then "…" */
static void
lx_put_quoted(lx_out_t *o, const char *s, size_t len, size_t max)
{
    size_t                i, k, units;
    int32_t               cp;
    const unsigned char  *p = (const unsigned char *) s;

    if (max > 0 && lx_utf16_len(s, len) >= max) {
        max = max - 1;
    } else {
        max = (size_t) -1;
    }

    lx_put(o, "\"", 1);
    units = 0;

    for (i = 0; i < len; i += k) {
        k = lx_utf8_next(p + i, len - i, &cp);
        units += cp >= 0x10000 ? 2 : 1;

        if (units > max) {
            lx_puts(o, "\xe2\x80\xa6");
            break;
        }

        if (cp < 0) {
            lx_puts(o, "\xef\xbf\xbd");
        } else if (cp == '"' || cp == '\\') {
            lx_put(o, "\\", 1);
            lx_put(o, (const char *) p + i, 1);
        } else if (cp == '\n') {
            lx_puts(o, "\\n");
        } else if (cp == '\r') {
            lx_puts(o, "\\r");
        } else if (cp == '\t') {
            lx_puts(o, "\\t");
        } else if (cp == '\b') {
            lx_puts(o, "\\b");
        } else if (cp == '\f') {
            lx_puts(o, "\\f");
        } else if (cp < 0x20) {
            lx_printf(o, "\\u%04x", (unsigned) cp);
        } else {
            lx_put(o, (const char *) p + i, k);
        }
    }

    lx_put(o, "\"", 1);
}


/* the reference's preview of a value in messages ("got ...") */
static void
lx_put_value(lx_out_t *o, const json_t *v)
{
    size_t       i, n;
    const char  *key;
    json_t      *item;
    void        *it;

    if (v == NULL) {
        lx_puts(o, "undefined");
        return;
    }

    switch (json_typeof(v)) {
    case JSON_STRING:
        lx_put_quoted(o, json_string_value(v), json_string_length(v),
                      LX_PREVIEW_MAX);
        break;

    case JSON_INTEGER:
        lx_printf(o, "%lld", (long long) json_integer_value(v));
        break;

    case JSON_REAL:
        lx_printf(o, "%.17g", json_real_value(v));
        break;

    case JSON_TRUE:
        lx_puts(o, "true");
        break;

    case JSON_FALSE:
        lx_puts(o, "false");
        break;

    case JSON_NULL:
        lx_puts(o, "null");
        break;

    case JSON_ARRAY:
        n = json_array_size(v);
        lx_put(o, "[", 1);
        for (i = 0; i < n && i < 2; i++) {
            if (i) {
                lx_puts(o, ", ");
            }
            item = json_array_get(v, i);
            if (json_is_array(item) || json_is_object(item)) {
                lx_puts(o, json_is_array(item) ? "[...]" : "{...}");
            } else {
                lx_put_value(o, item);
            }
        }
        if (n > 2) {
            lx_puts(o, ", ...");
        }
        lx_put(o, "]", 1);
        break;

    case JSON_OBJECT:
        if (lx_link(v)) {
            lx_puts(o, "cid");
            break;
        }
        if (lx_bytes(v)) {
            lx_puts(o, "object");
            break;
        }
        lx_put(o, "{", 1);
        i = 0;
        for (it = json_object_iter((json_t *) v); it != NULL && i < 2;
             it = json_object_iter_next((json_t *) v, it))
        {
            key = json_object_iter_key(it);
            if (i++) {
                lx_puts(o, ", ");
            }
            lx_put_quoted(o, key, strlen(key), 0);
            lx_puts(o, ": ...");
        }
        if (json_object_size(v) > 2) {
            lx_puts(o, ", ...");
        }
        lx_put(o, "}", 1);
        break;
    }
}


/* ---- validation context ------------------------------------------------------ */

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


static int
lx_push_key(lx_ctx_t *c, const char *key, size_t len)
{
    if (c->depth >= LX_MAX_DEPTH) {
        return -1;
    }

    c->seg[c->depth].key = key;
    c->seg[c->depth].len = len;
    c->depth++;
    return 0;
}


static int
lx_push_idx(lx_ctx_t *c, size_t idx)
{
    if (c->depth >= LX_MAX_DEPTH) {
        return -1;
    }

    c->seg[c->depth].key = NULL;
    c->seg[c->depth].idx = idx;
    c->depth++;
    return 0;
}


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
static lx_out_t *
lx_begin(lx_ctx_t *c)
{
    c->out.len = 0;
    if (c->out.cap) {
        c->out.p[0] = '\0';
    }

    lx_puts(&c->out, "Invalid ");
    lx_puts(&c->out, c->head);
    lx_puts(&c->out, " ");
    lx_puts(&c->out, c->what);
    lx_puts(&c->out, ": ");

    return &c->out;
}


/* ends the message with " at <path>" plus an optional extra key */
static int
lx_end(lx_ctx_t *c, const char *extra)
{
    int        i;
    lx_out_t  *o = &c->out;

    lx_puts(o, " at ");
    lx_puts(o, c->prefix);

    for (i = 0; i < c->depth; i++) {
        if (c->seg[i].key == NULL) {
            lx_printf(o, "[%zu]", c->seg[i].idx);
        } else if (lx_ident(c->seg[i].key, c->seg[i].len)) {
            lx_put(o, ".", 1);
            lx_put(o, c->seg[i].key, c->seg[i].len);
        } else {
            lx_put(o, "[", 1);
            lx_put_quoted(o, c->seg[i].key, c->seg[i].len, 0);
            lx_put(o, "]", 1);
        }
    }

    if (extra) {
        lx_put(o, ".", 1);
        lx_puts(o, extra);
    }

    return -1;
}


static int
lx_err_type_at(lx_ctx_t *c, const json_t *v, const char *expected,
    const char *extra)
{
    lx_out_t  *o = lx_begin(c);

    lx_puts(o, "Expected ");
    lx_puts(o, expected);
    lx_puts(o, " value type (got ");
    lx_put_value(o, v);
    lx_puts(o, ")");

    return lx_end(c, extra);
}


static int
lx_err_type(lx_ctx_t *c, const json_t *v, const char *expected)
{
    return lx_err_type_at(c, v, expected, NULL);
}


static int
lx_err_size(lx_ctx_t *c, const char *type, int big, int64_t limit,
    int64_t actual)
{
    lx_out_t  *o = lx_begin(c);

    lx_printf(o, "%s too %s (%s %lld, got %lld)", type,
              big ? "big" : "small", big ? "maximum" : "minimum",
              (long long) limit, (long long) actual);

    return lx_end(c, NULL);
}


static void
lx_put_oneof_begin(lx_out_t *o, size_t n)
{
    lx_puts(o, "Expected ");
    if (n > 1) {
        lx_puts(o, "one of ");
    }
}


static void
lx_put_sep(lx_out_t *o, size_t i, size_t n)
{
    if (i + 1 < n) {
        lx_puts(o, i + 2 < n ? ", " : " or ");
    }
}


/* "Expected one of "a", "b" or "c" (got x)" */
static int
lx_err_values_str(lx_ctx_t *c, const json_t *v, const lx_str_t *vals,
    size_t n, const char *extra)
{
    size_t     i;
    lx_out_t  *o = lx_begin(c);

    lx_put_oneof_begin(o, n);
    for (i = 0; i < n; i++) {
        lx_put_quoted(o, vals[i].s, vals[i].len, LX_PREVIEW_MAX);
        lx_put_sep(o, i, n);
    }
    lx_puts(o, " (got ");
    lx_put_value(o, v);
    lx_puts(o, ")");

    return lx_end(c, extra);
}


static int
lx_err_values_int(lx_ctx_t *c, const json_t *v, const int64_t *vals,
    size_t n)
{
    size_t     i;
    lx_out_t  *o = lx_begin(c);

    lx_put_oneof_begin(o, n);
    for (i = 0; i < n; i++) {
        lx_printf(o, "%lld", (long long) vals[i]);
        lx_put_sep(o, i, n);
    }
    lx_puts(o, " (got ");
    lx_put_value(o, v);
    lx_puts(o, ")");

    return lx_end(c, NULL);
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


/* ---- validation --------------------------------------------------------------- */

static int lx_validate(lx_ctx_t *c, const lx_node_t *n, const json_t *v);


static int
lx_validate_string(lx_ctx_t *c, const lx_node_t *n, const json_t *v)
{
    size_t         i, len, u16, gr;
    const char    *s;
    const json_t  *str;
    lx_out_t      *o;

    if (n->flags & (LX_HAS_CONST | LX_HAS_ENUM | LX_NEVER)) {
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
            return lx_err_values_str(c, v, &n->cstr, 1, NULL);
        }
        return lx_err_values_str(c, v, n->senum, n->nenum, NULL);
    }

    str = json_is_string(v) ? v : lx_link(v);
    if (str == NULL) {
        return lx_err_type(c, v, "string");
    }

    s = json_string_value(str);
    len = json_string_length(str);

    if ((n->flags & LX_HAS_MIN) && (int64_t) len < n->min) {
        return lx_err_size(c, "string", 0, n->min, (int64_t) len);
    }

    if ((n->flags & LX_HAS_MAX) && (int64_t) len > n->max) {
        return lx_err_size(c, "string", 1, n->max, (int64_t) len);
    }

    if (n->flags & (LX_HAS_MINGR | LX_HAS_MAXGR)) {
        u16 = lx_utf16_len(s, len);
        gr = (size_t) -1;

        if (n->flags & LX_HAS_MINGR) {
            if ((int64_t) u16 < n->mingr) {
                return lx_err_size(c, "grapheme", 0, n->mingr, (int64_t) u16);
            }
            gr = pds_grapheme_count(s, len);
            if ((int64_t) gr < n->mingr) {
                return lx_err_size(c, "grapheme", 0, n->mingr, (int64_t) gr);
            }
        }

        if ((n->flags & LX_HAS_MAXGR) && (int64_t) u16 > n->maxgr) {
            if (gr == (size_t) -1) {
                gr = pds_grapheme_count(s, len);
            }
            if ((int64_t) gr > n->maxgr) {
                return lx_err_size(c, "grapheme", 1, n->maxgr, (int64_t) gr);
            }
        }
    }

    if (n->format != LX_FMT_NONE
        && (memchr(s, '\0', len) != NULL || !lx_format_ok(n->format, s, len)))
    {
        o = lx_begin(c);
        lx_puts(o, "Invalid ");
        lx_puts(o, lx_format_desc(n->format));
        lx_puts(o, " (got ");
        lx_put_value(o, str);
        lx_puts(o, ")");
        return lx_end(c, NULL);
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
        return lx_err_values_int(c, v, &n->cint, 1);
    }

    if (n->flags & LX_HAS_ENUM) {
        if (isint) {
            for (i = 0; i < n->nenum; i++) {
                if (n->ienum[i] == x) {
                    return 0;
                }
            }
        }
        return lx_err_values_int(c, v, n->ienum, n->nenum);
    }

    if (!isint) {
        return lx_err_type(c, v, "integer");
    }

    if ((n->flags & LX_HAS_MIN) && x < n->min) {
        return lx_err_size(c, "integer", 0, n->min, x);
    }

    if ((n->flags & LX_HAS_MAX) && x > n->max) {
        return lx_err_size(c, "integer", 1, n->max, x);
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
        return lx_err_type(c, v, "blob");
    }

    if (n->flags & LX_HAS_ACCEPT) {
        mime = json_object_get(v, "mimeType");
        if (!lx_mime_ok(n, json_string_value(mime), json_string_length(mime)))
        {
            return lx_err_values_str(c, mime, n->accept, n->naccept,
                                     "mimeType");
        }
    }

    if (n->flags & LX_HAS_MAX) {
        (void) lx_is_int(json_object_get(v, "size"), &size);
        if (size > n->max) {
            return lx_err_size(c, "blob", 1, n->max, size);
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
            o = lx_begin(c);
            lx_puts(o, "Missing required key ");
            lx_put_quoted(o, p->name.s, p->name.len, 0);
            return lx_end(c, NULL);
        }

        if (json_is_null(pv) && p->nullable) {
            continue;
        }

        if (lx_push_key(c, p->name.s, p->name.len) != 0) {
            lx_begin(c);
            lx_puts(&c->out, "too deeply nested");
            return lx_end(c, NULL);
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
        return lx_err_type(c, v, "object");
    }

    if (n->type == LX_OBJECT && n->id.len) {
        t = json_object_get(v, "$type");
        if (t != NULL && !lx_streq(t, n->id.s, n->id.len)) {
            return lx_err_values_str(c, t, &n->id, 1, "$type");
        }
    }

    if (lx_validate_props(c, n->type == LX_RECORD ? n->record : n, v) != 0) {
        return -1;
    }

    if (n->type == LX_RECORD) {
        t = json_object_get(v, "$type");
        if (!lx_streq(t, n->id.s, n->id.len)) {
            return lx_err_values_str(c, t, &n->id, 1, "$type");
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
        return lx_err_type(c, v,
                  "an object which includes the \"$type\" property");
    }

    for (i = 0; i < n->nrefs; i++) {
        r = &n->refs[i];
        if (lx_streq(t, r->type.s, r->type.len)) {
            if (r->node == NULL) {
                lx_begin(c);
                lx_puts(&c->out, "Lexicon not found: ");
                lx_put(&c->out, r->ref.s, r->ref.len);
                return lx_end(c, NULL);
            }
            return lx_validate(c, r->node, v);
        }
    }

    if (n->flags & LX_CLOSED) {
        for (i = 0; i < n->nrefs && i < 64; i++) {
            types[i] = n->refs[i].type;
        }
        return lx_err_values_str(c, t, types, i, "$type");
    }

    if (!json_is_string(t)) {
        return lx_err_type_at(c, t, "string", "$type");
    }

    return 0;
}


static int
lx_validate(lx_ctx_t *c, const lx_node_t *n, const json_t *v)
{
    size_t         i, len;
    const json_t  *b;

    if (++c->steps > 100000) {
        lx_begin(c);
        lx_puts(&c->out, "value too complex");
        return lx_end(c, NULL);
    }

    switch (n->type) {
    case LX_BOOLEAN:
        if (n->flags & LX_HAS_CONST) {
            if (json_is_boolean(v) && json_is_true(v) == n->cbool) {
                return 0;
            }
            lx_begin(c);
            lx_printf(&c->out, "Expected %s (got ",
                      n->cbool ? "true" : "false");
            lx_put_value(&c->out, v);
            lx_puts(&c->out, ")");
            return lx_end(c, NULL);
        }
        return json_is_boolean(v) ? 0 : lx_err_type(c, v, "boolean");

    case LX_INTEGER:
        return lx_validate_integer(c, n, v);

    case LX_STRING:
        return lx_validate_string(c, n, v);

    case LX_BYTES:
        b = lx_bytes(v);
        if (b == NULL) {
            return lx_err_type(c, v, "bytes");
        }
        len = lx_base64_decoded_len(b);
        if ((n->flags & LX_HAS_MIN) && (int64_t) len < n->min) {
            return lx_err_size(c, "bytes", 0, n->min, (int64_t) len);
        }
        if ((n->flags & LX_HAS_MAX) && (int64_t) len > n->max) {
            return lx_err_size(c, "bytes", 1, n->max, (int64_t) len);
        }
        return 0;

    case LX_CIDLINK:
        return lx_link(v) ? 0 : lx_err_type(c, v, "cid");

    case LX_BLOB:
        return lx_validate_blob(c, n, v);

    case LX_ARRAY:
        if (!json_is_array(v)) {
            return lx_err_type(c, v, "array");
        }
        len = json_array_size(v);
        if ((n->flags & LX_HAS_MIN) && (int64_t) len < n->min) {
            return lx_err_size(c, "array", 0, n->min, (int64_t) len);
        }
        if ((n->flags & LX_HAS_MAX) && (int64_t) len > n->max) {
            return lx_err_size(c, "array", 1, n->max, (int64_t) len);
        }
        for (i = 0; i < len; i++) {
            if (lx_push_idx(c, i) != 0) {
                lx_begin(c);
                lx_puts(&c->out, "too deeply nested");
                return lx_end(c, NULL);
            }
            if (lx_validate(c, n->items, json_array_get(v, i)) != 0) {
                return -1;
            }
            c->depth--;
        }
        return 0;

    case LX_OBJECT:
    case LX_RECORD:
        return lx_validate_typed(c, n, v);

    case LX_TOKEN:
        if (lx_streq(v, n->id.s, n->id.len)) {
            return 0;
        }
        return lx_err_values_str(c, v, &n->id, 1, NULL);

    case LX_UNKNOWN:
        if (!lx_plain_object(v)
            || lx_str_is(json_object_get(v, "$type"), "blob"))
        {
            return lx_err_type(c, v, "object");
        }
        return 0;

    case LX_REF:
        if (n->refs[0].node == NULL) {
            lx_begin(c);
            lx_puts(&c->out, "Lexicon not found: ");
            lx_put(&c->out, n->refs[0].ref.s, n->refs[0].ref.len);
            return lx_end(c, NULL);
        }
        return lx_validate(c, n->refs[0].node, v);

    case LX_UNION:
        return lx_validate_union(c, n, v);

    default:
        lx_begin(c);
        lx_puts(&c->out, "Unexpected lexicon type");
        return lx_end(c, NULL);
    }
}


/* ---- the registry --------------------------------------------------------------- */

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


static lx_entry_t *
lx_find(const pds_lexicon_t *lex, const char *nsid, size_t nlen,
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


static int
lx_insert(pds_lexicon_t *lex, lx_str_t nsid, lx_str_t name, lx_node_t *node)
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


/* ---- document checks (lex-document rules) ----------------------------------------- */

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

static const char *const  lx_formats[] = {
    "", "datetime", "uri", "at-uri", "did", "handle", "at-identifier",
    "nsid", "cid", "language", "tid", "record-key"
};


static unsigned
lx_type_bit(const json_t *def)
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


static int
lx_format_id(const json_t *f)
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
        bit = lx_type_bit(pv);
        if (bit == LX_T_ARRAY) {
            if (!json_is_object(json_object_get(pv, "items"))
                || !(lx_type_bit(json_object_get(pv, "items"))
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


static const char *
lx_check_def(const json_t *def, unsigned allowed, int depth)
{
    unsigned       bit;
    const char    *err;
    const json_t  *v, *refs;

    if (depth > 32) {
        return "definition nested too deeply";
    }

    if (!json_is_object(def)) {
        return "definition must be an object";
    }

    bit = lx_type_bit(def);
    if (bit == 0 || !(bit & allowed)) {
        return "definition of a type not allowed here";
    }

    if (!lx_opt_str(def, "description")) {
        return "description must be a string";
    }

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
        if ((v != NULL && lx_format_id(v) < 0)
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

    case LX_T_ARRAY:
        if (!lx_opt_int(def, "minLength") || !lx_opt_int(def, "maxLength")) {
            return "invalid array definition";
        }
        v = json_object_get(def, "items");
        if (v == NULL) {
            return "array definition without items";
        }
        return lx_check_def(v, LX_T_ITEMS, depth + 1);

    case LX_T_OBJECT:
        return lx_check_object(def, depth);

    case LX_T_REF:
        if (!json_is_string(json_object_get(def, "ref"))) {
            return "ref definition without ref";
        }
        break;

    case LX_T_UNION:
        refs = json_object_get(def, "refs");
        if (!json_is_array(refs) || !lx_opt_array(def, "refs", 's')
            || !lx_opt_bool(def, "closed"))
        {
            return "invalid union definition";
        }
        break;

    case LX_T_RECORD:
        if (!lx_rkey_type_ok(json_object_get(def, "key"))) {
            return "Invalid record key definition (must be \"any\", \"nsid\", "
                   "\"tid\", or \"literal:<string>\")";
        }
        v = json_object_get(def, "record");
        if (lx_type_bit(v) != LX_T_OBJECT) {
            return "record definition without an object";
        }
        return lx_check_object(v, depth + 1);

    case LX_T_QUERY:
    case LX_T_PROCEDURE:
    case LX_T_SUBSCRIPTION:
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
        if ((err = lx_check_payload(json_object_get(def, "output")))
            != NULL)
        {
            return err;
        }
        if (bit == LX_T_PROCEDURE) {
            return lx_check_payload(json_object_get(def, "input"));
        }
        break;

    case LX_T_PERMSET:
        return lx_check_permset(def);
    }

    return NULL;
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


/* ---- compiling ------------------------------------------------------------------ */

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


static lx_node_t *lx_compile(lx_build_t *b, const json_t *def, const char *name,
    size_t name_len);


static void
lx_compile_object(lx_build_t *b, lx_node_t *n, const json_t *def)
{
    size_t         i, j, k;
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

        for (j = 0; j < json_array_size(req); j++) {
            if (lx_streq(json_array_get(req, j), key, k)) {
                p->required = 1;
            }
        }

        for (j = 0; j < json_array_size(nul); j++) {
            if (lx_streq(json_array_get(nul, j), key, k)) {
                p->nullable = 1;
            }
        }

        if (p->node == NULL) {
            b->oom = 1;
            return;
        }
    }
}


static lx_node_t *
lx_compile(lx_build_t *b, const json_t *def, const char *name, size_t name_len)
{
    size_t         i, n;
    unsigned       bit;
    int64_t        x;
    const json_t  *v, *e;
    lx_node_t     *node;
    char           id[PDS_NSID_MAX + 256];

    node = lx_calloc(b, sizeof(lx_node_t));
    if (node == NULL) {
        return NULL;
    }

    bit = lx_type_bit(def);

    if (name != NULL) {
        if (name_len == 4 && memcmp(name, "main", 4) == 0) {
            node->id = lx_dup(b, b->nsid, b->nsid_len);
        } else {
            n = (size_t) snprintf(id, sizeof(id), "%.*s#%.*s",
                                  (int) b->nsid_len, b->nsid,
                                  (int) name_len, name);
            node->id = lx_dup(b, id, n < sizeof(id) ? n : sizeof(id) - 1);
        }
    }

    switch (bit) {
    case LX_T_BOOLEAN:
        node->type = LX_BOOLEAN;
        v = json_object_get(def, "const");
        if (json_is_boolean(v)) {
            node->flags |= LX_HAS_CONST;
            node->cbool = json_is_true(v);
        }
        break;

    case LX_T_INTEGER:
        node->type = LX_INTEGER;
        if (lx_get_int(def, "minimum", &node->min)) {
            node->flags |= LX_HAS_MIN;
        }
        if (lx_get_int(def, "maximum", &node->max)) {
            node->flags |= LX_HAS_MAX;
        }
        if (lx_get_int(def, "const", &node->cint)) {
            node->flags |= LX_HAS_CONST;
        }
        v = json_object_get(def, "enum");
        if (json_is_array(v)) {
            node->flags |= LX_HAS_ENUM;
            node->nenum = json_array_size(v);
            node->ienum = lx_calloc(b, node->nenum * sizeof(int64_t));
            if (node->ienum == NULL) {
                return NULL;
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
        }
        break;

    case LX_T_STRING:
        node->type = LX_STRING;
        v = json_object_get(def, "format");
        if (v != NULL) {
            node->format = lx_format_id(v);
        }
        if (lx_get_int(def, "minLength", &node->min)) {
            node->flags |= LX_HAS_MIN;
        }
        if (lx_get_int(def, "maxLength", &node->max)) {
            node->flags |= LX_HAS_MAX;
        }
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
        if (json_is_array(v)) {
            node->flags |= LX_HAS_ENUM;
            node->nenum = json_array_size(v);
            node->senum = lx_calloc(b, node->nenum * sizeof(lx_str_t));
            if (node->senum == NULL) {
                return NULL;
            }
            x = 0;
            for (i = 0; i < node->nenum; i++) {
                e = json_array_get(v, i);
                node->senum[i] = lx_dup_json(b, e);
                if ((node->flags & LX_HAS_CONST)
                    && lx_streq(e, node->cstr.s, node->cstr.len))
                {
                    x = 1;
                }
            }
            if ((node->flags & LX_HAS_CONST) && !x) {
                node->flags |= LX_NEVER;
            }
        }
        break;

    case LX_T_BYTES:
        node->type = LX_BYTES;
        if (lx_get_int(def, "minLength", &node->min)) {
            node->flags |= LX_HAS_MIN;
        }
        if (lx_get_int(def, "maxLength", &node->max)) {
            node->flags |= LX_HAS_MAX;
        }
        break;

    case LX_T_CIDLINK:
        node->type = LX_CIDLINK;
        break;

    case LX_T_BLOB:
        node->type = LX_BLOB;
        if (lx_get_int(def, "maxSize", &node->max)) {
            node->flags |= LX_HAS_MAX;
        }
        v = json_object_get(def, "accept");
        if (json_is_array(v)) {
            node->flags |= LX_HAS_ACCEPT;
            node->naccept = json_array_size(v);
            node->accept = lx_calloc(b, node->naccept * sizeof(lx_str_t));
            if (node->accept == NULL) {
                return NULL;
            }
            for (i = 0; i < node->naccept; i++) {
                node->accept[i] = lx_dup_json(b, json_array_get(v, i));
            }
        }
        break;

    case LX_T_ARRAY:
        node->type = LX_ARRAY;
        if (lx_get_int(def, "minLength", &node->min)) {
            node->flags |= LX_HAS_MIN;
        }
        if (lx_get_int(def, "maxLength", &node->max)) {
            node->flags |= LX_HAS_MAX;
        }
        node->items = lx_compile(b, json_object_get(def, "items"), NULL, 0);
        if (node->items == NULL) {
            return NULL;
        }
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
        node->type = LX_REF;
        node->nrefs = 1;
        node->refs = lx_calloc(b, sizeof(lx_ref_t));
        if (node->refs == NULL) {
            return NULL;
        }
        v = json_object_get(def, "ref");
        lx_make_ref(b, &node->refs[0], json_string_value(v),
                    json_string_length(v), 0);
        break;

    case LX_T_UNION:
        node->type = LX_UNION;
        if (json_is_true(json_object_get(def, "closed"))) {
            node->flags |= LX_CLOSED;
        }
        v = json_object_get(def, "refs");
        node->nrefs = json_array_size(v);
        node->refs = lx_calloc(b, node->nrefs * sizeof(lx_ref_t));
        if (node->refs == NULL) {
            return NULL;
        }
        for (i = 0; i < node->nrefs; i++) {
            e = json_array_get(v, i);
            lx_make_ref(b, &node->refs[i], json_string_value(e),
                        json_string_length(e), 1);
        }
        break;

    case LX_T_RECORD:
        node->type = LX_RECORD;
        v = json_object_get(def, "key");
        node->key = lx_dup_json(b, v);
        node->record = lx_compile(b, json_object_get(def, "record"), NULL, 0);
        if (node->record == NULL) {
            return NULL;
        }
        break;

    default:
        node->type = LX_OTHER;
        break;
    }

    return b->oom ? NULL : node;
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

    if (lx_find(lex, nsid, nlen, "", 0) != NULL) {
        snprintf(err, errlen, "%s has already been registered", nsid);
        return -1;
    }

    b.lex = lex;
    b.oom = 0;
    sn = lx_dup(&b, nsid, nlen);
    b.nsid = sn.s;
    b.nsid_len = sn.len;

    if (b.oom || lx_insert(lex, sn, lx_dup(&b, "", 0), NULL) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    defs = json_object_get(doc, "defs");

    json_object_foreach((json_t *) defs, name, def) {
        sname = lx_dup(&b, name, strlen(name));
        node = lx_compile(&b, def, sname.s, sname.len);
        if (node == NULL || b.oom || lx_insert(lex, sn, sname, node) != 0) {
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
    size_t       i;
    const char  *hash;
    lx_ref_t    *r;
    lx_entry_t  *e;

    rc = 0;

    for (i = 0; i < lex->nrefs; i++) {
        r = lex->refs[i];
        hash = memchr(r->ref.s, '#', r->ref.len);
        e = NULL;

        if (hash != NULL) {
            e = lx_find(lex, r->ref.s, (size_t) (hash - r->ref.s), hash + 1,
                        r->ref.len - (size_t) (hash - r->ref.s) - 1);
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


/* reads the tree; documents are compiled at once, or kept in all */
static long
lx_load_tree(pds_lexicon_t *lex, const char *dir, int depth, lx_docs_t *all,
    char *err, size_t errlen)
{
    long            total, n;
    DIR            *d;
    json_t         *doc;
    struct stat     st;
    json_error_t    jerr;
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
            if (n < 0) {
                closedir(d);
                return -1;
            }
            total += n;
            continue;
        }

        if (!S_ISREG(st.st_mode) || !lx_has_suffix(de->d_name, ".json")) {
            continue;
        }

        doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
        if (doc == NULL) {
            snprintf(err, errlen, "%s: %s", path, jerr.text);
            closedir(d);
            return -1;
        }

        if (all != NULL) {
            const char  *msg = pds_lexicon_doc_valid(doc);

            if (msg != NULL || lx_docs_push(all, doc) != 0) {
                snprintf(err, errlen, "%s: %s", path,
                         msg ? msg : "no memory");
                json_decref(doc);
                closedir(d);
                return -1;
            }

            total++;
            continue;
        }

        if (pds_lexicon_add(lex, doc, err, errlen) != 0) {
            json_decref(doc);
            closedir(d);
            return -1;
        }

        json_decref(doc);
        total++;
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


static const lx_node_t *
lx_record_def(const pds_lexicon_t *lex, const char *nsid, size_t len)
{
    lx_entry_t  *e;

    e = lx_find(lex, nsid, len, "main", 4);

    return (e != NULL && e->node != NULL && e->node->type == LX_RECORD)
           ? e->node : NULL;
}


int
pds_lexicon_has_record(const pds_lexicon_t *lex, const char *nsid,
    size_t len)
{
    return lx_record_def(lex, nsid, len) != NULL;
}


/* ---- entry points ------------------------------------------------------------------ */

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

    lx_puts(&o, "Invalid record key for ");
    lx_puts(&o, type);
    lx_puts(&o, ": ");

    if (strcmp(k, "tid") == 0) {
        if (pds_tid_valid(rkey, len)) {
            return 0;
        }
        lx_puts(&o, "Invalid TID string (got ");

    } else if (strcmp(k, "nsid") == 0) {
        if (pds_nsid_valid(rkey, len)) {
            return 0;
        }
        lx_puts(&o, "Invalid NSID (got ");

    } else if (strncmp(k, "literal:", 8) == 0) {
        if (strcmp(k + 8, rkey) == 0) {
            return 0;
        }
        lx_puts(&o, "Expected ");
        lx_put_quoted(&o, k + 8, strlen(k + 8), LX_PREVIEW_MAX);
        lx_puts(&o, " (got ");

    } else {
        if (pds_rkey_valid(rkey, len)) {
            return 0;
        }
        lx_puts(&o, "Invalid record key (got ");
    }

    lx_put_quoted(&o, rkey, len, LX_PREVIEW_MAX);
    lx_puts(&o, ")");

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
        lx_puts(&c.out, "Invalid record: ");
        if (!json_is_object(rec)) {
            lx_puts(&c.out, "Expected object value type (got ");
            lx_put_value(&c.out, rec);
            lx_puts(&c.out, ")");
            lx_end(&c, NULL);
        } else {
            lx_puts(&c.out, "Expected string value type (got ");
            lx_put_value(&c.out, t);
            lx_puts(&c.out, ")");
            lx_end(&c, "$type");
        }
        return PDS_LEX_INVALID;
    }

    type = json_string_value(t);
    def = lx_record_def(lex, type, json_string_length(t));
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
        e = lx_find(lex, ref, (size_t) (hash - ref), hash + 1,
                    strlen(hash + 1));
    } else {
        e = lx_find(lex, ref, strlen(ref), "main", 4);
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
