"""Shared helpers of the postern benchmarks (tests/bench/README.md).

Python 3 standard library only; run the benchmarks with /usr/bin/python3.
"""

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(BENCH))
SMTPD_ANY = os.path.join(BENCH, 'smtpd_any.py')
PYTHON = '/usr/bin/python3'

USER, PASSWORD = 'alice', 's3cret-pw'
SENDER, RCPT = 'sender@example.org', 'rcpt@example.net'

SMALL_MESSAGE = (
    b'From: Sender <sender@example.org>\n'
    b'To: Rcpt <rcpt@example.net>\n'
    b'Subject: bench\n'
    b'Date: Fri, 27 Nov 2026 00:00:00 +0000\n'
    b'Message-ID: <bench@example.org>\n'
    b'\n'
    b'Hello.\n')


def die(msg):
    print(f'{os.path.basename(sys.argv[0])}: {msg}', file=sys.stderr)
    sys.exit(1)


def run(cmd, **kw):
    """Run cmd; raise with its output if it fails."""
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)
    if r.returncode != 0:
        raise RuntimeError(f'{" ".join(cmd)}: exit {r.returncode}\n'
                           f'{r.stdout.decode(errors="replace")}')
    return r.stdout.decode(errors='replace')


class Cleanup:
    """Undo actions run in reverse order at exit, also on SIGTERM/SIGINT/SIGHUP."""

    def __init__(self):
        self.actions = []
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum, frame):
        raise SystemExit(128 + signum)

    def add(self, fn, *args):
        self.actions.append((fn, args))

    def run(self):
        # Signals during cleanup must not cut it short.
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        while self.actions:
            fn, args = self.actions.pop()
            try:
                fn(*args)
            except Exception as e:  # keep cleaning up
                print(f'cleanup: {e}', file=sys.stderr)


def tempdir(cleanup, prefix):
    d = tempfile.mkdtemp(prefix=prefix)
    cleanup.add(shutil.rmtree, d, True)
    return d


