#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Tears down what up5.sh STATEDIR started: the recorded servers (checked
# against /proc/PID/cmdline) and the "stapc5lab" namespace. The chroots
# stay cached; STATEDIR keeps the logs.
# Usage: down5.sh STATEDIR   (root)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib5.sh
source "$here/lib5.sh"
export PATH=$LAB_PATH

need_root
set_statedir "${1:-}"
[[ -d $statedir ]] || exit 0
lab_lock
lab_stop_recorded "$statedir"
if netns_is_ours; then
	stray=$(ip netns pids "$LAB_NETNS" | tr '\n' ' ')
	[[ -z ${stray// /} ]] || say "warning: still in netns $LAB_NETNS, not ours, left alone: $stray"
	ip netns del "$LAB_NETNS"
	say "deleted network namespace $LAB_NETNS"
fi
say "lab5 down; logs stay in $statedir"
