/*
 * ngx_pds_module core: Timestamp Identifiers (TIDs).
 *
 * A TID is a 64-bit integer written as 13 base32-sortable characters
 * ("234567abcdefghijklmnopqrstuvwxyz", most significant first): the top bit
 * is 0, then 53 bits of microseconds since the UNIX epoch, then a 10-bit
 * clock id.  String order equals numeric order.
 *
 * The generator is not thread-safe: one pds_tid_gen_t must be used by one
 * thread at a time (the caller locks, or keeps one generator per thread or
 * worker process, each with its own clock id).
 */

#ifndef PDS_TID_H
#define PDS_TID_H

#include <stddef.h>
#include <stdint.h>

#include "pds_syntax.h"     /* pds_tid_valid(), PDS_TID_LEN */


#define PDS_TID_BUF            (PDS_TID_LEN + 1)    /* with the NUL */
#define PDS_TID_CLOCK_BITS     10
#define PDS_TID_CLOCK_MAX      1023
#define PDS_TID_TIME_MAX       ((UINT64_C(1) << 53) - 1)

#define pds_tid_make(us, clock)                                              \
    ((((uint64_t) (us)) << PDS_TID_CLOCK_BITS)                                \
     | ((uint64_t) (clock) & PDS_TID_CLOCK_MAX))
#define pds_tid_time(tid)      ((uint64_t) (tid) >> PDS_TID_CLOCK_BITS)
#define pds_tid_clock(tid)     ((unsigned) ((tid) & PDS_TID_CLOCK_MAX))


/* writes 13 characters and a NUL into dst[PDS_TID_BUF] */
void pds_tid_encode(char *dst, uint64_t tid);
/* decodes a syntax-valid TID string; returns 0, or -1 if invalid */
int pds_tid_decode(const char *s, size_t len, uint64_t *tid);


typedef struct {
    uint64_t   last;          /* last TID handed out (0: none yet) */
    unsigned   clock_id;      /* 0..1023 */
} pds_tid_gen_t;


/* picks a random clock id (OS entropy); returns 0, or -1 with no entropy */
int pds_tid_gen_init(pds_tid_gen_t *gen);
/* a fixed clock id (tests, or ids derived from the worker number) */
void pds_tid_gen_init_clock(pds_tid_gen_t *gen, unsigned clock_id);

/* the wall clock in microseconds since the epoch */
uint64_t pds_tid_now_us(void);

/*
 * The core step, with an explicit clock: returns in *tid a TID greater
 * than both the generator's last TID and "after" (pass 0 for none), using
 * now_us when the clock is ahead and last timestamp + 1 otherwise (so it
 * keeps increasing when the clock stalls or steps back).  Returns 0, or -1
 * if no TID with the top bit clear can follow (timestamp overflow).
 */
int pds_tid_next_at(pds_tid_gen_t *gen, uint64_t now_us, uint64_t after,
    uint64_t *tid);

/* the next TID as a string in out[PDS_TID_BUF]; returns 0 or -1 */
int pds_tid_next(pds_tid_gen_t *gen, char *out);
/*
 * Like pds_tid_next, and the result is also greater than last_rev (e.g.
 * the repository's current rev, which another process or clock may have
 * made).  Returns -1 if last_rev is not a valid TID or nothing can follow.
 */
int pds_tid_next_after(pds_tid_gen_t *gen, const char *last_rev,
    size_t len, char *out);

#endif /* PDS_TID_H */
