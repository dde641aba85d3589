#!/bin/sh
# Make the test CA and the certificates tests/smtpd.py serves.
# Usage: sh tests/mkcerts.sh DIR
#
# DIR gets (EC P-256 keys, never committed):
#   ca.pem ca.key                 the test CA
#   good.pem good.key             CN=localhost, SAN DNS:localhost IP:127.0.0.1, by the CA
#   expired.pem expired.key       the same names, by the CA, valid only in 2020
#   notyet.pem notyet.key         the same names, by the CA, valid from December 2099
#   wronghost.pem wronghost.key   SAN DNS:wrong.example only, by the CA
#   selfsigned.pem selfsigned.key the names of good, but self-signed
#   client.pem client.key         a TLS client certificate, by the CA
#
# Nothing is done when DIR/ca.pem is newer than this script.  The files are
# made in a temporary directory and moved into DIR with ca.pem last, so a
# DIR with ca.pem is complete.  Callers that may run at the same time must
# serialise (tests/runtests.py holds a lock on DIR/.lock).
set -e

if [ $# -ne 1 ]; then
    echo "usage: sh tests/mkcerts.sh DIR" >&2
    exit 64
fi
dir=$1
self=$0

mkdir -p "$dir"
if [ -f "$dir/ca.pem" ] && [ -n "$(find "$dir/ca.pem" -newer "$self")" ]; then
    exit 0
fi

umask 077
tmp=$dir/.tmp.$$
rm -rf "$tmp"
mkdir "$tmp"
trap 'rm -rf "$tmp"' EXIT

# Run a command quietly; show its output only when it fails.
quiet() {
    "$@" >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; return 1; }
}

# A configuration of our own, so that the system openssl.cnf plays no part.
cat >"$tmp/openssl.cnf" <<EOF
[ ca ]
default_ca = testca

[ testca ]
dir = $tmp
database = \$dir/index.txt
serial = \$dir/serial
new_certs_dir = \$dir
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none

[ policy_any ]
commonName = supplied

[ req ]
distinguished_name = req_dn
prompt = no

[ req_dn ]
CN = unused

[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[ good_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ wronghost_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.example
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ selfsigned_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash

[ client_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
: >"$tmp/index.txt"
echo 1000 >"$tmp/serial"
cnf=$tmp/openssl.cnf

key() {
    quiet openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 \
        -out "$tmp/$1.key"
}

# self-signed NAME CN EXTENSIONS
selfsigned() {
    key "$1"
    quiet openssl req -config "$cnf" -new -x509 -key "$tmp/$1.key" -subj "/CN=$2" \
        -days 3650 -sha256 -extensions "$3" -out "$tmp/$1.pem"
}

# by the CA: NAME CN EXTENSIONS VALIDITY-OPTIONS...
signed() {
    name=$1 cn=$2 ext=$3
    shift 3
    key "$name"
    quiet openssl req -config "$cnf" -new -key "$tmp/$name.key" -subj "/CN=$cn" \
        -out "$tmp/$name.csr"
    quiet openssl ca -config "$cnf" -batch -notext -cert "$tmp/ca.pem" \
        -keyfile "$tmp/ca.key" -extensions "$ext" "$@" \
        -in "$tmp/$name.csr" -out "$tmp/$name.pem"
}

selfsigned ca "postern test CA" ca_ext
signed good localhost good_ext -days 3650
signed expired localhost good_ext -startdate 20200101000000Z -enddate 20200201000000Z
signed notyet localhost good_ext -startdate 20991201000000Z -enddate 21000101000000Z
signed wronghost wrong.example wronghost_ext -days 3650
selfsigned selfsigned localhost selfsigned_ext
signed client "postern test client" client_ext -days 3650

for name in good expired notyet wronghost selfsigned client ca; do
    mv "$tmp/$name.key" "$dir/$name.key"
    mv "$tmp/$name.pem" "$dir/$name.pem"
done
