// SPDX-License-Identifier: GPL-2.0-or-later

package progress

import (
	"bytes"
	"github.com/stap-client/stap-client/internal/testkit"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tty records what is drawn, from any goroutine, and says whether it is a
// terminal.
type tty struct {
	sync.Mutex
	out strings.Builder
	yes bool
}

func (t *tty) Write(b []byte) (int, error) {
	t.Lock()
	defer t.Unlock()
	return t.out.Write(b)
}

func (t *tty) IsTerminal() bool { return t.yes }

func (t *tty) String() string {
	t.Lock()
	defer t.Unlock()
	return t.out.String()
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
		{"the line is Erased at the end", 0, "", line + Erase},
		{"a message Erases the line first", 0, "a warning\n", line + Erase + "a warning\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			term := &tty{yes: true}
			p := Start(term, "stap-client", "compiling on srv:5555", tt.delay, time.Hour, fixedClock())
			if tt.delay == 0 {
				require.Eventually(t, func() bool { return term.String() != "" }, 5*time.Second, time.Millisecond)
			}
			if tt.write != "" {
				_, err := io.WriteString(p, tt.write)
				require.NoError(t, err)
			}
			p.Stop()
			assert.Equal(t, tt.want, term.String())
		})
	}
}

func TestProgressRedraws(t *testing.T) {
	term := &tty{yes: true}
	p := Start(term, "stap-client", "compiling on srv:5555", 0, time.Millisecond, fixedClock())
	require.Eventually(t, func() bool {
		return strings.Count(term.String(), "compiling on") >= 3
	}, 5*time.Second, time.Millisecond)
	p.Stop()
	out := term.String()
	assert.True(t, strings.HasSuffix(out, Erase), "Erased at the end: %q", out)
	assert.NotContains(t, out, "\n", "one line, updated in place")
}

func TestIsTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	require.NoError(t, err)
	defer f.Close()
	assert.False(t, IsTerminal(f), "a regular file")
	assert.False(t, IsTerminal(&bytes.Buffer{}), "a buffer")
	assert.True(t, IsTerminal(&tty{yes: true}))
	assert.False(t, IsTerminal(&tty{}))
}

// TestIsTerminalRealPty asks the ioctl about a real pseudo-terminal.
func TestIsTerminalRealPty(t *testing.T) {
	ptmx, pts, err := testkit.OpenPTY()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	defer ptmx.Close()
	defer pts.Close()
	assert.True(t, IsTerminal(pts))
}
