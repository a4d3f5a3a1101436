/*
 * pds_repo_cli: a command line face of the repository engine, used by the
 * repo tests (t/40-repo-node.t, t/41-repo-kill.t) and by hand.  Test tool
 * only: the signing keys of the repos it creates are kept in plain text in
 * DIR/cli-keys.
 *
 *   init DIR
 *   create-repo DIR DID KEYHEX          -> <uid> <commit> <rev>
 *   put DIR DID COLLECTION RKEY JSON    -> <rev> <commit> <record cid>
 *   delete DIR DID COLLECTION RKEY      -> <rev> <commit>
 *   random-writes DIR DID N [--seed S] [--ops K] [--group G]
 *       N commits of 1..K random creates / updates / deletes, G commits per
 *       transaction; prints "<rev> <commit>" for each once it is durable
 *   records DIR DID                     -> {"<collection>/<rkey>": "<cid>"}
 *   root DIR DID                        -> <commit> <rev> <data>
 *   did-key DIR DID                     -> did:key of the repo's key
 *   export DIR DID [--since REV]        -> CAR on stdout
 *   proof DIR DID COLLECTION RKEY       -> CAR on stdout
 *   events DIR                  -> "<seq> <type> <did> <rev|-> <commit|->"
 *   event DIR SEQ                       -> the event's frame on stdout
 *   verify DIR                          -> "ok <repos> <events>" or errors
 *
 * Exit status 0 on success, 1 on failure, 2 on usage errors.
 */

#include "repo_cli.h"


static int
usage(void)
{
    fprintf(stderr, "usage: pds_repo_cli init|create-repo|put|delete|"
            "random-writes|records|root|did-key|export|proof|events|verify"
            " DIR ...\n");
    return 2;
}


static int
cmd_create(const char *dir, const char *did, const char *hex)
{
    int               rc;
    char              path[4096], s[PDS_CID_STR_SIZE];
    FILE             *f;
    MDB_txn          *txn;
    uint64_t          uid;
    pds_key_t        *key;
    pds_store_t      *store;
    pds_repo_write_t  res;

    key = pds_key_from_private_hex(PDS_KEY_K256, hex, strlen(hex));
    if (key == NULL) {
        fprintf(stderr, "bad key\n");
        return 2;
    }

    store = cli_open(dir);
    if (store == NULL) {
        pds_key_free(key);
        return 1;
    }

    rc = pds_store_write_begin(store, &txn);
    if (rc == 0) {
        rc = pds_repo_create(store, txn, did, strlen(did), key, &uid, &res);

        if (rc == 0) {
            rc = mdb_txn_commit(txn) == 0 ? 0 : PDS_REPO_ESTORE;

        } else {
            mdb_txn_abort(txn);
        }
    }

    if (rc == 0) {
        snprintf(path, sizeof(path), "%s/cli-keys", dir);
        f = fopen(path, "a");
        if (f) {
            fprintf(f, "%s %s\n", did, hex);
            fclose(f);
        }

        pds_cid_format(&res.commit, s);
        printf("%llu %s %s\n", (unsigned long long) uid, s, res.rev);

    } else {
        fprintf(stderr, "create-repo: %s\n", pds_repo_strerror(rc));
    }

    pds_key_free(key);
    pds_store_close(store);

    return rc == 0 ? 0 : 1;
}


