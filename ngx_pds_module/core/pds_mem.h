/*
 * ngx_pds_module core: memory.
 *
 * The core never calls malloc directly for objects handed back to a caller:
 * it allocates through a pds_alloc_t.  The nginx layer points one at a
 * request pool (free is a no-op or ngx_pfree); tests and tools use the
 * malloc-backed arena below, which frees everything at once.
 */

#ifndef PDS_MEM_H
#define PDS_MEM_H

#include <stddef.h>
#include <stdint.h>


typedef struct {
    void   *(*alloc)(void *ctx, size_t size);   /* NULL on failure */
    void    (*free)(void *ctx, void *p);        /* may be NULL: no-op */
    void     *ctx;
} pds_alloc_t;


void *pds_alloc(const pds_alloc_t *a, size_t size);
void *pds_calloc(const pds_alloc_t *a, size_t size);
void pds_free(const pds_alloc_t *a, void *p);
char *pds_strndup(const pds_alloc_t *a, const char *s, size_t len);


/* A malloc-backed arena: every allocation lives until pds_arena_destroy. */
typedef struct pds_arena_s  pds_arena_t;

pds_arena_t *pds_arena_create(void);
void pds_arena_destroy(pds_arena_t *arena);
/* An allocator that allocates from the arena; free releases large blocks. */
pds_alloc_t pds_arena_allocator(pds_arena_t *arena);

/* The plain malloc/free allocator (each block must be pds_free'd). */
extern const pds_alloc_t  pds_malloc_allocator;


/*
 * A growable byte buffer.  Growth allocates from the buffer's allocator and
 * frees the old block through it.  All functions return 0 or -1 (no memory).
 */
typedef struct {
    uint8_t            *data;
    size_t              len;
    size_t              cap;
    const pds_alloc_t  *a;
} pds_buf_t;

void pds_buf_init(pds_buf_t *b, const pds_alloc_t *a);
int pds_buf_reserve(pds_buf_t *b, size_t extra);
int pds_buf_append(pds_buf_t *b, const void *p, size_t n);
int pds_buf_putc(pds_buf_t *b, uint8_t c);
void pds_buf_free(pds_buf_t *b);

#endif /* PDS_MEM_H */
