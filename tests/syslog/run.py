#!/usr/bin/python3
"""The summary lines: syslog(LOG_MAIL), the logfile, -L, and no secrets.

Usage: /usr/bin/python3 tests/syslog/run.py --postern PATH [NAME...]

The machine runs no syslogd, so the driver re-runs itself under
`unshare -m` (root): in that private mount namespace a tmpfs covers /dev,
holding the few device nodes the programs need and, as /dev/log, a
datagram socket of its own.  glibc's syslog() writes there; the driver
reads each datagram and compares it with the exact expected line (the
time stamp, the pid and delay= are checked for their exact format).
Nothing outside the namespace changes.  Each row with a password also
checks that it appears in no form (tests/leakcheck.py) in any syslog
line, standard error or output, or file left in the row's directory.
Prints `ok NAME` or `FAIL NAME`, then `syslog: N passed, N failed`.

Python 3 standard library only.
"""

import argparse
import os
import re
import socket
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness  # noqa: E402
import leakcheck  # noqa: E402

NS_ENV = 'SYSLOG_TEST_NS'  # not POSTERN_*: those configure postern

CONF = """account default
host 127.0.0.1
port @PORT@
domain client.example
from sender@example.org
maildomain mx.example
tls off
queue off
"""

AUTH_CONF = """account default
host 127.0.0.1
port @PORT@
domain client.example
from sender@example.org
tls on
tls_starttls on
tls_trust_file @CA@
auth plain
user alice
password s3cret-pw
queue off
"""

AUTH_SERVER = """tls starttls
cap PIPELINING
auth PLAIN LOGIN
user alice s3cret-pw
auth-tls-only
"""

MSG = (b'From: Sender <sender@example.org>\n'
       b'To: Rcpt <rcpt@example.net>\n'
       b'Subject: log\n'
       b'Date: Mon, 1 Jan 2024 00:00:00 +0000\n'
       b'Message-ID: <log@example.org>\n'
       b'\n'
       b'hello\n')

SENT = ('id=- msgid=<log@example.org> from=<sender@example.org> '
        'to=<rcpt@example.net> size=156 relay=127.0.0.1[127.0.0.1]:@PORT@ '
        'delay=@DELAY@ status=sent (250 2.0.0 Ok: queued as TEST1)')

QUEUE = 'queue on\nqueue_dir @TMP@/queue\n'
QSENT = SENT.replace('id=-', 'id=@QUEUEID@')
QDEFERRED = ('id=@QUEUEID@ msgid=<log@example.org> from=<sender@example.org> '
             'to=<rcpt@example.net> size=156 relay=127.0.0.1[127.0.0.1]:@PORT@ '
             'delay=@DELAY@ status=deferred (127.0.0.1:@PORT@: MAIL FROM: '
             '451 4.3.0 try later)')

# The same message given over SMTP to -bs, which logs it the same way.
BS_SESSION = (b'EHLO client.test\r\nMAIL FROM:<sender@example.org>\r\n'
              b'RCPT TO:<rcpt@example.net>\r\nDATA\r\n'
              + MSG.replace(b'\n', b'\r\n') + b'.\r\nQUIT\r\n')

