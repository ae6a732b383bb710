// SPDX-License-Identifier: GPL-2.0-or-later

package response

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// The reply budget: one number bounds what a server's reply may cost this
// machine. Real replies are 1 KB to tens of MB.
const (
	// MaxReplyEnv names the environment variable that sets the budget.
	MaxReplyEnv = "STAP_CLIENT_MAX_REPLY"
	// DefaultMaxReply is the budget when MaxReplyEnv is unset: 1 GiB.
	DefaultMaxReply int64 = 1 << 30
	// bytesPerEntry: the budget allows one zip entry per 64 KiB of it, so
	// entries are bounded by the same number (16384 for 1 GiB).
	bytesPerEntry = 64 << 10
	minEntries    = 1024
	// dirBytesPerEntry bounds the zip's central directory, which the zip
	// reader holds in memory: real entries take about 130 bytes there.
	dirBytesPerEntry = 256
)

// LimitsFor is the unpacking budget for a reply budget in bytes: at most
// that many bytes written and one entry per 64 KiB of it (at least 1024).
func LimitsFor(budget int64) Limits {
	return Limits{MaxEntries: int(max(budget/bytesPerEntry, minEntries)), MaxBytes: budget}
}

// LimitError is a reply refused for being over the budget. What is "bytes"
// (unpacked size), "entries" or "directory" (the zip's list of entries).
type LimitError struct {
	What  string
	Limit int64
}

func (e *LimitError) Error() string {
	switch e.What {
	case "entries":
		return fmt.Sprintf("the reply has more than %d entries", e.Limit)
	case "directory":
		return fmt.Sprintf("the reply's list of entries is larger than %s", FormatSize(e.Limit))
	}
	return fmt.Sprintf("the reply unpacks to more than %s", FormatSize(e.Limit))
}

// ParseSize reads a byte count: digits, optionally followed by K, M, G or T
// (powers of 1024; "KiB", "MB" and the like are taken the same way).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	num := strings.TrimRight(t, "KkMmGgTtIiBb")
	unit := strings.ToUpper(strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(t[len(num):]), "B"), "I"))
	shift := map[string]uint{"": 0, "K": 10, "M": 20, "G": 30, "T": 40}
	sh, ok := shift[unit]
	n, err := strconv.ParseInt(num, 10, 64)
	if !ok || err != nil || n <= 0 || n > (1<<62)>>sh {
		return 0, fmt.Errorf("%q is not a size (e.g. 2G, 512M or a byte count)", s)
	}
	return n << sh, nil
}

// FormatSize prints n in the largest unit ParseSize reads that divides it.
func FormatSize(n int64) string {
	for _, u := range []struct {
		suffix string
		shift  uint
	}{{"T", 40}, {"G", 30}, {"M", 20}, {"K", 10}} {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d%s", n>>u.shift, u.suffix)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

// scanDirectory bounds, before the zip reader sees the file, what its
// central directory makes that reader hold in memory. Every directory record
// starts with the signature PK\1\2, so counting the signatures anywhere in
// the file (and the record sizes they announce) is a sound upper bound that
// needs no zip parsing of our own. Honest data holds the signature by
// chance, about once per 4 GB.
func scanDirectory(ctx context.Context, f *os.File, lim Limits) error {
	sig := []byte("PK\x01\x02")
	buf := make([]byte, 64<<10)
	var off int64 // file offset of buf[0]
	var count, dirBytes int64
	keep := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		m, rerr := io.ReadFull(f, buf[keep:])
		data := buf[:keep+m]
		for i := 0; ; {
			j := bytes.Index(data[i:], sig)
			if j < 0 {
				break
			}
			count++
			if count > int64(lim.MaxEntries) {
				return &LimitError{What: "entries", Limit: int64(lim.MaxEntries)}
			}
			// A record is 46 bytes, then name, extra and comment.
			var hdr [46]byte
			if _, err := f.ReadAt(hdr[:], off+int64(i+j)); err == nil {
				dirBytes += 46 + int64(binary.LittleEndian.Uint16(hdr[28:])) + int64(binary.LittleEndian.Uint16(hdr[30:])) + int64(binary.LittleEndian.Uint16(hdr[32:]))
			}
			if limit := int64(lim.MaxEntries) * dirBytesPerEntry; dirBytes > limit {
				return &LimitError{What: "directory", Limit: limit}
			}
			i += j + 1
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
				return nil
			}
			return rerr
		}
		// A signature may straddle two reads: carry the last 3 bytes over.
		keep = min(len(sig)-1, len(data))
		copy(buf, data[len(data)-keep:])
		off += int64(len(data) - keep)
	}
}

// ctxReader stops a copy once ctx ends: an interrupt must not wait for a
// large entry to finish.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
