#!/usr/bin/python3
"""Spool cost per submission (issue 16), two builds side by side.

Usage: /usr/bin/python3 tests/bench/spool.py OLD NEW [-n 200] [--spool DIR]

Each round submits one message with each build, in alternating order, so
that the load of a shared machine weighs on both alike; prints the median
and the mean wall time per submission of each, for -odq (the commit
alone: write, fsync, rename, directory fsync) and for a submission whose
smarthost is down (the commit, a failed connection, the state rewrite),
and the fsync count of one -odq submission (strace, when installed).
Never run by make check.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time

# About 2 KB, as tests/bench/queue.py's.
MSG = (b'From: bench@example.org\nTo: r@example.net\nSubject: spool\n\n' +
       (b'x' * 70 + b'\n') * 28)


def conf(path, queue):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write(f'account default\nhost 127.0.0.1\nport 1\ntls off\n'
                f'from bench@example.org\nqueue_dir {queue}\n')


def once(argv):
    t0 = time.perf_counter()
    subprocess.run(argv, input=MSG, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def fsyncs(argv):
    if shutil.which('strace') is None:
        return None
    p = subprocess.run(['strace', '-f', '-c', '-e', 'trace=fsync,fdatasync'] + argv,
                       input=MSG, capture_output=True)
    for line in p.stderr.decode().splitlines():
        f = line.split()
        if f and f[-1] in ('fsync', 'fdatasync'):
            return int(f[3])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('old')
    ap.add_argument('new')
    ap.add_argument('-n', type=int, default=200)
    ap.add_argument('--spool')
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix='postern-spool.')
    base = a.spool or work
    try:
        for mode, extra in (('-odq (commit only)', ['-odq']),
                            ('smarthost down (commit + state rewrite)', [])):
            times = {a.old: [], a.new: []}
            argvs = {}
            for b in (a.old, a.new):
                q = tempfile.mkdtemp(dir=base, prefix='q.')
                c = os.path.join(work, f'{len(argvs)}.conf')
                conf(c, q)
                argvs[b] = [b, '-C', c] + extra + ['r@example.net']
            for i in range(a.n):
                order = (a.old, a.new) if i % 2 == 0 else (a.new, a.old)
                for b in order:
                    times[b].append(once(argvs[b]))
            print(f'{mode}, {a.n} submissions each, alternating:')
            for b, label in ((a.old, 'old'), (a.new, 'new')):
                t = times[b]
                print(f'  {label}: median {statistics.median(t) * 1000:.2f} ms, '
                      f'mean {statistics.mean(t) * 1000:.2f} ms, '
                      f'fsyncs {fsyncs(argvs[b])}  ({b})')
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
