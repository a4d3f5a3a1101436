/*
 * ngx_pds_module core: SMTP's pure parts (see pds_smtp.h).
 */

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "pds_smtp.h"
#include "pds_enc.h"


#define PDS_SMTP_QP_LINE   76      /* RFC 2045: encoded lines at most */
#define PDS_SMTP_WORD_MAX  45      /* bytes per encoded word (60 in b64) */


static void
pds_smtp_err(char *err, size_t errlen, const char *msg)
{
    if (err != NULL && errlen > 0) {
        snprintf(err, errlen, "%s", msg);
    }
}


static int
pds_smtp_hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


/* percent-decodes s[0..len) into out (NUL-terminated): 0 or -1 */
static int
pds_smtp_unescape(const char *s, size_t len, char *out, size_t cap)
{
    int     hi, lo;
    size_t  i, n = 0;

    for (i = 0; i < len; i++) {
        unsigned char  c = (unsigned char) s[i];

        if (c == '%') {
            if (i + 2 >= len) {
                return -1;
            }

            hi = pds_smtp_hexval((unsigned char) s[i + 1]);
            lo = pds_smtp_hexval((unsigned char) s[i + 2]);
            if (hi < 0 || lo < 0) {
                return -1;
            }

            c = (unsigned char) (hi * 16 + lo);
            i += 2;
        }

        /* a NUL or a line break would end or split the SMTP command */
        if (c == '\0' || c == '\r' || c == '\n' || n + 1 >= cap) {
            return -1;
        }

        out[n++] = (char) c;
    }

    out[n] = '\0';
    return 0;
}


int
pds_smtp_url_parse(const char *url, size_t len, pds_smtp_url_t *u,
    char *err, size_t errlen)
{
    size_t       i, alen, hlen;
    const char  *p, *end, *auth, *at, *colon, *host, *hend, *port;
    unsigned     n;

    memset(u, 0, sizeof(pds_smtp_url_t));

    if (len >= 7 && strncasecmp(url, "smtp://", 7) == 0) {
        p = url + 7;

    } else if (len >= 8 && strncasecmp(url, "smtps://", 8) == 0) {
        p = url + 8;
        u->tls = 1;

    } else {
        pds_smtp_err(err, errlen, "must start with smtp:// or smtps://");
        return -1;
    }

    end = url + len;

    for (i = 0; i < len; i++) {
        if ((unsigned char) url[i] <= 0x20 || url[i] == 0x7f) {
            pds_smtp_err(err, errlen, "has a space or a control character");
            return -1;
        }
    }

    /* the authority ends at the path, query or fragment (all ignored) */
    auth = p;
    while (p < end && *p != '/' && *p != '?' && *p != '#') {
        p++;
    }
    alen = (size_t) (p - auth);

    /* userinfo: up to the last "@" (a password may hold one unescaped) */
    at = NULL;
    for (i = 0; i < alen; i++) {
        if (auth[i] == '@') {
            at = auth + i;
        }
    }

    host = auth;

    if (at != NULL) {
        colon = memchr(auth, ':', (size_t) (at - auth));

        if (colon == NULL) {
            colon = at;
        }

        if (pds_smtp_unescape(auth, (size_t) (colon - auth), u->user,
                              sizeof(u->user)) != 0
            || (colon < at
                && pds_smtp_unescape(colon + 1, (size_t) (at - colon - 1),
                                     u->pass, sizeof(u->pass)) != 0))
        {
            pds_smtp_err(err, errlen, "has a bad user name or password");
            return -1;
        }

        u->auth = u->user[0] != '\0';
        host = at + 1;
    }

    hend = auth + alen;
    port = NULL;

    if (host < hend && *host == '[') {
        const char  *rb = memchr(host, ']', (size_t) (hend - host));

        if (rb == NULL) {
            pds_smtp_err(err, errlen, "has an unclosed \"[\"");
            return -1;
        }

        hlen = (size_t) (rb - host - 1);
        if (hlen == 0 || hlen > PDS_SMTP_HOST_MAX) {
            pds_smtp_err(err, errlen, "has a bad host");
            return -1;
        }
        memcpy(u->host, host + 1, hlen);

        if (rb + 1 < hend) {
            if (rb[1] != ':') {
                pds_smtp_err(err, errlen, "has a bad host");
                return -1;
            }
            port = rb + 2;
        }

    } else {
        colon = memchr(host, ':', (size_t) (hend - host));
        hlen = (size_t) ((colon ? colon : hend) - host);

        if (hlen == 0 || hlen > PDS_SMTP_HOST_MAX) {
            pds_smtp_err(err, errlen, "has no host");
            return -1;
        }

        for (i = 0; i < hlen; i++) {
            unsigned char  c = (unsigned char) host[i];

            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                  || (c >= '0' && c <= '9') || c == '.' || c == '-'
                  || c == '_'))
            {
                pds_smtp_err(err, errlen, "has a bad host");
                return -1;
            }
        }

        memcpy(u->host, host, hlen);
        if (colon != NULL) {
            port = colon + 1;
        }
    }

    u->port = u->tls ? 465 : 25;

    if (port != NULL) {
        if (port == hend || hend - port > 5) {
            pds_smtp_err(err, errlen, "has a bad port");
            return -1;
        }

        n = 0;
        for (; port < hend; port++) {
            if (*port < '0' || *port > '9') {
                pds_smtp_err(err, errlen, "has a bad port");
                return -1;
            }
            n = n * 10 + (unsigned) (*port - '0');
        }

        if (n == 0 || n > 65535) {
            pds_smtp_err(err, errlen, "has a bad port");
            return -1;
        }

        u->port = (uint16_t) n;
    }

    return 0;
}


