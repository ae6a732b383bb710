// SPDX-License-Identifier: GPL-2.0-or-later

package staprun

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVersionThroughPTY: staprun prints -V with printf and _exit(0), so
// its line only arrives through a terminal; a stand-in does the same
// (stdio buffers on a pipe, the shell's printf does not, so the stand-in
// proves only the parsing and the pty plumbing), and the real staprun is
// asked when installed.
func TestVersionThroughPTY(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "staprun")
	require.NoError(t, os.WriteFile(fake, []byte("#!/bin/sh\n[ -t 1 ] || exit 0\nprintf 'Systemtap module loader/runner (version 5.1/0.192, Debian version 5.1-5)\\nCopyright\\n'\n"), 0o755))
	v, err := Version(context.Background(), fake)
	require.NoError(t, err)
	assert.Equal(t, "5.1", v)

	_, err = Version(context.Background(), filepath.Join(dir, "missing"))
	assert.Error(t, err)

	real, err := exec.LookPath("staprun")
	if err != nil {
		if os.Getenv("SKIP_INTEROP") == "1" {
			t.Skip("######## SKIP_INTEROP=1: the real staprun -V is NOT asked ########")
		}
		t.Fatal("staprun is needed (systemtap-runtime; make test installs it)")
	}
	// Through a pipe the real one prints nothing (the reason for the pty).
	out, _ := exec.Command(real, "-V").Output()
	assert.Empty(t, out)
	v, err = Version(context.Background(), real)
	require.NoError(t, err)
	assert.Regexp(t, `^[0-9]+\.[0-9]+$`, v)
}
