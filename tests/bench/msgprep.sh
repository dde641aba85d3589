#!/bin/sh
# Benchmark: prepare a 200 MB message (8-bit text, a few over-long lines
# so the quoted-printable pass runs too) with build/msgprep and report wall
# time and peak RSS.  The target is a peak RSS under 8 MB: memory must
# not grow with the size of the message.  Never run by make check.
#
# usage: tests/bench/msgprep.sh [path/to/msgprep] [megabytes]
set -eu

prep=${1:-build/msgprep}
mb=${2:-200}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/postern-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# One 1 MiB block: 8-bit lines of 64 bytes, then one 2000-byte line.
awk 'BEGIN {
	line = "Grüße aus Köln, 来自SMTP的问候 — the quick brown fox"
	for (n = 0; n < 16000; n++)
		print line
	s = ""
	for (n = 0; n < 200; n++)
		s = s "0123456789"
	print s
}' >"$tmp/block"
{
	printf 'From: Bench <bench@example.org>\nTo: a@example.org\n'
	printf 'Subject: 200 MB Grüße\n\n'
	i=0
	while [ "$i" -lt "$mb" ]; do
		cat "$tmp/block"
		i=$((i + 1))
	done
} >"$tmp/in"
size=$(wc -c <"$tmp/in")

if [ -x /usr/bin/time ]; then
	/usr/bin/time -f '%e %M' -o "$tmp/time" "$prep" -t <"$tmp/in" \
	    >"$tmp/out"
	read -r secs kb <"$tmp/time"
else
	echo "msgprep bench: /usr/bin/time is needed for peak RSS" >&2
	exit 1
fi
out=$(wc -c <"$tmp/out")
echo "msgprep bench: input $size bytes, output $out bytes"
echo "msgprep bench: wall ${secs}s, peak RSS ${kb} KiB"
if [ "$kb" -ge 8192 ]; then
	echo "msgprep bench: FAIL: peak RSS is not under 8 MB" >&2
	exit 1
fi
