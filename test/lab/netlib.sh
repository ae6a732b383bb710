# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash disable=SC2034 # the constants are for the sourcing scripts
# The names of the multi-host discovery lab (net-up.sh, net-down.sh), over
# lib.sh's helpers. Sourced, not run. Everything is named stapcnet-* /
# stapcnet* so that it coexists with the single-server lab (stapclab).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NET_PREFIX=stapcnet
NET_SW_NS=stapcnet-sw
NET_CL_NS=stapcnet-cl
NET_CL2_NS=stapcnet-cl2 # a second client machine (the fleet test)
NET_SERVERS=(a b c)      # server host letters
NET_SUBNET=10.232.0      # /24, never routed to the root namespace
NET_IF=net0              # each host's interface (veth), peer sw-X in the switch
NET_BRIDGE=br0
NET_MARKER=stap-client-netlab # alias on br0 and on every host's net0
NET_LOCK=/run/lock/stapcnet.lock

net_ns() { printf 'stapcnet-%s\n' "$1"; }           # a -> stapcnet-a
net_user() { printf 'stapcnet%s\n' "$1"; }           # a -> stapcneta
net_host() { printf 'srv%s\n' "$1"; }                # a -> srva
net_addr() {                                         # a b c cl cl2 -> 10.232.0.1 2 3 10 11
	case $1 in a) echo "$NET_SUBNET.1" ;; b) echo "$NET_SUBNET.2" ;; c) echo "$NET_SUBNET.3" ;; cl) echo "$NET_SUBNET.10" ;; cl2) echo "$NET_SUBNET.11" ;; esac
}

# net_ns_is_ours NS: exists and carries NET_MARKER (br0 in the switch, net0 elsewhere).
net_ns_is_ours() { ns_marked "$1" "$(net_marked_dev "$1")" "$NET_MARKER"; }
net_marked_dev() { if [[ $1 == "$NET_SW_NS" ]]; then echo "$NET_BRIDGE"; else echo "$NET_IF"; fi; }
net_all_ns() {
	local h
	printf '%s\n' "$NET_SW_NS" "$NET_CL_NS" "$NET_CL2_NS"
	for h in "${NET_SERVERS[@]}"; do net_ns "$h"; done
}

# Daemons of one host are recorded in HOSTDIR/daemons (lab_record); the
# stap-serverd launcher and server in HOSTDIR/pids (the format
# lab_stop_recorded reads).

# net_is HOSTDIR ROLE PID: the process has the expected command line (or,
# for avahi-daemon, which rewrites its argv into "avahi-daemon: running
# [srva.local]", the expected executable and network namespace).
net_is() {
	local hd=$1 h=${1##*/} pid=$3
	case $2 in
	anchor) pid_matches "$pid" "stapcnet-anchor-$h" ;;
	dbus-daemon) pid_matches "$pid" "--config-file=$hd/dbus.conf" ;;
	avahi-daemon)
		pid_matches "$pid" "avahi-daemon" &&
			[[ $(readlink "/proc/$pid/exe" 2>/dev/null) == */avahi-daemon ]] &&
			[[ $(readlink "/proc/$pid/ns/net" 2>/dev/null) == "net:[$(stat -L -c %i "/run/netns/$(net_ns "$h")" 2>/dev/null)]" ]]
		;;
	*) return 1 ;;
	esac
}

# net_daemon_pid HOSTDIR ROLE: prints the recorded PID if that very process
# is alive and still has the expected command line.
net_daemon_pid() {
	local hd=$1 role=$2 pid r st
	[[ -f $hd/daemons ]] || return 1
	while read -r pid r st; do
		[[ $r == "$role" ]] || continue
		alive "$pid" "$st" && net_is "$hd" "$role" "$pid" && { echo "$pid"; return 0; }
	done <"$hd/daemons"
	return 1
}

# net_stop_host HOSTDIR: stop the recorded stap-serverd, then the recorded
# avahi-daemon, dbus-daemon and anchor, each checked against its
# /proc/PID/cmdline and start time first.
net_stop_host() {
	[[ -d $1 ]] || return 0
	lab_stop_recorded "$1"
	lab_stop_daemons "$1" net_is avahi-daemon dbus-daemon anchor
}

# net_del_ns NS: delete one of our namespaces (refuse others').
net_del_ns() { ns_del "$1" "$(net_marked_dev "$1")" "$NET_MARKER" 'net0|br0|sw-[a-z]+'; }
