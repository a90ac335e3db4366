#!/usr/bin/env python3
"""A real SMTP server for dropgate's tests: aiosmtpd (Debian's python3-aiosmtpd).

Usage: smtp_server.py --port P --dir D [--fail-first N] [--reject] [--cert C --key K]
                      [--implicit-tls] [--auth USER:PASSWORD]

Each accepted message is written to D/<n>.eml (whole, then renamed). --fail-first answers
451 to the first N DATA commands; --reject answers 550 to all; --cert/--key offer and
require STARTTLS, or with --implicit-tls speak TLS from the first byte; --auth requires
AUTH (PLAIN or LOGIN) with that user and password before MAIL. Prints "ready" once
listening; runs until killed.
"""
import argparse
import os
import ssl
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Handler:
    def __init__(self, directory, fail_first, reject):
        self.directory = directory
        self.fail_first = fail_first
        self.reject = reject
        self.tries = 0
        self.accepted = 0

    async def handle_DATA(self, server, session, envelope):
        self.tries += 1
        if self.reject:
            return "550 5.1.1 Mailbox unavailable"
        if self.tries <= self.fail_first:
            return "451 4.3.0 Try again later"
        self.accepted += 1
        path = os.path.join(self.directory, f"{self.accepted:04d}.eml")
        with open(path + ".tmp", "wb") as f:
            f.write(envelope.original_content)
        os.rename(path + ".tmp", path)
        return "250 2.0.0 OK: queued"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--fail-first", type=int, default=0)
    p.add_argument("--reject", action="store_true")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--implicit-tls", action="store_true")
    p.add_argument("--auth")
    a = p.parse_args()
    kwargs = {}
    if a.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(a.cert, a.key)
        if a.implicit_tls:
            kwargs = {"ssl_context": context}
        else:
            kwargs = {"tls_context": context, "require_starttls": True}
    if a.auth:
        user, password = a.auth.encode().split(b":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and auth_data == (user, password)
            # handled=False: aiosmtpd itself answers 535 to a wrong password.
            return AuthResult(success=ok, handled=False)

        # Over implicit TLS the session is already encrypted; aiosmtpd cannot tell.
        kwargs.update(authenticator=authenticator, auth_required=True,
                      auth_require_tls=not a.implicit_tls)
    controller = Controller(Handler(a.dir, a.fail_first, a.reject), hostname="127.0.0.1", port=a.port, **kwargs)
    controller.start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
