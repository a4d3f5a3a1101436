/*
 * pds-crypto-cli: a small command line face of the core's crypto, used by
 * t/js/crypto_cross.mjs to check it against the ecosystem's npm packages.
 * Test tool only: it takes throwaway keys and passwords on the command line.
 *
 *   keygen k256|p256                       -> <privhex> <did:key>
 *   didkey k256|p256 <privhex>             -> <did:key>
 *   sign k256|p256 <privhex> <msghex>      -> <sig base64url>
 *   verify strict|lenient <did:key> <msghex> <sig base64url> -> valid|invalid
 *   session access|refresh <secret> <aud> <sub> <iat>   -> <jwt>
 *   session-verify access|refresh <secret> <aud> <now> <jwt>
 *                                          -> ok <sub> <scope> | <error>
 *   service k256|p256 <privhex> <iss> <aud> <lxm|-> <iat> <exp> -> <jwt>
 *   service-verify <did:key> <aud|-> <lxm|-> <now> <jwt>  -> ok | <error>
 *   scrypt-hash <password>                 -> <salt>:<hash>
 *   scrypt-verify <password> <stored>      -> match | mismatch
 *   app-password                           -> xxxx-xxxx-xxxx-xxxx
 *   app-password-hash <did> <password>     -> <salt>:<hash>
 *   plc-genesis <privhex k256> <signing did:key> <handle> <endpoint>
 *               [more rotation did:keys]   -> {"did":..,"op":{..}}
 *   plc-update <privhex k256> <prev op json> <handle>   -> <op json>
 *   plc-tombstone <privhex k256> <prev op json>         -> <op json>
 *   plc-verify <op json> [did:key ...]     -> <index of signing key> | -1
 *   plc-did <signed genesis op json>       -> did:plc:...
 *   plc-cid <signed op json>               -> <cid>
 *
 * Exit status 0 on success / valid, 1 on invalid, 2 on usage errors.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pds_enc.h"
#include "pds_jwt.h"
#include "pds_keys.h"
#include "pds_mem.h"
#include "pds_password.h"
#include "pds_plc.h"


static pds_key_type_t
curve(const char *s)
{
    if (strcmp(s, "k256") == 0) {
        return PDS_KEY_K256;
    }

    if (strcmp(s, "p256") == 0) {
        return PDS_KEY_P256;
    }

    return 0;
}


static pds_key_t *
load(const char *type, const char *hex)
{
    pds_key_t  *key;

    key = pds_key_from_private_hex(curve(type), hex, strlen(hex));
    if (key == NULL) {
        fprintf(stderr, "bad key\n");
        exit(2);
    }

    return key;
}


static uint8_t *
unhex(const char *hex, size_t *len)
{
    long      n;
    uint8_t  *buf;

    buf = malloc(strlen(hex) / 2 + 1);
    n = buf ? pds_hex_decode(buf, hex, strlen(hex)) : -1;
    if (n < 0) {
        fprintf(stderr, "bad hex\n");
        exit(2);
    }

    *len = (size_t) n;

    return buf;
}


static json_t *
parse_json(const char *s)
{
    json_t  *j;

    j = json_loads(s, 0, NULL);
    if (j == NULL) {
        fprintf(stderr, "bad json\n");
        exit(2);
    }

    return j;
}


static int
print_json(json_t *j)
{
    char  *text;

    text = json_dumps(j, JSON_COMPACT);
    if (text == NULL) {
        return 2;
    }

    printf("%s\n", text);
    free(text);

    return 0;
}


static const char *
jwt_err_name(pds_jwt_err_t rc)
{
    switch (rc) {
    case PDS_JWT_ERR_EXPIRED:
        return "expired";
    case PDS_JWT_ERR_SIGNATURE:
        return "signature";
    case PDS_JWT_ERR_AUDIENCE:
        return "audience";
    case PDS_JWT_ERR_TYPE:
        return "type";
    case PDS_JWT_ERR_LXM:
        return "lxm";
    case PDS_JWT_ERR_ALG:
        return "alg";
    case PDS_JWT_ERR_ISS:
        return "iss";
    case PDS_JWT_ERR_CLAIMS:
        return "claims";
    default:
        return "malformed";
    }
}


int
main(int argc, char **argv)
{
    int                 rc, i;
    char                buf[512], did[PDS_DID_KEY_MAX], *tok;
    char                plc_did[PDS_PLC_DID_LEN + 1];
    long                n;
    size_t              len;
    json_t             *op, *prev, *out;
    uint8_t            *msg, sig[128];
    pds_key_t          *key;
    const char         *cmd, *keys[PDS_PLC_MAX_ROTATION + 1];
    pds_arena_t        *arena;
    pds_alloc_t         a;
    pds_jwt_err_t       err;
    pds_plc_params_t    p;
    pds_jwt_session_t   s;
    pds_jwt_service_t   sv;

    if (argc < 2) {
        fprintf(stderr, "usage: see the comment in pds_crypto_cli.c\n");
        return 2;
    }

    arena = pds_arena_create();
    a = pds_arena_allocator(arena);
    cmd = argv[1];
    rc = 2;

#define NEED(k)  if (argc != (k)) { fprintf(stderr, "bad arguments\n"); \
                                     goto done; }

    if (strcmp(cmd, "keygen") == 0) {
        NEED(3);
        key = pds_key_generate(curve(argv[2]));
        if (key == NULL) {
            goto done;
        }
        pds_key_private_hex(key, buf);
        pds_key_did_key(key, did, sizeof(did));
        printf("%s %s\n", buf, did);
        pds_key_free(key);
        rc = 0;

    } else if (strcmp(cmd, "didkey") == 0) {
        NEED(4);
        key = load(argv[2], argv[3]);
        pds_key_did_key(key, did, sizeof(did));
        printf("%s\n", did);
        pds_key_free(key);
        rc = 0;

    } else if (strcmp(cmd, "sign") == 0) {
        NEED(5);
        key = load(argv[2], argv[3]);
        msg = unhex(argv[4], &len);
        if (pds_key_sign(key, msg, len, sig) == 0) {
            buf[pds_base64_encode(buf, sig, 64, 1, 0)] = '\0';
            printf("%s\n", buf);
            rc = 0;
        }
        free(msg);
        pds_key_free(key);

    } else if (strcmp(cmd, "verify") == 0) {
        NEED(6);
        msg = unhex(argv[4], &len);
        n = pds_base64_decode(sig, argv[5], strlen(argv[5]), 1);
        rc = (n > 0 && n <= 72
              && pds_did_key_verify(argv[3], strlen(argv[3]), msg, len, sig,
                                    (size_t) n,
                                    strcmp(argv[2], "lenient") == 0
                                    ? PDS_SIG_LENIENT : PDS_SIG_STRICT))
             ? 0 : 1;
        printf("%s\n", rc == 0 ? "valid" : "invalid");
        free(msg);

    } else if (strcmp(cmd, "session") == 0) {
        NEED(7);
        n = atol(argv[6]);
        i = strcmp(argv[2], "refresh") == 0;
        tok = pds_jwt_session_mint(&a, i ? PDS_JWT_REFRESH : PDS_JWT_ACCESS,
                                   (const uint8_t *) argv[3], strlen(argv[3]),
                                   PDS_JWT_SCOPE_ACCESS, argv[4], argv[5],
                                   NULL, n,
                                   n + (i ? PDS_JWT_REFRESH_TTL
                                          : PDS_JWT_ACCESS_TTL));
        if (tok) {
            printf("%s\n", tok);
            rc = 0;
        }

    } else if (strcmp(cmd, "session-verify") == 0) {
        NEED(7);
        err = pds_jwt_session_verify(&a, argv[6], strlen(argv[6]),
                                     strcmp(argv[2], "refresh") == 0
                                     ? PDS_JWT_REFRESH : PDS_JWT_ACCESS,
                                     (const uint8_t *) argv[3],
                                     strlen(argv[3]), argv[4], atol(argv[5]),
                                     &s);
        if (err == PDS_JWT_OK) {
            printf("ok %s %s\n", s.sub, s.scope);
            rc = 0;
        } else {
            printf("%s\n", jwt_err_name(err));
            rc = 1;
        }

    } else if (strcmp(cmd, "service") == 0) {
        NEED(9);
        key = load(argv[2], argv[3]);
        tok = pds_jwt_service_mint(&a, key, argv[4], argv[5],
                                   strcmp(argv[6], "-") ? argv[6] : NULL,
                                   atol(argv[7]), atol(argv[8]));
        if (tok) {
            printf("%s\n", tok);
            rc = 0;
        }
        pds_key_free(key);

    } else if (strcmp(cmd, "service-verify") == 0) {
        NEED(7);
        err = pds_jwt_service_verify(&a, argv[6], strlen(argv[6]), argv[2],
                                     strcmp(argv[3], "-") ? argv[3] : NULL,
                                     strcmp(argv[4], "-") ? argv[4] : NULL,
                                     atol(argv[5]), &sv);
        printf("%s\n", err == PDS_JWT_OK ? "ok" : jwt_err_name(err));
        rc = err == PDS_JWT_OK ? 0 : 1;

    } else if (strcmp(cmd, "scrypt-hash") == 0) {
        NEED(3);
        if (pds_password_hash(argv[2], strlen(argv[2]), buf, sizeof(buf))
            > 0)
        {
            printf("%s\n", buf);
            rc = 0;
        }

    } else if (strcmp(cmd, "scrypt-verify") == 0) {
        NEED(4);
        i = pds_password_verify(argv[2], strlen(argv[2]), argv[3],
                                strlen(argv[3]));
        printf("%s\n", i == 1 ? "match" : "mismatch");
        rc = i == 1 ? 0 : 1;

    } else if (strcmp(cmd, "app-password") == 0) {
        NEED(2);
        if (pds_app_password_generate(buf) == 0) {
            printf("%s\n", buf);
            rc = 0;
        }

    } else if (strcmp(cmd, "app-password-hash") == 0) {
        NEED(4);
        if (pds_app_password_hash(argv[2], strlen(argv[2]), argv[3],
                                  strlen(argv[3]), buf, sizeof(buf)) > 0)
        {
            printf("%s\n", buf);
            rc = 0;
        }

    } else if (strcmp(cmd, "plc-genesis") == 0) {
        if (argc < 6 || argc > 6 + PDS_PLC_MAX_ROTATION - 1) {
            goto done;
        }
        key = load("k256", argv[2]);
        pds_key_did_key(key, did, sizeof(did));
        for (i = 6; i < argc; i++) {
            keys[i - 6] = argv[i];
        }
        keys[argc - 6] = did;
        p.rotation_keys = keys;
        p.n_rotation_keys = (size_t) (argc - 6 + 1);
        p.signing_key = argv[3];
        p.handle = argv[4];
        p.pds_endpoint = argv[5];
        op = pds_plc_op_new(&p, NULL);
        if (op && pds_plc_sign(op, key) == 0
            && pds_plc_did(op, plc_did) == 0)
        {
            out = json_pack("{s:s, s:O}", "did", plc_did, "op", op);
            rc = print_json(out);
            json_decref(out);
        }
        json_decref(op);
        pds_key_free(key);

    } else if (strcmp(cmd, "plc-update") == 0
               || strcmp(cmd, "plc-tombstone") == 0)
    {
        i = strcmp(cmd, "plc-update") == 0;
        NEED(i ? 5 : 4);
        key = load("k256", argv[2]);
        prev = parse_json(argv[3]);
        memset(&p, 0, sizeof(p));
        p.handle = i ? argv[4] : NULL;
        op = i ? pds_plc_update_op(prev, &p) : pds_plc_tombstone_new(prev);
        if (op && pds_plc_sign(op, key) == 0) {
            rc = print_json(op);
        }
        json_decref(op);
        json_decref(prev);
        pds_key_free(key);

    } else if (strcmp(cmd, "plc-verify") == 0) {
        if (argc < 3 || argc > 3 + PDS_PLC_MAX_ROTATION) {
            goto done;
        }
        op = parse_json(argv[2]);
        for (i = 3; i < argc; i++) {
            keys[i - 3] = argv[i];
        }
        i = pds_plc_verify(op, argc > 3 ? keys : NULL, (size_t) (argc - 3));
        printf("%d\n", i);
        rc = i >= 0 ? 0 : 1;
        json_decref(op);

    } else if (strcmp(cmd, "plc-did") == 0 || strcmp(cmd, "plc-cid") == 0) {
        NEED(3);
        op = parse_json(argv[2]);
        if (strcmp(cmd, "plc-did") == 0
            ? pds_plc_did(op, plc_did) == 0
            : pds_plc_op_cid_str(op, buf) == 0)
        {
            printf("%s\n", strcmp(cmd, "plc-did") == 0 ? plc_did : buf);
            rc = 0;
        }
        json_decref(op);

    } else {
        fprintf(stderr, "unknown command %s\n", cmd);
    }

done:

    pds_arena_destroy(arena);

    return rc;
}
