#!/usr/bin/python3
"""Configuration as users already have it (issue 14): msmtprc keys and
substitutions, the account choice, --pretend, --read-envelope-from, the
environment (POSTERN_*), password_file, eval.

Usage: /usr/bin/python3 tests/config/run.py --postern PATH [--msmtp-only]

Each row asserts the exact --pretend lines and the exact envelope the
scripted server (tests/smtpd.py) received, or for bad input the exact
exit status and standard error.  Rows that need a private /etc (an
overlay with /etc/mailname, or without the system file) or a read-only
bind mount run postern inside `unshare -m` (root).  Then the corpus:
every file of tests/config/corpus/ is given to `msmtp --pretend` and to
`postern --pretend` with the same argument sets, both inside
`unshare -n` (the files name real hosts: nothing may leave), and the
values of every key both print must be equal, except the deliberate
differences of postern.conf(5) (DIFFERENCES).

Prints `ok NAME` / `FAIL NAME`, the corpus figure, then
`config: N passed, N failed`.
"""

import argparse
import glob
import os
import re
import shlex
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import harness  # noqa: E402
import leakcheck  # noqa: E402

POSTERN = None
CERTS = None
SECRET = 'Cfg-pw-9vXq2'
MSG = b'Subject: config\n\nhello\n'

# The defaults postern changes on purpose (postern.conf(5),
# "DIFFERENCES FROM MSMTP"): key -> allowed (msmtp, postern) value pairs.
DIFFERENCES = {
    'tls': [('off', 'on')],
    'timeout': [('off', '60 seconds')],
    'domain': [('localhost', None)],		# None: postern's FQDN, any
    'syslog': [('(not set)', 'LOG_MAIL'), ('LOG_USER', 'LOG_MAIL')],
    'password': [('*', '<redacted>')],
    'from': [('(not set)', None)],		# postern: login@maildomain
}


def unshare(argv, m=False, n=False, setup=''):
    """argv inside new mount and/or network namespaces; setup is shell run
    first (mounts)."""
    flags = (['-m'] if m else []) + (['-n'] if n else [])
    if not setup:
        return ['unshare'] + flags + ['--'] + argv
    return ['unshare'] + flags + ['--', 'sh', '-ec', setup + 'exec "$@"', 'sh'] + argv


def private_etc(tmp, mailname=None):
    """Shell: /etc as an overlay without the system file, with mailname."""
    up, wk = os.path.join(tmp, 'etc-up'), os.path.join(tmp, 'etc-wk')
    os.makedirs(up, exist_ok=True)
    os.makedirs(wk, exist_ok=True)
    up, wk = shlex.quote(up), shlex.quote(wk)
    s = (f'mount -t overlay overlay -o lowerdir=/etc,upperdir={up},workdir={wk} /etc\n'
         'rm -f /etc/postern.conf /etc/mailname\n')
    if mailname is not None:
        s += f'printf "%s\\n" {mailname} > /etc/mailname\n'
    return s


def conf_text(port, extra='', head=''):
    return (f'{head}account default\nhost 127.0.0.1\nport {port}\ntls off\n'
            f'queue off\ntimeout 10\n{extra}')


def line_of(out, key):
    for x in out.decode().splitlines():
        if x.startswith(key + ' = '):
            return x
    return None


class Row:
    """One scenario: a server (optional), a configuration, a run."""

    def __init__(self, name):
        self.name = name
        self.tmp = harness.tmpdir('config-' + re.sub(r'[^A-Za-z0-9]+', '-', name)[:24])
        self.problems = []

    def server(self, script='cap PIPELINING\n'):
        self.srv = harness.Server(script, self.tmp, CERTS)
        return self.srv.port

    def conf(self, text, name='postern.conf', mode=0o600):
        path = harness.write_conf(self.tmp, text.replace('@TMP@', self.tmp), name)
        os.chmod(path, mode)
        return path

    def run(self, args, stdin=MSG, env=None, wrap=None, clean_env=False):
        argv = [POSTERN] + args
        if wrap is not None:
            argv = wrap(argv)
        e = dict(env or {})
        if clean_env:
            base = {k: v for k, v in os.environ.items()
                    if not k.startswith('POSTERN_')}
            e = dict(base, **e)
            rc, out, err = harness_run(argv, stdin, self.tmp, e)
        else:
            rc, out, err = harness.run(argv, stdin, self.tmp, e)
        self.last = (rc, out, err)
        return rc, out, err

    def expect(self, what, got, want):
        if got != want:
            self.problems.append(f'{what}: got {got!r}, want {want!r}')

    def envelope(self, want):
        self.expect('envelope', self.srv.envelope(), want)

    def done(self, tally):
        if hasattr(self, 'srv'):
            self.problems += self.srv.stop()
        rc, out, err = getattr(self, 'last', (0, b'', b''))
        leaks = leakcheck.search([('stdout', out), ('stderr', err)],
                                 [SECRET.encode()], [b'u'])
        self.problems += leaks
        tally.report(self.name, self.problems)
        harness.rmtree(self.tmp)


