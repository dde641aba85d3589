"""The oracle's corpus, generated at test time: no message files are kept
in the tree.  Each Case is raw input bytes for msgprep plus what to
expect where the default judgement does not apply: an error (exit 65 and
its message), the RFC 5322 recipients where getaddresses is not the
judge, the decoded text body.
"""
import random
from email import encoders
from email.header import Header
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, parseaddr


class Case:
    def __init__(self, name, raw, args=(), error=None, rcpts=None,
                 body=None):
        self.name, self.raw, self.args = name, raw, list(args)
        self.error, self.rcpts, self.body = error, rcpts, body


SUBJECTS = [
    '来自SMTP的问候……', 'Grüße aus Köln', 'Привет, мир!', 'こんにちは世界',
    'Café crème – 5 €', 'Ελληνικά γράμματα', '😀 emoji subject 🎉',
    'Re: [PATCH] fix naïve façade', 'Zażółć gęślą jaźń', 'שלום עולם',
    'مرحبا بالعالم', '안녕하세요 여러분', 'Ünïcödé everywhere: äöü ÄÖÜ ß',
    'Order #123 — shipped ✓', 'Tiếng Việt có dấu', 'हिन्दी विषय पंक्ति',
    'ASCII only subject', 'mixed ASCII and 中文 and more ASCII words',
    '  leading spaces 中', 'trailing spaces 中  ', 'tab\there 中',
    '中' * 40, 'A' * 30 + ' ' + 'ü' * 30 + ' ' + 'B' * 30,
    'Fwd: Fwd: Re: Re: Re: Quarterly report für März und April 2024',
    '=?utf-8?q?already_encoded?= and ü raw',
]
NAMES = ['Python爱好者', '管理员', 'Jörg Müller', 'Ирина Петрова',
         '山田 太郎', 'François Øster', 'Zoë O\'Brien', 'Łukasz Żółw']
BODIES = ['hello, send by Python...', 'Grüße,\nJörg', '你好，世界\n第二行',
          'plain ascii body\nwith two lines', 'Ça va?\n\n-- \nsig']


def tutorial(rnd):
    """The five messages of the tutorial, built as it builds them."""
    def fmt(s):
        name, addr = parseaddr(s)
        return formataddr((Header(name, 'utf-8').encode(), addr))

    def heads(msg, frm, to):
        msg['From'] = fmt('Python爱好者 <%s>' % frm)
        msg['To'] = fmt('管理员 <%s>' % to)
        msg['Subject'] = Header('来自SMTP的问候……', 'utf-8').encode()
        return msg

    png = bytes([0x89]) + b'PNG\r\n\x1a\n' + bytes(
        rnd.randrange(256) for _ in range(3000))
    for k in range(4):
        frm, to = 'py%d@163.com' % k, 'admin%d@qq.com' % k
        m = heads(MIMEText('hello, send by Python...', 'plain', 'utf-8'),
                  frm, to)
        yield 'tutorial plain %d' % k, m
        m = heads(MIMEText('<html><body><h1>Hello</h1><p>send by <a href='
                           '"http://www.python.org">Python</a>...</p>'
                           '</body></html>', 'html', 'utf-8'), frm, to)
        yield 'tutorial html %d' % k, m
        for html in (False, True):
            m = heads(MIMEMultipart(), frm, to)
            if html:
                m.attach(MIMEText('<html><body><h1>Hello</h1><p><img src='
                                  '"cid:0"></p></body></html>', 'html',
                                  'utf-8'))
            else:
                m.attach(MIMEText('send with file...', 'plain', 'utf-8'))
            mime = MIMEBase('image', 'png', filename='test.png')
            mime.add_header('Content-Disposition', 'attachment',
                            filename='test.png')
            mime.add_header('Content-ID', '<0>')
            mime.add_header('X-Attachment-Id', '0')
            mime.set_payload(png)
            encoders.encode_base64(mime)
            m.attach(mime)
            yield 'tutorial %s %d' % ('inline' if html else 'attach', k), m
        m = heads(MIMEMultipart('alternative'), frm, to)
        m.attach(MIMEText('hello', 'plain', 'utf-8'))
        m.attach(MIMEText('<html><body><h1>Hello</h1></body></html>',
                          'html', 'utf-8'))
        yield 'tutorial alternative %d' % k, m


def php(rnd, i, subject):
    """PHP mail(): To and Subject from its arguments joined with LF, the
    additional headers with CRLF, the body with LF; raw UTF-8."""
    name = NAMES[i % len(NAMES)]
    body = BODIES[i % len(BODIES)]
    extra = 'From: %s <www-data@site.example>\r\nX-Mailer: PHP/8.2\r\n' % (
        name)
    if i % 3 == 0:
        extra += 'MIME-Version: 1.0\r\nContent-Type: text/plain; ' \
            'charset=UTF-8\r\n'
    raw = 'To: user%d@example.com\nSubject: %s\n%s\n%s\n' % (
        i, subject, extra, body)
    return Case('php %d' % i, raw.encode(), body=body.replace('\r', '') +
                '\n')


