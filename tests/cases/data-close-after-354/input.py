# 4 MB of body: far more than one write, so postern is still writing when
# the server, which closed right after its 354, answers with a reset.
import sys
sys.stdout.write('From: Sender <sender@example.org>\nTo: Rcpt <rcpt@example.net>\n'
                 'Subject: test\nDate: Fri, 27 Nov 2026 00:00:00 +0000\n'
                 'Message-ID: <t1@example.org>\n\n')
line = 'x' * 75 + '\n'
sys.stdout.write(line * (4 * 1024 * 1024 // len(line)))
