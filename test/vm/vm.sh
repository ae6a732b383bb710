#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs a shell script as root in a real Debian kernel under qemu (TCG), so
# that pass 5 (staprun loading a module) can happen: this machine's kernel
# cannot load modules. The kernel is the one the lab's compile server
# builds for; the guest reaches that server through qemu user networking,
# whose 10.0.2.2 is the loopback of the lab's network namespace, where
# qemu runs.
#
# Usage: vm.sh LAB_ENV STATEDIR STAP_CLIENT_BINARY GUEST_SCRIPT
#   The guest runs GUEST_SCRIPT with sh in /root, with stap-client and
#   staprun on PATH, the server's certificate in /certs and the server at
#   $LAB_PORT on 10.0.2.2; then it prints "STAPVM-EXIT rc=N" and powers off.
#   STATEDIR caches the kernel package. VM_TIMEOUT (seconds, default 300)
#   bounds the whole VM run. VM_EXTRA: more host files (and the libraries
#   ldd lists for them) copied to the same paths; VM_HOME: a directory
#   copied to /stap-home (the real stap's trust database lives there).
#   VM_MODULES: more modules of the kernel package (names, as efivarfs),
#   loaded at boot like e1000.
#   VM_SECUREBOOT=VARS: boot with UEFI Secure Boot (Debian's ovmf), the
#   kernel signed with the firmware's snakeoil key (sbsign), VARS (a copy
#   of OVMF_VARS_4M.snakeoil.fd) as the writable variable store. A guest
#   script that prints "STAPVM-REBOOT" and reboots is booted again (up to
#   3 boots), with the variables it wrote, and runs again from the start.
set -euo pipefail
usage="usage: vm.sh LAB_ENV STATEDIR STAP_CLIENT_BINARY GUEST_SCRIPT"
labenv=${1:?$usage}
state=${2:?$usage}
bin=${3:?$usage}
guest=${4:?$usage}
prog=vm.sh
say() { printf '%s: %s\n' "$prog" "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# shellcheck disable=SC1090
source "$labenv"
: "${LAB_NETNS:?} ${LAB_RELEASE:?} ${LAB_PORT:?} ${LAB_CERTDIR:?}"
[[ $(id -u) == 0 ]] || die "needs root (qemu in the lab's network namespace)"
for t in qemu-system-x86_64 cpio gzip ldd; do
	command -v "$t" >/dev/null || die "$t is missing (test/lab/install.sh installs it)"
done
busybox=/bin/busybox
is_static() { ! ldd "$1" >/dev/null 2>&1; }
[[ -x $busybox ]] || die "$busybox is missing (busybox-static)"
is_static "$busybox" || die "$busybox is not static (install busybox-static)"
staprun=/usr/bin/staprun stapio=/usr/lib/systemtap/stapio
[[ -x $staprun && -x $stapio ]] || die "staprun or stapio is missing (systemtap-runtime)"
is_static "$bin" || die "$bin must be static (CGO_ENABLED=0): the guest has no libc for it"

mkdir -p "$state"
state=$(cd "$state" && pwd)
kdir=$state/kernel-$LAB_RELEASE
# The Debian kernel package, fetched once and kept in STATEDIR; two VM
# tiers running at once take turns.
exec {statelock}>"$state/.lock"
flock "$statelock"
if [[ ! -f $kdir/.done ]]; then
	say "fetching linux-image-$LAB_RELEASE"
	rm -rf "$kdir" "$state/dl"
	mkdir -p "$state/dl" "$kdir"
	(cd "$state/dl" && apt-get download "linux-image-$LAB_RELEASE" >&2) ||
		die "apt-get download linux-image-$LAB_RELEASE"
	dpkg -x "$state"/dl/linux-image-"$LAB_RELEASE"_*.deb "$kdir" || die "dpkg -x"
	rm -rf "$state/dl"
	touch "$kdir/.done"
fi
flock -u "$statelock"
vmlinuz=$kdir/boot/vmlinuz-$LAB_RELEASE
[[ -f $vmlinuz ]] || die "no vmlinuz in $kdir"

work=$(mktemp -d "${TMPDIR:-/tmp}/stapvm.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/lib/systemtap,dev,proc,sys,tmp,root,etc,certs,lib/modules}
cp "$busybox" "$root/bin/busybox"
cp "$staprun" "$root/usr/bin/staprun"
cp "$stapio" "$root/usr/lib/systemtap/stapio"
cp "$bin" "$root/usr/bin/stap-client"
# Every library staprun and stapio link, at the same paths.
read -r -a extra <<<"${VM_EXTRA:-}"
for f in "${extra[@]}"; do
	[[ -e $f ]] || die "VM_EXTRA: $f is missing"
	mkdir -p "$root$(dirname "$f")"
	cp -L "$f" "$root$f"
done
for f in "$staprun" "$stapio" "${extra[@]}"; do
	is_static "$f" || ldd "$f" | grep -o '/[^ ]*'
done | sort -u | while read -r lib; do
	mkdir -p "$root$(dirname "$lib")"
	cp -L "$lib" "$root$lib"
done
if [[ -n ${VM_HOME:-} ]]; then
	cp -a "$VM_HOME" "$root/stap-home"
fi
# The modules, uncompressed (the signature stays: it is on the .ko).
read -r -a modules <<<"e1000 ${VM_MODULES:-}"
for m in "${modules[@]}"; do
	ko=$(find "$kdir/lib/modules/$LAB_RELEASE" -name "$m.ko*" | head -n1)
	[[ -n $ko ]] || die "no $m module in $kdir"
	case $ko in
	*.xz) xz -dc "$ko" >"$root/lib/modules/$m.ko" ;;
	*.zst) zstd -dc "$ko" >"$root/lib/modules/$m.ko" ;;
	*) cp "$ko" "$root/lib/modules/$m.ko" ;;
	esac