int
pds_smtp_addr_ok(const char *s, size_t len)
{
    size_t       i;
    const char  *at = NULL;

    if (len == 0 || len > PDS_SMTP_ADDR_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        unsigned char  c = (unsigned char) s[i];

        if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == ','
            || c == '"' || c == '(' || c == ')')
        {
            return 0;
        }

        if (c == '@') {
            at = s + i;
        }
    }

    return at != NULL && at != s && at != s + len - 1;
}


int
pds_smtp_from_parse(const char *s, size_t len, pds_smtp_from_t *f)
{
    size_t       n;
    const char  *lt, *gt, *name, *nend;

    memset(f, 0, sizeof(pds_smtp_from_t));

    while (len > 0 && (s[0] == ' ' || s[0] == '\t')) {
        s++;
        len--;
    }

    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t')) {
        len--;
    }

    lt = memchr(s, '<', len);

    if (lt == NULL) {
        if (!pds_smtp_addr_ok(s, len)) {
            return -1;
        }

        memcpy(f->addr, s, len);
        return 0;
    }

    gt = memchr(lt, '>', (size_t) (s + len - lt));
    if (gt == NULL || gt != s + len - 1
        || !pds_smtp_addr_ok(lt + 1, (size_t) (gt - lt - 1)))
    {
        return -1;
    }

    memcpy(f->addr, lt + 1, (size_t) (gt - lt - 1));

    name = s;
    nend = lt;

    while (nend > name && (nend[-1] == ' ' || nend[-1] == '\t')) {
        nend--;
    }

    if (nend - name >= 2 && name[0] == '"' && nend[-1] == '"') {
        name++;
        nend--;
    }

    n = 0;
    for (; name < nend; name++) {
        unsigned char  c = (unsigned char) *name;

        if (c == '\\' && name + 1 < nend) {
            c = (unsigned char) *++name;
        }

        if (c < 0x20 || c == 0x7f || n >= PDS_SMTP_NAME_MAX) {
            return -1;
        }

        f->name[n++] = (char) c;
    }

    return 0;
}


/* ---- the message --------------------------------------------------------- */


static int
pds_smtp_put(pds_buf_t *b, const char *s)
{
    return pds_buf_append(b, s, strlen(s));
}


static int
pds_smtp_is_ascii(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char) *s >= 0x80 || ((unsigned char) *s < 0x20
                                           && *s != '\t'))
        {
            return 0;
        }
    }

    return 1;
}


/*
 * s as RFC 2047 encoded words ("=?UTF-8?B?...?="), folded between words,
 * never splitting a UTF-8 sequence.
 */
