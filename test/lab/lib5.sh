# shellcheck shell=bash disable=SC2034 # the constants are for the sourcing scripts
# SPDX-License-Identifier: GPL-2.0-or-later
# Shared helpers for the systemtap 5.x lab (chroot5.sh, up5.sh, down5.sh):
# one compile server per chroot (trixie = 5.1, sid = 5.6), each in its own
# network namespace. Names are distinct from the 4.8 lab's (stapclab) so the
# two labs run side by side. Sourced, not run.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LAB5_CACHE=${STAP5_CACHE:-/var/cache/stap-client-lab}
LAB5_SUITES=(trixie sid)
LAB5_USER=stapc5srv # a user inside each chroot, not on the host

# One namespace holds both servers (one port each). lib.sh's helpers
# (lab_lock, netns_is_ours, lab_stop_recorded) work on these names.
LAB_NETNS=stapc5lab
LAB_ADDR=10.231.5.1
LAB_IF=lab5
LAB_IF_PEER=lab5p
LAB_MARKER=stap-client-lab5
LAB_LOCK=/run/lock/stapc5lab.lock
LAB5_PACKAGES=(systemtap systemtap-server systemtap-client systemtap-runtime
	libnss3-tools linux-headers-amd64 zip unzip procps)

# lab5_port SUITE: the server's port (5.1 on 5551, 5.6 on 5556).
lab5_port() { case $1 in trixie) echo 5551 ;; sid) echo 5556 ;; *) return 1 ;; esac; }

# lab5_mounts ROOT: the shell commands that give a chroot /proc, /sys and
# /dev. They run inside "ip netns exec", whose private mount namespace
# drops them when the last process in it exits: nothing leaks to the host.
lab5_mounts() {
	printf 'mount --bind /proc %s/proc && mount --bind /sys %s/sys && mount --rbind /dev %s/dev' "$1" "$1" "$1"
}

# chroot5_umount ROOT: unmount whatever is mounted below ROOT (deepest
# first), so an rm -rf never walks into /proc or /dev.
chroot5_umount() {
	local root=$1 m
	[[ -n $root && $root == /* ]] || return 0
	while read -r m; do
		umount -l "$m" 2>/dev/null || true
	done < <(awk -v r="$root/" 'index($2, r) == 1 { print $2 }' /proc/self/mounts | sort -r)
}

# chroot5_version ROOT: the chroot's systemtap package version.
chroot5_version() {
	chroot "$1" dpkg-query -W -f='${Version}' systemtap 2>/dev/null
}

# chroot5_release ROOT: the kernel release of the chroot's headers.
chroot5_release() { newest_headers "$1"; }

# chroot5_ok ROOT: the chroot is complete (a half-built or damaged one is
# rebuilt): stap runs, the server, certutil, headers and the user exist.
chroot5_ok() {
	local root=$1
	[[ -x $root/usr/bin/stap && -x $root/usr/lib/systemtap/stap-serverd &&
		-x $root/usr/bin/certutil && -x $root/usr/bin/staprun && -x $root/usr/bin/unzip ]] || return 1
	chroot5_release "$root" >/dev/null || return 1
	chroot "$root" id -u "$LAB5_USER" >/dev/null 2>&1 || return 1
	chroot "$root" env -i PATH="$LAB_PATH" stap -V >/dev/null 2>&1
}
