#!/usr/bin/python3
"""Where the time of one resumed STARTTLS + AUTH submission goes, and the
floor under it.

Usage (as root, from anywhere):
    /usr/bin/python3 tests/bench/timeline.py [-n 25] [--postern PATH]

postern runs with -v against tests/bench/tlssink.c (TLS 1.3, RSA 2048,
session tickets; the queue on, a session kept by a first run), and every
line it writes to stderr is stamped as it arrives: the median over n runs
of the time from the spawn to each line, and to the exit.  The floor is
the same spawn of two small C programs: one that does nothing, and one
linked to libssl that makes one SSL_CTX and exits (what any per-process
OpenSSL 3 client pays before its first byte).  Never run by make check.
"""

import argparse
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402
import resume as R  # noqa: E402

EMPTY = 'int main(void) { return 0; }\n'
CTX = ('#include <openssl/ssl.h>\n'
       'int main(void) { OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);\n'
       '  return SSL_CTX_new(TLS_client_method()) == NULL; }\n')


def stamped(argv, stdin_path):
    """One run: [(ms since the spawn, stderr line)], then the exit."""
    with open(stdin_path, 'rb') as stdin:
        t0 = time.monotonic()
        p = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        out = [((time.monotonic() - t0) * 1000, line.decode(errors='replace').rstrip())
               for line in p.stderr]
        rc = p.wait()
        out.append(((time.monotonic() - t0) * 1000, 'exit'))
    if rc != 0:
        B.die(f'{" ".join(argv)}: exit {rc}: {out[-2:]}')
    return out


def medians(argv, stdin_path, n):
    runs = [stamped(argv, stdin_path) for _ in range(n)]
    if len({len(r) for r in runs}) != 1:
        B.die('the runs wrote different numbers of lines')
    return [(B.median([r[i][0] for r in runs]), runs[0][i][1]) for i in range(len(runs[0]))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--postern', default=os.path.join(B.ROOT, 'postern'))
    ap.add_argument('-n', type=int, default=25, help='runs (default 25)')
    args = ap.parse_args()
    return B.run_bench(bench, args, (args.postern,), '')


def bench(args, cleanup):
    work = B.tempdir(cleanup, 'postern-bench-timeline.')
    postern = B.snapshot(args.postern, work)
    certs = os.path.join(work, 'certs')
    ca = B.make_certs(certs, rsa=True)
    sink_bin = B.compile_c(os.path.join(B.BENCH, 'tlssink.c'), os.path.join(work, 'tlssink'),
                           ['-lssl', '-lcrypto'])
    progs = {}
    for name, src, libs in (('empty', EMPTY, []), ('ctx', CTX, ['-lssl', '-lcrypto'])):
        c = os.path.join(work, f'{name}.c')
        with open(c, 'w') as f:
            f.write(src)
        progs[name] = B.compile_c(c, os.path.join(work, name), libs)
    small = os.path.join(work, 'small')
    with open(small, 'wb') as f:
        f.write(B.SMALL_MESSAGE)
    queue = os.path.join(work, 'queue')
    os.mkdir(queue, 0o700)
    _, port = R.start_sink(cleanup, sink_bin, certs)
    conf = B.client_conf('postern', os.path.join(work, 'postern.conf'), '127.0.0.1', port,
                         'starttls', ca)
    with open(conf, 'a') as f:
        f.write(f'queue_dir {queue}\n')
    argv = [postern, '-v', '-C', conf, B.RCPT]
    stamped(argv, small)        # keeps the session the runs resume
    load = os.getloadavg()[0]
    lines = medians(argv, small, args.n)
    floor = {name: medians([p], small, args.n)[-1][0] for name, p in progs.items()}
    print(f'# One resumed submission, {time.strftime("%Y-%m-%d %H:%M %Z")}, '
          f'median of {args.n} runs, load average {load:.2f}\n')
    print('ms since the spawn, and the line postern wrote (-v):\n')
    for t, line in lines:
        print(f'{t:8.2f}  {line[:70]}')
    print(f'\nfloor: an empty C program exits at {floor["empty"]:.2f} ms; one that loads '
          f'libssl and makes one SSL_CTX at {floor["ctx"]:.2f} ms')
    return 0


if __name__ == '__main__':
    sys.exit(main())