static int
pds_smtp_words(pds_buf_t *b, const char *s)
{
    char    enc[pds_base64_len(PDS_SMTP_WORD_MAX) + 1];
    size_t  len, n, k;

    len = strlen(s);

    for (k = 0; len > 0; k++) {
        n = len < PDS_SMTP_WORD_MAX ? len : PDS_SMTP_WORD_MAX;

        /* back up to the start of a UTF-8 sequence */
        while (n < len && n > 0 && ((unsigned char) s[n] & 0xc0) == 0x80) {
            n--;
        }

        if (n == 0) {
            n = len < PDS_SMTP_WORD_MAX ? len : PDS_SMTP_WORD_MAX;
        }

        pds_base64_encode(enc, (const uint8_t *) s, n, 0, 1);
        enc[pds_base64_len(n)] = '\0';

        if ((k > 0 && pds_smtp_put(b, "\r\n ") != 0)
            || pds_smtp_put(b, "=?UTF-8?B?") != 0
            || pds_smtp_put(b, enc) != 0
            || pds_smtp_put(b, "?=") != 0)
        {
            return -1;
        }

        s += n;
        len -= n;
    }

    return 0;
}


/* an unstructured header value (Subject) with its line break stripped */
static int
pds_smtp_text_header(pds_buf_t *b, const char *name, const char *value)
{
    if (pds_smtp_put(b, name) != 0) {
        return -1;
    }

    if (pds_smtp_is_ascii(value) && strlen(value) < 900) {
        if (pds_smtp_put(b, value) != 0) {
            return -1;
        }

    } else if (pds_smtp_words(b, value) != 0) {
        return -1;
    }

    return pds_smtp_put(b, "\r\n");
}


static int
pds_smtp_from_header(pds_buf_t *b, const pds_smtp_from_t *f)
{
    const char  *p;

    if (pds_smtp_put(b, "From: ") != 0) {
        return -1;
    }

    if (f->name[0] != '\0') {
        if (!pds_smtp_is_ascii(f->name)) {
            if (pds_smtp_words(b, f->name) != 0) {
                return -1;
            }

        } else {
            /* a quoted string: any specials in the name are harmless */
            if (pds_buf_putc(b, '"') != 0) {
                return -1;
            }

            for (p = f->name; *p; p++) {
                if ((*p == '"' || *p == '\\') && pds_buf_putc(b, '\\') != 0) {
                    return -1;
                }

                if (pds_buf_putc(b, (uint8_t) *p) != 0) {
                    return -1;
                }
            }

            if (pds_buf_putc(b, '"') != 0) {
                return -1;
            }
        }

        if (pds_buf_putc(b, ' ') != 0) {
            return -1;
        }
    }

    if (pds_smtp_put(b, "<") != 0 || pds_smtp_put(b, f->addr) != 0
        || pds_smtp_put(b, ">\r\n") != 0)
    {
        return -1;
    }

    return 0;
}


/* does the body need quoted-printable (8-bit, controls, long lines) */
static int
pds_smtp_needs_qp(const char *text)
{
    size_t       col = 0;
    const char  *p;

    for (p = text; *p; p++) {
        unsigned char  c = (unsigned char) *p;

        if (c == '\n') {
            col = 0;
            continue;
        }

        if (c >= 0x80 || (c < 0x20 && c != '\t' && c != '\r') || c == 0x7f
            || ++col > PDS_SMTP_QP_LINE)
        {
            return 1;
        }
    }

    return 0;
}


/* one body line (without its end) in quoted-printable, CRLF-terminated */
static int
pds_smtp_qp_line(pds_buf_t *b, const char *s, size_t len)
{
    char         enc[4];
    size_t       i, col = 0, w;
    static const char  hex[] = "0123456789ABCDEF";

    for (i = 0; i < len; i++) {
        unsigned char  c = (unsigned char) s[i];

        if ((c >= 33 && c <= 126 && c != '=')
            || ((c == ' ' || c == '\t') && i + 1 < len))
        {
            enc[0] = (char) c;
            w = 1;

        } else {
            enc[0] = '=';
            enc[1] = hex[c >> 4];
            enc[2] = hex[c & 0x0f];
            w = 3;
        }

        /* a soft line break keeps encoded lines within 76 characters */
        if (col + w > PDS_SMTP_QP_LINE - 1) {
            if (pds_smtp_put(b, "=\r\n") != 0) {
                return -1;
            }
            col = 0;
        }

        if (pds_buf_append(b, enc, w) != 0) {
            return -1;
        }

        col += w;
    }

    return pds_smtp_put(b, "\r\n");
}


