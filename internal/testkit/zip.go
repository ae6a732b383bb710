// SPDX-License-Identifier: GPL-2.0-or-later

package testkit

import (
	"archive/zip"
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// ZipEntry is one entry of a zip a test makes.
type ZipEntry struct {
	Name, Body string
	Mode       fs.FileMode // Zip: left unset when zero
	Method     uint16      // zip.Store when zero
	Modified   time.Time
}

// Zip makes a zip of ents, each exactly as given.
func Zip(t testing.TB, ents ...ZipEntry) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range ents {
		h := &zip.FileHeader{Name: e.Name, Method: e.Method, Modified: e.Modified}
		if e.Mode != 0 {
			h.SetMode(e.Mode)
		}
		w, err := zw.CreateHeader(h)
		require.NoError(t, err)
		_, err = w.Write([]byte(e.Body))
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return b.Bytes()
}

// ServerZip makes a zip as the compile server writes its replies: every
// entry deflated, a file of mode 0644 where Mode is zero.
func ServerZip(t testing.TB, ents ...ZipEntry) []byte {
	t.Helper()
	out := make([]ZipEntry, len(ents))
	for i, e := range ents {
		e.Method = zip.Deflate
		if e.Mode == 0 {
			e.Mode = 0o644
		}
		out[i] = e
	}
	return Zip(t, out...)
}

// WriteFile writes data to a new file name in a fresh temporary
// directory and returns its path.
func WriteFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, data, 0o644))
	return p
}

// ZipBody is the body of the entry name in r, and whether r has one.
func ZipBody(t testing.TB, r *zip.Reader, name string) (string, bool) {
	t.Helper()
	for _, f := range r.File {
		if f.Name != name {
			continue
		}
		rc, err := f.Open()
		require.NoError(t, err)
		defer rc.Close()
		b, err := io.ReadAll(rc)
		require.NoError(t, err)
		return string(b), true
	}
	return "", false
}
