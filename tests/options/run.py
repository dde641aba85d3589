#!/usr/bin/python3
"""Every option of the sendmail command line (issue 5's table), one row each.

Usage: /usr/bin/python3 tests/options/run.py --postern PATH [-j N] [NAME...]

Each row runs postern (under argv[0] ARGV0 when the row names one: a
symbolic link in the row's temporary directory) against tests/smtpd.py and
asserts the exact exit status, standard error and standard output, the
envelope the server received (its MAIL and RCPT lines; None: no message may
arrive) and, where given, the exact DATA bytes.  The configuration holds a
password (account other, which does not authenticate): no option may make
it appear, in any form (tests/leakcheck.py), in the output or in a file
left in the row's directory.  Prints `ok NAME` or `FAIL NAME` with what
differed, then `options: N passed, N failed`.

Python 3 standard library only.
"""

import argparse
import concurrent.futures
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness  # noqa: E402
import leakcheck  # noqa: E402

CONF = """account default
host 127.0.0.1
port @PORT@
domain client.example
from sender@example.org
maildomain mx.example
tls off
queue off
syslog off
aliases @TMP@/aliases

account other
host 127.0.0.1
port @PORT@
domain other.example
from other@example.org
maildomain mx.example
tls off
queue off
syslog off
user other
password 0ther-s3cret-pw
"""

ALIASES = """# test aliases
root: admin@example.org, ops
ops: ops@example.net
www-data: root
"""

BAD_ALIASES = """postmaster: root
root: "|/bin/cat > /tmp/x", admin@example.org
list: :include:/etc/list
"""

MSG = (b'From: Sender <sender@example.org>\n'
       b'To: Rcpt <rcpt@example.net>\n'
       b'Subject: options\n'
       b'Date: Mon, 1 Jan 2024 00:00:00 +0000\n'
       b'Message-ID: <opt@example.org>\n'
       b'\n'
       b'hello\n')
DATA = MSG.replace(b'\n', b'\r\n')

# A message with a lone dot in the middle, for -i and its spellings.
DOTS = MSG + b'.\nafter the dot\n'
DOTS_ALL = DATA + b'..\r\nafter the dot\r\n'

# Without From: msg.c adds the generated one after the given fields.
NOFROM = MSG.replace(b'From: Sender <sender@example.org>\n', b'')


def nofrom(line):
    head, _, body = NOFROM.replace(b'\n', b'\r\n').partition(b'\r\n\r\n')
    return head + b'\r\n' + line + b'\r\n\r\n' + body


SENDER = 'MAIL FROM:<sender@example.org>'
RCPT = 'RCPT TO:<rcpt@example.net>'
STD = [SENDER, RCPT]

USAGE = ('usage: postern [-itv] [-a account] [-B type] [-b mode] [-C file] '
         '[-F name] [-f sender] [-L tag] [-N dsn] [-O option] [-o option] '
         '[-q[...]] [-R ret] [-V envid] [--] [recipient ...]\n')


def usage(msg, prog='postern'):
    return f'{prog}: {msg}\n' + USAGE.replace('postern', prog, 1)


NOTSUB = ('postern: -b{} is not supported: postern is a mail submission '
          'agent; it never listens for mail, delivers locally or tests '
          'addresses\n')


def row(name, args, exit=0, stderr='', stdout='', env=None, data=None,
        stdin=MSG, argv0=None, conf='', server=None):
    return dict(name=name, args=args, exit=exit, stderr=stderr, stdout=stdout,
                env=env, data=data, stdin=stdin, argv0=argv0, conf=conf,
                server=server)


def sent(name, args, env=STD, data=DATA, **kw):
    """A row where the message goes out."""
    return row(name, args, env=env, data=data, **kw)


C = ['-C', '@CONF@']

