#!/bin/sh
# The instruction profile of one submission from exec to exit, by
# callgrind: STARTTLS + AUTH PLAIN to tests/smtpd.py on 127.0.0.1 (TLS 1.3,
# a session ticket), the queue on, domain and maildomain set.
#
#   sh tests/bench/profile.sh POSTERN OUTDIR [resume | perf [N]]
#
# With "resume", one run first keeps a TLS session and the profiled run
# resumes it.  With "perf", the same first run, then perf stat
# (task-clock, page faults) over one loop of N resumed runs (40) instead
# of callgrind, with the figures per run; perf's own -r would feed the
# message to the first run only.  Writes OUTDIR/cg.out (callgrind_annotate it), and prints
# the total and the functions with the most instructions, inclusive and
# by themselves.  Needs valgrind; run tests/mkcerts.sh (or make check) once
# for tests/.certs.  Not run by make check.
set -eu

[ $# -ge 2 ] || { echo "usage: profile.sh POSTERN OUTDIR [resume | perf [N]]" >&2; exit 64; }
postern=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
top=$(cd "$(dirname "$0")/../.." && pwd)
certs=$top/tests/.certs
[ -f "$certs/ca.pem" ] || { echo "profile.sh: no $certs/ca.pem (make check)" >&2; exit 1; }
mkdir -p "$2"
d=$(cd "$2" && pwd)
rm -rf "$d/srv" "$d/queue"
mkdir -p "$d/srv" "$d/queue"
chmod 700 "$d/queue"
cat > "$d/server" <<EOF
tls starttls
tls-tickets 1
cap PIPELINING
cap 8BITMIME
auth PLAIN
user alice s3cret-pw
EOF
: > "$d/port"
/usr/bin/python3 "$top/tests/smtpd.py" --script "$d/server" --certs "$certs" \
    --out "$d/srv" > "$d/port" &
server=$!
trap 'kill "$server" 2>/dev/null || :' EXIT
while [ ! -s "$d/port" ]; do sleep 0.1; done
port=$(cat "$d/port")
umask 077
cat > "$d/conf" <<EOF
account default
host 127.0.0.1
port $port
domain client.example
maildomain example.org
from sender@example.org
tls on
tls_starttls on
tls_trust_file $certs/ca.pem
auth plain
user alice
password s3cret-pw
queue_dir $d/queue
EOF
printf 'From: <sender@example.org>\nTo: <rcpt@example.net>\nSubject: profile\n\nHello.\n' \
    > "$d/msg"
if [ "${3:-}" = resume ] || [ "${3:-}" = perf ]; then
	"$postern" -C "$d/conf" rcpt@example.net < "$d/msg"
fi
if [ "${3:-}" = perf ]; then
	n=${4:-40}
	# shellcheck disable=SC2016 # $i is the loop's, not ours
	printf '#!/bin/sh\ni=0\nwhile [ "$i" -lt %s ]; do\n\t"%s" -C "%s" rcpt@example.net < "%s" || exit 1\n\ti=$((i + 1))\ndone\n' \
	    "$n" "$postern" "$d/conf" "$d/msg" > "$d/loop"
	perf stat -x, -e task-clock,page-faults -o "$d/perf.csv" sh "$d/loop"
	grep -v '^#' "$d/perf.csv" | grep .
	awk -F, -v n="$n" '$3 ~ /^task-clock/ {
		printf "task-clock per run: %.2f ms\n", $1 / n }
	    $3 ~ /^page-faults/ { printf "page faults per run: %.0f\n", $1 / n }' \
	    "$d/perf.csv"
	exit 0
fi
valgrind --tool=callgrind --callgrind-out-file="$d/cg.out" \
    "$postern" -C "$d/conf" rcpt@example.net < "$d/msg" 2> "$d/valgrind.err"
grep 'Collected' "$d/valgrind.err"
echo "-- inclusive"
callgrind_annotate --inclusive=yes "$d/cg.out" |
    grep -E '(SSL_CTX_new|SSL_connect|_dl_start|load_verify|X509_STORE_load_file|CONF_modules_load_file_ex|d2i_SSL_SESSION|X509_verify_cert|OPENSSL_init_crypto|msg_read|queue_submit) \[' |
    grep -v '=>' || :
echo "-- by themselves, top 10"
callgrind_annotate "$d/cg.out" | grep -E '^ *[0-9,]+ \([ 0-9.]+%\)  ' | sed -n '2,11p'
echo "-- the profiled run's handshake (server transcript): $(grep '^\* tls' "$d/srv/transcript" | tail -n 1)"
