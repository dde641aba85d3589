#!/bin/sh
#
# make fuzz [FUZZ_SECONDS=N]: build every libFuzzer target with clang
# (-fsanitize=fuzzer,address,undefined) in build-fuzz/ and run each for N
# seconds, seeded from the tests' own inputs.  Ends with
# "fuzz: N passed, N failed"; a target fails when it finds a crash or a
# broken invariant (the input is kept in build-fuzz/crash-TARGET-*).

set -u

seconds=${FUZZ_SECONDS:-30}
MAKE=${MAKE:-make}
B=build-fuzz
CC=${FUZZ_CC:-clang}
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
targets="${FUZZ_TARGETS:-reply conf addr rfc2047 msg alias queue bs qp dkim}"

if ! command -v "$CC" >/dev/null 2>&1; then
	echo "fuzz: $CC not found (Debian: apt-get install clang libclang-rt-14-dev)"
	echo "fuzz: 0 passed, 1 failed"
	exit 1
fi
# The objects, instrumented for coverage but without libFuzzer's main.
if ! $MAKE -s B="$B" CC="$CC" BIN="$B/postern" \
    EXTRA_CFLAGS="-fsanitize=fuzzer-no-link $SAN" \
    EXTRA_LDFLAGS="-fsanitize=fuzzer-no-link $SAN" fuzzobjs; then
	echo "fuzz: 0 passed, 1 failed"
	exit 1
fi

# Seeds from the tests: messages, configurations, server replies.
seeds() {
	dir=$B/seeds-$1
	rm -rf "$dir"
	mkdir -p "$dir"
	i=0
	case $1 in
	msg|addr|rfc2047|dkim)
		for f in tests/cases/*/input; do
			i=$((i + 1))
			if [ "$1" = msg ] || [ "$1" = dkim ]; then
				cp "$f" "$dir/$i"
			else
				sed -n 's/^[A-Za-z-]*: //p' "$f" | head -n 5 \
				    > "$dir/$i"
			fi
		done ;;
	conf)
		for f in tests/cases/*/conf; do
			i=$((i + 1))
			cp "$f" "$dir/$i"
		done ;;
	alias)
		for f in tests/cases/*/aliases; do
			i=$((i + 1))
			cp "$f" "$dir/$i"
		done
		printf 'root: admin@example.org, ops\nops: ops@example.net\n' \
		    > "$dir/root"
		printf 'a: b\nb: a, c@x.org\ndefault: d@x.org\n' > "$dir/loop" ;;
	queue)
		cp tests/fuzz/seeds/queue.env "$dir/1"
		cp tests/fuzz/seeds/queue2.env "$dir/2" ;;
	bs)
		for f in tests/cases/bs-*/input; do
			i=$((i + 1))
			cp "$f" "$dir/$i"
		done ;;
	qp)
		# fuzz_qp.c's format: a byte for the layout, then the body,
		# or the parts (split at NUL, each led by a byte for its
		# encoding): each input as an 8-bit single part, and as an
		# 8-bit part next to a base64 one.
		for f in tests/cases/*/input; do
			i=$((i + 1))
			{ printf '\004'; cat "$f"; } > "$dir/s$i"
			{ printf '\001\002'; cat "$f"; printf '\000\004'
			    cat "$f"; } > "$dir/m$i"
		done
		# the oracle's messages (tests/oracle/corpus.py), bodies only
		/usr/bin/python3 - "$dir" <<-'EOF'
		import os, sys
		sys.path.insert(0, 'tests/oracle')
		import corpus
		for i, c in enumerate(corpus.generate()):
		    body = c.raw.replace(b'\r\n', b'\n').partition(b'\n\n')[2]
		    with open(os.path.join(sys.argv[1], 'o%d' % i), 'wb') as f:
		        f.write(b'\004' + body)
		EOF
		;;
	reply)
		printf '250 OK\r\n' > "$dir/1"
		printf '250-mx\r\n250-PIPELINING\r\n250 SIZE 100\r\n' > "$dir/2"
		printf '550-5.1.1 a\r\n550 5.1.1 b\r\n' > "$dir/3"
		printf '334 VXNlcm5hbWU6\r\n' > "$dir/4" ;;
	esac
	echo "$dir"
}

passed=0
failed=0
for t in $targets; do
	# shellcheck disable=SC2086,SC2046 # flag and object lists split
	if ! $CC -g -O1 -I. -fsanitize=fuzzer $SAN -o "$B/fuzz_$t" \
	    "tests/fuzz/fuzz_$t.c" $($MAKE -s B="$B" print-fuzzobjs) \
	    $($MAKE -s print-ldadd); then
		echo "FAIL fuzz_$t: build"
		failed=$((failed + 1))
		continue
	fi
	corpus=$B/corpus-$t
	mkdir -p "$corpus"
	log=$B/fuzz_$t.log
	if "$B/fuzz_$t" -max_total_time="$seconds" -max_len=65536 \
	    -artifact_prefix="$B/crash-$t-" -print_final_stats=1 \
	    "$corpus" "$(seeds "$t")" > "$log" 2>&1; then
		stats=$(grep -E '^stat::number_of_executed_units|cov: ' "$log" |
		    tail -n 2 | tr '\n' ' ')
		echo "ok fuzz_$t ${seconds}s: $stats"
		passed=$((passed + 1))
	else
		echo "FAIL fuzz_$t: see $log"
		tail -n 30 "$log"
		failed=$((failed + 1))
	fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
