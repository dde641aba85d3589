#!/usr/bin/python3
"""OAuth2 built in (issue 15), end to end.

Usage: /usr/bin/python3 tests/oauth2/run.py --postern PATH
           [--postern-test PATH] [--only NAME[,NAME...]]

A local HTTPS identity provider (tests/oauth2/idp.py: Python's
http.server + ssl with the test CA, port 0, every request recorded) and
the scripted SMTP server (tests/smtpd.py, implicit TLS, XOAUTH2 or
OAUTHBEARER with exactly the current access token as the `user`
password).  Each test asserts the exit status, the exact standard error
where it is ours, what the provider received, what the SMTP server
received and what the token store holds; every postern run is searched
for the refresh and access tokens and the client secret in every form
tests/leakcheck.py knows (standard output and error, the logfile, the
queue; not the token store, whose job is to hold them).

--postern-test is a -DPOSTERN_TEST build (crash points oauth2-response
and oauth2-stored); without it the crash tests are skipped and fail.

Prints `ok NAME` / `FAIL NAME`, then `oauth2: N passed, N failed`.
"""

import argparse
import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True     # no __pycache__ in the tree
HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, TESTS)
sys.path.insert(0, HERE)
import harness  # noqa: E402
import leakcheck  # noqa: E402
from idp import IdP  # noqa: E402

OPTS = None
CERTS = None
ACCOUNT = 'office365'
USER = 'alice@example.org'
CLIENT_SECRET = 'cs-' + secrets.token_urlsafe(12)
HINT = f'postern --authorize -a {ACCOUNT}'
MSG = b'Subject: oauth2 test\n\nHello over OAuth2.\n'


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


def tok(kind):
    return f'{kind}-{secrets.token_urlsafe(15)}'


