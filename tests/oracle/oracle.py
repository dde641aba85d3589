#!/usr/bin/python3
"""The oracle: Python's email package judges postern's message preparation.

A corpus of more than 200 messages is generated here, at test time (see
corpus.py); each goes through msgprep (tests/unit/msgprep.c: msg_read
with -t, then the prepared file on stdout) and the result is judged by
the standard library only (/usr/bin/python3, email.parser with
policy.default, email.utils.getaddresses):

  - every line ends in CRLF, no bare CR or LF, none over 998 octets;
  - every input header comes out, and decodes back to the input text
    (unstructured text byte for byte, address fields as the same
    (display name, addr-spec) pairs, bare names qualified);
  - Date, Message-ID, From, To are there exactly once, Date and
    Message-ID in their exact generated form;
  - -t finds exactly the recipients getaddresses finds;
  - text bodies decode to the input text, also after msg_downgrade
    (msgprep -d), which must leave no 8-bit byte in any body line;
  - malformed input that must be refused exits 65 with its message.

usage: oracle.py path/to/msgprep
Prints "oracle: N passed, N failed"; exits 1 on any failure.
"""
import email
import email.utils
import os
import re
import subprocess
import sys
from email import policy
from email.header import decode_header

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus  # noqa: E402

DOMAIN = 'example.org'
DATE = 'Tue, 14 Nov 2023 22:13:20 +0000'
MSGID = re.compile(r'<20231114221320\.[0-9a-f]{32}@example\.org>')
ADDR_FIELDS = {'from', 'sender', 'reply-to', 'to', 'cc', 'bcc',
               'resent-from', 'resent-sender', 'resent-to', 'resent-cc',
               'resent-bcc'}
REMOVED = {'bcc', 'resent-bcc', 'return-path', 'content-length'}
ENV = dict(os.environ, TZ='UTC0')


class Fail(Exception):
    pass


def split_input(raw):
    """The input as postern reads it: header fields (name, raw value
    unfolded, as bytes) and the body lines."""
    text = raw.replace(b'\r\n', b'\n').replace(b'\r', b'\n')
    lines = text.split(b'\n')
    if lines and lines[-1] == b'':
        lines.pop()
    if lines and lines[0].startswith(b'From '):
        lines.pop(0)
    fields, i = [], 0
    while i < len(lines):
        line = lines[i]
        if line == b'':
            i += 1
            break
        if line[:1] in (b' ', b'\t') and fields:
            fields[-1][1] += line
        elif re.match(rb'^[!-9;-~]+:', line):
            name, _, value = line.partition(b':')
            fields.append([name.decode(), value])
        else:
            break
        i += 1
    return fields, lines[i:]


def out_lines(data):
    """Every line ends in CRLF; no bare CR or LF; 998 octets at most."""
    if data and not data.endswith(b'\r\n'):
        raise Fail('the message does not end in CRLF')
    for n, line in enumerate(data.split(b'\r\n')[:-1], 1):
        if b'\r' in line or b'\n' in line:
            raise Fail('bare CR or LF on line %d' % n)
        if len(line) > 998:
            raise Fail('line %d has %d octets' % (n, len(line)))


def u(b):
    return b.decode('utf-8', 'surrogateescape')


def qualify(spec):
    return spec if '@' in spec or spec == '' else spec + '@' + DOMAIN


def pairs(name, value):
    h = policy.default.header_factory(name, value)
    return [(a.display_name, qualify(a.addr_spec)) for a in h.addresses]


STRUCTURED = {'date', 'resent-date', 'message-id', 'content-type', 'mime-version',
              'content-transfer-encoding', 'content-disposition',
              'received', 'references', 'in-reply-to', 'content-id'}


def check_header(name, inval, outs, raws, k):
    """Input field number k of this name against its output: parsed
    (outs) and as written (raws)."""
    if k >= len(outs):
        raise Fail('%s: missing from the output' % name)
    lname = name.lower()
    want = inval.lstrip(b' \t')
    if lname in ADDR_FIELDS:
        want = pairs(name, u(want))
        got = [(a.display_name, a.addr_spec) for a in outs[k].addresses]
    elif lname in STRUCTURED:
        # Python normalises these when parsing: compare as written
        got = raws[k].replace('\r\n', '').lstrip(' \t').encode(
            'utf-8', 'surrogateescape')
    elif 'unknown-8bit' in raws[k]:
        # policy.default turns unknown-8bit into U+FFFD; decode_header
        # gives the bytes back
        got = b''.join(p if isinstance(p, bytes) else p.encode()
                       for p, _ in decode_header(raws[k].replace(
                           '\r\n', '')))
        want = want.strip(b' \t')
    else:
        # the input's own encoded words decode too: compare meanings
        want = str(policy.default.header_factory(name, u(want))).encode(
            'utf-8', 'surrogateescape')
        got = str(outs[k]).encode('utf-8', 'surrogateescape')
    if want != got:
        raise Fail('%s: %r came out as %r' % (name, want, got))


