/*
 * ngx_pds_module core: allocators, arena and byte buffers.
 */

#include <stdlib.h>
#include <string.h>

#include "pds_mem.h"


#define PDS_ARENA_CHUNK  16384
#define PDS_ARENA_LARGE  4096
#define PDS_ALIGN        16


typedef struct pds_arena_block_s  pds_arena_block_t;

struct pds_arena_block_s {
    pds_arena_block_t  *next;
    size_t              size;
    size_t              used;
    /* followed by the data, aligned */
};

typedef struct pds_arena_large_s  pds_arena_large_t;

struct pds_arena_large_s {
    pds_arena_large_t  *next;
    pds_arena_large_t  *prev;
    /* followed by the data, aligned */
};

struct pds_arena_s {
    pds_arena_block_t  *blocks;
    pds_arena_large_t  *large;
};


#define PDS_HDR(t)  ((sizeof(t) + PDS_ALIGN - 1) & ~(size_t) (PDS_ALIGN - 1))


static void *
pds_malloc_alloc(void *ctx, size_t size)
{
    (void) ctx;
    return malloc(size ? size : 1);
}


static void
pds_malloc_free(void *ctx, void *p)
{
    (void) ctx;
    free(p);
}


const pds_alloc_t  pds_malloc_allocator = {
    pds_malloc_alloc, pds_malloc_free, NULL
};


void *
pds_alloc(const pds_alloc_t *a, size_t size)
{
    return a->alloc(a->ctx, size);
}


void *
pds_calloc(const pds_alloc_t *a, size_t size)
{
    void  *p;

    p = a->alloc(a->ctx, size);
    if (p != NULL) {
        memset(p, 0, size);
    }

    return p;
}


void
pds_free(const pds_alloc_t *a, void *p)
{
    if (p != NULL && a->free != NULL) {
        a->free(a->ctx, p);
    }
}


char *
pds_strndup(const pds_alloc_t *a, const char *s, size_t len)
{
    char  *p;

    if (len == SIZE_MAX) {
        return NULL;
    }

    p = a->alloc(a->ctx, len + 1);
    if (p == NULL) {
        return NULL;
    }

    memcpy(p, s, len);
    p[len] = '\0';

    return p;
}


pds_arena_t *
pds_arena_create(void)
{
    return calloc(1, sizeof(pds_arena_t));
}


void
pds_arena_destroy(pds_arena_t *arena)
{
    pds_arena_block_t  *b, *bn;
    pds_arena_large_t  *l, *ln;

    if (arena == NULL) {
        return;
    }

    for (b = arena->blocks; b; b = bn) {
        bn = b->next;
        free(b);
    }

    for (l = arena->large; l; l = ln) {
        ln = l->next;
        free(l);
    }

    free(arena);
}


static void *
pds_arena_alloc(void *ctx, size_t size)
{
    size_t              hdr, need;
    pds_arena_t        *arena = ctx;
    pds_arena_block_t  *b;
    pds_arena_large_t  *l;

    if (size > SIZE_MAX / 2) {
        return NULL;
    }

    size = (size + PDS_ALIGN - 1) & ~(size_t) (PDS_ALIGN - 1);
    if (size == 0) {
        size = PDS_ALIGN;
    }

    if (size > PDS_ARENA_LARGE) {
        hdr = PDS_HDR(pds_arena_large_t);
        l = malloc(hdr + size);
        if (l == NULL) {
            return NULL;
        }
        l->prev = NULL;
        l->next = arena->large;
        if (arena->large) {
            arena->large->prev = l;
        }
        arena->large = l;
        return (uint8_t *) l + hdr;
    }

    hdr = PDS_HDR(pds_arena_block_t);
    b = arena->blocks;

    if (b == NULL || b->size - b->used < size) {
        need = PDS_ARENA_CHUNK;
        b = malloc(hdr + need);
        if (b == NULL) {
            return NULL;
        }
        b->size = need;
        b->used = 0;
        b->next = arena->blocks;
        arena->blocks = b;
    }

    b->used += size;

    return (uint8_t *) b + hdr + b->used - size;
}


static void
pds_arena_free(void *ctx, void *p)
{
    pds_arena_t        *arena = ctx;
    pds_arena_large_t  *l;

    for (l = arena->large; l; l = l->next) {
        if ((uint8_t *) l + PDS_HDR(pds_arena_large_t) == p) {
            if (l->prev) {
                l->prev->next = l->next;
            } else {
                arena->large = l->next;
            }
            if (l->next) {
                l->next->prev = l->prev;
            }
            free(l);
            return;
        }
    }
}


pds_alloc_t
pds_arena_allocator(pds_arena_t *arena)
{
    pds_alloc_t  a;

    a.alloc = pds_arena_alloc;
    a.free = pds_arena_free;
    a.ctx = arena;

    return a;
}


void
pds_buf_init(pds_buf_t *b, const pds_alloc_t *a)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->a = a;
}


int
pds_buf_reserve(pds_buf_t *b, size_t extra)
{
    size_t    cap;
    uint8_t  *p;

    if (b->cap - b->len >= extra) {
        return 0;
    }

    if (extra > SIZE_MAX / 2 - b->len) {
        return -1;
    }

    cap = b->cap ? b->cap : 256;
    while (cap - b->len < extra) {
        cap *= 2;
    }

    p = pds_alloc(b->a, cap);
    if (p == NULL) {
        return -1;
    }

    if (b->len) {
        memcpy(p, b->data, b->len);
    }

    pds_free(b->a, b->data);
    b->data = p;
    b->cap = cap;

    return 0;
}


int
pds_buf_append(pds_buf_t *b, const void *p, size_t n)
{
    if (n == 0) {
        return 0;
    }

    if (pds_buf_reserve(b, n) != 0) {
        return -1;
    }

    memcpy(b->data + b->len, p, n);
    b->len += n;

    return 0;
}


int
pds_buf_putc(pds_buf_t *b, uint8_t c)
{
    if (b->len == b->cap && pds_buf_reserve(b, 1) != 0) {
        return -1;
    }

    b->data[b->len++] = c;

    return 0;
}


void
pds_buf_free(pds_buf_t *b)
{
    pds_free(b->a, b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}
