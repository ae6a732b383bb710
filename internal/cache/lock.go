// SPDX-License-Identifier: GPL-2.0-or-later

package cache

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// flock is a held lock on <dir>/lock. Each holder opens the file itself:
// flock locks belong to the open file, so goroutines and processes exclude
// each other alike.
type flock struct{ f *os.File }

// lock takes the lock in mode (LOCK_SH or LOCK_EX), polling so that ctx
// and lockWait can end the wait.
func (c *Cache) lock(ctx context.Context, mode int) (*flock, error) {
	f, err := os.OpenFile(filepath.Join(c.dir, "lock"), os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the cache lock: %w", err)
	}
	deadline := time.Now().Add(lockWait)
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		err := syscall.Flock(int(f.Fd()), mode|syscall.LOCK_NB)
		if err == nil {
			return &flock{f}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("locking the cache: %w", err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("locking the cache: another process held it for %v", lockWait)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(delay):
		}
	}
}

// unlock releases the lock by closing the file.
func (l *flock) unlock() { l.f.Close() }
