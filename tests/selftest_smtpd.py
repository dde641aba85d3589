#!/usr/bin/python3
"""Self-test of tests/smtpd.py and tests/mkcerts.sh, with smtplib and raw sockets.

Usage: /usr/bin/python3 tests/selftest_smtpd.py
Prints `ok NAME` / `FAIL NAME` per test, then `selftest: N passed, N failed`;
exits 1 if any failed.  Python 3 standard library only.
"""

import base64
import os
import select
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import runtests  # noqa: E402  (for the certificates and the smtpd.py path)

CERTS = runtests.ensure_certs()
USER, PASSWORD = 'alice', 's3cret pass'


class Server:
    """smtpd.py with a script, in a temporary directory; use as a context manager."""

    def __init__(self, script):
        self.dir = tempfile.mkdtemp(prefix='postern-selftest.')
        path = os.path.join(self.dir, 'script')
        with open(path, 'w') as f:
            f.write(script)
        self.out = os.path.join(self.dir, 'out')
        self.proc = subprocess.Popen(
            [sys.executable, runtests.SMTPD, '--script', path, '--certs', CERTS,
             '--out', self.out], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.port = int(self.proc.stdout.readline())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()
        shutil.rmtree(self.dir)

    def stop(self):
        """SIGTERM, wait; check a clean exit; return the transcript lines."""
        self.proc.send_signal(signal.SIGTERM)
        status = self.proc.wait(10)
        err = self.proc.stderr.read().decode()
        assert status == 0 and not err, f'smtpd.py exit {status}, stderr: {err}'
        return self.transcript()

    def transcript(self):
        with open(os.path.join(self.out, 'transcript')) as f:
            return f.read().splitlines()

    def data(self, n):
        path = os.path.join(self.out, f'data.{n}')
        if not os.path.exists(path):
            return None
        with open(path, 'rb') as f:
            return f.read()

    def smtp(self):
        return smtplib.SMTP('127.0.0.1', self.port, local_hostname='client', timeout=10)

    def raw(self):
        return Raw(self.port)


class Raw:
    """A raw-socket SMTP client for exact bytes."""

    def __init__(self, port):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=10)
        self.buf = b''

    def send(self, data):
        self.sock.sendall(data)

    def read(self, size):
        """Exactly size bytes."""
        while len(self.buf) < size:
            chunk = self.sock.recv(65536)
            assert chunk, f'EOF after {self.buf!r}'
            self.buf += chunk
        data, self.buf = self.buf[:size], self.buf[size:]
        return data

    def replies(self, n):
        """The next n replies (multiline ones joined), as bytes."""
        out = []
        for _ in range(n):
            reply = b''
            while True:
                while b'\r\n' not in self.buf:
                    chunk = self.sock.recv(65536)
                    assert chunk, f'EOF after {self.buf!r}'
                    self.buf += chunk
                line, self.buf = self.buf.split(b'\r\n', 1)
                reply += line + b'\r\n'
                if line[3:4] != b'-':
                    break
            out.append(reply)
        return out

    def eof(self):
        """True when the server closes with nothing more to read."""
        return self.buf == b'' and self.sock.recv(65536) == b''

    def close(self):
        self.sock.close()


def ca_context():
    return ssl.create_default_context(cafile=os.path.join(CERTS, 'ca.pem'))


def expect(actual, expected):
    assert actual == expected, f'\nexpected {expected!r}\nactual   {actual!r}'


# ---------------------------------------------------------------- the tests

