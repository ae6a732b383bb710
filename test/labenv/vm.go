// SPDX-License-Identifier: GPL-2.0-or-later

package labenv

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/internal/testkit"
)

// StapFiles are what the real stap needs in a VM guest besides the
// libraries ldd lists: zip and unzip for the request and response, and
// the NSS modules that libnss3 loads at run time.
var StapFiles = []string{
	"/usr/bin/stap", "/usr/bin/zip", "/usr/bin/unzip",
	"/lib/x86_64-linux-gnu/libsoftokn3.so", "/lib/x86_64-linux-gnu/libfreeblpriv3.so",
	"/lib/x86_64-linux-gnu/libfreebl3.so", "/lib/x86_64-linux-gnu/libnssdbm3.so",
}

// vmScript is test/vm/vm.sh, found from this file.
func vmScript(t *testing.T) string {
	t.Helper()
	_, self, _, ok := runtime.Caller(0)
	require.True(t, ok, "cannot tell where labenv is")
	return filepath.Join(filepath.Dir(self), "..", "vm", "vm.sh")
}

// VMRun boots a Debian kernel under qemu (test/vm/vm.sh, whose variables
// env may set) with a guest script and returns the console without
// carriage returns and colours. $VM_STATE, else the lab's STATEDIR/vm,
// keeps the kernel package.
func VMRun(t *testing.T, guestScript string, env ...string) string {
	t.Helper()
	vars := Need(t, "LAB_ENV", "the real-kernel (qemu) tier", "starts the real compile server (test/lab/up.sh)")
	labEnv := os.Getenv("LAB_ENV")
	state := os.Getenv("VM_STATE")
	if state == "" {
		state = filepath.Join(vars["LAB_STATEDIR"], "vm")
	}
	bin := testkit.ClientBinary(t) // static: the guest has no libc for it
	guest := filepath.Join(t.TempDir(), "guest.sh")
	require.NoError(t, os.WriteFile(guest, []byte(guestScript), 0o644))

	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, "bash", vmScript(t), labEnv, state, bin, guest)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	elapsed := time.Since(start)
	// The guest console is a terminal, so staprun colours its messages.
	console := regexp.MustCompile("\x1b\\[[0-9;]*[mK]").ReplaceAllString(strings.ReplaceAll(out.String(), "\r", ""), "")
	require.NoError(t, err, "vm.sh: %s\nconsole:\n%s", errOut.String(), console)
	t.Logf("whole VM run: %s", elapsed.Round(time.Millisecond))
	for _, m := range regexp.MustCompile(`STAPVM-QEMU boot=(\d+) took=(\S+)`).FindAllStringSubmatch(console, -1) {
		t.Logf("boot %s: qemu ran %s", m[1], m[2])
	}
	for _, m := range regexp.MustCompile(`STAPVM-BOOTED uptime=(\S+) link=(\S+)`).FindAllStringSubmatch(console, -1) {
		t.Logf("guest script started at %s s of guest uptime, link %s", m[1], m[2])
	}
	return console
}

// Section is what a guest script printed between its markers
// "STAPVM-BEGIN NAME" and "STAPVM-END NAME rc=N".
type Section struct {
	Text, RC string
}

// Lines is the section's text, line by line.
func (s Section) Lines() []string { return strings.Split(s.Text, "\n") }

// Sections splits the console at the guest script's markers.
func Sections(console string) map[string]Section {
	out := map[string]Section{}
	begin := regexp.MustCompile(`^STAPVM-BEGIN (\S+)$`)
	end := regexp.MustCompile(`^STAPVM-END (\S+) rc=(\d+)$`)
	var name string
	var text []string
	sc := bufio.NewScanner(strings.NewReader(console))
	for sc.Scan() {
		l := sc.Text()
		if m := begin.FindStringSubmatch(l); m != nil {
			name, text = m[1], nil
			continue
		}
		if m := end.FindStringSubmatch(l); m != nil && m[1] == name {
			out[name] = Section{Text: strings.Join(text, "\n"), RC: m[2]}
			name = ""
			continue
		}
		if name != "" {
			text = append(text, l)
		}
	}
	return out
}
