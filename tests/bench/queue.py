#!/usr/bin/python3
"""Queue benchmark (issue 6): spool overhead per message, and a 1000-message
queue flush over one connection against 1000 separate msmtp runs.

Usage: /usr/bin/python3 tests/bench/queue.py --postern PATH [-n 1000] [--spool DIR]

The smarthost is the threaded sink of tests/queue/run.py on loopback.
--spool puts the queue on another file system (fsync cost differs a lot
between tmpfs, ext4 and a real disk); by default it is under $TMPDIR.
"""

import argparse
import importlib.util
import os
import shutil
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location('qrun', os.path.join(HERE, '..', 'queue', 'run.py'))
qrun = importlib.util.module_from_spec(spec)
spec.loader.exec_module(qrun)


def conf(path, port, queue, extra=''):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write(f'account default\nhost 127.0.0.1\nport {port}\ntls off\n'
                f'from bench@example.org\nqueue_dir {queue}\n{extra}')


def submit(argv, n, data):
    t0 = time.monotonic()
    for _ in range(n):
        # stderr too: a deferred submission says 'postern: queued ID: ...'.
        subprocess.run(argv, input=data, check=False, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    return time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--postern', required=True)
    ap.add_argument('-n', type=int, default=1000)
    ap.add_argument('--spool')
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix='postern-bench.')
    queue = a.spool or os.path.join(work, 'queue')
    os.makedirs(queue, exist_ok=True)
    data = qrun.message('bench', 2000)
    c = os.path.join(work, 'p.conf')
    sink = qrun.Sink()
    try:
        m = 200
        conf(c, sink.port, queue, 'queue off\n')
        t_off = submit([a.postern, '-C', c, 'r@example.net'], m, data)
        conf(c, sink.port, queue)
        t_on = submit([a.postern, '-C', c, 'r@example.net'], m, data)
        print(f'submission, {m} messages of {len(data)} bytes, delivered at once:')
        print(f'  queue off: {t_off / m * 1000:.2f} ms/message')
        print(f'  queue on:  {t_on / m * 1000:.2f} ms/message')
        print(f'  spool overhead (write, fsync file and directory, rename, '
              f'remove): {(t_on - t_off) / m * 1000:.2f} ms/message')

        conf(c, qrun.closed_port(), queue)
        t_q = submit([a.postern, '-C', c, 'r@example.net'], a.n, data)
        print(f'queueing {a.n} messages (smarthost down): {t_q:.2f} s')
        conf(c, sink.port, queue)
        before = len(sink.messages)
        c0 = sink.connections
        t0 = time.monotonic()
        subprocess.run([a.postern, '-C', c, '-qf'], check=True)
        t_flush = time.monotonic() - t0
        got = len(sink.messages) - before
        print(f'postern -qf: {got} messages over {sink.connections - c0} connection(s) '
              f'in {t_flush:.2f} s ({t_flush / max(got, 1) * 1000:.2f} ms/message)')

        mc = os.path.join(work, 'msmtprc')
        fd = os.open(mc, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, 'w') as f:
            f.write(f'account default\nhost 127.0.0.1\nport {sink.port}\ntls off\n'
                    f'from bench@example.org\n')
        if shutil.which('msmtp'):
            before = len(sink.messages)
            t_m = submit(['msmtp', '-C', mc, 'r@example.net'], a.n, data)
            got = len(sink.messages) - before
            print(f'msmtp, {got} separate runs: {t_m:.2f} s '
                  f'({t_m / max(got, 1) * 1000:.2f} ms/message)')
            print(f'speed-up of the flush: {t_m / t_flush:.1f}x (goal 10x)')
        else:
            print('msmtp not installed: no comparison')
    finally:
        sink.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
