#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds (or checks) the debootstrap chroots that hold systemtap 5.x for the
# lab: trixie (5.1) and sid (5.6), each with systemtap, its server, the
# runtime, certutil and the distro's kernel headers. The chroots are cached
# outside the work tree and rebuilt only when missing or broken, so only the
# first run downloads (about 1 GB, 2-5 min).
# Usage: chroot5.sh [SUITE...]   (root; default: trixie sid)
# Environment: STAP5_CACHE (default /var/cache/stap-client-lab),
# STAP5_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib5.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib5.sh"

lab_root
suites=("$@")
[[ ${#suites[@]} -gt 0 ]] || suites=("${LAB5_SUITES[@]}")
mirror=${STAP5_MIRROR:-http://deb.debian.org/debian}
mkdir -p "$LAB5_CACHE"
exec 8>"$LAB5_CACHE/.build.lock"
flock -w 1800 8 || die "another chroot5.sh holds $LAB5_CACHE/.build.lock for more than 30 min"

# retry N CMD...: the archive is on the network; a mirror hiccup should not
# fail CI.
retry() {
	local n=$1 i
	shift
	for ((i = 1; i <= n; i++)); do
		"$@" && return 0
		say "attempt $i/$n failed: $*"
		((i < n)) && sleep $((i * 10))
	done
	return 1
}

host_apt() {
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 "$@" </dev/null >&2
}

if ! command -v debootstrap >/dev/null; then
	retry 3 host_apt update || die "apt-get update"
	retry 3 host_apt install -y --no-install-recommends debootstrap || die "apt-get install debootstrap"
fi

build() {
	local suite=$1 root=$LAB5_CACHE/$1 new=$LAB5_CACHE/$1.new
	if chroot5_ok "$root"; then
		say "$suite: cached chroot OK ($(chroot5_version "$root"))"
		return 0
	fi
	say "$suite: building the chroot in $root (first run downloads ~500 MB)"
	chroot5_umount "$new"
	# A finished debootstrap from an interrupted run is reused.
	[[ -e $new/.stapclab-debootstrap-ok ]] || rm -rf --one-file-system "$new"
	# debootstrap's own downloads are not retried by it: retry the whole.
	local i ok=0
	[[ -e $new/.stapclab-debootstrap-ok ]] && ok=1
	for i in 1 2 3; do
		[[ $ok == 1 ]] && break
		if debootstrap --variant=minbase "$suite" "$new" "$mirror" >"$LAB5_CACHE/$suite.debootstrap.log" 2>&1; then
			touch "$new/.stapclab-debootstrap-ok"
			ok=1
			break
		fi
		say "$suite: debootstrap attempt $i failed (tail of $LAB5_CACHE/$suite.debootstrap.log):"
		tail -n 5 "$LAB5_CACHE/$suite.debootstrap.log" >&2 || true
		chroot5_umount "$new"
		rm -rf --one-file-system "$new"
		sleep $((i * 10))
	done
	[[ $ok == 1 ]] || die "$suite: debootstrap failed 3 times"
	# Nothing in the chroot may start daemons (avahi, dbus) on install.
	printf '#!/bin/sh\nexit 101\n' >"$new/usr/sbin/policy-rc.d"
	chmod 0755 "$new/usr/sbin/policy-rc.d"
	# sid's Release file can be past its Valid-Until on a machine whose clock
	# is off (as here); the host's apt has the same setting.
	printf '%s\n' 'APT::Install-Recommends "false";' 'APT::Install-Suggests "false";' \
		'Acquire::Check-Valid-Until "false";' 'Acquire::Check-Date "false";' >"$new/etc/apt/apt.conf.d/90stapclab"
	cp /etc/resolv.conf "$new/etc/resolv.conf"
	mount --bind /proc "$new/proc"
	in_new() { chroot "$new" env -i PATH="$LAB_PATH" DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 "$@" </dev/null >>"$LAB5_CACHE/$suite.apt.log" 2>&1; }
	if ! retry 3 in_new apt-get update || ! retry 3 in_new apt-get install -y "${LAB5_PACKAGES[@]}"; then
		tail -n 20 "$LAB5_CACHE/$suite.apt.log" >&2 || true
		chroot5_umount "$new"
		die "$suite: apt-get in the chroot failed (see $LAB5_CACHE/$suite.apt.log)"
	fi
	in_new apt-get clean || true
	chroot5_umount "$new"
	# The unprivileged server user (stap-serverd refuses root).
	chroot "$new" useradd --create-home --home-dir "/home/$LAB5_USER" --shell /usr/sbin/nologin "$LAB5_USER" ||
		die "$suite: useradd $LAB5_USER in the chroot"
	chroot5_ok "$new" || die "$suite: the new chroot fails its check (stap -V, headers)"
	chroot5_umount "$root"
	rm -rf --one-file-system "$root"
	mv "$new" "$root"
	say "$suite: chroot ready ($(chroot5_version "$root"), $(du -sh "$root" | cut -f1))"
}

pids=()
for s in "${suites[@]}"; do
	build "$s" &
	pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
[[ $rc == 0 ]] || die "a chroot could not be built (see above)"
