#!/usr/bin/python3
"""Real sendmail callers through ./postern: PHP mail(), Debian cron's and
cronie's argv (replayed), bsd-mailx, s-nail and git send-email.

Usage: /usr/bin/python3 tests/clients/run.py --postern PATH [NAME...]

Each client is the Debian package's own program (tests/deps.sh installs
them), pointed at a wrapper script that runs `postern -C CONF "$@"` and
records the argv it got.  The test asserts the exact argv, the envelope
(MAIL and RCPT lines), and the exact message the server received.  Fields
the client or postern generates (Date, Message-ID) are matched against
their exact form, and their time must fall within the run; a Message-ID
postern generates must carry the time of its Date.  Prints `ok NAME` or
`FAIL NAME`, then `clients: N passed, N failed`.

Python 3 standard library only.
"""

import argparse
import email.utils
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness  # noqa: E402

CONF = """account default
host 127.0.0.1
port @PORT@
domain client.example
from sender@example.org
maildomain mx.example
from_full_name Test Runner
tls off
queue off
syslog off
aliases @TMP@/aliases
"""

ALIASES = 'root: admin@example.org\n'

# Exact shapes of generated fields; the named groups are checked further.
SHAPES = {
    '@DATE@': r'(?P<date>(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), {1,2}(?:0?[1-9]|[12]\d|3[01]) '
              r'(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} '
              r'\d\d:\d\d:\d\d \+0000)',
    '@MSGID@': r'(?P<msgid><(?P<idtime>\d{14})\.[0-9a-f]{32}@mx\.example>)',
    '@GITMSGID@': r'(?P<gitid><(?P<gittime>\d{14})\.\d+-1-ann@example\.org>)',
}

CRON_ENV = (b'X-Cron-Env: <SHELL=/bin/sh>\n'
            b'X-Cron-Env: <HOME=/root>\n'
            b'X-Cron-Env: <PATH=/usr/bin:/bin>\n'
            b'X-Cron-Env: <LOGNAME=root>\n')

# Debian cron 3.0pl1 writes this to sendmail (do_command.c).
DEBIAN_CRON = (b'From: root (Cron Daemon)\n'
               b'To: root\n'
               b'Subject: Cron <root@host> echo hello\n'
               b'MIME-Version: 1.0\n'
               b'Content-Type: text/plain; charset=UTF-8\n'
               b'Content-Transfer-Encoding: 8bit\n' + CRON_ENV +
               b'\nhello\n')

# cronie writes this (do_command.c), with -t.
CRONIE = (b'From: "(Cron Daemon)" <root>\n'
          b'To: root\n'
          b'Subject: Cron <root@host> echo hello\n' + CRON_ENV +
          b'\nhello\n')


def lines(*ls):
    return ''.join(x + '\r\n' for x in ls)


def php(args):
    return ['php', '-n', '-d', 'sendmail_path=@WRAP@' + args, '-r',
            'exit(mail("rcpt@example.net", "PHP test", "Hello from PHP.\\n'
            '.\\nLine three.", "From: Web <web@example.org>", '
            '"-fbounce@example.org") ? 0 : 1);']


