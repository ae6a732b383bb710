// SPDX-License-Identifier: GPL-2.0-or-later

package vm

import (
	"context"
	"fmt"
	"github.com/stap-client/stap-client/internal/testkit"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/test/labenv"
)

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
