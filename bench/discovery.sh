#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Discovery benchmark (issue 4): time from process start to the TCP connect
# to the chosen compile server, found by mDNS with the default spec, for
# stap-client and for the real `stap --use-server`, on the network lab
# (test/lab/net-up.sh). stap needs a running avahi-daemon, so it runs on
# lab host b (which has one); stap-client runs on the client host, which has
# none. Both are one bridge hop from the servers and trust the same NSS
# database. Times come from strace's timestamps (execve to connect).
# Usage: bench/discovery.sh [RUNS]   (root; default 9 runs each)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-9}
state=${NET_STATE:-$PWD/.netlab}
export PATH="$PATH:/usr/local/go/bin"

# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_netlab "$state"
make -s build
bench_load "$state/net.env"
script='probe begin { printf("Hello World!\n"); exit() }'

# elapsed FILE: ms from the first traced event (execve) to the first
# connect to the server port.
elapsed() {
	awk -v port="htons($NET_PORT)" '
		/execve\(/ && !start { start = $2 }
		/connect\(/ && index($0, port) { printf "%d\n", ($2 - start) * 1000; found = 1; exit }
		END { if (!found) print "NaN" }' "$1"
}

run_ours() {
	ip netns exec "$NET_CLIENT_NS" env -i PATH=/usr/bin:/bin HOME="$NET_CLIENT_HOME" \
		strace -f -ttt -e trace=execve,connect -o "$1" "$PWD/bin/stap-client" -r "$NET_RELEASE" -p1 -e "$script" >/dev/null 2>&1
}

run_stap() {
	nsenter -t "$NET_B_ANCHOR_PID" -n -m -u -- env -i PATH=/usr/bin:/bin HOME="$NET_CLIENT_HOME" \
		DBUS_SYSTEM_BUS_ADDRESS="$NET_B_DBUS" \
		strace -f -ttt -e trace=execve,connect -o "$1" stap --use-server -r "$NET_RELEASE" -p1 -e "$script" >/dev/null 2>&1
}

: >"$tmp/ours"
: >"$tmp/stap"
for i in $(seq "$runs"); do
	run_ours "$tmp/o$i" || { echo "bench: stap-client run $i failed" >&2; exit 1; }
	elapsed "$tmp/o$i" >>"$tmp/ours"
	run_stap "$tmp/s$i" || { echo "bench: stap run $i failed" >&2; exit 1; }
	elapsed "$tmp/s$i" >>"$tmp/stap"
done
ours=$(median <"$tmp/ours")
stap=$(median <"$tmp/stap")
echo "runs: $runs each"
echo "stap-client start->connect ms: $(tr '\n' ' ' <"$tmp/ours")median $ours"
echo "stap        start->connect ms: $(tr '\n' ' ' <"$tmp/stap")median $stap"
awk -v o="$ours" -v s="$stap" 'BEGIN { printf "ratio stap-client/stap: %.2f\n", o / s }'
