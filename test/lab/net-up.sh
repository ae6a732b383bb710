#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Brings up a multi-host network of real SystemTap compile servers that
# advertise themselves over mDNS (avahi), for the discovery tests, and
# describes it in STATEDIR/net.env. Usage: net-up.sh STATEDIR   (root)
# Environment: NET_PORT (default 5555, the same on every server host),
# NET_C_RELEASE (default 5.10.0-99-amd64), NET_KEEP_ON_FAILURE=1.
# Tear down with net-down.sh STATEDIR. Re-running with the same STATEDIR
# reuses a healthy lab (re-verifies it), else recreates it.
#
# What runs where (nothing in the root network namespace; 10.232.0.0/24
# exists only inside the namespaces, no veth leads to the root namespace):
#   stapcnet-sw  bridge br0 (multicast snooping off), veths sw-a sw-b sw-c
#                sw-cl sw-cl2; no address, no process.
#   stapcnet-a   10.232.0.1 + fe80:: on net0, hostname srva: anchor
#                (sleep, argv[0] stapcnet-anchor-a, made by unshare --mount
#                --uts), dbus-daemon (STATEDIR/a/dbus.conf, socket
#                STATEDIR/a/bus), avahi-daemon (STATEDIR/a/avahi-daemon.conf,
#                net0 only, IPv4+IPv6) with STATEDIR/a/run-avahi bind-mounted
#                over /run/avahi-daemon, stap-serverd -r <headers release>
#                as user stapcneta. Trusted ("good").
#   stapcnet-b   10.232.0.2, srvb, same as a; user stapcnetb. NOT trusted.
#   stapcnet-c   10.232.0.3, srvc, stap-serverd -r 5.10.0-99-amd64 (no such
#                headers: stap-serverd accepts and advertises it anyway),
#                user stapcnetc. Trusted, but for another release.
#   stapcnet-cl2 10.232.0.11, a second client machine (the fleet test), the
#                same as stapcnet-cl but for the blackhole.
#   stapcnet-cl  10.232.0.10, the client: no daemon at all. Its trust DB
#                (NSS sql, trusts a and c) is STATEDIR/client-home/
#                .systemtap/ssl/client, made by the real stap.
#   Each server also advertises the running kernel's release (uname -r):
#   one _stap._tcp instance per release, the second named "... #2"; srvc
#   advertises NET_C_SYSINFO and the running release, never NET_RELEASE.
#   NET_DEAD_ADDR has a permanent fake neighbour entry in stapcnet-cl, so a
#   connect to it is a true blackhole (SYNs vanish; no "No route to host");
#   NET_NOARP_ADDR has none (connect fails after ~3 s of ARP).
#   Run clients with: ip netns exec stapcnet-cl env HOME=$NET_CLIENT_HOME ...
#   Browse from a server host: nsenter -t $NET_B_ANCHOR_PID -n -m -u env
#   DBUS_SYSTEM_BUS_ADDRESS=$NET_B_DBUS avahi-browse -rpt _stap._tcp
#
# Timings (2 cores, measured): cold (no certificates yet: three RSA-4096
# databases, made one after another) 12 s; recreate after net-down or
# after a dead daemon (certificates kept in /var/lib/stapcnet?) 8-9 s;
# warm (reuse, re-verify everything) 4 s. A failure in the browse check
# takes its 45 s deadline.
#
# Checks: stap-serverd logs "Avahi service '...' successfully
# established"; the client DB (certutil -L) lists two "stap-server P,P,P"
# (same nickname) whose serials are a's and c's; avahi-browse -rpt on srvb
# sees srva, srvb and srvc over IPv4 and IPv6 with sysinfo, certinfo,
# version, optinfo (STATEDIR/browse.txt); TXT certinfo equals the serial
# computed from each certificate and the three differ; from stapcnet-cl a
# TLS handshake (openssl s_client) presents each server's certificate at
# its IPv4 and its fe80::%net0 address; NET_REFUSED refuses at once and
# NET_DEAD_ADDR hangs (2 s probe).
#
# Surprises:
# - The certificate's serial is the generation time in seconds: two
#   servers that generated in the same second both had serial
#   00:cc:19:b7:4b (so certinfo could not tell trusted from untrusted).
#   Cold starts are therefore serialized, and equal serials are an error.
# - dbus-daemon ignores --address for this: "Failed to start message bus:
#   Configuration file needs one or more <listen> elements giving
#   addresses"; the socket goes into <listen>.
# - avahi-daemon rewrites its argv ("avahi-daemon: running [srvb.local]"),
#   so it is identified by /proc/PID/exe, netns and start time instead.
# - stap-serverd accepts "-r 5.10.0-99-amd64" without headers and
#   advertises it; even "-r /nonexistent-tree" starts and advertises
#   "sysinfo= x86_64" (empty release).
# - TXT order is certinfo, version (4.8), optinfo (empty), sysinfo;
#   avahi-browse -p escapes names: Systemtap\032Compile\032Server\032on\032srva\032\0352
# - /run/avahi-daemon does not exist in the root mount namespace here; an
#   empty one is created there as the bind-mount target.
# - stap-serverd logs "Error initializing NSS for sql:~/.systemtap/ssl/client
#   (-8174 SEC_ERROR_BAD_DATABASE)" at first start, and "Error reading
#   size of request file" for each TLS check; the real stap's trust runs
#   print "Failed to create Avahi client: Daemon not running" (the client
#   host has no avahi). All harmless.
# - Stopped daemons stay zombies for a moment (PID 1 reaps late).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=netlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/netlib.sh"

