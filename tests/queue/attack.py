"""No caller trusted with another's mail (issue 12): a victim and an
attacker, two unprivileged users, against priv.py's setgid install.

Not run alone: priv.py calls run() after its own checks, with itself as
P (its helpers, users and result list) and the install's paths.  Each
check is a reproduction from the issue that fails on the code before the
fix:

- the attacker's -q and -qf, and the flush after its own submission,
  leave the victim's queued mail alone; the runner user delivers it;
- lock holding: an attacker's -qf stopped mid-run holds no lock on the
  victim's message, so the runner delivers it;
- the downgrade temp-file race: no file is created in the attacker's
  TMPDIR by its runs and submissions (inotify), and the victim's text is
  never read there;
- the replay through a blocked -v: the attacker's stderr (a pty) is
  stopped between the server's 250 and its record, then the process is
  killed: the message is not sent again;
- SCRAM challenges in -v are <redacted> for the attacker, shown to root;
- -bs applies allow_from_override off;
- the system passwordeval reads a root:GROUP 0640 secret in a clean
  process (cwd /, no inherited variable, limits raised), -C's cannot;
- 2>&- in a plain build: the transcript never lands in the spool file;
- the logfile: an attacker's run never creates or owns it; root creates
  it root:GROUP 0660, and the attacker's lines are appended to it.
"""

import ctypes
import os
import pty
import pwd
import signal
import socket
import stat
import struct
import subprocess
import termios
import threading
import time

VICTIM_BODY = b'victim-only-text-\xc3\xa9t\xc3\xa9-K7w'


def spool_clear(spool):
    for n in os.listdir(spool):
        p = os.path.join(spool, n)
        if os.path.isfile(p):
            os.unlink(p)


def spool_msgs(spool):
    return sorted(n for n in os.listdir(spool) if n.endswith('.env'))


def msg_data(srv):
    """The DATA bytes the scripted server received, in order."""
    out = []
    i = 1
    while os.path.exists(os.path.join(srv.out, f'data.{i}')):
        with open(os.path.join(srv.out, f'data.{i}'), 'rb') as f:
            out.append(f.read())
        i += 1
    return out


class Inotify:
    """Files created in a directory (IN_CREATE), opened at once by a
    thread, as an attacker watching its TMPDIR would."""

    def __init__(self, path):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init()
        self.libc.inotify_add_watch(self.fd, path.encode(), 0x100)
        self.path = path
        self.created = []
        self.read = b''
        self.held = []
        self.stop = False
        self.t = threading.Thread(target=self.loop, daemon=True)
        self.t.start()

    def loop(self):
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except OSError:
                return
            i = 0
            while i + 16 <= len(buf):
                _, _, _, n = struct.unpack_from('iIII', buf, i)
                name = buf[i + 16:i + 16 + n].rstrip(b'\0').decode()
                i += 16 + n
                self.created.append(name)
                try:
                    self.held.append(os.open(os.path.join(self.path, name), os.O_RDONLY))
                except OSError:
                    pass

    def finish(self):
        time.sleep(0.3)
        os.close(self.fd)
        for fd in self.held:
            try:
                self.read += os.pread(fd, 1 << 20, 0)
            finally:
                os.close(fd)
        return self.created, self.read


def private_tmp(path):
    """A pre-exec function: a mount namespace of its own where path is
    /tmp (run as root, before the drop to the user)."""
    def pre():
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(0x00020000) != 0:                       # CLONE_NEWNS
            raise OSError(ctypes.get_errno(), 'unshare')
        if libc.mount(b'none', b'/', None, 0x4000 | 0x40000, None) != 0:  # MS_REC|MS_PRIVATE
            raise OSError(ctypes.get_errno(), 'mount --make-rprivate /')
        if libc.mount(path.encode(), b'/tmp', None, 0x1000, None) != 0:   # MS_BIND
            raise OSError(ctypes.get_errno(), 'mount --bind')
    return pre