class Env:
    """One test's directory, provider, SMTP server and configuration."""

    def __init__(self, name, cert='good'):
        self.tmp = harness.tmpdir('oauth2-' + name)
        os.makedirs(os.path.join(self.tmp, 'queue'), mode=0o700)
        self.idp = IdP(CERTS, cert)
        self.idp.client_secret = CLIENT_SECRET
        self.smtp = None
        self.secrets = {CLIENT_SECRET}
        self.outputs = []
        self.conf = None

    # --- set-up

    def server(self, tokens, extra=''):
        """The SMTP server accepting token N on connection N (one token:
        on every connection)."""
        users = ''.join(f'{"@%d " % (i + 1) if len(tokens) > 1 else ""}user {USER} {t}\n'
                        for i, t in enumerate(tokens))
        self.smtp = harness.Server('tls implicit\nauth XOAUTH2 OAUTHBEARER\n' + users + extra,
                                   self.tmp, CERTS)
        self.secrets.update(tokens)

    def config(self, extra='', mech='xoauth2', queue='on', trust=True, secret_line=None):
        port = self.smtp.port if self.smtp else 9
        ca = os.path.join(CERTS, 'ca.pem')
        text = (f'account {ACCOUNT}\nhost 127.0.0.1\nport {port}\ntls on\n'
                f'tls_starttls off\ntls_trust_file {ca}\nauth {mech}\nuser {USER}\n'
                f'from {USER}\nqueue {queue}\nqueue_dir {self.tmp}/queue\ntimeout 10\n'
                f'logfile {self.tmp}/log\nsyslog off\noauth2_provider custom\n'
                f'oauth2_client_id {self.idp.client_id}\n'
                + (secret_line if secret_line is not None else
                   f'oauth2_client_secret {CLIENT_SECRET}\n')
                + f'oauth2_token_url {self.idp.url}/token\n'
                + (f'oauth2_trust_file {ca}\n' if trust else '') + extra)
        self.conf = harness.write_conf(self.tmp, text)
        return self.conf

    def store_path(self):
        return os.path.join(self.tmp, 'queue', 'oauth2', ACCOUNT)

    def preload(self, refresh, access, expires_in):
        d = os.path.join(self.tmp, 'queue', 'oauth2')
        os.makedirs(d, mode=0o700, exist_ok=True)
        fd = os.open(self.store_path(), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as f:
            f.write(f'refresh_token {refresh}\naccess_token {access}\n'
                    f'expires {int(time.time()) + expires_in}\n')
        self.idp.refresh_valid.add(refresh)
        self.secrets.update([refresh, access])

    def expired(self):
        """The usual start: a store whose access token has expired, the
        provider's next token, a server that takes it.  (r0, a0, a1)."""
        r0, a0, a1 = tok('rt'), tok('at'), tok('at')
        self.preload(r0, a0, -10)
        self.give([a1])
        self.server([a1])
        return r0, a0, a1

    def give(self, access=(), refresh=()):
        self.idp.next_access += list(access)
        self.idp.next_refresh += list(refresh)
        self.secrets.update(access)
        self.secrets.update(refresh)

    def store(self):
        out = {}
        with open(self.store_path()) as f:
            for line in f:
                k, _, v = line.rstrip('\n').partition(' ')
                out[k] = v
        return out

    # --- runs

    def run(self, args, stdin=MSG, env=None, binary=None, timeout=120):
        argv = [binary or OPTS.postern, '-C', self.conf, '-a', ACCOUNT] + args
        rc, out, err = harness.run(argv, stdin=stdin, tmp=self.tmp, env=env, timeout=timeout)
        self.outputs += [(f'stdout of {args}', out), (f'stderr of {args}', err)]
        return rc, out.decode('utf-8', 'replace'), err.decode('utf-8', 'replace')

    def queued(self):
        """The committed messages: queue format 2 commits ID.msg alone."""
        q = os.path.join(self.tmp, 'queue')
        return sorted(n for n in os.listdir(q)
                      if n.endswith('.msg') and not n.startswith('tmp.'))

    def delivered(self):
        return self.smtp.transcript().count('* data ') if self.smtp else 0

    def finish(self):
        """Stop the servers; the problems of the secret check and the server."""
        problems = []
        if self.smtp is not None:
            problems += self.smtp.stop()
        self.idp.stop()
        problems += ['identity provider: ' + x for x in self.idp.errors]
        store = os.path.join('queue', 'oauth2')
        exclude = leakcheck.EXCLUDE + tuple(
            os.path.join(store, n) for n in (os.listdir(os.path.join(self.tmp, store))
                                             if os.path.isdir(os.path.join(self.tmp, store))
                                             else ()))
        problems += leakcheck.check_run(self.tmp, self.outputs, exclude=exclude,
                                        extra=sorted(self.secrets))
        return problems


TESTS_RUN = []


def test(fn):
    TESTS_RUN.append(fn)
    return fn


def auth_lines(transcript):
    return [x for x in transcript.splitlines() if x.startswith('AUTH ')]


def bearer(access):
    import base64
    return 'AUTH XOAUTH2 ' + base64.b64encode(
        f'user={USER}\x01auth=Bearer {access}\x01\x01'.encode()).decode()


# ------------------------------------------------------------------ tests

@test
def cached_token_reused(env):
    """A cached access token with an hour left: no HTTP request at all."""
    r0, a0 = tok('rt'), tok('at')
    env.preload(r0, a0, 3600)
    env.server([a0])
    env.config()
    rc, out, err = env.run(['bob@example.net'])
    check(rc == 0 and err == '', f'exit {rc}, stderr {err!r}')
    check(env.idp.requests == [], f'requests: {env.idp.requests}')
    check(auth_lines(env.smtp.transcript()) == [bearer(a0)], 'AUTH: ' + env.smtp.transcript())
    check(env.delivered() == 1 and env.queued() == [], 'not delivered once')


@test
def expiry_then_refresh(env):
    """30 s left (under the 60 s margin): one refresh_token grant, the new
    token is used and cached with its expiry; a second run reuses it."""
    r0, a0, a1 = tok('rt'), tok('at'), tok('at')
    env.preload(r0, a0, 30)
    env.give([a1])
    env.server([a1])
    env.config()
    before = int(time.time())
    rc, out, err = env.run(['bob@example.net'])
    check(rc == 0 and err == '', f'exit {rc}, stderr {err!r}')
    reqs = env.idp.token_requests()
    check(len(reqs) == 1, f'{len(reqs)} token requests')
    form = reqs[0]['form']
    check(form == {'grant_type': 'refresh_token', 'refresh_token': r0,
                   'client_id': env.idp.client_id, 'client_secret': CLIENT_SECRET},
          f'form {form}')
    check(reqs[0]['headers'].get('Content-Type') == 'application/x-www-form-urlencoded',
          'content type ' + str(reqs[0]['headers'].get('Content-Type')))
    s = env.store()
    check(s.get('refresh_token') == r0 and s.get('access_token') == a1, f'store {s}')
    check(before + 3600 <= int(s['expires']) <= int(time.time()) + 3600, 'expires ' + s['expires'])
    check(stat.S_IMODE(os.stat(env.store_path()).st_mode) == 0o600, 'store mode')
    rc, out, err = env.run(['carol@example.net'])
    check(rc == 0 and len(env.idp.token_requests()) == 1, 'second run refreshed again')
    check(env.delivered() == 2, 'not delivered twice')


@test
def rotation_persisted(env):
    """A rotated refresh token replaces the old one in the store; the next
    refresh sends the new one."""
    r0, r1, r2 = tok('rt'), tok('rt'), tok('rt')
    a0, a1, a2 = tok('at'), tok('at'), tok('at')
    env.preload(r0, a0, -10)
    env.idp.rotate = True
    env.give([a1, a2], [r1, r2])
    env.idp.expires_in = 50             # under the margin: refreshed each run
    env.server([a1, a2])
    env.config()
    rc, _, err = env.run(['bob@example.net'])
    check(rc == 0 and err == '', f'exit {rc}, stderr {err!r}')
    check(env.store()['refresh_token'] == r1, 'rotated token not stored')
    rc, _, err = env.run(['bob@example.net'])
    check(rc == 0 and err == '', f'exit {rc}, stderr {err!r}')
    sent = [r['form']['refresh_token'] for r in env.idp.token_requests()]
    check(sent == [r0, r1], f'refresh tokens sent: {sent}')
    check(env.store()['refresh_token'] == r2, 'second rotation not stored')
    spare = env.store_path() + '.spare'
    check(os.path.getsize(spare) == 0, 'the spare still holds old tokens')


def crash(env, point):
    r0, r1, r2 = tok('rt'), tok('rt'), tok('rt')
    a0, a1, a2 = tok('at'), tok('at'), tok('at')
    env.preload(r0, a0, -10)
    env.idp.rotate = True
    env.give([a1, a2], [r1, r2])
    env.server([a2 if point == 'oauth2-response' else a1])
    env.config()
    check(OPTS.postern_test, 'no --postern-test build')
    rc, _, err = env.run(['bob@example.net'], binary=OPTS.postern_test,
                         env={'POSTERN_CRASH': point})
    check(rc == -signal.SIGKILL, f'not killed at {point}: exit {rc}, {err!r}')
    check(len(env.queued()) == 1 and env.delivered() == 0, 'message not queued')
    s = env.store()
    check(s['refresh_token'] in env.idp.refresh_valid, 'the store lost a valid refresh token')
    return r0, r1, a1, s


@test
def crash_between_response_and_store(env):
    """kill -9 after the token response, before the store: the old refresh
    token is still there (the provider keeps it valid, as Microsoft does),
    and the next run refreshes and delivers."""
    r0, r1, a1, s = crash(env, 'oauth2-response')
    check(s['refresh_token'] == r0 and s['access_token'] != a1, f'store changed: {s}')
    rc, _, err = env.run(['-q'], stdin=b'')
    check(rc == 0 and err == '', f'-q: exit {rc}, {err!r}')
    check(env.delivered() == 1 and env.queued() == [], 'not delivered by -q')
    check(env.store()['refresh_token'] in env.idp.refresh_valid, 'store not valid')


@test
def crash_after_store(env):
    """kill -9 after the store, before AUTH: the rotated refresh token and
    the new access token are there, and the next run uses them without a
    request."""
    r0, r1, a1, s = crash(env, 'oauth2-stored')
    check(s['refresh_token'] == r1 and s['access_token'] == a1, f'store: {s}')
    n = len(env.idp.requests)
    rc, _, err = env.run(['-q'], stdin=b'')
    check(rc == 0 and err == '', f'-q: exit {rc}, {err!r}')
    check(len(env.idp.requests) == n, 'refreshed again')
    check(env.delivered() == 1 and auth_lines(env.smtp.transcript()) == [bearer(a1)],
          'not delivered with the stored token')


@test
def concurrent_one_refresh(env):
    """50 submissions at once with an expired token: exactly one refresh
    request; the 49 others wait on the lock and use its result."""
    r0, a0, a1 = tok('rt'), tok('at'), tok('at')
    env.preload(r0, a0, -10)
    env.give([a1])
    env.idp.delay = 1.0
    env.server([a1])
    # smtpd.py serves one connection at a time: the last of 50 (ASan,
    # a loaded machine) may wait long for its turn.
    env.config(queue='off', extra='timeout 300\n')
    argv = [OPTS.postern, '-C', env.conf, '-a', ACCOUNT, 'bob@example.net']
    e = dict(os.environ, TZ='UTC', LC_ALL='C', HOME=env.tmp)
    procs = [subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=e, cwd=env.tmp) for _ in range(50)]
    for p in procs:
        p.stdin.write(MSG)
        p.stdin.close()
    bad = []
    for p in procs:
        p.wait(120)
        err = p.stderr.read()
        env.outputs.append(('stderr of a concurrent run', err))
        if p.returncode != 0:
            bad.append((p.returncode, err))
        p.stdout.close()
        p.stderr.close()
    check(not bad, f'{len(bad)} failed: {bad[:2]}')
    check(len(env.idp.token_requests()) == 1, f'{len(env.idp.token_requests())} refreshes')
    check(env.delivered() == 50, f'{env.delivered()} delivered')


