// SPDX-License-Identifier: GPL-2.0-or-later

// Package interop runs stap-client and the real stap side by side against
// the real stap-serverd that test/lab/up.sh starts in a network namespace.
package interop

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/test/labenv"
)

// theLab is what test/lab/up.sh wrote to lab.env, and the binary.
var theLab = &lab{}

type lab struct{ labenv.Lab }

func (l *lab) server(t *testing.T) string {
	return l.Get(t, "LAB_ADDR") + ":" + l.Get(t, "LAB_PORT")
}

func TestMain(m *testing.M) {
	os.Exit(labenv.Tier{Name: "interop", EnvVar: "LAB_ENV", Start: "starts the real compile server (test/lab/up.sh)"}.Main(m, &theLab.Lab))
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
	return runArgv(t, cwd, stdin, labenv.InNetns(theLab.Get(t, "LAB_NETNS"), labenv.Clean(labenv.PathAll, env, argv...)...)...)
}

// runArgv runs argv as it is in cwd, and lists what it left there.
func runArgv(t *testing.T, cwd, stdin string, argv ...string) outcome {
	t.Helper()
	o := labenv.Exec(t, labenv.Cmd{Argv: argv, Dir: cwd, Stdin: stdin, Timeout: 5 * time.Minute})
	removeKept(t, o.Stderr)
	return outcome{stdout: o.Stdout, stderr: o.Stderr, code: o.Code, files: o.Files}
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
	src := filepath.Join(theLab.Get(t, "LAB_STAP_HOME"), ".systemtap/ssl/client")
	for _, f := range []string{"cert9.db", "key4.db"} {
		data, err := os.ReadFile(filepath.Join(src, f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), data, 0o644))
	}
}

func normalize(s string) string { return labenv.Normalize(s) }
