/*
 * ngx_pds_module core: HS256 session JWTs and ES256K / ES256 service JWTs.
 */

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "pds_enc.h"
#include "pds_hash.h"
#include "pds_jwt.h"


#define PDS_JWT_MAX_LEN     8192


typedef struct {
    const char  *header;
    size_t       header_len;
    const char  *payload;
    size_t       payload_len;
    const char  *sig;
    size_t       sig_len;
    size_t       signed_len;        /* "header.payload" */
} pds_jwt_parts_t;


const char *
pds_jwt_strerror(pds_jwt_err_t err)
{
    switch (err) {
    case PDS_JWT_OK:
        return "ok";
    case PDS_JWT_ERR_MALFORMED:
        return "poorly formatted jwt";
    case PDS_JWT_ERR_ALG:
        return "unexpected jwt alg";
    case PDS_JWT_ERR_TYPE:
        return "invalid jwt type";
    case PDS_JWT_ERR_SIGNATURE:
        return "jwt signature does not verify";
    case PDS_JWT_ERR_EXPIRED:
        return "jwt expired";
    case PDS_JWT_ERR_AUDIENCE:
        return "jwt audience does not match service did";
    case PDS_JWT_ERR_LXM:
        return "bad or missing jwt lexicon method (\"lxm\")";
    case PDS_JWT_ERR_ISS:
        return "jwt iss is not a valid did";
    case PDS_JWT_ERR_CLAIMS:
        return "bad token claims";
    case PDS_JWT_ERR_NOMEM:
        return "out of memory";
    }

    return "unknown jwt error";
}


const char *
pds_jwt_service_error_name(pds_jwt_err_t err)
{
    switch (err) {
    case PDS_JWT_ERR_TYPE:
        return "BadJwtType";
    case PDS_JWT_ERR_EXPIRED:
        return "JwtExpired";
    case PDS_JWT_ERR_AUDIENCE:
        return "BadJwtAudience";
    case PDS_JWT_ERR_LXM:
        return "BadJwtLexiconMethod";
    case PDS_JWT_ERR_ISS:
        return "BadJwtIss";
    case PDS_JWT_ERR_SIGNATURE:
    case PDS_JWT_ERR_ALG:
        return "BadJwtSignature";
    default:
        return "BadJwt";
    }
}


static int
pds_jwt_split(const char *token, size_t len, pds_jwt_parts_t *p)
{
    size_t  i, dot1, dot2, ndots;

    if (len == 0 || len > PDS_JWT_MAX_LEN) {
        return -1;
    }

    ndots = 0;
    dot1 = dot2 = 0;

    for (i = 0; i < len; i++) {
        if (token[i] == '.') {
            if (ndots == 0) {
                dot1 = i;
            } else {
                dot2 = i;
            }
            ndots++;
            continue;
        }

        /* base64url alphabet only, no padding */
        if (!((token[i] >= 'A' && token[i] <= 'Z')
              || (token[i] >= 'a' && token[i] <= 'z')
              || (token[i] >= '0' && token[i] <= '9')
              || token[i] == '-' || token[i] == '_'))
        {
            return -1;
        }
    }

    if (ndots != 2 || dot1 == 0 || dot2 == dot1 + 1 || dot2 + 1 == len) {
        return -1;
    }

    p->header = token;
    p->header_len = dot1;
    p->payload = token + dot1 + 1;
    p->payload_len = dot2 - dot1 - 1;
    p->sig = token + dot2 + 1;
    p->sig_len = len - dot2 - 1;
    p->signed_len = dot2;

    return 0;
}


