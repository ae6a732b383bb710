# shellcheck shell=bash disable=SC2034 # the constants are for the sourcing scripts
# SPDX-License-Identifier: GPL-2.0-or-later
# The names of the wide-area (unicast DNS-SD) lab (wa-up.sh, wa-down.sh),
# over lib.sh's helpers. Sourced, not run. Everything is named stapcwa-* /
# stapcwa* so that it coexists with the other labs (stapclab, stapcnet).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

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

# wa_marked_dev NS: the link that carries WA_MARKER (br0 in the router,
# eth0 elsewhere).
wa_marked_dev() { if [[ $1 == "$WA_RT_NS" ]]; then echo "$WA_BRIDGE"; else echo "$WA_IF"; fi; }

# wa_is DIR ROLE PID: the recorded daemon is that very process: nsd and
# dbus-daemon by their command lines, avahi-daemon (which rewrites its
# argv) by its executable.
wa_is() {
	case $2 in
	nsd) pid_matches "$3" "$1/nsd.conf" ;;
	dbus-daemon) pid_matches "$3" "--config-file=$1/dbus.conf" ;;
	avahi-daemon) [[ $(readlink "/proc/$3/exe" 2>/dev/null) == */avahi-daemon ]] ;;
	*) return 1 ;;
	esac
}

# wa_down STATEDIR: stop every recorded process, then delete our namespaces
# (refusing any without our marker that holds other links, or that a
# process not recorded by this STATEDIR still uses) and the client's
# resolv.conf.
wa_down() {
	local sd=$1 h ns stray
	for h in "${WA_SERVERS[@]}"; do lab_stop_recorded "$sd/$h"; done
	lab_stop_daemons "$sd/dns" wa_is nsd
	lab_stop_daemons "$sd/cl" wa_is avahi-daemon dbus-daemon
	while read -r ns; do
		ns_exists "$ns" || continue
		stray=$(ns_pids "$ns")
		[[ -z ${stray// /} ]] || die "network namespace $ns is still in use by PIDs $stray(not recorded by this STATEDIR)"
		ns_del "$ns" "$(wa_marked_dev "$ns")" "$WA_MARKER" 'eth0|br0|rt-[a-z]+'
	done < <(wa_all_ns)
	rm -rf "/etc/netns/$WA_CL_NS"
}
