#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Tears down what net-up.sh STATEDIR started: per server host the recorded
# stap-serverd (with its launcher's group and descendants), avahi-daemon,
# dbus-daemon and anchor, each checked against /proc/PID/cmdline and its
# start time before the signal; then the stapcnet-* network namespaces
# (only those carrying net-up.sh's marker). Never touches the single-server
# lab (stapclab). STATEDIR's logs and certificates stay; net.env and the
# PID files move to *.old. The server users' certificates (/var/lib/stapcnet?)
# stay too, so the next net-up.sh skips the RSA key generation.
# Usage: net-down.sh STATEDIR   (root)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"
# shellcheck source-path=SCRIPTDIR source=netlib.sh
source "$here/netlib.sh"
export PATH=$LAB_PATH

need_root
set_statedir "${1:-}"
[[ -d $statedir ]] || die "no such STATEDIR $statedir"
net_lock
for h in "${NET_SERVERS[@]}"; do net_stop_host "$statedir/$h"; done
# Request directories of servers killed mid-request (TMPDIR=/tmp).
for h in "${NET_SERVERS[@]}"; do
	u=$(net_user "$h")
	getent passwd "$u" >/dev/null || continue
	if ! pgrep -r R,S,D,T,t,I -u "$u" -x stap-serverd >/dev/null 2>&1; then
		find /tmp -maxdepth 1 -type d -name 'stap-server.*' -user "$u" -exec rm -rf {} + 2>/dev/null || true
	fi
done
while read -r ns; do
	if net_ns_exists "$ns"; then
		net_del_ns "$ns"
		say "deleted network namespace $ns"
	fi
done < <(net_all_ns)
[[ -f $statedir/net.env ]] && mv -f "$statedir/net.env" "$statedir/net.env.old"
say "net lab down; logs stay in $statedir"
