// SPDX-License-Identifier: GPL-2.0-or-later

package client

import (
	"bytes"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/internal/discovery"
)

// fakeTerminal is a stderr that says it is a terminal and records what is
// written to it, from any goroutine.
type fakeTerminal struct {
	mu  sync.Mutex
	buf bytes.Buffer
	tty bool
}

func (f *fakeTerminal) Write(b []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buf.Write(b)
}

func (f *fakeTerminal) IsTerminal() bool { return f.tty }

func (f *fakeTerminal) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buf.String()
}

// fixedClock says the compile started 12 s ago.
func fixedClock() func() time.Time {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	calls := 0
	var mu sync.Mutex
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			return start
		}
		return start.Add(12*time.Second + 300*time.Millisecond)
	}
}

func TestProgressLine(t *testing.T) {
	const line = "\r\x1b[Kstap-client: compiling on srv:5555 for 12s"
	tests := []struct {
		name  string
		delay time.Duration
		write string // written through the progress while it runs
		want  string
	}{
		{"a short compile prints nothing", time.Hour, "", ""},
		{"the line is erased at the end", 0, "", line + erase},
		{"a message erases the line first", 0, "a warning\n", line + erase + "a warning\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			term := &fakeTerminal{tty: true}
			p := startProgress(term, "compiling on srv:5555", tt.delay, time.Hour, fixedClock())
			if tt.delay == 0 {
				require.Eventually(t, func() bool { return term.String() != "" }, 5*time.Second, time.Millisecond)
			}
			if tt.write != "" {
				_, err := io.WriteString(p, tt.write)
				require.NoError(t, err)
			}
			p.stop()
			assert.Equal(t, tt.want, term.String())
		})
	}
}

func TestProgressRedraws(t *testing.T) {
	term := &fakeTerminal{tty: true}
	p := startProgress(term, "compiling on srv:5555", 0, time.Millisecond, fixedClock())
	require.Eventually(t, func() bool {
		return strings.Count(term.String(), "compiling on") >= 3
	}, 5*time.Second, time.Millisecond)
	p.stop()
	out := term.String()
	assert.True(t, strings.HasSuffix(out, erase), "erased at the end: %q", out)
	assert.NotContains(t, out, "\n", "one line, updated in place")
}

func TestServerLabel(t *testing.T) {
	tests := []struct {
		c    discovery.Candidate
		want string
	}{
		{discovery.Candidate{Host: "build1", Addr: netip.MustParseAddr("10.0.0.7"), Port: 5555}, "build1:5555"},
		{discovery.Candidate{Addr: netip.MustParseAddr("10.0.0.7"), Port: 5555}, "10.0.0.7:5555"},
		{discovery.Candidate{Addr: netip.MustParseAddr("fe80::1"), Port: 5555}, "[fe80::1]:5555"},
		{discovery.Candidate{}, "a server"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, serverLabel(tt.c))
	}
}

func TestIsTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	require.NoError(t, err)
	defer f.Close()
	assert.False(t, isTerminal(f), "a regular file")
	assert.False(t, isTerminal(&bytes.Buffer{}), "a buffer")
	assert.True(t, isTerminal(&fakeTerminal{tty: true}))
	assert.False(t, isTerminal(&fakeTerminal{tty: false}))
}

// startSlowFake is a compile server that takes its time to answer.
func startSlowFake(t *testing.T, reply []byte, delay time.Duration) (addr, certDir string) {
	t.Helper()
	s := startFakeAfter(t, reply, delay)
	return s.addr, s.certDir
}

// TestRunProgress runs whole invocations against a server that compiles for
// 1.5 s: only a terminal, and not with -q, gets the line, and it is gone
// before the output.
func TestRunProgress(t *testing.T) {
	addr, certs := startSlowFake(t, goodP4(t), 1500*time.Millisecond)
	tests := []struct {
		name  string
		tty   bool
		extra []string
		want  bool
	}{
		{"terminal", true, nil, true},
		{"not a terminal", false, nil, false},
		{"quiet", true, []string{"-q"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			term := &fakeTerminal{tty: tt.tty}
			args := append([]string{"--server=" + addr, "--ssl=" + certs, "-p4", "-e", "probe begin { exit() }"}, tt.extra...)
			res := runEnv(t, func(e *Env) { e.Stderr = term }, nil, args...)
			out := term.String()
			require.Equal(t, 0, res.code, "%s", out)
			if !tt.want {
				assert.NotContains(t, out, "compiling on")
				assert.NotContains(t, out, "\r")
				return
			}
			assert.Contains(t, out, "\r\x1b[Kstap-client: compiling on 127.0.0.1:")
			assert.Contains(t, out, " for 1s")
			assert.True(t, strings.HasSuffix(out, erase), "erased before the run ends: %q", out)
		})
	}
}

// TestIsTerminalRealPty asks the ioctl about a real pseudo-terminal.
func TestIsTerminalRealPty(t *testing.T) {
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	defer ptmx.Close()
	var unlock, n uint32
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, ptmx.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock)))
	require.Zero(t, errno, "unlocking the pty")
	_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, ptmx.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n)))
	require.Zero(t, errno, "the pty number")
	pts, err := os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
	require.NoError(t, err)
	defer pts.Close()
	assert.True(t, isTerminal(pts))
}
