/*
 * ngx_pds_module: the shapes of the record writes' inputs (see
 * ngx_pds_repo_input.c), for ngx_pds_repo_write.c.
 */

#ifndef NGX_PDS_REPO_INPUT_H
#define NGX_PDS_REPO_INPUT_H

#include "ngx_pds_params.h"


extern const ngx_pds_field_t    ngx_pds_create_input[];
extern const ngx_pds_field_t    ngx_pds_put_input[];
extern const ngx_pds_field_t    ngx_pds_delete_input[];

/* applyWrites: repo, validate, writes; each write; then swapCommit */
extern const ngx_pds_field_t    ngx_pds_apply_input[];
extern const ngx_pds_variant_t  ngx_pds_apply_variants[];
extern const ngx_pds_field_t    ngx_pds_apply_input_tail[];


#endif /* NGX_PDS_REPO_INPUT_H */
