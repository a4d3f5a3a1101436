/*
 * ngx_pds_module core: PKCE, identifiers, access tokens and scope strings
 * of the OAuth authorization server.
 */

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pds_enc.h"
#include "pds_hash.h"
#include "pds_oauth.h"
#include "pds_oauth_int.h"


int
pds_oauth_ct_equal(const char *a, const char *b, size_t n)
{
    unsigned char  d;
    size_t         i;

    d = 0;
    for (i = 0; i < n; i++) {
        d |= (unsigned char) (a[i] ^ b[i]);
    }

    return d == 0;
}


/* ---- PKCE --------------------------------------------------------------- */

static int
pds_oauth_b64url_chars(const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        char c = s[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '-' || c == '_'))
        {
            return 0;
        }
    }

    return 1;
}


int
pds_oauth_pkce_challenge_ok(const char *s, size_t len)
{
    uint8_t  d[33];

    return len == 43 && pds_oauth_b64url_chars(s, len)
           && pds_base64_decode(d, s, len, 1) == 32;
}


int
pds_oauth_pkce_s256_check(const char *challenge, size_t clen,
    const char *verifier, size_t vlen)
{
    uint8_t  digest[32];
    char     want[44];
    size_t   i;

    if (vlen < PDS_OAUTH_VERIFIER_MIN || vlen > PDS_OAUTH_VERIFIER_MAX
        || clen != 43)
    {
        return 0;
    }

    /* RFC 7636: unreserved characters only */
    for (i = 0; i < vlen; i++) {
        char c = verifier[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
              || c == '~'))
        {
            return 0;
        }
    }

    pds_sha256(verifier, vlen, digest);
    pds_base64_encode(want, digest, 32, 1, 0);

    return pds_oauth_ct_equal(want, challenge, 43);
}


/* ---- identifiers -------------------------------------------------------- */

int
pds_oauth_random_id(const char *prefix, size_t nbytes, char *dst)
{
    uint8_t  r[32];
    size_t   pl;

    pl = strlen(prefix);
    if (nbytes > sizeof(r) || pl > 4 || pds_random(r, nbytes) != 0) {
        return -1;
    }

    memcpy(dst, prefix, pl);
    pds_hex_encode(dst + pl, r, nbytes);
    dst[pl + 2 * nbytes] = '\0';

    return 0;
}


int
pds_oauth_id_ok(const char *s, size_t len, const char *prefix, size_t nbytes)
{
    size_t  pl, i;

    pl = strlen(prefix);
    if (len != pl + 2 * nbytes || memcmp(s, prefix, pl) != 0) {
        return 0;
    }

    for (i = pl; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }

    return 1;
}


/* ---- access tokens ------------------------------------------------------ */

static char *
pds_oauth_b64_dump(json_t *v, char *dst)
{
    char    *s;
    size_t   n, m;

    s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s == NULL) {
        return NULL;
    }

    n = strlen(s);
    m = pds_base64_encode(dst, (const uint8_t *) s, n, 1, 0);
    free(s);

    return dst + m;
}


char *
pds_oauth_at_mint(const pds_alloc_t *a, const uint8_t *secret,
    size_t secret_len, const pds_oauth_at_t *c)
{
    json_t   *h, *p, *cnf;
    char     *out, *e;
    uint8_t   mac[32];
    size_t    cap;

    h = json_pack("{s:s, s:s}", "typ", "at+jwt", "alg", "HS256");
    p = json_pack("{s:s, s:s, s:I, s:I, s:s}", "jti", c->jti, "sub", c->sub,
                  "iat", (json_int_t) c->iat, "exp", (json_int_t) c->exp,
                  "aud", c->aud);
    out = NULL;

    if (h == NULL || p == NULL) {
        goto done;
    }

    if (c->jkt) {
        cnf = json_pack("{s:s}", "jkt", c->jkt);
        if (cnf == NULL || json_object_set_new(p, "cnf", cnf) != 0) {
            goto done;
        }
    }

    if (json_object_set_new(p, "client_id", json_string(c->client_id)) != 0
        || json_object_set_new(p, "iss", json_string(c->iss)) != 0)
    {
        goto done;
    }

    cap = 4096;
    out = pds_alloc(a, cap);
    if (out == NULL) {
        goto done;
    }

    /* header and payload are small: well under cap once encoded */
    e = pds_oauth_b64_dump(h, out);
    if (e == NULL) {
        out = NULL;
        goto done;
    }
    *e++ = '.';
    e = pds_oauth_b64_dump(p, e);
    if (e == NULL || (size_t) (e - out) + 45 > cap) {
        out = NULL;
        goto done;
    }

    pds_hmac_sha256(secret, secret_len, out, (size_t) (e - out), mac);
    *e++ = '.';
    e += pds_base64_encode(e, mac, 32, 1, 0);
    *e = '\0';

done:

    if (h) {
        json_decref(h);
    }
    if (p) {
        json_decref(p);
    }

    return out;
}


