#!/usr/bin/python3
"""postern -bs with real SMTP clients: swaks --pipe and Python's smtplib.

Usage: /usr/bin/python3 tests/bs/run.py --postern PATH [--valgrind]

Each test starts the scripted server (tests/smtpd.py) as the smarthost,
runs a client that talks SMTP to `postern -bs` over a pipe, and asserts
what the client saw, the envelope the smarthost got (its transcript) and
the exact bytes of every message it received.  The smtplib test sends the
five messages of the Python email tutorial (shared seed
000_118e65fce61c884e: plain, HTML, attachment, inline cid: image,
multipart/alternative), built with the email package as the tutorial
builds them; they carry no Date or Message-ID, so postern adds both, and
those are checked against the exact format msg.c generates.  Where the
configuration holds a password (the swaks-auth tests: the smarthost wants
AUTH), it may appear in no form (tests/leakcheck.py) in what the client
printed or in a file left in the test's directory.  Prints `ok
NAME` or `FAIL NAME` with the differences, then `bs: N passed, N failed`.

Python 3 standard library only; swaks is the Debian package.
"""

import argparse
import datetime
import os
import re
import shlex
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from email import encoders
from email.header import Header
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import parseaddr, formataddr

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TESTS)
import harness  # noqa: E402  (Tally, read)
import runtests  # noqa: E402  (certificates for the scripted server)
import leakcheck  # noqa: E402

SMTPD = os.path.join(TESTS, 'smtpd.py')
TIMEOUT = 120
VALGRIND = ['valgrind', '-q', '--error-exitcode=99', '--leak-check=full',
            '--errors-for-leak-kinds=definite', '--show-leak-kinds=definite']

CONF = '''account default
host 127.0.0.1
port {port}
domain client.example
maildomain example.org
from sender@example.org
tls off
queue off
'''
SERVER = 'cap PIPELINING\ncap 8BITMIME\n'
EHLO_REPLY = ['250-client.example', '250-PIPELINING', '250-SIZE',
              '250-8BITMIME', '250 ENHANCEDSTATUSCODES']


class Run:
    """One test: a temporary directory, the scripted server, a postern argv."""

    def __init__(self, opts, script, conf=''):
        self.opts = opts
        self.tmp = tempfile.mkdtemp(prefix='postern-bs.')
        self.srv = os.path.join(self.tmp, 'srv')
        os.mkdir(self.srv)
        path = os.path.join(self.tmp, 'script')
        with open(path, 'w') as f:
            f.write(script)
        self.server = subprocess.Popen(
            [sys.executable, SMTPD, '--script', path, '--certs', opts.certs,
             '--out', self.srv], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=open(os.path.join(self.tmp, 'srv.stderr'), 'wb'))
        line = self.server.stdout.readline()
        self.server.stdout.close()
        if not line.strip().isdigit():
            raise RuntimeError('smtpd.py did not start')
        self.port = int(line)
        self.conf = os.path.join(self.tmp, 'postern.conf')
        fd = os.open(self.conf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, 'w') as f:
            f.write(CONF.format(port=self.port) + conf)
        self.outputs = []   # what the client printed: no secret in it either
        self.env = dict(os.environ, TZ='UTC', LC_ALL='C', HOME=self.tmp)
        self.argv = [opts.postern, '-bs', '-C', self.conf]
        if opts.valgrind:
            self.argv = VALGRIND + [
                '--log-file=' + os.path.join(self.tmp, 'valgrind.%p.log')] + self.argv

    def stop(self):
        """Stop the server, which serves its last client to the end; then
        read what it recorded.  Problems with it or valgrind's reports."""
        problems = []
        self.server.send_signal(signal.SIGTERM)
        try:
            if self.server.wait(10) != 0:
                problems.append('smtpd.py exited with status %d' % self.server.returncode)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait()
            problems.append('smtpd.py did not stop')
        err = read(os.path.join(self.tmp, 'srv.stderr')).decode('utf-8', 'replace')
        if err:
            problems.append('smtpd.py wrote on stderr: ' + err)
        for f in sorted(os.listdir(self.tmp)):
            if f.startswith('valgrind.') and read(os.path.join(self.tmp, f)):
                problems.append('valgrind: ' + read(os.path.join(self.tmp, f)).decode())
        self.transcript = read(os.path.join(self.srv, 'transcript')).decode(
            'utf-8').splitlines()
        problems += leakcheck.check_run(self.tmp, self.outputs, exclude=(
            'postern.conf', 'script', 'srv.stderr', 'srv/transcript'))
        self.messages, n = [], 1
        while os.path.exists(os.path.join(self.srv, 'data.%d' % n)):
            self.messages.append(read(os.path.join(self.srv, 'data.%d' % n)))
            n += 1
        shutil.rmtree(self.tmp, ignore_errors=True)
        return problems


