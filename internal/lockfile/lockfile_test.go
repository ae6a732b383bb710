// SPDX-License-Identifier: GPL-2.0-or-later

package lockfile

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLock(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lock")
	unlock, err := Lock(ctx, path, syscall.LOCK_EX, time.Second)
	require.NoError(t, err)
	_, err = Lock(ctx, path, syscall.LOCK_SH, 20*time.Millisecond)
	assert.ErrorContains(t, err, "another process held it")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = Lock(cctx, path, syscall.LOCK_EX, time.Second)
	assert.ErrorIs(t, err, context.Canceled)
	unlock()

	a, err := Lock(ctx, path, syscall.LOCK_SH, time.Second)
	require.NoError(t, err)
	b, err := Lock(ctx, path, syscall.LOCK_SH, time.Second)
	require.NoError(t, err, "shared locks share")
	a()
	b()
}
