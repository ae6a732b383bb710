// SPDX-License-Identifier: GPL-2.0-or-later

package certdb

import (
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadCertDir(t *testing.T) {
	a, b := fixtureCerts(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "stap.cert"), a, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "more.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: b}), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a cert"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub"), 0o755))

	d, err := LoadCertDir(dir)
	require.NoError(t, err)
	assert.Equal(t, 2, d.Len())
	assert.True(t, d.Trusts(a))
	assert.True(t, d.Trusts(b))
	assert.False(t, d.Trusts(a[:len(a)-1]))

	_, err = LoadCertDir(filepath.Join(dir, "missing"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}
