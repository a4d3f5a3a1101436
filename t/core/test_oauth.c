/*
 * Unit tests: pds_oauth (DPoP proofs, nonces, htu, PKCE, identifiers,
 * access tokens, scopes) and pds_oauth_client (client ids, loopback
 * clients, metadata, redirect URIs).
 */

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "pds_enc.h"
#include "pds_hash.h"
#include "pds_jwt.h"
#include "pds_keys.h"
#include "pds_mem.h"
#include "pds_oauth.h"
#include "pds_oauth_client.h"
#include "oauth_vectors.h"
#include "tap.h"


static uint8_t  SECRET7[32];
static const char  *TOKEN_URL = "https://pds.example.com/oauth/token";
static const char  *RES_URL =
    "https://pds.example.com/xrpc/com.atproto.server.getSession";


static pds_dpop_rc_t
check(const char *proof, const char *method, const char *url,
    const char *at, const uint8_t *secret, int64_t now_ms,
    pds_dpop_proof_t *out, const char **why)
{
    pds_dpop_check_t  c;

    memset(&c, 0, sizeof(c));
    c.method = method;
    c.url = url;
    c.url_len = strlen(url);
    c.access_token = at;
    c.access_token_len = at ? strlen(at) : 0;
    c.nonce_secret = secret;
    c.now_ms = now_ms;

    *why = "";
    return pds_dpop_verify(proof, strlen(proof), &c, out, why);
}


