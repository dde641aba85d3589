#!/bin/sh
#
# make demo: no configuration needed.  Starts the project's scripted SMTP
# server on loopback with STARTTLS and AUTH, sends the tutorial's message
# (UTF-8 display names and subject as raw 8-bit text, the way PHP mail()
# passes them; multipart/alternative) through postern with -v, shows the
# message as the server received it, with the headers postern encoded and
# added, and stops.

set -eu

bin=${1:-./postern}
py=/usr/bin/python3
top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
pid=

# shellcheck disable=SC2317 # called through the trap
cleanup() {
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

sh "$top/tests/mkcerts.sh" "$top/tests/.certs" >/dev/null

cat > "$tmp/script" <<EOF
tls starttls
cap PIPELINING
cap 8BITMIME
cap SIZE 10485760
cap ENHANCEDSTATUSCODES
auth PLAIN LOGIN
user demo@example.org demo-password
auth-tls-only
EOF

"$py" "$top/tests/smtpd.py" --script "$tmp/script" --certs "$top/tests/.certs" \
    --out "$tmp/srv" > "$tmp/port" &
pid=$!
tries=0
while [ ! -s "$tmp/port" ]; do
	tries=$((tries + 1))
	if [ "$tries" -gt 100 ]; then
		echo "demo: the test server did not start" >&2
		exit 1
	fi
	sleep 0.1
done
port=$(head -n 1 "$tmp/port")

umask 077
cat > "$tmp/postern.conf" <<EOF
# What a real 587 submission account looks like, pointed at the
# scripted server on loopback and its test CA.
account default
host 127.0.0.1
port $port
tls on
tls_starttls on
tls_trust_file $top/tests/.certs/ca.pem
auth on
user demo@example.org
password demo-password
from demo@example.org
domain demo.example
maildomain example.org
# The message is spooled (fsync'd) before the first SMTP command; a
# per-user queue directory stands in for /var/spool/postern.
queue_dir $tmp/queue
EOF
mkdir -m 700 "$tmp/queue"

"$py" "$top/tests/demo/tutorial.py" > "$tmp/message" 2> "$tmp/tutorial"
echo "=== the message handed to postern (raw UTF-8 headers) ==="
sed -n '1,3p' "$tmp/message"
echo
echo "=== postern -v -t: the SMTP session (AUTH payload redacted) ==="
status=0
"$bin" -v -C "$tmp/postern.conf" -t < "$tmp/message" 2>&1 || status=$?
echo "=== postern exited $status ==="

kill -TERM "$pid"
wait "$pid" || true
pid=

echo
echo "=== the message as the server received it ==="
tr -d '\r' < "$tmp/srv/data.1"
echo
cat "$tmp/tutorial"
echo
echo "=== the queue after delivery ==="
"$bin" -C "$tmp/postern.conf" -bp
exit "$status"
