/*
 * ngx_pds_module core: the outgoing mail queue (see pds_outbox.h).
 *
 * Keys are 8-byte big-endian ids, one more than the last queued; values
 * are rows: to, subject, text, did, queued (ms), next (ms, when it is due,
 * or when its lease ends), tries (failed attempts so far) and owner (the
 * sender holding its lease, 0 when none).
 */

#include <errno.h>
#include <string.h>

#include "pds_outbox.h"
#include "pds_row.h"


#define PDS_OUTBOX_CLAIM_MAX  64


static int
pds_outbox_one_line(const char *s)
{
    return s != NULL && s[0] != '\0' && strpbrk(s, "\r\n") == NULL;
}


int
pds_outbox_put(pds_store_t *s, MDB_txn *txn, const pds_mail_t *m,
    int64_t now_ms)
{
    int         rc;
    uint8_t     key[8];
    uint64_t    id;
    MDB_val     k, v;
    MDB_cursor *c;
    pds_row_t   row;

    if (!pds_outbox_one_line(m->to) || !pds_outbox_one_line(m->subject)
        || m->text == NULL)
    {
        return EINVAL;
    }

    rc = mdb_cursor_open(txn, s->db_outbox, &c);
    if (rc != 0) {
        return rc;
    }

    rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    mdb_cursor_close(c);

    if (rc == MDB_NOTFOUND) {
        id = 1;

    } else if (rc == 0 && k.mv_size == sizeof(key)) {
        id = pds_store_get_u64(k.mv_data) + 1;

    } else {
        return rc ? rc : MDB_CORRUPTED;
    }

    pds_store_put_u64(key, id);

    memset(&row, 0, sizeof(row));
    pds_row_str(&row, "to", m->to);
    pds_row_str(&row, "subject", m->subject);
    pds_row_str(&row, "text", m->text);
    pds_row_str(&row, "did", m->did);
    pds_row_int(&row, "queued", now_ms);
    pds_row_int(&row, "next", now_ms);
    pds_row_int(&row, "tries", 0);
    pds_row_int(&row, "owner", 0);

    return pds_row_put(txn, s->db_outbox, key, sizeof(key), &row);
}


static int
pds_outbox_write(pds_store_t *s, MDB_txn *txn, const pds_outbox_mail_t *m)
{
    uint8_t    key[8];
    pds_row_t  row;

    pds_store_put_u64(key, m->id);

    memset(&row, 0, sizeof(row));
    pds_row_str(&row, "to", m->to);
    pds_row_str(&row, "subject", m->subject);
    pds_row_str(&row, "text", m->text);
    pds_row_str(&row, "did", m->did);
    pds_row_int(&row, "queued", m->queued);
    pds_row_int(&row, "next", m->next);
    pds_row_int(&row, "tries", m->tries);
    pds_row_int(&row, "owner", m->owner);

    return pds_row_put(txn, s->db_outbox, key, sizeof(key), &row);
}


static const char *
pds_outbox_dup(const pds_alloc_t *a, const char *s)
{
    return s ? pds_strndup(a, s, strlen(s)) : NULL;
}


/* a row into m (strings copied with a): 0, MDB_CORRUPTED or ENOMEM */
static int
pds_outbox_read(const MDB_val *k, const MDB_val *v, const pds_alloc_t *a,
    pds_outbox_mail_t *m)
{
    int          rc;
    pds_cbor_t  *row;

    if (k->mv_size != 8) {
        return MDB_CORRUPTED;
    }

    rc = pds_row_decode(v, a, &row);
    if (rc != 0) {
        return rc;
    }

    memset(m, 0, sizeof(pds_outbox_mail_t));
    m->id = pds_store_get_u64(k->mv_data);
    m->to = pds_outbox_dup(a, pds_row_get_str(row, "to"));
    m->subject = pds_outbox_dup(a, pds_row_get_str(row, "subject"));
    m->text = pds_outbox_dup(a, pds_row_get_str(row, "text"));
    m->did = pds_outbox_dup(a, pds_row_get_str(row, "did"));
    m->queued = pds_row_get_int(row, "queued", 0);
    m->next = pds_row_get_int(row, "next", 0);
    m->tries = pds_row_get_int(row, "tries", 0);
    m->owner = pds_row_get_int(row, "owner", 0);

    if (m->to == NULL || m->subject == NULL || m->text == NULL) {
        return MDB_CORRUPTED;
    }

    return 0;
}


/* when m may be claimed */
static int64_t
pds_outbox_due(const pds_outbox_mail_t *m, int64_t now_ms,
    pds_outbox_alive_pt alive, void *data)
{
    if (m->next > now_ms && m->owner != 0 && alive != NULL
        && !alive(m->owner, data))
    {
        return now_ms;          /* its sender is gone: free at once */
    }

    return m->next;
}


/* the rows in key order through fn; fn returns 0 to go on, 1 to stop */
typedef int (*pds_outbox_each_pt)(const MDB_val *k, const MDB_val *v,
    void *data);

static int
pds_outbox_each(pds_store_t *s, MDB_txn *txn, pds_outbox_each_pt fn,
    void *data)
{
    int          rc;
    MDB_val      k, v;
    MDB_cursor  *c;

    rc = mdb_cursor_open(txn, s->db_outbox, &c);
    if (rc != 0) {
        return rc;
    }

    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
    {
        rc = fn(&k, &v, data);
        if (rc != 0) {
            break;
        }
    }

    mdb_cursor_close(c);

    if (rc == MDB_NOTFOUND || rc == 1) {
        return 0;
    }

    return rc;
}


