/*
 * Unit tests: pds_oauth_permset (OAuth permission sets), against what the
 * reference's own packages answer (t/core/oauth_permset_vectors.h, made by
 * oauth_permset_vectors.mjs): the scopes an include: value stands for
 * with a given set (IncludeScope.toScopes), and which Lexicon documents are
 * permission sets of their NSID (lexiconDocumentSchema, the id check).
 */

#include <stdio.h>
#include <string.h>

#include "pds_mem.h"
#include "pds_oauth_permset.h"
#include "tap.h"

#include "oauth_permset_vectors.h"

#define N(a)  (sizeof(a) / sizeof((a)[0]))


int
main(void)
{
    int            rc;
    char           nsid[320];
    size_t         i;
    json_t        *j;
    pds_buf_t      b;
    pds_arena_t   *arena = pds_arena_create();
    pds_alloc_t    a = pds_arena_allocator(arena);
    const json_t  *set;

    for (i = 0; i < N(expand); i++) {
        j = json_loads(expand[i].set, 0, NULL);
        pds_buf_init(&b, &a);
        rc = pds_permset_expand(expand[i].v, strlen(expand[i].v), j, &b);
        pds_buf_putc(&b, '\0');
        tap_ok(rc == 0 && strcmp((char *) b.data, expand[i].out) == 0,
               "%s with %s: \"%s\"", expand[i].v, expand[i].set,
               expand[i].out);
        if (rc != 0 || strcmp((char *) b.data, expand[i].out) != 0) {
            printf("#   got \"%s\" (%d)\n", (char *) b.data, rc);
        }
        pds_buf_free(&b);
        json_decref(j);
    }

    for (i = 0; i < N(docs); i++) {
        j = json_loads(docs[i].doc, 0, NULL);
        rc = pds_permset_check(j, "com.example.perms.set", &set);
        tap_ok(strcmp(rc == PDS_PERMSET_OK ? "PDS_PERMSET_OK"
                      : rc == PDS_PERMSET_NOT_SET ? "PDS_PERMSET_NOT_SET"
                      : "PDS_PERMSET_INVALID", docs[i].result) == 0
               && (rc != PDS_PERMSET_OK
                   || set == json_object_get(json_object_get(j, "defs"),
                                             "main")),
               "document, %s: %s", docs[i].what, docs[i].result);
        json_decref(j);
    }

    /* the NSID of an include: value */
    tap_ok(pds_permset_nsid(expand[17].v, strlen(expand[17].v), nsid,
                            sizeof(nsid)) == 0
           && strstr(expand[17].v, "?aud=") != NULL
           && strcmp(nsid, "com.example.perms.set") == 0,
           "the NSID of an include: value with an audience");
    tap_ok(pds_permset_nsid("repo:com.example.perms.set", 26, nsid,
                            sizeof(nsid)) == -1,
           "no NSID for another kind of scope");
    tap_ok(pds_permset_nsid("include:com.example", 19, nsid, sizeof(nsid))
           == -1, "an include: value whose NSID has two segments is none");
    b.len = 0;
    pds_buf_init(&b, &a);
    tap_ok(pds_permset_expand("repo:x.y.z", 10, NULL, &b) == -1,
           "expanding a value that is no include: is refused");

    pds_arena_destroy(arena);
    return tap_done();
}