ROWS = [
    # recipients, -t, --
    sent('plain', C + ['rcpt@example.net']),
    row('no-recipients', C, exit=64, stderr='postern: no recipients specified\n'),
    row('no-recipients-t', C + ['-t'], exit=64, stdin=b'Subject: x\n\nx\n',
        stderr='postern: no recipients specified\n'),
    sent('t', C + ['-t']),
    sent('t-plus-args', C + ['-t', 'extra@example.com'],
         env=[SENDER, 'RCPT TO:<extra@example.com>', RCPT]),
    sent('t-duplicate', C + ['-t', 'rcpt@example.net']),
    sent('double-dash', C + ['--', 'rcpt@example.net']),
    sent('double-dash-after-f', C + ['-f', 'b@example.org', '--', 'rcpt@example.net'],
         env=['MAIL FROM:<b@example.org>', RCPT]),
    row('dash-recipient', C + ['--', '-rcpt@example.net'], exit=64,
        stderr="postern: address '-rcpt@example.net' begins with '-'\n"),
    # -i, -oi, -O IgnoreDots
    sent('dot-ends-input', C + ['rcpt@example.net'], stdin=DOTS),
    sent('i', C + ['-i', 'rcpt@example.net'], stdin=DOTS, data=DOTS_ALL),
    sent('oi', C + ['-oi', 'rcpt@example.net'], stdin=DOTS, data=DOTS_ALL),
    sent('O-IgnoreDots', C + ['-O', 'IgnoreDots', 'rcpt@example.net'],
         stdin=DOTS, data=DOTS_ALL),
    sent('O-IgnoreDots-attached', C + ['-OIgnoreDots=true', 'rcpt@example.net'],
         stdin=DOTS, data=DOTS_ALL),
    sent('O-IgnoreDots-false', C + ['-i', '-O', 'IgnoreDots=False', 'rcpt@example.net'],
         stdin=DOTS),
    row('O-IgnoreDots-bad', C + ['-O', 'IgnoreDots=maybe', 'r@example.net'], exit=64,
        stderr=usage('-O IgnoreDots=maybe: expected IgnoreDots=true or false')),
    sent('O-other-ignored', C + ['-O', 'DeliveryMode=i', '-OLogLevel=9',
                                 'rcpt@example.net']),
    sent('clustered', C + ['-ti']),
    # -f, -r
    sent('f', C + ['-f', 'b@example.org', 'rcpt@example.net'],
         env=['MAIL FROM:<b@example.org>', RCPT]),
    sent('f-attached', C + ['-fb@example.org', 'rcpt@example.net'],
         env=['MAIL FROM:<b@example.org>', RCPT]),
    sent('r', C + ['-r', 'b@example.org', 'rcpt@example.net'],
         env=['MAIL FROM:<b@example.org>', RCPT]),
    sent('r-attached', C + ['-rb@example.org', 'rcpt@example.net'],
         env=['MAIL FROM:<b@example.org>', RCPT]),
    sent('f-last-wins', C + ['-f', 'a@example.org', '-r', 'b@example.org',
                             '-fc@example.org', 'rcpt@example.net'],
         env=['MAIL FROM:<c@example.org>', RCPT]),
    sent('f-null', C + ['-f', '<>', 'rcpt@example.net'], env=['MAIL FROM:<>', RCPT]),
    sent('f-empty', C + ['-f', '', 'rcpt@example.net'], env=['MAIL FROM:<>', RCPT]),
    sent('f-brackets', C + ['-f', '<b@example.org>', 'rcpt@example.net'],
         env=['MAIL FROM:<b@example.org>', RCPT]),
    sent('f-bare', C + ['-f', 'root', 'rcpt@example.net'],
         env=['MAIL FROM:<root@mx.example>', RCPT]),
    sent('f-value-not-rcpt', C + ['-f', 'rcpt2@example.net', 'rcpt@example.net'],
         env=['MAIL FROM:<rcpt2@example.net>', RCPT]),
    sent('f-picks-account', C + ['-f', 'other@example.org', 'rcpt@example.net'],
         env=['MAIL FROM:<other@example.org>', RCPT]),
    sent('allow-from-override-off', C + ['-f', 'b@example.org', 'rcpt@example.net'],
         conf='allow_from_override off\n'),
    row('f-missing-value', C + ['rcpt@example.net', '-f'], exit=64,
        stderr="postern: address '-f' begins with '-'\n"),
    row('f-no-value', C + ['-f'], exit=64, stderr=usage('option -f needs a value')),
    # -F
    sent('F', C + ['-F', 'Cron Daemon', 'rcpt@example.net'], stdin=NOFROM,
         data=nofrom(b'From: Cron Daemon <sender@example.org>')),
    # -N -R -V
    sent('N-R-V', C + ['-N', 'failure,delay', '-R', 'hdrs', '-V', 'env1',
                       'rcpt@example.net'],
         env=['MAIL FROM:<sender@example.org> RET=HDRS ENVID=env1',
              'RCPT TO:<rcpt@example.net> NOTIFY=FAILURE,DELAY']),
    sent('N-R-V-attached', C + ['-Nnever', '-Rfull', '-Venv2', 'rcpt@example.net'],
         env=['MAIL FROM:<sender@example.org> RET=FULL ENVID=env2',
              'RCPT TO:<rcpt@example.net> NOTIFY=NEVER']),
    row('N-bad', C + ['-N', 'sometimes', 'r@example.net'], exit=64,
        stderr='postern: -N sometimes: expected never, or success, failure and '
               'delay separated by commas\n'),
    # -B
    sent('B-8BITMIME', C + ['-B', '8BITMIME', 'rcpt@example.net']),
    sent('B-7BIT-attached', C + ['-B7BIT', 'rcpt@example.net']),
    row('B-bad', C + ['-B', 'binarymime', 'r@example.net'], exit=64,
        stderr=usage('-B binarymime: expected 7BIT or 8BITMIME')),
    # -v
    sent('v', C + ['-v', 'rcpt@example.net'], stderr=None),
    # -L
    sent('L', C + ['-L', 'cron-mail', 'rcpt@example.net']),
    sent('L-attached', C + ['-Lcron', 'rcpt@example.net']),
    row('L-bad', C + ['-L', 'a tag', 'r@example.net'], exit=64,
        stderr=usage('-L a tag: expected a tag of at most 32 printable characters')),
    # -C, -a
    row('C-missing', ['-C', '@TMP@/nonexistent', 'r@example.net'], exit=78,
        stderr='postern: @TMP@/nonexistent: No such file or directory\n'),
    sent('C-attached', ['-C@CONF@', 'rcpt@example.net']),
    sent('a', C + ['-a', 'other', 'rcpt@example.net'],
         env=['MAIL FROM:<other@example.org>', RCPT]),
    sent('a-attached', C + ['-aother', 'rcpt@example.net'],
         env=['MAIL FROM:<other@example.org>', RCPT]),
    row('a-unknown', C + ['-a', 'nope', 'r@example.net'], exit=78,
        stderr="postern: @CONF@: no account 'nope'\n"),
    # --version, --help
    row('version', ['--version'], stdout=None),
    row('help', ['--help'], stdout=None),
    # modes
    sent('bm', C + ['-bm', 'rcpt@example.net']),
    row('bs', C + ['-bs'], stdin=b'EHLO client.test\r\nQUIT\r\n',
        stdout='220 client.example ESMTP postern\r\n250-client.example\r\n'
        '250-PIPELINING\r\n250-SIZE\r\n250-8BITMIME\r\n'
        '250 ENHANCEDSTATUSCODES\r\n221 2.0.0 Bye\r\n'),
    row('bs-recipients', C + ['-bs', 'rcpt@example.net'], exit=64,
        stderr='postern: -bs takes the recipients from RCPT TO, not from '
        'the command line\n'),
    row('bp', C + ['-bp'], conf='queue_dir @TMP@/queue\n', stdout='Mail queue is empty\n'),
    row('mailq', C, argv0='mailq', conf='queue_dir @TMP@/queue\n', stdout='Mail queue is empty\n'),
    row('bi', C + ['-bi'], stdout='@TMP@/aliases: 3 aliases\n'),
    row('I', C + ['-I'], stdout='@TMP@/aliases: 3 aliases\n'),
    row('newaliases', C, argv0='newaliases', stdout='@TMP@/aliases: 3 aliases\n'),
    row('bi-refused', C + ['-bi'], conf='aliases @TMP@/bad-aliases\n', exit=78,
        stderr="postern: @TMP@/bad-aliases:2: alias 'root': a command target "
               "'|/bin/cat > /tmp/x' is refused: postern never delivers locally\n"
               "postern: @TMP@/bad-aliases:3: alias 'list': :include: target "
               "':include:/etc/list' is refused: postern never delivers locally\n"
               "postern: 2 alias targets are refused\n"),
    row('bi-none', C + ['-bi', '-a', 'other'],
        stdout='@CONF@: no aliases file is configured\n'),
    row('bv', C + ['-bv', 'root', 'www-data', 'nobody', 'x@example.com'],
        stdout='root: admin@example.org, ops@example.net\n'
               'www-data: admin@example.org, ops@example.net\n'
               'nobody: nobody@mx.example\n'
               'x@example.com: x@example.com\n'),
    row('bv-t', C + ['-bv', '-t'], stdin=b'To: root, b@example.com\n\nx\n',
        stdout='root: admin@example.org, ops@example.net\n'
               'b@example.com: b@example.com\n'),
    row('bv-refused', C + ['-bv', 'root'], conf='aliases @TMP@/bad-aliases\n',
        exit=78, stderr="postern: @TMP@/bad-aliases:2: alias 'root': a command "
                        "target '|/bin/cat > /tmp/x' is refused: postern never "
                        "delivers locally\n"),
    row('bv-no-recipients', C + ['-bv'], exit=64,
        stderr='postern: no recipients specified\n'),
    sent('aliases-send', C + ['root', 'rcpt@example.net'],
         env=[SENDER, 'RCPT TO:<admin@example.org>', 'RCPT TO:<ops@example.net>', RCPT]),
    sent('aliases-t', C + ['-t'], stdin=MSG.replace(b'To: Rcpt <rcpt@example.net>',
                                                    b'To: www-data'),
         data=DATA.replace(b'To: Rcpt <rcpt@example.net>', b'To: www-data@mx.example'),
         env=[SENDER, 'RCPT TO:<admin@example.org>', 'RCPT TO:<ops@example.net>']),
    row('q', C + ['-q'], conf='queue_dir @TMP@/queue\n'),
    # -q30m runs until SIGTERM: tests/runner/run.py.  Here, its parse.
    row('q30m', C + ['-qf30m'], exit=64, conf='queue_dir @TMP@/queue\n',
        stderr=usage('-q with an interval runs what is due: it takes no '
                     '-qf, -qI, -qR or -qS')),
    row('qf', C + ['-qf'], conf='queue_dir @TMP@/queue\n'),
    row('qI', C + ['-qIabc'], conf='queue_dir @TMP@/queue\n'),
    row('qR', C + ['-qRexample.net'], conf='queue_dir @TMP@/queue\n'),
    row('qS', C + ['-qSsender'], conf='queue_dir @TMP@/queue\n'),
    row('q-bad', C + ['-qZ'], exit=64, stderr=usage('unknown option -qZ')),
    sent('odi', C + ['-odi', 'rcpt@example.net']),
    sent('odb', C + ['-odb', 'rcpt@example.net']),
    # With queue off every delivery mode sends at once; with the queue,
    # -odq and -odd leave the message for the next queue run.
    sent('odq', C + ['-odq', 'rcpt@example.net']),
    sent('odd', C + ['-odd', 'rcpt@example.net']),
    row('odq-queue', C + ['-v', '-odq', 'rcpt@example.net'],
        conf='queue on\nqueue_dir @TMP@/queue\n',
        stderr='postern: queued: queued by -odq, not sent yet\n'),
    row('odd-queue', C + ['-odd', 'rcpt@example.net'],
        conf='queue on\nqueue_dir @TMP@/queue\n'),
    row('od-bad', C + ['-odx', 'r@example.net'], exit=64,
        stderr=usage('-o x: expected a delivery mode: i, b, q or d')),
    sent('oep', C + ['-oep', 'rcpt@example.net']),
    sent('oem', C + ['-oem', 'rcpt@example.net']),
    sent('oew', C + ['-oew', 'rcpt@example.net']),
    sent('oee', C + ['-oee', 'rcpt@example.net']),
    sent('oeq', C + ['-oeq', 'rcpt@example.net']),
    row('oep-refused', C + ['-oep', 'rcpt@example.net'], exit=67,
        server='cap PIPELINING\nreply RCPT 550 5.1.1 no such user\n',
        env=[SENDER, RCPT],
        stderr='postern: <rcpt@example.net>: recipient refused: 550 5.1.1 no such user\n'
               'postern: 127.0.0.1:@PORT@: no recipient was accepted\n'),
    row('oeq-refused', C + ['-oeq', 'rcpt@example.net'], exit=67,
        server='cap PIPELINING\nreply RCPT 550 5.1.1 no such user\n',
        env=[SENDER, RCPT]),
    row('oe-bad', C + ['-oex', 'r@example.net'], exit=64,
        stderr=usage('-o x: expected an error mode: p, q, m, w or e')),
    row('o-empty', C + ['-o', 'r@example.net'], exit=64,
        stderr=usage('option -o needs an attached value (-oi, -oem ...)')),
    row('bd', C + ['-bd'], exit=64, stderr=NOTSUB.format('d')),
    row('bD', C + ['-bD'], exit=64, stderr=NOTSUB.format('D')),
    row('bl', C + ['-bl'], exit=64, stderr=NOTSUB.format('l')),
    row('bt', C + ['-bt'], exit=64, stderr=NOTSUB.format('t')),
    row('b-unknown', C + ['-bz'], exit=64, stderr=usage('unknown option -bz')),
    row('unknown', C + ['-Y', 'r@example.net'], exit=64, stderr=usage('unknown option -Y')),
    row('unknown-long', C + ['--frobnicate'], exit=64,
        stderr=usage('unknown option --frobnicate')),
    row('A-unknown', C + ['-Ax'], exit=64, stderr=usage('unknown option -Ax')),
    # argv[0] personalities that send
    sent('sendmail', C + ['rcpt@example.net'], argv0='sendmail'),
    sent('postern', C + ['rcpt@example.net'], argv0='postern'),
]

