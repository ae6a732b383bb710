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
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lab_up "${1:-}" LAB_PORT 5555

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
lab_user "$LAB_USER" "$LAB_USER_HOME" "stap-client test compile server"
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
	lab_netns_up

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
	lab_serverd_argv "$LAB_USER" "$user_home" "$LAB_NO_DBUS" "$rel" "$port" "$logarg"
	(
		close_fds # the lock among them: down.sh must be able to take it
		cd "$user_home"
		exec setsid -w ip netns exec "$LAB_NETNS" "${serverd[@]}"
	) </dev/null >>"$server_out" 2>>"$errfile" &
	launcher=$!
	printf '%s launcher\n' "$launcher" >"$statedir/pids"

	lab_await_server "$LAB_NETNS" "$launcher" 10 "" "$server_log" "$server_out"
	printf '%s stap-serverd\n' "$server_pid" >>"$statedir/pids"
	say "started stap-serverd PID $server_pid (-r $rel --port $port) in netns $LAB_NETNS"
fi

# --- ready: listening in the namespace, certificate written ----------------
# First start generates an RSA-4096 certificate database (a few seconds).
lab_await_ready "$LAB_NETNS" "$LAB_NETNS" "$port" "$server_pid" "$server_cert" 60 "$server_log" "$server_out"

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
