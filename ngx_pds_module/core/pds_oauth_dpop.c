/*
 * ngx_pds_module core: DPoP proofs (RFC 9449) and the server's nonces.
 */

#include <string.h>

#include <jansson.h>

#include "pds_enc.h"
#include "pds_hash.h"
#include "pds_keys.h"
#include "pds_oauth.h"
#include "pds_oauth_int.h"


/* ---- JWS pieces --------------------------------------------------------- */

int
pds_oauth_jws_split(const char *tok, size_t len, pds_oauth_jws_t *j)
{
    const char  *d1, *d2;

    memset(j, 0, sizeof(*j));

    if (len == 0 || len > PDS_OAUTH_PROOF_MAX) {
        return -1;
    }

    d1 = memchr(tok, '.', len);
    if (d1 == NULL) {
        return -1;
    }

    d2 = memchr(d1 + 1, '.', len - (size_t) (d1 + 1 - tok));
    if (d2 == NULL
        || memchr(d2 + 1, '.', len - (size_t) (d2 + 1 - tok)) != NULL)
    {
        return -1;
    }

    j->signed_len = (size_t) (d2 - tok);
    j->sig = d2 + 1;
    j->sig_len = len - j->signed_len - 1;

    j->header = pds_oauth_b64_json(tok, (size_t) (d1 - tok));
    if (j->header == NULL) {
        return -1;
    }

    j->payload = pds_oauth_b64_json(d1 + 1, (size_t) (d2 - d1 - 1));
    if (j->payload == NULL) {
        pds_oauth_jws_free(j);
        return -1;
    }

    return 0;
}


void
pds_oauth_jws_free(pds_oauth_jws_t *j)
{
    if (j->header) {
        json_decref(j->header);
    }
    if (j->payload) {
        json_decref(j->payload);
    }
    j->header = NULL;
    j->payload = NULL;
}


json_t *
pds_oauth_b64_json(const char *s, size_t n)
{
    uint8_t  buf[PDS_OAUTH_PROOF_MAX];
    long     m;
    json_t  *v;

    if (n == 0 || pds_base64_dec_len(n) > sizeof(buf)
        || memchr(s, '=', n) != NULL)
    {
        return NULL;
    }

    m = pds_base64_decode(buf, s, n, 1);
    if (m <= 0) {
        return NULL;
    }

    v = json_loadb((const char *) buf, (size_t) m, JSON_REJECT_DUPLICATES,
                   NULL);
    if (v != NULL && !json_is_object(v)) {
        json_decref(v);
        return NULL;
    }

    return v;
}


/* ---- JWK ---------------------------------------------------------------- */

static int
pds_oauth_jwk_coord(json_t *jwk, const char *name, uint8_t out[32])
{
    const char  *s;
    size_t       n;

    s = json_string_value(json_object_get(jwk, name));
    if (s == NULL) {
        return -1;
    }

    n = strlen(s);
    if (n != 43 || pds_base64_decode(out, s, n, 1) != 32) {
        return -1;
    }

    return 0;
}


pds_key_t *
pds_oauth_jwk_key(json_t *jwk, const char *alg, char jkt[PDS_OAUTH_JKT_LEN + 1])
{
    const char      *kty, *crv, *x, *y;
    pds_key_type_t   type;
    uint8_t          pub[65], digest[32];
    char             canon[160];
    int              n;

    if (!json_is_object(jwk)) {
        return NULL;
    }

    kty = json_string_value(json_object_get(jwk, "kty"));
    crv = json_string_value(json_object_get(jwk, "crv"));

    if (kty == NULL || strcmp(kty, "EC") != 0 || crv == NULL) {
        return NULL;
    }

    if (strcmp(crv, "P-256") == 0) {
        type = PDS_KEY_P256;

    } else if (strcmp(crv, "secp256k1") == 0) {
        type = PDS_KEY_K256;

    } else {
        return NULL;
    }

    /* a proof's key must be public; alg, if given, must fit the curve */
    if (json_object_get(jwk, "d") != NULL
        || (alg && pds_key_type_from_jwt_alg(alg) != type))
    {
        return NULL;
    }

    pub[0] = 0x04;
    if (pds_oauth_jwk_coord(jwk, "x", pub + 1) != 0
        || pds_oauth_jwk_coord(jwk, "y", pub + 33) != 0)
    {
        return NULL;
    }

    if (jkt) {
        x = json_string_value(json_object_get(jwk, "x"));
        y = json_string_value(json_object_get(jwk, "y"));

        /* RFC 7638: the required members, sorted, no white space */
        n = snprintf(canon, sizeof(canon),
                     "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
                     crv, x, y);
        if (n < 0 || (size_t) n >= sizeof(canon)) {
            return NULL;
        }

        pds_sha256(canon, (size_t) n, digest);
        pds_base64_encode(jkt, digest, 32, 1, 0);
        jkt[PDS_OAUTH_JKT_LEN] = '\0';
    }

    return pds_key_from_public(type, pub, sizeof(pub));
}


