#!/usr/bin/python3
"""Print the tutorial's multipart/alternative message (shared/seeds: Python's
smtplib/email tutorial) the way PHP mail() or a shell script hands it to
sendmail: the UTF-8 display names and subject as raw 8-bit header text.
postern encodes them (RFC 2047); the tutorial's own output, made with
email.header.Header, is printed on stderr to compare.  Used by `make demo`."""

import sys
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

FROM = ('Python爱好者', 'demo@example.org')
TO = ('管理员', 'admin@example.net')
SUBJECT = '来自SMTP的问候……'

msg = MIMEMultipart('alternative')
msg.attach(MIMEText('hello, send by Python...', 'plain', 'utf-8'))
msg.attach(MIMEText('<html><body><h1>Hello</h1>'
                    '<p>send by <a href="http://www.python.org">Python</a>'
                    '...</p></body></html>', 'html', 'utf-8'))
raw = ('From: %s <%s>\nTo: %s <%s>\nSubject: %s\n' % (FROM + TO + (SUBJECT,))
       + msg.as_string())
sys.stdout.buffer.write(raw.encode('utf-8'))

sys.stderr.write('The tutorial encodes them itself as:\n')
for name, (display, addr) in (('From', FROM), ('To', TO)):
    sys.stderr.write('  %s: %s <%s>\n' % (name, Header(display, 'utf-8').encode(), addr))
sys.stderr.write('  Subject: %s\n' % Header(SUBJECT, 'utf-8').encode())
