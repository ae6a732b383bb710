#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The man page's Hello World through stap-client and a real compile server:
# starts the lab (installing what it needs), compiles on this host (pass 4),
# then runs the example through pass 5 in a real kernel under qemu, and
# stops the lab. Usage: demo.sh STATEDIR STAP_CLIENT_BINARY (static)
set -euo pipefail
state=${1:?usage: demo.sh STATEDIR BINARY}
bin=${2:?usage: demo.sh STATEDIR BINARY}
here=$(cd "$(dirname "$0")" && pwd)

bash "$here/up.sh" "$state"
trap 'bash "$here/down.sh" "$state"' EXIT
# shellcheck disable=SC1091
source "$state/lab.env"

work=$(mktemp -d)
trap 'rm -rf "$work"; bash "$here/down.sh" "$state"' EXIT
script='probe begin { printf("Hello World!\n"); exit() }'
cmd=("$bin" "--server=$LAB_ADDR:$LAB_PORT" "--ssl=$LAB_CERTDIR" -v -r "$LAB_RELEASE" -e "$script")

echo "== stap-serverd $(dpkg-query -W -f='${Version}' systemtap-server) serving kernel $LAB_RELEASE at $LAB_ADDR:$LAB_PORT (netns $LAB_NETNS)"
echo "== \$ stap-client --server=$LAB_ADDR:$LAB_PORT --ssl=$LAB_CERTDIR -v -r $LAB_RELEASE -e '$script'"
echo "   (this host runs another kernel, so stap stops after pass 4 and keeps the module)"
set +e
(cd "$work" && ip netns exec "$LAB_NETNS" "${cmd[@]}")
rc=$?
set -e
echo "== exit status: $rc"
[[ $rc == 0 ]] || exit "$rc"
echo "== module saved in the working directory:"
(cd "$work" && ls -l -- *.ko)

# Pass 5 needs a kernel that loads modules: Debian's $LAB_RELEASE under
# qemu, which reaches the same server as 10.0.2.2 (test/vm/vm.sh).
printf '%s\n' "$script" >"$work/hello.stp"
cat >"$work/guest.sh" <<'GUEST'
script=$(cat /root/hello.stp)
echo "== (guest, kernel $(uname -r)) \$ stap-client --server=10.0.2.2:$LAB_PORT --ssl=/certs -e '$script'"
stap-client --server=10.0.2.2:"$LAB_PORT" --ssl=/certs -e "$script"
echo "== (guest) exit status: $?"
GUEST
# The guest's /root gets the script through the guest script itself.
{ printf 'cat >/root/hello.stp <<%s\n' "'STP'"; cat "$work/hello.stp"; echo STP; cat "$work/guest.sh"; } >"$work/guest-full.sh"
echo "== pass 5 in a real kernel: booting Debian's $LAB_RELEASE under qemu (TCG)"
set +e
bash "$here/../vm/vm.sh" "$state/lab.env" "$state/vm" "$bin" "$work/guest-full.sh" >"$work/console"
vrc=$?
set -e
# The guest's own lines, without the firmware's terminal controls.
tr -d '\r' <"$work/console" | sed -e 's/\x1bc//g' -e 's/\x1b\[[0-9;?]*[a-zA-Z]//g' |
	sed -n '/^STAPVM-BOOTED/,/^STAPVM-EXIT/p' | grep -v '^STAPVM-' || true
grep -q '^== (guest) exit status: 0' <(tr -d '\r' <"$work/console") ||
	{ echo "== pass 5 in the VM failed (vm.sh exit status $vrc)"; exit 1; }
