#!/usr/bin/python3
"""No secret in anything postern writes (issue 7), shared by every driver
that gives postern a password.

A run's password is every `password` value of its configuration and what
every `passwordeval` command prints (run as postern runs it: `sh -c`, the
trailing newline cut off).  After the run, each output postern wrote
(standard error, standard output, the syslog capture, and every file in
the run's directory: the logfile, the queue's *.msg and *.env files, the
messages the server received) is searched for each form of it:

- the password itself, and in hex (lower and upper case);
- base64 of the password, and of the AUTH PLAIN responses (with and
  without authzid) and of the XOAUTH2 response for each configured user;
- base64 of the password inside any larger blob (OAUTHBEARER, a LOGIN or
  PLAIN response of other users, ...): in base64 of a blob that holds the
  password at offset k mod 3, the characters that depend on the password
  bytes alone are the same whatever surrounds it, so searching for those
  three inner strings (the "base64 offsets" technique) finds the password
  in every blob, at every alignment, standard or URL-safe alphabet, and
  also when the base64 text is wrapped over several lines.

Inner strings shorter than MIN_FRAGMENT characters (passwords of one to
three bytes) are not searched for: they would match by chance.  Left out
of the search are the configuration itself and the test server's own
files (its script, its standard error, its transcript, which records AUTH
verbatim): EXCLUDE.

`python3 tests/leakcheck.py` is the self-test, run by `make check`: every
form at every alignment must be found, by the helpers and through
tests/runtests.py, and nothing where there is no leak.

Python 3 standard library only.
"""

import argparse
import base64
import os
import subprocess
import sys
import tempfile

# Relative to a run's directory: what the search leaves out.
EXCLUDE = ('postern.conf', 'server', 'srv.stderr', 'srv/transcript')
MIN_FRAGMENT = 4
EVAL_TIMEOUT = 30


def unquote(value):
    """A configuration value as postern reads it: "..." with \\ escapes."""
    if not value.startswith('"'):
        return value
    out, i = [], 1
    while i < len(value) and value[i] != '"':
        if value[i] == '\\' and i + 1 < len(value):
            i += 1
        out.append(value[i])
        i += 1
    return ''.join(out)


def conf_secrets(text, cwd=None, env=None):
    """(passwords, users) of a configuration text, as lists of bytes."""
    passwords, users = [], []
    for line in text.splitlines():
        key, _, value = line.strip().partition(' ')
        value = unquote(value.strip(' \t'))
        if not value:
            continue
        if key in ('password', 'oauth2_client_secret'):
            passwords.append(value.encode())
        elif key == 'passwordeval':
            p = subprocess.run(['sh', '-c', value], capture_output=True, cwd=cwd,
                               env=env, timeout=EVAL_TIMEOUT, stdin=subprocess.DEVNULL)
            out = p.stdout
            for end in (b'\n', b'\r'):
                out = out[:-1] if out.endswith(end) else out
            if p.returncode == 0 and out:
                passwords.append(out)
        elif key == 'user':
            users.append(value.encode())
    return passwords, users


