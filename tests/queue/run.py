#!/usr/bin/python3
"""Multi-step tests of postern's durable queue (issue 6).

Usage: /usr/bin/python3 tests/queue/run.py --postern PATH --postern-test PATH
           [--trials N] [--only NAME[,NAME...]]

--postern-test is a build with -DPOSTERN_TEST (crash points, never
installed).  Every test asserts that no message is lost and none is
delivered twice, except in the RFC 1047 window (the connection or the
process lost between the server's 250 to "." and the state rewrite),
where a duplicate is the documented outcome and is reported as such.

Scripted scenarios use tests/smtpd.py (its transcript shows each
connection); the crash, concurrency and expiry tests use Sink below, a
small threaded SMTP server that records every message it accepts.

Every postern run whose configuration holds a password (auth-deferred)
also asserts that it appears in no form (tests/leakcheck.py) in the
output, the queue files or anything else in the work directory.

Prints `ok NAME` / `FAIL NAME` per test, the crash-window report, then
`queue: N passed, N failed`.  Python 3 standard library only.
"""

import argparse
import email
import email.policy
import glob
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMTPD = os.path.join(TESTS, 'smtpd.py')
CERTS = os.path.join(TESTS, '.certs')

sys.path.insert(0, TESTS)
import leakcheck  # noqa: E402

OPTS = None
RESULTS = []
WINDOWS = []


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


# ---------------------------------------------------------------- servers

class Sink:
    """A threaded SMTP server: PIPELINING, 8BITMIME; records each message.

    fail(kind, n) may return a reply line to use instead of the default for
    the n-th command of that kind (MAIL, RCPT, DATA, DOT) over the server's
    life; None means the default.
    """

    def __init__(self, fail=None, delay=0.0):
        self.fail = fail or (lambda kind, n: None)
        self.delay = delay
        self.lock = threading.Lock()
        self.messages = []       # (sender, [rcpts], data bytes)
        self.counts = {}
        self.connections = 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop:
            if select.select([self.sock], [], [], 0.05)[0]:
                try:
                    conn, _ = self.sock.accept()
                except OSError:
                    continue
                threading.Thread(target=self.session, args=(conn,), daemon=True).start()

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()

    def count(self, kind):
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            return self.counts[kind]

    def session(self, conn):
        with self.lock:
            self.connections += 1
        f = conn.makefile('rb')
        out = []

        def reply(line):
            out.append(line.encode() + b'\r\n')

        def flush():
            if out:
                conn.sendall(b''.join(out))
                out.clear()
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.sendall(b'220 sink ESMTP\r\n')
            sender, rcpts = None, []
            while True:
                line = f.readline()
                if not line:
                    return
                verb = line[:4].upper()
                if verb == b'EHLO':
                    reply('250-sink')
                    reply('250-PIPELINING')
                    reply('250 8BITMIME')
                elif verb == b'MAIL':
                    r = self.fail('MAIL', self.count('MAIL'))
                    if r is None:
                        sender, rcpts = line.strip(), []
                        reply('250 ok')
                    else:
                        reply(r)
                elif verb == b'RCPT':
                    r = self.fail('RCPT', self.count('RCPT'))
                    if r is None and sender is not None:
                        rcpts.append(re.search(rb'<([^>]*)>', line).group(1).decode())
                        reply('250 ok')
                    else:
                        reply(r or '503 no MAIL')
                elif verb == b'DATA':
                    r = self.fail('DATA', self.count('DATA'))
                    if r is not None or not rcpts:
                        reply(r or '554 no rcpts')
                        flush()
                        continue
                    reply('354 go')
                    flush()
                    data = bytearray()
                    while True:
                        dl = f.readline()
                        if not dl:
                            return
                        if dl == b'.\r\n':
                            break
                        data += dl[1:] if dl.startswith(b'.') else dl
                    if self.delay:
                        time.sleep(self.delay)
                    r = self.fail('DOT', self.count('DOT'))
                    if r is None:
                        with self.lock:
                            self.messages.append((sender, list(rcpts), bytes(data)))
                        reply('250 queued')
                    else:
                        reply(r)
                    if r and r.startswith('421'):
                        flush()
                        return
                    sender, rcpts = None, []
                elif verb == b'RSET':
                    sender, rcpts = None, []
                    reply('250 ok')
                elif verb == b'QUIT':
                    reply('221 bye')
                    flush()
                    return
                else:
                    reply('250 ok')
                flush()
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def tags(self):
        """The X-Tag of every accepted message, with repeats."""
        with self.lock:
            return [tag_of(d) for _, _, d in self.messages]


def tag_of(data):
    """The X-Tag of the top-level header (a DSN quotes the original's)."""
    m = re.search(rb'^X-Tag: (\S+)', data.split(b'\r\n\r\n')[0], re.M)
    return m.group(1).decode() if m else None


class Scripted:
    """tests/smtpd.py with a script; transcript and data.N in a directory."""

    def __init__(self, work, script):
        self.dir = tempfile.mkdtemp(dir=work, prefix='srv.')
        path = os.path.join(self.dir, 'script')
        with open(path, 'w') as f:
            f.write(script)
        self.proc = subprocess.Popen(
            [sys.executable, SMTPD, '--script', path, '--certs', CERTS, '--out',
             os.path.join(self.dir, 'out')], stdout=subprocess.PIPE)
        self.port = int(self.proc.stdout.readline())

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(15)

    def transcript(self):
        with open(os.path.join(self.dir, 'out', 'transcript')) as f:
            return f.read()

    def tags(self):
        out = []
        for p in sorted(glob.glob(os.path.join(self.dir, 'out', 'data.*'))):
            with open(p, 'rb') as f:
                out.append(tag_of(f.read()))
        return out


def closed_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- postern

