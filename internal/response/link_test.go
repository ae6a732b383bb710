// SPDX-License-Identifier: GPL-2.0-or-later

package response

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLinkBuildDir(t *testing.T) {
	tmp := t.TempDir()
	build := filepath.Join(tmp, "server", "stap000000")
	require.NoError(t, os.MkdirAll(build, 0o700))
	for _, f := range []string{"m.ko", ".m.ko.cmd"} {
		require.NoError(t, os.WriteFile(filepath.Join(build, f), nil, 0o600))
	}
	require.NoError(t, LinkBuildDir(build, tmp))
	for _, f := range []string{"m.ko", ".m.ko.cmd"} {
		target, err := os.Readlink(filepath.Join(tmp, f))
		require.NoError(t, err)
		assert.Equal(t, filepath.Join(build, f), target)
	}

	// A name the temp dir holds already: stap's message.
	require.NoError(t, os.WriteFile(filepath.Join(build, "server"), nil, 0o600))
	err := LinkBuildDir(build, tmp)
	var re *ReadError
	require.ErrorAs(t, err, &re)
	assert.Contains(t, re.Msg, "Unable to link '"+filepath.Join(build, ".m.ko.cmd")+"' to '"+filepath.Join(tmp, ".m.ko.cmd")+"':")
}
