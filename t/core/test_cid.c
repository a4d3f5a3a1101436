/*
 * CIDs: binary and string forms, computation, strictness.
 */

#include <jansson.h>

#include "tap.h"
#include "pds_mem.h"
#include "pds_enc.h"
#include "pds_cid.h"


static void
test_fixture_strings(void)
{
    char         path[1024], buf[PDS_CID_STR_SIZE];
    char        *text, *out = buf;
    size_t       i, len = 0;
    json_t      *root, *e, *ref;
    uint8_t      bin[PDS_CID_BIN_LEN];
    pds_cid_t    cid, cid2;
    const char  *s;

    tap_shared_path(path, sizeof(path),
                    "interop/data-model/data-model-fixtures.json");
    text = tap_slurp(path, &len);
    if (!ok(text != NULL, "read %s", path)) {
        return;
    }

    root = json_loadb(text, len, 0, NULL);
    free(text);

    if (!ok(json_is_array(root), "fixtures parse")) {
        return;
    }

    json_array_foreach(root, i, e) {
        s = json_string_value(json_object_get(e, "cid"));

        ok(s && pds_cid_parse(&cid, s, strlen(s)) == 0,
           "parses fixture CID %s", s);
        is_int(cid.codec, PDS_CID_CODEC_DAG_CBOR, "  it is dag-cbor");
        pds_cid_format(&cid, out);
        is_str(out, s, "  formats back identically");

        pds_cid_to_bytes(&cid, bin);
        ok(pds_cid_from_bytes(&cid2, bin, sizeof(bin)) == 0
           && pds_cid_equal(&cid, &cid2), "  binary round trip");

        /* blob refs inside the fixture are raw CIDs */
        ref = json_object_get(json_object_get(json_object_get(e, "json"),
                                              "c"), "ref");
        s = json_string_value(json_object_get(ref, "$link"));
        if (s != NULL) {
            ok(pds_cid_parse(&cid, s, strlen(s)) == 0
               && cid.codec == PDS_CID_CODEC_RAW, "blob ref %s is raw", s);
            pds_cid_format(&cid, out);
            is_str(out, s, "  formats back identically");
        }
    }

    json_decref(root);
}


static void
test_compute(void)
{
    char       s1[PDS_CID_STR_SIZE], s2[PDS_CID_STR_SIZE];
    size_t     n;
    uint8_t    bin[PDS_CID_BIN_LEN];
    pds_cid_t  a, b, c;

    pds_cid_of_cbor(&a, (const uint8_t *) "\xa0", 1);
    pds_cid_of_raw(&b, (const uint8_t *) "\xa0", 1);

    ok(pds_cid_cmp(&a, &b) != 0 && !pds_cid_equal(&a, &b),
       "raw and dag-cbor CIDs of the same bytes differ");
    ok(memcmp(a.digest, b.digest, 32) == 0, "but share the digest");

    n = pds_cid_format(&a, s1);
    is_int(n, PDS_CID_STR_LEN, "string length is 59");
    is_int(strlen(s1), PDS_CID_STR_LEN, "NUL-terminated");
    ok(strncmp(s1, "bafyrei", 7) == 0, "dag-cbor sha256 starts bafyrei");
    pds_cid_format(&b, s2);
    ok(strncmp(s2, "bafkrei", 7) == 0, "raw sha256 starts bafkrei");

    pds_cid_to_bytes(&a, bin);
    ok(bin[0] == 1 && bin[1] == 0x71 && bin[2] == 0x12 && bin[3] == 0x20,
       "binary header 01 71 12 20");
    pds_cid_to_bytes(&b, bin);
    ok(bin[1] == 0x55, "raw codec byte 0x55");

    /* cmp orders like the binary form */
    ok(pds_cid_cmp(&b, &a) < 0 && pds_cid_cmp(&a, &b) > 0,
       "raw (0x55) sorts before dag-cbor (0x71)");
    c = a;
    c.digest[31] ^= 1;
    ok(pds_cid_cmp(&a, &c) != 0
       && (pds_cid_cmp(&a, &c) < 0) == (a.digest[31] < c.digest[31]),
       "digest order decides within a codec");
    c = a;
    ok(pds_cid_cmp(&a, &c) == 0 && pds_cid_equal(&a, &c), "equal copies");

    /* empty input is fine */
    pds_cid_of_raw(&c, NULL, 0);
    pds_cid_format(&c, s1);
    ok(pds_cid_parse(&b, s1, strlen(s1)) == 0 && pds_cid_equal(&b, &c),
       "CID of empty data round-trips");
}


