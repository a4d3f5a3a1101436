/*
 * Lexicon documents and record validation: the interop vectors
 * (../shared/interop/lexicon), the official schemas (../shared/lexicons)
 * with real app.bsky records, the reference's messages, graphemes.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "pds_lexicon.h"
#include "pds_json.h"
#include "tap.h"


static json_t *
load_json(const char *rel)
{
    char          path[1024];
    json_error_t  jerr;
    json_t       *j;

    tap_shared_path(path, sizeof(path), rel);
    j = json_load_file(path, 0, &jerr);
    if (j == NULL) {
        tap_diag("cannot load %s: %s", path, jerr.text);
    }

    return j;
}


static int
check(const pds_lexicon_t *lex, const char *json, const char *rkey,
    char *err, size_t errlen)
{
    int           rc;
    json_t       *j;
    json_error_t  jerr;

    j = json_loads(json, 0, &jerr);
    if (j == NULL) {
        snprintf(err, errlen, "bad test JSON: %s", jerr.text);
        return 99;
    }

    rc = pds_lexicon_validate_record(lex, j, NULL, rkey, err, errlen);
    json_decref(j);

    return rc;
}


static void
test_documents(void)
{
    size_t       i;
    json_t      *v, *item;
    const char  *msg;

    v = load_json("interop/lexicon/lexicon-valid.json");
    ok(v != NULL, "lexicon-valid.json loaded");
    json_array_foreach(v, i, item) {
        msg = pds_lexicon_doc_valid(json_object_get(item, "lexicon"));
        ok(msg == NULL, "valid lexicon: %s%s%s",
           json_string_value(json_object_get(item, "name")),
           msg ? " -- " : "", msg ? msg : "");
    }
    json_decref(v);

    v = load_json("interop/lexicon/lexicon-invalid.json");
    ok(v != NULL, "lexicon-invalid.json loaded");
    json_array_foreach(v, i, item) {
        msg = pds_lexicon_doc_valid(json_object_get(item, "lexicon"));
        ok(msg != NULL, "invalid lexicon rejected: %s (%s)",
           json_string_value(json_object_get(item, "name")),
           msg ? msg : "accepted");
    }
    json_decref(v);
}


#define CID1  "bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq"


static void
test_catalog(void)
{
    int             rc;
    long            n;
    size_t          i;
    json_t         *v, *item;
    pds_lexicon_t  *lex;
    char            path[1024], err[PDS_LEX_ERR_MAX];

    lex = pds_lexicon_create();
    tap_shared_path(path, sizeof(path), "interop/lexicon/catalog");
    n = pds_lexicon_load_dir(lex, path, err, sizeof(err));
    ok(n == 5, "catalog: %ld documents loaded%s%s", n, n < 0 ? ": " : "",
       n < 0 ? err : "");

    v = load_json("interop/lexicon/record-data-valid.json");
    json_array_foreach(v, i, item) {
        rc = pds_lexicon_validate_record(lex, json_object_get(item, "data"),
                 NULL, json_string_value(json_object_get(item, "rkey")),
                 err, sizeof(err));
        ok(rc == PDS_LEX_VALID, "valid record: %s%s%s",
           json_string_value(json_object_get(item, "name")),
           rc ? " -- " : "", rc ? err : "");
        ok(pds_json_validate_record(json_object_get(item, "data")) == NULL,
           "  and valid data model");
    }
    json_decref(v);

    v = load_json("interop/lexicon/record-data-invalid.json");
    json_array_foreach(v, i, item) {
        rc = pds_lexicon_validate_record(lex, json_object_get(item, "data"),
                 NULL, json_string_value(json_object_get(item, "rkey")),
                 err, sizeof(err));
        ok(rc == PDS_LEX_INVALID, "invalid record: %s -- %s",
           json_string_value(json_object_get(item, "name")), err);
    }
    json_decref(v);

    /* messages in the reference's form */
    rc = check(lex, "{\"$type\":\"example.lexicon.record\"}", NULL, err,
               sizeof(err));
    is_str(err, "Invalid example.lexicon.record record: Missing required key"
           " \"integer\" at $.record", "message: missing required");

    check(lex, "{\"$type\":\"example.lexicon.record\",\"integer\":1,"
          "\"lenString\":\"abcdefg-abcdefg-abcdefg\"}", NULL, err, sizeof(err));
    is_str(err, "Invalid example.lexicon.record record: string too big "
           "(maximum 20, got 23) at $.record.lenString", "message: too long");

    check(lex, "{\"$type\":\"example.lexicon.record\",\"integer\":1,"
          "\"array\":[1,true]}", NULL, err, sizeof(err));
    is_str(err, "Invalid example.lexicon.record record: Expected integer "
           "value type (got true) at $.record.array[1]",
           "message: array element");

    check(lex, "{\"$type\":\"example.lexicon.record\",\"integer\":1,"
          "\"enumString\":\"x\"}", NULL, err, sizeof(err));
    is_str(err, "Invalid example.lexicon.record record: Expected one of "
           "\"fish\", \"tree\" or \"rock\" (got \"x\") at $.record.enumString",
           "message: enum");

    check(lex, "{\"$type\":\"example.lexicon.record\",\"integer\":1,"
          "\"union\":{\"a\":1}}", NULL, err, sizeof(err));
    is_str(err, "Invalid example.lexicon.record record: Expected an object "
           "which includes the \"$type\" property value type (got {\"a\": "
           "...}) at $.record.union", "message: union without $type");

    check(lex, "{\"$type\":\"example.lexicon.record\",\"integer\":1,"
          "\"closedUnion\":{\"$type\":\"x.y.z\"}}", NULL, err, sizeof(err));
    is_str(err, "Invalid example.lexicon.record record: Expected "
           "\"example.lexicon.record#demoObject\" (got \"x.y.z\") at "
           "$.record.closedUnion.$type", "message: closed union");

    check(lex, "{\"$type\":\"example.lexicon.record\",\"integer\":1,"
          "\"formats\":{\"did\":\"x\"}}", NULL, err, sizeof(err));
    is_str(err, "Invalid example.lexicon.record record: Invalid DID "
           "(got \"x\") at $.record.formats.did", "message: format");

    check(lex, "{\"$type\":\"example.lexicon.record\",\"integer\":1,"
          "\"acceptBlob\":{\"$type\":\"blob\",\"mimeType\":\"text/plain\","
          "\"size\":1,\"ref\":{\"$link\":\"bafyreiclp443lavogvhj3d2ob2cxbfusc"
          "ni2k5jk7bebjzg7khl3esabwq\"}}}", NULL, err, sizeof(err));
    is_str(err, "Invalid example.lexicon.record record: Expected \"image/*\" "
           "(got \"text/plain\") at $.record.acceptBlob.mimeType",
           "message: blob accept");

    /* the "unknown wrong type" vectors, with the required field present */
    rc = check(lex, "{\"$type\":\"example.lexicon.record\",\"integer\":1,"
               "\"unknown\":false}", NULL, err, sizeof(err));
    ok(rc == PDS_LEX_INVALID, "unknown: boolean rejected (%s)", err);
    rc = check(lex, "{\"$type\":\"example.lexicon.record\",\"integer\":1,"
               "\"unknown\":{\"$bytes\":\"123\"}}", NULL, err, sizeof(err));
    ok(rc == PDS_LEX_INVALID, "unknown: bytes rejected (%s)", err);
    rc = check(lex, "{\"$type\":\"example.lexicon.record\",\"integer\":1,"
               "\"unknown\":{\"$type\":\"blob\",\"mimeType\":\"text/plain\","
               "\"size\":1,\"ref\":{\"$link\":\"" CID1 "\"}}}", NULL, err,
               sizeof(err));
    ok(rc == PDS_LEX_INVALID, "unknown: blob rejected (%s)", err);
    rc = check(lex, "{\"$type\":\"example.lexicon.record\",\"integer\":1,"
               "\"unknown\":{\"$link\":\"" CID1 "\"}}", NULL, err, sizeof(err));
    ok(rc == PDS_LEX_INVALID, "unknown: cid-link rejected (%s)", err);

    rc = check(lex, "{\"$type\":\"example.lexicon.record\",\"integer\":1}",
               "nope", err, sizeof(err));
    ok(rc == PDS_LEX_INVALID, "literal:demo record key enforced (%s)", err);

    rc = check(lex, "{\"$type\":\"example.lexicon.nothere\"}", NULL, err,
               sizeof(err));
    is_int(rc, PDS_LEX_UNKNOWN, "unknown type -> unknown");

    rc = check(lex, "{\"integer\":1}", NULL, err, sizeof(err));
    ok(rc == PDS_LEX_INVALID, "missing $type is invalid (%s)", err);

    pds_lexicon_destroy(lex);
}


