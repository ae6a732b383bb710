// SPDX-License-Identifier: GPL-2.0-or-later

package certdb

import (
	"context"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// certutil runs the real NSS tool; writes must be read back by it exactly
// as stap's own writes are. Without it the test fails unless SKIP_INTEROP=1.
func certutil(t *testing.T, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("certutil"); err != nil {
		if os.Getenv("SKIP_INTEROP") == "1" {
			t.Skip("######## SKIP_INTEROP=1: certutil cross-checks NOT run ########")
		}
		t.Fatal("certutil is needed (apt-get install libnss3-tools; make test installs it)")
	}
	out, err := exec.Command("certutil", args...).CombinedOutput()
	require.NoError(t, err, "certutil %v: %s", args, out)
	return string(out)
}

var listed = regexp.MustCompile(`(?m)^stap-server +P,P,P *$`)

func readDER(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

func TestAddTrustFreshDatabase(t *testing.T) {
	ctx := context.Background()
	der := readDER(t, "server.der")
	dir := filepath.Join(t.TempDir(), "ssl", "client")

	already, err := AddTrust(ctx, dir, der)
	require.NoError(t, err)
	assert.False(t, already)

	assert.Regexp(t, listed, certutil(t, "-L", "-d", "sql:"+dir))
	assert.Contains(t, certutil(t, "-V", "-u", "V", "-n", "stap-server", "-d", "sql:"+dir), "certificate is valid")
	db, err := Open(ctx, dir)
	require.NoError(t, err)
	assert.True(t, db.Trusts(der))
	assert.Equal(t, KeyEmptyPassword, db.KeyState())

	for _, f := range []string{"cert9.db", "key4.db"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm(), f)
	}
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o755), fi.Mode().Perm())
	_, err = os.Stat(filepath.Join(dir, "pkcs11.txt"))
	assert.True(t, os.IsNotExist(err), "pkcs11.txt is NSS's to make")

	already, err = AddTrust(ctx, dir, der)
	require.NoError(t, err)
	assert.True(t, already)

	// A second server in the same database, then revoke the first.
	other := readDER(t, "other.der")
	_, err = AddTrust(ctx, dir, other)
	require.NoError(t, err)
	x, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	n, err := RevokeTrust(ctx, dir, Certinfo(x))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	db, err = Open(ctx, dir)
	require.NoError(t, err)
	assert.False(t, db.Trusts(der))
	assert.True(t, db.Trusts(other))
	assert.Regexp(t, listed, certutil(t, "-L", "-d", "sql:"+dir))
	assert.Contains(t, certutil(t, "-V", "-u", "V", "-n", "stap-server", "-d", "sql:"+dir), "certificate is valid")
}

// Trust added to a database certutil made, where the certificate is
// present with no trust: the row is kept and trust added.
func TestAddTrustExistingCertificate(t *testing.T) {
	ctx := context.Background()
	dir := copyDB(t, "no-trust")
	der := readDER(t, "server.der")
	_, err := AddTrust(ctx, dir, der)
	require.NoError(t, err)
	assert.Regexp(t, listed, certutil(t, "-L", "-d", "sql:"+dir))
	db, err := Open(ctx, dir)
	require.NoError(t, err)
	assert.Len(t, db.Certs(), 1)
	assert.True(t, db.Trusts(der))
}

func TestAddTrustRefusals(t *testing.T) {
	ctx := context.Background()
	der := readDER(t, "server.der")
	already, err := AddTrust(ctx, copyDB(t, "password"), der)
	require.NoError(t, err)
	assert.True(t, already, "trusted already: nothing to write")
	_, err = AddTrust(ctx, copyDB(t, "password"), readDER(t, "other.der"))
	assert.ErrorIs(t, err, ErrPassword)

	_, err = AddTrust(ctx, "testdata/db/legacy", der)
	var le *LegacyError
	assert.ErrorAs(t, err, &le)

	n, err := RevokeTrust(ctx, filepath.Join(t.TempDir(), "none"), "00:11")
	require.NoError(t, err)
	assert.Zero(t, n)
}

// TestAddTrustKeyDBWithoutMetaData: NSS creates metaData lazily; the
// database stap 5.1's failed --trust-servers leaves (NSS opened it, no
// password was ever set) has an empty nssPrivate and no metaData. Trust is
// still added, as certutil then reads it.
func TestAddTrustKeyDBWithoutMetaData(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	certutil(t, "-N", "-d", "sql:"+dir, "--empty-password")
	kdb, err := openRW(filepath.Join(dir, "key4.db"))
	require.NoError(t, err)
	_, err = kdb.ExecContext(ctx, "DROP TABLE metaData")
	require.NoError(t, err)
	require.NoError(t, kdb.Close())

	der := readDER(t, "server.der")
	already, err := AddTrust(ctx, dir, der)
	require.NoError(t, err)
	assert.False(t, already)
	assert.Regexp(t, listed, certutil(t, "-L", "-d", "sql:"+dir))
	assert.Contains(t, certutil(t, "-V", "-u", "V", "-n", "stap-server", "-d", "sql:"+dir), "certificate is valid")
}