def harness_run(argv, stdin, tmp, env):
    p = subprocess.run(argv, input=stdin, capture_output=True,
                       env=dict(env, TZ='UTC', LC_ALL='C', HOME=tmp), cwd=tmp,
                       timeout=harness.RUN_TIMEOUT)
    return p.returncode, p.stdout, p.stderr


# --- the rows ---------------------------------------------------------------

def t_subst_user(t):
    r = Row('from %U: $USER, else $LOGNAME')
    port = r.server()
    conf = r.conf(conf_text(port, 'from %U@example.org\n'))
    rc, out, err = r.run(['-C', conf, '-P'], env={'USER': 'alice'})
    r.expect('pretend', line_of(out, 'from'), 'from = alice@example.org')
    env = {k: v for k, v in os.environ.items() if k != 'USER'}
    env['LOGNAME'] = 'bob'
    p = subprocess.run([POSTERN, '-C', conf, 'rcpt@example.net'], input=MSG,
                       capture_output=True, cwd=r.tmp, timeout=60,
                       env=dict(env, HOME=r.tmp, TZ='UTC', LC_ALL='C'))
    r.expect('exit', (p.returncode, p.stderr), (0, b''))
    r.envelope(['MAIL FROM:<bob@example.org>', 'RCPT TO:<rcpt@example.net>'])
    r.done(t)


def t_subst_host(t):
    r = Row('from %H and domain %H: $HOSTNAME; %C its canonical name')
    port = r.server()
    conf = r.conf(conf_text(port, 'from me@%H\ndomain %C\n'))
    env = {'HOSTNAME': 'localhost'}
    rc, out, err = r.run(['-C', conf, '-P'], env=env)
    r.expect('pretend', (line_of(out, 'from'), line_of(out, 'domain')),
             ('from = me@localhost', 'domain = localhost'))
    r.conf(conf_text(port, 'from me@%H\ndomain ehlo.%H\n'))
    rc, out, err = r.run(['-C', conf, 'rcpt@example.net'],
                         env={'HOSTNAME': 'box.example.net'})
    r.expect('exit', (rc, err), (0, b''))
    t_ = r.srv.transcript().splitlines()
    r.expect('EHLO', [x for x in t_ if x.startswith('EHLO')],
             ['EHLO ehlo.box.example.net'])
    r.envelope(['MAIL FROM:<me@box.example.net>', 'RCPT TO:<rcpt@example.net>'])
    r.done(t)


def t_subst_mailname(t):
    r = Row('from %M: /etc/mailname (private /etc)')
    port = r.server()
    conf = r.conf(conf_text(port, 'from %U@%M\n'))
    wrap = lambda a: unshare(a, m=True, setup=private_etc(r.tmp, 'mail.example.org'))  # noqa: E731
    rc, out, err = r.run(['-C', conf, '-P'], env={'USER': 'carol'}, wrap=wrap)
    r.expect('pretend', line_of(out, 'from'), 'from = carol@mail.example.org')
    rc, out, err = r.run(['-C', conf, 'rcpt@example.net'], env={'USER': 'carol'},
                         wrap=wrap)
    r.expect('exit', (rc, err), (0, b''))
    r.envelope(['MAIL FROM:<carol@mail.example.org>', 'RCPT TO:<rcpt@example.net>'])
    r.done(t)


def t_subst_mailname_missing(t):
    r = Row('from %M without /etc/mailname: 78, file:line')
    conf = r.conf(conf_text(1, 'from %U@%M\n'))
    wrap = lambda a: unshare(a, m=True, setup=private_etc(r.tmp))  # noqa: E731
    rc, out, err = r.run(['-C', conf, 'rcpt@example.net'], wrap=wrap)
    r.expect('exit', (rc, err.decode()),
             (78, f"postern: {conf}:1: account 'default': from: %M: "
              "/etc/mailname: No such file or directory\n"))
    r.done(t)


WILD = ('account a\nhost 127.0.0.1\nport @PORT@\ntls off\nqueue off\n'
        'from *@example.org\ndsn_return headers\n'
        'account b\nhost 127.0.0.1\nport @PORT@\ntls off\nqueue off\n'
        'from me@example.net\ndsn_return full\n'
        'account default : b\ndsn_notify never\n')


