// SPDX-License-Identifier: GPL-2.0-or-later

// Package vm proves pass 5 in a real kernel: stap-client runs in a Debian
// kernel under qemu (vm.sh), compiles on the lab's real compile server and
// loads the module with the real staprun.
package vm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/internal/testkit"
	"github.com/stap-client/stap-client/test/labenv"
)

// guestScript runs each case between markers; vm.sh's /init runs it.
const guestScript = `srv=--server=10.0.2.2:$LAB_PORT
echo "STAPVM-BEGIN hello"
echo "link at start: $(cat /sys/class/net/eth0/operstate)"
stap-client $srv --ssl=/certs -e 'probe begin { printf("Hello World!\n"); exit() }'
echo "STAPVM-END hello rc=$?"

echo "STAPVM-BEGIN hello-cached"
# The same run with the network down: the result cache answers it.
ip link set eth0 down
stap-client $srv --ssl=/certs -e 'probe begin { printf("Hello World!\n"); exit() }'
rc=$?
ip link set eth0 up
ip route add default via 10.0.2.2 2>/dev/null
echo "STAPVM-END hello-cached rc=$rc"

echo "STAPVM-BEGIN boom"
stap-client $srv --ssl=/certs -e 'probe begin { error("boom") }'
echo "STAPVM-END boom rc=$?"

echo "STAPVM-BEGIN cmd-output"
stap-client $srv --ssl=/certs -o out.txt -c 'echo from-c' -e 'probe begin { printf("begin\n") } probe end { printf("end\n") }'
rc=$?
echo "out.txt: $(tr '\n' ' ' <out.txt)"
echo "STAPVM-END cmd-output rc=$rc"

echo "STAPVM-BEGIN sigint"
stap-client $srv --ssl=/certs -e 'probe timer.s(1) { printf("tick\n") }' >/tmp/out 2>&1 &
pid=$!
i=0
while ! grep -q tick /tmp/out && [ $i -lt 1200 ]; do sleep 0.25; i=$((i + 1)); done
kill -INT $pid
wait $pid
rc=$?
cat /tmp/out
echo "stap modules loaded: $(grep -c '^stap_' /proc/modules)"
echo "temp dirs left: $(ls -d /tmp/stap* 2>/dev/null | wc -l)"
echo "STAPVM-END sigint rc=$rc"
`

func TestPass5InRealKernel(t *testing.T) {
	console := labenv.VMRun(t, guestScript)
	require.Contains(t, console, "STAPVM-EXIT rc=0", "the guest script did not finish:\n%s", console)
	sec := labenv.Sections(console)

	// The first case starts the moment eth0 is configured, before e1000
	// has a link (no wait for it anywhere): the client must get through,
	// as the real stap does, by trying again.
	t.Run("hello world", func(t *testing.T) {
		s := sec["hello"]
		assert.Contains(t, s.Lines(), "link at start: down", "the client started before the link was up (else this case proves nothing)")
		assert.Equal(t, "0", s.RC, s.Text)
		assert.Contains(t, s.Lines(), "Hello World!")
	})
	t.Run("the same run again: the cached module, no server", func(t *testing.T) {
		s := sec["hello-cached"]
		assert.Equal(t, "0", s.RC, s.Text)
		assert.Contains(t, s.Lines(), "Hello World!")
		// The first run's terminal progress line and link note describe
		// that run only.
		progress := regexp.MustCompile(`stap-client: (connecting to|waiting for a free worker on|compiling on|receiving [0-9.]+ MB from) \S+ for [0-9]+s *`)
		first := strings.TrimPrefix(sec["hello"].Text, "link at start: down\n")
		assert.Equal(t, progress.ReplaceAllString(first, ""), s.Text, "the output of the run that filled the cache")
	})
	t.Run("run-time error", func(t *testing.T) {
		s := sec["boom"]
		assert.Equal(t, "1", s.RC, s.Text)
		assert.Contains(t, s.Text, "ERROR: boom")
		assert.Contains(t, s.Lines(), "WARNING: /usr/bin/staprun exited with status: 1")
		assert.Contains(t, s.Lines(), "Pass 5: run failed.  [man error::pass5]")
	})
	t.Run("-c runs the command, -o writes in the cwd", func(t *testing.T) {
		s := sec["cmd-output"]
		assert.Equal(t, "0", s.RC, s.Text)
		assert.Contains(t, s.Lines(), "from-c")
		// The file is in the cwd with the module's output. Whether the end
		// probe's line made it depends on staprun's own relay under TCG (seen
		// missing once in a dozen runs), not on stap-client, which waits for
		// staprun to exit.
		assert.Contains(t, s.Text, "out.txt: begin ")
	})
	t.Run("SIGINT unloads and succeeds", func(t *testing.T) {
		s := sec["sigint"]
		assert.Equal(t, "0", s.RC, s.Text)
		assert.Contains(t, s.Lines(), "tick")
		assert.Contains(t, s.Lines(), "stap modules loaded: 0", "the module is unloaded")
		assert.Contains(t, s.Lines(), "temp dirs left: 0", "the private temp dir is removed")
		assert.NotContains(t, s.Text, "Pass 5: run failed")
	})
}

func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	vars, err := labenv.Read(path)
	require.NoError(t, err)
	return vars
}

