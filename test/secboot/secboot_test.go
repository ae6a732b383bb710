// SPDX-License-Identifier: GPL-2.0-or-later

// Package secboot is Secure Boot end to end: a Debian kernel booted by
// Debian's Secure Boot firmware (ovmf) under qemu, locked down at
// integrity, loads a module that the lab's real compile server signed with
// its machine owner key, enrolled in the firmware's MokListRT; the module
// without a signature is refused by the kernel. test/vm/vm.sh boots it.
package secboot

import (
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/test/labenv"
)

// guestScript runs on both boots. The first, with nothing enrolled, runs
// the no-MOK-in-common case and then enrols the key the server sent as
// shim would after `mokutil --import` and the MOK manager: MokListRT (an
// EFI_SIGNATURE_LIST of the certificate, owner shim's GUID) and
// MokListTrustedRT=1, which lets the kernel put the key in its .machine
// keyring; it asks for another boot. The second runs the cases that need
// the key. Each case's stdout and stderr go to files (no terminal: no
// progress line, no colours) and are printed in sections of their own.
const guestScript = `hello='probe begin { printf("Hello World!\n"); exit() }'
srv=10.0.2.2:$LAB_PORT
efi=/sys/firmware/efi/efivars
guid=605dab50-e046-4300-abb6-3dd810dd8b23
mount -t efivarfs efivarfs $efi
mount -t securityfs securityfs /sys/kernel/security
up() { cut -d' ' -f1 /proc/uptime; }
# run NAME DIR COMMAND...: the case's status and time, then its output.
run() {
	name=$1 dir=$2
	shift 2
	mkdir -p $dir && cd $dir
	t0=$(up)
	"$@" >/tmp/out 2>/tmp/err
	rc=$?
	echo "STAPVM-BEGIN $name"
	echo "took: $(awk -v t0=$t0 '{ printf "%.1f", $1 - t0 }' /proc/uptime) s"
	echo "files: $(ls | tr '\n' ' ')"
	echo "STAPVM-END $name rc=$rc"
	echo "STAPVM-BEGIN $name-stdout"
	cat /tmp/out
	echo "STAPVM-END $name-stdout rc=0"
	echo "STAPVM-BEGIN $name-stderr"
	cat /tmp/err
	echo "STAPVM-END $name-stderr rc=0"
	cd /root
}
# The real stap, bounded: it is killed after 20 s, and where it waited is
# shown (its kernel stack and open files).
stap48() {
	(sleep 18; for p in $(pidof stap); do echo "stap $p: $(cat /proc/$p/wchan)"; cat /proc/$p/stack; ls -l /proc/$p/fd; done) >/tmp/where 2>&1 &
	w=$!
	timeout -s KILL 20 env HOME=/stap-home "$@" stap --use-server=$srv -e "$hello"
	rc=$?
	kill $w 2>/dev/null
	[ $rc = 137 ] && cat /tmp/where >&2
	return $rc
}
le32() {
	printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)))"
}
if [ -e $efi/MokListRT-$guid ]; then boot=enrolled; else boot=first; fi
echo "STAPVM-BEGIN facts-$boot"
echo "SecureBoot: $(od -An -tu1 $efi/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c | awk '{ print $5 }')"
echo "lockdown: $(cat /sys/kernel/security/lockdown)"
echo "sig_enforce: $(cat /sys/module/module/parameters/sig_enforce)"
dmesg | grep -iE 'secure ?boot|MokList|X\.509|lockdown|machine' | sed 's/^\[[^]]*\] //'
echo "keys:"
grep -E 'asymmetric|keyring +\.' /proc/keys
m=$(awk '$9 == ".machine:" { print $1 }' /proc/keys)
[ -n "$m" ] && keyctl list 0x$m
echo "STAPVM-END facts-$boot rc=0"

if [ $boot = first ]; then
	run nomok-client /root/c stap-client --server=$srv --ssl=/certs -e "$hello"
	echo "STAPVM-BEGIN mokutil"
	mokutil --list-enrolled 2>&1
	echo "STAPVM-END mokutil rc=$?"
	run nomok-stap /root/s stap48
	echo "STAPVM-BEGIN enrol"
	key=/root/c/signing_key.x509
	echo "key: $(base64 $key | tr -d '\n')"
	echo "same key from stap: $(cmp -s $key /root/s/signing_key.x509 && echo yes || echo no)"
	n=$(wc -c <$key)
	{
		printf '\007\000\000\000'
		printf '\241\131\300\245\344\224\247\112\207\265\253\025\134\053\360\162'
		le32 $((28 + 16 + n)); le32 0; le32 $((16 + n))
		printf '\120\253\135\140\106\340\000\103\253\266\075\330\020\335\213\043'
		cat $key
	} >/tmp/moklist
	# efivarfs takes a variable in one write.
	dd if=/tmp/moklist of=$efi/MokListRT-$guid bs=65536 2>/dev/null &&
		printf '\007\000\000\000\001' >/tmp/trusted &&
		dd if=/tmp/trusted of=$efi/MokListTrustedRT-$guid bs=64 2>/dev/null
	rc=$?
	ls $efi | grep Mok
	echo "STAPVM-END enrol rc=$rc"
	echo STAPVM-REBOOT
	umount $efi
	sync
	reboot -f
	sleep 60
fi

run hello-client /root/c stap-client --server=$srv --ssl=/certs -k -e "$hello"
echo "STAPVM-BEGIN signer"
ko=$(find /tmp/stap* -name '*.ko' | head -n1)
echo "module: $ko"
echo "signer: $(/usr/sbin/modinfo -F signer $ko)"
echo "sig_key: $(/usr/sbin/modinfo -F sig_key $ko)"
echo "sig_hashalgo: $(/usr/sbin/modinfo -F sig_hashalgo $ko)"
echo "STAPVM-END signer rc=0"
rm -rf /tmp/stap*
run hello-stap /root/s stap48
run nosign-client /root/c env SYSTEMTAP_NOSIGN=1 stap-client --server=$srv --ssl=/certs -e "$hello"
run nosign-stap /root/s stap48 SYSTEMTAP_NOSIGN=1
echo "STAPVM-BEGIN dmesg"
dmesg | grep -iE 'module|stap' | sed 's/^\[[^]]*\] //' | tail -n 20
echo "STAPVM-END dmesg rc=0"
`

