/*
 * libFuzzer target: Lexicon record validation.
 *
 * The official schemas (PDS_SHARED_DIR/lexicons, default ../shared) and the
 * interop catalog are loaded once.  Each input is parsed as JSON; if it is
 * an object its "$type" is forced to one of a few record types chosen by
 * the first byte (so the fuzzer reaches deep schema paths), and it is
 * validated: the result must be one of the three codes, the message a
 * NUL-terminated string that fits the buffer, and a tiny buffer must not
 * overflow.  The input is also checked as a Lexicon document and graphemes
 * are counted over the raw bytes.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pds_lexicon.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static pds_lexicon_t  *fz_lex;
static pds_lexicon_t  *fz_cat;

static const char *const  fz_types[] = {
    "app.bsky.feed.post", "app.bsky.actor.profile", "app.bsky.feed.like",
    "app.bsky.graph.follow", "app.bsky.feed.threadgate",
    "app.bsky.graph.list", "app.bsky.feed.postgate",
    "app.bsky.graph.starterpack", "app.bsky.labeler.service",
    "example.lexicon.record"
};


static pds_lexicon_t *
fz_load(const char *rel)
{
    char            path[1024], err[512];
    const char     *dir = getenv("PDS_SHARED_DIR");
    pds_lexicon_t  *lex;

    snprintf(path, sizeof(path), "%s/%s", dir ? dir : "../shared", rel);

    lex = pds_lexicon_create();
    if (lex == NULL || pds_lexicon_load_dir(lex, path, err, sizeof(err)) < 0)
    {
        fprintf(stderr, "fuzz_lexicon: %s: %s\n", path, err);
        abort();
    }

    return lex;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int             rc;
    size_t          which;
    json_t         *j;
    const char     *type;
    pds_lexicon_t  *lex;
    char            err[PDS_LEX_ERR_MAX], tiny[8];

    if (fz_lex == NULL) {
        fz_lex = fz_load("lexicons");
        fz_cat = fz_load("interop/lexicon/catalog");
    }

    (void) pds_grapheme_count((const char *) data, size);

    if (size < 1) {
        return 0;
    }

    which = data[0] % (sizeof(fz_types) / sizeof(fz_types[0]));
    type = fz_types[which];
    lex = strcmp(type, "example.lexicon.record") == 0 ? fz_cat : fz_lex;

    j = json_loadb((const char *) data + 1, size - 1,
                   JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (j == NULL) {
        return 0;
    }

    (void) pds_lexicon_doc_valid(j);

    if (json_is_object(j) && (data[0] & 0x80) == 0) {
        json_object_set_new(j, "$type", json_string(type));
    }

    rc = pds_lexicon_validate_record(lex, j, NULL, "self", err, sizeof(err));
    if (rc != PDS_LEX_VALID && rc != PDS_LEX_UNKNOWN
        && rc != PDS_LEX_INVALID)
    {
        abort();
    }

    if (strlen(err) >= sizeof(err)) {
        abort();
    }

    if (rc == PDS_LEX_INVALID && err[0] == '\0') {
        abort();
    }

    if (pds_lexicon_validate_record(lex, j, "$.writes[0].record", NULL, tiny,
                                    sizeof(tiny)) != PDS_LEX_UNKNOWN
        && strlen(tiny) >= sizeof(tiny))
    {
        abort();
    }

    (void) pds_lexicon_validate_value(lex, "com.atproto.repo.strongRef", j,
                                      NULL, err, sizeof(err));

    json_decref(j);

    return 0;
}
