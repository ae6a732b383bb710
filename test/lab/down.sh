#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Tears down what up.sh STATEDIR started: the recorded server processes
# (checked against /proc/PID/cmdline, with their process group and
# descendants) and the "stapclab" network namespace. STATEDIR's contents
# (logs, certificates, lab.env) stay; pids moves to pids.old.
# Usage: down.sh STATEDIR   (root)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lab_init "${1:-}"
[[ -d $statedir ]] || die "no such STATEDIR $statedir"
lab_lock
lab_stop_recorded "$statedir"
# A server killed mid-request leaves its request directory behind
# (TMPDIR=/tmp, see up.sh).
lab_clean_requests "$LAB_USER"
lab_netns_down
say "lab down; logs stay in $statedir"
