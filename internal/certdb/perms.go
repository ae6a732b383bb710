// SPDX-License-Identifier: GPL-2.0-or-later

package certdb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// chain is every directory from l.Base down to l.Dir, Base first; only Dir
// when Base is empty or not above it.
func chain(l Location) []string {
	dir := filepath.Clean(l.Dir)
	if l.Base == "" {
		return []string{dir}
	}
	base := filepath.Clean(l.Base)
	rel, err := filepath.Rel(base, dir)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
		return []string{dir}
	}
	out := []string{base}
	p := base
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		p = filepath.Join(p, part)
		out = append(out, p)
	}
	return out
}

// CheckPermissions applies the 2011 stap-client's rules to a directory, the
// directories above it up to l.Base, and its database files: the owner must
// be the user (root for the global database; root or the user otherwise),
// and nothing may be writable by group or others. Those refuse the database
// (fatal); a missing read bit only warns. Messages are one line each.
func CheckPermissions(l Location, files []string, uid int) (problems []string, fatal bool) {
	add := func(f bool, format string, a ...any) {
		problems = append(problems, fmt.Sprintf(format, a...))
		fatal = fatal || f
	}
	check := func(path, what string, dir, isDB bool) {
		fi, err := os.Stat(path)
		if err != nil {
			if dir || !errors.Is(err, os.ErrNotExist) {
				add(true, "%s cannot be used: %v", what, err)
			}
			return
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return
		}
		switch owner := int(st.Uid); {
		case l.Kind == KindGlobal && owner != 0:
			add(true, "%s must be owned by root", what)
		case l.Kind != KindGlobal && owner != uid && owner != 0:
			add(true, "%s must be owned by uid %d or root", what, uid)
		}
		m := fi.Mode().Perm()
		if m&0o020 != 0 {
			add(true, "%s must not be writable by the group", what)
		}
		if m&0o002 != 0 {
			add(true, "%s must not be writable by others", what)
		}
		if !isDB {
			return // a directory above: only who may write it matters
		}
		if m&0o400 == 0 {
			add(false, "%s should be readable by its owner", what)
		}
		if dir && m&0o100 == 0 {
			add(false, "%s should be searchable by its owner", what)
		}
	}
	dirs := chain(l)
	for _, d := range dirs[:len(dirs)-1] {
		if _, err := os.Stat(d); err == nil {
			check(d, fmt.Sprintf("Directory '%s' above certificate database '%s'", d, l.Dir), true, false)
		}
	}
	check(l.Dir, fmt.Sprintf("Certificate database '%s'", l.Dir), true, true)
	for _, f := range files {
		p := filepath.Join(l.Dir, f)
		check(p, fmt.Sprintf("Certificate database '%s'", p), false, true)
	}
	return problems, fatal
}

// FixCommand is the one shell command that makes CheckPermissions accept
// the location when write permission for group or others is all that is
// wrong (stap 5.x leaves its directories 0777), else "". sudo prefixes it
// when a path belongs to root and the user is not root.
func FixCommand(l Location, files []string, uid int) string {
	paths := chain(l)
	for _, f := range files {
		paths = append(paths, filepath.Join(l.Dir, f))
	}
	var loose []string
	sudo := false
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok || fi.Mode().Perm()&0o022 == 0 {
			continue
		}
		switch owner := int(st.Uid); {
		case l.Kind == KindGlobal && owner != 0, l.Kind != KindGlobal && owner != uid && owner != 0:
			return "" // a chmod does not fix the owner
		case owner == 0 && uid != 0:
			sudo = true
		}
		loose = append(loose, shellQuote(p))
	}
	if len(loose) == 0 {
		return ""
	}
	cmd := "chmod go-w " + strings.Join(loose, " ")
	if sudo {
		cmd = "sudo " + cmd
	}
	return cmd
}

// Tighten removes group and other write permission from the directories
// from l.Base down to l.Dir and the files in l.Dir that the user owns (stap
// 5.x makes them 0777 and 0666), so that the database it just trusted in
// stays usable and safe. Symbolic links are left alone. It returns the
// paths it changed.
func Tighten(l Location, uid int) ([]string, error) {
	paths := chain(l)
	if ents, err := os.ReadDir(l.Dir); err == nil {
		names := make([]string, 0, len(ents))
		for _, e := range ents {
			names = append(names, e.Name())
		}
		sort.Strings(names)
		for _, n := range names {
			paths = append(paths, filepath.Join(l.Dir, n))
		}
	}
	var changed []string
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil {
			continue
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok || int(st.Uid) != uid || fi.Mode()&os.ModeSymlink != 0 || fi.Mode().Perm()&0o022 == 0 {
			continue
		}
		if !fi.IsDir() && !fi.Mode().IsRegular() {
			continue
		}
		keep := fi.Mode() & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky)
		if err := os.Chmod(p, keep&^0o022); err != nil {
			return changed, fmt.Errorf("removing group/other write permission from %s: %w", p, err)
		}
		changed = append(changed, p)
	}
	return changed, nil
}

// shellQuote quotes p for a POSIX shell when it needs it.
func shellQuote(p string) string {
	if p != "" && strings.Trim(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+@:,") == "" {
		return p
	}
	return "'" + strings.ReplaceAll(p, "'", `'\''`) + "'"
}