def test_plain_message():
    with Server('cap 8BITMIME\n') as s:
        c = s.smtp()
        expect(c.ehlo()[0], 250)
        expect(c.esmtp_features, {'8bitmime': ''})
        c.sendmail('a@example.org', ['b@example.org', 'c@example.org'],
                   b'Subject: hi\r\n\r\n.dot\r\nbody')
        expect(c.noop(), (250, b'2.0.0 Ok'))
        expect(c.verify('x')[0], 252)
        expect(c.docmd('HELP'), (502, b'5.5.2 Error: command not recognized'))
        c.quit()
        body = b'Subject: hi\r\n\r\n..dot\r\nbody\r\n'
        # smtplib writes most verbs in lower case; the transcript keeps them so
        expect(s.stop(), ['* connect', 'ehlo client', 'mail FROM:<a@example.org>',
                          'rcpt TO:<b@example.org>', 'rcpt TO:<c@example.org>', 'data',
                          f'* data {len(body)}', 'noop', 'vrfy x', 'HELP', 'quit', '* close'])
        expect(s.data(1), body)
        expect(s.data(2), None)


def test_starttls_auth():
    script = f'tls starttls\nauth PLAIN LOGIN\nauth-tls-only\nuser {USER} {PASSWORD}\n'
    with Server(script) as s:
        c = s.smtp()
        c.ehlo()
        assert c.has_extn('starttls') and not c.has_extn('auth'), c.esmtp_features
        expect(c.docmd('AUTH', 'PLAIN')[0], 538)
        c.starttls(context=ca_context())
        c.ehlo()
        assert not c.has_extn('starttls') and c.has_extn('auth'), c.esmtp_features
        expect(c.login(USER, PASSWORD)[0], 235)
        c.quit()
        plain = base64.b64encode(f'\0{USER}\0{PASSWORD}'.encode()).decode()
        expect(s.stop(), ['* connect', 'ehlo client', 'AUTH PLAIN', 'STARTTLS', '* tls',
                          'ehlo client', f'AUTH PLAIN {plain}', 'quit', '* close'])


def test_implicit_tls():
    with Server('tls implicit\n') as s:
        c = smtplib.SMTP_SSL('127.0.0.1', s.port, local_hostname='client',
                             context=ca_context(), timeout=10)
        c.ehlo()
        assert not c.has_extn('starttls'), c.esmtp_features
        expect(c.docmd('STARTTLS')[0], 503)
        c.quit()
        expect(s.stop(), ['* connect', '* tls', 'ehlo client', 'STARTTLS', 'quit', '* close'])


def test_bad_certificates():
    for cert, code in (('expired', 10), ('wronghost', 64), ('selfsigned', 18)):
        with Server(f'tls implicit\ncert {cert}\n') as s:
            try:
                smtplib.SMTP_SSL('127.0.0.1', s.port, context=ca_context(), timeout=10)
            except ssl.SSLCertVerificationError as e:
                expect((cert, e.verify_code), (cert, code))
            else:
                raise AssertionError(f'{cert}: the certificate was accepted')
            expect(s.stop(), ['* connect', '* close'])


def test_auth_mechanisms():
    script = f'auth LOGIN PLAIN\nuser {USER} {PASSWORD}\n'

    def b64(text):
        return base64.b64encode(text.encode()).decode()

    with Server(script) as s:
        logins = [  # (mechanism, password, initial response allowed, expected code)
            ('PLAIN', PASSWORD, False, 235),
            ('LOGIN', PASSWORD, True, 235),
            ('LOGIN', PASSWORD, False, 235),
            ('PLAIN', 'wrong', True, 535),
        ]
        for mech, password, initial, code in logins:
            c = s.smtp()
            c.ehlo()
            c.user, c.password = USER, password
            method = c.auth_plain if mech == 'PLAIN' else c.auth_login
            try:
                got = c.auth(mech, method, initial_response_ok=initial)[0]
            except smtplib.SMTPAuthenticationError as e:
                got = e.smtp_code
            expect(got, code)
            c.quit()
        r = s.raw()
        r.replies(1)
        r.send(b'EHLO raw\r\nAUTH PLAIN\r\n*\r\nAUTH CRAM-MD5\r\nAUTH LOGIN\r\n!!\r\nQUIT\r\n')
        expect(r.replies(6)[1:], [b'334 \r\n', b'501 5.7.0 Authentication cancelled\r\n',
                                  b'504 5.5.4 Unrecognized authentication type\r\n',
                                  b'334 VXNlcm5hbWU6\r\n', b'501 5.5.2 Cannot decode response\r\n'])
        r.close()
        plain, wrong = b64(f'\0{USER}\0{PASSWORD}'), b64(f'\0{USER}\0wrong')
        expect(s.stop(), [
            '* connect', 'ehlo client', 'AUTH PLAIN', plain, 'quit', '* close',
            '* connect', 'ehlo client', f'AUTH LOGIN {b64(USER)}', b64(PASSWORD), 'quit',
            '* close',
            '* connect', 'ehlo client', 'AUTH LOGIN', b64(USER), b64(PASSWORD), 'quit',
            '* close',
            '* connect', 'ehlo client', f'AUTH PLAIN {wrong}', 'quit', '* close',
            '* connect', 'EHLO raw', 'AUTH PLAIN', '*', 'AUTH CRAM-MD5', 'AUTH LOGIN', '!!',
            'QUIT', '* close'])


