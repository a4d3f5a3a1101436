/*
 * libFuzzer target: what a permission set's publisher controls.
 *
 * First byte even: the rest is a Lexicon document (JSON); checked as the
 * set of com.example.perms.set and, when it is one, expanded for an
 * include: with and without an audience.  Every value the expansion
 * gives must read as a repo: or rpc: scope naming only NSIDs under
 * com.example.perms.  (the set's authority rule).
 *
 * First byte odd: the rest, cut at 0xff bytes, is blocks (the first one
 * the record, then MST nodes); a commit pointing at the second (the
 * signature not checked: the publisher signs what it likes) and a CAR of
 * all of them are made, and the getRecord proof checker looks for
 * com.atproto.lexicon.schema/com.example.perms.set in it.  A record
 * found must be one of the CAR's blocks.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pds_mem.h"
#include "pds_car.h"
#include "pds_cid.h"
#include "pds_oauth_permset.h"
#include "pds_oauth_scope.h"
#include "pds_repo_int.h"
#include "pds_repo_proof.h"


#define check(cond)  do { if (!(cond)) { abort(); } } while (0)

#define NSID  "com.example.perms.set"
#define MAXB  32


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void
expanded_ok(const char *s, size_t len)
{
    int                  i, f;
    size_t               n;
    const char          *e, *end = s + len;
    pds_scope_parsed_t   ps;

    for ( /* void */ ; s < end; s = e + 1) {
        e = memchr(s, ' ', end - s);
        if (e == NULL) {
            e = end;
        }
        n = e - s;
        check(pds_scope_parse(s, n, &ps) == 0);
        check(ps.kind == PDS_SCOPE_REPO || ps.kind == PDS_SCOPE_RPC);
        f = 0;
        for (i = 0; i < ps.n[f]; i++) {
            check(strncmp(ps.v[f][i], "com.example.perms.", 18) == 0
                  && strlen(ps.v[f][i]) > 18);
        }
    }
}


static void
fuzz_doc(const uint8_t *data, size_t size, pds_alloc_t *a)
{
    int            k;
    json_t        *doc;
    pds_buf_t      b;
    const json_t  *set;
    static const char *inc[] = {
        "include:" NSID, "include:" NSID "?aud=did:web:x.example%23svc"
    };

    doc = json_loadb((const char *) data, size, 0, NULL);
    if (doc == NULL) {
        return;
    }

    if (pds_permset_check(doc, NSID, &set) == PDS_PERMSET_OK) {
        for (k = 0; k < 2; k++) {
            pds_buf_init(&b, a);
            if (pds_permset_expand(inc[k], strlen(inc[k]), set, &b) == 0) {
                expanded_ok((char *) b.data, b.len);
            }
            pds_buf_free(&b);
        }
    }

    json_decref(doc);
}


static int
out_cb(void *ctx, const uint8_t *p, size_t n)
{
    return pds_buf_append(ctx, p, n);
}


static void
fuzz_proof(const uint8_t *data, size_t size, pds_alloc_t *a)
{
    size_t               nb, i, rn;
    const uint8_t       *p, *e, *end, *rec;
    const uint8_t       *bp[MAXB];
    size_t               bn[MAXB];
    pds_cid_t            cid[MAXB + 1], root, found;
    pds_buf_t            commit, car;
    pds_car_writer_t     w;
    const char          *why;
    static const uint8_t sig[64];

    nb = 0;
    end = data + size;
    for (p = data; p <= end && nb < MAXB; p = e + 1) {
        e = memchr(p, 0xff, end - p);
        if (e == NULL) {
            e = end;
        }
        bp[nb] = p;
        bn[nb] = e - p;
        pds_cid_compute(&cid[nb], PDS_CID_CODEC_DAG_CBOR, p, e - p);
        nb++;
        if (e == end) {
            break;
        }
    }
    if (nb == 0) {
        return;
    }

    pds_buf_init(&commit, a);
    if (pds_commit_encode(&commit, "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", 32,
                          "3kabcdefghi22", &cid[nb > 1 ? 1 : 0], sig) != 0)
    {
        pds_buf_free(&commit);
        return;
    }
    pds_cid_compute(&root, PDS_CID_CODEC_DAG_CBOR, commit.data, commit.len);

    pds_buf_init(&car, a);
    pds_car_writer_init(&w, a, 4096, out_cb, &car);
    if (pds_car_header(&w, &root, 1) == 0
        && pds_car_block(&w, &root, commit.data, commit.len) == 0)
    {
        for (i = 0; i < nb; i++) {
            if (pds_car_block(&w, &cid[i], bp[i], bn[i]) != 0) {
                break;
            }
        }
        if (i == nb && pds_car_finish(&w) == 0
            && pds_repo_proof_record(a, car.data, car.len,
                                     "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", NULL,
                                     "com.atproto.lexicon.schema", NSID,
                                     &rec, &rn, &found, &why) == 0)
        {
            check(rec >= car.data && rec + rn <= car.data + car.len);
        }
    }
    pds_car_writer_free(&w);
    pds_buf_free(&car);
    pds_buf_free(&commit);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pds_arena_t  *arena;
    pds_alloc_t   a;

    if (size == 0) {
        return 0;
    }

    arena = pds_arena_create();
    if (arena == NULL) {
        return 0;
    }
    a = pds_arena_allocator(arena);

    if (data[0] & 1) {
        fuzz_proof(data + 1, size - 1, &a);
    } else {
        fuzz_doc(data + 1, size - 1, &a);
    }

    pds_arena_destroy(arena);
    return 0;
}
