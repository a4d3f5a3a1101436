/*
 * An in-memory block store (CID -> bytes, open addressing) for the MST unit
 * tests, fuzz target and benchmark: memstore_put / memstore_get have the
 * shapes of pds_blocksink_t / pds_blocksource_t callbacks.  It counts its
 * reads in gets.  Test support only: not part of the core.
 */

#ifndef PDS_T_MEMSTORE_H
#define PDS_T_MEMSTORE_H

#include <stdlib.h>
#include <string.h>

#include "pds_cid.h"


typedef struct {
    pds_cid_t   cid;
    uint8_t    *data;
    size_t      len;
    int         used;
} memstore_slot_t;

typedef struct {
    memstore_slot_t  *slots;
    size_t            cap;      /* a power of two, or 0 */
    size_t            n;
    size_t            gets;
} memstore_t;


static inline void
memstore_init(memstore_t *s)
{
    memset(s, 0, sizeof(memstore_t));
}


static inline void
memstore_free(memstore_t *s)
{
    size_t  i;

    for (i = 0; i < s->cap; i++) {
        free(s->slots[i].data);
    }

    free(s->slots);
    memset(s, 0, sizeof(memstore_t));
}


/* the slot of cid, or of the empty place where it would go */
static inline memstore_slot_t *
memstore_slot(memstore_slot_t *slots, size_t cap, const pds_cid_t *cid)
{
    size_t  i, h;

    memcpy(&h, cid->digest, sizeof(h));

    for (i = h & (cap - 1); slots[i].used; i = (i + 1) & (cap - 1)) {
        if (pds_cid_equal(&slots[i].cid, cid)) {
            break;
        }
    }

    return &slots[i];
}


static inline memstore_slot_t *
memstore_find(memstore_t *s, const pds_cid_t *cid)
{
    memstore_slot_t  *slot;

    if (s->cap == 0) {
        return NULL;
    }

    slot = memstore_slot(s->slots, s->cap, cid);

    return slot->used ? slot : NULL;
}


/* 0, or -1 when out of memory (the store is unchanged then) */
static inline int
memstore_put(void *ctx, const pds_cid_t *cid, const uint8_t *p, size_t n)
{
    size_t            i, cap;
    uint8_t          *data;
    memstore_t       *s = ctx;
    memstore_slot_t  *slots, *slot;

    if (memstore_find(s, cid) != NULL) {
        return 0;
    }

    if ((s->n + 1) * 2 > s->cap) {
        cap = s->cap ? s->cap * 2 : 64;

        slots = calloc(cap, sizeof(memstore_slot_t));
        if (slots == NULL) {
            return -1;
        }

        for (i = 0; i < s->cap; i++) {
            if (s->slots[i].used) {
                *memstore_slot(slots, cap, &s->slots[i].cid) = s->slots[i];
            }
        }

        free(s->slots);
        s->slots = slots;
        s->cap = cap;
    }

    data = malloc(n ? n : 1);
    if (data == NULL) {
        return -1;
    }

    memcpy(data, p, n);

    slot = memstore_slot(s->slots, s->cap, cid);
    slot->used = 1;
    slot->cid = *cid;
    slot->data = data;
    slot->len = n;
    s->n++;

    return 0;
}


/* 0, or 1 when the block is not there */
static inline int
memstore_get(void *ctx, const pds_cid_t *cid, const uint8_t **p, size_t *n)
{
    memstore_t       *s = ctx;
    memstore_slot_t  *slot;

    s->gets++;

    slot = memstore_find(s, cid);
    if (slot == NULL) {
        return 1;
    }

    *p = slot->data;
    *n = slot->len;

    return 0;
}

#endif /* PDS_T_MEMSTORE_H */
