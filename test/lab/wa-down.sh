#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Tears down what wa-up.sh STATEDIR started: the recorded stap-serverd
# processes (launcher group and descendants, each checked against
# /proc/PID/cmdline and its start time), the recorded nsd, the stapcwa-*
# network namespaces (only those wa-up.sh made) and
# /etc/netns/stapcwa-cl. Logs, zones and the servers' certificates
# (/var/lib/stapcwa?) stay. Usage: wa-down.sh STATEDIR   (root)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"
# shellcheck source-path=SCRIPTDIR source=walib.sh
source "$here/walib.sh"
export PATH=$LAB_PATH

need_root
set_statedir "${1:-}"
[[ -d $statedir ]] || die "no such STATEDIR $statedir"
wa_lock
wa_down "$statedir"
[[ -f $statedir/wa.env ]] && mv -f "$statedir/wa.env" "$statedir/wa.env.old"
say "wide-area lab down; logs stay in $statedir"
