#!/usr/bin/python3
"""The cost of DKIM signing: postern unsigned, with an RSA-2048 key, with an
Ed25519 key and with both, and msmtp (which cannot sign), in the same run.

Usage (as root, from anywhere):
    /usr/bin/python3 tests/bench/dkim.py [-n 200] [--rounds 3] [--mb 10]
        [--big-reps 5] [--queue] [--postern PATH] [--msmtp PATH]

postern runs with `queue off` unless --queue: signing is CPU work, and the
spool's fsyncs (throughput.py measures them) would only add their noise.

(a) n messages of about 2 KB sent one after the other (one client process
    each) to Postfix's smtp-sink on 127.0.0.1, plain SMTP with PIPELINING;
    batches alternate between the clients for --rounds rounds after one
    warm-up run each; the median batch gives the wall time per message, and
    the same batch's user + system CPU time (from wait4) the CPU time.
(b) one message of --mb MB (75-byte lines): wall time, median of
    --big-reps runs per client.
(c) peak RSS (ru_maxrss through maxrss.c) for the 2 KB and the big
    message: the body is hashed as it streams, so signing must not make it
    grow with the message.
See tests/bench/README.md.
"""

import argparse
import os
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402
import throughput as T  # noqa: E402  (spawn, batch, smtp-sink set-up, the big message)

KEYDIR = os.path.join(B.ROOT, 'tests', 'dkim')
# client name -> (selectors, key files); None: unsigned
SIGNERS = {
    'postern': None,
    'postern rsa-2048': (['rsa'], ['rsa2048.pem']),
    'postern ed25519': (['ed'], ['ed25519.pem']),
    'postern both': (['rsa', 'ed'], ['rsa2048.pem', 'ed25519.pem']),
}


def medium_message(path):
    """About 2 KB: the small message's header and 26 lines of text."""
    body = b''.join(b'Line %02d of a message of about two kilobytes, plain '
                    b'ASCII text.\n' % k for k in range(26))
    with open(path, 'wb') as f:
        f.write(B.SMALL_MESSAGE.replace(b'Hello.\n', body))
    return os.path.getsize(path)


def conf(work, name, port, signer, queue):
    path = B.client_conf('postern', os.path.join(work, name.replace(' ', '-') + '.conf'),
                         '127.0.0.1', port, 'plain', None)
    with open(path, 'a') as fp:
        if queue:
            qdir = os.path.join(work, 'queue')
            os.makedirs(qdir, 0o700, exist_ok=True)
            fp.write(f'queue_dir {qdir}\n')
        else:
            fp.write('queue off\n')
    if signer is not None:
        sels, files = signer
        keys = []
        for f in files:
            dst = os.path.join(work, f)
            if not os.path.exists(dst):
                shutil.copy(os.path.join(KEYDIR, f), dst)
                os.chmod(dst, 0o600)
            keys.append(dst)
        with open(path, 'a') as fp:
            fp.write('dkim_domain example.org\ndkim_selector %s\ndkim_key_file %s\n'
                     % (', '.join(sels), ', '.join(keys)))
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--postern', default=os.path.join(B.ROOT, 'postern'))
    ap.add_argument('--msmtp', default='/usr/bin/msmtp')
    ap.add_argument('-n', type=int, default=200, help='2 KB messages per batch (default 200)')
    ap.add_argument('--rounds', type=int, default=3, help='batches per client (default 3)')
    ap.add_argument('--mb', type=int, default=10, help='size of the big message (default 10)')
    ap.add_argument('--big-reps', type=int, default=5,
                    help='runs per client of the big message (default 5)')
    ap.add_argument('--queue', action='store_true',
                    help='postern with its queue on (spool-first, fsync); default queue off')
    args = ap.parse_args()
    return B.run_bench(bench, args, (args.postern, args.msmtp, '/usr/sbin/smtp-sink'),
                       'apt-get install -y msmtp postfix')


def cpu(ru):
    return ru.ru_utime + ru.ru_stime


