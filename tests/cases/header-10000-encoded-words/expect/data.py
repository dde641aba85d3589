import email.header
import sys
sys.path.insert(0, '..')
import input  # noqa: E402  (the case's input.py)

data = input.message(' '.join(input.words()), folded=True)
lines = data.split('\r\n')
subject = [x for x in lines if x.startswith('Subject:') or x.startswith(' ')]
assert all(len(x) <= 78 for x in subject[1:]), 'folding'
assert sum(len(x.split()) for x in subject) == 10001, 'words'
text = ''.join(s.decode(c) for s, c in email.header.decode_header(
    ''.join(subject)[len('Subject:'):]))
assert text == ''.join('Grüße %05d' % i for i in range(10000)), 'decoding'
sys.stdout.buffer.write(data.encode())
