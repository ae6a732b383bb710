// SPDX-License-Identifier: GPL-2.0-or-later

package cache

import (
	"archive/zip"
	"context"
	"errors"
	"github.com/stap-client/stap-client/internal/testkit"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type zent struct {
	name, body string
	method     uint16
	modified   time.Time
}

func zipOf(t testing.TB, ents ...zent) []byte {
	t.Helper()
	zes := make([]testkit.ZipEntry, len(ents))
	for i, e := range ents {
		zes[i] = testkit.ZipEntry{Name: e.name, Body: e.body, Method: e.method, Modified: e.modified}
	}
	return testkit.Zip(t, zes...)
}

var baseRequest = []zent{
	{name: "argv1", body: "script/tmp/x/hello.stp"}, {name: "argv2", body: "-p4"},
	{name: "locale", body: "LANG=C.UTF-8\n"}, {name: "script/", body: ""},
	{name: "script/tmp/x/hello.stp", body: "probe begin { exit() }\n"},
	{name: "sysinfo", body: "sysinfo: 6.1.0-56-amd64 x86_64"}, {name: "version", body: "4.8"},
}

// request is baseRequest with change applied to a copy.
func request(t testing.TB, change func([]zent) []zent) []byte {
	t.Helper()
	ents := append([]zent(nil), baseRequest...)
	if change != nil {
		ents = change(ents)
	}
	return zipOf(t, ents...)
}

func set(name, body string) func([]zent) []zent {
	return func(ents []zent) []zent {
		for i := range ents {
			if ents[i].name == name {
				ents[i].body = body
				return ents
			}
		}
		return append(ents, zent{name: name, body: body})
	}
}

func TestKeyOf(t *testing.T) {
	staprun := filepath.Join(t.TempDir(), "staprun")
	require.NoError(t, os.WriteFile(staprun, []byte("staprun 4.8"), 0o755))
	base, err := KeyOf(request(t, nil), staprun)
	require.NoError(t, err)

	same := []struct {
		name string
		req  []byte
	}{
		{"deflated instead of stored", request(t, func(e []zent) []zent {
			for i := range e {
				e[i].method = zip.Deflate
			}
			return e
		})},
		{"other entry times", request(t, func(e []zent) []zent {
			for i := range e {
				e[i].modified = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
			}
			return e
		})},
		{"other entry order", request(t, func(e []zent) []zent {
			e[0], e[len(e)-1] = e[len(e)-1], e[0]
			return e
		})},
	}
	for _, tc := range same {
		t.Run("same: "+tc.name, func(t *testing.T) {
			k, err := KeyOf(tc.req, staprun)
			require.NoError(t, err)
			assert.Equal(t, base, k)
		})
	}

	differ := []struct {
		name string
		req  []byte
	}{
		{"an option", request(t, set("argv2", "-p5"))},
		{"an added option", request(t, set("argv3", "-v"))},
		{"the script", request(t, set("script/tmp/x/hello.stp", "probe begin { exit(); }\n"))},
		{"the script path", request(t, func(e []zent) []zent {
			e[4].name = "script/tmp/y/hello.stp"
			return e
		})},
		{"a tapset file", request(t, set("tapset/tmp/t/a.stp", "function f() {}\n"))},
		{"the kernel release", request(t, set("sysinfo", "sysinfo: 6.1.0-57-amd64 x86_64"))},
		{"the locale", request(t, set("locale", "LANG=de_DE.UTF-8\n"))},
		{"the protocol version", request(t, set("version", "4.9"))},
		{"MOK fingerprints", request(t, set("mok_fingerprints", "ab:cd\n"))},
		{"an entry the request gains later", request(t, set("future_entry", ""))},
		{"a name and body boundary", request(t, set("argv2", "-p4argv3"))},
	}
	for _, tc := range differ {
		t.Run("differs: "+tc.name, func(t *testing.T) {
			k, err := KeyOf(tc.req, staprun)
			require.NoError(t, err)
			assert.NotEqual(t, base, k)
		})
	}

	t.Run("differs: staprun's bytes", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "staprun")
		require.NoError(t, os.WriteFile(other, []byte("staprun 4.8"), 0o755))
		k1, err := KeyOf(request(t, nil), other)
		require.NoError(t, err)
		assert.NotEqual(t, base, k1, "another path")
		require.NoError(t, os.WriteFile(other, []byte("staprun 5.1"), 0o755))
		k2, err := KeyOf(request(t, nil), other)
		require.NoError(t, err)
		assert.NotEqual(t, k1, k2, "other bytes at the same path")
		k3, err := KeyOf(request(t, nil), filepath.Join(t.TempDir(), "none"))
		require.NoError(t, err)
		assert.NotEqual(t, k2, k3, "absent")
	})
	t.Run("not a zip", func(t *testing.T) {
		_, err := KeyOf([]byte("junk"), staprun)
		assert.Error(t, err)
	})
}

