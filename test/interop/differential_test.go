// SPDX-License-Identifier: GPL-2.0-or-later

package interop

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/test/labenv"
)

var vvFilter = regexp.MustCompile(`(?m)^(Running .*|Spawn waitpid result .*)\n`)

var moduleFile = regexp.MustCompile(`^stap_[0-9a-f]{32}_[0-9]+\.ko$`)

// TestDifferential runs each invocation through the real stap
// (--use-server=IP:PORT) and through stap-client (--server=IP:PORT) against
// the same real server, in the same directory, both trusting the server
// through the same NSS database, and requires the same
// stdout, stderr (after normalizing temp paths and timings), exit status
// and files left behind.
func TestDifferential(t *testing.T) {
	rel := theLab.Get(t, "LAB_RELEASE")
	cases := labenv.Cases(rel)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			cwd := t.TempDir()
			labenv.WriteFixtures(t, cwd)

			// Trust comes from the NSS database the real stap wrote with
			// --trust-servers: the private one, found through HOME.
			home := freshHome(t)
			stap := runIn(t, cwd, home, tc.Stdin,
				append([]string{"stap", "--use-server=" + theLab.server(t)}, tc.Args...)...)
			labenv.RemoveProducts(t, cwd)
			ours := runIn(t, cwd, home, tc.Stdin,
				append([]string{theLab.Bin, "--server=" + theLab.server(t)}, tc.Args...)...)
			if tc.Module {
				// The same run again is answered by the result cache and
				// must still print and leave what stap does.
				labenv.RemoveProducts(t, cwd)
				hit := runIn(t, cwd, home, tc.Stdin,
					append([]string{theLab.Bin, "--server=" + theLab.server(t)}, tc.Args...)...)
				assert.Equal(t, ours, hit, "a cache hit is the run that filled it")
			}

			if tc.VV {
				stap.stderr = vvFilter.ReplaceAllString(stap.stderr, "")
				// stap's own banner comes first; the server's output follows.
				banner, _, _ := strings.Cut(stap.stdout, "enabled features:")
				assert.True(t, strings.HasPrefix(banner, "Systemtap translator/driver"), stap.stdout)
				// ours is stap-client's own (see TestFidelity).
				assert.Regexp(t, ourBanner, ours.stdout)
				ours.stdout = ourBanner.ReplaceAllString(ours.stdout, "")
				assert.True(t, strings.HasSuffix(stap.stdout, ours.stdout), "stdout: %q does not end %q", ours.stdout, stap.stdout)
			} else {
				assert.Equal(t, normalize(stap.stdout), normalize(ours.stdout), "stdout")
			}
			assert.Equal(t, normalize(stap.stderr), normalize(ours.stderr), "stderr")
			assert.Equal(t, stap.code, ours.code, "exit status")
			assert.Equal(t, stap.files, ours.files, "files left in the cwd")
			if tc.Module {
				ko := labenv.SavedModule(t, cwd, ours.files)
				if !strings.Contains(strings.Join(tc.Args, " "), "-m") {
					assert.Regexp(t, moduleFile, ko)
				}
			}
		})
	}
}