static void
test_vectors(void)
{
    const dpop_vector_t  *v;
    pds_dpop_proof_t      p;
    pds_dpop_rc_t         rc;
    const char           *why;
    char                  jkt[PDS_OAUTH_JKT_LEN + 1], nonce[44], bad[4096];
    int64_t               now;
    size_t                i, n;

    memset(SECRET7, 7, sizeof(SECRET7));
    now = V_IAT * 1000;

    pds_oauth_nonce_at(SECRET7, V_COUNTER, nonce);
    tap_ok(strcmp(nonce, V_NONCE) == 0, "nonce = node's HMAC of the counter");
    tap_ok(pds_oauth_nonce_counter(now) == V_COUNTER, "minute counter");
    tap_ok(pds_oauth_nonce_check(SECRET7, now + 60000, V_NONCE, 43),
           "last minute's nonce still accepted");
    tap_ok(!pds_oauth_nonce_check(SECRET7, now + 120000, V_NONCE, 43),
           "nonce of two minutes ago refused");
    pds_oauth_nonce_next(SECRET7, now - 60000, nonce);
    tap_ok(strcmp(nonce, V_NONCE) == 0, "next nonce is the next minute's");

    for (i = 0; i < sizeof(dpop_vectors) / sizeof(dpop_vectors[0]); i++) {
        v = &dpop_vectors[i];

        tap_ok(pds_oauth_jwk_thumbprint(v->jwk, strlen(v->jwk), jkt) == 0
               && strcmp(jkt, v->jkt) == 0, "%s: jkt = jose's", v->alg);

        rc = check(v->plain, "POST", TOKEN_URL, NULL, SECRET7, now, &p, &why);
        tap_ok(rc == PDS_DPOP_OK && strcmp(p.jkt, v->jkt) == 0
               && strncmp(p.jti, "j1-", 3) == 0 && p.iat == V_IAT,
               "%s: token endpoint proof verifies (%s)", v->alg, why);

        rc = check(v->plain, "POST", TOKEN_URL, NULL, NULL, now, &p, &why);
        tap_ok(rc == PDS_DPOP_OK, "%s: verifies with nonces off", v->alg);

        rc = check(v->res, "GET", RES_URL, V_AT, SECRET7, now, &p, &why);
        tap_ok(rc == PDS_DPOP_OK,
               "%s: resource proof (htu with upper-case host, :443, ./ and "
               "a query) verifies (%s)", v->alg, why);

        rc = check(v->res, "GET", RES_URL, NULL, SECRET7, now, &p, &why);
        tap_ok(rc == PDS_DPOP_INVALID && strstr(why, "not allowed"),
               "%s: ath without a token refused (%s)", v->alg, why);

        rc = check(v->res, "GET", RES_URL, "another-token", SECRET7, now, &p,
                   &why);
        tap_ok(rc == PDS_DPOP_INVALID && strstr(why, "\"ath\" mismatch"),
               "%s: ath of another token refused", v->alg);

        rc = check(v->plain, "POST", TOKEN_URL, V_AT, SECRET7, now, &p, &why);
        tap_ok(rc == PDS_DPOP_INVALID && strstr(why, "\"ath\" mismatch"),
               "%s: missing ath on a resource request refused", v->alg);

        rc = check(v->wrongtyp, "POST", TOKEN_URL, NULL, SECRET7, now, &p,
                   &why);
        tap_ok(rc == PDS_DPOP_INVALID && strstr(why, "typ"),
               "%s: typ JWT refused (%s)", v->alg, why);

        rc = check(v->plain, "GET", TOKEN_URL, NULL, SECRET7, now, &p, &why);
        tap_ok(rc == PDS_DPOP_INVALID && strstr(why, "\"htm\" mismatch"),
               "%s: htm mismatch", v->alg);

        rc = check(v->plain, "post", TOKEN_URL, NULL, SECRET7, now, &p, &why);
        tap_ok(rc == PDS_DPOP_INVALID, "%s: htm is case-sensitive", v->alg);

        rc = check(v->plain, "POST", "https://pds.example.com/oauth/par",
                   NULL, SECRET7, now, &p, &why);
        tap_ok(rc == PDS_DPOP_INVALID && strstr(why, "\"htu\" mismatch"),
               "%s: htu mismatch (other path)", v->alg);

        rc = check(v->plain, "POST", "http://pds.example.com/oauth/token",
                   NULL, SECRET7, now, &p, &why);
        tap_ok(rc == PDS_DPOP_INVALID, "%s: htu mismatch (scheme)", v->alg);

        rc = check(v->plain, "POST", "https://pds.example.com:8443/oauth/token",
                   NULL, SECRET7, now, &p, &why);
        tap_ok(rc == PDS_DPOP_INVALID, "%s: htu mismatch (port)", v->alg);

        rc = check(v->plain, "POST", TOKEN_URL, NULL, SECRET7,
                   now + (PDS_OAUTH_DPOP_MAX_AGE + PDS_OAUTH_DPOP_TOLERANCE
                          + 1) * 1000, &p, &why);
        tap_ok(rc == PDS_DPOP_INVALID && strstr(why, "too far in the past"),
               "%s: stale iat refused", v->alg);

        rc = check(v->plain, "POST", TOKEN_URL, NULL, NULL,
                   now + (PDS_OAUTH_DPOP_MAX_AGE + PDS_OAUTH_DPOP_TOLERANCE)
                   * 1000, &p, &why);
        tap_ok(rc == PDS_DPOP_OK, "%s: iat at the edge of the window passes",
               v->alg);

        rc = check(v->plain, "POST", TOKEN_URL, NULL, SECRET7,
                   now - (PDS_OAUTH_DPOP_TOLERANCE + 1) * 1000, &p, &why);
        tap_ok(rc == PDS_DPOP_INVALID && strstr(why, "in the past"),
               "%s: iat in the future refused", v->alg);

        rc = check(v->plain, "POST", TOKEN_URL, NULL, SECRET7, now + 120000,
                   &p, &why);
        tap_ok(rc == PDS_DPOP_USE_NONCE && strstr(why, "nonce"),
               "%s: stale nonce -> use_dpop_nonce (%s)", v->alg, why);

        {
            uint8_t  other[32];

            memset(other, 8, sizeof(other));
            rc = check(v->plain, "POST", TOKEN_URL, NULL, other, now, &p,
                       &why);
            tap_ok(rc == PDS_DPOP_USE_NONCE
                   && strcmp(why, "DPoP \"nonce\" mismatch") == 0,
                   "%s: another server's nonce -> use_dpop_nonce", v->alg);
        }

        /* one character of the payload changed: the signature fails */
        n = strlen(v->plain);
        memcpy(bad, v->plain, n + 1);
        {
            char *dot = strchr(bad, '.') + 5;
            *dot = *dot == 'A' ? 'B' : 'A';
        }
        rc = check(bad, "POST", TOKEN_URL, NULL, SECRET7, now, &p, &why);
        tap_ok(rc == PDS_DPOP_INVALID, "%s: tampered payload refused (%s)",
               v->alg, why);

        /* the signature cut */
        bad[n - 2] = '\0';
        memcpy(bad, v->plain, n - 2);
        rc = check(bad, "POST", TOKEN_URL, NULL, SECRET7, now, &p, &why);
        tap_ok(rc == PDS_DPOP_INVALID, "%s: short signature refused",
               v->alg);
    }

    tap_ok(check(dpop_vectors[0].plain, "POST", TOKEN_URL, NULL, SECRET7,
                 now, &p, &why) == PDS_DPOP_OK
           && check("a.b", "POST", TOKEN_URL, NULL, SECRET7, now, &p, &why)
              == PDS_DPOP_INVALID
           && check("", "POST", TOKEN_URL, NULL, SECRET7, now, &p, &why)
              == PDS_DPOP_INVALID
           && check("e30.e30.e30.e30", "POST", TOKEN_URL, NULL, SECRET7, now,
                    &p, &why) == PDS_DPOP_INVALID,
           "not a compact JWS refused");
}


/* ---- proofs made here, for what jose would not sign -------------------- */

static void
b64json(char *dst, const char *json)
{
    size_t n = pds_base64_encode(dst, (const uint8_t *) json, strlen(json),
                                 1, 0);
    dst[n] = '\0';
}