typedef struct {
    const char  *name;
    const char  *json;
    const char  *rkey;
    int          want;
    const char  *msg;       /* expected message, or NULL */
} rec_case_t;


#define BLOB(mime, size)                                                    \
    "{\"$type\":\"blob\",\"ref\":{\"$link\":\"bafkreibme22gw2h7y2h7tg2fhq"  \
    "otaqjucnbc24deqo72b6mkl2egezxhvy\"},\"mimeType\":\"" mime "\","        \
    "\"size\":" #size "}"
#define NOW   "\"createdAt\":\"2024-05-01T12:00:00.000Z\""
#define AT_POST "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/" \
                "3k43tv4rft22g"
#define STRONG "{\"uri\":\"" AT_POST "\",\"cid\":\"" CID1 "\"}"


static const rec_case_t  rec_cases[] = {
    { "post: text", "{\"$type\":\"app.bsky.feed.post\",\"text\":\"hello\","
      NOW "}", "3k43tv4rft22g", PDS_LEX_VALID, NULL },
    { "post: facets, langs, tags, reply",
      "{\"$type\":\"app.bsky.feed.post\",\"text\":\"hi @alice.test #tag "
      "https://example.com\",\"langs\":[\"en\",\"pt-BR\"],\"tags\":[\"x\"],"
      "\"facets\":[{\"index\":{\"byteStart\":3,\"byteEnd\":14},\"features\":"
      "[{\"$type\":\"app.bsky.richtext.facet#mention\",\"did\":"
      "\"did:plc:ewvi7nxzyoun6zhxrhs64oiz\"}]},{\"index\":{\"byteStart\":15,"
      "\"byteEnd\":19},\"features\":[{\"$type\":\"app.bsky.richtext.facet#tag\""
      ",\"tag\":\"tag\"}]},{\"index\":{\"byteStart\":20,\"byteEnd\":39},"
      "\"features\":[{\"$type\":\"app.bsky.richtext.facet#link\",\"uri\":"
      "\"https://example.com\"}]}],\"reply\":{\"root\":" STRONG ",\"parent\":"
      STRONG "}," NOW "}", NULL, PDS_LEX_VALID, NULL },
    { "post: images embed",
      "{\"$type\":\"app.bsky.feed.post\",\"text\":\"pic\",\"embed\":{\"$type\":"
      "\"app.bsky.embed.images\",\"images\":[{\"alt\":\"a cat\",\"image\":"
      BLOB("image/png", 1234) ",\"aspectRatio\":{\"width\":4,\"height\":3}}"
      "]}," NOW "}", NULL, PDS_LEX_VALID, NULL },
    { "post: external embed",
      "{\"$type\":\"app.bsky.feed.post\",\"text\":\"\",\"embed\":{\"$type\":"
      "\"app.bsky.embed.external\",\"external\":{\"uri\":\"https://x.org\","
      "\"title\":\"t\",\"description\":\"d\",\"thumb\":"
      BLOB("image/jpeg", 100) "}}," NOW "}", NULL, PDS_LEX_VALID, NULL },
    { "post: quote with media",
      "{\"$type\":\"app.bsky.feed.post\",\"text\":\"q\",\"embed\":{\"$type\":"
      "\"app.bsky.embed.recordWithMedia\",\"record\":{\"record\":" STRONG
      "},\"media\":{\"$type\":\"app.bsky.embed.images\",\"images\":[]}}," NOW
      "}", NULL, PDS_LEX_VALID, NULL },
    { "post: self labels",
      "{\"$type\":\"app.bsky.feed.post\",\"text\":\"x\",\"labels\":{\"$type\":"
      "\"com.atproto.label.defs#selfLabels\",\"values\":[{\"val\":\"porn\"}]}"
      "," NOW "}", NULL, PDS_LEX_VALID, NULL },
    { "post: open union accepts unknown $type",
      "{\"$type\":\"app.bsky.feed.post\",\"text\":\"x\",\"embed\":{\"$type\":"
      "\"com.example.embed\",\"x\":1}," NOW "}", NULL, PDS_LEX_VALID, NULL },
    { "post: emoji text at the grapheme limit",
      NULL, NULL, PDS_LEX_VALID, NULL },
    { "post: 301 graphemes",
      NULL, NULL, PDS_LEX_INVALID,
      "Invalid app.bsky.feed.post record: grapheme too big (maximum 300, "
      "got 301) at $.record.text" },
    { "post: 3001 bytes",
      NULL, NULL, PDS_LEX_INVALID,
      "Invalid app.bsky.feed.post record: string too big (maximum 3000, "
      "got 3001) at $.record.text" },
    { "post: missing createdAt",
      "{\"$type\":\"app.bsky.feed.post\",\"text\":\"x\"}", NULL,
      PDS_LEX_INVALID, "Invalid app.bsky.feed.post record: Missing required "
      "key \"createdAt\" at $.record" },
    { "post: bad datetime",
      "{\"$type\":\"app.bsky.feed.post\",\"text\":\"x\",\"createdAt\":"
      "\"yesterday\"}", NULL, PDS_LEX_INVALID,
      "Invalid app.bsky.feed.post record: Invalid datetime (got "
      "\"yesterday\") at $.record.createdAt" },
    { "post: text not a string",
      "{\"$type\":\"app.bsky.feed.post\",\"text\":5," NOW "}", NULL,
      PDS_LEX_INVALID, "Invalid app.bsky.feed.post record: Expected string "
      "value type (got 5) at $.record.text" },
    { "post: bad facet feature",
      "{\"$type\":\"app.bsky.feed.post\",\"text\":\"x\",\"facets\":[{\"index\""
      ":{\"byteStart\":0,\"byteEnd\":1},\"features\":[{\"$type\":"
      "\"app.bsky.richtext.facet#mention\",\"did\":\"alice\"}]}]," NOW "}",
      NULL, PDS_LEX_INVALID, "Invalid app.bsky.feed.post record: Invalid DID "
      "(got \"alice\") at $.record.facets[0].features[0].did" },
    { "post: negative byteStart",
      "{\"$type\":\"app.bsky.feed.post\",\"text\":\"x\",\"facets\":[{\"index\""
      ":{\"byteStart\":-1,\"byteEnd\":1},\"features\":[]}]," NOW "}", NULL,
      PDS_LEX_INVALID, "Invalid app.bsky.feed.post record: integer too small "
      "(minimum 0, got -1) at $.record.facets[0].index.byteStart" },
    { "post: too many images",
      "{\"$type\":\"app.bsky.feed.post\",\"text\":\"x\",\"embed\":{\"$type\":"
      "\"app.bsky.embed.images\",\"images\":[{\"alt\":\"\",\"image\":"
      BLOB("image/png", 1) "},{\"alt\":\"\",\"image\":" BLOB("image/png", 1)
      "},{\"alt\":\"\",\"image\":" BLOB("image/png", 1) "},{\"alt\":\"\","
      "\"image\":" BLOB("image/png", 1) "},{\"alt\":\"\",\"image\":"
      BLOB("image/png", 1) "}]}," NOW "}", NULL, PDS_LEX_INVALID,
      "Invalid app.bsky.feed.post record: array too big (maximum 4, got 5) "
      "at $.record.embed.images" },
    { "post: image too large",
      "{\"$type\":\"app.bsky.feed.post\",\"text\":\"x\",\"embed\":{\"$type\":"
      "\"app.bsky.embed.images\",\"images\":[{\"alt\":\"\",\"image\":"
      BLOB("image/png", 2000001) "}]}," NOW "}", NULL, PDS_LEX_INVALID,
      "Invalid app.bsky.feed.post record: blob too big (maximum 2000000, "
      "got 2000001) at $.record.embed.images[0].image" },
    { "post: image of wrong mime type",
      "{\"$type\":\"app.bsky.feed.post\",\"text\":\"x\",\"embed\":{\"$type\":"
      "\"app.bsky.embed.images\",\"images\":[{\"alt\":\"\",\"image\":"
      BLOB("text/html", 20) "}]}," NOW "}", NULL, PDS_LEX_INVALID,
      "Invalid app.bsky.feed.post record: Expected \"image/*\" (got "
      "\"text/html\") at $.record.embed.images[0].image.mimeType" },
    { "post: wrong $type inside a ref'd object",
      "{\"$type\":\"app.bsky.feed.post\",\"text\":\"x\",\"reply\":{\"root\":"
      "{\"$type\":\"app.bsky.feed.like\",\"uri\":\"" AT_POST "\",\"cid\":\""
      CID1 "\"},\"parent\":" STRONG "}," NOW "}", NULL, PDS_LEX_INVALID,
      "Invalid app.bsky.feed.post record: Expected "
      "\"com.atproto.repo.strongRef\" (got \"app.bsky.feed.like\") at "
      "$.record.reply.root.$type" },
    { "post: bad language",
      "{\"$type\":\"app.bsky.feed.post\",\"text\":\"x\",\"langs\":[\"en\","
      "\"???\"]," NOW "}", NULL, PDS_LEX_INVALID,
      "Invalid app.bsky.feed.post record: Invalid language (got \"???\") at "
      "$.record.langs[1]" },
    { "like", "{\"$type\":\"app.bsky.feed.like\",\"subject\":" STRONG ","
      NOW "}", "3k43tv4rft22g", PDS_LEX_VALID, NULL },
    { "like: subject not a strongRef",
      "{\"$type\":\"app.bsky.feed.like\",\"subject\":\"" AT_POST "\"," NOW
      "}", NULL, PDS_LEX_INVALID, "Invalid app.bsky.feed.like record: "
      "Expected object value type (got \"" AT_POST "\") at $.record.subject" },
    { "like: bad cid in strongRef",
      "{\"$type\":\"app.bsky.feed.like\",\"subject\":{\"uri\":\"" AT_POST
      "\",\"cid\":\"nope\"}," NOW "}", NULL, PDS_LEX_INVALID,
      "Invalid app.bsky.feed.like record: Invalid CID string (got \"nope\") "
      "at $.record.subject.cid" },
    { "repost", "{\"$type\":\"app.bsky.feed.repost\",\"subject\":" STRONG
      "," NOW "}", NULL, PDS_LEX_VALID, NULL },
    { "follow", "{\"$type\":\"app.bsky.graph.follow\",\"subject\":"
      "\"did:plc:ewvi7nxzyoun6zhxrhs64oiz\"," NOW "}", "3k43tv4rft22g",
      PDS_LEX_VALID, NULL },
    { "follow: handle is not a DID",
      "{\"$type\":\"app.bsky.graph.follow\",\"subject\":\"alice.test\","
      NOW "}", NULL, PDS_LEX_INVALID, "Invalid app.bsky.graph.follow record: "
      "Invalid DID (got \"alice.test\") at $.record.subject" },
    { "follow: rkey must be a TID",
      "{\"$type\":\"app.bsky.graph.follow\",\"subject\":"
      "\"did:plc:ewvi7nxzyoun6zhxrhs64oiz\"," NOW "}", "self",
      PDS_LEX_INVALID, NULL },
    { "block", "{\"$type\":\"app.bsky.graph.block\",\"subject\":"
      "\"did:plc:ewvi7nxzyoun6zhxrhs64oiz\"," NOW "}", NULL, PDS_LEX_VALID,
      NULL },
    { "profile", "{\"$type\":\"app.bsky.actor.profile\",\"displayName\":"
      "\"Alice \xf0\x9f\x90\x88\",\"description\":\"hi\",\"avatar\":"
      BLOB("image/jpeg", 5000) ",\"banner\":" BLOB("image/png", 9000) ","
      "\"pinnedPost\":" STRONG "}", "self", PDS_LEX_VALID, NULL },
    { "profile: empty", "{\"$type\":\"app.bsky.actor.profile\"}", "self",
      PDS_LEX_VALID, NULL },
    { "profile: rkey must be self",
      "{\"$type\":\"app.bsky.actor.profile\"}", "other", PDS_LEX_INVALID,
      "Invalid record key for app.bsky.actor.profile: Expected \"self\" "
      "(got \"other\")" },
    { "profile: avatar of wrong type",
      "{\"$type\":\"app.bsky.actor.profile\",\"avatar\":"
      BLOB("image/gif", 10) "}", "self", PDS_LEX_INVALID,
      "Invalid app.bsky.actor.profile record: Expected one of \"image/png\" or "
      "\"image/jpeg\" (got \"image/gif\") at $.record.avatar.mimeType" },
    { "profile: displayName too long", NULL, "self", PDS_LEX_INVALID, NULL },
    { "list", "{\"$type\":\"app.bsky.graph.list\",\"purpose\":"
      "\"app.bsky.graph.defs#curatelist\",\"name\":\"friends\"," NOW "}",
      NULL, PDS_LEX_VALID, NULL },
    { "list: missing name",
      "{\"$type\":\"app.bsky.graph.list\",\"purpose\":"
      "\"app.bsky.graph.defs#curatelist\"," NOW "}", NULL, PDS_LEX_INVALID,
      "Invalid app.bsky.graph.list record: Missing required key \"name\" at "
      "$.record" },
    { "listitem", "{\"$type\":\"app.bsky.graph.listitem\",\"subject\":"
      "\"did:plc:ewvi7nxzyoun6zhxrhs64oiz\",\"list\":\"at://did:plc:ewvi7nxz"
      "youn6zhxrhs64oiz/app.bsky.graph.list/3k43tv4rft22g\"," NOW "}", NULL,
      PDS_LEX_VALID, NULL },
    { "threadgate", "{\"$type\":\"app.bsky.feed.threadgate\",\"post\":\""
      AT_POST "\",\"allow\":[{\"$type\":\"app.bsky.feed.threadgate#"
      "mentionRule\"},{\"$type\":\"app.bsky.feed.threadgate#followingRule\"}]"
      "," NOW "}", NULL, PDS_LEX_VALID, NULL },
    { "postgate", "{\"$type\":\"app.bsky.feed.postgate\",\"post\":\""
      AT_POST "\",\"embeddingRules\":[{\"$type\":\"app.bsky.feed.postgate#"
      "disableRule\"}]," NOW "}", NULL, PDS_LEX_VALID, NULL },
    { "generator", "{\"$type\":\"app.bsky.feed.generator\",\"did\":"
      "\"did:web:feed.example.com\",\"displayName\":\"Feed\"," NOW "}",
      NULL, PDS_LEX_VALID, NULL },
    { "starterpack", "{\"$type\":\"app.bsky.graph.starterpack\",\"name\":"
      "\"sp\",\"list\":\"at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/"
      "app.bsky.graph.list/3k43tv4rft22g\"," NOW "}", NULL, PDS_LEX_VALID,
      NULL },
    { "chat declaration", "{\"$type\":\"chat.bsky.actor.declaration\","
      "\"allowIncoming\":\"following\"}", "self", PDS_LEX_VALID, NULL },
    { "unknown collection", "{\"$type\":\"com.example.thing\",\"x\":1}",
      NULL, PDS_LEX_UNKNOWN, NULL },
    { "$type of a non-record definition",
      "{\"$type\":\"app.bsky.feed.defs\"}", NULL, PDS_LEX_UNKNOWN, NULL },
    { "record not an object", "[1,2]", NULL, PDS_LEX_INVALID, NULL },
    { NULL, NULL, NULL, 0, NULL }
};