func open(t *testing.T) *Cache {
	t.Helper()
	c, err := Open(filepath.Join(t.TempDir(), "stap", DirName), os.Geteuid())
	require.NoError(t, err)
	return c
}

// result writes files into a fresh directory and lists them for Put.
func result(t testing.TB, files map[string]string) []File {
	t.Helper()
	src := t.TempDir()
	var out []File
	for name, body := range files {
		p := filepath.Join(src, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o700))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
		out = append(out, File{Name: name, Src: p})
	}
	return out
}

var moduleResult = map[string]string{
	"version": "1.6", "rc": "0\n", "stdout": "stap_1.ko\n", "stderr": "Pass 4: compiled\n",
	"stapAbCdEf/stap_1.ko": "\x7fELF module", "stapAbCdEf/stap_1.ko.sgn": "signature",
}

// readTree maps each regular file under dir to its content.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		if d.Type().IsRegular() {
			data, err := os.ReadFile(p)
			require.NoError(t, err)
			rel, _ := filepath.Rel(dir, p)
			out[filepath.ToSlash(rel)] = string(data)
		}
		return nil
	}))
	return out
}

func key(b byte) Key {
	var k Key
	for i := range k {
		k[i] = b
	}
	return k
}

func TestPutGet(t *testing.T) {
	ctx := context.Background()
	c := open(t)
	k := key(0xab)
	assert.False(t, c.Has(k))
	_, err := c.Get(ctx, k, t.TempDir())
	assert.ErrorIs(t, err, ErrMiss)

	require.NoError(t, c.Put(ctx, k, built(), result(t, moduleResult)))
	assert.True(t, c.Has(k))
	dst := t.TempDir()
	entry, err := c.Get(ctx, k, dst)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(c.dir, "ab", k.String()), entry)
	assert.Equal(t, moduleResult, readTree(t, dst), "the files come back as stored")
	_, err = c.Get(ctx, key(0xac), t.TempDir())
	assert.ErrorIs(t, err, ErrMiss, "another key misses")

	// Put replaces (--poison-cache writes over an entry).
	changed := map[string]string{"rc": "0\n", "stdout": "other\n"}
	require.NoError(t, c.Put(ctx, k, built(), result(t, changed)))
	dst = t.TempDir()
	_, err = c.Get(ctx, k, dst)
	require.NoError(t, err)
	assert.Equal(t, changed, readTree(t, dst))
	assert.Empty(t, entriesOf(t, filepath.Join(c.dir, "tmp")), "no staging or replaced entry left")

	assert.Error(t, c.Put(ctx, k, built(), []File{{Name: "../escape", Src: "/etc/hostname"}}), "names stay inside the entry")
	assert.Error(t, c.Put(ctx, k, built(), []File{{Name: "manifest", Src: "/etc/hostname"}}))
}

func entriesOf(t *testing.T, dir string) []string { return testkit.Entries(t, dir) }

