#!/bin/sh
# Start Postfix + Dovecot SASL on loopback as a smarthost for the interop test.
#
#   sh tests/interop/start.sh DIR        (as root; DIR need not exist)
#
# Everything lives under DIR: test CA and server certificate, a Dovecot
# instance that only does authentication, a separate Postfix instance with
# its own config/queue/data directories, and one Maildir (DIR/Maildir) that
# receives every message, whatever the recipient domain.  Nothing is
# relayed: no smtp/lmtp/relay/local transport exists in master.cf and every
# outbound transport is error:.  See README.md.
#
# On success (exit 0) both listeners answer and:
#   DIR/ports   SUBMISSION_PORT=n (STARTTLS required) and SMTPS_PORT=n
#               (implicit TLS), shell-sourceable
#   DIR/ca.pem  the CA that signed the server certificate
#               (SAN DNS:localhost, IP:127.0.0.1)
# Credentials: alice@example.test / wonderland-secret-1
# Logs: DIR/maillog (Postfix), DIR/dovecot.log
# Stop with: sh tests/interop/stop.sh DIR
set -eu

PY=/usr/bin/python3
SASL_USER=alice@example.test
SASL_PASS=wonderland-secret-1
MAIL_UID=65534 # nobody: owns DIR/Maildir, the virtual(8) delivery uid
MAIL_GID=65534 # nogroup

here=$(cd "$(dirname "$0")" && pwd)

die() {
    echo "interop start: $*" >&2
    exit 1
}

[ $# -eq 1 ] || die "usage: start.sh DIR"
[ "$(id -u)" -eq 0 ] || die "must run as root (Postfix and Dovecot need it)"
for cmd in postfix postconf dovecot openssl "$PY"; do
    command -v "$cmd" >/dev/null 2>&1 ||
        die "$cmd not found: run sh tests/interop/install.sh"
done

mkdir -p "$1"
DIR=$(cd "$1" && pwd -P)
case $DIR in
*[!A-Za-z0-9_./-]*) die "DIR must be a plain path (letters, digits, _ . / -): $DIR" ;;
esac
if [ -e "$DIR/postfix/main.cf" ] || [ -e "$DIR/dovecot.conf" ]; then
    die "$DIR already holds an instance: stop.sh it and use a fresh directory"
fi

dump_logs() {
    for f in "$DIR/maillog" "$DIR/dovecot.log" "$DIR/postfix-start.log" \
        "$DIR/dovecot-start.log"; do
        if [ -s "$f" ]; then
            echo "----- $f: first problems -----" >&2
            grep -i -E 'warning|error|fatal|panic' "$f" | head -n 15 >&2
            echo "----- $f: last lines -----" >&2
            tail -n 30 "$f" >&2
        fi
    done
}

fail() {
    echo "interop start: FAILED: $*" >&2
    dump_logs
    sh "$here/stop.sh" "$DIR" >/dev/null 2>&1 || :
    exit 1
}

# Postfix's smtpd (user postfix), the auth process (user dovecot) and
# virtual(8) (user nobody) must all traverse DIR.  Nothing secret is
# world-readable: keys and the password file are 0600/0640.
chmod 0755 "$DIR"
umask 022

# ---------------------------------------------------------------- ports
# Two distinct free loopback ports (bound together, then released).
"$PY" - >"$DIR/ports" <<'EOF'
import socket
socks = []
for _ in range(2):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print("SUBMISSION_PORT=%d" % socks[0].getsockname()[1])
print("SMTPS_PORT=%d" % socks[1].getsockname()[1])
for s in socks:
    s.close()
EOF
SUBMISSION_PORT=
SMTPS_PORT=
# shellcheck disable=SC1091 # generated just above
. "$DIR/ports"
if [ -z "$SUBMISSION_PORT" ] || [ -z "$SMTPS_PORT" ]; then
    die "could not pick free ports"
fi

