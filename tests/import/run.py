#!/usr/bin/python3
"""postern --import: other programs' configurations as postern.conf (issue 14).

Usage: /usr/bin/python3 tests/import/run.py --postern PATH [--update] [NAME...]

A case is a directory tests/import/cases/NAME/ holding the other program's
files as that program ships or people write them, and:

| file | meaning |
| --- | --- |
| `args` | the words after `--import` (shlex), file names relative to the case |
| `home/` | HOME for the run (msmtp's ~/.msmtprc); else HOME is the case copy |
| `root/etc/` | the run sees this as /etc (`unshare -m`, a tmpfs on /etc): the default paths, no file named |
| `expect/exit` | the exit status (0 when missing) |
| `expect/stdout`, `expect/stderr` | exact; empty when missing.  `@DIR@` is the case copy |

Each case runs in a copy of its directory, which is the working directory.
Besides the exact output, every case that exits 0 is loaded by postern
itself: written to a file of mode 0600 and run with `-C FILE -bv
someone@example.org` inside `unshare -n` (the files name real-looking hosts;
nothing may reach them), which must exit 0 and print the address.  A
result that holds a password is also written mode 0644, which postern must
refuse (78): the heading of the output says so.  A case that fails prints
nothing on standard output.

`--update` rewrites expect/stdout and expect/stderr from the run (review
the diff).  Prints `ok NAME` or `FAIL NAME`, then `import: N passed, N
failed`.  Python 3 standard library only; root (unshare).
"""

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness  # noqa: E402

CASES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'cases')
OPTS = None


def read(path, default=''):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return default


def run_import(case, work):
    """postern --import ARGS in work; (status, stdout, stderr)."""
    args = shlex.split(read(os.path.join(case, 'args')))
    argv = [OPTS.postern, '--import'] + args
    home = os.path.join(work, 'home')
    env = dict(os.environ, TZ='UTC', LC_ALL='C',
               HOME=home if os.path.isdir(home) else work)
    if os.path.isdir(os.path.join(work, 'root', 'etc')):
        # The default paths: this case's etc/ is /etc, in a mount
        # namespace of its own.
        script = ('mount -t tmpfs -o mode=755 postern-import /etc && '
                  'cp -a "$1/root/etc/." /etc/ && shift && exec "$@"')
        argv = ['unshare', '-m', '--propagation', 'private', 'sh', '-c',
                script, 'sh', work] + argv
    p = subprocess.run(argv, capture_output=True, env=env, cwd=work, timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def loads(out, work):
    """Problems unless postern loads the output (and refuses it at 0644
    when it holds a password)."""
    problems = []
    conf = os.path.join(work, 'imported.conf')
    if os.path.exists(conf):
        os.unlink(conf)
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write(out)
    argv = ['unshare', '-n', OPTS.postern, '-C', conf, '-bv', 'someone@example.org']
    p = subprocess.run(argv, capture_output=True, cwd=work, timeout=60,
                       env=dict(os.environ, TZ='UTC', LC_ALL='C', HOME=work))
    if p.returncode != 0 or p.stdout != b'someone@example.org: someone@example.org\n':
        problems.append(f'postern -C imported.conf -bv: exit {p.returncode}, '
                        f'{p.stdout!r} {p.stderr!r}')
    if '# It holds a password' in out:
        os.chmod(conf, 0o644)
        p = subprocess.run(argv, capture_output=True, cwd=work, timeout=60)
        if p.returncode != 78 or b'holds a password' not in p.stderr:
            problems.append(f'at mode 0644: exit {p.returncode} {p.stderr!r}, '
                            'expected 78')
    return problems


def one(t, name):
    case = os.path.join(CASES, name)
    work = tempfile.mkdtemp(prefix=f'postern-import-{name}.')
    shutil.copytree(case, work, dirs_exist_ok=True, ignore=shutil.ignore_patterns('expect'))
    rc, out, err = run_import(case, work)
    problems = []
    want_rc = int(read(os.path.join(case, 'expect', 'exit'), '0'))
    sub = (lambda s: s.replace('@DIR@', work))
    want_out = sub(read(os.path.join(case, 'expect', 'stdout')))
    want_err = sub(read(os.path.join(case, 'expect', 'stderr')))
    if OPTS.update:
        for fname, text in (('stdout', out), ('stderr', err)):
            path = os.path.join(case, 'expect', fname)
            text = text.replace(work, '@DIR@')
            if text:
                with open(path, 'w') as f:
                    f.write(text)
            elif os.path.exists(path):
                os.unlink(path)
        want_out, want_err = out, err
    if rc != want_rc:
        problems.append(f'exit {rc}, expected {want_rc}')
    if out != want_out:
        problems.append('stdout differs:\n' + out)
    if err != want_err:
        problems.append(f'stderr {err!r}, expected {want_err!r}')
    if rc != 0 and out:
        problems.append('output printed by a failing run')
    if rc == 0:
        problems += loads(out, work)
    t.report(name, problems)
    shutil.rmtree(work, ignore_errors=True)


def main():
    global OPTS
    ap = argparse.ArgumentParser()
    ap.add_argument('--postern', required=True)
    ap.add_argument('--update', action='store_true')
    ap.add_argument('names', nargs='*')
    OPTS = ap.parse_args()
    t = harness.Tally()
    for name in sorted(os.listdir(CASES)):
        if not OPTS.names or name in OPTS.names:
            one(t, name)
    return t.done('import')


if __name__ == '__main__':
    sys.exit(main())
