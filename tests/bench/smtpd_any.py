#!/usr/bin/python3
"""Run tests/smtpd.py unchanged, but listening on another address and,
unless --nagle is given, with TCP_NODELAY on every accepted connection.

Usage: /usr/bin/python3 tests/bench/smtpd_any.py --bind ADDR [--nagle]
           --script FILE --certs DIR --out DIR

tests/smtpd.py binds 127.0.0.1, which a client in another network namespace
cannot reach.  This wrapper replaces the address of that one bind() call and
then runs smtpd.py's own main(); everything else (script, transcript,
behaviour) is the project's scripted server as is.

Why TCP_NODELAY: smtpd.py sends each reply with its own send() call.  Without
TCP_NODELAY, Nagle's algorithm holds the second reply of a pipelined group
until the client ACKs the first one, and the client delays that ACK (40 ms or
more): one extra round trip plus the delayed-ACK time per pipelined group,
which a real server (Postfix flushes its replies once the input buffer is
empty) does not cost.  --nagle keeps smtpd.py's behaviour, to show this.
"""

import importlib.util
import os
import socket
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

# By path: the standard library of Python 3.11 has a module named smtpd too.
_spec = importlib.util.spec_from_file_location(
    'postern_smtpd', os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'smtpd.py'))
smtpd = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(smtpd)

BIND = '127.0.0.1'
NAGLE = False
while len(sys.argv) > 1 and sys.argv[1] in ('--bind', '--nagle'):
    if sys.argv[1] == '--nagle':
        NAGLE = True
        del sys.argv[1]
    else:
        BIND = sys.argv[2]
        del sys.argv[1:3]

_bind = socket.socket.bind


def bind(self, addr):
    if isinstance(addr, tuple) and addr[0] == '127.0.0.1':
        addr = (BIND,) + tuple(addr[1:])
    return _bind(self, addr)


_accept = socket.socket.accept


def accept(self):
    conn, addr = _accept(self)
    if not NAGLE:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn, addr


socket.socket.bind = bind
socket.socket.accept = accept
sys.exit(smtpd.main())
