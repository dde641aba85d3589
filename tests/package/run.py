#!/usr/bin/python3
"""The Debian package, installed as an administrator would (issue 13).

Usage (as root): /usr/bin/python3 tests/package/run.py [--keep]

A Debian 12 root made by debootstrap (minbase) from the archive this
machine uses (/etc/apt/sources.list.d/), with exim4-daemon-light (Debian's
default MTA), bsd-mailx and the package's Build-Depends installed, and the
packages of postfix and msmtp-mta downloaded, is cached as one tarball per
day in /var/cache/postern-tests/ (POSTERN_TEST_CACHE); the name also holds
a hash of this recipe and of debian/control, so a change to either makes a
new one.  Every chroot is a fresh copy of it.  No systemd runs in it: the
queue runner's command is the cron line's, run by hand as its user.  The
test smarthost is tests/smtpd.py on 127.0.0.1 outside the chroot, which
shares the network namespace; mounts are made in a private mount
namespace (unshare -m) and die with it.

exim4: the source tree is copied into the chroot and the commands of the
README's "Install" section are run there exactly as written; then the
seven checks of the issue, numbered as there.  postfix, msmtp-mta: the
same .deb installed over them.  Prints `ok NAME` / `FAIL NAME`, then
`package: N passed, N failed`.  Without root: a note and `package: 0
passed, 0 failed`.
"""

import datetime
import fcntl
import glob
import hashlib
import inspect
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOP = os.path.dirname(TESTS)
sys.path.insert(0, TESTS)
import harness  # noqa: E402

SUITE = 'bookworm'
CACHE = os.environ.get('POSTERN_TEST_CACHE', '/var/cache/postern-tests')
# What the base root holds; any change here makes a new tarball.
BASE_INSTALL = ['exim4-daemon-light', 'bsd-mailx']
BASE_DOWNLOAD = ['postfix', 'msmtp-mta']
SECRET = 'Pkg-s3cret-9Xw'
MAILNAME = 'mailname.example'
ENV = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'LC_ALL': 'C', 'HOME': '/root',
       'DEBIAN_FRONTEND': 'noninteractive'}
T = harness.Tally()
KEEP = '--keep' in sys.argv


def sh(argv, stdin=b'', check=False, timeout=1800):
    p = subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout, env=ENV)
    out = (p.stdout + p.stderr).decode('utf-8', 'replace')
    if check and p.returncode != 0:
        raise RuntimeError(f'{shlex.join(argv)}: exit {p.returncode}\n{out}')
    return p.returncode, out


def archive():
    """The Debian archive of this machine's apt sources for SUITE."""
    for path in sorted(glob.glob('/etc/apt/sources.list.d/*.sources')):
        with open(path) as f:
            for stanza in f.read().split('\n\n'):
                fields = dict(re.findall(r'^(\w[\w-]*):\s*(.*)$', stanza, re.M))
                if SUITE in fields.get('Suites', '').split() and \
                        fields.get('Enabled', 'yes') != 'no':
                    return path, fields['URIs'].split()[0]
    return None, 'http://deb.debian.org/debian'


class Chroot:
    """A Debian root at PATH with /proc mounted, in our mount namespace."""

    def __init__(self, path, lower=None):
        """LOWER: the extracted base root, read-only under an overlay whose
        changes go to PATH.upper; else PATH itself, bind-mounted onto
        itself so that it is a mount point of its own."""
        self.path = path
        self.overlay = bool(lower)
        if lower:
            for d in (path, path + '.upper', path + '.work'):
                os.makedirs(d)
            sh(['mount', '-t', 'overlay', 'overlay', '-o',
                f'lowerdir={lower},upperdir={path}.upper,workdir={path}.work',
                path], check=True)
        else:
            sh(['mount', '--bind', path, path], check=True)
        sh(['mount', '--make-private', path], check=True)
        sh(['mount', '-t', 'proc', 'proc', os.path.join(path, 'proc')], check=True)
        shutil.copy('/etc/resolv.conf', os.path.join(path, 'etc', 'resolv.conf'))

    def run(self, cmd, user=None, stdin=b'', cwd='/root', timeout=1800):
        """sh -c CMD in the chroot, as root or USER: (status, output)."""
        if user is None:
            argv = ['chroot', self.path, 'sh', '-c', f'cd {cwd} && {cmd}']
        else:
            argv = ['chroot', self.path, 'runuser', '-u', user, '--', 'sh', '-c', cmd]
        return sh(argv, stdin, timeout=timeout)

    def file(self, path):
        return os.path.join(self.path, path.lstrip('/'))

    def read(self, path):
        return harness.read(self.file(path)).decode('utf-8', 'replace')

    def close(self):
        sh(['umount', '-R', self.path])
        with open('/proc/self/mountinfo') as f:
            if any(line.split()[4].startswith(self.path) for line in f):
                raise RuntimeError(f'{self.path}: still mounted, not removed')
        # Only an overlay's directories: a root of its own (the base
        # being prepared) is the caller's, still to be archived.
        if self.overlay and not KEEP:
            for d in (self.path, self.path + '.upper', self.path + '.work'):
                shutil.rmtree(d, ignore_errors=True)


