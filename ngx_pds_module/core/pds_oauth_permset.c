/*
 * ngx_pds_module core: OAuth permission sets (see pds_oauth_permset.h).
 */

#include <string.h>
#include <stdlib.h>

#include "pds_oauth_permset.h"
#include "pds_oauth_scope.h"
#include "pds_syntax.h"


#define PDS_PERMSET_LIST_MAX  64        /* values of one param kept */


/* ---- the document ------------------------------------------------------- */

/* a Lexicon param value: string, integer or boolean */
static int
pds_permset_param_ok(const json_t *v)
{
    return json_is_string(v) || json_is_integer(v) || json_is_boolean(v);
}


static int
pds_permset_lang_ok(const json_t *m)
{
    const char  *k;
    json_t      *v;

    if (m == NULL) {
        return 1;
    }
    if (!json_is_object(m)) {
        return 0;
    }
    json_object_foreach((json_t *) m, k, v) {
        if (!json_is_string(v)) {
            return 0;
        }
    }
    return 1;
}


/* defs.main as @atproto/lex-document's permission-set schema reads it */
static int
pds_permset_shape_ok(const json_t *set)
{
    size_t       i, j;
    const char  *k, *s;
    json_t      *perm, *v, *e, *perms;

    perms = json_object_get(set, "permissions");
    if (!json_is_array(perms)) {
        return 0;
    }

    json_array_foreach(perms, i, perm) {
        if (!json_is_object(perm)) {
            return 0;
        }
        s = json_string_value(json_object_get(perm, "type"));
        if (s == NULL || strcmp(s, "permission") != 0) {
            return 0;
        }
        s = json_string_value(json_object_get(perm, "resource"));
        if (s == NULL || *s == '\0') {
            return 0;
        }
        json_object_foreach(perm, k, v) {
            if (json_is_array(v)) {
                json_array_foreach(v, j, e) {
                    if (!pds_permset_param_ok(e)) {
                        return 0;
                    }
                }
            } else if (!pds_permset_param_ok(v)) {
                return 0;
            }
        }
    }

    for (i = 0; i < 3; i++) {
        k = i == 0 ? "title" : i == 1 ? "detail" : "description";
        v = json_object_get(set, k);
        if (v != NULL && !json_is_string(v)) {
            return 0;
        }
    }

    return pds_permset_lang_ok(json_object_get(set, "title:lang"))
           && pds_permset_lang_ok(json_object_get(set, "detail:lang"));
}


int
pds_permset_check(const json_t *doc, const char *nsid, const json_t **set)
{
    const char    *s;
    const json_t  *defs, *main, *lex, *id;

    *set = NULL;

    if (!json_is_object(doc)) {
        return PDS_PERMSET_INVALID;
    }

    lex = json_object_get(doc, "lexicon");
    id = json_object_get(doc, "id");
    defs = json_object_get(doc, "defs");

    if (!json_is_integer(lex) || json_integer_value(lex) != 1
        || !json_is_string(id) || !json_is_object(defs)
        || !pds_nsid_valid(json_string_value(id),
                           strlen(json_string_value(id))))
    {
        return PDS_PERMSET_INVALID;
    }

    if (strcmp(json_string_value(id), nsid) != 0) {
        return PDS_PERMSET_INVALID;
    }

    main = json_object_get(defs, "main");
    s = json_string_value(json_object_get(main, "type"));

    if (main != NULL && (!json_is_object(main) || s == NULL)) {
        return PDS_PERMSET_INVALID;
    }

    if (s == NULL || strcmp(s, "permission-set") != 0) {
        return PDS_PERMSET_NOT_SET;
    }

    if (!pds_permset_shape_ok(main)) {
        return PDS_PERMSET_INVALID;
    }

    *set = main;
    return PDS_PERMSET_OK;
}


/* ---- expansion ---------------------------------------------------------- */

/* other is under the group of nsid (nsid up to and with its last dot) */
static int
pds_permset_under(const char *nsid, const char *other)
{
    const char  *dot = strrchr(nsid, '.');
    size_t       g;

    if (dot == NULL || strcmp(other, "*") == 0) {
        return 0;
    }
    g = (size_t) (dot - nsid) + 1;

    return strlen(other) > g && memcmp(nsid, other, g) == 0;
}