static void
make_proof(pds_key_t *key, const char *alg, const char *jwk_extra,
    const char *payload, char *out)
{
    uint8_t  pub[65], sig[64];
    char     x[44], y[44], hdr[512], h64[800], p64[1200];
    int      n;

    pds_key_public_uncompressed(key, pub);
    pds_base64_encode(x, pub + 1, 32, 1, 0);
    x[43] = '\0';
    pds_base64_encode(y, pub + 33, 32, 1, 0);
    y[43] = '\0';

    snprintf(hdr, sizeof(hdr),
             "{\"alg\":\"%s\",\"typ\":\"dpop+jwt\",\"jwk\":{\"kty\":\"EC\","
             "\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"%s}}", alg,
             pds_key_type(key) == PDS_KEY_P256 ? "P-256" : "secp256k1", x, y,
             jwk_extra);
    b64json(h64, hdr);
    b64json(p64, payload);
    n = sprintf(out, "%s.%s", h64, p64);
    pds_key_sign(key, (const uint8_t *) out, (size_t) n, sig);
    out[n++] = '.';
    n += (int) pds_base64_encode(out + n, sig, 64, 1, 0);
    out[n] = '\0';
}


static void
test_made(void)
{
    pds_key_t         *k1, *p2;
    pds_dpop_proof_t   p;
    const char        *why = "";
    pds_dpop_rc_t      rc;
    char               proof[4096], pl[512];
    int64_t            now;

    now = V_IAT * 1000;
    k1 = pds_key_generate(PDS_KEY_K256);
    p2 = pds_key_generate(PDS_KEY_P256);

    snprintf(pl, sizeof(pl), "{\"jti\":\"x1\",\"htm\":\"POST\",\"htu\":\"%s\","
             "\"iat\":%lld,\"nonce\":\"%s\"}", TOKEN_URL, V_IAT, V_NONCE);

    make_proof(k1, "ES256K", "", pl, proof);
    rc = check(proof, "POST", TOKEN_URL, NULL, SECRET7, now, &p, &why);
    tap_ok(rc == PDS_DPOP_OK, "our own ES256K proof verifies (%s)", why);

    make_proof(p2, "ES256", "", pl, proof);
    tap_ok(check(proof, "POST", TOKEN_URL, NULL, SECRET7, now, &p, &why)
           == PDS_DPOP_OK, "our own ES256 proof verifies");

    make_proof(p2, "ES256K", "", pl, proof);
    tap_ok(check(proof, "POST", TOKEN_URL, NULL, SECRET7, now, &p, &why)
           == PDS_DPOP_INVALID, "alg ES256K with a P-256 key refused");

    make_proof(k1, "HS256", "", pl, proof);
    tap_ok(check(proof, "POST", TOKEN_URL, NULL, SECRET7, now, &p, &why)
           == PDS_DPOP_INVALID && strstr(why, "alg"), "alg HS256 refused");

    make_proof(k1, "ES256K", ",\"d\":\"AAAA\"", pl, proof);
    tap_ok(check(proof, "POST", TOKEN_URL, NULL, SECRET7, now, &p, &why)
           == PDS_DPOP_INVALID && strstr(why, "jwk"),
           "a private key in the jwk header refused");

    snprintf(pl, sizeof(pl), "{\"htm\":\"POST\",\"htu\":\"%s\","
             "\"iat\":%lld,\"nonce\":\"%s\"}", TOKEN_URL, V_IAT, V_NONCE);
    make_proof(k1, "ES256K", "", pl, proof);
    tap_ok(check(proof, "POST", TOKEN_URL, NULL, SECRET7, now, &p, &why)
           == PDS_DPOP_INVALID && strcmp(why, "DPoP \"jti\" missing") == 0,
           "missing jti refused");

    snprintf(pl, sizeof(pl), "{\"jti\":\"x2\",\"htm\":\"POST\",\"htu\":\"%s\","
             "\"iat\":%lld}", TOKEN_URL, V_IAT);
    make_proof(k1, "ES256K", "", pl, proof);
    tap_ok(check(proof, "POST", TOKEN_URL, NULL, SECRET7, now, &p, &why)
           == PDS_DPOP_USE_NONCE
           && strcmp(why, "Authorization server requires nonce in DPoP "
                          "proof") == 0, "missing nonce -> use_dpop_nonce");

    snprintf(pl, sizeof(pl), "{\"jti\":\"x3\",\"htm\":\"POST\",\"htu\":\"%s\","
             "\"iat\":%lld,\"nonce\":5}", TOKEN_URL, V_IAT);
    make_proof(k1, "ES256K", "", pl, proof);
    tap_ok(check(proof, "POST", TOKEN_URL, NULL, SECRET7, now, &p, &why)
           == PDS_DPOP_INVALID && strstr(why, "\"nonce\" type"),
           "a nonce that is not a string refused");

    snprintf(pl, sizeof(pl), "{\"jti\":\"x4\",\"htm\":\"POST\","
             "\"htu\":\"ftp://pds.example.com/oauth/token\",\"iat\":%lld}",
             V_IAT);
    make_proof(k1, "ES256K", "", pl, proof);
    tap_ok(check(proof, "POST", TOKEN_URL, NULL, NULL, now, &p, &why)
           == PDS_DPOP_INVALID && strstr(why, "not a valid URL"),
           "htu not http(s) refused");

    snprintf(pl, sizeof(pl), "{\"jti\":\"x5\",\"htm\":\"POST\","
             "\"htu\":\"https://u:p@pds.example.com/oauth/token\","
             "\"iat\":%lld}", V_IAT);
    make_proof(k1, "ES256K", "", pl, proof);
    tap_ok(check(proof, "POST", TOKEN_URL, NULL, NULL, now, &p, &why)
           == PDS_DPOP_INVALID, "htu with credentials refused");

    snprintf(pl, sizeof(pl), "{\"jti\":\"x6\",\"htm\":\"POST\",\"htu\":\"%s\","
             "\"iat\":\"%lld\"}", TOKEN_URL, V_IAT);
    make_proof(k1, "ES256K", "", pl, proof);
    tap_ok(check(proof, "POST", TOKEN_URL, NULL, NULL, now, &p, &why)
           == PDS_DPOP_INVALID && strstr(why, "iat"), "iat as a string refused");

    /* numbers no int64_t holds: clamped, not converted (undefined) */
    snprintf(pl, sizeof(pl), "{\"jti\":\"x7\",\"htm\":\"POST\",\"htu\":\"%s\","
             "\"iat\":1e300}", TOKEN_URL);
    make_proof(k1, "ES256K", "", pl, proof);
    tap_ok(check(proof, "POST", TOKEN_URL, NULL, NULL, now, &p, &why)
           == PDS_DPOP_INVALID && strstr(why, "should be in the past"),
           "iat 1e300: in the future, refused");

    snprintf(pl, sizeof(pl), "{\"jti\":\"x8\",\"htm\":\"POST\",\"htu\":\"%s\","
             "\"iat\":-1e300}", TOKEN_URL);
    make_proof(k1, "ES256K", "", pl, proof);
    tap_ok(check(proof, "POST", TOKEN_URL, NULL, NULL, now, &p, &why)
           == PDS_DPOP_INVALID && strstr(why, "too far in the past"),
           "iat -1e300: too old, refused");

    snprintf(pl, sizeof(pl), "{\"jti\":\"x9\",\"htm\":\"POST\",\"htu\":\"%s\","
             "\"iat\":%lld,\"exp\":-1e300}", TOKEN_URL, V_IAT);
    make_proof(k1, "ES256K", "", pl, proof);
    tap_ok(check(proof, "POST", TOKEN_URL, NULL, NULL, now, &p, &why)
           == PDS_DPOP_INVALID && strstr(why, "exp"),
           "exp -1e300: expired, refused");

    pds_key_free(k1);
    pds_key_free(p2);
}