# ---------------------------------------------------------------- TLS
# EC P-256 test CA and a server certificate for localhost and 127.0.0.1.
tls=$DIR/tls
mkdir -p "$tls"
(
    umask 077
    cd "$tls"
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
        -nodes -keyout ca.key -out ca.pem -days 30 \
        -subj "/CN=postern interop test CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
        -nodes -keyout server.key -out server.csr \
        -subj "/CN=localhost" 2>/dev/null
    cat >server.ext <<'EOF'
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
EOF
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key \
        -CAcreateserial -days 30 -extfile server.ext -out server.pem 2>/dev/null
) || die "openssl could not make the test certificates"
chmod 0644 "$tls/ca.pem" "$tls/server.pem"
cp "$tls/ca.pem" "$DIR/ca.pem"

# ---------------------------------------------------------------- Dovecot
# Authentication only: no protocols, no listeners except the auth socket
# that Postfix's smtpd connects to.  The password is stored as {PLAIN} so
# that Dovecot can derive SCRAM-SHA-256 credentials from it.
mkdir -p "$DIR/sasl" "$DIR/dovecot-run" "$DIR/dovecot-state"
printf '%s:{PLAIN}%s:%s:%s::%s::\n' "$SASL_USER" "$SASL_PASS" \
    "$MAIL_UID" "$MAIL_GID" "$DIR" >"$DIR/dovecot-users"
chown root:dovecot "$DIR/dovecot-users"
chmod 0640 "$DIR/dovecot-users"

cat >"$DIR/dovecot.conf" <<EOF
# postern interop: Dovecot as a SASL server for Postfix, nothing else.
instance_name = postern-interop
base_dir = $DIR/dovecot-run
state_dir = $DIR/dovecot-state
log_path = $DIR/dovecot.log
info_log_path = $DIR/dovecot.log
protocols = none
# no protocol listeners exist; only the auth unix socket below
listen = 127.0.0.1
ssl = no
# Postfix only passes AUTH on to us over TLS (smtpd_tls_auth_only).
disable_plaintext_auth = no
auth_mechanisms = plain login scram-sha-256
auth_verbose = yes
# No artificial delay after a failed AUTH, and no anvil penalty for the
# next attempts from 127.0.0.1 (a wrong-password case must not slow down
# the cases after it).
auth_failure_delay = 0
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $DIR/dovecot-users
}
userdb {
  driver = static
  args = uid=$MAIL_UID gid=$MAIL_GID home=$DIR
}
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service auth {
  unix_listener $DIR/sasl/auth {
    mode = 0660
    user = postfix
    group = postfix
  }
}
EOF

dovecot -c "$DIR/dovecot.conf" >"$DIR/dovecot-start.log" 2>&1 ||
    fail "dovecot did not start: $(cat "$DIR/dovecot-start.log")"

# ---------------------------------------------------------------- Postfix
# A second instance.  "postfix -c" itself does not need it, but the set-gid
# helpers (postqueue -c DIR/postfix -p, postdrop), run by a non-root user,
# only accept a config
# directory that the default main.cf lists in alternate_config_directories.
# Added once here, removed by stop.sh.
pf=$DIR/postfix
mkdir -p "$pf" "$DIR/postfix-queue" "$DIR/postfix-data"
chown postfix "$DIR/postfix-data"
[ -e /etc/postfix/main.cf ] || : >/etc/postfix/main.cf
alt=$(postconf -h alternate_config_directories 2>/dev/null || :)
case " $(echo "$alt" | tr ',' ' ') " in
*" $pf "*) ;;
*) postconf -e "alternate_config_directories = ${alt:+$alt, }$pf" ;;
esac

mkdir -p "$DIR/Maildir/new" "$DIR/Maildir/cur" "$DIR/Maildir/tmp"
chown -R "$MAIL_UID:$MAIL_GID" "$DIR/Maildir"
chmod -R 0700 "$DIR/Maildir"

