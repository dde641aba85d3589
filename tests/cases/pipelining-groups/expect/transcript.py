import sys
sys.path.insert(0, '../../..')
import casegen  # noqa: E402

casegen.plain_transcript(['r%03d@example.net' % i for i in range(250)], size=158)
