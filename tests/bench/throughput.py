#!/usr/bin/python3
"""Loopback time per message, write syscalls and peak RSS: postern against
msmtp, in the same run.

Usage (as root, from anywhere):
    /usr/bin/python3 tests/bench/throughput.py [-n 200] [--rounds 3] [--mb 50]
        [--postern PATH] [--msmtp PATH]

(a) n small messages sent one after the other (one client process each) to
    Postfix's smtp-sink on 127.0.0.1, plain SMTP with PIPELINING; batches
    alternate between the clients for --rounds rounds; the median batch gives
    the time per message.  The same for STARTTLS + AUTH PLAIN against
    tests/smtpd.py, for information only: that server is Python and its
    time dominates.
(b) write(2), writev(2), sendto(2) and sendmsg(2) calls for one message of
    --mb MB (76-character lines) to smtp-sink, counted by `strace -f -c`.
(c) peak RSS (ru_maxrss from wait4, in maxrss.c) of one small message and
    of the big one.
See tests/bench/README.md.
"""

import argparse
import os
import re
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_listen(port, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(('127.0.0.1', port), 1).close()
            return
        except OSError:
            time.sleep(0.05)
    B.die(f'nothing listens on port {port}')


def spawn(argv, stdin_path, err_path):
    """posix_spawn argv with stdin from a file; returns (exit status, rusage,
    wall seconds).  The rusage's ru_maxrss is useless here (maxrss.c says why)."""
    fa = [(os.POSIX_SPAWN_OPEN, 0, stdin_path, os.O_RDONLY, 0),
          (os.POSIX_SPAWN_OPEN, 1, '/dev/null', os.O_WRONLY, 0),
          (os.POSIX_SPAWN_OPEN, 2, err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)]
    t0 = time.monotonic()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=fa)
    _, status, ru = os.wait4(pid, 0)
    return os.waitstatus_to_exitcode(status), ru, time.monotonic() - t0


def must(argv, stdin_path, err_path):
    rc, ru, dt = spawn(argv, stdin_path, err_path)
    if rc != 0:
        with open(err_path, errors='replace') as f:
            B.die(f'{" ".join(argv)}: exit {rc}: {f.read()[:500]}')
    return ru, dt


def batch(argv, n, msg, err):
    t0 = time.monotonic()
    for _ in range(n):
        must(argv, msg, err)
    return (time.monotonic() - t0) / n


def write_calls(argv, msg, work, name):
    """Calls of the write family in the client and its children, by strace."""
    out = os.path.join(work, f'strace-{name}')
    must(['/usr/bin/strace', '-f', '-c', '-o', out, '-e',
          'trace=write,writev,sendto,sendmsg', *argv], msg, os.path.join(work, 'err'))
    calls = {}
    with open(out) as f:
        for line in f:
            # % time  seconds  usecs/call  calls  [errors]  syscall
            m = re.match(r'\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$', line)
            if m and m.group(2) != 'total':
                calls[m.group(2)] = int(m.group(1))
    return calls