static char *
make_post(const char *unit, size_t times, const char *tail)
{
    size_t  i, ulen, tlen;
    char   *s, *p;
    const char  *head = "{\"$type\":\"app.bsky.feed.post\",\"text\":\"";

    ulen = strlen(unit);
    tlen = strlen(tail);
    s = malloc(strlen(head) + ulen * times + tlen + 1);
    p = s;
    memcpy(p, head, strlen(head));
    p += strlen(head);
    for (i = 0; i < times; i++) {
        memcpy(p, unit, ulen);
        p += ulen;
    }
    memcpy(p, tail, tlen + 1);

    return s;
}


static void
test_official(pds_lexicon_t *lex)
{
    int               rc;
    char             *gen;
    const char       *json;
    const rec_case_t *t;
    char              err[PDS_LEX_ERR_MAX];

    for (t = rec_cases; t->name; t++) {
        gen = NULL;
        json = t->json;

        if (json == NULL && strstr(t->name, "grapheme limit")) {
            /* 300 x (a + combining acute): 300 graphemes, 600 UTF-16 units */
            gen = make_post("a\xcc\x81", 300, "\"," NOW "}");
        } else if (json == NULL && strstr(t->name, "301 graphemes")) {
            gen = make_post("\xc3\xa9", 301, "\"," NOW "}");
        } else if (json == NULL && strstr(t->name, "3001 bytes")) {
            gen = make_post("\xe2\x80\x8b", 1000, "x\"," NOW "}");
        } else if (json == NULL) {
            gen = make_post("x", 1, "\"}");
            free(gen);
            gen = malloc(200);
            snprintf(gen, 200, "{\"$type\":\"app.bsky.actor.profile\","
                     "\"displayName\":\"%s\"}",
                     "0123456789012345678901234567890123456789012345678901"
                     "234567890123456789");
        }

        if (gen) {
            json = gen;
        }

        rc = check(lex, json, t->rkey, err, sizeof(err));
        if (!is_int(rc, t->want, "%s", t->name)) {
            tap_diag("  %s", err);
        } else if (rc != PDS_LEX_VALID) {
            tap_diag("  %s", err);
        }

        if (t->msg) {
            is_str(err, t->msg, "  message");
        }

        free(gen);
    }
}


