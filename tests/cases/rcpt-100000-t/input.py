# -t with 100,000 distinct recipients in one To field, 80 to a line (a
# header block just under the 1 MiB limit), plus duplicates: in Cc, in Bcc
# with the domain in capitals (domains compare without case), and one on
# the command line (cmd).  expect/*.py import this file.
import sys

DIGITS = '0123456789abcdefghijklmnopqrstuvwxyz'


def addr(i):
    """The i-th address: 4 base-36 digits @x.io."""
    s = ''
    for _ in range(4):
        i, r = divmod(i, 36)
        s = DIGITS[r] + s
    return s + '@x.io'


def fields():
    addrs = [addr(i) for i in range(100000)]
    lines = [','.join(addrs[k:k + 80]) for k in range(0, len(addrs), 80)]
    return ['From: Sender <sender@example.org>',
            'To: ' + ',\n '.join(lines),
            'Cc: ' + ', '.join(addrs[:3] + addrs[-3:]),
            'Bcc: ' + ', '.join(a.replace('@x.io', '@X.IO') for a in addrs[1000:1003]),
            'Subject: test',
            'Date: Fri, 27 Nov 2026 00:00:00 +0000',
            'Message-ID: <t1@example.org>']


def data():
    """What the server gets: Bcc removed, CRLF."""
    text = '\n'.join([f for f in fields() if not f.startswith('Bcc:')] + ['', 'Hello.', ''])
    return text.replace('\n', '\r\n').encode()


if __name__ == '__main__':
    sys.stdout.write('\n'.join(fields() + ['', 'Hello.', '']))