static int
cmd_write(const char *dir, const char *did, const char *coll,
    const char *rkey, const char *text)
{
    int               rc;
    char              s[PDS_CID_STR_SIZE], r[PDS_CID_STR_SIZE];
    json_t           *j;
    pds_buf_t         rec;
    pds_key_t        *key;
    const char       *msg;
    pds_store_t      *store;
    json_error_t      jerr;
    pds_repo_op_t     op;
    pds_repo_write_t  req;

    memset(&op, 0, sizeof(op));
    memset(&req, 0, sizeof(req));
    pds_buf_init(&rec, &pds_malloc_allocator);

    op.collection = coll;
    op.collection_len = strlen(coll);
    op.rkey = rkey;
    op.rkey_len = strlen(rkey);

    if (text) {
        j = json_loads(text, 0, &jerr);
        if (j == NULL) {
            fprintf(stderr, "bad JSON: %s\n", jerr.text);
            return 2;
        }

        msg = pds_json_record_to_cbor_bytes(j, &rec);
        json_decref(j);

        if (msg) {
            fprintf(stderr, "bad record: %s\n", msg);
            return 2;
        }

        op.action = PDS_REPO_PUT;
        op.record = rec.data;
        op.record_len = rec.len;

    } else {
        op.action = PDS_REPO_DELETE;
    }

    store = cli_open(dir);
    if (store == NULL) {
        return 1;
    }

    key = cli_key(dir, did);
    if (key == NULL || cli_uid(store, did, &req.uid) != 0) {
        fprintf(stderr, "unknown repo %s\n", did);
        pds_store_close(store);
        return 1;
    }

    req.key = key;
    req.ops = &op;
    req.nops = 1;

    rc = pds_repo_write_batch(store, &req, 1);

    if (rc == 0 && req.status == 0) {
        pds_cid_format(&req.commit, s);
        pds_cid_format(&op.cid, r);
        printf("%s %s%s%s\n", req.rev, s, text ? " " : "", text ? r : "");

    } else {
        fprintf(stderr, "write: %s (%s)\n", pds_repo_strerror(req.status),
                req.error);
    }

    pds_buf_free(&rec);
    pds_key_free(key);
    pds_store_close(store);

    return rc == 0 && req.status == 0 ? 0 : 1;
}


static int
cmd_records(const char *dir, const char *did)
{
    int           rc;
    char         *out;
    json_t       *obj;
    MDB_txn      *txn;
    uint64_t      uid;
    pds_store_t  *store;

    store = cli_open(dir);
    if (store == NULL || cli_uid(store, did, &uid) != 0) {
        return 1;
    }

    obj = json_object();
    pds_store_read_begin(store, &txn);
    rc = cli_list(store, txn, uid, NULL, obj);
    mdb_txn_abort(txn);

    if (rc == 0) {
        out = json_dumps(obj, JSON_SORT_KEYS | JSON_COMPACT);
        printf("%s\n", out);
        free(out);
    }

    json_decref(obj);
    pds_store_close(store);

    return rc == 0 ? 0 : 1;
}


