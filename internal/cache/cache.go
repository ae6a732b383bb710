// SPDX-License-Identifier: GPL-2.0-or-later

// Package cache keeps successful compile-server results on the local disk,
// so that a repeated run is answered without any network: the module, its
// signature, the server's output, under $SYSTEMTAP_DIR/client-cache.
//
// Layout: <dir>/<first two hex digits of the key>/<key>/ holds the files
// of one result at their paths in the server's response, a record of the
// server that built it (Builder), and a manifest naming each file with its
// size and SHA-256. An entry is made in <dir>/tmp and
// renamed into place whole, so it is never seen half written; it is
// verified against its manifest while it is copied out, and a damaged one
// is removed. <dir>/lock serialises replacing and removing entries between
// processes (flock: shared while copying out, exclusive while changing).
// The size is bounded by <dir>/cache_mb_limit (stap's file name and
// default), least recently used entries going first.
package cache

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	// DirName is the cache's directory under $SYSTEMTAP_DIR; stap's own
	// local cache is "cache", whose cleaner must not see ours.
	DirName = "client-cache"
	// LimitFile holds the size limit in MiB, as stap's cache_mb_limit.
	LimitFile = "cache_mb_limit"
	// DefaultLimitMB is stap's default.
	DefaultLimitMB = 256

	manifestName   = "manifest"
	manifestHeader = "stap-client cache entry 2"
	// oldHeader is the manifest of an entry with no builder record.
	oldHeader = "stap-client cache entry 1"
	// staleAfter is when a leftover of a killed process in tmp is removed.
	staleAfter = time.Hour
	// lockWait bounds waiting for another process; the cache is an
	// optimisation, never a reason to hang.
	lockWait = 5 * time.Second
)

// ErrMiss is returned by Get when there is no entry for the key.
var ErrMiss = errors.New("not in the cache")

// errOldEntry is readManifest's word for an older stap-client's entry.
var errOldEntry = errors.New("an older stap-client's entry")

// DamagedError is returned by Get for an entry that failed verification;
// the entry has been removed.
type DamagedError struct {
	Entry, Why string
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("removed the damaged cache entry %s: %s", e.Entry, e.Why)
}

// UnsafeError refuses a cache directory that others could change.
type UnsafeError struct {
	Dir, Why, Hint string
}

func (e *UnsafeError) Error() string {
	return fmt.Sprintf("%s %s; %s", e.Dir, e.Why, e.Hint)
}

// Dir is $SYSTEMTAP_DIR/client-cache, by default ~/.systemtap/client-cache
// (the passwd entry's home when HOME is unset), as stap finds its data
// directory.
func Dir(lookup func(string) (string, bool)) string {
	if d, ok := lookup("SYSTEMTAP_DIR"); ok && d != "" {
		return filepath.Join(d, DirName)
	}
	home, ok := lookup("HOME")
	if !ok || home == "" {
		if u, err := user.Current(); err == nil {
			home = u.HomeDir
		}
	}
	return filepath.Join(home, ".systemtap", DirName)
}

// Cache is an opened, checked cache directory.
type Cache struct {
	dir string
}

// Open makes the cache directory if needed (0700, like its parent when that
// is missing) and checks that only uid (and root) can change it: the
// directory must be uid's, a real directory, and not writable by others;
// its parent must be uid's or root's and not writable by others unless
// sticky. A directory that others could read is made private.
func Open(dir string, uid int) (*Cache, error) {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", parent, err)
	}
	fi, err := os.Stat(parent)
	if err != nil {
		return nil, err
	}
	if o := owner(fi); o != uid && o != 0 {
		return nil, &UnsafeError{parent, fmt.Sprintf("belongs to uid %d, not to you (uid %d)", o, uid), "set SYSTEMTAP_DIR to a directory of your own"}
	}
	if fi.Mode().Perm()&0o022 != 0 && fi.Mode()&fs.ModeSticky == 0 {
		return nil, &UnsafeError{parent, "is writable by others", "chmod go-w it"}
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	fi, err = os.Lstat(dir)
	if err != nil {
		return nil, err
	}
	switch {
	case !fi.IsDir():
		return nil, &UnsafeError{dir, "is not a directory", "remove it"}
	case owner(fi) != uid:
		return nil, &UnsafeError{dir, fmt.Sprintf("belongs to uid %d, not to you (uid %d)", owner(fi), uid), "remove it or set SYSTEMTAP_DIR to a directory of your own"}
	case fi.Mode().Perm()&0o022 != 0:
		return nil, &UnsafeError{dir, "is writable by others, who could have put anything in it", "remove it"}
	case fi.Mode().Perm()&0o077 != 0:
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("making %s private: %w", dir, err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "tmp"), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("creating %s: %w", filepath.Join(dir, "tmp"), err)
	}
	return &Cache{dir: dir}, nil
}

