#!/usr/bin/python3
"""postern -qINTERVAL, the long-running queue runner (issue 14).

Usage: /usr/bin/python3 tests/runner/run.py --postern PATH [NAME...]

Each row starts its own runner on a queue of its own, against tests/smtpd.py
or, where the server must be slow, a small sink of this file:

- the interval syntax: accepted forms and every malformed one (exit 64,
  one line naming it), a selector with an interval (64);
- what is queued before the runner starts is delivered by its first run;
- a message queued while `-q1h` runs is delivered within seconds: only the
  inotify wake-up can do that, the interval is an hour away;
- SIGTERM and SIGINT stop it with exit 0, and one that comes while a
  message is on the wire (the sink holds its reply to the final dot) is
  obeyed after that message: it is delivered once and gone from the queue,
  the next one is not started and stays queued, unlocked, and a later
  `postern -q` delivers it;
- the log lines go to standard error without a logfile, to the logfile
  with one (and then not to standard error).

Prints `ok NAME` or `FAIL NAME`, then `runner: N passed, N failed`.
Python 3 standard library only.
"""

import argparse
import fcntl
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness  # noqa: E402

OPTS = None
WAIT = 10       # seconds a runner gets to do something that takes it < 1 s

MSG = (b'From: sender@example.org\nTo: rcpt@example.net\nSubject: runner\n'
       b'Date: Mon, 1 Jan 2024 00:00:00 +0000\n'
       b'Message-ID: <runner@example.org>\n\nhello\n')

# The line a runner writes first, and last on a signal ("-" logfile form).
STAMP = r'[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d postern\[\d+\]: '


