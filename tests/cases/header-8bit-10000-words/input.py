# A Subject of raw 8-bit UTF-8 text (what PHP mail() sends) that takes
# exactly 10,000 encoded words: B, whole characters per word, each word
# at most 75 characters (RFC 2047 sections 2 and 5(3)), folded at white
# space near 78 columns.  encode() is rfc2047.c's rule; expect/data.py
# checks the result for itself: line lengths, and that it decodes to the
# text that was sent.
import base64
import runpy
import sys

UNIT = 'Grüße Köln 你好世界 Ärger '
EW_MAX = 75
QSAFE = set(b'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/')


def words_of(text, b):
    """rfc2047.c encode_as(): UTF-8 words of one encoding."""
    avail = EW_MAX - len('=?utf-8??b?=')
    out, cur, cost = [], b'', 0
    for ch in text:
        c = ch.encode()
        qc = (1 if c[0] in QSAFE or c == b' ' else 3) if len(c) == 1 else 3 * len(c)
        if (b and 4 * ((len(cur) + len(c) + 2) // 3) > avail) or (not b and cost + qc > avail):
            out.append(cur)
            cur, cost = b'', 0
        cur += c
        cost += qc
    out.append(cur)
    if b:
        return ['=?utf-8?b?%s?=' % base64.b64encode(w).decode() for w in out]
    return ['=?utf-8?q?%s?=' % ''.join('_' if x == 32 else chr(x) if x in QSAFE else '=%02X' % x
                                      for x in w) for w in out]


def encode(text):
    b, q = ' '.join(words_of(text, True)), ' '.join(words_of(text, False))
    return b if len(b) < len(q) else q


def subject():
    """UNIT repeated, cut where the 10,000th B word is full."""
    text = (UNIT * (10000 * 45 // len(UNIT.encode()) + 100)).strip()
    cut = sum(len(w) for w in words_of_chars(text)[:10000])
    text = text[:cut].rstrip()
    assert len(encode(text).split()) == 10000 and encode(text).startswith('=?utf-8?b?')
    return text


def words_of_chars(text):
    """The B words of text as runs of characters (see words_of)."""
    avail = EW_MAX - len('=?utf-8??b?=')
    out, cur = [], ''
    for ch in text:
        if 4 * ((len((cur + ch).encode()) + 2) // 3) > avail:
            out.append(cur)
            cur = ''
        cur += ch
    return out + [cur]


def message(folded=False):
    lib = runpy.run_path('../header-10000-encoded-words/input.py'
                         if not folded else '../../header-10000-encoded-words/input.py')
    return lib['message'](encode(subject()) if folded else subject(), folded)


if __name__ == '__main__':
    sys.stdout.write(message())
