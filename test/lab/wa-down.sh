#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Tears down what wa-up.sh STATEDIR started: the recorded stap-serverd
# processes (launcher group and descendants, each checked against
# /proc/PID/cmdline and its start time), the recorded nsd, the stapcwa-*
# network namespaces (only those wa-up.sh made) and
# /etc/netns/stapcwa-cl. Logs, zones and the servers' certificates
# (/var/lib/stapcwa?) stay. Usage: wa-down.sh STATEDIR   (root)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=walib.sh
source "$(dirname "${BASH_SOURCE[0]}")/walib.sh"

lab_init "${1:-}"
[[ -d $statedir ]] || die "no such STATEDIR $statedir"
lab_lock "$WA_LOCK"
wa_down "$statedir"
[[ -f $statedir/wa.env ]] && mv -f "$statedir/wa.env" "$statedir/wa.env.old"
say "wide-area lab down; logs stay in $statedir"