class HoldServer:
    """A minimal SMTP server (no PIPELINING, any AUTH accepted) that waits
    for `release` before it answers the end of data; counts the messages."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(5)
        self.port = self.sock.getsockname()[1]
        self.got_dot = threading.Event()
        self.release = threading.Event()
        self.messages = 0
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(c,), daemon=True).start()

    def session(self, c):
        f = c.makefile('rb')
        c.sendall(b'220 hold ESMTP\r\n')
        try:
            for line in f:
                v = line[:4].upper()
                if v in (b'EHLO', b'HELO'):
                    c.sendall(b'250-hold\r\n250 AUTH PLAIN\r\n')
                elif v == b'AUTH':
                    c.sendall(b'235 ok\r\n')
                elif v == b'DATA':
                    c.sendall(b'354 go\r\n')
                    for d in f:
                        if d == b'.\r\n':
                            break
                    self.messages += 1
                    self.got_dot.set()
                    self.release.wait(30)
                    c.sendall(b'250 2.0.0 taken\r\n')
                elif v == b'QUIT':
                    c.sendall(b'221 bye\r\n')
                    break
                else:
                    c.sendall(b'250 ok\r\n')
        except OSError:
            pass
        c.close()

    def close(self):
        self.sock.close()


def run(P, work, bin_, etc, spool, conf, gid):
    made = P.sh('useradd', '-M', '-N', '-g', 'nogroup', '-s', '/bin/sh',
                P.ATTACKER).returncode == 0
    try:
        checks(P, work, bin_, etc, spool, conf, gid)
    finally:
        if made:
            P.sh('userdel', P.ATTACKER)


def checks(P, work, bin_, etc, spool, conf, gid):
    msg = b'Subject: attack\n\nhello\n'
    home = os.path.join(work, 'attacker')
    os.makedirs(home)
    os.chown(home, pwd.getpwnam(P.ATTACKER).pw_uid, -1)

    def victim(argv, data=b''):
        return P.as_user(argv, data, user=P.USER)

    def attacker(argv, data=b'', **kw):
        return P.as_user(argv, data, cwd=home, user=P.ATTACKER, **kw)

    def queue_victim(data=msg):
        spool_clear(spool)
        with P.socket_closed() as port:
            P.write_conf(conf, port)
            rc, out, err = victim([bin_, 'rcpt@example.net'], data)
        return rc == 0 and len(spool_msgs(spool)) == 1, f'{rc} {err}'

    # --- who delivers whose mail
    ok, why = queue_victim()
    srv = P.Server(work, 'auth PLAIN\nuser u ' + P.SECRET + '\n')
    P.write_conf(conf, srv.port)
    r1 = attacker([bin_, '-q'])
    r2 = attacker([bin_, '-qf'])
    r3 = attacker([bin_, 'own@example.net'], msg)
    left = spool_msgs(spool)
    t = srv.stop()
    P.result("the attacker's -q, -qf and flush leave the victim's mail queued",
             ok and r1[0] == 0 and r2[0] == 0 and r3[0] == 0 and len(left) == 1 and
             t.count('* data') == 1 and 'own@example.net' in t,
             f'{why} {r1} {r2} {r3} {left} {t}')
    srv = P.Server(work, 'auth PLAIN\nuser u ' + P.SECRET + '\n')
    P.write_conf(conf, srv.port)
    r = P.as_user([bin_, '-qf'], user=P.RUNNER)
    t = srv.stop()
    P.result("the runner delivers the victim's mail",
             r[0] == 0 and t.count('* data') == 1 and spool_msgs(spool) == [],
             f'{r} {t} {spool_msgs(spool)}')

    # --- lock holding: a stopped attacker -qf holds no lock on it
    ok, why = queue_victim()
    stall = P.Server(work, 'stall GREETING\n')
    P.write_conf(conf, stall.port)
    p = attacker([bin_, '-qf'], wait=False)
    p.stdin.close()
    time.sleep(1.0)
    os.kill(p.pid, signal.SIGSTOP)
    srv = P.Server(work, 'auth PLAIN\nuser u ' + P.SECRET + '\n')
    P.write_conf(conf, srv.port)
    r = P.as_user([bin_, '-qf'], user=P.RUNNER)
    t = srv.stop()
    os.kill(p.pid, signal.SIGKILL)
    p.wait(10)
    stall.stop()
    P.result("a stopped attacker holds no lock on the victim's message",
             ok and r[0] == 0 and t.count('* data') == 1 and spool_msgs(spool) == [],
             f'{why} {r} {t} {spool_msgs(spool)}')

    # --- the downgrade temp-file race: nothing in the attacker's TMPDIR
    tmpdir = os.path.join(home, 'tmp')
    os.makedirs(tmpdir)
    os.chown(tmpdir, pwd.getpwnam(P.ATTACKER).pw_uid, -1)
    eight = b'Subject: eight\nContent-Type: text/plain; charset=utf-8\n\n' + VICTIM_BODY + b'\n'
    ok, why = queue_victim(eight)
    srv = P.Server(work, 'auth PLAIN\nuser u ' + P.SECRET + '\n')    # no 8BITMIME
    P.write_conf(conf, srv.port)
    watch = Inotify(tmpdir)
    # glibc drops TMPDIR for a setgid program: the attacker's own /tmp
    # (a mount namespace where tmpdir is /tmp) stands for the shared one.
    own_tmp = private_tmp(tmpdir)
    r1 = attacker([bin_, '-qf'], pre=own_tmp)
    r2 = attacker([bin_, 'own@example.net'], b'Subject: own\n\nmine \xc3\xa9\n', pre=own_tmp)
    created, seen = watch.finish()
    r3 = P.as_user([bin_, '-qf'], user=P.RUNNER)
    t = srv.stop()
    data = msg_data(srv)
    victim_data = [d for d in data if b'Subject: eight' in d]
    P.result("no scratch file in the caller's TMPDIR; the victim's text is not read",
             ok and r1[0] == 0 and r2[0] == 0 and r3[0] == 0 and created == [] and
             VICTIM_BODY not in seen and b'victim-only-text' not in seen,
             f'{why} {r1} {r2} {r3} created {created} read {len(seen)} bytes, '
             f'the victim\'s text among them: {VICTIM_BODY in seen}')
    P.result('the runner downgrades it in the spool (quoted-printable)',
             len(victim_data) == 1 and b'quoted-printable' in victim_data[0] and
             spool_msgs(spool) == [], f'{t} {spool_msgs(spool)}')

    replay(P, work, bin_, spool, conf, attacker, msg)

    # --- SCRAM challenges in -v
    srv = P.Server(work, 'auth SCRAM-SHA-256\nuser u ' + P.SECRET + '\ncap PIPELINING\n')
    P.write_conf(conf, srv.port, 'auth scram-sha-256\n')
    ra = attacker([bin_, '-v', 'rcpt@example.net'], msg)
    rr = P.as_root([bin_, '-v', 'rcpt@example.net'], msg)
    t = srv.stop()
    challenges = [line for line in ra[2].splitlines() if line.startswith('<- 334')]
    rootc = [line for line in rr[2].splitlines() if line.startswith('<- 334')]
    P.result('-v shows SCRAM challenges only to root',
             ra[0] == 0 and rr[0] == 0 and len(challenges) == 2 and
             all(c == '<- 334 <redacted>' for c in challenges) and
             len(rootc) == 2 and all(c != '<- 334 <redacted>' for c in rootc) and
             not P.leaked([('stderr', ra[2])]),
             f'{ra[0]} {rr[0]} {challenges} {rootc}')

    # --- -bs and allow_from_override off
    srv = P.Server(work, 'auth PLAIN\nuser u ' + P.SECRET + '\n')
    P.write_conf(conf, srv.port, 'allow_from_override off\nqueue off\n')
    session = (b'EHLO x\r\nMAIL FROM:<ceo@bank.example>\r\nRCPT TO:<rcpt@example.net>\r\n'
               b'DATA\r\nSubject: bs\r\n\r\nhi\r\n.\r\nQUIT\r\n')
    rc, out, err = attacker([bin_, '-bs'], session)
    rc2, out2, err2 = attacker([bin_, '-f', 'ceo@bank.example', 'rcpt@example.net'], msg)
    t = srv.stop()
    froms = [line for line in t.splitlines() if line.startswith('MAIL FROM:')]
    P.result('-bs applies allow_from_override off as -f does',
             rc == 0 and rc2 == 0 and froms == [f'MAIL FROM:<{P.USER}@example.org>'] * 2,
             f'{rc} {out} {err} {rc2} {err2} {froms}')

    pweval(P, work, bin_, etc, conf, gid, attacker, home, msg)
    closed_stderr(P, work, msg)
    logfile(P, work, bin_, conf, gid, attacker, msg)
    P.write_conf(conf, 1)
    spool_clear(spool)


def replay(P, work, bin_, spool, conf, attacker, msg):
    """The attacker's -v stderr is a pty whose output it stops between the
    server's 250 to "." and the record; then it kills the process."""
    spool_clear(spool)
    hs = HoldServer()
    P.write_conf(conf, hs.port)
    master, slave = pty.openpty()
    p = attacker([bin_, '-v', 'rcpt@example.net'], wait=False, stderr_fd=slave)
    p.stdin.write(msg)
    p.stdin.close()
    got = []
    drain = threading.Thread(target=lambda: got.append(drain_fd(master)), daemon=True)
    drain.start()
    dot = hs.got_dot.wait(20)
    termios.tcflow(slave, termios.TCOOFF)
    hs.release.set()
    time.sleep(1.5)
    queued_before_kill = spool_msgs(spool)
    p.kill()
    p.wait(10)
    termios.tcflow(slave, termios.TCOON)
    os.close(slave)
    left = spool_msgs(spool)
    hs.release.set()
    P.write_conf(conf, hs.port)
    r = P.as_user([bin_, '-qf'], user=P.RUNNER)
    hs.close()
    os.close(master)
    P.result('a blocked -v between the 250 and its record replays nothing',
             dot and hs.messages == 1 and left == [] and r[0] == 0,
             f'messages {hs.messages}, queued at the kill {queued_before_kill}, '
             f'after {left}, runner {r}')


