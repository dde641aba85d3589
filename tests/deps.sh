#!/bin/sh
#
# Install every Debian package the build, the demo, the tests and the
# benchmarks need (Debian 12, as root).  Idempotent: apt-get update runs
# only when a package is missing, then everything is installed by name.
#   sh tests/deps.sh

set -eu

here=$(cd "$(dirname "$0")" && pwd)

# build: compiler, pkg-config, OpenSSL and libbsd headers
# lint: mandoc, shellcheck; check: Debian's python3 (the scripted server
# and runner use its standard library only), openssl (test certificates),
# valgrind; analyze: cppcheck, clang's scan-build; fuzz: clang with its
# libFuzzer runtime; bench and tests/config: msmtp, for comparison (its
# --pretend output is what postern's must match; python3-cryptography
# signs its certificate revocation lists); tests/dkim: python3-dkim
# (dkimpy, the independent DKIM verifier; it brings python3-nacl for
# Ed25519); tests/renegserver.py: python3-openssl (pyOpenSSL, since
# Python's ssl module cannot ask for a TLS renegotiation); faketime, for
# the clients tests on another day and hour (tests/check.sh); OAuth2
# (src/oauth2.c, tests/oauth2): libcurl4-openssl-dev (HTTPS to the token
# endpoints, libcurl's OpenSSL flavour) and libjson-c-dev (the token
# responses).
# The Debian package (make deb, make check-package): debhelper, dpkg-dev
# and fakeroot build it, lintian checks it, debootstrap makes the Debian
# 12 root that tests/package installs it in.  strace: tests/queue counts
# and orders the spool's fsyncs against the first connection.
# The real clients of tests/clients: php-cli, bsd-mailx, s-nail, git
# send-email (git-email, and libmailtools-perl, which it needs but only
# recommends); of tests/bs: swaks.  bsd-mailx depends on a
# mail-transport-agent: postfix, installed just below by
# interop/install.sh, must come first or apt picks exim4; the clients are
# installed after it.
pkgs="gcc make pkg-config libssl-dev libbsd-dev mandoc shellcheck \
python3 openssl valgrind msmtp ca-certificates util-linux \
clang clang-tools cppcheck libclang-rt-14-dev python3-dkim python3-openssl \
faketime libcurl4-openssl-dev libjson-c-dev python3-cryptography \
debhelper dpkg-dev fakeroot lintian debootstrap strace"
clients="php-cli bsd-mailx s-nail git git-email libmailtools-perl swaks"

missing=
for p in $pkgs; do
	if ! dpkg-query -W -f '${Status}' "$p" 2>/dev/null |
	    grep -q 'ok installed'; then
		missing="$missing $p"
	fi
done
if [ -n "$missing" ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	# shellcheck disable=SC2086 # the package list is meant to split
	apt-get install -y --no-install-recommends $missing
fi

# Postfix + Dovecot for the interop smarthost, installed so that Postfix
# configures nothing on its own.
sh "$here/interop/install.sh"

missing=
for p in $clients; do
	if ! dpkg-query -W -f '${Status}' "$p" 2>/dev/null |
	    grep -q 'ok installed'; then
		missing="$missing $p"
	fi
done
if [ -n "$missing" ]; then
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086 # the package list is meant to split
	apt-get install -y --no-install-recommends $missing
fi