class Env:
    """A work directory with a queue, a configuration and postern runs."""

    def __init__(self, name, extra='', queue_dir=None):
        self.work = tempfile.mkdtemp(prefix=f'postern-q-{name}.')
        self.queue = queue_dir or os.path.join(self.work, 'queue')
        if queue_dir is None:
            os.mkdir(self.queue, 0o700)
        self.conf = os.path.join(self.work, 'postern.conf')
        self.extra = extra
        self.set_port(closed_port())

    def set_port(self, port, extra=None):
        if extra is not None:
            self.extra = extra
        fd = os.open(self.conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as f:
            f.write(f'account default\nhost 127.0.0.1\nport {port}\n'
                    f'domain client.example\nfrom sender@example.org\ntls off\n'
                    f'timeout 5\nqueue_dir {self.queue}\n{self.extra}\n')

    def run(self, args, data=b'', binary=None, env=None, timeout=60):
        argv = [binary or OPTS.postern, '-C', self.conf] + args
        e = dict(os.environ, TZ='UTC', LC_ALL='C')
        e.pop('POSTERN_CRASH', None)
        if env:
            e.update(env)
        p = subprocess.run(argv, input=data, capture_output=True, env=e, timeout=timeout)
        # With a password configured: in no form in the output, the queue
        # files or anything else in the work directory but the servers'.
        servers = (glob.glob(os.path.join(self.work, 'srv.*', 'script')) +
                   glob.glob(os.path.join(self.work, 'srv.*', 'out', 'transcript')))
        leaks = leakcheck.check_run(self.work, [('stdout', p.stdout), ('stderr', p.stderr)],
                                    conf=self.conf, exclude=['postern.conf'] + [
                                        os.path.relpath(x, self.work) for x in servers])
        check(not leaks, '; '.join(leaks))
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def send(self, tag, rcpts=('rcpt@example.net',), args=(), **kw):
        return self.run(list(args) + list(rcpts), message(tag), **kw)

    def mailq(self):
        rc, out, err = self.run(['-bp'])
        check(rc == 0, f'mailq exited {rc}: {err}')
        return out

    def files(self):
        return sorted(os.listdir(self.queue))

    def committed(self):
        """The file holding each committed message's envelope: ID.env once
        it was updated, else ID.msg, which is the commit point and carries
        the envelope after the message (queue format 2)."""
        files = self.files()
        return [f[:-4] + '.env' if f[:-4] + '.env' in files else f
                for f in files if f.endswith('.msg') and not f.startswith('tmp.')]

    def clean(self):
        shutil.rmtree(self.work, ignore_errors=True)


def message(tag, size=0):
    body = b'x' * 70 + b'\n'
    return (b'From: sender@example.org\nTo: rcpt@example.net\nSubject: test ' +
            tag.encode() + b'\nX-Tag: ' + tag.encode() + b'\n\nhello\n' +
            body * (size // 71))


def test(fn):
    name = fn.__name__[2:].replace('_', '-')
    if OPTS.only and name not in OPTS.only:
        return
    t0 = time.monotonic()
    try:
        fn()
        RESULTS.append((name, True, ''))
        print(f'ok {name} ({time.monotonic() - t0:.1f} s)')
    except Fail as e:
        RESULTS.append((name, False, str(e)))
        print(f'FAIL {name}: {e}')
    except Exception as e:  # a broken test or environment
        RESULTS.append((name, False, f'{type(e).__name__}: {e}'))
        print(f'FAIL {name}: {type(e).__name__}: {e}')
    sys.stdout.flush()


# ---------------------------------------------------------------- deferral and recovery

def t_server_down():
    q = Env('down')
    rc, out, err = q.send('m1', args=['-v'])
    check(rc == 0, f'submission exited {rc}: {err}')
    line = re.compile(r'postern: queued ([0-9A-F]{16}): 127\.0\.0\.1:\d+: connect: '
                      r'Connection refused \(next try in 5m\)\n')
    check(line.search(err), f'no "queued ID:" line with -v: {err!r}')
    # Loud deferral (issue 12): every time, tty or not, exactly this line.
    rc, out, err = q.send('m2')
    m = line.fullmatch(err)
    check(rc == 0 and m, f'without -v and a tty: exit {rc}, stderr {err!r}')
    check(m.group(1) + '.msg' in q.files(), f'{m.group(1)} is not the queued id: {q.files()}')
    lq = q.mailq()
    check(lq.count('<rcpt@example.net> deferred') == 2 and 'Connection refused' in lq,
          f'mailq: {lq}')
    srv = Scripted(q.work, 'cap PIPELINING\n')
    q.set_port(srv.port)
    rc, _, err = q.run(['-q'])
    check(rc == 0, f'-q: {rc} {err}')
    check(srv.tags() == [], 'a message not yet due was sent by -q')
    rc, _, err = q.run(['-qf'])
    check(rc == 0, f'-qf: {rc} {err}')
    rc, _, err = q.run(['-qf'])
    srv.stop()
    check(sorted(srv.tags()) == ['m1', 'm2'], f'delivered: {srv.tags()}')
    check(srv.transcript().count('* connect') == 1, 'not one connection for the run')
    check(q.mailq() == 'Mail queue is empty\n', 'queue not empty')
    check(q.files() == [], f'files left: {q.files()}')
    q.clean()


def scripted_recovery(name, script, rcpts=('rcpt@example.net',)):
    q = Env(name)
    srv = Scripted(q.work, script)
    q.set_port(srv.port)
    rc, _, err = q.send('m1', rcpts=rcpts)
    check(rc == 0, f'submission exited {rc}: {err}')
    check(len(q.committed()) == 1, 'not queued')
    rc, _, err = q.run(['-qf'])
    check(rc == 0, f'-qf exited {rc}: {err}')
    rc, _, err = q.run(['-qf'])
    srv.stop()
    check(q.files() == [], f'files left: {q.files()}')
    return srv


def t_auth_deferred():
    """A password configured, the first attempt deferred after AUTH: the
    secret check of every run (the queue files, mailq, -v) and AUTH again
    on the queue run."""
    q = Env('auth', 'auth plain\nauth_allow_plaintext on\nuser alice\npassword s3cret-pw\n')
    srv = Scripted(q.work, 'cap PIPELINING\nauth PLAIN LOGIN\nuser alice s3cret-pw\n'
                   '@1 reply MAIL 451 4.3.0 try later\n')
    q.set_port(srv.port)
    rc, _, err = q.send('m1', args=['-v'])
    check(rc == 0 and '<redacted>' in err, f'submission exited {rc}: {err}')
    check(len(q.committed()) == 1, 'not queued')
    check('<rcpt@example.net> deferred' in q.mailq(), 'not in mailq')
    rc, _, err = q.run(['-qf', '-v'])
    check(rc == 0, f'-qf exited {rc}: {err}')
    srv.stop()
    check(srv.tags() == ['m1'], f'delivered: {srv.tags()}')
    check(srv.transcript().count('AUTH PLAIN ') == 2, 'not AUTH on both connections')
    check(q.files() == [], f'files left: {q.files()}')
    q.clean()


def t_mail_451():
    srv = scripted_recovery('mail451', 'cap PIPELINING\n@1 reply MAIL 451 4.3.0 try later\n')
    check(srv.tags() == ['m1'], f'delivered: {srv.tags()}')


def t_data_451():
    srv = scripted_recovery('data451', 'cap PIPELINING\n@1 reply DATA 451 4.3.0 later\n')
    check(srv.tags() == ['m1'], f'delivered: {srv.tags()}')


def t_rcpt_451_one_of_three():
    rcpts = ('a@example.net', 'b@example.net', 'c@example.net')
    srv = scripted_recovery('rcpt451', 'cap PIPELINING\n@1 reply RCPT#2 451 4.2.0 greylisted\n',
                            rcpts)
    check(srv.tags() == ['m1', 'm1'], f'delivered: {srv.tags()}')
    t = srv.transcript()
    second = t.split('* connect')[2]
    retried = re.findall(r'RCPT TO:<(\S+)>', second)
    check(retried == ['b@example.net'], f'the retry went to: {retried}')


def t_421_mid_session():
    q = Env('421')
    for i in range(3):
        rc, _, err = q.send(f'm{i}')
        check(rc == 0, f'submission {i}: {rc} {err}')
    srv = Scripted(q.work, 'cap PIPELINING\n@1 reply MAIL#2 421 4.3.2 shutting down\n')
    q.set_port(srv.port)
    rc, _, err = q.run(['-qf'])
    check(rc == 0, f'-qf: {rc} {err}')
    check(len(q.committed()) == 1, f'after the 421: {q.committed()}')
    rc, _, err = q.run(['-qf'])
    srv.stop()
    check(sorted(srv.tags()) == ['m0', 'm1', 'm2'], f'delivered: {srv.tags()}')
    t = srv.transcript()
    check(t.count('* connect') == 3, f'connections: {t.count("* connect")} (want 3: '
          'the 421 one, a fresh one for the rest, the retry)')
    check(q.files() == [], f'files left: {q.files()}')
    q.clean()


def t_rset_between_messages():
    q = Env('rset')
    for i in range(3):
        q.send(f'm{i}')
    srv = Scripted(q.work, 'cap PIPELINING\n@1 reply RCPT#2 550 5.1.1 no such user\n')
    q.set_port(srv.port)
    rc, _, err = q.run(['-qf'])
    srv.stop()
    t = srv.transcript()
    first = t.split('* connect')[1]
    check(first.count('MAIL FROM') == 3, f'not one connection for the three:\n{t}')
    check('RSET' in first and first.index('RSET') < first.rindex('MAIL FROM'),
          f'no RSET:\n{t}')
    got = srv.tags()
    check(len(got) == 3 and got[2] is None and len(set(got[:2])) == 2,
          f'delivered: {got} (want two of m0..m2, then the DSN)')
    check(q.files() == [], f'files left: {q.files()}')
    q.clean()


def t_submission_flushes_queue():
    q = Env('flush')
    for i in range(2):
        q.send(f'old{i}')
    # The queued ones become due; a new submission carries them along.
    q.run(['-qf'])  # nothing listens: attempts++
    for f in q.committed():
        p = os.path.join(q.queue, f)
        with open(p) as fh:
            txt = fh.read()
        txt = re.sub(r'^next \d+$', 'next 0', txt, flags=re.M)
        with open(p, 'w') as fh:
            fh.write(txt)
    q.send('later')  # deferred, due in 5 minutes: not carried along
    srv = Scripted(q.work, 'cap PIPELINING\n')
    q.set_port(srv.port)
    rc, _, err = q.send('new')
    srv.stop()
    check(rc == 0, f'{rc} {err}')
    check(sorted(srv.tags()) == ['new', 'old0', 'old1'], f'delivered: {srv.tags()}')
    check(srv.transcript().count('* connect') == 1, 'not one connection')
    check(len(q.committed()) == 1, f'left: {q.committed()}')
    q.clean()


def spool_calls(q, args, data):
    """The fsync, rename, unlink and AF_INET connect calls of one run, in
    order, each as (name, argument), from strace."""
    trace = os.path.join(q.work, 'strace')
    argv = ['strace', '-f', '-qq', '-o', trace, '-e',
            'trace=fsync,fdatasync,rename,renameat,renameat2,unlink,unlinkat,connect',
            OPTS.postern, '-C', q.conf] + args
    # LeakSanitizer stops the world with ptrace, which strace holds.
    env = dict(os.environ, TZ='UTC', LC_ALL='C',
               ASAN_OPTIONS=os.environ.get('ASAN_OPTIONS', '') + ':detect_leaks=0')
    p = subprocess.run(argv, input=data, capture_output=True, env=env, timeout=60)
    check(p.returncode == 0, f'exit {p.returncode}: {p.stderr.decode()}')
    calls = []
    with open(trace) as f:
        for line in f:
            m = re.match(r'(?:\d+ +)?(\w+)\((.*)', line)
            if m is None:
                continue
            name, rest = m.groups()
            if name == 'connect' and 'AF_INET' not in rest:
                continue            # /dev/log
            if name == 'unlink' and 'ENOENT' in rest:
                continue            # ID.env that never was
            calls.append((name, rest.split(',')[0]))
    return calls


def t_spool_syscalls():
    """The commit is one fsync of the file, the rename, one fsync of the
    directory, all before the first connection; a delivered message is
    unlinked with no fsync after it (issue 16: two fsyncs per delivered
    submission, was three); --delete still fsyncs the directory."""
    if shutil.which('strace') is None:
        raise Fail('strace is not installed (tests/deps.sh)')
    q = Env('syscalls')
    srv = Scripted(q.work, 'cap PIPELINING\n')
    q.set_port(srv.port)
    calls = [c for c, _ in spool_calls(q, ['rcpt@example.net'], message('s1'))]
    srv.stop()
    check(calls == ['fsync', 'rename', 'fsync', 'connect', 'unlink'],
          f'delivered: {calls}')
    check(srv.tags() == ['s1'], f'delivered: {srv.tags()}')
    check(q.files() == [], f'left: {q.files()}')
    calls = [c for c, _ in spool_calls(q, ['-odq', 'rcpt@example.net'], message('s2'))]
    check(calls == ['fsync', 'rename', 'fsync'], f'-odq: {calls}')
    (mid,) = [f[:-4] for f in q.committed()]
    calls = [c for c, _ in spool_calls(q, ['--delete', mid], b'')]
    check(calls == ['unlink', 'fsync'], f'--delete: {calls}')
    check(q.files() == [], f'left: {q.files()}')
    q.clean()


def t_mailq_hold_release_delete():
    q = Env('admin')
    check(q.mailq() == 'Mail queue is empty\n', 'empty queue listing')
    q.send('m1', rcpts=('a@example.net', 'b@example.net'))
    q.send('m2')
    ids = sorted(f[:-4] for f in q.committed())
    lq = q.mailq()
    for i in ids:
        check(i in lq, f'{i} not listed')
    check('<sender@example.org>' in lq and '-- 2 messages' in lq, lq)
    rc, _, err = q.run(['--hold', ids[0]])
    check(rc == 0, f'--hold: {err}')
    check('(held)' in q.mailq(), 'held not shown')
    srv = Scripted(q.work, 'cap PIPELINING\n')
    q.set_port(srv.port)
    q.run(['-qf'])
    check(srv.tags() == ['m2'] or srv.tags() == ['m1'], f'delivered: {srv.tags()}')
    check(len(q.committed()) == 1, 'the held one was sent')
    rc, _, err = q.run(['--release', ids[0]])
    check(rc == 0, f'--release: {err}')
    rc, _, err = q.run(['--delete', 'ZZZZ'])
    check(rc == 64, f'--delete of a bad id: {rc}')
    rc, _, err = q.run(['--delete', ids[0]])
    check(rc == 0 and q.files() == [], f'--delete: {rc} {err} {q.files()}')
    srv.stop()
    q.clean()


def t_control_char_in_queue_file():
    """A queue file with a control character in a field is corrupt: it is
    neither listed (no terminal escape reaches mailq's output) nor sent
    (it could reach an SMTP command).  Found by tests/fuzz/fuzz_queue.c."""
    q = Env('ctl')
    q.send('m1')
    (env,) = q.committed()
    path = os.path.join(q.queue, env)
    with open(path, 'rb') as f:
        text = f.read()
    check(b'\nfrom sender@example.org\n' in text, f'no from line: {text!r}')
    with open(path, 'wb') as f:
        f.write(text.replace(b'from sender@example.org',
                             b'from sender@example.org\x1b[2J'))
    check(q.mailq() == 'Mail queue is empty\n', 'the corrupt file was listed')
    srv = Scripted(q.work, 'cap PIPELINING\n')
    q.set_port(srv.port)
    rc, _, err = q.run(['-qf'])
    srv.stop()
    check(srv.tags() == [], f'the corrupt file was sent: {srv.tags()}')
    check('\x1b' not in err, f'escape on stderr: {err!r}')
    q.clean()


def t_queue_off_exits_75():
    q = Env('off', extra='queue off')
    rc, _, err = q.send('m1')
    check(rc == 75 and 'Connection refused' in err, f'{rc} {err}')
    check(q.files() == [], 'queue off wrote to the spool')
    q.clean()


def t_spool_not_writable():
    q = Env('nowrite', queue_dir='/dev/null/postern-spool')
    r, w = os.pipe()
    os.close(w)
    p = subprocess.run([OPTS.postern, '-C', q.conf, 'rcpt@example.net'], stdin=r,
                       capture_output=True)
    os.close(r)
    err = p.stderr.decode()
    check(p.returncode == 73 and '/dev/null/postern-spool' in err, f'{p.returncode} {err}')
    q.clean()


def t_permanent_failure_removes():
    q = Env('perm')
    srv = Scripted(q.work, 'cap PIPELINING\nreply MAIL 550 5.7.1 sender rejected\n')
    q.set_port(srv.port)
    rc, _, err = q.send('m1')
    srv.stop()
    check(rc == 69 and '550 5.7.1' in err, f'{rc} {err}')
    check(q.files() == [], f'files left: {q.files()}')
    q.clean()


def t_oem_bounces_instead():
    q = Env('oem')
    sink = Sink(fail=lambda k, n: '550 5.1.1 no such user' if k == 'RCPT' and n == 1 else None)
    q.set_port(sink.port)
    rc, _, err = q.send('m1', args=['-oem'])
    sink.close()
    check(rc == 0 and err == '', f'-oem: {rc} {err!r}')
    check(len(sink.messages) == 1, f'messages: {len(sink.messages)}')
    sender, rcpts, data = sink.messages[0]
    check(sender.startswith(b'MAIL FROM:<>') and rcpts == ['sender@example.org'],
          f'DSN envelope: {sender} {rcpts}')
    check(q.files() == [], f'files left: {q.files()}')
    q.clean()


def parse_dsn(data):
    m = email.message_from_bytes(data, policy=email.policy.default)
    check(m.get_content_type() == 'multipart/report', f'type {m.get_content_type()}')
    check(m.get_param('report-type') == 'delivery-status', 'report-type')
    parts = [p.get_content_type() for p in m.iter_parts()]
    check(parts == ['text/plain', 'message/delivery-status', 'text/rfc822-headers'],
          f'parts: {parts}')
    return m


def t_expiry_dsn():
    q = Env('expire', extra='queue_lifetime 1s')
    rc, _, err = q.send('m1')
    check(rc == 0, f'{rc} {err}')
    time.sleep(1.2)
    sink = Sink()
    q.set_port(sink.port)
    rc, _, err = q.run(['-q'])
    sink.close()
    check(rc == 0, f'-q: {rc} {err}')
    check(len(sink.messages) == 1, f'messages: {len(sink.messages)}')
    sender, rcpts, data = sink.messages[0]
    check(sender.startswith(b'MAIL FROM:<>'), f'DSN sender {sender}')
    check(rcpts == ['sender@example.org'], f'DSN to {rcpts}')
    m = parse_dsn(data)
    ds = m.get_payload()[1]
    body = ds.as_string()
    check('Action: failed' in body and 'Status: 4.4.7' in body and
          'Final-Recipient: rfc822; rcpt@example.net' in body, body)
    hdrs = m.get_payload()[2].as_string()
    check('X-Tag: m1' in hdrs, 'original headers missing')
    check(q.files() == [], f'files left: {q.files()}')
    q.clean()


def t_expiry_null_sender_to_postmaster():
    q = Env('expire0', extra='queue_lifetime 1s')
    rc, _, err = q.send('m1', args=['-f', '<>'])
    time.sleep(1.2)
    sink = Sink()
    q.set_port(sink.port)
    q.run(['-q'])
    sink.close()
    check(len(sink.messages) == 1, f'messages: {len(sink.messages)}')
    _, rcpts, _ = sink.messages[0]
    check(len(rcpts) == 1 and rcpts[0].startswith('postmaster@'), f'DSN to {rcpts}')
    q.clean()


def t_backoff_doubles():
    q = Env('backoff', extra='queue_retry_min 60s\nqueue_retry_max 200s')
    q.send('m1')
    nexts = []
    for _ in range(4):
        q.run(['-qf'])
        with open(os.path.join(q.queue, q.committed()[0])) as f:
            txt = f.read()
        nexts.append(int(re.search(r'^next (\d+)', txt, re.M).group(1)) - int(time.time()))
    # attempts 2..5: 120, 200 (capped), 200, 200 seconds
    check([round(n, -1) for n in nexts] == [120, 200, 200, 200], f'delays: {nexts}')
    q.clean()


def t_sweeps_leftovers():
    q = Env('sweep')
    for name in ('tmp.0000000000000001.msg', 'tmp.0000000000000001.env',
                 '0000000000000002.msg'):
        p = os.path.join(q.queue, name)
        with open(p, 'w') as f:
            f.write('partial')
    young = os.path.join(q.queue, 'tmp.0000000000000003.msg')
    open(young, 'w').close()
    old = time.time() - 2 * 3600
    for name in q.files():
        if '3' not in name:
            os.utime(os.path.join(q.queue, name), (old, old))
    q.run(['-q'])
    check(q.files() == ['tmp.0000000000000003.msg'], f'after the sweep: {q.files()}')
    q.clean()


def t_sweeps_tls_cache():
    """A queue run removes from queue/tls what the TLS session cache will
    never read again: a temporary file a crash left (an hour old) and a
    session file not written for 7 days (past any ticket's lifetime).
    A young temporary file, a young session, a file the cache does not
    name and a symbolic link stay."""
    q = Env('tlssweep')
    tdir = os.path.join(q.queue, 'tls')
    os.mkdir(tdir, 0o700)
    now = time.time()
    ages = {'tmp.0badc0de': 2 * 3600, 'tmp.0000beef': 600,
            '0123456789abcdef0123456789abcdef': 8 * 86400,
            'fedcba9876543210fedcba9876543210': 6 * 86400,
            'README': 30 * 86400, '0123456789ABCDEF0123456789ABCDEF': 30 * 86400}
    for name, age in ages.items():
        p = os.path.join(tdir, name)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, b'postern-tls-session 1\n')
        os.close(fd)
        os.utime(p, (now - age, now - age))
    link = os.path.join(tdir, '00000000000000000000000000000000')
    os.symlink(os.path.join(tdir, 'README'), link)
    os.utime(link, (now - 30 * 86400, now - 30 * 86400), follow_symlinks=False)
    rc, out, err = q.run(['-q'])
    check(rc == 0 and err == '', f'-q: exit {rc}, stderr {err!r}')
    left = sorted(os.listdir(tdir))
    want = sorted(['tmp.0000beef', 'fedcba9876543210fedcba9876543210', 'README',
                   '0123456789ABCDEF0123456789ABCDEF', '00000000000000000000000000000000'])
    check(left == want, f'after the sweep: {left}')
    check(os.readlink(link) == os.path.join(tdir, 'README') and
          os.path.exists(os.path.join(tdir, 'README')), 'the link or its target changed')
    q.clean()


# ---------------------------------------------------------------- crash windows

def crash_env(name):
    q = Env(name)
    return q


def t_crash_after_rename():
    q = crash_env('crash-rename')
    sink = Sink()
    q.set_port(sink.port)
    rc, _, _ = q.send('m1', binary=OPTS.postern_test, env={'POSTERN_CRASH': 'after-rename'})
    check(rc == -9, f'not killed: {rc}')
    check(sink.messages == [] and len(q.committed()) == 1, 'not queued before connecting')
    q.run(['-qf'])
    q.run(['-qf'])
    sink.close()
    check(sink.tags() == ['m1'], f'delivered: {sink.tags()}')
    WINDOWS.append(('after spool rename, before connect',
                    'killed; queued; delivered exactly once by the next -q'))
    q.clean()


def t_crash_after_dot():
    q = crash_env('crash-dot')
    sink = Sink()
    q.set_port(sink.port)
    rc, _, _ = q.send('m1', binary=OPTS.postern_test, env={'POSTERN_CRASH': 'after-dot'})
    check(rc == -9, f'not killed: {rc}')
    check(sink.tags() == ['m1'] and len(q.committed()) == 1, 'state')
    q.run(['-qf'])
    sink.close()
    check(sink.tags() == ['m1', 'm1'], f'delivered: {sink.tags()}')
    check(q.files() == [], f'files left: {q.files()}')
    WINDOWS.append(('after the 250 to ".", before the state rewrite',
                    'killed; still queued; delivered twice (the RFC 1047 duplicate, '
                    'documented), never lost'))
    q.clean()


def t_crash_mid_rewrite():
    # A deferral (server down): the old ID.env stays whole.
    q = crash_env('crash-mid')
    q.send('m1')
    before = open(os.path.join(q.queue, q.committed()[0])).read()
    rc, _, _ = q.run(['-qf'], binary=OPTS.postern_test, env={'POSTERN_CRASH': 'mid-rewrite'})
    check(rc == -9, f'not killed: {rc}')
    after = open(os.path.join(q.queue, q.committed()[0])).read()
    check(before == after, 'ID.env changed by an interrupted rewrite')
    check(any(f.startswith('tmp.') for f in q.files()), 'no partial tmp file (crash point missed?)')
    sink = Sink()
    q.set_port(sink.port)
    q.run(['-qf'])
    check(sink.tags() == ['m1'], f'delivered: {sink.tags()}')
    # After a partial delivery: the accepted recipient is sent again.
    base = sink.counts.get('RCPT', 0)
    sink.fail = lambda k, n: '451 4.2.0 greylisted' if k == 'RCPT' and n == base + 2 else None
    # The first rewrite is the commit; the second records the attempt.
    rc, _, _ = q.send('m2', rcpts=('a@example.net', 'b@example.net'),
                      binary=OPTS.postern_test, env={'POSTERN_CRASH': 'mid-rewrite:2'})
    check(rc == -9, f'not killed: {rc}')
    lq = q.mailq()
    check('<a@example.net> pending' in lq and '<b@example.net> pending' in lq, lq)
    sink.fail = lambda k, n: None
    q.run(['-qf'])
    sink.close()
    rc_a = sum(1 for _, r, d in sink.messages if tag_of(d) == 'm2' and 'a@example.net' in r)
    rc_b = sum(1 for _, r, d in sink.messages if tag_of(d) == 'm2' and 'b@example.net' in r)
    check(rc_b == 1 and rc_a == 2, f'a got {rc_a}, b got {rc_b}')
    WINDOWS.append(('in the middle of the state rewrite',
                    'old ID.env intact (rename is atomic); a deferral is retried '
                    'once; a recipient accepted just before is sent again (same '
                    'RFC 1047 class); the partial tmp file is swept after 1 h'))
    q.clean()


def t_crash_between_messages():
    q = crash_env('crash-between')
    for i in range(4):
        q.send(f'm{i}')
    sink = Sink()
    q.set_port(sink.port)
    rc, _, _ = q.run(['-qf'], binary=OPTS.postern_test,
                     env={'POSTERN_CRASH': 'between-messages:2'})
    check(rc == -9, f'not killed: {rc}')
    check(len(sink.messages) == 2 and len(q.committed()) == 2,
          f'{len(sink.messages)} sent, {len(q.committed())} left')
    q.run(['-qf'])
    sink.close()
    check(sorted(sink.tags()) == ['m0', 'm1', 'm2', 'm3'], f'delivered: {sink.tags()}')
    WINDOWS.append(('between two messages of a queue run',
                    'killed; the finished ones are gone, the rest delivered exactly '
                    'once by the next -q'))
    q.clean()


def verify_queue(q):
    """Every ID.env is complete and listed by mailq (no corrupt file)."""
    lq = q.mailq()
    for f in q.committed():
        check(f[:-4] in lq, f'{f} is not a readable queue file')
        with open(os.path.join(q.queue, f)) as fh:
            check(fh.read().endswith('\nend\n'), f'{f} is truncated')


def t_kill9_random():
    q = crash_env('kill9')
    sink = Sink()
    q.set_port(sink.port)
    rnd = random.Random(6)
    outcome = {}
    kills = 0
    for i in range(OPTS.trials):
        tag = f'k{i}'
        argv = [OPTS.postern, '-C', q.conf, 'rcpt@example.net']
        if i % 2 == 0:
            p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            p.stdin.write(message(tag, 2000))
            p.stdin.close()
            time.sleep(rnd.uniform(0, 0.006))
        else:
            # Kill a queue run instead; the message was queued first.
            sink.fail = lambda k, n: '451 4.3.0 later'
            r, _, _ = q.send(tag)
            sink.fail = lambda k, n: None
            outcome[tag] = ('queued', r)
            p = subprocess.Popen([OPTS.postern, '-C', q.conf, '-qf'],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rnd.uniform(0, 0.006))
        p.send_signal(signal.SIGKILL)
        rc = p.wait()
        kills += rc == -9
        if i % 2 == 0:
            outcome[tag] = ('submit', rc)
        verify_queue(q)
    for _ in range(3):
        q.run(['-qf'])
    sink.close()
    tags = sink.tags()
    dups = 0
    for tag, (kind, rc) in outcome.items():
        n = tags.count(tag)
        # Killed before its exit, a submission may have been lost to its
        # caller's knowledge; anything that exited 0 must arrive.  Every
        # copy beyond the first needs a kill in the RFC 1047 window.
        if not (kind == 'submit' and rc != 0):
            check(n >= 1, f'{tag}: exit {rc}, never delivered (lost)')
        dups += max(0, n - 1)
    check(dups <= kills, f'{dups} duplicates from {kills} kills')
    check(q.committed() == [], f'left in the queue: {q.committed()}')
    WINDOWS.append((f'kill -9 at random points ({OPTS.trials} trials, {kills} killed)',
                    f'no loss, no corrupt file; {dups} extra copies, each from a kill '
                    f'between the 250 and the rewrite (RFC 1047)'))
    q.clean()


# ---------------------------------------------------------------- disk full, concurrency

def t_disk_full():
    if os.geteuid() != 0:
        WINDOWS.append(('disk full', 'SKIPPED: needs root to mount a tmpfs'))
        print('ok disk-full (skipped: not root)')
        return
    mnt = tempfile.mkdtemp(prefix='postern-tmpfs.')
    p = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt],
                       capture_output=True)
    if p.returncode != 0:
        os.rmdir(mnt)
        print(f'ok disk-full (skipped: mount failed: {p.stderr.decode().strip()})')
        WINDOWS.append(('disk full', 'SKIPPED: tmpfs mount failed'))
        return
    try:
        q = Env('full', queue_dir=mnt)
        rc, _, err = q.run(['rcpt@example.net'], message('big', 200000))
        check(rc == 75, f'exit {rc}: {err}')
        check('No space left on device' in err, f'message: {err!r}')
        check(q.files() == [], f'files left: {q.files()}')
        WINDOWS.append(('disk full (64 KiB tmpfs spool, 200 KB message)',
                        f'exit 75, "{err.strip()}", no file left'))
        q.clean()
    finally:
        subprocess.run(['umount', mnt])
        os.rmdir(mnt)