int
pds_oauth_jwk_thumbprint(const char *jwk_json, size_t len,
    char out[PDS_OAUTH_JKT_LEN + 1])
{
    json_t     *jwk;
    pds_key_t  *key;

    jwk = json_loadb(jwk_json, len, 0, NULL);
    if (jwk == NULL) {
        return -1;
    }

    key = pds_oauth_jwk_key(jwk, NULL, out);
    json_decref(jwk);

    if (key == NULL) {
        return -1;
    }

    pds_key_free(key);
    return 0;
}


/* ---- htu ---------------------------------------------------------------- */

/* removes dot segments (RFC 3986 5.2.4) from path[0..n) in place */
static size_t
pds_oauth_remove_dots(char *p, size_t n)
{
    size_t  i, o, seg;

    o = 0;
    i = 0;

    while (i < n) {
        /* p[i] == '/' always: the path is absolute */
        seg = i + 1;
        while (seg < n && p[seg] != '/') {
            seg++;
        }

        if (seg - i == 2 && p[i + 1] == '.') {
            /* "/." */
            if (seg == n) {
                p[o++] = '/';
            }

        } else if (seg - i == 3 && p[i + 1] == '.' && p[i + 2] == '.') {
            /* "/.." pops the last segment */
            while (o > 0 && p[o - 1] != '/') {
                o--;
            }
            if (o > 0) {
                o--;
            }
            if (seg == n) {
                p[o++] = '/';
            }

        } else {
            memmove(p + o, p + i, seg - i);
            o += seg - i;
        }

        i = seg;
    }

    if (o == 0) {
        p[o++] = '/';
    }

    return o;
}


long
pds_oauth_htu_normalize(const char *url, size_t len, char *dst, size_t cap)
{
    const char  *p, *end, *auth, *auth_end, *port;
    size_t       slen, o, i, plen;
    int          https;

    end = url + len;

    for (p = url; p < end; p++) {
        if ((unsigned char) *p <= 0x20 || *p == 0x7f) {
            return -1;
        }
    }

    if (len >= 7 && strncasecmp(url, "http://", 7) == 0) {
        https = 0;
        slen = 7;

    } else if (len >= 8 && strncasecmp(url, "https://", 8) == 0) {
        https = 1;
        slen = 8;

    } else {
        return -1;
    }

    auth = url + slen;
    auth_end = auth;
    while (auth_end < end && *auth_end != '/' && *auth_end != '?'
           && *auth_end != '#')
    {
        auth_end++;
    }

    if (auth_end == auth || memchr(auth, '@', (size_t) (auth_end - auth))) {
        return -1;
    }

    /* the port: after the last ':' not inside an IPv6 literal */
    port = NULL;
    for (p = auth_end; p > auth; p--) {
        if (p[-1] == ']') {
            break;
        }
        if (p[-1] == ':') {
            port = p - 1;
            break;
        }
    }

    if (cap < slen + (size_t) (auth_end - auth) + 2) {
        return -1;
    }

    o = 0;
    memcpy(dst, https ? "https://" : "http://", slen);
    o = slen;

    for (p = auth; p < (port ? port : auth_end); p++) {
        dst[o++] = (*p >= 'A' && *p <= 'Z') ? (char) (*p + 32) : *p;
    }

    if (o == slen) {
        return -1;
    }

    if (port) {
        plen = (size_t) (auth_end - port - 1);
        for (i = 0; i < plen; i++) {
            if (port[1 + i] < '0' || port[1 + i] > '9') {
                return -1;
            }
        }
        /* leading zeros do not make another port */
        while (plen > 1 && port[1] == '0') {
            port++;
            plen--;
        }
        if (plen > 5) {
            return -1;
        }
        if (plen > 0
            && !((https && plen == 3 && memcmp(port + 1, "443", 3) == 0)
                 || (!https && plen == 2 && memcmp(port + 1, "80", 2) == 0)))
        {
            dst[o++] = ':';
            memcpy(dst + o, port + 1, plen);
            o += plen;
        }
    }

    /* the path, without query or fragment */
    p = auth_end;
    while (p < end && *p != '?' && *p != '#') {
        p++;
    }

    plen = (size_t) (p - auth_end);
    if (o + plen + 2 > cap) {
        return -1;
    }

    if (plen == 0) {
        dst[o++] = '/';

    } else {
        memcpy(dst + o, auth_end, plen);
        o += pds_oauth_remove_dots(dst + o, plen);
    }

    dst[o] = '\0';
    return (long) o;
}


