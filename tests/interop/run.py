#!/usr/bin/python3
"""postern against a real smarthost: Postfix + Dovecot SASL on loopback.

    /usr/bin/python3 tests/interop/run.py --postern ./postern [--keep] [-v]
    /usr/bin/python3 tests/interop/run.py --smarthost-only   # no postern

Runs start.sh into a temporary directory, checks the smarthost itself with
smtplib (so a broken harness is never blamed on postern), then sends one
message per case through postern and checks what Postfix put in the one
Maildir.  stop.sh always runs at the end.  Last line:
    interop: N passed, N failed, N skipped
Exit status 1 on any failure.  Needs root (Postfix/Dovecot) and the
packages from tests/interop/packages (install.sh).  Standard library only.

How a delivered file is compared with what was sent
---------------------------------------------------
virtual(8) writes the queue file to Maildir/new with LF line endings and
prepends its delivery headers; the queue file itself starts with the one
Received: header that smtpd/cleanup added.  So a delivered file is

    Return-Path: <alice@example.test>        \\  added by virtual(8),
    X-Original-To: rcpt@example.test          | in this order (X-Original-To
    Delivered-To: rcpt@example.test          /  only when Postfix adds it)
    Received: from ... by localhost (Postfix) with ESMTPSA id QID
    \\tfor <rcpt@example.test>; DATE          <- continuation lines
    <the message exactly as the client sent it, CRLF -> LF>

strip_postfix_headers() splits the file into header fields (a field is a
line "Name:" plus the following lines that start with SP or HT), requires
the first field to be Return-Path, then only X-Original-To/Delivered-To
fields, then exactly one Received field that says "by localhost (Postfix)
with ESMTPS[A] id"; everything after the last line of that Received field
must equal the sent bytes.  Nothing is searched for or skipped: a header
that postern added, dropped or changed makes the comparison fail.
"with ESMTPSA" (RFC 3848) proves TLS and SMTP AUTH were used; the queue
id from that header finds the smtpd log line with sasl_method=, which
proves which mechanism was used.
"""

import argparse
import base64
import hashlib
import hmac
import os
import re
import secrets
import shutil
import smtplib
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import leakcheck  # noqa: E402

USER = "alice@example.test"
PASSWORD = "wonderland-secret-1"
RCPT = "rcpt@example.test"
OUTSIDE_RCPT = "someone@example.com"   # a domain we do not own: must not leave
DELIVERY_TIMEOUT = 20.0
POSTERN_TIMEOUT = 90.0

VERBOSE = False


def log(msg):
    print(msg, flush=True)


def debug(msg):
    if VERBOSE:
        print("   " + msg.replace("\n", "\n   "), flush=True)


class CaseFail(Exception):
    pass


class CaseSkip(Exception):
    pass


# ------------------------------------------------------------------ server

