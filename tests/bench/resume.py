#!/usr/bin/python3
"""TLS session resumption and the -bs connection: time per message over
STARTTLS + AUTH PLAIN on loopback, postern against msmtp in the same run.

Usage (as root, from anywhere):
    /usr/bin/python3 tests/bench/resume.py [-n 100] [--rounds 3]
        [--postern PATH] [--msmtp PATH] [--spool DIR] [--bundle]

The server is tests/bench/tlssink.c (compiled into the temporary
directory): an SMTP sink in C with STARTTLS and AUTH, TLS 1.3, a 2048-bit
RSA certificate, TCP_NODELAY, OpenSSL's default session tickets.  Both
clients verify the certificate (tls_trust_file) and send one small
message with AUTH PLAIN, one process per message; postern with its queue
on (the default).

(a) first message: postern's session cache (QUEUE/tls) is emptied before
    each run, so every run is a full handshake;
(b) resumed: postern keeps its cache, so every run after the first resumes
    (msmtp keeps no session between processes: full handshakes);
(c) one `postern -bs` session of n messages driven by Python's smtplib,
    against n separate msmtp runs and n separate postern runs (resumed);
(d) the server's CPU time per message (/proc/PID/schedstat) for n postern
    runs with resumption and n against a tlssink that refuses it.
Each batch is n messages; batches alternate between the clients for
--rounds rounds; medians.  See tests/bench/README.md.
"""

import argparse
import os
import shutil
import smtplib
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402
import throughput as T  # noqa: E402


SYSTEM_BUNDLE = '/etc/ssl/certs/ca-certificates.crt'


class PipeSMTP(smtplib.SMTP):
    """smtplib over a socketpair whose other end is postern -bs."""

    def __init__(self, argv):
        self.argv, self.proc = argv, None
        super().__init__()

    def _get_socket(self, host, port, timeout):
        mine, theirs = socket.socketpair()
        self.proc = subprocess.Popen(self.argv, stdin=theirs, stdout=theirs,
                                     stderr=subprocess.PIPE)
        theirs.close()
        mine.settimeout(60)
        return mine

    def finish(self):
        self.close()
        _, err = self.proc.communicate(timeout=60)
        return self.proc.returncode, err


def start_sink(cleanup, binary, certs, *opts):
    p = subprocess.Popen([binary, f'{certs}/good.pem', f'{certs}/good.key', *opts],
                         stdout=subprocess.PIPE)
    cleanup.add(B.stop_process, p)
    line = p.stdout.readline().strip()
    if not line.isdigit():
        B.die('tlssink did not start')
    return p, int(line)


def cpu_ns(pid):
    with open(f'/proc/{pid}/schedstat') as f:
        return int(f.read().split()[0])


def runs(argv, n, msg, err, before=None):
    """n runs, one process each; the mean wall seconds and the mean CPU
    seconds (user + system, from wait4) of one (the process only: before()
    is not timed).  On a loaded machine CPU time is the steadier figure."""
    total = cpu = 0.0
    for _ in range(n):
        if before is not None:
            before()
        rc, ru, dt = T.spawn(argv, msg, err)
        if rc != 0:
            with open(err, errors='replace') as f:
                B.die(f'{" ".join(argv)}: exit {rc}: {f.read()[:500]}')
        total += dt
        cpu += ru.ru_utime + ru.ru_stime
    return total / n, cpu / n


def bs_session(argv, n, text):
    """One -bs session of n messages; the wall seconds per message, from
    the start of the process to its exit."""
    t0 = time.monotonic()
    s = PipeSMTP(argv + ['-bs'])
    s.connect('postern')
    s.ehlo('client.test')
    for _ in range(n):
        refused = s.sendmail(B.SENDER, [B.RCPT], text)
        if refused:
            B.die(f'-bs: refused {refused}')
    s.quit()
    rc, err = s.finish()
    if rc != 0:
        B.die(f'-bs: exit {rc}: {err[:500]!r}')
    return (time.monotonic() - t0) / n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--postern', default=os.path.join(B.ROOT, 'postern'))
    ap.add_argument('--msmtp', default='/usr/bin/msmtp')
    ap.add_argument('-n', type=int, default=100, help='messages per batch (default 100)')
    ap.add_argument('--rounds', type=int, default=3, help='batches per client (default 3)')
    ap.add_argument('--bundle', action='store_true',
                    help='tls_trust_file is the system CA bundle (Debian: '
                    '/etc/ssl/certs/ca-certificates.crt) with the test CA appended, as many '
                    'msmtprc files have it: the full handshake then parses every certificate')
    ap.add_argument('--spool', metavar='DIR',
                    help="make postern's queue in DIR (e.g. /dev/shm, where fsync costs "
                    'nothing: the spool cost apart); default the temporary directory')
    args = ap.parse_args()
    return B.run_bench(bench, args, (args.postern, args.msmtp), 'apt-get install -y msmtp')


