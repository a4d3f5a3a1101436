/*
 * ngx_pds_module core: what the two files of the import share
 * (pds_repo_import.c: the block index and the checks;
 * pds_repo_import_write.c: writing, whole or in steps).
 */

#ifndef PDS_REPO_IMPORT_INT_H
#define PDS_REPO_IMPORT_INT_H

#include "pds_repo_import.h"
#include "pds_repo_int.h"


/*
 * The block index: an open-addressing hash table from CID to where the
 * block lies in the mapped CAR, in a file of its own (unnamed, next to the
 * upload) mapped shared, so that it is page cache, not heap.  A slot is 24
 * bytes: the digest's first 8 bytes, the block's offset (high 40 bits)
 * and length (low 24 bits; blocks are at most 2 MiB; 0 is a free slot),
 * how many times the repo references it (the commit, nodes, records: the
 * check counts them) and its codec.  A hit is confirmed against the full
 * CID, which the file holds just before the block.  For writing the
 * blocks, the slots are then sorted in place by CID, so that they go into
 * LMDB in key order (pds_import_sort; no lookup after that).
 */
typedef struct {
    uint64_t            tag;
    uint64_t            pos;
    uint32_t            refs;           /* references from the repo */
    uint32_t            codec;
} pds_import_slot_t;

#define PDS_IMPORT_LEN_BITS  24


struct pds_repo_import_s {
    pds_arena_t        *arena;
    pds_alloc_t         a;

    uint8_t            *map;            /* the file, mapped */
    size_t              map_len;

    pds_import_slot_t  *ix;             /* the block index, mapped */
    size_t              ix_cap;         /* slots, a power of 2 */
    uint64_t            ix_seed;
    uint64_t            blocks;
    size_t              sorted;         /* slots in CID order */
    int                 unhashed;       /* sorted: no lookups any more */
    size_t              next;           /* the next slot to write */

    pds_blocksource_t   src;

    pds_cid_t           commit;
    pds_cid_t           data;
    const uint8_t      *commit_p;
    size_t              commit_n;
    char                rev[PDS_TID_LEN + 1];
    const char         *did;

    uint64_t            records;

    /* writing, in steps (pds_repo_import_step) */
    int                 phase;
    uint64_t            token;          /* the account's import marker */
    size_t              after_len;      /* the last record written */
    char                after[PDS_MST_KEY_MAX];
};

#define PDS_IMPORT_CLEAR    0           /* the old repo's rows removed */
#define PDS_IMPORT_TREE     1           /* the record index written */
#define PDS_IMPORT_BLOCKS   2           /* the blocks, in CID order */
#define PDS_IMPORT_DONE     3

/* a write leaf callback's pause: the step's budget is spent */
#define PDS_IMPORT_PAUSE    1


/* the slot of cid, or NULL; only before pds_import_sort */
pds_import_slot_t *pds_import_slot(const pds_repo_import_t *imp,
    const pds_cid_t *cid);
/* the block of cid in the CAR: 0 found, 1 not (before pds_import_sort) */
int pds_import_find(const pds_repo_import_t *imp, const pds_cid_t *cid,
    const uint8_t **p, size_t *n);
/* the slot's CID and block */
void pds_import_slot_block(const pds_repo_import_t *imp,
    const pds_import_slot_t *s, pds_cid_t *cid, const uint8_t **p,
    size_t *n);
/* the referenced slots moved to the front, sorted by CID (imp->sorted) */
void pds_import_sort(pds_repo_import_t *imp);

#endif /* PDS_REPO_IMPORT_INT_H */