class Smarthost:
    def __init__(self, d):
        self.dir = d
        self.ports = {}
        with open(os.path.join(d, "ports")) as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                if k:
                    self.ports[k] = int(v)
        self.sub = self.ports["SUBMISSION_PORT"]
        self.smtps = self.ports["SMTPS_PORT"]
        self.ca = os.path.join(d, "ca.pem")
        self.maildir = os.path.join(d, "Maildir")
        self.queue = os.path.join(d, "postfix-queue")
        self.maillog = os.path.join(d, "maillog")

    def mail_files(self):
        out = set()
        for sub in ("new", "cur"):
            p = os.path.join(self.maildir, sub)
            out.update(os.path.join(p, n) for n in os.listdir(p))
        return out

    def queue_files(self):
        out = []
        for sub in ("maildrop", "incoming", "active", "deferred", "hold"):
            for root, _, files in os.walk(os.path.join(self.queue, sub)):
                out.extend(os.path.join(root, f) for f in files)
        return out

    def log_text(self):
        try:
            with open(self.maillog, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_tail(self, n=15):
        return "\n".join(self.log_text().splitlines()[-n:])

    def wait_delivery(self, before, expect):
        """Wait until the Postfix queue is empty; return the new files.

        A message accepted with 250 is in the queue before the client sees
        the reply, and the Maildir file exists before its queue file is
        removed, so "queue empty" means every accepted message is in the
        Maildir (or was bounced/deferred, which the caller reports).
        """
        deadline = time.monotonic() + DELIVERY_TIMEOUT
        while True:
            new = sorted(self.mail_files() - before)
            queued = self.queue_files()
            if not queued and len(new) >= expect:
                return new
            if time.monotonic() > deadline:
                if queued:
                    raise CaseFail("Postfix queue not empty after %.0f s (%s);"
                                   " maillog:\n%s" % (DELIVERY_TIMEOUT,
                                                      ", ".join(queued),
                                                      self.log_tail()))
                return new
            time.sleep(0.05)


def pick_message(case, rcpt=RCPT):
    """The bytes given to the client: LF line endings, every header that
    postern would otherwise add already present (Date, Message-ID, From,
    To), ASCII only, and lines that exercise dot-stuffing.  No line holds
    only "." (postern runs without -i)."""
    tag = secrets.token_hex(6)
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
    long_line = ("interop-%s " % case) * 60
    return (
        "From: Alice <%s>\n"
        "To: %s\n"
        "Subject: postern interop %s %s\n"
        "Date: %s\n"
        "Message-ID: <interop.%s.%s@example.test>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=us-ascii\n"
        "\n"
        "Hello from the postern interop test, case %s.\n"
        ".a line that starts with a dot\n"
        "..two dots\n"
        ". dot space\n"
        "\n"
        "%s\n"
        "last line\n" % (USER, rcpt, case, tag, date, case, tag, case,
                         long_line.rstrip())
    ).encode("ascii")


FIELD_RE = re.compile(rb"^([!-9;-~]+):")


def strip_postfix_headers(data):
    """Split a delivered file into (postfix_fields, rest); see the module
    docstring.  postfix_fields is a list of (name, raw bytes)."""
    lines = data.split(b"\n")
    fields = []
    i = 0
    while i < len(lines):
        m = FIELD_RE.match(lines[i])
        if not m:
            raise CaseFail("delivered file: no Received: header from Postfix"
                           " before line %d %r" % (i + 1, lines[i][:80]))
        name = m.group(1).decode("ascii").lower()
        j = i + 1
        while j < len(lines) and lines[j][:1] in (b" ", b"\t"):
            j += 1
        raw = b"\n".join(lines[i:j])
        fields.append((name, raw))
        i = j
        if not fields[0][0] == "return-path":
            raise CaseFail("delivered file does not start with Return-Path:"
                           " %r" % raw[:80])
        if name == "received":
            if not re.search(rb"by localhost \(Postfix\) with ESMTPSA? id ",
                             raw):
                raise CaseFail("first Received: is not Postfix's: %r" % raw)
            break
        if len(fields) > 1 and name not in ("x-original-to", "delivered-to"):
            raise CaseFail("unexpected header %r before Postfix's Received:"
                           % raw[:80])
    else:
        raise CaseFail("delivered file has no Received: header")
    rest = b"\n".join(lines[i:])
    return fields, rest


def check_delivery(sh, path, sent, rcpt, method=None, service=None):
    with open(path, "rb") as f:
        got = f.read()
    fields, rest = strip_postfix_headers(got)
    want = sent.replace(b"\r\n", b"\n")
    if rest != want:
        raise CaseFail("delivered message differs from what was sent:\n"
                       "--- sent\n%s\n--- delivered (Postfix headers"
                       " stripped)\n%s" % (want.decode("ascii", "replace"),
                                           rest.decode("ascii", "replace")))
    names = dict(fields)
    if names["return-path"] != b"Return-Path: <%s>" % USER.encode():
        raise CaseFail("wrong envelope sender: %r" % names["return-path"])
    if names.get("delivered-to") != b"Delivered-To: %s" % rcpt.encode():
        raise CaseFail("wrong envelope recipient: %r"
                       % names.get("delivered-to"))
    received = names["received"]
    if b" with ESMTPSA id " not in received:
        raise CaseFail("Postfix did not see TLS + AUTH: %r" % received)
    qid = re.search(rb" id ([0-9A-Za-z]+)", received).group(1).decode()
    # smtpd's line: "<service>/smtpd[pid]: QID: client=..., sasl_method=M,"
    line = None
    for ln in sh.log_text().splitlines():
        if " %s: client=" % qid in ln:
            line = ln
    if line is None:
        raise CaseFail("no smtpd log line for queue id %s" % qid)
    m = re.search(r"sasl_method=([A-Z0-9-]+)", line)
    used = m.group(1) if m else None
    if method is not None and used != method:
        raise CaseFail("expected AUTH %s, Postfix logged %s: %s"
                       % (method, used, line))
    if service is not None and "postfix-interop/%s/smtpd[" % service \
            not in line:
        raise CaseFail("not received by the %s listener: %s" % (service, line))
    return used, qid


# ------------------------------------------------------------------ SCRAM

class ScramSha256:
    """SCRAM-SHA-256 client (RFC 5802/7677) as an smtplib authobject."""

    def __init__(self, user, password):
        self.user, self.password = user, password
        self.step = 0
        self.nonce = base64.b64encode(secrets.token_bytes(18)).decode()
        self.server_sig = None

    def __call__(self, challenge=None):
        if challenge is None:          # smtplib's initial-response probe
            return None
        if self.step == 0:
            self.step = 1
            name = self.user.replace("=", "=3D").replace(",", "=2C")
            self.first_bare = "n=%s,r=%s" % (name, self.nonce)
            return "n,," + self.first_bare
        if self.step == 1:
            self.step = 2
            server_first = challenge.decode()
            a = dict(kv.split("=", 1) for kv in server_first.split(","))
            if not a["r"].startswith(self.nonce):
                raise smtplib.SMTPAuthenticationError(0, "bad SCRAM nonce")
            salted = hashlib.pbkdf2_hmac("sha256", self.password.encode(),
                                         base64.b64decode(a["s"]),
                                         int(a["i"]))
            ckey = hmac.digest(salted, b"Client Key", "sha256")
            skey = hmac.digest(salted, b"Server Key", "sha256")
            without_proof = "c=biws,r=" + a["r"]
            auth_msg = ",".join((self.first_bare, server_first,
                                 without_proof)).encode()
            csig = hmac.digest(hashlib.sha256(ckey).digest(), auth_msg,
                               "sha256")
            self.server_sig = hmac.digest(skey, auth_msg, "sha256")
            proof = bytes(x ^ y for x, y in zip(ckey, csig))
            return without_proof + ",p=" + base64.b64encode(proof).decode()
        v = challenge.decode()
        if v != "v=" + base64.b64encode(self.server_sig).decode():
            raise smtplib.SMTPAuthenticationError(0, "bad SCRAM server proof")
        return ""


# ------------------------------------------------------------------ checks

def smtplib_send(sh, how, mech, rcpt=RCPT, password=PASSWORD):
    ctx = ssl.create_default_context(cafile=sh.ca)
    if how == "smtps":
        s = smtplib.SMTP_SSL("localhost", sh.smtps, context=ctx, timeout=20)
    else:
        s = smtplib.SMTP("localhost", sh.sub, timeout=20)
    try:
        s.ehlo("client.example.test")
        if how == "starttls":
            if s.has_extn("auth"):
                raise CaseFail("AUTH offered before STARTTLS")
            s.starttls(context=ctx)
            s.ehlo("client.example.test")
        if mech == "SCRAM-SHA-256":
            s.auth(mech, ScramSha256(USER, password), initial_response_ok=False)
        else:
            s.user, s.password = USER, password
            s.auth(mech, getattr(s, "auth_" + mech.lower().replace("-", "_")),
                   initial_response_ok=(mech == "PLAIN"))
        msg = pick_message("smtplib-%s-%s" % (how, mech.lower()), rcpt)
        s.sendmail(USER, [rcpt], msg.replace(b"\n", b"\r\n"))
        return msg
    finally:
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            pass


def case_smtplib(sh, how, mech, rcpt=RCPT):
    def run():
        before = sh.mail_files()
        sent = smtplib_send(sh, how, mech, rcpt)
        new = sh.wait_delivery(before, 1)
        if len(new) != 1:
            raise CaseFail("expected 1 new Maildir file, got %d" % len(new))
        check_delivery(sh, new[0], sent, rcpt, method=mech,
                       service="submission" if how == "starttls" else "smtps")
    return run


def case_smtplib_refusals(sh):
    """Unauthenticated relaying, cleartext AUTH and a wrong password are
    all refused by the smarthost itself."""
    def run():
        before = sh.mail_files()
        ctx = ssl.create_default_context(cafile=sh.ca)
        with smtplib.SMTP("localhost", sh.sub, timeout=20) as s:
            s.ehlo("client.example.test")
            code, _ = s.mail(USER)
            if code != 530:
                raise CaseFail("MAIL before STARTTLS got %d, want 530" % code)
            s.starttls(context=ctx)
            s.ehlo("client.example.test")
            s.mail(USER)
            code, text = s.rcpt(OUTSIDE_RCPT)
            if code < 500:
                raise CaseFail("unauthenticated RCPT got %d %s" % (code, text))
        try:
            smtplib_send(sh, "starttls", "PLAIN", password="wrong-password")
            raise CaseFail("a wrong password was accepted")
        except smtplib.SMTPAuthenticationError as e:
            if e.smtp_code != 535:
                raise CaseFail("wrong password got %d, want 535" % e.smtp_code)
        if sh.wait_delivery(before, 0):
            raise CaseFail("a refused message was delivered")
    return run


def case_no_outbound(sh):
    """Mail for a domain we do not own lands in the one Maildir."""
    def run():
        before = sh.mail_files()
        sent = smtplib_send(sh, "starttls", "PLAIN", OUTSIDE_RCPT)
        new = sh.wait_delivery(before, 1)
        if len(new) != 1:
            raise CaseFail("expected 1 new Maildir file, got %d" % len(new))
        check_delivery(sh, new[0], sent, OUTSIDE_RCPT, method="PLAIN")
    return run


def case_log_audit(sh):
    """Every delivery in the maillog went to virtual(8): no relay=smtp."""
    def run():
        bad = [ln for ln in sh.log_text().splitlines()
               if " relay=" in ln and " relay=virtual," not in ln]
        bad += [ln for ln in sh.log_text().splitlines()
                if re.search(r"/(smtp|lmtp|local|pickup)\[", ln)]
        if bad:
            raise CaseFail("non-local delivery attempts:\n" + "\n".join(bad))
    return run


# ------------------------------------------------------------------ postern

class Postern:
    def __init__(self, path, sh, work):
        self.path = os.path.abspath(path)
        self.sh = sh
        self.work = work
        self.queue_key = True   # "queue off" unless postern rejects the key

    def conf(self, name, port, starttls, auth, password=PASSWORD):
        lines = [
            "# postern interop case %s" % name,
            "account default",
            "host 127.0.0.1",
            "port %d" % port,
            "timeout 30",
            "tls on",
            "tls_starttls %s" % ("on" if starttls else "off"),
            "tls_trust_file %s" % self.sh.ca,
            "auth %s" % auth,
            "user %s" % USER,
            "password %s" % password,
            "from %s" % USER,
        ]
        if self.queue_key:
            # A temporary failure must show as exit 75, not "queued".
            lines.insert(5, "queue off")
        path = os.path.join(self.work, "%s.conf" % name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(path, 0o600)
        return path

    def run(self, name, port, starttls, auth, password=PASSWORD):
        msg = pick_message(name)
        while True:
            conf = self.conf(name, port, starttls, auth, password)
            argv = [self.path, "-C", conf, "-f", USER, RCPT]
            debug("$ %s < message" % " ".join(argv))
            try:
                p = subprocess.run(argv, input=msg, capture_output=True,
                                   timeout=POSTERN_TIMEOUT, cwd=self.work)
            except subprocess.TimeoutExpired:
                raise CaseFail("postern did not finish in %.0f s"
                               % POSTERN_TIMEOUT)
            err = p.stderr.decode("utf-8", "replace")
            debug("exit %d, stderr %r" % (p.returncode, err))
            if (self.queue_key and p.returncode == 78
                    and re.search(r"\bqueue\b", err)):
                log("   note: postern rejects 'queue off' (%s); running"
                    " without it" % err.strip())
                self.queue_key = False
                continue
            if (p.returncode == 78 and auth != "plain"
                    and re.search(r"unknown|unsupported", err, re.I)
                    and re.search(r"\bauth\b|" + re.escape(auth), err, re.I)):
                raise CaseSkip("postern lacks auth %s" % auth)
            # The password, in no form, in postern's output or any file
            # it left in its working directory (the configurations aside).
            leaks = leakcheck.check_run(
                self.work, [("stdout", p.stdout), ("stderr", p.stderr)],
                conf=conf, exclude=tuple(f for f in os.listdir(self.work)
                                         if f.endswith(".conf")))
            if leaks:
                raise CaseFail("; ".join(leaks))
            return msg, p.returncode, err

    def case(self, name, port, starttls, auth, method, service):
        def run():
            before = self.sh.mail_files()
            msg, rc, err = self.run(name, port, starttls, auth)
            if rc != 0 or err:
                raise CaseFail("postern exit %d (want 0), stderr:\n%s\n"
                               "maillog:\n%s" % (rc, err, self.sh.log_tail()))
            new = self.sh.wait_delivery(before, 1)
            if len(new) != 1:
                raise CaseFail("expected exactly 1 new Maildir file, got %d;"
                               " maillog:\n%s" % (len(new), self.sh.log_tail()))
            used, qid = check_delivery(self.sh, new[0], msg, RCPT,
                                       method=method, service=service)
            return "AUTH %s, queue id %s" % (used, qid)
        return run

    def case_wrong_password(self, name):
        def run():
            before = self.sh.mail_files()
            _, rc, err = self.run(name, self.sh.sub, True, "plain",
                                  password="not-the-password")
            problems = []
            if rc != 77:
                problems.append("exit %d (want 77)" % rc)
            if "535" not in err:
                problems.append("stderr lacks the server's 535 reply")
            if self.sh.wait_delivery(before, 0):
                problems.append("a message was delivered")
            if problems:
                raise CaseFail("; ".join(problems) + "; stderr:\n" + err)
        return run


# ------------------------------------------------------------------ main

def still_running(d):
    """Masters of this instance that are still alive (zombies are not)."""
    left = []
    for what, pidfile in (("postfix", "postfix-queue/pid/master.pid"),
                          ("dovecot", "dovecot-run/master.pid")):
        try:
            with open(os.path.join(d, pidfile)) as f:
                pid = int(f.read().strip() or 0)
            with open("/proc/%d/stat" % pid) as f:
                state = f.read().rsplit(") ", 1)[1][:1]
        except (OSError, ValueError, IndexError):
            continue
        if state != "Z":
            left.append("%s master pid %d" % (what, pid))
    return left


def main():
    global VERBOSE
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--postern", help="the postern binary to test")
    ap.add_argument("--smarthost-only", action="store_true",
                    help="only check the Postfix/Dovecot smarthost")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory (it is printed)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    VERBOSE = args.verbose
    if not args.postern and not args.smarthost_only:
        ap.error("--postern PATH is required (or --smarthost-only)")
    if args.postern and not os.access(args.postern, os.X_OK):
        ap.error("%s is not an executable" % args.postern)

    tmp = tempfile.mkdtemp(prefix="postern-interop.")
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    t0 = time.monotonic()
    try:
        p = subprocess.run(["sh", os.path.join(HERE, "start.sh"), tmp])
        if p.returncode != 0:
            log("FAIL start.sh (exit %d): the smarthost did not come up"
                % p.returncode)
            counts["failed"] += 1
            return 1
        log("   smarthost up in %.1f s" % (time.monotonic() - t0))
        sh = Smarthost(tmp)
        work = os.path.join(tmp, "client")
        os.mkdir(work, 0o700)

        cases = [
            ("smarthost starttls+plain (smtplib)",
             case_smtplib(sh, "starttls", "PLAIN")),
            ("smarthost starttls+login (smtplib)",
             case_smtplib(sh, "starttls", "LOGIN")),
            ("smarthost starttls+scram-sha-256 (smtplib)",
             case_smtplib(sh, "starttls", "SCRAM-SHA-256")),
            ("smarthost smtps+plain (smtplib)",
             case_smtplib(sh, "smtps", "PLAIN")),
            ("smarthost refusals (smtplib)", case_smtplib_refusals(sh)),
            ("smarthost outside domain stays local (smtplib)",
             case_no_outbound(sh)),
        ]
        if args.postern:
            pt = Postern(args.postern, sh, work)
            cases += [
                ("a starttls-plain",
                 pt.case("a", sh.sub, True, "plain", "PLAIN", "submission")),
                ("b starttls-login",
                 pt.case("b", sh.sub, True, "login", "LOGIN", "submission")),
                ("c starttls-scram-sha-256",
                 pt.case("c", sh.sub, True, "scram-sha-256", "SCRAM-SHA-256",
                         "submission")),
                ("d smtps-plain",
                 pt.case("d", sh.smtps, False, "plain", "PLAIN", "smtps")),
                ("e starttls-auth-on",
                 pt.case("e", sh.sub, True, "on", None, "submission")),
                ("g smtps-login",
                 pt.case("g", sh.smtps, False, "login", "LOGIN", "smtps")),
                ("h smtps-scram-sha-256",
                 pt.case("h", sh.smtps, False, "scram-sha-256",
                         "SCRAM-SHA-256", "smtps")),
                ("f wrong-password", pt.case_wrong_password("f")),
            ]
        cases.append(("no outbound delivery in the maillog",
                      case_log_audit(sh)))

        for name, fn in cases:
            t = time.monotonic()
            try:
                info = fn()
            except CaseSkip as e:
                counts["skipped"] += 1
                log("skip %s (%s)" % (name, e))
                continue
            except (CaseFail, smtplib.SMTPException, OSError,
                    ssl.SSLError) as e:
                counts["failed"] += 1
                log("FAIL %s: %s" % (name, e))
                continue
            counts["passed"] += 1
            log("ok   %s (%.2f s%s)" % (name, time.monotonic() - t,
                                        ", " + info if info else ""))
    finally:
        subprocess.run(["sh", os.path.join(HERE, "stop.sh"), tmp])
        left = still_running(tmp)
        if left:
            counts["failed"] += 1
            log("FAIL stop.sh left processes running: %s" % ", ".join(left))
        if args.keep:
            log("   kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        log("   total %.1f s" % (time.monotonic() - t0))
        log("interop: %d passed, %d failed, %d skipped"
            % (counts["passed"], counts["failed"], counts["skipped"]))
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