/* base64url-decodes a part and parses it as a JSON object */
static json_t *
pds_jwt_part_json(const char *s, size_t len)
{
    long     n;
    json_t  *j;
    uint8_t *buf;

    buf = malloc(pds_base64_dec_len(len) + 1);
    if (buf == NULL) {
        return NULL;
    }

    n = pds_base64_decode(buf, s, len, 1);
    if (n < 0) {
        free(buf);
        return NULL;
    }

    j = json_loadb((const char *) buf, (size_t) n, JSON_REJECT_DUPLICATES,
                   NULL);
    free(buf);

    if (j != NULL && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }

    return j;
}


/* appends base64url(JSON text of obj) to b */
static int
pds_jwt_append_json(pds_buf_t *b, json_t *obj)
{
    int     rc;
    char   *text;
    size_t  n;

    text = json_dumps(obj, JSON_COMPACT);
    if (text == NULL) {
        return -1;
    }

    n = strlen(text);

    rc = pds_buf_reserve(b, pds_base64_len(n) + 1);
    if (rc == 0) {
        b->len += pds_base64_encode((char *) b->data + b->len,
                                    (const uint8_t *) text, n, 1, 0);
    }

    free(text);

    return rc;
}


static int
pds_jwt_append_b64url(pds_buf_t *b, const uint8_t *p, size_t n)
{
    if (pds_buf_reserve(b, pds_base64_len(n) + 1) != 0) {
        return -1;
    }

    b->len += pds_base64_encode((char *) b->data + b->len, p, n, 1, 0);

    return 0;
}


/* "header.payload" into b, from two JSON objects */
static int
pds_jwt_signing_input(pds_buf_t *b, json_t *header, json_t *payload)
{
    if (pds_jwt_append_json(b, header) != 0
        || pds_buf_putc(b, '.') != 0
        || pds_jwt_append_json(b, payload) != 0)
    {
        return -1;
    }

    return 0;
}


/* finishes the token: ".sig" and a NUL; returns b's data */
static char *
pds_jwt_finish(pds_buf_t *b, const uint8_t *sig, size_t sig_len)
{
    if (pds_buf_putc(b, '.') != 0
        || pds_jwt_append_b64url(b, sig, sig_len) != 0
        || pds_buf_putc(b, '\0') != 0)
    {
        return NULL;
    }

    return (char *) b->data;
}


static int
pds_hs256(const uint8_t *secret, size_t secret_len, const void *data,
    size_t len, uint8_t mac[32])
{
    pds_hmac_sha256(secret, secret_len, data, len, mac);

    return 0;
}


int
pds_jwt_refresh_id(char out[PDS_JWT_REFRESH_ID_LEN + 1])
{
    uint8_t  rnd[32];

    if (pds_random(rnd, sizeof(rnd)) != 0) {
        return -1;
    }

    out[pds_base64_encode(out, rnd, sizeof(rnd), 0, 0)] = '\0';

    return 0;
}


static int
pds_json_set_str(json_t *obj, const char *key, const char *value)
{
    json_t  *v;

    v = json_string(value);
    if (v == NULL) {
        return -1;
    }

    return json_object_set_new(obj, key, v);
}


static int
pds_json_set_int(json_t *obj, const char *key, int64_t value)
{
    return json_object_set_new(obj, key, json_integer((json_int_t) value));
}


