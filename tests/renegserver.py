#!/usr/bin/python3
"""A TLS server that asks for a renegotiation, for the hostile-input cases.

Usage: /usr/bin/python3 tests/renegserver.py --script FILE --certs DIR --out DIR

Python's ssl module cannot start a renegotiation, so this server uses
pyOpenSSL (Debian's python3-openssl) instead of smtpd.py.  Same contract
as smtpd.py where it applies: binds 127.0.0.1 on a free port, prints it,
serves connections one at a time until SIGTERM, and writes DIR/transcript
(`* connect`, `* tls`, each command line, `* close`).

Implicit TLS, TLS 1.2 only (TLS 1.3 has no renegotiation), certificate
`good`.  It greets, answers EHLO with PIPELINING, and when the command
named on the script's one line (e.g. `MAIL`) arrives it asks the client
to renegotiate (HelloRequest) and records what became of it:
`* renegotiation refused: ...` when the handshake fails (postern sets
SSL_OP_NO_RENEGOTIATION), `* renegotiated` if it went through.  It then
stops answering and closes.
"""

import argparse
import os
import signal
import socket
import sys

from OpenSSL import SSL


def show(line):
    return ''.join(c if 0x20 <= ord(c) < 0x7f else '\\x%02x' % ord(c)
                   for c in line.decode('latin-1'))


class Conn:
    def __init__(self, tls, log):
        self.tls, self.log, self.buf = tls, log, b''

    def line(self):
        while b'\n' not in self.buf:
            data = self.tls.recv(4096)
            if not data:
                raise EOFError
            self.buf += data
        line, self.buf = self.buf.split(b'\n', 1)
        return line.rstrip(b'\r')

    def send(self, text):
        self.tls.sendall(text.encode() + b'\r\n')


def serve(sock, ctx, verb, log):
    log('* connect')
    tls = SSL.Connection(ctx, sock)
    tls.set_accept_state()
    try:
        tls.do_handshake()
        log('* tls')
        c = Conn(tls, log)
        c.send('220 localhost ESMTP renegserver')
        while True:
            line = c.line()
            log(show(line))
            word = line.split(b' ')[0].upper().decode('latin-1')
            if word == verb:
                break
            if word == 'EHLO':
                c.send('250-localhost')
                c.send('250 PIPELINING')
            elif word == 'QUIT':
                c.send('221 bye')
                return
            else:
                c.send('250 ok')
        try:
            tls.renegotiate()
            tls.do_handshake()
            # The HelloRequest is out; the client's answer comes with
            # its next record.
            tls.recv(4096)
            log('* renegotiated' if tls.total_renegotiations() > 0 else
                '* renegotiation not completed')
        except SSL.Error as e:
            reason = e.args[0][0][2] if e.args and e.args[0] else str(e)
            log('* renegotiation refused: ' + reason)
    except (SSL.Error, EOFError, OSError):
        pass
    finally:
        log('* close')
        try:
            sock.close()
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--script', required=True)
    ap.add_argument('--certs', required=True)
    ap.add_argument('--out', required=True)
    a = ap.parse_args()
    with open(a.script) as f:
        verb = f.read().split()[0].upper()
    ctx = SSL.Context(SSL.TLSv1_2_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
    ctx.set_max_proto_version(SSL.TLS1_2_VERSION)
    ctx.use_certificate_file(os.path.join(a.certs, 'good.pem'))
    ctx.use_privatekey_file(os.path.join(a.certs, 'good.key'))
    os.makedirs(a.out, exist_ok=True)
    transcript = open(os.path.join(a.out, 'transcript'), 'w', buffering=1)

    def log(text):
        transcript.write(text + '\n')

    srv = socket.socket()
    srv.bind(('127.0.0.1', 0))
    srv.listen(5)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(srv.getsockname()[1], flush=True)
    while True:
        sock, _ = srv.accept()
        sock.settimeout(None)
        serve(sock, ctx, verb, log)


if __name__ == '__main__':
    main()
