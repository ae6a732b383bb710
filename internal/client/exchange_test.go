// SPDX-License-Identifier: GPL-2.0-or-later

package client

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/internal/testkit"
)

// startBusyFake is a compile server whose only worker is busy: it takes
// the TCP connection at once but starts the TLS handshake only after busy,
// then answers after compile, sending the reply in two halves drip apart.
func startBusyFake(t *testing.T, reply []byte, busy, compile, drip time.Duration) *testkit.FakeServer {
	t.Helper()
	ended := testkit.Ended(t)
	return testkit.StartFake(t, testkit.Fake{Delay: busy, Handle: func(c net.Conn, _ []byte) {
		if !testkit.Pause(ended, compile) {
			return
		}
		half := len(reply) / 2
		c.Write(reply[:half])
		if testkit.Pause(ended, drip) {
			c.Write(reply[half:])
		}
	}})
}

// requestsTo counts the requests s received.
func requestsTo(s *testkit.FakeServer) int {
	n, _ := s.Got()
	return n
}

// A busy server is the last hope: it is waited for, and the terminal's
// progress line says what for, phase by phase.
func TestRunWaitsForBusyServer(t *testing.T) {
	s := startBusyFake(t, goodP4(t), 1500*time.Millisecond, 1200*time.Millisecond, 1200*time.Millisecond)
	term := &fakeTerminal{tty: true}
	res := runEnv(t, func(e *Env) { e.Stderr = term }, nil,
		"--server="+s.Addr, "--ssl="+s.CertDir, "-p4", "-e", "probe begin { exit() }")
	out := term.String()
	require.Equal(t, 0, res.code, out)
	assert.Equal(t, modName+".ko\n", res.stdout)
	assert.Contains(t, out, "stap-client: waiting for a free worker on "+s.Addr+" for 1s")
	assert.Contains(t, out, "stap-client: compiling on "+s.Addr+" for ")
	assert.Contains(t, out, "stap-client: receiving 0.0 MB from "+s.Addr+" for ")
	assert.Equal(t, 1, requestsTo(s))
}

// With a second, idle server in the list, the idle one answers first; -v
// names the busy one passed over and why, and the busy one never sees the
// request.
func TestRunRacesPastBusyServer(t *testing.T) {
	busy := startBusyFake(t, goodP4(t), time.Hour, 0, 0)
	idle := startFake(t, goodP4(t))
	ssl := t.TempDir()
	for _, d := range []string{busy.CertDir, idle.CertDir} {
		b, err := os.ReadFile(filepath.Join(d, "stap.cert"))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(ssl, filepath.Base(d)+".cert"), b, 0o644))
	}
	start := time.Now()
	res := runClient(t, "-v", "--server="+busy.Addr, "--server="+idle.Addr, "--ssl="+ssl, "-p4", "-e", "probe begin { exit() }")
	took := time.Since(start)
	require.Equal(t, 0, res.code, res.stderr)
	assert.Contains(t, res.stderr, "passed over: connected, but its handshake was still waiting (a busy server) when server")
	assert.Contains(t, res.stderr, "Passes: via server  host=unknown address=127.0.0.1 port="+portOf(t, idle.Addr))
	assert.Zero(t, requestsTo(busy))
	assert.Less(t, took, 3*time.Second, "the stagger, not a deadline, decides")
}

func portOf(t *testing.T, addr string) string {
	_, p, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	return p
}