class Work:
    """A directory with a queue and a configuration for the server's port."""

    def __init__(self, name, port, extra=''):
        self.dir = harness.tmpdir('runner-' + name)
        self.queue = os.path.join(self.dir, 'queue')
        os.mkdir(self.queue, 0o700)
        self.conf = harness.write_conf(self.dir, (
            f'account default\nhost 127.0.0.1\nport {port}\n'
            f'domain client.example\nfrom sender@example.org\ntls off\n'
            f'timeout 10\nsyslog off\nqueue_dir {self.queue}\n{extra}'))

    def postern(self, args, stdin=b''):
        return harness.run([OPTS.postern, '-C', self.conf] + args, stdin,
                           tmp=self.dir)

    def queue_only(self):
        """A message queued and not tried (-odq): only a runner delivers it."""
        rc, _, err = self.postern(['-odq', 'rcpt@example.net'], MSG)
        return [] if rc == 0 else [f'-odq exited {rc}: {err!r}']

    def start(self, interval):
        self.err = os.path.join(self.dir, 'runner.stderr')
        with open(self.err, 'wb') as f:
            self.proc = subprocess.Popen(
                [OPTS.postern, '-C', self.conf, '-q' + interval],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=f,
                env=dict(os.environ, TZ='UTC', LC_ALL='C', HOME=self.dir),
                cwd=self.dir)
        return self.until(lambda: 'running the queue' in self.stderr(),
                          'the runner never said it started')

    def stderr(self):
        return harness.read(self.err).decode('utf-8', 'replace')

    def stop(self, sig=signal.SIGTERM):
        """Signal the runner; problems unless it exits 0 within WAIT."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return [f'still running {WAIT} s after signal {sig}']
        return [] if rc == 0 else [f'the runner exited {rc}: {self.stderr()!r}']

    def until(self, cond, what, limit=WAIT):
        t = time.monotonic() + limit
        while time.monotonic() < t:
            if cond():
                return []
            if self.proc.poll() is not None:
                return [f'{what}: the runner exited {self.proc.returncode}: '
                        f'{self.stderr()!r}']
            time.sleep(0.05)
        return [f'{what} (after {limit} s)']

    def left(self):
        """Problems for every file still in the queue, or a lock held."""
        problems = []
        for f in sorted(os.listdir(self.queue)):
            problems.append(f'left in the queue: {f}')
            with open(os.path.join(self.queue, f), 'rb') as fh:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    problems.append(f'still locked: {f}')
        return problems

    def clean(self):
        harness.rmtree(self.dir)


def usage_rows(t):
    """Every malformed interval: 64, one line naming it, no run."""
    bad = {
        '-q5x': 'unknown option -q5x',
        '-q0': '-q 0: expected an interval',
        '-q0m0s': '-q 0m0s: expected an interval',
        '-q1h30x': 'unknown option -q1h30x',
        '-q1m-5s': 'unknown option -q1m-5s',
        '-qm': '-q m: expected an interval',
        '-q367d': '-q 367d: expected an interval',
        '-q99999999999999999999s': '-q 99999999999999999999s: expected an interval',
        '-qf30m': '-q with an interval runs what is due',
        '-q30m -qIABC': '-q with an interval runs what is due',
    }
    w = Work('usage', 9)
    for arg, want in bad.items():
        rc, out, err = w.postern(arg.split())
        lines = err.decode().splitlines()
        problems = []
        if rc != 64:
            problems.append(f'exit {rc}, expected 64')
        if not lines or want not in lines[0] or len(lines) != 2 or \
                not lines[1].startswith('usage:'):
            problems.append(f'stderr {err!r}, expected a line with {want!r} '
                            'and the usage line')
        if out or os.listdir(w.queue):
            problems.append('it ran')
        t.report('interval-bad ' + arg, problems)
    w.clean()


def good_intervals(t):
    """Forms sendmail accepts; the runner says the interval in seconds."""
    srv = harness.Server('', harness.tmpdir('runner-srv'), harness.certs())
    for arg, secs in (('30m', 1800), ('1h30m', 5400), ('15', 900),
                      ('2d', 172800), ('1h30', 5400), ('1w', 604800), ('90s', 90)):
        w = Work('good', srv.port)
        problems = w.start(arg)
        problems += w.stop()
        want = f'running the queue {w.queue} every {secs}s and on each new message'
        if want not in w.stderr():
            problems.append(f'stderr {w.stderr()!r} lacks {want!r}')
        t.report('interval-good -q' + arg, problems)
        w.clean()
    srv.stop()


def first_run(t):
    """Queued before the runner starts: delivered by its first run."""
    tmp = harness.tmpdir('runner-srv')
    srv = harness.Server('', tmp, harness.certs())
    w = Work('first', srv.port)
    problems = w.queue_only()
    problems += w.start('1h')
    problems += w.until(lambda: srv.data(1) is not None and
                        not os.listdir(w.queue), 'not delivered')
    problems += w.stop()
    problems += srv.stop()
    if srv.envelope() != ['MAIL FROM:<sender@example.org>',
                          'RCPT TO:<rcpt@example.net>']:
        problems.append(f'envelope {srv.envelope()}')
    problems += w.left()
    t.report('first-run', problems)
    w.clean()
    harness.rmtree(tmp)


def inotify_wakes(t):
    """-q1h and a message queued meanwhile: delivered within seconds."""
    tmp = harness.tmpdir('runner-srv')
    srv = harness.Server('', tmp, harness.certs())
    w = Work('inotify', srv.port)
    problems = w.start('1h')
    # Long after the first run: the wake-up is at once, while the
    # submission still holds its lock on the message.
    time.sleep(1.5)
    t0 = time.monotonic()
    problems += w.queue_only()
    problems += w.until(lambda: srv.data(1) is not None and
                        not os.listdir(w.queue), 'not delivered', limit=5)
    took = time.monotonic() - t0
    # A second one, to show the runner keeps watching after a run.
    time.sleep(1.5)
    problems += w.queue_only()
    problems += w.until(lambda: srv.data(2) is not None and
                        not os.listdir(w.queue), 'second not delivered', limit=5)
    problems += w.stop()
    problems += srv.stop()
    if srv.transcript().count('* connect') != 2:
        problems.append('not one connection per message: ' + srv.transcript())
    problems += w.left()
    err = w.stderr()
    lines = err.splitlines()
    # The runner's lines and each message's summary, on stderr.
    want = [f'running the queue {w.queue} every 3600s and on each new message',
            'status=sent (250 2.0.0 Ok: queued as TEST1)',
            'status=sent (250 2.0.0 Ok: queued as TEST2)',
            'queue runner stopped by a signal']
    if len(lines) != len(want) or any(
            not re.match(STAMP, x) or y not in x for x, y in zip(lines, want)):
        problems.append(f'stderr {err!r}')
    t.report(f'inotify-wakes (delivered {took:.2f} s after queueing)', problems)
    w.clean()
    harness.rmtree(tmp)


class SlowSink:
    """An SMTP server that holds its reply to the final dot for HOLD
    seconds and says on `dot` when the dot has come."""

    HOLD = 1.5

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(5)
        self.port = self.sock.getsockname()[1]
        self.dot = threading.Event()
        self.messages = 0
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c, c.makefile('rb') as f:
                c.sendall(b'220 slow ESMTP\r\n')
                data = False
                for line in f:
                    if data:
                        if line == b'.\r\n':
                            data = False
                            self.dot.set()
                            time.sleep(self.HOLD)
                            self.messages += 1
                            c.sendall(b'250 2.0.0 Ok\r\n')
                        continue
                    verb = line[:4].upper()
                    if verb == b'QUIT':
                        c.sendall(b'221 2.0.0 Bye\r\n')
                        break
                    if verb == b'DATA':
                        data = True
                        c.sendall(b'354 go on\r\n')
                    elif verb == b'EHLO':
                        c.sendall(b'250 slow\r\n')
                    else:
                        c.sendall(b'250 2.0.0 Ok\r\n')

    def close(self):
        self.sock.close()


def sigterm_mid_message(t, sig):
    """Two messages queued; the signal comes while the reply to the first
    one's "." is awaited.  That message is finished (delivered once,
    removed), the second is not started and stays queued, unlocked, and the
    runner exits 0.  A later run delivers the second."""
    sink = SlowSink()
    w = Work('sigterm', sink.port)
    problems = w.queue_only() + w.queue_only()
    problems += w.start('1h')
    if not sink.dot.wait(WAIT):
        problems.append('the message never reached the final dot')
    w.proc.send_signal(sig)
    problems += w.stop(sig)
    if sink.messages != 1:
        problems.append(f'{sink.messages} messages delivered, expected 1')
    files = sorted(os.listdir(w.queue))
    # One committed message: ID.msg (queue format 2), with its ID.env
    # when its state was rewritten.
    ids = {f.split('.')[0] for f in files}
    if len(ids) != 1 or f'{min(ids)}.msg' not in files or \
            not set(files) <= {f'{min(ids)}.msg', f'{min(ids)}.env'}:
        problems.append(f'the queue holds {files}, expected one message')
    for f in files:
        with open(os.path.join(w.queue, f), 'rb') as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                problems.append(f'still locked: {f}')
    # Nothing half-done: a later run delivers the rest, once.
    rc, out, err = w.postern(['-q'])
    if rc != 0 or out or err:
        problems.append(f'-q afterwards: {rc} {out!r} {err!r}')
    if sink.messages != 2:
        problems.append(f'{sink.messages} delivered in all, expected 2')
    problems += w.left()
    sink.close()
    name = signal.Signals(sig).name
    t.report(f'{name.lower()}-mid-message', problems)
    w.clean()


def idle_signals(t):
    """An idle runner stops at once on SIGTERM and on SIGINT, exit 0."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        w = Work('idle', 9)
        problems = w.start('1h')
        t0 = time.monotonic()
        problems += w.stop(sig)
        if time.monotonic() - t0 > 2:
            problems.append('slow to stop')
        if not w.stderr().rstrip().endswith('queue runner stopped by a signal'):
            problems.append(f'stderr {w.stderr()!r}')
        t.report(f'idle-{signal.Signals(sig).name.lower()}', problems)
        w.clean()