def t_wildcard(t):
    r = Row('from wildcard and user+detail choose the account (msmtp order)')
    port = r.server('cap DSN\n')
    conf = r.conf(WILD.replace('@PORT@', str(port)))
    rc, out, err = r.run(['-C', conf, '-P', '-f', 'x@example.org'])
    lines = out.decode().splitlines()
    r.expect('pretend', lines[1:3], [
        'account chosen by envelope from address x@example.org: a',
        f'using account a from {conf}'])
    for f in ('x@example.org', 'me+lists@example.net', 'other@example.com'):
        rc, out, err = r.run(['-C', conf, '-f', f, 'rcpt@example.net'])
        r.expect('exit ' + f, (rc, err), (0, b''))
    r.envelope(['MAIL FROM:<x@example.org> RET=HDRS', 'RCPT TO:<rcpt@example.net>',
                'MAIL FROM:<me+lists@example.net> RET=FULL',
                'RCPT TO:<rcpt@example.net>',
                'MAIL FROM:<other@example.com> RET=FULL',
                'RCPT TO:<rcpt@example.net> NOTIFY=NEVER'])
    r.done(t)


def t_wildcard_no_sender(t):
    r = Row('a pattern from without -f: 78')
    conf = r.conf(WILD.replace('@PORT@', '1'))
    rc, out, err = r.run(['-C', conf, '-a', 'a', 'rcpt@example.net'])
    r.expect('exit', (rc, err.decode()),
             (78, f"postern: {conf}:1: account 'a': from *@example.org is a "
              "pattern, not an address: give the sender with -f\n"))
    r.done(t)


def t_read_envelope_from(t):
    r = Row('--read-envelope-from: From chooses the account and is the sender')
    port = r.server('cap DSN\n')
    conf = r.conf(WILD.replace('@PORT@', str(port)))
    msg = b'From: Alice <alice@example.org>\nSubject: x\n\nhi\n'
    rc, out, err = r.run(['-C', conf, '--read-envelope-from', 'rcpt@example.net'],
                         stdin=msg)
    r.expect('exit', (rc, err), (0, b''))
    r.envelope(['MAIL FROM:<alice@example.org> RET=HDRS', 'RCPT TO:<rcpt@example.net>'])
    d = r.srv.data(1) or b''
    r.expect('data', (d.endswith(b'\r\n\r\nhi\r\n'),
                      d.startswith(b'From: Alice <alice@example.org>\r\n')), (True, True))
    rc, out, err = r.run(['-C', conf, '--read-envelope-from', 'rcpt@example.net'],
                         stdin=b'Subject: none\n\nhi\n')
    r.expect('no From', (rc, err), (65, b'postern: --read-envelope-from: the '
                                        b'message has no From field\n'))
    rc, out, err = r.run(['-C', conf, '--read-envelope-from', 'rcpt@example.net'],
                         stdin=b'From: <<bad\n\nhi\n')
    r.expect('bad From', rc, 65)
    r.done(t)


def t_tilde(t):
    r = Row('~ in aliases, logfile, tls_trust_file: the home directory')
    port = r.server()
    with open(os.path.join(r.tmp, 'aliases'), 'w') as f:
        f.write('root: admin@example.org\n')
    conf = r.conf(conf_text(port, 'aliases ~/aliases\nlogfile ~/log\n'
                              'tls_trust_file ~/ca.pem\nsyslog off\n'))
    rc, out, err = r.run(['-C', conf, '-P'])
    r.expect('pretend', [line_of(out, k) for k in ('aliases', 'logfile', 'tls_trust_file')],
             [f'aliases = {r.tmp}/aliases', f'logfile = {r.tmp}/log',
              f'tls_trust_file = {r.tmp}/ca.pem'])
    rc, out, err = r.run(['-C', conf, '-f', 'me@example.org', 'root'])
    r.expect('exit', (rc, err), (0, b''))
    r.envelope(['MAIL FROM:<me@example.org>', 'RCPT TO:<admin@example.org>'])
    log = harness.read(os.path.join(r.tmp, 'log')).decode()
    r.expect('logfile', 'to=<admin@example.org>' in log and 'status=sent' in log, True)
    r.done(t)


