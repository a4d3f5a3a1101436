/*
 * ngx_pds_module core: did:plc operations.
 */

#include <stdlib.h>
#include <string.h>


#include "pds_enc.h"
#include "pds_hash.h"
#include "pds_json.h"
#include "pds_plc.h"


static int
pds_plc_is_did_key(const char *s)
{
    pds_key_t  *key;

    if (s == NULL) {
        return 0;
    }

    key = pds_key_from_did_key(s, strlen(s));
    if (key == NULL) {
        return 0;
    }

    pds_key_free(key);

    return 1;
}


/* a new JSON string: prefix + s unless s already starts with one of them */
static json_t *
pds_plc_prefixed(const char *s, const char *prefix, const char *alt)
{
    char    *buf;
    size_t   plen, slen;
    json_t  *j;

    plen = strlen(prefix);
    if (strncmp(s, prefix, plen) == 0
        || (alt != NULL && strncmp(s, alt, strlen(alt)) == 0))
    {
        return json_string(s);
    }

    slen = strlen(s);
    buf = malloc(plen + slen + 1);
    if (buf == NULL) {
        return NULL;
    }

    memcpy(buf, prefix, plen);
    memcpy(buf + plen, s, slen + 1);
    j = json_string(buf);
    free(buf);

    return j;
}


static json_t *
pds_plc_rotation_keys(const char **keys, size_t n)
{
    size_t   i, k;
    json_t  *arr;

    if (n == 0 || n > PDS_PLC_MAX_ROTATION) {
        return NULL;
    }

    for (i = 0; i < n; i++) {
        if (!pds_plc_is_did_key(keys[i])) {
            return NULL;
        }

        for (k = 0; k < i; k++) {
            if (strcmp(keys[i], keys[k]) == 0) {
                return NULL;
            }
        }
    }

    arr = json_array();
    if (arr == NULL) {
        return NULL;
    }

    for (i = 0; i < n; i++) {
        if (json_array_append_new(arr, json_string(keys[i])) != 0) {
            json_decref(arr);
            return NULL;
        }
    }

    return arr;
}


static json_t *
pds_plc_pds_service(const char *endpoint)
{
    json_t  *svc;

    svc = json_object();
    if (svc == NULL
        || json_object_set_new(svc, "type",
                               json_string("AtprotoPersonalDataServer")) != 0
        || json_object_set_new(svc, "endpoint",
                               pds_plc_prefixed(endpoint, "https://",
                                                "http://")) != 0)
    {
        json_decref(svc);
        return NULL;
    }

    return svc;
}


json_t *
pds_plc_op_new(const pds_plc_params_t *p, const char *prev)
{
    json_t  *op, *vm, *aka, *svcs;

    if (p->rotation_keys == NULL || p->handle == NULL
        || p->pds_endpoint == NULL || !pds_plc_is_did_key(p->signing_key))
    {
        return NULL;
    }

    op = json_object();
    vm = json_object();
    aka = json_array();
    svcs = json_object();

    if (op == NULL || vm == NULL || aka == NULL || svcs == NULL) {
        goto failed;
    }

    if (json_object_set_new(op, "type", json_string("plc_operation")) != 0
        || json_object_set_new(op, "rotationKeys",
                               pds_plc_rotation_keys(p->rotation_keys,
                                                     p->n_rotation_keys))
           != 0
        || json_object_set_new(vm, "atproto", json_string(p->signing_key))
           != 0
        || json_object_set(op, "verificationMethods", vm) != 0
        || json_array_append_new(aka, pds_plc_prefixed(p->handle, "at://",
                                                       NULL)) != 0
        || json_object_set(op, "alsoKnownAs", aka) != 0
        || json_object_set_new(svcs, "atproto_pds",
                               pds_plc_pds_service(p->pds_endpoint)) != 0
        || json_object_set(op, "services", svcs) != 0
        || json_object_set_new(op, "prev", prev ? json_string(prev)
                                                : json_null()) != 0)
    {
        goto failed;
    }

    json_decref(vm);
    json_decref(aka);
    json_decref(svcs);

    return op;

failed:

    json_decref(op);
    json_decref(vm);
    json_decref(aka);
    json_decref(svcs);

    return NULL;
}