// TestUntrustedServerRefused: with a trust store that does not hold the
// server's certificate, nothing is sent, stap's lines are printed, and our
// own line names the server and what to do.
func TestUntrustedServerRefused(t *testing.T) {
	cwd := t.TempDir()
	labenv.WriteFixtures(t, cwd)
	logPath := theLab.Get(t, "LAB_SERVER_LOG")
	before, err := os.ReadFile(logPath)
	require.NoError(t, err)

	ours := runIn(t, cwd, t.TempDir(), "", theLab.Bin, "--server="+theLab.server(t),
		"--ssl="+theLab.Get(t, "LAB_UNTRUSTED_CERTDIR"), "-r", theLab.Get(t, "LAB_RELEASE"), "-p2", "hello.stp")
	assert.Equal(t, 1, ours.code)
	assert.Empty(t, ours.stdout)
	lines := strings.Split(strings.TrimSpace(ours.stderr), "\n")
	require.Len(t, lines, 3, ours.stderr)
	assert.Equal(t, "Unable to connect to a server.", lines[0])
	assert.Contains(t, lines[1], "stap-client: ERROR: server host=unknown address="+theLab.Get(t, "LAB_ADDR"))
	assert.Contains(t, lines[1], "not trusted")
	assert.Contains(t, lines[1], "nothing was sent")
	assert.Equal(t, "Passes: via server failed.  Try again with another '-v' option.", lines[2])

	// The real stap, trusting nothing, says the same first and last lines.
	stap := runIn(t, cwd, t.TempDir(), "", "stap", "--use-server="+theLab.server(t), "-r", theLab.Get(t, "LAB_RELEASE"), "-p2", "hello.stp")
	assert.Equal(t, stap.code, ours.code)
	stapLines := strings.Split(strings.TrimSpace(normalize(stap.stderr)), "\n")
	assert.Equal(t, []string{lines[0], lines[2]}, stapLines)

	after, err := os.ReadFile(logPath)
	require.NoError(t, err)
	added := string(after[len(before):])
	assert.NotContains(t, added, "Client version is", "the untrusted server must receive no request")
}

// TestUnsupportedRelease: a server that does not build for the release sends
// back only its version; stap's line is printed, then ours saying why.
func TestUnsupportedRelease(t *testing.T) {
	cwd := t.TempDir()
	labenv.WriteFixtures(t, cwd)
	ours := runIn(t, cwd, t.TempDir(), "", theLab.Bin, "--server="+theLab.server(t),
		"--ssl="+theLab.Get(t, "LAB_CERTDIR"), "-r", "5.0.0-fake", "-p2", "hello.stp")
	assert.Equal(t, 1, ours.code)
	assert.Regexp(t, `^Unable to open file '/tmp/stap[A-Za-z0-9]{6}/server/rc' for reading: No such file or directory
stap-client: ERROR: the server sent back no result: it does not build for kernel release 5.0.0-fake .*
Passes: via server failed.  Try again with another '-v' option.
$`, ours.stderr)
}

// TestOversizeRequest: the real server drops a request over its default
// limits without replying. stap-client warns before sending, prints stap's
// line for the empty reply, and says what the likely cause is.
func TestOversizeRequest(t *testing.T) {
	cwd := t.TempDir()
	var b strings.Builder
	b.WriteString("probe begin {\n")
	for i := 0; i < 3000; i++ {
		fmt.Fprintf(&b, "  x%d = %d\n", i, (i*7919)%1000003*1000+i)
	}
	b.WriteString("}\n")
	require.NoError(t, os.WriteFile(filepath.Join(cwd, "big.stp"), []byte(b.String()), 0o644))
	args := []string{"-r", theLab.Get(t, "LAB_RELEASE"), "-p2", "big.stp"}

	stap := runIn(t, cwd, theLab.Get(t, "LAB_STAP_HOME"), "", append([]string{"stap", "--use-server=" + theLab.server(t)}, args...)...)
	ours := runIn(t, cwd, t.TempDir(), "", append([]string{theLab.Bin, "--server=" + theLab.server(t), "--ssl=" + theLab.Get(t, "LAB_CERTDIR")}, args...)...)
	assert.Equal(t, 1, stap.code)
	assert.Equal(t, 1, ours.code)
	unzipLine := regexp.MustCompile(`(?m)^Unable to unzip the server response '/tmp/stap[A-Za-z0-9]{6}/server\.zip'$`)
	assert.Regexp(t, unzipLine, stap.stderr)
	assert.Regexp(t, unzipLine, ours.stderr)
	assert.Regexp(t, `^stap-client: WARNING: the request is [0-9]+ bytes compressed`, ours.stderr)
	assert.Contains(t, ours.stderr, "most likely because the request is over its size limits")
	assert.Contains(t, ours.stderr, "Passes: via server failed.  Try again with another '-v' option.")
}

