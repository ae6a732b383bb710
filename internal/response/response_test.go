// SPDX-License-Identifier: GPL-2.0-or-later

package response

import (
	"bytes"
	"context"
	"github.com/stap-client/stap-client/internal/testkit"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type zent struct {
	name string
	body string
	mode fs.FileMode // 0 means a 0644 file
}

func writeZip(t *testing.T, ents []zent) string {
	t.Helper()
	zes := make([]testkit.ZipEntry, len(ents))
	for i, e := range ents {
		zes[i] = testkit.ZipEntry{Name: e.name, Body: e.body, Mode: e.mode}
	}
	return testkit.WriteFile(t, "server.zip", testkit.ServerZip(t, zes...))
}

// snapshot lists every path under dir, to prove nothing was written elsewhere.
func snapshot(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, rel)
		return nil
	}))
	return out
}

func TestUnpackRefusesHostileEntries(t *testing.T) {
	tests := []struct {
		name string
		ents []zent
		lim  Limits
		want string
	}{
		{"absolute path", []zent{{name: "/etc/evil", body: "x"}}, DefaultLimits, "not a relative path"},
		{"dot-dot", []zent{{name: "a/../../evil", body: "x"}}, DefaultLimits, "contains .."},
		{"dot-dot alone", []zent{{name: "..", body: "x"}}, DefaultLimits, "contains .."},
		{"backslash", []zent{{name: `..\evil`, body: "x"}}, DefaultLimits, "not a relative path"},
		{"link to absolute", []zent{{name: "l", body: "/etc", mode: fs.ModeSymlink | 0o777}}, DefaultLimits, "link leads out"},
		{"link up", []zent{{name: "d/l", body: "../../x", mode: fs.ModeSymlink | 0o777}}, DefaultLimits, "link leads out"},
		{"write through a link", []zent{
			{name: "stap000000/", mode: fs.ModeDir | 0o755},
			{name: "l", body: "stap000000", mode: fs.ModeSymlink | 0o777},
			{name: "l/x", body: "x"},
		}, DefaultLimits, "lies under a link"},
		{"duplicate entry", []zent{{name: "rc", body: "0"}, {name: "rc", body: "1"}}, DefaultLimits, "file exists"},
		{"device", []zent{{name: "dev", mode: fs.ModeDevice | 0o644}}, DefaultLimits, "not a regular file"},
		{"too many entries", []zent{{name: "a", body: "1"}, {name: "b", body: "2"}, {name: "c", body: "3"}}, Limits{MaxEntries: 2, MaxBytes: 100}, "the reply has more than 2 entries"},
		{"too many bytes", []zent{{name: "big", body: strings.Repeat("z", 1000)}}, Limits{MaxEntries: 10, MaxBytes: 999}, "the reply unpacks to more than 999 bytes"},
		{"entries add up past the budget", []zent{{name: "a", body: strings.Repeat("a", 600)}, {name: "b", body: strings.Repeat("b", 600)}}, Limits{MaxEntries: 10, MaxBytes: 1000}, "the reply unpacks to more than 1000 bytes"},
		{"long names", []zent{{name: strings.Repeat("n", 600)}, {name: strings.Repeat("m", 600)}}, Limits{MaxEntries: 4, MaxBytes: 1000}, "list of entries is larger than 1K"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			zp := writeZip(t, tc.ents)
			root := t.TempDir()
			dest := filepath.Join(root, "server")
			require.NoError(t, os.Mkdir(dest, 0o700))
			err := Unpack(context.Background(), zp, dest, tc.lim)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			for _, p := range snapshot(t, root) {
				assert.True(t, p == "." || p == "server" || strings.HasPrefix(p, "server/"), "written outside: %s", p)
			}
		})
	}
}

func TestUnpackEmptyIsNoReply(t *testing.T) {
	p := filepath.Join(t.TempDir(), "server.zip")
	require.NoError(t, os.WriteFile(p, nil, 0o600))
	assert.ErrorIs(t, Unpack(context.Background(), p, t.TempDir(), DefaultLimits), ErrEmpty)
}

func TestUnpackAllowsInsideLink(t *testing.T) {
	zp := writeZip(t, []zent{{name: "a/f", body: "x"}, {name: "a/l", body: "f", mode: fs.ModeSymlink | 0o777}})
	dest := t.TempDir()
	require.NoError(t, Unpack(context.Background(), zp, dest, DefaultLimits))
	b, err := os.ReadFile(filepath.Join(dest, "a/l"))
	require.NoError(t, err)
	assert.Equal(t, "x", string(b))
}