# name, extra configuration, server script, arguments, expected exit,
# expected syslog lines as (priority, tag, text), expected logfile lines
# as (time format regex, tag, text).
ROWS = [
    ('sent', '', 'cap PIPELINING\n', ['rcpt@example.net'], 0,
     [(22, 'postern', SENT)], []),
    ('tag', '', 'cap PIPELINING\n', ['-L', 'cron-mail', 'rcpt@example.net'], 0,
     [(22, 'cron-mail', SENT)], []),
    ('facility', 'syslog LOG_LOCAL3\n', 'cap PIPELINING\n', ['rcpt@example.net'], 0,
     [(19 * 8 + 6, 'postern', SENT)], []),
    ('syslog-on', 'syslog on\n', 'cap PIPELINING\n', ['rcpt@example.net'], 0,
     [(22, 'postern', SENT)], []),
    ('syslog-off', 'syslog off\n', 'cap PIPELINING\n', ['rcpt@example.net'], 0, [], []),
    ('logfile', 'syslog off\nlogfile @TMP@/mail.log\n', 'cap PIPELINING\n',
     ['rcpt@example.net'], 0, [],
     [(r'\w{3} [ 0-9]\d \d\d:\d\d:\d\d', 'postern', SENT)]),
    ('logfile-time-format', 'logfile @TMP@/mail.log\nlogfile_time_format %Y-%m-%d\n',
     'cap PIPELINING\n', ['-L', 'tagged', 'rcpt@example.net'], 0,
     [(22, 'tagged', SENT)], [(r'\d{4}-\d\d-\d\d', 'tagged', SENT)]),
    ('refused', '', 'cap PIPELINING\nreply RCPT#2 550 5.1.1 no such user\n',
     ['rcpt@example.net', 'nobody@example.net'], 67,
     [(21, 'postern', 'id=- msgid=<log@example.org> from=<sender@example.org> '
       'to=<rcpt@example.net>,<nobody@example.net> size=156 '
       'relay=127.0.0.1[127.0.0.1]:@PORT@ delay=@DELAY@ status=bounced '
       '(1 of 2 accepted; <nobody@example.net>: 550 5.1.1 no such user)')], []),
    ('deferred', '', 'cap PIPELINING\nreply MAIL 451 4.3.0 try later\n',
     ['rcpt@example.net'], 75,
     [(21, 'postern', 'id=- msgid=<log@example.org> from=<sender@example.org> '
       'to=<rcpt@example.net> size=156 relay=127.0.0.1[127.0.0.1]:@PORT@ '
       'delay=@DELAY@ status=deferred (127.0.0.1:@PORT@: MAIL FROM: '
       '451 4.3.0 try later)')], []),
    ('bs', 'logfile @TMP@/mail.log\n', 'cap PIPELINING\n', ['-bs', '-L', 'smtp-in'], 0,
     [(22, 'smtp-in', SENT)], [(r'\w{3} [ 0-9]\d \d\d:\d\d:\d\d', 'smtp-in', SENT)]),
    ('auth', 'logfile @TMP@/mail.log\n', None, ['-v', 'rcpt@example.net'], 0,
     [(22, 'postern', SENT)], [(r'\w{3} [ 0-9]\d \d\d:\d\d:\d\d', 'postern', SENT)]),
    # The queue on (issue 12): one line per attempt, whichever process
    # makes it, with the queue id, the real relay and the server's reply.
    ('queue-sent', QUEUE, 'cap PIPELINING\n', ['rcpt@example.net'], 0,
     [(22, 'postern', QSENT)], []),
    ('queue-run', QUEUE, 'cap PIPELINING\n@1 reply MAIL 451 4.3.0 try later\n',
     ['rcpt@example.net'], 0,
     [(21, 'postern', QDEFERRED), (22, 'postern', QSENT)], []),
    ('queue-auth-refused', QUEUE + 'password wrong-s3cret-pw\n', None,
     ['-v', 'rcpt@example.net'], 0,
     [(21, 'postern', 'id=@QUEUEID@ msgid=<log@example.org> from=<sender@example.org> '
       'to=<rcpt@example.net> size=156 relay=127.0.0.1[127.0.0.1]:@PORT@ '
       'delay=@DELAY@ status=deferred (127.0.0.1:@PORT@: authentication failed: '
       '535 5.7.8 Authentication credentials invalid)')], []),
    ('auth-refused', 'logfile @TMP@/mail.log\npassword wrong-s3cret-pw\n', None,
     ['-v', 'rcpt@example.net'], 77,
     [(21, 'postern', 'id=- msgid=<log@example.org> from=<sender@example.org> '
       'to=<rcpt@example.net> size=156 relay=127.0.0.1[127.0.0.1]:@PORT@ '
       'delay=@DELAY@ status=bounced (127.0.0.1:@PORT@: authentication failed: '
       '535 5.7.8 Authentication credentials invalid)')],
     [(r'\w{3} [ 0-9]\d \d\d:\d\d:\d\d', 'postern', '@ANY@')]),
]


