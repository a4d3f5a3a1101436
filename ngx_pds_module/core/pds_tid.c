/*
 * ngx_pds_module core: Timestamp Identifiers (TIDs).
 */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pds_tid.h"


static int pds_tid_entropy(void *buf, size_t n);


static const char  pds_tid_alphabet[] = "234567abcdefghijklmnopqrstuvwxyz";


void
pds_tid_encode(char *dst, uint64_t tid)
{
    int  i;

    for (i = PDS_TID_LEN - 1; i >= 0; i--) {
        dst[i] = pds_tid_alphabet[tid & 31];
        tid >>= 5;
    }

    dst[PDS_TID_LEN] = '\0';
}


int
pds_tid_decode(const char *s, size_t len, uint64_t *tid)
{
    size_t         i;
    uint64_t       v;
    unsigned char  c;

    if (!pds_tid_valid(s, len)) {
        return -1;
    }

    v = 0;

    for (i = 0; i < PDS_TID_LEN; i++) {
        c = (unsigned char) s[i];
        v = (v << 5) | (uint64_t) (c <= '7' ? c - '2' : c - 'a' + 6);
    }

    *tid = v;

    return 0;
}


static int
pds_tid_entropy(void *buf, size_t n)
{
    int             fd;
    ssize_t         r;
    unsigned char  *p;

    if (getentropy(buf, n) == 0) {
        return 0;
    }

    fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return -1;
    }

    for (p = buf; n; p += r, n -= (size_t) r) {
        r = read(fd, p, n);

        if (r <= 0) {
            if (r == -1 && errno == EINTR) {
                r = 0;
                continue;
            }

            close(fd);
            return -1;
        }
    }

    close(fd);

    return 0;
}


int
pds_tid_gen_init(pds_tid_gen_t *gen)
{
    uint16_t  r;

    if (pds_tid_entropy(&r, sizeof(r)) != 0) {
        return -1;
    }

    pds_tid_gen_init_clock(gen, r & PDS_TID_CLOCK_MAX);

    return 0;
}


void
pds_tid_gen_init_clock(pds_tid_gen_t *gen, unsigned clock_id)
{
    gen->last = 0;
    gen->clock_id = clock_id & PDS_TID_CLOCK_MAX;
}


uint64_t
pds_tid_now_us(void)
{
    struct timespec  ts;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || ts.tv_sec < 0) {
        return 0;
    }

    return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}


int
pds_tid_next_at(pds_tid_gen_t *gen, uint64_t now_us, uint64_t after,
    uint64_t *tid)
{
    uint64_t  floor, t;

    /* the result must exceed both the last TID handed out and "after" */
    floor = gen->last > after ? gen->last : after;

    t = now_us;

    if (t > PDS_TID_TIME_MAX) {
        t = PDS_TID_TIME_MAX;
    }

    if (pds_tid_make(t, gen->clock_id) <= floor) {
        /* clock stalled or stepped back: one microsecond past the floor */
        t = pds_tid_time(floor) + 1;

        if (t > PDS_TID_TIME_MAX) {
            return -1;
        }
    }

    gen->last = pds_tid_make(t, gen->clock_id);
    *tid = gen->last;

    return 0;
}


int
pds_tid_next(pds_tid_gen_t *gen, char *out)
{
    uint64_t  tid;

    if (pds_tid_next_at(gen, pds_tid_now_us(), 0, &tid) != 0) {
        return -1;
    }

    pds_tid_encode(out, tid);

    return 0;
}


int
pds_tid_next_after(pds_tid_gen_t *gen, const char *last_rev, size_t len,
    char *out)
{
    uint64_t  after, tid;

    if (pds_tid_decode(last_rev, len, &after) != 0) {
        return -1;
    }

    if (pds_tid_next_at(gen, pds_tid_now_us(), after, &tid) != 0) {
        return -1;
    }

    pds_tid_encode(out, tid);

    return 0;
}
