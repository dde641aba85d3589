"""Helpers shared by the test drivers (tests/options, tests/syslog,
tests/clients, tests/bs, tests/dkim): the scripted server tests/smtpd.py
started and stopped around one run, postern (or a real client) run with
the environment of the integration cases, the envelope read back from the
transcript, and the ok/FAIL lines and closing count every driver prints.

Python 3 standard library only.
"""

import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile

TESTS = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(TESTS)
SMTPD = os.path.join(TESTS, 'smtpd.py')
SERVER_START = 30
SERVER_STOP = 10
RUN_TIMEOUT = 120

sys.path.insert(0, TESTS)
import runtests  # noqa: E402  (ensure_certs: smtpd.py needs the certificates)


def certs():
    return runtests.ensure_certs()


class Server:
    """tests/smtpd.py with SCRIPT (text), recording into TMP/srv."""

    def __init__(self, script, tmp, certdir):
        self.out = os.path.join(tmp, 'srv')
        os.makedirs(self.out, exist_ok=True)
        path = os.path.join(tmp, 'server')
        with open(path, 'w') as f:
            f.write(script)
        self.err = os.path.join(tmp, 'srv.stderr')
        with open(self.err, 'wb') as err:
            self.proc = subprocess.Popen(
                ['/usr/bin/python3', SMTPD, '--script', path, '--certs', certdir,
                 '--out', self.out], stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=err)
        ready, _, _ = select.select([self.proc.stdout], [], [], SERVER_START)
        line = self.proc.stdout.readline() if ready else b''
        self.proc.stdout.close()
        if not line.strip().isdigit():
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError('smtpd.py did not start: ' + read(self.err).decode())
        self.port = int(line)

    def stop(self):
        """SIGTERM and wait; a list of problems (empty when it behaved)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait(SERVER_STOP)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return ['smtpd.py did not exit after SIGTERM']
        problems = [f'smtpd.py exited {status}'] if status else []
        err = read(self.err)
        if err:
            problems.append('smtpd.py stderr: ' + err.decode('utf-8', 'replace'))
        return problems

    def transcript(self):
        return read(os.path.join(self.out, 'transcript')).decode('utf-8', 'replace')

    def envelope(self):
        """The MAIL and RCPT lines of the transcript, in order."""
        return [x for x in self.transcript().splitlines()
                if x.startswith(('MAIL ', 'RCPT '))]

    def data(self, n=1):
        path = os.path.join(self.out, f'data.{n}')
        return read(path) if os.path.exists(path) else None


class Tally:
    """What every driver prints: `ok NAME`, or `FAIL NAME` and each problem
    indented, and last `STAGE: N passed, N failed`."""

    def __init__(self):
        self.passed = self.failed = 0

    def report(self, name, problems):
        print(('FAIL ' if problems else 'ok ') + name)
        for p in problems:
            print('    ' + str(p).replace('\n', '\n    '))
        if problems:
            self.failed += 1
        else:
            self.passed += 1
        sys.stdout.flush()

    def done(self, stage):
        """The closing line; the driver's exit status."""
        print(f'{stage}: {self.passed} passed, {self.failed} failed')
        return 1 if self.failed else 0


def read(path):
    try:
        with open(path, 'rb') as f:
            return f.read()
    except FileNotFoundError:
        return b''


def write_conf(tmp, text, name='postern.conf'):
    path = os.path.join(tmp, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write(text)
    return path


def run(argv, stdin=b'', tmp=None, env=None, timeout=RUN_TIMEOUT):
    """Run argv as the integration cases run postern: TZ=UTC, LC_ALL=C,
    HOME and the working directory TMP.  Returns (status, stdout, stderr)."""
    e = dict(os.environ, TZ='UTC', LC_ALL='C')
    if tmp is not None:
        e['HOME'] = tmp
    if env:
        e.update(env)
    p = subprocess.run(argv, input=stdin, capture_output=True, env=e, cwd=tmp,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def tmpdir(name):
    return tempfile.mkdtemp(prefix=f'postern-{name}.')


def rmtree(path):
    shutil.rmtree(path, ignore_errors=True)
