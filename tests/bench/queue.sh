#!/bin/sh
#
# Queue benchmark (issue 6): spool overhead per message (fsync included)
# and a 1000-message queue flush over one connection against 1000
# separate msmtp runs.  Never run by make check.
#
# Usage: sh tests/bench/queue.sh [POSTERN] [extra arguments of queue.py]

set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$top/postern}
[ $# -gt 0 ] && shift
if [ ! -x "$bin" ]; then
	echo "queue.sh: build postern first (make)" >&2
	exit 1
fi
exec /usr/bin/python3 "$top/tests/bench/queue.py" --postern "$bin" "$@"
