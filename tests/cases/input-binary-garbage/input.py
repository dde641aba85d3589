# 1 MB of random bytes (a fixed seed): binary garbage on stdin.  The
# first NUL byte refuses it, naming its line; nothing is sent.
import random
import sys

sys.stdout.buffer.write(random.Random(7).randbytes(1024 * 1024))
