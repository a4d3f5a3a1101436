/*
 * Unit tests: pds_jwt (HS256 session tokens, ES256K / ES256 service tokens).
 */

#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "pds_enc.h"
#include "pds_jwt.h"
#include "pds_keys.h"
#include "pds_mem.h"
#include "tap.h"


static const char  *PDS_DID = "did:web:pds.example.com";
static const char  *USER_DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";
static const uint8_t  SECRET[] = "test-jwt-secret-not-for-production";
#define SECRET_LEN  (sizeof(SECRET) - 1)

static pds_alloc_t  A;


static const char *
str(const char *s)
{
    return s;
}


/* decodes token part idx (0 header, 1 payload) into buf as text */
static const char *
part(const char *token, int idx, char *buf, size_t size)
{
    long         n;
    const char  *s, *e;

    s = token;
    while (idx-- > 0) {
        s = strchr(s, '.') + 1;
    }
    e = strchr(s, '.');
    if (e == NULL || (size_t) (e - s) >= size) {
        return "";
    }

    n = pds_base64_decode((uint8_t *) buf, s, (size_t) (e - s), 1);
    buf[n < 0 ? 0 : n] = '\0';

    return buf;
}


/* builds "b64url(h).b64url(p)" into out */
static size_t
signing_input(char *out, const char *h, const char *p)
{
    size_t  n;

    n = pds_base64_encode(out, (const uint8_t *) h, strlen(h), 1, 0);
    out[n++] = '.';
    n += pds_base64_encode(out + n, (const uint8_t *) p, strlen(p), 1, 0);
    out[n] = '\0';

    return n;
}


/* crafts an HS256-signed token from raw header and payload text */
static char *
craft_hs(char *out, const char *h, const char *p, const uint8_t *secret,
    size_t secret_len)
{
    size_t        n;
    uint8_t       mac[32];
    unsigned int  mac_len;

    n = signing_input(out, h, p);
    HMAC(EVP_sha256(), secret, (int) secret_len, (const uint8_t *) out, n,
         mac, &mac_len);
    out[n++] = '.';
    n += pds_base64_encode(out + n, mac, mac_len, 1, 0);
    out[n] = '\0';

    return out;
}


/* crafts an ECDSA-signed token (compact signature, given s form) */
static char *
craft_es(char *out, const char *h, const char *p, const pds_key_t *key)
{
    size_t   n;
    uint8_t  sig[64];

    n = signing_input(out, h, p);
    pds_key_sign(key, (const uint8_t *) out, n, sig);
    out[n++] = '.';
    n += pds_base64_encode(out + n, sig, 64, 1, 0);
    out[n] = '\0';

    return out;
}