static void
test_graphemes(void)
{
    static const struct {
        const char  *s;
        size_t       n;
        const char  *what;
    } g[] = {
        { "", 0, "empty" },
        { "abc", 3, "ASCII" },
        { "\r\n", 1, "CR LF" },
        { "\n\r", 2, "LF CR" },
        { "e\xcc\x81", 1, "e + combining acute" },
        { "\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91"
          "\xa6\xe2\x80\x8d\xf0\x9f\x91\xa6", 1, "family ZWJ sequence" },
        { "\xf0\x9f\x87\xa9\xf0\x9f\x87\xaa", 1, "flag DE (RI pair)" },
        { "\xf0\x9f\x87\xa9\xf0\x9f\x87\xaa\xf0\x9f\x87\xa9", 2,
          "three RIs" },
        { "\xf0\x9f\x8f\xb3\xef\xb8\x8f\xe2\x80\x8d\xf0\x9f\x8c\x88", 1,
          "rainbow flag" },
        { "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd", 1, "thumbs up + skin tone" },
        { "\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8", 1, "Hangul L V T jamo" },
        { "\xea\xb0\x80\xea\xb0\x81", 2, "two Hangul syllables" },
        { "\xe0\xa4\xa8\xe0\xa4\xbf", 1, "Devanagari ni" },
        { "\xe0\xb8\x81\xe0\xb8\xb3", 1, "Thai + SARA AM" },
        { "a\xe2\x80\x8d" "b", 2, "ZWJ between letters" },
        { "\x01\xcc\x81", 2, "control then mark" },
        { "\xff\xfe", 2, "invalid bytes" },
        { "1\xef\xb8\x8f\xe2\x83\xa3", 1, "keycap" },
    };
    size_t  i;

    for (i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
        is_int(pds_grapheme_count(g[i].s, strlen(g[i].s)), g[i].n,
               "graphemes: %s", g[i].what);
    }
}


