#!/usr/bin/python3
"""DKIM signatures checked by an independent verifier: dkimpy (Debian's
python3-dkim), not postern's own code.

Usage: /usr/bin/python3 tests/dkim/run.py --postern PATH [--keep]

Every account here signs with two keys, RSA-2048 (selector `rsa`) then
Ed25519 (selector `ed`), from copies of tests/dkim/*.pem made 0600.  The
TXT records come from `postern --check` (and are compared with the public
keys openssl derives from the PEM files), and serve as dkimpy's DNS.  Each
message goes through the built postern twice, against tests/smtpd.py: with
the DKIM keys and without them.  For every signed message as received
(data.N, un-dot-stuffed unless it came by BDAT):

  - exactly two DKIM-Signature fields, first, RSA then Ed25519, every line
    of them under 78 columns (a tab counting 8), c=relaxed/relaxed, no l=,
    From in h= once more than the message has it (over-signing);
  - dkimpy verifies both (DKIM.verify(idx=i)), and so does a variant of it
    without its own extra From (see Strict), so that over-signing is
    proved to be postern's doing;
  - the wire bytes minus those two fields are byte for byte what the same
    postern sent without DKIM (Date and Message-ID are given in each input,
    added where it has none, so nothing differs by design), and SIZE= was
    the size of the signed message;
  - mutations: one body byte changed, one signed header changed, a second
    From added above the first must each make both signatures fail; an
    unsigned header added (X-Foo) or changed must not.

Categories: the five messages of the Python email tutorial (shared seed
000_118e65fce61c884e, built by tests/bs/run.py's tutorial()); every message
of the oracle's corpus (tests/oracle/corpus.py) and every tests/cases/*/input
that postern accepts; the corners of relaxed canonicalization and a header
block and a body over one 64 KiB read; the 8-bit ones of those again to a
server without 8BITMIME (the downgrade: what arrives must be 7-bit); the
tutorial through -t, through a -bs session on stdin, through the queue
(-odq then -q), and with the tests/cases inputs to a server with CHUNKING
(BDAT).

Prints `ok NAME` / `FAIL NAME` per message (failures with the reasons), a
line per category, then `dkim: N passed, N failed`.
"""

import argparse
import base64
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

try:
    import dkim
except ImportError:
    print('FAIL dkimpy: python3-dkim is not installed (sh tests/deps.sh)')
    print('dkim: 0 passed, 1 failed')
    sys.exit(1)

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, TESTS)
sys.path.insert(0, os.path.join(TESTS, 'oracle'))
import corpus  # noqa: E402  (the oracle's message corpus)
import harness  # noqa: E402  (the scripted server, postern's environment)


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


bs_run = load('bs_run', os.path.join(TESTS, 'bs', 'run.py'))

DOMAIN = 'example.org'
KEYS = [('rsa', 'rsa2048.pem', 'rsa-sha256', 2048),
        ('ed', 'ed25519.pem', 'ed25519-sha256', 256)]
DATE = 'Fri, 27 Nov 2026 00:00:00 +0000'
SENDER = 'sender@example.org'
RCPT = 'rcpt@example.net'
CAPS = 'cap PIPELINING\ncap 8BITMIME\ncap ENHANCEDSTATUSCODES\ncap SIZE 104857600\n'
CONF = '''account default
host 127.0.0.1
port {port}
domain client.example
maildomain example.org
from {sender}
tls off
{queue}
'''


class Fail(Exception):
    pass


# --- the verifier ---------------------------------------------------------

class Strict(dkim.DKIM):
    """dkimpy without its extra From: to catch a From added above the first
    (its bug#644046) it hashes one From more than h= names.  RFC 6376 does
    not; with this variant only postern's over-signing (From named in h=
    once more than the message has it) can make that mutation fail."""

    def verify_headerprep(self, idx=0):
        prep = super().verify_headerprep(idx)
        if prep:
            sig, include, sigheaders = prep
            prep = sig, NoExtra(include), sigheaders
        return prep


