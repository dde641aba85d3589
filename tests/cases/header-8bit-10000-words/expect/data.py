import email.header
import sys
sys.path.insert(0, '..')
import input  # noqa: E402  (the case's input.py)

data = input.message(folded=True)
lines = data.split('\r\n')
subject = [x for x in lines if x.startswith('Subject:') or x.startswith(' ')]
assert len(subject[0]) <= len('Subject: ') + 75 and all(len(x) <= 78 for x in subject[1:]), 'folding'
words = ' '.join(subject).split()[1:]
assert len(words) == 10000 and all(len(w) <= 75 for w in words), 'words'
text = ''.join(s.decode(c) for s, c in email.header.decode_header(' '.join(words)))
assert text == input.subject(), 'decoding'
assert all(ord(c) < 128 for c in data), '8-bit left'
sys.stdout.buffer.write(data.encode())
