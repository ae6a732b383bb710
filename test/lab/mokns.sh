#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs a command in a private mount namespace that looks like a Secure Boot
# host: a tmpfs over /sys/firmware holding efivars with SecureBoot=1 and a
# MokListRT made by efitools' cert-to-efi-sig-list from the given DER
# certificates, and /sys/module/module/parameters/sig_enforce reading the
# given value. Nothing outside the namespace changes. libefivar (mokutil)
# accepts the tmpfs as efivarfs when EFIVARFS_PATH=/sys/firmware/efi/efivars/
# is in the command's environment; stap-client needs no such help.
# Usage: mokns.sh [--sig-enforce Y|N] [--cert FILE.der]... [--esl FILE]...
#                 -- COMMAND...  (root)
# --esl appends a ready-made (possibly damaged) signature list file.
set -euo pipefail
guid=605dab50-e046-4300-abb6-3dd810dd8b23

if [[ ${1:-} != --inside ]]; then
	[[ $(id -u) == 0 ]] || { echo "mokns.sh: needs root" >&2; exit 1; }
	exec unshare --mount --propagation private "$0" --inside "$@"
fi
shift
sig=
certs=()
esls=()
while [[ $# -gt 0 ]]; do
	case $1 in
	--sig-enforce) sig=$2; shift 2 ;;
	--cert) certs+=("$2"); shift 2 ;;
	--esl) esls+=("$2"); shift 2 ;;
	--) shift; break ;;
	*) echo "mokns.sh: unknown argument $1" >&2; exit 1 ;;
	esac
done
[[ $# -gt 0 ]] || { echo "mokns.sh: no command" >&2; exit 1; }

work=$(mktemp -d /tmp/stapc10-mokns.XXXXXX)
# The bound /sys/module entries are unmounted first: rm must not walk sysfs.
trap 'umount -R "$work/orig" 2>/dev/null || true; rm -rf "$work"' EXIT
# The signature lists, one per certificate, as shim keeps them.
: >"$work/moklist.esl"
for c in "${certs[@]}"; do
	openssl x509 -inform DER -in "$c" -out "$work/cert.pem"
	cert-to-efi-sig-list -g 11111111-2222-3333-4444-555555555555 "$work/cert.pem" "$work/cert.esl" >/dev/null
	cat "$work/cert.esl" >>"$work/moklist.esl"
done
for e in "${esls[@]}"; do
	cat "$e" >>"$work/moklist.esl"
done

mount -t tmpfs stapc10-firmware /sys/firmware
mkdir -p /sys/firmware/efi/efivars
printf '\x06\x00\x00\x00\x01' >/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c
if [[ -s $work/moklist.esl ]]; then
	{ printf '\x07\x00\x00\x00'; cat "$work/moklist.esl"; } >"/sys/firmware/efi/efivars/MokListRT-$guid"
fi

if [[ -n $sig ]]; then
	# This kernel may have no module signing at all (no
	# /sys/module/module): put a tmpfs over /sys/module holding every
	# original entry, bound back, plus module/parameters/sig_enforce.
	if [[ ! -e /sys/module/module/parameters/sig_enforce ]]; then
		mkdir "$work/orig"
		mount --bind /sys/module "$work/orig"
		mount -t tmpfs stapc10-module /sys/module
		for d in "$work/orig"/*; do
			mkdir "/sys/module/${d##*/}"
			mount --bind "$d" "/sys/module/${d##*/}"
		done
		mkdir -p /sys/module/module/parameters
		: >/sys/module/module/parameters/sig_enforce
	fi
	printf '%s\n' "$sig" >"$work/sig_enforce"
	mount --bind "$work/sig_enforce" /sys/module/module/parameters/sig_enforce
fi
"$@"