// TestTrustSources: certificate files given with --ssl are trusted; an NSS
// database that others may write is refused with a warning, and then the
// server is not trusted.
func TestTrustSources(t *testing.T) {
	cwd := t.TempDir()
	labenv.WriteFixtures(t, cwd)
	args := []string{"-r", theLab.Get(t, "LAB_RELEASE"), "-p2", "hello.stp"}
	empty := t.TempDir()

	files := runIn(t, cwd, empty, "", append([]string{theLab.Bin, "--server=" + theLab.server(t), "--ssl=" + theLab.Get(t, "LAB_CERTDIR")}, args...)...)
	assert.Equal(t, 0, files.code, files.stderr)

	db := filepath.Join(t.TempDir(), "db")
	copyTrustDB(t, db)
	viaSSL := runIn(t, cwd, empty, "", append([]string{theLab.Bin, "--server=" + theLab.server(t), "--ssl=" + db}, args...)...)
	assert.Equal(t, 0, viaSSL.code, viaSSL.stderr)

	require.NoError(t, os.Chmod(db, 0o775))
	unsafe := runIn(t, cwd, empty, "", append([]string{theLab.Bin, "--server=" + theLab.server(t), "--ssl=" + db}, args...)...)
	assert.Equal(t, 1, unsafe.code)
	assert.Contains(t, unsafe.stderr, "stap-client: WARNING: Certificate database '"+db+"' must not be writable by the group\n")
	assert.Contains(t, unsafe.stderr, "stap-client: WARNING: Unable to use certificate database '"+db+"' due to errors; fix it with: chmod go-w "+db+"\n")
	assert.Contains(t, unsafe.stderr, "not trusted")
}

// TestREADMEQuickStart runs the stap-client commands of the README's quick
// start, in order, as written, against the lab's server: the example host
// and port become the lab's, and -r the lab's kernel (this host runs
// another one, so stap-client stops after pass 4 as stap does). The scp is
// replaced by a copy of the lab server's stap.cert; --trust-servers is
// answered "y".
func TestREADMEQuickStart(t *testing.T) {
	cmds := quickStartCommands(t)
	require.GreaterOrEqual(t, len(cmds), 3, "the quick start's stap-client commands: %q", cmds)

	home, cwd, bin := t.TempDir(), t.TempDir(), t.TempDir()
	require.NoError(t, os.Symlink(theLab.Bin, filepath.Join(bin, "stap-client")))
	cert, err := os.ReadFile(filepath.Join(theLab.Get(t, "LAB_CERTDIR"), "stap.cert"))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(home, "stap-certs"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(home, "stap-certs", "stap.cert"), cert, 0o644))

	for _, c := range cmds {
		c = strings.ReplaceAll(c, "build.example.org:5555", theLab.server(t))
		if strings.Contains(c, " -e ") {
			c += " -r " + theLab.Get(t, "LAB_RELEASE")
		}
		out := runIn(t, cwd, home, "y\n", "bash", "-c", `PATH="$1:$PATH"; eval "$2"`, "bash", bin, c)
		assert.Equal(t, 0, out.code, "%s\n%s", c, out.stderr)
	}
	assert.FileExists(t, filepath.Join(home, ".systemtap/ssl/client/cert9.db"), "--trust-servers wrote the user's database")
}

// quickStartCommands returns the stap-client command lines (continuations
// joined) in the sh blocks of the README's quick start section.
func quickStartCommands(t *testing.T) []string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	text := string(readme)
	start := strings.Index(text, "## Quick start")
	require.GreaterOrEqual(t, start, 0, "README.md has no Quick start section")
	text = text[start:]
	if end := strings.Index(text[3:], "\n## "); end >= 0 {
		text = text[:end+3]
	}
	var cmds []string
	for _, block := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(text, -1) {
		joined := regexp.MustCompile(`\\\n\s*`).ReplaceAllString(block[1], "")
		for _, line := range strings.Split(joined, "\n") {
			if line = strings.TrimSpace(line); strings.HasPrefix(line, "stap-client ") {
				cmds = append(cmds, line)
			}
		}
	}
	return cmds
}