ROWS = [
    dict(name='php-mail', cmd=php(' -t -i'),
         argv=['-t', '-i', '-fbounce@example.org'],
         env=['MAIL FROM:<bounce@example.org>', 'RCPT TO:<rcpt@example.net>'],
         data=lines('To: rcpt@example.net', 'Subject: PHP test',
                    'From: Web <web@example.org>', 'Date: @DATE@',
                    'Message-ID: @MSGID@', '', 'Hello from PHP.', '..',
                    'Line three.')),
    # sendmail_path with its own -f, and mail()'s: the last one wins.
    dict(name='php-mail-two-f', cmd=php(' -t -i -f www@example.org'),
         argv=['-t', '-i', '-f', 'www@example.org', '-fbounce@example.org'],
         env=['MAIL FROM:<bounce@example.org>', 'RCPT TO:<rcpt@example.net>'],
         data=lines('To: rcpt@example.net', 'Subject: PHP test',
                    'From: Web <web@example.org>', 'Date: @DATE@',
                    'Message-ID: @MSGID@', '', 'Hello from PHP.', '..',
                    'Line three.')),
    dict(name='debian-cron', cmd=['@WRAP@', '-i', '-FCronDaemon', '-B8BITMIME',
                                  '-oem', 'root'], stdin=DEBIAN_CRON,
         argv=['-i', '-FCronDaemon', '-B8BITMIME', '-oem', 'root'],
         env=['MAIL FROM:<sender@example.org>', 'RCPT TO:<admin@example.org>'],
         data=lines('From: root@mx.example (Cron Daemon)', 'To: root@mx.example',
                    'Subject: Cron <root@host> echo hello', 'MIME-Version: 1.0',
                    'Content-Type: text/plain; charset=UTF-8',
                    'Content-Transfer-Encoding: 8bit',
                    'X-Cron-Env: <SHELL=/bin/sh>', 'X-Cron-Env: <HOME=/root>',
                    'X-Cron-Env: <PATH=/usr/bin:/bin>', 'X-Cron-Env: <LOGNAME=root>',
                    'Date: @DATE@', 'Message-ID: @MSGID@', '', 'hello')),
    dict(name='cronie', cmd=['@WRAP@', '-FCronDaemon', '-i', '-odi', '-oem', '-oi',
                             '-t', '-f', 'root'], stdin=CRONIE,
         argv=['-FCronDaemon', '-i', '-odi', '-oem', '-oi', '-t', '-f', 'root'],
         env=['MAIL FROM:<root@mx.example>', 'RCPT TO:<admin@example.org>'],
         data=lines('From: "(Cron Daemon)" <root@mx.example>', 'To: root@mx.example',
                    'Subject: Cron <root@host> echo hello',
                    'X-Cron-Env: <SHELL=/bin/sh>', 'X-Cron-Env: <HOME=/root>',
                    'X-Cron-Env: <PATH=/usr/bin:/bin>', 'X-Cron-Env: <LOGNAME=root>',
                    'Date: @DATE@', 'Message-ID: @MSGID@', '', 'hello')),
    dict(name='bsd-mailx', cmd=['bsd-mailx', '-s', 'mailx test', 'rcpt@example.net'],
         stdin=b'body from bsd-mailx\n', mailrc='set sendmail=@WRAP@\n',
         argv=['-i', '-t'],
         env=['MAIL FROM:<sender@example.org>', 'RCPT TO:<rcpt@example.net>'],
         data=lines('To: rcpt@example.net', 'Subject: mailx test', 'MIME-Version: 1.0',
                    'Content-Type: text/plain; charset="ANSI_X3.4-1968"',
                    'Content-Transfer-Encoding: 8bit',
                    'From: Test Runner <sender@example.org>', 'Date: @DATE@',
                    'Message-ID: @MSGID@', '', 'body from bsd-mailx')),
    dict(name='s-nail', cmd=['s-nail', '-n', '-S', 'mta=@WRAP@', '-s', 's-nail test',
                             'root'],
         stdin=b'body from s-nail\n', mailrc='',
         argv=['-i', '--', 'root'],
         env=['MAIL FROM:<sender@example.org>', 'RCPT TO:<admin@example.org>'],
         data=lines('Date: @DATE@', 'To: root@mx.example', 'Subject: s-nail test',
                    'User-Agent: @SNAIL@', 'From: Test Runner <sender@example.org>',
                    'Message-ID: @MSGID@', '', 'body from s-nail')),
    dict(name='git-send-email',
         cmd=['git', '-C', '@TMP@/repo', 'send-email', '--sendmail-cmd=@WRAP@',
              '--to=rcpt@example.net', '--from=Ann Dev <ann@example.org>',
              '--envelope-sender=ann@example.org', '--suppress-cc=all',
              '--confirm=never', '--no-xmailer', '--quiet', '@PATCH@'],
         argv=['-f', 'ann@example.org', '-i', 'rcpt@example.net'],
         env=['MAIL FROM:<ann@example.org>', 'RCPT TO:<rcpt@example.net>'],
         stdout='Sent [PATCH] Add f\n',
         data=lines('From: Ann Dev <ann@example.org>', 'To: rcpt@example.net',
                    'Subject: [PATCH] Add f', 'Date: @DATE@', 'Message-Id: @GITMSGID@',
                    'MIME-Version: 1.0', 'Content-Transfer-Encoding: 8bit', '',
                    '---', ' f | 1 +', ' 1 file changed, 1 insertion(+)',
                    ' create mode 100644 f', '', 'diff --git a/f b/f',
                    'new file mode 100644', 'index 0000000..ce01362', '--- /dev/null',
                    '+++ b/f', '@@ -0,0 +1 @@', '+hello', '-- ', '@GITVERSION@', '')),
]