/*
 * A deep copy of prev_op's document fields as a plc_operation (legacy
 * "create" ops are normalized like @did-plc/lib's normalizeOp).
 */
static json_t *
pds_plc_normalize(const json_t *prev_op)
{
    const char  *type, *signing, *recovery, *handle, *service;
    const char  *keys[2];
    pds_plc_params_t  p;

    type = json_string_value(json_object_get(prev_op, "type"));
    if (type == NULL) {
        return NULL;
    }

    if (strcmp(type, "plc_operation") == 0) {
        json_t  *op;

        if (!json_is_array(json_object_get(prev_op, "rotationKeys"))
            || !json_is_object(json_object_get(prev_op,
                                               "verificationMethods"))
            || !json_is_array(json_object_get(prev_op, "alsoKnownAs"))
            || !json_is_object(json_object_get(prev_op, "services")))
        {
            return NULL;
        }

        op = json_object();
        if (op == NULL
            || json_object_set_new(op, "type", json_string("plc_operation"))
            || json_object_set_new(op, "rotationKeys",
                   json_deep_copy(json_object_get(prev_op, "rotationKeys")))
            || json_object_set_new(op, "verificationMethods",
                   json_deep_copy(json_object_get(prev_op,
                                                  "verificationMethods")))
            || json_object_set_new(op, "alsoKnownAs",
                   json_deep_copy(json_object_get(prev_op, "alsoKnownAs")))
            || json_object_set_new(op, "services",
                   json_deep_copy(json_object_get(prev_op, "services"))))
        {
            json_decref(op);
            return NULL;
        }

        return op;
    }

    if (strcmp(type, "create") != 0) {
        return NULL;        /* tombstones have no successor */
    }

    signing = json_string_value(json_object_get(prev_op, "signingKey"));
    recovery = json_string_value(json_object_get(prev_op, "recoveryKey"));
    handle = json_string_value(json_object_get(prev_op, "handle"));
    service = json_string_value(json_object_get(prev_op, "service"));

    if (signing == NULL || recovery == NULL || handle == NULL
        || service == NULL)
    {
        return NULL;
    }

    keys[0] = recovery;
    keys[1] = signing;
    p.rotation_keys = keys;
    p.n_rotation_keys = strcmp(recovery, signing) == 0 ? 1 : 2;
    p.signing_key = signing;
    p.handle = handle;
    p.pds_endpoint = service;

    return pds_plc_op_new(&p, NULL);
}


static int
pds_plc_set_prev(json_t *op, const json_t *prev_op)
{
    char  cid[PDS_CID_STR_SIZE];

    if (pds_plc_op_cid_str(prev_op, cid) != 0) {
        return -1;
    }

    json_object_del(op, "sig");

    return json_object_set_new(op, "prev", json_string(cid));
}


json_t *
pds_plc_update_op(const json_t *prev_op, const pds_plc_params_t *p)
{
    size_t       i;
    json_t      *op, *aka, *v;
    const char  *s;

    op = pds_plc_normalize(prev_op);
    if (op == NULL) {
        return NULL;
    }

    if (p->n_rotation_keys > 0
        && json_object_set_new(op, "rotationKeys",
                               pds_plc_rotation_keys(p->rotation_keys,
                                                     p->n_rotation_keys))
           != 0)
    {
        goto failed;
    }

    if (p->signing_key != NULL
        && (!pds_plc_is_did_key(p->signing_key)
            || json_object_set_new(json_object_get(op, "verificationMethods"),
                                   "atproto", json_string(p->signing_key))
               != 0))
    {
        goto failed;
    }

    if (p->handle != NULL) {
        /* replace the first at:// entry, or put the handle first */
        aka = json_object_get(op, "alsoKnownAs");

        json_array_foreach(aka, i, v) {
            s = json_string_value(v);
            if (s != NULL && strncmp(s, "at://", 5) == 0) {
                break;
            }
        }

        v = pds_plc_prefixed(p->handle, "at://", NULL);
        if (v == NULL) {
            goto failed;
        }

        if (i < json_array_size(aka)) {
            if (json_array_set_new(aka, i, v) != 0) {
                goto failed;
            }

        } else if (json_array_insert_new(aka, 0, v) != 0) {
            goto failed;
        }
    }

    if (p->pds_endpoint != NULL
        && json_object_set_new(json_object_get(op, "services"), "atproto_pds",
                               pds_plc_pds_service(p->pds_endpoint)) != 0)
    {
        goto failed;
    }

    if (pds_plc_set_prev(op, prev_op) != 0) {
        goto failed;
    }

    return op;

failed:

    json_decref(op);

    return NULL;
}