static void
test_htu(void)
{
    static const struct {
        const char  *in, *out;
    } cases[] = {
        { "https://PDS.Example.COM:443/a/b?x#y", "https://pds.example.com/a/b" },
        { "HTTP://h:80", "http://h/" },
        { "http://h:0080/", "http://h/" },
        { "http://h:8080/x/../y/./z", "http://h:8080/y/z" },
        { "http://h/a/..", "http://h/" },
        { "http://[::1]:3000/p", "http://[::1]:3000/p" },
        { "https://h/%7Euser", "https://h/%7Euser" },
    };
    static const char  *bad[] = {
        "ftp://h/", "https://", "https://u@h/", "https:/h/", "https://h:x/",
        "https://h /", "javascript:alert(1)", "https://h:123456/",
    };
    char    out[256];
    size_t  i;
    long    n;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        n = pds_oauth_htu_normalize(cases[i].in, strlen(cases[i].in), out,
                                    sizeof(out));
        tap_ok(n > 0 && strcmp(out, cases[i].out) == 0, "htu %s -> %s (%s)",
               cases[i].in, cases[i].out, n > 0 ? out : "-");
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tap_ok(pds_oauth_htu_normalize(bad[i], strlen(bad[i]), out,
                                       sizeof(out)) < 0,
               "htu %s refused", bad[i]);
    }
}


static void
test_pkce_ids(void)
{
    /* RFC 7636, appendix B */
    const char  *ver = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const char  *chal = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    char         id1[PDS_OAUTH_ID_MAX], id2[PDS_OAUTH_ID_MAX];

    tap_ok(pds_oauth_pkce_s256_check(chal, 43, ver, 43),
           "PKCE S256: RFC 7636 appendix B");
    tap_ok(!pds_oauth_pkce_s256_check(chal, 43,
                                      "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj",
                                      43), "PKCE: wrong verifier refused");
    tap_ok(!pds_oauth_pkce_s256_check(chal, 43, ver, 42),
           "PKCE: verifier under 43 characters refused");
    tap_ok(!pds_oauth_pkce_s256_check(chal, 43,
                                      "dBjftJeZ4CVP+mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
                                      43), "PKCE: verifier outside "
           "[A-Za-z0-9-._~] refused");
    tap_ok(pds_oauth_pkce_challenge_ok(chal, 43)
           && !pds_oauth_pkce_challenge_ok(chal, 42)
           && !pds_oauth_pkce_challenge_ok(
                  "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM", 43),
           "code_challenge shape");

    tap_ok(pds_oauth_random_id("cod-", 32, id1) == 0
           && pds_oauth_random_id("cod-", 32, id2) == 0
           && strlen(id1) == 68 && strcmp(id1, id2) != 0
           && pds_oauth_id_ok(id1, 68, "cod-", 32)
           && !pds_oauth_id_ok(id1, 68, "ref-", 32),
           "random ids: prefix + 64 hex, distinct");
    tap_ok(pds_oauth_random_id("req-", 16, id1) == 0
           && pds_oauth_id_ok(id1, strlen(id1), "req-", 16)
           && !pds_oauth_id_ok("req-0123456789abcdef0123456789ABCDEF", 36,
                               "req-", 16), "request ids");
}