func unpacked(t *testing.T, ents []zent) string {
	t.Helper()
	dest := t.TempDir()
	require.NoError(t, Unpack(context.Background(), writeZip(t, ents), dest, DefaultLimits))
	return dest
}

func TestProcess(t *testing.T) {
	const mod = "stap_d965f58788ff05659d7b681d4db76a16_947"
	p4 := []zent{
		{name: "rc", body: "0"}, {name: "stderr", body: "warn\n"}, {name: "version", body: "4.8"},
		{name: "stdout", body: "out\n/var/cache/x/" + mod + ".ko\nnot.ko here\n"},
		{name: "stap000000/", mode: fs.ModeDir | 0o755},
		{name: "stap000000/" + mod + ".ko", body: "ELF"},
		{name: "stap000000/" + mod + ".ko.sgn", body: "SIG"},
		{name: "stap000000/.hidden.ko", body: "no"},
	}
	t.Run("pass 4 module", func(t *testing.T) {
		res, err := Process(unpacked(t, p4), Options{LastPass: 4, HaveScript: true})
		require.NoError(t, err)
		assert.Equal(t, 0, res.RC)
		assert.Equal(t, "4.8", res.ServerVersion)
		assert.Equal(t, "out\nnot.ko here\n", stdout(t, res), "only whole lines ending in .ko go")
		assert.Equal(t, "warn\n", stderr(t, res))
		assert.Equal(t, mod, res.ModuleName)
		assert.Equal(t, mod+".ko", filepath.Base(res.ModulePath))
		assert.Empty(t, res.Messages)
	})
	t.Run("-m name wins", func(t *testing.T) {
		res, err := Process(unpacked(t, p4), Options{LastPass: 4, HaveScript: true, ModuleName: "mymod"})
		require.NoError(t, err)
		assert.Equal(t, "mymod", res.ModuleName)
	})
	t.Run("no module", func(t *testing.T) {
		res, err := Process(unpacked(t, []zent{{name: "rc", body: "0"}, {name: "version", body: "4.8"}, {name: "stdout"}, {name: "stderr"}}), Options{LastPass: 4, HaveScript: true})
		require.NoError(t, err)
		assert.Equal(t, 1, res.RC)
		assert.Equal(t, []string{"No module was returned by the server."}, res.Messages)
	})
	t.Run("pass 2 ignores modules", func(t *testing.T) {
		res, err := Process(unpacked(t, p4), Options{LastPass: 2, HaveScript: true})
		require.NoError(t, err)
		assert.Empty(t, res.ModulePath)
	})
	t.Run("version only: unsupported kernel", func(t *testing.T) {
		dir := unpacked(t, []zent{{name: "version", body: "4.8"}})
		_, err := Process(dir, Options{LastPass: 4, HaveScript: true})
		var re *ReadError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, "Unable to open file '"+filepath.Join(dir, "rc")+"' for reading: No such file or directory", re.Msg)
	})
	t.Run("two build dirs", func(t *testing.T) {
		_, err := Process(unpacked(t, []zent{{name: "rc", body: "0"}, {name: "stap000000/", mode: fs.ModeDir | 0o755}, {name: "stap000001/", mode: fs.ModeDir | 0o755}}), Options{LastPass: 4})
		var re *ReadError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, "Incorrect number of files in server response", re.Msg)
	})
	t.Run("old server", func(t *testing.T) {
		res, err := Process(unpacked(t, []zent{{name: "rc", body: "1"}, {name: "stderr", body: "Keeping temporary directory \"/x\"\nerr\n"}}), Options{LastPass: 2})
		require.NoError(t, err)
		assert.Equal(t, "1.0", res.ServerVersion)
		assert.Equal(t, "err\n", stderr(t, res))
		assert.Equal(t, 1, res.RC)
		assert.Len(t, res.Messages, 2)
	})
	t.Run("uprobes and signing key", func(t *testing.T) {
		ents := append([]zent{}, p4...)
		ents = append(ents, zent{name: "stap000000/uprobes/uprobes.ko", body: "U"}, zent{name: "signing_key.x509", body: "K"})
		res, err := Process(unpacked(t, ents), Options{LastPass: 4, HaveScript: true})
		require.NoError(t, err)
		assert.Equal(t, "uprobes.ko", filepath.Base(res.UprobesPath))
		assert.Equal(t, "signing_key.x509", filepath.Base(res.SigningKey))
	})
}

func stdout(t *testing.T, res *Result) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, res.WriteStdout(context.Background(), &b))
	return b.String()
}

func stderr(t *testing.T, res *Result) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, res.WriteStderr(context.Background(), &b))
	return b.String()
}