def logfile(t):
    """With a logfile, the lines go there and standard error stays empty."""
    tmp = harness.tmpdir('runner-srv')
    srv = harness.Server('', tmp, harness.certs())
    w = Work('logfile', srv.port, 'logfile @LOG@\n')
    log = os.path.join(w.dir, 'runner.log')
    with open(w.conf) as f:
        text = f.read().replace('@LOG@', log)
    harness.write_conf(w.dir, text)
    problems = w.queue_only()
    with open(os.path.join(w.dir, 'runner.stderr'), 'wb') as f:
        w.err = f.name
        w.proc = subprocess.Popen([OPTS.postern, '-C', w.conf, '-q1h'],
                                  stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=f,
                                  env=dict(os.environ, TZ='UTC', LC_ALL='C'))
    problems += w.until(lambda: srv.data(1) is not None and
                        not os.listdir(w.queue), 'not delivered')
    problems += w.stop()
    problems += srv.stop()
    text = harness.read(log).decode()
    lines = text.splitlines()
    want = ['status=deferred (queued by -odq, not sent yet)',
            'running the queue', 'status=sent (250 2.0.0 Ok: queued as TEST1)',
            'queue runner stopped by a signal']
    if len(lines) != 4 or any(not re.match(STAMP, x) or y not in x
                              for x, y in zip(lines, want)):
        problems.append(f'logfile {text!r}')
    if w.stderr():
        problems.append(f'stderr {w.stderr()!r}')
    t.report('logfile', problems)
    w.clean()
    harness.rmtree(tmp)


ROWS = {
    'usage': usage_rows,
    'good': good_intervals,
    'first-run': first_run,
    'inotify': inotify_wakes,
    'sigterm': lambda t: sigterm_mid_message(t, signal.SIGTERM),
    'sigint': lambda t: sigterm_mid_message(t, signal.SIGINT),
    'idle': idle_signals,
    'logfile': logfile,
}


def main():
    global OPTS
    ap = argparse.ArgumentParser()
    ap.add_argument('--postern', required=True)
    ap.add_argument('names', nargs='*')
    OPTS = ap.parse_args()
    t = harness.Tally()
    for name, fn in ROWS.items():
        if not OPTS.names or name in OPTS.names:
            fn(t)
    return t.done('runner')


if __name__ == '__main__':
    sys.exit(main())
