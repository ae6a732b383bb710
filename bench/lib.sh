# SPDX-License-Identifier: GPL-2.0-or-later
# What the benchmarks share; sourced by each after it changed to the top of
# the tree.

# bench_netlab STATE: strace is installed and the network lab
# (test/lab/net-up.sh) is up, its state in STATE.
bench_netlab() {
	command -v strace >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q strace >/dev/null
	bash test/lab/net-up.sh "$1" >/dev/null
}

# bench_load ENVFILE: the lab description ENVFILE exported, and $tmp a
# temporary directory removed at exit.
bench_load() {
	set -a
	# shellcheck disable=SC1090
	source "$1"
	set +a
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
}

# median: the median of the numbers on stdin, one a line.
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
