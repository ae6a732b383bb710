# shellcheck shell=bash disable=SC2034 # the constants are for the sourcing scripts
# SPDX-License-Identifier: GPL-2.0-or-later
# Shared names for the wide-area (unicast DNS-SD) lab: wa-up.sh, wa-down.sh.
# Sourced after lib.sh, not run. Everything is named stapcwa-* / stapcwa*
# so that it coexists with the other labs (stapclab, stapcnet).

WA_RT_NS=stapcwa-rt      # the router between the two subnets
WA_CL_NS=stapcwa-cl      # the client
WA_DNS_NS=stapcwa-dns    # nsd, authoritative for walab.test and below
WA_SERVERS=(a b c)       # stap-serverd hosts
WA_CL_NET=10.240.1       # client subnet /24: router .1, client .10
WA_SRV_NET=10.240.2      # server subnet /24: router .1, servers .11-.13, nsd .53
WA_BRIDGE=br0            # in the router: the server subnet
WA_IF=eth0               # every host's interface
WA_MARKER=stap-client-walab # alias on every host's eth0 and the router's br0
WA_LOCK=/run/lock/stapcwa.lock
WA_DOMAIN=walab.test
WA_BLACKHOLE=$WA_SRV_NET.99 # a permanent fake neighbour in the router: queries vanish

wa_ns() { printf 'stapcwa-%s\n' "$1"; }   # a -> stapcwa-a
wa_user() { printf 'stapcwa%s\n' "$1"; }  # a -> stapcwaa
wa_host() { printf 'srv%s\n' "$1"; }      # a -> srva
wa_addr() {
	case $1 in
	a) echo "$WA_SRV_NET.11" ;; b) echo "$WA_SRV_NET.12" ;; c) echo "$WA_SRV_NET.13" ;;
	dns) echo "$WA_SRV_NET.53" ;; cl) echo "$WA_CL_NET.10" ;;
	esac
}
wa_all_ns() {
	local h
	printf '%s\n' "$WA_CL_NS" "$WA_DNS_NS"
	for h in "${WA_SERVERS[@]}"; do wa_ns "$h"; done
	printf '%s\n' "$WA_RT_NS"
}

wa_ns_exists() { ip netns list 2>/dev/null | grep -qE "^$1( |$)"; }
# wa_ns_is_ours NS: exists and carries WA_MARKER (br0 in the router, eth0 elsewhere).
wa_ns_is_ours() {
	local dev=$WA_IF
	[[ $1 == "$WA_RT_NS" ]] && dev=$WA_BRIDGE
	wa_ns_exists "$1" || return 1
	[[ $(ip -n "$1" -o link show dev "$dev" 2>/dev/null) == *"alias $WA_MARKER"* ]]
}

wa_lock() {
	mkdir -p "${WA_LOCK%/*}"
	exec 7>"$WA_LOCK"
	flock -w 900 7 || die "another wa-up.sh/wa-down.sh holds $WA_LOCK for more than 900 s"
}

# wa_record DIR PID ROLE: remember a daemon as "PID ROLE STARTTIME" in
# DIR/daemons (nsd; the client's dbus-daemon and avahi-daemon).
wa_record() {
	local st
	st=$(proc_stat "$2") || die "PID $2 ($3) vanished right after start"
	# shellcheck disable=SC2086
	set -- "$1" "$2" "$3" $st
	printf '%s %s %s\n' "$2" "$3" "$7" >>"$1/daemons"
}

# wa_stop_daemons DIR: stop what wa_record recorded (avahi first, while its
# bus is there), each checked to be that very process: nsd and dbus-daemon
# by their command lines, avahi-daemon (which rewrites its argv) by its
# executable.
wa_stop_daemons() {
	local f=$1/daemons role pid r st deadline
	[[ -f $f ]] || return 0
	for role in avahi-daemon dbus-daemon nsd; do
		while read -r pid r st; do
			[[ $r == "$role" ]] && alive "$pid" "$st" || continue
			case $role in
			nsd) pid_matches "$pid" "$1/nsd.conf" || continue ;;
			dbus-daemon) pid_matches "$pid" "--config-file=$1/dbus.conf" || continue ;;
			avahi-daemon) [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == */avahi-daemon ]] || continue ;;
			esac
			kill -TERM "$pid" 2>/dev/null || true
			deadline=$((SECONDS + 10))
			while alive "$pid" "$st"; do
				((SECONDS < deadline)) || { kill -KILL "$pid" 2>/dev/null || true; break; }
				sleep 0.1
			done
			say "stopped $role (PID $pid)"
		done <"$f"
	done
	mv -f "$f" "$f.old"
}

# wa_down STATEDIR: stop every recorded process, then delete our namespaces
# (refusing any without our marker that holds other links) and the
# client's resolv.conf.
wa_down() {
	local sd=$1 h ns stray
	for h in "${WA_SERVERS[@]}"; do lab_stop_recorded "$sd/$h"; done
	wa_stop_daemons "$sd/dns"
	wa_stop_daemons "$sd/cl"
	while read -r ns; do
		wa_ns_exists "$ns" || continue
		if ! wa_ns_is_ours "$ns"; then
			[[ $(ip -n "$ns" -o link show 2>/dev/null | grep -vcE '^[0-9]+: (lo|eth0|br0|rt-[a-z]+)[@:]') == 0 ]] ||
				die "network namespace $ns exists but was not made by wa-up.sh (no '$WA_MARKER' marker); remove it by hand if stale"
		fi
		stray=$(ip netns pids "$ns" | tr '\n' ' ')
		[[ -z ${stray// /} ]] || die "network namespace $ns is still in use by PIDs $stray(not recorded by this STATEDIR)"
		ip netns del "$ns" || die "ip netns del $ns"
	done < <(wa_all_ns)
	rm -rf "/etc/netns/$WA_CL_NS"
}
