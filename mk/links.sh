#!/bin/sh
#
# The names that callers use for the MTA, as symbolic links to postern:
# make install-links and make uninstall.  A name that a package owns
# (dpkg -S, where dpkg exists) or that is not a link to postern is never
# replaced and never removed: another MTA is switched away from with its
# package manager, not by overwriting its files.
#
# Usage: sh mk/links.sh install|uninstall DESTDIR SBINDIR BINDIR
#        sh mk/links.sh own PATH...     (fails naming the package that
#                                        owns a PATH)

set -u

# owner PATH: the package that owns PATH, empty when none (or no dpkg, or
# a staged install under DESTDIR, which no package owns yet).
owner() {
	[ -z "${destdir:-}" ] || return 0
	command -v dpkg-query >/dev/null 2>&1 || return 0
	dpkg-query -S "$1" 2>/dev/null | grep -v '^diversion by' |
	    sed -n 's/: .*//p' | head -n 1
}

# own PATH...: refuse a PATH that a package owns.
own() {
	bad=0
	for p in "$@"; do
		pkg=$(owner "$p")
		if [ -n "$pkg" ]; then
			echo "postern: $p belongs to the package $pkg: not" \
			    "replaced; remove $pkg first (apt-get remove $pkg)" \
			    "or use postern's own package" >&2
			bad=1
		fi
	done
	return $bad
}

# pointsto PATH: PATH is a symbolic link whose target is named postern.
pointsto() {
	[ -L "$1" ] || return 1
	case "$(readlink "$1")" in
	postern|*/postern) return 0 ;;
	esac
	return 1
}

# The links, one "PATH TARGET" per line; /usr/sbin/sendmail and
# /usr/lib/sendmail are where cron, PHP, mailx and git look, whatever
# the prefix.
links() {
	echo "$destdir$sbindir/sendmail postern"
	[ "$sbindir" = /usr/sbin ] ||
	    echo "$destdir/usr/sbin/sendmail $sbindir/postern"
	echo "$destdir/usr/lib/sendmail $sbindir/postern"
	echo "$destdir$bindir/mailq $sbindir/postern"
	echo "$destdir$bindir/newaliases $sbindir/postern"
}

install_links() {
	bad=0
	# Every name is checked before any is made: all or nothing.
	while read -r path target; do
		[ -e "$path" ] || [ -L "$path" ] || continue
		pkg=$(owner "$path")
		if [ -n "$pkg" ]; then
			echo "postern: $path belongs to the package $pkg: not" \
			    "replaced.  To make postern the system's MTA," \
			    "install its package instead (make deb; apt install" \
			    "./postern_*.deb), which replaces $pkg cleanly, or" \
			    "remove $pkg first (apt-get remove $pkg)" >&2
			bad=1
		elif ! pointsto "$path"; then
			echo "postern: $path exists and is not a link to" \
			    "postern: not replaced; move it away first" >&2
			bad=1
		fi
	done <<-EOF
	$(links)
	EOF
	[ "$bad" = 0 ] || exit 1
	links | while read -r path target; do
		mkdir -p "$(dirname "$path")" || exit 1
		ln -sfn "$target" "$path" || exit 1
		echo "$path -> $target"
	done
}

uninstall_links() {
	links | while read -r path target; do
		if pointsto "$path" && [ -z "$(owner "$path")" ]; then
			rm -f "$path" && echo "removed $path"
		fi
	done
}

case "${1:-}" in
install|uninstall)
	[ $# -eq 4 ] || { echo "usage: $0 $1 DESTDIR SBINDIR BINDIR" >&2; exit 64; }
	destdir=$2 sbindir=$3 bindir=$4
	"${1}_links" ;;
own)
	shift
	destdir=
	own "$@" ;;
*)
	echo "usage: $0 install|uninstall DESTDIR SBINDIR BINDIR | own PATH..." >&2
	exit 64 ;;
esac
