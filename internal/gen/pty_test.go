// SPDX-License-Identifier: GPL-2.0-or-later
package main

import (
	"bytes"
	"github.com/stap-client/stap-client/internal/testkit"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBashCompletionInTerminal types into a real interactive bash on a
// pseudo-terminal and reads back the line readline holds after Tab: what
// a user sees, quoting, "/" after directories and the space after a word
// included (the function-level test above cannot see those).
func TestBashCompletionInTerminal(t *testing.T) {
	bashPath, err := exec.LookPath("bash")
	require.NoError(t, err, "bash is needed")
	file, err := filepath.Abs(filepath.Join("..", "..", "completions", "stap-client.bash"))
	require.NoError(t, err)

	dir := t.TempDir()
	for _, d := range []string{"etc/systemtap/ssl", "my certs/sub", "tapsets"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "script.stp"), nil, 0o644))
	inputrc := filepath.Join(dir, "inputrc")
	require.NoError(t, os.WriteFile(inputrc, []byte("set bell-style none\nset enable-bracketed-paste off\n"+
		"set completion-query-items 1000\nset page-completions off\n"), 0o644))

	sh := startBash(t, bashPath, dir, inputrc)
	// C-x C-l prints readline's line between markers; C-a C-k then clears it.
	sh.run(t, `source '`+file+`'; bind -x '"\C-x\C-l": printf "\n<LINE[%s]>\n" "$READLINE_LINE"'`)

	tests := []struct {
		name   string
		typed  string   // then Tab
		want   string   // the line after Tab
		listed []string // shown by a second Tab
		hidden []string // not shown by it
	}{
		{"directory gets a slash, no space", "stap-client --ssl=etc/systemt", "stap-client --ssl=etc/systemtap/", nil, nil},
		{"separate value, directory", "stap-client --ssl etc/sys", "stap-client --ssl etc/systemtap/", nil, nil},
		{"name with a space is one word", "stap-client --ssl=my", `stap-client --ssl=my\ certs/`, nil, nil},
		{"quoted name goes on", `stap-client --ssl=my\ certs/s`, `stap-client --ssl=my\ certs/sub/`, nil, nil},
		{"attached -I directory", "stap-client -Imy", `stap-client -Imy\ certs/`, nil, nil},
		{"-p offers its values attached", "stap-client -p", "stap-client -p", []string{"-p1", "-p2", "-p3", "-p4", "-p5"}, nil},
		{"-p4 is complete", "stap-client -p4", "stap-client -p4 ", nil, nil},
		{"-p value separate", "stap-client -p 3", "stap-client -p 3 ", nil, nil},
		{"script file", "stap-client -v scr", "stap-client -v script.stp ", nil, nil},
		{"refused options are not offered", "stap-client --c", "stap-client --c",
			[]string{"--color", "--compatible="}, []string{"--client-options"}},
		{"--runtime offers kernel only", "stap-client --runtime=", "stap-client --runtime=kernel ", nil, nil},
		{"long option with a value", "stap-client --ss", "stap-client --ssl=", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tabs := "\t"
			if tt.listed != nil {
				tabs = "\t\t" // the second Tab lists the candidates
			}
			line, shown := sh.complete(t, tt.typed+tabs)
			assert.Equal(t, tt.want, line)
			for _, w := range tt.listed {
				assert.Contains(t, shown, w)
			}
			for _, w := range tt.hidden {
				assert.NotContains(t, shown, w)
			}
		})
	}
	if t.Failed() {
		t.Logf("terminal output:\n%s", sh.out.String())
	}
}

// shell is an interactive bash on a pseudo-terminal.
type shell struct {
	pty *os.File
	out *syncBuffer
	pos int // what the output has been read up to
}

func startBash(t *testing.T, bashPath, dir, inputrc string) *shell {
	t.Helper()
	master, slave := openPTY(t)
	cmd := exec.Command(bashPath, "--norc", "--noprofile", "-i")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "TERM=dumb", "INPUTRC=" + inputrc, "PS1=$ ", "LC_ALL=C"}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	require.NoError(t, cmd.Start())
	require.NoError(t, slave.Close())
	sh := &shell{pty: master, out: &syncBuffer{}}
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(sh.out, master) // ends with EIO when bash is gone
		close(done)
	}()
	t.Cleanup(func() {
		_, _ = master.Write([]byte("\x01\x0bexit\n"))
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		_ = master.Close()
		<-done
	})
	return sh
}

// run types a command and waits until it has run.
func (sh *shell) run(t *testing.T, command string) {
	t.Helper()
	sh.write(t, command+"; echo READY-$((6*7))\n")
	sh.wait(t, regexp.MustCompile(`READY-42`))
}

// complete types keys, then prints readline's line; it returns that line
// and what the terminal showed meanwhile (candidate lists).
func (sh *shell) complete(t *testing.T, keys string) (line, shown string) {
	t.Helper()
	sh.write(t, keys+"\x18\x0c")
	m, before := sh.wait(t, regexp.MustCompile(`<LINE\[(.*)\]>`))
	sh.write(t, "\x01\x0b")
	return m[1], before
}

func (sh *shell) write(t *testing.T, s string) {
	t.Helper()
	_, err := sh.pty.Write([]byte(s))
	require.NoError(t, err)
}

// wait returns the first match of re in the output not read yet, and the
// output before it.
func (sh *shell) wait(t *testing.T, re *regexp.Regexp) ([]string, string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		out := sh.out.String()[sh.pos:]
		if loc := re.FindStringSubmatchIndex(out); loc != nil {
			m := make([]string, len(loc)/2)
			for i := range m {
				m[i] = out[loc[2*i]:loc[2*i+1]]
			}
			sh.pos += loc[1]
			return m, out[:loc[0]]
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.FailNow(t, "bash did not answer", "waiting for %s; output so far:\n%s", re, sh.out.String())
	return nil, ""
}

// openPTY opens a pseudo-terminal pair, 200 columns wide so that readline
// does not wrap.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, slave = testkit.PTY(t)
	require.NoError(t, testkit.SetWinsize(master, 50, 200))
	return master, slave
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Clone(b.buf.String())
}
