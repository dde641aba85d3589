# MIME nested 1,000 levels deep, 8-bit text at the top (a leaf postern
# can re-encode) and at the bottom, past the 32 levels postern follows,
# for a server without 8BITMIME: refused, as Postfix does past its limit;
# mime-nested-1000-7bit has nothing 8-bit down there and is delivered.
import sys

DEPTH = 1000


def message(bottom='Grüße unten'):
    out = ['From: Sender <sender@example.org>', 'To: Rcpt <rcpt@example.net>',
           'Subject: nested', 'Date: Fri, 27 Nov 2026 00:00:00 +0000',
           'Message-ID: <t1@example.org>', 'MIME-Version: 1.0',
           'Content-Type: multipart/mixed; boundary="b0"', '',
           '--b0', 'Content-Type: text/plain; charset=utf-8',
           'Content-Transfer-Encoding: 8bit', '', 'Grüße oben', '']
    for level in range(1, DEPTH):
        out += ['--b%d' % (level - 1),
                'Content-Type: multipart/mixed; boundary="b%d"' % level, '']
    out += ['--b%d' % (DEPTH - 1), 'Content-Type: text/plain; charset=utf-8',
            'Content-Transfer-Encoding: 8bit', '', bottom, '']
    for level in range(DEPTH - 1, -1, -1):
        out.append('--b%d--' % level)
    return '\n'.join(out) + '\n'


if __name__ == '__main__':
    sys.stdout.write(message())