static int
pds_permset_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}


/*
 * The string values of the array param key of perm, sorted without
 * repeats when sort: their count (0: absent), or -1 when the param is no
 * array of strings.
 */
static int
pds_permset_list(const json_t *perm, const char *key, const char **out,
    int sort)
{
    int      n, i, j;
    size_t   k;
    json_t  *v, *e;

    v = json_object_get(perm, key);
    if (v == NULL) {
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) == 0
        || json_array_size(v) > PDS_PERMSET_LIST_MAX)
    {
        return -1;
    }

    n = 0;
    json_array_foreach(v, k, e) {
        if (!json_is_string(e)) {
            return -1;
        }
        out[n++] = json_string_value(e);
    }

    if (sort && n > 1) {
        qsort(out, (size_t) n, sizeof(char *), pds_permset_cmp);
        for (i = 1, j = 1; i < n; i++) {
            if (strcmp(out[i], out[j - 1]) != 0) {
                out[j++] = out[i];
            }
        }
        n = j;
    }

    return n;
}


static int
pds_permset_put(pds_buf_t *b, const char *s)
{
    return pds_buf_append(b, s, strlen(s));
}


/* a query value as URLSearchParams writes it, ":" "/" "%" "@" "," "+"
 * then put back as the reference's normalizeURIComponent does */
static int
pds_permset_put_query(pds_buf_t *b, const char *s)
{
    static const char  hex[] = "0123456789ABCDEF";
    char               e[3];

    for ( /* void */ ; *s; s++) {
        if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')
            || (*s >= '0' && *s <= '9') || strchr("*-._:/%@,", *s))
        {
            if (pds_buf_putc(b, (uint8_t) *s) != 0) {
                return -1;
            }
            continue;
        }
        e[0] = '%';
        e[1] = hex[(uint8_t) *s >> 4];
        e[2] = hex[(uint8_t) *s & 15];
        if (pds_buf_append(b, e, 3) != 0) {
            return -1;
        }
    }
    return 0;
}


/* "res:<one>" or "res?key=a&key=b" */
static int
pds_permset_put_list(pds_buf_t *b, const char *res, const char *key,
    const char **v, int n)
{
    int  i;

    if (pds_permset_put(b, res) != 0) {
        return -1;
    }
    if (n == 1) {
        return pds_buf_putc(b, ':') || pds_permset_put(b, v[0]);
    }
    for (i = 0; i < n; i++) {
        if (pds_buf_putc(b, i ? '&' : '?') || pds_permset_put(b, key)
            || pds_buf_putc(b, '=') || pds_permset_put(b, v[i]))
        {
            return -1;
        }
    }
    return 0;
}


/* only these keys (besides type and resource) */
static int
pds_permset_keys_ok(const json_t *perm, const char *a, const char *b)
{
    const char  *k;
    json_t      *v;

    json_object_foreach((json_t *) perm, k, v) {
        if (strcmp(k, "type") != 0 && strcmp(k, "resource") != 0
            && strcmp(k, a) != 0 && strcmp(k, b) != 0)
        {
            return 0;
        }
    }
    return 1;
}


