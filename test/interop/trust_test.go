// SPDX-License-Identifier: GPL-2.0-or-later

package interop

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/test/labenv"
)

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