def check_recipients(fields, rcpts):
    resent = [i for i, f in enumerate(fields)
              if f[0].lower().startswith('resent-')]
    if resent:
        first, end = resent[0], resent[0]
        while end < len(fields) and fields[end][0].lower().startswith(
                'resent-'):
            if end > first and fields[end][0].lower() == 'resent-date':
                break
            end += 1
        want_names, block = ('resent-to', 'resent-cc', 'resent-bcc'), \
            fields[first:end]
    else:
        want_names, block = ('to', 'cc', 'bcc'), fields
    values = [u(v) for n, v in block if n.lower() in want_names]
    want = []
    for _, spec in email.utils.getaddresses(values):
        spec = qualify(spec)
        if spec and not any(same(spec, w) for w in want):
            want.append(spec)
    if want != rcpts:
        raise Fail('-t: want %r, got %r' % (want, rcpts))


def same(a, b):
    la, _, da = a.rpartition('@')
    lb, _, db = b.rpartition('@')
    return la == lb and da.lower() == db.lower()


def run(path, raw, extra=()):
    p = subprocess.run([path, '-t'] + list(extra), input=raw,
                       capture_output=True, env=ENV, timeout=120)
    if p.returncode != 0:
        return p.returncode, p.stderr, [], b''
    head, _, data = (b'\n' + p.stdout).partition(b'\n-- ')
    data = data.partition(b'\n')[2]
    rcpts = [line[6:].decode('utf-8', 'surrogateescape')
             for line in head.split(b'\n') if line.startswith(b'rcpt: ')]
    return 0, p.stderr, rcpts, data


def text_parts(msg):
    """The decoded bytes of every text leaf, LF line ends."""
    return [p.get_payload(decode=True).replace(b'\r\n', b'\n')
            for p in msg.walk()
            if p.get_content_maintype() == 'text' and
            not p.is_multipart()]


def judge(path, case):
    rc, err, rcpts, data = run(path, case.raw, case.args)
    if case.error is not None:
        if rc != 65 or case.error.encode() not in err:
            raise Fail('want exit 65 with %r, got %d %r' %
                       (case.error, rc, err))
        return
    if rc != 0:
        raise Fail('exit %d: %r' % (rc, err))
    out_lines(data)
    msg = email.message_from_bytes(data, policy=policy.default)
    fields, body = split_input(case.raw)
    seen = {}
    for name, value in fields:
        if name.lower() in REMOVED:
            continue
        k = seen.get(name.lower(), 0)
        seen[name.lower()] = k + 1
        raws = [v for n, v in msg.raw_items() if n.lower() == name.lower()]
        check_header(name, value, msg.get_all(name) or [], raws, k)
    for name in ('Date', 'Message-ID', 'From'):
        if len(msg.get_all(name) or []) != 1:
            raise Fail('%s: not exactly once' % name)
    if not msg.get_all('To') and not msg.get_all('Cc'):
        raise Fail('no To and no Cc')
    for name in ('Bcc', 'Resent-Bcc', 'Return-Path', 'Content-Length'):
        if msg.get_all(name):
            raise Fail('%s: not removed' % name)
    if 'date' not in seen and msg['Date'] != DATE:
        raise Fail('Date: %r' % msg['Date'])
    if 'message-id' not in seen and not MSGID.fullmatch(
            msg['Message-ID']):
        raise Fail('Message-ID: %r' % msg['Message-ID'])
    if case.rcpts is not None:
        if rcpts != case.rcpts:
            raise Fail('-t (RFC 5322): want %r, got %r' %
                       (case.rcpts, rcpts))
    else:
        check_recipients(fields, rcpts)
    if case.body is not None:
        got = text_parts(msg)
        if got[:1] != [case.body.encode()]:
            raise Fail('body: %r' % (got[:1],))
    if b'\r\n\r\n' in data and any(c >= 0x80 for c in data):
        down(path, case, msg)


def down(path, case, msg):
    """msg_downgrade: no 8-bit in any body line, same decoded text."""
    rc, err, _, data = run(path, case.raw, list(case.args) + ['-d'])
    if rc != 0:
        raise Fail('downgrade: exit %d %r' % (rc, err))
    out_lines(data)
    body = data.partition(b'\r\n\r\n')[2]
    for n, line in enumerate(body.split(b'\r\n'), 1):
        if any(c >= 0x80 for c in line) and not line.startswith(
                (b'Content-', b'\t', b' ')):
            raise Fail('downgrade: 8-bit body line %d' % n)
    d = email.message_from_bytes(data, policy=policy.default)
    if text_parts(d) != text_parts(msg):
        raise Fail('downgrade changed the text')


def main():
    if len(sys.argv) != 2:
        sys.exit('usage: oracle.py path/to/msgprep')
    passed = failed = 0
    for case in corpus.generate():
        try:
            judge(sys.argv[1], case)
            passed += 1
        except Fail as e:
            failed += 1
            print('FAIL %s: %s' % (case.name, e), file=sys.stderr)
    print('oracle: %d passed, %d failed' % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