# The ignored options: the message goes out as if they were not there, and
# a value they take is never a recipient.
IGNORED = [['-Ac'], ['-Am'], ['-ba'], ['-bh'], ['-bH'], ['-bP'], ['-d'],
           ['-d0.1'], ['-D', 'debug.log'], ['-Ddebug.log'], ['-G'],
           ['-h', '17'], ['-h17'], ['-Mrsmtp'], ['-m'], ['-n'],
           ['-oA/etc/aliases'], ['-om'], ['-oQ/var/spool'], ['-o7'], ['-o8'],
           ['-oZ'], ['-p', 'smtp:host'], ['-psmtp'], ['-Q'], ['-Qreason'],
           ['-U'], ['-X', 'traffic.log'], ['-Xtraffic.log'], ['-XV'],
           ['-X', 'V'], ['-GUmn']]
for opt in IGNORED:
    ROWS.append(sent('ignored' + '_'.join(opt).replace('/', '_'),
                     C + opt + ['rcpt@example.net']))

# No CR, LF or NUL from an argument reaches a command (DESIGN.md).
ROWS += [
    row('crlf-rcpt', C + ['rcpt@example.net\r\nRSET'], exit=64,
        stderr='postern: line break in recipient argument\n'),
    row('lf-sender', C + ['-f', 'a@example.org\nRSET', 'r@example.net'], exit=64,
        stderr="postern: invalid character 0x0a in address 'a@example.org'\n"),
    row('cr-envid', C + ['-V', 'id\rRSET', 'r@example.net'], exit=64,
        stderr='postern: -V: invalid character 0x0d in the envelope id\n'),
    row('lf-ret', C + ['-R', 'full\nRSET', 'r@example.net'], exit=64,
        stderr='postern: -R full\nRSET: expected full or hdrs\n'),
    row('lf-notify', C + ['-N', 'never\nRSET', 'r@example.net'], exit=64,
        stderr='postern: -N never\nRSET: expected never, or success, failure and '
               'delay separated by commas\n'),
    row('cr-tag', C + ['-L', 'a\rb', 'r@example.net'], exit=64,
        stderr=usage('-L a\rb: expected a tag of at most 32 printable characters')),
    row('ctl-alias-target', C + ['root'], conf='aliases @TMP@/ctl-aliases\n', exit=78,
        stderr="postern: @TMP@/ctl-aliases:1: invalid character 0x0b in address "
               "'a\x0bb@example.org'\n"),
    row('cr-conf-from', C + ['r@example.net'], conf='from a@example.org\r\n', exit=78,
        stderr='postern: @CONF@:12: carriage return in line\n'),
    row('space-conf-from', C + ['r@example.net'], conf='from "a b@example.org"\n',
        exit=64, stderr="postern: invalid character 0x20 in address 'a b@example.org'\n"),
    sent('crlf-F', C + ['-F', 'Evil\r\nBcc: x@example.com', 'rcpt@example.net'],
         stdin=NOFROM,
         data=nofrom(b'From: "Evil  Bcc: x@example.com" <sender@example.org>')),
    row('header-ctl-rcpt', C + ['-t'], stdin=b'To: "a\x0bb"@example.com\n\nx\n',
        exit=65, stderr='postern: To: cannot parse address \'"a\\x0Bb"@example.com\': '
                        'control character in the address\n'),
    row('header-unparsable', C + ['-t'], stdin=b'To: r@example.net\nCc: <x\n\nx\n',
        exit=65, stderr="postern: Cc: cannot parse address '<x': expected '>'\n"),
]


