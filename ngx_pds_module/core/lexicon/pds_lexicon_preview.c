/*
 * ngx_pds_module core: previews of values for messages outside record
 * validation (see pds_lexicon_preview.h), written by the same code as
 * the validator's own messages.
 */

#include "pds_lexicon_int.h"
#include "pds_lexicon_preview.h"


size_t
pds_lexicon_preview(char *dst, size_t cap, const json_t *v)
{
    lx_out_t  o;

    if (cap == 0) {
        return 0;
    }

    o.p = dst;
    o.cap = cap;
    o.len = 0;
    dst[0] = '\0';

    pds_lx_put_value(&o, v);

    return o.len;
}


size_t
pds_lexicon_preview_str(char *dst, size_t cap, const char *s, size_t len)
{
    lx_out_t  o;

    if (cap == 0) {
        return 0;
    }

    o.p = dst;
    o.cap = cap;
    o.len = 0;
    dst[0] = '\0';

    pds_lx_put_quoted(&o, s, len, LX_PREVIEW_MAX);

    return o.len;
}