// guestModules are the kernel's modules the guest loads at boot: efivarfs
// for the firmware's variables, and sha512_generic, the hash of the
// server's module signatures (the kernel would load it on demand, but the
// guest has no module tree; without it the kernel rejects the module as
// "unsupported crypto").
var guestModules = []string{"efivarfs", "sha512_generic"}

// guestFiles are the host's tools the guest needs besides stap-client and
// staprun (vm.sh copies them with their libraries): kmod's modinfo,
// keyutils' keyctl, and the real stap with mokutil, which it runs.
var guestFiles = []string{"/usr/sbin/modinfo", "/usr/bin/keyctl", "/usr/bin/mokutil"}

func TestSecureBoot(t *testing.T) {
	// A fresh variable store: nothing enrolled yet.
	vars := filepath.Join(t.TempDir(), "OVMF_VARS_4M.snakeoil.fd")
	copyFile(t, "/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd", vars)
	home := ""
	if p := os.Getenv("LAB_ENV"); p != "" {
		v, err := labenv.Read(p)
		require.NoError(t, err)
		home = v["LAB_STAP_HOME"]
	}
	console := labenv.VMRun(t, guestScript,
		"VM_SECUREBOOT="+vars, "VM_MODULES="+strings.Join(guestModules, " "),
		"VM_EXTRA="+strings.Join(append(guestFiles, labenv.StapFiles...), " "), "VM_HOME="+home)
	sec := labenv.Sections(console)
	for _, boot := range []string{"first", "enrolled"} {
		t.Logf("what the guest reported on its %s boot:\n%s", boot, sec["facts-"+boot].Text)
	}
	// out is a case's status, stdout and stderr.
	out := func(name string) (rc, stdout, stderr string) {
		return sec[name].RC, sec[name+"-stdout"].Text, sec[name+"-stderr"].Text
	}
	logCase := func(name string) {
		rc, stdout, stderr := out(name)
		t.Logf("%s: exit %s, %s\nstdout:\n%s\nstderr:\n%s", name, rc, sec[name].Lines()[0], stdout, stderr)
	}

	t.Run("Secure Boot on, locked down at integrity", func(t *testing.T) {
		for _, boot := range []string{"first", "enrolled"} {
			f := sec["facts-"+boot]
			assert.Contains(t, f.Lines(), "SecureBoot: 1", boot)
			assert.Contains(t, f.Lines(), "lockdown: none [integrity] confidentiality", boot)
			assert.Contains(t, f.Text, "secureboot: Secure boot enabled", boot)
		}
	})

	var key *x509.Certificate
	t.Run("no MOK in common: the server's key is saved, the enrolment hint printed", func(t *testing.T) {
		logCase("nomok-client")
		logCase("nomok-stap")
		rc, stdout, stderr := out("nomok-client")
		assert.Equal(t, "1", rc)
		assert.Empty(t, stdout)
		assert.Contains(t, sec["nomok-client"].Lines(), "files: signing_key.x509 ")
		assert.Contains(t, stderr, "Server: The server has no machine owner key (MOK) in common with this\nsystem.")
		assert.Contains(t, stderr, "\t# sudo mokutil --import signing_key.x509\n")
		assert.Regexp(t, `(?m)^stap-client: ERROR: .*no MOK in common.*'sudo mokutil --import signing_key.x509', reboot.*\z`, stderr)
		m := regexp.MustCompile(`(?m)^key: (\S+)$`).FindStringSubmatch(sec["enrol"].Text)
		require.NotNil(t, m, sec["enrol"].Text)
		der, err := base64.StdEncoding.DecodeString(m[1])
		require.NoError(t, err)
		key, err = x509.ParseCertificate(der)
		require.NoError(t, err)
		assert.Contains(t, key.Subject.String(), "Systemtap module signing key")
		t.Logf("the server's MOK: %s, serial %X, SHA-1 %x", key.Subject, key.SerialNumber, sha1.Sum(der))

		// The real stap: the same answer and the same key. Seen here:
		// stap 4.8 runs mokutil, which finds no MokListRT, and then spins
		// in user space until the guest kills it (exit 137); that is
		// recorded, not compared.
		t.Logf("mokutil --list-enrolled in the guest (exit %s): %q", sec["mokutil"].RC, sec["mokutil"].Text)
		src, sout, serr := out("nomok-stap")
		if src == "137" {
			t.Logf("the real stap 4.8 did not finish within 20 s after mokutil (no MokListRT); nothing to compare:\n%s", serr)
			return
		}
		assert.Equal(t, src, rc, "exit status")
		assert.Equal(t, sout, stdout)
		assert.Equal(t, labenv.Normalize(serr), ourLines.ReplaceAllString(stderr, ""), "stderr, but for our line")
		assert.Equal(t, sec["nomok-stap"].Lines()[1], sec["nomok-client"].Lines()[1], "files left")
		assert.Contains(t, sec["enrol"].Lines(), "same key from stap: yes")
	})
	require.NotNil(t, key, "no key from the server: the other cases need it")

	t.Run("the key enrolled: the kernel trusts it for modules (.machine)", func(t *testing.T) {
		assert.Equal(t, "0", sec["enrol"].RC, sec["enrol"].Text)
		f := sec["facts-enrolled"].Text
		assert.Contains(t, f, "integrity: Loading X.509 certificate: UEFI:MokListRT")
		assert.Contains(t, f, "integrity: Loaded X.509 cert 'Systemtap module signing key: ")
		assert.Regexp(t, `(?m)keyring +\.machine: 1$`, f)
	})

	t.Run("Hello World from a module signed with the enrolled MOK", func(t *testing.T) {
		logCase("hello-client")
		logCase("hello-stap")
		t.Logf("the module:\n%s", sec["signer"].Text)
		rc, stdout, stderr := out("hello-client")
		assert.Equal(t, "0", rc, stderr)
		assert.Equal(t, "Hello World!", stdout)
		s := sec["signer"].Lines()
		assert.Contains(t, s, "signer: Systemtap module signing key")
		var serial []string
		for _, b := range key.SerialNumber.Bytes() {
			serial = append(serial, fmt.Sprintf("%02X", b))
		}
		assert.Contains(t, s, "sig_key: "+strings.Join(serial, ":"), "signed with the enrolled key")
		// The real stap, with mokutil, does the same.
		srcode, sout, serr := out("hello-stap")
		assert.Equal(t, rc, srcode, serr)
		assert.Equal(t, stdout, sout)
	})

	t.Run("SYSTEMTAP_NOSIGN: the kernel refuses the module, and says so", func(t *testing.T) {
		logCase("nosign-client")
		logCase("nosign-stap")
		t.Logf("the guest's kernel log:\n%s", sec["dmesg"].Text)
		rc, stdout, stderr := out("nosign-client")
		assert.Equal(t, "1", rc)
		assert.Empty(t, stdout)
		assert.Contains(t, stderr, "Key was rejected by service")
		assert.Contains(t, stderr, "Pass 5: run failed.  [man error::pass5]")
		assert.Contains(t, sec["dmesg"].Text, "Loading of unsigned module is rejected")
		srcode, sout, serr := out("nosign-stap")
		assert.Equal(t, srcode, rc)
		assert.Equal(t, sout, stdout)
		assert.Equal(t, pass5Lines(serr), pass5Lines(stderr), "staprun's and pass 5's lines")
	})
}

// ourLines are stap-client's own lines, which stap does not print.
var ourLines = regexp.MustCompile(`(?m)^stap-client: .*\n`)

// pass5Lines are what staprun and pass 5 print, the module's temp path
// put aside.
func pass5Lines(stderr string) []string {
	var out []string
	for _, l := range strings.Split(labenv.Normalize(stderr), "\n") {
		if strings.HasPrefix(l, "ERROR:") || strings.HasPrefix(l, "WARNING: /usr/bin/staprun") || strings.HasPrefix(l, "Pass 5") {
			out = append(out, regexp.MustCompile(`stap_[0-9a-f]+_[0-9]+`).ReplaceAllString(l, "stap_HASH_N"))
		}
	}
	return out
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	require.NoError(t, err, "ovmf's Secure Boot variables (test/lab/install.sh installs ovmf)")
	defer in.Close()
	out, err := os.Create(dst)
	require.NoError(t, err)
	_, err = io.Copy(out, in)
	require.NoError(t, err)
	require.NoError(t, out.Close())
}
