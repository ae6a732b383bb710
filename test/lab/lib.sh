# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash disable=SC2034 # the constants are for the sourcing scripts
# Shared helpers for the real-server test lab (install.sh, up.sh, down.sh).
# Sourced, not run.

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

# lab_server_below LAUNCHER prints the stap-serverd process at or below
# LAUNCHER (runuser forks it), failing while there is none yet.
lab_server_below() {
	local p
	for p in $1 $(descendants "$1"); do
		if [[ $(readlink "/proc/$p/exe" 2>/dev/null) == "$STAP_SERVERD" ]]; then
			echo "$p"
			return 0
		fi
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

# netns_is_ours: the namespace exists and carries our marker (the alias of
# LAB_IF), i.e. an earlier up.sh made it.
netns_exists() { ip netns list 2>/dev/null | grep -qE "^$LAB_NETNS( |$)"; }
netns_is_ours() {
	netns_exists || return 1
	[[ $(ip -n "$LAB_NETNS" -o link show dev "$LAB_IF" 2>/dev/null) == *"alias $LAB_MARKER"* ]]
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

# lab_lock serializes up.sh and down.sh (one lab per machine).
lab_lock() {
	mkdir -p "${LAB_LOCK%/*}"
	exec 9>"$LAB_LOCK"
	flock -w 900 9 || die "another up.sh/down.sh holds $LAB_LOCK for more than 900 s"
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
