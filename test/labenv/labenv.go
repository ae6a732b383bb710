// SPDX-License-Identifier: GPL-2.0-or-later

// Package labenv reads the KEY=VALUE files the lab scripts write
// (lab.env, net.env) for the real-system test tiers.
package labenv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stap-client/stap-client/internal/testkit"
)

// Read parses a lab description: blank lines and # comments skipped,
// an optional "export ", values unquoted.
func Read(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the lab description: %w", err)
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s: bad line %q", path, line)
		}
		vars[strings.TrimPrefix(k, "export ")] = strings.Trim(v, `"'`)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return vars, nil
}

// Lab is a lab description and the stap-client binary under test.
type Lab struct {
	Vars map[string]string
	Bin  string
}

// Get returns the lab description's value of k, failing the test when
// there is none.
func (l *Lab) Get(t testing.TB, k string) string {
	t.Helper()
	return Get(t, l.Vars, k)
}

// Tier is a real-system test tier: what it is called in messages, the
// variable naming its lab description, and how `make test` starts the lab.
type Tier struct {
	Name, EnvVar, Start string
	// Setup, when set, checks and completes the lab before the tests run.
	Setup func(*Lab) error
}

// Main is TestMain for a tier: it reads the lab description named by
// EnvVar into lab (or, without one, exits 0 with a loud notice under
// SKIP_INTEROP=1, else fails with how to get one), finds the stap-client
// binary ($STAP_CLIENT_BIN, else built once for the package), runs Setup
// and the tests.
func (tr Tier) Main(m *testing.M, lab *Lab) int {
	path := os.Getenv(tr.EnvVar)
	if path == "" {
		if os.Getenv("SKIP_INTEROP") == "1" {
			fmt.Printf("######## NOTICE: SKIP_INTEROP=1: %s tests are NOT run ########\n", tr.Name)
			return 0
		}
		fmt.Fprintf(os.Stderr, "%s: %s is not set: run `make test`, which %s, or set SKIP_INTEROP=1\n", tr.Name, tr.EnvVar, tr.Start)
		return 1
	}
	vars, err := Read(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", tr.Name, err)
		return 1
	}
	bin, cleanup, err := testkit.TempClient()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", tr.Name, err)
		return 1
	}
	defer cleanup()
	*lab = Lab{Vars: vars, Bin: bin}
	if tr.Setup != nil {
		if err := tr.Setup(lab); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", tr.Name, err)
			return 1
		}
	}
	return m.Run()
}

// Need is the lab description named by envVar, for a test that runs
// without Main: without one it skips with a loud notice under
// SKIP_INTEROP=1, else fails saying how to get one. what names the test in
// messages; start says how `make test` starts the lab.
func Need(t testing.TB, envVar, what, start string) map[string]string {
	t.Helper()
	path := os.Getenv(envVar)
	if path == "" {
		if os.Getenv("SKIP_INTEROP") == "1" {
			fmt.Printf("######## NOTICE: SKIP_INTEROP=1: %s is NOT run ########\n", what)
			t.Skip("SKIP_INTEROP=1")
		}
		t.Fatalf("%s is not set: run `make test`, which %s, or set SKIP_INTEROP=1 to leave %s out", envVar, start, what)
	}
	vars, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	return vars
}

// The PATHs of the clean environments commands run in: with and without
// /usr/local.
const (
	PathAll    = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	PathSystem = "/usr/sbin:/usr/bin:/sbin:/bin"
)

// InNetns is argv run in the network namespace ns.
func InNetns(ns string, argv ...string) []string {
	return append([]string{"ip", "netns", "exec", ns}, argv...)
}

// Clean is argv run with a clean environment: PATH, LANG=C.UTF-8 and env
// (HOME=..., TMPDIR=...).
func Clean(path string, env []string, argv ...string) []string {
	full := append([]string{"env", "-i", "PATH=" + path, "LANG=C.UTF-8"}, env...)
	return append(full, argv...)
}

// Outcome is one run of a command: its output, exit code, duration and
// what it left in its directory.
type Outcome struct {
	Stdout, Stderr string
	Code           int
	Took           time.Duration
	Files          []string // the directory's entries afterwards, sorted
}

// Cmd is one command a test runs.
type Cmd struct {
	Argv    []string
	Dir     string // a fresh temporary directory when empty
	Stdin   string
	Timeout time.Duration // 3 minutes when zero
}

// Exec runs c. Only a failure to run at all fails the test; an exit code
// is the result.
func Exec(t testing.TB, c Cmd) Outcome {
	t.Helper()
	if c.Dir == "" {
		c.Dir = t.TempDir()
	}
	if c.Timeout == 0 {
		c.Timeout = 3 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	cmd.Dir = c.Dir
	cmd.Stdin = strings.NewReader(c.Stdin)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	start := time.Now()
	err := cmd.Run()
	o := Outcome{Stdout: so.String(), Stderr: se.String(), Took: time.Since(start)}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		o.Code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %s: %v", c.Argv[0], err)
	}
	o.Files = testkit.Entries(t, c.Dir)
	return o
}

// Run runs argv in a fresh temporary directory, with a 3-minute limit.
func Run(t testing.TB, argv ...string) Outcome {
	t.Helper()
	return Exec(t, Cmd{Argv: argv})
}

// RunIn is Run in the directory dir.
func RunIn(t testing.TB, dir string, argv ...string) Outcome {
	t.Helper()
	return Exec(t, Cmd{Argv: argv, Dir: dir})
}

// Get returns the lab description's value of k, failing the test when
// there is none.
func Get(t testing.TB, vars map[string]string, k string) string {
	t.Helper()
	v, ok := vars[k]
	if !ok {
		t.Fatalf("the lab description has no %s", k)
	}
	return v
}
