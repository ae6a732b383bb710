// SPDX-License-Identifier: GPL-2.0-or-later

package netlab

import (
	"bytes"
	"github.com/stap-client/stap-client/test/labenv"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestInterruptConnecting: SIGINT while the only server's SYNs vanish (a
// blackholed address, which the client waits for as its last hope) ends
// the run within a second, saying what it interrupted.
func TestInterruptConnecting(t *testing.T) {
	dead := get(t, "NET_DEAD_ADDR") + ":" + get(t, "NET_PORT")
	tmp := t.TempDir()
	cmd := exec.Command("ip", "netns", "exec", get(t, "NET_CLIENT_NS"), "env", "-i",
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME="+get(t, "NET_CLIENT_HOME"), "LANG=C.UTF-8", "TMPDIR="+tmp,
		lab.Bin, "--server="+dead, "-r", get(t, "NET_RELEASE"), "-p2", "-e", labenv.Hello)
	cmd.Dir = t.TempDir()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	// Past the old 2 s connect deadline: the client is still waiting.
	time.Sleep(2500 * time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	sent := time.Now()
	err := cmd.Wait()
	took := time.Since(sent)
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, stderr.String())
	assert.Equal(t, 1, ee.ExitCode())
	assert.Less(t, took, time.Second)
	assert.Equal(t, "stap-client: ERROR: interrupted while connecting to "+dead+"\n", stderr.String())
	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, left)
}
