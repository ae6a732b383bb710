#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Brings up a routed network where compile servers can be found only
# through ordinary DNS (wide-area DNS-SD, RFC 6763), for the walab tests,
# and describes it in STATEDIR/wa.env. Usage: wa-up.sh STATEDIR   (root)
# Environment: WA_PORT (default 5555). Tear down with wa-down.sh STATEDIR.
# Re-running first tears down what an earlier run of the same STATEDIR left.
#
# What runs where (nothing in the root network namespace; no veth leads to
# it, and no multicast crosses the router: no mDNS path from client to
# servers):
#   stapcwa-rt   the router: rt-cl 10.240.1.1/24 to the client; bridge br0
#                10.240.2.1/24 with ports rt-a rt-b rt-c rt-dns; forwarding
#                on; 10.240.2.99 is a permanent fake neighbour (blackhole).
#   stapcwa-cl   10.240.1.10, the client. /etc/netns/stapcwa-cl/resolv.conf
#                (which ip netns exec bind-mounts over /etc/resolv.conf):
#                nameserver 10.240.2.53, search walab.test. Its trust DB
#                (NSS sql, trusts a and b) is STATEDIR/client-home/
#                .systemtap/ssl/client, made by the real stap. For the real
#                stap as reference: dbus-daemon (STATEDIR/cl/bus) and
#                avahi-daemon with enable-wide-area, domain-name and
#                browse-domains walab.test (its /run/avahi-daemon is
#                STATEDIR/cl/run-avahi, bind-mounted in a private mount
#                namespace).
#   stapcwa-dns  10.240.2.53: nsd (Debian's), authoritative for walab.test,
#                site2.walab.test and failover.walab.test (STATEDIR/dns).
#   stapcwa-a/b/c 10.240.2.11-13, hostname srva/srvb/srvc (own UTS
#                namespace): stap-serverd -r <headers release> as user
#                stapcwaa/b/c, no avahi, no D-Bus.
# The zones (what an operator publishes; see README "Publishing servers in
# DNS"):
#   walab.test          srva SRV priority 10, srvb priority 20 (both
#                       trusted); b._dns-sd._udp PTR site2.walab.test
#                       (RFC 6763 §11 browse-domain enumeration).
#   site2.walab.test    srvc, priority 0: the best, but NOT trusted.
#   failover.walab.test srva at priority 1 on port WA_PORT+1, where nothing
#                       listens (a server that is down), and srvb at
#                       priority 2 under the instance name "stap.b on srvb"
#                       (a dot and spaces in the label, RFC 6763 §4.3).
#   fleet.walab.test    srva, srvb and srvc as equals (priority 0, weight
#                       10 each): a fleet (the tests trust all three with
#                       --ssl=STATEDIR/certs).
# Checks: each server listens, with a certificate serial of its own; the
# real stap adds trust in a and b across the router and the client DB then
# lists two trusted certificates; nsd listens; avahi-daemon starts. What
# nsd answers is checked by the tests (test/walab).
# Timings (2 cores, measured): cold (three RSA-4096 databases, one after
# another) 12 s; warm (certificates kept in /var/lib/stapcwa?) 3-6 s;
# wa-down.sh 3 s.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=walib.sh
source "$(dirname "${BASH_SOURCE[0]}")/walib.sh"

lab_up "${1:-}" WA_PORT 5555
for b in nsd nsd-checkzone unshare runuser certutil openssl stap; do
	command -v "$b" >/dev/null || die "$b is missing (install nsd libnss3-tools openssl systemtap)"
done

lab_lock "$WA_LOCK"
mkdir -p "$statedir" || die "cannot create $statedir"
tmp=$(mktemp -d /tmp/stapcwa-up.XXXXXX)
started=0
lab_cleanup() {
	if [[ $1 -ne 0 && $started == 1 && ${WA_KEEP_ON_FAILURE:-0} != 1 ]]; then
		say "stopping what this run started (WA_KEEP_ON_FAILURE=1 keeps it)"
		(wa_down "$statedir") || true
	fi
	rm -rf "${tmp:-}"
}
# --- whatever an earlier run left ---------------------------------------------
wa_down "$statedir"
started=1

# --- users: stap-serverd refuses to run as root, or without a passwd entry ----
for h in "${WA_SERVERS[@]}"; do
	lab_user "$(wa_user "$h")" "/var/lib/$(wa_user "$h")" "stap-client wide-area lab server $h"
done

