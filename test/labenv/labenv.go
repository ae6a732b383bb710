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
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// Main is TestMain for a real-system tier: it reads the lab description
// named by envVar (or, without one, exits 0 with a loud notice under
// SKIP_INTEROP=1, else fails with how to get one), finds the stap-client
// binary (STAP_CLIENT_BIN, else built from ../../cmd/stap-client), hands
// both to setup and runs the tests. tier names the tests in messages;
// start says how the lab is started.
func Main(m *testing.M, envVar, tier, start string, setup func(vars map[string]string, bin string) error) int {
	path := os.Getenv(envVar)
	if path == "" {
		if os.Getenv("SKIP_INTEROP") == "1" {
			fmt.Printf("######## NOTICE: SKIP_INTEROP=1: %s tests are NOT run ########\n", tier)
			return 0
		}
		fmt.Fprintf(os.Stderr, "%s: %s is not set: run `make test`, which %s, or set SKIP_INTEROP=1\n", tier, envVar, start)
		return 1
	}
	vars, err := Read(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", tier, err)
		return 1
	}
	bin, cleanup, err := ClientBinary()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", tier, err)
		return 1
	}
	defer cleanup()
	if err := setup(vars, bin); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", tier, err)
		return 1
	}
	return m.Run()
}

// Outcome is one run of a command: its output, exit code and duration.
type Outcome struct {
	Stdout, Stderr string
	Code           int
	Took           time.Duration
}

// Run runs argv in a fresh temporary directory, with a 3-minute limit.
// Only a failure to run at all fails the test; an exit code is the result.
func Run(t *testing.T, argv ...string) Outcome {
	t.Helper()
	return RunIn(t, t.TempDir(), argv...)
}

// RunIn is Run in the directory dir.
func RunIn(t *testing.T, dir string, argv ...string) Outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	start := time.Now()
	err := cmd.Run()
	o := Outcome{Stdout: so.String(), Stderr: se.String(), Took: time.Since(start)}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		o.Code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %s: %v", argv[0], err)
	}
	return o
}

// Get returns the lab description's value of k, failing the test when
// there is none.
func Get(t *testing.T, vars map[string]string, k string) string {
	t.Helper()
	v, ok := vars[k]
	if !ok {
		t.Fatalf("the lab description has no %s", k)
	}
	return v
}

// ClientBinary is $STAP_CLIENT_BIN, or else a stap-client built from
// ../../cmd/stap-client (a tier's package directory) into a temporary
// directory that cleanup removes.
func ClientBinary() (bin string, cleanup func(), err error) {
	if bin = os.Getenv("STAP_CLIENT_BIN"); bin != "" {
		return bin, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "stap-client-bin")
	if err != nil {
		return "", nil, err
	}
	bin = filepath.Join(dir, "stap-client")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/stap-client").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("building stap-client: %v\n%s", err, out)
	}
	return bin, func() { os.RemoveAll(dir) }, nil
}
