#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Fleet benchmark (issue 20): a trace of repeated -p4 runs of distinct
# scripts from several client machines (own HOME each, so no local result
# cache answers) against three equal real stap-serverd 4.8 servers
# (fleet.walab.test in the wide-area lab, test/lab/wa-up.sh), once with
# this tree's stap-client (rendezvous order among equals) and once with the
# one built from BASE (weighted random order, before issue 20). Each
# binary gets scripts of its own, new to the servers, so both start cold.
# Reports, per binary: cold compiles per distinct script (the servers'
# "Pass 4: compiled C into" lines over the scripts) and the median and
# mean time to module (wall time of one run).
# Usage: bench/fleet.sh [SCRIPTS [MACHINES]]   (root; default 6 scripts, 3 machines)
#   WA_ENV=path/wa.env uses a running wide-area lab; BASE (default 260f52f).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts=${1:-6}
machines=${2:-3}
base=${BASE:-260f52f}
export PATH="$PATH:/usr/local/go/bin"
# shellcheck source=bench/lib.sh
source bench/lib.sh

if [[ -z ${WA_ENV:-} ]]; then
	bash test/lab/wa-up.sh "$PWD/.walab" >/dev/null
	WA_ENV=$PWD/.walab/wa.env
fi
make -s build
bench_load "$WA_ENV"
# The binary before the fleet order, built from BASE in a worktree.
git worktree add -q --detach "$tmp/base" "$base"
trap 'git worktree remove --force "$tmp/base"; rm -rf "$tmp"' EXIT
(cd "$tmp/base" && CGO_ENABLED=0 go build -trimpath -o "$tmp/stap-client-base" ./cmd/stap-client)
path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# trace BIN LABEL: every script from every machine, interleaved as a
# fleet of users would run them (machine-major, scripts shuffled per
# machine with a fixed seed).
trace() {
	local bin=$1 label=$2 nonce m s start end
	nonce=$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
	: >"$tmp/$label.times"
	: >"$tmp/$label.err"
	for ((m = 1; m <= machines; m++)); do
		mkdir -p "$tmp/$label-m$m"
		for s in $(seq 1 "$scripts" | shuf --random-source=<(yes "$m")); do
			start=$(date +%s%N)
			(cd "$tmp/$label-m$m" && ip netns exec "$WA_CLIENT_NS" env -i PATH="$path" LANG=C.UTF-8 HOME="$tmp/$label-m$m" \
				"$bin" --find-domains="fleet.$WA_DOMAIN" --ssl="$WA_STATEDIR/certs" -v -r "$WA_RELEASE" -p4 \
				-e "probe begin { printf(\"bench $nonce $s\\n\"); exit() }" >/dev/null 2>>"$tmp/$label.err") ||
				echo "$label: machine $m script $s failed" >&2
			end=$(date +%s%N)
			echo $(((end - start) / 1000000)) >>"$tmp/$label.times"
		done
	done
	local compiles
	compiles=$(grep -c '^Pass 4: compiled C into' "$tmp/$label.err" || true)
	printf '%-12s compiles/script %s  median %s ms  mean %s ms  (%d runs)\n' "$label" \
		"$(awk -v c="$compiles" -v s="$scripts" 'BEGIN { printf "%.2f", c / s }')" \
		"$(median <"$tmp/$label.times")" \
		"$(awk '{ t += $1 } END { printf "%d", t / NR }' "$tmp/$label.times")" "$((scripts * machines))"
}

echo "fleet.sh: $scripts scripts x $machines machines, 3 equal servers (fleet.$WA_DOMAIN); random: stap-client at $base"
trace "$tmp/stap-client-base" "random"
trace "$PWD/bin/stap-client" "rendezvous"