char *
pds_jwt_session_mint(const pds_alloc_t *a, pds_jwt_kind_t kind,
    const uint8_t *secret, size_t secret_len, const char *scope,
    const char *aud, const char *sub, const char *jti, int64_t iat,
    int64_t exp)
{
    char        id[PDS_JWT_REFRESH_ID_LEN + 1], *token;
    json_t     *header, *payload;
    uint8_t     mac[32];
    pds_buf_t   b;

    token = NULL;
    pds_buf_init(&b, a);

    header = json_object();
    payload = json_object();
    if (header == NULL || payload == NULL) {
        goto done;
    }

    if (kind == PDS_JWT_REFRESH) {
        if (jti == NULL) {
            if (pds_jwt_refresh_id(id) != 0) {
                goto done;
            }
            jti = id;
        }
        scope = PDS_JWT_SCOPE_REFRESH;
    }

    if (scope == NULL || aud == NULL || sub == NULL) {
        goto done;
    }

    /* the order jose's SignJWT produces */
    if (pds_json_set_str(header, "typ", kind == PDS_JWT_REFRESH
                                        ? "refresh+jwt" : "at+jwt") != 0
        || pds_json_set_str(header, "alg", "HS256") != 0
        || pds_json_set_str(payload, "scope", scope) != 0
        || pds_json_set_str(payload, "aud", aud) != 0
        || pds_json_set_str(payload, "sub", sub) != 0
        || (kind == PDS_JWT_REFRESH
            && pds_json_set_str(payload, "jti", jti) != 0)
        || pds_json_set_int(payload, "iat", iat) != 0
        || pds_json_set_int(payload, "exp", exp) != 0)
    {
        goto done;
    }

    if (pds_jwt_signing_input(&b, header, payload) != 0
        || pds_hs256(secret, secret_len, b.data, b.len, mac) != 0)
    {
        goto done;
    }

    token = pds_jwt_finish(&b, mac, sizeof(mac));

done:

    if (token == NULL) {
        pds_buf_free(&b);
    }

    json_decref(header);
    json_decref(payload);

    return token;
}


static int
pds_jwt_dup(const pds_alloc_t *a, json_t *obj, const char *key, char **out)
{
    const char  *s;

    s = json_string_value(json_object_get(obj, key));
    if (s == NULL) {
        *out = NULL;
        return 0;
    }

    *out = pds_strndup(a, s, strlen(s));

    return *out ? 0 : -1;
}


/* number claims may be integer or real (NumericDate) */
static int
pds_jwt_num(json_t *obj, const char *key, int64_t *out, int required)
{
    json_t  *v;

    v = json_object_get(obj, key);
    if (v == NULL) {
        *out = 0;
        return required ? -1 : 0;
    }

    if (json_is_integer(v)) {
        *out = (int64_t) json_integer_value(v);
        return 0;
    }

    if (json_is_real(v)) {
        *out = (int64_t) json_real_value(v);
        return 0;
    }

    return -1;
}


/* "did:<method>:<id>" per the atproto DID syntax (without fragment) */
static int
pds_jwt_is_did(const char *s, size_t len)
{
    size_t  i;

    if (len < 7 || len > 2048 || memcmp(s, "did:", 4) != 0) {
        return 0;
    }

    for (i = 4; i < len && s[i] >= 'a' && s[i] <= 'z'; i++) {
        /* method */
    }

    if (i == 4 || i >= len - 1 || s[i] != ':') {
        return 0;
    }

    for (i++; i < len; i++) {
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z')
              || (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_'
              || s[i] == ':' || s[i] == '%' || s[i] == '-'))
        {
            return 0;
        }
    }

    return s[len - 1] != ':' && s[len - 1] != '%';
}


static int
pds_jwt_aud_matches(json_t *aud, const char *want)
{
    size_t   i;
    json_t  *v;

    if (json_is_string(aud)) {
        return strcmp(json_string_value(aud), want) == 0;
    }

    if (json_is_array(aud)) {
        json_array_foreach(aud, i, v) {
            if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
            {
                return 1;
            }
        }
    }

    return 0;
}