static int
cmd_random(const char *dir, const char *did, long n, unsigned ops,
    unsigned group)
{
    int                rc;
    char               s[PDS_CID_STR_SIZE], rkey[PDS_TID_BUF], text[128];
    long               done;
    size_t             i, j, k, t, nreq;
    json_t            *rec;
    MDB_txn           *txn;
    uint64_t           uid, r;
    pds_buf_t         *bufs;
    pds_key_t         *key;
    cli_key_t          victim;
    cli_keys_t         keys;
    const char        *coll;
    pds_store_t       *store;
    pds_repo_op_t     *opv;
    pds_repo_write_t  *reqs;

    store = cli_open(dir);
    if (store == NULL) {
        return 1;
    }

    key = cli_key(dir, did);
    if (key == NULL || cli_uid(store, did, &uid) != 0) {
        fprintf(stderr, "unknown repo %s\n", did);
        return 1;
    }

    memset(&keys, 0, sizeof(keys));

    pds_store_read_begin(store, &txn);
    rc = cli_list(store, txn, uid, &keys, NULL);
    mdb_txn_abort(txn);

    if (rc != 0) {
        fprintf(stderr, "cannot list records\n");
        return 1;
    }

    reqs = calloc(group, sizeof(pds_repo_write_t));
    opv = calloc((size_t) group * ops, sizeof(pds_repo_op_t));
    bufs = calloc((size_t) group * ops, sizeof(pds_buf_t));

    if (reqs == NULL || opv == NULL || bufs == NULL) {
        return 1;
    }

    for (i = 0; i < (size_t) group * ops; i++) {
        pds_buf_init(&bufs[i], &pds_malloc_allocator);
    }

    done = 0;

    while (done < n) {
        nreq = group;
        if ((long) nreq > n - done) {
            nreq = (size_t) (n - done);
        }

        memset(reqs, 0, nreq * sizeof(pds_repo_write_t));
        memset(opv, 0, (size_t) group * ops * sizeof(pds_repo_op_t));

        for (i = 0; i < nreq; i++) {
            reqs[i].uid = uid;
            reqs[i].key = key;
            reqs[i].ops = &opv[i * ops];
            reqs[i].nops = 1 + cli_rand() % ops;

            for (j = 0; j < reqs[i].nops; j++) {
                pds_repo_op_t  *op = &reqs[i].ops[j];

                r = cli_rand() % 100;
                k = 0;

                if (keys.n < 8 || r < 60) {
                    /* create a new key */
                    coll = cli_collections[cli_rand() % 3];
                    pds_tid_encode(rkey, cli_rand() >> 2);
                    cli_keys_add(&keys, coll, strlen(coll), rkey, 13);
                    op->action = PDS_REPO_CREATE;

                } else {
                    k = cli_rand() % keys.n;
                    op->action = r < 85 ? PDS_REPO_UPDATE : PDS_REPO_DELETE;

                    /* one op per record and request: else create */
                    for (t = 0; t < j; t++) {
                        if (strcmp(reqs[i].ops[t].rkey, keys.keys[k].rkey)
                            == 0)
                        {
                            op->action = PDS_REPO_CREATE;
                        }
                    }

                    if (op->action == PDS_REPO_CREATE) {
                        coll = cli_collections[cli_rand() % 3];
                        pds_tid_encode(rkey, cli_rand() >> 2);
                        cli_keys_add(&keys, coll, strlen(coll), rkey, 13);
                    }

                    if (op->action == PDS_REPO_DELETE) {
                        /* the key leaves the set */
                        victim = keys.keys[k];
                        keys.keys[k] = keys.keys[--keys.n];
                        keys.keys[keys.n] = victim;
                        k = keys.n;
                    }
                }

                k = op->action == PDS_REPO_CREATE ? keys.n - 1
                    : (op->action == PDS_REPO_DELETE ? keys.n : k);

                /* copies: a later op of the batch may delete the key */
                op->collection = strdup(keys.keys[k].coll);
                op->collection_len = strlen(op->collection);
                op->rkey = strdup(keys.keys[k].rkey);
                op->rkey_len = strlen(op->rkey);

                if (op->action == PDS_REPO_DELETE) {
                    free(keys.keys[k].coll);
                    free(keys.keys[k].rkey);
                    continue;
                }

                /* one record in ten is identical to others: shared CIDs */
                if (cli_rand() % 10 == 0) {
                    snprintf(text, sizeof(text), "same");
                } else {
                    snprintf(text, sizeof(text), "r%llu",
                             (unsigned long long) cli_rand());
                }

                rec = json_pack("{s:s, s:s, s:s}", "$type", op->collection,
                                "text", text, "createdAt",
                                "2026-11-24T23:04:52.123Z");
                bufs[i * ops + j].len = 0;
                pds_json_record_to_cbor_bytes(rec, &bufs[i * ops + j]);
                json_decref(rec);

                op->record = bufs[i * ops + j].data;
                op->record_len = bufs[i * ops + j].len;
            }
        }

        rc = pds_repo_write_batch(store, reqs, nreq);

        if (rc != 0) {
            fprintf(stderr, "batch: %s\n", pds_repo_strerror(rc));
            return 1;
        }

        for (i = 0; i < nreq; i++) {
            if (reqs[i].status != 0) {
                fprintf(stderr, "request: %s (%s)\n",
                        pds_repo_strerror(reqs[i].status), reqs[i].error);
                return 1;
            }

            pds_cid_format(&reqs[i].commit, s);
            printf("%s %s\n", reqs[i].rev, s);

            for (j = 0; j < reqs[i].nops; j++) {
                free((char *) reqs[i].ops[j].collection);
                free((char *) reqs[i].ops[j].rkey);
            }
        }

        fflush(stdout);
        done += (long) nreq;
    }

    for (i = 0; i < keys.n; i++) {
        free(keys.keys[i].coll);
        free(keys.keys[i].rkey);
    }

    for (i = 0; i < (size_t) group * ops; i++) {
        pds_buf_free(&bufs[i]);
    }

    free(keys.keys);
    free(bufs);
    free(opv);
    free(reqs);
    pds_key_free(key);
    pds_store_close(store);

    return 0;
}


static int
cmd_export(const char *dir, const char *did, const char *since,
    const char *coll, const char *rkey)
{
    int               rc;
    MDB_txn          *txn;
    uint64_t          uid;
    pds_store_t      *store;
    pds_car_writer_t  w;

    store = cli_open(dir);
    if (store == NULL || cli_uid(store, did, &uid) != 0) {
        return 1;
    }

    pds_car_writer_init(&w, &pds_malloc_allocator, 65536, cli_stdout, NULL);
    pds_store_read_begin(store, &txn);

    if (coll) {
        rc = pds_repo_export_proof(store, txn, uid, coll, strlen(coll), rkey,
                                   strlen(rkey), &w);
    } else {
        rc = pds_repo_export(store, txn, uid, since, &w);
    }

    if (rc == 0) {
        rc = pds_car_finish(&w);
    }

    mdb_txn_abort(txn);
    pds_car_writer_free(&w);
    pds_store_close(store);
    fflush(stdout);

    if (rc != 0) {
        fprintf(stderr, "export failed\n");
    }

    return rc == 0 ? 0 : 1;
}