def subst(s, subs):
    for k, v in subs.items():
        s = s.replace(k, v)
    return s


def check(r, opts):
    problems = []
    tmp = harness.tmpdir('opt-' + r['name'])
    server = None
    try:
        server = harness.Server(r['server'] or 'cap PIPELINING\ncap 8BITMIME\ncap DSN\n',
                                tmp, opts.certs)
        subs = {'@TMP@': tmp, '@CONF@': os.path.join(tmp, 'postern.conf'),
                '@PORT@': str(server.port)}
        conf = CONF.replace('account other', r['conf'] + '\naccount other', 1) \
            if r['conf'] else CONF
        harness.write_conf(tmp, subst(conf, subs))
        os.mkdir(os.path.join(tmp, 'queue'), 0o700)
        for name, text in (('aliases', ALIASES), ('bad-aliases', BAD_ALIASES),
                           ('ctl-aliases', 'root: a\x0bb@example.org\n')):
            with open(os.path.join(tmp, name), 'w') as f:
                f.write(text)
        prog = opts.postern
        if r['argv0']:
            prog = os.path.join(tmp, r['argv0'])
            os.symlink(opts.postern, prog)
        status, out, err = harness.run([prog] + [subst(a, subs) for a in r['args']],
                                       r['stdin'], tmp)
        problems += server.stop()
        problems += leakcheck.check_run(tmp, [('stdout', out), ('stderr', err)])
        if status != r['exit']:
            problems.append(f'exit: expected {r["exit"]}, got {status}')
        out, err = out.decode('utf-8', 'replace'), err.decode('utf-8', 'replace')
        if r['stderr'] is not None and err != subst(r['stderr'], subs):
            problems.append(f'stderr: expected {subst(r["stderr"], subs)!r}, got {err!r}')
        if r['stdout'] is not None and out != subst(r['stdout'], subs):
            problems.append(f'stdout: expected {subst(r["stdout"], subs)!r}, got {out!r}')
        problems += special(r, out, err, subs)
        env = server.envelope()
        want = r['env'] or []
        if env != want:
            problems.append(f'envelope: expected {want}, got {env}')
        data = server.data()
        if data != r['data']:
            problems.append(f'data: expected {r["data"]!r}, got {data!r}')
    except Exception as e:  # a broken row or environment
        problems.append(f'error: {type(e).__name__}: {e}')
        if server is not None:
            server.stop()
    finally:
        harness.rmtree(tmp)
    return problems