def t_logfile_stderr(t):
    r = Row('logfile -: the summary line on standard error, no file "-"')
    port = r.server()
    conf = r.conf(conf_text(port, 'logfile -\nsyslog off\n'))
    rc, out, err = r.run(['-C', conf, '-f', 'me@example.org', 'rcpt@example.net'])
    pat = (r'[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d postern\[\d+\]: id=- msgid=<[^>]+> '
           r'from=<me@example\.org> to=<rcpt@example\.net> size=\d+ '
           r'relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+ delay=[\d.]+ '
           r'status=sent \(250 2\.0\.0 Ok: queued as TEST1\)\n')
    r.expect('stderr', (rc, bool(re.fullmatch(pat, err.decode())), err), (0, True, err))
    r.expect('no file -', os.path.exists(os.path.join(r.tmp, '-')), False)
    r.envelope(['MAIL FROM:<me@example.org>', 'RCPT TO:<rcpt@example.net>'])
    r.done(t)


def t_msmtp_keys(t):
    r = Row('protocol smtp, auto_from, maildomain, add_missing_*, eval')
    port = r.server()
    conf = r.conf('eval echo host 127.0.0.1\n' + conf_text(port).split('\n', 2)[2] +
                  f'eval echo port {port}\n'
                  'protocol smtp\nauto_from on\nmaildomain example.com\n'
                  'from ignored@example.org\nadd_missing_date_header off\n'
                  'add_missing_from_header on\ntls_priorities NORMAL:-VERS-TLS1.0\n'
                  'from_full_name Dave\n')
    rc, out, err = r.run(['-C', conf, '-P', '-f', 'cli@example.org'], env={'USER': 'dave'})
    got = [line_of(out, k) for k in ('host', 'protocol', 'auto_from', 'maildomain',
                                     'from', 'set_from_header', 'set_date_header',
                                     'tls_priorities')]
    r.expect('pretend', got, ['host = 127.0.0.1', 'protocol = smtp', 'auto_from = on',
                              'maildomain = example.com', 'from = dave@example.com',
                              'set_from_header = auto', 'set_date_header = off',
                              'tls_priorities = NORMAL:-VERS-TLS1.0'])
    r.expect('ignored', [x for x in out.decode().splitlines() if x.startswith('ignored')],
             ['ignored: tls_priorities NORMAL:-VERS-TLS1.0: GnuTLS priority strings '
              'do not apply to OpenSSL; tls_min_version sets the oldest TLS version'])
    rc, out, err = r.run(['-C', conf, '-f', 'cli@example.org', 'rcpt@example.net'],
                         env={'USER': 'dave'})
    r.expect('exit', (rc, err), (0, b''))
    r.envelope(['MAIL FROM:<dave@example.com>', 'RCPT TO:<rcpt@example.net>'])
    d = r.srv.data(1) or b''
    r.expect('no Date added', (b'\r\nDate:' in d or d.startswith(b'Date:'),
                               b'From: Dave <dave@example.com>\r\n' in d), (False, True))
    r.done(t)


def t_bad_keys(t):
    r = Row('refused msmtp keys and bad values: 78, file:line: reason')
    cases = [
        ('protocol lmtp\n', "{c}:7: protocol lmtp is not supported by postern: LMTP "
         "hands mail to a local delivery agent, and postern only submits to a "
         "smarthost over SMTP"),
        ('proxy_host 127.0.0.1\n', "{c}:7: key 'proxy_host' is not supported by "
         "postern: SOCKS proxies are not supported, and ignoring one would send "
         "mail past it"),
        ('eval exit 3\n', '{c}:7: eval: the command failed'),
        ('tls_fingerprint AA:BB\n', "{c}:7: tls_fingerprint: not a SHA-256 "
         "fingerprint (32 hex bytes, as AB:CD:...; SHA-1's 20 and MD5's 16 are "
         "accepted too)"),
        ('auto_from maybe\n', "{c}:7: auto_from: invalid value 'maybe'"),
    ]
    for extra, want in cases:
        conf = r.conf(conf_text(1, extra))
        rc, out, err = r.run(['-C', conf, '-P'])
        r.expect(extra.strip(), (rc, err.decode()),
                 (78, 'postern: ' + want.format(c=conf) + '\n'))
    r.done(t)