def cron(i):
    cmd = ['run-parts /etc/cron.daily', 'backup.sh --full', 'df -h',
           '/usr/bin/certbot renew', 'echo ü'][i % 5]
    raw = ('From: root (Cron Daemon)\nTo: root\nSubject: Cron <root@host%d>'
           ' %s\nMIME-Version: 1.0\nContent-Type: text/plain; '
           'charset=UTF-8\nContent-Transfer-Encoding: 8bit\n'
           'X-Cron-Env: <SHELL=/bin/sh>\nX-Cron-Env: <HOME=/root>\n\n'
           'output line %d\n' % (i, cmd, i))
    return Case('cron %d' % i, raw.encode())


def mailx(i, subject):
    raw = ('Subject: %s\nTo: <user%d@example.com>\nCc: other@example.net\n'
           'User-Agent: mail (GNU Mailutils 3.15)\nDate: Mon, %d Jan 2024 '
           '10:00:00 +0100\n\nbody %d\n' % (subject, i, 1 + i % 28, i))
    return Case('mailx %d' % i, raw.encode())


def patch(i, rnd):
    name = NAMES[i % len(NAMES)]
    subj = '[PATCH v%d %d/%d] %s' % (1 + i % 3, 1 + i % 5, 5, (
        'net: fix a very long subject line that git folds for us because it'
        ' is long' if i % 2 else 'doc: mention ' + SUBJECTS[i % 6]))
    h = Header(subj, 'utf-8').encode() if i % 4 == 0 else subj
    raw = ('From %040x Mon Sep 17 00:00:00 2001\nFrom: %s <dev%d@example.org>'
           '\nDate: Tue, 2 Jan 2024 12:00:00 +0000\nSubject: %s\n'
           'MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n'
           'Content-Transfer-Encoding: 8bit\n\nCommit message ü.\n\n'
           'Signed-off-by: %s <dev%d@example.org>\n---\n file.c | 2 +-\n\n'
           'diff --git a/file.c b/file.c\n--- a/file.c\n+++ b/file.c\n'
           '@@ -1 +1 @@\n-old\n+new\n.\n-- \n2.39.2\n' % (
               rnd.getrandbits(160), name, i, h, name, i))
    return Case('format-patch %d' % i, raw.encode(), args=['-i'])


ADDRESS_LISTS = [
    'a@x.org', 'A <a@x.org>, B <b@y.org>', '"Doe, John" <j@x.org>, k@y.org',
    'friends: a@x.org, B <b@y.org>;, c@z.org', 'undisclosed-recipients:;',
    'a@x.org (comment), (lead) b@y.org', 'root', 'root, admin (Admin)',
    'Jörg Müller <jm@x.de>', '"山田 太郎" <taro@x.jp>', '张 三 <z@x.cn>',
    '=?utf-8?b?566h55CG5ZGY?= <admin@qq.com>', 'John Q. Public <q@x.org>',
    'a@x.org,,b@y.org', 'A\n <a@x.org>,\n\tB <b@y.org>', 'A <A@X.ORG>, a@x.org',
    'empty:;, a@x.org', 'Ирина <irina@x.ru>, Олег <o@x.ru>',
]


def addresses(i, lst):
    raw = ('To: %s\nCc: cc%d@example.net\nBcc: hidden%d@example.net\n'
           'Subject: list %d\n\nbody\n' % (lst, i, i, i))
    return Case('addresses %d' % i, raw.encode())


def rfc_answers():
    """Where getaddresses is not the RFC 5322 answer, or not SMTP's."""
    # A quoted local part that needs no quotes is the same mailbox
    # without them (RFC 5322 section 3.4.1, RFC 5321 section 4.1.2 says
    # to send the dot-string form); getaddresses keeps the quotes.
    yield Case('rfc quoted plain', b'To: "john"@x.org\n\nb\n',
               rcpts=['john@x.org'])
    # Quotes stay where SMTP needs them (a space).
    yield Case('rfc quoted space', b'To: "john doe"@x.org\n\nb\n',
               rcpts=['"john doe"@x.org'])
    # obs-local-part: quoted words joined by dots (RFC 5322 section 4.4).
    yield Case('rfc obs-local-part', b'To: "a".b."c"@x.org\n\nb\n',
               rcpts=['a.b.c@x.org'])
    # obs-route (section 4.4): the route is ignored, the mailbox stays.
    yield Case('rfc route', b'To: Name <@r1.example,@r2.example:u@x.org>'
               b'\n\nb\n', rcpts=['u@x.org'])
    # CFWS around the dots of obs-domain and obs-local-part: getaddresses
    # keeps the spaces; RFC 5322 section 4.4 says they are not there.
    yield Case('rfc cfws dots', b'To: a . b @ x . org\n\nb\n',
               rcpts=['a.b@x.org'])
    # A domain literal (section 3.4.1): getaddresses returns nothing.
    yield Case('rfc domain literal', b'To: u@[192.0.2.1]\n\nb\n',
               rcpts=['u@[192.0.2.1]'])
    # A comment inside an address is not part of it (section 3.2.2).
    yield Case('rfc comment inside', b'To: a(c)@(d)x.org\n\nb\n',
               rcpts=['a@x.org'])


