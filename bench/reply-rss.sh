#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Reply memory benchmark (issue 16): the peak RSS of the stap-client binary
# for large replies from the test tree's fake TLS server: a 200 MiB and a
# 1000 MiB stdout printed to a pipe, and a 64 MiB module saved with -p4.
# The goal is at most 32 MiB each; the benchmark fails above it. The peak
# is the child's getrusage ru_maxrss, taken after it exits.
# Usage: bench/reply-rss.sh [COUNT]   (default 1 run each)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
count=${1:-1}
make -s build
STAP_CLIENT_BIN="$PWD/bin/stap-client" go test -count=1 -run '^$' \
	-bench '^BenchmarkReplyPeakRSS$' -benchtime "${count}x" ./internal/client |
	awk '/peak-RSS-MiB/ { for (i = 1; i <= NF; i++) if ($(i + 1) == "peak-RSS-MiB") printf "%-40s peak RSS %s MiB\n", $1, $i } /^(FAIL|ok|---)/'
