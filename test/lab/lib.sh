# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash disable=SC2034 # the constants are for the sourcing scripts
# The one library of the lab scripts: the 4.8 lab (install.sh, up.sh,
# down.sh), and below lib5.sh (the 5.x lab), netlib.sh (the mDNS lab) and
# walib.sh (the wide-area lab), which add only their own names. Sourced,
# not run.

# Fixed names: one lab per machine. up.sh refuses to take over a namespace
# that lacks LAB_MARKER, so it never tears down somebody else's.
LAB_NETNS=stapclab
LAB_USER=stapclab
LAB_USER_HOME=/var/lib/stapclab
LAB_ADDR=10.231.0.1
LAB_PREFIX=24
LAB_IF=lab0       # carries LAB_ADDR inside the namespace
LAB_IF_PEER=lab0p # its veth peer, also inside the namespace
LAB_MARKER=stap-client-lab
LAB_LOCK=/run/lock/stapclab.lock
STAP_SERVERD=/usr/lib/systemtap/stap-serverd
# A D-Bus address that leads nowhere: given to stap-serverd and to the real
# stap, so that neither can reach a host system bus (where asking for
# org.freedesktop.Avahi could activate avahi-daemon in the root namespace).
LAB_NO_DBUS=unix:path=/run/stapclab-no-system-bus/none
# Clean PATH for everything run on the lab's behalf (CI may have odd ones).
LAB_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# What install.sh installs. avahi/dbus come in as dependencies of
# systemtap-server but are kept from starting (policy-rc.d); so is nsd (the
# wide-area lab's DNS server, run only inside its namespace). The server
# makes its Secure Boot MOKs with openssl and signs with the headers'
# scripts/sign-file (linux-kbuild); the Secure Boot tier (mokns.sh) needs
# mokutil (what stap runs), efitools (cert-to-efi-sig-list) and kmod
# (modinfo); the Secure Boot VM (test/secboot) ovmf's firmware and test
# keys, sbsigntool (sbsign) and keyutils (keyctl, in the guest).
LAB_PACKAGES=(systemtap systemtap-server systemtap-client systemtap-runtime
	libnss3-tools linux-headers-amd64 zip unzip iproute2 procps
	qemu-system-x86 busybox-static cpio
	avahi-daemon avahi-utils dbus openssl nsd
	mokutil efitools kmod ovmf sbsigntool keyutils)

LAB_RUNTIME_TASK_WORK=/usr/share/systemtap/runtime/stp_task_work.c