@test
def refused_401_refresh_and_retry(env):
    """The server answers the cached token with 334 {"status":"401"}: one
    refresh, AUTH again on a new connection, delivered."""
    r0, a0, a1 = tok('rt'), tok('at'), tok('at')
    env.preload(r0, a0, 3600)           # looks valid, but the server says no
    env.give([a1])
    env.server([a1])
    env.secrets.add(a0)
    env.config()
    rc, _, err = env.run(['bob@example.net'])
    check(rc == 0 and err == '', f'exit {rc}, stderr {err!r}')
    check(len(env.idp.token_requests()) == 1, 'not one refresh')
    t = env.smtp.transcript()
    check(auth_lines(t) == [bearer(a0), bearer(a1)], 'AUTH lines: ' + t)
    check(t.count('* connect') == 2 and env.delivered() == 1, 'transcript: ' + t)
    check(env.store()['access_token'] == a1, 'new token not cached')


@test
def refused_401_twice_is_refused_login(env):
    """Refused again after the refresh: a refused login, no second
    refresh, no third connection."""
    r0, a0, a1 = tok('rt'), tok('at'), tok('at')
    env.preload(r0, a0, 3600)
    env.give([a1])
    env.server(['nothing-postern-has-' + secrets.token_hex(4)])
    env.secrets.update([a0])
    env.config(queue='off')
    rc, _, err = env.run(['bob@example.net'])
    check(rc == 77, f'exit {rc}')
    check(err == 'postern: 127.0.0.1:%d: authentication failed: 535 5.7.8 Authentication '
          'credentials invalid\n' % env.smtp.port, f'stderr {err!r}')
    check(len(env.idp.token_requests()) == 1, 'not one refresh')
    t = env.smtp.transcript()
    check(t.count('* connect') == 2 and env.delivered() == 0, t)


@test
def oauthbearer(env):
    """OAUTHBEARER (RFC 7628) with the refreshed token, and its
    invalid_token challenge retried too."""
    import base64
    r0, a0, a1 = tok('rt'), tok('at'), tok('at')
    env.preload(r0, a0, 3600)
    env.give([a1])
    env.server([a1])
    env.secrets.add(a0)
    env.config(mech='oauthbearer')
    rc, _, err = env.run(['bob@example.net'])
    check(rc == 0 and err == '', f'exit {rc}, stderr {err!r}')
    want = ['AUTH OAUTHBEARER ' + base64.b64encode(
        f'n,a={USER},\x01auth=Bearer {a}\x01\x01'.encode()).decode() for a in (a0, a1)]
    check(auth_lines(env.smtp.transcript()) == want, env.smtp.transcript())


def invalid_grant_stderr(env):
    return (f"postern: account '{ACCOUNT}': the OAuth2 refresh token was refused "
            f"(invalid_grant); run: {HINT}\n")


@test
def invalid_grant_queued(env):
    """invalid_grant in a queue run: both messages stay queued, stderr and
    the log say once which command to run; nothing reaches the server."""
    r0, a0 = tok('rt'), tok('at')
    env.preload(r0, a0, -10)
    env.idp.fault = 'invalid_grant'
    env.server([tok('at')])
    env.config()
    for rcpt in ('bob@example.net', 'carol@example.net'):
        rc, _, err = env.run(['-odq', rcpt])
        check(rc == 0 and err == '', f'-odq: exit {rc}, {err!r}')
    rc, _, err = env.run(['-q'], stdin=b'')
    check(rc == 0, f'-q exit {rc}')
    check(err == invalid_grant_stderr(env), f'stderr {err!r}')
    check(len(env.queued()) == 2 and env.delivered() == 0, 'not queued')
    check(len(env.idp.token_requests()) == 1, 'asked the endpoint more than once')
    log = harness.read(os.path.join(env.tmp, 'log')).decode()
    check(log.count(HINT) >= 1 and 'invalid_grant' in log, 'log: ' + log)
    rc, out, _ = env.run(['-bp'], stdin=b'')
    check(out.count('invalid_grant') == 2, 'mailq: ' + out)
    check(env.smtp.transcript().count('* connect') == 0, 'connected to the smarthost')
    check(env.store()['refresh_token'] == r0, 'store changed')


def refresh_fails(env, fault):
    """A run with queue off whose refresh meets FAULT: (exit, stderr)."""
    env.preload(tok('rt'), tok('at'), -10)
    env.idp.fault = fault
    env.config(queue='off')
    rc, _, err = env.run(['bob@example.net'])
    return rc, err


@test
def invalid_grant_queue_off(env):
    """invalid_grant with queue off: a refused login (77), with the hint."""
    rc, err = refresh_fails(env, 'invalid_grant')
    check(rc == 77, f'exit {rc}')
    check(err == invalid_grant_stderr(env) +
          f'postern: oauth2: {env.idp.url}/token: HTTP 400: invalid_grant: AADSTS70000: '
          f'The refresh token has expired.; run: {HINT}\n', f'stderr {err!r}')


@test
def no_refresh_token_yet(env):
    """Never authorized: a refused login that names --authorize."""
    env.config(queue='off')
    rc, _, err = env.run(['bob@example.net'])
    check(rc == 77 and HINT in err and err.count('\n') == 1, f'exit {rc}, {err!r}')
    check(env.idp.requests == [], 'asked the provider')


@test
def bad_certificate_refused(env):
    """A token endpoint whose certificate does not match: nothing is sent
    to it, the message stays queued (exit 0), mailq says why; with queue
    off it is a temporary failure (75)."""
    env.idp.stop()
    env.idp = IdP(CERTS, 'wronghost')
    env.idp.client_secret = CLIENT_SECRET
    r0, a0 = tok('rt'), tok('at')
    env.preload(r0, a0, -10)
    env.server([tok('at')])
    env.config()
    rc, _, err = env.run(['bob@example.net'])
    # Queued, and said so on stderr every time (issue 12).
    check(rc == 0 and re.fullmatch(
        r'postern: queued [0-9A-F]{16}: oauth2: ' + re.escape(env.idp.url) +
        r'/token: the certificate failed verification, nothing was sent: '
        r'[^\n]*\(next try in 5m\)\n', err) is not None, f'exit {rc}, {err!r}')
    check(env.idp.requests == [], 'a request reached the endpoint')
    check(len(env.queued()) == 1 and env.delivered() == 0, 'not queued')
    rc, out, _ = env.run(['-bp'], stdin=b'')
    check('the certificate failed verification, nothing was sent' in out, 'mailq: ' + out)
    env.config(queue='off')
    rc, _, err = env.run(['bob@example.net'])
    check(rc == 75 and err.startswith(f'postern: oauth2: {env.idp.url}/token: the '
                                      'certificate failed verification, nothing was sent: '),
          f'exit {rc}, {err!r}')
    check(env.idp.requests == [] and env.smtp.transcript() == '', 'something was sent')