class NoExtra(list):
    def append(self, x):
        if x != b'from':
            super().append(x)


def verify(msg, records, cls=dkim.DKIM):
    """[(ok, why)] for each DKIM-Signature of msg, top first."""
    def dns(name, timeout=5):
        return records.get(name.decode() if isinstance(name, bytes) else name)
    out = []
    for i in range(2):
        try:
            ok = cls(msg).verify(idx=i, dnsfunc=dns)
            out.append((ok, '' if ok else 'signature does not verify'))
        except dkim.DKIMException as e:
            out.append((False, str(e)))
    return out


# --- the message as received ---------------------------------------------

def unstuff(wire):
    """RFC 5321 4.5.2 undone: a leading dot of a line goes."""
    lines = wire.split(b'\r\n')
    return b'\r\n'.join(x[1:] if x.startswith(b'.') else x for x in lines)


def header_fields(msg):
    """[(name lower case, raw bytes with CRLF, offset)] of the header block."""
    out, i = [], 0
    while i < len(msg) and not msg.startswith(b'\r\n', i):
        j = msg.find(b'\r\n', i)
        while j != -1 and msg[j + 2:j + 3] in (b' ', b'\t'):
            j = msg.find(b'\r\n', j + 2)
        j = len(msg) if j == -1 else j + 2
        raw = msg[i:j]
        out.append((raw.partition(b':')[0].strip().lower().decode('latin-1'), raw, i))
        i = j
    return out


def tags(raw):
    value = re.sub(rb'\r\n[ \t]', b' ', raw.partition(b':')[2])
    t = {}
    for part in value.split(b';'):
        k, _, v = part.partition(b'=')
        if k.strip():
            t[k.strip().decode()] = re.sub(rb'\s+', b'', v).decode()
    return t


def check_signatures(msg):
    """The two fields on top; returns their length and the h= names."""
    fields = header_fields(msg)
    sigs = [f for f in fields if f[0] == 'dkim-signature']
    if len(sigs) != 2 or [f[0] for f in fields[:2]] != ['dkim-signature'] * 2:
        raise Fail('want exactly two DKIM-Signature fields, first; got %r'
                   % [f[0] for f in fields[:4]])
    for (name, raw, _), (sel, _, alg, _) in zip(sigs, KEYS):
        for line in raw[:-2].split(b'\r\n'):
            if len(line.expandtabs(8)) >= 78:
                raise Fail('a line of %d columns: %r' % (len(line.expandtabs(8)), line))
        t = tags(raw)
        want = {'v': '1', 'a': alg, 'c': 'relaxed/relaxed', 'd': DOMAIN, 's': sel}
        got = {k: t.get(k) for k in want}
        if got != want:
            raise Fail('tags %r, want %r' % (got, want))
        if 'l' in t:
            raise Fail('an l= tag: %r' % raw)
        if not re.fullmatch(r'\d+', t.get('t', '')):
            raise Fail('no t= tag: %r' % raw)
        names = t['h'].lower().split(':')
        froms = sum(1 for f in fields if f[0] == 'from')
        if names.count('from') != froms + 1:
            raise Fail('h=%s names From %d times for %d From fields (not over-signed)'
                       % (t['h'], names.count('from'), froms))
    return sum(len(f[1]) for f in sigs), names


# --- mutations ------------------------------------------------------------

def mutate_body(msg):
    head, sep, body = msg.partition(b'\r\n\r\n')
    m = re.search(rb'[A-Za-z0-9]', body)
    if m is None:
        return None
    k = m.start()
    c = b'x' if body[k:k + 1] != b'x' else b'y'
    return head + sep + body[:k] + c + body[k + 1:]


def mutate_signed(msg, names):
    """The value of a signed field (Subject, To or Date before From) gets
    one more letter at its end."""
    fields = header_fields(msg)
    for want in ('subject', 'to', 'date', 'from'):
        if want in names:
            for name, raw, off in fields:
                if name == want:
                    end = off + len(raw) - 2
                    return msg[:end] + b'Z' + msg[end:], want
    raise Fail('no signed field to change')