def t_concurrency():
    q = Env('conc')
    # Some submissions are deferred, so the runners have work.
    sink = Sink(fail=lambda k, n: '451 4.3.0 busy' if k == 'MAIL' and n % 3 == 0 else None,
                delay=0.005)
    q.set_port(sink.port)
    stop = threading.Event()

    def runner():
        while not stop.is_set():
            subprocess.run([OPTS.postern, '-C', q.conf, '-qf'], capture_output=True)

    runners = [threading.Thread(target=runner) for _ in range(2)]
    for t in runners:
        t.start()
    procs = []
    for i in range(50):
        p = subprocess.Popen([OPTS.postern, '-C', q.conf, 'rcpt@example.net'],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        procs.append(p)
    for i, p in enumerate(procs):
        p.stdin.write(message(f'c{i}'))
        p.stdin.close()
    codes = [p.wait() for p in procs]
    time.sleep(0.5)
    stop.set()
    for t in runners:
        t.join()
    sink.fail = lambda k, n: None
    q.run(['-qf'])
    sink.close()
    check(codes == [0] * 50, f'exit codes: {codes}')
    tags = sink.tags()
    for i in range(50):
        check(tags.count(f'c{i}') == 1, f'c{i} delivered {tags.count(f"c{i}")} times')
    check(q.files() == [], f'files left: {q.files()}')
    q.clean()


# ---------------------------------------------------------------- issue 12: nothing lost, nothing silent

QUEUED = re.compile(r'postern: queued ([0-9A-F]{16}): (.*) \(next try in 5m(; this will not fix '
                    r'itself: check the configuration)?\)\n')


def t_quoted_space_through_queue():
    """A quoted local part with a space goes through the queue byte for
    byte (format 2 encodes it as xtext; version 1 split the line there)."""
    q = Env('quoted')
    rcpt = '"john doe"@example.net'
    rc, _, err = q.send('m1', rcpts=(rcpt,))
    check(rc == 0, f'{rc} {err!r}')
    check(f'<{rcpt}> deferred' in q.mailq(), q.mailq())
    srv = Scripted(q.work, 'cap PIPELINING\n')
    q.set_port(srv.port)
    rc, _, err = q.run(['-qf'])
    srv.stop()
    check(rc == 0, f'-qf: {rc} {err}')
    got = [l for l in srv.transcript().splitlines() if l.startswith('RCPT')]
    check(got == ['RCPT TO:<"john doe"@example.net>'], f'RCPT lines: {got}')
    check(q.files() == [], f'files left: {q.files()}')
    q.clean()


def t_rcpt_100000_queued():
    """100,000 recipients queued (an envelope of some 3 MB, over the 1 MiB
    that format 1 read back), then delivered: each RCPT once, in order."""
    q = Env('r100k')
    # As short as tests/cases/rcpt-100000-argv's: argv and the
    # environment share Linux's 2 MiB.
    rcpts = ['%05d@x.org' % i for i in range(100000)]
    rc, _, err = q.send('big', rcpts=rcpts, timeout=300)
    check(rc == 0, f'{rc} {err!r}')
    size = sum(os.path.getsize(os.path.join(q.queue, f)) for f in q.committed())
    check(size > 2 * 1024 * 1024, f'the envelope is only {size} bytes')
    sink = Sink()
    q.set_port(sink.port)
    rc, _, err = q.run(['-qf'], timeout=300)
    sink.close()
    check(rc == 0, f'-qf: {rc} {err}')
    check(len(sink.messages) == 1, f'{len(sink.messages)} messages')
    check(sink.messages[0][1] == rcpts, f'{len(sink.messages[0][1])} RCPTs, not the '
          'same ones in the same order')
    check(sink.counts.get('RCPT') == 100000, f'RCPT count {sink.counts.get("RCPT")}')
    check(q.files() == [], f'files left: {q.files()}')
    q.clean()


AUTHCONF = 'auth plain\nauth_allow_plaintext on\nuser alice\n'
AUTHSRV = 'cap PIPELINING\nauth PLAIN LOGIN\nuser alice s3cret-pw\n'


def queued_then_once(q, srv_script, fix, expect_line):
    """Submit (queued, the line said), fix the configuration, -qf: the
    message is delivered once, and a second -qf sends nothing."""
    srv = Scripted(q.work, srv_script)
    try:
        q.set_port(srv.port)
        rc, _, err = q.send('m1')
        m = QUEUED.fullmatch(err)
        check(rc == 0 and m, f'submission: exit {rc}, stderr {err!r}')
        check(expect_line(m), f'the queued line: {err!r}')
        check(m.group(1) + '.msg' in q.files(), f'{m.group(1)} is not queued: {q.files()}')
        check(srv.tags() == [], f'delivered at once: {srv.tags()}')
        q.set_port(srv.port, fix)
        for _ in range(2):
            rc, _, err = q.run(['-qf'])
            check(rc == 0, f'-qf: {rc} {err}')
    finally:
        srv.stop()
    check(srv.tags() == ['m1'], f'delivered: {srv.tags()}')
    check(q.files() == [], f'files left: {q.files()}')
    return srv, m


def t_auth_535_queued():
    q = Env('a535', AUTHCONF + 'password wrong-pw\n')
    srv, m = queued_then_once(
        q, AUTHSRV, AUTHCONF + 'password s3cret-pw\n',
        lambda m: m.group(2).startswith('account default (user alice): 127.0.0.1:') and
        m.group(2).endswith('authentication failed: 535 5.7.8 Authentication credentials '
                            'invalid') and m.group(3))
    q.clean()


def t_passwordeval_failure_queued():
    q = Env('peval', AUTHCONF + 'passwordeval exit 3\n')
    srv, m = queued_then_once(
        q, AUTHSRV, AUTHCONF + 'passwordeval echo s3cret-pw\n',
        lambda m: m.group(2) == f"{q.conf}:1: account 'default': passwordeval failed "
        '(status 3)' and m.group(3))
    q.clean()


def t_protocol_error_after_commit_queued():
    """A malformed reply to the final dot: the message stays queued."""
    q = Env('proto')
    sink = Sink(fail=lambda k, n: 'hello there' if k == 'DOT' and n == 1 else None)
    q.set_port(sink.port)
    rc, _, err = q.send('m1')
    m = QUEUED.fullmatch(err)
    check(rc == 0 and m and m.group(2).endswith('malformed reply: hello there') and
          not m.group(3), f'{rc} {err!r}')
    check(sink.tags() == [] and len(q.committed()) == 1, f'{sink.tags()} {q.files()}')
    for _ in range(2):
        rc, _, err = q.run(['-qf'])
        check(rc == 0, f'-qf: {rc} {err}')
    sink.close()
    check(sink.tags() == ['m1'], f'delivered: {sink.tags()}')
    check(q.files() == [], f'files left: {q.files()}')
    q.clean()


def t_refusal_told_once():
    """One recipient refused (exit 67, stderr), two deferred: when -qf
    delivers the two, no DSN names the refused one again."""
    q = Env('told')
    sink = Sink(fail=lambda k, n: '550 5.1.1 no such user' if k == 'RCPT' and n == 1 else
                '451 4.2.0 later' if k == 'RCPT' and n in (2, 3) else None)
    q.set_port(sink.port)
    rc, _, err = q.send('m1', rcpts=('bad@example.net', 'b@example.net', 'c@example.net'))
    check(rc == 67 and 'bad@example.net' in err, f'{rc} {err!r}')
    check(len(q.committed()) == 1, f'not queued: {q.files()}')
    rc, _, err = q.run(['-qf'])
    sink.close()
    check(rc == 0, f'-qf: {rc} {err}')
    got = [(s[:12], r) for s, r, d in sink.messages]
    check(got == [(b'MAIL FROM:<s', ['b@example.net', 'c@example.net'])],
          f'messages (a DSN would be MAIL FROM:<>): {got}')
    check(q.files() == [], f'files left: {q.files()}')
    q.clean()


V1_ENV = ('postern-queue 1\naccount default\nuid 0\ncreated {now}\nnext 0\nattempts 1\n'
          'held 0\ndsn 0\nerrmode 0\nsize {size}\neightbit 0\nmaxline 20\n'
          'from sender@example.org\nerror 451 later\n{rcpts}end\n')


def t_version1_files():
    """Files of queue format 1, written by hand: one as submitted, one
    with a recipient already sent; -qf delivers what is pending, once."""
    q = Env('v1')
    now = int(time.time())
    for i, rcpts in ((1, 'rcpt pending 0 a@example.net \nrcpt pending 451 b@example.net '
                      '451 4.2.0 greylisted\n'),
                     (2, 'rcpt sent 250 a@example.net 250 ok\nrcpt pending 0 c@example.net \n')):
        ident = f'{now:08X}0000000{i}'
        data = message(f'v{i}').replace(b'\n', b'\r\n')
        with open(os.path.join(q.queue, ident + '.msg'), 'wb') as f:
            f.write(data)
        with open(os.path.join(q.queue, ident + '.env'), 'w') as f:
            f.write(V1_ENV.format(now=now, size=len(data), rcpts=rcpts))
    lq = q.mailq()
    check('-- 2 messages' in lq and '<b@example.net> deferred' in lq, lq)
    sink = Sink()
    q.set_port(sink.port)
    rc, _, err = q.run(['-qf'])
    sink.close()
    check(rc == 0, f'-qf: {rc} {err}')
    got = sorted((tag_of(d), r) for _, r, d in sink.messages)
    check(got == [('v1', ['a@example.net', 'b@example.net']), ('v2', ['c@example.net'])],
          f'delivered: {got}')
    check(q.files() == [], f'files left: {q.files()}')
    q.clean()


def t_run_only_own_configuration():
    """A message belongs to the configuration it was submitted with: a
    run under another file, on the same queue directory, leaves it."""
    q = Env('ownconf')
    q.send('m1')
    other = os.path.join(q.work, 'other.conf')
    sink = Sink()
    with open(q.conf) as f:
        text = f.read()
    fd = os.open(other, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write(re.sub(r'port \d+', f'port {sink.port}', text))
    p = subprocess.run([OPTS.postern, '-C', other, '-qf'], capture_output=True)
    check(p.returncode == 0 and sink.tags() == [], f'{p.returncode} {p.stderr} {sink.tags()}')
    check(len(q.committed()) == 1, f'{q.files()}')
    q.set_port(sink.port)
    q.run(['-qf'])
    sink.close()
    check(sink.tags() == ['m1'] and q.files() == [], f'{sink.tags()} {q.files()}')
    q.clean()


def t_mailq_fields():
    """mailq per message: attempts, last attempt, its error, next
    attempt, held or not (TZ=UTC in every run)."""
    q = Env('mqfields')
    t0 = int(time.time())
    q.send('m1', rcpts=('a@example.net', '"john doe"@example.net'))
    t1 = int(time.time())
    lq = q.mailq()
    (ident,) = [f[:-4] for f in q.committed()]
    date = r'[A-Z][a-z]{2} [A-Z][a-z]{2} [ 1-3]\d \d\d:\d\d:\d\d'
    want = (rf'{ident} +\d+ {date}  <sender@example\.org>\n'
            r'    \(127\.0\.0\.1:\d+: connect: Connection refused\)\n'
            rf'    attempts 1, last ({date}), next ({date})\n'
            r'    <a@example\.net> deferred\n'
            r'    <"john doe"@example\.net> deferred\n'
            r'-- 1 message\n')
    m = re.fullmatch(want, lq)
    check(m, f'mailq:\n{lq}')
    last = time.strftime('%a %b %e %H:%M:%S', time.gmtime(t0))
    last1 = time.strftime('%a %b %e %H:%M:%S', time.gmtime(t1))
    check(m.group(1) in (last, last1), f'last attempt {m.group(1)}, not {last}')
    nxt = [time.strftime('%a %b %e %H:%M:%S', time.gmtime(t + 300)) for t in (t0, t1)]
    check(m.group(2) in nxt, f'next attempt {m.group(2)}, not {nxt}')
    rc, _, err = q.run(['--hold', ident])
    lq = q.mailq()
    check('(held)' in lq and f'attempts 1, last {m.group(1)}, held: no next attempt\n' in lq,
          f'held:\n{lq}')
    q.clean()


def t_mailq_json():
    """mailq --json (and -v): one object per message, every field."""
    q = Env('mqjson')
    t0 = int(time.time())
    q.send('m1', rcpts=('a@example.net', '"john doe"@example.net'))
    t1 = int(time.time())
    rc, out, err = q.run(['-bp', '--json'])
    check(rc == 0 and err == '', f'{rc} {err!r}')
    rc2, out2, _ = q.run(['-bp', '-v'])
    check(rc2 == 0 and out2 == out, f'-v is not --json: {out2!r}')
    lines = out.splitlines()
    check(len(lines) == 1, f'{len(lines)} lines: {out!r}')
    j = json.loads(lines[0])
    (ident,) = [f[:-4] for f in q.committed()]
    check(t0 <= j['created'] <= t1 and t0 <= j['last_attempt'] <= t1 and
          j['next_attempt'] == j['last_attempt'] + 300, f'times: {j}')
    for k in ('created', 'last_attempt', 'next_attempt'):
        j.pop(k)
    want = {'id': ident, 'version': 2, 'size': j['size'], 'from': 'sender@example.org',
            'account': 'default', 'conf': os.path.realpath(q.conf), 'conf_option': True,
            'uid': os.getuid(), 'attempts': 1, 'held': False, 'dsn': False,
            'error': j['error'],
            'recipients': [{'address': 'a@example.net', 'state': 'deferred', 'code': 0,
                            'text': None},
                           {'address': '"john doe"@example.net', 'state': 'deferred',
                            'code': 0, 'text': None}]}
    check(j == want, f'{j}\n!= {want}')
    check(re.fullmatch(r'127\.0\.0\.1:\d+: connect: Connection refused', j['error']),
          j['error'])
    check(j['size'] == os.path.getsize(os.path.join(q.queue, ident + '.msg')) -
          len(open(os.path.join(q.queue, ident + '.msg'), 'rb').read().split(
              b'\npostern-queue 2\n')[1]) - len(b'\npostern-queue 2\n') + 1, 'size')
    rc, out, _ = q.run(['-bp', '--json', '--max-age', '1h'])
    check(rc == 1 and out == lines[0] + '\n', f'{rc} {out!r}')
    q.clean()


def t_mailq_max_age():
    """--max-age AGE: 0 empty, 1 all younger, 2 one older; plain mailq 0."""
    q = Env('mqage')
    rc, out, _ = q.run(['-bp', '--max-age', '1h'])
    check(rc == 0 and out == 'Mail queue is empty\n', f'empty: {rc} {out!r}')
    q.send('m1')
    rc, out, _ = q.run(['-bp', '--max-age', '1h'])
    check(rc == 1 and '-- 1 message' in out, f'young: {rc} {out!r}')
    time.sleep(2.1)
    rc, out, _ = q.run(['-bp', '--max-age', '1s'])
    check(rc == 2 and '-- 1 message' in out, f'old: {rc} {out!r}')
    rc, _, _ = q.run(['-bp'])
    check(rc == 0, f'plain mailq: {rc}')
    rc, _, err = q.run(['-bp', '--max-age', 'soon'])
    check(rc == 64 and 'postern: --max-age: a duration such as 90s, 30m, 4h or 2d\n' in err,
          f'{rc} {err!r}')
    q.clean()


def t_dkim_key_missing_at_run():
    """The DKIM key gone when the queue runs: the run fails (78, naming
    the file) and sends nothing; the message stays, and once the key is
    back it is delivered, signed, once."""
    q = Env('dkimgone')
    key = os.path.join(q.work, 'dkim.pem')
    shutil.copyfile(os.path.join(TESTS, 'dkim', 'ed25519.pem'), key)
    os.chmod(key, 0o600)
    extra = f'dkim_domain example.org\ndkim_selector s\ndkim_key_file {key}\n'
    q.set_port(closed_port(), extra)
    rc, _, err = q.send('m1')
    check(rc == 0 and QUEUED.fullmatch(err), f'{rc} {err!r}')
    os.rename(key, key + '.away')
    sink = Sink()
    q.set_port(sink.port)
    rc, _, err = q.run(['-qf'])
    check(rc == 78 and key in err and sink.messages == [], f'{rc} {err!r} {sink.tags()}')
    check(len(q.committed()) == 1, f'not queued: {q.files()}')
    os.rename(key + '.away', key)
    for _ in range(2):
        rc, _, err = q.run(['-qf'])
        check(rc == 0, f'-qf: {rc} {err}')
    sink.close()
    check(sink.tags() == ['m1'] and sink.messages[0][2].startswith(b'DKIM-Signature: '),
          f'{sink.tags()}')
    check(q.files() == [], f'files left: {q.files()}')
    q.clean()


def t_queue_file_read_to_the_message_only():
    """Format 2's envelope follows the message in ID.msg: nothing reads
    past the message, not the 8BITMIME downgrade of a queue run, not the
    DSN's copy of the headers of a message without a body."""
    q = Env('bound')
    body = 'caf\u00e9 cr\u00e8me\n'.encode()
    data = (b'From: sender@example.org\nTo: rcpt@example.net\nSubject: 8bit\n'
            b'X-Tag: m8\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n'
            b'Content-Transfer-Encoding: 8bit\n\n' + body)
    rc, _, err = q.run(['rcpt@example.net'], data)
    check(rc == 0, f'{rc} {err}')
    srv = Scripted(q.work, 'cap PIPELINING\n')   # no 8BITMIME: downgrade
    q.set_port(srv.port)
    rc, _, err = q.run(['-qf'])
    srv.stop()
    check(rc == 0 and srv.tags() == ['m8'], f'{rc} {err} {srv.tags()}')
    with open(os.path.join(srv.dir, 'out', 'data.1'), 'rb') as f:
        sent = f.read()
    check(b'postern-queue' not in sent and max(sent) < 0x80 and
          b'caf=C3=A9 cr=C3=A8me' in sent, f'sent: {sent!r}')
    # Headers only, no blank line: the DSN quotes them, and no more.
    q2 = Env('bound-dsn', extra='queue_lifetime 1s')
    rc, _, err = q2.run(['rcpt@example.net'], b'Subject: no body\nX-Tag: nb')
    check(rc == 0, f'{rc} {err}')
    time.sleep(1.2)
    sink = Sink()
    q2.set_port(sink.port)
    q2.run(['-q'])
    sink.close()
    check(len(sink.messages) == 1, f'{len(sink.messages)} messages')
    dsn = sink.messages[0][2]
    check(b'postern-queue' not in dsn and b'rcpt pending' not in dsn, f'DSN: {dsn!r}')
    q.clean()
    q2.clean()


def main():
    global OPTS
    ap = argparse.ArgumentParser()
    ap.add_argument('--postern', required=True)
    ap.add_argument('--postern-test', required=True)
    ap.add_argument('--trials', type=int, default=100)
    ap.add_argument('--only', default='')
    OPTS = ap.parse_args()
    OPTS.postern = os.path.abspath(OPTS.postern)
    OPTS.postern_test = os.path.abspath(OPTS.postern_test)
    OPTS.only = set(x for x in OPTS.only.split(',') if x)
    os.makedirs(CERTS, exist_ok=True)
    subprocess.run(['sh', os.path.join(TESTS, 'mkcerts.sh'), CERTS], check=True,
                   stdout=subprocess.DEVNULL)
    for fn in (t_server_down, t_auth_deferred, t_mail_451, t_rcpt_451_one_of_three, t_data_451,
               t_421_mid_session, t_rset_between_messages, t_submission_flushes_queue,
               t_mailq_hold_release_delete, t_control_char_in_queue_file,
               t_queue_off_exits_75, t_spool_not_writable,
               t_permanent_failure_removes, t_oem_bounces_instead, t_expiry_dsn,
               t_expiry_null_sender_to_postmaster, t_backoff_doubles, t_sweeps_leftovers,
               t_sweeps_tls_cache, t_spool_syscalls,
               t_crash_after_rename, t_crash_after_dot, t_crash_mid_rewrite,
               t_crash_between_messages, t_kill9_random, t_disk_full, t_concurrency,
               t_quoted_space_through_queue, t_rcpt_100000_queued, t_auth_535_queued,
               t_passwordeval_failure_queued, t_protocol_error_after_commit_queued,
               t_refusal_told_once, t_version1_files, t_run_only_own_configuration,
               t_mailq_fields, t_mailq_json, t_mailq_max_age, t_dkim_key_missing_at_run,
               t_queue_file_read_to_the_message_only):
        test(fn)
    if WINDOWS:
        print('crash windows:')
        for w, r in WINDOWS:
            print(f'  {w}: {r}')
    passed = sum(1 for _, ok, _ in RESULTS if ok)
    failed = len(RESULTS) - passed
    print(f'queue: {passed} passed, {failed} failed')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
