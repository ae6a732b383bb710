// SPDX-License-Identifier: GPL-2.0-or-later

// Package health remembers, for a minute, which compile servers recently
// failed (refused, reset, timed out), so that the next runs try them after
// the healthy ones instead of first. The memory is a small file in the
// user's stap-client state directory, shared by concurrent runs: updates
// are made under a lock and written whole (temp file, then rename), and a
// missing, unreadable or corrupt file is an empty memory, never a failed
// run.
package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/stap-client/stap-client/internal/lockfile"
)

// FileName is the memory's file in the state directory ($SYSTEMTAP_DIR,
// by default ~/.systemtap), beside stap-client's client-cache.
const FileName = "client-health"

// Window is how long a failure is remembered.
const Window = time.Minute

// The kinds of failure worth remembering: the server was not there or did
// not answer. A certificate or protocol problem is not health.
const (
	Refused     = "refused"
	Reset       = "reset"
	TimedOut    = "timed out"
	Unreachable = "unreachable"
)

// Limits against a file grown by a bug or by someone else: entries kept,
// and bytes read.
const (
	maxEntries = 256
	maxFile    = 1 << 20
	maxKind    = 32
	lockWait   = 2 * time.Second
)

// Failure is one remembered failure.
type Failure struct {
	Kind string    `json:"kind"`
	At   time.Time `json:"at"`
}

// recent: within the window of now (a time ahead of now by as much is a
// clock set back, or a forged entry: not trusted).
func (f Failure) recent(now time.Time) bool {
	age := now.Sub(f.At)
	return age < Window && age > -Window
}

// Memory is the failures file of one state directory.
type Memory struct{ dir string }

// Open names the memory in dir (the state directory); nothing is read or
// made until used.
func Open(dir string) *Memory { return &Memory{dir: dir} }

func (m *Memory) path() string { return filepath.Join(m.dir, FileName) }

// file is the format on disk.
type file struct {
	Version  int                `json:"version"`
	Failures map[string]Failure `json:"failures"`
}

// Recent returns the failures of the last Window, by server identity. The
// map is always usable (empty when nothing is known); the error, if any,
// says why the file could not be read, for a verbose line only.
func (m *Memory) Recent(ctx context.Context, now time.Time) (map[string]Failure, error) {
	all, err := m.read()
	out := map[string]Failure{}
	for id, f := range all {
		if f.recent(now) {
			out[id] = f
		}
	}
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	return out, err
}

// Record remembers that the server id failed with kind at now.
func (m *Memory) Record(ctx context.Context, id, kind string, now time.Time) error {
	if len(kind) > maxKind {
		kind = kind[:maxKind]
	}
	return m.update(ctx, now, func(fs map[string]Failure) bool {
		fs[id] = Failure{Kind: kind, At: now}
		return true
	})
}

// Clear forgets the server id's failure (it answered); the file is not
// written when there was none.
func (m *Memory) Clear(ctx context.Context, id string, now time.Time) error {
	if fs, _ := m.Recent(ctx, now); len(fs) == 0 {
		return nil // the common case, without the lock
	}
	return m.update(ctx, now, func(fs map[string]Failure) bool {
		_, ok := fs[id]
		delete(fs, id)
		return ok
	})
}

// update changes the failures under the lock and writes them back, the
// expired ones dropped, when change reports a change.
func (m *Memory) update(ctx context.Context, now time.Time, change func(map[string]Failure) bool) error {
	unlock, err := m.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	all, _ := m.read() // unreadable: start afresh
	fs := map[string]Failure{}
	for id, f := range all {
		if f.recent(now) {
			fs[id] = f
		}
	}
	if !change(fs) && len(fs) == len(all) {
		return nil
	}
	if len(fs) > maxEntries {
		// Keep the newest.
		ids := slices.SortedFunc(maps.Keys(fs), func(a, b string) int { return fs[b].At.Compare(fs[a].At) })
		for _, id := range ids[maxEntries:] {
			delete(fs, id)
		}
	}
	return m.write(file{Version: 1, Failures: fs})
}

// read reads the file; a corrupt one reads as empty, with an error.
func (m *Memory) read() (map[string]Failure, error) {
	var v file
	if err := readJSON(m.path(), &v); err != nil {
		return nil, err
	}
	if v.Version != 1 {
		return nil, fmt.Errorf("reading %s: not a failure memory (version 1)", m.path())
	}
	return v.Failures, nil
}

// readJSON decodes the file at path into v, refusing a link, a file larger
// than maxFile and one that is not JSON.
func readJSON(path string, v any) error {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	if len(data) > maxFile {
		return fmt.Errorf("reading %s: larger than %d bytes", path, maxFile)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	return nil
}

// write replaces the file whole: readers see the old or the new one.
func (m *Memory) write(v file) error { return writeJSON(m.dir, m.path(), v) }

// writeJSON replaces the file at path (in dir) with v, whole.
func writeJSON(dir, path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".*.tmp") // 0600
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// lock takes the exclusive lock on <dir>/client-health.lock.
func (m *Memory) lock(ctx context.Context) (unlock func(), err error) {
	return lockPath(ctx, m.path())
}

// lockPath takes the exclusive lock on path.lock, made in its directory.
func lockPath(ctx context.Context, path string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	unlock, err = lockfile.Lock(ctx, path+".lock", syscall.LOCK_EX, lockWait)
	if err != nil {
		return nil, fmt.Errorf("the state in %s: %w", filepath.Dir(path), err)
	}
	return unlock, nil
}

// PassOver moves the items whose server failed recently after the healthy
// ones, each group in its order, and gives for each item of the result
// why it was passed over ("refused 20 s ago"; "" for the others). With no
// healthy item, nothing moves and no reason is given.
func PassOver[T any](items []T, id func(T) string, recent map[string]Failure, now time.Time) (out []T, reasons []string) {
	var healthy, failed []T
	var why []string
	for _, it := range items {
		f, ok := recent[id(it)]
		if !ok || !f.recent(now) {
			healthy = append(healthy, it)
			continue
		}
		failed = append(failed, it)
		why = append(why, fmt.Sprintf("%s %d s ago", f.Kind, max(0, int(now.Sub(f.At).Seconds()))))
	}
	if len(healthy) == 0 || len(failed) == 0 {
		return slices.Clone(items), make([]string, len(items))
	}
	reasons = append(make([]string, len(healthy)), why...)
	return append(healthy, failed...), reasons
}