read = harness.read


def same(what, expected, actual):
    if expected == actual:
        return []
    return ['%s differs:\n    expected %r\n    actual   %r' % (what, expected, actual)]


def delivered(rcpts, size, sender='sender@example.org', body=' BODY=8BITMIME'):
    """The smarthost's transcript of one delivery by postern."""
    return (['* connect', 'EHLO client.example', 'MAIL FROM:<%s>%s' % (sender, body)]
            + ['RCPT TO:<%s>' % r for r in rcpts]
            + ['DATA', '* data %d' % size, 'QUIT', '* close'])


# --- swaks --------------------------------------------------------------

def swaks(run, *args):
    """Run swaks against postern -bs; (status, the lines it received)."""
    cmd = ['swaks', '--pipe', shlex.join(run.argv), '--helo', 'client.test',
           '--from', 'sender@example.org'] + list(args)
    p = subprocess.run(cmd, env=run.env, capture_output=True, timeout=TIMEOUT)
    run.outputs += [('swaks stdout', p.stdout), ('swaks stderr', p.stderr)]
    got = [x[4:] for x in p.stdout.decode('utf-8', 'replace').splitlines()
           if x.startswith('<-  ') or x.startswith('<** ')]
    return p.returncode, got, p.stdout.decode('utf-8', 'replace')


FIXED = ['--header', 'Date: Fri, 27 Nov 2026 00:00:00 +0000',
         '--header', 'Message-Id: <swaks@example.org>',
         '--header', 'Subject: swaks test', '--header', 'X-Mailer: swaks']


def t_swaks_default(opts):
    """swaks' own message (headers pinned), one recipient."""
    run = Run(opts, SERVER)
    status, got, out = swaks(run, '--to', 'rcpt@example.net', *FIXED)
    msg = (b'Date: Fri, 27 Nov 2026 00:00:00 +0000\r\nTo: rcpt@example.net\r\n'
           b'From: sender@example.org\r\nSubject: swaks test\r\n'
           b'Message-Id: <swaks@example.org>\r\nX-Mailer: swaks\r\n\r\n'
           b'This is a test mailing\r\n\r\n\r\n')
    p = run.stop() + same('swaks status', 0, status)
    p += same('replies', ['220 client.example ESMTP postern'] + EHLO_REPLY + [
        '250 2.1.0 Ok', '250 2.1.5 Ok', '354 End data with <CR><LF>.<CR><LF>',
        '250 2.0.0 Ok: delivered to 1 recipient', '221 2.0.0 Bye'], got)
    p += same('transcript', delivered(['rcpt@example.net'], len(msg), body=''),
              run.transcript)
    p += same('messages', [msg], run.messages)
    return p + ([out] if p else [])


