// SPDX-License-Identifier: GPL-2.0-or-later

package response

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1G", 1 << 30, true}, {"2GiB", 2 << 30, true}, {"512M", 512 << 20, true}, {"512mb", 512 << 20, true},
		{"64K", 64 << 10, true}, {"1T", 1 << 40, true}, {"123456", 123456, true}, {" 4G ", 4 << 30, true},
		{"", 0, false}, {"0", 0, false}, {"-1G", 0, false}, {"1X", 0, false}, {"G", 0, false},
		{"1.5G", 0, false}, {"99999999999T", 0, false},
	} {
		got, err := ParseSize(tc.in)
		if !tc.ok {
			assert.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{1 << 30: "1G", 3 << 20: "3M", 1000: "1000 bytes", 1536: "1536 bytes", 2048: "2K"} {
		assert.Equal(t, want, FormatSize(n))
	}
}

func TestLimitsFor(t *testing.T) {
	assert.Equal(t, Limits{MaxEntries: 16384, MaxBytes: 1 << 30}, LimitsFor(1<<30))
	assert.Equal(t, Limits{MaxEntries: 1024, MaxBytes: 1 << 20}, LimitsFor(1<<20), "never fewer than 1024 entries")
	assert.Equal(t, LimitsFor(DefaultMaxReply), DefaultLimits)
}

// bomb writes a zip whose one entry inflates to size zero bytes; header is
// the uncompressed size it claims (a lying header when it differs).
func bomb(t *testing.T, size, header int64) string {
	t.Helper()
	var comp bytes.Buffer
	fw, err := flate.NewWriter(&comp, flate.BestSpeed)
	require.NoError(t, err)
	crc := crc32.NewIEEE()
	zeros := make([]byte, 1<<20)
	for left := size; left > 0; left -= int64(len(zeros)) {
		chunk := zeros[:min(int64(len(zeros)), left)]
		_, _ = fw.Write(chunk)
		_, _ = crc.Write(chunk)
	}
	require.NoError(t, fw.Close())
	p := filepath.Join(t.TempDir(), "server.zip")
	f, err := os.Create(p)
	require.NoError(t, err)
	zw := zip.NewWriter(f)
	h := &zip.FileHeader{Name: "stdout", Method: zip.Deflate, CRC32: crc.Sum32(),
		CompressedSize64: uint64(comp.Len()), UncompressedSize64: uint64(header)}
	h.SetMode(0o644)
	w, err := zw.CreateRaw(h)
	require.NoError(t, err)
	_, err = io.Copy(w, &comp)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	require.NoError(t, f.Close())
	return p
}

func TestUnpackBombStopsAtTheBudget(t *testing.T) {
	const budget = 8 << 20
	for _, tc := range []struct {
		name   string
		header int64
		want   string
	}{
		{"honest header", 32 << 20, "the reply unpacks to more than 8M"},
		// The zip reader stops at the size the header gives.
		{"lying header", 10, "zip: not a valid zip file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			zp := bomb(t, 32<<20, tc.header)
			dest := t.TempDir()
			err := Unpack(context.Background(), zp, dest, LimitsFor(budget))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			var written int64
			require.NoError(t, filepath.Walk(dest, func(_ string, fi os.FileInfo, err error) error {
				written += fi.Size()
				return err
			}))
			assert.LessOrEqual(t, written, int64(budget+(1<<20)), "at most the budget (and a directory) is written")
		})
	}
}

func TestUnpackStopsWhenCancelled(t *testing.T) {
	zp := bomb(t, 32<<20, 32<<20)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, Unpack(ctx, zp, t.TempDir(), DefaultLimits), context.Canceled)
}

func TestScanDirectoryCountsSignaturesAcrossReads(t *testing.T) {
	// One signature at each position around the 64 KiB read boundary.
	for _, at := range []int{0, 65532, 65533, 65534, 65535, 65536, 3*65536 - 4} {
		data := make([]byte, 3*65536)
		copy(data[at:], "PK\x01\x02")
		p := filepath.Join(t.TempDir(), "z")
		require.NoError(t, os.WriteFile(p, data, 0o600))
		f, err := os.Open(p)
		require.NoError(t, err)
		var le *LimitError
		require.ErrorAs(t, scanDirectory(context.Background(), f, Limits{MaxEntries: 0}), &le, "at %d", at)
		_, err = f.Seek(0, io.SeekStart)
		require.NoError(t, err)
		assert.NoError(t, scanDirectory(context.Background(), f, Limits{MaxEntries: 1}), "at %d: counted once", at)
		f.Close()
	}
}
