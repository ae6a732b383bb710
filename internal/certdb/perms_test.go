// SPDX-License-Identifier: GPL-2.0-or-later

package certdb

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stap5Layout makes $SYSTEMTAP_DIR/ssl/client as stap 5.x leaves it (its
// umask bug): directories 0777, files 0666, the database trusting
// testdata/server.der. It returns the location.
func stap5Layout(t *testing.T) Location {
	t.Helper()
	base := filepath.Join(t.TempDir(), "my .systemtap") // a space: the fix must quote
	dir := filepath.Join(base, "ssl", "client")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for _, f := range []string{"cert9.db", "key4.db"} {
		data, err := os.ReadFile(filepath.Join("testdata/db/trusted", f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), data, 0o644))
		require.NoError(t, os.Chmod(filepath.Join(dir, f), 0o666))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pkcs11.txt"), nil, 0o600))
	for _, d := range []string{base, filepath.Join(base, "ssl"), dir} {
		require.NoError(t, os.Chmod(d, 0o777))
	}
	return Location{Dir: dir, Kind: KindPrivate, Base: base}
}

var dbFiles = []string{"cert9.db", "key4.db"}

func TestChain(t *testing.T) {
	tests := []struct {
		l    Location
		want []string
	}{
		{Location{Dir: "/h/.systemtap/ssl/client", Base: "/h/.systemtap"}, []string{"/h/.systemtap", "/h/.systemtap/ssl", "/h/.systemtap/ssl/client"}},
		{Location{Dir: "/etc/systemtap/staprun", Base: "/etc/systemtap/"}, []string{"/etc/systemtap", "/etc/systemtap/staprun"}},
		{Location{Dir: "/d"}, []string{"/d"}},
		{Location{Dir: "/d", Base: "/d"}, []string{"/d"}},
		{Location{Dir: "/a/b", Base: "/x"}, []string{"/a/b"}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, chain(tt.l), "%+v", tt.l)
	}
}

// TestStap5DatabaseRefusedThenFixed: a database as stap 5.x leaves it is
// refused, every loose path is named, and the one printed command makes it
// usable. Fixing only part of it is not enough.
func TestStap5DatabaseRefusedThenFixed(t *testing.T) {
	l := stap5Layout(t)
	uid := os.Getuid()
	base := l.Base
	problems, fatal := CheckPermissions(l, dbFiles, uid)
	assert.True(t, fatal)
	joined := strings.Join(problems, "\n")
	for _, p := range []string{base, filepath.Join(base, "ssl")} {
		assert.Contains(t, joined, "Directory '"+p+"' above certificate database '"+l.Dir+"' must not be writable by others")
	}
	assert.Contains(t, joined, "Certificate database '"+l.Dir+"' must not be writable by the group")
	assert.Contains(t, joined, "Certificate database '"+l.Dir+"/cert9.db' must not be writable by others")

	fix := FixCommand(l, dbFiles, uid)
	q := func(s string) string { return "'" + base + s + "'" }
	assert.Equal(t, "chmod go-w "+q("")+" "+q("/ssl")+" "+q("/ssl/client")+" "+q("/ssl/client/cert9.db")+" "+q("/ssl/client/key4.db"), fix)

	var warned []string
	stores := Load(context.Background(), []Location{l}, uid, func(w string) { warned = append(warned, w) })
	assert.Empty(t, stores)
	require.NotEmpty(t, warned)
	assert.Equal(t, "Unable to use certificate database '"+l.Dir+"' due to errors; fix it with: "+fix, warned[len(warned)-1])

	// Half a fix (the database directory only) still refuses it.
	require.NoError(t, os.Chmod(l.Dir, 0o755))
	_, fatal = CheckPermissions(l, dbFiles, uid)
	assert.True(t, fatal)

	out, err := exec.Command("sh", "-c", fix).CombinedOutput()
	require.NoError(t, err, "%s", out)
	problems, fatal = CheckPermissions(l, dbFiles, uid)
	assert.False(t, fatal)
	assert.Empty(t, problems)
	assert.Empty(t, FixCommand(l, dbFiles, uid))
	stores = Load(context.Background(), []Location{l}, uid, func(w string) { t.Errorf("unexpected warning: %s", w) })
	require.Len(t, stores, 1)
	assert.True(t, stores[0].Trusts(readDER(t, "server.der")))
}

// TestTighten: what the user owns loses group/other write, nothing else
// changes, symbolic links are not followed, and a second run changes
// nothing.
func TestTighten(t *testing.T) {
	l := stap5Layout(t)
	outside := filepath.Join(t.TempDir(), "outside")
	require.NoError(t, os.WriteFile(outside, nil, 0o666))
	require.NoError(t, os.Chmod(outside, 0o666))
	require.NoError(t, os.Symlink(outside, filepath.Join(l.Dir, "link")))

	changed, err := Tighten(l, os.Getuid())
	require.NoError(t, err)
	assert.Equal(t, []string{l.Base, filepath.Join(l.Base, "ssl"), l.Dir,
		filepath.Join(l.Dir, "cert9.db"), filepath.Join(l.Dir, "key4.db")}, changed)
	mode := func(p string) os.FileMode {
		fi, err := os.Lstat(p)
		require.NoError(t, err)
		return fi.Mode().Perm()
	}
	assert.Equal(t, os.FileMode(0o755), mode(l.Base))
	assert.Equal(t, os.FileMode(0o755), mode(l.Dir))
	assert.Equal(t, os.FileMode(0o644), mode(filepath.Join(l.Dir, "cert9.db")))
	assert.Equal(t, os.FileMode(0o600), mode(filepath.Join(l.Dir, "pkcs11.txt")))
	assert.Equal(t, os.FileMode(0o666), mode(outside), "a symlink's target is not ours to change")
	problems, fatal := CheckPermissions(l, dbFiles, os.Getuid())
	assert.False(t, fatal, problems)

	changed, err = Tighten(l, os.Getuid())
	require.NoError(t, err)
	assert.Empty(t, changed)
}

// TestTightenOnlyOwn: as root, a directory that belongs to another user is
// left alone (and the database stays refused, with no chmod to offer).
func TestTightenOnlyOwn(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to give a file to another user (CI runs as root)")
	}
	l := stap5Layout(t)
	require.NoError(t, os.Chown(l.Dir, 4242, 4242))
	changed, err := Tighten(l, 0)
	require.NoError(t, err)
	assert.NotContains(t, changed, l.Dir)
	_, fatal := CheckPermissions(l, dbFiles, 0)
	assert.True(t, fatal)
	assert.Empty(t, FixCommand(l, dbFiles, 0))
}

func TestShellQuote(t *testing.T) {
	assert.Equal(t, "/home/u/.systemtap", shellQuote("/home/u/.systemtap"))
	assert.Equal(t, `'/a b'`, shellQuote("/a b"))
	assert.Equal(t, `'/it'\''s'`, shellQuote("/it's"))
}
