#!/bin/sh
# Install what the interop test needs (Debian/Ubuntu, run as root).
# Idempotent: safe to run on a machine that already has everything.
#   sh tests/interop/install.sh
set -eu

here=$(cd "$(dirname "$0")" && pwd)
pkgs=$(grep -v '^[[:space:]]*#' "$here/packages" | tr '\n' ' ')

# Postfix must install without asking anything and without configuring a
# real mail system: "No configuration" leaves /etc/postfix/main.cf alone.
printf '%s\n' \
    'postfix postfix/main_mailer_type select No configuration' \
    'postfix postfix/mailname string localhost' |
    debconf-set-selections

missing=
for p in $pkgs; do
    if ! dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
        missing="$missing $p"
    fi
done

if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    # The packages' own system-wide daemons (dovecot on 143/993...) must not
    # start: the test runs private instances.  Containers usually have a
    # policy-rc.d that says so; where none exists, use one during install.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
        trap 'exit 1' HUP INT TERM
    fi
    # shellcheck disable=SC2086 # word splitting of the package list is intended
    if ! apt-get install -y --no-install-recommends $missing; then
        apt-get update
        # shellcheck disable=SC2086
        apt-get install -y --no-install-recommends $missing
    fi
fi

# The default instance is never started.  Its main.cf only has to exist:
# start.sh lists each test instance in its alternate_config_directories
# (so "postqueue -c DIR/postfix -p" works) and stop.sh removes it again.
# "No configuration" leaves no main.cf.
if [ ! -e /etc/postfix/main.cf ]; then
    : > /etc/postfix/main.cf
fi

echo "interop: packages ready: $pkgs"
