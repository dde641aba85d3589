#!/usr/bin/python3
"""A read-only root filesystem, as a container runs postern (issue 14).

Usage: /usr/bin/python3 tests/container/run.py --postern PATH [NAME...]

The scripted server (tests/smtpd.py) runs outside; each row then re-runs
this driver under `unshare -m` (root), where every mount but /proc, /sys
and /dev is remounted read-only and a tmpfs or two are mounted for what
may be written.  Nothing outside the namespace changes.

- queue-on: the queue directory is a tmpfs and the only thing writable;
  $TMPDIR points at a read-only directory.  postern must deliver (exit 0)
  and leave the queue empty: a temporary file anywhere else would fail.
- queue-off: nothing but $TMPDIR (a tmpfs) is writable; postern must
  deliver and leave $TMPDIR empty.
- queue-on-bs: the same through -bs: the copy of DATA that -bs keeps
  until the message is prepared is in the queue directory too.
- queue-on-downgrade: an 8-bit message to a server without 8BITMIME,
  queued (-odq) and delivered by `postern -q`: the quoted-printable copy
  made at delivery is a temporary file too.
- runner: the container's pair, `postern -q1h` as the long-running
  process and a submission with -odq, in the read-only root: delivered
  within seconds, and SIGTERM ends the runner with exit 0.

Each row checks the exact envelope and that the message arrived once.
Prints `ok NAME` or `FAIL NAME`, then `container: N passed, N failed`.
Python 3 standard library only.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness  # noqa: E402

NS_ENV = 'POSTERN_CONTAINER_NS'
MSG = (b'From: sender@example.org\nTo: rcpt@example.net\nSubject: ro\n'
       b'Date: Mon, 1 Jan 2024 00:00:00 +0000\n'
       b'Message-ID: <ro@example.org>\n\nhello\n')
MSG8 = MSG.replace(b'hello', 'h\u00e9llo'.encode())
ENVELOPE = ['MAIL FROM:<sender@example.org>', 'RCPT TO:<rcpt@example.net>']


# ---------------------------------------------------------------- inside

def readonly_root():
    """Remount every mount read-only, but the kernel's pseudo ones."""
    with open('/proc/self/mountinfo') as f:
        points = [line.split()[4] for line in f]
    for p in points:
        if p.split('/')[1:2] in (['proc'], ['sys'], ['dev']):
            continue
        subprocess.run(['mount', '-o', 'remount,bind,ro', p],
                       stderr=subprocess.DEVNULL)
    probe = os.path.join(os.path.dirname(os.path.abspath(__file__)), '.probe')
    try:
        open(probe, 'w').close()
    except OSError:
        return
    os.unlink(probe)
    raise RuntimeError('the root is still writable')


def tmpfs(path):
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'mode=700', 'postern-ro', path],
                   check=True)


def inside(spec):
    """Run one row in this namespace; print a JSON result."""
    work, row, postern = spec['work'], spec['row'], spec['postern']
    queue, tmp = os.path.join(work, 'queue'), os.path.join(work, 'tmp')
    readonly_root()
    if row != 'queue-off':
        tmpfs(queue)
    if row == 'queue-off':
        tmpfs(tmp)
    conf = os.path.join(work, 'postern.conf')
    env = dict(os.environ, TZ='UTC', LC_ALL='C', HOME=work, TMPDIR=tmp)
    env.pop(NS_ENV, None)
    res = {}

    def run(args, data=b''):
        p = subprocess.run([postern, '-C', conf] + args, input=data,
                           capture_output=True, env=env, timeout=60)
        return [p.returncode, p.stdout.decode(), p.stderr.decode()]

    if row in ('queue-on', 'queue-off'):
        res['send'] = run(['rcpt@example.net'], MSG)
    elif row == 'queue-on-bs':
        session = (b'EHLO client.test\r\nMAIL FROM:<sender@example.org>\r\n'
                   b'RCPT TO:<rcpt@example.net>\r\nDATA\r\n' +
                   MSG.replace(b'\n', b'\r\n') + b'.\r\nQUIT\r\n')
        res['send'] = run(['-bs'], session)
    elif row == 'queue-on-downgrade':
        res['queue'] = run(['-odq', 'rcpt@example.net'], MSG8)
        res['send'] = run(['-q'])
    elif row == 'runner':
        with open(os.devnull, 'wb') as devnull:
            runner = subprocess.Popen([postern, '-C', conf, '-q1h'], env=env,
                                      stdin=subprocess.DEVNULL,
                                      stdout=devnull, stderr=subprocess.PIPE)
        time.sleep(0.5)
        res['queue'] = run(['-odq', 'rcpt@example.net'], MSG)
        t = time.monotonic() + 10
        while time.monotonic() < t and os.listdir(queue):
            time.sleep(0.05)
        res['delivered_after'] = round(time.monotonic() - (t - 10), 2)
        runner.send_signal(signal.SIGTERM)
        try:
            rc = runner.wait(10)
        except subprocess.TimeoutExpired:
            runner.kill()
            rc = 'hung'
        res['send'] = [rc, '', runner.stderr.read().decode()]
    res['queue_left'] = sorted(os.listdir(queue)) if os.path.isdir(queue) else []
    res['tmp_left'] = sorted(os.listdir(tmp)) if os.path.isdir(tmp) else []
    print(json.dumps(res))
    return 0


