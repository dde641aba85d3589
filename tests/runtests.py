#!/usr/bin/python3
"""Run postern's integration cases (tests/cases/NAME/) against tests/smtpd.py.

Usage: /usr/bin/python3 tests/runtests.py --postern PATH [--valgrind]
           [--tags TAG[,TAG...]] [-j N] [--keep] [CASEDIR...]

The case format is specified in tests/README.md.  Prints `ok NAME` or
`FAIL NAME` (with what differs) per case, in case order, then
`integration: N passed, N failed`; exits 1 if any case failed.

Python 3 standard library only.
"""

import argparse
import concurrent.futures
import difflib
import fcntl
import os
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

import leakcheck

TESTS = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(TESTS)
CASES = os.path.join(TESTS, 'cases')
CERTS = os.path.join(TESTS, '.certs')
SMTPD = os.path.join(TESTS, 'smtpd.py')

POSTERN_TIMEOUT = 120   # seconds a postern run may take
SERVER_START = 30       # seconds smtpd.py may take to print its port
SERVER_STOP = 10        # seconds smtpd.py may take to exit after SIGTERM
DIFF_LINES = 60         # lines of a diff shown per file

VALGRIND = ['valgrind', '-q', '--error-exitcode=99', '--leak-check=full',
            '--errors-for-leak-kinds=definite', '--show-leak-kinds=definite',
            '--trace-children=yes']


