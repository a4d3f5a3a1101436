#!/usr/bin/python3
"""A real SMTP receiver for the tests (Debian's python3-aiosmtpd).

Every message it accepts is written to DIR as one file, NNNN.eml: a few
X-Test-* lines (envelope, TLS, authenticated user) and then the message as
it came after DATA.  Options:

  --port N            listen on 127.0.0.1:N
  --dir DIR           where the messages go
  --starttls CERT KEY offer STARTTLS (and require it before MAIL)
  --tls CERT KEY      TLS from the first byte (smtps)
  --auth USER:PASS    require AUTH (PLAIN or LOGIN) with these credentials
  --refuse-rcpt SUB   answer 550 to RCPT TO addresses containing SUB
"""

import argparse
import asyncio
import glob
import os
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Store:
    def __init__(self, directory, refuse):
        self.dir = directory
        self.refuse = refuse
        # a receiver started again on the same directory goes on numbering
        self.n = len(glob.glob(os.path.join(directory, '*.eml')))

    async def handle_RCPT(self, server, session, envelope, address, options):
        if self.refuse and self.refuse in address:
            return '550 5.1.1 no such mailbox here'
        envelope.rcpt_tos.append(address)
        return '250 OK'

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        tmp = os.path.join(self.dir, '.%04d.tmp' % self.n)
        name = os.path.join(self.dir, '%04d.eml' % self.n)
        user = session.auth_data.login.decode() \
            if isinstance(session.auth_data, LoginPassword) else ''
        tls = 'yes' if (session.ssl is not None or server.transport
                        .get_extra_info('ssl_object') is not None) else 'no'
        with open(tmp, 'wb') as f:
            f.write(('X-Test-Mail-From: %s\r\n' % envelope.mail_from)
                    .encode())
            f.write(('X-Test-Rcpt-To: %s\r\n' % ','.join(envelope.rcpt_tos))
                    .encode())
            f.write(('X-Test-TLS: %s\r\nX-Test-Auth: %s\r\n' % (tls, user))
                    .encode())
            f.write(envelope.original_content)
        os.rename(tmp, name)
        return '250 2.0.0 stored as %04d' % self.n


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--port', type=int, required=True)
    p.add_argument('--dir', required=True)
    p.add_argument('--starttls', nargs=2)
    p.add_argument('--tls', nargs=2)
    p.add_argument('--auth')
    p.add_argument('--refuse-rcpt')
    a = p.parse_args()

    kw = {}

    if a.starttls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(*a.starttls)
        kw['tls_context'] = ctx
        kw['require_starttls'] = True

    if a.tls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(*a.tls)
        kw['ssl_context'] = ctx

    if a.auth:
        user, password = a.auth.split(':', 1)

        def check(server, session, envelope, mechanism, auth_data):
            ok = (isinstance(auth_data, LoginPassword)
                  and auth_data.login.decode() == user
                  and auth_data.password.decode() == password)
            return AuthResult(success=ok, auth_data=auth_data)

        kw['authenticator'] = check
        kw['auth_required'] = True
        # the test's TLS is checked separately: allow AUTH on any channel
        kw['auth_require_tls'] = bool(a.starttls or a.tls)

    controller = Controller(Store(a.dir, a.refuse_rcpt), hostname='127.0.0.1',
                            port=a.port, **kw)
    controller.start()
    print('ready', flush=True)

    try:
        loop = asyncio.new_event_loop()
        loop.run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == '__main__':
    sys.exit(main())