def malformed(rnd):
    yield Case('no blank line', b'To: a@x.org\nSubject: s\nbody line\n')
    yield Case('line without colon', b'To: a@x.org\nnot a header\n\nb\n')
    yield Case('2 MB header', b'To: a@x.org\nX-Big: ' + b'x' * (2 << 20) +
               b'\n\nb\n', error='the header block exceeds 1 MiB')
    yield Case('2 MB of header lines', b'To: a@x.org\n' +
               b'X-Many: yes\n' * 200000 + b'\nb\n',
               error='the header block exceeds 1 MiB')
    yield Case('invalid UTF-8 subject', b'To: a@x.org\nSubject: caf\xe9 '
               b'cr\xe8me \xff\xfe\n\nb\n')
    yield Case('invalid UTF-8 body', b'To: a@x.org\nSubject: s\n\n'
               b'caf\xe9\n')
    yield Case('half a UTF-8 character', b'To: a@x.org\nSubject: x\xe4\xb8'
               b'\n\nb\n')
    yield Case('1 MB body line', b'To: a@x.org\nSubject: s\n\n' +
               b'y' * (1 << 20) + b'\n', body='y' * (1 << 20) + '\n')
    yield Case('1 MB 8-bit body line', b'To: a@x.org\nSubject: s\n\n' +
               'ü'.encode() * (1 << 19) + b'\n',
               body='ü' * (1 << 19) + '\n')
    yield Case('NUL in header', b'To: a@x.org\nX: a\0b\n\nb\n',
               error='NUL byte in the message on line 2')
    yield Case('NUL in body', b'To: a@x.org\n\nline\n\0\n',
               error='NUL byte in the message on line 4')
    yield Case('unparsable recipient', b'To: <a@x.org\n\nb\n',
               error="To: cannot parse address '<a@x.org'")
    yield Case('unfoldable Message-ID', b'To: a@x.org\nMessage-ID: <' +
               b'x' * 1200 + b'@y>\n\nb\n',
               error='header field Message-ID cannot be folded')
    yield Case('long unstructured word', b'To: a@x.org\nSubject: ' +
               b'z' * 3000 + b'\n\nb\n')
    yield Case('long structured, foldable', b'To: a@x.org\nReferences: ' +
               b' '.join(b'<%d@x.org>' % k for k in range(200)) + b'\n\nb\n')
    yield Case('bare CR everywhere', b'To: a@x.org\rSubject: s\r\rb\rc\r')
    yield Case('empty input', b'')
    yield Case('headers only', b'To: a@x.org\nSubject: s\n')
    yield Case('mbox From_ and lone dot', b'From x@y Mon Jan 1 2024\n'
               b'To: a@x.org\n\nkept\n.\ndropped\n', body='kept\n')
    yield Case('Resent block', b'Resent-To: new@x.org\nResent-Date: Mon, '
               b'1 Jan 2024 00:00:00 +0000\nResent-Date: Sun, 31 Dec 2023 '
               b'00:00:00 +0000\nResent-To: old@x.org\nTo: orig@x.org\n\nb\n')
    yield Case('multipart with 8-bit part and long line', (
        'To: a@x.org\nMIME-Version: 1.0\nContent-Type: multipart/mixed; '
        'boundary="=-b"\n\npreamble\n--=-b\nContent-Type: text/plain; '
        'charset=utf-8\n\nGrüße ü\n--=-b\nContent-Type: text/plain\n\n' +
        'long ' * 400 + '\n--=-b--\nepilogue\n').encode())


def generate():
    rnd = random.Random(3)
    for name, m in tutorial(rnd):
        yield Case(name, m.as_string().encode())
    for i in range(60):
        yield php(rnd, i, SUBJECTS[i % len(SUBJECTS)])
    for i in range(20):
        yield cron(i)
    for i in range(25):
        yield mailx(i, SUBJECTS[(i * 7) % len(SUBJECTS)])
    for i in range(20):
        yield patch(i, rnd)
    for i, lst in enumerate(ADDRESS_LISTS * 3):
        yield addresses(i, lst)
    yield from rfc_answers()
    yield from malformed(rnd)