def private_dev(tmp):
    """Inside the namespace: a tmpfs over /dev with null, zero, random,
    urandom, the fd links and our /dev/log socket."""
    subprocess.run(['mount', '--make-rprivate', '/'], check=True)
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'mode=755', 'tmpfs', '/dev'], check=True)
    for name, minor in (('null', 3), ('zero', 5), ('full', 7), ('random', 8),
                        ('urandom', 9)):
        os.mknod('/dev/' + name, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
        os.chmod('/dev/' + name, 0o666)
    os.symlink('/proc/self/fd', '/dev/fd')
    for i, name in enumerate(('stdin', 'stdout', 'stderr')):
        os.symlink(f'/proc/self/fd/{i}', '/dev/' + name)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind('/dev/log')
    os.chmod('/dev/log', 0o666)
    sock.setblocking(False)
    return sock


def drain(sock):
    lines = []
    while True:
        try:
            lines.append(sock.recv(65536).decode('utf-8', 'replace'))
        except BlockingIOError:
            return lines


SYSLOG_RE = re.compile(r'<(\d+)>\w{3} [ 0-9]\d \d\d:\d\d:\d\d ([^\[]+)\[(\d+)\]: (.*)\Z',
                       re.S)


def norm(text, subs):
    """delay= has the exact form \\d+.\\d\\d; the rest is compared as is."""
    text = re.sub(r' delay=\d+\.\d\d ', ' delay=@DELAY@ ', text)
    text = re.sub(r'^id=[0-9A-F]{16} ', 'id=@QUEUEID@ ', text)
    for k, v in subs.items():
        text = text.replace(v, k) if k == '@TMP@' else text
    return text


def check(row, opts, sock):
    name, extra, script, args, want_exit, want_sys, want_file = row
    problems = []
    tmp = harness.tmpdir('syslog-' + name)
    server = None
    try:
        auth = script is None
        server = harness.Server(AUTH_SERVER if auth else script, tmp, opts.certs)
        subs = {'@PORT@': str(server.port), '@TMP@': tmp,
                '@CA@': os.path.join(opts.certs, 'ca.pem')}
        conf = (AUTH_CONF if auth else CONF) + extra
        for k, v in subs.items():
            conf = conf.replace(k, v)
        conf_path = harness.write_conf(tmp, conf)
        os.mkdir(os.path.join(tmp, 'queue'), 0o700)
        drain(sock)
        status, out, err = harness.run([opts.postern, '-C', conf_path] + args,
                                       BS_SESSION if '-bs' in args else MSG, tmp)
        if name == 'queue-run':
            # The deferred message, delivered by a queue run.
            status2, out2, err2 = harness.run([opts.postern, '-C', conf_path, '-qf'], b'', tmp)
            if status2 != 0:
                problems.append(f'-qf: exit {status2}: {err2!r}')
        problems += server.stop()
        got = drain(sock)
        if status != want_exit:
            problems.append(f'exit: expected {want_exit}, got {status}: {err!r}')
        lines = []
        for g in got:
            m = SYSLOG_RE.match(g)
            if not m:
                problems.append(f'syslog: malformed datagram {g!r}')
                continue
            lines.append((int(m.group(1)), m.group(2), m.group(4)))
            if int(m.group(3)) <= 1:
                problems.append(f'syslog: pid {m.group(3)}')
        want = [(p, t, expand(x, subs)) for p, t, x in want_sys]
        got_norm = [(p, t, norm(x, subs)) for p, t, x in lines]
        if got_norm != want:
            problems.append(f'syslog: expected {want}, got {got_norm}')
        logfile = harness.read(os.path.join(tmp, 'mail.log')).decode('utf-8', 'replace')
        problems += check_file(logfile, want_file, subs)
        problems += leakcheck.check_run(tmp, [('syslog', '\n'.join(got)),
                                              ('stderr', err), ('stdout', out)])
        if auth and '<redacted>' not in err.decode():
            problems.append('-v shows no redacted AUTH line: is -v on?')
    except Exception as e:
        problems.append(f'error: {type(e).__name__}: {e}')
        if server is not None:
            server.stop()
    finally:
        harness.rmtree(tmp)
    return problems


def expand(text, subs):
    for k, v in subs.items():
        if k != '@TMP@':
            text = text.replace(k, v)
    return text


def check_file(text, want, subs):
    lines = text.splitlines()
    if len(lines) != len(want):
        return [f'logfile: expected {len(want)} lines, got {lines}']
    problems = []
    for line, (timefmt, tag, body) in zip(lines, want):
        m = re.match(timefmt + r' ([^\[]+)\[(\d+)\]: (.*)\Z', line)
        if not m or m.group(1) != tag or (body != '@ANY@' and
                                          norm(m.group(3), subs) != expand(body, subs)):
            problems.append(f'logfile: expected {timefmt} {tag}[PID]: '
                            f'{expand(body, subs)}, got {line!r}')
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--postern', required=True)
    ap.add_argument('names', nargs='*')
    opts = ap.parse_args()
    opts.postern = os.path.abspath(opts.postern)
    if os.environ.get(NS_ENV) != '1':
        # Into a private mount namespace: /dev changes only there.
        try:
            p = subprocess.run(['unshare', '-m', '/usr/bin/python3',
                                os.path.abspath(__file__)] + sys.argv[1:],
                               env=dict(os.environ, **{NS_ENV: '1'}))
        except OSError as e:
            p = None
            print(f'syslog: unshare: {e}')
        if p is None or p.returncode not in (0, 1):
            print('syslog: could not run in a private mount namespace '
                  '(unshare -m needs root)')
            print('syslog: 0 passed, 1 failed')
            return 1
        return p.returncode
    opts.certs = harness.certs()
    sock = private_dev(opts.certs)
    tally = harness.Tally()
    for row in ROWS:
        if opts.names and row[0] not in opts.names:
            continue
        tally.report(row[0], check(row, opts, sock))
    return tally.done('syslog')


if __name__ == '__main__':
    sys.exit(main())
