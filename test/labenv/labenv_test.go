// SPDX-License-Identifier: GPL-2.0-or-later

package labenv

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRead(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lab.env")
	require.NoError(t, os.WriteFile(p, []byte("# comment\n\nLAB_PORT=5555\nexport NET_A_SYSINFO=\"6.1.0-56-amd64 x86_64\"\n"), 0o644))
	vars, err := Read(p)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"LAB_PORT": "5555", "NET_A_SYSINFO": "6.1.0-56-amd64 x86_64"}, vars)

	require.NoError(t, os.WriteFile(p, []byte("no equals sign\n"), 0o644))
	_, err = Read(p)
	assert.ErrorContains(t, err, "bad line")
}
