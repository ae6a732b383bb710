// SPDX-License-Identifier: GPL-2.0-or-later

package staprun

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// standIn writes a shell script standing in for staprun. Its first
// argument is a directory where it records its argv, cwd and the TERMs it
// gets; "ready" there holds its PID once its trap is set.
func standIn(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "staprun")
	script := `#!/bin/sh
rec=$1
printf '%s\n' "$@" > "$rec/argv"
pwd > "$rec/cwd"
` + body
	require.NoError(t, os.WriteFile(p, []byte(script), 0o755))
	return p
}

const (
	exitWith = `exit "$2"
`
	// trapTerm records each TERM; with "stay" as $2 it keeps running.
	trapTerm = `trap 'echo TERM >> "$rec/terms"; [ "$2" = stay ] || exit 0' TERM
echo $$ > "$rec/ready.tmp" && mv "$rec/ready.tmp" "$rec/ready"
while :; do sleep 0.05; done
`
)

type result struct {
	out    Outcome
	stderr string
	stdout string
	rec    string
	path   string
}

func runStandIn(t *testing.T, body string, o Options, args ...string) result {
	t.Helper()
	rec := t.TempDir()
	var so, se bytes.Buffer
	o.Stdout, o.Stderr = &so, &se
	path := standIn(t, body)
	out := Run(append([]string{path, rec}, args...), o)
	return result{out: out, stderr: se.String(), stdout: so.String(), rec: rec, path: path}
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return string(b)
}

// lines replaces the stand-in's path by STAPRUN and the timing by T.
func lines(s, path string) []string {
	s = strings.ReplaceAll(s, path, "STAPRUN")
	s = regexp.MustCompile(`in \d+usr/\d+sys/\d+real ms\.`).ReplaceAllString(s, "in T")
	s = regexp.MustCompile(`\(0x[0-9a-f]+\)`).ReplaceAllString(s, "(0xS)")
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func TestRunExit(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		code    string
		verbose int
		quiet   bool
		want    Outcome
		stderr  []string
	}{
		{"success says nothing", exitWith, "0", 0, false, Succeeded, []string{""}},
		{"success at -v", exitWith, "0", 1, false, Succeeded,
			[]string{"Pass 5: starting run.", "Pass 5: run completed in T"}},
		{"success at -vv", exitWith, "0", 2, false, Succeeded,
			[]string{"Pass 5: starting run.", "Running STAPRUN REC 0", "Spawn waitpid result (0xS): 0",
				"Pass 5: run completed in T"}},
		{"status 3", exitWith, "3", 0, false, Failed,
			[]string{"WARNING: STAPRUN exited with status: 3", "Pass 5: run failed.  [man error::pass5]"}},
		{"status 1 at -v", exitWith, "1", 1, false, Failed,
			[]string{"Pass 5: starting run.", "WARNING: STAPRUN exited with status: 1",
				"Pass 5: run completed in T", "Pass 5: run failed.  [man error::pass5]"}},
		{"-w hides the warning", exitWith, "3", 0, true, Failed,
			[]string{"Pass 5: run failed.  [man error::pass5]"}},
		{"killed", `kill -KILL $$
`, "", 0, false, Failed,
			[]string{"WARNING: STAPRUN exited with signal: 9 (Killed)", "Pass 5: run failed.  [man error::pass5]"}},
		{"segfault", `kill -SEGV $$
`, "", 0, false, Failed,
			[]string{"WARNING: STAPRUN exited with signal: 11 (Segmentation fault)",
				"Pass 5: run failed.  [man error::pass5]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runStandIn(t, tc.body, Options{Verbose: tc.verbose, SuppressWarnings: tc.quiet}, tc.code)
			assert.Equal(t, tc.want, r.out)
			assert.Equal(t, tc.stderr, lines(strings.ReplaceAll(r.stderr, r.rec, "REC"), r.path))
		})
	}
}

func TestRunPassesThrough(t *testing.T) {
	dir := t.TempDir()
	var so, se bytes.Buffer
	rec := t.TempDir()
	p := standIn(t, `cat; echo out; echo err >&2
`)
	out := Run([]string{p, rec, "-o", "rel file", "g=5"}, Options{
		Stdin: strings.NewReader("from stdin\n"), Stdout: &so, Stderr: &se, Dir: dir,
	})
	assert.Equal(t, Succeeded, out)
	assert.Equal(t, rec+"\n-o\nrel file\ng=5\n", read(t, filepath.Join(rec, "argv")))
	real, err := filepath.EvalSymlinks(dir)
	require.NoError(t, err)
	assert.Equal(t, real+"\n", read(t, filepath.Join(rec, "cwd")))
	assert.Equal(t, "from stdin\nout\n", so.String())
	assert.Equal(t, "err\n", se.String())
}