lab_up "${1:-}" NET_PORT 5555
c_release=${NET_C_RELEASE:-5.10.0-99-amd64}
for b in avahi-daemon avahi-browse dbus-daemon nsenter unshare certutil openssl stap; do
	command -v "$b" >/dev/null || die "$b is missing (install avahi-daemon avahi-utils dbus libnss3-tools openssl)"
done
running=$(uname -r)
[[ $c_release != "$rel" ]] || die "NET_C_RELEASE must differ from the headers' release $rel"

lab_lock "$NET_LOCK"
mkdir -p "$statedir" || die "cannot create $statedir"
# Unix socket paths are limited to 107 bytes.
((${#statedir} <= 80)) || die "STATEDIR path is too long for D-Bus socket paths (max 80 characters)"
started=0
tmp=$(mktemp -d /tmp/stapcnet-up.XXXXXX)

lab_cleanup() {
	local h ns
	if [[ $1 -ne 0 && $started == 1 && ${NET_KEEP_ON_FAILURE:-0} != 1 ]]; then
		say "stopping what this run started (NET_KEEP_ON_FAILURE=1 keeps it)"
		for h in "${NET_SERVERS[@]}"; do (net_stop_host "$statedir/$h") || true; done
		while read -r ns; do (net_del_ns "$ns") || true; done < <(net_all_ns)
	fi
	rm -rf "${tmp:-}"
}

srv_release() { if [[ $1 == c ]]; then echo "$c_release"; else echo "$rel"; fi; }

# server_pid H: the recorded stap-serverd of host H, if alive with our args
# and in H's network namespace.
server_pid() {
	local h=$1 pid role ns
	ns=$(net_ns "$h")
	[[ -f $statedir/$h/pids ]] || return 1
	while read -r pid role; do
		[[ $role == stap-serverd ]] || continue
		pid_matches "$pid" "$STAP_SERVERD -r $(srv_release "$h") --port $port " || continue
		[[ $(readlink "/proc/$pid/ns/net") == "net:[$(stat -L -c %i "/run/netns/$ns")]" ]] || continue
		echo "$pid"
		return 0
	done <"$statedir/$h/pids"
	return 1
}

# --- reuse a healthy lab? ---------------------------------------------------
healthy=1
while read -r ns; do net_ns_is_ours "$ns" || healthy=0; done < <(net_all_ns)
if [[ $healthy == 1 ]]; then
	for h in "${NET_SERVERS[@]}"; do
		for role in anchor dbus-daemon avahi-daemon; do
			net_daemon_pid "$statedir/$h" "$role" >/dev/null || healthy=0
		done
		server_pid "$h" >/dev/null || healthy=0
	done
fi

if [[ $healthy == 1 ]]; then
	say "reusing the running lab in $statedir"
else
	# --- tear down whatever is left of an earlier one -----------------------
	for h in "${NET_SERVERS[@]}"; do net_stop_host "$statedir/$h"; done
	# Whatever still runs inside is not this STATEDIR's: leave it alone.
	while read -r ns; do
		ns_exists "$ns" || continue
		busy=$(ns_pids "$ns")
		[[ -z ${busy// /} ]] || die "network namespace $ns is in use by PIDs $busy(another STATEDIR's lab? run net-down.sh on it)"
	done < <(net_all_ns)
	while read -r ns; do net_del_ns "$ns"; done < <(net_all_ns)
	started=1

	# --- users: stap-serverd refuses to run as root ------------------------
	for h in "${NET_SERVERS[@]}"; do
		lab_user "$(net_user "$h")" "/var/lib/$(net_user "$h")" "stap-client net lab server $h"
	done

	# --- the network --------------------------------------------------------
	ns_hub "$NET_SW_NS" "$NET_BRIDGE" "$NET_MARKER" mcast_snooping 0
	for h in "${NET_SERVERS[@]}" cl cl2; do
		ns_host "$(net_ns "$h")" "$NET_SW_NS" "$NET_IF" "sw-$h" "$NET_MARKER" "$(net_addr "$h")/24" "$NET_BRIDGE"
	done
	# The blackhole: a neighbour nobody owns, so SYNs leave and vanish.
	ip -n "$NET_CL_NS" neigh replace "$NET_SUBNET.99" lladdr 02:00:00:00:00:99 dev "$NET_IF" nud permanent

	# Link-local IPv6 must finish DAD before avahi picks it up.
	deadline=$((SECONDS + 15))
	for h in "${NET_SERVERS[@]}" cl cl2; do
		ns=$(net_ns "$h")
		until ip -n "$ns" -6 -o addr show dev "$NET_IF" scope link 2>/dev/null | grep -v tentative | grep -q fe80; do
			((SECONDS < deadline)) || die "no usable IPv6 link-local address on $ns/$NET_IF after 15 s"
			sleep 0.2
		done
	done

	# --- per server host: anchor, dbus-daemon, avahi-daemon, stap-serverd ---
	# The bind-mount target must exist; in the root mount namespace it is
	# only an empty directory.
	[[ -d /run/avahi-daemon ]] || install -d -m 0755 /run/avahi-daemon
	for h in "${NET_SERVERS[@]}"; do
		hd=$statedir/$h
		ns=$(net_ns "$h")
		host=$(net_host "$h")
		u=$(net_user "$h")
		rm -rf "$hd/run-avahi" "$hd/bus"
		install -d -m 0755 "$hd" "$hd/run-avahi"
		rm -f "$hd/daemons" "$hd/pids"
		bus=unix:path=$hd/bus
		lab_dbus_conf "$bus" "lab host $host" >"$hd/dbus.conf"
		cat >"$hd/avahi-daemon.conf" <<EOF
# net-up.sh: avahi-daemon of lab host $host
[server]
host-name=$host
domain-name=local
use-ipv4=yes
use-ipv6=yes
allow-interfaces=$NET_IF
enable-dbus=yes
ratelimit-interval-usec=1000000
ratelimit-burst=1000
[wide-area]
enable-wide-area=no
[publish]
publish-hinfo=no
publish-workstation=no
publish-addresses=yes
[reflector]
enable-reflector=no
[rlimits]
EOF

		# The anchor: sets the hostname and the mounts, then sleeps. It
		# stays the same PID throughout (setsid, ip netns exec, unshare
		# and bash all exec).
		# shellcheck disable=SC2016 # expanded by the anchor's bash
		lab_spawn / "$hd/anchor.out" setsid ip netns exec "$ns" unshare --mount --uts --propagation private -- \
			bash -c 'set -e; echo "$1" >/proc/sys/kernel/hostname
				mount --bind "$2" /run/avahi-daemon
				exec -a "stapcnet-anchor-$3" sleep infinity' anchor "$host" "$hd/run-avahi" "$h"
		anchor=$spawned
		deadline=$((SECONDS + 10))
		until pid_matches "$anchor" "stapcnet-anchor-$h"; do
			if ! kill -0 "$anchor" 2>/dev/null || ((SECONDS >= deadline)); then
				tail_logs "$hd/anchor.out"
				die "the anchor of $ns (PID $anchor) did not come up"
			fi
			sleep 0.05
		done
		lab_record "$hd" "$anchor" anchor
		[[ $(nsenter -t "$anchor" -u cat /proc/sys/kernel/hostname) == "$host" ]] || die "hostname in the anchor of $ns is not $host"

		enter=(nsenter -t "$anchor" -n -m -u --)
		lab_spawn / "$hd/dbus.out" setsid "${enter[@]}" dbus-daemon --nofork --nopidfile \
			--config-file="$hd/dbus.conf"
		dbus=$spawned
		deadline=$((SECONDS + 10))
		until [[ -S $hd/bus ]]; do
			if ! kill -0 "$dbus" 2>/dev/null || ((SECONDS >= deadline)); then
				tail_logs "$hd/dbus.out"
				die "dbus-daemon of $ns (PID $dbus) did not create $hd/bus"
			fi
			sleep 0.05
		done
		lab_record "$hd" "$dbus" dbus-daemon
		chmod 0666 "$hd/bus" # stap-serverd's user must reach it

		lab_spawn / "$hd/avahi.out" setsid "${enter[@]}" env -i PATH="$LAB_PATH" DBUS_SYSTEM_BUS_ADDRESS="$bus" \
			avahi-daemon --no-chroot --no-drop-root --no-rlimits -f "$hd/avahi-daemon.conf"
		avahi=$spawned
		lab_record "$hd" "$avahi" avahi-daemon
		deadline=$((SECONDS + 15))
		until grep -q 'Server startup complete' "$hd/avahi.out" 2>/dev/null; do
			if ! kill -0 "$avahi" 2>/dev/null || ((SECONDS >= deadline)); then
				tail_logs "$hd/avahi.out"
				die "avahi-daemon of $ns (PID $avahi) did not finish starting in 15 s"
			fi
			sleep 0.1
		done
		say "$ns ($host): anchor $anchor, dbus-daemon $dbus, avahi-daemon $avahi"
	done

	# stap-serverd, one per host. Those with a certificate start together;
	# one without generates it first, and those are started one at a time:
	# the serial number of its self-signed certificate is the time in
	# seconds, and two servers with one serial would make certinfo useless
	# for telling trusted from untrusted.
	for h in "${NET_SERVERS[@]}"; do
		hd=$statedir/$h
		u=$(net_user "$h")
		uh=$(getent passwd "$u" | cut -d: -f6)
		anchor=$(net_daemon_pid "$hd" anchor) || die "the anchor of $(net_ns "$h") is gone"
		log=$hd/server.log
		cert=$uh/.systemtap/ssl/server/stap.cert
		cold=0
		[[ -s $cert ]] || cold=1
		lab_server_log "$log" "$u"
		: >"$hd/server.out"
		lab_serverd_argv "$u" "$uh" "unix:path=$hd/bus" "$(srv_release "$h")" "$port" "$log"
		lab_spawn "$uh" "$hd/server.out" setsid -w nsenter -t "$anchor" -n -m -u -- "${serverd[@]}"
		launcher=$spawned
		printf '%s launcher\n' "$launcher" >"$hd/pids"
		if [[ $cold == 1 ]]; then
			lab_await_cert "$launcher" "$cert" "$(net_host "$h")" "$log" "$hd/server.out"
		fi
	done
	for h in "${NET_SERVERS[@]}"; do
		hd=$statedir/$h
		read -r launcher _ <"$hd/pids"
		lab_await_server "$(net_ns "$h")" "$launcher" 10 "" "$hd/server.log" "$hd/server.out"
		printf '%s stap-serverd\n' "$server_pid" >>"$hd/pids"
	done
fi

# --- every server: listening, certificate written, published via avahi ------
for h in "${NET_SERVERS[@]}"; do
	hd=$statedir/$h
	ns=$(net_ns "$h")
	pid=$(server_pid "$h") || die "stap-serverd of $ns is not running"
	uh=$(getent passwd "$(net_user "$h")" | cut -d: -f6)
	cert=$uh/.systemtap/ssl/server/stap.cert
	# First start generates an RSA-4096 database: allow a minute.
	deadline=$((SECONDS + 90))
	until [[ -s $cert ]] && lab_listening "$ns" "$port" "$pid" &&
		grep -q "Avahi service .* successfully established" "$hd/server.log"; do
		if grep -qiE 'Failed to create avahi client|Avahi entry group failure|Failed to commit avahi' "$hd/server.log"; then
			tail_logs "$hd/server.log"
			die "stap-serverd of $ns could not publish through its avahi-daemon (see $hd/server.log)"
		fi
		if ! pid_matches "$pid" "$STAP_SERVERD" || ((SECONDS >= deadline)); then
			tail_logs "$hd/server.log" "$hd/server.out"
			die "stap-serverd of $ns (PID $pid) is not listening on port $port with $cert and an established Avahi service (exited, or 90 s passed)"
		fi
		sleep 0.2
	done
	# The certificate must name this host (one generated elsewhere would not).
	if ! openssl x509 -inform DER -in "$cert" -noout -ext subjectAltName 2>/dev/null | grep -q "DNS:$(net_host "$h")\b"; then
		die "$cert was not made on $(net_host "$h") (its subjectAltName lacks DNS:$(net_host "$h"); remove $uh/.systemtap and re-run)"
	fi
	install -d -m 0755 "$statedir/certs"
	install -m 0644 "$cert" "$statedir/certs/$(net_host "$h").der"
done

# --- the client's trust database: the real stap trusts a and c --------------
client_home=$statedir/client-home
client_db=$client_home/.systemtap/ssl/client
rm -rf "$client_db"
mkdir -p "$client_home"
for h in a c; do
	lab_stap_trust "$NET_CL_NS" "$client_home" "$(net_addr "$h"):$port" "$statedir/trust-$h.log" "$statedir/$h/server.log"
done
certutil -L -d "sql:$client_db" >"$statedir/trust-db.txt" 2>&1 || die "certutil -L -d sql:$client_db failed"
n=$(grep -Ec '^stap-server +P,P,P *$' "$statedir/trust-db.txt") || true
[[ $n == 2 ]] || {
	cat "$statedir/trust-db.txt" >&2
	die "certutil -L -d sql:$client_db lists $n stap-server certificates with trust P,P,P, not 2"
}
# Exactly a's and c's certificates, by serial.
certutil -L -d "sql:$client_db" -n stap-server -a >"$tmp/trusted.pem" 2>/dev/null || die "certutil -L -n stap-server -a"
trusted_serials=$(awk -v dir="$tmp" '/BEGIN CERT/{n++} n{print > (dir "/t" n ".pem")}' "$tmp/trusted.pem" &&
	for f in "$tmp"/t[0-9]*.pem; do openssl x509 -in "$f" -noout -serial; done | sort)
want_serials=$(for h in a c; do openssl x509 -inform DER -in "$statedir/certs/$(net_host "$h").der" -noout -serial; done | sort)
[[ $trusted_serials == "$want_serials" ]] || die "the client database trusts serials [$trusted_serials], expected a's and c's [$want_serials]"

# --- browse from host b (it has a daemon; the client host has none) --------
b_anchor=$(net_daemon_pid "$statedir/b" anchor) || die "the anchor of stapcnet-b is gone"
browse() {
	timeout 15 nsenter -t "$b_anchor" -n -m -u -- env -i PATH="$LAB_PATH" \
		DBUS_SYSTEM_BUS_ADDRESS="unix:path=$statedir/b/bus" avahi-browse -rpt _stap._tcp
}
# want_line H REL FAMILY: the resolved line of host H's service for REL.
want_line() {
	grep -E "^=;$NET_IF;$3;" "$tmp/browse.txt" | awk -F';' -v host="$(net_host "$1").local" '$7 == host' |
		grep -F "\"sysinfo=$2 $arch\"" | grep -F '"certinfo=' | grep -F '"version=' | grep -F '"optinfo=' | head -n1
}
deadline=$((SECONDS + 45))
while :; do
	browse >"$tmp/browse.txt" 2>"$tmp/browse.err" || true
	missing=
	for h in "${NET_SERVERS[@]}"; do
		for fam in IPv4 IPv6; do
			[[ -n $(want_line "$h" "$(srv_release "$h")" "$fam") ]] || missing+=" $(net_host "$h")/$fam"
		done
	done
	[[ -z $missing ]] && break
	if ((SECONDS >= deadline)); then
		cat "$tmp/browse.txt" "$tmp/browse.err" >&2
		die "avahi-browse -rpt _stap._tcp on srvb did not see, with sysinfo/certinfo/version/optinfo:$missing"
	fi
	sleep 1
done
install -m 0644 "$tmp/browse.txt" "$statedir/browse.txt"

# Per host: the TXT certinfo must equal the one computed from the certificate.
declare -A ci addr6 sysinfo
for h in "${NET_SERVERS[@]}"; do
	line=$(want_line "$h" "$(srv_release "$h")" IPv4)
	txt=$(grep -o '"certinfo=[^"]*"' <<<"$line" | head -n1)
	txt=${txt#\"certinfo=}
	txt=${txt%\"}
	ci[$h]=$(certinfo "$statedir/certs/$(net_host "$h").der") || die "openssl could not read $(net_host "$h")'s certificate"
	[[ $txt == "${ci[$h]}" ]] || die "$(net_host "$h") advertises certinfo=$txt but its certificate's serial is ${ci[$h]}"
	for o in "${!ci[@]}"; do
		[[ $o == "$h" || ${ci[$o]} != "${ci[$h]}" ]] ||
			die "$(net_host "$o") and $(net_host "$h") have the same certificate serial ${ci[$h]} (made in the same second); run net-down.sh, remove /var/lib/$(net_user "$h")/.systemtap and re-run"
	done
	sysinfo[$h]="$(srv_release "$h") $arch"
	addr6[$h]=$(ip -n "$(net_ns "$h")" -6 -o addr show dev "$NET_IF" scope link | awk '{print $4}' | cut -d/ -f1 | head -n1)
	line6=$(want_line "$h" "$(srv_release "$h")" IPv6)
	[[ $(cut -d';' -f8 <<<"$line6") == "${addr6[$h]}" ]] ||
		say "note: $(net_host "$h")'s IPv6 answer has address $(cut -d';' -f8 <<<"$line6"), its net0 has ${addr6[$h]}"
done

# --- from the client host: TLS to every server (IPv4 and link-local IPv6) ---
tls_check() { # ADDR-FOR-S_CLIENT WANT-DER
	timeout 15 ip netns exec "$NET_CL_NS" openssl s_client -connect "$1" </dev/null 2>/dev/null |
		openssl x509 -outform DER >"$tmp/peer.der" 2>/dev/null && cmp -s "$tmp/peer.der" "$2"
}
for h in "${NET_SERVERS[@]}"; do
	der=$statedir/certs/$(net_host "$h").der
	tls_check "$(net_addr "$h"):$port" "$der" || die "no TLS with $(net_host "$h")'s certificate at $(net_addr "$h"):$port from $NET_CL_NS"
	tls_check "[${addr6[$h]}%$NET_IF]:$port" "$der" || die "no TLS with $(net_host "$h")'s certificate at [${addr6[$h]}%$NET_IF]:$port from $NET_CL_NS"
done
# The refused port and the blackhole behave as described.
refused=$(net_addr a):$((port + 1))
t=$SECONDS
# shellcheck disable=SC2016 # both bash -c scripts expand their own arguments
if timeout 5 ip netns exec "$NET_CL_NS" bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "${refused%:*}" "${refused##*:}" 2>/dev/null; then
	die "something listens at $refused (meant to refuse)"
fi
((SECONDS - t < 3)) || die "connecting to $refused was not refused at once"
rc=0
# shellcheck disable=SC2016
timeout 2 ip netns exec "$NET_CL_NS" bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$NET_SUBNET.99" "$port" 2>/dev/null || rc=$?
[[ $rc == 124 ]] || die "connecting to $NET_SUBNET.99:$port did not hang (exit $rc; meant to be a blackhole)"

# --- net.env ------------------------------------------------------------------
{
	echo "# Written by test/lab/net-up.sh; run clients with: ip netns exec $NET_CL_NS ..."
	echo "NET_STATEDIR=$statedir"
	echo "NET_RELEASE=$rel"
	echo "NET_ARCH=$arch"
	echo "NET_RUNNING_RELEASE=$running"
	echo "NET_PORT=$port"
	echo "NET_SUBNET=$NET_SUBNET.0/24"
	echo "NET_IF=$NET_IF"
	echo "NET_SWITCH_NS=$NET_SW_NS"
	echo "NET_CLIENT_NS=$NET_CL_NS"
	echo "NET_CLIENT_ADDR=$(net_addr cl)"
	echo "NET_CLIENT2_NS=$NET_CL2_NS"
	echo "NET_CLIENT_HOME=$client_home"
	echo "NET_CLIENT_DB=$client_db"
	for h in "${NET_SERVERS[@]}"; do
		H=${h^^}
		echo "NET_${H}_NS=$(net_ns "$h")"
		echo "NET_${H}_HOST=$(net_host "$h")"
		echo "NET_${H}_ADDR=$(net_addr "$h")"
		echo "NET_${H}_ADDR6=${addr6[$h]}"
		echo "NET_${H}_CERTINFO=${ci[$h]}"
		echo "NET_${H}_SYSINFO=\"${sysinfo[$h]}\""
		echo "NET_${H}_CERT=$statedir/certs/$(net_host "$h").der"
		case $h in b) echo "NET_${H}_TRUSTED=0" ;; *) echo "NET_${H}_TRUSTED=1" ;; esac
		echo "NET_${H}_USER=$(net_user "$h")"
		echo "NET_${H}_ANCHOR_PID=$(net_daemon_pid "$statedir/$h" anchor)"
		echo "NET_${H}_DBUS=unix:path=$statedir/$h/bus"
		echo "NET_${H}_SERVER_PID=$(server_pid "$h")"
		echo "NET_${H}_SERVER_LOG=$statedir/$h/server.log"
	done
	echo "NET_DEAD_ADDR=$NET_SUBNET.99"
	echo "NET_NOARP_ADDR=$NET_SUBNET.98"
	echo "NET_REFUSED=$refused"
	echo "NET_BROWSE=$statedir/browse.txt"
} >"$tmp/net.env"
install -m 0644 "$tmp/net.env" "$statedir/net.env"
say "lab up in $((SECONDS - t0)) s: $statedir/net.env"