lab_prog=${0##*/}
# The directory of the lab scripts.
lab_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

say() { printf 'lab: %s: %s\n' "$lab_prog" "$*" >&2; }

# die prints the one line that says what failed, and exits non-zero.
lab_died=0
die() {
	printf 'lab: %s: FAILED: %s\n' "$lab_prog" "$*" >&2
	lab_died=1
	exit 1
}

# Every exit runs lab_cleanup (if the script defines one); a failure that
# did not go through die (set -e) still gets its one FAILED line, naming
# the command that failed.
lab_err=
set -E
trap 'lab_err="line $LINENO: $BASH_COMMAND"' ERR
lab_on_exit() {
	local rc=$?
	if declare -F lab_cleanup >/dev/null; then lab_cleanup "$rc" || true; fi
	if [[ $rc -ne 0 && $lab_died == 0 ]]; then
		printf 'lab: %s: FAILED: unexpected error (exit %s) at %s\n' "$lab_prog" "$rc" "${lab_err:-unknown}" >&2
	fi
	exit "$rc"
}
trap lab_on_exit EXIT

# tail_logs FILE...: the last lines of each non-empty file, on stderr.
tail_logs() {
	local f
	for f in "$@"; do
		[[ -s $f ]] || continue
		printf -- '----- last lines of %s -----\n' "$f" >&2
		tail -n 25 "$f" >&2
	done
}

# lab_port VAR DEFAULT sets $port to $VAR (DEFAULT when unset), a port
# number below 65535 (the labs use port+1 too), or dies.
lab_port() {
	port=${!1:-$2}
	if ! [[ $port =~ ^[0-9]{1,5}$ ]] || ((10#$port < 1 || 10#$port > 65534)); then
		die "$1 '$port' is not a port number below 65535"
	fi
	port=$((10#$port))
}

# lab_stap_trust NS HOME ADDR:PORT LOG SERVERLOG: the real stap, in network
# namespace NS with HOME, adds trust in the server at ADDR:PORT to HOME's
# client database (output in LOG); dies showing LOG and SERVERLOG if not.
lab_stap_trust() {
	local cwd rc=0
	cwd=$(mktemp -d /tmp/stapc-trust.XXXXXX)
	(cd "$cwd" && timeout 120 ip netns exec "$1" env -i PATH="$LAB_PATH" \
		HOME="$2" LANG=C.UTF-8 DBUS_SYSTEM_BUS_ADDRESS="$LAB_NO_DBUS" \
		stap --use-server="$3" --trust-servers=ssl,no-prompt) </dev/null >"$4" 2>&1 || rc=$?
	rm -rf "$cwd"
	if [[ $rc != 0 ]]; then
		tail_logs "$4" "$5"
		die "the real stap could not add trust in $3 from $1 (see $4)"
	fi
}

# lab_await_cert LAUNCHER CERT NAME LOG...: waits (90 s at most) until the
# stap-serverd LAUNCHER started has written CERT, then 1.1 s more: the
# serial of its self-signed certificate is the time in seconds, and the
# next server's must differ. Dies showing the LOGs if it does not come.
lab_await_cert() {
	local launcher=$1 cert=$2 name=$3 deadline
	shift 3
	say "$name makes its certificate database (RSA-4096, a few seconds)"
	deadline=$((SECONDS + 90))
	until [[ -s $cert ]]; do
		if ! kill -0 "$launcher" 2>/dev/null || ((SECONDS >= deadline)); then
			tail_logs "$@"
			die "stap-serverd of $name made no $cert (exited, or 90 s passed)"
		fi
		sleep 0.2
	done
	sleep 1.1
}

# lab_server_below LAUNCHER [MATCH] prints the stap-serverd process at or
# below LAUNCHER (runuser forks it), failing while there is none yet: the
# one whose executable is STAP_SERVERD, or, given MATCH (for a server in a
# chroot, whose executable lies below the chroot), whose command line
# holds MATCH.
lab_server_below() {
	local p
	for p in $1 $(descendants "$1"); do
		if [[ -n ${2:-} ]]; then
			pid_matches "$p" "$2" || continue
		elif [[ $(readlink "/proc/$p/exe" 2>/dev/null) != "$STAP_SERVERD" ]]; then
			continue
		fi
		echo "$p"
		return 0
	done
	return 1
}

# lab_dbus_conf ADDRESS WHO prints the configuration of a private system
# bus listening at ADDRESS (dbus-daemon ignores --address for this: "needs
# one or more <listen> elements"), open to every user.
lab_dbus_conf() {
	cat <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<!-- the private system bus of $2 (stap-client test lab) -->
<busconfig>
  <type>system</type>
  <listen>$1</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
EOF
}

need_root() {
	[[ $(id -u) -eq 0 ]] || die "must run as root (it installs packages, creates a user and a network namespace)"
}

# lab_release prints the kernel release whose headers the server compiles
# for: the one linux-headers-amd64 depends on, else the newest
# /lib/modules/*/build. Never the running kernel's (it has no headers here).
lab_release() {
	local dep rel
	dep=$(dpkg-query -W -f='${Depends}' linux-headers-amd64 2>/dev/null) || dep=
	rel=$(grep -o 'linux-headers-[^ ,()]*' <<<"$dep" | head -n1) || rel=
	rel=${rel#linux-headers-}
	if [[ -n $rel && -d /lib/modules/$rel/build ]]; then
		printf '%s\n' "$rel"
		return 0
	fi
	newest_headers ""
}

# newest_headers ROOT: the newest release with ROOT/lib/modules/*/build.
newest_headers() {
	local d rel=
	for d in "$1"/lib/modules/*/build; do
		[[ -d $d ]] || continue
		d=${d%/build}
		rel=$(printf '%s\n%s\n' "$rel" "${d##*/}" | sed '/^$/d' | sort -V | tail -n1)
	done
	[[ -n $rel ]] || return 1
	printf '%s\n' "$rel"
}

# certinfo DER-FILE prints the certificate's serial as stap puts it in TXT
# certinfo=: the DER INTEGER's content bytes (with the 0x00 pad when the
# top bit is set), lowercase hex pairs joined by ':'.
certinfo() {
	local s
	s=$(openssl x509 -inform DER -in "$1" -noout -serial) || return 1
	s=${s#serial=}
	s=${s,,}
	((${#s} % 2 == 0)) || s=0$s
	[[ ${s:0:1} == [89a-f] ]] && s=00$s
	sed 's/../&:/g; s/:$//' <<<"$s"
}

# pid_matches PID WORD: PID is alive and its command line contains WORD.
# Guards every kill against PID reuse.
pid_matches() {
	local pid=$1 word=$2 cmd
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
	[[ $cmd == *"$word"* ]]
}

# ns_exists NS: the network namespace NS exists.
ns_exists() { ip netns list 2>/dev/null | grep -qE "^$1( |$)"; }

# ns_marked NS DEV MARKER: NS exists and its link DEV carries MARKER as
# its alias, i.e. a lab script made it.
ns_marked() {
	ns_exists "$1" || return 1
	[[ $(ip -n "$1" -o link show dev "$2" 2>/dev/null) == *"alias $3"* ]]
}

# ns_pids NS: the processes in NS, on one line ("" for none).
ns_pids() { ip netns pids "$1" | tr '\n' ' '; }

# ns_del NS DEV MARKER LINKS: deletes a lab's namespace NS. One without
# MARKER on DEV is ours only if it holds no links but LINKS (an ERE for
# the links the up script makes: a killed one half-made it); else it
# dies. Processes still inside are not ours to kill: deleting the name
# leaves them running in the orphaned namespace, with a warning.
ns_del() {
	local ns=$1 stray
	ns_exists "$ns" || return 0
	if ! ns_marked "$ns" "$2" "$3"; then
		[[ $(ip -n "$ns" -o link show 2>/dev/null | grep -vcE "^[0-9]+: (lo|$4)[@:]") == 0 ]] ||
			die "network namespace $ns exists but was not made by this lab (no '$3' marker); remove it by hand if stale"
	fi
	stray=$(ns_pids "$ns")
	[[ -z ${stray// /} ]] || say "warning: still in netns $ns, not ours, left alone: $stray"
	ip netns del "$ns" || die "ip netns del $ns"
	say "deleted network namespace $ns"
}

# netns_is_ours: the one-namespace lab's LAB_NETNS exists and carries
# LAB_MARKER on LAB_IF, i.e. an earlier up script made it.
netns_exists() { ns_exists "$LAB_NETNS"; }
netns_is_ours() { ns_marked "$LAB_NETNS" "$LAB_IF" "$LAB_MARKER"; }

# lab_netns_up: a fresh LAB_NETNS with LAB_ADDR/LAB_PREFIX on LAB_IF,
# marked; a stale one of ours with nobody inside is replaced first. Sets
# started=1 once there is a namespace for lab_cleanup to remove.
lab_netns_up() {
	local busy
	if netns_exists; then
		netns_is_ours || die "network namespace $LAB_NETNS exists but was not made by $lab_prog (no '$LAB_MARKER' marker on $LAB_IF); remove it with 'ip netns del $LAB_NETNS' if it is stale"
		busy=$(ns_pids "$LAB_NETNS")
		[[ -z ${busy// /} ]] || die "network namespace $LAB_NETNS is in use by PIDs $busy(another STATEDIR's lab? run its down script on it)"
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
}

# lab_netns_down: deletes LAB_NETNS if an up script made it.
lab_netns_down() {
	if netns_is_ours; then
		ns_del "$LAB_NETNS" "$LAB_IF" "$LAB_MARKER" "$LAB_IF"
	elif netns_exists; then
		say "network namespace $LAB_NETNS was not made by this lab (no marker); left alone"
	fi
}

# close_fds closes every descriptor above 2 in the calling (sub)shell, so a
# daemon keeps no inherited pipe open (a CI step waiting for EOF on one
# would hang) and not the lock either.
close_fds() {
	local f fd
	for f in /proc/"$BASHPID"/fd/*; do
		fd=${f##*/}
		if [[ $fd =~ ^[0-9]+$ ]] && ((fd > 2)); then exec {fd}>&-; fi
	done # no redirection here: it would make bash save fd 2 in a high fd
}

# lab_lock [LOCKFILE] serializes a lab's up and down scripts (one lab of
# each kind per machine); LOCKFILE is LAB_LOCK when not given.
lab_lock() {
	local lock=${1:-$LAB_LOCK}
	mkdir -p "${lock%/*}"
	exec 9>"$lock"
	flock -w 900 9 || die "another up or down script of this lab holds $lock for more than 900 s"
}

# lab_root starts every lab script: root, the clean PATH, umask 022.
lab_root() {
	need_root
	export PATH=$LAB_PATH
	umask 022
}

# lab_init STATEDIR: lab_root, and $statedir for a script that takes one.
lab_init() {
	lab_root
	set_statedir "$1"
}

# lab_prepare: what the servers need installed (install.sh), then $rel,
# the kernel release they compile for, and $arch.
lab_prepare() {
	bash "$lab_dir/install.sh" || die "install.sh could not install the packages (see above)"
	rel=$(lab_release) || die "cannot tell the kernel headers' release (no /lib/modules/*/build)"
	arch=$(uname -m)
}

# lab_up STATEDIR PORTVAR DEFAULT starts an up script whose servers compile
# for the host's headers: lab_init, $port (lab_port), $t0 for the timing,
# and lab_prepare.
lab_up() {
	lab_init "$1"
	lab_port "$2" "$3"
	t0=$SECONDS
	lab_prepare
}

# ns_hub NS BRIDGE MARKER [ARG...]: a new namespace NS holding the bridge
# BRIDGE (ip link's type arguments ARG), marked with MARKER, up: the
# switch or router the hosts of a lab hang on.
ns_hub() {
	local ns=$1 br=$2 marker=$3
	shift 3
	ip netns add "$ns" || die "ip netns add $ns"
	ip -n "$ns" link set lo up
	ip -n "$ns" link add "$br" type bridge "$@" || die "creating bridge $br ($*) in $ns"
	ip -n "$ns" link set "$br" alias "$marker"
	ip -n "$ns" link set "$br" up
}

# ns_host NS HUB IF PEER MARKER ADDR/PREFIX [BRIDGE]: a new namespace NS
# joined to HUB by a veth pair made inside HUB (one end moves to NS:
# nothing ever exists in the root namespace): IF in NS, marked with MARKER
# and holding ADDR; PEER in HUB, a port of BRIDGE when given; both up.
ns_host() {
	local ns=$1 hub=$2 if=$3 peer=$4
	ip netns add "$ns" || die "ip netns add $ns"
	ip -n "$ns" link set lo up
	ip -n "$hub" link add "$peer" type veth peer name "$if" netns "$ns" ||
		die "creating veth $peer <-> $ns/$if"
	ip -n "$ns" link set "$if" alias "$5"
	[[ -z ${7:-} ]] || ip -n "$hub" link set "$peer" master "$7"
	ip -n "$hub" link set "$peer" up
	ip -n "$ns" addr add "$6" dev "$if"
	ip -n "$ns" link set "$if" up
}

# lab_user USER HOME COMMENT: the system user a stap-serverd runs as (it
# refuses root), made when missing; sets $user_home to its home, made.
lab_user() {
	if ! getent passwd "$1" >/dev/null; then
		useradd --system --user-group --home-dir "$2" --create-home \
			--shell /usr/sbin/nologin --comment "$3" "$1" ||
			die "useradd $1"
	fi
	user_home=$(getent passwd "$1" | cut -d: -f6)
	[[ -n $user_home && $user_home == /* ]] || die "user $1 has no home directory"
	install -d -o "$1" -g "$(id -gn "$1")" -m 0755 "$user_home"
}

# lab_server_log LOG USER: an empty LOG that stap-serverd, run as USER,
# can write (it opens --log itself).
lab_server_log() {
	: >"$1" && chown "$2" "$1" && chmod 0644 "$1"
	runuser -u "$2" -- test -w "$1" || die "$2 cannot write $1 (STATEDIR must be reachable by other users)"
}

# lab_serverd_argv USER HOME BUS REL PORT LOG sets $serverd: stap-serverd
# for release REL on PORT, logging to LOG, run as USER in a clean
# environment with HOME and the system bus BUS.
lab_serverd_argv() {
	serverd=(runuser -u "$1" -- env -i HOME="$2" USER="$1" LOGNAME="$1"
		PATH="$LAB_PATH" LANG=C.UTF-8 TMPDIR=/tmp DBUS_SYSTEM_BUS_ADDRESS="$3"
		"$STAP_SERVERD" -r "$4" --port "$5" --log "$6")
}

# lab_spawn DIR OUT CMD...: starts CMD in the background as a daemon: in
# DIR, with no inherited descriptor (close_fds: a lock or a CI pipe), stdin
# /dev/null, stdout and stderr appended to OUT. Sets $spawned to its PID.
lab_spawn() {
	local dir=$1 out=$2
	shift 2
	(
		close_fds
		cd "$dir"
		exec "$@"
	) </dev/null >>"$out" 2>&1 &
	spawned=$!
}

# lab_await_server WHAT LAUNCHER SECONDS MATCH LOG...: waits for the
# stap-serverd below LAUNCHER (see lab_server_below) and sets $server_pid;
# dies showing the LOGs when LAUNCHER exits or SECONDS pass first.
lab_await_server() {
	local what=$1 launcher=$2 deadline=$((SECONDS + $3)) match=$4
	shift 4
	until server_pid=$(lab_server_below "$launcher" "$match"); do
		if ! kill -0 "$launcher" 2>/dev/null || ((SECONDS >= deadline)); then
			tail_logs "$@"
			die "stap-serverd of $what exited at start, or did not appear below launcher PID $launcher"
		fi
		sleep 0.1
	done
}

# lab_listening NS PORT PID: PID listens on TCP PORT in NS. Checked with
# ss: a bare TCP connect would make stap-serverd log "Error reading size
# of request file".
lab_listening() { ip netns exec "$1" ss -Hltnp "sport = :$2" 2>/dev/null | grep -q "pid=$3,"; }

# lab_await_ready WHAT NS PORT PID CERT SECONDS LOG...: waits until
# stap-serverd PID listens on PORT in NS with its certificate CERT written
# (the first start makes an RSA-4096 database: a few seconds); dies
# showing the LOGs when it exits or SECONDS pass first.
lab_await_ready() {
	local what=$1 ns=$2 port=$3 pid=$4 cert=$5 secs=$6 deadline=$((SECONDS + $6))
	shift 6
	until [[ -s $cert ]] && lab_listening "$ns" "$port" "$pid"; do
		if ! pid_matches "$pid" "$STAP_SERVERD" || ((SECONDS >= deadline)); then
			tail_logs "$@"
			ip netns exec "$ns" ss -Hltnp "sport = :$port" >&2 || true
			die "stap-serverd of $what (PID $pid) is not listening on port $port with $cert (exited, or $secs s passed)"
		fi
		sleep 0.2
	done
}

# lab_record DIR PID ROLE: remembers a daemon as "PID ROLE STARTTIME" in
# DIR/daemons, for lab_stop_daemons.
lab_record() {
	local st
	st=$(proc_stat "$2") || die "PID $2 ($3) vanished right after start"
	# shellcheck disable=SC2086
	set -- "$1" "$2" "$3" $st
	printf '%s %s %s\n' "$2" "$3" "$7" >>"$1/daemons"
}

# lab_stop_daemons DIR IS ROLE...: stops the daemons lab_record recorded in
# DIR, role by role in the order given (avahi-daemon before its bus), each
# first checked to be that very process: alive with its start time, and
# "IS DIR ROLE PID" true. SIGTERM, then SIGKILL after 10 s.
lab_stop_daemons() {
	local dir=$1 is=$2 role pid r st targets=() stopped=() t deadline left
	shift 2
	[[ -f $dir/daemons ]] || return 0
	for role in "$@"; do
		targets=()
		while read -r pid r st; do
			[[ $r == "$role" ]] || continue
			if ! alive "$pid" "$st" || ! "$is" "$dir" "$role" "$pid"; then continue; fi
			targets+=("$pid:$st")
			kill -TERM "$pid" 2>/dev/null || true
		done <"$dir/daemons"
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
		stopped+=("${targets[@]}")
	done
	[[ ${#stopped[@]} -eq 0 ]] || say "stopped the daemons of $dir: ${stopped[*]%%:*}"
	mv -f "$dir/daemons" "$dir/daemons.old"
}

# lab_clean_requests USER: removes the request directories a stap-serverd
# of USER killed mid-request left in /tmp (its TMPDIR), once none of
# USER's runs (zombies, which PID 1 may reap late, do not count).
lab_clean_requests() {
	getent passwd "$1" >/dev/null || return 0
	if ! pgrep -r R,S,D,T,t,I -u "$1" -x stap-serverd >/dev/null 2>&1; then
		find /tmp -maxdepth 1 -type d -name 'stap-server.*' -user "$1" -exec rm -rf {} + 2>/dev/null || true
	fi
}

# set_statedir STATEDIR sets $statedir to its absolute path; refuses
# characters that would need quoting in lab.env or on command lines.
set_statedir() {
	local d=$1
	[[ -n $d ]] || die "usage: $lab_prog STATEDIR"
	[[ $d == /* ]] || d=$PWD/$d
	[[ $d =~ ^[A-Za-z0-9._/+@:,-]+$ ]] || die "STATEDIR '$d' has characters other than A-Z a-z 0-9 . _ / + @ : , -"
	while [[ $d == */ ]]; do d=${d%/}; done
	[[ -n $d ]] || die "STATEDIR must not be /"
	statedir=$d
}

# proc_stat PID prints "STATE PPID PGRP STARTTIME" from /proc/PID/stat
# (fields after the parenthesized command name, which may hold spaces).
proc_stat() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	# shellcheck disable=SC2086 # split the fields on purpose
	set -- $s
	printf '%s %s %s %s\n' "$1" "$2" "$3" "${20}"
}

# alive PID STARTTIME: that very process still exists and is no zombie.
alive() {
	local st
	st=$(proc_stat "$1") || return 1
	# shellcheck disable=SC2086
	set -- $st "$2"
	[[ $1 != Z && $4 == "$5" ]]
}

# descendants PID...: every live descendant of the given processes.
descendants() {
	ps -e -o pid=,ppid= | awk -v roots="$*" '
		BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) want[r[i]] = 1 }
		{ kids[$2] = kids[$2] " " $1 }
		END {
			for (i = 1; i <= n; i++) queue[i] = r[i]
			head = 1; tail = n
			while (head <= tail) {
				p = queue[head++]; m = split(kids[p], k, " ")
				for (j = 1; j <= m; j++) if (!(k[j] in seen)) {
					seen[k[j]] = 1; queue[++tail] = k[j]; print k[j]
				}
			}
		}'
}

# lab_stop_recorded STATEDIR stops the server processes up.sh recorded in
# STATEDIR/pids, and whatever they spawned: each recorded PID is checked
# against its /proc/PID/cmdline first. The launcher is a session and
# process-group leader (setsid), so its group is the whole server.
lab_stop_recorded() {
	local pidfile=$1/pids pid role st targets=() groups=() t deadline left
	[[ -f $pidfile ]] || return 0
	while read -r pid role; do
		[[ $role == launcher || $role == stap-serverd ]] || continue
		pid_matches "$pid" "$STAP_SERVERD" || continue
		st=$(proc_stat "$pid") || continue
		# shellcheck disable=SC2086
		set -- $st
		targets+=("$pid:$4")
		# Only a group our recorded launcher leads is killed as a group.
		[[ $role == launcher && $3 == "$pid" ]] && groups+=("$pid")
	done <"$pidfile"
	if [[ ${#targets[@]} -gt 0 ]]; then
		for pid in $(descendants "${targets[@]%%:*}"); do
			[[ " ${targets[*]%%:*} " == *" $pid "* ]] && continue
			st=$(proc_stat "$pid") || continue
			# shellcheck disable=SC2086
			set -- $st
			targets+=("$pid:$4")
		done
		say "stopping recorded server processes: ${targets[*]%%:*}"
		for pid in "${groups[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
		for t in "${targets[@]}"; do
			if alive "${t%%:*}" "${t#*:}"; then kill -TERM "${t%%:*}" 2>/dev/null || true; fi
		done
		# stap-serverd leaves its accept loop within a few seconds.
		deadline=$((SECONDS + 20))
		while :; do
			left=()
			for t in "${targets[@]}"; do
				alive "${t%%:*}" "${t#*:}" && left+=("$t")
			done
			[[ ${#left[@]} -eq 0 ]] && break
			if ((SECONDS >= deadline)); then
				say "still running after SIGTERM, sending SIGKILL: ${left[*]%%:*}"
				for t in "${left[@]}"; do kill -KILL "${t%%:*}" 2>/dev/null || true; done
				sleep 1
				for t in "${left[@]}"; do
					alive "${t%%:*}" "${t#*:}" && die "could not stop PID ${t%%:*}"
				done
				break
			fi
			sleep 0.2
		done
	fi
	mv -f "$pidfile" "$pidfile.old"
}