static void
test_access_token(void)
{
    pds_arena_t        *ar;
    pds_alloc_t         a;
    pds_oauth_at_t      c, out;
    const uint8_t       key[] = "0123456789abcdef0123456789abcdef";
    char               *t, *s, jti[PDS_OAUTH_ID_MAX];

    ar = pds_arena_create();
    a = pds_arena_allocator(ar);

    pds_oauth_random_id("tok-", 16, jti);
    memset(&c, 0, sizeof(c));
    c.jti = jti;
    c.sub = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";
    c.aud = "did:web:pds.example.com";
    c.iss = "https://pds.example.com";
    c.client_id = "http://localhost";
    c.jkt = "mt2UXzXXCOJ5ZQ4lfHcoIuapdiHMRACs__7yEq03V5Q";
    c.iat = 1000;
    c.exp = 4600;

    t = pds_oauth_at_mint(&a, key, 32, &c);
    tap_ok(t != NULL, "access token minted");
    tap_ok(pds_oauth_at_verify(&a, t, strlen(t), key, 32, c.iss, c.aud, 2000,
                               &out) == PDS_OAUTH_AT_OK
           && strcmp(out.jti, jti) == 0 && strcmp(out.sub, c.sub) == 0
           && strcmp(out.jkt, c.jkt) == 0 && out.exp == 4600
           && strcmp(out.client_id, c.client_id) == 0,
           "access token verifies with its claims");
    tap_ok(pds_oauth_at_is_oauth(t, strlen(t)), "is an OAuth token");
    tap_ok(pds_oauth_at_verify(&a, t, strlen(t), key, 32, c.iss, c.aud, 4600,
                               &out) == PDS_OAUTH_AT_EXPIRED, "expired");
    tap_ok(pds_oauth_at_verify(&a, t, strlen(t), (const uint8_t *) "x", 1,
                               c.iss, c.aud, 2000, &out)
           == PDS_OAUTH_AT_SIGNATURE, "another secret: signature");
    tap_ok(pds_oauth_at_verify(&a, t, strlen(t), key, 32, "https://other",
                               c.aud, 2000, &out) == PDS_OAUTH_AT_CLAIMS,
           "another issuer refused");

    s = pds_jwt_session_mint(&a, PDS_JWT_ACCESS, key, 32,
                             PDS_JWT_SCOPE_ACCESS, c.aud, c.sub, NULL, 1000,
                             4600);
    tap_ok(s && !pds_oauth_at_is_oauth(s, strlen(s))
           && pds_oauth_at_verify(&a, s, strlen(s), key, 32, c.iss, c.aud,
                                  2000, &out) != PDS_OAUTH_AT_OK,
           "a session token is not an OAuth token");

    tap_ok(pds_oauth_scope_syntax_ok("atproto transition:generic", 26)
           && !pds_oauth_scope_syntax_ok("atproto  x", 10)
           && !pds_oauth_scope_syntax_ok("a\"b", 3)
           && !pds_oauth_scope_syntax_ok("", 0)
           && !pds_oauth_scope_syntax_ok("atproto ", 8), "scope syntax");
    tap_ok(pds_oauth_scope_has("atproto transition:generic", 26,
                               "transition:generic")
           && !pds_oauth_scope_has("atproto transition:generic", 26,
                                   "transition")
           && !pds_oauth_scope_has("atprotox", 8, "atproto"), "scope tokens");

    pds_arena_destroy(ar);
}


