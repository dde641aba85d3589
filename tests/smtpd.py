#!/usr/bin/python3
"""The scripted SMTP server of postern's integration tests.

Usage: /usr/bin/python3 tests/smtpd.py --script FILE --certs DIR --out DIR

Binds 127.0.0.1 on a free port, prints the port number and a newline on
standard output, then serves connections one at a time until SIGTERM.  What
it records (DIR/transcript, DIR/data.N) and how the script steers it are
specified in tests/README.md ("The transcript", "Server script",
"Server behaviour"); this file implements exactly that.

Python 3 standard library only.  An exception inside a connection that is not
an I/O or TLS error is a bug of this server: it is printed on standard error
(which makes the test runner fail the case) and the server goes on with the
next connection.
"""

import argparse
import base64
import binascii
import hashlib
import hmac
import os
import select
import signal
import socket
import ssl
import string
import sys
import time
import traceback

MAX_LINE = 4096      # a command line longer than this without LF gets a 500
STOP_GRACE = 5.0     # seconds a connection may go on after SIGTERM
POLL = 0.1           # seconds between checks for SIGTERM while waiting
SEND_TIMEOUT = 20.0  # seconds a reply may wait for a client that does not read
NO_CRLF = ' \\x00(no CRLF)'  # transcript mark of a line not ended by CRLF

GREETING = '220 localhost ESMTP postern-test'
AUTH_OK = '235 2.7.0 Authentication successful'
AUTH_BAD = '535 5.7.8 Authentication credentials invalid'
LOGIN_USER = '334 VXNlcm5hbWU6'  # base64 "Username:"
LOGIN_PASS = '334 UGFzc3dvcmQ6'  # base64 "Password:"


class ScriptError(Exception):
    """A server script that cannot be used; the message names file:line."""


class Closed(Exception):
    """The connection is over: the client left, a reply closed it, or time ran out."""


class Stall(Exception):
    """A `stall` directive fired: stop answering, record until the client leaves."""


# ---------------------------------------------------------------- the script

def unescape(text, where):
    """BYTES of `raw` and `inject-starttls`: \\r \\n \\t \\\\ and \\xNN escapes."""
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c != '\\':
            out += c.encode('utf-8')
            i += 1
            continue
        nxt = text[i + 1:i + 2]
        simple = {'r': b'\r', 'n': b'\n', 't': b'\t', '\\': b'\\'}
        if nxt in simple:
            out += simple[nxt]
            i += 2
        elif nxt == 'x' and all(h in string.hexdigits for h in text[i + 2:i + 4]) \
                and len(text) >= i + 4:
            out.append(int(text[i + 2:i + 4], 16))
            i += 4
        else:
            raise ScriptError(f'{where}: bad escape {text[i:i + 2]!r}')
    return bytes(out)


def reply_line(code, text, where):
    """`CODE TEXT` of `reply` and `greeting`, checked to start with a 3-digit code."""
    if len(code) != 3 or not code.isdigit():
        raise ScriptError(f'{where}: reply code must be 3 digits, not {code!r}')
    return f'{code} {text}' if text else code


def parse_target(word, where):
    """VERB[#K] -> (VERB upper-cased, K or None)."""
    verb, sep, k = word.partition('#')
    if not verb:
        raise ScriptError(f'{where}: missing VERB')
    if not sep:
        return verb.upper(), None
    if not k.isdigit() or int(k) < 1:
        raise ScriptError(f'{where}: bad occurrence {word!r}')
    return verb.upper(), int(k)


class Action:
    """What to do instead of the default reply: kind is reply, raw, drop, stall, cut
    or close."""

    def __init__(self, kind, data=b''):
        self.kind = kind
        self.data = data


class Config:
    """The effective script of one connection."""

    def __init__(self):
        self.tls = 'none'
        self.cert = 'good'
        self.caps = []
        self.auth = []           # mechanisms offered, as written
        self.users = {}          # name bytes -> password bytes
        self.auth_tls_only = False
        self.scram_bad_signature = False
        self.client_cert = False
        self.tls_max = None      # e.g. '1.2'
        self.tickets = 0         # TLS 1.3 session tickets sent after a handshake
        self.no_resume = False   # a context of its own: earlier sessions unknown
        self.greeting = GREETING
        self.inject = b''
        self.actions = {}        # (VERB, K or None) -> Action

    def action(self, verb, k):
        """The directive for the K-th VERB: a `#K` one first, else an every-time one."""
        return self.actions.get((verb, k)) or self.actions.get((verb, None))