def t_swaks_pipelining(opts):
    """--pipeline, two recipients, leading dots in the body."""
    run = Run(opts, SERVER)
    data = ('Date: Fri, 27 Nov 2026 00:00:00 +0000\nFrom: <sender@example.org>\n'
            'To: <a@example.net>, <b@example.net>\nSubject: dots\n'
            'Message-ID: <dots@example.org>\n\n.leading dot\n..two\n.\nend\n')
    path = os.path.join(run.tmp, 'data')
    with open(path, 'w') as f:
        f.write(data)
    status, got, out = swaks(run, '--pipeline', '--to', 'a@example.net,b@example.net',
                             '--data', '@' + path)
    # swaks ends a data file that ends in a line end with an empty line
    msg = data.replace('\n.', '\n..').replace('\n', '\r\n').encode() + b'\r\n'
    p = run.stop() + same('swaks status', 0, status)
    p += same('replies', ['220 client.example ESMTP postern'] + EHLO_REPLY + [
        '250 2.1.0 Ok', '250 2.1.5 Ok', '250 2.1.5 Ok',
        '354 End data with <CR><LF>.<CR><LF>',
        '250 2.0.0 Ok: delivered to 2 recipients', '221 2.0.0 Bye'], got)
    p += same('transcript', delivered(['a@example.net', 'b@example.net'], len(msg),
                                      body=''), run.transcript)
    p += same('messages', [msg], run.messages)
    return p + ([out] if p else [])


def t_swaks_deferred(opts):
    """One recipient deferred by the smarthost: 451, and nothing is sent."""
    run = Run(opts, SERVER + 'reply RCPT#2 451 4.2.0 <b@example.net>: later\n')
    status, got, out = swaks(run, '--to', 'a@example.net,b@example.net', *FIXED)
    p = run.stop() + same('swaks status', 26, status)
    p += same('reply to the final dot', [
        '451 4.4.0 Try again later: 127.0.0.1:%d: a recipient was deferred: '
        'nothing sent, so that a retry makes no second copy' % run.port], got[-2:-1])
    p += same('transcript', ['* connect', 'EHLO client.example',
                             'MAIL FROM:<sender@example.org>', 'RCPT TO:<a@example.net>',
                             'RCPT TO:<b@example.net>', 'DATA', '* close'],
              run.transcript)
    p += same('messages', [], run.messages)
    return p + ([out] if p else [])


def t_swaks_refused(opts):
    """Every recipient refused: 550 after the data."""
    run = Run(opts, SERVER + 'reply RCPT 550 5.1.1 no such user\n')
    status, got, out = swaks(run, '--to', 'nobody@example.net', *FIXED)
    p = run.stop() + same('swaks status', 26, status)
    p += same('reply to the final dot', [
        '550 5.1.0 No recipient accepted: <nobody@example.net> 550 5.1.1 no such user'],
        got[-2:-1])
    p += same('messages', [], run.messages)
    return p + ([out] if p else [])


AUTH_SERVER = SERVER + 'auth PLAIN\nuser alice s3cret-pw\n'
AUTH_CONF = 'auth plain\nauth_allow_plaintext on\nuser alice\npassword {}\n'


def t_swaks_auth(opts):
    """The smarthost wants AUTH: the message goes, and the password is in
    no reply, no output and no file (leakcheck, in Run.stop)."""
    run = Run(opts, AUTH_SERVER, AUTH_CONF.format('s3cret-pw'))
    status, got, out = swaks(run, '--to', 'rcpt@example.net', *FIXED)
    p = run.stop() + same('swaks status', 0, status)
    p += same('reply to the final dot', ['250 2.0.0 Ok: delivered to 1 recipient'],
              got[-2:-1])
    p += same('AUTH', ['AUTH PLAIN AGFsaWNlAHMzY3JldC1wdw=='],
              [x for x in run.transcript if x.startswith('AUTH')])
    p += same('messages', 1, len(run.messages))
    return p + ([out] if p else [])


def t_swaks_auth_refused(opts):
    """The smarthost refuses the password: the reply to the client says
    so without it."""
    run = Run(opts, AUTH_SERVER, AUTH_CONF.format('wrong-s3cret-pw'))
    status, got, out = swaks(run, '--to', 'rcpt@example.net', *FIXED)
    p = run.stop() + same('swaks status', 26, status)
    p += same('reply to the final dot', [
        '451 4.7.0 Try again later: 127.0.0.1:%d: authentication failed: '
        '535 5.7.8 Authentication credentials invalid' % run.port], got[-2:-1])
    p += same('messages', [], run.messages)
    return p + ([out] if p else [])