pds_jwt_err_t
pds_jwt_session_verify(const pds_alloc_t *a, const char *token, size_t len,
    pds_jwt_kind_t kind, const uint8_t *secret, size_t secret_len,
    const char *aud, int64_t now, pds_jwt_session_t *out)
{
    long              n;
    json_t           *header, *payload, *aud_v;
    uint8_t           mac[32], sig[64];
    const char       *typ, *alg, *scope, *sub;
    pds_jwt_err_t     rc;
    pds_jwt_parts_t   p;

    memset(out, 0, sizeof(pds_jwt_session_t));

    if (pds_jwt_split(token, len, &p) != 0) {
        return PDS_JWT_ERR_MALFORMED;
    }

    payload = NULL;
    header = pds_jwt_part_json(p.header, p.header_len);
    if (header == NULL) {
        return PDS_JWT_ERR_MALFORMED;
    }

    alg = json_string_value(json_object_get(header, "alg"));
    typ = json_string_value(json_object_get(header, "typ"));

    if (alg == NULL || strcmp(alg, "HS256") != 0) {
        rc = PDS_JWT_ERR_ALG;
        goto done;
    }

    if (json_object_get(header, "crit") != NULL) {
        rc = PDS_JWT_ERR_MALFORMED;
        goto done;
    }

    /* signature first: nothing else in a forged token is trusted */
    n = (p.sig_len <= pds_base64_len(32))
        ? pds_base64_decode(sig, p.sig, p.sig_len, 1) : -1;

    if (pds_hs256(secret, secret_len, token, p.signed_len, mac) != 0) {
        rc = PDS_JWT_ERR_NOMEM;
        goto done;
    }

    if (n != 32 || CRYPTO_memcmp(mac, sig, 32) != 0) {
        rc = PDS_JWT_ERR_SIGNATURE;
        goto done;
    }

    payload = pds_jwt_part_json(p.payload, p.payload_len);
    if (payload == NULL) {
        rc = PDS_JWT_ERR_MALFORMED;
        goto done;
    }

    if (typ == NULL
        || strcmp(typ, kind == PDS_JWT_REFRESH ? "refresh+jwt" : "at+jwt")
           != 0)
    {
        rc = PDS_JWT_ERR_TYPE;
        goto done;
    }

    if (pds_jwt_num(payload, "exp", &out->exp, 1) != 0
        || pds_jwt_num(payload, "iat", &out->iat, 0) != 0)
    {
        rc = PDS_JWT_ERR_MALFORMED;
        goto done;
    }

    aud_v = json_object_get(payload, "aud");
    if (aud == NULL || !pds_jwt_aud_matches(aud_v, aud)) {
        rc = PDS_JWT_ERR_AUDIENCE;
        goto done;
    }

    /* jose: expired when exp <= now */
    if (out->exp <= now) {
        rc = PDS_JWT_ERR_EXPIRED;
        goto done;
    }

    scope = json_string_value(json_object_get(payload, "scope"));
    sub = json_string_value(json_object_get(payload, "sub"));

    if (json_object_get(payload, "lxm") != NULL
        || json_object_get(payload, "cnf") != NULL
        || scope == NULL || sub == NULL || strncmp(sub, "did:", 4) != 0
        || strncmp(aud, "did:", 4) != 0)
    {
        rc = PDS_JWT_ERR_CLAIMS;
        goto done;
    }

    if (kind == PDS_JWT_REFRESH) {
        if (strcmp(scope, PDS_JWT_SCOPE_REFRESH) != 0
            || !json_is_string(json_object_get(payload, "jti")))
        {
            rc = PDS_JWT_ERR_CLAIMS;
            goto done;
        }

    } else if (strcmp(scope, PDS_JWT_SCOPE_REFRESH) == 0) {
        rc = PDS_JWT_ERR_CLAIMS;
        goto done;
    }

    out->kind = kind;

    if (pds_jwt_dup(a, payload, "scope", &out->scope) != 0
        || pds_jwt_dup(a, payload, "sub", &out->sub) != 0
        || (out->aud = pds_strndup(a, aud, strlen(aud))) == NULL
        || (kind == PDS_JWT_REFRESH
            && pds_jwt_dup(a, payload, "jti", &out->jti) != 0))
    {
        rc = PDS_JWT_ERR_NOMEM;
        goto done;
    }

    rc = PDS_JWT_OK;

done:

    json_decref(header);
    json_decref(payload);

    return rc;
}