# --- the network ----------------------------------------------------------------
ns_hub "$WA_RT_NS" "$WA_BRIDGE" "$WA_MARKER"
ip -n "$WA_RT_NS" addr add "$WA_SRV_NET.1/24" dev "$WA_BRIDGE"
ip netns exec "$WA_RT_NS" sysctl -q -w net.ipv4.ip_forward=1 || die "enabling forwarding in $WA_RT_NS"
for h in "${WA_SERVERS[@]}" dns cl; do
	ns=$(wa_ns "$h")
	if [[ $h == cl ]]; then
		ns_host "$ns" "$WA_RT_NS" "$WA_IF" rt-cl "$WA_MARKER" "$(wa_addr cl)/24"
		ip -n "$WA_RT_NS" addr add "$WA_CL_NET.1/24" dev rt-cl
		gw=$WA_CL_NET.1
	else
		ns_host "$ns" "$WA_RT_NS" "$WA_IF" "rt-$h" "$WA_MARKER" "$(wa_addr "$h")/24" "$WA_BRIDGE"
		gw=$WA_SRV_NET.1
	fi
	ip -n "$ns" route add default via "$gw" || die "default route in $ns"
done
ip -n "$WA_RT_NS" neigh replace "$WA_BLACKHOLE" lladdr 02:00:00:00:00:99 dev "$WA_BRIDGE" nud permanent

# --- the DNS server ---------------------------------------------------------------
dnsdir=$statedir/dns
rm -rf "$dnsdir"
install -d -m 0755 "$dnsdir"
cat >"$dnsdir/nsd.conf" <<EOF
# wa-up.sh: nsd of the wide-area lab, in netns $WA_DNS_NS only
server:
  ip-address: $(wa_addr dns)
  port: 53
  username: ""
  chroot: ""
  zonesdir: "$dnsdir"
  zonelistfile: "$dnsdir/zone.list"
  database: ""
  pidfile: "$dnsdir/nsd.pid"
  xfrdfile: "$dnsdir/xfrd.state"
  xfrdir: "$dnsdir"
  logfile: "$dnsdir/nsd.log"
  server-count: 1
  verbosity: 1
  hide-version: yes
remote-control:
  control-enable: no
EOF
zones=("$WA_DOMAIN" "site2.$WA_DOMAIN" "failover.$WA_DOMAIN" "fleet.$WA_DOMAIN")
for z in "${zones[@]}"; do
	printf 'zone:\n  name: %s\n  zonefile: %s.zone\n' "$z" "$z" >>"$dnsdir/nsd.conf"
done

# --- the servers ------------------------------------------------------------------
# One at a time when a certificate is made: its serial is the time in
# seconds, and equal serials would make certinfo useless.
for h in "${WA_SERVERS[@]}"; do
	hd=$statedir/$h
	u=$(wa_user "$h")
	uh=$(getent passwd "$u" | cut -d: -f6)
	install -d -m 0755 "$hd"
	rm -f "$hd/pids"
	log=$hd/server.log
	lab_server_log "$log" "$u"
	: >"$hd/server.out"
	cert=$uh/.systemtap/ssl/server/stap.cert
	cold=0
	[[ -s $cert ]] || cold=1
	lab_serverd_argv "$u" "$uh" "$LAB_NO_DBUS" "$rel" "$port" "$log"
	# shellcheck disable=SC2016 # expanded by the inner bash
	lab_spawn "$uh" "$hd/server.out" setsid -w ip netns exec "$(wa_ns "$h")" unshare --uts -- bash -c '
		echo "$1" >/proc/sys/kernel/hostname; shift
		exec "$@"' host "$(wa_host "$h")" "${serverd[@]}"
	launcher=$spawned
	printf '%s launcher\n' "$launcher" >"$hd/pids"
	if [[ $cold == 1 ]]; then
		lab_await_cert "$launcher" "$cert" "$(wa_host "$h")" "$log" "$hd/server.out"
	fi
done

declare -A ci
for h in "${WA_SERVERS[@]}"; do
	hd=$statedir/$h
	uh=$(getent passwd "$(wa_user "$h")" | cut -d: -f6)
	read -r launcher _ <"$hd/pids"
	lab_await_server "$(wa_ns "$h")" "$launcher" 10 "" "$hd/server.log" "$hd/server.out"
	printf '%s stap-serverd\n' "$server_pid" >>"$hd/pids"
	cert=$uh/.systemtap/ssl/server/stap.cert
	lab_await_ready "$(wa_ns "$h")" "$(wa_ns "$h")" "$port" "$server_pid" "$cert" 60 "$hd/server.log" "$hd/server.out"
	install -d -m 0755 "$statedir/certs"
	install -m 0644 "$cert" "$statedir/certs/$(wa_host "$h").der"
	ci[$h]=$(certinfo "$statedir/certs/$(wa_host "$h").der") || die "openssl could not read $(wa_host "$h")'s certificate"
	for o in "${!ci[@]}"; do
		[[ $o == "$h" || ${ci[$o]} != "${ci[$h]}" ]] ||
			die "$(wa_host "$o") and $(wa_host "$h") have one certificate serial ${ci[$h]}; remove /var/lib/$(wa_user "$h")/.systemtap and re-run"
	done
	say "$(wa_ns "$h"): stap-serverd PID $server_pid, certinfo ${ci[$h]}"