// An interrupt in each phase ends the run at once with exit 1, says what it
// interrupted (never "Unable to connect"), and leaves no temp dir.
func TestRunInterruptedInEachPhase(t *testing.T) {
	tests := []struct {
		name                string
		busy, compile, drip time.Duration
		after               time.Duration
		want                string
	}{
		{"waiting for a worker", time.Hour, 0, 0, 300 * time.Millisecond, "waiting for a free worker on "},
		{"compiling", 0, time.Hour, 0, 300 * time.Millisecond, "compiling on "},
		{"receiving", 0, 0, time.Hour, 300 * time.Millisecond, "receiving 0.0 MB from "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startBusyFake(t, goodP4(t), tt.busy, tt.compile, tt.drip)
			sigs := make(chan os.Signal, 1)
			var signalled time.Time
			go func() {
				time.Sleep(tt.after)
				signalled = time.Now()
				sigs <- syscall.SIGINT
			}()
			res := runEnv(t, func(e *Env) { e.Signals = sigs }, nil,
				"--server="+s.Addr, "--ssl="+s.CertDir, "-p4", "-e", "probe begin { exit() }")
			ended := time.Now()
			assert.Equal(t, 1, res.code)
			assert.Equal(t, "stap-client: ERROR: interrupted while "+tt.want+s.Addr+"\n", res.stderr)
			assert.NotContains(t, res.stderr, "Unable to connect")
			assert.Less(t, ended.Sub(signalled), time.Second)
			assert.Empty(t, testkit.Entries(t, res.tmp), "nothing left in the temp dir's parent")
			assert.Empty(t, testkit.Entries(t, res.cwd))
		})
	}
}

// Interrupting a run whose only server cannot be reached yet (refused, being
// tried again) says so too.
func TestRunInterruptedConnecting(t *testing.T) {
	addr := testkit.ClosedPort(t)
	sigs := make(chan os.Signal, 1)
	time.AfterFunc(1500*time.Millisecond, func() { sigs <- syscall.SIGTERM })
	res := runEnv(t, func(e *Env) { e.Signals = sigs }, nil, "--server="+addr, "-p4", "-e", "probe begin { exit() }")
	assert.Equal(t, 1, res.code)
	assert.Equal(t, "stap-client: ERROR: interrupted while connecting to "+addr+"\n", res.stderr)
	assert.Empty(t, testkit.Entries(t, res.tmp))
}

// A refused server, alone, is tried as stap tries it (5 times, 1 s apart)
// before its failure is reported.
func TestRunRefusedIsTriedAgain(t *testing.T) {
	addr := testkit.ClosedPort(t)
	start := time.Now()
	res := runClient(t, "-vv", "--server="+addr, "-p4", "-e", "probe begin { exit() }")
	assert.Equal(t, 1, res.code)
	assert.GreaterOrEqual(t, time.Since(start), 4*time.Second)
	assert.Contains(t, res.stderr, "Unable to connect to a server.")
	assert.Contains(t, res.stderr, "connection refused; trying again in 1s")
}

// STAP_CLIENT_CONNECT_TIMEOUT bounds the wait for a server that never
// takes the connection; a value that is no duration is one line, exit 1.
func TestRunConnectTimeout(t *testing.T) {
	busy := startBusyFake(t, goodP4(t), time.Hour, 0, 0)
	args := []string{"--server=" + busy.Addr, "--ssl=" + busy.CertDir, "-p4", "-e", "probe begin { exit() }"}
	start := time.Now()
	res := runEnv(t, nil, map[string]string{ConnectTimeoutEnv: "300ms"}, args...)
	assert.Equal(t, 1, res.code)
	assert.Less(t, time.Since(start), 3*time.Second)
	assert.Contains(t, res.stderr, "Unable to connect to a server.")
	assert.Contains(t, res.stderr, "timed out: no trusted answer within 300ms")
	assert.Empty(t, testkit.Entries(t, res.tmp))

	res = runEnv(t, nil, map[string]string{ConnectTimeoutEnv: "soon"}, args...)
	assert.Equal(t, 1, res.code)
	assert.Equal(t, "stap-client: ERROR: STAP_CLIENT_CONNECT_TIMEOUT=\"soon\" is not a duration (e.g. 10m, 30s or 90)\n", res.stderr)
}

// An interrupt while discovery browses ends the run at once too.
func TestRunInterruptedDiscovering(t *testing.T) {
	sigs := make(chan os.Signal, 1)
	time.AfterFunc(300*time.Millisecond, func() { sigs <- syscall.SIGINT })
	start := time.Now()
	res := runEnv(t, func(e *Env) { e.Signals = sigs }, map[string]string{DiscoveryTimeoutEnv: "30s"}, "-p4", "-e", "probe begin { exit() }")
	assert.Equal(t, 1, res.code)
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Equal(t, "stap-client: ERROR: interrupted while looking for compile servers\n", res.stderr)
	assert.Empty(t, testkit.Entries(t, res.tmp))
}
