"""A local OAuth2 identity provider over HTTPS for tests/oauth2/run.py.

Python's standard library only: http.server + ssl, a certificate of the
test CA (tests/mkcerts.sh: `good` is valid for 127.0.0.1, `wronghost` and
`selfsigned` are not), port 0.  It implements:

- the token endpoint (/token): grant_type refresh_token (with or without
  rotation; invalid_grant for an unknown or revoked refresh token),
  authorization_code with PKCE (RFC 7636, S256, the redirect URI and the
  code checked) and the device code grant (RFC 8628), whose answers are
  scripted (authorization_pending, slow_down, expired_token,
  access_denied, then the tokens);
- the device authorization endpoint (/devicecode);
- faults for every request of the token endpoint: a delay, HTTP 500,
  a body that is not JSON, invalid_grant.

Every request is recorded (time, path, the form, the headers) in
`requests`.  Access tokens are handed out from `next_access` (the test
knows them, so that the scripted SMTP server can require exactly the
current one), refresh tokens from `next_refresh`.
"""

import base64
import hashlib
import http.server
import json
import os
import ssl
import threading
import time
import urllib.parse


class IdP:
    def __init__(self, certs, cert='good'):
        self.lock = threading.Lock()
        self.requests = []
        self.refresh_valid = set()      # refresh tokens the IdP accepts
        self.next_access = []           # access tokens to hand out, in order
        self.next_refresh = []          # rotated refresh tokens, in order
        self.rotate = False
        self.expires_in = 3600
        self.delay = 0.0                # seconds before each /token answer
        self.fault = None               # None, '500', 'malformed', 'invalid_grant', 'html'
        self.device = []                # scripted device-grant answers
        self.device_code = 'dev-code-' + base64.urlsafe_b64encode(os.urandom(9)).decode()
        self.user_code = 'WDJB-MJHT'
        self.interval = 1
        self.codes = {}                 # code -> (challenge, method, redirect_uri)
        self.client_id = 'postern-test-client'
        self.client_secret = None       # required when set
        idp = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get('Content-Length') or 0)
                body = self.rfile.read(n).decode()
                form = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
                with idp.lock:
                    idp.requests.append({'time': time.monotonic(), 'path': self.path,
                                         'form': form, 'headers': dict(self.headers)})
                status, payload = idp.answer(self.path, form)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header('Content-Type', 'application/json'
                                 if not isinstance(payload, bytes) else 'text/html')
                self.send_header('Content-Length', str(len(data)))
                self.send_header('Cache-Control', 'no-store')
                self.end_headers()
                self.wfile.write(data)

        self.errors = []                # the IdP's own failures: a test fails

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, address):
                import sys
                err = sys.exc_info()[1]
                # A client that went away (postern's timeout) is no failure.
                if not isinstance(err, OSError):
                    idp.errors.append(repr(err))

        self.httpd = Server(('127.0.0.1', 0), Handler)
        self.httpd.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(certs, cert + '.pem'),
                            os.path.join(certs, cert + '.key'))
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = f'https://127.0.0.1:{self.port}'
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    # -------------------------------------------------------------- answers

    def tokens(self, refresh=None):
        with self.lock:
            access = self.next_access.pop(0)
            out = {'token_type': 'Bearer', 'access_token': access,
                   'expires_in': self.expires_in,
                   'scope': 'https://outlook.office.com/SMTP.Send'}
            if refresh is not None:
                out['refresh_token'] = refresh
                self.refresh_valid.add(refresh)
        return 200, out

    def client_ok(self, form):
        if form.get('client_id') != self.client_id:
            return False
        return self.client_secret is None or form.get('client_secret') == self.client_secret

    def answer(self, path, form):
        if path == '/devicecode':
            if form.get('client_id') != self.client_id:
                return 400, {'error': 'invalid_client'}
            return 200, {'device_code': self.device_code, 'user_code': self.user_code,
                         'verification_uri': 'https://microsoft.com/devicelogin',
                         'expires_in': 900, 'interval': self.interval,
                         'message': 'To sign in, use a web browser.'}
        if path != '/token':
            return 404, {'error': 'not_found'}
        if self.delay:
            time.sleep(self.delay)
        if self.fault == '500':
            return 500, {'error': 'server_error'}
        if self.fault == 'malformed':
            return 200, b'{"access_token": "' + self.next_access[0].encode() + b'", '
        if self.fault == 'html':
            return 502, b'<html>Bad gateway</html>'
        if not self.client_ok(form):
            return 401, {'error': 'invalid_client'}
        grant = form.get('grant_type')
        if grant == 'refresh_token':
            if self.fault == 'invalid_grant' or form.get('refresh_token') not in self.refresh_valid:
                return 400, {'error': 'invalid_grant',
                             'error_description': 'AADSTS70000: The refresh token has expired.'}
            new = None
            if self.rotate:
                with self.lock:
                    new = self.next_refresh.pop(0)
            return self.tokens(new)
        if grant == 'urn:ietf:params:oauth:grant-type:device_code':
            if form.get('device_code') != self.device_code:
                return 400, {'error': 'invalid_grant'}
            step = self.device.pop(0) if self.device else 'ok'
            if step != 'ok':
                return 400, {'error': step}
            with self.lock:
                refresh = self.next_refresh.pop(0)
            return self.tokens(refresh)
        if grant == 'authorization_code':
            code = form.get('code')
            if code not in self.codes:
                return 400, {'error': 'invalid_grant'}
            challenge, method, redirect = self.codes.pop(code)
            verifier = form.get('code_verifier', '')
            digest = base64.urlsafe_b64encode(
                hashlib.sha256(verifier.encode()).digest()).rstrip(b'=').decode()
            if method != 'S256' or digest != challenge or form.get('redirect_uri') != redirect:
                return 400, {'error': 'invalid_grant', 'error_description': 'PKCE or redirect'}
            with self.lock:
                refresh = self.next_refresh.pop(0)
            return self.tokens(refresh)
        return 400, {'error': 'unsupported_grant_type'}

    def token_requests(self):
        return [r for r in self.requests if r['path'] == '/token']