func owner(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}

// Path is the directory of k's entry.
func (c *Cache) Path(k Key) string {
	s := k.String()
	return filepath.Join(c.dir, s[:2], s)
}

// Has reports whether an entry for k exists, without verifying it.
func (c *Cache) Has(k Key) bool {
	_, err := os.Lstat(filepath.Join(c.Path(k), manifestName))
	return err == nil
}

// File is one file of a result: Name is its slash-separated path in the
// entry (and in the response), Src where it is read from when stored.
type File struct {
	Name string
	Src  string
}

// manifestLine is one file of an entry.
type manifestLine struct {
	sum  [sha256.Size]byte
	size int64
	name string
}

// Get copies k's entry into dst (an existing private directory), verifying
// every file against the manifest as it goes, and returns the entry's
// directory. ErrMiss: no entry (ErrNoBuilder: an older entry, removed).
// *DamagedError: the entry was removed. On any error dst may hold part of
// the files.
func (c *Cache) Get(ctx context.Context, k Key, dst string) (string, error) {
	return c.GetFrom(ctx, k, dst, nil)
}

// GetFrom is Get that first shows the entry's builder to accept, when not
// nil, before anything is copied: if accept returns an error, GetFrom
// returns it, dst stays empty and the entry stays (Remove it if it must
// go). accept runs under the cache's shared lock and must not call the
// Cache.
func (c *Cache) GetFrom(ctx context.Context, k Key, dst string, accept func(Builder) error) (string, error) {
	e, err := c.openEntry(ctx, k)
	if err != nil {
		return "", err
	}
	if accept != nil {
		if err := accept(e.builder); err != nil {
			e.lk.unlock()
			return "", err
		}
	}
	why := copyOut(e.path, e.lines, dst)
	if why == "" {
		// The manifest's time is the entry's last use, for eviction.
		now := time.Now()
		_ = os.Chtimes(filepath.Join(e.path, manifestName), now, now)
	}
	e.lk.unlock()
	if why == "" {
		return e.path, nil
	}
	c.removeIfSame(ctx, e.path, e.seen)
	return "", &DamagedError{Entry: e.path, Why: why}
}

// copyOut copies and verifies; it returns why the entry is unusable, or "".
func copyOut(entry string, lines []manifestLine, dst string) string {
	for _, l := range lines {
		if why := copyVerified(filepath.Join(entry, filepath.FromSlash(l.name)), filepath.Join(dst, filepath.FromSlash(l.name)), l); why != "" {
			return why
		}
	}
	return ""
}

func copyVerified(src, dst string, l manifestLine) string {
	in, why := openVerified(src, l)
	if why != "" {
		return why
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err.Error()
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err.Error()
	}
	why = copyChecked(in, l, out)
	if err := out.Close(); why == "" && err != nil {
		return err.Error()
	}
	return why
}

// openVerified opens an entry's file if it is what l says: a regular file
// (not a link) of l's size.
func openVerified(src string, l manifestLine) (*os.File, string) {
	in, err := os.OpenFile(src, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err.Error()
	}
	fi, err := in.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		in.Close()
		return nil, l.name + ": not a regular file"
	}
	if fi.Size() != l.size {
		in.Close()
		return nil, fmt.Sprintf("%s: %d bytes, the manifest says %d", l.name, fi.Size(), l.size)
	}
	return in, ""
}

// copyChecked copies in to w, checking the bytes against l.
func copyChecked(in io.Reader, l manifestLine, w io.Writer) string {
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(in, l.size+1))
	switch {
	case err != nil:
		return err.Error()
	case n != l.size:
		return fmt.Sprintf("%s: read %d bytes, the manifest says %d", l.name, n, l.size)
	case [sha256.Size]byte(h.Sum(nil)) != l.sum:
		return l.name + ": SHA-256 differs from the manifest"
	}
	return ""
}