def base():
    """The cached tarball of the base root, made when today's is missing."""
    sources, uri = archive()
    h = hashlib.sha256()
    for part in [SUITE, uri, ' '.join(BASE_INSTALL), ' '.join(BASE_DOWNLOAD),
                 inspect.getsource(prepare),
                 harness.read(os.path.join(TOP, 'debian', 'control')).decode(),
                 harness.read(sources).decode() if sources else '']:
        h.update(part.encode() + b'\0')
    day = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%d')
    os.makedirs(CACHE, exist_ok=True)
    tar = os.path.join(CACHE, f'{SUITE}-{day}-{h.hexdigest()[:12]}.tar')
    with open(os.path.join(CACHE, '.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(tar):
            return tar, 'warm'
        for old in glob.glob(os.path.join(CACHE, f'{SUITE}-*.tar')):
            os.unlink(old)
        work = tempfile.mkdtemp(prefix='base.', dir=CACHE)
        root = os.path.join(work, 'root')
        try:
            sh(['debootstrap', '--variant=minbase', SUITE, root, uri], check=True)
            prepare(root, sources)
            sh(['tar', '-C', root, '-cf', tar + '.tmp', '.'], check=True)
            os.rename(tar + '.tmp', tar)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return tar, 'cold'


def prepare(root, sources):
    """The base root: the machine's sources, no daemon started, dpkg
    without fsync (a throw-away root), exim4 and bsd-mailx installed, the
    Build-Depends installed, postfix and msmtp-mta downloaded."""
    etc = os.path.join(root, 'etc')
    if sources:
        shutil.copy(sources, os.path.join(etc, 'apt', 'sources.list.d'))
        os.unlink(os.path.join(etc, 'apt', 'sources.list'))
    with open(os.path.join(root, 'usr', 'sbin', 'policy-rc.d'), 'w') as f:
        f.write('#!/bin/sh\nexit 101\n')
    os.chmod(os.path.join(root, 'usr', 'sbin', 'policy-rc.d'), 0o755)
    with open(os.path.join(etc, 'dpkg', 'dpkg.cfg.d', 'unsafe-io'), 'w') as f:
        f.write('force-unsafe-io\n')
    os.makedirs(os.path.join(root, 'tmp', 'control', 'debian'))
    shutil.copy(os.path.join(TOP, 'debian', 'control'),
                os.path.join(root, 'tmp', 'control', 'debian'))
    c = Chroot(root)
    try:
        get = 'apt-get -y -q --no-install-recommends'
        for cmd in ['apt-get -q update',
                    "echo 'man-db man-db/auto-update boolean false' | "
                    'debconf-set-selections',
                    f'{get} install ' + ' '.join(BASE_INSTALL),
                    f'{get} build-dep /tmp/control'] + \
                   [f'{get} install --download-only {p}' for p in BASE_DOWNLOAD]:
            rc, out = c.run(cmd)
            if rc != 0:
                raise RuntimeError(f'base root: {cmd}: exit {rc}\n{out}')
    finally:
        c.close()
    shutil.rmtree(os.path.join(root, 'tmp', 'control'))


def fresh(lower, name, work):
    """A fresh root: an overlay over the base root extracted once."""
    c = Chroot(os.path.join(work, name), lower)
    # The administrator answers yes to apt's questions.
    with open(c.file('/etc/apt/apt.conf.d/90yes'), 'w') as f:
        f.write('APT::Get::Assume-Yes "true";\n')
    with open(c.file('/etc/mailname'), 'w') as f:
        f.write(MAILNAME + '\n')
    c.run('useradd -m -s /bin/sh alice')
    return c


def readme_install():
    """The command lines of README.md's "Install" section, as written."""
    text = harness.read(os.path.join(TOP, 'README.md')).decode()
    m = re.search(r'^## Install\n(.*?)^##', text, re.M | re.S)
    if not m:
        return []
    cmds = []
    for line in m.group(1).splitlines():
        if line.startswith('    ') and not line.startswith('     '):
            cmd = line[4:].split('  #')[0].strip()
            if cmd:
                cmds.append(cmd)
    return cmds


def installed(c, pkg):
    rc, out = c.run(f"dpkg-query -W -f '${{Status}} ${{Version}}' {pkg}")
    return out.split()[-1] if rc == 0 and 'install ok installed' in out else None


def statinfo(c, path):
    """(mode, owner, group) of PATH in the chroot, names from its own files."""
    rc, out = c.run(f"stat -c '%a %U %G' {path}")
    return out.strip() if rc == 0 else 'missing'


def cron_command(c, problems):
    """The command of /etc/cron.d/postern; its user must be postern."""
    for line in c.read('/etc/cron.d/postern').splitlines():
        line = line.strip()
        if not line or line.startswith('#') or re.match(r'^\w+=', line):
            continue
        f = line.split(None, 6)
        if len(f) < 7 or f[5] != 'postern':
            problems.append(f'cron line not run as postern: {line}')
        return f[6] if len(f) == 7 else 'false'
    problems.append('no command in /etc/cron.d/postern')
    return 'false'


def queue_run(c, cmd):
    """CMD (the cron line's) as the runner user an hour later, when the
    first retry is due: libfaketime, which the setgid binary accepts since
    the runner's own group is postern (no secure-execution mode)."""
    lib = glob.glob('/usr/lib/*/faketime/libfaketime.so.1')
    if lib and not os.path.exists(c.file('/tmp/libfaketime.so.1')):
        shutil.copy(lib[0], c.file('/tmp/libfaketime.so.1'))
    return c.run(f"LD_PRELOAD=/tmp/libfaketime.so.1 FAKETIME='+1h' "
                 f"DONT_FAKE_MONOTONIC=1; export LD_PRELOAD FAKETIME "
                 f"DONT_FAKE_MONOTONIC; {cmd}", user='postern')


def configure(c, port):
    """The administrator's edit: the smarthost, with its password, set in
    the template's account (the end of the file), or its port changed."""
    path = c.file('/etc/postern.conf')
    text = c.read('/etc/postern.conf')
    if 'host 127.0.0.1' in text:
        text = re.sub(r'(?m)^port \d+$', f'port {port}', text)
    else:
        text += (f'host 127.0.0.1\nport {port}\ntls off\nauth plain\n'
                 f'auth_allow_plaintext on\nuser u\npassword {SECRET}\ntimeout 10\n')
    with open(path + '.new', 'w') as f:
        f.write(text)
    st = os.stat(path)
    os.chown(path + '.new', st.st_uid, st.st_gid)
    os.chmod(path + '.new', st.st_mode & 0o7777)
    os.rename(path + '.new', path)


def server(work, name):
    tmp = os.path.join(work, 'srv-' + name)
    os.makedirs(tmp)
    return harness.Server(f'auth PLAIN\nuser u {SECRET}\n', tmp, harness.certs())


def mail(c, subject, body='hello from alice\n'):
    """alice runs mail(1): (status, output)."""
    return c.run(f"mail -s {shlex.quote(subject)} user@example.test", user='alice',
                 stdin=body.encode())


def queued(c):
    return sorted(os.listdir(c.file('/var/spool/postern'))) \
        if os.path.isdir(c.file('/var/spool/postern')) else []


def delivered(srv, subject, problems):
    """SUBJECT arrived from alice@MAILNAME to user@example.test."""
    stop = srv.stop()
    problems += stop
    t = srv.transcript()
    data = (srv.data() or b'').decode('utf-8', 'replace')
    if f'MAIL FROM:<alice@{MAILNAME}>' not in t or 'RCPT TO:<user@example.test>' \
            not in t or f'Subject: {subject}' not in data or \
            not re.search(rf'(?m)^Message-ID: <[^>]*@{re.escape(MAILNAME)}>', data):
        problems.append(f'{subject!r} not delivered as expected:\n{t}\n{data}')
    if SECRET in data:
        problems.append('the password is in the message')


def main():
    if os.geteuid() != 0:
        print('note: not root; the package test needs debootstrap and chroot')
        print('package: 0 passed, 0 failed')
        return 0
    if os.environ.get('PACKAGE_TEST_NS') != '1':
        os.environ['PACKAGE_TEST_NS'] = '1'
        os.execvp('unshare', ['unshare', '-m', '--propagation', 'private',
                              sys.executable] + sys.argv)
    ENV['PACKAGE_TEST_NS'] = '1'
    t0 = datetime.datetime.now()
    try:
        tar, how = base()
    except (RuntimeError, subprocess.SubprocessError, OSError) as e:
        T.report('base root', [str(e)])
        return T.done('package')
    print(f'base root: {os.path.basename(tar)} ({how}, '
          f'{(datetime.datetime.now() - t0).seconds} s)')
    work = tempfile.mkdtemp(prefix='postern-package.', dir='/var/tmp')
    os.chmod(work, 0o755)
    lower = os.path.join(work, 'base')
    os.makedirs(lower)
    sh(['tar', '-C', lower, '-xf', tar], check=True)
    try:
        debs = exim4(lower, work)
        if debs:
            for mta in ('postfix', 'msmtp-mta'):
                other(lower, work, mta, debs[0])
    finally:
        if KEEP:
            print('kept', work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f'package: {(datetime.datetime.now() - t0).seconds} s in all')
    return T.done('package')


def build(c, work, cmds, problems):
    """The README's install commands in the copy of the tree: the .deb built
    and installed.  Returns the .deb's path in WORK."""
    for cmd in cmds:
        rc, out = c.run(cmd, cwd='/root/postern')
        if rc != 0:
            problems.append(f'README command {cmd!r}: exit {rc}\n{out[-3000:]}')
            return None
    debs = glob.glob(c.file('/root/postern/postern_*.deb'))
    if len(debs) != 1:
        problems.append(f'not one .deb: {debs}')
        return None
    shutil.copy(debs[0], work)
    return os.path.join(work, os.path.basename(debs[0]))


def exim4(lower, work):
    c = fresh(lower, 'exim4', work)
    try:
        return exim4_checks(c, work)
    finally:
        c.close()


def exim4_checks(c, work):
    # 1. exim4 and bsd-mailx, then the README's commands.
    p = []
    before = {x: installed(c, x) for x in ('exim4-daemon-light', 'bsd-mailx')}
    if None in before.values():
        p.append(f'base root: {before}')
    cmds = readme_install()
    if not any(x.startswith('apt install ./postern_') for x in cmds):
        p.append(f'README "Install" has no apt install of the .deb: {cmds}')
    shutil.copytree(TOP, c.file('/root/postern'), symlinks=True, ignore=ignore)
    make_install(c)
    deb = build(c, work, cmds, p)
    if deb:
        if installed(c, 'postern') is None:
            p.append('postern not installed')
        if installed(c, 'exim4-daemon-light') is not None:
            p.append('exim4-daemon-light still installed')
        if installed(c, 'bsd-mailx') is None:
            p.append('bsd-mailx was removed')
        lint(deb)
    T.report('exim4 1: the README builds the .deb, it replaces exim4, '
             'bsd-mailx stays', p)
    if not deb:
        return None
    modes(c, 'exim4')
    make_over_package(c)
    running(c, work, 'exim4')
    upgrade(c, work)
    remove_purge(c, work, deb)
    return [deb]


def make_install(c):
    """make install over exim4: install-links refuses exim4's names, naming
    the package and the way to switch, and makes none; uninstall removes
    only what install made; DESTDIR without the group: 2755 and the exact
    commands.  Everything undone before the README's install."""
    p = []
    m = 'cd /root/postern && '
    rc, out = c.run(m + './configure && make install')
    if rc != 0 or statinfo(c, '/usr/local/sbin/postern') != '2755 root postern':
        p.append(f'make install: {rc} {statinfo(c, "/usr/local/sbin/postern")}\n{out}')
    rc, out = c.run(m + 'make install-cron && id -gn postern')
    cronp = []
    if rc != 0 or out.split()[-1:] != ['postern']:
        p.append(f'make install-cron: {rc}\n{out}')
    elif cron_command(c, cronp) == 'false' or cronp:
        p.append(f'make install-cron: {cronp}')
    c.run('userdel postern')
    rc, out = c.run(m + 'make install-links')
    if rc == 0 or 'belongs to the package exim4-daemon-light' not in out or \
            'apt install ./postern_*.deb' not in out or \
            'apt-get remove exim4-daemon-light' not in out:
        p.append(f'install-links over exim4: {rc}\n{out}')
    for path in ('/usr/local/sbin/sendmail', '/usr/local/bin/mailq',
                 '/usr/local/bin/newaliases'):
        if os.path.lexists(c.file(path)):
            p.append(f'{path} made although install-links failed')
    rc, out = c.run(m + 'make uninstall')
    if rc != 0 or os.path.lexists(c.file('/usr/local/sbin/postern')) or \
            os.path.lexists(c.file('/etc/cron.d/postern')):
        p.append(f'make uninstall: {rc}\n{out}')
    rc, out = c.run('dpkg -S /usr/sbin/sendmail /usr/lib/sendmail && '
                    'readlink -e /usr/sbin/sendmail /usr/lib/sendmail')
    if rc != 0 or 'postern' in out:
        p.append(f"exim4's names touched: {out}")
    c.run('groupdel postern; rmdir /var/spool/postern')
    # A staged install on a host without the group.
    rc, out = c.run(m + 'make install DESTDIR=/tmp/stage')
    want = ('groupadd -r postern && chown root:postern /usr/local/sbin/postern '
            '/var/spool/postern && chmod 2755 /usr/local/sbin/postern && '
            'chmod 2770 /var/spool/postern')
    if rc != 0 or want not in ' '.join(out.split()) or \
            statinfo(c, '/tmp/stage/usr/local/sbin/postern')[:5] != '2755 ':
        p.append(f'make install DESTDIR without the group: {rc} '
                 f'{statinfo(c, "/tmp/stage/usr/local/sbin/postern")}\n{out}')
    os.makedirs(c.file('/tmp/stage/usr/lib'))
    with open(c.file('/tmp/stage/usr/lib/sendmail'), 'w') as f:
        f.write('another MTA\n')
    rc, out = c.run(m + 'make install-links DESTDIR=/tmp/stage')
    if rc == 0 or '/tmp/stage/usr/lib/sendmail exists and is not a link to ' \
            'postern' not in ' '.join(out.split()) or \
            os.path.lexists(c.file('/tmp/stage/usr/local/sbin/sendmail')):
        p.append(f'install-links over a file: {rc}\n{out}')
    os.unlink(c.file('/tmp/stage/usr/lib/sendmail'))
    rc, out = c.run(m + 'make install-links DESTDIR=/tmp/stage && '
                    'make uninstall DESTDIR=/tmp/stage')
    rc2, left = c.run('find /tmp/stage ! -type d')
    if rc != 0 or out.count('removed ') != 5 or left.strip():
        p.append(f'install-links, uninstall in DESTDIR: {rc}\n{out}\nleft: {left}')
    c.run(m + 'make distclean; rm -rf /tmp/stage')
    if os.path.exists(c.file('/etc/group')) and \
            'postern:' in c.read('/etc/group'):
        p.append('group postern left')
    T.report('exim4 0: make install, install-cron (user postern); install-links '
             'refuses exim4\'s names and makes none; uninstall leaves them; '
             'DESTDIR without the group', p)


def make_over_package(c):
    """make install and install-links never overwrite the package's files."""
    p = []
    rc, out = c.run('cd /root/postern && ./configure PREFIX=/usr >/dev/null && '
                    'make install')
    if rc == 0 or 'belongs to the package postern' not in out:
        p.append(f'make install over the package: {rc}\n{out}')
    rc, out = c.run('cd /root/postern && make install-links')
    if rc == 0 or 'belongs to the package postern' not in out:
        p.append(f'make install-links over the package: {rc}\n{out}')
    rc, out = c.run('cd /root/postern && make uninstall')
    if rc == 0 or not os.path.exists(c.file('/usr/sbin/postern')):
        p.append(f'make uninstall over the package: {rc}\n{out}')
    c.run('cd /root/postern && make distclean')
    rc, out = c.run('dpkg --verify postern')
    if rc != 0 or out.strip():
        p.append(f'dpkg --verify postern: {out}')
    T.report('exim4 2 (make): make install, install-links and uninstall leave the '
             'package\'s files alone', p)


def ignore(d, names):
    if d == TOP:
        return [n for n in names if n.startswith(('build', '.git', 'postern'))
                or n in ('Makefile', 'config.h', 'config.log')]
    return [n for n in names if n == '.certs']


def lint(deb):
    os.chmod(os.path.dirname(deb), 0o755)
    p = subprocess.run(['runuser', '-u', 'nobody', '--', 'lintian', '--fail-on',
                        'error,warning', '-I', '--pedantic', deb], capture_output=True,
                       env=dict(ENV, HOME='/nonexistent'), cwd='/')
    rc, out = p.returncode, (p.stdout + p.stderr).decode('utf-8', 'replace')
    print('lintian -I --pedantic: ' + (out.strip().replace('\n', '\n    ') or '(nothing)'))
    T.report('lintian: no error, no warning', [] if rc == 0 else [out])


def modes(c, mta):
    """2. sendmail is postern, setgid postern; spool, config and links."""
    p = []
    for path in ('/usr/sbin/sendmail', '/usr/lib/sendmail', '/usr/bin/mailq',
                 '/usr/bin/newaliases'):
        rc, out = c.run(f'readlink -f {path}')
        if out.strip() != '/usr/sbin/postern':
            p.append(f'{path} -> {out.strip()}')
    want = {'/usr/sbin/postern': '2755 root postern',
            '/var/spool/postern': '2770 root postern',
            '/etc/postern.conf': '640 root postern'}
    for path, w in want.items():
        if statinfo(c, path) != w:
            p.append(f'{path}: {statinfo(c, path)}, not {w}')
    rc, out = c.run('dpkg-statoverride --list')
    for path, w in want.items():
        mode, owner, group = w.split()
        if f'root postern {int(mode, 8):o} {path}' not in out and \
                f'root postern {mode.zfill(4)} {path}' not in out:
            p.append(f'no statoverride for {path}: {out}')
    rc, out = c.run('getent passwd postern; id -gn postern')
    f = out.split('\n')[0].split(':')
    if len(f) < 7 or f[6] not in ('/usr/sbin/nologin', '/bin/false') or \
            'postern' not in out.split('\n')[1:2]:
        p.append(f'runner user: {out}')
    for page in ('man8/sendmail.8.gz', 'man1/mailq.1.gz', 'man8/newaliases.8.gz'):
        rc, out = c.run(f'readlink -f /usr/share/man/{page}')
        if out.strip() != '/usr/share/man/man8/postern.8.gz':
            p.append(f'{page} -> {out.strip()}')
    rc, out = c.run('/usr/sbin/sendmail user@example.test', user='alice',
                    stdin=b'Subject: unconfigured\n\nhello\n')
    if rc != 78 or '/etc/postern.conf' not in out or queued(c):
        p.append(f'the template sent or queued, or named no file: {rc} {out}')
    T.report(f'{mta} 2: sendmail is postern setgid postern; spool, config, '
             'links, runner user; the template refuses naming the file', p)


def running(c, work, mta):
    """3. alice's mail(1) delivered; she cannot read the configuration.
    4. smarthost down: queued; the cron command as postern delivers it."""
    p = []
    srv = server(work, mta + '-3')
    configure(c, srv.port)
    rc, out = mail(c, 'test')
    if rc != 0:
        p.append(f'mail: {rc} {out}')
    delivered(srv, 'test', p)
    rc, out = c.run('cat /etc/postern.conf', user='alice')
    if rc == 0 or SECRET in out:
        p.append(f'alice reads /etc/postern.conf: {rc}')
    if queued(c):
        p.append(f'left in the queue: {queued(c)}')
    T.report(f'{mta} 3: mail(1) as a user delivered to the smarthost; '
             'the user cannot read /etc/postern.conf', p)
    if mta != 'exim4':
        return
    p = []
    rc, out = mail(c, 'queued')
    if rc != 0 or len(queued(c)) != 2:
        p.append(f'not queued: {rc} {out} {queued(c)}')
    cmd = cron_command(c, p)
    service = c.read('/lib/systemd/system/postern-queue.service')
    if 'User=postern' not in service or 'ExecStart=/usr/sbin/postern -q' \
            not in service:
        p.append('postern-queue.service: ' + service)
    if not os.path.islink(c.file('/etc/systemd/system/timers.target.wants/'
                                 'postern-queue.timer')):
        p.append('postern-queue.timer not enabled')
    # Under systemd the cron line does nothing.
    os.makedirs(c.file('/run/systemd/system'))
    srv = server(work, mta + '-4')
    configure(c, srv.port)
    rc, out = queue_run(c, cmd)
    os.rmdir(c.file('/run/systemd/system'))
    os.rmdir(c.file('/run/systemd'))
    if rc != 0 or out or len(queued(c)) != 2:
        p.append(f'cron under systemd ran: {rc} {out} {queued(c)}')
    rc, out = queue_run(c, cmd)
    if rc != 0 or out:
        p.append(f'cron command: {rc} {out}')
    delivered(srv, 'queued', p)
    if queued(c):
        p.append(f'left in the queue: {queued(c)}')
    T.report(f'{mta} 4: smarthost down, queued; the cron command as postern '
             'delivers it (and does nothing under systemd)', p)


def upgrade(c, work):
    """5. A rebuilt package with a higher version: queue and config kept."""
    p = []
    rc, out = mail(c, 'upgrade')
    msgs = queued(c)
    if rc != 0 or len(msgs) != 2:
        p.append(f'not queued: {rc} {out} {msgs}')
    conf = c.read('/etc/postern.conf')
    old = installed(c, 'postern')
    log = c.read('/root/postern/debian/changelog')
    new = old + '+1'
    trailer = re.search(r'(?m)^ -- .*$', log).group(0)
    with open(c.file('/root/postern/debian/changelog'), 'w') as f:
        f.write(f'postern ({new}) unstable; urgency=medium\n\n'
                f'  * Rebuilt for the upgrade test.\n\n{trailer}\n\n{log}')
    # The same commands; the unit tests already ran in the first build.
    cmds = ['export DEB_BUILD_OPTIONS=nocheck; ' + x for x in readme_install()
            if x.startswith(('./configure', 'make', 'apt install'))]
    build(c, work, cmds, p)
    if installed(c, 'postern') != new:
        p.append(f'version after upgrade: {installed(c, "postern")}, not {new}')
    if queued(c) != msgs:
        p.append(f'queue changed: {msgs} -> {queued(c)}')
    if c.read('/etc/postern.conf') != conf:
        p.append('/etc/postern.conf changed')
    if statinfo(c, '/usr/sbin/postern') != '2755 root postern':
        p.append(f'/usr/sbin/postern: {statinfo(c, "/usr/sbin/postern")}')
    srv = server(work, 'exim4-5')
    configure(c, srv.port)
    rc, out = queue_run(c, cron_command(c, p))
    delivered(srv, 'upgrade', p)
    if queued(c):
        p.append(f'left in the queue: {queued(c)}')
    T.report(f'exim4 5: upgrade {old} -> {new} keeps the queued message '
             '(then delivered) and the edited config', p)


def remove_purge(c, work, deb):
    """6. remove keeps the queue; purge removes everything; exim4 again."""
    p = []
    rc, out = mail(c, 'kept')
    msgs = queued(c)
    rc, out = c.run('apt-get remove postern')
    if rc != 0 or queued(c) != msgs or len(msgs) != 2:
        p.append(f'remove: {rc} {msgs} -> {queued(c)}\n{out}')
    if os.path.lexists(c.file('/usr/sbin/sendmail')):
        p.append('/usr/sbin/sendmail still there after remove')
    # Installed again, the kept message is delivered.
    shutil.copy(deb, c.file('/root'))
    rc, out = c.run(f'apt install ./{os.path.basename(deb)}')
    if rc != 0 or installed(c, 'postern') is None:
        p.append(f'installed again: {rc}\n{out[-2000:]}')
    srv = server(work, 'exim4-6')
    configure(c, srv.port)
    rc, out = queue_run(c, cron_command(c, p))
    delivered(srv, 'kept', p)
    rc, out = c.run('apt-get purge postern')
    if rc != 0:
        p.append(f'purge: {rc}\n{out}')
    for path in ('/var/spool/postern', '/etc/postern.conf', '/usr/sbin/postern',
                 '/etc/cron.d/postern', '/lib/systemd/system/postern-queue.timer'):
        if os.path.lexists(c.file(path)):
            p.append(f'{path} still there after purge')
    rc, out = c.run('dpkg-statoverride --list; getent passwd postern; '
                    'getent group postern')
    if 'postern' in out:
        p.append(f'left after purge: {out}')
    rc, out = c.run('dpkg -S /usr/sbin/sendmail')
    if rc == 0 or 'postern' in out:
        p.append(f'dpkg -S /usr/sbin/sendmail: {out}')
    rc, out = c.run('apt-get install --no-install-recommends exim4-daemon-light')
    if rc != 0 or installed(c, 'exim4-daemon-light') is None or \
            not os.path.lexists(c.file('/usr/sbin/sendmail')):
        p.append(f'exim4 again: {rc}\n{out[-2000:]}')
    T.report('exim4 6: remove keeps the queue; purge removes spool, config, '
             'statoverrides, user and group; exim4 installs again', p)


def without_libcurl(c):
    """The package recommends libcurl4 and works without it: postern
    needs no libcurl to start; OAuth2 names the package to install."""
    p = []
    rc, out = c.run("dpkg-query -W -f '${Recommends}' postern")
    if rc != 0 or not re.search(r'(^|, )libcurl4 \(>= [^)]+\)(,|$)', out):
        p.append(f'Recommends: {out}')
    rc, out = c.run("dpkg-query -W -f '${Depends}' postern")
    if 'curl' in out:
        p.append(f'Depends: {out}')
    if installed(c, 'libcurl4') is not None:
        p.append('libcurl4 installed')
    with open(c.file('/root/oauth2.conf'), 'w') as f:
        f.write('account o\nhost 127.0.0.1\nport 9\nauth xoauth2\nuser u\n'
                'oauth2_provider custom\noauth2_client_id c\n'
                'oauth2_token_url https://127.0.0.1:9/token\n'
                'oauth2_device_url https://127.0.0.1:9/devicecode\n'
                'queue_dir /root/q\n')
    rc, out = c.run('postern -C /root/oauth2.conf -a o --authorize')
    if rc != 78 or not re.fullmatch(r'postern: oauth2: cannot load libcurl\.so\.4 \(Debian: '
                                    r'apt-get install libcurl4\): [^\n]*\n', out):
        p.append(f'--authorize without libcurl: {rc} {out!r}')
    T.report('msmtp-mta 7: Recommends libcurl4 (not Depends); installed without it, '
             'OAuth2 names the package to install', p)


def other(lower, work, mta, deb):
    """7. The same install over postfix and over msmtp-mta."""
    c = fresh(lower, mta, work)
    try:
        p = []
        rc, out = c.run(f'apt-get install --no-install-recommends {mta}')
        if rc != 0 or installed(c, mta) is None:
            p.append(f'{mta} not installed: {out[-2000:]}')
        shutil.copy(deb, c.file('/root'))
        # msmtp-mta's root is a minimal container's: no libcurl, the
        # .deb without its Recommends (issue 16).
        minimal = mta == 'msmtp-mta'
        if minimal:
            rc, out = c.run('apt-get purge libcurl4')
            if rc != 0 or installed(c, 'libcurl4') is not None:
                p.append(f'purge libcurl4: {rc}\n{out[-2000:]}')
        rc, out = c.run('apt install ' + ('--no-install-recommends ' if minimal else '') +
                        f'./{os.path.basename(deb)}')
        if rc != 0 or installed(c, 'postern') is None:
            p.append(f'apt install: {rc}\n{out[-3000:]}')
        if installed(c, mta) is not None:
            p.append(f'{mta} still installed')
        if installed(c, 'bsd-mailx') is None:
            p.append('bsd-mailx was removed')
        T.report(f'{mta} 7: the .deb replaces {mta}, bsd-mailx stays', p)
        if p:
            return
        if minimal:
            without_libcurl(c)
        modes(c, mta)
        running(c, work, mta)
        # Purge with mail still queued: the mail stays and is named.
        p = []
        rc, out = mail(c, 'left')
        msgs = queued(c)
        rc, out = c.run('apt-get purge postern')
        if rc != 0 or queued(c) != msgs or len(msgs) != 2 or \
                '/var/spool/postern still holds queued mail' not in out:
            p.append(f'purge with mail: {rc} {msgs} -> {queued(c)}\n{out}')
        if os.path.lexists(c.file('/etc/postern.conf')):
            p.append('/etc/postern.conf still there after purge')
        rc, out = c.run(f'apt-get install --no-install-recommends {mta}')
        if rc != 0 or installed(c, mta) is None:
            p.append(f'{mta} again: {out[-2000:]}')
        T.report(f'{mta} 7: purge with mail queued keeps it and says where; '
                 f'{mta} installs again', p)
    finally:
        c.close()


if __name__ == '__main__':
    sys.exit(main())
