/*
 * ngx_pds_module core, the repository engine: the repository's rows.
 *
 * Key and value layouts of blocks, records and roots (declared in
 * pds_repo_int.h), roots, LMDB errors as PDS_REPO_* codes, revs as numbers
 * and the time strings of events.
 */

#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "pds_repo_int.h"
#include "pds_syntax.h"


void
pds_cid_pack(uint8_t *p, const pds_cid_t *cid)
{
    p[0] = cid->codec;
    memcpy(p + 1, cid->digest, PDS_CID_DIGEST_LEN);
}


int
pds_cid_unpack(pds_cid_t *cid, const uint8_t *p)
{
    if (p[0] != PDS_CID_CODEC_DAG_CBOR && p[0] != PDS_CID_CODEC_RAW) {
        return -1;
    }

    cid->codec = p[0];
    memcpy(cid->digest, p + 1, PDS_CID_DIGEST_LEN);
    return 0;
}


void
pds_block_key(uint8_t *key, uint64_t uid, const pds_cid_t *cid)
{
    pds_store_put_u64(key, uid);
    pds_cid_pack(key + PDS_UID_LEN, cid);
}


uint32_t
pds_get_u32(const uint8_t *p)
{
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16)
           | ((uint32_t) p[2] << 8) | p[3];
}


void
pds_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) (v >> 24);
    p[1] = (uint8_t) (v >> 16);
    p[2] = (uint8_t) (v >> 8);
    p[3] = (uint8_t) v;
}


int
pds_repo_mdb(int rc)
{
    switch (pds_store_rc(rc)) {
    case 0:
        return 0;
    case PDS_STORE_MAPFULL:
        return PDS_REPO_EMAPFULL;
    default:
        return PDS_REPO_ESTORE;
    }
}


uint64_t
pds_rev_u64(const char *rev)
{
    uint64_t  v;

    if (rev == NULL || pds_tid_decode(rev, strlen(rev), &v) != 0) {
        return 0;
    }

    return v;
}


const char *
pds_repo_strerror(int status)
{
    switch (status) {
    case PDS_REPO_OK:
        return "ok";
    case PDS_REPO_UNCHANGED:
        return "unchanged";
    case PDS_REPO_EINVAL:
        return "invalid write";
    case PDS_REPO_ENOREPO:
        return "no such repo";
    case PDS_REPO_ESWAP:
        return "swap mismatch";
    case PDS_REPO_EEXISTS:
        return "record already exists";
    case PDS_REPO_ENOTFOUND:
        return "record not found";
    case PDS_REPO_ETOOBIG:
        return "too many writes: event over 2,000,000 bytes";
    case PDS_REPO_EMAPFULL:
        return "storage map full";
    case PDS_REPO_ESTORE:
        return "storage error";
    case PDS_REPO_ENOMEM:
        return "out of memory";
    case PDS_REPO_ECRYPTO:
        return "signing failed";
    case PDS_REPO_EMST:
        return "repository tree error";
    case PDS_REPO_EBUSY:
        return "transaction failed";
    case PDS_REPO_EHOOK:
        return "refused";
    default:
        return "unknown error";
    }
}


void
pds_repo_time_now(char out[PDS_REPO_TIME_BUF])
{
    unsigned        ms;
    struct tm       tm;
    struct timeval  tv;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);

    ms = (unsigned) (tv.tv_usec / 1000) % 1000;

    strftime(out, PDS_REPO_TIME_BUF, "%Y-%m-%dT%H:%M:%S", &tm);
    out[19] = '.';
    out[20] = (char) ('0' + ms / 100);
    out[21] = (char) ('0' + ms / 10 % 10);
    out[22] = (char) ('0' + ms % 10);
    out[23] = 'Z';
    out[24] = '\0';
}


size_t
pds_record_key(uint8_t *k, uint64_t uid, const char *c, size_t clen,
    const char *r, size_t rlen)
{
    pds_store_put_u64(k, uid);
    memcpy(k + PDS_UID_LEN, c, clen);
    k[PDS_UID_LEN + clen] = 0;
    memcpy(k + PDS_UID_LEN + clen + 1, r, rlen);

    return PDS_UID_LEN + clen + 1 + rlen;
}


int
pds_ident_valid(const char *c, size_t clen, const char *r, size_t rlen)
{
    return clen > 0 && clen <= 317 && rlen > 0 && rlen <= 512
           && pds_nsid_valid(c, clen) && pds_rkey_valid(r, rlen);
}


int
pds_repo_uid(pds_store_t *store, MDB_txn *txn, const char *did, size_t len,
    uint64_t *uid)
{
    return pds_store_uid_get(store, txn, did, len, uid);
}


int
pds_repo_get_root(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    pds_repo_root_t *root)
{
    int             rc;
    MDB_val         val;
    const uint8_t  *p;

    rc = pds_store_get_id(txn, store->db_repos, uid, &val);
    if (rc != 0) {
        return rc == PDS_NOTFOUND ? PDS_NOTFOUND : -1;
    }

    p = val.mv_data;

    if (val.mv_size <= PDS_ROOT_FIXED_LEN
        || pds_cid_unpack(&root->commit, p) != 0
        || pds_cid_unpack(&root->data, p + PDS_CID_PACK_LEN) != 0)
    {
        return -1;
    }

    memcpy(root->rev, p + 2 * PDS_CID_PACK_LEN, PDS_TID_LEN);
    root->rev[PDS_TID_LEN] = '\0';
    root->did = (const char *) p + PDS_ROOT_FIXED_LEN;
    root->did_len = val.mv_size - PDS_ROOT_FIXED_LEN;

    return 0;
}


int
pds_repo_put_root(pds_store_t *store, MDB_txn *txn, uint64_t uid,
    const pds_cid_t *commit, const pds_cid_t *data, const char *rev,
    const char *did, size_t did_len)
{
    int      rc;
    uint8_t  k[PDS_UID_LEN];
    uint8_t *p;
    MDB_val  key, val;

    pds_store_put_u64(k, uid);
    key.mv_data = k;
    key.mv_size = sizeof(k);
    val.mv_data = NULL;
    val.mv_size = PDS_ROOT_FIXED_LEN + did_len;

    rc = mdb_put(txn, store->db_repos, &key, &val, MDB_RESERVE);
    if (rc != 0) {
        return pds_repo_mdb(rc);
    }

    p = val.mv_data;
    pds_cid_pack(p, commit);
    pds_cid_pack(p + PDS_CID_PACK_LEN, data);
    memcpy(p + 2 * PDS_CID_PACK_LEN, rev, PDS_TID_LEN);
    memcpy(p + PDS_ROOT_FIXED_LEN, did, did_len);

    return 0;
}