def bench(args, cleanup):
    work = B.tempdir(cleanup, 'postern-bench-dkim.')
    header = B.describe(args.postern, args.msmtp)
    args.postern = B.snapshot(args.postern, work)
    os.chmod(work, 0o755)   # smtp-sink runs as nobody, in /
    err = os.path.join(work, 'err')
    msg = os.path.join(work, 'medium')
    size = medium_message(msg)
    big = os.path.join(work, 'big')
    bigsize = T.big_message(big, args.mb)

    port = T.free_port()
    sink = subprocess.Popen(['/usr/sbin/smtp-sink', '-u', 'nobody', '-a', '-C', '-F',
                             f'127.0.0.1:{port}', '256'], cwd='/',
                            stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(work, 'sink.err'), 'w'))
    cleanup.add(B.stop_process, sink)
    T.wait_listen(port)

    argv = {}
    for name, signer in SIGNERS.items():
        argv[name] = [args.postern, '-C', conf(work, name, port, signer, args.queue), B.RCPT]
    mconf = B.client_conf('msmtp', os.path.join(work, 'msmtp.conf'), '127.0.0.1', port,
                          'plain', None)
    argv['msmtp'] = [args.msmtp, '-C', mconf, B.RCPT]
    clients = list(argv)

    # The keys load and sign: --check prints one record per key.
    for name, signer in SIGNERS.items():
        out = subprocess.run(argv[name][:3] + ['--check'], capture_output=True,
                             text=True).stdout
        n = out.count('DKIM: ')
        if n != (0 if signer is None else len(signer[0])):
            B.die(f'{name}: --check printed {n} DKIM records:\n{out}')

    # (a) time per 2 KB message; one warm-up run each first
    wall = {c: [] for c in clients}
    cpus = {c: [] for c in clients}
    for c in clients:
        T.must(argv[c], msg, err)
    for _ in range(args.rounds):
        for c in clients:
            t0, used = time.monotonic(), 0.0
            for _ in range(args.n):
                used += cpu(T.must(argv[c], msg, err)[0])
            wall[c].append((time.monotonic() - t0) / args.n)
            cpus[c].append(used / args.n)

    # (b) the big message, (c) peak RSS
    launcher = B.compile_c(os.path.join(B.BENCH, 'maxrss.c'), os.path.join(work, 'maxrss'))
    rssfile = os.path.join(work, 'rss')

    def maxrss(argv, m):
        T.must([launcher, rssfile, *argv], m, err)
        with open(rssfile) as f:
            return int(f.read())

    floor = maxrss(['/bin/true'], msg)
    bigwall = {c: [] for c in clients}
    bigcpu = {c: [] for c in clients}
    for _ in range(args.big_reps):
        for c in clients:
            ru, dt = T.must(argv[c], big, err)
            bigwall[c].append(dt)
            bigcpu[c].append(cpu(ru))
    rss_small = {c: maxrss(argv[c], msg) for c in clients}
    rss_big = {c: maxrss(argv[c], big) for c in clients}

    med = {c: B.median(wall[c]) for c in clients}
    medcpu = {c: B.median(cpus[c]) for c in clients}
    bw = {c: B.median(bigwall[c]) for c in clients}
    bc = {c: B.median(bigcpu[c]) for c in clients}

    def ratio(a, b):
        return f'{a / b:.3g}' if b else '-'

    base, m = 'postern', 'msmtp'
    print(f'# DKIM signing cost on loopback, {time.strftime("%Y-%m-%d %H:%M %Z")}\n')
    print(header + '\n')
    print(f'postern with queue {"on (spool-first, fsync)" if args.queue else "off"}\n')
    print(f'(a) {args.n} messages of {size} bytes per batch, one process each, median '
          f'of {args.rounds} batches; smtp-sink, plain SMTP + PIPELINING\n'
          f'(b) one message of {bigsize} bytes, median of {args.big_reps} runs\n'
          f'(c) ru_maxrss of the client (wait4 in maxrss.c; /bin/true gives {floor} KiB)\n')
    rows = []
    for c in clients:
        rows.append([c, f'{med[c] * 1000:.2f}', f'{medcpu[c] * 1000:.2f}',
                     ratio(med[c], med[base]), ratio(med[c], med[m]),
                     f'{bw[c] * 1000:.0f}', f'{bc[c] * 1000:.0f}', ratio(bw[c], bw[base]),
                     ratio(bw[c], bw[m]), str(rss_small[c]), str(rss_big[c])])
    print(B.table(['client', '(a) ms/msg', '(a) CPU ms/msg', '(a) / unsigned', '(a) / msmtp',
                   f'(b) ms, {args.mb} MB', '(b) CPU ms', '(b) / unsigned', '(b) / msmtp',
                   '(c) RSS KiB, 2 KB', f'(c) RSS KiB, {args.mb} MB'], rows))
    print('\nsigning overhead per 2 KB message, ms more than unsigned postern: ' + '; '.join(
        f'{c} {(medcpu[c] - medcpu[base]) * 1000:+.2f} CPU, {(med[c] - med[base]) * 1000:+.2f} wall'
        for c in clients if c.startswith('postern ')))
    print('batches (ms per message): ' + '; '.join(
        f'{c} ' + ' '.join(f'{x * 1000:.2f}' for x in wall[c]) for c in clients))
    return 0


if __name__ == '__main__':
    sys.exit(main())