/* ---- nonces ------------------------------------------------------------- */

int64_t
pds_oauth_nonce_counter(int64_t now_ms)
{
    return now_ms / PDS_OAUTH_NONCE_PERIOD;
}


void
pds_oauth_nonce_at(const uint8_t secret[32], int64_t counter,
    char out[PDS_OAUTH_NONCE_LEN + 1])
{
    uint8_t   be[8], mac[32];
    uint64_t  c;
    int       i;

    c = (uint64_t) counter;
    for (i = 7; i >= 0; i--) {
        be[i] = (uint8_t) c;
        c >>= 8;
    }

    pds_hmac_sha256(secret, 32, be, 8, mac);
    pds_base64_encode(out, mac, 32, 1, 0);
    out[PDS_OAUTH_NONCE_LEN] = '\0';
}


void
pds_oauth_nonce_next(const uint8_t secret[32], int64_t now_ms,
    char out[PDS_OAUTH_NONCE_LEN + 1])
{
    pds_oauth_nonce_at(secret, pds_oauth_nonce_counter(now_ms) + 1, out);
}


int
pds_oauth_nonce_check(const uint8_t secret[32], int64_t now_ms,
    const char *nonce, size_t len)
{
    char     cand[PDS_OAUTH_NONCE_LEN + 1];
    int64_t  c, d;

    if (len != PDS_OAUTH_NONCE_LEN) {
        return 0;
    }

    c = pds_oauth_nonce_counter(now_ms);

    for (d = -1; d <= 1; d++) {
        pds_oauth_nonce_at(secret, c + d, cand);
        if (pds_oauth_ct_equal(cand, nonce, len)) {
            return 1;
        }
    }

    return 0;
}


void
pds_oauth_nonce_secret(const uint8_t *jwt_secret, size_t len,
    uint8_t out[32])
{
    static const char  label[] = "ngx_pds_module oauth dpop nonce";

    pds_hmac_sha256(jwt_secret, len, label, sizeof(label) - 1, out);
}


/* ---- the proof ---------------------------------------------------------- */

#define PDS_OAUTH_SECONDS_MAX  100000000000LL      /* 1e11 s */


int64_t
pds_oauth_json_seconds(json_t *v)
{
    double  d = json_number_value(v);

    if (d >= (double) PDS_OAUTH_SECONDS_MAX) {
        return PDS_OAUTH_SECONDS_MAX;
    }

    if (d <= (double) -PDS_OAUTH_SECONDS_MAX) {
        return -PDS_OAUTH_SECONDS_MAX;
    }

    return (int64_t) d;
}


static pds_dpop_rc_t
pds_dpop_claims(json_t *pl, const pds_dpop_check_t *chk,
    pds_dpop_proof_t *out, const char **why)
{
    json_t      *nonce, *ath;
    const char  *jti, *htm, *htu;
    char         a[2048], b[2048];
    long         an, bn;
    uint8_t      digest[32];
    char         want[PDS_OAUTH_JKT_LEN + 1];

    nonce = json_object_get(pl, "nonce");
    if (nonce != NULL && !json_is_string(nonce)) {
        *why = "Invalid DPoP \"nonce\" type";
        return PDS_DPOP_INVALID;
    }

    jti = json_string_value(json_object_get(pl, "jti"));
    if (jti == NULL || jti[0] == '\0') {
        *why = "DPoP \"jti\" missing";
        return PDS_DPOP_INVALID;
    }

    if (strlen(jti) > PDS_OAUTH_JTI_MAX) {
        *why = "DPoP \"jti\" too long";
        return PDS_DPOP_INVALID;
    }

    htm = json_string_value(json_object_get(pl, "htm"));
    if (htm == NULL || strcmp(htm, chk->method) != 0) {
        *why = "DPoP \"htm\" mismatch";
        return PDS_DPOP_INVALID;
    }

    htu = json_string_value(json_object_get(pl, "htu"));
    if (htu == NULL || htu[0] == '\0') {
        *why = "Invalid DPoP \"htu\" type";
        return PDS_DPOP_INVALID;
    }

    an = pds_oauth_htu_normalize(htu, strlen(htu), a, sizeof(a));
    if (an < 0) {
        *why = "DPoP \"htu\" is not a valid URL";
        return PDS_DPOP_INVALID;
    }

    bn = pds_oauth_htu_normalize(chk->url, chk->url_len, b, sizeof(b));
    if (bn != an || memcmp(a, b, (size_t) an) != 0) {
        *why = "DPoP \"htu\" mismatch";
        return PDS_DPOP_INVALID;
    }

    if (chk->nonce_secret) {
        if (nonce == NULL || json_string_length(nonce) == 0) {
            *why = "Authorization server requires nonce in DPoP proof";
            return PDS_DPOP_USE_NONCE;
        }

        if (!pds_oauth_nonce_check(chk->nonce_secret, chk->now_ms,
                                   json_string_value(nonce),
                                   json_string_length(nonce)))
        {
            *why = "DPoP \"nonce\" mismatch";
            return PDS_DPOP_USE_NONCE;
        }
    }

    ath = json_object_get(pl, "ath");

    if (chk->access_token) {
        pds_sha256(chk->access_token, chk->access_token_len, digest);
        pds_base64_encode(want, digest, 32, 1, 0);
        want[PDS_OAUTH_JKT_LEN] = '\0';

        if (!json_is_string(ath) || strcmp(json_string_value(ath), want) != 0)
        {
            *why = "DPoP \"ath\" mismatch";
            return PDS_DPOP_INVALID;
        }

    } else if (ath != NULL) {
        *why = "DPoP \"ath\" claim not allowed";
        return PDS_DPOP_INVALID;
    }

    memcpy(out->jti, jti, strlen(jti) + 1);
    return PDS_DPOP_OK;
}