static void
test_session(void)
{
    char                buf[2048], want[512], tok[2048], *t, *r;
    char                id[PDS_JWT_REFRESH_ID_LEN + 1];
    long                n;
    size_t              len, dot;
    uint8_t             raw[64], mac[32];
    unsigned int        mac_len;
    int64_t             iat, exp;
    pds_jwt_err_t       rc;
    pds_jwt_session_t   s;

    iat = 1700000000;
    exp = iat + PDS_JWT_ACCESS_TTL;

    t = pds_jwt_session_mint(&A, PDS_JWT_ACCESS, SECRET, SECRET_LEN,
                             PDS_JWT_SCOPE_ACCESS, PDS_DID, USER_DID, NULL,
                             iat, exp);
    if (!ok(t != NULL, "mint access token")) {
        return;
    }

    is_str(part(t, 0, buf, sizeof(buf)),
           "{\"typ\":\"at+jwt\",\"alg\":\"HS256\"}", "access header");
    snprintf(want, sizeof(want),
             "{\"scope\":\"%s\",\"aud\":\"%s\",\"sub\":\"%s\","
             "\"iat\":%lld,\"exp\":%lld}", PDS_JWT_SCOPE_ACCESS, PDS_DID,
             USER_DID, (long long) iat, (long long) (iat + 7200));
    is_str(part(t, 1, buf, sizeof(buf)), want,
           "access payload: jose claim order, no jti, exp = iat + 2h");
    ok(strchr(t, '=') == NULL, "no base64 padding");

    /* independent HMAC check */
    len = strlen(t);
    dot = (size_t) (strrchr(t, '.') - t);
    HMAC(EVP_sha256(), SECRET, (int) SECRET_LEN, (const uint8_t *) t, dot,
         mac, &mac_len);
    n = pds_base64_decode(raw, t + dot + 1, len - dot - 1, 1);
    ok(n == 32 && memcmp(raw, mac, 32) == 0, "HS256 signature is HMAC-SHA256");

    rc = pds_jwt_session_verify(&A, t, len, PDS_JWT_ACCESS, SECRET,
                                SECRET_LEN, PDS_DID, iat + 10, &s);
    is_int(rc, PDS_JWT_OK, "verify access token");
    is_str(s.scope, PDS_JWT_SCOPE_ACCESS, "claims: scope");
    is_str(s.sub, USER_DID, "claims: sub");
    is_str(s.aud, PDS_DID, "claims: aud");
    ok(s.jti == NULL, "claims: no jti");
    is_int(s.iat, iat, "claims: iat");
    is_int(s.exp, exp, "claims: exp");
    is_int(s.kind, PDS_JWT_ACCESS, "claims: kind");

    is_int(pds_jwt_session_verify(&A, t, len, PDS_JWT_ACCESS, SECRET,
                                  SECRET_LEN, PDS_DID, exp - 1, &s),
           PDS_JWT_OK, "valid one second before exp");
    is_int(pds_jwt_session_verify(&A, t, len, PDS_JWT_ACCESS, SECRET,
                                  SECRET_LEN, PDS_DID, exp, &s),
           PDS_JWT_ERR_EXPIRED, "expired at exp");
    is_int(pds_jwt_session_verify(&A, t, len, PDS_JWT_ACCESS,
                                  (const uint8_t *) "other", 5, PDS_DID,
                                  iat, &s),
           PDS_JWT_ERR_SIGNATURE, "wrong secret");
    is_int(pds_jwt_session_verify(&A, t, len, PDS_JWT_ACCESS,
                                  (const uint8_t *) "other", 5, PDS_DID,
                                  exp + 100, &s),
           PDS_JWT_ERR_SIGNATURE, "forged and expired reports signature");
    is_int(pds_jwt_session_verify(&A, t, len, PDS_JWT_ACCESS, SECRET,
                                  SECRET_LEN, "did:web:other.example", iat,
                                  &s),
           PDS_JWT_ERR_AUDIENCE, "wrong audience");
    is_int(pds_jwt_session_verify(&A, t, len, PDS_JWT_REFRESH, SECRET,
                                  SECRET_LEN, PDS_DID, iat, &s),
           PDS_JWT_ERR_TYPE, "access token is not a refresh token");
    is_int(pds_jwt_session_verify(&A, t, len - 1, PDS_JWT_ACCESS, SECRET,
                                  SECRET_LEN, PDS_DID, iat, &s),
           PDS_JWT_ERR_SIGNATURE, "truncated signature");

    /* flip one payload character */
    strcpy(tok, t);
    tok[strchr(tok, '.') - tok + 5] ^= 1;
    is_int(pds_jwt_session_verify(&A, tok, len, PDS_JWT_ACCESS, SECRET,
                                  SECRET_LEN, PDS_DID, iat, &s),
           PDS_JWT_ERR_SIGNATURE, "tampered payload");

    is_int(pds_jwt_session_verify(&A, "abc", 3, PDS_JWT_ACCESS, SECRET,
                                  SECRET_LEN, PDS_DID, iat, &s),
           PDS_JWT_ERR_MALFORMED, "not a jwt");
    is_int(pds_jwt_session_verify(&A, "a.b.c.d", 7, PDS_JWT_ACCESS, SECRET,
                                  SECRET_LEN, PDS_DID, iat, &s),
           PDS_JWT_ERR_MALFORMED, "four parts");

    /* crafted tokens, correctly signed */
    snprintf(want, sizeof(want),
             "{\"scope\":\"com.atproto.access\",\"aud\":\"%s\",\"sub\":\"%s\","
             "\"iat\":%lld,\"exp\":%lld,\"lxm\":\"com.atproto.repo.x\"}",
             PDS_DID, USER_DID, (long long) iat, (long long) exp);
    craft_hs(tok, "{\"typ\":\"at+jwt\",\"alg\":\"HS256\"}", want, SECRET,
             SECRET_LEN);
    is_int(pds_jwt_session_verify(&A, tok, strlen(tok), PDS_JWT_ACCESS,
                                  SECRET, SECRET_LEN, PDS_DID, iat, &s),
           PDS_JWT_ERR_CLAIMS, "lxm claim refused");

    snprintf(want, sizeof(want),
             "{\"scope\":\"com.atproto.access\",\"aud\":\"%s\",\"sub\":\"%s\","
             "\"iat\":%lld,\"exp\":%lld,\"cnf\":{\"jkt\":\"x\"}}",
             PDS_DID, USER_DID, (long long) iat, (long long) exp);
    craft_hs(tok, "{\"typ\":\"at+jwt\",\"alg\":\"HS256\"}", want, SECRET,
             SECRET_LEN);
    is_int(pds_jwt_session_verify(&A, tok, strlen(tok), PDS_JWT_ACCESS,
                                  SECRET, SECRET_LEN, PDS_DID, iat, &s),
           PDS_JWT_ERR_CLAIMS, "cnf claim refused");

    snprintf(want, sizeof(want),
             "{\"scope\":\"com.atproto.access\",\"aud\":\"%s\",\"sub\":\"%s\","
             "\"iat\":%lld,\"exp\":%lld}",
             PDS_DID, USER_DID, (long long) iat, (long long) exp);
    craft_hs(tok, "{\"typ\":\"at+jwt\",\"alg\":\"HS384\"}", want, SECRET,
             SECRET_LEN);
    is_int(pds_jwt_session_verify(&A, tok, strlen(tok), PDS_JWT_ACCESS,
                                  SECRET, SECRET_LEN, PDS_DID, iat, &s),
           PDS_JWT_ERR_ALG, "alg HS384 refused");
    craft_hs(tok, "{\"typ\":\"JWT\",\"alg\":\"HS256\"}", want, SECRET,
             SECRET_LEN);
    is_int(pds_jwt_session_verify(&A, tok, strlen(tok), PDS_JWT_ACCESS,
                                  SECRET, SECRET_LEN, PDS_DID, iat, &s),
           PDS_JWT_ERR_TYPE, "typ JWT refused for access");
    craft_hs(tok, "{\"alg\":\"HS256\"}", want, SECRET, SECRET_LEN);
    is_int(pds_jwt_session_verify(&A, tok, strlen(tok), PDS_JWT_ACCESS,
                                  SECRET, SECRET_LEN, PDS_DID, iat, &s),
           PDS_JWT_ERR_TYPE, "missing typ refused");
    craft_hs(tok, "{\"typ\":\"at+jwt\",\"alg\":\"none\"}", want, SECRET,
             SECRET_LEN);
    is_int(pds_jwt_session_verify(&A, tok, strlen(tok), PDS_JWT_ACCESS,
                                  SECRET, SECRET_LEN, PDS_DID, iat, &s),
           PDS_JWT_ERR_ALG, "alg none refused");

    snprintf(want, sizeof(want),
             "{\"scope\":\"com.atproto.access\",\"aud\":[\"did:web:x\",\"%s\"],"
             "\"sub\":\"%s\",\"exp\":%lld}", PDS_DID, USER_DID,
             (long long) exp);
    craft_hs(tok, "{\"typ\":\"at+jwt\",\"alg\":\"HS256\"}", want, SECRET,
             SECRET_LEN);
    is_int(pds_jwt_session_verify(&A, tok, strlen(tok), PDS_JWT_ACCESS,
                                  SECRET, SECRET_LEN, PDS_DID, iat, &s),
           PDS_JWT_OK, "aud array containing the PDS DID accepted (jose)");

    snprintf(want, sizeof(want),
             "{\"scope\":\"com.atproto.access\",\"aud\":\"%s\","
             "\"sub\":\"alice\",\"exp\":%lld}", PDS_DID, (long long) exp);
    craft_hs(tok, "{\"typ\":\"at+jwt\",\"alg\":\"HS256\"}", want, SECRET,
             SECRET_LEN);
    is_int(pds_jwt_session_verify(&A, tok, strlen(tok), PDS_JWT_ACCESS,
                                  SECRET, SECRET_LEN, PDS_DID, iat, &s),
           PDS_JWT_ERR_CLAIMS, "sub must be a DID");

    snprintf(want, sizeof(want),
             "{\"scope\":\"com.atproto.access\",\"aud\":\"%s\","
             "\"sub\":\"%s\",\"exp\":\"never\"}", PDS_DID, USER_DID);
    craft_hs(tok, "{\"typ\":\"at+jwt\",\"alg\":\"HS256\"}", want, SECRET,
             SECRET_LEN);
    is_int(pds_jwt_session_verify(&A, tok, strlen(tok), PDS_JWT_ACCESS,
                                  SECRET, SECRET_LEN, PDS_DID, iat, &s),
           PDS_JWT_ERR_MALFORMED, "string exp refused");

    /* refresh tokens */
    is_int(pds_jwt_refresh_id(id), 0, "refresh id");
    is_int(strlen(id), 43, "refresh id is 43 base64 chars (unpadded)");
    n = pds_base64_decode(raw, id, strlen(id), 0);
    is_int(n, 32, "refresh id decodes (standard base64) to 32 bytes");

    exp = iat + PDS_JWT_REFRESH_TTL;
    r = pds_jwt_session_mint(&A, PDS_JWT_REFRESH, SECRET, SECRET_LEN, NULL,
                             PDS_DID, USER_DID, id, iat, exp);
    ok(r != NULL, "mint refresh token");
    is_str(part(r, 0, buf, sizeof(buf)),
           "{\"typ\":\"refresh+jwt\",\"alg\":\"HS256\"}", "refresh header");
    snprintf(want, sizeof(want),
             "{\"scope\":\"com.atproto.refresh\",\"aud\":\"%s\",\"sub\":\"%s\","
             "\"jti\":\"%s\",\"iat\":%lld,\"exp\":%lld}", PDS_DID, USER_DID,
             id, (long long) iat, (long long) (iat + 90 * 86400));
    is_str(part(r, 1, buf, sizeof(buf)), want,
           "refresh payload: claim order, jti, exp = iat + 90d");

    rc = pds_jwt_session_verify(&A, r, strlen(r), PDS_JWT_REFRESH, SECRET,
                                SECRET_LEN, PDS_DID, exp - 1, &s);
    is_int(rc, PDS_JWT_OK, "verify refresh token");
    is_str(s.jti, id, "claims: jti");
    is_str(s.scope, PDS_JWT_SCOPE_REFRESH, "claims: refresh scope");
    is_int(pds_jwt_session_verify(&A, r, strlen(r), PDS_JWT_ACCESS, SECRET,
                                  SECRET_LEN, PDS_DID, iat, &s),
           PDS_JWT_ERR_TYPE, "refresh token is not an access token");
    is_int(pds_jwt_session_verify(&A, r, strlen(r), PDS_JWT_REFRESH, SECRET,
                                  SECRET_LEN, PDS_DID, exp + 1, &s),
           PDS_JWT_ERR_EXPIRED, "refresh token expires");

    r = pds_jwt_session_mint(&A, PDS_JWT_REFRESH, SECRET, SECRET_LEN, NULL,
                             PDS_DID, USER_DID, NULL, iat, exp);
    rc = pds_jwt_session_verify(&A, r, strlen(r), PDS_JWT_REFRESH, SECRET,
                                SECRET_LEN, PDS_DID, iat, &s);
    ok(rc == PDS_JWT_OK && s.jti && strlen(s.jti) == 43
       && strcmp(s.jti, id) != 0, "random jti when none given");

    /* a refresh-typed token without jti */
    snprintf(want, sizeof(want),
             "{\"scope\":\"com.atproto.refresh\",\"aud\":\"%s\",\"sub\":\"%s\","
             "\"exp\":%lld}", PDS_DID, USER_DID, (long long) exp);
    craft_hs(tok, "{\"typ\":\"refresh+jwt\",\"alg\":\"HS256\"}", want, SECRET,
             SECRET_LEN);
    is_int(pds_jwt_session_verify(&A, tok, strlen(tok), PDS_JWT_REFRESH,
                                  SECRET, SECRET_LEN, PDS_DID, iat, &s),
           PDS_JWT_ERR_CLAIMS, "refresh token without jti refused");

    ok(strcmp(pds_jwt_strerror(PDS_JWT_ERR_EXPIRED), "jwt expired") == 0,
       "strerror");
}