static void
test_binary(void)
{
    long       n;
    uint8_t    bin[PDS_CID_BIN_LEN + 4], bad[64];
    pds_cid_t  a, b;

    pds_cid_of_cbor(&a, (const uint8_t *) "abc", 3);
    pds_cid_to_bytes(&a, bin);
    bin[36] = 0xaa;
    bin[37] = 0xbb;

    n = pds_cid_read(&b, bin, 38);
    ok(n == 36 && pds_cid_equal(&a, &b), "cid_read stops after 36 bytes");
    ok(pds_cid_from_bytes(&b, bin, 37) == -1, "from_bytes wants exact size");
    ok(pds_cid_from_bytes(&b, bin, 35) == -1, "short input rejected");
    ok(pds_cid_read(&b, bin, 20) == -1, "truncated read rejected");

    memcpy(bad, bin, 36);
    bad[0] = 0x00;
    ok(pds_cid_from_bytes(&b, bad, 36) == -1, "version 0 rejected");
    bad[0] = 0x02;
    ok(pds_cid_from_bytes(&b, bad, 36) == -1, "version 2 rejected");

    memcpy(bad, bin, 36);
    bad[1] = 0x70;
    ok(pds_cid_from_bytes(&b, bad, 36) == -1, "dag-pb codec rejected");
    bad[1] = 0x0129 & 0x7f;
    ok(pds_cid_from_bytes(&b, bad, 36) == -1, "dag-json codec rejected");

    memcpy(bad, bin, 36);
    bad[2] = 0x13;
    ok(pds_cid_from_bytes(&b, bad, 36) == -1, "sha2-512 rejected");
    bad[2] = 0x1e;
    ok(pds_cid_from_bytes(&b, bad, 36) == -1, "blake3 rejected");

    memcpy(bad, bin, 36);
    bad[3] = 0x1f;
    ok(pds_cid_read(&b, bad, 36) == -1, "digest length 31 rejected");

    /* non-minimal varint codec: 0xf1 0x00 == 0x71 */
    bad[0] = 0x01;
    bad[1] = 0xf1;
    bad[2] = 0x00;
    bad[3] = 0x12;
    bad[4] = 0x20;
    memcpy(bad + 5, a.digest, 32);
    ok(pds_cid_read(&b, bad, 37) == -1, "non-minimal varint rejected");

    /* CIDv0: bare multihash */
    bad[0] = 0x12;
    bad[1] = 0x20;
    memcpy(bad + 2, a.digest, 32);
    ok(pds_cid_read(&b, bad, 34) == -1, "CIDv0 binary rejected");
}


static void
test_bad_strings(void)
{
    static const char  *bad[] = {
        "",
        "b",
        "bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2",
        "bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2aa",
        "BAFYREIDFAYVFUWQA7QLNOPDJIQRXZS6BLMOEU4RUJCJTNCI5BELUDIRZ2A",
        "Bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a",
        "bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2b",
        "bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz1a",
        "bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludir a",
        " afyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a",
        "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
        "bafybeie5gq4jxvzmsym6hjlwxej4rwdoxt7wadqvmmwbqi7r27fclha2va",
        "QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR",
        "zdj7WWeQ43G6JJvLWQWZpyHuAMq6uYWRjkBXFad11vE2LHhQ7",
        ("f017012202c5f688262e0ece8569aa6f94d60aad55ca8d9d83734e4a7430d0cff65"
         "88ec2b"),
        "mBcDxtdWx0aWhhc2g+",
        ".",
        "cid:bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a",
    };

    size_t     i;
    pds_cid_t  cid;
    const char *good =
        "bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a";

    ok(pds_cid_parse(&cid, good, strlen(good)) == 0, "control CID parses");

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ok(pds_cid_parse(&cid, bad[i], strlen(bad[i])) == -1,
           "rejects '%s'", bad[i]);
    }

    /* the length argument is honoured (no reading past it) */
    ok(pds_cid_parse(&cid, good, 58) == -1, "length respected");
}


int
main(void)
{
    test_fixture_strings();
    test_compute();
    test_binary();
    test_bad_strings();

    return tap_done();
}
