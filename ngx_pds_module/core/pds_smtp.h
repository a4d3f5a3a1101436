/*
 * ngx_pds_module core: the pure parts of SMTP (RFC 5321) for the mailer.
 *
 * The server's URL (the reference's PDS_EMAIL_SMTP_URL forms), the sender
 * (PDS_EMAIL_FROM_ADDRESS), the message as it goes after DATA (headers,
 * a text/plain UTF-8 body in a 7-bit-safe transfer encoding, CRLF line
 * ends, dot-stuffed and terminated), replies (multi-line, EHLO
 * capabilities) and the AUTH PLAIN / LOGIN encodings.  The connection
 * itself is the nginx layer's (ngx_pds_smtp.c).
 */

#ifndef PDS_SMTP_H
#define PDS_SMTP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "pds_mem.h"


#define PDS_SMTP_HOST_MAX    253
#define PDS_SMTP_CRED_MAX    255
#define PDS_SMTP_ADDR_MAX    254      /* RFC 5321 path limit, minus <> */
#define PDS_SMTP_NAME_MAX    255


typedef struct {
    int         tls;                       /* smtps: TLS from the start */
    char        host[PDS_SMTP_HOST_MAX + 1];  /* IPv6 without brackets */
    uint16_t    port;                      /* 25 / 465 unless given */
    int         auth;                      /* credentials were given */
    char        user[PDS_SMTP_CRED_MAX + 1];  /* URL-decoded */
    char        pass[PDS_SMTP_CRED_MAX + 1];
} pds_smtp_url_t;


/*
 * smtp://[user[:pass]@]host[:port][/]  or  smtps://...: 0, or -1 with a
 * reason in err (for nginx -t).
 */
int pds_smtp_url_parse(const char *url, size_t len, pds_smtp_url_t *u,
    char *err, size_t errlen);


typedef struct {
    char        name[PDS_SMTP_NAME_MAX + 1];  /* "" when none */
    char        addr[PDS_SMTP_ADDR_MAX + 1];
} pds_smtp_from_t;

/* "addr", "Name <addr>" or "\"Name\" <addr>": 0 or -1 */
int pds_smtp_from_parse(const char *s, size_t len, pds_smtp_from_t *f);

/* a plausible single address: local@domain, no spaces, controls or <> */
int pds_smtp_addr_ok(const char *s, size_t len);


typedef struct {
    const pds_smtp_from_t  *from;
    const char             *to;
    const char             *subject;       /* UTF-8 */
    const char             *text;          /* UTF-8, "\n" line ends */
    time_t                  date;
    const char             *message_id;    /* "<...>" */
} pds_smtp_msg_t;

/*
 * The DATA payload of m into out: headers, blank line, body, each line
 * CRLF-terminated and dot-stuffed, then the ".\r\n" that ends it.  A body
 * that is not 7-bit ASCII with short lines is quoted-printable; a subject
 * or sender name that is not ASCII is an RFC 2047 encoded word.  0 or -1.
 */
int pds_smtp_message(pds_buf_t *out, const pds_smtp_msg_t *m);


/* one reply, possibly multi-line ("250-a\r\n250 b\r\n") */
typedef struct {
    int         code;         /* 100..599 */
    size_t      len;          /* bytes it took in the input */
    const char *last;         /* the last line's text (after "NNN ") */
    size_t      last_len;
} pds_smtp_reply_t;

#define PDS_SMTP_AGAIN  1     /* not complete yet: read more */

/* 0 (r filled), PDS_SMTP_AGAIN, or -1 (not SMTP) */
int pds_smtp_reply_parse(const char *buf, size_t len, pds_smtp_reply_t *r);

/* EHLO extensions of a complete 250 reply (buf .. buf + len) */
#define PDS_SMTP_EXT_STARTTLS    0x01
#define PDS_SMTP_EXT_AUTH_PLAIN  0x02
#define PDS_SMTP_EXT_AUTH_LOGIN  0x04
#define PDS_SMTP_EXT_8BITMIME    0x08

unsigned pds_smtp_ehlo_ext(const char *buf, size_t len);

/* the base64 of "\0user\0pass" (AUTH PLAIN) / of s (AUTH LOGIN steps),
   with a terminating NUL into out; its length, or 0 when cap is short */
size_t pds_smtp_auth_plain(const char *user, const char *pass, char *out,
    size_t cap);
size_t pds_smtp_auth_login(const char *s, char *out, size_t cap);

#endif /* PDS_SMTP_H */