def ensure_certs():
    """Make the certificates once (tests/.certs/), safe against parallel callers."""
    os.makedirs(CERTS, exist_ok=True)
    with open(os.path.join(CERTS, '.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run(['sh', os.path.join(TESTS, 'mkcerts.sh'), CERTS], check=True)
    return CERTS


def cert_facts(certs):
    """@FPR_NAME@ (SHA-256, AB:CD:...) and @NOTAFTER_NAME@ (as OpenSSL
    prints it) of each test certificate: they change with every mkcerts."""
    subs = {}
    for name in ('good', 'expired', 'notyet', 'wronghost', 'selfsigned', 'ca'):
        out = subprocess.run(
            ['openssl', 'x509', '-noout', '-fingerprint', '-sha256', '-enddate',
             '-in', os.path.join(certs, name + '.pem')],
            check=True, capture_output=True, text=True).stdout
        for line in out.splitlines():
            key, _, value = line.partition('=')
            if 'Fingerprint' in key:
                subs[f'@FPR_{name.upper()}@'.encode()] = value.encode()
            elif key == 'notAfter':
                subs[f'@NOTAFTER_{name.upper()}@'.encode()] = value.encode()
    return subs


def closed_port():
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def read(path, default=None):
    try:
        with open(path, 'rb') as f:
            return f.read()
    except FileNotFoundError:
        return default


def show(line):
    """One line of a diff: as text when it is plain text ending in LF, else repr()."""
    if line.endswith(b'\n'):
        try:
            text = line[:-1].decode('utf-8')
        except UnicodeDecodeError:
            pass
        else:
            if not any((ord(c) < 0x20 and c != '\t') or ord(c) == 0x7f for c in text):
                return text
    return repr(line)


def diff(name, expected, actual):
    """A short unified diff of two byte strings, as a list of lines ([] if equal)."""
    if expected == actual:
        return []
    lines = list(difflib.unified_diff(
        [show(x) for x in expected.splitlines(keepends=True)],
        [show(x) for x in actual.splitlines(keepends=True)],
        f'expected {name}', f'actual {name}', n=2, lineterm=''))
    if len(lines) > DIFF_LINES:
        lines = lines[:DIFF_LINES] + [f'... ({len(lines) - DIFF_LINES} more diff lines)']
    return lines


def anylines(expected, actual):
    """expected with each line @ANYLINE@ replaced by the line of actual at
    the same place, when both have as many lines."""
    if b'@ANYLINE@' not in expected:
        return expected
    sep = b'\r\n' if b'\r\n' in expected else b'\n'
    exp, act = expected.split(sep), actual.split(sep)
    if len(exp) != len(act):
        return expected
    return sep.join(a if e == b'@ANYLINE@' else e for e, a in zip(exp, act))


def dkim_keys(tmp):
    """@DKIM@: the test keys of tests/dkim with the mode a key needs (git
    keeps none), and open.pem, a key that others may read."""
    keys = os.path.join(tmp, 'dkim')
    os.mkdir(keys, 0o700)
    src = os.path.join(SRCDIR, 'tests', 'dkim')
    for name in os.listdir(src):
        if name.endswith('.pem'):
            shutil.copyfile(os.path.join(src, name), os.path.join(keys, name))
            os.chmod(os.path.join(keys, name), 0o600)
    shutil.copyfile(os.path.join(src, 'ed25519.pem'), os.path.join(keys, 'open.pem'))
    os.chmod(os.path.join(keys, 'open.pem'), 0o644)
    return keys


class Case:
    """One case directory, run in its own temporary directory."""

    def __init__(self, path, opts):
        self.path = os.path.abspath(path)
        self.name = os.path.basename(self.path.rstrip('/'))
        self.opts = opts
        self.tags = set(read(self.file('tags'), b'').decode('utf-8').split())

    def file(self, *names):
        return os.path.join(self.path, *names)

    def gen(self, *names, default=None):
        """A case file; where it is missing and NAME.py is there, the
        standard output of NAME.py (run in its directory): big inputs and
        expectations are generated, not committed."""
        path = self.file(*names)
        data = read(path)
        if data is None and os.path.exists(path + '.py'):
            data = subprocess.run([sys.executable, '-B', path + '.py'], cwd=os.path.dirname(path),
                                  stdout=subprocess.PIPE, check=True,
                                  timeout=POSTERN_TIMEOUT).stdout
        return default if data is None else data

    def subst(self, data):
        for key, value in self.subs.items():
            data = data.replace(key, value)
        return data

    def run(self):
        """Run the case; return (passed, report lines)."""
        self.tmp = tempfile.mkdtemp(prefix=f'postern-{self.name}.')
        self.server = None
        try:
            problems = self.execute()
        except Exception as e:  # a broken case or environment, not a crash of ours
            problems = [f'error: {type(e).__name__}: {e}']
        finally:
            if self.server is not None and self.server.poll() is None:
                self.server.kill()
                self.server.wait()
        if not self.opts.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return not problems, problems
        return not problems, problems + [f'kept: {self.tmp}']

    def execute(self):
        problems = []
        cmd = self.gen('cmd')
        expect_exit = self.gen('expect', 'exit')
        if cmd is None or expect_exit is None:
            return ['bad case: cmd and expect/exit are required']
        srv = os.path.join(self.tmp, 'srv')
        os.mkdir(srv)
        os.mkdir(os.path.join(self.tmp, 'queue'), 0o700)
        self.subs = {
            b'@TMP@': self.tmp.encode(),
            b'@CONF@': os.path.join(self.tmp, 'postern.conf').encode(),
            b'@CA@': os.path.join(self.opts.certs, 'ca.pem').encode(),
            b'@CERTS@': self.opts.certs.encode(),
            b'@SRCDIR@': SRCDIR.encode(),
            b'@DKIM@': dkim_keys(self.tmp).encode(),
        }
        self.subs.update(self.opts.cert_subs)

        script = self.file('server')
        if os.path.exists(script):
            port, error = self.start_server(script, srv)
            if error:
                return [error]
        else:
            port = closed_port()
        self.subs[b'@PORT@'] = str(port).encode()

        conf = read(self.file('conf'))
        if conf is not None:
            fd = os.open(os.path.join(self.tmp, 'postern.conf'),
                         os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, 'wb') as f:
                f.write(self.subst(conf))

        problems += self.before()
        if problems:
            if self.server is not None:
                problems += self.stop_server()
            return problems
        status, stdout, stderr, run_problems = self.run_postern(
            shlex.split(self.subst(cmd).decode('utf-8')), self.gen('input', default=b''))
        problems += run_problems
        if self.server is not None:
            problems += self.stop_server()
        problems += leakcheck.check_run(self.tmp, [('stderr', stderr), ('stdout', stdout)])

        # @QUEUEID@: the id of the one message left in the queue, which
        # the stderr line "postern: queued ID: ..." must name.
        left = [f[:-4] for f in os.listdir(os.path.join(self.tmp, 'queue'))
                if f.endswith('.msg') and not f.startswith('tmp.')]
        if len(left) == 1:
            self.subs[b'@QUEUEID@'] = left[0].encode()
        expected = int(expect_exit.decode().strip())
        if status != expected:
            got = f'signal {-status}' if status < 0 else str(status)
            problems.append(f'exit: expected {expected}, got {got}')
        problems += self.compare('stderr', stderr)
        problems += self.compare('stdout', stdout)
        if self.server is not None:
            problems += self.compare('transcript', read(os.path.join(srv, 'transcript'), b''))
        elif self.gen('expect', 'transcript', default=b''):
            problems.append('expect/transcript is not empty but the case has no server')
        problems += self.compare_data(srv)
        return problems

    def before(self):
        """The steps of the file `before`, in order, each of which must
        succeed: `run ARGS` runs postern with the case's input (what it
        prints is not compared, but searched for secrets), `sh COMMAND`
        runs /bin/sh -c COMMAND in @TMP@.  For what needs earlier runs: a
        TLS session cached by one run and used by the next."""
        problems = []
        steps = self.subst(read(self.file('before'), b'')).decode('utf-8')
        for step in steps.splitlines():
            word, _, rest = step.strip().partition(' ')
            if word == 'run':
                args = shlex.split(rest)
                status, out, err, p = self.run_postern(args, self.gen('input', default=b''))
                # the configuration the step names (-C) is no output
                confs = tuple(os.path.relpath(args[i + 1], self.tmp)
                              for i in range(len(args) - 1) if args[i] == '-C')
                problems += p + leakcheck.check_run(self.tmp, [('stderr', err), ('stdout', out)],
                                                    exclude=leakcheck.EXCLUDE + confs)
                if status != 0:
                    problems.append(f'before: {step}: exit {status}: '
                                    + err.decode('utf-8', 'replace').strip())
            elif word == 'sh':
                proc = subprocess.run(['/bin/sh', '-c', rest], cwd=self.tmp,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                if proc.returncode != 0:
                    problems.append(f'before: {step}: exit {proc.returncode}: '
                                    + proc.stdout.decode('utf-8', 'replace').strip())
            elif word and not word.startswith('#'):
                problems.append(f'bad case: before: unknown step {step!r}')
            if problems:
                break
        return problems

    def start_server(self, script, srv):
        """Start smtpd.py, or the server named in the case's file
        server-program (a script in tests/ with smtpd.py's command line and
        output: renegserver.py); return (port, None) or (None, error text)."""
        prog = read(self.file('server-program'))
        prog = SMTPD if prog is None else os.path.join(os.path.dirname(SMTPD),
                                                       prog.decode().strip())
        with open(os.path.join(self.tmp, 'srv.stderr'), 'wb') as err:
            self.server = subprocess.Popen(
                [sys.executable, prog, '--script', script, '--certs', self.opts.certs,
                 '--out', srv], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        ready, _, _ = select.select([self.server.stdout], [], [], SERVER_START)
        line = self.server.stdout.readline() if ready else b''
        self.server.stdout.close()
        if not line.strip().isdigit():
            self.server.kill()
            self.server.wait()
            err = read(os.path.join(self.tmp, 'srv.stderr'), b'').decode('utf-8', 'replace')
            return None, 'smtpd.py did not start: ' + (err.strip() or repr(line))
        return int(line), None

    def stop_server(self):
        """SIGTERM smtpd.py and wait; problems if it misbehaved."""
        self.server.send_signal(signal.SIGTERM)
        try:
            status = self.server.wait(SERVER_STOP)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait()
            return [f'smtpd.py did not exit within {SERVER_STOP} s of SIGTERM']
        problems = []
        if status != 0:
            problems.append(f'smtpd.py exited with status {status}')
        err = read(os.path.join(self.tmp, 'srv.stderr'), b'')
        if err:
            problems.append('smtpd.py wrote on stderr:')
            problems += ['  ' + x for x in err.decode('utf-8', 'replace').splitlines()]
        return problems

    def run_postern(self, args, stdin):
        """Run postern (under valgrind for `core` cases with --valgrind)."""
        argv = [self.opts.postern] + args
        valgrind = self.opts.valgrind and 'core' in self.tags
        if valgrind:
            log = os.path.join(self.tmp, 'valgrind.%p.log')
            argv = VALGRIND + [f'--log-file={log}'] + argv
        env = dict(os.environ, TZ='UTC', LC_ALL='C', HOME=self.tmp)
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, cwd=self.tmp,
                                start_new_session=True)
        problems = []
        try:
            stdout, stderr = proc.communicate(stdin, timeout=POSTERN_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
            problems.append(f'postern did not finish within {POSTERN_TIMEOUT} s (killed)')
        if valgrind:
            logs = sorted(f for f in os.listdir(self.tmp) if re.fullmatch(r'valgrind\.\d+\.log', f))
            report = b''.join(read(os.path.join(self.tmp, f), b'') for f in logs)
            if proc.returncode == 99 or report:
                problems.append('valgrind reported errors:')
                problems += ['  ' + x for x in report.decode('utf-8', 'replace').splitlines()]
        return proc.returncode, stdout, stderr, problems

    def compare(self, name, actual):
        """Compare with expect/NAME (empty when missing).  In a transcript a
        line @ANYLINE@ stands for one line whose bytes are random by design
        (a SCRAM nonce and proof); it must still be there."""
        expected = self.subst(self.gen('expect', name, default=b''))
        if name == 'transcript':
            expected = anylines(expected, actual)
        return diff(name, expected, actual)

    def compare_data(self, srv):
        """expect/data and expect/data.N against the server's data.N files."""
        expected, actual = {}, {}
        for f in os.listdir(self.file('expect')):
            m = re.fullmatch(r'(data(?:\.(\d+))?)(?:\.py)?', f)
            if m:
                expected[int(m.group(2) or 1)] = self.subst(self.gen('expect', m.group(1)))
        for f in os.listdir(srv):
            m = re.fullmatch(r'data\.(\d+)', f)
            if m:
                actual[int(m.group(1))] = read(os.path.join(srv, f))
        problems = []
        for n in sorted(set(expected) | set(actual)):
            name = f'data.{n}'
            if n not in actual:
                problems.append(f'{name}: expected, but no message {n} arrived')
            elif n not in expected:
                problems.append(f'{name}: a message arrived that the case does not expect')
                problems += diff(name, b'', actual[n])
            else:
                problems += diff(name, anylines(expected[n], actual[n]), actual[n])
        return problems


def main():
    ap = argparse.ArgumentParser(description="Run postern's integration cases.")
    ap.add_argument('--postern', required=True, help='the postern binary to test')
    ap.add_argument('--valgrind', action='store_true',
                    help='run postern under valgrind memcheck in the cases tagged core')
    ap.add_argument('--tags', action='append', default=[],
                    help='run only the cases with one of these tags (comma-separated)')
    ap.add_argument('-j', type=int, default=os.cpu_count() or 1, help='cases run in parallel')
    ap.add_argument('--keep', action='store_true', help='keep and print the temporary dirs')
    ap.add_argument('cases', nargs='*', metavar='CASEDIR', help='default: all of tests/cases')
    opts = ap.parse_args()

    opts.postern = os.path.abspath(opts.postern)
    if not os.access(opts.postern, os.X_OK):
        ap.error(f'not an executable: {opts.postern}')
    opts.certs = ensure_certs()
    opts.cert_subs = cert_facts(opts.certs)

    paths = opts.cases or sorted(os.path.join(CASES, d) for d in os.listdir(CASES)
                                 if os.path.isdir(os.path.join(CASES, d)))
    cases = [Case(p, opts) for p in paths]
    wanted = {t for arg in opts.tags for t in arg.split(',') if t}
    if wanted:
        cases = [c for c in cases if c.tags & wanted]

    passed = failed = 0
    with concurrent.futures.ThreadPoolExecutor(max(1, opts.j)) as pool:
        for case, (ok, report) in zip(cases, pool.map(Case.run, cases)):
            print(('ok ' if ok else 'FAIL ') + case.name)
            for line in report:
                print('    ' + line)
            sys.stdout.flush()
            passed, failed = passed + ok, failed + (not ok)
    print(f'integration: {passed} passed, {failed} failed')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
