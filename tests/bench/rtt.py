#!/usr/bin/python3
"""Round trips of one submission, postern against msmtp, in the same run.

Usage (as root, from anywhere):
    /usr/bin/python3 tests/bench/rtt.py [--rtt 40,120] [--reps 7] [--trace]
        [--postern PATH] [--msmtp PATH]

Two network namespaces (client 10.77.0.1, server 10.77.0.2) are joined by a
userspace delay line (delayline.c: two TUN devices, every packet held for
RTT/2 each way).  The server is the project's scripted server tests/smtpd.py
(one instance per server script, in the server namespace).  For each case the
wall time of one whole client run is measured at each RTT; the number of
round trips is the slope of the median time against the RTT.  See
tests/bench/README.md for what is and is not in the measurement.
"""

import argparse
import ctypes
import os
import re
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

CLIENT_IP, SERVER_IP = '10.77.0.1', '10.77.0.2'
CLONE_NEWNET = 0x40000000

# (client, mode, server offers CHUNKING, target round trips)
CASES = [
    ('postern', 'plain', False, 5),
    ('postern', 'starttls', False, 8),
    ('postern', 'implicit', False, 6),
    ('postern', 'plain', True, 4),
    ('postern', 'starttls', True, 7),
    ('postern', 'implicit', True, 5),
    # the server sends a session ticket; every timed run resumes the session
    # the previous run kept (the warm-up round makes the first)
    ('postern', 'starttls-resumed', False, 8),
    ('postern', 'implicit-resumed', False, 6),
    ('msmtp', 'plain', False, None),
    ('msmtp', 'starttls', False, None),
    ('msmtp', 'implicit', False, None),
]
MODE_NAME = {'plain': 'plain (tls off)', 'starttls': 'STARTTLS + AUTH PLAIN',
             'implicit': 'implicit TLS + AUTH PLAIN',
             'starttls-resumed': 'STARTTLS + AUTH PLAIN, TLS resumed',
             'implicit-resumed': 'implicit TLS + AUTH PLAIN, TLS resumed'}
RESUMED = {'starttls-resumed': 'starttls', 'implicit-resumed': 'implicit'}


