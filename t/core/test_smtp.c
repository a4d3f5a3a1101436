/*
 * Unit tests of SMTP's pure parts (pds_smtp.c): URLs, senders, the
 * message, replies, EHLO extensions and the AUTH encodings.
 */

#include <string.h>

#include "tap.h"
#include "pds_smtp.h"


static int
has(const pds_buf_t *b, const char *s)
{
    size_t  n = strlen(s), i;

    for (i = 0; i + n <= b->len; i++) {
        if (memcmp(b->data + i, s, n) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
url(const char *s, pds_smtp_url_t *u)
{
    char  err[128];

    return pds_smtp_url_parse(s, strlen(s), u, err, sizeof(err));
}


int
main(void)
{
    size_t             i, bare;
    char               out[1024];
    pds_buf_t          b;
    pds_smtp_url_t     u;
    pds_smtp_from_t    f;
    pds_smtp_msg_t     m;
    pds_smtp_reply_t   r;
    const char        *ehlo;

    /* URLs */

    ok(url("smtp://mail.example.com", &u) == 0 && !u.tls && u.port == 25
       && strcmp(u.host, "mail.example.com") == 0 && !u.auth,
       "smtp://host: port 25, no TLS, no auth");
    ok(url("smtps://mail.example.com", &u) == 0 && u.tls && u.port == 465,
       "smtps://host: implicit TLS on 465");
    ok(url("smtp://user:pa%40ss%3Aw@relay.example:587/", &u) == 0
       && u.auth && strcmp(u.user, "user") == 0
       && strcmp(u.pass, "pa@ss:w") == 0 && u.port == 587
       && strcmp(u.host, "relay.example") == 0,
       "credentials are URL-decoded; port; a trailing slash");
    ok(url("smtp://apikey:p@ss@relay.example:2525", &u) == 0
       && strcmp(u.pass, "p@ss") == 0 && u.port == 2525,
       "an unescaped @ in the password: the last one ends it");
    ok(url("smtps://[::1]:4650", &u) == 0 && strcmp(u.host, "::1") == 0
       && u.port == 4650, "an IPv6 literal");
    ok(url("SMTP://Host:25?pool=true", &u) == 0 && u.port == 25,
       "scheme in any case; a query is ignored");
    ok(url("http://host", &u) != 0, "http:// refused");
    ok(url("smtp://", &u) != 0, "no host refused");
    ok(url("smtp://host:0", &u) != 0 && url("smtp://host:65536", &u) != 0
       && url("smtp://host:2x", &u) != 0 && url("smtp://host:", &u) != 0,
       "bad ports refused");
    ok(url("smtp://us%0Der:x@host", &u) != 0, "a CR in a credential refused");
    ok(url("smtp://u:x%4@host", &u) != 0, "a broken escape refused");
    ok(url("smtp://ho st", &u) != 0 && url("smtp://ho/st", &u) == 0,
       "a space refused; a path ignored");

    /* senders */

    ok(pds_smtp_from_parse("pds@example.com", 15, &f) == 0
       && f.name[0] == '\0' && strcmp(f.addr, "pds@example.com") == 0,
       "a bare address");
    ok(pds_smtp_from_parse("My PDS <pds@example.com>", 24, &f) == 0
       && strcmp(f.name, "My PDS") == 0
       && strcmp(f.addr, "pds@example.com") == 0, "Name <addr>");
    ok(pds_smtp_from_parse("\"PDS, Inc.\" <a@b.c>", 19, &f) == 0
       && strcmp(f.name, "PDS, Inc.") == 0, "a quoted name");
    ok(pds_smtp_from_parse("no-at-sign", 10, &f) != 0
       && pds_smtp_from_parse("x <a@b", 6, &f) != 0
       && pds_smtp_from_parse("a@b, c@d", 8, &f) != 0,
       "bad senders refused");
    ok(pds_smtp_addr_ok("a@b.c", 5) && !pds_smtp_addr_ok("a@", 2)
       && !pds_smtp_addr_ok("a b@c", 5) && !pds_smtp_addr_ok("a@b>", 4),
       "addresses");

    /* the message */

    pds_smtp_from_parse("Ünïcode PDS <pds@example.com>",
                        strlen("Ünïcode PDS <pds@example.com>"), &f);
    memset(&m, 0, sizeof(m));
    m.from = &f;
    m.to = "alice@example.com";
    m.subject = "Confirm your email";
    m.text = "Hello\n.hidden line\n\nABCDE-FGHIJ\n..two\n";
    m.date = 1700000000;
    m.message_id = "<1.1700000000000@pds.example.com>";

    pds_buf_init(&b, &pds_malloc_allocator);
    ok(pds_smtp_message(&b, &m) == 0, "an ASCII message");
    ok(has(&b, "From: =?UTF-8?B?") && has(&b, " <pds@example.com>\r\n"),
       "a non-ASCII sender name is an encoded word");
    ok(has(&b, "To: <alice@example.com>\r\n")
       && has(&b, "Subject: Confirm your email\r\n")
       && has(&b, "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n")
       && has(&b, "Message-ID: <1.1700000000000@pds.example.com>\r\n")
       && has(&b, "MIME-Version: 1.0\r\n")
       && has(&b, "Content-Type: text/plain; charset=utf-8\r\n")
       && has(&b, "Content-Transfer-Encoding: 7bit\r\n\r\nHello\r\n"),
       "headers");
    ok(has(&b, "\r\n..hidden line\r\n") && has(&b, "\r\n...two\r\n"),
       "dot-stuffing");
    ok(has(&b, "\r\nABCDE-FGHIJ\r\n"), "the token on its own line");
    ok(b.len > 5 && memcmp(b.data + b.len - 5, "\r\n.\r\n", 5) == 0,
       "ends with CRLF . CRLF");

    bare = 0;
    for (i = 0; i < b.len; i++) {
        if (b.data[i] == '\n' && (i == 0 || b.data[i - 1] != '\r')) {
            bare++;
        }
    }
    ok(bare == 0, "no bare LF");
    pds_buf_free(&b);

    m.subject = "Bestätige deine E-Mail-Adresse — jetzt, bitte, "
                "ganz wirklich sehr bald";
    m.text = "Grüße\nToken: XXXXX-XXXXX\n";
    pds_buf_init(&b, &pds_malloc_allocator);
    ok(pds_smtp_message(&b, &m) == 0, "a UTF-8 message");
    ok(has(&b, "Subject: =?UTF-8?B?") && has(&b, "?=\r\n =?UTF-8?B?"),
       "a long non-ASCII subject: folded encoded words");
    ok(has(&b, "Content-Transfer-Encoding: quoted-printable\r\n")
       && has(&b, "Gr=C3=BC=C3=9Fe\r\n")
       && has(&b, "\r\nToken: XXXXX-XXXXX\r\n"),
       "a UTF-8 body is quoted-printable; ASCII lines stay readable");
    pds_buf_free(&b);

    {
        char  longline[300];

        memset(longline, 'a', sizeof(longline) - 1);
        longline[sizeof(longline) - 1] = '\0';
        longline[100] = '=';
        m.text = longline;
        m.subject = "s";
        pds_buf_init(&b, &pds_malloc_allocator);
        ok(pds_smtp_message(&b, &m) == 0 && has(&b, "=\r\n")
           && has(&b, "=3D"), "a long line: soft breaks; = escaped");

        bare = 0;
        for (i = 0; i < b.len; i++) {
            size_t  j = i;

            while (j < b.len && b.data[j] != '\r') {
                j++;
            }
            if (j - i > bare) {
                bare = j - i;
            }
            i = j + 1;
        }
        ok(bare <= 76, "encoded lines of at most 76 characters (%zu)", bare);
        pds_buf_free(&b);
    }

    m.subject = "a\r\nBcc: x@y";
    pds_buf_init(&b, &pds_malloc_allocator);
    ok(pds_smtp_message(&b, &m) != 0, "a header injection is refused");
    m.subject = "s";
    m.to = "x@y>\r\nBcc: z@w";
    ok(pds_smtp_message(&b, &m) != 0, "a bad recipient is refused");
    pds_buf_free(&b);

    /* replies */

    ok(pds_smtp_reply_parse("220 ready\r\n", 11, &r) == 0 && r.code == 220
       && r.len == 11 && r.last_len == 5 && memcmp(r.last, "ready", 5) == 0,
       "a one-line reply");
    ok(pds_smtp_reply_parse("250-a\r\n250-b\r\n", 14, &r) == PDS_SMTP_AGAIN,
       "an incomplete multi-line reply");
    ok(pds_smtp_reply_parse("250-a\r\n250 b\r\n354 x\r\n", 21, &r) == 0
       && r.code == 250 && r.len == 14, "a multi-line reply; what follows "
       "is left");
    ok(pds_smtp_reply_parse("25", 2, &r) == PDS_SMTP_AGAIN
       && pds_smtp_reply_parse("221\r\n", 5, &r) == 0 && r.code == 221
       && r.last_len == 0, "partial; a bare code");
    ok(pds_smtp_reply_parse("HTTP/1.1 400\r\n", 14, &r) == -1
       && pds_smtp_reply_parse("2x0 a", 5, &r) == -1
       && pds_smtp_reply_parse("250x\r\n", 6, &r) == -1,
       "not SMTP");
    ok(pds_smtp_reply_parse("550 no\n", 7, &r) == 0 && r.code == 550,
       "bare LF accepted");

    ehlo = "250-mail.example Hello\r\n250-SIZE 1000\r\n250-STARTTLS\r\n"
           "250-AUTH LOGIN PLAIN CRAM-MD5\r\n250 8BITMIME\r\n";
    ok(pds_smtp_ehlo_ext(ehlo, strlen(ehlo))
       == (PDS_SMTP_EXT_STARTTLS | PDS_SMTP_EXT_AUTH_LOGIN
           | PDS_SMTP_EXT_AUTH_PLAIN | PDS_SMTP_EXT_8BITMIME),
       "EHLO extensions");
    ehlo = "250-STARTTLS is my name\r\n250-AUTH=LOGIN\r\n250 HELP\r\n";
    ok(pds_smtp_ehlo_ext(ehlo, strlen(ehlo)) == PDS_SMTP_EXT_AUTH_LOGIN,
       "the first line is the name; AUTH=LOGIN");

    /* AUTH */

    ok(pds_smtp_auth_plain("user", "pass", out, sizeof(out)) > 0
       && strcmp(out, "AHVzZXIAcGFzcw==") == 0, "AUTH PLAIN");
    ok(pds_smtp_auth_login("user", out, sizeof(out)) > 0
       && strcmp(out, "dXNlcg==") == 0, "AUTH LOGIN");
    ok(pds_smtp_auth_plain("user", "pass", out, 8) == 0, "a short buffer");

    return tap_done();
}
