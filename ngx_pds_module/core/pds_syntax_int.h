/*
 * ngx_pds_module core: what pds_syntax.c and pds_syntax_format.c share
 * (ASCII classes, locale-free); included by them only.
 */

#ifndef PDS_SYNTAX_INT_H
#define PDS_SYNTAX_INT_H


#define pds_is_lower(c)   ((c) >= 'a' && (c) <= 'z')
#define pds_is_upper(c)   ((c) >= 'A' && (c) <= 'Z')
#define pds_is_alpha(c)   (pds_is_lower(c) || pds_is_upper(c))
#define pds_is_digit(c)   ((c) >= '0' && (c) <= '9')
#define pds_is_alnum(c)   (pds_is_alpha(c) || pds_is_digit(c))
#define pds_lower(c)      (pds_is_upper(c) ? (c) | 0x20 : (c))


#endif /* PDS_SYNTAX_INT_H */