# ---------------------------------------------------------------- outside

def row(t, name, opts, certs):
    work = harness.tmpdir('container-' + name)
    script = 'cap PIPELINING\ncap 8BITMIME\n' if name != 'queue-on-downgrade' \
        else 'cap PIPELINING\n'
    srv = harness.Server(script, os.path.join(work, 'srvdir'), certs)
    for d in ('queue', 'tmp'):
        os.mkdir(os.path.join(work, d), 0o700)
    queue = 'queue off' if name == 'queue-off' else \
        f'queue_dir {os.path.join(work, "queue")}'
    harness.write_conf(work, (
        f'account default\nhost 127.0.0.1\nport {srv.port}\n'
        f'domain client.example\nfrom sender@example.org\ntls off\n'
        f'syslog off\n{queue}\n'))
    spec = json.dumps({'work': work, 'row': name, 'postern': opts.postern})
    p = subprocess.run(['unshare', '-m', '--propagation', 'private',
                        sys.executable, os.path.abspath(__file__)],
                       capture_output=True, timeout=120,
                       env=dict(os.environ, **{NS_ENV: spec}))
    problems = []
    try:
        res = json.loads(p.stdout.decode().splitlines()[-1])
    except (IndexError, ValueError):
        res = None
        problems.append(f'the namespace run failed ({p.returncode}): '
                        f'{p.stdout!r} {p.stderr!r}')
    problems += srv.stop()
    if res is not None:
        rc, out, err = res['send']
        if rc != 0:
            problems.append(f'postern exited {rc}: {err!r}')
        if name == 'runner':
            if 'queue runner stopped by a signal' not in err:
                problems.append(f'runner stderr {err!r}')
            if res['queue'][0] != 0:
                problems.append(f'-odq: {res["queue"]}')
            if res['delivered_after'] > 5:
                problems.append(f'delivered after {res["delivered_after"]} s')
        elif err:
            problems.append(f'stderr {err!r}')
        if name == 'queue-on-downgrade' and res['queue'][0] != 0:
            problems.append(f'-odq: {res["queue"]}')
        if res['queue_left']:
            problems.append(f'left in the queue: {res["queue_left"]}')
        if res['tmp_left']:
            problems.append(f'left in TMPDIR: {res["tmp_left"]}')
    if srv.envelope() != ENVELOPE:
        problems.append(f'envelope {srv.envelope()}')
    if srv.data(1) is None or srv.data(2) is not None:
        problems.append('not exactly one message arrived')
    elif name == 'queue-on-downgrade' and \
            b'Content-Transfer-Encoding: quoted-printable' not in srv.data(1):
        problems.append('not downgraded: ' + srv.data(1).decode('utf-8', 'replace'))
    t.report(name, problems)
    harness.rmtree(work)


ROWS = ['queue-on', 'queue-off', 'queue-on-bs', 'queue-on-downgrade', 'runner']


def main():
    if NS_ENV in os.environ:
        return inside(json.loads(os.environ[NS_ENV]))
    ap = argparse.ArgumentParser()
    ap.add_argument('--postern', required=True)
    ap.add_argument('names', nargs='*')
    opts = ap.parse_args()
    certs = harness.certs()
    t = harness.Tally()
    for name in ROWS:
        if not opts.names or name in opts.names:
            row(t, name, opts, certs)
    return t.done('container')


if __name__ == '__main__':
    sys.exit(main())
