#!/bin/sh
#
# make check: build, then run every stage and close with one line
# "check: N passed, N failed".  Variants (environment, set by make):
#   SANITIZE=1  ASan+UBSan build in build-san/ (never reuses a plain object)
#   VALGRIND=1  memcheck on the unit tests and on every postern run of the
#               integration cases tagged "core"
# Each variant first proves it is active: the canary (a deliberate
# overflow and leak) must be caught.

set -u

MAKE=${MAKE:-make}
SANITIZE=${SANITIZE:-}
VALGRIND=${VALGRIND:-}
PY=/usr/bin/python3
top=$(pwd)

passed=0
failed=0

# count NAME OUTPUT-FILE: add the stage's "N passed, N failed" to the sums.
count() {
	line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$2" | tail -n 1)
	if [ -z "$line" ]; then
		echo "check: $1 printed no summary" >&2
		failed=$((failed + 1))
		return
	fi
	p=$(echo "$line" | awk '{ for (i = 2; i <= NF; i++) if ($i == "passed,") print $(i - 1) }')
	f=$(echo "$line" | awk '{ for (i = 2; i <= NF; i++) if ($i ~ /^failed/) print $(i - 1) }')
	passed=$((passed + p))
	failed=$((failed + f))
}

if [ "$SANITIZE" = 1 ]; then
	B=build-san
	BIN=build-san/postern
	SANFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"
	ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=0
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
	export ASAN_OPTIONS UBSAN_OPTIONS
else
	B=build
	BIN=postern
	SANFLAGS=
fi

echo "check: building $BIN and the unit tests"
if ! $MAKE -s B="$B" BIN="$BIN" EXTRA_CFLAGS="$SANFLAGS" \
    EXTRA_LDFLAGS="$SANFLAGS" "$BIN" units; then
	echo "check: build failed"
	echo "check: 0 passed, 1 failed"
	exit 1
fi

VG=
if [ "$VALGRIND" = 1 ]; then
	VG="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite"
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT

# The canary must be caught by the variant that is on.
if [ "$SANITIZE" = 1 ] || [ "$VALGRIND" = 1 ]; then
	$VG "$B/canary" > "$out" 2>&1
	rc=$?
	if [ "$rc" -ne 0 ] && grep -qE 'AddressSanitizer|Invalid write|definitely lost' "$out"
	then
		echo "ok canary caught (exit $rc)"
		passed=$((passed + 1))
	else
		echo "FAIL canary not caught (exit $rc): the checking variant is not active"
		cat "$out"
		failed=$((failed + 1))
	fi
fi

for t in "$B"/t_*; do
	name=$(basename "$t")
	$VG "$t" > "$out" 2>&1
	rc=$?
	cat "$out"
	count "$name" "$out"
	if [ "$rc" -ne 0 ] && ! grep -qE ' [1-9][0-9]* failed' "$out"; then
		echo "FAIL $name exited $rc"
		failed=$((failed + 1))
	fi
done

# The oracle: Python's email package judges message preparation.
$PY tests/oracle/oracle.py "$B/msgprep" > "$out" 2>&1
cat "$out"
count oracle "$out"

$PY tests/selftest_smtpd.py > "$out" 2>&1
cat "$out"
count selftest "$out"

# The secret check that every driver runs (issue 7) must be able to fail.
$PY tests/leakcheck.py > "$out" 2>&1
cat "$out"
count leakcheck "$out"

if [ "$VALGRIND" = 1 ]; then
	$PY tests/runtests.py --postern "$top/$BIN" --valgrind --tags core \
	    > "$out" 2>&1
else
	$PY tests/runtests.py --postern "$top/$BIN" > "$out" 2>&1
fi
cat "$out"
count integration "$out"

# The queue: multi-step scenarios, crash points (a -DPOSTERN_TEST build in
# its own object directory, never installed), kill -9, disk full,
# concurrency.  Memcheck is for the core cases above.
if [ "$VALGRIND" != 1 ]; then
	if $MAKE -s B="$B-test" BIN="$B-test/postern-test" \
	    EXTRA_CFLAGS="$SANFLAGS -DPOSTERN_TEST" EXTRA_LDFLAGS="$SANFLAGS" \
	    "$B-test/postern-test"; then
		$PY tests/queue/run.py --postern "$top/$BIN" \
		    --postern-test "$top/$B-test/postern-test" > "$out" 2>&1
		cat "$out"
		count queue "$out"
	else
		echo "FAIL the POSTERN_TEST build"
		failed=$((failed + 1))
	fi