GIT_ENV = {'GIT_AUTHOR_NAME': 'Ann Dev', 'GIT_AUTHOR_EMAIL': 'ann@example.org',
           'GIT_COMMITTER_NAME': 'Ann Dev', 'GIT_COMMITTER_EMAIL': 'ann@example.org',
           'GIT_AUTHOR_DATE': '2024-01-01T00:00:00Z',
           'GIT_COMMITTER_DATE': '2024-01-01T00:00:00Z',
           'GIT_CONFIG_NOSYSTEM': '1'}


def make_patch(tmp):
    """A one-file commit and its format-patch, made with the installed git."""
    repo = os.path.join(tmp, 'repo')
    env = dict(os.environ, HOME=tmp, TZ='UTC', LC_ALL='C', **GIT_ENV)
    subprocess.run(['git', 'init', '-q', repo], check=True, env=env)
    with open(os.path.join(repo, 'f'), 'w') as f:
        f.write('hello\n')
    subprocess.run(['git', '-C', repo, 'add', 'f'], check=True, env=env)
    subprocess.run(['git', '-C', repo, 'commit', '-q', '-m', 'Add f'], check=True, env=env)
    out = subprocess.run(['git', '-C', repo, 'format-patch', '-1', '-o',
                          os.path.join(tmp, 'patches')], check=True, env=env,
                         capture_output=True, text=True).stdout.strip()
    return out


def versions():
    snail = subprocess.run(['s-nail', '-V'], capture_output=True, text=True).stdout
    git = subprocess.run(['git', '--version'], capture_output=True, text=True).stdout
    return {'@SNAIL@': 's-nail ' + snail.split(',')[0].split()[-1],
            '@GITVERSION@': git.split()[-1]}


def pattern(template, subs):
    """The expected message as an exact regex: literal text, and each
    generated field in its exact shape."""
    for k, v in subs.items():
        template = template.replace(k, v)
    parts = re.split(r'(@[A-Z]+@)', template)
    return re.compile(''.join(SHAPES[p] if p in SHAPES else re.escape(p)
                              for p in parts).encode(), re.S)


def check_generated(m, t0, t1):
    """Date within the run; git's Message-ID carries its time; postern's
    carries the second postern ran, which is Date's when postern wrote
    Date, and may be a later one when the client did (s-nail writes Date,
    then starts postern: on a loaded machine a second can pass)."""
    problems = []
    g = m.groupdict()
    date = g.get('date')
    if date is not None:
        when = email.utils.parsedate_to_datetime(date.decode()).timestamp()
        if not t0 - 2 <= when <= t1 + 2:
            problems.append(f'Date {date!r} is not the time of the run')
        stamp = time.strftime('%Y%m%d%H%M%S', time.gmtime(when)).encode()
        last = time.strftime('%Y%m%d%H%M%S', time.gmtime(t1 + 1)).encode()
        if g.get('gittime') is not None and g['gittime'] != stamp:
            problems.append(f'Message-ID time {g["gittime"]!r} is not Date\'s {stamp!r}')
        if g.get('idtime') is not None and not stamp <= g['idtime'] <= last:
            problems.append(f'Message-ID time {g["idtime"]!r} is not between '
                            f'Date\'s {stamp!r} and the end of the run')
    return problems


