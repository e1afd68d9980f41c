"""`python -m tests.helpers.ftp_server`: pyftpdlib's FTP server for one user, on 127.0.0.1, with
explicit TLS (AUTH TLS, then PROT P) required when a certificate is given. Started by
`tests.helpers.remote_servers.ftpd`; the password comes from an environment variable so it
is never on a command line."""

from __future__ import annotations

import argparse
import os

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler, TLS_FTPHandler
from pyftpdlib.servers import FTPServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password-env", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    authorizer = DummyAuthorizer()
    authorizer.add_user(args.user, os.environ[args.password_env], args.root, perm="elradfmwMT")
    handler: type[FTPHandler] = FTPHandler
    if args.cert:
        handler = TLS_FTPHandler
        handler.certfile = args.cert
        handler.keyfile = args.key
        handler.tls_control_required = True
        handler.tls_data_required = True
    handler.authorizer = authorizer
    handler.passive_ports = None
    handler.permit_foreign_addresses = False
    handler.use_sendfile = False
    handler.auth_failed_timeout = 0.1  # pyftpdlib waits 3 s after a wrong password by default
    server = FTPServer(("127.0.0.1", args.port), handler)
    server.max_cons = 256
    server.serve_forever(timeout=1.0, blocking=True)


if __name__ == "__main__":
    main()