# --- smtplib ------------------------------------------------------------

class PipeSMTP(smtplib.SMTP):
    """smtplib over a socketpair whose other end is postern's stdin and stdout."""

    def __init__(self, argv, env):
        self.argv, self.env, self.proc = argv, env, None
        super().__init__()

    def _get_socket(self, host, port, timeout):
        mine, theirs = socket.socketpair()
        self.proc = subprocess.Popen(self.argv, stdin=theirs, stdout=theirs,
                                     stderr=subprocess.PIPE, env=self.env)
        theirs.close()
        mine.settimeout(TIMEOUT)
        return mine

    def finish(self):
        self.close()
        _, err = self.proc.communicate(timeout=TIMEOUT)
        return self.proc.returncode, err


def _format_addr(s):
    # the tutorial's helper, as in Python 3 (no unicode type)
    name, addr = parseaddr(s)
    return formataddr((Header(name, 'utf-8').encode(), addr))


def png():
    """A 1x1 PNG in place of the tutorial's test.png."""
    import struct
    import zlib

    def chunk(kind, data):
        c = kind + data
        return struct.pack('>I', len(data)) + c + struct.pack('>I', zlib.crc32(c))
    return (b'\x89PNG\r\n\x1a\n'
            + chunk(b'IHDR', struct.pack('>IIBBBBB', 1, 1, 8, 2, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(b'\x00\xff\x00\x00'))
            + chunk(b'IEND', b''))


def headers(msg, from_addr, to_addr):
    msg['From'] = _format_addr('Python爱好者 <%s>' % from_addr)
    msg['To'] = _format_addr('管理员 <%s>' % to_addr)
    msg['Subject'] = Header('来自SMTP的问候……', 'utf-8').encode()
    return msg


def attachment():
    mime = MIMEBase('image', 'png', filename='test.png')
    mime.add_header('Content-Disposition', 'attachment', filename='test.png')
    mime.add_header('Content-ID', '<0>')
    mime.add_header('X-Attachment-Id', '0')
    mime.set_payload(png())
    encoders.encode_base64(mime)
    return mime


def tutorial(from_addr, to_addr):
    """The tutorial's five messages, built as it builds them."""
    plain = headers(MIMEText('hello, send by Python...', 'plain', 'utf-8'),
                    from_addr, to_addr)
    html = headers(MIMEText('<html><body><h1>Hello</h1>' +
                            '<p>send by <a href="http://www.python.org">Python</a>...</p>' +
                            '</body></html>', 'html', 'utf-8'), from_addr, to_addr)
    att = headers(MIMEMultipart(), from_addr, to_addr)
    att.attach(MIMEText('send with file...', 'plain', 'utf-8'))
    att.attach(attachment())
    inline = headers(MIMEMultipart(), from_addr, to_addr)
    inline.attach(MIMEText('<html><body><h1>Hello</h1>' +
                           '<p><img src="cid:0"></p>' +
                           '</body></html>', 'html', 'utf-8'))
    inline.attach(attachment())
    alt = headers(MIMEMultipart('alternative'), from_addr, to_addr)
    alt.attach(MIMEText('hello', 'plain', 'utf-8'))
    alt.attach(MIMEText('<html><body><h1>Hello</h1></body></html>', 'html', 'utf-8'))
    return [plain, html, att, inline, alt]


DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun']
MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct',
          'Nov', 'Dec']


def added_fields(t):
    """The exact Date and the Message-ID pattern msg.c makes at time t (TZ=UTC)."""
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    date = '%s, %d %s %d %02d:%02d:%02d +0000' % (
        DAYS[d.weekday()], d.day, MONTHS[d.month - 1], d.year, d.hour, d.minute, d.second)
    msgid = r'<%s\.[0-9a-f]{32}@example\.org>' % d.strftime('%Y%m%d%H%M%S')
    return date, msgid


