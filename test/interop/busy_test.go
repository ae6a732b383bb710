// SPDX-License-Identifier: GPL-2.0-or-later

package interop

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/internal/testkit"
)

// busyServer starts a second real stap-serverd in the lab's namespace, as
// the lab's user (so it shares the lab server's certificate), with one
// worker thread: while it compiles, a new connection is accepted but its
// TLS handshake waits for the worker. It is stopped, as a process group,
// when the test ends.
func busyServer(t *testing.T) (addr, log string) {
	t.Helper()
	port, err := strconv.Atoi(theLab.Get(t, "LAB_PORT"))
	require.NoError(t, err)
	port += 3
	user := theLab.Get(t, "LAB_SERVER_USER")
	home, err := exec.Command("sh", "-c", "getent passwd "+user+" | cut -d: -f6").Output()
	require.NoError(t, err)
	// The server's user must reach its log: a directory of its own, not
	// below the test's private temp dirs.
	dir, err := os.MkdirTemp("", "stapc-busy")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	log = filepath.Join(dir, "busy.log")
	require.NoError(t, os.WriteFile(log, nil, 0o666))
	require.NoError(t, os.Chmod(log, 0o666))
	cmd := exec.Command("ip", "netns", "exec", theLab.Get(t, "LAB_NETNS"), "runuser", "-u", user, "--",
		"env", "-i", "HOME="+strings.TrimSpace(string(home)), "USER="+user, "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		"LANG=C.UTF-8", "TMPDIR=/tmp", "DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/stapclab-no-system-bus/none",
		"/usr/lib/systemtap/stap-serverd", "-r", theLab.Get(t, "LAB_RELEASE"), "--port", strconv.Itoa(port),
		"--max-threads=1", "--log", log)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		cmd.Wait()
	})
	require.Eventually(t, func() bool {
		out, _ := exec.Command("ip", "netns", "exec", theLab.Get(t, "LAB_NETNS"), "ss", "-Hltn", fmt.Sprintf("sport = :%d", port)).Output()
		return len(bytes.TrimSpace(out)) > 0
	}, 60*time.Second, 100*time.Millisecond, "the busy server did not start listening; log:\n%s", readLog(log))
	return fmt.Sprintf("%s:%d", theLab.Get(t, "LAB_ADDR"), port), log
}

func readLog(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// pty opens a pseudo-terminal pair: the client's stderr, so it draws its
// progress line, and the side the test reads.
func pty(t *testing.T) (master, slave *os.File) { t.Helper(); return testkit.PTY(t) }

// longCompile starts a cold -p4 compile of a script no cache has seen on
// addr, which holds the busy server's only worker for many seconds; it
// returns once the server has taken the request, and a wait for the end.
func longCompile(t *testing.T, addr, log string) (wait func() outcome) {
	t.Helper()
	marker := fmt.Sprintf("busy-%d-%d", os.Getpid(), time.Now().UnixNano())
	var o outcome
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		o = runIn(t, t.TempDir(), freshHome(t), "", theLab.Bin, "--server="+addr, "-r", theLab.Get(t, "LAB_RELEASE"),
			"-p4", "-e", `probe begin { printf("`+marker+`\n"); exit() }`)
	}()
	require.Eventually(t, func() bool { return strings.Contains(readLog(log), marker) }, time.Minute, 50*time.Millisecond,
		"the long compile never reached the busy server; log:\n%s", readLog(log))
	return func() outcome { wg.Wait(); return o }
}