def drain_fd(fd):
    out = b''
    while True:
        try:
            b = os.read(fd, 4096)
        except OSError:
            return out
        if not b:
            return out
        out += b


def pweval(P, work, bin_, etc, conf, gid, attacker, home, msg):
    """The system passwordeval: with the group, in a clean process."""
    secret = os.path.join(etc, 'secret')
    with open(secret, 'w') as f:
        f.write(P.SECRET + '\n')
    os.chown(secret, 0, gid)
    os.chmod(secret, 0o640)
    script = os.path.join(etc, 'pweval.sh')
    with open(script, 'w') as f:
        f.write('#!/bin/sh\n'
                '[ "$(pwd)" = / ] || { echo "cwd $(pwd)" >&2; exit 3; }\n'
                '[ -z "$EVIL" ] || { echo "inherited EVIL" >&2; exit 4; }\n'
                '[ "$(ulimit -Sn)" = "$(ulimit -Hn)" ] || { echo limits >&2; exit 5; }\n'
                f'exec cat {secret}\n')
    os.chmod(script, 0o755)
    srv = P.Server(work, 'auth PLAIN\nuser u ' + P.SECRET + '\n')
    with open(conf, 'w') as f:
        f.write(f'account default\nhost 127.0.0.1\nport {srv.port}\ntls off\n'
                f'auth plain\nauth_allow_plaintext on\nuser u\npasswordeval {script}\n'
                f'from {P.USER}@example.org\ntimeout 5\nqueue off\n')
    rc, out, err = attacker(['sh', '-c', f'ulimit -Sn 64; exec {bin_} rcpt@example.net'], msg,
                            env_extra={'EVIL': '1'})
    t = srv.stop()
    P.result('the system passwordeval reads a root:GROUP 0640 secret, in a clean process',
             rc == 0 and t.count('* data') == 1 and not P.leaked([('stderr', err)]),
             f'{rc} {err}')
    own = os.path.join(home, 'own.conf')
    with open(own, 'w') as f:
        f.write(f'account default\nhost 127.0.0.1\nport 1\ntls off\nauth plain\n'
                f'auth_allow_plaintext on\nuser u\npasswordeval cat {secret}\nqueue off\n')
    os.chown(own, pwd.getpwnam(P.ATTACKER).pw_uid, -1)
    os.chmod(own, 0o600)
    rc, out, err = attacker([bin_, '-C', own, 'rcpt@example.net'], msg)
    P.result("-C's passwordeval runs without the group",
             rc == 78 and 'passwordeval failed' in err and not P.leaked([('stderr', err)]),
             f'{rc} {err}')
    os.unlink(secret)


