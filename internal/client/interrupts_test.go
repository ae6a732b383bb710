// SPDX-License-Identifier: GPL-2.0-or-later

package client

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInterruptsRouting(t *testing.T) {
	tests := []struct {
		name        string
		before      int // signals before pass 5 starts
		during      int // signals after
		wantPending bool
		wantCancel  bool
		wantPass5   int
	}{
		{"none", 0, 0, false, false, 0},
		{"before pass 5 cancels the run", 1, 0, true, true, 0},
		{"during pass 5 goes to staprun", 0, 2, false, false, 2},
		{"a full buffer drops the rest", 0, 5, false, false, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sigs := make(chan os.Signal)
			ctx, in, stop := watch(context.Background(), sigs)
			defer stop()
			for range tc.before {
				sigs <- syscall.SIGINT
			}
			if tc.before > 0 {
				select {
				case <-ctx.Done():
				case <-time.After(5 * time.Second):
					t.Fatal("the run was not cancelled")
				}
			}
			p5, pending := in.startPass5()
			assert.Equal(t, tc.wantPending, pending)
			for range tc.during {
				sigs <- syscall.SIGTERM
			}
			require.Eventually(t, func() bool { return len(p5) == tc.wantPass5 }, 5*time.Second, 5*time.Millisecond)
			assert.Equal(t, tc.wantCancel, ctx.Err() != nil)
		})
	}
}

// SIGPIPE before pass 5 comes from a write of ours that also fails with
// EPIPE (a reset socket, a closed stdout): it does not cancel the run by
// itself; a closed stdout does, through brokenPipe.
func TestSIGPIPEBeforePass5(t *testing.T) {
	sigs := make(chan os.Signal)
	ctx, in, stop := watch(context.Background(), sigs)
	defer stop()
	sigs <- syscall.SIGPIPE
	sigs <- syscall.SIGPIPE // the router has taken the first one
	assert.NoError(t, ctx.Err())
	in.brokenPipe()
	assert.Error(t, ctx.Err())
	_, pending := in.startPass5()
	assert.True(t, pending)
}
