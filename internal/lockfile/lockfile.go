// SPDX-License-Identifier: GPL-2.0-or-later

// Package lockfile takes flock(2) locks on a lock file, waiting a bounded
// time. flock locks belong to the open file, so goroutines and processes
// exclude each other alike: each holder opens the file itself.
package lockfile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// Lock opens (or makes, 0600, never through a link) the file at path and
// locks it in mode (syscall.LOCK_SH or LOCK_EX), polling so that ctx and
// wait can end the wait. unlock releases it by closing the file.
func Lock(ctx context.Context, path string, mode int, wait time.Duration) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the lock: %w", err)
	}
	deadline := time.Now().Add(wait)
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		err := syscall.Flock(int(f.Fd()), mode|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("locking %s: another process held it for %v", path, wait)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(delay):
		}
	}
}