static void
bench(pds_lexicon_t *lex)
{
    int              i, n, rc;
    double           us;
    json_t          *j;
    struct timespec  t0, t1;
    char            *s, err[PDS_LEX_ERR_MAX];

    s = malloc(4096);
    snprintf(s, 4096,
      "{\"$type\":\"app.bsky.feed.post\",\"text\":\"Just setting up my PDS "
      "inside nginx \xf0\x9f\x9a\x80 with @alice.test and #atproto, see "
      "https://example.com/some/long/path?with=query for the details; this "
      "sentence pads the text to a realistic length of a few hundred bytes, "
      "more or less like a real post on the network would be.\",\"langs\":"
      "[\"en\"],\"facets\":[{\"index\":{\"byteStart\":50,\"byteEnd\":61},"
      "\"features\":[{\"$type\":\"app.bsky.richtext.facet#mention\",\"did\":"
      "\"did:plc:ewvi7nxzyoun6zhxrhs64oiz\"}]},{\"index\":{\"byteStart\":66,"
      "\"byteEnd\":74},\"features\":[{\"$type\":\"app.bsky.richtext.facet#tag"
      "\",\"tag\":\"atproto\"}]}],\"embed\":{\"$type\":\"app.bsky.embed.images"
      "\",\"images\":[{\"alt\":\"a screenshot\",\"image\":"
      BLOB("image/png", 123456) ",\"aspectRatio\":{\"width\":1200,"
      "\"height\":800}}]},\"reply\":{\"root\":" STRONG ",\"parent\":" STRONG
      "}," NOW "}");

    j = json_loads(s, 0, NULL);
    rc = pds_lexicon_validate_record(lex, j, NULL, NULL, err, sizeof(err));
    is_int(rc, PDS_LEX_VALID, "benchmark post (%zu bytes) is valid %s",
           strlen(s), err);

    n = 20000;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 0; i < n; i++) {
        rc |= pds_lexicon_validate_record(lex, j, NULL, NULL, err,
                                          sizeof(err));
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    us = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 1e3 / n;
    tap_diag("validate ~%zu-byte post: %.2f us per record", strlen(s), us);
    ok(rc == PDS_LEX_VALID, "repeated validation stays valid");

    json_decref(j);
    free(s);
}


