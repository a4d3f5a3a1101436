/*
 * pds_repo_cli's plumbing (included by pds_repo_cli.c only): opening the
 * store, the test keys kept in DIR/cli-keys, uids, a repo's current keys
 * and records, CAR output.  Test tool only.
 */

#ifndef PDS_T_REPO_CLI_H
#define PDS_T_REPO_CLI_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "pds_cbor.h"
#include "pds_car.h"
#include "pds_json.h"
#include "pds_keys.h"
#include "pds_mem.h"
#include "pds_repo.h"
#include "pds_store.h"


#define CLI_MAP_SIZE  ((size_t) 4 << 30)


static const char  *cli_collections[] = {
    "app.bsky.feed.post", "app.bsky.feed.like", "app.bsky.graph.follow"
};


typedef struct {
    char   *coll;
    char   *rkey;
} cli_key_t;


typedef struct {
    cli_key_t  *keys;
    size_t      n;
    size_t      cap;
} cli_keys_t;


static uint64_t  cli_rng = 88172645463325252ULL;


static uint64_t
cli_rand(void)
{
    cli_rng ^= cli_rng << 13;
    cli_rng ^= cli_rng >> 7;
    cli_rng ^= cli_rng << 17;
    return cli_rng;
}


static pds_store_t *
cli_open(const char *dir)
{
    char          err[256];
    size_t        map;
    const char   *env;
    pds_store_t  *store;

    env = getenv("PDS_MAP_SIZE");
    map = env ? (size_t) strtoull(env, NULL, 10) : CLI_MAP_SIZE;

    if (pds_store_open(dir, map, 126, &store, err, sizeof(err)) != 0) {
        fprintf(stderr, "open %s: %s\n", dir, err);
        return NULL;
    }

    return store;
}


/* the key of a did from DIR/cli-keys */
static pds_key_t *
cli_key(const char *dir, const char *did)
{
    char        path[4096], line[1024], *sp;
    FILE       *f;
    pds_key_t  *key;

    snprintf(path, sizeof(path), "%s/cli-keys", dir);

    f = fopen(path, "r");
    if (f == NULL) {
        return NULL;
    }

    key = NULL;

    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        sp = strchr(line, ' ');

        if (sp && (size_t) (sp - line) == strlen(did)
            && memcmp(line, did, strlen(did)) == 0)
        {
            key = pds_key_from_private_hex(PDS_KEY_K256, sp + 1,
                                           strlen(sp + 1));
        }
    }

    fclose(f);
    return key;
}


static int
cli_uid(pds_store_t *store, const char *did, uint64_t *uid)
{
    int       rc;
    MDB_txn  *txn;

    if (pds_store_read_begin(store, &txn) != 0) {
        return -1;
    }

    rc = pds_repo_uid(store, txn, did, strlen(did), uid);
    mdb_txn_abort(txn);

    if (rc != 0) {
        fprintf(stderr, "no repo for %s\n", did);
        return -1;
    }

    return 0;
}


/* the current keys of a repo */
static int
cli_keys_add(cli_keys_t *k, const char *coll, size_t clen, const char *rkey,
    size_t rlen)
{
    cli_key_t  *n;

    if (k->n == k->cap) {
        k->cap = k->cap ? k->cap * 2 : 256;
        n = realloc(k->keys, k->cap * sizeof(cli_key_t));
        if (n == NULL) {
            return -1;
        }

        k->keys = n;
    }

    k->keys[k->n].coll = strndup(coll, clen);
    k->keys[k->n].rkey = strndup(rkey, rlen);
    k->n++;

    return 0;
}


typedef struct {
    cli_keys_t   *keys;
    const char   *coll;
    json_t       *obj;
} cli_list_t;


static int
cli_list_rec(void *ctx, const char *rkey, size_t rlen, const pds_cid_t *cid,
    const uint8_t *p, size_t n)
{
    char         path[1100], s[PDS_CID_STR_SIZE];
    cli_list_t  *l = ctx;

    (void) p;
    (void) n;

    if (l->keys) {
        return cli_keys_add(l->keys, l->coll, strlen(l->coll), rkey, rlen);
    }

    pds_cid_format(cid, s);
    snprintf(path, sizeof(path), "%s/%.*s", l->coll, (int) rlen, rkey);
    json_object_set_new(l->obj, path, json_string(s));

    return 0;
}


typedef struct {
    char   names[64][320];
    size_t n;
} cli_colls_t;


static int
cli_list_coll(void *ctx, const char *name, size_t len)
{
    cli_colls_t  *c = ctx;

    if (c->n == 64 || len >= 320) {
        return -1;
    }

    memcpy(c->names[c->n], name, len);
    c->names[c->n][len] = '\0';
    c->n++;

    return 0;
}


static int
cli_list(pds_store_t *store, MDB_txn *txn, uint64_t uid, cli_keys_t *keys,
    json_t *obj)
{
    size_t       i;
    cli_list_t   l;
    cli_colls_t  colls;

    colls.n = 0;

    if (pds_repo_list_collections(store, txn, uid, cli_list_coll, &colls)
        < 0)
    {
        return -1;
    }

    l.keys = keys;
    l.obj = obj;

    for (i = 0; i < colls.n; i++) {
        l.coll = colls.names[i];

        if (pds_repo_list_records(store, txn, uid, l.coll, strlen(l.coll),
                                  (size_t) -1, NULL, 0, 1, cli_list_rec, &l)
            < 0)
        {
            return -1;
        }
    }

    return 0;
}


static int
cli_stdout(void *ctx, const uint8_t *p, size_t n)
{
    (void) ctx;

    return fwrite(p, 1, n, stdout) == n ? 0 : -1;
}

#endif /* PDS_T_REPO_CLI_H */