def mutate_from(msg):
    for name, _, off in header_fields(msg):
        if name == 'from':
            return msg[:off] + b'From: Mallory <mallory@example.com>\r\n' + msg[off:]
    raise Fail('no From field')


def mutate_unsigned(msg, names, siglen):
    """X-Foo added under the signatures, and the first unsigned field that
    the message has (X-Mailer, X-Cron-Env ...) changed."""
    out = msg[:siglen] + b'X-Foo: added after signing\r\n' + msg[siglen:]
    for name, raw, off in header_fields(out):
        if name not in names and name not in ('dkim-signature', 'x-foo'):
            end = off + len(raw) - 2
            return out[:end] + b' (changed)' + out[end:]
    return out


def judge(wire, plain, bdat, records, stats):
    """Everything asserted about one signed message; raises Fail."""
    msg = wire if bdat else unstuff(wire)
    siglen, names = check_signatures(msg)
    if wire[siglen:] != plain:
        raise Fail('minus its DKIM-Signature fields the message is not what postern '
                   'sends unsigned:\n    signed   %r\n    unsigned %r'
                   % (wire[siglen:siglen + 300], plain[:300]))
    for cls, what in ((dkim.DKIM, 'dkimpy'), (Strict, 'dkimpy without extra From')):
        for i, (ok, why) in enumerate(verify(msg, records, cls)):
            if not ok:
                raise Fail('%s: signature %d (%s): %s' % (what, i, KEYS[i][0], why))
    stats['verified'] += 2
    muts = [('body byte', mutate_body(msg), dkim.DKIM)]
    changed, field = mutate_signed(msg, names)
    muts.append(('signed field %s' % field, changed, dkim.DKIM))
    muts.append(('second From (dkimpy)', mutate_from(msg), dkim.DKIM))
    muts.append(('second From (no extra From)', mutate_from(msg), Strict))
    for what, m, cls in muts:
        if m is None:
            stats['mut-skip'] += 1
            continue
        res = verify(m, records, cls)
        if any(ok for ok, _ in res):
            raise Fail('mutation "%s" still verifies' % what)
        stats['mut-fail'] += 1
    res = verify(mutate_unsigned(msg, names, siglen), records)
    if not all(ok for ok, _ in res):
        raise Fail('an unsigned field added or changed breaks the signature: %r' % res)
    stats['mut-ok'] += 1


# --- running postern ------------------------------------------------------

class Env:
    """A temporary directory with the keys, one scripted server, two
    configurations (signed, unsigned) pointing at it."""

    def __init__(self, opts, name, script, queue=False):
        self.opts, self.name = opts, name
        self.tmp = harness.tmpdir('dkim-' + name)
        for _, f, _, _ in KEYS:
            shutil.copy(os.path.join(HERE, f), os.path.join(self.tmp, f))
            os.chmod(os.path.join(self.tmp, f), 0o600)
        self.script = script
        self.server = harness.Server(script, self.tmp, opts.certs)
        self.n = 0
        self.conf = {}
        for signed in (True, False):
            q = 'queue off'
            if queue:
                qd = os.path.join(self.tmp, 'queue-%s' % ('signed' if signed else 'plain'))
                os.mkdir(qd, 0o700)
                q = 'queue_dir ' + qd
            text = CONF.format(port=self.server.port, sender=SENDER, queue=q)
            if signed:
                text += ('dkim_domain %s\ndkim_selector %s\ndkim_key_file %s\n' % (
                    DOMAIN, ', '.join(k[0] for k in KEYS),
                    ', '.join(os.path.join(self.tmp, k[1]) for k in KEYS)))
            self.conf[signed] = harness.write_conf(
                self.tmp, text, 'signed.conf' if signed else 'plain.conf')

    def run(self, signed, args, stdin=b''):
        return harness.run([self.opts.postern, '-C', self.conf[signed]] + args,
                           stdin, self.tmp)

    def received(self, count):
        """The next count messages the server recorded."""
        out = []
        for _ in range(count):
            self.n += 1
            path = os.path.join(self.server.out, 'data.%d' % self.n)
            for _ in range(100):
                if os.path.exists(path):
                    break
                time.sleep(0.05)
            data = self.server.data(self.n)
            if data is None:
                raise Fail('message %d did not arrive' % self.n)
            out.append(data)
        return out

    def close(self):
        """Stop the server; also check that each SIZE= was the size of
        the message that followed, DKIM-Signature fields included."""
        problems = self.server.stop()
        tr = self.server.transcript()
        sizes = [int(x) for x in re.findall(r'(?m)^MAIL FROM:.* SIZE=(\d+)', tr)]
        bdat = 'BDAT' in tr
        got = [len(d if bdat else unstuff(d)) for d in
               (self.server.data(k) for k in range(1, self.n + 1))]
        if 'SIZE' in self.script and sizes != got:
            problems.append('SIZE= %r, messages of %r octets' % (sizes, got))
        if self.opts.keep:
            print('    kept ' + self.tmp)
        else:
            harness.rmtree(self.tmp)
        return problems


