// SPDX-License-Identifier: GPL-2.0-or-later

package client

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/internal/stapargs"
	"github.com/stap-client/stap-client/internal/stapmsg"
)

var update = flag.Bool("update", false, "rewrite the golden CLI files in testdata/cli from the current output")

// A golden CLI file (testdata/cli/*.txt) is a command line, the expected
// exit status and the expected stdout and stderr:
//
//	# what this checks
//	stap-client -p 'a b'
//	exit 1
//	-- stdout --
//	-- stderr --
//	...
//
// The Go version and platform are written $GOVERSION and $GOOS/$GOARCH.
type golden struct {
	comment        string
	args           []string
	exit           int
	stdout, stderr string
}

func parseGolden(t *testing.T, text string) golden {
	t.Helper()
	var g golden
	head, rest, ok := strings.Cut(text, "-- stdout --\n")
	require.True(t, ok, "no -- stdout -- section")
	g.stdout, g.stderr, ok = strings.Cut(rest, "-- stderr --\n")
	require.True(t, ok, "no -- stderr -- section")
	for _, l := range strings.Split(strings.TrimSpace(head), "\n") {
		switch {
		case strings.HasPrefix(l, "#"):
			g.comment += l + "\n"
		case strings.HasPrefix(l, "stap-client"):
			g.args = shellWords(t, strings.TrimPrefix(l, "stap-client"))
		case strings.HasPrefix(l, "exit "):
			n, err := strconv.Atoi(strings.TrimPrefix(l, "exit "))
			require.NoError(t, err)
			g.exit = n
		default:
			t.Fatalf("unknown line %q", l)
		}
	}
	return g
}

// shellWords splits on blanks, with single quotes as in sh.
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, c := range s {
		switch {
		case quoted && c == '\'':
			quoted = false
		case quoted:
			cur.WriteRune(c)
		case c == '\'':
			quoted, inWord = true, true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(c)
			inWord = true
		}
	}
	require.False(t, quoted, "unterminated quote in %q", s)
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

func (g golden) String() string {
	var b strings.Builder
	b.WriteString(g.comment)
	b.WriteString("stap-client")
	for _, a := range g.args {
		if a == "" || strings.ContainsAny(a, " \t\"\\$") {
			a = "'" + a + "'"
		}
		b.WriteString(" " + a)
	}
	b.WriteString("\nexit " + strconv.Itoa(g.exit) + "\n-- stdout --\n" + g.stdout + "-- stderr --\n" + g.stderr)
	return b.String()
}

func placeholders(s string) string {
	return strings.NewReplacer(runtime.Version(), "$GOVERSION", runtime.GOOS+"/"+runtime.GOARCH, "$GOOS/$GOARCH").Replace(s)
}

// TestCLIGolden runs each golden command line in process, with no rc file
// and no network, and compares everything it prints.
func TestCLIGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/cli/*.txt")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			want := parseGolden(t, string(data))
			res := runEnv(t, func(e *Env) { e.Version = "0.0.0-test" }, map[string]string{DiscoveryTimeoutEnv: "100ms"}, want.args...)
			got := want
			got.exit = res.code
			got.stdout, got.stderr = placeholders(res.stdout), placeholders(res.stderr)
			if *update {
				require.NoError(t, os.WriteFile(f, []byte(got.String()), 0o644))
				return
			}
			assert.Equal(t, want.exit, got.exit, "exit status")
			assert.Equal(t, want.stdout, got.stdout, "stdout")
			assert.Equal(t, want.stderr, got.stderr, "stderr")
		})
	}
}

func TestShellWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{" -p4  -e x", []string{"-p4", "-e", "x"}},
		{" -e 'probe begin { exit() }'", []string{"-e", "probe begin { exit() }"}},
		{" ''", []string{""}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, shellWords(t, tt.in), "%q", tt.in)
	}
}

// TestHelpListsOurOptions fails when an option stap-client adds (or handles
// itself) is missing from --help.
func TestHelpListsOurOptions(t *testing.T) {
	var b bytes.Buffer
	stapmsg.Help(&b)
	for _, o := range stapargs.Options() {
		if o.Class != stapargs.ClientOwn && o.Class != stapargs.ServerControl && o.Class != stapargs.Info {
			continue
		}
		for _, s := range o.Spellings() {
			assert.Contains(t, b.String(), s, "--help does not mention %s", s)
		}
	}
}
