// SPDX-License-Identifier: GPL-2.0-or-later

package client

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/internal/testkit"
)

// Saving NAME.ko replaces what is there as stap's rename does: a link (its
// target untouched), but not a directory.
func TestRunSavesOverWhatIsThere(t *testing.T) {
	cases := []struct {
		name    string
		prepare func(t *testing.T, cwd string)
		stderr  string
		regular bool
	}{
		{name: "symlink to a file", regular: true, prepare: func(t *testing.T, cwd string) {
			require.NoError(t, os.WriteFile(filepath.Join(cwd, "target"), []byte("mine"), 0o644))
			require.NoError(t, os.Symlink("target", filepath.Join(cwd, "m.ko")))
		}},
		{name: "dangling symlink", regular: true, prepare: func(t *testing.T, cwd string) {
			require.NoError(t, os.Symlink("nowhere", filepath.Join(cwd, "m.ko")))
		}},
		{name: "directory", stderr: `^Copy failed \("/.*/stap[A-Za-z0-9]{6}/[^/]+\.ko" to "m\.ko"\): Is a directory\n$`,
			prepare: func(t *testing.T, cwd string) {
				require.NoError(t, os.Mkdir(filepath.Join(cwd, "m.ko"), 0o755))
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startFake(t, goodP4(t))
			var cwd string
			r := runEnv(t, func(e *Env) { cwd = e.Cwd; tc.prepare(t, cwd) }, nil,
				"--server="+s.Addr, "--ssl="+s.CertDir, "-p4", "-m", "m", "-e", "probe begin { exit() }")
			assert.Equal(t, 0, r.code, "stap exits 0 even when the copy fails")
			if tc.stderr == "" {
				assert.Empty(t, r.stderr)
			} else {
				assert.Regexp(t, tc.stderr, r.stderr)
			}
			fi, err := os.Lstat(filepath.Join(cwd, "m.ko"))
			require.NoError(t, err)
			assert.Equal(t, tc.regular, fi.Mode().IsRegular())
			if data, err := os.ReadFile(filepath.Join(cwd, "target")); err == nil {
				assert.Equal(t, "mine", string(data), "the link's target is untouched")
			}
		})
	}
}

// --tmpdir=DIR is DIR itself: made with its parents, kept, silently.
func TestRunTmpdirOption(t *testing.T) {
	for _, keep := range []bool{false, true} {
		s := startFake(t, goodP4(t))
		dir := filepath.Join(t.TempDir(), "a", "b")
		args := []string{"--server=" + s.Addr, "--ssl=" + s.CertDir, "-p4", "--tmpdir=" + dir, "-e", "probe begin { exit() }"}
		if keep {
			args = append(args, "-k")
		}
		r := runEnv(t, nil, nil, args...)
		require.Equal(t, 0, r.code, r.stderr)
		assert.Empty(t, r.stderr, "no Keeping line")
		assert.Subset(t, testkit.Entries(t, dir), []string{"client", "client.zip", "server", "server.zip", modName + ".ko"})
		assert.FileExists(t, filepath.Join(dir, "client", "argv1"))
		assert.Empty(t, testkit.Entries(t, r.tmp), "nothing made in TMPDIR")

		again := runEnv(t, nil, nil, args...)
		assert.Equal(t, 1, again.code)
		assert.Contains(t, again.stderr, "stap-client: ERROR: --tmpdir="+dir+" holds an earlier run's files")
	}
}

// An unusable TMPDIR gets stap's lines.
func TestRunUnusableTMPDIR(t *testing.T) {
	base := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(base, "a b"), 0o755))
	cases := map[string]string{
		filepath.Join(base, "none"): `^cannot create temporary directory \(" ` + base + `/none/stap[A-Za-z0-9]{6} "\): No such file or directory\n$`,
		filepath.Join(base, "a b"):  `^ERROR: Safety pattern mismatch for TMPDIR \('` + base + `/a b' vs\. '\^\[-/\._0-9a-z\]\+\$'\) rc=1\n$`,
	}
	for tmpdir, want := range cases {
		r := runEnv(t, nil, map[string]string{"TMPDIR": tmpdir}, "--server=127.0.0.1:1", "-p2", "-e", "probe begin {}")
		assert.Equal(t, 1, r.code)
		assert.Regexp(t, want, r.stderr)
	}
	assert.Empty(t, testkit.Entries(t, filepath.Join(base, "a b")), "the checked dir is removed")
}

// -w silences stap's warning about another kernel release.
func TestRunSuppressWarnings(t *testing.T) {
	const warning = "WARNING: kernel release/architecture mismatch with host forces last-pass 4.\n"
	for _, w := range []bool{false, true} {
		s := startFake(t, goodP4(t))
		args := []string{"--server=" + s.Addr, "--ssl=" + s.CertDir, "-r", "5.0.0-other", "-e", "probe begin { exit() }"}
		if w {
			args = append([]string{"-w"}, args...)
		}
		r := runClient(t, args...)
		require.Equal(t, 0, r.code, r.stderr)
		if w {
			assert.NotContains(t, r.stderr, warning)
		} else {
			assert.Contains(t, r.stderr, warning)
		}
	}
}