func TestRunCannotStart(t *testing.T) {
	tests := []struct {
		name    string
		argv0   string
		verbose int
		stderr  []string
	}{
		{"missing", "/nonexistent/staprun", 0, []string{
			"WARNING: /nonexistent/staprun is not executable (No such file or directory)",
			"Pass 5: run failed.  [man error::pass5]"}},
		{"missing at -vv", "/nonexistent/staprun", 2, []string{
			"Pass 5: starting run.",
			"WARNING: /nonexistent/staprun is not executable (No such file or directory)",
			"Running /nonexistent/staprun m.ko",
			"Spawn error (2): No such file or directory",
			"Pass 5: run completed in T",
			"Pass 5: run failed.  [man error::pass5]"}},
		{"not in PATH", "no-such-staprun-here", 2, []string{
			"Pass 5: starting run.",
			"Running no-such-staprun-here m.ko",
			"Spawn error (2): No such file or directory",
			"Pass 5: run completed in T",
			"Pass 5: run failed.  [man error::pass5]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var se bytes.Buffer
			out := Run([]string{tc.argv0, "m.ko"}, Options{Stderr: &se, Stdout: &se, Verbose: tc.verbose})
			assert.Equal(t, Failed, out)
			assert.Equal(t, tc.stderr, lines(se.String(), "\x00"))
		})
	}
}

// waitReady waits for the stand-in's trap and returns its PID.
func waitReady(t *testing.T, rec string) int {
	t.Helper()
	var pid int
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(filepath.Join(rec, "ready"))
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	}, 10*time.Second, 10*time.Millisecond)
	return pid
}

func TestRunInterrupt(t *testing.T) {
	for _, sig := range []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			rec := t.TempDir()
			sigs := make(chan os.Signal, 1)
			var se bytes.Buffer
			done := make(chan Outcome, 1)
			go func() {
				done <- Run([]string{standIn(t, trapTerm), rec}, Options{Stdout: &se, Stderr: &se, Signals: sigs})
			}()
			waitReady(t, rec)
			sigs <- sig
			select {
			case out := <-done:
				// Interrupting pass 5 is how one ends it: a success.
				assert.Equal(t, Succeeded, out)
				assert.Equal(t, "", se.String())
				assert.Equal(t, "TERM\n", read(t, filepath.Join(rec, "terms")))
			case <-time.After(10 * time.Second):
				t.Fatal("staprun stand-in not ended by the interrupt")
			}
		})
	}
}

func TestRunThirdInterrupt(t *testing.T) {
	rec := t.TempDir()
	sigs := make(chan os.Signal)
	// A file, as stap's stderr is: the child outlives the run here, and a
	// buffer would be written by the goroutine exec copies it with.
	se, err := os.CreateTemp(t.TempDir(), "stderr")
	require.NoError(t, err)
	defer se.Close()
	done := make(chan Outcome, 1)
	go func() {
		done <- Run([]string{standIn(t, trapTerm), rec, "stay"}, Options{Stdout: se, Stderr: se, Signals: sigs})
	}()
	pid := waitReady(t, rec)
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	for i := 1; i <= 3; i++ {
		sigs <- syscall.SIGINT
		if i == 3 {
			break
		}
		// Each interrupt is passed on (the stand-in survives them); wait
		// for it, as signals of one kind pending together count once.
		want := strings.Repeat("TERM\n", i)
		require.Eventually(t, func() bool {
			b, _ := os.ReadFile(filepath.Join(rec, "terms"))
			return string(b) == want
		}, 10*time.Second, 20*time.Millisecond)
	}
	select {
	case out := <-done:
		assert.Equal(t, TooManyInterrupts, out)
		b, err := os.ReadFile(se.Name())
		require.NoError(t, err)
		assert.Equal(t, "Too many interrupts received, exiting.\n", string(b))
	case <-time.After(10 * time.Second):
		t.Fatal("the third interrupt did not end the run")
	}
}

func TestStrsignal(t *testing.T) {
	for n, want := range map[int]string{
		1: "Hangup", 9: "Killed", 15: "Terminated", 31: "Bad system call",
		32: "Unknown signal 32", 34: "Real-time signal 0", 64: "Real-time signal 30", 65: "Unknown signal 65",
	} {
		assert.Equal(t, want, strsignal(n), "signal %d", n)
	}
}
