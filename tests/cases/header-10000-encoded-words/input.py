# A Subject of 10,000 encoded words on one line of 330,008 octets: it is
# refolded at its white space (RFC 5322 section 2.2.3), two words a line,
# kept as they are, no line over 78 columns; expect/data.py
# checks that the result still decodes to the same text.
import base64
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '../..'))
import casegen  # noqa: E402

HEAD = ['From: Sender <sender@example.org>', 'To: Rcpt <rcpt@example.net>']
TAIL = ['Date: Fri, 27 Nov 2026 00:00:00 +0000', 'Message-ID: <t1@example.org>']


def words():
    return ['=?utf-8?b?%s?=' % base64.b64encode(('Grüße %05d' % i).encode()).decode()
            for i in range(10000)]


def message(subject, folded=False):
    field = 'Subject: ' + subject
    if folded:
        field = casegen.fold(field)
    text = '\n'.join(HEAD + [field] + TAIL + ['', 'Hello.', ''])
    return text.replace('\n', '\r\n') if folded else text


if __name__ == '__main__':
    sys.stdout.write(message(' '.join(words())))