int
pds_oauth_at_is_oauth(const char *token, size_t len)
{
    pds_oauth_jws_t   j;
    const char       *jti;
    int               yes;

    if (pds_oauth_jws_split(token, len, &j) != 0) {
        return 0;
    }

    jti = json_string_value(json_object_get(j.payload, "jti"));
    yes = jti != NULL && strncmp(jti, "tok-", 4) == 0
          && json_is_string(json_object_get(j.payload, "client_id"));

    pds_oauth_jws_free(&j);
    return yes;
}


static char *
pds_oauth_claim(const pds_alloc_t *a, json_t *o, const char *name)
{
    const char  *s;

    s = json_string_value(json_object_get(o, name));
    return s ? pds_strndup(a, s, strlen(s)) : NULL;
}


pds_oauth_at_rc_t
pds_oauth_at_verify(const pds_alloc_t *a, const char *token, size_t len,
    const uint8_t *secret, size_t secret_len, const char *iss,
    const char *aud, int64_t now, pds_oauth_at_t *out)
{
    pds_oauth_jws_t     j;
    pds_oauth_at_rc_t   rc;
    uint8_t             mac[32];
    char                want[44];
    const char         *s;
    json_t             *cnf, *v;

    memset(out, 0, sizeof(*out));

    if (pds_oauth_jws_split(token, len, &j) != 0) {
        return PDS_OAUTH_AT_MALFORMED;
    }

    rc = PDS_OAUTH_AT_SIGNATURE;

    s = json_string_value(json_object_get(j.header, "alg"));
    if (s == NULL || strcmp(s, "HS256") != 0 || j.sig_len != 43) {
        goto done;
    }

    pds_hmac_sha256(secret, secret_len, token, j.signed_len, mac);
    pds_base64_encode(want, mac, 32, 1, 0);
    if (!pds_oauth_ct_equal(want, j.sig, 43)) {
        goto done;
    }

    rc = PDS_OAUTH_AT_CLAIMS;

    s = json_string_value(json_object_get(j.header, "typ"));
    if (s == NULL || strcmp(s, "at+jwt") != 0) {
        goto done;
    }

    v = json_object_get(j.payload, "exp");
    if (!json_is_integer(v) || !json_is_integer(json_object_get(j.payload,
                                                                "iat")))
    {
        goto done;
    }

    if (json_integer_value(v) <= now) {
        rc = PDS_OAUTH_AT_EXPIRED;
        goto done;
    }

    s = json_string_value(json_object_get(j.payload, "iss"));
    if (s == NULL || strcmp(s, iss) != 0) {
        goto done;
    }

    s = json_string_value(json_object_get(j.payload, "aud"));
    if (s == NULL || strcmp(s, aud) != 0) {
        goto done;
    }

    s = json_string_value(json_object_get(j.payload, "jti"));
    cnf = json_object_get(j.payload, "cnf");
    if (s == NULL || !pds_oauth_id_ok(s, strlen(s), "tok-", 16)
        || !json_is_string(json_object_get(j.payload, "sub"))
        || !json_is_string(json_object_get(j.payload, "client_id"))
        || (cnf != NULL
            && !json_is_string(json_object_get(cnf, "jkt"))))
    {
        goto done;
    }

    rc = PDS_OAUTH_AT_NOMEM;

    out->jti = pds_oauth_claim(a, j.payload, "jti");
    out->sub = pds_oauth_claim(a, j.payload, "sub");
    out->aud = pds_oauth_claim(a, j.payload, "aud");
    out->iss = pds_oauth_claim(a, j.payload, "iss");
    out->client_id = pds_oauth_claim(a, j.payload, "client_id");
    out->jkt = cnf ? pds_oauth_claim(a, cnf, "jkt") : NULL;
    out->iat = json_integer_value(json_object_get(j.payload, "iat"));
    out->exp = json_integer_value(v);

    if (out->jti == NULL || out->sub == NULL || out->aud == NULL
        || out->iss == NULL || out->client_id == NULL
        || (cnf != NULL && out->jkt == NULL))
    {
        goto done;
    }

    rc = PDS_OAUTH_AT_OK;

done:

    pds_oauth_jws_free(&j);
    return rc;
}


/* ---- scopes ------------------------------------------------------------- */

int
pds_oauth_scope_syntax_ok(const char *s, size_t len)
{
    size_t  i;
    int     prev_sp;

    if (len == 0) {
        return 0;
    }

    prev_sp = 1;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];

        if (c == ' ') {
            if (prev_sp) {
                return 0;
            }
            prev_sp = 1;
            continue;
        }

        if (c < 0x21 || c > 0x7e || c == 0x22 || c == 0x5c) {
            return 0;
        }
        prev_sp = 0;
    }

    return !prev_sp;
}


int
pds_oauth_scope_has(const char *scope, size_t len, const char *tok)
{
    size_t       tl;
    const char  *p, *end, *sp;

    tl = strlen(tok);
    p = scope;
    end = scope + len;

    while (p < end) {
        sp = memchr(p, ' ', (size_t) (end - p));
        if (sp == NULL) {
            sp = end;
        }
        if ((size_t) (sp - p) == tl && memcmp(p, tok, tl) == 0) {
            return 1;
        }
        p = sp + 1;
    }

    return 0;
}
