// SPDX-License-Identifier: GPL-2.0-or-later
package interop

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
