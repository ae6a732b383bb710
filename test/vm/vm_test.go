// SPDX-License-Identifier: GPL-2.0-or-later

// Package vm proves pass 5 in a real kernel: stap-client runs in a Debian
// kernel under qemu (vm.sh), compiles on the lab's real compile server and
// loads the module with the real staprun.
package vm

import (
	"regexp"
	"strings"
	"testing"

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