static int
pds_smtp_body(pds_buf_t *b, const char *text, int qp)
{
    size_t       len;
    const char  *p, *nl;

    for (p = text; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        if (nl == NULL) {
            nl = p + strlen(p);
        }

        len = (size_t) (nl - p);
        if (len > 0 && p[len - 1] == '\r') {
            len--;
        }

        if (qp) {
            if (pds_smtp_qp_line(b, p, len) != 0) {
                return -1;
            }

        } else if (pds_buf_append(b, p, len) != 0
                   || pds_smtp_put(b, "\r\n") != 0)
        {
            return -1;
        }

        if (*nl == '\0') {
            break;
        }
    }

    return 0;
}


int
pds_smtp_message(pds_buf_t *out, const pds_smtp_msg_t *m)
{
    int         qp, rc;
    char        date[64];
    size_t      i, start;
    struct tm   tm;
    pds_buf_t   raw;
    static const char  *days[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
                                   "Fri", "Sat" };
    static const char  *months[] = { "Jan", "Feb", "Mar", "Apr", "May",
                                     "Jun", "Jul", "Aug", "Sep", "Oct",
                                     "Nov", "Dec" };

    if (!pds_smtp_addr_ok(m->to, strlen(m->to))
        || strpbrk(m->subject, "\r\n") != NULL
        || strpbrk(m->message_id, "\r\n") != NULL)
    {
        return -1;
    }

    if (gmtime_r(&m->date, &tm) == NULL) {
        return -1;
    }

    snprintf(date, sizeof(date), "%s, %02d %s %04d %02d:%02d:%02d +0000",
             days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);

    qp = pds_smtp_needs_qp(m->text);

    pds_buf_init(&raw, out->a);

    rc = -1;

    if (pds_smtp_from_header(&raw, m->from) != 0
        || pds_smtp_put(&raw, "To: <") != 0
        || pds_smtp_put(&raw, m->to) != 0
        || pds_smtp_put(&raw, ">\r\n") != 0
        || pds_smtp_text_header(&raw, "Subject: ", m->subject) != 0
        || pds_smtp_put(&raw, "Date: ") != 0
        || pds_smtp_put(&raw, date) != 0
        || pds_smtp_put(&raw, "\r\nMessage-ID: ") != 0
        || pds_smtp_put(&raw, m->message_id) != 0
        || pds_smtp_put(&raw, "\r\nMIME-Version: 1.0\r\n"
                        "Content-Type: text/plain; charset=utf-8\r\n"
                        "Content-Transfer-Encoding: ") != 0
        || pds_smtp_put(&raw, qp ? "quoted-printable\r\n\r\n"
                                 : "7bit\r\n\r\n") != 0
        || pds_smtp_body(&raw, m->text, qp) != 0)
    {
        goto done;
    }

    /* dot-stuffing: a line that starts with "." gets another one */
    start = 1;
    for (i = 0; i < raw.len; i++) {
        if (start && raw.data[i] == '.' && pds_buf_putc(out, '.') != 0) {
            goto done;
        }

        if (pds_buf_putc(out, raw.data[i]) != 0) {
            goto done;
        }

        start = (raw.data[i] == '\n');
    }

    rc = pds_smtp_put(out, ".\r\n");

done:

    pds_buf_free(&raw);
    return rc;
}


/* ---- replies -------------------------------------------------------------- */