typedef struct {
    pds_arena_t          *arena;
    int64_t               now;
    int64_t               due;
    int                   found;
    pds_outbox_alive_pt   alive;
    void                 *data;
    const pds_alloc_t    *a;
    pds_outbox_mail_t    *out;
    size_t                max;
    size_t                n;
    int                   due_only;
} pds_outbox_scan_t;


static int
pds_outbox_scan_one(const MDB_val *k, const MDB_val *v, void *data)
{
    int                  rc;
    int64_t              due;
    pds_alloc_t          ta;
    pds_outbox_mail_t    m;
    pds_outbox_scan_t   *sc = data;

    if (sc->out == NULL) {
        /* next_due: a throw-away copy */
        ta = pds_arena_allocator(sc->arena);
        rc = pds_outbox_read(k, v, &ta, &m);
        if (rc != 0) {
            return rc;
        }

        due = pds_outbox_due(&m, sc->now, sc->alive, sc->data);
        if (!sc->found || due < sc->due) {
            sc->due = due;
            sc->found = 1;
        }

        return 0;
    }

    if (sc->n == sc->max) {
        return 1;
    }

    rc = pds_outbox_read(k, v, sc->a, &sc->out[sc->n]);
    if (rc != 0) {
        return rc;
    }

    if (!sc->due_only
        || pds_outbox_due(&sc->out[sc->n], sc->now, sc->alive, sc->data)
           <= sc->now)
    {
        sc->n++;
    }

    return 0;
}


int
pds_outbox_next_due(pds_store_t *s, MDB_txn *txn, int64_t now_ms,
    pds_outbox_alive_pt alive, void *data, int64_t *due)
{
    int                 rc;
    pds_outbox_scan_t   sc;

    memset(&sc, 0, sizeof(sc));
    sc.now = now_ms;
    sc.alive = alive;
    sc.data = data;

    sc.arena = pds_arena_create();
    if (sc.arena == NULL) {
        return ENOMEM;
    }

    rc = pds_outbox_each(s, txn, pds_outbox_scan_one, &sc);

    pds_arena_destroy(sc.arena);

    if (rc != 0) {
        return rc;
    }

    if (!sc.found) {
        return PDS_NOTFOUND;
    }

    *due = sc.due;
    return 0;
}


int
pds_outbox_claim(pds_store_t *s, MDB_txn *txn, int64_t now_ms,
    int64_t owner, int64_t lease_ms, pds_outbox_alive_pt alive, void *data,
    const pds_alloc_t *a, pds_outbox_mail_t *out, size_t max, size_t *n)
{
    int                 rc;
    size_t              i;
    pds_outbox_scan_t   sc;

    memset(&sc, 0, sizeof(sc));
    sc.now = now_ms;
    sc.alive = alive;
    sc.data = data;
    sc.a = a;
    sc.out = out;
    sc.max = max < PDS_OUTBOX_CLAIM_MAX ? max : PDS_OUTBOX_CLAIM_MAX;
    sc.due_only = 1;

    *n = 0;

    rc = pds_outbox_each(s, txn, pds_outbox_scan_one, &sc);
    if (rc != 0) {
        return rc;
    }

    /* the leases, written once the cursor is closed */
    for (i = 0; i < sc.n; i++) {
        out[i].owner = owner;
        out[i].next = now_ms + lease_ms;

        rc = pds_outbox_write(s, txn, &out[i]);
        if (rc != 0) {
            return rc;
        }
    }

    *n = sc.n;
    return 0;
}


int
pds_outbox_list(pds_store_t *s, MDB_txn *txn, const pds_alloc_t *a,
    pds_outbox_mail_t *out, size_t max, size_t *n)
{
    int                 rc;
    pds_outbox_scan_t   sc;

    memset(&sc, 0, sizeof(sc));
    sc.a = a;
    sc.out = out;
    sc.max = max;

    rc = pds_outbox_each(s, txn, pds_outbox_scan_one, &sc);
    *n = sc.n;

    return rc;
}


int
pds_outbox_remove(pds_store_t *s, MDB_txn *txn, uint64_t id)
{
    int      rc;
    uint8_t  key[8];
    MDB_val  k;

    pds_store_put_u64(key, id);
    k.mv_data = key;
    k.mv_size = sizeof(key);

    rc = mdb_del(txn, s->db_outbox, &k, NULL);

    return rc == MDB_NOTFOUND ? 0 : rc;
}


int
pds_outbox_retry(pds_store_t *s, MDB_txn *txn, uint64_t id, int64_t next_ms)
{
    int                 rc;
    uint8_t             key[8];
    MDB_val             k, v;
    pds_alloc_t         a;
    pds_arena_t        *arena;
    pds_outbox_mail_t   m;

    pds_store_put_u64(key, id);
    k.mv_data = key;
    k.mv_size = sizeof(key);

    rc = mdb_get(txn, s->db_outbox, &k, &v);
    if (rc != 0) {
        return rc == MDB_NOTFOUND ? PDS_NOTFOUND : rc;
    }

    arena = pds_arena_create();
    if (arena == NULL) {
        return ENOMEM;
    }

    a = pds_arena_allocator(arena);

    rc = pds_outbox_read(&k, &v, &a, &m);
    if (rc == 0) {
        m.tries++;
        m.next = next_ms;
        m.owner = 0;
        rc = pds_outbox_write(s, txn, &m);
    }

    pds_arena_destroy(arena);
    return rc;
}


int64_t
pds_outbox_backoff(int64_t tries)
{
    int64_t  d = PDS_OUTBOX_RETRY_MIN_MS;

    while (--tries > 0 && d < PDS_OUTBOX_RETRY_MAX_MS) {
        d *= 2;
    }

    return d < PDS_OUTBOX_RETRY_MAX_MS ? d : PDS_OUTBOX_RETRY_MAX_MS;
}
