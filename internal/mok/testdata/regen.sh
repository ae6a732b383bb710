#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Regenerates the MokListRT fixtures with real tools: openssl makes the
# certificates (stap-serverd's MOK config for the Systemtap ones), efitools'
# cert-to-efi-sig-list makes the EFI signature lists, and the real mokutil,
# run in a private mount namespace where a tmpfs over /sys/firmware holds the
# variables, writes the golden listings the tests compare with.
# Never edit the fixtures by hand: change this script and rerun.
# Usage: bash regen.sh   (root: it needs a private mount namespace)
set -euo pipefail
cd "$(dirname "$0")"
for t in openssl cert-to-efi-sig-list mokutil unshare; do
	command -v "$t" >/dev/null || { echo "regen.sh: needs $t (apt-get install openssl efitools mokutil util-linux)" >&2; exit 1; }
done
[[ $(id -u) == 0 ]] || { echo "regen.sh: run as root (mount namespace)" >&2; exit 1; }

rm -rf scratch && mkdir scratch
rm -f ./*.der ./*.esl ./*.mokutil.txt
rm -rf trees

# stap-serverd's MOK request config (cscommon.cxx generate_mok), 2048 bits
# here to keep regeneration quick.
cat > scratch/stap.cnf <<'CNF'
[ req ]
default_bits = 2048
distinguished_name = req_distinguished_name
prompt = no
x509_extensions = myexts

[ req_distinguished_name ]
O = Systemtap
CN = Systemtap module signing key

[ myexts ]
basicConstraints=critical,CA:FALSE
keyUsage=digitalSignature
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
CNF

# cert NAME [SUBJECT]: a self-signed DER certificate; no SUBJECT: stap's config.
cert() {
	local args=(-config scratch/stap.cnf)
	[[ $# -gt 1 ]] && args=(-subj "$2" -config scratch/stap.cnf)
	openssl req -new -nodes -utf8 -sha256 -days 36500 -batch -x509 "${args[@]}" \
		-newkey rsa:2048 -outform DER -out "$1.der" -keyout "scratch/$1.key" 2>/dev/null
}
cert stap-a
cert stap-b
cert vendor "/C=DE/O=Example Vendor/CN=Example Secure Boot CA"
cert lookalike "/CN=Systemtap module signing key/O=Someone Else"
cert nonascii $'/O=Systemtap \xc3\xbc/CN=Systemtap module signing key'
# Its issuer line starts with a lower-case type: stap's parser cannot read it.
cert email-first "/emailAddress=keys@example.org/O=Systemtap/CN=Systemtap module signing key"

owner=11111111-2222-3333-4444-555555555555
for c in stap-a stap-b vendor lookalike nonascii email-first; do
	openssl x509 -inform DER -in "$c.der" -out "scratch/$c.pem"
	cert-to-efi-sig-list -g "$owner" "scratch/$c.pem" "scratch/$c.esl" >/dev/null
done
cat scratch/{stap-a,vendor,stap-b,lookalike,nonascii,email-first}.esl > mixed.esl
cp scratch/stap-b.esl stap-b.esl
head -c -7 mixed.esl > truncated.esl

# Each tree is a root holding what the kernel would show under /sys/firmware.
guid=605dab50-e046-4300-abb6-3dd810dd8b23
efivar() { { printf '\x07\x00\x00\x00'; cat "$2"; } > "$1"; }
secureboot() { printf '\x06\x00\x00\x00\x01' > "$1/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"; }
fw=sys/firmware/efi
mk() { mkdir -p "trees/$1/$fw/efivars"; secureboot "trees/$1/$fw/efivars"; }
mk efivars;       efivar "trees/efivars/$fw/efivars/MokListRT-$guid" mixed.esl
mk split;         efivar "trees/split/$fw/efivars/MokListRT-$guid" scratch/stap-a.esl
                  efivar "trees/split/$fw/efivars/MokListRT1-$guid" scratch/stap-b.esl
mk mok-variables; efivar "trees/mok-variables/$fw/efivars/MokListRT-$guid" stap-b.esl
                  mkdir -p "trees/mok-variables/$fw/mok-variables"
                  cp mixed.esl "trees/mok-variables/$fw/mok-variables/MokListRT"
mk none

# mokutil through libefivar, which accepts a non-efivarfs directory when
# EFIVARFS_PATH names it.
for t in efivars split mok-variables none; do
	unshare -m bash -c '
		set -e
		mount -t tmpfs stapc-mok /sys/firmware
		cp -r "$1"/sys/firmware/. /sys/firmware/
		EFIVARFS_PATH=/sys/firmware/efi/efivars/ mokutil --list-enrolled
	' regen "trees/$t" > "$t.mokutil.txt"
done
rm -rf scratch