def stop_process(p, timeout=5):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def make_certs(d, rsa=False):
    """A CA and a server certificate valid for localhost, 127.0.0.1 and
    10.77.0.2, named like tests/mkcerts.sh names them (ca.pem, good.pem,
    good.key) so that tests/smtpd.py serves it with `cert good`.  The keys
    are EC P-256; rsa: the server's is RSA 2048 (what most smarthosts
    have, and what makes a full handshake cost)."""
    os.makedirs(d, exist_ok=True)
    ext = os.path.join(d, 'ext.cnf')
    with open(ext, 'w') as f:
        f.write('basicConstraints = critical, CA:FALSE\n'
                'keyUsage = critical, digitalSignature\n'
                'extendedKeyUsage = serverAuth\n'
                'subjectAltName = DNS:localhost, IP:127.0.0.1, IP:10.77.0.2\n'
                'subjectKeyIdentifier = hash\n'
                'authorityKeyIdentifier = keyid\n')
    ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
    run(['openssl', 'req', '-x509', *ec, '-keyout', f'{d}/ca.key', '-out', f'{d}/ca.pem',
         '-subj', '/CN=postern bench CA', '-days', '2',
         '-addext', 'basicConstraints=critical,CA:TRUE',
         '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
    leaf = ['-newkey', 'rsa:2048', '-nodes'] if rsa else ec
    run(['openssl', 'req', *leaf, '-keyout', f'{d}/good.key', '-out', f'{d}/good.csr',
         '-subj', '/CN=localhost'])
    run(['openssl', 'x509', '-req', '-in', f'{d}/good.csr', '-CA', f'{d}/ca.pem',
         '-CAkey', f'{d}/ca.key', '-CAcreateserial', '-days', '2', '-sha256',
         '-extfile', ext, '-out', f'{d}/good.pem'])
    return f'{d}/ca.pem'


# Server scripts for tests/smtpd.py (format: tests/README.md).
CAPS = 'cap PIPELINING\ncap 8BITMIME\ncap ENHANCEDSTATUSCODES\ncap SIZE 104857600\n'
AUTH = f'auth PLAIN LOGIN\nuser {USER} {PASSWORD}\nauth-tls-only\n'
SCRIPTS = {
    'plain': CAPS,
    'starttls': 'tls starttls\n' + CAPS + AUTH,
    'implicit': 'tls implicit\n' + CAPS + AUTH,
}


def server_script(mode, chunking):
    return SCRIPTS[mode] + ('cap CHUNKING\n' if chunking else '')


def start_smtpd(cleanup, workdir, name, script, certs, bind, prefix=(), nagle=False):
    """Start tests/smtpd.py (through smtpd_any.py, which binds `bind`) and
    return its port.  prefix: e.g. ['ip', 'netns', 'exec', NS].  nagle: keep
    smtpd.py's sockets without TCP_NODELAY (smtpd_any.py explains)."""
    sdir = os.path.join(workdir, 'srv-' + name)
    os.makedirs(os.path.join(sdir, 'out'))
    path = os.path.join(sdir, 'script')
    with open(path, 'w') as f:
        f.write(script)
    p = subprocess.Popen([*prefix, PYTHON, SMTPD_ANY, '--bind', bind,
                          *(['--nagle'] if nagle else []), '--script', path,
                          '--certs', certs, '--out', os.path.join(sdir, 'out')],
                         stdout=subprocess.PIPE, stderr=open(os.path.join(sdir, 'stderr'), 'w'))
    cleanup.add(stop_process, p)
    line = p.stdout.readline().strip()
    if not line.isdigit():
        with open(os.path.join(sdir, 'stderr')) as f:
            die(f'server {name} did not start: {f.read()}')
    return int(line)


def client_conf(kind, path, host, port, mode, ca):
    """Write a postern or msmtp configuration (same msmtprc syntax) for mode
    plain (no TLS, no AUTH), starttls or implicit (both with AUTH PLAIN)."""
    lines = ['account default', f'host {host}', f'port {port}', 'domain client.example',
             f'from {SENDER}']
    if mode == 'plain':
        lines += ['tls off', 'auth off']
    else:
        lines += ['tls on', f'tls_starttls {"on" if mode == "starttls" else "off"}',
                  f'tls_trust_file {ca}', 'auth plain', f'user {USER}',
                  f'password {PASSWORD}']
    if kind == 'msmtp':
        lines += ['timeout 60']
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return path


def median(xs):
    return statistics.median(xs) if xs else float('nan')


def table(header, rows):
    """A GitHub-flavoured Markdown table."""
    cols = [header] + [[str(c) for c in r] for r in rows]
    w = [max(len(r[i]) for r in cols) for i in range(len(header))]
    out = ['| ' + ' | '.join(c.ljust(w[i]) for i, c in enumerate(header)) + ' |',
           '| ' + ' | '.join('-' * w[i] for i in range(len(header))) + ' |']
    for r in cols[1:]:
        out.append('| ' + ' | '.join(c.ljust(w[i]) for i, c in enumerate(r)) + ' |')
    return '\n'.join(out)


def compile_c(src, out, libs=()):
    run(['cc', '-O2', '-Wall', '-Wextra', '-o', out, src, *libs])
    return out


def run_bench(bench, args, progs, install):
    """The frame of every benchmark: root, the programs it needs (install
    says how to get them), then bench(args, cleanup) with the cleanup run
    whatever happens."""
    require_root()
    for prog in progs:
        if not os.access(prog, os.X_OK):
            die(f'{prog}: missing (./configure && make; {install})')
    cleanup = Cleanup()
    try:
        return bench(args, cleanup)
    finally:
        cleanup.run()


def require_root():
    if os.geteuid() != 0:
        die('must run as root (network namespaces, TUN devices)')


def describe(postern, msmtp):
    """One line naming what was measured."""
    try:
        head = subprocess.run(['git', '-C', ROOT, 'rev-parse', '--short', 'HEAD'],
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(['git', '-C', ROOT, 'status', '--porcelain', '--', 'src'],
                               capture_output=True, text=True).stdout.strip()
    except OSError:
        head, dirty = '?', ''
    try:
        mv = subprocess.run([msmtp, '--version'], capture_output=True,
                            text=True).stdout.split('\n')[0]
    except OSError:
        mv = msmtp
    built = time.strftime('%Y-%m-%d %H:%M', time.localtime(os.stat(postern).st_mtime))
    return (f'postern {postern} (built {built}; tree at HEAD {head}'
            f'{", src/ modified" if dirty else ""} when run), {mv}, '
            f'{os.cpu_count()} CPUs, kernel {os.uname().release}')


def snapshot(path, work):
    """A private copy of the binary: others may rebuild ./postern mid-run."""
    dst = os.path.join(work, 'bin', os.path.basename(path))
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copy2(path, dst)
    return dst