def big_message(path, mb):
    line = b'x' * 74 + b'\n'          # 75 bytes + CR on the wire = 76
    body = line * (1 << 14)
    with open(path, 'wb') as f:
        f.write(B.SMALL_MESSAGE.replace(b'Hello.\n', b''))
        while f.tell() < mb * 1000 * 1000:
            f.write(body)
    return os.path.getsize(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--postern', default=os.path.join(B.ROOT, 'postern'))
    ap.add_argument('--msmtp', default='/usr/bin/msmtp')
    ap.add_argument('-n', type=int, default=200, help='small messages per batch (default 200)')
    ap.add_argument('--rounds', type=int, default=3, help='batches per client (default 3)')
    ap.add_argument('--mb', type=int, default=50, help='size of the big message (default 50)')
    args = ap.parse_args()
    return B.run_bench(bench, args, (args.postern, args.msmtp, '/usr/sbin/smtp-sink',
                                     '/usr/bin/strace'),
                       'apt-get install -y msmtp postfix strace')


def bench(args, cleanup):
    work = B.tempdir(cleanup, 'postern-bench-tp.')
    header = B.describe(args.postern, args.msmtp)
    args.postern = B.snapshot(args.postern, work)
    os.chmod(work, 0o755)   # smtp-sink runs as nobody, in /
    ca = B.make_certs(os.path.join(work, 'certs'))
    err = os.path.join(work, 'err')
    small = os.path.join(work, 'small')
    with open(small, 'wb') as f:
        f.write(B.SMALL_MESSAGE)
    big = os.path.join(work, 'big')
    bigsize = big_message(big, args.mb)

    # smtp-sink: -a no AUTH, -C no XCLIENT, -F no XFORWARD; backlog 256.
    port = free_port()
    sink = subprocess.Popen(['/usr/sbin/smtp-sink', '-u', 'nobody', '-a', '-C', '-F',
                             f'127.0.0.1:{port}', '256'], cwd='/',
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, 'sink.err'), 'w'))
    cleanup.add(B.stop_process, sink)
    wait_listen(port)
    tport = B.start_smtpd(cleanup, work, 'starttls', B.server_script('starttls', False),
                          os.path.dirname(ca), '127.0.0.1')

    argv, targv = {}, {}
    for client, prog in (('postern', args.postern), ('msmtp', args.msmtp)):
        conf = B.client_conf(client, os.path.join(work, f'{client}.conf'), '127.0.0.1',
                             port, 'plain', ca)
        argv[client] = [prog, '-C', conf, B.RCPT]
        tconf = B.client_conf(client, os.path.join(work, f'{client}-tls.conf'), '127.0.0.1',
                              tport, 'starttls', ca)
        targv[client] = [prog, '-C', tconf, B.RCPT]

    clients = ('postern', 'msmtp')
    # (a) time per message; one warm-up run each first
    per = {c: [] for c in clients}
    tper = {c: [] for c in clients}
    tn = max(1, args.n // 4)
    for c in clients:
        must(argv[c], small, err)
        must(targv[c], small, err)
    for _ in range(args.rounds):
        for c in clients:
            per[c].append(batch(argv[c], args.n, small, err))
        for c in clients:
            tper[c].append(batch(targv[c], tn, small, err))

    # (c) peak RSS (through maxrss.c), and the time for the big message
    launcher = B.compile_c(os.path.join(B.BENCH, 'maxrss.c'), os.path.join(work, 'maxrss'))
    rssfile = os.path.join(work, 'rss')

    def maxrss(argv, msg):
        must([launcher, rssfile, *argv], msg, err)
        with open(rssfile) as f:
            return int(f.read())

    floor = maxrss(['/bin/true'], small)
    rss_small, rss_big, t_big = {}, {}, {}
    for c in clients:
        rss_small[c] = maxrss(argv[c], small)
        rss_big[c] = maxrss(argv[c], big)
        _, t_big[c] = must(argv[c], big, err)

    # (b) write syscalls for the big message
    writes = {c: write_calls(argv[c], big, work, c) for c in clients}

    def ratio(a, b):
        return f'{a / b:.3g}' if b else '-'

    p, m = 'postern', 'msmtp'
    mp, mm = B.median(per[p]), B.median(per[m])
    tp, tm = B.median(tper[p]), B.median(tper[m])
    wp, wm = sum(writes[p].values()), sum(writes[m].values())
    print(f'# postern vs msmtp on loopback, {time.strftime("%Y-%m-%d %H:%M %Z")}\n')
    print(header + '\n')
    print(f'(a) {args.n} small messages ({len(B.SMALL_MESSAGE)} bytes) per batch, one process '
          f'each, median of {args.rounds} batches; smtp-sink, plain SMTP + PIPELINING '
          f'(STARTTLS row: {tn} per batch, tests/smtpd.py)\n'
          f'(b) one message of {bigsize} bytes ({bigsize // 75} lines) to smtp-sink, '
          'calls of write, writev, sendto, sendmsg (strace -f -c)\n'
          f'(c) ru_maxrss of the client process (wait4 in maxrss.c; /bin/true gives {floor} KiB)\n')
    rows = [
        ['(a) ms per message, plain, smtp-sink', f'{mp * 1000:.2f}', f'{mm * 1000:.2f}',
         ratio(mp, mm), '<= 0.25'],
        ['(a) ms per message, STARTTLS + AUTH PLAIN, smtpd.py (server-bound)',
         f'{tp * 1000:.2f}', f'{tm * 1000:.2f}', ratio(tp, tm), '(information)'],
        [f'(b) write calls, {args.mb} MB message', str(wp), str(wm), ratio(wp, wm), '<= 0.01'],
        ['(b) ... of which', ' '.join(f'{k} {v}' for k, v in sorted(writes[p].items())),
         ' '.join(f'{k} {v}' for k, v in sorted(writes[m].items())), '', ''],
        [f'(b) wall ms, {args.mb} MB message (no strace)', f'{t_big[p] * 1000:.0f}',
         f'{t_big[m] * 1000:.0f}', ratio(t_big[p], t_big[m]), ''],
        ['(c) peak RSS KiB, small message', str(rss_small[p]), str(rss_small[m]),
         ratio(rss_small[p], rss_small[m]), ''],
        [f'(c) peak RSS KiB, {args.mb} MB message', str(rss_big[p]), str(rss_big[m]),
         ratio(rss_big[p], rss_big[m]), ''],
    ]
    print(B.table(['measure', 'postern', 'msmtp', 'postern / msmtp', 'goal'], rows))
    print('\nbatches (ms per message): ' + '; '.join(
        f'{c} ' + ' '.join(f'{x * 1000:.2f}' for x in per[c]) for c in clients))
    return 0


if __name__ == '__main__':
    sys.exit(main())