func TestDamagedEntryIsRemoved(t *testing.T) {
	ctx := context.Background()
	mod := filepath.Join("stapAbCdEf", "stap_1.ko")
	tests := []struct {
		name   string
		damage func(t *testing.T, entry string)
		why    string
	}{
		{"truncated module", func(t *testing.T, e string) {
			require.NoError(t, os.Truncate(filepath.Join(e, mod), 3))
		}, "3 bytes, the manifest says 11"},
		{"empty module (a crash before the data reached the disk)", func(t *testing.T, e string) {
			require.NoError(t, os.Truncate(filepath.Join(e, mod), 0))
		}, "0 bytes"},
		{"a changed byte", func(t *testing.T, e string) {
			require.NoError(t, os.WriteFile(filepath.Join(e, mod), []byte("\x7fELF modulX"), 0o600))
		}, "SHA-256 differs"},
		{"a missing file", func(t *testing.T, e string) {
			require.NoError(t, os.Remove(filepath.Join(e, "stderr")))
		}, "no such file"},
		{"a file replaced by a link", func(t *testing.T, e string) {
			require.NoError(t, os.Remove(filepath.Join(e, "stdout")))
			require.NoError(t, os.Symlink("/etc/hostname", filepath.Join(e, "stdout")))
		}, "too many levels of symbolic links"},
		{"no manifest", func(t *testing.T, e string) {
			require.NoError(t, os.Remove(filepath.Join(e, "manifest")))
		}, "no such file"},
		{"a truncated manifest", func(t *testing.T, e string) {
			p := filepath.Join(e, "manifest")
			data, err := os.ReadFile(p)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(p, data[:len(data)-5], 0o600))
		}, "manifest"},
		{"a manifest naming a path outside", func(t *testing.T, e string) {
			f, err := os.OpenFile(filepath.Join(e, "manifest"), os.O_APPEND|os.O_WRONLY, 0)
			require.NoError(t, err)
			_, err = f.WriteString("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 ../../etc/x\n")
			require.NoError(t, err)
			require.NoError(t, f.Close())
		}, "bad line"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := open(t)
			k := key(1)
			require.NoError(t, c.Put(ctx, k, built(), result(t, moduleResult)))
			tc.damage(t, c.Path(k))
			_, err := c.Get(ctx, k, t.TempDir())
			var de *DamagedError
			require.ErrorAs(t, err, &de)
			assert.Contains(t, strings.ToLower(de.Why), strings.ToLower(tc.why))
			assert.NoDirExists(t, c.Path(k), "the damaged entry is removed")
			_, err = c.Get(ctx, k, t.TempDir())
			assert.ErrorIs(t, err, ErrMiss)
			require.NoError(t, c.Put(ctx, k, built(), result(t, moduleResult)), "and can be stored again")
			_, err = c.Get(ctx, k, t.TempDir())
			assert.NoError(t, err)
		})
	}
}

func TestEviction(t *testing.T) {
	ctx := context.Background()
	c := open(t)
	assert.Equal(t, int64(DefaultLimitMB)<<20, c.Limit(), "stap's default")
	data, err := os.ReadFile(filepath.Join(c.dir, LimitFile))
	require.NoError(t, err)
	assert.Equal(t, "256\n", string(data), "written for users to find, as stap does")

	require.NoError(t, os.WriteFile(filepath.Join(c.dir, LimitFile), []byte("1\n"), 0o600))
	big := strings.Repeat("x", 300<<10) // three fit in 1 MiB, not four
	put := func(b byte) {
		require.NoError(t, c.Put(ctx, key(b), built(), result(t, map[string]string{"m.ko": big})))
	}
	// Entries' last use is the manifest's time: set it so the test does
	// not depend on the clock's resolution.
	use := func(b byte, at time.Time) {
		require.NoError(t, os.Chtimes(filepath.Join(c.Path(key(b)), manifestName), at, at))
	}
	t0 := time.Now().Add(-time.Hour)
	put(1)
	use(1, t0)
	put(2)
	use(2, t0.Add(time.Minute))
	// A hit makes 1 the most recently used.
	_, err = c.Get(ctx, key(1), t.TempDir())
	require.NoError(t, err)
	put(3)
	use(3, t0.Add(2*time.Minute))
	assert.True(t, c.Has(key(1)) && c.Has(key(2)) && c.Has(key(3)), "within the limit")
	put(4)
	assert.False(t, c.Has(key(2)), "the least recently used goes")
	assert.True(t, c.Has(key(1)) && c.Has(key(3)) && c.Has(key(4)))

	// --clean-cache evicts now, by the limit.
	require.NoError(t, os.WriteFile(filepath.Join(c.dir, LimitFile), []byte("0"), 0o600))
	removed, err := c.Clean(ctx)
	require.NoError(t, err)
	assert.Len(t, removed, 3)
	assert.False(t, c.Has(key(1)) || c.Has(key(3)) || c.Has(key(4)))
	assert.Empty(t, entriesOf(t, filepath.Join(c.dir, "tmp")))

	require.NoError(t, os.WriteFile(filepath.Join(c.dir, LimitFile), []byte("junk"), 0o600))
	assert.Equal(t, int64(DefaultLimitMB)<<20, c.Limit(), "an unreadable limit is the default")
}

