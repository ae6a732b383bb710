#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Installs what the real-server lab needs on Debian 12 and patches the
# systemtap 4.8 runtime so that pass 4 compiles against current headers.
# Idempotent: with everything in place it returns at once without apt.
# Usage: install.sh   (root; non-interactive, fine under CI=true)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export PATH=$LAB_PATH

missing_packages() {
	local p st
	for p in "${LAB_PACKAGES[@]}"; do
		st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) || st=
		[[ $st == installed ]] || printf '%s\n' "$p"
	done
}

# policy-rc.d (exit 101) keeps package scripts from starting avahi-daemon
# and dbus in the root network namespace (mDNS must never run there). An
# existing one is saved and put back; one we create is removed afterwards.
policy=/usr/sbin/policy-rc.d
policy_saved=
policy_created=0
restore_policy() {
	if [[ -n $policy_saved ]]; then
		mv -f "$policy_saved" "$policy"
	elif [[ $policy_created == 1 ]]; then
		rm -f "$policy"
	fi
	policy_saved=''
	policy_created=0
}

apt_install() {
	need_root
	say "installing: $*"
	if [[ -e $policy ]]; then
		policy_saved=$(mktemp /usr/sbin/.policy-rc.d.stapclab.XXXXXX)
		cp -p "$policy" "$policy_saved"
	else
		policy_created=1
	fi
	# shellcheck disable=SC2317 # run by lab_on_exit (lib.sh) on any exit
	lab_cleanup() { restore_policy; }
	# On a systemd host the units would still be enabled, and D-Bus could
	# activate avahi-daemon later: mask them first when this install is
	# what brings avahi-daemon in (it is a dependency of avahi-utils).
	if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null &&
		[[ $(dpkg-query -W -f='${db:Status-Status}' avahi-daemon 2>/dev/null || true) != installed ]]; then
		systemctl mask avahi-daemon.service avahi-daemon.socket >&2 || die "systemctl mask avahi-daemon"
	fi
	# nsd likewise: it would answer on port 53 in the root namespace.
	if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null &&
		[[ $(dpkg-query -W -f='${db:Status-Status}' nsd 2>/dev/null || true) != installed ]]; then
		systemctl mask nsd.service >&2 || die "systemctl mask nsd"
	fi
	printf '#!/bin/sh\n# written by stap-client test/lab/install.sh while installing\nexit 101\n' >"$policy"
	chmod 0755 "$policy"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update </dev/null >&2 || die "apt-get update"
	apt-get install -y \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
		"${LAB_PACKAGES[@]}" </dev/null >&2 || die "apt-get install ${LAB_PACKAGES[*]}"
	restore_policy
	unset -f lab_cleanup
}

# Systemtap 4.8's runtime takes typeof(&task_work_cancel), whose signature
# changed in later 6.1 stable headers (the old function is now
# task_work_cancel_func). Switch both the type and the kallsyms lookup,
# only when the headers declare task_work_cancel_func. Re-running is a
# no-op: the patched text no longer matches. (Undo: apt-get install
# --reinstall systemtap-runtime.)
patch_runtime() {
	local rel=$1 h found=
	for h in "/lib/modules/$rel/build/include/linux/task_work.h" \
		"/lib/modules/$rel/source/include/linux/task_work.h" \
		"/usr/src/linux-headers-$rel/include/linux/task_work.h"; do
		[[ -f $h ]] && { found=$h; break; }
	done
	# Debian keeps include/ in the -common package, reached via source/.
	[[ -n $found ]] || die "no include/linux/task_work.h in the $rel headers"
	grep -q 'task_work_cancel_func' "$found" || return 0
	[[ -f $LAB_RUNTIME_TASK_WORK ]] || die "$LAB_RUNTIME_TASK_WORK is missing"
	if grep -q 'typeof(&task_work_cancel) task_work_cancel_fn' "$LAB_RUNTIME_TASK_WORK" ||
		grep -q 'kallsyms_lookup_name("task_work_cancel")' "$LAB_RUNTIME_TASK_WORK"; then
		need_root
		sed -i \
			-e 's/typeof(&task_work_cancel) task_work_cancel_fn/typeof(\&task_work_cancel_func) task_work_cancel_fn/' \
			-e 's/kallsyms_lookup_name("task_work_cancel")/kallsyms_lookup_name("task_work_cancel_func")/' \
			"$LAB_RUNTIME_TASK_WORK" || die "patching $LAB_RUNTIME_TASK_WORK"
		say "patched $LAB_RUNTIME_TASK_WORK for task_work_cancel_func ($rel headers)"
	fi
	# A newer systemtap may be fixed another way: leave it alone (up.sh's
	# warm-up compile tells whether pass 4 works).
	if ! grep -q 'typeof(&task_work_cancel_func) task_work_cancel_fn' "$LAB_RUNTIME_TASK_WORK" ||
		! grep -q 'kallsyms_lookup_name("task_work_cancel_func")' "$LAB_RUNTIME_TASK_WORK"; then
		say "warning: $LAB_RUNTIME_TASK_WORK has neither the 4.8 text nor the patched one; left alone"
	fi
}

main() {
	local missing rel
	missing=$(missing_packages)
	if [[ -n $missing ]]; then
		# shellcheck disable=SC2086 # one package per word
		apt_install $missing
		missing=$(missing_packages)
		[[ -z $missing ]] || die "still not installed after apt-get: ${missing//$'\n'/ }"
	fi
	[[ -x $STAP_SERVERD ]] || die "$STAP_SERVERD is missing (systemtap-server 4.8 expected)"
	rel=$(lab_release) || die "no kernel headers found (no /lib/modules/*/build; is linux-headers-amd64 installed?)"
	patch_runtime "$rel"
}

main "$@"