char *
pds_jwt_service_mint(const pds_alloc_t *a, const pds_key_t *key,
    const char *iss, const char *aud, const char *lxm, int64_t iat,
    int64_t exp)
{
    char       *token, jti[PDS_JWT_SERVICE_JTI_LEN + 1];
    json_t     *header, *payload;
    uint8_t     rnd[16], sig[PDS_SIG_LEN];
    pds_buf_t   b;

    token = NULL;
    pds_buf_init(&b, a);

    header = json_object();
    payload = json_object();
    if (header == NULL || payload == NULL || iss == NULL || aud == NULL) {
        goto done;
    }

    if (pds_random(rnd, sizeof(rnd)) != 0) {
        goto done;
    }

    jti[pds_hex_encode(jti, rnd, sizeof(rnd))] = '\0';

    if (pds_json_set_str(header, "typ", "JWT") != 0
        || pds_json_set_str(header, "alg", pds_key_jwt_alg(key)) != 0
        || pds_json_set_int(payload, "iat", iat) != 0
        || pds_json_set_str(payload, "iss", iss) != 0
        || pds_json_set_str(payload, "aud", aud) != 0
        || pds_json_set_int(payload, "exp", exp) != 0
        || (lxm != NULL && pds_json_set_str(payload, "lxm", lxm) != 0)
        || pds_json_set_str(payload, "jti", jti) != 0)
    {
        goto done;
    }

    if (pds_jwt_signing_input(&b, header, payload) != 0
        || pds_key_sign(key, b.data, b.len, sig) != 0)
    {
        goto done;
    }

    token = pds_jwt_finish(&b, sig, sizeof(sig));

done:

    if (token == NULL) {
        pds_buf_free(&b);
    }

    json_decref(header);
    json_decref(payload);

    return token;
}


pds_jwt_err_t
pds_jwt_service_decode(const pds_alloc_t *a, const char *token, size_t len,
    const char *aud, const char *lxm, int64_t now, pds_jwt_service_t *out)
{
    json_t           *header, *payload, *v;
    const char       *typ, *s, *hash;
    pds_jwt_err_t     rc;
    pds_jwt_parts_t   p;

    memset(out, 0, sizeof(pds_jwt_service_t));

    if (pds_jwt_split(token, len, &p) != 0) {
        return PDS_JWT_ERR_MALFORMED;
    }

    payload = NULL;
    header = pds_jwt_part_json(p.header, p.header_len);
    if (header == NULL
        || !json_is_string(json_object_get(header, "alg")))
    {
        rc = PDS_JWT_ERR_MALFORMED;
        goto done;
    }

    typ = json_string_value(json_object_get(header, "typ"));
    if (typ != NULL
        && (strcmp(typ, "at+jwt") == 0 || strcmp(typ, "refresh+jwt") == 0
            || strcmp(typ, "dpop+jwt") == 0))
    {
        rc = PDS_JWT_ERR_TYPE;
        goto done;
    }

    payload = pds_jwt_part_json(p.payload, p.payload_len);
    if (payload == NULL
        || !json_is_string(json_object_get(payload, "iss"))
        || !json_is_string(json_object_get(payload, "aud"))
        || !json_is_number(json_object_get(payload, "exp"))
        || pds_jwt_num(payload, "exp", &out->exp, 1) != 0
        || pds_jwt_num(payload, "iat", &out->iat, 0) != 0)
    {
        rc = PDS_JWT_ERR_MALFORMED;
        goto done;
    }

    v = json_object_get(payload, "lxm");
    if (v != NULL && !json_is_null(v) && !json_is_string(v)) {
        rc = PDS_JWT_ERR_MALFORMED;
        goto done;
    }

    v = json_object_get(payload, "nonce");
    if (v != NULL && !json_is_null(v) && !json_is_string(v)) {
        rc = PDS_JWT_ERR_MALFORMED;
        goto done;
    }

    if (now > out->exp) {
        rc = PDS_JWT_ERR_EXPIRED;
        goto done;
    }

    s = json_string_value(json_object_get(payload, "aud"));
    if (aud != NULL && strcmp(s, aud) != 0) {
        rc = PDS_JWT_ERR_AUDIENCE;
        goto done;
    }

    s = json_string_value(json_object_get(payload, "lxm"));
    if (lxm != NULL && (s == NULL || strcmp(s, lxm) != 0)) {
        rc = PDS_JWT_ERR_LXM;
        goto done;
    }

    s = json_string_value(json_object_get(payload, "iss"));
    hash = strchr(s, '#');
    if (hash == NULL ? !pds_jwt_is_did(s, strlen(s))
                     : (hash[1] == '\0' || strchr(hash + 1, '#') != NULL
                        || !pds_jwt_is_did(s, (size_t) (hash - s))))
    {
        rc = PDS_JWT_ERR_ISS;
        goto done;
    }

    if (pds_jwt_dup(a, header, "alg", &out->alg) != 0
        || pds_jwt_dup(a, payload, "iss", &out->iss) != 0
        || pds_jwt_dup(a, payload, "aud", &out->aud) != 0
        || pds_jwt_dup(a, payload, "lxm", &out->lxm) != 0
        || pds_jwt_dup(a, payload, "jti", &out->jti) != 0)
    {
        rc = PDS_JWT_ERR_NOMEM;
        goto done;
    }

    rc = PDS_JWT_OK;

done:

    json_decref(header);
    json_decref(payload);

    return rc;
}


