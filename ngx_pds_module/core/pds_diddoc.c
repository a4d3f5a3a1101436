/*
 * ngx_pds_module core: what an AT Protocol DID document says (see
 * pds_diddoc.h).
 */

#include <string.h>

#include "pds_diddoc.h"


/* an "id" matches "#name" written relative ("#name") or absolute */
static int
pds_diddoc_id_is(const char *id, const char *did, const char *name)
{
    size_t  dlen;

    if (id == NULL) {
        return 0;
    }

    if (strcmp(id, name) == 0) {
        return 1;
    }

    dlen = strlen(did);

    return strncmp(id, did, dlen) == 0 && strcmp(id + dlen, name) == 0;
}


static void
pds_diddoc_key(const json_t *doc, const char *did, pds_diddoc_t *out)
{
    size_t          i;
    json_t         *vm;
    const char     *type, *mb;
    pds_key_t      *key;
    pds_key_type_t  kt;

    json_array_foreach(json_object_get(doc, "verificationMethod"), i, vm) {
        if (!pds_diddoc_id_is(json_string_value(json_object_get(vm, "id")),
                              did, "#atproto"))
        {
            continue;
        }

        type = json_string_value(json_object_get(vm, "type"));
        mb = json_string_value(json_object_get(vm, "publicKeyMultibase"));

        if (type == NULL || mb == NULL) {
            return;
        }

        if (strcmp(type, "Multikey") == 0) {
            key = pds_key_from_multikey(mb, strlen(mb));

        } else {
            kt = pds_key_type_from_suite(type);
            key = kt ? pds_key_from_legacy_multibase(kt, mb, strlen(mb))
                     : NULL;
        }

        if (key) {
            if (pds_key_did_key(key, out->signing_key,
                                sizeof(out->signing_key)) < 0)
            {
                out->signing_key[0] = '\0';
            }

            pds_key_free(key);
        }

        return;
    }
}


int
pds_diddoc_read(const json_t *doc, const char *did, pds_diddoc_t *out)
{
    size_t       i;
    json_t      *v;
    const char  *id, *s;

    memset(out, 0, sizeof(pds_diddoc_t));

    id = json_string_value(json_object_get(doc, "id"));
    if (id == NULL || strcmp(id, did) != 0) {
        return -1;
    }

    json_array_foreach(json_object_get(doc, "alsoKnownAs"), i, v) {
        s = json_string_value(v);
        if (s && strncmp(s, "at://", 5) == 0 && s[5] != '\0') {
            out->handle = s + 5;
            break;
        }
    }

    pds_diddoc_key(doc, did, out);

    json_array_foreach(json_object_get(doc, "service"), i, v) {
        if (pds_diddoc_id_is(json_string_value(json_object_get(v, "id")),
                             did, "#atproto_pds")
            && (s = json_string_value(json_object_get(v, "type"))) != NULL
            && strcmp(s, "AtprotoPersonalDataServer") == 0)
        {
            out->pds_endpoint =
                json_string_value(json_object_get(v, "serviceEndpoint"));
            break;
        }
    }

    return 0;
}