def parse_directive(name, rest, where, certs):
    """Check one directive; return a function that applies it to a Config."""
    words = rest.split()

    def want(n_min, n_max=None):
        if len(words) < n_min or (n_max is not None and len(words) > n_max):
            raise ScriptError(f'{where}: wrong number of arguments to {name}')

    if name == 'tls':
        want(1, 1)
        if words[0] not in ('none', 'starttls', 'implicit'):
            raise ScriptError(f'{where}: tls none|starttls|implicit')
        return lambda c: setattr(c, 'tls', words[0])
    if name == 'cert':
        want(1, 1)
        for ext in ('pem', 'key'):
            if not os.path.exists(os.path.join(certs, f'{words[0]}.{ext}')):
                raise ScriptError(f'{where}: no {words[0]}.{ext} in {certs}')
        return lambda c: setattr(c, 'cert', words[0])
    if name == 'cap':
        want(1)
        return lambda c: c.caps.append(rest)
    if name == 'auth':
        want(1)
        return lambda c: setattr(c, 'auth', words)
    if name == 'user':
        want(2)
        user, password = rest.split(None, 1)
        return lambda c: c.users.__setitem__(user.encode(), password.encode())
    if name == 'auth-tls-only':
        want(0, 0)
        return lambda c: setattr(c, 'auth_tls_only', True)
    if name == 'scram-bad-signature':
        want(0, 0)
        return lambda c: setattr(c, 'scram_bad_signature', True)
    if name == 'client-cert':
        want(0, 0)
        return lambda c: setattr(c, 'client_cert', True)
    if name == 'tls-max':
        want(1, 1)
        if words[0] not in ('1.2', '1.3'):
            raise ScriptError(f'{where}: tls-max 1.2|1.3')
        return lambda c: setattr(c, 'tls_max', words[0])
    if name == 'tls-tickets':
        want(1, 1)
        if not words[0].isdigit() or int(words[0]) > 10:
            raise ScriptError(f'{where}: tls-tickets 0..10')
        return lambda c: setattr(c, 'tickets', int(words[0]))
    if name == 'tls-no-resume':
        want(0, 0)
        return lambda c: setattr(c, 'no_resume', True)
    if name == 'greeting':
        want(1)
        line = reply_line(words[0], rest[len(words[0]):].strip(), where)
        return lambda c: setattr(c, 'greeting', line)
    if name == 'inject-starttls':
        want(1)
        data = unescape(rest, where)
        return lambda c: setattr(c, 'inject', data)
    if name in ('reply', 'raw', 'drop', 'stall', 'cut', 'close'):
        bare = name in ('drop', 'stall', 'cut', 'close')
        want(1 if bare else 2, 1 if bare else None)
        key = parse_target(words[0], where)
        tail = rest[len(words[0]):].strip()
        if name == 'reply':
            code = tail.split()[0]
            action = Action('reply', reply_line(code, tail[len(code):].strip(), where)
                            .encode('utf-8') + b'\r\n')
        elif name == 'raw':
            action = Action('raw', unescape(tail, where))
        else:
            action = Action(name)
        return lambda c: c.actions.__setitem__(key, action)
    raise ScriptError(f'{where}: unknown directive {name!r}')


def parse_script(path, certs):
    """Read a script: a list of (connection number or None, apply function)."""
    directives = []
    with open(path, encoding='utf-8') as f:
        for lineno, line in enumerate(f, 1):
            where = f'{path}:{lineno}'
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            conn = None
            if line.startswith('@'):
                prefix, _, line = line.partition(' ')
                if not prefix[1:].isdigit() or int(prefix[1:]) < 1:
                    raise ScriptError(f'{where}: bad connection prefix {prefix!r}')
                conn = int(prefix[1:])
                line = line.strip()
            name, _, rest = line.partition(' ')
            directives.append((conn, parse_directive(name, rest.strip(), where, certs)))
    return directives