def with_fields(raw, n):
    """raw with a Date and a Message-ID where it has none, at the top (after
    an mbox From_ line), so that the signed and the unsigned run send the
    same message."""
    pre = b''
    if raw.startswith(b'From '):
        pre, _, raw = raw.partition(b'\n')
        pre += b'\n'
    names = set()
    for line in re.split(rb'\r\n|\r|\n', raw):
        if line == b'':
            break
        m = re.match(rb'([!-9;-~]+):', line)
        if m:
            names.add(m.group(1).lower())
    add = b''
    if b'date' not in names:
        add += b'Date: ' + DATE.encode() + b'\n'
    if b'message-id' not in names:
        add += b'Message-ID: <dkim-%d@example.org>\n' % n
    return pre + add + raw


def new_stats():
    return dict(verified=0, messages=0, refused=0, **{'mut-fail': 0, 'mut-skip': 0, 'mut-ok': 0})


def summary(cat, stats, extra=''):
    print('-- %s: %d messages, %d signatures verified; mutations: %d failed to '
          'verify as they must (%d not applicable), %d unsigned-field changes still '
          'verify%s%s' % (cat, stats['messages'], stats['verified'], stats['mut-fail'],
                          stats['mut-skip'], stats['mut-ok'],
                          '; %d refused by postern (exit 65), skipped' % stats['refused']
                          if stats['refused'] else '', extra))


def judged(res, label, records, stats, get, bdat=False, sevenbit=False):
    """One message: get() returns (unsigned, signed) as received, or None
    when postern refused the input (exit 65) both times."""
    problems = []
    try:
        pair = get()
        if pair is None:
            stats['refused'] += 1
            return
        plain, wire = pair
        if sevenbit and any(c >= 0x80 for c in wire):
            raise Fail('an 8-bit byte reached a server without 8BITMIME')
        judge(wire, plain, bdat, records, stats)
        stats['messages'] += 1
    except Fail as e:
        problems.append(e)
    res.report(label, problems)


def one_by_one(env, res, cat, items, records, stats, sevenbit=False, bdat=False):
    """items: (name, postern arguments, input).  Unsigned then signed."""
    def get(name, args, raw):
        rc0, _, err0 = env.run(False, args, raw)
        rc1, _, err1 = env.run(True, args, raw)
        if rc0 == 65 and rc1 == 65 and err0 == err1:
            print('skip %s: %s: refused (exit 65): %s'
                  % (cat, name, err0.decode('utf-8', 'replace').strip()[:200]))
            return None
        if (rc0, err0) != (0, b'') or (rc1, err1) != (0, b''):
            raise Fail('postern: unsigned exit %d %r, signed exit %d %r'
                       % (rc0, err0, rc1, err1))
        return env.received(2)
    for name, args, raw in items:
        judged(res, '%s: %s' % (cat, name), records, stats,
               lambda: get(name, args, raw), bdat, sevenbit)


