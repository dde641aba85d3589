# Every recipient once, in command-line order, in pipelined groups of 100.
import sys
sys.path.insert(0, '../../..')
import casegen  # noqa: E402
casegen.plain_transcript(['%05d@x.org' % i for i in range(100000)], size=158)