static void
test_service(pds_key_type_t type)
{
    int                 j;
    char                buf[2048], want[512], tok[2048], hdr[128];
    char                did[PDS_DID_KEY_MAX], other_did[PDS_DID_KEY_MAX], *t;
    long                n;
    size_t              len, dot, k;
    uint8_t             sig[64];
    unsigned            borrow, d;
    pds_key_t          *key, *other;
    pds_jwt_err_t       rc;
    pds_jwt_service_t   s;
    const char         *alg, *name, *iss, *aud, *lxm;
    static const uint8_t  k256_n[32] = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
        0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b,
        0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41 };
    static const uint8_t  p256_n[32] = {
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84,
        0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51 };

    name = type == PDS_KEY_K256 ? "es256k" : "es256";
    alg = type == PDS_KEY_K256 ? "ES256K" : "ES256";
    iss = USER_DID;
    aud = "did:web:api.bsky.app#bsky_appview";
    lxm = "app.bsky.feed.getTimeline";

    key = pds_key_generate(type);
    other = pds_key_generate(type == PDS_KEY_K256 ? PDS_KEY_P256
                                                  : PDS_KEY_K256);
    pds_key_did_key(key, did, sizeof(did));
    pds_key_did_key(other, other_did, sizeof(other_did));

    t = pds_jwt_service_mint(&A, key, iss, aud, lxm, 1700000000,
                             1700000060);
    if (!ok(t != NULL, "%s: mint service token", name)) {
        return;
    }

    snprintf(want, sizeof(want), "{\"typ\":\"JWT\",\"alg\":\"%s\"}", alg);
    is_str(part(t, 0, buf, sizeof(buf)), want, "%s: header", name);

    part(t, 1, buf, sizeof(buf));
    snprintf(want, sizeof(want),
             "{\"iat\":1700000000,\"iss\":\"%s\",\"aud\":\"%s\","
             "\"exp\":1700000060,\"lxm\":\"%s\",\"jti\":\"", iss, aud, lxm);
    ok(strncmp(buf, want, strlen(want)) == 0, "%s: payload order", name);
    len = strlen(buf);
    ok(len == strlen(want) + 32 + 2 && strcmp(buf + len - 2, "\"}") == 0,
       "%s: jti is 32 characters", name);
    for (k = strlen(want), j = 1; k < len - 2; k++) {
        if (!((buf[k] >= '0' && buf[k] <= '9')
              || (buf[k] >= 'a' && buf[k] <= 'f')))
        {
            j = 0;
        }
    }
    ok(j, "%s: jti is lower-case hex", name);

    len = strlen(t);
    dot = (size_t) (strrchr(t, '.') - t);
    n = pds_base64_decode(sig, t + dot + 1, len - dot - 1, 1);
    ok(n == 64 && pds_sig_is_low_s(type, sig)
       && pds_key_verify(key, (const uint8_t *) t, dot, sig, 64,
                         PDS_SIG_STRICT),
       "%s: compact low-S signature over header.payload", name);

    rc = pds_jwt_service_verify(&A, t, len, did, "did:web:api.bsky.app"
                                "#bsky_appview", lxm, 1700000001, &s);
    is_int(rc, PDS_JWT_OK, "%s: verify", name);
    is_str(s.iss, iss, "%s: iss", name);
    is_str(s.aud, aud, "%s: aud", name);
    is_str(s.lxm, lxm, "%s: lxm", name);
    is_str(s.alg, alg, "%s: alg", name);
    ok(s.jti && strlen(s.jti) == 32, "%s: jti", name);
    is_int(s.exp, 1700000060, "%s: exp", name);
    is_int(s.iat, 1700000000, "%s: iat", name);

    is_int(pds_jwt_service_verify(&A, t, len, did, NULL, NULL, 1700000060,
                                  &s), PDS_JWT_OK,
           "%s: valid at exp, no aud/lxm check", name);
    is_int(pds_jwt_service_verify(&A, t, len, did, aud, lxm, 1700000061, &s),
           PDS_JWT_ERR_EXPIRED, "%s: expired after exp", name);
    is_int(pds_jwt_service_verify(&A, t, len, did, "did:web:other", lxm,
                                  1700000000, &s),
           PDS_JWT_ERR_AUDIENCE, "%s: wrong aud", name);
    is_int(pds_jwt_service_verify(&A, t, len, did, aud,
                                  "com.atproto.repo.createRecord",
                                  1700000000, &s),
           PDS_JWT_ERR_LXM, "%s: wrong lxm", name);
    is_int(pds_jwt_service_verify(&A, t, len, other_did, aud, lxm,
                                  1700000000, &s),
           PDS_JWT_ERR_ALG, "%s: key of the other curve", name);

    /* same curve, other key */
    pds_key_free(other);
    other = pds_key_generate(type);
    pds_key_did_key(other, other_did, sizeof(other_did));
    is_int(pds_jwt_service_verify(&A, t, len, other_did, aud, lxm,
                                  1700000000, &s),
           PDS_JWT_ERR_SIGNATURE, "%s: wrong key", name);
    is_str(pds_jwt_service_error_name(PDS_JWT_ERR_SIGNATURE),
           "BadJwtSignature", "%s: error name", name);

    /* no lxm minted; lxm required */
    t = pds_jwt_service_mint(&A, key, iss, aud, NULL, 1700000000,
                             1700000060);
    ok(t && strstr(part(t, 1, buf, sizeof(buf)), "lxm") == NULL,
       "%s: no lxm claim when none given", name);
    is_int(pds_jwt_service_verify(&A, t, strlen(t), did, aud, lxm,
                                  1700000000, &s),
           PDS_JWT_ERR_LXM, "%s: missing lxm", name);
    is_int(pds_jwt_service_verify(&A, t, strlen(t), did, aud, NULL,
                                  1700000000, &s),
           PDS_JWT_OK, "%s: lxm not required", name);

    /* high-S twin of a valid signature is accepted (lenient) */
    t = pds_jwt_service_mint(&A, key, iss, aud, lxm, 1700000000, 1700000060);
    strcpy(tok, t);
    len = strlen(tok);
    dot = (size_t) (strrchr(tok, '.') - tok);
    pds_base64_decode(sig, tok + dot + 1, len - dot - 1, 1);
    borrow = 0;
    for (j = 31; j >= 0; j--) {
        d = (unsigned) (type == PDS_KEY_K256 ? k256_n : p256_n)[j]
            - sig[32 + j] - borrow;
        sig[32 + j] = (uint8_t) d;
        borrow = (d >> 8) & 1;
    }
    ok(!pds_sig_is_low_s(type, sig), "%s: made a high-S twin", name);
    len = dot + 1 + pds_base64_encode(tok + dot + 1, sig, 64, 1, 0);
    tok[len] = '\0';
    is_int(pds_jwt_service_verify(&A, tok, len, did, aud, lxm, 1700000000,
                                  &s),
           PDS_JWT_OK, "%s: high-S signature accepted", name);

    /* refused token types */
    snprintf(want, sizeof(want),
             "{\"iat\":1700000000,\"iss\":\"%s\",\"aud\":\"%s\","
             "\"exp\":1700000060,\"lxm\":\"%s\"}", iss, aud, lxm);
    snprintf(hdr, sizeof(hdr), "{\"typ\":\"at+jwt\",\"alg\":\"%s\"}", alg);
    craft_es(tok, hdr, want, key);
    is_int(pds_jwt_service_verify(&A, tok, strlen(tok), did, aud, lxm,
                                  1700000000, &s),
           PDS_JWT_ERR_TYPE, "%s: typ at+jwt refused", name);
    snprintf(hdr, sizeof(hdr), "{\"typ\":\"refresh+jwt\",\"alg\":\"%s\"}",
             alg);
    craft_es(tok, hdr, want, key);
    is_int(pds_jwt_service_verify(&A, tok, strlen(tok), did, aud, lxm,
                                  1700000000, &s),
           PDS_JWT_ERR_TYPE, "%s: typ refresh+jwt refused", name);
    snprintf(hdr, sizeof(hdr), "{\"typ\":\"dpop+jwt\",\"alg\":\"%s\"}", alg);
    craft_es(tok, hdr, want, key);
    is_int(pds_jwt_service_verify(&A, tok, strlen(tok), did, aud, lxm,
                                  1700000000, &s),
           PDS_JWT_ERR_TYPE, "%s: typ dpop+jwt refused", name);
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\"}", alg);
    craft_es(tok, hdr, want, key);
    is_int(pds_jwt_service_verify(&A, tok, strlen(tok), did, aud, lxm,
                                  1700000000, &s),
           PDS_JWT_OK, "%s: no typ and no jti accepted", name);

    snprintf(want, sizeof(want),
             "{\"iss\":\"not-a-did\",\"aud\":\"%s\",\"exp\":1700000060}", aud);
    craft_es(tok, hdr, want, key);
    is_int(pds_jwt_service_verify(&A, tok, strlen(tok), did, aud, NULL,
                                  1700000000, &s),
           PDS_JWT_ERR_ISS, "%s: iss must be a DID", name);
    snprintf(want, sizeof(want),
             "{\"iss\":\"%s#atproto_labeler\",\"aud\":\"%s\","
             "\"exp\":1700000060}", iss, aud);
    craft_es(tok, hdr, want, key);
    rc = pds_jwt_service_verify(&A, tok, strlen(tok), did, aud, NULL,
                                1700000000, &s);
    is_int(rc, PDS_JWT_OK, "%s: iss with #fragment", name);
    snprintf(want, sizeof(want),
             "{\"iss\":\"%s#\",\"aud\":\"%s\",\"exp\":1700000060}", iss, aud);
    craft_es(tok, hdr, want, key);
    is_int(pds_jwt_service_verify(&A, tok, strlen(tok), did, aud, NULL,
                                  1700000000, &s),
           PDS_JWT_ERR_ISS, "%s: empty fragment refused", name);
    snprintf(want, sizeof(want),
             "{\"iss\":\"%s\",\"aud\":\"%s\"}", iss, aud);
    craft_es(tok, hdr, want, key);
    is_int(pds_jwt_service_verify(&A, tok, strlen(tok), did, aud, NULL,
                                  1700000000, &s),
           PDS_JWT_ERR_MALFORMED, "%s: missing exp", name);
    craft_es(tok, "{\"typ\":\"JWT\"}", want, key);
    is_int(pds_jwt_service_decode(&A, tok, strlen(tok), aud, NULL,
                                  1700000000, &s),
           PDS_JWT_ERR_MALFORMED, "%s: missing alg", name);
    ok(strcmp(pds_jwt_service_error_name(PDS_JWT_ERR_TYPE), "BadJwtType")
       == 0, "%s: BadJwtType", name);

    pds_key_free(other);
    pds_key_free(key);
}


int
main(void)
{
    pds_arena_t  *arena;

    arena = pds_arena_create();
    A = pds_arena_allocator(arena);

    (void) str;
    (void) tap_shared_path;
    (void) tap_slurp;

    test_session();
    test_service(PDS_KEY_K256);
    test_service(PDS_KEY_P256);

    pds_arena_destroy(arena);

    return tap_done();
}
