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
# shellcheck source-path=SCRIPTDIR source=netlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/netlib.sh"

lab_init "${1:-}"
[[ -d $statedir ]] || die "no such STATEDIR $statedir"
lab_lock "$NET_LOCK"
for h in "${NET_SERVERS[@]}"; do
	net_stop_host "$statedir/$h"
	lab_clean_requests "$(net_user "$h")" # killed mid-request (TMPDIR=/tmp)
done
while read -r ns; do net_del_ns "$ns"; done < <(net_all_ns)
[[ -f $statedir/net.env ]] && mv -f "$statedir/net.env" "$statedir/net.env.old"
say "net lab down; logs stay in $statedir"