def t_weak_fpr(t):
    r = Row('tls_fingerprint SHA-1: accepted, delivered, a warning names the SHA-256')
    port = r.server('tls starttls\ncap PIPELINING\n')
    pem = os.path.join(CERTS, 'good.pem')
    fp = {}
    for md in ('sha1', 'sha256', 'md5'):
        o = subprocess.run(['openssl', 'x509', '-noout', '-fingerprint', '-' + md,
                            '-in', pem], capture_output=True, text=True).stdout
        fp[md] = o.strip().split('=', 1)[1]
    conf = r.conf(conf_text(port, f'tls on\ntls_fingerprint {fp["sha1"]}\n'))
    rc, out, err = r.run(['-C', conf, '-f', 'me@example.org', 'rcpt@example.net'])
    r.expect('exit', (rc, err.decode()),
             (0, 'postern: warning: tls_fingerprint is SHA-1, which is weak; '
              f'write the SHA-256 one: {fp["sha256"]}\n'))
    r.conf(conf_text(port, f'tls on\ntls_fingerprint {fp["md5"]}\n'))
    rc, out, err = r.run(['-C', conf, '-P'])
    r.expect('pretend', (line_of(out, 'tls_fingerprint'),
                         'warning: tls_fingerprint is MD5, which is weak' in out.decode()),
             ('tls_fingerprint = ' + fp['md5'], True))
    r.envelope(['MAIL FROM:<me@example.org>', 'RCPT TO:<rcpt@example.net>'])
    r.done(t)


def t_crl(t):
    r = Row('tls_crl_file: a file that is no CRL fails closed (78)')
    port = r.server('tls starttls\n')
    bad = os.path.join(r.tmp, 'crl.pem')
    with open(bad, 'w') as f:
        f.write('not a crl\n')
    conf = r.conf(conf_text(port, 'tls on\ntls_trust_file ' + os.path.join(CERTS, 'ca.pem') +
                            '\ntls_crl_file ~/crl.pem\n'))
    rc, out, err = r.run(['-C', conf, '-f', 'me@example.org', 'rcpt@example.net'])
    r.expect('exit', (rc, err.decode().startswith(f'postern: tls_crl_file {bad}: cannot load')),
             (78, True))
    r.envelope([])
    r.done(t)