pds_jwt_err_t
pds_jwt_service_verify_sig_key(const char *token, size_t len,
    const pds_key_t *key)
{
    long              n;
    json_t           *header;
    uint8_t           sig[96];
    const char       *alg;
    pds_jwt_parts_t   p;

    if (pds_jwt_split(token, len, &p) != 0) {
        return PDS_JWT_ERR_MALFORMED;
    }

    header = pds_jwt_part_json(p.header, p.header_len);
    if (header == NULL) {
        return PDS_JWT_ERR_MALFORMED;
    }

    alg = json_string_value(json_object_get(header, "alg"));
    if (alg == NULL || strcmp(alg, pds_key_jwt_alg(key)) != 0) {
        json_decref(header);
        return PDS_JWT_ERR_ALG;
    }

    json_decref(header);

    if (p.sig_len > pds_base64_len(72)) {
        return PDS_JWT_ERR_SIGNATURE;
    }

    n = pds_base64_decode(sig, p.sig, p.sig_len, 1);
    if (n <= 0) {
        return PDS_JWT_ERR_SIGNATURE;
    }

    if (!pds_key_verify(key, (const uint8_t *) token, p.signed_len, sig,
                        (size_t) n, PDS_SIG_LENIENT))
    {
        return PDS_JWT_ERR_SIGNATURE;
    }

    return PDS_JWT_OK;
}


pds_jwt_err_t
pds_jwt_service_verify_sig(const char *token, size_t len,
    const char *did_key)
{
    pds_key_t      *key;
    pds_jwt_err_t   rc;

    key = pds_key_from_did_key(did_key, strlen(did_key));
    if (key == NULL) {
        return PDS_JWT_ERR_SIGNATURE;
    }

    rc = pds_jwt_service_verify_sig_key(token, len, key);
    pds_key_free(key);

    return rc;
}


pds_jwt_err_t
pds_jwt_service_verify(const pds_alloc_t *a, const char *token, size_t len,
    const char *did_key, const char *aud, const char *lxm, int64_t now,
    pds_jwt_service_t *out)
{
    pds_jwt_err_t  rc;

    rc = pds_jwt_service_decode(a, token, len, aud, lxm, now, out);
    if (rc != PDS_JWT_OK) {
        return rc;
    }

    return pds_jwt_service_verify_sig(token, len, did_key);
}