def inner(secret, k, alphabet=base64.b64encode):
    """The base64 characters that only SECRET decides when it stands at
    offset k mod 3 of a blob: character i covers bits 6i..6i+5, the
    secret bits 8k..8(k+len)-1."""
    n = len(secret)
    enc = alphabet(b'\0' * k + secret + b'\0\0')
    return enc[-(-8 * k // 6):8 * (k + n) // 6]


def forms(password, users=()):
    """[(name, bytes)], the most telling first: each form of PASSWORD."""
    pw = password
    b64 = base64.b64encode
    out = []
    for u in users:
        out += [('base64 of the AUTH PLAIN response', b64(b'\0' + u + b'\0' + pw)),
                ('base64 of the AUTH PLAIN response with authzid',
                 b64(u + b'\0' + u + b'\0' + pw)),
                ('base64 of the XOAUTH2 response',
                 b64(b'user=' + u + b'\x01auth=Bearer ' + pw + b'\x01\x01'))]
    out += [('the password', pw), ('base64 of the password', b64(pw)),
            ('the password in hex', pw.hex().encode()),
            ('the password in upper-case hex', pw.hex().upper().encode())]
    for k in range(3):
        for alpha, name in ((base64.b64encode, 'base64'),
                            (base64.urlsafe_b64encode, 'URL-safe base64')):
            frag = inner(pw, k, alpha)
            if len(frag) >= MIN_FRAGMENT:
                out.append((f'{name} of the password at offset {k} mod 3 of a blob', frag))
    return out


def search(outputs, passwords, users=()):
    """Problems, one per output that holds a form of a password.
    OUTPUTS: (name, bytes) pairs."""
    table = [f for pw in passwords for f in forms(pw, users)]
    problems = []
    for name, data in outputs:
        if not data:
            continue
        if isinstance(data, str):
            data = data.encode('utf-8', 'surrogateescape')
        joined = data.replace(b'\r', b'').replace(b'\n', b'')
        for form, value in table:
            if value in data or value in joined:
                problems.append(f'secret leak: {name} holds {form} ({value.decode("latin-1")!r})')
                break
    return problems


def files(top, exclude=EXCLUDE):
    """(relative path, bytes) of every regular file below TOP but EXCLUDE."""
    out = []
    for d, dirs, names in os.walk(top):
        dirs.sort()
        for n in sorted(names):
            path = os.path.join(d, n)
            rel = os.path.relpath(path, top)
            if rel in exclude or os.path.islink(path) or not os.path.isfile(path):
                continue
            try:
                with open(path, 'rb') as f:
                    out.append((rel, f.read()))
            except OSError:
                continue
    return out


def check_run(tmp, outputs=(), conf=None, exclude=EXCLUDE, env=None, extra=()):
    """The check after one run: the secrets of CONF (default
    TMP/postern.conf, passwordeval run in TMP) and EXTRA (more passwords),
    searched for in OUTPUTS ((name, bytes) pairs) and in every file below
    TMP but EXCLUDE.  A list of problems; empty too when there is no secret."""
    conf = conf if conf is not None else os.path.join(tmp, 'postern.conf')
    try:
        with open(conf, encoding='utf-8', errors='surrogateescape') as f:
            text = f.read()
    except FileNotFoundError:
        text = ''
    passwords, users = conf_secrets(text, cwd=tmp, env=env)
    passwords += [p.encode() if isinstance(p, str) else p for p in extra]
    if not passwords:
        return []
    return search(list(outputs) + files(tmp, exclude), passwords, users)


# ------------------------------------------------------------------ self-test

PW, USER = b's3cret-pw', b'alice'


def blobs():
    """(what, text that leaks PW): each form at each alignment."""
    b64 = base64.b64encode
    out = [('plain', b'postern: password ' + PW + b'\n'),
           ('hex', b'-- ' + PW.hex().encode() + b'\n'),
           ('HEX', PW.hex().upper().encode()),
           ('plain response', b'-> AUTH PLAIN ' + b64(b'\0alice\0' + PW) + b'\r\n'),
           ('authzid', b64(b'alice\0alice\0' + PW)),
           ('xoauth2', b64(b'user=alice\x01auth=Bearer ' + PW + b'\x01\x01')),
           ('oauthbearer', b64(b'n,a=alice,\x01host=127.0.0.1\x01port=2525\x01'
                               b'auth=Bearer ' + PW + b'\x01\x01')),
           ('login', b'-> ' + b64(PW) + b'\r\n')]
    for k in range(3):
        for tail in range(3):
            blob = b'\xff' * (3 + k) + PW + b'z' * tail
            out.append((f'offset {k} tail {tail}', b'x ' + b64(blob) + b' y'))
            out.append((f'url-safe offset {k} tail {tail}', base64.urlsafe_b64encode(blob)))
    wrapped = b64(os.urandom(100) + PW + os.urandom(100))
    out.append(('wrapped', b'\r\n'.join(wrapped[i:i + 76] for i in range(0, len(wrapped), 76))))
    return out


def selftest_search():
    bad = []
    for what, text in blobs():
        found = search([('stderr', text)], [PW], [USER])
        if len(found) != 1 or 'stderr holds' not in found[0]:
            bad.append(f'{what}: not found in {text!r}')
    clean = [('stderr', b'postern: 127.0.0.1: AUTH PLAIN: 535 5.7.8 invalid\n'
              + base64.b64encode(b'\0alice\0other-pw') + b'\n' + PW[:3] + b'\n')]
    if search(clean, [PW], [USER]):
        bad.append(f'a false alarm: {search(clean, [PW], [USER])}')
    return bad


def selftest_run():
    """check_run on a made-up run directory, passwordeval included."""
    bad = []
    with tempfile.TemporaryDirectory(prefix='postern-leakcheck.') as tmp:
        os.makedirs(os.path.join(tmp, 'queue'))
        os.makedirs(os.path.join(tmp, 'srv'))
        with open(os.path.join(tmp, 'postern.conf'), 'w') as f:
            f.write("account default\nuser alice\npasswordeval printf '%s\\n'\n"
                    % PW.decode())
        for name, data in (('srv/transcript', b'AUTH PLAIN ' +
                            base64.b64encode(b'\0alice\0' + PW)),
                           ('srv.stderr', PW), ('queue/A.msg', b'Subject: x\n\nhi\n')):
            with open(os.path.join(tmp, name), 'wb') as f:
                f.write(data)
        if check_run(tmp, [('stderr', b'ok')]):
            bad.append(f'a false alarm: {check_run(tmp, [("stderr", b"ok")])}')
        with open(os.path.join(tmp, 'queue', 'A.env'), 'wb') as f:
            f.write(b'auth ' + base64.b64encode(b'\0\0' + PW) + b'\n')
        got = check_run(tmp, [('stderr', b'ok')])
        if len(got) != 1 or 'queue/A.env holds' not in got[0]:
            bad.append(f'a queue file leak not found: {got}')
        # OAuth2: the client secret is a password; tokens come as extra.
        os.unlink(os.path.join(tmp, 'queue', 'A.env'))
        with open(os.path.join(tmp, 'postern.conf'), 'w') as f:
            f.write('account default\noauth2_client_secret "%s"\n' % PW.decode())
        got = check_run(tmp, [('log', b'client_secret=' + PW)])
        if len(got) != 1 or 'log holds the password' not in got[0]:
            bad.append(f'an oauth2_client_secret leak not found: {got}')
        token = b'at-' + PW[::-1]
        got = check_run(tmp, [('stderr', b'-> ' + base64.b64encode(
            b'user=alice\x01auth=Bearer ' + token + b'\x01\x01'))], extra=[token])
        if len(got) != 1 or 'stderr holds' not in got[0]:
            bad.append(f'an access token leak not found: {got}')
    return bad


FAKE_POSTERN = """#!/bin/sh
printf 'postern: AUTH %s\\n' "$LEAK" >&2
exit 0
"""


def selftest_runtests():
    """Through tests/runtests.py: a case whose stderr is exactly as
    expected still fails when it holds the password in base64."""
    bad = []
    here = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory(prefix='postern-leakcheck.') as tmp:
        case = os.path.join(tmp, 'leaky')
        os.makedirs(os.path.join(case, 'expect'))
        fake = os.path.join(tmp, 'postern')
        leak = base64.b64encode(b'\xff' + PW).decode()
        for name, text in (('cmd', '-C @CONF@ rcpt@example.net\n'),
                           ('conf', 'account default\nuser alice\npassword s3cret-pw\n'),
                           ('expect/exit', '0\n'),
                           ('expect/stderr', f'postern: AUTH {leak}\n')):
            with open(os.path.join(case, name), 'w') as f:
                f.write(text)
        with open(fake, 'w') as f:
            f.write(FAKE_POSTERN)
        os.chmod(fake, 0o755)
        p = subprocess.run([sys.executable, os.path.join(here, 'runtests.py'),
                            '--postern', fake, '-j', '1', case],
                           capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, LEAK=leak))
        want = 'secret leak: stderr holds base64 of the password at offset 1'
        if 'FAIL leaky' not in p.stdout or want not in p.stdout:
            bad.append(f'runtests.py did not catch the leak: {p.stdout}{p.stderr}')
    return bad


def scan_files(argv):
    """leakcheck.py --password PW [--user U] FILE...: a problem line per
    FILE that holds a form of PW, and exit 1 if there is one.  For the
    shell stages (the demo)."""
    ap = argparse.ArgumentParser(prog='leakcheck.py')
    ap.add_argument('--password', action='append', required=True)
    ap.add_argument('--user', action='append', default=[])
    ap.add_argument('files', nargs='+')
    a = ap.parse_args(argv)
    outputs = []
    for path in a.files:
        with open(path, 'rb') as f:
            outputs.append((path, f.read()))
    problems = search(outputs, [p.encode() for p in a.password],
                      [u.encode() for u in a.user])
    for p in problems:
        print(p)
    return 1 if problems else 0


def main():
    if len(sys.argv) > 1:
        return scan_files(sys.argv[1:])
    passed = failed = 0
    for name, fn in (('every form at every alignment', selftest_search),
                     ('a run directory', selftest_run),
                     ('through runtests.py', selftest_runtests)):
        bad = fn()
        print(('FAIL ' if bad else 'ok ') + 'leakcheck: ' + name)
        for b in bad:
            print('    ' + b)
        passed, failed = passed + (not bad), failed + bool(bad)
    print(f'leakcheck: {passed} passed, {failed} failed')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