done

# --- the zones ----------------------------------------------------------------------
# txt H: the TXT strings stap-serverd 4.8 publishes through avahi.
txt() { printf '"sysinfo=%s %s" "certinfo=%s" "version=4.8" "optinfo="' "$rel" "$arch" "${ci[$1]}"; }
soa() {
	printf '$ORIGIN %s.\n$TTL 60\n@ IN SOA ns.%s. hostmaster.%s. 1 3600 600 86400 60\n@ IN NS ns.%s.\n' "$1" "$WA_DOMAIN" "$WA_DOMAIN" "$WA_DOMAIN"
}
inst() { printf 'Systemtap\\032Compile\\032Server\\032on\\032%s' "$(wa_host "$1")"; }
{
	soa "$WA_DOMAIN"
	echo "ns IN A $(wa_addr dns)"
	for h in "${WA_SERVERS[@]}"; do echo "$(wa_host "$h") IN A $(wa_addr "$h")"; done
	echo "b._dns-sd._udp IN PTR site2.$WA_DOMAIN."
	for h in a b; do
		prio=10
		[[ $h == b ]] && prio=20
		echo "_stap._tcp IN PTR $(inst "$h")._stap._tcp"
		echo "$(inst "$h")._stap._tcp IN SRV $prio 0 $port $(wa_host "$h")"
		echo "$(inst "$h")._stap._tcp IN TXT $(txt "$h")"
	done
} >"$dnsdir/$WA_DOMAIN.zone"
{
	soa "site2.$WA_DOMAIN"
	echo "_stap._tcp IN PTR $(inst c)._stap._tcp"
	echo "$(inst c)._stap._tcp IN SRV 0 0 $port $(wa_host c).$WA_DOMAIN."
	echo "$(inst c)._stap._tcp IN TXT $(txt c)"
} >"$dnsdir/site2.$WA_DOMAIN.zone"
{
	soa "failover.$WA_DOMAIN"
	echo "_stap._tcp IN PTR $(inst a)._stap._tcp"
	echo "$(inst a)._stap._tcp IN SRV 1 0 $((port + 1)) $(wa_host a).$WA_DOMAIN."
	echo "$(inst a)._stap._tcp IN TXT $(txt a)"
	echo "_stap._tcp IN PTR stap\\.b\\032on\\032srvb._stap._tcp"
	echo "stap\\.b\\032on\\032srvb._stap._tcp IN SRV 2 0 $port $(wa_host b).$WA_DOMAIN."
	echo "stap\\.b\\032on\\032srvb._stap._tcp IN TXT $(txt b)"
} >"$dnsdir/failover.$WA_DOMAIN.zone"
{
	# A fleet: the three servers as equals (one priority, one weight), as
	# an operator publishes identical servers (README "Running a fleet").
	soa "fleet.$WA_DOMAIN"
	for h in "${WA_SERVERS[@]}"; do
		echo "_stap._tcp IN PTR $(inst "$h")._stap._tcp"
		echo "$(inst "$h")._stap._tcp IN SRV 0 10 $port $(wa_host "$h").$WA_DOMAIN."
		echo "$(inst "$h")._stap._tcp IN TXT $(txt "$h")"
	done
} >"$dnsdir/fleet.$WA_DOMAIN.zone"
zones=("$WA_DOMAIN" "site2.$WA_DOMAIN" "failover.$WA_DOMAIN" "fleet.$WA_DOMAIN")
for z in "${zones[@]}"; do
	nsd-checkzone "$z" "$dnsdir/$z.zone" >"$tmp/check" 2>&1 || { cat "$tmp/check" >&2; die "nsd-checkzone $z failed"; }
done
lab_spawn / "$dnsdir/nsd.out" setsid ip netns exec "$WA_DNS_NS" nsd -d -c "$dnsdir/nsd.conf"
nsd_pid=$spawned
lab_record "$dnsdir" "$nsd_pid" nsd
deadline=$((SECONDS + 15))
until ip netns exec "$WA_DNS_NS" ss -Hlunp "sport = :53" 2>/dev/null | grep -q nsd; do
	if ! kill -0 "$nsd_pid" 2>/dev/null || ((SECONDS >= deadline)); then
		tail_logs "$dnsdir/nsd.out" "$dnsdir/nsd.log"
		die "nsd in $WA_DNS_NS is not answering on port 53 (exited, or 15 s passed)"
	fi
	sleep 0.1
done

# --- the client: its resolver and its trust database ----------------------------------
install -d -m 0755 "/etc/netns/$WA_CL_NS"
printf '# wa-up.sh: the wide-area lab client'"'"'s resolver\nnameserver %s\nsearch %s\noptions timeout:1 attempts:2\n' \
	"$(wa_addr dns)" "$WA_DOMAIN" >"/etc/netns/$WA_CL_NS/resolv.conf"