def check_prepared(sent, got, t0, t1):
    """got must be sent (CRLF) with Date and Message-ID added at the end of
    the header block: the Date exactly as msg.c writes a second between t0
    and t1, the Message-ID that second's time, 128 random bits in hex and
    @maildomain."""
    head, _, body = sent.replace(b'\n', b'\r\n').partition(b'\r\n\r\n')
    m = re.fullmatch(re.escape(head) + rb'\r\nDate: ([^\r\n]*)\r\nMessage-ID: ([^\r\n]*)\r\n\r\n'
                     + re.escape(body), got, re.S)
    if m is None:
        return ['message differs:\n    sent     %r\n    received %r' % (sent, got)]
    for t in range(int(t0), int(t1) + 1):
        date, msgid = added_fields(t)
        if m.group(1).decode() == date:
            if re.fullmatch(msgid, m.group(2).decode()):
                return []
            return ['Message-ID %r does not match %r' % (m.group(2), msgid)]
    return ['Date %r is not a time of the run in msg.c\'s format' % m.group(1)]


def t_smtplib_tutorial(opts):
    """The tutorial's five messages in one session, and the other commands."""
    run = Run(opts, SERVER)
    from_addr, to_addr = 'python@example.org', 'admin@example.net'
    msgs = tutorial(from_addr, to_addr)
    p = []
    t0 = time.time()
    s = PipeSMTP(run.argv, run.env)
    p += same('greeting', (220, b'client.example ESMTP postern'), s.connect('postern'))
    code, _ = s.ehlo('client.test')
    p += same('EHLO', (250, ['pipelining', 'size', '8bitmime', 'enhancedstatuscodes']),
              (code, list(s.esmtp_features)))
    p += same('NOOP', (250, b'2.0.0 Ok'), s.noop())
    p += same('VRFY', 252, s.verify('admin')[0])
    p += same('HELP', b'2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP VRFY HELP '
              b'QUIT; see postern(8)', s.help())
    p += same('RSET', (250, b'2.0.0 Ok'), s.rset())
    sent = []
    for m in msgs:
        text = m.as_string()
        sent.append(text.encode('ascii'))
        p += same('refused', {}, s.sendmail(from_addr, [to_addr], text))
    p += same('QUIT', (221, b'2.0.0 Bye'), s.quit())
    status, err = s.finish()
    p += run.stop()
    t1 = time.time()
    p += same('postern status', 0, status)
    p += same('postern stderr', b'', err)
    got = run.messages
    p += same('number of messages', len(sent), len(got))
    # One smarthost connection for the whole session (DESIGN.md, -bs).
    expect = ['* connect', 'EHLO client.example']
    for a, b in zip(sent, got):
        expect += delivered([to_addr], len(b), sender=from_addr, body='')[2:-2]
        p += check_prepared(a, b, t0, t1)
    p += same('transcript', expect + ['QUIT', '* close'], run.transcript)
    return p


