// SPDX-License-Identifier: GPL-2.0-or-later

// Package response unpacks a compile server's response zip into a private
// directory without letting it write anywhere else, and interprets it as
// stap 4.8 does.
package response

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Limits caps what a response may unpack to. Real responses are a few dozen
// files and 1 KB to tens of MB; the defaults are far above that.
type Limits struct {
	MaxEntries int
	MaxBytes   int64 // total uncompressed bytes written
}

// DefaultLimits are generous for real servers and small for hostile ones.
var DefaultLimits = LimitsFor(DefaultMaxReply)

// ErrEmpty is returned for a zero-length response: the server closed the
// connection without replying.
var ErrEmpty = errors.New("the server sent no response")

// UnsafeError names a response entry that was refused.
type UnsafeError struct {
	Name   string
	Reason string
}

func (e *UnsafeError) Error() string {
	return fmt.Sprintf("refusing response entry %q: %s", e.Name, e.Reason)
}

// Unpack extracts the zip at zipPath into dest, which must exist and be
// private. Absolute names, "..", links that lead out of dest or anything
// under a link, and device files are refused; going over lim is a
// *LimitError, found while inflating, so a compression bomb costs at most
// lim.MaxBytes of disk. It stops when ctx ends.
func Unpack(ctx context.Context, zipPath, dest string, lim Limits) error {
	f, err := os.Open(zipPath)
	if err != nil {
		return fmt.Errorf("unpacking the server response: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("unpacking the server response: %w", err)
	}
	if fi.Size() == 0 {
		return ErrEmpty
	}
	if err := scanDirectory(ctx, f, lim); err != nil {
		return fmt.Errorf("unpacking the server response: %w", err)
	}
	zr, err := zip.NewReader(f, fi.Size())
	if err != nil {
		return fmt.Errorf("unpacking the server response: %w", err)
	}
	if len(zr.File) > lim.MaxEntries {
		return fmt.Errorf("unpacking the server response: %w", &LimitError{What: "entries", Limit: int64(lim.MaxEntries)})
	}
	u := unpacker{ctx: ctx, dest: dest, left: lim.MaxBytes, limit: lim.MaxBytes, links: map[string]bool{}}
	for _, f := range zr.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := u.extract(f); err != nil {
			return fmt.Errorf("unpacking the server response: %w", err)
		}
	}
	return nil
}

type unpacker struct {
	ctx   context.Context
	dest  string
	left  int64
	limit int64
	links map[string]bool // cleaned names of links created so far
}

// clean validates a zip name and returns it cleaned and slash-separated.
func clean(name string) (string, error) {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") || strings.ContainsRune(name, 0) {
		return "", &UnsafeError{name, "not a relative path"}
	}
	for _, part := range strings.Split(strings.TrimSuffix(name, "/"), "/") {
		if part == ".." {
			return "", &UnsafeError{name, "contains .."}
		}
	}
	c := path.Clean(name)
	if c == "." {
		return "", &UnsafeError{name, "names the top directory"}
	}
	return c, nil
}

func (u *unpacker) extract(f *zip.File) error {
	name, err := clean(f.Name)
	if err != nil {
		return err
	}
	// Nothing may be written through a link, even one leading inside.
	for p := path.Dir(name); p != "."; p = path.Dir(p) {
		if u.links[p] {
			return &UnsafeError{f.Name, "lies under a link"}
		}
	}
	target := filepath.Join(u.dest, filepath.FromSlash(name))
	mode := f.Mode()
	switch {
	case mode.IsDir():
		return mkdirs(target)
	case mode&os.ModeSymlink != 0:
		return u.link(f, name, target)
	case !mode.IsRegular():
		return &UnsafeError{f.Name, "not a regular file, directory or link"}
	}
	if err := mkdirs(filepath.Dir(target)); err != nil {
		return err
	}
	if f.UncompressedSize64 > uint64(u.left) {
		return &LimitError{What: "bytes", Limit: u.limit}
	}
	rc, err := f.Open()
	if err != nil {
		return fmt.Errorf("%s: %w", f.Name, err)
	}
	defer rc.Close()
	// O_EXCL: a duplicate entry must not overwrite or follow what is there.
	out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode.Perm()&0o700|0o600)
	if err != nil {
		return fmt.Errorf("%s: %w", f.Name, err)
	}
	// Read one byte past the budget so a lying header is caught.
	n, err := io.Copy(out, io.LimitReader(ctxReader{u.ctx, rc}, u.left+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if cerr := u.ctx.Err(); cerr != nil {
			return cerr
		}
		return fmt.Errorf("%s: %w", f.Name, err)
	}
	if n > u.left {
		return &LimitError{What: "bytes", Limit: u.limit}
	}
	u.left -= n
	return nil
}

// link creates a symbolic link only when its target stays inside dest. Real
// servers zip without -y and send none; this is for hostile ones.
func (u *unpacker) link(f *zip.File, name, target string) error {
	if f.UncompressedSize64 > 4096 {
		return &UnsafeError{f.Name, "link target too long"}
	}
	rc, err := f.Open()
	if err != nil {
		return fmt.Errorf("%s: %w", f.Name, err)
	}
	dst, err := io.ReadAll(io.LimitReader(rc, 4097))
	rc.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", f.Name, err)
	}
	to := string(dst)
	if to == "" || strings.HasPrefix(to, "/") || strings.ContainsRune(to, 0) {
		return &UnsafeError{f.Name, "link leads out of the response"}
	}
	// A relative target without ".." stays below the link's own directory, and
	// so does every link it passes through; a lexical check alone would not
	// hold across chains of links.
	for _, part := range strings.Split(to, "/") {
		if part == ".." {
			return &UnsafeError{f.Name, "link leads out of the response"}
		}
	}
	if err := mkdirs(filepath.Dir(target)); err != nil {
		return err
	}
	if err := os.Symlink(to, target); err != nil {
		return fmt.Errorf("%s: %w", f.Name, err)
	}
	u.links[name] = true
	return nil
}

func mkdirs(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return nil
}