@test
def endpoint_500(env):
    rc, err = refresh_fails(env, '500')
    check(rc == 75 and err == f'postern: oauth2: {env.idp.url}/token: HTTP 500: '
          'server_error\n', f'exit {rc}, {err!r}')


@test
def malformed_response(env):
    """A response cut in the middle of the token: the endpoint and the
    status, never the token."""
    r0, a0, a1 = tok('rt'), tok('at'), tok('at')
    env.preload(r0, a0, -10)
    env.give([a1])
    env.idp.fault = 'malformed'
    env.config(queue='off')
    rc, _, err = env.run(['-v', 'bob@example.net'])
    check(rc == 75, f'exit {rc}')
    check(err.endswith(f'postern: oauth2: {env.idp.url}/token: HTTP 200: malformed '
                       'response (not a JSON object)\n'), f'stderr {err!r}')
    check('-- oauth2: < HTTP 200, ' in err, 'no redacted -v line')
    env.idp.fault = 'html'
    rc, _, err = env.run(['bob@example.net'])
    check(rc == 75 and err == f'postern: oauth2: {env.idp.url}/token: HTTP 502: malformed '
          'response (not a JSON object)\n', f'exit {rc}, {err!r}')


@test
def slow_endpoint_times_out(env):
    r0, a0 = tok('rt'), tok('at')
    env.preload(r0, a0, -10)
    env.give([tok('at')])       # answered after postern has gone
    env.idp.delay = 6
    env.config(queue='off', extra='timeout 2\n')
    t = time.monotonic()
    rc, _, err = env.run(['bob@example.net'])
    check(rc == 75 and err.startswith(f'postern: oauth2: {env.idp.url}/token: Operation '
                                      'timed out'), f'exit {rc}, {err!r}')
    check(time.monotonic() - t < 5, 'the timeout was not applied')


@test
def verbose_redacted(env):
    """-v shows the HTTP exchange with every secret <redacted>."""
    r0, a0, a1 = env.expired()
    env.config()
    rc, _, err = env.run(['-v', 'bob@example.net'])
    check(rc == 0, f'exit {rc}')
    check(f'-- oauth2: POST {env.idp.url}/token\n' in err, err)
    check('-- oauth2: > grant_type=refresh_token&refresh_token=<redacted>&client_id='
          f'{env.idp.client_id}&client_secret=<redacted>\n' in err, err)
    check(re.search(r'-- oauth2: < HTTP 200 \{"token_type":"Bearer","access_token":'
                    r'"<redacted>","expires_in":3600,', err), err)
    check('AUTH XOAUTH2 <redacted>' in err, 'AUTH not redacted')


@test
def check_mode(env):
    """--check refreshes (even with a cached token), AUTHs and reports the
    token's remaining lifetime."""
    r0, a0, a1 = tok('rt'), tok('at'), tok('at')
    env.preload(r0, a0, 3600)
    env.give([a1])
    env.server([a1])
    env.config()
    rc, out, err = env.run(['--check'], stdin=b'')
    check(rc == 0 and err == '', f'exit {rc}, {err!r}')
    check(re.search(r'^OAuth2: access token refreshed at %s/token, valid for 3[56][0-9]{2} s$'
                    % re.escape(env.idp.url), out, re.M), out)
    check('authentication: ok' in out and len(env.idp.token_requests()) == 1, out)


@test
def authorize_device_flow(env):
    """--authorize with the device grant: the URL and code printed,
    authorization_pending and slow_down honoured (the interval grows by
    5 s), the refresh token stored; the first send uses the access token
    of the authorization."""
    env.idp.device = ['authorization_pending', 'slow_down', 'ok']
    r1, a1 = tok('rt'), tok('at')
    env.give([a1], [r1])
    env.server([a1])
    env.config(extra=f'oauth2_device_url {env.idp.url}/devicecode\n'
               'oauth2_scope https://outlook.office.com/SMTP.Send offline_access\n')
    rc, out, err = env.run(['--authorize'], stdin=b'')
    check(rc == 0 and err == '', f'exit {rc}, {err!r}')
    check(out == f"To authorize account '{ACCOUNT}', open https://microsoft.com/devicelogin\n"
          f"and enter the code {env.idp.user_code}\n"
          f"postern: account '{ACCOUNT}' is authorized; the refresh token is in "
          f"{env.store_path()}\n", out)
    reqs = env.idp.requests
    check([r['path'] for r in reqs] == ['/devicecode'] + ['/token'] * 3, str(reqs))
    check(reqs[0]['form'] == {'client_id': env.idp.client_id, 'scope':
                              'https://outlook.office.com/SMTP.Send offline_access'},
          str(reqs[0]['form']))
    gaps = [reqs[i + 1]['time'] - reqs[i]['time'] for i in range(3)]
    check(0.9 <= gaps[0] < 3 and 0.9 <= gaps[1] < 3 and gaps[2] >= 5.9, f'gaps {gaps}')
    check(env.store()['refresh_token'] == r1, 'not stored')
    for p in ('', '.spare', '.lock'):
        check(stat.S_IMODE(os.stat(env.store_path() + p).st_mode) == 0o600, 'mode of ' + p)
    rc, _, err = env.run(['bob@example.net'])
    check(rc == 0 and err == '' and env.delivered() == 1, f'send: {rc} {err!r}')
    check(len(env.idp.requests) == 4, 'the first send refreshed')


@test
def authorize_device_denied_and_expired(env):
    env.config(extra=f'oauth2_device_url {env.idp.url}/devicecode\n')
    env.idp.device = ['access_denied']
    rc, _, err = env.run(['--authorize'], stdin=b'')
    check(rc == 77 and err == 'postern: oauth2: the authorization was denied\n',
          f'exit {rc}, {err!r}')
    env.idp.device = ['authorization_pending', 'expired_token']
    rc, _, err = env.run(['--authorize'], stdin=b'')
    check(rc == 75 and err == 'postern: oauth2: the code expired before it was entered; '
          'run postern --authorize again\n', f'exit {rc}, {err!r}')
    check(not os.path.exists(env.store_path()), 'something was stored')


def code_flow(env, tamper=None):
    """Run --authorize with the code flow; the 'browser' takes the printed
    URL, the provider gets a code for its challenge, the redirected URL is
    pasted.  Returns (exit, stdout, stderr, query of the URL)."""
    argv = [OPTS.postern, '-C', env.conf, '-a', ACCOUNT, '--authorize']
    e = dict(os.environ, TZ='UTC', LC_ALL='C', HOME=env.tmp)
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=e, cwd=env.tmp)
    url = None
    lines = []
    while url is None:
        line = p.stdout.readline().decode()
        if not line:
            break
        lines.append(line)
        if line.startswith(env.idp.url + '/authorize?'):
            url = line.strip()
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query)) if url else {}
    code = 'code-' + secrets.token_urlsafe(12)
    env.secrets.add(code)
    env.idp.codes[code] = (q.get('code_challenge'), q.get('code_challenge_method'),
                           q.get('redirect_uri'))
    pasted = f"{q.get('redirect_uri')}?code={code}&state={q.get('state')}\n"
    if tamper:
        pasted = tamper(q, code)
    out, err = p.communicate(pasted.encode(), timeout=60)
    out = ''.join(lines) + out.decode()
    env.outputs += [('stdout of --authorize', out), ('stderr of --authorize', err)]
    return p.returncode, out, err.decode(), q


