#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Brings up the systemtap 5.x compile servers for the tests: 5.1 (trixie)
# and 5.6 (sid), each chroot's own stap-serverd run as the chroot's
# unprivileged user stapc5srv, both in the network namespace "stapc5lab"
# at 10.231.5.1 (ports 5551 and 5556). Builds the chroots first if the
# cache lacks them (chroot5.sh). Describes the lab in STATEDIR/lab5.env.
# Usage: up5.sh STATEDIR   (root). Tear down with down5.sh STATEDIR.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib5.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib5.sh"

lab_init "${1:-}"
t0=$SECONDS
bash "$lab_dir/chroot5.sh" || die "the systemtap 5.x chroots could not be built (see above)"

lab_lock
mkdir -p "$statedir"
started=0
lab_cleanup() {
	if [[ $1 -ne 0 && $started == 1 ]]; then
		say "stopping what this run started"
		(lab_stop_recorded "$statedir") || true
		if netns_is_ours; then ip netns del "$LAB_NETNS" || true; fi
	fi
}

# Anything from an earlier run goes first: the servers are quick to start.
lab_stop_recorded "$statedir"
lab_netns_up
: >"$statedir/pids"

env5=$statedir/lab5.env.new
{
	echo "# Written by test/lab/up5.sh; clients run with: ip netns exec $LAB_NETNS ..."
	echo "LAB5_NETNS=$LAB_NETNS"
	echo "LAB5_ADDR=$LAB_ADDR"
	echo "LAB5_SUITES=${LAB5_SUITES[*]}"
	echo "LAB5_STATEDIR=$statedir"
} >"$env5"

# Started one after the other: two certificates made within half a second
# can share a serial (docs/wire-protocol.md, section 5: the serial comes from the clock at about half-second resolution).
for suite in "${LAB5_SUITES[@]}"; do
	root=$LAB5_CACHE/$suite
	port=$(lab5_port "$suite")
	rel=$(chroot5_release "$root") || die "$suite: no kernel headers in $root"
	version=$(chroot "$root" env -i PATH="$LAB_PATH" stap -V 2>&1 | sed -n 's/.*(version \([0-9.]*\).*/\1/p' | head -n1)
	[[ -n $version ]] || die "$suite: cannot read stap -V in $root"
	ids=$(chroot "$root" id -u "$LAB5_USER"):$(chroot "$root" id -g "$LAB5_USER")
	home=/home/$LAB5_USER
	cert=$root$home/.systemtap/ssl/server/stap.cert
	log=$home/server-$port.log
	: >"$root$log"
	chown "$ids" "$root$log"
	# TMPDIR inside the chroot: the server's request dirs stay there.
	lab_spawn / "$statedir/server-$suite.out" setsid -w ip netns exec "$LAB_NETNS" sh -c "$(lab5_mounts "$root") && cd $root$home && exec chroot --userspec=$ids $root env -i HOME=$home USER=$LAB5_USER LOGNAME=$LAB5_USER PATH=$LAB_PATH LANG=C.UTF-8 TMPDIR=/tmp DBUS_SYSTEM_BUS_ADDRESS=$LAB_NO_DBUS $STAP_SERVERD -r $rel --port $port --log $log"
	launcher=$spawned
	printf '%s launcher\n' "$launcher" >>"$statedir/pids"
	lab_await_server "$suite" "$launcher" 20 "$STAP_SERVERD -r $rel --port $port" "$statedir/server-$suite.out" "$root$log"
	printf '%s stap-serverd\n' "$server_pid" >>"$statedir/pids"
	lab_await_ready "$suite" "$LAB_NETNS" "$port" "$server_pid" "$cert" 90 "$statedir/server-$suite.out" "$root$log"
	install -d -m 0755 "$statedir/certs-$suite"
	install -m 0644 "$cert" "$statedir/certs-$suite/stap.cert"
	up=${suite^^}
	{
		echo "LAB5_${up}_ROOT=$root"
		echo "LAB5_${up}_PORT=$port"
		echo "LAB5_${up}_RELEASE=$rel"
		echo "LAB5_${up}_VERSION=$version"
		echo "LAB5_${up}_CERTDIR=$statedir/certs-$suite"
		echo "LAB5_${up}_SERVER_PID=$server_pid"
		echo "LAB5_${up}_SERVER_LOG=$root$log"
	} >>"$env5"
	say "$suite: stap-serverd $version PID $server_pid (-r $rel) on $LAB_ADDR:$port"
	sleep 1
done
mv -f "$env5" "$statedir/lab5.env"
say "lab5 up in $((SECONDS - t0)) s: $statedir/lab5.env"
