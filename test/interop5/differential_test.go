// SPDX-License-Identifier: GPL-2.0-or-later

package interop5

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/test/labenv"
)

// trustedHome is a HOME inside s's chroot whose database trusts s's
// server, written by stap-client's --trust-servers (the 5.1 client cannot
// add trust with current NSS; the cross checks are in trust_test.go).
func trustedHome(t *testing.T, s server) string {
	t.Helper()
	home, _ := chrootDir(t, s, "home")
	cwd, _ := chrootDir(t, s, "cwd")
	add := ours(t, cwd, home, "", "--server="+s.addr(), "--trust-servers=ssl,no-prompt")
	require.Equal(t, 0, add.code, add.stderr)
	return home
}

// TestDifferential5 runs the main cases of test/interop through each
// release's own real stap client (in its chroot) and through stap-client,
// against that release's real server, in the same directory with the
// same trust, and requires the same stdout, stderr, exit status and files.
// Normalizations: labenv.Normalize's (temp dir names, timings and memory
// figures, Debian's "Tip: README.Debian" line) and one of the lab's: the
// real stap runs inside the chroot, so the paths stap-client prints carry
// the chroot's directory in front. Nothing 5.x-specific.
func TestDifferential5(t *testing.T) {
	for _, s := range lab5.servers {
		t.Run(s.suite, func(t *testing.T) {
			home := trustedHome(t, s)
			var cases []labenv.Case
			for _, c := range labenv.Cases(s.release) {
				if !c.Lab48 {
					cases = append(cases, c)
				}
			}
			if s.version >= "5.6" {
				cases = append(cases, labenv.Case{Name: "--semantic-keep-going", Args: []string{"--semantic-keep-going", "-r", s.release, "-p2", "-e",
					"probe begin { x = nosuchfunc() } probe end { y = nosuchfunc2() }"}})
			}
			cwd, _ := chrootDir(t, s, "cwd")
			labenv.WriteFixtures(t, cwd)
			for _, tc := range cases {
				t.Run(tc.Name, func(t *testing.T) {
					labenv.RemoveProducts(t, cwd)
					real := stap(t, s, cwd, home, tc.Stdin, append([]string{"--use-server=" + s.addr()}, tc.Args...)...)
					labenv.RemoveProducts(t, cwd)
					got := ours(t, cwd, home, tc.Stdin, append([]string{"--server=" + s.addr()}, tc.Args...)...)
					got.stdout = strings.ReplaceAll(got.stdout, s.root+"/", "/")
					got.stderr = strings.ReplaceAll(got.stderr, s.root+"/", "/")
					assert.Equal(t, labenv.Normalize(real.stdout), labenv.Normalize(got.stdout), "stdout")
					assert.Equal(t, labenv.Normalize(real.stderr), labenv.Normalize(got.stderr), "stderr")
					assert.Equal(t, real.code, got.code, "exit status")
					assert.Equal(t, real.files, got.files, "files left in the cwd")
					if tc.Module {
						labenv.SavedModule(t, cwd, got.files)
					}
				})
			}
		})
	}
}

// TestOptionsAgainst56: --semantic-keep-going reaches a 5.6 server and
// its SEMANTIC_ERROR catalog comes back; --se is ambiguous for stap-client
// (5.6's semantic-keep-going and our --server) where stap 5.6 takes it
// for --semantic-keep-going.
func TestOptionsAgainst56(t *testing.T) {
	s := lab5.server(t, "sid")
	home := trustedHome(t, s)
	cwd, _ := chrootDir(t, s, "cwd")
	labenv.WriteFixtures(t, cwd)
	got := ours(t, cwd, home, "", "--server="+s.addr(), "--semantic-keep-going", "-r", s.release, "-p2", "-e",
		"probe begin { x = nosuchfunc() }")
	assert.Equal(t, 1, got.code)
	assert.Contains(t, got.stderr, "SEMANTIC_ERRORS: ")
	assert.Contains(t, got.stderr, "SEMANTIC_ERRORS_END")
	ok := ours(t, cwd, home, "", "--server="+s.addr(), "--semantic-keep-going", "-r", s.release, "-p2", "hello.stp")
	assert.Equal(t, 0, ok.code, ok.stderr)
	assert.Contains(t, ok.stdout, "begin")

	se := ours(t, cwd, home, "", "--se=x", "hello.stp")
	assert.Equal(t, 1, se.code)
	assert.Contains(t, se.stderr, "stap-client: option '--se=x' is ambiguous; possibilities: '--semantic-keep-going' '--server'\n")
	// stap 5.6 itself lists only its own; ours adds --server and --ssl.
	real := stap(t, s, cwd, home, "", "--s")
	mine := ours(t, cwd, home, "", "--s")
	want := strings.Replace(strings.Replace(real.stderr, "stap: ", "stap-client: ", 1), "'--semantic-keep-going'\n", "'--semantic-keep-going' '--server' '--ssl'\n", 1)
	// Our usage hint points to our own page (a listed difference).
	want = strings.Replace(want, "[man stap]", "[man stap-client]", 1)
	assert.Equal(t, want, mine.stderr)
	assert.Equal(t, real.code, mine.code)
}