@test
def authorize_code_flow(env):
    """--authorize with PKCE (S256) and a pasted redirect URL; then a send."""
    r1, a1 = tok('rt'), tok('at')
    env.give([a1], [r1])
    env.server([a1])
    env.config(extra=f'oauth2_auth_url {env.idp.url}/authorize\noauth2_scope mail\n')
    rc, out, err, q = code_flow(env)
    check(rc == 0 and err == '', f'exit {rc}, {err!r}, {out!r}')
    check(q.get('response_type') == 'code' and q.get('client_id') == env.idp.client_id and
          q.get('code_challenge_method') == 'S256' and q.get('scope') == 'mail' and
          len(q.get('state', '')) >= 16 and len(q.get('code_challenge', '')) == 43, str(q))
    check(re.fullmatch(r'http://127\.0\.0\.1:\d+/', q.get('redirect_uri', '')), str(q))
    reqs = env.idp.token_requests()
    check(len(reqs) == 1 and reqs[0]['form']['grant_type'] == 'authorization_code', str(reqs))
    check(env.store()['refresh_token'] == r1, 'not stored')
    rc, _, err = env.run(['bob@example.net'])
    check(rc == 0 and err == '' and env.delivered() == 1, f'send: {rc} {err!r}')


@test
def authorize_code_flow_bad_state(env):
    """A pasted URL whose state is not ours: nothing is exchanged."""
    env.config(extra=f'oauth2_auth_url {env.idp.url}/authorize\n')
    rc, _, err, q = code_flow(env, lambda q, code:
                              f"{q.get('redirect_uri')}?code={code}&state=forged\n")
    check(rc == 77 and err == "postern: oauth2: the state in the pasted URL is not the one "
          "postern sent; nothing was exchanged\n", f'exit {rc}, {err!r}')
    rc, _, err, q = code_flow(env, lambda q, code: 'https://evil.example/?code=x\n')
    check(rc == 64 and 'that is not the URL the browser was sent to' in err, f'{rc} {err!r}')
    rc, _, err, q = code_flow(env, lambda q, code:
                              f"{q.get('redirect_uri')}?error=access_denied&state={q['state']}\n")
    check(rc == 77 and err == 'postern: oauth2: the authorization was refused: '
          'access_denied\n', f'{rc} {err!r}')
    check(env.idp.token_requests() == [] and not os.path.exists(env.store_path()),
          'exchanged or stored')


@test
def environment_ignored(env):
    """The caller's environment does not steer libcurl: a proxy variable,
    CURL_CA_BUNDLE/SSL_CERT_FILE naming the test CA (without
    oauth2_trust_file the system store is used, which does not trust it),
    SSLKEYLOGFILE."""
    r0, a0, a1 = env.expired()
    ca = os.path.join(CERTS, 'ca.pem')
    keys = os.path.join(env.tmp, 'keys')
    env.config(trust=False, queue='off')
    rc, _, err = env.run(['bob@example.net'], env={
        'CURL_CA_BUNDLE': ca, 'SSL_CERT_FILE': ca, 'SSL_CERT_DIR': CERTS})
    check(rc == 75 and 'the certificate failed verification' in err, f'{rc} {err!r}')
    env.config(queue='off')
    rc, _, err = env.run(['bob@example.net'], env={
        'https_proxy': 'http://127.0.0.1:9', 'HTTPS_PROXY': 'http://127.0.0.1:9',
        'ALL_PROXY': 'http://127.0.0.1:9', 'SSLKEYLOGFILE': keys})
    check(rc == 0 and err == '', f'{rc} {err!r}')
    check(not os.path.exists(keys), 'SSLKEYLOGFILE was honoured')


class ConnectProxy:
    """An HTTP CONNECT proxy on 127.0.0.1, port 0, recording each target."""

    def __init__(self):
        import socketserver
        import select
        import socket
        self.targets = []
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                head = b''
                while b'\r\n\r\n' not in head:
                    chunk = self.request.recv(4096)
                    if not chunk:
                        return
                    head += chunk
                line = head.split(b'\r\n', 1)[0].decode()
                method, target, _ = line.split(' ', 2)
                proxy.targets.append((method, target))
                if method != 'CONNECT':
                    self.request.sendall(b'HTTP/1.1 405 No\r\nContent-Length: 0\r\n\r\n')
                    return
                host, port = target.rsplit(':', 1)
                up = socket.create_connection((host, int(port)))
                self.request.sendall(b'HTTP/1.1 200 Connection established\r\n\r\n')
                socks = [self.request, up]
                while True:
                    r, _, _ = select.select(socks, [], [], 30)
                    if not r:
                        break
                    for sk in r:
                        data = sk.recv(65536)
                        if not data:
                            up.close()
                            return
                        (up if sk is self.request else self.request).sendall(data)

        self.server = socketserver.ThreadingTCPServer(('127.0.0.1', 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@test
def proxy_key(env):
    """oauth2_proxy: the token endpoint is reached through it (CONNECT),
    TLS still verified end to end."""
    r0, a0, a1 = env.expired()
    proxy = ConnectProxy()
    try:
        env.config(extra=f'oauth2_proxy http://127.0.0.1:{proxy.port}\n')
        rc, _, err = env.run(['bob@example.net'])
    finally:
        proxy.stop()
    check(rc == 0 and err == '' and env.delivered() == 1, f'{rc} {err!r}')
    check(proxy.targets == [('CONNECT', f'127.0.0.1:{env.idp.port}')], str(proxy.targets))


@test
def configuration_errors(env):
    """Each a configuration error (78) naming file and line."""
    cases = [
        ('oauth2_provider bogus\n', "oauth2_provider 'bogus': microsoft, google or custom"),
        ('password x-secret\n', 'no password or passwordeval with oauth2_provider'),
        ('oauth2_token_url http://127.0.0.1/token\n', 'oauth2_token_url must be an https:// URL'),
        ('oauth2_client_secret_file /nonexistent\n',
         'oauth2_client_secret or oauth2_client_secret_file, not both'),
    ]
    cases[1] = (cases[1][0], 'the access token comes from OAuth2: ' + cases[1][1])
    for extra, want in cases:
        env.config(extra=extra)
        rc, _, err = env.run(['bob@example.net'])
        check(rc == 78 and err == f"postern: {env.conf}:1: account '{ACCOUNT}': {want}\n",
              f'{extra!r}: exit {rc}, {err!r}')
    env.config(mech='plain')
    rc, _, err = env.run(['bob@example.net'])
    check(rc == 78 and 'oauth2_provider needs auth xoauth2 or auth oauthbearer' in err, err)
    env.config()
    os.chmod(env.conf, 0o644)
    rc, _, err = env.run(['bob@example.net'])
    check(rc == 78 and err == f'postern: {env.conf}: holds a password but is readable by '
          'others (mode 644; chmod 600 it)\n', f'{rc} {err!r}')
    check(env.idp.requests == [], 'asked the provider')


@test
def client_secret_file(env):
    """oauth2_client_secret_file: the first line, sent as client_secret;
    refused when others may read it."""
    r0, a0, a1 = env.expired()
    path = os.path.join(env.tmp, 'client-secret')
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, CLIENT_SECRET.encode() + b'\n')
    os.close(fd)
    env.config(secret_line=f'oauth2_client_secret_file {path}\n', queue='off')
    rc, _, err = env.run(['bob@example.net'])
    check(rc == 78 and err == f'postern: oauth2: {path}: must be a file of yours '
          f"or root's that others cannot read (mode 0600, or root:postern 0660)\n"
          and env.idp.requests == [], f'{rc} {err!r}')
    os.chmod(path, 0o600)
    rc, _, err = env.run(['bob@example.net'])
    check(rc == 0 and err == '' and env.delivered() == 1, f'{rc} {err!r}')
    check(env.idp.token_requests()[0]['form']['client_secret'] == CLIENT_SECRET, 'secret')
    os.unlink(path)     # the secret's own file is not output


@test
def refresh_token_file(env):
    """oauth2_refresh_token_file: read at each refresh (trailing newline
    ignored), a rotated token written back to it atomically; the cache
    then holds no refresh token."""
    r0, r1, a1 = tok('rt'), tok('rt'), tok('at')
    env.idp.refresh_valid.add(r0)
    env.idp.rotate = True
    env.give([a1], [r1])
    env.secrets.add(r0)
    env.server([a1])
    path = os.path.join(env.tmp, 'rt')
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, r0.encode() + b'\n')
    os.close(fd)
    env.config(extra=f'oauth2_refresh_token_file {path}\n')
    rc, _, err = env.run(['bob@example.net'])
    check(rc == 0 and err == '' and env.delivered() == 1, f'{rc} {err!r}')
    check(env.idp.token_requests()[0]['form']['refresh_token'] == r0, 'sent the wrong token')
    check(harness.read(path) == r1.encode() + b'\n', 'not rotated in the file')
    s = env.store()
    check('refresh_token' not in s and s['access_token'] == a1, f'cache {s}')
    # the test copies of leakcheck must not search the file itself
    os.unlink(path)
    os.unlink(path + '.spare')