def special(r, out, err, subs):
    """Rows whose output is not fixed text: compared against its exact form."""
    if r['name'] == 'version':
        facts = open(os.path.join(harness.SRCDIR, 'config.h')).read()
        version = re.search(r'#define VERSION "([^"]+)"', facts).group(1)
        lines = out.splitlines()
        want = [f'postern {version}']
        if lines[:1] != want or len(lines) != 4 or \
                not lines[1].startswith('TLS library: OpenSSL ') or \
                not lines[2].startswith('system configuration: /') or \
                not lines[3].startswith('spool directory: /'):
            return [f'--version printed {out!r}']
    if r['name'] == 'help':
        if not out.startswith(USAGE) or 'postern(8)' not in out:
            return [f'--help printed {out!r}']
    if r['name'] == 'v':
        want = ['-- connected to 127.0.0.1:@PORT@', '<- 220 localhost ESMTP postern-test',
                '-> EHLO client.example', '<- 250-localhost', '<- 250-PIPELINING',
                '<- 250-8BITMIME', '<- 250 DSN', '-> MAIL FROM:<sender@example.org>',
                '-> RCPT TO:<rcpt@example.net>', '-> DATA',
                '<- 250 2.1.0 Ok', '<- 250 2.1.5 Ok',
                '<- 354 End data with <CR><LF>.<CR><LF>',
                '-- sending the message: 160 bytes', '-> .', '-> QUIT',
                '<- 250 2.0.0 Ok: queued as TEST1']
        want = [subst(x, subs) for x in want]
        if err.splitlines() != want:
            return [f'-v: expected {want}, got {err.splitlines()}']
    return []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--postern', required=True)
    ap.add_argument('-j', type=int, default=os.cpu_count() or 1)
    ap.add_argument('names', nargs='*')
    opts = ap.parse_args()
    opts.postern = os.path.abspath(opts.postern)
    opts.certs = harness.certs()
    rows = [r for r in ROWS if not opts.names or r['name'] in opts.names]
    names = [r['name'] for r in ROWS]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        print(f'duplicate row names: {sorted(dup)}')
        return 1
    tally = harness.Tally()
    with concurrent.futures.ThreadPoolExecutor(max(1, opts.j)) as pool:
        for r, problems in zip(rows, pool.map(lambda r: check(r, opts), rows)):
            tally.report(r['name'], problems)
    return tally.done('options')


if __name__ == '__main__':
    sys.exit(main())