# ---------------------------------------------------------------- recording

def escape(raw):
    """A received line for the transcript: bytes outside 0x20-0x7e as \\xNN."""
    return ''.join(chr(b) if 0x20 <= b < 0x7f else f'\\x{b:02x}' for b in raw)


class Output:
    """The --out directory: the transcript (flushed per line) and data.N files."""

    def __init__(self, outdir):
        os.makedirs(outdir, exist_ok=True)
        self.dir = outdir
        self.transcript = open(os.path.join(outdir, 'transcript'), 'w',
                               encoding='ascii', newline='\n')
        self.messages = 0

    def event(self, text):
        self.transcript.write(text + '\n')
        self.transcript.flush()

    def line(self, raw, crlf):
        self.event(escape(raw) + ('' if crlf else NO_CRLF))

    def message(self, data):
        """Store a complete message as data.N, record `* data SIZE`, return N."""
        self.messages += 1
        with open(os.path.join(self.dir, f'data.{self.messages}'), 'wb') as f:
            f.write(data)
        self.event(f'* data {len(data)}')
        return self.messages

    def close(self):
        self.transcript.close()


# ---------------------------------------------------------------- one connection

class Session:
    """One SMTP connection, from `* connect` to `* close`."""

    def __init__(self, server, sock, config):
        self.server = server
        self.sock = sock
        self.cfg = config
        self.out = server.out
        self.buf = bytearray()   # received plaintext not yet consumed
        self.skipping = False    # discarding the rest of an over-long line
        self.tls = None          # ssl.SSLObject once TLS is on
        self.incoming = self.outgoing = None
        self.counts = {}         # VERB -> occurrences on this connection
        self.in_data = False
        self.reset_session()

    def reset_session(self):
        """The state a new connection, or a completed STARTTLS, starts from."""
        self.greeted = False
        self.authenticated = False
        self.auth_step = None    # next step of an AUTH exchange, or None
        self.reset_transaction()

    def reset_transaction(self):
        self.mail = False
        self.rcpts = 0           # recipients accepted with a 2xx
        self.chunks = None       # BDAT bytes of the current message

    # -- the main loop

    def run(self):
        self.out.event('* connect')
        try:
            try:
                if self.cfg.tls == 'implicit' and not self.start_tls():
                    return
                self.answer('GREETING', [self.cfg.greeting])
                while True:
                    if self.in_data:
                        self.receive_data()
                        continue
                    got = self.read_line()
                    if got is None:
                        return
                    line, ending = got
                    self.out.line(line, ending == 'crlf')
                    if ending == 'eof':
                        return
                    if ending == 'long':
                        self.auth_step = None
                        self.send(b'500 5.5.2 Error: line too long\r\n')
                    elif self.auth_step:
                        self.auth_response(line)
                    else:
                        self.command(line)
            except Stall:
                self.swallow()
        except Closed:
            pass
        except OSError:
            pass  # the client went away or broke TLS (ssl.SSLError is an OSError)
        except Exception:  # a bug here: show it, keep serving
            traceback.print_exc()
            sys.stderr.flush()
        finally:
            try:
                self.sock.close()
            finally:
                self.out.event('* close')

    def swallow(self):
        """After `stall`: record every line until the client closes, answer none."""
        while True:
            got = self.read_line()
            if got is None:
                return
            self.out.line(got[0], got[1] == 'crlf')
            if got[1] == 'eof':
                return

    # -- input

    def recv_raw(self):
        """Bytes from the socket (b'' at EOF); waits, but not past the SIGTERM grace."""
        while True:
            stop = self.server.stop_at
            if stop is not None and time.monotonic() > stop + STOP_GRACE:
                raise Closed
            ready, _, _ = select.select([self.sock], [], [], POLL)
            if ready:
                try:
                    return self.sock.recv(65536)
                except ConnectionResetError:
                    return b''

    def fill(self):
        """Append more received plaintext to self.buf; False at EOF."""
        if self.tls is None:
            data = self.recv_raw()
        else:
            while True:
                try:
                    data = self.tls.read(65536)
                    break
                except ssl.SSLWantReadError:
                    raw = self.recv_raw()
                    if not raw:
                        return False
                    self.incoming.write(raw)
                except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                    return False
        if not data:
            return False
        self.buf += data
        return True

    def take_line(self, at_eof=False):
        """The next line from self.buf without reading: (bytes, ending) or None.

        ending is 'crlf', 'lf' (bare LF), 'long' (MAX_LINE bytes without LF;
        the rest of that line is then discarded) or, with at_eof, 'eof' for
        the unterminated rest of the buffer.
        """
        buf = self.buf
        if self.skipping:
            i = buf.find(b'\n')
            if i < 0:
                buf.clear()
                return None
            del buf[:i + 1]
            self.skipping = False
        i = buf.find(b'\n', 0, MAX_LINE + 1)
        if i >= 0:
            line = bytes(buf[:i])
            del buf[:i + 1]
            if line.endswith(b'\r'):
                return line[:-1], 'crlf'
            return line, 'lf'
        if len(buf) > MAX_LINE:
            line = bytes(buf[:MAX_LINE])
            del buf[:MAX_LINE]
            self.skipping = True
            return line, 'long'
        if at_eof and buf:
            line = bytes(buf)
            buf.clear()
            return line, 'eof'
        return None

    def read_line(self):
        """The next line (see take_line), reading as needed; None at a clean EOF."""
        while True:
            got = self.take_line()
            if got:
                return got
            if not self.fill():
                return self.take_line(at_eof=True)

    def read_exact(self, size):
        """Exactly size bytes (a BDAT chunk); Closed if the client leaves first."""
        while len(self.buf) < size:
            if not self.fill():
                raise Closed
        chunk = bytes(self.buf[:size])
        del self.buf[:size]
        return chunk

    def receive_data(self):
        """Read a DATA body up to CRLF.CRLF, store it, answer the `.`."""
        body = bytearray(b'\r\n')  # the CRLF that ended the DATA command
        body += self.buf
        self.buf.clear()
        scan = 0
        while True:
            end = body.find(b'\r\n.\r\n', scan)
            if end >= 0:
                break
            scan = max(0, len(body) - 4)
            if not self.fill():
                raise Closed  # no final `.`: no message
            body += self.buf
            self.buf.clear()
        self.buf += body[end + 5:]
        self.in_data = False
        self.reset_transaction()
        n = self.out.message(bytes(body[2:end + 2]))
        self.answer('.', [f'250 2.0.0 Ok: queued as TEST{n}'])

    # -- output

    def send(self, data):
        if self.tls is None:
            self.sock.sendall(data)
        else:
            self.tls.write(data)
            self.flush_tls()

    def send_cut(self, data):
        """`cut`: the first half of what would go on the wire (with TLS, of
        the record that carries data), then the caller closes: no close_notify."""
        if self.tls is not None:
            self.tls.write(data)
            data = self.outgoing.read()
        self.sock.sendall(data[:len(data) // 2])

    def flush_tls(self):
        pending = self.outgoing.read()
        if pending:
            self.sock.sendall(pending)

    def shutdown_tls(self):
        """Send a TLS close_notify before a close of ours (QUIT, 421; not `drop`)."""
        if self.tls is None:
            return
        try:
            self.tls.unwrap()
        except ssl.SSLWantReadError:
            pass  # the client's close_notify is not awaited
        self.flush_tls()

    def answer(self, verb, lines, extra=b''):
        """Reply to the next VERB: its directive if any, else the default lines.

        extra is sent in the same write.  Returns the 3-character code actually
        sent, which decides the effect of the reply.  Raises Closed for `drop`, `close`
        and after any 421, Stall for `stall`.
        """
        k = self.counts[verb] = self.counts.get(verb, 0) + 1
        action = self.cfg.action(verb, k)
        if action is None:
            data = ''.join(line + '\r\n' for line in lines).encode('utf-8')
        elif action.kind == 'drop':
            raise Closed
        elif action.kind == 'stall':
            raise Stall
        elif action.kind == 'cut':
            self.send_cut(''.join(line + '\r\n' for line in lines).encode('utf-8'))
            raise Closed
        elif action.kind == 'close':
            self.send(''.join(line + '\r\n' for line in lines).encode('utf-8') + extra)
            raise Closed
        else:
            data = action.data
        self.send(data + extra)
        code = data[:3].decode('latin-1')
        if code == '421':
            self.shutdown_tls()
            raise Closed
        return code

    # -- commands

    def command(self, line):
        word, _, arg = line.partition(b' ')
        verb = word.decode('latin-1').upper()
        if not verb:
            self.send(b'500 5.5.2 Error: bad syntax\r\n')
            return
        handler = self.COMMANDS.get(verb)
        if handler is None:
            self.answer(verb, ['502 5.5.2 Error: command not recognized'])
        else:
            handler(self, verb, arg)

    def cmd_helo(self, verb, arg):
        if self.answer(verb, ['250 localhost']).startswith('2'):
            self.greeted = True
            self.reset_transaction()

    def cmd_ehlo(self, verb, arg):
        caps = list(self.cfg.caps)
        if self.cfg.tls == 'starttls' and self.tls is None:
            caps.append('STARTTLS')
        if self.auth_offered():
            caps.append('AUTH ' + ' '.join(self.cfg.auth))
        lines = ['localhost'] + caps
        lines = ['250-' + x for x in lines[:-1]] + ['250 ' + lines[-1]]
        if self.answer(verb, lines).startswith('2'):
            self.greeted = True
            self.reset_transaction()

    def cmd_mail(self, verb, arg):
        if not self.greeted:
            default = '503 5.5.1 Error: send HELO/EHLO first'
        elif self.mail:
            default = '503 5.5.1 Error: nested MAIL command'
        else:
            default = '250 2.1.0 Ok'
        if self.answer(verb, [default]).startswith('2'):
            self.reset_transaction()
            self.mail = True

    def cmd_rcpt(self, verb, arg):
        default = '250 2.1.5 Ok' if self.mail else '503 5.5.1 Error: need MAIL command'
        if self.answer(verb, [default]).startswith('2'):
            self.rcpts += 1

    def cmd_data(self, verb, arg):
        if not self.mail:
            default = '503 5.5.1 Error: need MAIL command'
        elif self.chunks is not None:
            default = '503 5.5.1 Error: BDAT in progress'
        elif not self.rcpts:
            default = '554 5.5.1 Error: no valid recipients'
        else:
            default = '354 End data with <CR><LF>.<CR><LF>'
        if self.answer(verb, [default]) == '354':
            self.in_data = True

    def cmd_bdat(self, verb, arg):
        words = arg.split()
        if (len(words) not in (1, 2) or not words[0].isdigit()
                or (len(words) == 2 and words[1].upper() != b'LAST')):
            self.answer(verb, ['501 5.5.4 Syntax: BDAT count [LAST]'])
            return
        size = int(words[0])
        chunk = self.read_exact(size)
        if not self.mail:
            default = '503 5.5.1 Error: need MAIL command'
        elif not self.rcpts:
            default = '554 5.5.1 Error: no valid recipients'
        else:
            if self.chunks is None:
                self.chunks = bytearray()
            self.chunks += chunk
            if len(words) == 2:
                data = bytes(self.chunks)
                self.reset_transaction()
                default = f'250 2.0.0 Ok: queued as TEST{self.out.message(data)}'
            else:
                default = f'250 2.0.0 Ok: {size} octets received'
        self.answer(verb, [default])

    def cmd_rset(self, verb, arg):
        if self.answer(verb, ['250 2.0.0 Ok']).startswith('2'):
            self.reset_transaction()

    def cmd_noop(self, verb, arg):
        self.answer(verb, ['250 2.0.0 Ok'])

    def cmd_vrfy(self, verb, arg):
        self.answer(verb, ['252 2.0.0 Cannot VRFY user'])

    def cmd_quit(self, verb, arg):
        self.answer(verb, ['221 2.0.0 Bye'])
        self.shutdown_tls()
        raise Closed

    def cmd_starttls(self, verb, arg):
        if self.tls is not None:
            default = '503 5.5.1 Error: TLS already active'
        elif self.cfg.tls != 'starttls':
            default = '502 5.5.2 Error: command not recognized'
        else:
            default = '220 2.0.0 Ready to start TLS'
        if self.answer(verb, [default], extra=self.cfg.inject) != '220' or self.tls:
            return
        # Plaintext the client sent after STARTTLS is recorded, then dropped:
        # it must never be taken as a command (RFC 3207 section 5).
        while True:
            got = self.take_line(at_eof=True)
            if got is None:
                break
            self.out.line(got[0], got[1] == 'crlf')
        self.skipping = False
        if not self.start_tls():
            raise Closed
        self.reset_session()

    def start_tls(self):
        """Run the server side of a TLS handshake; record `* tls` on success."""
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = self.server.tls_context(self.cfg, self.server.connections).wrap_bio(
            self.incoming, self.outgoing, server_side=True)
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.flush_tls()
                raw = self.recv_raw()
                if not raw:
                    return False
                self.incoming.write(raw)
            except ssl.SSLError:
                try:
                    self.flush_tls()  # our alert, if any
                except OSError:
                    pass
                return False
        self.flush_tls()
        self.out.event('* tls resumed' if self.tls.session_reused else '* tls')
        peer = self.tls.getpeercert()
        if peer:
            cn = [v for rdn in peer.get('subject', ()) for k, v in rdn if k == 'commonName']
            self.out.event('* client-cert ' + (cn[0] if cn else '?'))
        return True

    # -- AUTH (RFC 4954)

    def auth_offered(self):
        return bool(self.cfg.auth) and (self.tls is not None or not self.cfg.auth_tls_only)

    def cmd_auth(self, verb, arg):
        words = arg.split()
        mech = words[0].decode('latin-1').upper() if words else ''
        step = None
        if not self.greeted:
            default = '503 5.5.1 Error: send EHLO first'
        elif not self.cfg.auth:
            default = '503 5.5.1 Error: authentication not enabled'
        elif not self.auth_offered():
            default = '538 5.7.11 Encryption required for requested authentication mechanism'
        elif self.authenticated:
            default = '503 5.5.1 Error: already authenticated'
        elif self.mail:
            default = '503 5.5.1 Error: MAIL transaction in progress'
        elif len(words) not in (1, 2):
            default = '501 5.5.4 Syntax: AUTH mechanism [initial-response]'
        elif (mech not in self.MECHANISMS
              or mech not in [m.upper() for m in self.cfg.auth]):
            default = '504 5.5.4 Unrecognized authentication type'
        elif len(words) == 1:
            default, step = self.MECHANISMS[mech](self, None)
        else:
            initial = b'' if words[1] == b'=' else self.decode(words[1])
            if initial is None:
                default = '501 5.5.2 Cannot decode response'
            else:
                default, step = self.MECHANISMS[mech](self, initial)
        self.auth_reply(verb, default, step)

    def auth_response(self, line):
        """A line sent in answer to a 334 (VERB `AUTH-RESPONSE`)."""
        step, self.auth_step = self.auth_step, None
        if line == b'*':
            default, step = '501 5.7.0 Authentication cancelled', None
        else:
            response = self.decode(line)
            if response is None:
                default, step = '501 5.5.2 Cannot decode response', None
            else:
                default, step = step(response)
        self.auth_reply('AUTH-RESPONSE', default, step)

    def auth_reply(self, verb, default, step):
        """Answer an AUTH step.  The code sent decides: 334 goes on (with the
        mechanism's next step, or, where the default had ended the exchange,
        with a step that refuses), 235 authenticates, anything else ends it."""
        code = self.answer(verb, [default])
        if code == '334':
            self.auth_step = step if default.startswith('334') else (lambda _: (AUTH_BAD, None))
        elif code == '235':
            self.authenticated = True

    @staticmethod
    def decode(b64):
        try:
            return base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            return None

    def check(self, user, password):
        return self.cfg.users.get(user) == password

    # Each mechanism takes the initial response (None: there was none)
    # and returns (reply, next step or None).

    def plain(self, response):
        if response is None:
            return '334 ', self.plain
        parts = response.split(b'\0')
        ok = (len(parts) == 3 and parts[0] in (b'', parts[1])
              and self.check(parts[1], parts[2]))
        return (AUTH_OK if ok else AUTH_BAD), None

    def login(self, user):
        if user is None:
            return LOGIN_USER, self.login
        return LOGIN_PASS, lambda password: (
            (AUTH_OK if self.check(user, password) else AUTH_BAD), None)

    CRAM_CHALLENGE = b'<1896.697170952@postern.test>'  # fixed: exact transcripts

    def cram_md5(self, initial):
        if initial:
            return '501 5.5.2 CRAM-MD5 takes no initial response', None

        def answer(response):
            user, _, digest = response.partition(b' ')
            password = self.cfg.users.get(user)
            ok = password is not None and hmac.compare_digest(
                digest, hmac.new(password, self.CRAM_CHALLENGE, 'md5').hexdigest().encode())
            return (AUTH_OK if ok else AUTH_BAD), None
        return '334 ' + base64.b64encode(self.CRAM_CHALLENGE).decode(), answer

    def scram(self, initial, hname):
        """RFC 5802 server side, salt and iteration count fixed, nonce random."""
        if initial is None:
            return '334 ', lambda r: self.scram(r, hname)
        gs2, _, first_bare = initial.partition(b'n,,')
        attrs = dict(a.split(b'=', 1) for a in first_bare.split(b',') if b'=' in a)
        user = attrs.get(b'n', b'').replace(b'=2C', b',').replace(b'=3D', b'=')
        password = self.cfg.users.get(user)
        if gs2 or b'r' not in attrs or password is None:
            return AUTH_BAD, None
        nonce = attrs[b'r'] + base64.b64encode(os.urandom(12))
        salt, iters = b'postern-test-salt', 4096
        server_first = b'r=' + nonce + b',s=' + base64.b64encode(salt) + b',i=%d' % iters
        salted = hashlib.pbkdf2_hmac(hname, password, salt, iters)

        def final(client_final):
            without, _, proof = client_final.rpartition(b',p=')
            auth_msg = first_bare + b',' + server_first + b',' + without
            client_key = hmac.new(salted, b'Client Key', hname).digest()
            stored = hashlib.new(hname, client_key).digest()
            sig = hmac.new(stored, auth_msg, hname).digest()
            expect = bytes(a ^ b for a, b in zip(client_key, sig))
            if (without != b'c=biws,r=' + nonce
                    or not hmac.compare_digest(self.decode(proof) or b'', expect)):
                return '334 ' + base64.b64encode(b'e=invalid-proof').decode(), \
                    lambda _: (AUTH_BAD, None)
            server_sig = hmac.new(hmac.new(salted, b'Server Key', hname).digest(),
                                  auth_msg, hname).digest()
            if self.cfg.scram_bad_signature:
                server_sig = bytes([server_sig[0] ^ 1]) + server_sig[1:]
            v = base64.b64encode(b'v=' + base64.b64encode(server_sig)).decode()
            return '334 ' + v, lambda _: (AUTH_OK, None)
        return '334 ' + base64.b64encode(server_first).decode(), final

    def bearer(self, initial, oauthbearer):
        """XOAUTH2 and OAUTHBEARER (RFC 7628): the token is the user's password."""
        if initial is None:
            return '334 ', lambda r: self.bearer(r, oauthbearer)
        fields = initial.split(b'\x01')
        user = token = None
        if oauthbearer:
            gs2 = fields[0].split(b',')
            if len(gs2) >= 2 and gs2[1].startswith(b'a='):
                user = gs2[1][2:]
        for f in fields:
            if f.startswith(b'user='):
                user = f[5:]
            elif f.startswith(b'auth=Bearer '):
                token = f[12:]
        if user is not None and token is not None and self.check(user, token):
            return AUTH_OK, None
        # Google's XOAUTH2 error; RFC 7628 section 3.2.2's for OAUTHBEARER.
        error = base64.b64encode(
            b'{"status":"invalid_token","scope":"mail"}' if oauthbearer else
            b'{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}'
        ).decode()
        return '334 ' + error, lambda _: (AUTH_BAD, None)

    def external(self, initial):
        if initial is None:
            return '334 ', self.external
        ok = self.tls is not None and bool(self.tls.getpeercert())
        return (AUTH_OK if ok else AUTH_BAD), None

    MECHANISMS = {
        'PLAIN': plain,
        'LOGIN': login,
        'CRAM-MD5': cram_md5,
        'SCRAM-SHA-1': lambda self, r: self.scram(r, 'sha1'),
        'SCRAM-SHA-256': lambda self, r: self.scram(r, 'sha256'),
        'XOAUTH2': lambda self, r: self.bearer(r, False),
        'OAUTHBEARER': lambda self, r: self.bearer(r, True),
        'EXTERNAL': external,
    }

    COMMANDS = {
        'HELO': cmd_helo, 'EHLO': cmd_ehlo, 'MAIL': cmd_mail, 'RCPT': cmd_rcpt,
        'DATA': cmd_data, 'BDAT': cmd_bdat, 'RSET': cmd_rset, 'NOOP': cmd_noop,
        'VRFY': cmd_vrfy, 'QUIT': cmd_quit, 'STARTTLS': cmd_starttls, 'AUTH': cmd_auth,
    }


# ---------------------------------------------------------------- the server

class Server:
    def __init__(self, directives, certs, out):
        self.directives = directives
        self.certs = certs
        self.out = out
        self.contexts = {}
        self.stop_at = None      # time.monotonic() of SIGTERM
        self.connections = 0

    def config_for(self, n):
        """Apply, in file order, the directives without prefix and those for `@n`."""
        config = Config()
        for conn, apply in self.directives:
            if conn is None or conn == n:
                apply(config)
        return config

    def tls_context(self, cfg, conn):
        # One context (so one set of ticket keys) per configuration; a
        # connection with tls-no-resume gets its own, which knows no session.
        key = (cfg.cert, cfg.client_cert, cfg.tls_max, cfg.tickets,
               conn if cfg.no_resume else None)
        if key not in self.contexts:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(os.path.join(self.certs, cfg.cert + '.pem'),
                                os.path.join(self.certs, cfg.cert + '.key'))
            # By default nothing unread may linger when a client closes: no
            # tickets, and no TLS 1.2 ones either.
            ctx.num_tickets = cfg.tickets
            if cfg.tickets == 0:
                ctx.options |= ssl.OP_NO_TICKET
            if cfg.client_cert:
                ctx.verify_mode = ssl.CERT_OPTIONAL
                ctx.load_verify_locations(os.path.join(self.certs, 'ca.pem'))
            if cfg.tls_max == '1.2':
                ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            self.contexts[key] = ctx
        return self.contexts[key]

    def serve(self, lsock):
        sock, _ = lsock.accept()
        sock.settimeout(SEND_TIMEOUT)  # reads wait in select(); this bounds sendall()
        # Each reply is its own send(): without this, Nagle would hold the
        # second reply of a pipelined group until the client's delayed ACK,
        # a round trip that is the server's, not the client's.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connections += 1
        Session(self, sock, self.config_for(self.connections)).run()

    def run(self, lsock):
        while self.stop_at is None:
            if select.select([lsock], [], [], POLL)[0]:
                self.serve(lsock)
        # Connections the kernel completed before SIGTERM are served too, so
        # that every connect the client made is in the transcript.
        while (time.monotonic() < self.stop_at + STOP_GRACE
               and select.select([lsock], [], [], 0)[0]):
            self.serve(lsock)


def main():
    ap = argparse.ArgumentParser(description='Scripted SMTP server for the postern tests.')
    ap.add_argument('--script', required=True, help='server script (tests/README.md)')
    ap.add_argument('--certs', required=True, help='directory made by tests/mkcerts.sh')
    ap.add_argument('--out', required=True, help='directory for transcript and data.N')
    args = ap.parse_args()
    try:
        directives = parse_script(args.script, args.certs)
    except (ScriptError, OSError, UnicodeDecodeError) as e:
        print(f'smtpd.py: {e}', file=sys.stderr)
        return 2
    server = Server(directives, args.certs, Output(args.out))

    def on_sigterm(signum, frame):
        if server.stop_at is None:
            server.stop_at = time.monotonic()
    signal.signal(signal.SIGTERM, on_sigterm)

    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(('127.0.0.1', 0))
    lsock.listen(128)
    sys.stdout.write(f'{lsock.getsockname()[1]}\n')
    sys.stdout.flush()
    server.run(lsock)
    lsock.close()
    server.out.close()
    # Python's finalisation puts SIGTERM back to its default: a second
    # SIGTERM from a runner arriving then would kill us with status -15.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return 0


if __name__ == '__main__':
    sys.exit(main())
