// SPDX-License-Identifier: GPL-2.0-or-later

// Package workdir is stap's private temporary directory for one run, and
// the files a run leaves in the user's current directory: how the
// directory is named and made ($TMPDIR, --tmpdir), kept (-k) or removed,
// and how results are copied out (never a truncated module, never through
// a link, mode 0666 less umask).
package workdir

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"

	"github.com/stap-client/stap-client/internal/request"
	"github.com/stap-client/stap-client/internal/stapmsg"
)

// Options say where and how the directory is made.
type Options struct {
	// Given is --tmpdir's DIR: used as it is, made when missing, never
	// removed, as in stap.
	Given string
	// Keep is -k: the directory stays, and its name is printed.
	Keep bool
	// Cwd resolves a relative Given.
	Cwd string
	// LookupEnv reads TMPDIR.
	LookupEnv func(string) (string, bool)
}

// Dir is a run's temporary directory.
type Dir struct {
	Path string
	opt  Options
	out  *stapmsg.Printer
}

var tmpdirPattern = regexp.MustCompile(`(?i)^[-/._0-9a-z]+$`)

// Make creates the directory as stap names it: $TMPDIR/stapXXXXXX, or
// --tmpdir's DIR. Its errors are stap's lines, ready to print.
func Make(opt Options, out *stapmsg.Printer) (*Dir, error) {
	if dir := opt.Given; dir != "" {
		if !filepath.IsAbs(dir) {
			// stap breaks on a relative one (it cds before using it).
			dir = filepath.Join(opt.Cwd, dir)
		}
		out.Logf(2, "Created temporary directory \"%s\"", opt.Given)
		for _, f := range []string{"client.zip", "server", "server.zip"} {
			// stap fails on a reused one too, later and less clearly.
			if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
				return nil, fmt.Errorf("%s: ERROR: --tmpdir=%s holds an earlier run's files (%s); give a new or empty directory", stapmsg.Prog, opt.Given, f)
			}
		}
		// stap's error names the first directory it makes there.
		if err := os.MkdirAll(filepath.Join(dir, "client"), 0o777); err != nil {
			return nil, fmt.Errorf("ERROR: cannot create temporary directory (\"%s\"): %s", filepath.Join(opt.Given, "client"), stapmsg.Strerror(err))
		}
		return &Dir{Path: dir, opt: opt, out: out}, nil
	}
	var env string
	var set bool
	if opt.LookupEnv != nil {
		env, set = opt.LookupEnv("TMPDIR")
	}
	base := env
	if !set {
		base = "/tmp"
	}
	d, err := mkdtemp(base, "stap")
	if err != nil {
		return nil, fmt.Errorf("cannot create temporary directory (\" %s \"): %s", d, stapmsg.Strerror(err))
	}
	// stap checks the name after making the directory in it.
	if set && !tmpdirPattern.MatchString(env) {
		os.Remove(d)
		return nil, fmt.Errorf("ERROR: Safety pattern mismatch for TMPDIR ('%s' vs. '%s') rc=1", env, `^[-/._0-9a-z]+$`)
	}
	out.Logf(2, "Created temporary directory \"%s\"", d)
	return &Dir{Path: d, opt: opt, out: out}, nil
}

// mkdtemp makes a private directory named like mkdtemp(3)'s PREFIXXXXXXX,
// as stap's are, so paths in messages have the same shape. On failure it
// returns the last name tried, which stap's message shows.
func mkdtemp(base, prefix string) (string, error) {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	d := base + "/" + prefix + "XXXXXX"
	for range 100 {
		var b [6]byte
		if _, err := rand.Read(b[:]); err != nil {
			return d, err
		}
		for i := range b {
			b[i] = chars[int(b[i])%len(chars)]
		}
		d = base + "/" + prefix + string(b[:])
		err := os.Mkdir(d, 0o700)
		if err == nil {
			return d, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return d, err
		}
	}
	return d, fs.ErrExist
}

// Kept tells whether the directory outlives the run (-k, --tmpdir), so
// the request is left in it as stap leaves it.
func (d *Dir) Kept() bool { return d.opt.Keep || d.opt.Given != "" }

// KeepRequest leaves the request in a directory that stays (-k, --tmpdir)
// as stap leaves it: client/ and client.zip.
func (d *Dir) KeepRequest(req *request.Request) {
	if !d.Kept() {
		return
	}
	err := req.Stage(d.Join("client"))
	if err == nil {
		err = os.WriteFile(d.Join("client.zip"), req.Zip, 0o644)
	}
	if err != nil {
		d.out.OurWarning("keeping the request in %s: %v", d.Path, err)
	}
}

// Join names a path inside the directory.
func (d *Dir) Join(elem ...string) string {
	return filepath.Join(append([]string{d.Path}, elem...)...)
}

// Remove ends the directory as stap does: --tmpdir's is kept silently, -k
// says where it is, anything else is removed.
func (d *Dir) Remove() {
	if d == nil || d.opt.Given != "" {
		return
	}
	if d.opt.Keep {
		d.out.Errf("Keeping temporary directory \"%s\"", d.Path)
		return
	}
	if err := os.RemoveAll(d.Path); err != nil {
		d.out.OurWarning("removing temporary directory %s: %v", d.Path, err)
		return
	}
	d.out.Logf(2, "Removed temporary directory \"%s\"", d.Path)
}

// Link makes a link in the directory unless one is there already (the
// response's links may have made it).
func Link(target, link string) error {
	if _, err := os.Lstat(link); err == nil {
		return nil
	}
	return os.Symlink(target, link)
}
