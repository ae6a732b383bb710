// SPDX-License-Identifier: GPL-2.0-or-later

package cache

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/stap-client/stap-client/internal/lockfile"
)

// flock is a held lock on <dir>/lock.
type flock struct{ release func() }

// lock takes the lock in mode (LOCK_SH or LOCK_EX); ctx and lockWait can
// end the wait.
func (c *Cache) lock(ctx context.Context, mode int) (*flock, error) {
	release, err := lockfile.Lock(ctx, filepath.Join(c.dir, "lock"), mode, lockWait)
	if err != nil {
		return nil, fmt.Errorf("the cache: %w", err)
	}
	return &flock{release}, nil
}

// unlock releases the lock.
func (l *flock) unlock() { l.release() }
