// SPDX-License-Identifier: GPL-2.0-or-later

package certdb

import (
	"context"
	"crypto/x509"
	"math/big"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixtureCerts returns the DER of the two server certificates the fixtures
// are made with: the one the databases trust, and another.
func fixtureCerts(t *testing.T) (server, other []byte) {
	t.Helper()
	server, err := os.ReadFile("testdata/server.der")
	require.NoError(t, err)
	other, err = os.ReadFile("testdata/other.der")
	require.NoError(t, err)
	return server, other
}

// The fixtures are made by the real certutil (testdata/regen.sh); the
// expected verdicts are what certutil -L shows and what stap accepts.
func TestTrustMatchesNSS(t *testing.T) {
	server, other := fixtureCerts(t)
	tests := []struct {
		db      string
		der     []byte
		trusted bool
		keys    KeyState
		why     string
	}{
		{"trusted", server, true, KeyEmptyPassword, ""},
		{"peer-ssl-only", server, true, KeyEmptyPassword, ""},
		{"anchor", server, true, KeyEmptyPassword, ""},
		{"password", server, true, KeyPassword, ""}, // MACs deleted, not checked
		{"no-trust", server, false, KeyEmptyPassword, "no trust settings"},
		{"distrusted", server, false, KeyEmptyPassword, "not trusted as an SSL server"},
		{"no-macs", server, false, KeyEmptyPassword, "integrity check"},
		{"one-mac-missing", server, false, KeyEmptyPassword, "integrity check"},
		{"bad-hash", server, false, KeyEmptyPassword, "hash does not match"},
		{"other", server, false, KeyEmptyPassword, ""},
		{"other", other, true, KeyEmptyPassword, ""},
	}
	for _, tc := range tests {
		t.Run(tc.db, func(t *testing.T) {
			db, err := Open(context.Background(), filepath.Join("testdata/db", tc.db))
			require.NoError(t, err)
			assert.Equal(t, tc.trusted, db.Trusts(tc.der))
			assert.Equal(t, tc.keys, db.KeyState())
			require.Len(t, db.Certs(), 1)
			assert.Equal(t, "stap-server", db.Certs()[0].Nickname)
			if tc.why != "" {
				assert.Contains(t, db.Certs()[0].Why, tc.why)
			}
		})
	}
}

func TestOpenFormats(t *testing.T) {
	_, err := Open(context.Background(), "testdata/db/legacy")
	var le *LegacyError
	require.ErrorAs(t, err, &le)
	assert.Contains(t, err.Error(), "certutil -M -n stap-server -t P,P,P -d sql:testdata/db/legacy")

	_, err = Open(context.Background(), t.TempDir())
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.Equal(t, FormatNone, Detect("testdata/nowhere"))
	assert.Equal(t, FormatSQL, Detect("testdata/db/trusted"))
}

// Opening must never write: NSS may be using the database.
func TestOpenWritesNothing(t *testing.T) {
	dir := copyDB(t, "trusted")
	require.NoError(t, os.Chmod(dir, 0o555))
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	before := listing(t, dir)
	_, err := Open(context.Background(), dir)
	require.NoError(t, err)
	assert.Equal(t, before, listing(t, dir))
}

func copyDB(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"cert9.db", "key4.db"} {
		data, err := os.ReadFile(filepath.Join("testdata/db", name, f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), data, 0o644))
	}
	return dir
}

func listing(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	out := map[string]int64{}
	for _, e := range ents {
		fi, err := e.Info()
		require.NoError(t, err)
		out[e.Name()] = fi.ModTime().UnixNano() ^ fi.Size()
	}
	return out
}

// FuzzOpen: corrupted databases give an error or a verdict, never a panic.
func FuzzOpen(f *testing.F) {
	cert, err := os.ReadFile("testdata/db/trusted/cert9.db")
	if err != nil {
		f.Fatal(err)
	}
	key, err := os.ReadFile("testdata/db/trusted/key4.db")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint16(100), byte(0xff), false)
	f.Add(uint16(4096+200), byte(0x00), true)
	f.Fuzz(func(t *testing.T, off uint16, b byte, inKey bool) {
		dir := t.TempDir()
		c, k := append([]byte{}, cert...), append([]byte{}, key...)
		target := c
		if inKey {
			target = k
		}
		// Corrupt a run of bytes: a single flipped byte rarely gets past
		// SQLite's own checks into our decoding.
		for i := 0; i < 16; i++ {
			target[(int(off)+i*97)%len(target)] ^= b
		}
		if err := os.WriteFile(filepath.Join(dir, "cert9.db"), c, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "key4.db"), k, 0o644); err != nil {
			t.Fatal(err)
		}
		db, err := Open(context.Background(), dir)
		if err == nil {
			_ = db.Trusts(c[:10])
		}
	})
}

func TestCertinfo(t *testing.T) {
	for serial, want := range map[int64]string{0xcc197147: "00:cc:19:71:47", 0x4c197147: "4c:19:71:47", 0: "00", 0x80: "00:80"} {
		assert.Equal(t, want, Certinfo(&x509.Certificate{SerialNumber: big.NewInt(serial)}))
	}
}