// TestConcurrentFill: eight fillers of one key and readers at the same
// time leave exactly one valid entry, and no reader sees a partial one.
func TestConcurrentFill(t *testing.T) {
	ctx := context.Background()
	c := open(t)
	k := key(7)
	files := result(t, moduleResult)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 8 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			// Each goroutine opens the cache itself, as a process would.
			c2, err := Open(c.dir, os.Geteuid())
			if err == nil {
				err = c2.Put(ctx, k, built(), files)
			}
			errs <- err
		}()
		go func() {
			defer wg.Done()
			dst, err := os.MkdirTemp(t.TempDir(), "get")
			if err == nil {
				_, err = c.Get(ctx, k, dst)
			}
			var de *DamagedError
			if errors.As(err, &de) {
				errs <- err // a reader must never see a half-made entry
			} else if err == nil && !assert.Equal(t, moduleResult, readTree(t, dst)) {
				errs <- errors.New("a reader got other content")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	assert.Equal(t, []string{k.String()}, entriesOf(t, filepath.Join(c.dir, "07")), "one entry")
	assert.Empty(t, entriesOf(t, filepath.Join(c.dir, "tmp")), "nothing left in tmp")
	dst := t.TempDir()
	_, err := c.Get(ctx, k, dst)
	require.NoError(t, err)
	assert.Equal(t, moduleResult, readTree(t, dst))
}

func TestOpenPermissions(t *testing.T) {
	uid := os.Geteuid()
	t.Run("made private", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "new", DirName)
		_, err := Open(dir, uid)
		require.NoError(t, err)
		for _, d := range []string{filepath.Dir(dir), dir, filepath.Join(dir, "tmp")} {
			fi, err := os.Stat(d)
			require.NoError(t, err)
			assert.Equal(t, fs.FileMode(0o700), fi.Mode().Perm(), d)
		}
	})
	t.Run("readable by others is tightened", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), DirName)
		require.NoError(t, os.Mkdir(dir, 0o755))
		require.NoError(t, os.Chmod(dir, 0o755))
		_, err := Open(dir, uid)
		require.NoError(t, err)
		fi, err := os.Stat(dir)
		require.NoError(t, err)
		assert.Equal(t, fs.FileMode(0o700), fi.Mode().Perm())
	})
	t.Run("sticky world-writable parent is fine", func(t *testing.T) {
		parent := t.TempDir()
		require.NoError(t, os.Chmod(parent, 0o777|fs.ModeSticky))
		_, err := Open(filepath.Join(parent, DirName), uid)
		assert.NoError(t, err)
	})

	refused := []struct {
		name  string
		setup func(t *testing.T, dir string)
		uid   int
		want  string
	}{
		{"writable by others", func(t *testing.T, dir string) {
			require.NoError(t, os.Mkdir(dir, 0o700))
			require.NoError(t, os.Chmod(dir, 0o777))
		}, uid, "is writable by others"},
		{"writable by the group", func(t *testing.T, dir string) {
			require.NoError(t, os.Mkdir(dir, 0o700))
			require.NoError(t, os.Chmod(dir, 0o770))
		}, uid, "is writable by others"},
		{"owned by someone else", func(t *testing.T, dir string) {
			require.NoError(t, os.Mkdir(dir, 0o700))
		}, uid + 4242, "belongs to uid"},
		{"a link", func(t *testing.T, dir string) {
			require.NoError(t, os.Symlink(t.TempDir(), dir))
		}, uid, "is not a directory"},
		{"a parent writable by others", func(t *testing.T, dir string) {
			require.NoError(t, os.Chmod(filepath.Dir(dir), 0o777))
		}, uid, "is writable by others"},
	}
	for _, tc := range refused {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), DirName)
			tc.setup(t, dir)
			_, err := Open(dir, tc.uid)
			var ue *UnsafeError
			require.ErrorAs(t, err, &ue)
			assert.Contains(t, ue.Error(), tc.want)
		})
	}
	t.Run("refused: another user's parent", func(t *testing.T) {
		parent := t.TempDir()
		require.NoError(t, os.Chown(parent, 4242, 4242))
		_, err := Open(filepath.Join(parent, DirName), uid)
		var ue *UnsafeError
		require.ErrorAs(t, err, &ue)
		assert.Contains(t, ue.Error(), "belongs to uid 4242")
	})
}

func TestDir(t *testing.T) {
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	assert.Equal(t, "/s/client-cache", Dir(env(map[string]string{"SYSTEMTAP_DIR": "/s", "HOME": "/h"})))
	assert.Equal(t, "/h/.systemtap/client-cache", Dir(env(map[string]string{"HOME": "/h"})))
	assert.Equal(t, "/h/.systemtap/client-cache", Dir(env(map[string]string{"SYSTEMTAP_DIR": "", "HOME": "/h"})))
}