@test
def presets(env):
    """The microsoft preset (tenant in the URLs, the device flow, the
    SMTP.Send scope) and the google one (code flow with offline access),
    inside a network namespace of their own: the real hosts are only
    named, never reached."""
    base = (f'account {ACCOUNT}\nhost smtp.office365.com\nport 587\nauth xoauth2\n'
            f'user {USER}\nqueue_dir {env.tmp}/queue\ntimeout 5\nsyslog off\n')
    env.conf = harness.write_conf(env.tmp, base + 'oauth2_provider microsoft\n'
                                  'oauth2_tenant contoso.onmicrosoft.com\n'
                                  'oauth2_client_id 0e6a9f4e-0000-4000-8000-000000000000\n')
    argv = ['unshare', '-n', OPTS.postern, '-C', env.conf, '-a', ACCOUNT, '--authorize']
    rc, out, err = harness.run(argv, tmp=env.tmp)
    env.outputs += [('presets stdout', out), ('presets stderr', err)]
    check(rc == 75 and err.decode().startswith(
        'postern: oauth2: https://login.microsoftonline.com/contoso.onmicrosoft.com/'
        'oauth2/v2.0/devicecode: '), f'{rc} {err!r}')
    env.conf = harness.write_conf(env.tmp, base + 'oauth2_provider google\n'
                                  'oauth2_client_id 1234-abc.apps.googleusercontent.com\n')
    argv = ['unshare', '-n', OPTS.postern, '-C', env.conf, '-a', ACCOUNT, '--authorize']
    rc, out, err = harness.run(argv, stdin=b'\n', tmp=env.tmp)
    env.outputs += [('presets stdout', out), ('presets stderr', err)]
    out = out.decode()
    m = re.search(r'^(https://accounts\.google\.com/o/oauth2/v2/auth\?\S+)$', out, re.M)
    check(m, out)
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(m.group(1)).query))
    check(q.get('scope') == 'https://mail.google.com/' and q.get('access_type') == 'offline'
          and q.get('prompt') == 'consent' and q.get('code_challenge_method') == 'S256', str(q))
    check(rc == 64 and b'that is not the URL the browser was sent to' in err, f'{rc} {err!r}')


@test
def system_account_needs_root(env):
    """--authorize without -C (the system configuration) as another user
    than root: refused.  Runs postern as nobody."""
    if os.geteuid() != 0:
        raise Fail('needs root to become nobody')
    import pwd
    nobody = pwd.getpwnam('nobody')

    def drop():
        os.setgroups([])
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)
    p = subprocess.run([OPTS.postern, '--authorize'], capture_output=True, preexec_fn=drop,
                       cwd='/', env={'PATH': '/usr/bin:/bin', 'LC_ALL': 'C', 'HOME': '/'})
    err = p.stderr.decode()
    # Either the system file is missing (78) or the account is found and refused (77).
    check((p.returncode == 77 and err == 'postern: --authorize for an account of the system '
           'configuration needs root (or -C FILE for your own)\n') or p.returncode == 78,
          f'{p.returncode} {err!r}')


# --- libcurl is loaded only when OAuth2 needs it (src/curlso.c)

def curl_names():
    """(SONAME, Debian package) from config.h, as postern names them."""
    text = harness.read(os.path.join(os.path.dirname(TESTS), 'config.h')).decode()
    so = re.search(r'^#define CURL_SONAME "([^"]+)"$', text, re.M)
    pkg = re.search(r'^#define CURL_PACKAGE "([^"]+)"$', text, re.M)
    if so is None or pkg is None:
        raise Fail('config.h has no CURL_SONAME or CURL_PACKAGE')
    return so.group(1), pkg.group(1)


def curl_path(soname):
    """The path the dynamic loader opens for SONAME: its ld.so.cache
    entry for this word size (ldconfig -p)."""
    out = subprocess.run(['ldconfig', '-p'], capture_output=True, check=True).stdout.decode()
    want64 = sys.maxsize > 2 ** 32
    for line in out.splitlines():
        m = re.match(r'\s*(\S+) \(([^)]*)\) => (\S+)$', line)
        if m and m.group(1) == soname and (('64' in m.group(2)) == want64):
            return m.group(3)
    raise Fail(f'{soname} is not in ld.so.cache')


def no_libcurl(argv, lib='/dev/null'):
    """argv in a mount namespace of its own where the file the loader
    resolves SONAME to is LIB: /dev/null, there but empty."""
    if os.geteuid() != 0:
        raise Fail('needs root for unshare -m')
    real = os.path.realpath(curl_path(curl_names()[0]))
    return ['unshare', '-m', '--propagation', 'private', 'sh', '-c',
            'mount --bind "$0" "$1" && shift && exec "$@"', lib, real] + argv


