#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Failover benchmark (issue 9): with a dead first server in --server's
# order, how long until the connection to the live second one starts, and
# until the run ends. Two dead kinds, from the network lab
# (test/lab/net-up.sh): a blackholed address (SYNs vanish) and a refused
# port. Times come from strace's timestamps: the first connect() to the dead
# server, then the first connect() to the live one; and the whole run.
# Usage: bench/failover.sh [RUNS]   (root; default 9 runs each)
# BIN=path measures another stap-client binary (an older build, say).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-9}
state=${NET_STATE:-$PWD/.netlab}
export PATH="$PATH:/usr/local/go/bin"

# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_netlab "$state"
if [[ -z ${BIN:-} ]]; then
	make -s build
	BIN=$PWD/bin/stap-client
fi
bench_load "$state/net.env"
live=$NET_A_ADDR:$NET_PORT
script='probe begin { printf("Hello World!\n"); exit() }'

# gap FILE DEAD: ms from the first connect to DEAD's address to the first
# connect to the live server's, and from execve to the last line.
gap() {
	awk -v dead="$2" -v live="$NET_A_ADDR" '
		/execve\(/ && !start { start = $2 }
		/connect\(/ && index($0, "\"" dead "\"") && !d { d = $2 }
		/connect\(/ && index($0, "\"" live "\"") && !l { l = $2 }
		{ last = $2 }
		END { if (d && l) printf "%d %d\n", (l - d) * 1000, (last - start) * 1000; else print "NaN NaN" }' "$1"
}

for kind in blackhole refused; do
	if [[ $kind == blackhole ]]; then dead=$NET_DEAD_ADDR:$NET_PORT; else dead=$NET_REFUSED; fi
	: >"$tmp/$kind"
	for i in $(seq "$runs"); do
		ip netns exec "$NET_CLIENT_NS" env -i PATH=/usr/bin:/bin HOME="$NET_CLIENT_HOME" \
			strace -f -ttt -e trace=execve,connect -o "$tmp/t" "$BIN" --server="$dead" --server="$live" \
			-r "$NET_RELEASE" -p1 -e "$script" >/dev/null 2>&1 || { echo "bench: run $i ($kind) failed" >&2; exit 1; }
		gap "$tmp/t" "${dead%:*}" >>"$tmp/$kind"
	done
	echo "$kind first: dead->live connect ms: $(cut -d' ' -f1 "$tmp/$kind" | tr '\n' ' ')median $(cut -d' ' -f1 "$tmp/$kind" | median)"
	echo "$kind first: whole run ms: $(cut -d' ' -f2 "$tmp/$kind" | tr '\n' ' ')median $(cut -d' ' -f2 "$tmp/$kind" | median)"
done