// readManifest returns the builder record's line (the first) and the
// result's files. errOldEntry: an older stap-client's manifest.
func readManifest(path string) (manifestLine, []manifestLine, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return manifestLine{}, nil, err
	}
	text, ok := strings.CutSuffix(string(data), "\n")
	lines := strings.Split(text, "\n")
	if ok && lines[0] == oldHeader {
		return manifestLine{}, nil, errOldEntry
	}
	if !ok || lines[0] != manifestHeader {
		return manifestLine{}, nil, errors.New("manifest: not a complete manifest")
	}
	var out []manifestLine
	for i, l := range lines[1:] {
		sum, rest, ok1 := strings.Cut(l, " ")
		size, name, ok2 := strings.Cut(rest, " ")
		n, err := strconv.ParseInt(size, 10, 64)
		raw, herr := hex.DecodeString(sum)
		if i == 0 {
			ok2 = ok2 && name == builderName && n <= maxBuilder
		} else {
			ok2 = ok2 && validName(name)
		}
		if !ok1 || !ok2 || err != nil || n < 0 || herr != nil || len(raw) != sha256.Size {
			return manifestLine{}, nil, fmt.Errorf("manifest: bad line %q", l)
		}
		out = append(out, manifestLine{sum: [sha256.Size]byte(raw), size: n, name: name})
	}
	if len(out) < 2 {
		return manifestLine{}, nil, errors.New("manifest: no files")
	}
	return out[0], out[1:], nil
}

// validName: a result's file stays inside its entry and is neither of the
// entry's own files.
func validName(name string) bool {
	return fs.ValidPath(name) && name != "." && name != manifestName && name != builderName
}

// Put stores files, built by b, as k's entry, replacing any entry there,
// then evicts least recently used entries until the cache is within its
// limit.
func (c *Cache) Put(ctx context.Context, k Key, b Builder, files []File) error {
	record, err := b.encode()
	if err != nil {
		return fmt.Errorf("storing in the cache: %w", err)
	}
	c.sweep()
	staging, err := os.MkdirTemp(filepath.Join(c.dir, "tmp"), "put-")
	if err != nil {
		return fmt.Errorf("storing in the cache: %w", err)
	}
	defer os.RemoveAll(staging) // a no-op once renamed into place
	if err := os.WriteFile(filepath.Join(staging, builderName), record, 0o600); err != nil {
		return fmt.Errorf("storing in the cache: %w", err)
	}
	var manifest strings.Builder
	manifest.WriteString(manifestHeader + "\n")
	fmt.Fprintf(&manifest, "%x %d %s\n", sha256.Sum256(record), len(record), builderName)
	for _, f := range files {
		if !validName(f.Name) {
			return fmt.Errorf("storing in the cache: bad file name %q", f.Name)
		}
		size, sum, err := copyIn(f.Src, filepath.Join(staging, filepath.FromSlash(f.Name)))
		if err != nil {
			return fmt.Errorf("storing %s in the cache: %w", f.Name, err)
		}
		fmt.Fprintf(&manifest, "%x %d %s\n", sum, size, f.Name)
	}
	if err := os.WriteFile(filepath.Join(staging, manifestName), []byte(manifest.String()), 0o600); err != nil {
		return fmt.Errorf("storing in the cache: %w", err)
	}
	entry := c.Path(k)
	if err := os.Mkdir(filepath.Dir(entry), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("storing in the cache: %w", err)
	}
	lk, err := c.lock(ctx, syscall.LOCK_EX)
	if err != nil {
		return fmt.Errorf("storing in the cache: %w", err)
	}
	var trash []string
	defer func() {
		for _, t := range trash {
			os.RemoveAll(t)
		}
	}()
	defer lk.unlock()
	if t, err := c.discard(entry); err != nil {
		return fmt.Errorf("storing in the cache: replacing %s: %w", entry, err)
	} else if t != "" {
		trash = append(trash, t)
	}
	if err := os.Rename(staging, entry); err != nil {
		return fmt.Errorf("storing in the cache: %w", err)
	}
	removed, err := c.evictLocked()
	trash = append(trash, removed...)
	return err
}

func copyIn(src, dst string) (int64, []byte, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, nil, err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return 0, nil, err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, nil, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return n, h.Sum(nil), err
}

// discard moves an entry out of the way into tmp, to be removed once the
// lock is released; "" when there was none.
func (c *Cache) discard(entry string) (string, error) {
	t := filepath.Join(c.dir, "tmp", "gone-"+randomName())
	err := os.Rename(entry, t)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return t, nil
}

// removeIfSame removes a damaged entry unless it was replaced meanwhile.
func (c *Cache) removeIfSame(ctx context.Context, entry string, seen fs.FileInfo) {
	lk, err := c.lock(ctx, syscall.LOCK_EX)
	if err != nil {
		return
	}
	var t string
	if now, err := os.Lstat(entry); err == nil && os.SameFile(now, seen) {
		t, _ = c.discard(entry)
	}
	lk.unlock()
	if t != "" {
		os.RemoveAll(t)
	}
}

func randomName() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// sweep removes what killed processes left in tmp.
func (c *Cache) sweep() {
	tmp := filepath.Join(c.dir, "tmp")
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return
	}
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleAfter {
			os.RemoveAll(filepath.Join(tmp, e.Name()))
		}
	}
}