def bench(args, cleanup):
    work = B.tempdir(cleanup, 'postern-bench-resume.')
    header = B.describe(args.postern, args.msmtp)
    postern = B.snapshot(args.postern, work)
    certs = os.path.join(work, 'certs')
    ca = B.make_certs(certs, rsa=True)
    if args.bundle:
        bundle = os.path.join(work, 'bundle.pem')
        with open(bundle, 'wb') as out:
            for src in (SYSTEM_BUNDLE, ca):
                with open(src, 'rb') as f:
                    out.write(f.read())
        ca = bundle
    sink_bin = B.compile_c(os.path.join(B.BENCH, 'tlssink.c'), os.path.join(work, 'tlssink'),
                           ['-lssl', '-lcrypto'])
    err = os.path.join(work, 'err')
    small = os.path.join(work, 'small')
    with open(small, 'wb') as f:
        f.write(B.SMALL_MESSAGE)
    if args.spool:
        queue = B.tempdir(cleanup, os.path.join(args.spool, 'postern-bench-queue.'))
        os.chmod(queue, 0o700)
    else:
        queue = os.path.join(work, 'queue')
        os.mkdir(queue, 0o700)
    cache = os.path.join(queue, 'tls')

    sink, port = start_sink(cleanup, sink_bin, certs)
    nsink, nport = start_sink(cleanup, sink_bin, certs, 'noresume')

    def argv_for(client, prog, p, name):
        conf = B.client_conf(client, os.path.join(work, f'{name}.conf'), '127.0.0.1',
                             p, 'starttls', ca)
        if client == 'postern':
            with open(conf, 'a') as f:
                f.write(f'queue_dir {queue}\n')
        return [prog, '-C', conf]

    pargv = argv_for('postern', postern, port, 'postern')
    margv = argv_for('msmtp', args.msmtp, port, 'msmtp')
    nargv = argv_for('postern', postern, nport, 'postern-noresume')

    def forget():
        shutil.rmtree(cache, ignore_errors=True)

    n = args.n
    first, resumed, msmtp, bs, cpu_res, cpu_full = [], [], [], [], [], []
    text = B.SMALL_MESSAGE.decode().replace('\n', '\r\n')
    # warm-up: one of each
    runs(pargv + [B.RCPT], 1, small, err)
    runs(margv + [B.RCPT], 1, small, err)
    runs(nargv + [B.RCPT], 1, small, err)
    load = os.getloadavg()[0]
    for _ in range(args.rounds):
        first.append(runs(pargv + [B.RCPT], n, small, err, before=forget))
        runs(pargv + [B.RCPT], 1, small, err)   # a session to resume
        c0 = cpu_ns(sink.pid)
        resumed.append(runs(pargv + [B.RCPT], n, small, err))
        cpu_res.append((cpu_ns(sink.pid) - c0) / n)
        msmtp.append(runs(margv + [B.RCPT], n, small, err))
        if not os.listdir(cache):
            B.die('postern kept no TLS session')
        bs.append(bs_session(pargv, n, text))
        c0 = cpu_ns(nsink.pid)
        runs(nargv + [B.RCPT], n, small, err)
        cpu_full.append((cpu_ns(nsink.pid) - c0) / n)

    def ms(x):
        return f'{x * 1000:.2f}'

    f, r, m = (B.median([w for w, _ in x]) for x in (first, resumed, msmtp))
    fc, rc, mc = (B.median([c for _, c in x]) for x in (first, resumed, msmtp))
    b = B.median(bs)
    cr, cf = B.median(cpu_res), B.median(cpu_full)
    print(f'# TLS resumption and -bs on loopback, {time.strftime("%Y-%m-%d %H:%M %Z")}\n')
    print(header + f'; load average {load:.2f} at the start\n')
    print(f'{n} messages ({len(B.SMALL_MESSAGE)} bytes) per batch, median of {args.rounds} '
          'batches; STARTTLS + AUTH PLAIN, TLS 1.3, RSA 2048 server certificate, '
          'tests/bench/tlssink.c on 127.0.0.1; postern with its queue on, in '
          f'{queue}' + (f'; tls_trust_file: {SYSTEM_BUNDLE} + the test CA'
                        if args.bundle else '') + '\n')
    rows = [
        ['(a) ms per message, first message (full handshake)', ms(f), ms(m),
         f'{f / m:.3g}', '<= 0.22'],
        ['(b) ms per message, resumed', ms(r), ms(m), f'{r / m:.3g}', '<= 0.15'],
        ['(a) client CPU ms per message, first message', ms(fc), ms(mc), f'{fc / mc:.3g}', ''],
        ['(b) client CPU ms per message, resumed', ms(rc), ms(mc), f'{rc / mc:.3g}', ''],
        [f'(c) ms per message, one -bs session of {n} (smtplib)', ms(b), ms(m),
         f'{m / b:.3g}x faster', '>= 30x'],
        [f'(c) ... against {n} separate postern runs (resumed)', ms(b), ms(r),
         f'{r / b:.3g}x faster', '>= 4x'],
        ['(d) server CPU ms per postern message, resumed / full',
         f'{cr / 1e6:.3f}', f'{cf / 1e6:.3f}', f'{cr / cf:.3g}', '(report)'],
    ]
    print(B.table(['measure', 'postern', 'msmtp (or other)', 'ratio', 'goal'], rows))
    print('\nbatches (ms per message): ' + '; '.join(
        f'{name} ' + ' '.join(ms(x) for x in xs) for name, xs in
        (('first', [w for w, _ in first]), ('resumed', [w for w, _ in resumed]),
         ('msmtp', [w for w, _ in msmtp]), ('-bs', bs))))
    return 0


if __name__ == '__main__':
    sys.exit(main())