def test_reply_overrides():
    script = ('reply MAIL#2 451 4.3.0 Try later\n'
              '@2 reply RCPT 550 5.1.1 No such user\n'
              'raw NOOP 250-a\\r\\n250 b\\x21\\r\\n\n')
    with Server(script) as s:
        c = s.smtp()
        c.ehlo()
        expect(c.mail('a@x'), (250, b'2.1.0 Ok'))
        c.rset()
        expect(c.mail('a@x'), (451, b'4.3.0 Try later'))
        expect(c.noop(), (250, b'a\nb!'))
        c.quit()
        c = s.smtp()
        c.ehlo()
        expect(c.mail('a@x'), (250, b'2.1.0 Ok'))
        expect(c.rcpt('b@x'), (550, b'5.1.1 No such user'))
        expect(c.docmd('DATA'), (554, b'5.5.1 Error: no valid recipients'))
        c.quit()
        expect(s.stop()[-5:], ['mail FROM:<a@x>', 'rcpt TO:<b@x>', 'DATA', 'quit', '* close'])
        expect(s.data(1), None)


def test_drop_and_421():
    with Server('drop RCPT\n@2 greeting 421 4.3.2 Busy\n') as s:
        c = s.smtp()
        c.ehlo()
        c.mail('a@x')
        try:
            c.rcpt('b@x')
        except smtplib.SMTPServerDisconnected:
            pass
        else:
            raise AssertionError('RCPT was answered')
        r = s.raw()
        expect(r.replies(1), [b'421 4.3.2 Busy\r\n'])
        assert r.eof()
        expect(s.stop(), ['* connect', 'ehlo client', 'mail FROM:<a@x>', 'rcpt TO:<b@x>',
                          '* close', '* connect', '* close'])


def test_inject_starttls():
    with Server('tls starttls\ninject-starttls 250 injected\\r\\n\n') as s:
        r = s.raw()
        r.replies(1)
        r.send(b'EHLO raw\r\n')
        expect(r.replies(1), [b'250-localhost\r\n250 STARTTLS\r\n'])
        r.send(b'STARTTLS\r\n')
        want = b'220 2.0.0 Ready to start TLS\r\n250 injected\r\n'
        expect(r.read(len(want)), want)
        r.close()  # a client must abort here
        expect(s.stop(), ['* connect', 'EHLO raw', 'STARTTLS', '* close'])


def test_bdat_pipelined():
    with Server('cap CHUNKING\ncap PIPELINING\n') as s:
        r = s.raw()
        r.replies(1)
        r.send(b'EHLO raw\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nBDAT 7\r\nhello\r\n'
               b'BDAT 3 LAST\r\nabcBDAT 1 LAST\r\nxQUIT\r\n')
        expect(r.replies(7)[3:], [b'250 2.0.0 Ok: 7 octets received\r\n',
                                  b'250 2.0.0 Ok: queued as TEST1\r\n',
                                  b'503 5.5.1 Error: need MAIL command\r\n',
                                  b'221 2.0.0 Bye\r\n'])
        assert r.eof()
        expect(s.stop(), ['* connect', 'EHLO raw', 'MAIL FROM:<a@x>', 'RCPT TO:<b@x>',
                          'BDAT 7', 'BDAT 3 LAST', '* data 10', 'BDAT 1 LAST', 'QUIT',
                          '* close'])
        expect(s.data(1), b'hello\r\nabc')


