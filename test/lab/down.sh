#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Tears down what up.sh STATEDIR started: the recorded server processes
# (checked against /proc/PID/cmdline, with their process group and
# descendants) and the "stapclab" network namespace. STATEDIR's contents
# (logs, certificates, lab.env) stay; pids moves to pids.old.
# Usage: down.sh STATEDIR   (root)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"
export PATH=$LAB_PATH

need_root
set_statedir "${1:-}"
[[ -d $statedir ]] || die "no such STATEDIR $statedir"
lab_lock
lab_stop_recorded "$statedir"

# A server killed mid-request leaves its request directory behind
# (TMPDIR=/tmp, see up.sh); clean those once no server of ours runs
# (zombies, which PID 1 may reap late, do not count).
if ! pgrep -r R,S,D,T,t,I -u "$LAB_USER" -x stap-serverd >/dev/null 2>&1; then
	find /tmp -maxdepth 1 -type d -name 'stap-server.*' -user "$LAB_USER" -exec rm -rf {} + 2>/dev/null || true
fi

if netns_is_ours; then
	# Processes still inside (a test's client, say) are not ours to kill;
	# deleting the name leaves them running in the orphaned namespace.
	stray=$(ip netns pids "$LAB_NETNS" | tr '\n' ' ')
	[[ -z ${stray// /} ]] || say "warning: still in netns $LAB_NETNS, not ours, left alone: $stray"
	ip netns del "$LAB_NETNS" || die "ip netns del $LAB_NETNS"
	say "deleted network namespace $LAB_NETNS"
elif netns_exists; then
	say "network namespace $LAB_NETNS was not made by up.sh (no marker); left alone"
fi
say "lab down; logs stay in $statedir"
