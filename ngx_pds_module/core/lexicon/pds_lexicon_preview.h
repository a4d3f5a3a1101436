/*
 * ngx_pds_module core: the reference's preview of a value in validation
 * messages ("... (got <preview>)"), for the nginx layer's own input and
 * parameter checks, which word their refusals as @atproto/lex-schema
 * does: a string is JSON-quoted and cut after 255 UTF-16 units with an
 * ellipsis, arrays and objects show their first two members.
 */

#ifndef PDS_LEXICON_PREVIEW_H
#define PDS_LEXICON_PREVIEW_H

#include <stddef.h>

#include <jansson.h>


/*
 * Writes the preview of v (NULL: "undefined") to dst, cap bytes at most
 * with the terminating NUL (cut short when it does not fit); returns its
 * length.
 */
size_t pds_lexicon_preview(char *dst, size_t cap, const json_t *v);

/* the same for a string of len bytes (a query parameter's value) */
size_t pds_lexicon_preview_str(char *dst, size_t cap, const char *s,
    size_t len);


#endif /* PDS_LEXICON_PREVIEW_H */
