#!/bin/sh
# Stop what start.sh started in DIR.  Idempotent; never fails because
# something is already stopped (or was never started).
#
#   sh tests/interop/stop.sh DIR
set -u

[ $# -eq 1 ] || {
    echo "usage: stop.sh DIR" >&2
    exit 2
}
[ -d "$1" ] || exit 0
DIR=$(cd "$1" && pwd -P) || exit 0

# alive PIDFILE: print the pid if the process in PIDFILE still runs.
# A zombie counts as gone (PID 1 of a container may reap late).
alive() {
    [ -s "$1" ] || return 1
    pid=$(sed -n '1{s/[^0-9]//g;p;}' "$1")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    if [ -r "/proc/$pid/stat" ]; then
        state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1)
        [ "$state" = Z ] && return 1
    fi
    echo "$pid"
}

# wait_gone PIDFILE: up to 10 s for a graceful exit, then SIGKILL.
wait_gone() {
    i=0
    while pid=$(alive "$1"); do
        i=$((i + 1))
        if [ "$i" -gt 100 ]; then
            kill -9 "$pid" 2>/dev/null
            sleep 0.2
            break
        fi
        sleep 0.1
    done
}

# Postfix: master's pid file is in the instance's queue directory.
pf_pid=$DIR/postfix-queue/pid/master.pid
if [ -f "$DIR/postfix/main.cf" ] && alive "$pf_pid" >/dev/null; then
    postfix -c "$DIR/postfix" stop >/dev/null 2>&1 ||
        kill "$(alive "$pf_pid")" 2>/dev/null
    wait_gone "$pf_pid"
fi

# Dovecot: master.pid in base_dir.  SIGTERM is what "doveadm stop" sends.
dc_pid=$DIR/dovecot-run/master.pid
if pid=$(alive "$dc_pid"); then
    kill "$pid" 2>/dev/null
    wait_gone "$dc_pid"
fi

# Forget this instance in the default main.cf (start.sh added it).
if [ -f /etc/postfix/main.cf ] && command -v postconf >/dev/null 2>&1; then
    alt=$(postconf -h alternate_config_directories 2>/dev/null || :)
    new=$(echo "$alt" | tr -s ', ' '\n' | grep -v -x -F "$DIR/postfix" |
        grep -v '^$' | paste -s -d ',' - | sed 's/,/, /g')
    if [ "$new" != "$alt" ]; then
        postconf -e "alternate_config_directories = $new" 2>/dev/null || :
    fi
fi
exit 0