def closed_stderr(P, work, msg):
    """2>&- with a plain build: fd 2 is /dev/null, not the spool file."""
    plain = os.path.join(work, 'src', 'postern')
    d = os.path.join(work, 'closed')
    q = os.path.join(d, 'q')
    os.makedirs(q)
    c = os.path.join(d, 'c')
    with P.socket_closed() as port:
        with open(c, 'w') as f:
            f.write(f'account default\nhost 127.0.0.1\nport {port}\ntls off\nqueue_dir {q}\n')
        os.chmod(c, 0o600)
        p = subprocess.run(['sh', '-c', f'exec {plain} -v -C {c} rcpt@example.net 2>&-'],
                           input=msg, capture_output=True, timeout=60)
    body = b''
    for n in os.listdir(q):
        if n.endswith('.msg'):
            with open(os.path.join(q, n), 'rb') as f:
                body = f.read()
    P.result('2>&- (plain build): the transcript never lands in the spool file',
             p.returncode == 0 and body.startswith(b'Subject: attack') and
             b'postern:' not in body and b'-- ' not in body,
             f'{p.returncode} {body[:200]!r}')


def logfile(P, work, bin_, conf, gid, attacker, msg):
    """A logfile in a directory anyone may write (mode 1777): the
    attacker never creates or owns it; root creates it root:GROUP 0660;
    the attacker's line is then appended through the group."""
    logdir = os.path.join(work, 'log')
    os.makedirs(logdir)
    os.chmod(logdir, 0o1777)
    log = os.path.join(logdir, 'postern.log')
    srv = P.Server(work, 'auth PLAIN\nuser u ' + P.SECRET + '\n')
    P.write_conf(conf, srv.port, f'logfile {log}\nsyslog off\n')
    rc, out, err = attacker([bin_, 'rcpt@example.net'], msg)
    exists = os.path.exists(log)
    owner = os.stat(log).st_uid if exists else None
    P.result("an attacker's run does not create (or own) the logfile",
             rc == 0 and not exists and err.count('only root creates it') == 1,
             f'{rc} {err!r} exists {exists} owner {owner}')
    rc2, _, err2 = P.as_root([bin_, 'rcpt@example.net'], msg)
    st = os.stat(log) if os.path.exists(log) else None
    made = st is not None and st.st_uid == 0 and st.st_gid == gid and \
        stat.S_IMODE(st.st_mode) == 0o660
    before = lines_of(log)
    rc3, _, err3 = attacker([bin_, 'rcpt@example.net'], msg)
    st = os.stat(log) if os.path.exists(log) else None
    after = lines_of(log)
    srv.stop()
    P.result('root creates the logfile root:GROUP 0660; the attacker appends, never owns it',
             rc2 == 0 and rc3 == 0 and made and st.st_uid == 0 and st.st_gid == gid and
             stat.S_IMODE(st.st_mode) == 0o660 and len(before) > 0 and
             len(after) > len(before) and err3 == '',
             f'{rc2} {err2!r} {rc3} {err3!r} made {made} {before} {after}')


def lines_of(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return f.read().splitlines()
