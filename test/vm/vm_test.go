// SPDX-License-Identifier: GPL-2.0-or-later

// Package vm proves pass 5 in a real kernel: stap-client runs in a Debian
// kernel under qemu (vm.sh), compiles on the lab's real compile server and
// loads the module with the real staprun.
package vm

import (
	"bufio"
	"bytes"
	"context"
	"github.com/stap-client/stap-client/internal/testkit"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/test/labenv"
)

// guestScript runs each case between markers; vm.sh's /init runs it.
const guestScript = `srv=--server=10.0.2.2:$LAB_PORT
echo "STAPVM-BEGIN hello"
echo "link at start: $(cat /sys/class/net/eth0/operstate)"
stap-client $srv --ssl=/certs -e 'probe begin { printf("Hello World!\n"); exit() }'
echo "STAPVM-END hello rc=$?"

echo "STAPVM-BEGIN hello-cached"
stap-client --server=10.0.2.2:1 --ssl=/certs -e 'probe begin { printf("Hello World!\n"); exit() }'
echo "STAPVM-END hello-cached rc=$?"

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

// vmRun boots the VM (vm.sh) with a guest script and returns the console
// without carriage returns and colours.
func vmRun(t *testing.T, guestScript string, env ...string) string {
	t.Helper()
	vars := labenv.Need(t, "LAB_ENV", "the real-kernel (qemu) tier", "starts the real compile server (test/lab/up.sh)")
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
	cmd := exec.CommandContext(ctx, "bash", "vm.sh", labEnv, state, bin, guest)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	elapsed := time.Since(start)
	// The guest console is a terminal, so staprun colours its messages.
	console := regexp.MustCompile("\x1b\\[[0-9;]*[mK]").ReplaceAllString(strings.ReplaceAll(out.String(), "\r", ""), "")
	require.NoError(t, err, "vm.sh: %s\nconsole:\n%s", errOut.String(), console)
	t.Logf("whole VM run: %s", elapsed.Round(time.Millisecond))
	if m := regexp.MustCompile(`STAPVM-BOOTED uptime=(\S+) link=(\S+)`).FindStringSubmatch(console); m != nil {
		t.Logf("guest script started at %s s of guest uptime, link %s", m[1], m[2])
	}
	return console
}

func TestPass5InRealKernel(t *testing.T) {
	console := vmRun(t, guestScript)
	require.Contains(t, console, "STAPVM-EXIT rc=0", "the guest script did not finish:\n%s", console)
	sec := sections(console)

	// The first case starts the moment eth0 is configured, before e1000
	// has a link (no wait for it anywhere): the client must get through,
	// as the real stap does, by trying again.
	t.Run("hello world", func(t *testing.T) {
		s := sec["hello"]
		assert.Contains(t, s.lines(), "link at start: down", "the client started before the link was up (else this case proves nothing)")
		assert.Equal(t, "0", s.rc, s.text)
		assert.Contains(t, s.lines(), "Hello World!")
	})
	t.Run("the same run again: the cached module, no server", func(t *testing.T) {
		s := sec["hello-cached"]
		assert.Equal(t, "0", s.rc, s.text)
		assert.Contains(t, s.lines(), "Hello World!")
		// The first run's terminal progress line and link note describe
		// that run only.
		progress := regexp.MustCompile(`stap-client: (connecting to|waiting for a free worker on|compiling on|receiving [0-9.]+ MB from) \S+ for [0-9]+s *`)
		first := strings.TrimPrefix(sec["hello"].text, "link at start: down\n")
		assert.Equal(t, progress.ReplaceAllString(first, ""), s.text, "the output of the run that filled the cache")
	})
	t.Run("run-time error", func(t *testing.T) {
		s := sec["boom"]
		assert.Equal(t, "1", s.rc, s.text)
		assert.Contains(t, s.text, "ERROR: boom")
		assert.Contains(t, s.lines(), "WARNING: /usr/bin/staprun exited with status: 1")
		assert.Contains(t, s.lines(), "Pass 5: run failed.  [man error::pass5]")
	})
	t.Run("-c runs the command, -o writes in the cwd", func(t *testing.T) {
		s := sec["cmd-output"]
		assert.Equal(t, "0", s.rc, s.text)
		assert.Contains(t, s.lines(), "from-c")
		// The file is in the cwd with the module's output. Whether the end
		// probe's line made it depends on staprun's own relay under TCG (seen
		// missing once in a dozen runs), not on stap-client, which waits for
		// staprun to exit.
		assert.Contains(t, s.text, "out.txt: begin ")
	})
	t.Run("SIGINT unloads and succeeds", func(t *testing.T) {
		s := sec["sigint"]
		assert.Equal(t, "0", s.rc, s.text)
		assert.Contains(t, s.lines(), "tick")
		assert.Contains(t, s.lines(), "stap modules loaded: 0", "the module is unloaded")
		assert.Contains(t, s.lines(), "temp dirs left: 0", "the private temp dir is removed")
		assert.NotContains(t, s.text, "Pass 5: run failed")
	})
}

type section struct {
	text, rc string
}

func (s section) lines() []string { return strings.Split(s.text, "\n") }

// sections splits the console at the guest script's markers.
func sections(console string) map[string]section {
	out := map[string]section{}
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
			out[name] = section{text: strings.Join(text, "\n"), rc: m[2]}
			name = ""
			continue
		}
		if name != "" {
			text = append(text, l)
		}
	}
	return out
}

func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	vars, err := labenv.Read(path)
	require.NoError(t, err)
	return vars
}
