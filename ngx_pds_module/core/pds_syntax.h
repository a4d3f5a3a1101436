/*
 * ngx_pds_module core: AT Protocol identifier syntax.
 *
 * Validators for the Lexicon string formats (handle, did, nsid, record-key,
 * tid, at-uri, at-identifier, datetime, language, uri, cid) plus small
 * helpers (normalization, splitting, AT-URI parsing, datetime parsing).
 *
 * Every function takes (s, len): the input need not be NUL-terminated and
 * an embedded NUL byte is always invalid.  Validators return 1 (valid) or
 * 0 (invalid).  All functions are pure, reentrant and allocate nothing.
 */

#ifndef PDS_SYNTAX_H
#define PDS_SYNTAX_H

#include <stddef.h>
#include <stdint.h>


#define PDS_HANDLE_MAX          253
#define PDS_DID_MAX             2048
#define PDS_NSID_MAX            317
#define PDS_RKEY_MAX            512
#define PDS_TID_LEN             13
#define PDS_ATURI_MAX           8192
#define PDS_URI_MAX             8192
#define PDS_DATETIME_MAX        64
#define PDS_CID_STRING_MIN      8
#define PDS_CID_STRING_MAX      256

/* the placeholder handle shown for accounts whose handle does not verify */
#define PDS_HANDLE_INVALID      "handle.invalid"

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" plus NUL, see pds_datetime_format() */
#define PDS_DATETIME_FMT_LEN    25


/* A borrowed slice of the input string (no NUL terminator). */
typedef struct {
    const char  *data;
    size_t       len;
} pds_span_t;


/* handle: DNS-name-like, >= 2 labels, TLD starts with a letter, <= 253 */
int pds_handle_valid(const char *s, size_t len);
/*
 * Validates s and writes its lower-case form to dst (no NUL added).
 * Returns the length, or -1 if s is not a valid handle or cap < len.
 * dst may equal s (in-place).
 */
long pds_handle_normalize(char *dst, size_t cap, const char *s, size_t len);
/*
 * 1 if the handle ends in a TLD that is syntax-valid but disallowed for use
 * (.alt .arpa .example .internal .invalid .local .localhost .onion),
 * compared case-insensitively.  ".test" is NOT in this list: the spec
 * allows it for development (see pds_handle_is_test_tld).
 */
int pds_handle_is_reserved_tld(const char *s, size_t len);
/* 1 if the handle ends in ".test" (development only; reject in production) */
int pds_handle_is_test_tld(const char *s, size_t len);

/* did: "did:" method(a-z+) ":" id, charset [A-Za-z0-9._:%-], <= 2048 */
int pds_did_valid(const char *s, size_t len);
/* splits a valid DID into method ("plc") and method-specific id; 0 / -1 */
int pds_did_split(const char *s, size_t len, pds_span_t *method,
    pds_span_t *id);

/* nsid: reversed-domain authority (>= 2 segments) "." camelCase name */
int pds_nsid_valid(const char *s, size_t len);
/*
 * Splits a valid NSID "com.example.fooBar" into the authority as written
 * ("com.example") and the name ("fooBar").  Returns 0, or -1 if invalid.
 */
int pds_nsid_split(const char *s, size_t len, pds_span_t *authority,
    pds_span_t *name);
/*
 * Writes the authority of a valid NSID as a lower-case domain name, in DNS
 * order ("com.example.fooBar" -> "example.com"), no NUL.  Returns the
 * length, or -1 if invalid or cap is too small.
 */
long pds_nsid_authority_domain(char *dst, size_t cap, const char *s,
    size_t len);
/*
 * Writes the normalized NSID (authority lower-cased, name unchanged), no
 * NUL.  Returns the length, or -1.  dst may equal s.
 */
long pds_nsid_normalize(char *dst, size_t cap, const char *s, size_t len);

/* record key: 1..512 of [A-Za-z0-9._:~-], and not "." or ".." */
int pds_rkey_valid(const char *s, size_t len);

/* tid: 13 chars of base32-sortable, first char in [2-7a-j] */
int pds_tid_valid(const char *s, size_t len);

/* at-identifier: a DID if it starts with "did:", otherwise a handle */
int pds_atidentifier_valid(const char *s, size_t len);


/*
 * at-uri (Lexicon form): "at://" AUTHORITY [ "/" NSID [ "/" RKEY ] ]
 * [ "#" "/" json-pointer ], at most 8 KB.  No query, no trailing slash, no
 * empty segments.  As in the reference implementation a fragment is
 * accepted when it is a "/"-prefixed JSON pointer made of URI characters
 * whose percent-escapes decode to valid UTF-8.
 */
typedef struct {
    pds_span_t   authority;        /* handle or DID */
    pds_span_t   collection;       /* {NULL, 0} when absent */
    pds_span_t   rkey;             /* {NULL, 0} when absent */
    pds_span_t   fragment;         /* after '#', {NULL, 0} when absent */
    unsigned     authority_is_did:1;
} pds_aturi_t;

int pds_aturi_valid(const char *s, size_t len);
/* parses into slices of s; returns 0, or -1 if s is not a valid at-uri */
int pds_aturi_parse(const char *s, size_t len, pds_aturi_t *uri);


/*
 * datetime: RFC 3339 / ISO 8601 intersection,
 * YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM), "-00:00" refused, <= 64.
 *
 * pds_datetime_syntax_valid checks the grammar only (digit positions).
 * pds_datetime_valid also checks the semantics, as the reference does by
 * parsing: month 01-12, day within the month (leap years), hour 00-23,
 * minute 00-59, second 00-59 (no leap second), offset hour 00-23 and minute
 * 00-59, and the instant in UTC must fall within years 0000..9999.
 */
int pds_datetime_syntax_valid(const char *s, size_t len);
int pds_datetime_valid(const char *s, size_t len);
/*
 * Parses a valid datetime into microseconds since the UNIX epoch (UTC,
 * negative before 1970; sub-microsecond digits are truncated toward the
 * past).  Returns 0, or -1 if pds_datetime_valid would fail.
 */
int pds_datetime_parse(const char *s, size_t len, int64_t *us);
/*
 * Formats microseconds since the epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ" (the
 * preferred, millisecond form) plus a NUL into dst[PDS_DATETIME_FMT_LEN].
 * Returns 24, or -1 if the instant is outside years 0000..9999.
 */
int pds_datetime_format(char *dst, int64_t us);

/*
 * language: a well-formed BCP 47 tag (RFC 5646 2.1), with the primary
 * language subtag a lower-case 2 or 3 letter code, and (RFC 5646 2.2.9 /
 * 4.1) no repeated variant or extension singleton (case-insensitive).
 * Tags with more than 256 variant subtags are refused (far more than the
 * IANA registry holds; it bounds the work done on hostile input).
 */
int pds_language_valid(const char *s, size_t len);

/*
 * uri: RFC 3986 scheme ":" then one or more printable ASCII characters
 * (no spaces, no controls), at most 8 KB.
 */
int pds_uri_valid(const char *s, size_t len);

/*
 * cid (string format, syntax only): 8..256 of [A-Za-z0-9+=], and not a
 * CIDv0 (a "Qm..." base58 string).  Use the CID decoder for real parsing.
 */
int pds_cid_string_valid(const char *s, size_t len);

#endif /* PDS_SYNTAX_H */