json_t *
pds_plc_update_op_json(const json_t *prev_op, const json_t *changes)
{
    size_t       i;
    json_t      *op, *v;
    static const char  *fields[] = {
        "rotationKeys", "verificationMethods", "alsoKnownAs", "services"
    };

    op = pds_plc_normalize(prev_op);
    if (op == NULL) {
        return NULL;
    }

    for (i = 0; changes != NULL && i < sizeof(fields) / sizeof(fields[0]);
         i++)
    {
        v = json_object_get(changes, fields[i]);
        if (v == NULL) {
            continue;
        }

        if ((i == 0 || i == 2) ? !json_is_array(v) : !json_is_object(v)) {
            goto failed;
        }

        if (json_object_set_new(op, fields[i], json_deep_copy(v)) != 0) {
            goto failed;
        }
    }

    if (pds_plc_set_prev(op, prev_op) != 0) {
        goto failed;
    }

    return op;

failed:

    json_decref(op);

    return NULL;
}


json_t *
pds_plc_tombstone_new(const json_t *prev_op)
{
    char     cid[PDS_CID_STR_SIZE];
    json_t  *op;

    if (pds_plc_op_cid_str(prev_op, cid) != 0) {
        return NULL;
    }

    op = json_object();
    if (op == NULL
        || json_object_set_new(op, "type", json_string("plc_tombstone")) != 0
        || json_object_set_new(op, "prev", json_string(cid)) != 0)
    {
        json_decref(op);
        return NULL;
    }

    return op;
}


int
pds_plc_op_cbor(const json_t *op, int unsigned_form, pds_buf_t *out)
{
    json_t  *copy;

    if (!json_is_object(op)) {
        return -1;
    }

    if (!unsigned_form || json_object_get(op, "sig") == NULL) {
        return pds_json_to_cbor_bytes(op, out) == NULL ? 0 : -1;
    }

    copy = json_copy((json_t *) op);
    if (copy == NULL) {
        return -1;
    }

    json_object_del(copy, "sig");

    if (pds_json_to_cbor_bytes(copy, out) != NULL) {
        json_decref(copy);
        return -1;
    }

    json_decref(copy);

    return 0;
}


int
pds_plc_sign(json_t *op, const pds_key_t *rotation_key)
{
    int        rc;
    char       b64[pds_base64_len(PDS_SIG_LEN) + 1];
    uint8_t    sig[PDS_SIG_LEN];
    pds_buf_t  b;

    pds_buf_init(&b, &pds_malloc_allocator);

    rc = -1;

    if (pds_plc_op_cbor(op, 1, &b) != 0 || b.len > PDS_PLC_MAX_OP_SIZE
        || pds_key_sign(rotation_key, b.data, b.len, sig) != 0)
    {
        goto done;
    }

    b64[pds_base64_encode(b64, sig, sizeof(sig), 1, 0)] = '\0';

    rc = json_object_set_new(op, "sig", json_string(b64)) == 0 ? 0 : -1;

done:

    pds_buf_free(&b);

    return rc;
}


int
pds_plc_op_cid(const json_t *op, pds_cid_t *cid)
{
    pds_buf_t  b;

    pds_buf_init(&b, &pds_malloc_allocator);

    if (pds_plc_op_cbor(op, 0, &b) != 0) {
        pds_buf_free(&b);
        return -1;
    }

    pds_cid_of_cbor(cid, b.data, b.len);
    pds_buf_free(&b);

    return 0;
}


int
pds_plc_op_cid_str(const json_t *op, char *out)
{
    pds_cid_t  cid;

    if (pds_plc_op_cid(op, &cid) != 0) {
        return -1;
    }

    pds_cid_format(&cid, out);

    return 0;
}


