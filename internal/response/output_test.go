// SPDX-License-Identifier: GPL-2.0-or-later

package response

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The sed deletions stap runs, as regular expressions: the streaming filter
// must give the same bytes.
var (
	koRegexp      = regexp.MustCompile(`(?m)^.*\.ko$\n?`)
	keepingRegexp = regexp.MustCompile(`(?m)^Keeping temporary directory.*\n?`)
)

func filtered(t *testing.T, in string, rule *lineRule) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "out")
	require.NoError(t, os.WriteFile(p, []byte(in), 0o600))
	var b bytes.Buffer
	require.NoError(t, copyFiltered(context.Background(), &b, p, rule))
	return b.String()
}

func TestFilterLikeSed(t *testing.T) {
	long := strings.Repeat("x", 3*bufSize+17)
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"module line", "a\n/srv/m.ko\nb\n"},
		{"no final newline", "a\nm.ko"},
		{"only .ko", ".ko\n.ko\n"},
		{"ko inside", "m.ko here\nx.kox\n"},
		{"carriage return", "m.ko\r\n"},
		{"long kept", long + "\n" + long},
		{"long ending in .ko", long + ".ko\nafter\n" + long + ".ko"},
		{"long ko at the boundary", strings.Repeat("y", bufSize-3) + ".ko\n" + strings.Repeat("y", bufSize-2) + ".ko\nz\n"},
		{"keeping lines", "Keeping temporary directory \"/x\"\nKeeping\nerr\nKeeping temporary directory" + long + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, koRegexp.ReplaceAllString(tc.in, ""), filtered(t, tc.in, &koLines))
			assert.Equal(t, keepingRegexp.ReplaceAllString(tc.in, ""), filtered(t, tc.in, &keepingLines))
			assert.Equal(t, tc.in, filtered(t, tc.in, nil))
		})
	}
}

func TestFilterRandomLikeSed(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"\n", ".ko", ".ko\n", "k", "o", ".", "Keeping temporary directory", "a", "\xff", "\r"}
	for i := range 50 {
		var b strings.Builder
		for b.Len() < 4*bufSize {
			if rng.IntN(50) == 0 {
				b.WriteString(strings.Repeat("z", rng.IntN(2*bufSize)))
			}
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		in := b.String()
		require.Equal(t, koRegexp.ReplaceAllString(in, ""), filtered(t, in, &koLines), "input %d", i)
		require.Equal(t, keepingRegexp.ReplaceAllString(in, ""), filtered(t, in, &keepingLines), "input %d", i)
	}
}

func TestFilterStopsWhenCancelled(t *testing.T) {
	p := filepath.Join(t.TempDir(), "out")
	require.NoError(t, os.WriteFile(p, bytes.Repeat([]byte("line\n"), 100000), 0o600))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var b bytes.Buffer
	assert.ErrorIs(t, copyFiltered(ctx, &b, p, &koLines), context.Canceled)
	assert.ErrorIs(t, copyFiltered(ctx, &b, p, nil), context.Canceled)
	assert.Zero(t, b.Len())
}