static int
cmd_root(const char *dir, const char *did, int didkey)
{
    int              rc;
    char             c[PDS_CID_STR_SIZE], d[PDS_CID_STR_SIZE];
    char             dk[PDS_DID_KEY_MAX];
    MDB_txn         *txn;
    uint64_t         uid;
    pds_key_t       *key;
    pds_store_t     *store;
    pds_repo_root_t  root;

    if (didkey) {
        key = cli_key(dir, did);
        if (key == NULL || pds_key_did_key(key, dk, sizeof(dk)) < 0) {
            return 1;
        }

        printf("%s\n", dk);
        pds_key_free(key);
        return 0;
    }

    store = cli_open(dir);
    if (store == NULL || cli_uid(store, did, &uid) != 0) {
        return 1;
    }

    pds_store_read_begin(store, &txn);
    rc = pds_repo_get_root(store, txn, uid, &root);

    if (rc == 0) {
        pds_cid_format(&root.commit, c);
        pds_cid_format(&root.data, d);
        printf("%s %s %s\n", c, root.rev, d);
    }

    mdb_txn_abort(txn);
    pds_store_close(store);

    return rc == 0 ? 0 : 1;
}


static int
cmd_events(const char *dir)
{
    int            rc;
    MDB_val        key, val;
    MDB_txn       *txn;
    pds_cbor_t    *h, *b;
    MDB_cursor    *c;
    pds_alloc_t    a;
    pds_arena_t   *arena;
    pds_store_t   *store;
    char           s[PDS_CID_STR_SIZE];
    size_t         used;
    const pds_cbor_t  *t, *d, *r, *cm;

    store = cli_open(dir);
    if (store == NULL) {
        return 1;
    }

    pds_store_read_begin(store, &txn);
    mdb_cursor_open(txn, store->db_events, &c);

    for (rc = mdb_cursor_get(c, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &key, &val, MDB_NEXT))
    {
        arena = pds_arena_create();
        a = pds_arena_allocator(arena);

        if (pds_cbor_decode_prefix(val.mv_data, val.mv_size, &a, &h, &used)
            != 0
            || pds_cbor_decode((uint8_t *) val.mv_data + used,
                               val.mv_size - used, &a, &b) != 0)
        {
            printf("%llu bad\n", (unsigned long long)
                   pds_store_get_u64(key.mv_data));

        } else {
            t = pds_cbor_map_get(h, "t");
            d = pds_cbor_map_get(b, "did");
            if (d == NULL) {
                d = pds_cbor_map_get(b, "repo");
            }

            r = pds_cbor_map_get(b, "rev");
            cm = pds_cbor_map_get(b, "commit");
            s[0] = '\0';

            if (cm && cm->type == PDS_CBOR_CID) {
                pds_cid_format(&cm->u.cid, s);
            }

            printf("%llu %s %s %s %s\n",
                   (unsigned long long) pds_store_get_u64(key.mv_data),
                   t ? t->u.str.data : "?", d ? d->u.str.data : "?",
                   r ? r->u.str.data : "-", s[0] ? s : "-");
        }

        pds_arena_destroy(arena);
    }

    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    pds_store_close(store);

    return 0;
}


static int
cmd_event(const char *dir, uint64_t seq)
{
    int             rc;
    size_t          n;
    MDB_txn        *txn;
    pds_store_t    *store;
    const uint8_t  *p;

    store = cli_open(dir);
    if (store == NULL) {
        return 1;
    }

    pds_store_read_begin(store, &txn);
    rc = pds_repo_event_get(store, txn, seq, &p, &n);

    if (rc == 0) {
        fwrite(p, 1, n, stdout);
    }

    mdb_txn_abort(txn);
    pds_store_close(store);

    return rc == 0 ? 0 : 1;
}


