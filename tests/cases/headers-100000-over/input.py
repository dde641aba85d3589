# 100,000 header fields, one byte over the 1 MiB limit of the header
# block (each line counts with its CRLF, whatever ended it).  The other
# case, headers-100000-at-limit, has exactly 1 MiB and is delivered.
import sys

LIMIT = 1024 * 1024


def fields(total):
    """From, To, Subject, Date, Message-ID, then 100,000 short fields
    Xnnnn (base 36), their values padded so that the lines with CRLF add
    up to total bytes."""
    digits = '0123456789abcdefghijklmnopqrstuvwxyz'
    head = ['From: Sender <sender@example.org>', 'To: Rcpt <rcpt@example.net>',
            'Subject: test', 'Date: Fri, 27 Nov 2026 00:00:00 +0000',
            'Message-ID: <t1@example.org>']
    names = ['X' + digits[i // 36 ** 3] + digits[i // 36 ** 2 % 36] +
             digits[i // 36 % 36] + digits[i % 36] for i in range(100000)]
    left = total - sum(len(f) + 2 for f in head) - sum(len(n) + 3 for n in names)
    per, more = divmod(left, len(names))
    extra = [n + ': ' + 'v' * (per - 1 + (i < more)) for i, n in enumerate(names)]
    assert sum(len(f) + 2 for f in head + extra) == total
    return head + extra


def message(total):
    return '\n'.join(fields(total) + ['', 'Hello.', ''])


if __name__ == '__main__':
    sys.stdout.write(message(LIMIT + 1))