pds_dpop_rc_t
pds_dpop_verify(const char *proof, size_t len, const pds_dpop_check_t *chk,
    pds_dpop_proof_t *out, const char **why)
{
    pds_oauth_jws_t   j;
    pds_key_t        *key;
    pds_dpop_rc_t     rc;
    const char       *alg, *typ;
    json_t           *iat, *exp;
    uint8_t           sig[66];
    long              n;
    int64_t           now, t;

    memset(out, 0, sizeof(*out));

    if (pds_oauth_jws_split(proof, len, &j) != 0) {
        *why = "Failed to verify DPoP proof: Invalid Compact JWS";
        return PDS_DPOP_INVALID;
    }

    rc = PDS_DPOP_INVALID;
    key = NULL;

    alg = json_string_value(json_object_get(j.header, "alg"));
    if (alg == NULL || pds_key_type_from_jwt_alg(alg) == 0) {
        *why = "Failed to verify DPoP proof: Unsupported \"alg\" value";
        goto done;
    }

    key = pds_oauth_jwk_key(json_object_get(j.header, "jwk"), alg, out->jkt);
    if (key == NULL) {
        *why = "Failed to verify DPoP proof: Invalid \"jwk\" header";
        goto done;
    }

    /* JWS ES256 / ES256K: exactly the 64-byte r || s */
    if (j.sig_len != 86) {
        *why = "Failed to verify DPoP proof: signature verification failed";
        goto done;
    }

    n = pds_base64_decode(sig, j.sig, j.sig_len, 1);
    if (n != 64
        || !pds_key_verify(key, (const uint8_t *) proof, j.signed_len, sig,
                           64, PDS_SIG_LENIENT))
    {
        *why = "Failed to verify DPoP proof: signature verification failed";
        goto done;
    }

    typ = json_string_value(json_object_get(j.header, "typ"));
    if (typ == NULL || strcmp(typ, "dpop+jwt") != 0) {
        *why = "Failed to verify DPoP proof: unexpected \"typ\" JWT header "
               "value";
        goto done;
    }

    now = chk->now_ms / 1000;

    iat = json_object_get(j.payload, "iat");
    if (!json_is_number(iat)) {
        *why = "Failed to verify DPoP proof: \"iat\" claim must be a number";
        goto done;
    }

    t = pds_oauth_json_seconds(iat);
    if (now - t - PDS_OAUTH_DPOP_TOLERANCE > PDS_OAUTH_DPOP_MAX_AGE) {
        *why = "Failed to verify DPoP proof: \"iat\" claim timestamp check "
               "failed (too far in the past)";
        goto done;
    }

    if (t - PDS_OAUTH_DPOP_TOLERANCE > now) {
        *why = "Failed to verify DPoP proof: \"iat\" claim timestamp check "
               "failed (it should be in the past)";
        goto done;
    }

    exp = json_object_get(j.payload, "exp");
    if (exp != NULL
        && (!json_is_number(exp)
            || now - PDS_OAUTH_DPOP_TOLERANCE
               >= pds_oauth_json_seconds(exp)))
    {
        *why = "Failed to verify DPoP proof: \"exp\" claim timestamp check "
               "failed";
        goto done;
    }

    out->iat = t;
    rc = pds_dpop_claims(j.payload, chk, out, why);

done:

    if (key) {
        pds_key_free(key);
    }
    pds_oauth_jws_free(&j);

    return rc;
}
