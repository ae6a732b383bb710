// SPDX-License-Identifier: GPL-2.0-or-later

// Package interop runs stap-client and the real stap side by side against
// the real stap-serverd that test/lab/up.sh starts in a network namespace.
package interop

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/test/labenv"
)

// lab is what test/lab/up.sh wrote to lab.env.
type lab struct {
	vars map[string]string
	bin  string // the stap-client binary under test
}

func (l *lab) get(t *testing.T, k string) string {
	t.Helper()
	v, ok := l.vars[k]
	require.True(t, ok, "lab.env has no %s", k)
	return v
}

func (l *lab) server(t *testing.T) string {
	return l.get(t, "LAB_ADDR") + ":" + l.get(t, "LAB_PORT")
}

var theLab *lab

func TestMain(m *testing.M) {
	os.Exit(labenv.Main(m, "LAB_ENV", "interop", "starts the real compile server (test/lab/up.sh)",
		func(vars map[string]string, bin string) error {
			theLab = &lab{vars: vars, bin: bin}
			return nil
		}))
}

// outcome is one client run.
type outcome struct {
	stdout, stderr string
	code           int
	files          []string // files left in the cwd, sorted
}

// runIn runs argv inside the lab's network namespace with a clean
// environment, in cwd, and lists what it left there.
func runIn(t *testing.T, cwd, home, stdin string, argv ...string) outcome {
	t.Helper()
	return runEnvIn(t, cwd, []string{"HOME=" + home}, stdin, argv...)
}

// runEnvIn is runIn with env (HOME=..., SYSTEMTAP_DIR=...) added to the
// clean environment.
func runEnvIn(t *testing.T, cwd string, env []string, stdin string, argv ...string) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	full := append([]string{"netns", "exec", theLab.get(t, "LAB_NETNS"), "env", "-i",
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}, env...)
	full = append(full, argv...)
	cmd := exec.CommandContext(ctx, "ip", full...)
	cmd.Stdin = strings.NewReader(stdin)
	return runCmd(t, cmd, cwd)
}

// runCmd runs cmd in cwd and lists what it left there.
func runCmd(t *testing.T, cmd *exec.Cmd, cwd string) outcome {
	t.Helper()
	cmd.Dir = cwd
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	removeKept(t, se.String())
	return outcome{stdout: so.String(), stderr: se.String(), code: code, files: listFiles(t, cwd)}
}

// keptInTmp is the line stap (and stap-client) print for -k, in /tmp.
var keptInTmp = regexp.MustCompile(`Keeping temporary directory "(/tmp/stap[0-9A-Za-z]{6})"`)

// removeKept removes, when the test ends, the temp dirs a -k run kept in
// /tmp (its name is checked: nothing else is touched), so the tier leaves
// nothing behind.
func removeKept(t *testing.T, stderr string) {
	for _, m := range keptInTmp.FindAllStringSubmatch(stderr, -1) {
		dir := m[1]
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
}

// freshHome is a new HOME whose ~/.systemtap holds only a copy of the
// trust database the real stap wrote into the lab's HOME, so that neither
// client's cache carries over from other runs.
func freshHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	copyTrustDB(t, filepath.Join(home, ".systemtap/ssl/client"))
	return home
}

// copyTrustDB copies the lab's NSS database (cert9.db, key4.db) into dir.
func copyTrustDB(t *testing.T, dir string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	src := filepath.Join(theLab.get(t, "LAB_STAP_HOME"), ".systemtap/ssl/client")
	for _, f := range []string{"cert9.db", "key4.db"} {
		data, err := os.ReadFile(filepath.Join(src, f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), data, 0o644))
	}
}

func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func normalize(s string) string { return labenv.Normalize(s) }
