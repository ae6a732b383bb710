// SPDX-License-Identifier: GPL-2.0-or-later

package client

import (
	"bytes"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/internal/progress"
	"github.com/stap-client/stap-client/internal/testkit"
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

// startSlowFake is a compile server that takes its time to answer.
func startSlowFake(t *testing.T, reply []byte, delay time.Duration) (addr, certDir string) {
	t.Helper()
	s := testkit.StartFake(t, testkit.Fake{Handle: func(c net.Conn, _ []byte) {
		time.Sleep(delay)
		c.Write(reply)
	}})
	return s.Addr, s.CertDir
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
			assert.True(t, strings.HasSuffix(out, progress.Erase), "erased before the run ends: %q", out)
		})
	}
}