def t_smtplib_refused(opts):
    """A refused message is an exception for smtplib; the session goes on,
    over the same smarthost connection (RSET first)."""
    run = Run(opts, SERVER + 'reply RCPT#1 550 5.1.1 no such user\n')
    s = PipeSMTP(run.argv, run.env)
    s.connect('postern')
    s.ehlo('client.test')
    msg = tutorial('python@example.org', 'admin@example.net')[0]
    msg['Date'] = 'Fri, 27 Nov 2026 00:00:00 +0000'
    msg['Message-ID'] = '<refused@example.org>'
    p = []
    try:
        s.sendmail('python@example.org', ['admin@example.net'], msg.as_string())
        p.append('no exception for a refused message')
    except smtplib.SMTPDataError as e:
        p += same('refusal', (550, b'5.1.0 No recipient accepted: <admin@example.net> '
                              b'550 5.1.1 no such user'), (e.smtp_code, e.smtp_error))
    p += same('refused', {}, s.sendmail('python@example.org', ['admin@example.net'],
                                        msg.as_string()))
    s.quit()
    status, err = s.finish()
    p += run.stop()
    p += same('postern status', 0, status)
    p += same('postern stderr', (
        'postern: <admin@example.net>: recipient refused: 550 5.1.1 no such user\n'
        'postern: 127.0.0.1:%d: no recipient was accepted\n' % run.port).encode(), err)
    p += same('messages', [msg.as_string().replace('\n', '\r\n').encode()], run.messages)
    p += same('transcript', ['* connect', 'EHLO client.example',
                             'MAIL FROM:<python@example.org>', 'RCPT TO:<admin@example.net>',
                             'DATA', 'RSET', 'MAIL FROM:<python@example.org>',
                             'RCPT TO:<admin@example.net>', 'DATA',
                             '* data %d' % len(run.messages[0]) if run.messages else '?',
                             'QUIT', '* close'], run.transcript)
    return p


def t_bytewise(opts):
    """The session one byte per write, a pause after each so that postern
    reads them one by one: every split of a line, a CRLF, a leading dot
    and the final dot.  After each command the test waits for its reply,
    which postern must have written as soon as its input ran dry."""
    run = Run(opts, SERVER)
    lines = [b'EHLO client.test\r\n', b'MAIL FROM:<sender@example.org>\r\n',
             b'RCPT TO:<rcpt@example.net>\r\n', b'DATA\r\n',
             b'From: <sender@example.org>\r\nTo: <rcpt@example.net>\r\n'
             b'Subject: bytewise\r\nDate: Fri, 27 Nov 2026 00:00:00 +0000\r\n'
             b'Message-ID: <bytes@example.org>\r\n\r\n..dot\r\n.\nbare\n'
             b'\r\n.x\r\n\r\n.\r\n', b'QUIT\r\n']
    replies = ['220 client.example ESMTP postern'] + EHLO_REPLY + [
        '250 2.1.0 Ok', '250 2.1.5 Ok', '354 End data with <CR><LF>.<CR><LF>',
        '250 2.0.0 Ok: delivered to 1 recipient', '221 2.0.0 Bye']
    due = [6, 7, 8, 9, 10, 11]     # reply lines in after each piece
    mine, theirs = socket.socketpair()
    proc = subprocess.Popen(run.argv, stdin=theirs, stdout=theirs,
                            stderr=subprocess.PIPE, env=run.env)
    theirs.close()
    mine.settimeout(30 if not opts.valgrind else TIMEOUT)
    got, p = b'', []
    try:
        for piece, n in zip(lines, due):
            for i in range(len(piece)):
                mine.sendall(piece[i:i + 1])
                time.sleep(0.002)
            while got.count(b'\r\n') < n:
                chunk = mine.recv(4096)
                if not chunk:
                    break
                got += chunk
    except socket.timeout:
        p.append('no reply within the timeout: replies not flushed?')
    mine.close()
    _, err = proc.communicate(timeout=TIMEOUT)
    p += run.stop()
    p += same('postern status', 0, proc.returncode)
    p += same('postern stderr', b'', err)
    p += same('replies', ''.join(x + '\r\n' for x in replies).encode(), got)
    msg = (b'From: <sender@example.org>\r\nTo: <rcpt@example.net>\r\n'
           b'Subject: bytewise\r\nDate: Fri, 27 Nov 2026 00:00:00 +0000\r\n'
           b'Message-ID: <bytes@example.org>\r\n\r\n..dot\r\n..\r\nbare\r\n'
           b'\r\nx\r\n\r\n')
    p += same('messages', [msg], run.messages)
    return p


