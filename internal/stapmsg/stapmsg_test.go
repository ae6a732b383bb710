// SPDX-License-Identifier: GPL-2.0-or-later

package stapmsg

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestStrerror(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{syscall.ENOENT, "No such file or directory"},
		{&os.PathError{Op: "open", Path: "/x", Err: syscall.EACCES}, "Permission denied"},
		{&os.LinkError{Op: "symlink", Old: "a", New: "b", Err: syscall.EEXIST}, "File exists"},
		{fmt.Errorf("reading: %w", &os.PathError{Op: "open", Path: "/x", Err: syscall.EISDIR}), "Is a directory"},
		{errors.New("odd"), "Odd"},
	} {
		assert.Equal(t, tc.want, Strerror(tc.err))
	}
}

func TestTimesPrint(t *testing.T) {
	start := time.Unix(100, 999_999_000)
	end := time.Unix(102, 1_000)
	b := syscall.Tms{Utime: 1, Cutime: 2, Stime: 3, Cstime: 4}
	a := syscall.Tms{Utime: 2, Cutime: 12, Stime: 3, Cstime: 5}
	// (2-1)*1000 + (1-999999)/1000 = 2000 - 999 = 1001, truncated as C does.
	assert.Equal(t, "in 110usr/10sys/1001real ms.", TimesPrint(b, a, start, end))
	assert.Regexp(t, `^in \d+usr/\d+sys/\d+real ms\.$`, Start().String())
}

func TestPrinter(t *testing.T) {
	var b, other bytes.Buffer
	p := New(&b, 1)
	p.Logf(2, "hidden")
	p.Logf(1, "shown %d", 1)
	p.Ours("doing x", errors.New("why"))
	p.Ours("plain", nil)
	p.Warn("careful")
	p.NoWarnings = true
	p.Warn("hidden")
	restore := p.Redirect(&other)
	p.Errf("elsewhere")
	restore()
	p.OurWarning("w %s", "x")
	assert.Equal(t, "shown 1\nstap-client: ERROR: doing x: why\nstap-client: ERROR: plain\nWARNING: careful\nstap-client: WARNING: w x\n", b.String())
	assert.Equal(t, "elsewhere\n", other.String())
	assert.Regexp(t, `^(using \d+virt/\d+res/\d+shr/\d+data kb, )?$`, MemUsage())
}