def check(row, opts):
    problems = []
    tmp = harness.tmpdir('client-' + row['name'])
    server = None
    try:
        server = harness.Server('cap PIPELINING\ncap 8BITMIME\n', tmp, opts.certs)
        subs = {'@PORT@': str(server.port), '@TMP@': tmp}
        conf = CONF
        for k, v in subs.items():
            conf = conf.replace(k, v)
        conf_path = harness.write_conf(tmp, conf)
        with open(os.path.join(tmp, 'aliases'), 'w') as f:
            f.write(ALIASES)
        wrap = os.path.join(tmp, 'wrap')
        with open(wrap, 'w') as f:
            f.write('#!/bin/sh\n'
                    'for a in "$@"; do printf "%s\\n" "$a"; done > "$0.argv"\n'
                    f'exec {opts.postern} -C {conf_path} "$@"\n')
        os.chmod(wrap, 0o755)
        subs['@WRAP@'] = wrap
        env = {}
        if 'mailrc' in row:
            rc = os.path.join(tmp, 'mailrc')
            with open(rc, 'w') as f:
                f.write(row['mailrc'].replace('@WRAP@', wrap))
            env['MAILRC'] = rc
        if row['name'] == 'git-send-email':
            subs['@PATCH@'] = make_patch(tmp)
            env.update(GIT_ENV)
        cmd = [a.replace('@WRAP@', wrap) for a in row['cmd']]
        cmd = [subs.get(a, a) if a in subs else a.replace('@TMP@', tmp) for a in cmd]
        t0 = time.time()
        status, out, err = harness.run(cmd, row.get('stdin', b''), tmp, env)
        t1 = time.time()
        problems += server.stop()
        if status != 0:
            problems.append(f'exit {status}: {err!r}')
        if out.decode() != row.get('stdout', ''):
            problems.append(f'stdout: {out!r}')
        if err:
            problems.append(f'stderr: {err!r}')
        argv = harness.read(wrap + '.argv').decode().splitlines()
        if argv != row['argv']:
            problems.append(f'argv: expected {row["argv"]}, got {argv}')
        if server.envelope() != row['env']:
            problems.append(f'envelope: expected {row["env"]}, got {server.envelope()}')
        data = server.data()
        if server.data(2) is not None:
            problems.append('more than one message arrived')
        m = pattern(row['data'], opts.versions).fullmatch(data or b'')
        if m is None:
            problems.append(f'data: expected {row["data"]!r}, got {data!r}')
        else:
            problems += check_generated(m, t0, t1)
    except Exception as e:
        problems.append(f'error: {type(e).__name__}: {e}')
        if server is not None:
            server.stop()
    finally:
        harness.rmtree(tmp)
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--postern', required=True)
    ap.add_argument('names', nargs='*')
    opts = ap.parse_args()
    opts.postern = os.path.abspath(opts.postern)
    missing = [p for p in ('php', 'bsd-mailx', 's-nail', 'git') if shutil.which(p) is None]
    if missing:
        print(f'clients: not installed: {" ".join(missing)} (sh tests/deps.sh)')
        print('clients: 0 passed, 1 failed')
        return 1
    opts.certs = harness.certs()
    opts.versions = versions()
    tally = harness.Tally()
    for row in ROWS:
        if opts.names and row['name'] not in opts.names:
            continue
        tally.report(row['name'], check(row, opts))
    return tally.done('clients')


if __name__ == '__main__':
    sys.exit(main())
