/*
 * Reading DID documents (pds_diddoc.c): handle, signing key (Multikey and
 * the legacy suites, relative and absolute ids) and PDS endpoint.
 */

#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "pds_diddoc.h"
#include "pds_enc.h"


static json_t *
doc_of(const char *text)
{
    json_error_t  e;

    return json_loads(text, 0, &e);
}


int
main(void)
{
    char           mk[128], dk[PDS_DID_KEY_MAX], text[2048], legacy[128];
    json_t        *doc;
    pds_key_t     *key;
    pds_diddoc_t   d;
    const char    *did = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";

    key = pds_key_generate(PDS_KEY_K256);
    if (!ok(key != NULL, "a key")) {
        return tap_done();
    }

    pds_key_multikey(key, mk, sizeof(mk));
    pds_key_did_key(key, dk, sizeof(dk));

    snprintf(text, sizeof(text),
             "{\"@context\":[\"https://www.w3.org/ns/did/v1\"],"
             "\"id\":\"%s\",\"alsoKnownAs\":[\"https://x.example\","
             "\"at://alice.example.com\"],"
             "\"verificationMethod\":[{\"id\":\"%s#other\",\"type\":"
             "\"Multikey\",\"controller\":\"%s\",\"publicKeyMultibase\":"
             "\"zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF\"},"
             "{\"id\":\"%s#atproto\",\"type\":\"Multikey\",\"controller\":"
             "\"%s\",\"publicKeyMultibase\":\"%s\"}],"
             "\"service\":[{\"id\":\"#bsky_notif\",\"type\":\"X\","
             "\"serviceEndpoint\":\"https://notif.example\"},"
             "{\"id\":\"#atproto_pds\",\"type\":\"AtprotoPersonalDataServer\","
             "\"serviceEndpoint\":\"https://pds.example.com\"}]}",
             did, did, did, did, did, mk);

    doc = doc_of(text);
    ok(doc != NULL && pds_diddoc_read(doc, did, &d) == 0, "a PLC document");
    is_str(d.handle, "alice.example.com", "the first at:// name");
    is_str(d.signing_key, dk, "the #atproto key as did:key");
    is_str(d.pds_endpoint, "https://pds.example.com", "the PDS");
    ok(pds_diddoc_read(doc, "did:plc:somebodyelse", &d) == -1,
       "not the document of another DID");
    json_decref(doc);

    /* relative ids, no PDS, no handle */
    snprintf(text, sizeof(text),
             "{\"id\":\"did:web:example.com\",\"alsoKnownAs\":[],"
             "\"verificationMethod\":[{\"id\":\"#atproto\",\"type\":"
             "\"Multikey\",\"publicKeyMultibase\":\"%s\"}],"
             "\"service\":[{\"id\":\"#atproto_pds\",\"type\":\"Other\","
             "\"serviceEndpoint\":\"https://wrong.example\"}]}", mk);
    doc = doc_of(text);
    ok(pds_diddoc_read(doc, "did:web:example.com", &d) == 0,
       "a did:web document with relative ids");
    ok(d.handle == NULL, "no handle");
    is_str(d.signing_key, dk, "the key");
    ok(d.pds_endpoint == NULL, "a #atproto_pds of another type is no PDS");
    json_decref(doc);

    /* the legacy suite: 'z' + base58btc of the bare compressed point */
    {
        uint8_t  pub[33];
        long     n;

        pds_key_public_compressed(key, pub);
        legacy[0] = 'z';
        n = pds_base58_encode(legacy + 1, sizeof(legacy) - 1, pub,
                              sizeof(pub));
        legacy[n > 0 ? n + 1 : 1] = '\0';
    }

    snprintf(text, sizeof(text),
             "{\"id\":\"%s\",\"verificationMethod\":[{\"id\":\"#atproto\","
             "\"type\":\"EcdsaSecp256k1VerificationKey2019\","
             "\"publicKeyMultibase\":\"%s\"}]}", did, legacy);
    doc = doc_of(text);
    ok(pds_diddoc_read(doc, did, &d) == 0, "a legacy document");
    is_str(d.signing_key, dk, "its secp256k1 key as did:key");
    json_decref(doc);

    snprintf(legacy, sizeof(legacy), "%s", "zBAD0l");
    snprintf(text, sizeof(text),
             "{\"id\":\"%s\",\"verificationMethod\":[{\"id\":\"#atproto\","
             "\"type\":\"EcdsaSecp256k1VerificationKey2019\","
             "\"publicKeyMultibase\":\"%s\"}]}", did, legacy);
    doc = doc_of(text);
    ok(pds_diddoc_read(doc, did, &d) == 0 && d.signing_key[0] == '\0',
       "an unreadable key is no key");
    json_decref(doc);

    doc = doc_of("{\"id\":5}");
    ok(pds_diddoc_read(doc, did, &d) == -1, "no id: not a document");
    json_decref(doc);

    pds_key_free(key);

    return tap_done();
}