def finish(env, res, cat, stats, problems=(), extra=''):
    p = list(problems) + env.close()
    if p:
        res.report('%s: server' % cat, p)
    summary(cat, stats, extra)


# --- the inputs -----------------------------------------------------------

def tutorial():
    """The tutorial's five messages, each with a Date and a Message-ID."""
    names = ['plain', 'html', 'attachment', 'inline image', 'alternative']
    out = []
    for k, (name, m) in enumerate(zip(names, bs_run.tutorial(SENDER, RCPT))):
        m['Date'] = DATE
        m['Message-ID'] = '<tutorial-%d@example.org>' % k
        out.append((name, m.as_string().encode('ascii')))
    return out


def corpus_items():
    out = []
    for k, case in enumerate(corpus.generate()):
        out.append(('corpus ' + case.name, ['-t'] + case.args + [RCPT],
                    with_fields(case.raw, k)))
    return out


def case_items():
    """Each distinct (options, input) of tests/cases/*/input; of a case's
    arguments only those that change the message are kept."""
    seen, out = set(), []
    cases = os.path.join(TESTS, 'cases')
    for k, name in enumerate(sorted(os.listdir(cases))):
        path = os.path.join(cases, name, 'input')
        # -bs cases hold a session, not a message; a generated cmd
        # (cmd.py) is a hostile-input case's huge argument list.
        if name.startswith('bs-') or not os.path.isfile(path) or \
                not os.path.isfile(os.path.join(cases, name, 'cmd')):
            continue
        with open(os.path.join(cases, name, 'cmd')) as f:
            args = [a for a in shlex.split(f.read()) if a in ('-i', '-oi', '-t')]
        with open(path, 'rb') as f:
            raw = with_fields(f.read(), 1000 + k)
        if (tuple(args), raw) in seen:
            continue
        seen.add((tuple(args), raw))
        out.append(('case ' + name, args + [RCPT], raw))
    return out


def edge_items():
    """What the corpus has little of: the corners of relaxed
    canonicalization (RFC 6376 3.4.2, 3.4.4), repeated signed fields, a
    header block and a body larger than one 64 KiB read of the file."""
    head = (b'From: Edge <sender@example.org>\nTo: a@example.net\n'
            b'Date: ' + DATE.encode() + b'\n')
    ws = b'a  b\t\tc \t \n  \n\t\nlead\n \tindented\ttab \n\n\n \n\t\n'
    big = b''.join(b'line %d  with\t\truns   of white space \t\n' % k
                   for k in range(40000))
    items = [
        ('white space in the body', head + b'Subject: ws\n\n' + ws),
        ('folded and spaced header values', head + b'Subject:\t  many   spaces\t\n'
         b'\t folded  \n  again\t\nCc:   c@example.net ,\n\td@example.net  \n\nbody\n'),
        ('only empty lines in the body', head + b'Subject: empty\n\n\n\n\n'),
        ('only white space in the body', head + b'Subject: wsp\n\n \t\n  \n'),
        ('no line end at the end', head + b'Subject: no eol\n\nlast line'),
        ('no body at all', head + b'Subject: nobody\n'),
        ('repeated signed fields', head + b''.join(
            b'Cc: cc%d@example.net\nComments: %d\n' % (k, k) for k in range(30))
         + b'Subject: one\nSubject: two\n\nbody\n'),
        ('20,000 Cc fields, every one signed', head + b''.join(
            b'Cc: c%d@example.net\n' % k for k in range(20000))
         + b'Subject: many\n\nbody\n'),
        ('header block over 64 KiB', head + b''.join(
            b'X-Filler-%d: %s\n' % (k, b'f' * 200) for k in range(400))
         + b'Subject: big header\nReply-To: r@example.org\n\nbody\n'),
        ('body of 1.5 MB with white space runs', head + b'Subject: big\n\n' + big),
        ('8-bit body with white space runs', head + b'Subject: 8bit\n\n'
         + 'Grüße  \t aus   Köln \t\n'.encode() * 5000),
    ]
    return [(name, [RCPT], b'Message-ID: <edge-%d@example.org>\n' % k + raw)
            for k, (name, raw) in enumerate(items)]


