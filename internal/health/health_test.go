// SPDX-License-Identifier: GPL-2.0-or-later

package health

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func TestRecordRecentClearExpire(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state") // made when first written
	m := Open(dir)
	got, err := m.Recent(ctx, t0)
	require.NoError(t, err, "no file yet: nothing to say")
	assert.Empty(t, got)

	require.NoError(t, m.Record(ctx, "srva", Refused, t0))
	require.NoError(t, m.Record(ctx, "srvb", TimedOut, t0.Add(30*time.Second)))
	got, err = m.Recent(ctx, t0.Add(40*time.Second))
	require.NoError(t, err)
	assert.Equal(t, map[string]Failure{"srva": {Refused, t0}, "srvb": {TimedOut, t0.Add(30 * time.Second)}}, normalize(got))

	got, _ = m.Recent(ctx, t0.Add(Window))
	assert.Equal(t, []string{"srvb"}, keys(got), "a minute later srva is forgotten")

	require.NoError(t, m.Clear(ctx, "srvb", t0.Add(Window)))
	got, _ = m.Recent(ctx, t0.Add(Window))
	assert.Empty(t, got, "a success clears it")

	for _, name := range []string{FileName, FileName + ".lock"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), name)
	}
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	left, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
	assert.Empty(t, left)
}

// normalize drops the monotonic clock and location that JSON does not keep.
func normalize(fs map[string]Failure) map[string]Failure {
	for id, f := range fs {
		f.At = f.At.UTC()
		fs[id] = f
	}
	return fs
}

func keys(fs map[string]Failure) []string {
	var out []string
	for k := range fs {
		out = append(out, k)
	}
	return out
}

func TestCorruptOrUnreadableIsEmpty(t *testing.T) {
	ctx := context.Background()
	for name, content := range map[string]string{
		"not json":      "\x00garbage{",
		"other version": `{"version":2,"failures":{"a":{"kind":"refused","at":"2025-03-01T12:00:00Z"}}}`,
		"wrong types":   `{"version":1,"failures":{"a":{"kind":7}}}`,
		"a clock ahead": `{"version":1,"failures":{"a":{"kind":"refused","at":"2099-01-01T00:00:00Z"}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, FileName), []byte(content), 0o600))
			m := Open(dir)
			got, _ := m.Recent(ctx, t0)
			assert.Empty(t, got)
			// Writing starts afresh.
			require.NoError(t, m.Record(ctx, "b", Reset, t0))
			got, err := m.Recent(ctx, t0)
			require.NoError(t, err)
			assert.Equal(t, []string{"b"}, keys(got))
		})
	}
	t.Run("a directory in its place", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.Mkdir(filepath.Join(dir, FileName), 0o700))
		got, err := Open(dir).Recent(ctx, t0)
		assert.Error(t, err, "said, for a verbose line")
		assert.NotNil(t, got)
		assert.Empty(t, got)
	})
	t.Run("a link is not followed", func(t *testing.T) {
		dir := t.TempDir()
		target := filepath.Join(dir, "elsewhere")
		require.NoError(t, os.WriteFile(target, []byte(`{"version":1,"failures":{}}`), 0o600))
		require.NoError(t, os.Symlink(target, filepath.Join(dir, FileName)))
		got, err := Open(dir).Recent(ctx, t0)
		assert.Error(t, err)
		assert.Empty(t, got)
	})
}

func TestBounded(t *testing.T) {
	ctx := context.Background()
	m := Open(t.TempDir())
	for i := range maxEntries + 10 {
		require.NoError(t, m.Record(ctx, strconv.Itoa(i), Refused, t0.Add(time.Duration(i)*time.Millisecond)))
	}
	got, _ := m.Recent(ctx, t0.Add(time.Second))
	assert.Len(t, got, maxEntries)
	assert.NotContains(t, got, "0", "the oldest went")
	assert.Contains(t, got, strconv.Itoa(maxEntries+9))
	long := string(make([]byte, 100))
	require.NoError(t, m.Record(ctx, "x", long, t0.Add(time.Second)))
	got, _ = m.Recent(ctx, t0)
	assert.Len(t, got["x"].Kind, maxKind)
}

// Concurrent writers, goroutines and processes, lose nothing.
func TestConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	now := time.Now()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			m := Open(dir)
			for i := range 10 {
				assert.NoError(t, m.Record(ctx, fmt.Sprintf("g%d-%d", g, i), Refused, now))
			}
		})
	}
	var procs []*exec.Cmd
	for p := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$")
		cmd.Env = append(os.Environ(), "HEALTH_HELPER_DIR="+dir, "HEALTH_HELPER_ID=p"+strconv.Itoa(p))
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		procs = append(procs, cmd)
	}
	wg.Wait()
	for _, cmd := range procs {
		require.NoError(t, cmd.Wait())
	}
	got, err := Open(dir).Recent(ctx, time.Now())
	require.NoError(t, err)
	assert.Len(t, got, 8*10+3*10)
}

// TestHelperWriter is another process recording failures (run by
// TestConcurrentWriters only).
func TestHelperWriter(t *testing.T) {
	dir := os.Getenv("HEALTH_HELPER_DIR")
	if dir == "" {
		t.Skip("run by TestConcurrentWriters")
	}
	m := Open(dir)
	for i := range 10 {
		require.NoError(t, m.Record(context.Background(), fmt.Sprintf("%s-%d", os.Getenv("HEALTH_HELPER_ID"), i), Reset, time.Now()))
	}
}

func TestPassOver(t *testing.T) {
	recent := map[string]Failure{
		"b": {Refused, t0.Add(-20 * time.Second)},
		"d": {TimedOut, t0.Add(-59 * time.Second)},
		"e": {Reset, t0.Add(-2 * time.Minute)}, // too old
	}
	id := func(s string) string { return s[:1] }
	tests := []struct {
		name    string
		in      []string
		out     []string
		reasons []string
	}{
		{"failed ones after the healthy, each in order", []string{"a1", "b1", "b2", "c1", "d1", "e1"},
			[]string{"a1", "c1", "e1", "b1", "b2", "d1"}, []string{"", "", "", "refused 20 s ago", "refused 20 s ago", "timed out 59 s ago"}},
		{"nothing failed", []string{"a1", "c1"}, []string{"a1", "c1"}, []string{"", ""}},
		{"all failed: nothing moves", []string{"d1", "b1"}, []string{"d1", "b1"}, []string{"", ""}},
		{"none", nil, []string{}, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, reasons := PassOver(tc.in, id, recent, t0)
			assert.Equal(t, tc.out, append([]string{}, out...))
			assert.Equal(t, tc.reasons, append([]string{}, reasons...))
		})
	}
}