int
pds_smtp_reply_parse(const char *buf, size_t len, pds_smtp_reply_t *r)
{
    int          code;
    size_t       pos, k;
    const char  *nl, *line;

    pos = 0;

    for ( ;; ) {
        line = buf + pos;
        nl = memchr(line, '\n', len - pos);

        if (nl == NULL) {
            /* an incomplete line: is what we have still SMTP-shaped? */
            for (k = 0; k < len - pos && k < 3; k++) {
                if (line[k] < (k ? '0' : '1') || line[k] > (k ? '9' : '5')) {
                    return -1;
                }
            }

            if (len - pos >= 4 && line[3] != ' ' && line[3] != '-'
                && line[3] != '\r')
            {
                return -1;
            }

            return PDS_SMTP_AGAIN;
        }

        if (nl - line < 3 || line[0] < '1' || line[0] > '5'
            || line[1] < '0' || line[1] > '9' || line[2] < '0'
            || line[2] > '9')
        {
            return -1;
        }

        code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');

        pos = (size_t) (nl - buf) + 1;

        if (nl - line > 3 && line[3] == '-') {
            continue;
        }

        if (nl - line > 3 && line[3] != ' ' && line[3] != '\r') {
            return -1;
        }

        r->code = code;
        r->len = pos;
        r->last = nl - line > 4 ? line + 4 : nl;
        r->last_len = (size_t) (nl - r->last);

        if (r->last_len > 0 && r->last[r->last_len - 1] == '\r') {
            r->last_len--;
        }

        return 0;
    }
}


static int
pds_smtp_word_is(const char *p, size_t len, const char *w)
{
    size_t  n = strlen(w);

    return len == n && strncasecmp(p, w, n) == 0;
}


unsigned
pds_smtp_ehlo_ext(const char *buf, size_t len)
{
    size_t       n, wl;
    unsigned     ext = 0;
    const char  *p, *end, *nl, *w, *first;

    end = buf + len;
    first = buf;

    for (p = buf; p < end; p = nl + 1) {
        nl = memchr(p, '\n', (size_t) (end - p));
        if (nl == NULL) {
            nl = end;
        }

        n = (size_t) (nl - p);
        if (n > 0 && p[n - 1] == '\r') {
            n--;
        }

        /* the first line is the server's name, not an extension */
        if (p == first || n < 4) {
            continue;
        }

        w = p + 4;
        n -= 4;

        /* the keyword, then its parameters */
        for (wl = 0; wl < n && w[wl] != ' ' && w[wl] != '='; wl++) {
            /* void */
        }

        if (pds_smtp_word_is(w, wl, "STARTTLS")) {
            ext |= PDS_SMTP_EXT_STARTTLS;

        } else if (pds_smtp_word_is(w, wl, "8BITMIME")) {
            ext |= PDS_SMTP_EXT_8BITMIME;

        } else if (pds_smtp_word_is(w, wl, "AUTH")) {
            const char  *q = w + wl, *qe = w + n, *m;

            while (q < qe) {
                while (q < qe && (*q == ' ' || *q == '=')) {
                    q++;
                }

                for (m = q; q < qe && *q != ' '; q++) {
                    /* void */
                }

                if (pds_smtp_word_is(m, (size_t) (q - m), "PLAIN")) {
                    ext |= PDS_SMTP_EXT_AUTH_PLAIN;

                } else if (pds_smtp_word_is(m, (size_t) (q - m), "LOGIN")) {
                    ext |= PDS_SMTP_EXT_AUTH_LOGIN;
                }
            }
        }
    }

    return ext;
}


size_t
pds_smtp_auth_plain(const char *user, const char *pass, char *out,
    size_t cap)
{
    uint8_t  raw[2 * PDS_SMTP_CRED_MAX + 2];
    size_t   ul, pl, n;

    ul = strlen(user);
    pl = strlen(pass);

    if (ul > PDS_SMTP_CRED_MAX || pl > PDS_SMTP_CRED_MAX) {
        return 0;
    }

    raw[0] = '\0';
    memcpy(raw + 1, user, ul);
    raw[1 + ul] = '\0';
    memcpy(raw + 2 + ul, pass, pl);
    n = 2 + ul + pl;

    if (pds_base64_len(n) + 1 > cap) {
        return 0;
    }

    n = pds_base64_encode(out, raw, n, 0, 1);
    out[n] = '\0';

    return n;
}


size_t
pds_smtp_auth_login(const char *s, char *out, size_t cap)
{
    size_t  n = strlen(s);

    if (pds_base64_len(n) + 1 > cap) {
        return 0;
    }

    n = pds_base64_encode(out, (const uint8_t *) s, n, 0, 1);
    out[n] = '\0';

    return n;
}