done
cp "$LAB_CERTDIR"/* "$root/certs/"
cp "$guest" "$root/guest.sh"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\nstapusr:x:101:\nstapsys:x:102:\nstapdev:x:103:\n' >"$root/etc/group"
printf 'LAB_PORT=%s\n' "$LAB_PORT" >"$root/lab.env"
# The kernel opens /dev/console for /init before anything is mounted.
mknod -m 600 "$root/dev/console" c 5 1
cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# Terminals, as on any system: stap-client asks staprun -V through one.
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmpfs /tmp
# Kernel messages (module taint notes) would mix with the output.
echo 1 >/proc/sys/kernel/printk
for m in /lib/modules/*.ko; do insmod "$m"; done
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
# No wait for the link: e1000 reports it up about 2 s after this, and the
# guest script starts at once, as a user's command would on a fresh boot
# (issue 9). The link's state at that moment goes in the log.
. /lab.env
export LAB_PORT
echo "STAPVM-BOOTED uptime=$(cut -d' ' -f1 /proc/uptime) link=$(cat /sys/class/net/eth0/operstate 2>/dev/null || echo none)"
cd /root
sh /guest.sh
echo "STAPVM-EXIT rc=$?"
poweroff -f
EOF
chmod 0755 "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initrd.gz"

firmware=()
if [[ -n ${VM_SECUREBOOT:-} ]]; then
	code=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd
	key=/usr/share/ovmf/PkKek-1-snakeoil.key
	for f in "$code" "$key" "${key%.key}.pem" "$VM_SECUREBOOT"; do
		[[ -f $f ]] || die "$f is missing (ovmf; test/lab/install.sh installs it)"
	done
	command -v sbsign >/dev/null || die "sbsign is missing (sbsigntool; test/lab/install.sh installs it)"
	# The firmware verifies the kernel against its db, which holds the
	# snakeoil certificate: a second signature made with its key (whose
	# passphrase is "snakeoil") is added beside Debian's.
	openssl rsa -in "$key" -passin pass:snakeoil -out "$work/db.key" 2>/dev/null || die "decrypting $key"
	sbsign --key "$work/db.key" --cert "${key%.key}.pem" --output "$work/vmlinuz" "$vmlinuz" >&2 || die "sbsign $vmlinuz"
	vmlinuz=$work/vmlinuz
	firmware=(-machine q35,smm=on -global driver=cfi.pflash01,property=secure,value=on
		-drive "if=pflash,format=raw,unit=0,readonly=on,file=$code"
		-drive "if=pflash,format=raw,unit=1,file=$VM_SECUREBOOT")
fi

# Each boot's console goes to stdout; a guest that asked for another boot
# (STAPVM-REBOOT as its last marker) gets one.
deadline=$((SECONDS + ${VM_TIMEOUT:-300}))
for boot in 1 2 3; do
	say "booting $LAB_RELEASE under qemu (TCG) in netns $LAB_NETNS${VM_SECUREBOOT:+ with Secure Boot} (boot $boot)"
	((SECONDS < deadline)) || die "VM_TIMEOUT reached before boot $boot"
	started=$SECONDS
	ip netns exec "$LAB_NETNS" timeout --foreground -k 5 "$((deadline - SECONDS))" \
		qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m 1024 "${firmware[@]}" \
		-nographic -no-reboot -monitor none \
		-kernel "$vmlinuz" -initrd "$work/initrd.gz" \
		-append "console=ttyS0 quiet panic=-1" \
		-netdev user,id=n0 -device e1000,netdev=n0 </dev/null | tee "$work/console"
	echo "STAPVM-QEMU boot=$boot took=$((SECONDS - started))s"
	[[ $(grep -ao 'STAPVM-[A-Z]*' "$work/console" | tail -n1) == STAPVM-REBOOT ]] || break
done