/* one permission as a scope value into b (b->len 0: left out) */
static int
pds_permset_one(const json_t *perm, const char *nsid, const char *aud,
    pds_buf_t *b)
{
    int            n, m, i, inherit;
    const char    *res, *a, *list[PDS_PERMSET_LIST_MAX];
    const char    *acts[PDS_PERMSET_LIST_MAX];
    const json_t  *av;
    static const char *all[] = { "create", "update", "delete" };

    res = json_string_value(json_object_get(perm, "resource"));

    if (strcmp(res, "repo") == 0) {
        if (!pds_permset_keys_ok(perm, "collection", "action")) {
            return 0;
        }
        n = pds_permset_list(perm, "collection", list, 1);
        m = pds_permset_list(perm, "action", acts, 0);
        if (n <= 0 || m < 0) {
            return 0;
        }
        for (i = 0; i < n; i++) {
            if (!pds_permset_under(nsid, list[i])) {
                return 0;
            }
        }
        if (pds_permset_put_list(b, "repo", "collection", list, n) != 0) {
            return -1;
        }
        if (m > 0) {
            /* the actions in the reference's order; all three: none said */
            int  has[3] = { 0, 0, 0 }, k, c = 0;

            for (i = 0; i < m; i++) {
                for (k = 0; k < 3 && strcmp(acts[i], all[k]) != 0; k++) {
                    /* void */
                }
                if (k == 3) {
                    b->len = 0;         /* not an action: left out */
                    return 0;
                }
                has[k] = 1;
            }
            if (!(has[0] && has[1] && has[2])) {
                for (k = 0; k < 3; k++) {
                    if (has[k]
                        && (pds_buf_putc(b, c++ || n > 1 ? '&' : '?')
                            || pds_permset_put(b, "action=")
                            || pds_permset_put(b, all[k])))
                    {
                        return -1;
                    }
                }
            }
        }
        return 0;
    }

    if (strcmp(res, "rpc") != 0) {
        return 0;
    }

    /* an audience of its own is not allowed; inheritAud takes the
     * include's */
    av = json_object_get(perm, "aud");
    if (av != NULL && !(json_is_string(av)
                        && strcmp(json_string_value(av), "*") == 0))
    {
        return 0;
    }
    inherit = json_is_true(json_object_get(perm, "inheritAud"))
              && av == NULL && aud != NULL;
    a = inherit ? aud : json_string_value(av);

    if (!pds_permset_keys_ok(perm, "lxm", inherit ? "inheritAud" : "aud")
        || a == NULL)
    {
        return 0;
    }
    n = pds_permset_list(perm, "lxm", list, 1);
    if (n <= 0) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (!pds_permset_under(nsid, list[i])) {
            return 0;
        }
    }
    if (pds_permset_put_list(b, "rpc", "lxm", list, n) != 0
        || pds_buf_putc(b, n > 1 ? '&' : '?') || pds_permset_put(b, "aud=")
        || pds_permset_put_query(b, a) != 0)
    {
        return -1;
    }
    return 0;
}


int
pds_permset_nsid(const char *v, size_t len, char *dst, size_t cap)
{
    pds_scope_parsed_t  ps;

    if (pds_scope_parse(v, len, &ps) != 0 || ps.kind != PDS_SCOPE_INCLUDE
        || ps.n[0] != 1 || strlen(ps.v[0][0]) >= cap)
    {
        return -1;
    }
    strcpy(dst, ps.v[0][0]);
    return 0;
}


int
pds_permset_expand(const char *v, size_t len, const json_t *set,
    pds_buf_t *out)
{
    int                  rc;
    size_t               i;
    json_t              *perm;
    pds_buf_t            one;
    pds_scope_parsed_t  *ps, *chk;

    ps = pds_alloc(out->a, 2 * sizeof(pds_scope_parsed_t));
    if (ps == NULL) {
        return -1;
    }
    chk = ps + 1;

    if (pds_scope_parse(v, len, ps) != 0 || ps->kind != PDS_SCOPE_INCLUDE
        || ps->n[0] != 1)
    {
        pds_free(out->a, ps);
        return -1;
    }

    rc = 0;
    pds_buf_init(&one, out->a);

    json_array_foreach(json_object_get(set, "permissions"), i, perm) {
        one.len = 0;
        if (pds_permset_one(perm, ps->v[0][0], ps->n[1] ? ps->v[1][0] : NULL,
                            &one) != 0)
        {
            rc = -1;
            break;
        }
        if (one.len == 0) {
            continue;
        }
        /* kept only when it reads as the scope it is meant to be */
        if (pds_scope_parse((char *) one.data, one.len, chk) != 0
            || (chk->kind != PDS_SCOPE_REPO && chk->kind != PDS_SCOPE_RPC))
        {
            continue;
        }
        if ((out->len && pds_buf_putc(out, ' ') != 0)
            || pds_buf_append(out, one.data, one.len) != 0)
        {
            rc = -1;
            break;
        }
    }

    pds_buf_free(&one);
    pds_free(out->a, ps);
    return rc;
}
