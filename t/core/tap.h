/*
 * A tiny TAP producer for the core's C unit tests (read by prove).
 * Header-only: each test program includes it once.
 */

#ifndef PDS_TAP_H
#define PDS_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define TAP_UNUSED  __attribute__((unused))

static int  tap_n;
static int  tap_failed;


static TAP_UNUSED int
tap_ok(int cond, const char *fmt, ...)
{
    va_list  ap;

    tap_n++;
    printf("%s %d - ", cond ? "ok" : "not ok", tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);

    if (!cond) {
        tap_failed++;
    }

    return cond;
}


static TAP_UNUSED void
tap_diag(const char *fmt, ...)
{
    va_list  ap;

    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}


static TAP_UNUSED int
tap_done(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}


static TAP_UNUSED int
tap_is_str(const char *got, const char *want, const char *fmt, ...)
{
    int      cond;
    va_list  ap;

    cond = (got != NULL && strcmp(got, want) == 0);

    tap_n++;
    printf("%s %d - ", cond ? "ok" : "not ok", tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");

    if (!cond) {
        tap_failed++;
        printf("#   got '%s', want '%s'\n", got ? got : "(null)", want);
    }

    fflush(stdout);

    return cond;
}


#define ok(cond, ...)  tap_ok(!!(cond), __VA_ARGS__)

#define is_int(got, want, ...)                                               \
    (tap_ok((long long) (got) == (long long) (want), __VA_ARGS__)            \
     ? 1 : (tap_diag("  got %lld, want %lld", (long long) (got),             \
                     (long long) (want)), 0))

#define is_str(got, want, ...)                                               \
    tap_is_str((const char *) (got), (want), __VA_ARGS__)


/*
 * The interop fixtures live in ../shared/interop beside the checkout; the
 * PDS_SHARED_DIR environment variable (set by the Makefile) overrides it.
 */
static TAP_UNUSED const char *
tap_shared_path(char *buf, size_t size, const char *rel)
{
    const char  *dir = getenv("PDS_SHARED_DIR");

    snprintf(buf, size, "%s/%s", dir ? dir : "../shared", rel);
    return buf;
}


/* Reads a whole file into a malloc'd NUL-terminated buffer. */
static TAP_UNUSED char *
tap_slurp(const char *path, size_t *len)
{
    long   n;
    char  *buf;
    FILE  *f;

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);

    buf = malloc((size_t) n + 1);
    if (buf == NULL || fread(buf, 1, (size_t) n, f) != (size_t) n) {
        free(buf);
        fclose(f);
        return NULL;
    }

    buf[n] = '\0';
    fclose(f);

    if (len) {
        *len = (size_t) n;
    }

    return buf;
}

#endif /* PDS_TAP_H */
