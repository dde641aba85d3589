#!/usr/bin/python3
"""The privilege model, end to end (issue 6; postern(8), "Privileges").

Usage (as root): /usr/bin/python3 tests/queue/priv.py

Builds a second postern, without sanitizers, configured with a temporary
PREFIX, SYSCONFDIR and SPOOLDIR, and installs it setgid to a test group
made here (groupadd), with a test user (useradd).  The system
configuration is root:GROUP 0640 and holds a password.  As that user:
sending and queueing work, and the password cannot be read through the
file, -C, -v, error messages, the queue files, /proc/PID/environ or
/proc/PID/mem, or a core dump, in any of the forms tests/leakcheck.py
knows.  The user and group are removed at the end.

Prints `ok NAME` / `FAIL NAME`, then `priv: N passed, N failed`.
Without root it prints a note and `priv: 0 passed, 0 failed`.
"""

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMTPD = os.path.join(TOP, 'tests', 'smtpd.py')
CERTS = os.path.join(TOP, 'tests', '.certs')
# Names of this run's own: other checkouts may run this at the same time,
# and each removes its users and group at the end.
TAG = str(os.getpid() % 100000)
GROUP = 'posterntg' + TAG
USER = 'posterntu' + TAG
RUNNER = 'posterntr' + TAG	# the queue runner: primary group GROUP
ATTACKER = 'posternta' + TAG	# attack.py's
SECRET = 'Pw-d0-not-leak-7Qz'
RESULTS = []

sys.path.insert(0, os.path.join(TOP, 'tests'))
sys.path.insert(0, os.path.join(TOP, 'tests', 'queue'))
import leakcheck  # noqa: E402
import attack  # noqa: E402


def sh(*argv, **kw):
    return subprocess.run(argv, capture_output=True, **kw)