client_home=$statedir/client-home
client_db=$client_home/.systemtap/ssl/client
rm -rf "$client_db"
mkdir -p "$client_home"
for h in a b; do # across the router
	lab_stap_trust "$WA_CL_NS" "$client_home" "$(wa_addr "$h"):$port" "$statedir/trust-$h.log" "$statedir/$h/server.log"
done
n=$(certutil -L -d "sql:$client_db" 2>/dev/null | grep -Ec '^stap-server +P,P,P *$') || true
[[ $n == 2 ]] || die "the client database lists $n trusted stap-server certificates, not 2"

# --- the reference: avahi with wide-area browsing, for the real stap -----------------
# A private system bus and avahi-daemon (enable-wide-area, domain-name and
# browse-domains walab.test) in the client's namespace; avahi gets its own
# /run/avahi-daemon through a private mount namespace.
cd=$statedir/cl
rm -rf "$cd/run-avahi" "$cd/bus"
install -d -m 0755 "$cd" "$cd/run-avahi"
[[ -d /run/avahi-daemon ]] || install -d -m 0755 /run/avahi-daemon
lab_dbus_conf "unix:path=$cd/bus" "the wide-area lab's client" >"$cd/dbus.conf"
cat >"$cd/avahi-daemon.conf" <<EOF2
# wa-up.sh: avahi-daemon of the wide-area lab's client, for the real stap
[server]
host-name=stapcwacl
domain-name=$WA_DOMAIN
browse-domains=$WA_DOMAIN
use-ipv4=yes
use-ipv6=no
allow-interfaces=$WA_IF
enable-dbus=yes
[wide-area]
enable-wide-area=yes
[publish]
publish-hinfo=no
publish-workstation=no
[reflector]
enable-reflector=no
EOF2
lab_spawn / "$cd/dbus.out" setsid ip netns exec "$WA_CL_NS" dbus-daemon --nofork --nopidfile --config-file="$cd/dbus.conf"
lab_record "$cd" "$spawned" dbus-daemon
deadline=$((SECONDS + 10))
until [[ -S $cd/bus ]]; do
	((SECONDS < deadline)) || { tail_logs "$cd/dbus.out"; die "dbus-daemon in $WA_CL_NS made no $cd/bus"; }
	sleep 0.05
done
# shellcheck disable=SC2016 # expanded by the inner bash
lab_spawn / "$cd/avahi.out" setsid ip netns exec "$WA_CL_NS" unshare --mount --propagation private -- bash -c '
	mount --bind "$1" /run/avahi-daemon && shift && exec "$@"' _ "$cd/run-avahi" \
	env -i PATH="$LAB_PATH" DBUS_SYSTEM_BUS_ADDRESS="unix:path=$cd/bus" \
	avahi-daemon --no-chroot --no-drop-root --no-rlimits -f "$cd/avahi-daemon.conf"
lab_record "$cd" "$spawned" avahi-daemon
deadline=$((SECONDS + 15))
until grep -q 'Server startup complete' "$cd/avahi.out" 2>/dev/null; do
	((SECONDS < deadline)) || { tail_logs "$cd/avahi.out"; die "avahi-daemon in $WA_CL_NS did not finish starting in 15 s"; }
	sleep 0.1
done

# --- wa.env ------------------------------------------------------------------------------
{
	echo "# Written by test/lab/wa-up.sh; run clients with: ip netns exec $WA_CL_NS ..."
	echo "WA_STATEDIR=$statedir"
	echo "WA_RELEASE=$rel"
	echo "WA_ARCH=$arch"
	echo "WA_PORT=$port"
	echo "WA_DOMAIN=$WA_DOMAIN"
	echo "WA_CLIENT_NS=$WA_CL_NS"
	echo "WA_CLIENT_HOME=$client_home"
	echo "WA_CLIENT_DB=$client_db"
	echo "WA_CLIENT_DBUS=unix:path=$cd/bus"
	echo "WA_DNS_ADDR=$(wa_addr dns)"
	echo "WA_BLACKHOLE=$WA_BLACKHOLE"
	echo "WA_ZONES=$dnsdir"
	for h in "${WA_SERVERS[@]}"; do
		H=${h^^}
		echo "WA_${H}_HOST=$(wa_host "$h")"
		echo "WA_${H}_ADDR=$(wa_addr "$h")"
		echo "WA_${H}_CERTINFO=${ci[$h]}"
		echo "WA_${H}_SERVER_LOG=$statedir/$h/server.log"
	done
} >"$tmp/wa.env"
install -m 0644 "$tmp/wa.env" "$statedir/wa.env"
say "wide-area lab up in $((SECONDS - t0)) s: $statedir/wa.env"