static int
cmd_verify(const char *dir)
{
    int           rc, bad;
    char          err[512], did[512], dk[PDS_DID_KEY_MAX];
    long          repos;
    MDB_val       key, val;
    MDB_txn      *txn;
    uint64_t      uid, last;
    pds_key_t    *pk;
    MDB_cursor   *c;
    pds_store_t  *store;

    store = cli_open(dir);
    if (store == NULL) {
        return 1;
    }

    pds_store_read_begin(store, &txn);
    mdb_cursor_open(txn, store->db_dids, &c);

    bad = 0;
    repos = 0;

    for (rc = mdb_cursor_get(c, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &key, &val, MDB_NEXT))
    {
        if (key.mv_size >= sizeof(did) || val.mv_size != 8) {
            printf("bad dids entry\n");
            bad = 1;
            continue;
        }

        memcpy(did, key.mv_data, key.mv_size);
        did[key.mv_size] = '\0';
        uid = pds_store_get_u64(val.mv_data);

        pk = cli_key(dir, did);
        if (pk) {
            pds_key_did_key(pk, dk, sizeof(dk));
            pds_key_free(pk);
        }

        repos++;

        if (pds_repo_verify(store, txn, uid, pk ? dk : NULL, err,
                            sizeof(err)) != 0)
        {
            printf("%s: %s\n", did, err);
            bad = 1;
        }
    }

    mdb_cursor_close(c);

    if (pds_repo_verify_events(store, txn, err, sizeof(err)) != 0) {
        printf("events: %s\n", err);
        bad = 1;
    }

    pds_store_seq_last(store, txn, &last);
    mdb_txn_abort(txn);
    pds_store_close(store);

    if (!bad) {
        printf("ok %ld %llu\n", repos, (unsigned long long) last);
    }

    return bad;
}


int
main(int argc, char **argv)
{
    int          i;
    long         n;
    unsigned     ops, group;
    const char  *since;

    if (argc < 3) {
        return usage();
    }

    if (strcmp(argv[1], "init") == 0) {
        pds_store_t  *store = cli_open(argv[2]);

        if (store == NULL) {
            return 1;
        }

        pds_store_close(store);
        return 0;
    }

    if (strcmp(argv[1], "create-repo") == 0 && argc == 5) {
        return cmd_create(argv[2], argv[3], argv[4]);
    }

    if (strcmp(argv[1], "put") == 0 && argc == 7) {
        return cmd_write(argv[2], argv[3], argv[4], argv[5], argv[6]);
    }

    if (strcmp(argv[1], "delete") == 0 && argc == 6) {
        return cmd_write(argv[2], argv[3], argv[4], argv[5], NULL);
    }

    if (strcmp(argv[1], "random-writes") == 0 && argc >= 5) {
        n = atol(argv[4]);
        ops = 3;
        group = 1;

        for (i = 5; i + 1 < argc; i += 2) {
            if (strcmp(argv[i], "--seed") == 0) {
                cli_rng = strtoull(argv[i + 1], NULL, 10) * 2654435761ULL
                          + 88172645463325252ULL;

            } else if (strcmp(argv[i], "--ops") == 0) {
                ops = (unsigned) atoi(argv[i + 1]);

            } else if (strcmp(argv[i], "--group") == 0) {
                group = (unsigned) atoi(argv[i + 1]);

            } else {
                return usage();
            }
        }

        if (n < 0 || ops < 1 || ops > 200 || group < 1) {
            return usage();
        }

        return cmd_random(argv[2], argv[3], n, ops, group);
    }

    if (strcmp(argv[1], "records") == 0 && argc == 4) {
        return cmd_records(argv[2], argv[3]);
    }

    if (strcmp(argv[1], "root") == 0 && argc == 4) {
        return cmd_root(argv[2], argv[3], 0);
    }

    if (strcmp(argv[1], "did-key") == 0 && argc == 4) {
        return cmd_root(argv[2], argv[3], 1);
    }

    if (strcmp(argv[1], "export") == 0 && (argc == 4 || argc == 6)) {
        since = NULL;

        if (argc == 6) {
            if (strcmp(argv[4], "--since") != 0) {
                return usage();
            }

            since = argv[5];
        }

        return cmd_export(argv[2], argv[3], since, NULL, NULL);
    }

    if (strcmp(argv[1], "proof") == 0 && argc == 6) {
        return cmd_export(argv[2], argv[3], NULL, argv[4], argv[5]);
    }

    if (strcmp(argv[1], "events") == 0) {
        return cmd_events(argv[2]);
    }

    if (strcmp(argv[1], "event") == 0 && argc == 4) {
        return cmd_event(argv[2], strtoull(argv[3], NULL, 10));
    }

    if (strcmp(argv[1], "verify") == 0) {
        return cmd_verify(argv[2]);
    }

    return usage();
}
