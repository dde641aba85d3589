# One header field of 10 MB on one line: the header block is refused at
# the 1 MiB limit, before the rest is read.
import sys
out = sys.stdout.buffer
out.write(b'From: Sender <sender@example.org>\nSubject: ')
out.write(b'x' * (10 * 1024 * 1024))
out.write(b'\n\nHello.\n')
