// SPDX-License-Identifier: GPL-2.0-or-later

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/internal/stapargs"
)

// TestCommittedCompletionsMatch fails when the committed completions drift
// from the option table: run `go run ./internal/gen` (or `make completions`).
func TestCommittedCompletionsMatch(t *testing.T) {
	for name, gen := range files {
		t.Run(name, func(t *testing.T) {
			committed, err := os.ReadFile(filepath.Join("..", "..", "completions", name))
			require.NoError(t, err)
			assert.Equal(t, gen(stapargs.Options()), string(committed), "completions/%s is stale: run make completions", name)
		})
	}
}

// TestCompletionsHaveEveryOption checks that each spelling in the table
// that stap-client accepts is offered by both shells, and that none it
// refuses is.
func TestCompletionsHaveEveryOption(t *testing.T) {
	b, z := bash(stapargs.Options()), zsh(stapargs.Options())
	words := b[strings.Index(b, "compgen -W '--"):]
	words = words[:strings.Index(words, "' --")+1]
	for _, o := range stapargs.Options() {
		for _, s := range o.Spellings() {
			if refused(o) {
				assert.NotRegexp(t, `[ ']`+regexpQuote(s)+`[= ']`, words, "bash offers refused %s", s)
				assert.NotRegexp(t, `'\*?`+regexpQuote(s)+`[=+\[]`, z, "zsh offers refused %s", s)
				continue
			}
			assert.Regexp(t, `[ ']`+regexpQuote(s)+`[= ']`, words, "bash: %s", s)
			assert.Regexp(t, `'\*?`+regexpQuote(s)+`[=+\[]`, z, "zsh: %s", s)
		}
	}
	for _, s := range []string{"-i", "-R", "--remote", "--dyninst", "--bpf", "--monitor", "--client-options"} {
		o, ok := stapargs.Lookup(s)
		require.True(t, ok, s)
		assert.True(t, refused(o), "%s is refused by stap-client", s)
	}
}

func regexpQuote(s string) string {
	return strings.ReplaceAll(s, "-", `\-`)
}

// TestBashCompletes runs the bash completion function on a few command
// lines, as bash calls it.
func TestBashCompletes(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "certs"), 0o755))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "my dir"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cfile"), nil, 0o644))
	tests := []struct {
		words []string // the last one is being completed
		want  string
	}{
		{[]string{"stap-client", "--ser"}, "--server="},
		{[]string{"stap-client", "--privilege", "=", "stap"}, "stapdev stapsys stapusr"},
		{[]string{"stap-client", "--privilege", "="}, "stapusr stapsys stapdev"},
		{[]string{"stap-client", "--privilege=stapu"}, "stapusr"},
		{[]string{"stap-client", "-p", ""}, "1 2 3 4 5"},
		{[]string{"stap-client", "--ssl", "=", "c"}, "certs"},
		{[]string{"stap-client", "--list-servers", "=", "on"}, "online"},
		{[]string{"stap-client", "-e", "x", "cf"}, "cfile"},
		{[]string{"stap-client", "-r", ""}, ""},
		{[]string{"stap-client", "--list-servers", "cf"}, "cfile"},
		{[]string{"stap-client", "-p"}, "-p1 -p2 -p3 -p4 -p5"},
		{[]string{"stap-client", "-p4"}, "-p4"},
		{[]string{"stap-client", "-Ic"}, "-Icerts/"},
		{[]string{"stap-client", "--runtime="}, "kernel"},
		{[]string{"stap-client", "--cl"}, "--clean-cache"}, // not --client-options
		{[]string{"stap-client", "--dyn"}, ""},
		{[]string{"stap-client", "--rem"}, ""},
	}
	file, err := filepath.Abs(filepath.Join("..", "..", "completions", "stap-client.bash"))
	require.NoError(t, err)
	for _, tt := range tests {
		script := `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($#-1)); _stap_client 2>&1; printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '`
		args := append([]string{"-c", script, "bash", file}, tt.words...)
		cmd := exec.Command("bash", args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		got := strings.Fields(string(out))
		want := strings.Fields(tt.want)
		assert.ElementsMatch(t, want, got, "%q", tt.words)
	}
}

// TestZshParses checks the zsh file's syntax (make test-deps installs zsh).
func TestZshParses(t *testing.T) {
	if _, err := exec.LookPath("zsh"); err != nil {
		t.Skip("zsh is not installed (make test-deps installs it)")
	}
	out, err := exec.Command("zsh", "-n", filepath.Join("..", "..", "completions", "_stap-client")).CombinedOutput()
	assert.NoError(t, err, "%s", out)
}