// TestBusyServer: a real stap-serverd whose only worker compiles. A second
// stap-client waits for it, says so on its terminal, and succeeds; with a
// second, idle server in the list, the idle one answers first.
func TestBusyServer(t *testing.T) {
	busy, log := busyServer(t)
	p2 := []string{"-r", theLab.Get(t, "LAB_RELEASE"), "-p2", "-e", "probe begin { exit() }"}

	t.Run("the only server is busy: wait, and say so", func(t *testing.T) {
		first := longCompile(t, busy, log)
		master, slave := pty(t)
		var screen bytes.Buffer
		read := make(chan struct{})
		go func() {
			defer close(read)
			buf := make([]byte, 4096)
			for {
				n, err := master.Read(buf)
				screen.Write(buf[:n])
				if err != nil {
					return
				}
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		argv := append([]string{"netns", "exec", theLab.Get(t, "LAB_NETNS"), "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
			"LANG=C.UTF-8", "HOME=" + freshHome(t), theLab.Bin, "--server=" + busy}, p2...)
		cmd := exec.CommandContext(ctx, "ip", argv...)
		cmd.Dir = t.TempDir()
		var stdout bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, slave
		err := cmd.Run()
		slave.Close()
		<-read
		require.NoError(t, err, "%s", screen.String())
		assert.Contains(t, stdout.String(), "begin")
		assert.Contains(t, screen.String(), "stap-client: waiting for a free worker on "+busy+" for 1s")
		assert.Contains(t, readLog(log), "Server is overloaded.")
		o := first()
		assert.Equal(t, 0, o.code, o.stderr)
	})

	t.Run("a second, idle server answers first", func(t *testing.T) {
		first := longCompile(t, busy, log)
		before := strings.Count(readLog(log), "Options passed from the client")
		o := runIn(t, t.TempDir(), freshHome(t), "", append([]string{theLab.Bin, "-v", "--server=" + busy, "--server=" + theLab.server(t)}, p2...)...)
		assert.Equal(t, 0, o.code, o.stderr)
		assert.Contains(t, o.stderr, "passed over: connected, but its handshake was still waiting (a busy server) when server")
		assert.Contains(t, o.stderr, "Passes: via server  host=unknown address="+theLab.Get(t, "LAB_ADDR")+" port="+theLab.Get(t, "LAB_PORT"))
		still := first()
		assert.Equal(t, 0, still.code, still.stderr)
		assert.Equal(t, before, strings.Count(readLog(log), "Options passed from the client"),
			"the busy server never saw the raced request")
	})
}

// TestInterruptPhases: SIGINT or SIGTERM while waiting for the busy
// server's worker, and while the lab server compiles, ends the real binary
// within a second with exit 1, a line saying what it interrupted, and no
// temp dir left.
func TestInterruptPhases(t *testing.T) {
	busy, log := busyServer(t)
	rel := theLab.Get(t, "LAB_RELEASE")
	tests := []struct {
		name   string
		sig    syscall.Signal
		server string
		// ready: the client is in the phase (read from the server's log)
		ready func(marker string) bool
		want  string
	}{
		{"SIGINT waiting for a worker", syscall.SIGINT, busy, func(string) bool {
			return strings.Count(readLog(log), "Server is overloaded.") > 0
		}, "stap-client: ERROR: interrupted while waiting for a free worker on " + busy},
		{"SIGTERM compiling", syscall.SIGTERM, theLab.server(t), func(marker string) bool {
			return strings.Contains(readLog(theLab.Get(t, "LAB_SERVER_LOG")), marker)
		}, "stap-client: ERROR: interrupted while compiling on " + theLab.server(t)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var wait func() outcome
			if tt.server == busy {
				wait = longCompile(t, busy, log)
			}
			marker := fmt.Sprintf("intr-%d", time.Now().UnixNano())
			tmp := t.TempDir()
			cmd := exec.Command("ip", "netns", "exec", theLab.Get(t, "LAB_NETNS"), "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
				"LANG=C.UTF-8", "HOME="+freshHome(t), "TMPDIR="+tmp, theLab.Bin, "--server="+tt.server, "-r", rel,
				"-p4", "-e", `probe begin { printf("`+marker+`\n"); exit() }`)
			cmd.Dir = t.TempDir()
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			require.NoError(t, cmd.Start())
			require.Eventually(t, func() bool { return tt.ready(marker) }, time.Minute, 20*time.Millisecond)
			// ip netns exec execs the client: the PID is the client's.
			require.NoError(t, cmd.Process.Signal(tt.sig))
			sent := time.Now()
			err := cmd.Wait()
			took := time.Since(sent)
			var ee *exec.ExitError
			require.ErrorAs(t, err, &ee)
			assert.Equal(t, 1, ee.ExitCode())
			assert.Less(t, took, time.Second)
			assert.Equal(t, tt.want+"\n", stderr.String())
			left, err := os.ReadDir(tmp)
			require.NoError(t, err)
			assert.Empty(t, left, "nothing left in the temp dir's parent")
			if wait != nil {
				o := wait()
				assert.Equal(t, 0, o.code, o.stderr)
			}
		})
	}
}
