#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The house's layering, checked (make lint): which of the project's
# packages each package may import. Data flows one way, from the command
# line to staprun: cmd -> client (the orchestrator) -> the packages of its
# steps (servers, exchange, workdir, host) -> leaf packages -> stapmsg. A
# leaf never imports the orchestrator or a step package, and a new package
# must be given its place here. Test files are free to import testkit.
set -euo pipefail
cd "$(dirname "$0")/../.."

declare -A allowed=(
  [cmd/stap-client]="client"
  [internal/client]="cache discovery exchange health host request response servers stapargs stapmsg staprun transport workdir"
  [internal/servers]="cache certdb discovery health host stapmsg transport"
  [internal/exchange]="certdb discovery health progress response stapmsg transport"
  [internal/workdir]="request stapmsg"
  [internal/host]="mok stapmsg staprun"
  [internal/discovery]="staprun stapmsg"
  [internal/cache]="certdb lockfile stapmsg"
  [internal/response]="stapmsg staprun"
  [internal/staprun]="stapargs stapmsg"
  [internal/transport]="certdb"
  [internal/gen]="stapargs"
  [internal/request]=""
  [internal/certdb]=""
  [internal/mok]=""
  [internal/progress]=""
  [internal/stapargs]=""
  [internal/stapmsg]=""
  [internal/health]="lockfile"
  [internal/lockfile]=""
  [internal/testkit]=""
)

mod=$(go list -m)
bad=0
while read -r pkg imports; do
  pkg=${pkg#"$mod"/}
  case $pkg in test/*|docs*) continue ;; esac
  if [[ ! -v allowed[$pkg] ]]; then
    echo "layers: $pkg has no place in test/lint/layers.sh; say which packages it may import" >&2
    bad=1
    continue
  fi
  for imp in $imports; do
    [[ $imp == "$mod"/* ]] || continue
    imp=${imp#"$mod"/}
    name=${imp#internal/}
    if [[ " ${allowed[$pkg]} " != *" $name "* ]]; then
      echo "layers: $pkg must not import $imp (allowed: ${allowed[$pkg]:-none})" >&2
      bad=1
    fi
  done
done < <(go list -f '{{.ImportPath}} {{join .Imports " "}}' ./...)
exit $bad
