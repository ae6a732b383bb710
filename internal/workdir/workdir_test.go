// SPDX-License-Identifier: GPL-2.0-or-later

package workdir

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/internal/stapmsg"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestMake(t *testing.T) {
	base := t.TempDir()
	spaced := filepath.Join(base, "a b")
	require.NoError(t, os.Mkdir(spaced, 0o700))
	reused := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(reused, "client.zip"), nil, 0o600))
	tests := []struct {
		name    string
		opt     Options
		wantErr string
		check   func(t *testing.T, d *Dir)
	}{
		{name: "TMPDIR/stapXXXXXX, private", opt: Options{LookupEnv: env(map[string]string{"TMPDIR": base})},
			check: func(t *testing.T, d *Dir) {
				assert.Regexp(t, `^`+base+`/stap[A-Za-z0-9]{6}$`, d.Path)
				fi, err := os.Stat(d.Path)
				require.NoError(t, err)
				assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
			}},
		{name: "TMPDIR that does not exist", opt: Options{LookupEnv: env(map[string]string{"TMPDIR": base + "/none"})},
			wantErr: "cannot create temporary directory (\" " + base + "/none/stap"},
		{name: "TMPDIR failing stap's safety pattern", opt: Options{LookupEnv: env(map[string]string{"TMPDIR": spaced})},
			wantErr: "ERROR: Safety pattern mismatch for TMPDIR ('" + spaced + "'"},
		{name: "--tmpdir made with its client dir", opt: Options{Given: "given", Cwd: base},
			check: func(t *testing.T, d *Dir) {
				assert.Equal(t, filepath.Join(base, "given"), d.Path)
				assert.DirExists(t, filepath.Join(base, "given", "client"))
				assert.True(t, d.Kept())
			}},
		{name: "--tmpdir of an earlier run refused", opt: Options{Given: reused},
			wantErr: "holds an earlier run's files (client.zip)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			d, err := Make(tt.opt, stapmsg.New(&b, 0))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			tt.check(t, d)
		})
	}
}

func TestRemove(t *testing.T) {
	for _, keep := range []bool{false, true} {
		var b bytes.Buffer
		d, err := Make(Options{Keep: keep, LookupEnv: env(map[string]string{"TMPDIR": t.TempDir()})}, stapmsg.New(&b, 0))
		require.NoError(t, err)
		d.Remove()
		if keep {
			assert.DirExists(t, d.Path)
			assert.Equal(t, "Keeping temporary directory \""+d.Path+"\"\n", b.String())
		} else {
			assert.NoDirExists(t, d.Path)
			assert.Empty(t, b.String())
		}
	}
	var nothing *Dir
	nothing.Remove() // a run that made none
}

func TestCopyFileReplacesALinkNotItsTarget(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.ko")
	target := filepath.Join(dir, "target")
	require.NoError(t, os.WriteFile(src, []byte("module"), 0o600))
	require.NoError(t, os.WriteFile(target, []byte("mine"), 0o600))
	dst := filepath.Join(dir, "hello.ko")
	require.NoError(t, os.Symlink(target, dst))
	require.NoError(t, CopyFile(src, dst, "hello.ko"))
	got, err := os.ReadFile(dst)
	require.NoError(t, err)
	assert.Equal(t, "module", string(got))
	mine, err := os.ReadFile(target)
	require.NoError(t, err)
	assert.Equal(t, "mine", string(mine), "the link's target is untouched")

	err = CopyFile(src, dir, "here")
	require.Error(t, err)
	assert.Equal(t, `Copy failed ("`+src+`" to "here"): Is a directory`, err.Error())
}

func TestSaveSigningKeyNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(t.TempDir(), SigningKeyName)
	require.NoError(t, os.WriteFile(src, []byte("key"), 0o600))
	var b bytes.Buffer
	out := stapmsg.New(&b, 0)
	assert.Equal(t, SigningKeyName, SaveSigningKey(out, src, dir))
	assert.Equal(t, SigningKeyName, SaveSigningKey(out, src, dir), "the same key again")
	require.NoError(t, os.WriteFile(filepath.Join(dir, SigningKeyName), []byte("other"), 0o600))
	assert.Regexp(t, `^signing_key-[0-9a-f]{8}\.x509$`, SaveSigningKey(out, src, dir))
	assert.Empty(t, b.String())
}

func TestServerMOK(t *testing.T) {
	src := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(src, []byte("DER key"), 0o644))
	tests := []struct {
		name        string
		cannotEnrol error
		wantFiles   []string
		wantAdvice  string
	}{
		{"an EFI host: saved, enrol it", nil, []string{SigningKeyName},
			"the module could not be signed with a key this host trusts: the server has no MOK in common with it; " +
				"enrol the server's key with 'sudo mokutil --import signing_key.x509', reboot and confirm it in the MOK manager, then run this command again"},
		{"a host without EFI: nothing saved, no mokutil", errors.New("this host cannot enrol a machine owner key: why"), nil,
			"the module could not be signed with a key this host trusts: the server has no MOK in common with it, and " +
				"this host cannot enrol a machine owner key: why; the server's 'mokutil --import' advice does not apply here: " +
				"the module must be signed by a key this kernel already trusts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var b bytes.Buffer
			assert.Equal(t, tt.wantAdvice, ServerMOK(stapmsg.New(&b, 0), src, dir, tt.cannotEnrol))
			assert.Empty(t, b.String(), "nothing printed")
			var files []string
			ents, err := os.ReadDir(dir)
			require.NoError(t, err)
			for _, e := range ents {
				files = append(files, e.Name())
			}
			assert.Equal(t, tt.wantFiles, files)
		})
	}
	// A key that cannot be saved: reported, no advice.
	var b bytes.Buffer
	assert.Empty(t, ServerMOK(stapmsg.New(&b, 0), src+".none", t.TempDir(), nil))
	assert.NotEmpty(t, b.String())
}
