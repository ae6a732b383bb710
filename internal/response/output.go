// SPDX-License-Identifier: GPL-2.0-or-later

package response

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// bufSize is the fixed buffer for printing: memory does not grow with the
// server's output, however long it or its lines are.
const bufSize = 64 << 10

// lineRule deletes the lines that start with prefix and end with suffix,
// with their newline: a streaming form of the sed deletions stap runs.
type lineRule struct{ prefix, suffix string }

var (
	// The server's stap prints the module name at its synthetic pass 4;
	// stap deletes every stdout line ending in .ko (sed '/^.*\.ko$/d').
	koLines = lineRule{suffix: ".ko"}
	// Servers below 1.6 leave their temp dir; stap drops that line.
	keepingLines = lineRule{prefix: "Keeping temporary directory"}
)

// WriteStdout prints the server's stdout to w as stap does: without the
// lines ending in .ko.
func (r *Result) WriteStdout(ctx context.Context, w io.Writer) error {
	return copyFiltered(ctx, w, r.StdoutPath, &koLines)
}

// WriteStderr prints the server's stderr to w (for servers below 1.6
// without their "Keeping temporary directory" line).
func (r *Result) WriteStderr(ctx context.Context, w io.Writer) error {
	var rule *lineRule
	if r.BelowVersion {
		rule = &keepingLines
	}
	return copyFiltered(ctx, w, r.StderrPath, rule)
}

// Print streams the server's stdout, then its stderr, as stap does. An
// interrupt ends it at once even when a write blocks on a full pipe: the
// copy is left to stop at its next buffer.
func (r *Result) Print(ctx context.Context, stdout, stderr io.Writer) error {
	done := make(chan error, 1)
	go func() {
		err := r.WriteStdout(ctx, stdout)
		if err == nil {
			err = r.WriteStderr(ctx, stderr)
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		select {
		case <-done:
		case <-time.After(100 * time.Millisecond):
		}
		return ctx.Err()
	}
}

// copyFiltered copies the file at p to w, less the lines rule deletes, with
// fixed buffers, stopping when ctx ends. A missing file prints nothing.
func copyFiltered(ctx context.Context, w io.Writer, p string, rule *lineRule) error {
	if p == "" {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return nil // as a missing file: stap's cat complains, and that is noise
	}
	defer f.Close()
	bw := bufio.NewWriterSize(w, bufSize)
	if rule == nil {
		_, err = io.CopyBuffer(bw, ctxReader{ctx, f}, make([]byte, bufSize))
	} else {
		err = rule.filter(ctx, bw, f)
	}
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		return fmt.Errorf("printing the server's output: %w", err)
	}
	return nil
}

// filter copies f to w less the lines the rule deletes. A line longer than
// the buffer is scanned to its end first (remembering only its first and
// last bytes), then copied from the file if it stays.
func (lr *lineRule) filter(ctx context.Context, w *bufio.Writer, f *os.File) error {
	br := bufio.NewReaderSize(ctxReader{ctx, f}, bufSize)
	var pos int64 // file offset of the next line
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			n, err := lr.long(ctx, w, f, br, line, pos)
			if err != nil {
				return err
			}
			pos += n
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if len(line) > 0 && !lr.drops(line, bytes.TrimSuffix(line, []byte("\n"))) {
			if _, werr := w.Write(line); werr != nil {
				return werr
			}
		}
		pos += int64(len(line))
		if err != nil {
			return nil // EOF
		}
	}
}

// drops decides on a line from its start (head) and its end without the
// newline (tail); either may be a part of a long line. Each rule has a
// prefix or a suffix, not both, so they never overlap.
func (lr *lineRule) drops(head, tail []byte) bool {
	return bytes.HasPrefix(head, []byte(lr.prefix)) && bytes.HasSuffix(tail, []byte(lr.suffix))
}

// long handles a line that does not fit the buffer; first is its start.
// It returns the line's length with its newline.
func (lr *lineRule) long(ctx context.Context, w *bufio.Writer, f *os.File, br *bufio.Reader, first []byte, start int64) (int64, error) {
	head := bytes.Clone(first[:min(len(first), len(lr.prefix))])
	var tail []byte
	keepTail := func(b []byte) {
		tail = append(tail, b...)
		if len(tail) > len(lr.suffix)+1 {
			tail = tail[len(tail)-len(lr.suffix)-1:]
		}
	}
	n := int64(len(first))
	keepTail(first)
	for {
		chunk, err := br.ReadSlice('\n')
		n += int64(len(chunk))
		keepTail(chunk)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		break
	}
	if lr.drops(head, bytes.TrimSuffix(tail, []byte("\n"))) {
		return n, nil
	}
	_, err := io.CopyBuffer(w, ctxReader{ctx, io.NewSectionReader(f, start, n)}, make([]byte, bufSize))
	return n, err
}
