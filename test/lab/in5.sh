#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs a command of a systemtap 5.x chroot (the real stap client, say)
# inside the lab5 namespace, as root, with a clean environment; CWD and
# HOME are paths inside the chroot. The chroot's /proc, /sys and /dev are
# bound in the command's own mount namespace (ip netns exec makes one), so
# they vanish with it.
# Usage: in5.sh ROOT CWD HOME CMD [ARG...]   (root)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib5.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib5.sh"
trap - EXIT ERR # a plain wrapper: the command's status is ours
[[ $# -ge 4 ]] || { echo "usage: in5.sh ROOT CWD HOME CMD [ARG...]" >&2; exit 2; }
root=$1 cwd=$2 home=$3
shift 3
# shellcheck disable=SC2016 # expanded by the inner shells
exec ip netns exec "$LAB_NETNS" sh -c "$(lab5_mounts "$root")"' && r=$1 && shift && exec chroot "$r" env -i PATH='"$LAB_PATH"' HOME="$2" LANG=C.UTF-8 DBUS_SYSTEM_BUS_ADDRESS='"$LAB_NO_DBUS"' sh -c '\''cd "$0" && shift && exec "$@"'\'' "$@"' \
	sh "$root" "$cwd" "$home" "$@"
