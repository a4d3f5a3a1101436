/*
 * ngx_pds_module: the shapes of the record writes' inputs, from their
 * Lexicons (com.atproto.repo.createRecord, putRecord, deleteRecord,
 * applyWrites), in the Lexicons' property order: what ngx_pds_params.c
 * checks before a write looks at accounts or credentials, as the
 * reference does.
 */

#include "ngx_pds_repo_input.h"


#define NGX_PDS_RKEY_MAX       512
#define NGX_PDS_REQ            NGX_PDS_F_REQUIRED
#define NGX_PDS_STR            NGX_PDS_V_STRING

const ngx_pds_field_t  ngx_pds_create_input[] = {
    { "repo", NGX_PDS_STR, NGX_PDS_FMT_AT_ID, NGX_PDS_REQ, 0, 0, 0 },
    { "collection", NGX_PDS_STR, NGX_PDS_FMT_NSID, NGX_PDS_REQ, 0, 0, 0 },
    { "rkey", NGX_PDS_STR, NGX_PDS_FMT_RKEY, 0, NGX_PDS_RKEY_MAX, 0, 0 },
    { "validate", NGX_PDS_V_BOOLEAN, 0, 0, 0, 0, 0 },
    { "record", NGX_PDS_V_UNKNOWN, 0, NGX_PDS_REQ, 0, 0, 0 },
    { "swapCommit", NGX_PDS_STR, NGX_PDS_FMT_CID, 0, 0, 0, 0 },
    { NULL, 0, 0, 0, 0, 0, 0 }
};

const ngx_pds_field_t  ngx_pds_put_input[] = {
    { "repo", NGX_PDS_STR, NGX_PDS_FMT_AT_ID, NGX_PDS_REQ, 0, 0, 0 },
    { "collection", NGX_PDS_STR, NGX_PDS_FMT_NSID, NGX_PDS_REQ, 0, 0, 0 },
    { "rkey", NGX_PDS_STR, NGX_PDS_FMT_RKEY, NGX_PDS_REQ, NGX_PDS_RKEY_MAX,
      0, 0 },
    { "validate", NGX_PDS_V_BOOLEAN, 0, 0, 0, 0, 0 },
    { "record", NGX_PDS_V_UNKNOWN, 0, NGX_PDS_REQ, 0, 0, 0 },
    { "swapRecord", NGX_PDS_STR, NGX_PDS_FMT_CID, NGX_PDS_F_NULLABLE, 0, 0,
      0 },
    { "swapCommit", NGX_PDS_STR, NGX_PDS_FMT_CID, 0, 0, 0, 0 },
    { NULL, 0, 0, 0, 0, 0, 0 }
};

const ngx_pds_field_t  ngx_pds_delete_input[] = {
    { "repo", NGX_PDS_STR, NGX_PDS_FMT_AT_ID, NGX_PDS_REQ, 0, 0, 0 },
    { "collection", NGX_PDS_STR, NGX_PDS_FMT_NSID, NGX_PDS_REQ, 0, 0, 0 },
    { "rkey", NGX_PDS_STR, NGX_PDS_FMT_RKEY, NGX_PDS_REQ, 0, 0, 0 },
    { "swapRecord", NGX_PDS_STR, NGX_PDS_FMT_CID, 0, 0, 0, 0 },
    { "swapCommit", NGX_PDS_STR, NGX_PDS_FMT_CID, 0, 0, 0, 0 },
    { NULL, 0, 0, 0, 0, 0, 0 }
};

/* applyWrites: its first three properties, the writes, swapCommit */
const ngx_pds_field_t  ngx_pds_apply_input[] = {
    { "repo", NGX_PDS_STR, NGX_PDS_FMT_AT_ID, NGX_PDS_REQ, 0, 0, 0 },
    { "validate", NGX_PDS_V_BOOLEAN, 0, 0, 0, 0, 0 },
    { "writes", NGX_PDS_V_ARRAY, 0, NGX_PDS_REQ, 0, 0, 0 },
    { NULL, 0, 0, 0, 0, 0, 0 }
};

const ngx_pds_field_t  ngx_pds_apply_input_tail[] = {
    { "swapCommit", NGX_PDS_STR, NGX_PDS_FMT_CID, 0, 0, 0, 0 },
    { NULL, 0, 0, 0, 0, 0, 0 }
};

const ngx_pds_field_t  ngx_pds_apply_create[] = {
    { "collection", NGX_PDS_STR, NGX_PDS_FMT_NSID, NGX_PDS_REQ, 0, 0, 0 },
    { "rkey", NGX_PDS_STR, NGX_PDS_FMT_RKEY, 0, NGX_PDS_RKEY_MAX, 0, 0 },
    { "value", NGX_PDS_V_UNKNOWN, 0, NGX_PDS_REQ, 0, 0, 0 },
    { NULL, 0, 0, 0, 0, 0, 0 }
};

const ngx_pds_field_t  ngx_pds_apply_update[] = {
    { "collection", NGX_PDS_STR, NGX_PDS_FMT_NSID, NGX_PDS_REQ, 0, 0, 0 },
    { "rkey", NGX_PDS_STR, NGX_PDS_FMT_RKEY, NGX_PDS_REQ, 0, 0, 0 },
    { "value", NGX_PDS_V_UNKNOWN, 0, NGX_PDS_REQ, 0, 0, 0 },
    { NULL, 0, 0, 0, 0, 0, 0 }
};

const ngx_pds_field_t  ngx_pds_apply_delete[] = {
    { "collection", NGX_PDS_STR, NGX_PDS_FMT_NSID, NGX_PDS_REQ, 0, 0, 0 },
    { "rkey", NGX_PDS_STR, NGX_PDS_FMT_RKEY, NGX_PDS_REQ, 0, 0, 0 },
    { NULL, 0, 0, 0, 0, 0, 0 }
};

const ngx_pds_variant_t  ngx_pds_apply_variants[] = {
    { "com.atproto.repo.applyWrites#create", ngx_pds_apply_create },
    { "com.atproto.repo.applyWrites#update", ngx_pds_apply_update },
    { "com.atproto.repo.applyWrites#delete", ngx_pds_apply_delete },
    { NULL, NULL }
};
