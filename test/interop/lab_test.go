// SPDX-License-Identifier: GPL-2.0-or-later

// Package interop runs stap-client and the real stap side by side against
// the real stap-serverd that test/lab/up.sh starts in a network namespace.
package interop

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
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

func certutilList(t *testing.T, dir string) string {
	t.Helper()
	out, err := exec.Command("certutil", "-L", "-d", "sql:"+dir).CombinedOutput()
	require.NoError(t, err, "%s", out)
	return string(out)
}

var trustedLine = regexp.MustCompile(`(?m)^stap-server +P,P,P *$`)

// TestTrustServersCross: trust written by stap-client is listed by certutil
// as stap writes it and accepted by the real stap; revoking it is seen by
// both clients. The prompt is stap's, word for word.
func TestTrustServersCross(t *testing.T) {
	cwd := t.TempDir()
	labenv.WriteFixtures(t, cwd)
	home := t.TempDir()
	db := filepath.Join(home, ".systemtap/ssl/client")
	srv := theLab.server(t)
	compile := []string{"-r", theLab.Get(t, "LAB_RELEASE"), "-p2", "hello.stp"}

	// The prompt, declined: same text from both, nothing written.
	stapNo := runIn(t, cwd, t.TempDir(), "n\n", "stap", "--use-server="+srv, "--trust-servers=ssl")
	oursNo := runIn(t, cwd, home, "n\n", theLab.Bin, "--server="+srv, "--trust-servers=ssl")
	assert.Equal(t, normalize(stapNo.stderr), normalize(oursNo.stderr))
	assert.Equal(t, stapNo.code, oursNo.code)
	assert.NoDirExists(t, db)

	// Added by stap-client, answering y.
	add := runIn(t, cwd, home, "y\n", theLab.Bin, "--server="+srv, "--trust-servers=ssl")
	require.Equal(t, 0, add.code, add.stderr)
	assert.Regexp(t, trustedLine, certutilList(t, db))
	out, err := exec.Command("certutil", "-V", "-u", "V", "-n", "stap-server", "-d", "sql:"+db).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "certificate is valid")

	stap := runIn(t, cwd, home, "", append([]string{"stap", "--use-server=" + srv}, compile...)...)
	assert.Equal(t, 0, stap.code, "the real stap accepts the trust stap-client wrote: %s", stap.stderr)
	ours := runIn(t, cwd, home, "", append([]string{theLab.Bin, "--server=" + srv}, compile...)...)
	assert.Equal(t, 0, ours.code, ours.stderr)

	// Revoked by stap-client: both clients refuse the server now.
	rev := runIn(t, cwd, home, "", theLab.Bin, "--server="+srv, "--trust-servers=ssl,revoke,no-prompt")
	require.Equal(t, 0, rev.code, rev.stderr)
	assert.NotRegexp(t, trustedLine, certutilList(t, db))
	stap = runIn(t, cwd, home, "", append([]string{"stap", "--use-server=" + srv}, compile...)...)
	assert.Equal(t, 1, stap.code)
	ours = runIn(t, cwd, home, "", append([]string{theLab.Bin, "--server=" + srv}, compile...)...)
	assert.Equal(t, 1, ours.code)
	assert.Contains(t, ours.stderr, "not trusted")

	// Added again by the real stap into the database stap-client made and
	// revoked: stap-client accepts it.
	stapAdd := runIn(t, cwd, home, "", "stap", "--use-server="+srv, "--trust-servers=ssl,no-prompt")
	require.Equal(t, 0, stapAdd.code, stapAdd.stderr)
	ours = runIn(t, cwd, home, "", append([]string{theLab.Bin, "--server=" + srv}, compile...)...)
	assert.Equal(t, 0, ours.code, ours.stderr)
}

// TestTrustServersMessages compares stap's texts for the no-prompt form and
// for a run with no servers.
func TestTrustServersMessages(t *testing.T) {
	cwd := t.TempDir()
	srv := theLab.server(t)
	for _, args := range [][]string{
		{"--trust-servers=ssl,no-prompt,bogus"},
		{"--trust-servers"},
	} {
		stapArgs := append([]string{"stap"}, args...)
		oursArgs := append([]string{theLab.Bin}, args...)
		if len(args) == 1 && args[0] != "--trust-servers" {
			stapArgs = append(stapArgs, "--use-server="+srv)
			oursArgs = append(oursArgs, "--server="+srv)
		}
		stap := runIn(t, cwd, t.TempDir(), "", stapArgs...)
		ours := runIn(t, cwd, t.TempDir(), "", oursArgs...)
		assert.Equal(t, normalize(stap.stderr), normalize(ours.stderr), "%v", args)
		assert.Equal(t, stap.stdout, ours.stdout, "%v", args)
	}
}