nolocal="error:5.7.1 postern interop: no outbound mail"
cat >"$pf/main.cf" <<EOF
# postern interop smarthost.  Loopback only, and no mail can leave:
# every domain is a virtual mailbox domain delivered to ONE Maildir,
# every other transport is error:, and master.cf has no smtp client.
compatibility_level = 3.6
queue_directory = $DIR/postfix-queue
data_directory = $DIR/postfix-data
mail_owner = postfix
maillog_file = $DIR/maillog
# maillog_file must start with one of these (default /var, /dev/stdout);
# without it every postfix command dies silently.
maillog_file_prefixes = $DIR
myhostname = localhost
mydomain = localdomain
myorigin = \$myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.1/32
mydestination =
local_recipient_maps =
relay_domains =
relayhost =
alias_maps =
alias_database =
biff = no

# Every recipient of every domain -> $DIR/Maildir/ (uid nobody).
virtual_mailbox_domains = static:all
virtual_mailbox_base = $DIR
virtual_mailbox_maps = static:Maildir/
virtual_uid_maps = static:$MAIL_UID
virtual_gid_maps = static:$MAIL_GID
virtual_transport = virtual

# Nothing else is ever delivered anywhere.
default_transport = $nolocal
relay_transport = $nolocal
local_transport = $nolocal
fallback_transport =
luser_relay =

# Keep message bytes as the client sent them (no header rewriting or
# header insertion for these clients).
local_header_rewrite_clients =
remote_header_rewrite_domain =
always_add_missing_headers = no

smtpd_banner = \$myhostname ESMTP postern-interop
smtpd_tls_cert_file = $tls/server.pem
smtpd_tls_key_file = $tls/server.key
smtpd_tls_loglevel = 1
smtpd_tls_received_header = no
smtpd_sasl_type = dovecot
smtpd_sasl_path = $DIR/sasl/auth
smtpd_sasl_auth_enable = no
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
smtpd_client_restrictions =
smtpd_helo_restrictions =
smtpd_sender_restrictions =
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = permit_sasl_authenticated, reject
smtpd_data_restrictions = reject_unauth_pipelining
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 100
smtpd_hard_error_limit = 200
EOF

# chroot n everywhere (the instance lives in DIR); no pickup (nothing is
# submitted through a sendmail binary), no smtp/lmtp/local/relay clients.
cat >"$pf/master.cf" <<EOF
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:$SUBMISSION_PORT inet n - n - - smtpd
  -o syslog_name=postfix-interop/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=yes
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
127.0.0.1:$SMTPS_PORT inet n - n - - smtpd
  -o syslog_name=postfix-interop/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=yes
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF

# "start" runs "check-fatal", which creates the queue directories.
postfix -c "$pf" start >"$DIR/postfix-start.log" 2>&1 ||
    fail "postfix did not start"

# ---------------------------------------------------------------- ready?
# Bounded wait: the auth socket exists, the submission port greets with
# 220, the smtps port completes a TLS handshake with our CA and greets.
"$PY" - "$DIR" "$SUBMISSION_PORT" "$SMTPS_PORT" <<'EOF' || fail "not ready"
import os, socket, ssl, sys, time
d, sub, smtps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
deadline = time.monotonic() + 30
ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.pem"))

def greet(port, tls):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        if tls:
            s = ctx.wrap_socket(s, server_hostname="localhost")
        line = s.makefile("rb").readline()
        if not line.startswith(b"220 "):
            raise OSError("greeting %r" % line)

pending = {"auth socket": None, "submission": None, "smtps": None}
while pending:
    for what in list(pending):
        try:
            if what == "auth socket":
                with socket.socket(socket.AF_UNIX) as s:
                    s.settimeout(5)
                    s.connect(os.path.join(d, "sasl", "auth"))
            else:
                greet(sub if what == "submission" else smtps, what == "smtps")
            del pending[what]
        except (OSError, ssl.SSLError) as e:
            pending[what] = e
    if pending and time.monotonic() > deadline:
        for what, e in pending.items():
            print("interop start: %s not ready after 30 s: %s" % (what, e),
                  file=sys.stderr)
        sys.exit(1)
    if pending:
        time.sleep(0.2)
EOF

echo "interop: ready in $DIR: submission 127.0.0.1:$SUBMISSION_PORT (STARTTLS), smtps 127.0.0.1:$SMTPS_PORT"
