# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash disable=SC2034 # the constants are for the sourcing scripts
# Shared helpers for the multi-host discovery lab (net-up.sh, net-down.sh).
# Sourced after lib.sh, not run. Everything is named stapcnet-* / stapcnet*
# so that it coexists with the single-server lab (stapclab).

NET_PREFIX=stapcnet
NET_SW_NS=stapcnet-sw
NET_CL_NS=stapcnet-cl
NET_SERVERS=(a b c)      # server host letters
NET_SUBNET=10.232.0      # /24, never routed to the root namespace
NET_IF=net0              # each host's interface (veth), peer sw-X in the switch
NET_BRIDGE=br0
NET_MARKER=stap-client-netlab # alias on br0 and on every host's net0
NET_LOCK=/run/lock/stapcnet.lock

net_ns() { printf 'stapcnet-%s\n' "$1"; }           # a -> stapcnet-a
net_user() { printf 'stapcnet%s\n' "$1"; }           # a -> stapcneta
net_host() { printf 'srv%s\n' "$1"; }                # a -> srva
net_addr() {                                         # a b c cl -> 10.232.0.1 2 3 10
	case $1 in a) echo "$NET_SUBNET.1" ;; b) echo "$NET_SUBNET.2" ;; c) echo "$NET_SUBNET.3" ;; cl) echo "$NET_SUBNET.10" ;; esac
}

net_ns_exists() { ip netns list 2>/dev/null | grep -qE "^$1( |$)"; }
# net_ns_is_ours NS: exists and carries NET_MARKER (br0 in the switch, net0 elsewhere).
net_ns_is_ours() {
	local dev=$NET_IF
	[[ $1 == "$NET_SW_NS" ]] && dev=$NET_BRIDGE
	net_ns_exists "$1" || return 1
	[[ $(ip -n "$1" -o link show dev "$dev" 2>/dev/null) == *"alias $NET_MARKER"* ]]
}
net_all_ns() {
	local h
	printf '%s\n' "$NET_SW_NS" "$NET_CL_NS"
	for h in "${NET_SERVERS[@]}"; do net_ns "$h"; done
}

net_lock() {
	mkdir -p "${NET_LOCK%/*}"
	exec 8>"$NET_LOCK"
	flock -w 900 8 || die "another net-up.sh/net-down.sh holds $NET_LOCK for more than 900 s"
}

# Daemons of one host are recorded in HOSTDIR/daemons as "PID ROLE
# STARTTIME"; the stap-serverd launcher and server in HOSTDIR/pids (the
# format lab_stop_recorded in lib.sh reads).
net_record() { # HOSTDIR PID ROLE
	local st
	st=$(proc_stat "$2") || die "PID $2 ($3) vanished right after start"
	# shellcheck disable=SC2086
	set -- "$1" "$2" "$3" $st
	printf '%s %s %s\n' "$2" "$3" "$7" >>"$1/daemons"
}

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

# net_stop_host HOSTDIR: stop the recorded stap-serverd (lib.sh), then the
# recorded avahi-daemon, dbus-daemon and anchor, each checked against its
# /proc/PID/cmdline and start time first.
net_stop_host() {
	local hd=$1 role pid r st targets=() t deadline left
	[[ -d $hd ]] || return 0
	lab_stop_recorded "$hd"
	[[ -f $hd/daemons ]] || return 0
	for role in avahi-daemon dbus-daemon anchor; do
		while read -r pid r st; do
			[[ $r == "$role" ]] || continue
			if ! alive "$pid" "$st" || ! net_is "$hd" "$role" "$pid"; then continue; fi
			targets+=("$pid:$st")
			kill -TERM "$pid" 2>/dev/null || true
		done <"$hd/daemons"
		# In order: avahi unpublishes before its bus goes away.
		deadline=$((SECONDS + 10))
		while :; do
			left=()
			for t in "${targets[@]}"; do alive "${t%%:*}" "${t#*:}" && left+=("$t"); done
			[[ ${#left[@]} -eq 0 ]] && break
			if ((SECONDS >= deadline)); then
				for t in "${left[@]}"; do kill -KILL "${t%%:*}" 2>/dev/null || true; done
				sleep 0.5
				break
			fi
			sleep 0.1
		done
	done
	[[ ${#targets[@]} -eq 0 ]] || say "stopped ${hd##*/}'s daemons: ${targets[*]%%:*}"
	mv -f "$hd/daemons" "$hd/daemons.old"
}

# net_del_ns NS: delete one of our namespaces (refuse others').
net_del_ns() {
	local ns=$1 stray
	net_ns_exists "$ns" || return 0
	net_ns_is_ours "$ns" || {
		# Without the marker (half-made by a killed net-up.sh) it is ours
		# only if it holds no links but the ones net-up.sh makes.
		[[ $(ip -n "$ns" -o link show 2>/dev/null | grep -vcE '^[0-9]+: (lo|net0|br0|sw-[a-z]+)[@:]') == 0 ]] ||
			die "network namespace $ns exists but was not made by net-up.sh (no '$NET_MARKER' marker); remove it by hand if stale"
	}
	stray=$(ip netns pids "$ns" | tr '\n' ' ')
	[[ -z ${stray// /} ]] || say "warning: still in netns $ns, not ours, left alone: $stray"
	ip netns del "$ns" || die "ip netns del $ns"
}
