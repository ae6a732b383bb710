#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Result-cache benchmark (issue 13): wall time of a stap-client -p4 run
# answered by its local result cache, against the real `stap --use-server`
# for the same run with the server's own cache warm, on the real-server lab
# (test/lab/up.sh). Both run in the lab's network namespace through the same
# `ip netns exec ... env -i` wrapper, one after the other, on the same
# machine; the script is the man page's Hello World, which up.sh compiles
# once to warm the server's cache. Target: ratio at most 0.1.
# Usage: bench/cache.sh [RUNS]   (root; default 9 runs each)
#   LAB_ENV=path/lab.env uses a running lab; without it the repository's own
#   lab is started with test/lab/up.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-9}
export PATH="$PATH:/usr/local/go/bin"
# shellcheck source=bench/lib.sh
source bench/lib.sh

if [[ -z ${LAB_ENV:-} ]]; then
	bash test/lab/up.sh "$PWD/.lab" >/dev/null
	LAB_ENV=$PWD/.lab/lab.env
fi
make -s build
bench_load "$LAB_ENV"
mkdir -p "$tmp/home" "$tmp/sysdir" "$tmp/cwd"
script='probe begin { printf("Hello World!\n"); exit() }'
bin=$PWD/bin/stap-client
path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

run_ours() {
	(cd "$tmp/cwd" && ip netns exec "$LAB_NETNS" env -i PATH="$path" LANG=C.UTF-8 HOME="$tmp/home" SYSTEMTAP_DIR="$tmp/sysdir" \
		"$bin" --server="$LAB_ADDR:$LAB_PORT" --ssl="$LAB_CERTDIR" -r "$LAB_RELEASE" -p4 -e "$script" >/dev/null 2>"$tmp/err.ours")
}

run_stap() {
	(cd "$tmp/cwd" && ip netns exec "$LAB_NETNS" env -i PATH="$path" LANG=C.UTF-8 HOME="$LAB_STAP_HOME" \
		stap --use-server="$LAB_ADDR:$LAB_PORT" -r "$LAB_RELEASE" -p4 -e "$script" >/dev/null 2>"$tmp/err.stap")
}

# ms CMD: wall milliseconds of one run of CMD, which must succeed.
ms() {
	local t0 t1
	t0=$(date +%s%N)
	"$@" || { echo "bench: $1 failed:" >&2; cat "$tmp"/err.* >&2; exit 1; }
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000))
}

# Warm both: the server's cache (stap) and the result cache (stap-client).
run_stap
fill=$(ms run_ours)
: >"$tmp/ours"
: >"$tmp/stap"
for _ in $(seq "$runs"); do
	rm -f "$tmp/cwd"/*.ko*
	ms run_ours >>"$tmp/ours"
	rm -f "$tmp/cwd"/*.ko*
	ms run_stap >>"$tmp/stap"
done
ours=$(median <"$tmp/ours")
stap=$(median <"$tmp/stap")
echo "runs: $runs each; stap-client's filling miss took $fill ms"
echo "stap-client cache hit, ms:            $(tr '\n' ' ' <"$tmp/ours")median $ours"
echo "stap --use-server, server cache warm: $(tr '\n' ' ' <"$tmp/stap")median $stap"
awk -v o="$ours" -v s="$stap" 'BEGIN { printf "ratio stap-client/stap: %.3f (target <= 0.1)\n", o / s }'