// The generation mismatch (systemtap 5.0 changed the module/staprun
// transport) in a real kernel: the guest boots the trixie chroot's kernel,
// for which the lab's systemtap 5.1 server (test/lab/up5.sh) builds, and
// runs Debian 12's staprun 4.8. The real stap 4.8 gets a 5.x module and
// fails in pass 5; stap-client stops before pass 5 with one line, and with
// -p4 still saves the module.
const generationGuest = `srv=10.0.2.2:$LAB_PORT
hello='probe begin { printf("Hello World!\n"); exit() }'
echo "STAPVM-BEGIN client"
stap-client --server=$srv --ssl=/certs -e "$hello"
echo "STAPVM-END client rc=$?"
echo "STAPVM-BEGIN client-p4"
stap-client --server=$srv --ssl=/certs -p4 -e "$hello"
rc=$?
ls *.ko
echo "STAPVM-END client-p4 rc=$rc"
echo "STAPVM-BEGIN stap"
HOME=/stap-home stap --use-server=$srv -e "$hello"
echo "STAPVM-END stap rc=$?"
echo "stap modules loaded: $(grep -c '^stap_' /proc/modules)"
`

func TestGenerationMismatchInRealKernel(t *testing.T) {
	lab5 := labenv.Need(t, "LAB5_ENV", "the generation-mismatch VM case", "starts the systemtap 5.x servers (test/lab/up5.sh)")
	root, rel := lab5["LAB5_TRIXIE_ROOT"], lab5["LAB5_TRIXIE_RELEASE"]
	require.NotEmpty(t, root, "lab5.env has no trixie (5.1) server")
	state := filepath.Join(lab5["LAB5_STATEDIR"], "vm")

	// vm.sh keeps the guest kernel in STATEDIR/kernel-REL; the chroot has
	// that kernel installed, so it is put there instead of downloaded.
	kdir := filepath.Join(state, "kernel-"+rel)
	if _, err := os.Stat(filepath.Join(kdir, ".done")); err != nil {
		require.NoError(t, os.MkdirAll(filepath.Join(kdir, "boot"), 0o755))
		e1000 := filepath.Join("lib/modules", rel, "kernel/drivers/net/ethernet/intel/e1000")
		require.NoError(t, os.MkdirAll(filepath.Join(kdir, e1000), 0o755))
		for _, f := range []string{filepath.Join("boot", "vmlinuz-"+rel), filepath.Join(e1000, "e1000.ko.xz")} {
			out, err := exec.Command("cp", filepath.Join(root, f), filepath.Join(kdir, f)).CombinedOutput()
			require.NoError(t, err, "%s", out)
		}
		require.NoError(t, os.WriteFile(filepath.Join(kdir, ".done"), nil, 0o644))
	}

	// The real stap's trust: a database that trusts the 5.1 server.
	home := t.TempDir()
	bin := testkit.ClientBinary(t) // static: the guest has no libc for it
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", lab5["LAB5_NETNS"], "env", "-i", "HOME="+home, bin,
		"--server="+lab5["LAB5_ADDR"]+":"+lab5["LAB5_TRIXIE_PORT"], "--trust-servers=ssl,no-prompt").CombinedOutput()
	require.NoError(t, err, "%s", out)

	// The VM's lab: the 5.x namespace, the 5.1 server, the chroot's kernel.
	env := filepath.Join(t.TempDir(), "vm5.env")
	require.NoError(t, os.WriteFile(env, []byte(fmt.Sprintf("LAB_NETNS=%s\nLAB_RELEASE=%s\nLAB_PORT=%s\nLAB_CERTDIR=%s\nLAB_STATEDIR=%s\n",
		lab5["LAB5_NETNS"], rel, lab5["LAB5_TRIXIE_PORT"], lab5["LAB5_TRIXIE_CERTDIR"], lab5["LAB5_STATEDIR"])), 0o644))
	t.Setenv("LAB_ENV", env)
	t.Setenv("VM_STATE", state)
	t.Setenv("STAP_CLIENT_BIN", bin)
	console := labenv.VMRun(t, generationGuest, "VM_EXTRA="+strings.Join(labenv.StapFiles, " "), "VM_HOME="+home)
	require.Contains(t, console, "STAPVM-EXIT rc=0", "the guest script did not finish:\n%s", console)
	sec := labenv.Sections(console)

	c := sec["client"]
	assert.Equal(t, "1", c.RC, c.Text)
	// Contains on the text: a terminal progress line may share its line.
	assert.Contains(t, c.Text, "stap-client: ERROR: the module was built by a systemtap 5.1 server, which the local staprun 4.8 cannot run (systemtap 5.0 changed the module/staprun transport); use a compile server of systemtap older than 5.0, or a local systemtap-runtime 5.0 or later (-p4 keeps the module)")
	assert.NotContains(t, c.Text, "Pass 5", "stopped before pass 5")

	p4 := sec["client-p4"]
	assert.Equal(t, "0", p4.RC, p4.Text)
	assert.Regexp(t, `(?m)^stap_[0-9a-f]+_[0-9]+\.ko$`, p4.Text, "the module is saved")

	// The real stap 4.8 has no such check: pass 5 fails in staprun. Its
	// text is recorded in the test log for the issue.
	s := sec["stap"]
	assert.Equal(t, "1", s.RC, s.Text)
	assert.Contains(t, s.Text, "Pass 5: run failed.  [man error::pass5]")
	t.Logf("the real stap 4.8 with a 5.1 server's module:\n%s", s.Text)
}