def as_user(argv, data=b'', cwd=None, wait=True, user=USER, env_extra=None,
            stderr_fd=None, pre=None, **kw):
    pw = pwd.getpwnam(user)

    def drop():
        if pre is not None:
            pre()
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    env = {'PATH': '/usr/bin:/bin', 'HOME': cwd or '/', 'LC_ALL': 'C'}
    env.update(env_extra or {})
    if not wait:
        return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=stderr_fd if stderr_fd is not None else subprocess.PIPE,
                                preexec_fn=drop, env=env, cwd=cwd or '/', **kw)
    p = subprocess.run(argv, input=data, capture_output=True, preexec_fn=drop, env=env,
                       cwd=cwd or '/', timeout=60, **kw)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def as_root(argv, data=b''):
    env = {'PATH': '/usr/bin:/bin', 'HOME': '/', 'LC_ALL': 'C'}
    p = subprocess.run(argv, input=data, capture_output=True, env=env, cwd='/', timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def leaked(outputs, dirs=()):
    """The shared secret check (tests/leakcheck.py): SECRET in any form in
    OUTPUTS ((name, text) pairs) or in a file below one of DIRS."""
    outputs = list(outputs)
    for d in dirs:
        outputs += [(os.path.join(d, n), data) for n, data in leakcheck.files(d, ())]
    return leakcheck.search(outputs, [SECRET.encode()], [b'u'])


def result(name, ok, why=''):
    RESULTS.append(ok)
    print(('ok ' if ok else 'FAIL ') + name + ('' if ok else ': ' + why))
    sys.stdout.flush()


class Server:
    def __init__(self, work, script):
        path = os.path.join(work, 'script.%d' % time.monotonic_ns())
        with open(path, 'w') as f:
            f.write(script)
        self.out = path + '.out'
        self.proc = subprocess.Popen([sys.executable, SMTPD, '--script', path, '--certs',
                                      CERTS, '--out', self.out], stdout=subprocess.PIPE)
        self.port = int(self.proc.stdout.readline())

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(15)
        with open(os.path.join(self.out, 'transcript')) as f:
            return f.read()


def write_conf(path, port, extra=''):
    with open(path, 'w') as f:
        f.write(f'account default\nhost 127.0.0.1\nport {port}\ntls off\n'
                f'auth plain\nauth_allow_plaintext on\nuser u\npassword {SECRET}\n'
                f'from {USER}@example.org\ntimeout 5\n{extra}')


def main():
    if os.geteuid() != 0:
        print('note: not root; the privilege test needs useradd and a setgid install')
        print('priv: 0 passed, 0 failed')
        return 0
    sh('mkdir', '-p', CERTS)
    sh('sh', os.path.join(TOP, 'tests', 'mkcerts.sh'), CERTS)
    # Not below /tmp: attack.py mounts a directory of its own there.
    work = tempfile.mkdtemp(prefix='postern-priv.', dir='/var/tmp')
    os.chmod(work, 0o755)
    made_group = sh('groupadd', GROUP).returncode == 0
    made_user = sh('useradd', '-M', '-N', '-g', 'nogroup', '-s', '/bin/sh',
                   USER).returncode == 0
    if sh('getent', 'group', 'nogroup').returncode != 0 and not made_user:
        made_user = sh('useradd', '-M', '-s', '/bin/sh', USER).returncode == 0
    made_runner = sh('useradd', '-M', '-N', '-g', GROUP, '-s', '/bin/sh',
                     RUNNER).returncode == 0
    try:
        run(work)
    finally:
        if made_runner:
            sh('userdel', RUNNER)
        if made_user:
            sh('userdel', USER)
        if made_group:
            sh('groupdel', GROUP)
        shutil.rmtree(work, ignore_errors=True)
    passed = sum(RESULTS)
    print(f'priv: {passed} passed, {len(RESULTS) - passed} failed')
    return 0 if passed == len(RESULTS) else 1


def run(work):
    src = os.path.join(work, 'src')
    files = sh('git', '-C', TOP, 'ls-files', '-co', '--exclude-standard').stdout.decode().split()
    for f in files:
        if os.path.exists(os.path.join(TOP, f)):
            os.makedirs(os.path.dirname(os.path.join(src, f)), exist_ok=True)
            shutil.copy2(os.path.join(TOP, f), os.path.join(src, f))
    prefix, etc, spool = (os.path.join(work, d) for d in ('usr', 'etc', 'spool'))
    p = sh('sh', './configure', f'PREFIX={prefix}', f'SYSCONFDIR={etc}', f'POSTERN_GROUP={GROUP}',
           f'SPOOLDIR={spool}', cwd=src)
    if p.returncode != 0:
        result('build', False, p.stderr.decode())
        return
    p = sh('make', '-s', cwd=src)
    q = sh('make', '-s', 'install', f'POSTERN_GROUP={GROUP}', cwd=src)
    bin_ = os.path.join(prefix, 'sbin', 'postern')
    st = os.stat(bin_) if os.path.exists(bin_) else None
    result('install setgid', p.returncode == 0 and q.returncode == 0 and st is not None and
           st.st_mode & 0o2000 and st.st_gid == int(sh('getent', 'group', GROUP).stdout.split(b':')[2]),
           (p.stderr + q.stderr).decode())
    sst = os.stat(spool)
    result('spool root:group 2770', sst.st_uid == 0 and oct(sst.st_mode & 0o7777) == '0o2770',
           oct(sst.st_mode))
    os.makedirs(etc, exist_ok=True)
    conf = os.path.join(etc, 'postern.conf')
    srv = Server(work, 'auth PLAIN\nuser u ' + SECRET + '\ncap PIPELINING\n')
    write_conf(conf, srv.port)
    gid = int(sh('getent', 'group', GROUP).stdout.split(b':')[2])
    os.chown(conf, 0, gid)
    os.chmod(conf, 0o640)

    msg = b'Subject: priv\n\nhello\n'
    rc, out, err = as_user([bin_, 'rcpt@example.net'], msg)
    t = srv.stop()
    leaks = leaked([('stderr', err), ('stdout', out)])
    result('the user can send', rc == 0 and '* data' in t and not leaks, f'{rc} {err} {leaks}')

    # -v: AUTH redacted.
    srv = Server(work, 'auth PLAIN\nuser u ' + SECRET + '\ncap PIPELINING\n')
    write_conf(conf, srv.port)
    rc, out, err = as_user([bin_, '-v', 'rcpt@example.net'], msg)
    srv.stop()
    leaks = leaked([('stderr', err), ('stdout', out)])
    result('-v shows no secret', rc == 0 and '<redacted>' in err and not leaks,
           f'{rc} {err} {leaks}')

    # Server down: queued in the setgid spool, mailq works for the user.
    with socket_closed() as port:
        write_conf(conf, port)
        rc, out, err = as_user([bin_, 'rcpt@example.net'], msg)
        rc2, lq, err2 = as_user([bin_, '-bp'])
    files = os.listdir(spool)
    leaks = leaked([('stderr', err), ('stdout', out), ('mailq', lq), ('mailq stderr', err2)],
                   [spool])
    modes = {f: oct(os.stat(os.path.join(spool, f)).st_mode & 0o777) for f in files}
    result('the user can queue', rc == 0 and len(files) == 2 and 'rcpt@example.net' in lq and
           all(m == '0o660' for m in modes.values()) and not leaks,
           f'{rc} {err} {modes} {lq} {leaks}')

    # The queue runner user, whose primary group is the spool's: the system
    # file root:GROUP 0640 holds a password and is no "readable by others"
    # to it; -q delivers the user's queued message.
    srv = Server(work, 'auth PLAIN\nuser u ' + SECRET + '\ncap PIPELINING\n')
    write_conf(conf, srv.port)
    rc, out, err = as_user([bin_, '-qf'], user=RUNNER)
    t = srv.stop()
    leaks = leaked([('stderr', err), ('stdout', out)])
    result('the runner user (primary group GROUP) runs the queue',
           rc == 0 and '* data' in t and os.listdir(spool) == [] and not leaks,
           f'{rc} {err} {os.listdir(spool)} {leaks}')

    dkim(work, etc, conf, gid, bin_, msg)
    if b'#define HAVE_OAUTH2 1' in open(os.path.join(src, 'config.h'), 'rb').read():
        oauth2(work, spool, conf, gid, bin_, msg)

    write_conf(conf, 1)
    rc, out, err = as_user(['cat', conf])
    result('the file is unreadable', rc != 0 and not leaked([('cat', out)]), out)
    rc, out, err = as_user([bin_, '-C', conf, 'rcpt@example.net'], msg)
    result('-C drops the group before opening', rc == 78 and 'Permission denied' in err and
           not leaked([('stderr', err), ('stdout', out)]), f'{rc} {err}')
    rc, out, err = as_user([bin_, '-C', conf, '-bp'])
    result('-C -bp cannot read it either',
           rc == 78 and not leaked([('stderr', err), ('stdout', out)]), f'{rc} {err}')

    # A bad line after the password: the error names the line, not the value.
    write_conf(conf, 1, f'password {SECRET}x y\n')
    rc, out, err = as_user([bin_, 'rcpt@example.net'], msg)
    leaks = leaked([('stderr', err), ('stdout', out)])
    result('errors do not echo the password', not leaks, f'{err} {leaks}')

    # A postern stalled mid-session: /proc and a core dump.
    srv = Server(work, 'stall GREETING\n')
    write_conf(conf, srv.port)
    os.chown(conf, 0, gid)
    os.chmod(conf, 0o640)
    cwd = os.path.join(work, 'home')
    os.makedirs(cwd)
    os.chown(cwd, pwd.getpwnam(USER).pw_uid, -1)
    p = as_user(['sh', '-c', f'ulimit -c unlimited; exec {bin_} rcpt@example.net'],
                cwd=cwd, wait=False)
    p.stdin.write(msg)
    p.stdin.close()
    time.sleep(1.0)
    leaks = []
    for f in ('environ', 'mem', 'cmdline', 'maps'):
        rc, out, err = as_user(['dd', f'if=/proc/{p.pid}/{f}', 'bs=65536', 'count=64',
                                'status=none'], cwd=cwd)
        if f in ('environ', 'mem', 'maps') and rc == 0:
            leaks.append(f)
        if leaked([(f, out)]):
            leaks.append(f + ' (secret)')
    result('/proc/PID is closed to the user', not leaks, f'readable: {leaks}')
    as_user(['kill', '-SEGV', str(p.pid)], cwd=cwd)
    p.wait(10)
    cores = [f for f in os.listdir(cwd) if f.startswith('core')]
    result('no core dump', p.returncode == -signal.SIGSEGV and not cores,
           f'status {p.returncode}, files {cores}')
    srv.stop()

    # Per-user use: -C with a user-owned file and queue_dir.
    own = os.path.join(cwd, 'my.conf')
    q = os.path.join(cwd, 'queue')
    os.makedirs(q)
    write_conf(own, 1, f'queue_dir {q}\n')
    uid = pwd.getpwnam(USER).pw_uid
    for path in (own, q):
        os.chown(path, uid, -1)
    os.chmod(own, 0o600)
    rc, out, err = as_user([bin_, '-C', own, 'rcpt@example.net'], msg, cwd=cwd)
    leaks = leaked([('stderr', err), ('stdout', out)], [q])
    result('-C and an own queue_dir work', rc == 0 and len(os.listdir(q)) == 2 and not leaks,
           f'{rc} {err} {leaks}')

    # -C drops the group: such a message never enters the system spool,
    # not even root's (a later -qf would deliver it through the system
    # file's smarthost), whether queue_dir is unset or names the spool
    # by another path.
    rootconf = os.path.join(work, 'root.conf')
    link = os.path.join(work, 'spool-link')
    os.symlink(spool, link)
    for extra in ('', f'queue_dir {link}\n'):
        write_conf(rootconf, 1, extra)
        os.chmod(rootconf, 0o600)
        before = sorted(os.listdir(spool))
        p = subprocess.run([bin_, '-C', rootconf, 'rcpt@example.net'], input=msg,
                           capture_output=True, timeout=60)
        err = p.stderr.decode()
        want = (f'postern: a message submitted with -C may not enter the system spool '
                f'{link if extra else spool}: set queue_dir in the configuration file\n')
        result(f'-C as root never in the system spool ({extra.strip() or "no queue_dir"})',
               p.returncode == 73 and err == want and sorted(os.listdir(spool)) == before,
               f'{p.returncode} {err!r} {before} -> {os.listdir(spool)}')

    # Issue 12: a victim and an attacker (tests/queue/attack.py).
    attack.run(sys.modules[__name__], work, bin_, etc, spool, conf, gid)

    per_user(work, conf, gid, bin_, msg)


USERPW = 'Own-user-pw-4Kd'


def user_conf(path, port, extra='', password=True):
    """A user's own ~/.msmtprc: their own smarthost credentials."""
    with open(path, 'w') as f:
        f.write(f'account default\nhost 127.0.0.1\nport {port}\ntls off\n'
                f'auth plain\nauth_allow_plaintext on\nuser own\n'
                + (f'password {USERPW}\n' if password else '') +
                f'from {USER}@example.org\ntimeout 5\n{extra}')
    os.chown(path, pwd.getpwnam(USER).pw_uid, -1)
    os.chmod(path, 0o600)


def per_user(work, conf, gid, bin_, msg):
    """Issue 14: a user's own file against the setgid install.  The user's
    home is a directory of the test (usermod -d): set-id, ~ is the
    password database's home, not $HOME."""
    uid = pwd.getpwnam(USER).pw_uid
    home = os.path.join(work, 'uhome')
    os.makedirs(home)
    os.chown(home, uid, -1)
    sh('usermod', '-d', home, USER)
    rc_file = os.path.join(home, '.msmtprc')
    spool = os.path.join(work, 'spool')
    write_conf(conf, 1)
    os.chown(conf, 0, gid)
    os.chmod(conf, 0o640)

    # ~/.msmtprc: the user's own server and password; the group is given up
    # for good, so an eval line cannot read the system file either.
    srv = Server(work, f'auth PLAIN\nuser own {USERPW}\ncap PIPELINING\n')
    user_conf(rc_file, srv.port)
    rc, out, err = as_user([bin_, 'rcpt@example.net'], msg, cwd=home)
    t = srv.stop()
    leaks = leaked([('stderr', err), ('stdout', out)], [home])
    result('~/.msmtprc is read, with its own password', rc == 0 and '* data' in t and
           f'MAIL FROM:<{USER}@example.org>' in t and not leaks, f'{rc} {err} {t} {leaks}')
    user_conf(rc_file, 1, f'eval cat {conf}\n')
    rc, out, err = as_user([bin_, '-P'], cwd=home)
    leaks = leaked([('stderr', err), ('stdout', out)])
    result('a user file drops the group: eval cannot read the system file',
           rc == 78 and err == f'cat: {conf}: Permission denied\n'
           f'postern: {rc_file}:11: eval: the command failed\n' and
           not leaks, f'{rc} {err!r} {leaks}')

    # The queue is the user's own: ~/.local/state/postern/queue, 0700.
    before = sorted(os.listdir(spool))
    with socket_closed() as port:
        user_conf(rc_file, port)
        rc, out, err = as_user([bin_, 'rcpt@example.net'], msg, cwd=home)
    q = os.path.join(home, '.local', 'state', 'postern', 'queue')
    qst = os.stat(q) if os.path.isdir(q) else None
    files = os.listdir(q) if qst else []
    leaks = leaked([('stderr', err), ('stdout', out)], [q])
    result('the queue is the user\'s: ~/.local/state/postern/queue 0700',
           rc == 0 and qst is not None and qst.st_uid == uid and
           oct(qst.st_mode & 0o777) == '0o700' and len(files) == 2 and
           sorted(os.listdir(spool)) == before and not leaks,
           f'{rc} {err} {qst and oct(qst.st_mode)} {files} {os.listdir(spool)} {leaks}')
    srv = Server(work, f'auth PLAIN\nuser own {USERPW}\ncap PIPELINING\n')
    user_conf(rc_file, srv.port)
    rc, out, err = as_user([bin_, '-qf'], cwd=home)
    t = srv.stop()
    result('the user\'s own postern -qf delivers it', rc == 0 and '* data' in t and
           os.listdir(q) == [], f'{rc} {err} {os.listdir(q)}')

    # XDG_CONFIG_HOME first; XDG_STATE_HOME for the queue.
    xdg = os.path.join(home, 'xdg')
    os.makedirs(os.path.join(xdg, 'postern'))
    os.chown(xdg, uid, -1)
    os.chown(os.path.join(xdg, 'postern'), uid, -1)
    xconf = os.path.join(xdg, 'postern', 'config')
    user_conf(xconf, 1, 'from xdg@example.org\n')
    rc, out, err = as_user([bin_, '-P'], cwd=home,
                           env_extra={'XDG_CONFIG_HOME': xdg, 'XDG_STATE_HOME': xdg})
    result('$XDG_CONFIG_HOME/postern/config comes first',
           rc == 0 and out.startswith(f'loaded user configuration file {xconf}\n') and
           'from = xdg@example.org\n' in out and
           f'queue_dir = {xdg}/postern/queue\n' in out, f'{rc} {err} {out[:200]}')
    os.remove(xconf)

    # The file must be the user's and no one else's to change; with a
    # password, the user's alone to read.
    os.chmod(rc_file, 0o620)
    rc, out, err = as_user([bin_, '-P'], cwd=home)
    result('a group-writable user file: 78', rc == 78 and err ==
           f'postern: {rc_file}: writable by others (mode 620; chmod go-w it)\n', f'{rc} {err!r}')
    os.chmod(rc_file, 0o640)
    rc, out, err = as_user([bin_, '-P'], cwd=home)
    result('a user file with a password readable by others: 78', rc == 78 and err ==
           f'postern: {rc_file}: holds a password but is readable by others '
           '(mode 640; chmod 600 it)\n', f'{rc} {err!r}')
    os.chown(rc_file, 0, -1)
    os.chmod(rc_file, 0o644)
    rc, out, err = as_user([bin_, '-P'], cwd=home)
    result('a user file owned by root: 78', rc == 78 and err ==
           f'postern: {rc_file}: owned by uid 0, not by you (uid {uid})\n', f'{rc} {err!r}')
    user_conf(rc_file, 1)

    # user_config off in the system file: the user's file is not read.
    write_conf(conf, 1, 'user_config off\n')
    os.chown(conf, 0, gid)
    os.chmod(conf, 0o640)
    rc, out, err = as_user([bin_, '-v', '-P'], cwd=home)
    leaks = leaked([('stderr', err), ('stdout', out)])
    result('user_config off: the system file, not the user\'s',
           rc == 0 and out.startswith(f'loaded system configuration file {conf}\n') and
           err == f'-- {rc_file} is not read: {conf} says user_config off\n'
           and 'password = <redacted>' in out and not leaks, f'{rc} {err!r} {out[:100]}')

    # Set-id: every POSTERN_* is ignored, and -v says so once.
    rc, out, err = as_user([bin_, '-v', '-P'], cwd='/', env_extra={
        'POSTERN_HOST': 'evil.example', 'POSTERN_QUEUE_DIR': '/tmp'})
    result('setgid: POSTERN_* ignored, said once with -v',
           rc == 0 and 'host = 127.0.0.1\n' in out and err ==
           f'-- {rc_file} is not read: {conf} says user_config off\n'
           '-- postern runs set-id: the POSTERN_* environment variables are '
           'ignored\n', f'{rc} {err!r}')

    # eval in a system file root does not own, read with the group: refused.
    write_conf(conf, 1, 'eval echo timeout 9\n')
    os.chown(conf, uid, gid)
    os.chmod(conf, 0o640)
    rc, out, err = as_user([bin_, '-P'], cwd='/')
    result('eval in a system file not owned by root: 78', rc == 78 and err ==
           f'postern: {conf}:11: eval: refused in a system file that root does not own\n',
           f'{rc} {err!r}')
    os.chown(conf, 0, gid)

    # The README's check command, for a user without a queue_dir (was 73).
    os.remove(rc_file)
    srv = Server(work, f'auth PLAIN\nuser own {USERPW}\ncap PIPELINING\n')
    own = os.path.join(home, '.postern.conf')
    user_conf(own, srv.port)
    rc, out, err = as_user(['sh', '-c', f'printf "Subject: test\\n\\nhello\\n" | '
                            f'{bin_} -v -C ~/.postern.conf me@example.com'], cwd=home)
    t = srv.stop()
    result('README: postern -v -C ~/.postern.conf me@example.com', rc == 0 and
           '* data' in t, f'{rc} {err[-300:]}')


def dkim(work, etc, conf, gid, bin_, msg):
    """A DKIM key root:GROUP 0640 beside the system configuration: the
    user's mail is signed with it, the user cannot read it, and -C cannot
    use it.  The same key group-writable is refused (78), never skipped."""
    key = os.path.join(etc, 'dkim.pem')
    shutil.copyfile(os.path.join(TOP, 'tests', 'dkim', 'ed25519.pem'), key)
    os.chown(key, 0, gid)
    os.chmod(key, 0o640)
    extra = f'dkim_domain example.org\ndkim_selector s\ndkim_key_file {key}\n'
    srv = Server(work, 'auth PLAIN\nuser u ' + SECRET + '\ncap PIPELINING\n')
    write_conf(conf, srv.port, extra)
    rc, out, err = as_user([bin_, 'rcpt@example.net'], msg)
    t = srv.stop()
    data = b''
    if os.path.exists(os.path.join(srv.out, 'data.1')):
        with open(os.path.join(srv.out, 'data.1'), 'rb') as f:
            data = f.read()
    result('the user signs with the system DKIM key',
           rc == 0 and '* data' in t and data.startswith(b'DKIM-Signature: v=1; a=ed25519-sha256;'),
           f'{rc} {err} {data[:80]!r}')
    rc, out, err = as_user(['cat', key])
    result('the DKIM key is unreadable', rc != 0 and 'PRIVATE KEY' not in out, out)
    own = os.path.join(work, 'home-dkim.conf')
    write_conf(own, 1, extra + 'password x\n')
    os.chown(own, pwd.getpwnam(USER).pw_uid, -1)
    os.chmod(own, 0o600)
    rc, out, err = as_user([bin_, '-C', own, 'rcpt@example.net'], msg)
    result('-C cannot use the system DKIM key',
           rc == 78 and err == f'postern: {own}:1: account \'default\': dkim_key_file '
           f'{key}: Permission denied\n', f'{rc} {err!r}')
    os.chmod(key, 0o660)
    rc, out, err = as_user([bin_, 'rcpt@example.net'], msg)
    result('a group-writable DKIM key is refused, not skipped',
           rc == 78 and err == f'postern: {conf}:1: account \'default\': dkim_key_file '
           f'{key} is open to others (mode 660; chmod 600 it)\n', f'{rc} {err!r}')
    os.chown(conf, 0, gid)
    os.chmod(conf, 0o640)


def oauth2(work, spool, conf, gid, bin_, msg):
    """OAuth2 for the system account (issue 15): root authorizes (the
    token store is root:GROUP 0660 in the spool); the user sends through
    it, which refreshes and rotates the refresh token through the group,
    and the files stay root's: the user cannot read the refresh token,
    nor authorize the system account."""
    sys.path.insert(0, os.path.join(TOP, 'tests', 'oauth2'))
    sys.dont_write_bytecode = True
    from idp import IdP
    ca = os.path.join(work, 'ca.pem')
    shutil.copyfile(os.path.join(CERTS, 'ca.pem'), ca)
    os.chmod(ca, 0o644)
    idp = IdP(CERTS)
    client_secret = 'cs-Sys-' + SECRET[::-1]
    idp.client_secret = client_secret
    r1, r2, a1, a2 = (f'{k}-{os.urandom(12).hex()}' for k in ('rt', 'rt', 'at', 'at'))
    idp.next_refresh += [r1, r2]
    idp.next_access += [a1, a2]
    idp.rotate = True
    idp.expires_in = 30             # under the margin: the user must refresh
    srv = Server(work, f'tls implicit\nauth XOAUTH2\nuser u {a2}\n')
    with open(conf, 'w') as f:
        f.write(f'account default\nhost 127.0.0.1\nport {srv.port}\ntls on\n'
                f'tls_starttls off\ntls_trust_file {ca}\nauth xoauth2\nuser u\n'
                f'from {USER}@example.org\ntimeout 10\noauth2_provider custom\n'
                f'oauth2_client_id {idp.client_id}\noauth2_client_secret {client_secret}\n'
                f'oauth2_token_url {idp.url}/token\noauth2_device_url {idp.url}/devicecode\n'
                f'oauth2_trust_file {ca}\n')
    os.chown(conf, 0, gid)
    os.chmod(conf, 0o640)
    secrets_ = [s.encode() for s in (client_secret, r1, r2, a1, a2)]

    def leaks(outputs, dirs=()):
        outputs = list(outputs)
        for d in dirs:
            outputs += [(os.path.join(d, n), data) for n, data in leakcheck.files(d, ())
                        if not n.startswith('oauth2/')]
        return leakcheck.search(outputs, secrets_, [b'u'])

    rc, out, err = as_user([bin_, '--authorize'])
    result('oauth2: the user cannot authorize the system account',
           rc == 77 and err == 'postern: --authorize for an account of the system '
           'configuration needs root (or -C FILE for your own)\n' and idp.requests == [],
           f'{rc} {err!r}')
    p = subprocess.run([bin_, '--authorize'], capture_output=True, timeout=60)
    store = os.path.join(spool, 'oauth2')
    files = sorted(os.listdir(store)) if os.path.isdir(store) else []
    modes = {f: (oct(os.stat(os.path.join(store, f)).st_mode & 0o7777),
                 os.stat(os.path.join(store, f)).st_uid, os.stat(os.path.join(store, f)).st_gid)
             for f in files}
    dst = os.stat(store) if files else None
    result('oauth2: root authorizes; the store is root:GROUP 0660',
           p.returncode == 0 and files == ['default', 'default.lock', 'default.spare'] and
           all(m == ('0o660', 0, gid) for m in modes.values()) and dst is not None and
           oct(dst.st_mode & 0o7777) == '0o2770' and dst.st_gid == gid,
           f'{p.returncode} {p.stderr!r} {modes}')
    rc, out, err = as_user([bin_, 'rcpt@example.net'], msg)
    t = srv.stop()
    with open(os.path.join(store, 'default')) as f:
        held = f.read()
    modes2 = {f: (oct(os.stat(os.path.join(store, f)).st_mode & 0o7777),
                  os.stat(os.path.join(store, f)).st_uid) for f in os.listdir(store)}
    lk = leaks([('stderr', err), ('stdout', out)], [spool])
    result('oauth2: the user sends through the system account (refresh, rotation)',
           rc == 0 and '* data' in t and f'refresh_token {r2}\n' in held and
           len(idp.token_requests()) == 2 and not lk and
           all(m == ('0o660', 0) for m in modes2.values()),
           f'{rc} {err!r} {modes2} {lk} {idp.requests}')
    got = []
    for f in ('default', 'default.spare', 'default.lock'):
        rc, out, err = as_user(['cat', os.path.join(store, f)])
        got.append(out)
    result('oauth2: the user cannot read the token store',
           not leaks([('cat', ''.join(got))]) and r2 not in ''.join(got), str(got))
    idp.stop()


class socket_closed:
    def __enter__(self):
        import socket
        s = socket.socket()
        s.bind(('127.0.0.1', 0))
        self.port = s.getsockname()[1]
        s.close()
        return self.port

    def __exit__(self, *a):
        return False


if __name__ == '__main__':
    sys.exit(main())