static void
test_clients(void)
{
    static const struct {
        const char               *id;
        pds_oauth_client_kind_t   kind;
    } ids[] = {
        { "http://localhost", PDS_OAUTH_CLIENT_LOOPBACK },
        { "http://localhost/", PDS_OAUTH_CLIENT_LOOPBACK },
        { "http://localhost?redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Fcb"
          "&scope=atproto+transition%3Ageneric", PDS_OAUTH_CLIENT_LOOPBACK },
        { "http://localhost/path", PDS_OAUTH_CLIENT_BAD },
        { "http://localhost#x", PDS_OAUTH_CLIENT_BAD },
        { "http://localhost?scope=transition%3Ageneric", PDS_OAUTH_CLIENT_BAD },
        { "http://localhost?redirect_uri=http%3A%2F%2Flocalhost%2Fcb",
          PDS_OAUTH_CLIENT_BAD },
        { "http://localhost?redirect_uri=https%3A%2F%2Fapp.example%2Fcb",
          PDS_OAUTH_CLIENT_BAD },
        { "http://localhost?foo=bar", PDS_OAUTH_CLIENT_BAD },
        { "http://localhost?scope=atproto&scope=atproto",
          PDS_OAUTH_CLIENT_BAD },
        { "https://app.example.com/client-metadata.json",
          PDS_OAUTH_CLIENT_DISCOVERABLE },
        { "https://app.example.com/", PDS_OAUTH_CLIENT_BAD },
        { "https://app.example.com/meta/", PDS_OAUTH_CLIENT_BAD },
        { "https://app.example.com/m.json#f", PDS_OAUTH_CLIENT_BAD },
        { "https://u:p@app.example.com/m.json", PDS_OAUTH_CLIENT_BAD },
        { "https://10.0.0.1/m.json", PDS_OAUTH_CLIENT_BAD },
        { "https://app.example.com/a/../m.json", PDS_OAUTH_CLIENT_BAD },
        { "http://app.example.com/m.json", PDS_OAUTH_CLIENT_BAD },
        { "https://localhost/m.json", PDS_OAUTH_CLIENT_BAD },
        { "app.example.com", PDS_OAUTH_CLIENT_BAD },
    };
    const char  *why = "", *r;
    json_t      *md;
    size_t       i;
    char        *s;

    for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        why = "";
        tap_ok(pds_oauth_client_id_kind(ids[i].id, strlen(ids[i].id), &why)
               == ids[i].kind, "client_id %s (%s)", ids[i].id, why);
    }

    md = pds_oauth_loopback_metadata("http://localhost", 16, &why);
    s = md ? json_dumps(md, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    tap_ok(s && strstr(s, "\"redirect_uris\":[\"http://127.0.0.1/\","
                          "\"http://[::1]/\"]")
           && strstr(s, "\"scope\":\"atproto\"")
           && strstr(s, "\"token_endpoint_auth_method\":\"none\""),
           "bare loopback client: default redirect URIs and scope");
    free(s);
    tap_ok(md && pds_oauth_client_metadata_check(md, "http://localhost", &why)
           == 0, "its metadata checks (%s)", md ? why : "-");

    r = md ? pds_oauth_redirect_uri_pick(md, "http://127.0.0.1:61234/", &why)
           : NULL;
    tap_ok(r && strcmp(r, "http://127.0.0.1:61234/") == 0,
           "loopback redirect with any port accepted");
    tap_ok(md && pds_oauth_redirect_uri_pick(md, "http://127.0.0.1:61234/x",
                                             &why) == NULL
           && pds_oauth_redirect_uri_pick(md, "https://evil.example/", &why)
              == NULL
           && pds_oauth_redirect_uri_pick(md, NULL, &why) == NULL,
           "other path, other host refused; two registered: one required");
    json_decref(md);

    {
        const char *lb = "http://localhost?redirect_uri=http%3A%2F%2F"
                         "127.0.0.1%3A8080%2Fcb&scope=atproto+transition%3A"
                         "generic";

        md = pds_oauth_loopback_metadata(lb, strlen(lb), &why);
    }
    tap_ok(md && strcmp(json_string_value(json_object_get(md, "scope")),
                        "atproto transition:generic") == 0
           && json_array_size(json_object_get(md, "redirect_uris")) == 1,
           "loopback client with redirect_uri and scope");
    tap_ok(md && pds_oauth_redirect_uri_pick(md, NULL, &why) != NULL
           && pds_oauth_redirect_uri_pick(md, "http://127.0.0.1:8081/cb",
                                          &why) == NULL,
           "a registered port must match");
    json_decref(md);

    md = json_loads("{\"client_id\":\"https://app.example.com/m.json\","
                    "\"redirect_uris\":[\"https://app.example.com/cb\"],"
                    "\"scope\":\"atproto transition:generic\","
                    "\"grant_types\":[\"authorization_code\","
                    "\"refresh_token\"],\"response_types\":[\"code\"],"
                    "\"token_endpoint_auth_method\":\"none\","
                    "\"application_type\":\"web\","
                    "\"dpop_bound_access_tokens\":true}", 0, NULL);
    tap_ok(pds_oauth_client_metadata_check(md,
               "https://app.example.com/m.json", &why) == 0,
           "web client metadata checks");
    tap_ok(pds_oauth_client_metadata_check(md,
               "https://app.example.com/other.json", &why) == -1
           && strcmp(why, "client_id does not match") == 0,
           "client_id must match the URL");
    json_object_set_new(md, "dpop_bound_access_tokens", json_false());
    tap_ok(pds_oauth_client_metadata_check(md,
               "https://app.example.com/m.json", &why) == -1
           && strstr(why, "dpop_bound_access_tokens"), "DPoP binding required");
    json_object_set_new(md, "dpop_bound_access_tokens", json_true());
    json_object_set_new(md, "scope", json_string("transition:generic"));
    tap_ok(pds_oauth_client_metadata_check(md,
               "https://app.example.com/m.json", &why) == -1
           && strstr(why, "atproto"), "atproto scope required");
    json_object_set_new(md, "scope", json_string("atproto"));
    json_object_set_new(md, "token_endpoint_auth_method",
                        json_string("private_key_jwt"));
    tap_ok(pds_oauth_client_metadata_check(md,
               "https://app.example.com/m.json", &why) == -1
           && strstr(why, "jwks"), "private_key_jwt needs keys");
    json_object_set_new(md, "token_endpoint_auth_method",
                        json_string("client_secret_post"));
    tap_ok(pds_oauth_client_metadata_check(md,
               "https://app.example.com/m.json", &why) == -1
           && strstr(why, "Unsupported client authentication"),
           "client_secret_post refused");
    json_object_set_new(md, "token_endpoint_auth_method", json_string("none"));
    json_object_set_new(md, "redirect_uris",
                        json_pack("[s]", "http://localhost:8080/cb"));
    tap_ok(pds_oauth_client_metadata_check(md,
               "https://app.example.com/m.json", &why) == -1
           && strstr(why, "localhost"), "redirect to localhost refused");
    json_object_set_new(md, "redirect_uris",
                        json_pack("[s]", "com.example.app:/callback"));
    tap_ok(pds_oauth_client_metadata_check(md,
               "https://app.example.com/m.json", &why) == 0,
           "a private-use scheme: the client_id's host reversed");
    json_object_set_new(md, "redirect_uris",
                        json_pack("[ss]", "https://app.example.com/cb",
                                  "com.bank.app:/callback"));
    tap_ok(pds_oauth_client_metadata_check(md,
               "https://app.example.com/m.json", &why) == -1
           && strstr(why, "reverse order"),
           "another domain's private-use scheme refused (as the reference)");
    json_object_set_new(md, "redirect_uris",
                        json_pack("[s]", "com.example:/callback"));
    tap_ok(pds_oauth_client_metadata_check(md,
               "https://app.example.com/m.json", &why) == -1,
           "a parent domain's scheme refused");
    json_object_set_new(md, "redirect_uris", json_array());
    tap_ok(pds_oauth_client_metadata_check(md,
               "https://app.example.com/m.json", &why) == -1
           && strstr(why, "redirect_uri"), "no redirect URI refused");
    json_decref(md);

    tap_ok(pds_oauth_redirect_uri_ok("com.example.app:/callback", &why)
           && !pds_oauth_redirect_uri_ok("com.example.app://callback", &why)
           && !pds_oauth_redirect_uri_ok("javascript:alert(1)", &why)
           && !pds_oauth_redirect_uri_ok("https://127.0.0.1/cb", &why)
           && pds_oauth_redirect_uri_ok("http://[::1]/cb", &why),
           "redirect URI kinds");
    tap_ok(pds_oauth_redirect_uri_match("https://a.example/cb",
                                        "https://a.example/cb")
           && !pds_oauth_redirect_uri_match("https://a.example/cb",
                                            "https://a.example:444/cb")
           && !pds_oauth_redirect_uri_match("https://a.example/cb",
                                            "https://a.example/cb?x=1"),
           "https redirect URIs match exactly");
}


