#!/usr/bin/python3
"""Print the tutorial's multipart/alternative message (shared/seeds: Python's
smtplib/email tutorial): a UTF-8 display name and subject encoded with
email.header.Header, a plain and an HTML part.  Used by `make demo`."""

import sys
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, parseaddr


def format_addr(s):
    name, addr = parseaddr(s)
    return formataddr((Header(name, 'utf-8').encode(), addr))


msg = MIMEMultipart('alternative')
msg['From'] = format_addr('Python爱好者 <demo@example.org>')
msg['To'] = format_addr('管理员 <admin@example.net>')
msg['Subject'] = Header('来自SMTP的问候……', 'utf-8').encode()
msg.attach(MIMEText('hello, send by Python...', 'plain', 'utf-8'))
msg.attach(MIMEText('<html><body><h1>Hello</h1>'
                    '<p>send by <a href="http://www.python.org">Python</a>'
                    '...</p></body></html>', 'html', 'utf-8'))
sys.stdout.write(msg.as_string())