def t_splits(opts):
    """One message per critical split of the DATA text (after each CR, LF
    and dot), the two halves written 50 ms apart so that postern reads
    them apart: a CR at the end of a read, a dot alone at the start of a
    buffer, the final dot cut in two.  Every message must arrive whole."""
    run = Run(opts, SERVER)
    text = (b'From: <sender@example.org>\r\nTo: <rcpt@example.net>\r\n'
            b'Subject: splits\r\nDate: Fri, 27 Nov 2026 00:00:00 +0000\r\n'
            b'Message-ID: <splits@example.org>\r\n\r\n..dot\r\n.\nbare\n'
            b'\r\n.x\r\nend\r\n.\r\n')
    msg = text[:-3].replace(b'\n.\n', b'\n..\n').replace(b'\n.x', b'\nx')
    msg = msg.replace(b'\r\n', b'\n').replace(b'\n', b'\r\n')
    cuts = [k for k in range(1, len(text)) if text[k - 1:k] in (b'\r', b'\n', b'.')]
    mine, theirs = socket.socketpair()
    proc = subprocess.Popen(run.argv, stdin=theirs, stdout=theirs,
                            stderr=subprocess.PIPE, env=run.env)
    theirs.close()
    mine.settimeout(30 if not opts.valgrind else TIMEOUT)
    got, p = b'', []

    def wait(n):
        nonlocal got
        while got.count(b'\r\n') < n:
            chunk = mine.recv(4096)
            if not chunk:
                raise EOFError('postern closed the session')
            got += chunk
    try:
        mine.sendall(b'EHLO client.test\r\n')
        wait(6)
        for i, k in enumerate(cuts):
            mine.sendall(b'MAIL FROM:<sender@example.org>\r\n'
                         b'RCPT TO:<rcpt@example.net>\r\nDATA\r\n')
            wait(6 + 4 * i + 3)
            mine.sendall(text[:k])
            time.sleep(0.05)
            mine.sendall(text[k:])
            wait(6 + 4 * i + 4)
        mine.sendall(b'QUIT\r\n')
        wait(6 + 4 * len(cuts) + 1)
    except (socket.timeout, EOFError) as e:
        p.append('session: %s' % e)
    mine.close()
    _, err = proc.communicate(timeout=TIMEOUT)
    p += run.stop()
    p += same('postern status', 0, proc.returncode)
    p += same('postern stderr', b'', err)
    p += same('replies', ''.join(x + '\r\n' for x in ['220 client.example ESMTP postern']
                                 + EHLO_REPLY + [
        '250 2.1.0 Ok', '250 2.1.5 Ok', '354 End data with <CR><LF>.<CR><LF>',
        '250 2.0.0 Ok: delivered to 1 recipient'] * len(cuts) + ['221 2.0.0 Bye']).encode(),
        got)
    for k, m in zip(cuts, run.messages):
        p += same('message split at %d (%r|%r)' % (k, text[k - 3:k], text[k:k + 3]), msg, m)
    p += same('number of messages', len(cuts), len(run.messages))
    return p


TESTS_ = [t_swaks_default, t_swaks_pipelining, t_swaks_deferred, t_swaks_refused,
          t_swaks_auth, t_swaks_auth_refused,
          t_smtplib_tutorial, t_smtplib_refused, t_bytewise,
          t_splits]


def main():
    ap = argparse.ArgumentParser(description='postern -bs with real clients')
    ap.add_argument('--postern', required=True)
    ap.add_argument('--valgrind', action='store_true', help='run postern under memcheck')
    opts = ap.parse_args()
    opts.postern = os.path.abspath(opts.postern)
    opts.certs = runtests.ensure_certs()
    tally = harness.Tally()
    for t in TESTS_:
        name = t.__name__[2:].replace('_', '-')
        if name.startswith('swaks') and shutil.which('swaks') is None:
            problems = ['swaks is not installed (sh tests/deps.sh)']
        else:
            try:
                problems = t(opts)
            except Exception as e:  # a crash of the test is a failure too
                problems = ['%s: %s' % (type(e).__name__, e)]
        tally.report(name, problems)
    return tally.done('bs')


if __name__ == '__main__':
    sys.exit(main())
