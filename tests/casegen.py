"""Helpers for the generated files of the integration cases (NAME.py,
tests/README.md).  A generator imports this with
    sys.path.insert(0, '<path to tests/>'); import casegen
"""

import subprocess
import sys


def data_size():
    """The size of the message that expect/data.py (run from expect/) makes."""
    return len(subprocess.run([sys.executable, '-B', 'data.py'], check=True,
                              stdout=subprocess.PIPE).stdout)


def plain_transcript(rcpts=('rcpt@example.net',), size=None):
    """The transcript of one pipelined delivery to a server with
    PIPELINING: EHLO, MAIL, the RCPTs, DATA, the message, QUIT."""
    print('* connect')
    print('EHLO client.example')
    print('MAIL FROM:<sender@example.org>')
    for r in rcpts:
        print(f'RCPT TO:<{r}>')
    print('DATA')
    print(f'* data {data_size() if size is None else size}')
    print('QUIT')
    print('* close')


def fold(s):
    """msg.c fold(): break before white space where a line would pass 78
    columns, never right after the field name; folds are LF here."""
    out, col, first, i, n = [], 0, True, 0, len(s)
    while i < n:
        j = i
        while j < n and s[j] in ' \t':
            j += 1
        k = j
        while k < n and s[k] not in ' \t':
            k += 1
        if not first and k > j and col + (k - i) > 78:
            out.append('\n')
            col = 0
        if k > j and i > 0:
            first = False
        out.append(s[i:k])
        col += k - i
        i = k
    return ''.join(out)
