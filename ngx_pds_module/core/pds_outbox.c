/*
 * ngx_pds_module core: the outgoing mail queue (see pds_outbox.h).
 *
 * Keys are 8-byte big-endian ids, one more than the last queued; values
 * are rows: to, subject, text, did, queued (ms), next (ms, when it is due)
 * and tries (failed attempts so far).
 */

#include <errno.h>
#include <string.h>

#include "pds_outbox.h"
#include "pds_row.h"


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

    return pds_row_put(txn, s->db_outbox, key, sizeof(key), &row);
}