def make_crl(path, revoke_pem=None):
    """A CRL of the test CA (PEM), revoking the certificate revoke_pem."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    with open(os.path.join(CERTS, 'ca.pem'), 'rb') as f:
        ca = x509.load_pem_x509_certificate(f.read())
    with open(os.path.join(CERTS, 'ca.key'), 'rb') as f:
        key = serialization.load_pem_private_key(f.read(), None)
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateRevocationListBuilder().issuer_name(ca.subject)
         .last_update(now - datetime.timedelta(hours=1))
         .next_update(now + datetime.timedelta(days=1)))
    if revoke_pem is not None:
        with open(revoke_pem, 'rb') as f:
            cert = x509.load_pem_x509_certificate(f.read())
        b = b.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(cert.serial_number)
            .revocation_date(now - datetime.timedelta(minutes=5)).build())
    with open(path, 'wb') as f:
        f.write(b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))


def t_crl_revoked(t):
    r = Row('tls_crl_file: a revoked server certificate is refused, a listed CA passes')
    port = r.server('tls starttls\ncap PIPELINING\n')
    crl = os.path.join(r.tmp, 'crl.pem')
    conf = r.conf(conf_text(port, 'tls on\ntls_trust_file ' + os.path.join(CERTS, 'ca.pem') +
                            '\ntls_crl_file ~/crl.pem\n'))
    make_crl(crl)
    rc, out, err = r.run(['-C', conf, '-f', 'me@example.org', 'rcpt@example.net'])
    r.expect('not revoked', (rc, err), (0, b''))
    make_crl(crl, os.path.join(CERTS, 'good.pem'))
    rc, out, err = r.run(['-C', conf, '-f', 'me@example.org', 'rcpt@example.net'])
    r.expect('revoked', (rc, b'certificate revoked' in err), (69, True))
    r.envelope(['MAIL FROM:<me@example.org>', 'RCPT TO:<rcpt@example.net>'])
    r.done(t)


ENV_ALL = {'POSTERN_HOST': '127.0.0.1', 'POSTERN_TLS': 'off', 'POSTERN_QUEUE': 'off',
           'POSTERN_FROM': 'app@example.org', 'POSTERN_MAILDOMAIN': 'example.org',
           'POSTERN_DOMAIN': 'ehlo.example.org', 'POSTERN_TIMEOUT': '10'}


def t_env_only(t):
    r = Row('no file: POSTERN_* alone configures (container), EHLO and Message-ID')
    port = r.server()
    env = dict(ENV_ALL, POSTERN_PORT=str(port))
    wrap = lambda a: unshare(a, m=True, setup=private_etc(r.tmp))  # noqa: E731
    rc, out, err = r.run(['-P'], env=env, wrap=wrap)
    lines = out.decode().splitlines()
    r.expect('pretend', lines[:3] + [line_of(out, 'host'), line_of(out, 'port'),
                                      line_of(out, 'domain')],
             ['no configuration file: the environment alone',
              'account default: 8 settings from POSTERN_* environment variables',
              'falling back to default account', 'host = 127.0.0.1', f'port = {port}',
              'domain = ehlo.example.org'])
    rc, out, err = r.run(['root'], env=env, wrap=wrap)
    r.expect('exit', (rc, err), (0, b''))
    r.envelope(['MAIL FROM:<app@example.org>', 'RCPT TO:<root@example.org>'])
    r.expect('EHLO', [x for x in r.srv.transcript().splitlines() if x.startswith('EHLO')],
             ['EHLO ehlo.example.org'])
    d = (r.srv.data(1) or b'').decode()
    r.expect('Message-ID', bool(re.search(r'^Message-ID: <[^@>]+@example\.org>\r$', d, re.M)),
             True)
    r.done(t)


def t_env_overrides(t):
    r = Row('the file first, then POSTERN_* (the default account only)')
    port = r.server()
    conf = r.conf(conf_text(port, 'from file@example.org\n'))
    rc, out, err = r.run(['-C', conf, 'rcpt@example.net'],
                         env={'POSTERN_FROM': 'env@example.org'})
    r.expect('exit', (rc, err), (0, b''))
    r.envelope(['MAIL FROM:<env@example.org>', 'RCPT TO:<rcpt@example.net>'])
    r.done(t)


def t_env_bad(t):
    r = Row('bad POSTERN_* input: 78, the variable named')
    conf = r.conf(conf_text(1))
    for var, val, want in [
            ('POSTERN_PORT', 'x', "environment POSTERN_PORT: port: invalid value 'x'"),
            ('POSTERN_BOGUS', '1', "environment POSTERN_BOGUS: unknown key 'bogus'"),
            ('POSTERN_PROXY_HOST', 'h', "environment POSTERN_PROXY_HOST: key "
             "'proxy_host' is not supported by postern: SOCKS proxies are not "
             "supported, and ignoring one would send mail past it"),
            ('POSTERN_HOST', 'a\nb', 'environment POSTERN_HOST: line break in the value')]:
        rc, out, err = r.run(['-C', conf, '-P'], env={var: val})
        r.expect(var, (rc, err.decode()), (78, f'postern: {want}\n'))
    r.done(t)


def ro_mount(d):
    d = shlex.quote(d)
    return f'mount --bind {d} {d}\nmount -o remount,ro,bind {d}\n'


def t_password_file(t):
    r = Row('password_file: 0644 only on a read-only mount (unshare -m)')
    port = r.server(f'auth PLAIN\nuser u {SECRET}\n')
    sec = os.path.join(r.tmp, 'secrets')
    os.makedirs(sec)
    # As Kubernetes mounts it: a symbolic link into ..data.
    os.makedirs(os.path.join(sec, '..data'))
    real = os.path.join(sec, '..data', 'smtp-password')
    pf = os.path.join(sec, 'smtp-password')
    os.symlink('..data/smtp-password', pf)
    with open(real, 'w') as f:
        f.write(SECRET + '\n')
    os.chmod(real, 0o644)
    conf = r.conf(conf_text(port, 'auth plain\nauth_allow_plaintext on\nuser u\n'
                                  'password_file ~/secrets/smtp-password\n'))
    wrap = lambda a: unshare(a, m=True, setup=ro_mount(sec))  # noqa: E731
    rc, out, err = r.run(['-C', conf, '-f', 'me@example.org', 'rcpt@example.net'],
                         wrap=wrap)
    r.expect('read-only 0644', (rc, err), (0, b''))
    rc, out, err = r.run(['-C', conf, '-f', 'me@example.org', 'rcpt@example.net'])
    r.expect('writable 0644', (rc, err.decode()),
             (78, f"postern: {conf}:1: account 'default': password_file {pf}: "
              "readable by others on a writable file system (chmod 600 it)\n"))
    os.chmod(real, 0o600)
    rc, out, err = r.run(['-C', conf, '-f', 'me@example.org', 'rcpt@example.net'])
    r.expect('writable 0600', (rc, err), (0, b''))
    rc, out, err = r.run(['-C', conf, '-P'])
    r.expect('pretend', (line_of(out, 'password'), line_of(out, 'password_file')),
             ('password = <redacted>', f'password_file = {pf}'))
    r.envelope(['MAIL FROM:<me@example.org>', 'RCPT TO:<rcpt@example.net>'] * 2)
    os.remove(real)
    rc, out, err = r.run(['-C', conf, '-f', 'me@example.org', 'rcpt@example.net'])
    r.expect('missing', (rc, err.decode()),
             (78, f"postern: {conf}:1: account 'default': password_file {pf}: "
              "No such file or directory\n"))
    r.done(t)


FULL_CONF = """defaults
tls on
tls_trust_file ~/ca.pem
logfile ~/postern.log
queue_dir ~/queue
syslog LOG_LOCAL3
account base
host smtp.example.org
port 587
auth on
user me@example.org
password {secret}
timeout 20
domain %H
account work : base
from *@example.org
tls_fingerprint 01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67
tls_priorities NORMAL
dsn_notify failure,delay
dsn_return headers
aliases ~/aliases
account default : base
"""

FULL_PRETEND = """loaded user configuration file {conf}
account chosen by envelope from address x+y@example.org: work
using account work from {conf}
host = smtp.example.org
port = 587
source ip = (not set)
proxy host = (not set)
proxy port = 0
socket = (not set)
timeout = 20 seconds
protocol = smtp
domain = pretend.example
auth = choose
user = me@example.org
password = <redacted>
passwordeval = (not set)
ntlmdomain = (not set)
tls = on
tls_starttls = on
tls_trust_file = {tmp}/ca.pem
tls_crl_file = (not set)
tls_fingerprint = 01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67
tls_key_file = (not set)
tls_cert_file = (not set)
tls_certcheck = on
tls_min_dh_prime_bits = (not set)
tls_priorities = NORMAL
tls_host_override = (not set)
auto_from = off
maildomain = (not set)
from = x+y@example.org
allow_from_override = on
set_from_header = auto
set_date_header = auto
remove_bcc_headers = on
undisclosed_recipients = off
dsn_notify = FAILURE,DELAY
dsn_return = HDRS
logfile = {tmp}/postern.log
logfile_time_format = (not set)
syslog = LOG_LOCAL3
aliases = {tmp}/aliases
set_msgid_header = auto
from_full_name = (not set)
auth_allow_plaintext = off
tls_min_version = TLSv1.2
password_file = (not set)
queue = on
queue_dir = {tmp}/queue
queue_retry_min = 300s
queue_retry_max = 14400s
queue_lifetime = 432000s
dkim_domain = (not set)
dkim_selector = (not set)
dkim_key_file = (not set)
dkim_algorithm = (not set)
dkim_headers = (not set)
ignored: tls_priorities NORMAL: GnuTLS priority strings do not apply to OpenSSL; tls_min_version sets the oldest TLS version
warning: tls_fingerprint is SHA-1, which is weak
reading recipients from the command line and the mail
"""


def t_pretend_full(t):
    r = Row('--pretend: the whole output, exactly')
    conf = r.conf(FULL_CONF.format(secret=SECRET))
    rc, out, err = r.run(['-C', conf, '-P', '-t', '-f', 'x+y@example.org'],
                         env={'HOSTNAME': 'pretend.example'})
    r.expect('exit', (rc, err), (0, b''))
    want = FULL_PRETEND.format(conf=conf, tmp=r.tmp)
    if out.decode() != want:
        import difflib
        r.problems.append(''.join(difflib.unified_diff(
            want.splitlines(True), out.decode().splitlines(True), 'expected', 'got')))
    r.expect('nothing created', sorted(os.listdir(r.tmp)), ['postern.conf'])
    r.done(t)


# --- the corpus against msmtp -------------------------------------------------

def accounts(path):
    names, froms = [], []
    for x in open(path).read().splitlines():
        w = x.split()
        if len(w) >= 2 and w[0] == 'account':
            names.append(w[1])
        if len(w) == 2 and w[0] == 'from':
            froms.append(w[1])
    return names, froms


def example_address(pattern):
    a = pattern.replace('[a-m]', 'b').replace('*', 'someone').replace('?', 'x')
    return a.replace('%U', 'tester').replace('%H', 'host.example')


def arg_sets(path):
    """The same five for every file: none, -a, -f matching, -f matching
    nothing, -a with -f."""
    names, froms = accounts(path)
    other = next((n for n in names if n != 'default'), 'default')
    match = example_address(froms[-1] if froms else 'me@example.org')
    return [[], ['-a', other], ['-f', match], ['-f', 'nobody@nowhere.example'],
            ['-a', other, '-f', 'override@example.com']]


def pretend_lines(out):
    keys, meta = {}, []
    for x in out.decode('utf-8', 'replace').splitlines():
        if ' = ' in x:
            k, v = x.split(' = ', 1)
            keys[k] = v
        elif x.startswith(('using account', 'account chosen', 'falling back')):
            meta.append(x)
    return keys, meta


def compare(mkeys, pkeys):
    bad = []
    for k in mkeys:
        if k not in pkeys:
            bad.append(f'{k}: postern does not print it')
            continue
        m, p = mkeys[k], pkeys[k]
        if m == p:
            continue
        if any(m == dm and (dp is None or p == dp) for dm, dp in DIFFERENCES.get(k, [])):
            continue
        bad.append(f'{k}: msmtp {m!r}, postern {p!r}')
    return bad


def corpus(t):
    files = sorted(glob.glob(os.path.join(HERE, 'corpus', '*.msmtprc')))
    tmp = harness.tmpdir('config-corpus')
    env = {k: v for k, v in os.environ.items() if not k.startswith('POSTERN_')}
    env.update(HOME=tmp, USER='tester', LOGNAME='tester', HOSTNAME='host.example',
               LC_ALL='C', TZ='UTC')
    # What the corpus's passwordeval commands call: msmtp --pretend runs
    # them, and so does postern's.
    bindir = os.path.join(tmp, 'bin')
    os.makedirs(bindir)
    for cmd in ('pass', 'gpg', 'secret-tool', 'security'):
        with open(os.path.join(bindir, cmd), 'w') as f:
            f.write('#!/bin/sh\necho corpus-password\n')
        os.chmod(os.path.join(bindir, cmd), 0o755)
    for f in ('.secrets/gmail', '.secrets/example.net', '.oldisp'):
        os.makedirs(os.path.dirname(os.path.join(tmp, f)), exist_ok=True)
        with open(os.path.join(tmp, f), 'w') as fp:
            fp.write('corpus-password\n')
    env['PATH'] = bindir + ':' + env.get('PATH', '/usr/bin:/bin')
    runs = 0
    nsets = None
    for path in files:
        name = os.path.basename(path)
        rc_path = os.path.join(tmp, name)
        shutil.copy(path, rc_path)
        os.chmod(rc_path, 0o600)
        problems = []
        sets = arg_sets(path)
        nsets = len(sets) if nsets is None else nsets
        for args in sets:
            res = []
            for prog in (['msmtp'], [POSTERN]):
                p = subprocess.run(unshare(prog + ['-C', rc_path, '--pretend'] + args +
                                           ['rcpt@example.net'], n=True),
                                   capture_output=True, env=env, cwd=tmp, timeout=60)
                res.append(p)
            m, p = res
            runs += 1
            label = ' '.join(args) or '(no options)'
            if (m.returncode == 0) != (p.returncode == 0):
                problems.append(f'{label}: msmtp exit {m.returncode} '
                                f'{m.stderr.decode()!r}, postern exit {p.returncode} '
                                f'{p.stderr.decode()!r}')
                continue
            if m.returncode != 0:
                continue
            mk, mm = pretend_lines(m.stdout)
            pk, pm = pretend_lines(p.stdout)
            if mm != pm:
                problems.append(f'{label}: account lines: msmtp {mm}, postern {pm}')
            problems += [f'{label}: {x}' for x in compare(mk, pk)]
            if not mk:
                problems.append(f'{label}: msmtp printed no keys')
        t.report('msmtp --pretend == postern --pretend: ' + name, problems)
    harness.rmtree(tmp)
    print(f'corpus: {len(files)} files x {nsets} argument sets ({runs} runs of each '
          f'program), compared on the shared keys')
    return len(files), nsets


def main():
    global POSTERN, CERTS
    ap = argparse.ArgumentParser()
    ap.add_argument('--postern', required=True)
    ap.add_argument('--msmtp-only', action='store_true')
    a = ap.parse_args()
    POSTERN = os.path.abspath(a.postern)
    CERTS = harness.certs()
    t = harness.Tally()
    if not a.msmtp_only:
        rows = [t_pretend_full, t_subst_user, t_subst_host, t_wildcard, t_wildcard_no_sender,
                t_read_envelope_from, t_tilde, t_logfile_stderr, t_msmtp_keys,
                t_bad_keys, t_weak_fpr, t_crl, t_crl_revoked, t_env_overrides, t_env_bad]
        root = [t_subst_mailname, t_subst_mailname_missing, t_env_only,
                t_password_file]
        if os.geteuid() == 0:
            rows += root
        else:
            print(f'note: not root: {len(root)} rows that need unshare -m skipped')
        for f in rows:
            try:
                f(t)
            except Exception as ex:  # a broken row fails, the rest go on
                t.report(f.__name__, [f'exception: {ex!r}'])
    if shutil.which('msmtp') is None or os.geteuid() != 0:
        t.report('corpus: msmtp and unshare -n (root) are needed', ['not run'])
    else:
        corpus(t)
    return t.done('config')


if __name__ == '__main__':
    sys.exit(main())
