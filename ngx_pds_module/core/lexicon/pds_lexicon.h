/*
 * ngx_pds_module core: Lexicon schemas and record validation.
 *
 * A registry (pds_lexicon_t) holds compiled Lexicon documents keyed by NSID
 * and definition name.  Documents are checked (pds_lexicon_doc_valid) with
 * the rules of the reference's Lexicon document schema (lex-document): a
 * document is {lexicon: 1, id: NSID, revision?, description?, defs}, named
 * definitions are boolean, integer, string, bytes, cid-link, blob, array,
 * object or token, and record, query, procedure, subscription and
 * permission-set may only be "main".
 *
 * Records are validated as the reference PDS does (@atproto/lex-schema in
 * "validate" mode): every Lexicon type (object with required/nullable,
 * array, string with format/length/grapheme limits/enum/const, integer,
 * boolean, bytes, cid-link, blob with accept/maxSize, ref, open and closed
 * unions keyed by "$type", unknown, token).  knownValues are not enforced,
 * and a "const" or "enum" replaces the other string/integer checks, as in
 * the reference.  Record values use the atproto JSON conventions
 * ({"$link"}, {"$bytes"}, {"$type": "blob"}); run pds_json_validate_record
 * first for the data-model checks (base64, CID bytes, floats).
 *
 * Error messages are the reference PDS's (InvalidRequest):
 *   Invalid app.bsky.feed.post record: grapheme too big (maximum 300,
 *   got 301) at $.record.text
 * i.e. "Invalid <$type> record: <issue> at <JSON path>", the path starting
 * at the prefix given by the caller ("$.record" by default,
 * "$.writes[2].record" for applyWrites).
 *
 * Grapheme counting (no ICU) is a self-contained implementation of the
 * extended grapheme cluster rules of UAX #29 (GB3-GB13: CR LF, controls,
 * Hangul syllable sequences, Extend/SpacingMark/ZWJ, Prepend, Indic
 * conjuncts (GB9c), emoji ZWJ sequences (Extended_Pictographic), regional
 * indicator pairs).  The property tables are compact hand-written range
 * tables for the scripts in real use, not generated from the UCD: rare code
 * points may be classified as "Other" (a higher count for those).  Checked
 * against Intl.Segmenter (ICU, as the reference uses) on 20000 random mixes
 * of emoji, marks, Hangul, Indic, Thai, Arabic, Hebrew: 5 differ, all a
 * vowel sign between an Indic consonant and a virama.
 *
 * Thread safety: loading is single-threaded; after pds_lexicon_resolve()
 * (done by pds_lexicon_load_dir) the registry is read-only and validation
 * may run concurrently.  Validation allocates nothing.
 */

#ifndef PDS_LEXICON_H
#define PDS_LEXICON_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>


#define PDS_LEX_VALID        0
#define PDS_LEX_UNKNOWN      1      /* no record schema for the $type */
#define PDS_LEX_INVALID     -1      /* err holds the message */

#define PDS_LEX_ERR_MAX      1024   /* a good size for error buffers */


typedef struct pds_lexicon_s  pds_lexicon_t;


/* NULL if the document is a valid Lexicon document, else a short message */
const char *pds_lexicon_doc_valid(const json_t *doc);

pds_lexicon_t *pds_lexicon_create(void);
void pds_lexicon_destroy(pds_lexicon_t *lex);

/*
 * Checks and compiles one document into the registry.  Returns 0, or -1
 * (invalid document, duplicate id, no memory) with a message in err.
 * Call pds_lexicon_resolve() after the last document.
 */
int pds_lexicon_add(pds_lexicon_t *lex, const json_t *doc, char *err,
    size_t errlen);

/*
 * Loads every *.json file under dir (recursively), then resolves the
 * references.  Returns the number of documents loaded, or -1 with a
 * message in err (a file that is not valid JSON or not a valid Lexicon
 * document, a duplicate id, an I/O error).
 */
long pds_lexicon_load_dir(pds_lexicon_t *lex, const char *dir, char *err,
    size_t errlen);

/*
 * The same, but only the documents that the NSIDs in roots (a NULL-ended
 * list) reach through "ref" and "refs", the others read, checked and
 * dropped: a PDS that validates the reference's record types needs ~1/10
 * of the official set.  Returns the number of documents kept, or -1.
 */
long pds_lexicon_load_dir_for(pds_lexicon_t *lex, const char *dir,
    const char *const *roots, char *err, size_t errlen);

/*
 * Links "ref" and "union" targets.  Returns 0, or -1 with the first
 * reference that names no definition (or a union member that is not an
 * object or record) in err.  References left unresolved fail validation
 * of the records that reach them.
 */
int pds_lexicon_resolve(pds_lexicon_t *lex, char *err, size_t errlen);

/* number of documents in the registry */
size_t pds_lexicon_count(const pds_lexicon_t *lex);

/* 1 if the registry has a record definition for this NSID */
int pds_lexicon_has_record(const pds_lexicon_t *lex, const char *nsid,
    size_t len);

/*
 * Validates a record (a JSON object with "$type") against the registry.
 * path is the JSON path of the record in the request ("$.record" if NULL).
 * rkey (may be NULL: not checked) is checked against the record's key type
 * (tid, nsid, literal:<value>, any).  Returns PDS_LEX_VALID,
 * PDS_LEX_UNKNOWN (no record definition for the $type) or PDS_LEX_INVALID
 * with the message in err (always NUL-terminated, truncated to errlen).
 */
int pds_lexicon_validate_record(const pds_lexicon_t *lex, const json_t *rec,
    const char *path, const char *rkey, char *err, size_t errlen);

/*
 * Validates any value against one definition ("nsid" or "nsid#name"),
 * with the reference's "Invalid <ref> value: " prefix on errors.  Returns
 * PDS_LEX_VALID, PDS_LEX_UNKNOWN (no such definition) or PDS_LEX_INVALID.
 */
int pds_lexicon_validate_value(const pds_lexicon_t *lex, const char *ref,
    const json_t *value, const char *path, char *err, size_t errlen);

/*
 * The record types the reference PDS validates (NULL-terminated); other
 * types get "unknown" there even when a schema exists.
 */
extern const char *const  pds_lexicon_reference_types[];
int pds_lexicon_is_reference_type(const char *nsid, size_t len);

/* extended grapheme clusters in a UTF-8 string (invalid bytes count 1) */
size_t pds_grapheme_count(const char *s, size_t len);

#endif /* PDS_LEXICON_H */
