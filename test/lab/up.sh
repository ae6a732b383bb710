#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Brings up one real SystemTap compile server (Debian 12 systemtap-server
# 4.8) for the tests, in the network namespace "stapclab", and describes it
# in STATEDIR/lab.env. Clients run inside the namespace:
#   ip netns exec stapclab <client> ... 10.231.0.1:$LAB_PORT
# Usage: up.sh STATEDIR   (root)
# Environment: LAB_PORT (default 5555), LAB_NO_WARMUP=1 (skip the pass-4
# warm-up compile), LAB_KEEP_ON_FAILURE=1 (leave a failed server running).
# Re-running with the same STATEDIR reuses a server that is still running.
# Tear down with down.sh STATEDIR.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"
export PATH=$LAB_PATH
umask 022

need_root
set_statedir "${1:-}"
port=${LAB_PORT:-5555}
if ! [[ $port =~ ^[0-9]{1,5}$ ]] || ((port < 1 || port > 65535)); then
	die "LAB_PORT '$port' is not a port number"
fi
port=$((10#$port))
t0=$SECONDS

bash "$here/install.sh" || die "install.sh could not install the packages (see above)"
rel=$(lab_release) || die "cannot tell the kernel headers' release (no /lib/modules/*/build)"
arch=$(uname -m)

lab_lock
mkdir -p "$statedir" || die "cannot create $statedir"
server_log=$statedir/server.log
server_out=$statedir/server.out # stap-serverd's own stdout/stderr
stap_home=$statedir/stap-home
started=0

# On failure, stop a server this run started, so CI keeps no strays.
# (Called by lab_on_exit, lib.sh.)
lab_cleanup() {
	if [[ $1 -ne 0 && $started == 1 && ${LAB_KEEP_ON_FAILURE:-0} != 1 ]]; then
		say "stopping the server this run started (LAB_KEEP_ON_FAILURE=1 keeps it)"
		(lab_stop_recorded "$statedir") || true
		if netns_is_ours; then ip netns del "$LAB_NETNS" || true; fi
	fi
	rm -rf "${tmp:-}"
}
tmp=$(mktemp -d /tmp/stapclab-up.XXXXXX)

# --- the user: stap-serverd refuses to run as root -------------------------
if ! getent passwd "$LAB_USER" >/dev/null; then
	useradd --system --user-group --home-dir "$LAB_USER_HOME" --create-home \
		--shell /usr/sbin/nologin --comment "stap-client test compile server" "$LAB_USER" ||
		die "useradd $LAB_USER"
fi
user_home=$(getent passwd "$LAB_USER" | cut -d: -f6)
[[ -n $user_home && $user_home == /* ]] || die "user $LAB_USER has no home directory"
install -d -o "$LAB_USER" -g "$(id -gn "$LAB_USER")" -m 0755 "$user_home"
server_cert=$user_home/.systemtap/ssl/server/stap.cert

# --- a server from an earlier up.sh with this STATEDIR? --------------------
# Reused when it is alive, is stap-serverd for this port and release, and
# sits in our namespace.
server_pid=
if [[ -f $statedir/pids ]] && netns_is_ours; then
	while read -r pid role; do
		[[ $role == stap-serverd ]] || continue
		pid_matches "$pid" "$STAP_SERVERD -r $rel --port $port " || continue
		[[ $(readlink "/proc/$pid/ns/net") == "net:[$(stat -L -c %i "/run/netns/$LAB_NETNS")]" ]] || continue
		server_pid=$pid
	done <"$statedir/pids"
fi

if [[ -n $server_pid ]]; then
	say "reusing the running server, PID $server_pid"
else
	# Anything recorded but not reusable (other port, dead) goes first.
	lab_stop_recorded "$statedir"

	# --- the network namespace -------------------------------------------
	if netns_exists; then
		netns_is_ours || die "network namespace $LAB_NETNS exists but was not made by up.sh (no '$LAB_MARKER' marker on $LAB_IF); remove it with 'ip netns del $LAB_NETNS' if it is stale"
		busy=$(ip netns pids "$LAB_NETNS" | tr '\n' ' ')
		[[ -z ${busy// /} ]] || die "network namespace $LAB_NETNS is in use by PIDs $busy(another STATEDIR's lab? run down.sh on it)"
		ip netns del "$LAB_NETNS" || die "ip netns del $LAB_NETNS (stale, from an earlier run)"
	fi
	ip netns add "$LAB_NETNS" || die "ip netns add $LAB_NETNS"
	started=1 # from here on a failure removes the namespace again
	ip -n "$LAB_NETNS" link set lo up || die "bringing lo up in $LAB_NETNS"
	# Surprise: the kernel here has no "dummy" link type (and cannot load
	# modules): "Error: Unknown device type." A veth pair with both ends in
	# the namespace works here and needs no link to the root namespace;
	# dummy is the fallback.
	if ip -n "$LAB_NETNS" link add "$LAB_IF" type veth peer name "$LAB_IF_PEER" 2>/dev/null; then
		ip -n "$LAB_NETNS" link set "$LAB_IF_PEER" up
	else
		ip -n "$LAB_NETNS" link add "$LAB_IF" type dummy ||
			die "creating $LAB_IF (veth or dummy) in $LAB_NETNS"
	fi
	ip -n "$LAB_NETNS" link set "$LAB_IF" alias "$LAB_MARKER"
	ip -n "$LAB_NETNS" addr add "$LAB_ADDR/$LAB_PREFIX" dev "$LAB_IF" ||
		die "adding $LAB_ADDR/$LAB_PREFIX to $LAB_IF"
	ip -n "$LAB_NETNS" link set "$LAB_IF" up || die "bringing $LAB_IF up"

	# --- the server -------------------------------------------------------
	# stap-serverd opens --log itself, as $LAB_USER. If STATEDIR is not
	# reachable by that user (under /root, say), it logs to /dev/stderr
	# instead, which is server.log opened here by root and handed over.
	touch "$server_log"
	chown "$LAB_USER" "$server_log"
	chmod 0644 "$server_log"
	logarg=$server_log
	errfile=$server_out
	if ! runuser -u "$LAB_USER" -- test -w "$server_log"; then
		say "$LAB_USER cannot reach $server_log; stap-serverd logs via /dev/stderr"
		logarg=/dev/stderr
		errfile=$server_log
	fi
	: >"$server_out"
	# No avahi or D-Bus needed: stap-serverd only logs "Failed to create
	# avahi client: Daemon not running" and serves. It gets no system bus
	# at all (LAB_NO_DBUS), so on a host running D-Bus it cannot get
	# avahi-daemon activated in the root namespace. Its cwd must be
	# readable by $LAB_USER, hence the cd. setsid makes it the leader of a
	# new session and process group, which down.sh kills as a whole.
	(
		close_fds # the lock among them: down.sh must be able to take it
		cd "$user_home"
		exec setsid -w ip netns exec "$LAB_NETNS" runuser -u "$LAB_USER" -- \
			env -i HOME="$user_home" USER="$LAB_USER" LOGNAME="$LAB_USER" \
			PATH="$LAB_PATH" LANG=C.UTF-8 TMPDIR=/tmp DBUS_SYSTEM_BUS_ADDRESS="$LAB_NO_DBUS" \
			"$STAP_SERVERD" -r "$rel" --port "$port" --log "$logarg"
	) </dev/null >>"$server_out" 2>>"$errfile" &
	launcher=$!
	printf '%s launcher\n' "$launcher" >"$statedir/pids"

	# runuser forks stap-serverd: find it below the launcher.
	deadline=$((SECONDS + 10))
	while [[ -z $server_pid ]]; do
		for pid in $launcher $(descendants "$launcher"); do
			if pid_matches "$pid" "$STAP_SERVERD" && [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == "$STAP_SERVERD" ]]; then
				server_pid=$pid
				break
			fi
		done
		[[ -n $server_pid ]] && break
		if ! kill -0 "$launcher" 2>/dev/null || ((SECONDS >= deadline)); then
			tail_logs "$server_log" "$server_out"
			die "stap-serverd exited at start, or did not appear below launcher PID $launcher"
		fi
		sleep 0.1
	done
	printf '%s stap-serverd\n' "$server_pid" >>"$statedir/pids"
	say "started stap-serverd PID $server_pid (-r $rel --port $port) in netns $LAB_NETNS"
fi

# --- ready: listening in the namespace, certificate written ----------------
# First start generates an RSA-4096 certificate database (a few seconds).
# The listener is checked with ss (a bare TCP connect would make the server
# log "Error reading size of request file") and must belong to our PID.
deadline=$((SECONDS + 60))
until [[ -s $server_cert ]] &&
	ip netns exec "$LAB_NETNS" ss -Hltnp "sport = :$port" 2>/dev/null | grep -q "pid=$server_pid,"; do
	if ! pid_matches "$server_pid" "$STAP_SERVERD"; then
		tail_logs "$server_log" "$server_out"
		die "stap-serverd (PID $server_pid) exited during startup"
	fi
	if ((SECONDS >= deadline)); then
		tail_logs "$server_log" "$server_out"
		ip netns exec "$LAB_NETNS" ss -Hltnp "sport = :$port" >&2 || true
		die "stap-serverd (PID $server_pid) is not listening on port $port with $server_cert after 60 s"
	fi
	sleep 0.2
done

# --- the server's certificate as a trust directory -------------------------
install -d -m 0755 "$statedir/certs"
install -m 0644 "$server_cert" "$statedir/certs/stap.cert"

# run_stap LOG ARGS...: the real stap client as root inside the namespace,
# clean environment, HOME=$stap_home (so its NSS client database is ours),
# in a scratch cwd (it may leave a .ko there).
run_stap() {
	local log=$1
	shift
	rm -rf "$tmp/cwd"
	mkdir "$tmp/cwd"
	(cd "$tmp/cwd" && timeout 600 ip netns exec "$LAB_NETNS" env -i \
		PATH="$LAB_PATH" HOME="$stap_home" LANG=C.UTF-8 DBUS_SYSTEM_BUS_ADDRESS="$LAB_NO_DBUS" \
		stap "$@") </dev/null >"$log" 2>&1
}

# --- an NSS client database in which the real stap trusts the server -------
# Rebuilt every time, so it always holds exactly the current certificate.
client_db=$stap_home/.systemtap/ssl/client
rm -rf "$client_db"
mkdir -p "$stap_home"
if ! run_stap "$statedir/trust.log" --use-server="$LAB_ADDR:$port" --trust-servers=ssl,no-prompt; then
	tail_logs "$statedir/trust.log" "$server_log"
	die "the real stap could not add trust in $LAB_ADDR:$port (see $statedir/trust.log)"
fi
certutil -L -d "sql:$client_db" 2>/dev/null | grep -Eq '^stap-server +P,P,P *$' ||
	die "certutil -L -d sql:$client_db does not list stap-server with trust P,P,P"
if ! certutil -L -d "sql:$client_db" -n stap-server -r >"$tmp/trusted.der" 2>/dev/null ||
	! cmp -s "$tmp/trusted.der" "$statedir/certs/stap.cert"; then
	die "the certificate stap trusted in $client_db is not $server_cert"
fi

# --- an untrusted certificate directory -------------------------------------
# Another self-signed certificate with the server's host names, its own
# key, subject and a random serial. (Surprise: with the server's own
# subject, certutil's time-based serial could equal the server's, and the
# real stap then failed with "SEC_ERROR_REUSED_ISSUER_AND_SERIAL" instead of
# the plain untrusted case, SEC_ERROR_CA_CERT_INVALID.) Kept across runs.
untrusted=$statedir/untrusted
if ! [[ -s $untrusted/stap.cert ]] || cmp -s "$untrusted/stap.cert" "$statedir/certs/stap.cert"; then
	install -d -m 0755 "$untrusted"
	db=$tmp/impostor
	mkdir "$db"
	head -c 2048 /dev/urandom >"$tmp/noise"
	host=$(uname -n)
	{
		certutil -N -d "sql:$db" --empty-password &&
			certutil -S -x -n impostor -s "CN=Untrusted stap-client Lab Server,OU=Systemtap" \
				-m $(((RANDOM << 15 | RANDOM) + 1000)) \
				-t P,P,P -k rsa -g 2048 -v 12 -8 "$host,${host%%.*}.local" \
				-d "sql:$db" -z "$tmp/noise" &&
			certutil -L -d "sql:$db" -n impostor -r >"$tmp/impostor.der"
	} >"$tmp/certutil.log" 2>&1 || {
		tail_logs "$tmp/certutil.log"
		die "certutil could not make the untrusted certificate"
	}
	install -m 0644 "$tmp/impostor.der" "$untrusted/stap.cert"
fi

# --- lab.env ----------------------------------------------------------------
cat >"$tmp/lab.env" <<EOF
# Written by test/lab/up.sh; run clients with: ip netns exec $LAB_NETNS ...
LAB_NETNS=$LAB_NETNS
LAB_ADDR=$LAB_ADDR
LAB_PORT=$port
LAB_RELEASE=$rel
LAB_ARCH=$arch
LAB_CERTDIR=$statedir/certs
LAB_UNTRUSTED_CERTDIR=$untrusted
LAB_STAP_HOME=$stap_home
LAB_SERVER_PID=$server_pid
LAB_SERVER_LOG=$server_log
LAB_SERVER_USER=$LAB_USER
LAB_STATEDIR=$statedir
EOF
install -m 0644 "$tmp/lab.env" "$statedir/lab.env"

# --- warm the server's cache with the man page's Hello World ----------------
# A cold pass-4 compile takes 17-42 s (2 cores) and proves the runtime
# patch; afterwards the same request is a 0.7 s cache hit.
if [[ ${LAB_NO_WARMUP:-0} != 1 ]]; then
	w0=$SECONDS
	if ! run_stap "$statedir/warmup.log" --use-server="$LAB_ADDR:$port" -r "$rel" -p4 \
		-e 'probe begin { printf("Hello World!\n"); exit() }'; then
		tail_logs "$statedir/warmup.log" "$server_log"
		die "the real stap's pass-4 Hello World through $LAB_ADDR:$port failed (see $statedir/warmup.log, $server_log)"
	fi
	ko=$(find "$tmp/cwd" -maxdepth 1 -name 'stap_*.ko' -print -quit)
	if [[ -z $ko ]]; then
		tail_logs "$statedir/warmup.log" "$server_log"
		die "the pass-4 Hello World exited 0 but left no .ko (see $statedir/warmup.log)"
	fi
	say "warm-up pass-4 compile OK in $((SECONDS - w0)) s (${ko##*/})"
fi

say "lab up in $((SECONDS - t0)) s: $statedir/lab.env"
