// SPDX-License-Identifier: GPL-2.0-or-later

package request

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// machine lays out a script and a tapset tree under its own home and
// builds the request from there, as one user on one machine would.
func machine(t *testing.T, script string, tapsets map[string]string, mod func(*Spec)) []byte {
	t.Helper()
	home, err := filepath.EvalSymlinks(t.TempDir())
	require.NoError(t, err)
	proj := filepath.Join(home, "work", filepath.Base(home))
	require.NoError(t, os.MkdirAll(filepath.Join(proj, "tapsets"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(proj, "trace.stp"), []byte(script), 0o644))
	for name, body := range tapsets {
		require.NoError(t, os.WriteFile(filepath.Join(proj, "tapsets", name), []byte(body), 0o644))
	}
	spec := Spec{Release: "6.1.0-56-amd64", Arch: "x86_64", Script: filepath.Join(proj, "trace.stp"), TapsetDirs: []string{filepath.Join(proj, "tapsets")},
		ServerArgs: []string{"-p4", "-mtrace"}, ScriptArgs: []string{"42"}, Cwd: proj,
		LookupEnv: env(map[string]string{"LANG": "en_US.UTF-8", "HOME": home})}
	if mod != nil {
		mod(&spec)
	}
	req, err := Build(spec)
	require.NoError(t, err)
	return req.Key()
}

func TestKey(t *testing.T) {
	const script = "probe begin { printf(\"%s\\n\", @1); exit() }"
	taps := map[string]string{"a.stp": "function a() { return 1 }", "b.stp": "function b() { return 2 }"}
	base := machine(t, script, taps, nil)
	require.Len(t, base, 32)
	assert.Equal(t, base, machine(t, script, taps, nil), "another home and cwd, the same key")

	tests := []struct {
		name    string
		script  string
		taps    map[string]string
		mod     func(*Spec)
		samekey bool
	}{
		{"another locale", script, taps, func(s *Spec) { s.LookupEnv = env(map[string]string{"LANG": "C.UTF-8"}) }, true},
		{"relative paths from the project", script, taps, func(s *Spec) {
			s.Script, s.TapsetDirs = "trace.stp", []string{"tapsets"}
			require.NoError(t, os.Chdir(s.Cwd))
		}, true},
		{"another script", script + " ", taps, nil, false},
		{"another tapset file", script, map[string]string{"a.stp": "function a() { return 1 }", "b.stp": "function b() { return 3 }"}, nil, false},
		{"a tapset file renamed", script, map[string]string{"a.stp": "function a() { return 1 }", "c.stp": "function b() { return 2 }"}, nil, false},
		{"another release", script, taps, func(s *Spec) { s.Release = "6.1.0-57-amd64" }, false},
		{"another arch", script, taps, func(s *Spec) { s.Arch = "arm64" }, false},
		{"another option", script, taps, func(s *Spec) { s.ServerArgs = []string{"-p4", "-mother"} }, false},
		{"another script argument", script, taps, func(s *Spec) { s.ScriptArgs = []string{"43"} }, false},
		{"MOK fingerprints", script, taps, func(s *Spec) { s.MOKFingerprints = []string{"aa:bb"} }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.mod != nil {
				t.Chdir(t.TempDir()) // restored after the test
			}
			got := machine(t, tc.script, tc.taps, tc.mod)
			if tc.samekey {
				assert.Equal(t, base, got)
			} else {
				assert.NotEqual(t, base, got)
			}
		})
	}
}

// A script read from standard input, or given with -e, is keyed by its text.
func TestKeyStdinAndE(t *testing.T) {
	key := func(spec Spec) []byte {
		req, err := Build(spec)
		require.NoError(t, err)
		return req.Key()
	}
	in := func(s string) Spec { return Spec{Release: "r", Arch: "a", Script: "-", Stdin: strings.NewReader(s)} }
	assert.Equal(t, key(in("probe begin {}")), key(in("probe begin {}")))
	assert.NotEqual(t, key(in("probe begin {}")), key(in("probe end {}")))
	e := func(s string) Spec { return Spec{Release: "r", Arch: "a", ServerArgs: []string{"-e" + s}} }
	assert.Equal(t, key(e("probe begin {}")), key(e("probe begin {}")))
	assert.NotEqual(t, key(e("probe begin {}")), key(in("probe begin {}")))
}