def records_from_check(opts, res):
    """The TXT records postern --check prints, checked against openssl."""
    env = Env(opts, 'check', CAPS)
    problems, records = [], {}
    try:
        rc, out, err = env.run(True, ['--check'])
        if rc != 0:
            raise Fail('--check exited %d: %r' % (rc, err))
        lines = [x for x in out.decode().splitlines() if x.startswith('DKIM: ')]
        if len(lines) != len(KEYS):
            raise Fail('want %d DKIM: lines, got %r' % (len(KEYS), out))
        for line, (sel, f, alg, bits) in zip(lines, KEYS):
            m = re.fullmatch(r'DKIM: (\S+) (\S+), (\d+) bits: (\S+) IN TXT((?: "[^"]*")+)', line)
            if m is None:
                raise Fail('not the documented form: %r' % line)
            want = (os.path.join(env.tmp, f), alg, str(bits), '%s._domainkey.%s' % (sel, DOMAIN))
            if m.groups()[:4] != want:
                raise Fail('%r, want %r' % (m.groups()[:4], want))
            strings = re.findall(r'"([^"]*)"', m.group(5))
            if any(len(s) > 255 for s in strings):
                raise Fail('a TXT string over 255 octets: %r' % line)
            txt = ''.join(strings)
            der = subprocess.run(['openssl', 'pkey', '-in', os.path.join(HERE, f), '-pubout',
                                  '-outform', 'DER'], capture_output=True, check=True).stdout
            # RFC 8463: the raw 32-octet Ed25519 key; RSA: the SubjectPublicKeyInfo
            p = base64.b64encode(der[-32:] if alg.startswith('ed25519') else der).decode()
            kind = 'ed25519' if alg.startswith('ed25519') else 'rsa'
            if txt != 'v=DKIM1; k=%s; p=%s' % (kind, p):
                raise Fail('TXT %r is not the public key of %s (p=%s)' % (txt, f, p))
            records[want[3] + '.'] = txt.encode()
    except Fail as e:
        problems.append(e)
    problems += env.close()
    res.report('check: TXT records of postern --check', problems)
    return records


def session(messages):
    """A -bs client's side: EHLO, each message, QUIT, all at once."""
    s = b'EHLO client.test\r\n'
    for raw in messages:
        body = re.sub(rb'(?m)^\.', b'..', raw.replace(b'\r\n', b'\n')).replace(b'\n', b'\r\n')
        s += (b'MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n' % (SENDER.encode(), RCPT.encode())
              + body + b'.\r\n')
    return s + b'QUIT\r\n'


def t_bs(opts, res, records):
    stats = new_stats()
    env = Env(opts, 'bs', CAPS)
    tut = tutorial()
    try:
        sess = session([raw for _, raw in tut])
        got = {}
        for signed in (False, True):
            rc, out, err = env.run(signed, ['-bs'], sess)
            if rc != 0 or err or out.count(b'250 2.0.0 Ok: delivered') != len(tut):
                raise Fail('postern -bs: exit %d %r %r' % (rc, out, err))
            got[signed] = env.received(len(tut))
        for (name, _), plain, wire in zip(tut, got[False], got[True]):
            judged(res, 'bs: tutorial ' + name, records, stats,
                   lambda: (plain, wire))
    except Fail as e:
        res.report('bs: the session', [e])
    finish(env, res, '-bs (one session on stdin)', stats)