fi

# OAuth2 (issue 15): a local HTTPS identity provider and the scripted
# server; the crash tests use the -DPOSTERN_TEST build of the queue stage.
# libcurl stays out of the memcheck variant (no core case uses it).
if [ "$VALGRIND" != 1 ]; then
	if grep -q '^#define HAVE_OAUTH2 1' config.h; then
		$PY tests/oauth2/run.py --postern "$top/$BIN" \
		    --postern-test "$top/$B-test/postern-test" > "$out" 2>&1
	else
		$PY tests/oauth2/run.py --postern "$top/$BIN" --without \
		    > "$out" 2>&1
	fi
	cat "$out"
	count oauth2 "$out"
fi

# The privilege model needs root (useradd, a setgid install) and runs
# against a plain build of its own, so only in the plain variant.
if [ "$SANITIZE" != 1 ] && [ "$VALGRIND" != 1 ]; then
	$PY tests/queue/priv.py > "$out" 2>&1
	cat "$out"
	count priv "$out"
fi

# Every option of the command line, one row each.
$PY tests/options/run.py --postern "$top/$BIN" > "$out" 2>&1
cat "$out"
count options "$out"

# The summary lines in syslog (a private /dev/log: unshare -m, root) and
# the logfile, and no secret in any of them.
$PY tests/syslog/run.py --postern "$top/$BIN" > "$out" 2>&1
cat "$out"
count syslog "$out"

# Real callers: PHP mail(), cron's argv, bsd-mailx, s-nail, git send-email.
$PY tests/clients/run.py --postern "$top/$BIN" > "$out" 2>&1
cat "$out"
count clients "$out"

# The same clients with the clock on a single-digit day of the month (git
# writes "Sun,  6 Dec", s-nail "Sun, 06 Dec") and seconds before a new
# year, in a zone that is not UTC: CI must pass on any day at any hour.
# libfaketime is preloaded, which ASan refuses: plain builds only.
[ "$SANITIZE" = 1 ] || for when in '2027-02-06 09:15:00' '2027-12-31 23:59:50'; do
	TZ=America/New_York faketime "$when" \
	    $PY tests/clients/run.py --postern "$top/$BIN" > "$out" 2>&1
	sed "s/^\(ok\|FAIL\) /\1 [$when] /" "$out"
	count "clients at $when" "$out"
done

# -bs with real clients: swaks --pipe and Python's smtplib.
if [ "$VALGRIND" = 1 ]; then
	$PY tests/bs/run.py --postern "$top/$BIN" --valgrind > "$out" 2>&1
else
	$PY tests/bs/run.py --postern "$top/$BIN" > "$out" 2>&1
fi
cat "$out"
count bs "$out"

# DKIM: every signed message verified by dkimpy (python3-dkim), not by
# postern's own code; several hundred postern runs, so not under memcheck.
if [ "$VALGRIND" != 1 ]; then
	$PY tests/dkim/run.py --postern "$top/$BIN" > "$out" 2>&1
	cat "$out"
	count dkim "$out"
fi

# The demo of the README's quick start must keep working.
if [ "$VALGRIND" != 1 ]; then
	if sh tests/demo.sh "$top/$BIN" > "$out" 2>&1 &&
	    grep -q '^=== postern exited 0 ===$' "$out" &&
	    grep -q '^Subject: =?utf-8?b?5p2l6IeqU01UUOeahOmXruWAmeKApuKApg==?=$' \
	    "$out" && grep -q '^Mail queue is empty$' "$out" &&
	    $PY tests/leakcheck.py --password demo-password \
	    --user demo@example.org "$out"; then
		echo "ok demo"
		passed=$((passed + 1))
	else
		echo "FAIL demo"
		cat "$out"
		failed=$((failed + 1))
	fi
fi

# Interop with a real Postfix + Dovecot smarthost (plain and sanitized
# builds; memcheck is for the core cases above).
if [ "$VALGRIND" != 1 ]; then
	$PY tests/interop/run.py --postern "$top/$BIN" > "$out" 2>&1
	cat "$out"
	count interop "$out"
fi

echo "check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
