#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Tears down what up5.sh STATEDIR started: the recorded servers (checked
# against /proc/PID/cmdline) and the "stapc5lab" namespace. The chroots
# stay cached; STATEDIR keeps the logs.
# Usage: down5.sh STATEDIR   (root)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib5.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib5.sh"

lab_init "${1:-}"
[[ -d $statedir ]] || exit 0
lab_lock
lab_stop_recorded "$statedir"
lab_netns_down
say "lab5 down; logs stay in $statedir"
