# The command line's recipient first, then the headers' (Postfix), each
# exactly once: 100,000 RCPT lines.
import sys
sys.path.insert(0, '..')
sys.path.insert(0, '../../..')
import casegen  # noqa: E402
import input  # noqa: E402  (the case's input.py)

FIRST = '0ab3@x.io'
casegen.plain_transcript([FIRST] + [input.addr(i) for i in range(100000)
                                    if input.addr(i) != FIRST])