def t_queue(opts, res, records):
    """-odq: queued, nothing sent; then postern -q sends them all on one
    connection, signed then.  Matched by Message-ID (the queue's order)."""
    stats = new_stats()
    env = Env(opts, 'queue', CAPS, queue=True)
    tut = tutorial()
    try:
        got = {}
        for signed in (False, True):
            for name, raw in tut:
                rc, out, err = env.run(signed, ['-odq', RCPT], raw)
                if rc != 0 or err:
                    raise Fail('postern -odq: exit %d %r' % (rc, err))
            if os.path.exists(os.path.join(env.server.out, 'data.%d' % (env.n + 1))):
                raise Fail('-odq sent a message')
            rc, out, err = env.run(signed, ['-q'])
            if rc != 0 or err:
                raise Fail('postern -q: exit %d %r' % (rc, err))
            got[signed] = {re.search(rb'\r\nMessage-ID: (<[^>]*>)', m).group(1): m
                           for m in env.received(len(tut))}
        def pair(mid):
            if mid not in got[True] or mid not in got[False]:
                raise Fail('%r was not delivered by -q' % mid)
            return got[False][mid], got[True][mid]
        for k, (name, _) in enumerate(tut):
            judged(res, 'queue: tutorial ' + name, records, stats,
                   lambda: pair(b'<tutorial-%d@example.org>' % k))
    except Fail as e:
        res.report('queue: submission and run', [e])
    finish(env, res, 'queue (-odq, then -q)', stats)


def t_chunking(opts, res, records, items):
    """BDAT: data.N is the chunks as sent, no dot-stuffing to undo."""
    stats = new_stats()
    env = Env(opts, 'chunking', CAPS + 'cap CHUNKING\n')
    one_by_one(env, res, 'chunking', items, records, stats, bdat=True)
    tr = env.server.transcript()
    bdats = len(re.findall(r'(?m)^BDAT \d+ LAST$', tr))
    p = []
    if bdats != 2 * stats['messages'] or 'DATA' in tr.split():
        p.append('want %d BDAT ... LAST and no DATA; transcript:\n%s'
                 % (2 * stats['messages'], tr))
    finish(env, res, 'CHUNKING (BDAT)', stats, p)


def category(opts, res, records, cat, script, items, sevenbit=False):
    stats = new_stats()
    env = Env(opts, cat.split()[0], script)
    one_by_one(env, res, cat, items, records, stats, sevenbit)
    finish(env, res, cat, stats, extra='; all 7-bit on the wire' if sevenbit else '')


def main():
    ap = argparse.ArgumentParser(description='DKIM signatures checked by dkimpy')
    ap.add_argument('--postern', required=True)
    ap.add_argument('--keep', action='store_true', help='keep the temporary directories')
    opts = ap.parse_args()
    opts.postern = os.path.abspath(opts.postern)
    opts.certs = harness.certs()
    res = harness.Tally()
    records = records_from_check(opts, res)
    if not records:
        print('dkim: %d passed, %d failed' % (res.passed, res.failed + 1))
        return 1
    tut = [(n, [RCPT], raw) for n, raw in tutorial()]
    category(opts, res, records, 'tutorial', CAPS,
             [('tutorial ' + n, a, r) for n, a, r in tut])
    category(opts, res, records, 'tutorial -t', CAPS,
             [('tutorial ' + n, ['-t'], r) for n, _, r in tut])
    t_bs(opts, res, records)
    t_queue(opts, res, records)
    cases = case_items()
    edge = edge_items()
    category(opts, res, records, 'edge', CAPS, edge)
    t_chunking(opts, res, records, [('tutorial ' + n, a, r) for n, a, r in tut] + cases)
    items = corpus_items()
    category(opts, res, records, 'corpus', CAPS, items)
    category(opts, res, records, 'cases', CAPS, cases)
    eight = [x for x in tut + edge + items + cases if any(c >= 0x80 for c in x[2])]
    category(opts, res, records, 'downgrade (no 8BITMIME)',
             'cap PIPELINING\ncap ENHANCEDSTATUSCODES\n', eight, sevenbit=True)
    return res.done('dkim')


if __name__ == '__main__':
    sys.exit(main())