def setns(path):
    """Move this (single-threaded) process into the network namespace at path."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), 'setns')
    finally:
        os.close(fd)


def sweep_stale():
    """Remove the namespaces of an earlier run that was killed with SIGKILL
    (its TUN devices went away with its delay line; its servers did not)."""
    for ns in B.run(['ip', 'netns', 'list']).split():
        m = re.fullmatch(r'pb(\d+)[cs]', ns)
        if not m or os.path.exists(f'/proc/{m.group(1)}'):
            continue
        for pid in B.run(['ip', 'netns', 'pids', ns]).split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        B.run(['ip', 'netns', 'del', ns])
        print(f'removed the stale namespace {ns}', file=sys.stderr)


def netns_setup(cleanup, work, tag, one_way_us):
    """Namespaces, TUN devices and the delay line; returns the delay line."""
    cns, sns = f'{tag}c', f'{tag}s'
    cdev, sdev = f'{tag}c0', f'{tag}s0'
    for ns in (cns, sns):
        B.run(['ip', 'netns', 'add', ns])
        cleanup.add(B.run, ['ip', 'netns', 'del', ns])
    dl = B.compile_c(os.path.join(B.BENCH, 'delayline.c'), os.path.join(work, 'delayline'))
    line = subprocess.Popen([dl, cdev, sdev, str(one_way_us)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    cleanup.add(B.stop_process, line)
    if line.stdout.readline().strip() != 'ready':
        B.die('delayline did not start')
    for ns, dev, me, peer in ((cns, cdev, CLIENT_IP, SERVER_IP),
                              (sns, sdev, SERVER_IP, CLIENT_IP)):
        B.run(['ip', 'link', 'set', dev, 'netns', ns])
        ex = ['ip', 'netns', 'exec', ns]
        B.run([*ex, 'ip', 'link', 'set', 'lo', 'up'])
        # No IPv6 on the link: no router solicitations or DAD on the wire.
        B.run([*ex, 'sysctl', '-q', '-w', f'net.ipv6.conf.{dev}.disable_ipv6=1'])
        B.run([*ex, 'ip', 'addr', 'add', me, 'peer', peer, 'dev', dev])
        B.run([*ex, 'ip', 'link', 'set', dev, 'up'])
    return cns, sns, line


def set_rtt(line, rtt_ms):
    line.stdin.write(f'{int(rtt_ms * 1000 / 2)}\n')
    line.stdin.flush()
    time.sleep(0.05)


def client_cmd(args, client, conf):
    if client == 'postern':
        return [args.postern, '-C', conf, RCPT]
    return [args.msmtp, '-C', conf, RCPT]


RCPT = B.RCPT


def timed_run(cmd, msgfile):
    """Wall time of one client run (spawn to exit), its status and stderr."""
    with open(msgfile, 'rb') as stdin:
        t0 = time.monotonic()
        r = subprocess.run(cmd, stdin=stdin, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
        t1 = time.monotonic()
    return t1 - t0, r.returncode, r.stderr.decode(errors='replace')


def traced_run(cmd, msgfile, rtt, keep=None):
    """Run with a verbose flag; every output line (or those starting with one
    of the prefixes in keep) stamped with its arrival time, also in RTTs."""
    out = []
    with open(msgfile, 'rb') as stdin:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, bufsize=0)
        for raw in iter(p.stdout.readline, b''):
            t = time.monotonic() - t0
            if keep is not None and not raw.startswith(keep):
                continue
            out.append(f'  {t * 1000:8.1f} ms {t / rtt:5.2f} RTT  '
                       f'{raw.decode(errors="replace").rstrip()}')
        p.wait()
        t = time.monotonic() - t0
    out.append(f'  {t * 1000:8.1f} ms {t / rtt:5.2f} RTT  (exit {p.returncode})')
    return '\n'.join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--postern', default=os.path.join(B.ROOT, 'postern'))
    ap.add_argument('--msmtp', default='/usr/bin/msmtp')
    ap.add_argument('--rtt', default='40,120', help='two or more RTTs in ms (default 40,120)')
    ap.add_argument('--reps', type=int, default=7, help='runs per case and RTT (default 7)')
    ap.add_argument('--trace', action='store_true',
                    help='also show one timed -v (postern) / --debug (msmtp) run per case')
    ap.add_argument('--server-nagle', action='store_true',
                    help='leave Nagle on in the server (smtpd_any.py explains the cost)')
    args = ap.parse_args()
    rtts = sorted(float(x) for x in args.rtt.split(','))
    if len(rtts) < 2:
        B.die('--rtt needs at least two values')
    B.require_root()
    for prog in (args.postern, args.msmtp):
        if not os.access(prog, os.X_OK):
            B.die(f'{prog}: not executable (build postern with ./configure && make; '
                  'apt-get install -y msmtp)')

    cleanup = B.Cleanup()
    try:
        return bench(args, rtts, cleanup)
    finally:
        cleanup.run()


def bench(args, rtts, cleanup):
    work = B.tempdir(cleanup, 'postern-bench-rtt.')
    header = B.describe(args.postern, args.msmtp)
    args.postern = B.snapshot(args.postern, work)
    ca = B.make_certs(os.path.join(work, 'certs'))
    msgfile = os.path.join(work, 'message')
    with open(msgfile, 'wb') as f:
        f.write(B.SMALL_MESSAGE)
    sweep_stale()
    tag = f'pb{os.getpid()}'
    cns, sns, line = netns_setup(cleanup, work, tag, int(rtts[0] * 500))

    # One server per script, in the server namespace.
    ports = {}
    for mode in B.SCRIPTS:
        for chunking in (False, True):
            ports[mode, chunking] = B.start_smtpd(
                cleanup, work, f'{mode}{"-chunking" if chunking else ""}',
                B.server_script(mode, chunking), os.path.dirname(ca), '0.0.0.0',
                prefix=['ip', 'netns', 'exec', sns], nagle=args.server_nagle)

    for mode, base in RESUMED.items():
        ports[mode, False] = B.start_smtpd(
            cleanup, work, mode, B.server_script(base, False) + 'tls-tickets 1\n',
            os.path.dirname(ca), '0.0.0.0', prefix=['ip', 'netns', 'exec', sns],
            nagle=args.server_nagle)

    confs = {}
    for client, mode, chunking, _ in CASES:
        confs[client, mode, chunking] = B.client_conf(
            client, os.path.join(work, f'{client}-{mode}-{int(chunking)}.conf'),
            SERVER_IP, ports[mode, chunking], RESUMED.get(mode, mode), ca)
        if client == 'postern':
            # a queue (so a session cache) of its own: queue on is the
            # default, and the system spool may not exist
            queue = os.path.join(work, f'queue-{mode}-{int(chunking)}')
            os.mkdir(queue, 0o700)
            with open(confs[client, mode, chunking], 'a') as f:
                f.write(f'queue_dir {queue}\n')

    # From here on every client runs in the client namespace (no
    # `ip netns exec` in the timed path).
    setns(f'/run/netns/{cns}')

    times = {}   # (case index, rtt) -> [seconds]
    failures = {}
    for rtt in rtts:
        set_rtt(line, rtt)
        for rep in range(args.reps + 1):     # the first round is a warm-up
            for i, (client, mode, chunking, _) in enumerate(CASES):
                cmd = client_cmd(args, client, confs[client, mode, chunking])
                dt, rc, err = timed_run(cmd, msgfile)
                if rc != 0:
                    failures.setdefault(i, f'exit {rc}: {err.strip()[:300]}')
                elif rep > 0:
                    times.setdefault((i, rtt), []).append(dt)
                # Let the one-connection-at-a-time server finish the session.
                time.sleep(rtt / 1000 + 0.05)

    lo, hi = rtts[0], rtts[-1]
    print(f'# Round trips per submission, {time.strftime("%Y-%m-%d %H:%M %Z")}, '
          f'RTTs {", ".join(f"{r:g}" for r in rtts)} ms, median of {args.reps} runs each, '
          f'server tests/smtpd.py{" (Nagle on)" if args.server_nagle else " (TCP_NODELAY)"}\n')
    print(header + '\n')
    rows = []
    for i, (client, mode, chunking, target) in enumerate(CASES):
        med = [B.median(times.get((i, r), [])) for r in rtts]
        if i in failures and not times.get((i, lo)):
            rows.append([client, MODE_NAME[mode], 'yes' if chunking else 'no',
                         *('-' for _ in rtts), 'FAILED', '-', '-', target or '',
                         failures[i]])
            continue
        slope = (med[-1] - med[0]) / ((hi - lo) / 1000)
        # the part of the time that does not scale with the RTT
        fixed = med[0] - slope * lo / 1000
        note = failures.get(i, '')
        rows.append([client, MODE_NAME[mode], 'yes' if chunking else 'no',
                     *(f'{m * 1000:.1f}' for m in med), str(round(slope)),
                     f'{slope:.2f}', f'{fixed * 1000:.1f}', target or '', note])
    print(B.table(['client', 'mode', 'server offers CHUNKING',
                   *(f'median ms @{r:g}' for r in rtts), 'round trips', 'raw slope',
                   'fixed ms', 'target', 'notes'], rows))

    print('\n## Ratios (msmtp round trips / postern round trips, same run)\n')
    by = {(c, m, ch): r for (c, m, ch, _), r in zip(CASES, rows)}
    rrows = []
    for mode in B.SCRIPTS:
        p, m = by[('postern', mode, False)], by[('msmtp', mode, False)]
        try:
            rrows.append([MODE_NAME[mode], p[-4], m[-4], f'{float(m[-4]) / float(p[-4]):.2f}'])
        except (ValueError, ZeroDivisionError):
            rrows.append([MODE_NAME[mode], p[-4], m[-4], '-'])
    print(B.table(['mode', 'postern raw', 'msmtp raw', 'msmtp / postern'], rrows))

    if args.trace:
        set_rtt(line, hi)
        print(f'\n## Timed transcripts at RTT {hi:g} ms (stderr lines, time since spawn)')
        for client, mode, chunking, _ in CASES:
            cmd = client_cmd(args, client, confs[client, mode, chunking])
            keep = None
            if client == 'postern':
                cmd.insert(1, '-v')
            else:
                # msmtp --debug writes the dialogue to stdout, with stdio
                # buffering; only its protocol lines are shown.
                cmd[1:1] = ['--debug']
                cmd[:0] = ['stdbuf', '-o0']
                keep = (b'<--', b'-->')
            print(f'\n### {client}, {MODE_NAME[mode]}, CHUNKING {"on" if chunking else "off"}\n')
            print(traced_run(cmd, msgfile, hi / 1000, keep))
            time.sleep(hi / 1000 + 0.05)
    return 0


if __name__ == '__main__':
    sys.exit(main())