def no_libcurl_error():
    so, pkg = curl_names()
    return (f'oauth2: cannot load {so} (Debian: apt-get install {pkg}): '
            f'{curl_path(so)}: file too short')


@test
def libcurl_not_linked(env):
    """postern's DT_NEEDED has no libcurl, json-c stays: libcurl is
    loaded when OAuth2 first needs it (issue 16)."""
    p = subprocess.run(['readelf', '-d', OPTS.postern], capture_output=True, check=True)
    needed = re.findall(r'\(NEEDED\)\s+Shared library: \[([^]]+)\]', p.stdout.decode())
    check(needed and not any('curl' in n for n in needed), f'NEEDED {needed}')
    check(any(n.startswith('libjson-c.') for n in needed), f'NEEDED {needed}')


@test
def libcurl_missing_plain_submission(env):
    """Without libcurl, a password submission is delivered, and a run that
    refreshes no token never opens libcurl (LD_DEBUG=files: the binary
    is not setgid here); a refresh does, which shows the probe works."""
    pw = 'pw-' + secrets.token_urlsafe(12)      # its leaks are the core cases' concern
    plain = harness.Server(f'tls implicit\nauth PLAIN\nuser alice {pw}\n',
                           os.path.join(env.tmp, 'plain'), CERTS)
    try:
        conf = harness.write_conf(env.tmp, (
            f'account plain\nhost 127.0.0.1\nport {plain.port}\ntls on\n'
            f'tls_starttls off\ntls_trust_file {CERTS}/ca.pem\nauth plain\nuser alice\n'
            f'password {pw}\nfrom {USER}\nqueue_dir {env.tmp}/queue\nsyslog off\n'),
            'plain.conf')
        argv = [OPTS.postern, '-C', conf, '-a', 'plain', 'bob@example.net']
        rc, out, err = harness.run(no_libcurl(argv), stdin=MSG, tmp=env.tmp)
        env.outputs += [('stdout', out), ('stderr', err)]
        check(rc == 0 and err == b'', f'without libcurl: exit {rc}, {err!r}')
        rc, out, err = harness.run(argv, stdin=MSG, tmp=env.tmp, env={'LD_DEBUG': 'files'})
        env.outputs += [('stdout', out), ('stderr', err)]
        check(rc == 0 and b'file=libjson-c' in err, f'LD_DEBUG: exit {rc}, {err[-300:]!r}')
        check(b'libcurl' not in err, 'a plain submission loaded libcurl')
        check(plain.transcript().count('* data ') == 2 and env.queued() == [],
              'not delivered twice')
    finally:
        problems = plain.stop()
    check(problems == [], str(problems))
    env.expired()
    env.config()
    rc, _, err = env.run(['bob@example.net'], env={'LD_DEBUG': 'files'})
    check(rc == 0 and env.delivered() == 1, f'exit {rc}')
    check(re.search(r'file=libcurl\.so\S* \[0\];\s+dynamically loaded by', err),
          f'the refresh did not load libcurl: {err[-300:]!r}')


@test
def libcurl_missing_authorize(env):
    """--authorize without libcurl: one line naming the library and the
    package, a configuration error (78), nothing asked or stored."""
    env.config(extra=f'oauth2_device_url {env.idp.url}/devicecode\n')
    argv = [OPTS.postern, '-C', env.conf, '-a', ACCOUNT, '--authorize']
    rc, out, err = harness.run(no_libcurl(argv), tmp=env.tmp)
    env.outputs += [('stdout', out), ('stderr', err)]
    check(rc == 78 and err.decode() == f'postern: {no_libcurl_error()}\n' and out == b'',
          f'exit {rc}, {err!r}, {out!r}')
    check(env.idp.requests == [], 'asked the provider')
    check(not os.path.exists(os.path.join(env.tmp, 'queue', 'oauth2')), 'token store made')


@test
def libcurl_missing_queue_off(env):
    """Without libcurl and with queue off: a configuration error (78),
    nothing sent, nothing kept."""
    env.expired()
    env.config(queue='off')
    argv = [OPTS.postern, '-C', env.conf, '-a', ACCOUNT, 'bob@example.net']
    rc, out, err = harness.run(no_libcurl(argv), stdin=MSG, tmp=env.tmp)
    env.outputs += [('stdout', out), ('stderr', err)]
    check(rc == 78 and err.decode() == f'postern: {no_libcurl_error()}\n',
          f'exit {rc}, {err!r}')
    check(env.idp.requests == [] and env.smtp.transcript() == '', 'something was sent')
    check(env.queued() == [], 'queued')


@test
def libcurl_missing_queued(env):
    """A submission whose token has expired, without libcurl: queued after
    the commit, said loudly (a configuration problem that will not fix
    itself), mailq says why; -qf delivers it once libcurl is back; with
    the token cached, a submission needs no libcurl."""
    r0, a0, a1 = env.expired()
    env.config()
    argv = [OPTS.postern, '-C', env.conf, '-a', ACCOUNT, 'bob@example.net']
    rc, out, err = harness.run(no_libcurl(argv), stdin=MSG, tmp=env.tmp)
    env.outputs += [('stdout', out), ('stderr', err)]
    err = err.decode()
    check(rc == 0 and re.fullmatch(
        r'postern: queued [0-9A-F]{16}: ' + re.escape(no_libcurl_error()) +
        r' \(next try in 5m; this will not fix itself: check the configuration\)\n',
        err) is not None, f'exit {rc}, {err!r}')
    check(env.idp.requests == [] and env.smtp.transcript() == '', 'something was sent')
    check(len(env.queued()) == 1, 'not queued')
    check(env.store()['access_token'] == a0, 'the store changed')
    rc, out, _ = env.run(['-bp'], stdin=b'')
    check(rc == 0 and no_libcurl_error() in out, 'mailq: ' + out)
    rc, _, err = env.run(['-qf'], stdin=b'')
    check(rc == 0 and err == '', f'-qf: exit {rc}, {err!r}')
    check(env.delivered() == 1 and env.queued() == [], 'not delivered by -qf')
    check(auth_lines(env.smtp.transcript()) == [bearer(a1)], 'AUTH: ' + env.smtp.transcript())
    check(len(env.idp.token_requests()) == 1, 'not one refresh')
    # The token is cached now: a submission needs no libcurl.
    rc, out, err = harness.run(no_libcurl(argv), stdin=MSG, tmp=env.tmp)
    env.outputs += [('stdout', out), ('stderr', err)]
    check(rc == 0 and err == b'' and env.delivered() == 2 and env.queued() == [],
          f'with the cached token, without libcurl: exit {rc}, {err!r}')
    check(len(env.idp.token_requests()) == 1, 'refreshed again')