def test_data_edges():
    with Server('') as s:
        r = s.raw()
        r.replies(1)
        msg = b'MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n'
        # an empty body; then a body with bare LFs around a dot, which must not end it
        r.send(b'EHLO raw\r\n' + msg + b'.\r\n' + msg + b'a\n.\nb\r\n..\r\n.\r\nRSET\r\n')
        replies = r.replies(10)
        expect(replies[4], b'250 2.0.0 Ok: queued as TEST1\r\n')
        expect(replies[8:], [b'250 2.0.0 Ok: queued as TEST2\r\n', b'250 2.0.0 Ok\r\n'])
        r.send(b'NOOP \xc3\xa9\x7f\\\r\nNOOP\n' + b'x' * 5000 + b'\r\nNOOP\r\n\r\nDAT')
        expect(r.replies(4), [b'250 2.0.0 Ok\r\n', b'250 2.0.0 Ok\r\n',
                              b'500 5.5.2 Error: line too long\r\n', b'250 2.0.0 Ok\r\n'])
        expect(r.replies(1), [b'500 5.5.2 Error: bad syntax\r\n'])
        r.close()
        msg = ['MAIL FROM:<a@x>', 'RCPT TO:<b@x>', 'DATA']
        expect(s.stop(), ['* connect', 'EHLO raw'] + msg + ['* data 0'] + msg + [
            '* data 11', 'RSET', 'NOOP \\xc3\\xa9\\x7f\\', 'NOOP \\x00(no CRLF)',
            'x' * 4096 + ' \\x00(no CRLF)', 'NOOP', '', 'DAT \\x00(no CRLF)', '* close'])
        expect(s.data(1), b'')
        expect(s.data(2), b'a\n.\nb\r\n..\r\n')


def test_sigterm_and_stall():
    with Server('stall MAIL\n') as s:
        r = s.raw()
        r.replies(1)
        r.send(b'EHLO raw\r\n')
        r.replies(1)
        s.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)  # the active connection is still served
        r.send(b'NOOP\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\n')
        expect(r.replies(1), [b'250 2.0.0 Ok\r\n'])
        ready, _, _ = select.select([r.sock], [], [], 0.3)
        assert not ready, 'a stalled command was answered'
        start = time.monotonic()
        r.close()
        expect(s.stop(), ['* connect', 'EHLO raw', 'NOOP', 'MAIL FROM:<a@x>',
                          'RCPT TO:<b@x>', '* close'])
        assert time.monotonic() - start < 2, 'slow to exit after the client left'


def test_bad_script():
    with tempfile.TemporaryDirectory(prefix='postern-selftest.') as tmp:
        path = os.path.join(tmp, 'script')
        with open(path, 'w') as f:
            f.write('# a comment\nreply MAIL#0 250 ok\n')
        p = subprocess.run([sys.executable, runtests.SMTPD, '--script', path, '--certs', CERTS,
                            '--out', tmp], capture_output=True, timeout=10)
        expect((p.returncode, p.stdout), (2, b''))
        expect(p.stderr, f'smtpd.py: {path}:2: bad occurrence \'MAIL#0\'\n'.encode())


def main():
    tests = [(name, f) for name, f in globals().items() if name.startswith('test_')]
    passed = failed = 0
    for name, test in tests:
        try:
            test()
        except Exception:
            failed += 1
            print(f'FAIL {name}')
            print(''.join('    ' + x for x in traceback.format_exc().splitlines(True)))
        else:
            passed += 1
            print(f'ok {name}')
        sys.stdout.flush()
    print(f'selftest: {passed} passed, {failed} failed')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