int
main(void)
{
    long            n;
    pds_lexicon_t  *lex;
    char            path[1024], err[PDS_LEX_ERR_MAX];

    test_documents();
    test_catalog();
    test_graphemes();

    lex = pds_lexicon_create();
    tap_shared_path(path, sizeof(path), "lexicons");
    n = pds_lexicon_load_dir(lex, path, err, sizeof(err));
    ok(n >= 400, "official lexicons: %ld documents loaded%s%s", n,
       n < 0 ? ": " : "", n < 0 ? err : "");

    ok(pds_lexicon_has_record(lex, "app.bsky.feed.post", 18),
       "registry has app.bsky.feed.post");
    ok(pds_lexicon_is_reference_type("app.bsky.graph.follow", 21),
       "follow is a reference-validated type");
    ok(!pds_lexicon_is_reference_type("com.example.x", 13),
       "com.example.x is not");

    test_official(lex);
    bench(lex);

    /* only what the reference's record types reach: the same results */
    {
        long            m;
        size_t          i, same;
        pds_lexicon_t  *few;
        const char     *t;

        few = pds_lexicon_create();
        m = pds_lexicon_load_dir_for(few, path, pds_lexicon_reference_types,
                                     err, sizeof(err));
        ok(m > 0 && m < n / 4, "reachable from the reference's record types:"
           " %ld of %ld documents%s%s", m, n, m < 0 ? ": " : "",
           m < 0 ? err : "");

        same = 1;

        for (i = 0; (t = pds_lexicon_reference_types[i]) != NULL; i++) {
            if (pds_lexicon_has_record(lex, t, strlen(t))
                != pds_lexicon_has_record(few, t, strlen(t)))
            {
                same = 0;
                tap_diag("%s differs", t);
            }
        }

        ok(same, "every reference record type is there as in the full set");

        test_official(few);
        pds_lexicon_destroy(few);
    }

    pds_lexicon_destroy(lex);

    return tap_done();
}
