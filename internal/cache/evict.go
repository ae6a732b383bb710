// SPDX-License-Identifier: GPL-2.0-or-later

package cache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Limit is the size limit in bytes: cache_mb_limit in MiB, as stap reads
// its own (the first number in the file). A missing file is written with
// the default, so users find it; an unreadable one means the default.
func (c *Cache) Limit() int64 {
	path := filepath.Join(c.dir, LimitFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		_ = os.WriteFile(path, []byte(strconv.Itoa(DefaultLimitMB)+"\n"), 0o600)
	}
	mb, err := strconv.ParseInt(firstField(string(data)), 10, 64)
	if err != nil || mb < 0 {
		mb = DefaultLimitMB
	}
	return mb << 20
}

func firstField(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// Clean evicts least recently used entries until the cache is within its
// limit, now (stap's --clean-cache), and returns the removed entries.
func (c *Cache) Clean(ctx context.Context) ([]string, error) {
	c.sweep()
	lk, err := c.lock(ctx, syscall.LOCK_EX)
	if err != nil {
		return nil, err
	}
	var names []string
	trash, err := c.evictLocked(func(entry string) { names = append(names, entry) })
	lk.unlock()
	for _, t := range trash {
		os.RemoveAll(t)
	}
	return names, err
}

type entryInfo struct {
	path string
	size int64
	used time.Time
}

// evictLocked moves entries out, least recently used first, until the rest
// fit the limit; the caller holds the exclusive lock and removes the
// returned trash after releasing it. An entry with no manifest counts as
// the oldest.
func (c *Cache) evictLocked(note ...func(entry string)) ([]string, error) {
	ents, err := c.entries()
	if err != nil {
		return nil, fmt.Errorf("listing the cache: %w", err)
	}
	var total int64
	for _, e := range ents {
		total += e.size
	}
	sort.Slice(ents, func(i, j int) bool {
		if !ents[i].used.Equal(ents[j].used) {
			return ents[i].used.Before(ents[j].used)
		}
		return ents[i].path < ents[j].path
	})
	limit := c.Limit()
	var trash []string
	for _, e := range ents {
		if total <= limit {
			break
		}
		t, err := c.discard(e.path)
		if err != nil {
			return trash, fmt.Errorf("evicting %s: %w", e.path, err)
		}
		if t != "" {
			trash = append(trash, t)
		}
		total -= e.size
		for _, n := range note {
			n(e.path)
		}
	}
	return trash, nil
}

// entries lists <dir>/xx/<key> with their sizes and last use.
func (c *Cache) entries() ([]entryInfo, error) {
	prefixes, err := os.ReadDir(c.dir)
	if err != nil {
		return nil, err
	}
	var out []entryInfo
	for _, p := range prefixes {
		if !p.IsDir() || len(p.Name()) != 2 {
			continue
		}
		ents, err := os.ReadDir(filepath.Join(c.dir, p.Name()))
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			path := filepath.Join(c.dir, p.Name(), e.Name())
			info := entryInfo{path: path}
			if fi, err := os.Lstat(filepath.Join(path, manifestName)); err == nil {
				info.used = fi.ModTime()
			}
			_ = filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
				if err == nil && d.Type().IsRegular() {
					if fi, err := d.Info(); err == nil {
						info.size += fi.Size()
					}
				}
				return nil
			})
			out = append(out, info)
		}
	}
	return out, nil
}