/* ---- client assertions (private_key_jwt) -------------------------------- */

static void
make_jws(pds_key_t *key, const char *hdr, const char *payload, char *out)
{
    uint8_t  sig[64];
    char     h64[800], p64[1200];
    int      n;

    b64json(h64, hdr);
    b64json(p64, payload);
    n = sprintf(out, "%s.%s", h64, p64);
    pds_key_sign(key, (const uint8_t *) out, (size_t) n, sig);
    out[n++] = '.';
    n += (int) pds_base64_encode(out + n, sig, 64, 1, 0);
    out[n] = '\0';
}


static void
test_assertion(void)
{
    pds_key_t              *k, *other;
    pds_oauth_assertion_t   as;
    json_t                 *jwks;
    uint8_t                 pub[65];
    char                    x[44], y[44], j[512], pl[512], jwt[4096];
    const char             *why = "", *cid = "https://app.example.com/m.json";
    const char             *iss = "https://pds.example.com";
    int64_t                 now = 1765000000;
    const char             *hdr = "{\"alg\":\"ES256\",\"kid\":\"k1\"}";

    k = pds_key_generate(PDS_KEY_P256);
    other = pds_key_generate(PDS_KEY_P256);
    pds_key_public_uncompressed(k, pub);
    pds_base64_encode(x, pub + 1, 32, 1, 0);
    x[43] = '\0';
    pds_base64_encode(y, pub + 33, 32, 1, 0);
    y[43] = '\0';
    snprintf(j, sizeof(j), "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\","
             "\"kid\":\"k1\",\"alg\":\"ES256\",\"x\":\"%s\",\"y\":\"%s\"}]}",
             x, y);
    jwks = json_loads(j, 0, NULL);

#define PL(fmt, ...) snprintf(pl, sizeof(pl), fmt, __VA_ARGS__)
#define VERIFY() pds_oauth_client_assertion_verify(jwt, strlen(jwt), jwks, \
                     cid, iss, now, &as, &why)

    PL("{\"iss\":\"%s\",\"sub\":\"%s\",\"aud\":\"%s\",\"jti\":\"a1\","
       "\"iat\":%lld,\"exp\":%lld}", cid, cid, iss, (long long) now - 5,
       (long long) now + 55);
    make_jws(k, hdr, pl, jwt);
    tap_ok(VERIFY() == 0 && strcmp(as.jti, "a1") == 0
           && strcmp(as.kid, "k1") == 0 && strlen(as.jkt) == 43,
           "client assertion verifies (%s)", why);

    make_jws(other, hdr, pl, jwt);
    tap_ok(VERIFY() == -1 && strstr(why, "signature"),
           "signed by a key not in the JWKS: refused");

    make_jws(k, "{\"alg\":\"ES256\"}", pl, jwt);
    tap_ok(VERIFY() == -1 && strcmp(why, "\"kid\" required in "
                                         "client_assertion") == 0,
           "no kid: refused");

    make_jws(k, "{\"alg\":\"ES256\",\"kid\":\"k2\"}", pl, jwt);
    tap_ok(VERIFY() == -1 && strstr(why, "no applicable key"),
           "an unknown kid: refused");

    make_jws(k, "{\"alg\":\"HS256\",\"kid\":\"k1\"}", pl, jwt);
    tap_ok(VERIFY() == -1, "alg HS256: refused");

    PL("{\"iss\":\"%s\",\"sub\":\"%s\",\"aud\":[\"x\",\"%s\"],\"jti\":\"a1\","
       "\"iat\":%lld}", cid, cid, iss, (long long) now);
    make_jws(k, hdr, pl, jwt);
    tap_ok(VERIFY() == 0, "aud as an array naming the issuer, no exp: passes");

    PL("{\"iss\":\"x\",\"sub\":\"%s\",\"aud\":\"%s\",\"jti\":\"a1\","
       "\"iat\":%lld}", cid, iss, (long long) now);
    make_jws(k, hdr, pl, jwt);
    tap_ok(VERIFY() == -1 && strstr(why, "iss"), "another iss: refused");

    PL("{\"iss\":\"%s\",\"sub\":\"y\",\"aud\":\"%s\",\"jti\":\"a1\","
       "\"iat\":%lld}", cid, iss, (long long) now);
    make_jws(k, hdr, pl, jwt);
    tap_ok(VERIFY() == -1 && strstr(why, "sub"), "another sub: refused");

    PL("{\"iss\":\"%s\",\"sub\":\"%s\",\"aud\":\"https://other\","
       "\"jti\":\"a1\",\"iat\":%lld}", cid, cid, (long long) now);
    make_jws(k, hdr, pl, jwt);
    tap_ok(VERIFY() == -1 && strstr(why, "aud"), "another aud: refused");

    PL("{\"iss\":\"%s\",\"sub\":\"%s\",\"aud\":\"%s\",\"iat\":%lld}", cid,
       cid, iss, (long long) now);
    make_jws(k, hdr, pl, jwt);
    tap_ok(VERIFY() == -1 && strstr(why, "jti"), "no jti: refused");

    PL("{\"iss\":\"%s\",\"sub\":\"%s\",\"aud\":\"%s\",\"jti\":\"a1\","
       "\"iat\":%lld}", cid, cid, iss, (long long) now - 61);
    make_jws(k, hdr, pl, jwt);
    tap_ok(VERIFY() == -1 && strstr(why, "too far in the past"),
           "iat over a minute old: refused");

    PL("{\"iss\":\"%s\",\"sub\":\"%s\",\"aud\":\"%s\",\"jti\":\"a1\","
       "\"iat\":%lld}", cid, cid, iss, (long long) now + 5);
    make_jws(k, hdr, pl, jwt);
    tap_ok(VERIFY() == -1 && strstr(why, "in the past"),
           "iat in the future: refused");

    PL("{\"iss\":\"%s\",\"sub\":\"%s\",\"aud\":\"%s\",\"jti\":\"a1\","
       "\"iat\":%lld,\"exp\":%lld}", cid, cid, iss, (long long) now - 10,
       (long long) now);
    make_jws(k, hdr, pl, jwt);
    tap_ok(VERIFY() == -1 && strstr(why, "exp"), "expired: refused");

    PL("{\"iss\":\"%s\",\"sub\":\"%s\",\"aud\":\"%s\",\"jti\":\"a1\","
       "\"iat\":1e300}", cid, cid, iss);
    make_jws(k, hdr, pl, jwt);
    tap_ok(VERIFY() == -1 && strstr(why, "in the past"),
           "iat 1e300: clamped, in the future: refused");

#undef PL
#undef VERIFY

    json_decref(jwks);
    pds_key_free(k);
    pds_key_free(other);
}


int
main(void)
{
    test_vectors();
    test_made();
    test_htu();
    test_pkce_ids();
    test_access_token();
    test_clients();
    test_assertion();

    return tap_done();
}