FAKE_CURL = r'''
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#undef curl_easy_setopt
#undef curl_easy_getinfo
/* What postern asks of libcurl, answering only curl_version_info. */
static const char *const protocols[] = { PROTOCOLS, NULL };
static curl_version_info_data info = {
	CURLVERSION_NOW, "7.1.0-fake", VERSION_NUM, "x86_64-pc-linux-gnu",
	FEATURES, NULL, 0, NULL, protocols
};
curl_version_info_data *curl_version_info(CURLversion v) { (void)v; return &info; }
CURLcode curl_global_init(long f) { (void)f; return CURLE_OK; }
CURL *curl_easy_init(void) { return NULL; }
CURLcode curl_easy_setopt(CURL *c, CURLoption o, ...) { (void)c; (void)o; return CURLE_OK; }
CURLcode curl_easy_perform(CURL *c) { (void)c; return CURLE_FAILED_INIT; }
CURLcode curl_easy_getinfo(CURL *c, CURLINFO i, ...) { (void)c; (void)i; return CURLE_OK; }
void curl_easy_cleanup(CURL *c) { (void)c; }
const char *curl_easy_strerror(CURLcode c) { (void)c; return "fake"; }
char *curl_easy_escape(CURL *c, const char *s, int n) { (void)c; (void)s; (void)n; return NULL; }
#ifndef NO_UNESCAPE
char *curl_easy_unescape(CURL *c, const char *s, int n, int *o)
{ (void)c; (void)s; (void)n; (void)o; return NULL; }
#endif
void curl_free(void *p) { (void)p; }
'''


@test
def libcurl_unusable(env):
    """A libcurl.so.4 that loads but will not do: without HTTPS, without
    TLS, older than the headers postern was built with, missing a
    function.  Each is refused like a missing library (78), before any
    request; nothing is stored."""
    so, pkg = curl_names()
    built = subprocess.run(['cc', '-E', '-P', '-'], input=b'#include <curl/curlver.h>\n'
                           b'LIBCURL_VERSION\n', capture_output=True,
                           check=True).stdout.decode().split()[-1].strip('"')
    src = os.path.join(env.tmp, 'fake.c')
    with open(src, 'w') as f:
        f.write(FAKE_CURL)
    env.config(extra=f'oauth2_device_url {env.idp.url}/devicecode\n')
    argv = [OPTS.postern, '-C', env.conf, '-a', ACCOUNT, '--authorize']
    ok = ['-DFEATURES=CURL_VERSION_SSL', '-DPROTOCOLS="http","https"',
          '-DVERSION_NUM=LIBCURL_VERSION_NUM']
    for i, (defs, why) in enumerate([
            (ok[:1] + ['-DPROTOCOLS="http"'] + ok[2:], 'it is built without HTTPS'),
            (['-DFEATURES=0'] + ok[1:], 'it is built without TLS'),
            (ok[:2] + ['-DVERSION_NUM=0x071000'],
             f'it is older than the {built} postern was built with'),
            (ok + ['-DNO_UNESCAPE'], 'it has no curl_easy_unescape')]):
        lib = os.path.join(env.tmp, f'fake{i}.so')
        p = subprocess.run(['cc', '-shared', '-fPIC', '-o', lib, src] + defs,
                           capture_output=True)
        check(p.returncode == 0, 'cc: ' + p.stderr.decode()[-800:])
        rc, out, err = harness.run(no_libcurl(argv, lib), tmp=env.tmp)
        env.outputs += [('stdout', out), ('stderr', err)]
        want = f'postern: oauth2: cannot load {so} (Debian: apt-get install {pkg}): {why}\n'
        check(rc == 78 and err.decode() == want and out == b'',
              f'{why}: exit {rc}, {err!r}, {out!r}')
    check(env.idp.requests == [], 'asked the provider')
    check(not os.path.exists(os.path.join(env.tmp, 'queue', 'oauth2')), 'token store made')


def without_check(postern, env):
    """A build without OAuth2: an oauth2_ key is a configuration error
    naming file and line."""
    env.config()
    rc, out, err = harness.run([postern, '-C', env.conf, '-a', ACCOUNT, 'bob@example.net'],
                               stdin=MSG, tmp=env.tmp)
    check(rc == 78 and err.decode() == f'postern: {env.conf}:15: oauth2_provider: postern '
          'was built without OAuth2 (libcurl and json-c; ./configure OAUTH2=1)\n',
          f'exit {rc}, {err!r}')
    check(env.idp.requests == [], 'asked the provider')


@test
def built_without_oauth2(env):
    """./configure OAUTH2=0 builds (a copy of the tree, in the test's
    directory) and refuses the oauth2_ keys."""
    if OPTS.without:
        return without_check(OPTS.postern, env)
    src = os.path.join(env.tmp, 'src')
    top = os.path.dirname(TESTS)
    files = subprocess.run(['git', '-C', top, 'ls-files', '-co', '--exclude-standard'],
                           capture_output=True, check=True).stdout.decode().split()
    for f in files:
        if os.path.isfile(os.path.join(top, f)) and not f.startswith('tests/'):
            os.makedirs(os.path.dirname(os.path.join(src, f)), exist_ok=True)
            shutil.copy2(os.path.join(top, f), os.path.join(src, f))
    p = subprocess.run('./configure OAUTH2=0 && make -s postern', shell=True, cwd=src,
                       capture_output=True)
    check(p.returncode == 0, 'build: ' + p.stdout.decode()[-500:] + p.stderr.decode()[-1500:])
    check(b'oauth2: no (OAUTH2=0)' in p.stdout, p.stdout.decode())
    check(b'#define HAVE_OAUTH2 0' in harness.read(os.path.join(src, 'config.h')), 'config.h')
    nm = subprocess.run(['nm', '-D', os.path.join(src, 'postern')], capture_output=True)
    check(b'curl_' not in nm.stdout and b'json_' not in nm.stdout, 'linked with libcurl')
    without_check(os.path.join(src, 'postern'), env)


def main():
    global OPTS, CERTS
    ap = argparse.ArgumentParser()
    ap.add_argument('--postern', required=True)
    ap.add_argument('--postern-test')
    ap.add_argument('--only')
    ap.add_argument('--without', action='store_true',
                    help='postern was built without OAuth2: only that is checked')
    OPTS = ap.parse_args()
    CERTS = harness.certs()
    only = set(OPTS.only.split(',')) if OPTS.only else None
    tally = harness.Tally()
    for fn in TESTS_RUN:
        if only and fn.__name__ not in only:
            continue
        if OPTS.without and fn is not built_without_oauth2:
            continue
        env = Env(fn.__name__)
        problems = []
        try:
            fn(env)
        except Fail as e:
            problems.append(str(e))
        except Exception as e:      # a broken test is a failure too
            problems.append(f'{type(e).__name__}: {e}')
        try:
            problems += env.finish()
        except Exception as e:
            problems.append(f'finish: {type(e).__name__}: {e}')
        tally.report(fn.__name__, problems)
        if not problems:
            shutil.rmtree(env.tmp, ignore_errors=True)
        else:
            print('    kept ' + env.tmp)
    return tally.done('oauth2')


if __name__ == '__main__':
    sys.exit(main())