int
pds_plc_did(const json_t *genesis, char out[PDS_PLC_DID_LEN + 1])
{
    char       b32[pds_base32_len(PDS_SHA256_LEN) + 1];
    uint8_t    digest[PDS_SHA256_LEN];
    pds_buf_t  b;

    if (json_object_get(genesis, "sig") == NULL
        || !json_is_null(json_object_get(genesis, "prev")))
    {
        return -1;
    }

    pds_buf_init(&b, &pds_malloc_allocator);

    if (pds_plc_op_cbor(genesis, 0, &b) != 0) {
        pds_buf_free(&b);
        return -1;
    }

    pds_sha256(b.data, b.len, digest);
    pds_buf_free(&b);

    pds_base32_encode(b32, digest, sizeof(digest));

    memcpy(out, "did:plc:", 8);
    memcpy(out + 8, b32, 24);
    out[PDS_PLC_DID_LEN] = '\0';

    return 0;
}


int
pds_plc_verify(const json_t *op, const char *const *keys, size_t n_keys)
{
    int          found;
    long         n;
    size_t       i, len;
    json_t      *rk;
    uint8_t      sig[80];
    pds_buf_t    b;
    const char  *type, *s, *legacy[2];

    type = json_string_value(json_object_get(op, "type"));
    s = json_string_value(json_object_get(op, "sig"));

    if (type == NULL || s == NULL) {
        return -1;
    }

    if (strcmp(type, "plc_operation") == 0) {
        rk = json_object_get(op, "rotationKeys");
        if (!json_is_array(rk)
            || !json_is_object(json_object_get(op, "verificationMethods"))
            || !json_is_array(json_object_get(op, "alsoKnownAs"))
            || !json_is_object(json_object_get(op, "services"))
            || !(json_is_null(json_object_get(op, "prev"))
                 || json_is_string(json_object_get(op, "prev"))))
        {
            return -1;
        }

    } else if (strcmp(type, "plc_tombstone") == 0) {
        if (!json_is_string(json_object_get(op, "prev"))) {
            return -1;
        }

        rk = NULL;

    } else if (strcmp(type, "create") == 0) {
        /* legacy genesis: signed by its recoveryKey or signingKey */
        if (!json_is_string(json_object_get(op, "signingKey"))
            || !json_is_string(json_object_get(op, "recoveryKey"))
            || !json_is_string(json_object_get(op, "handle"))
            || !json_is_string(json_object_get(op, "service"))
            || !json_is_null(json_object_get(op, "prev")))
        {
            return -1;
        }

        legacy[0] = json_string_value(json_object_get(op, "recoveryKey"));
        legacy[1] = json_string_value(json_object_get(op, "signingKey"));
        rk = NULL;

        if (keys == NULL) {
            keys = legacy;
            n_keys = 2;
        }

    } else {
        return -1;
    }

    len = strlen(s);
    if (len != pds_base64_len(PDS_SIG_LEN) - 2) {       /* 86, unpadded */
        return -1;
    }

    n = pds_base64_decode(sig, s, len, 1);
    if (n != PDS_SIG_LEN) {
        return -1;
    }

    pds_buf_init(&b, &pds_malloc_allocator);

    if (pds_plc_op_cbor(op, 1, &b) != 0) {
        pds_buf_free(&b);
        return -1;
    }

    found = -1;

    if (keys == NULL) {
        for (i = 0; rk != NULL && i < json_array_size(rk); i++) {
            s = json_string_value(json_array_get(rk, i));
            if (s != NULL
                && pds_did_key_verify(s, strlen(s), b.data, b.len, sig, 64,
                                      PDS_SIG_STRICT))
            {
                found = (int) i;
                break;
            }
        }

    } else {
        for (i = 0; i < n_keys; i++) {
            if (pds_did_key_verify(keys[i], strlen(keys[i]), b.data, b.len,
                                   sig, 64, PDS_SIG_STRICT))
            {
                found = (int) i;
                break;
            }
        }
    }

    pds_buf_free(&b);

    return found;
}
