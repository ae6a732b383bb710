// SPDX-License-Identifier: GPL-2.0-or-later

package certdb

import (
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func parsed(t *testing.T, name string) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(readDER(t, name))
	require.NoError(t, err)
	return c
}

// sslDir is a --ssl=DIR holding plain certificate files, loaded as a run
// loads it (permission checks included).
func sslDir(t *testing.T, ders ...[]byte) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ssl")
	require.NoError(t, os.Mkdir(dir, 0o755))
	for i, der := range ders {
		require.NoError(t, os.WriteFile(filepath.Join(dir, string(rune('a'+i))+".cert"), der, 0o644))
	}
	return dir
}

func sslLocations(dirs ...string) []Location {
	var locs []Location
	for _, d := range dirs {
		locs = append(locs, Location{Dir: d, Kind: KindSSL})
	}
	return locs
}

func load(t *testing.T, dirs ...string) []Store {
	t.Helper()
	stores := Load(context.Background(), sslLocations(dirs...), os.Geteuid(), func(w string) { t.Errorf("warning: %s", w) })
	require.Len(t, stores, len(dirs))
	return stores
}

func TestAccept(t *testing.T) {
	server, other := parsed(t, "server.der"), parsed(t, "other.der")
	valid := server.NotBefore.Add(time.Hour)
	tests := []struct {
		name  string
		dirs  []string
		cert  *x509.Certificate
		now   time.Time
		want  error
		store int // index of the store that must trust it, when accepted
		tried int // stores asked
	}{
		{"a certificate directory holding it", []string{sslDir(t, other.Raw, server.Raw)}, server, valid, nil, 0, 1},
		{"a certificate directory without it", []string{sslDir(t, other.Raw)}, server, valid, ErrUntrusted, -1, 1},
		{"an NSS database trusting it (P,P,P)", []string{copyDB(t, "trusted")}, server, valid, nil, 0, 1},
		{"an NSS database trusting it as an anchor", []string{copyDB(t, "anchor")}, server, valid, nil, 0, 1},
		{"an NSS database holding it without trust", []string{copyDB(t, "no-trust")}, server, valid, ErrUntrusted, -1, 1},
		{"an NSS database distrusting it", []string{copyDB(t, "distrusted")}, server, valid, ErrUntrusted, -1, 1},
		{"an NSS database whose trust fails its MAC", []string{copyDB(t, "no-macs")}, server, valid, ErrUntrusted, -1, 1},
		{"the first store that trusts it, in order", []string{copyDB(t, "other"), copyDB(t, "trusted"), sslDir(t, server.Raw)}, server, valid, nil, 1, 2},
		{"no stores", nil, server, valid, ErrUntrusted, -1, 0},
		{"trusted but expired", []string{sslDir(t, server.Raw)}, server, server.NotAfter.Add(time.Second), ErrExpired, 0, 1},
		{"trusted but not yet valid", []string{sslDir(t, server.Raw)}, server, server.NotBefore.Add(-time.Second), ErrExpired, 0, 1},
		{"no certificate", []string{sslDir(t, server.Raw)}, nil, valid, ErrUntrusted, -1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stores []Store
			if len(tc.dirs) > 0 {
				stores = load(t, tc.dirs...)
			}
			var tried []Store
			s, err := Accept(stores, tc.cert, tc.now, func(s Store) { tried = append(tried, s) })
			assert.Len(t, tried, tc.tried)
			if tc.want != nil {
				assert.ErrorIs(t, err, tc.want)
			} else {
				assert.NoError(t, err)
			}
			if tc.store < 0 {
				assert.Nil(t, s)
			} else {
				assert.Same(t, stores[tc.store], s)
			}

			// Loading the stores one at a time gives the same verdict.
			lazy, lerr := AcceptFrom(context.Background(), sslLocations(tc.dirs...), os.Geteuid(), func(w string) { t.Errorf("warning: %s", w) }, tc.cert, tc.now)
			assert.Equal(t, err, lerr)
			if s == nil {
				assert.Nil(t, lazy)
			} else if assert.NotNil(t, lazy) {
				assert.Equal(t, s.Name(), lazy.Name())
			}
		})
	}
}

// TestAcceptFromStopsEarly: the databases after the one that trusts the
// certificate are not read, so their warnings are not given either.
func TestAcceptFromStopsEarly(t *testing.T) {
	server := parsed(t, "server.der")
	now := server.NotBefore.Add(time.Hour)
	unsafe := sslDir(t, server.Raw)
	require.NoError(t, os.Chmod(unsafe, 0o777))
	tests := []struct {
		name     string
		dirs     []string
		want     error
		warnings bool
	}{
		{"trusted before the unsafe one", []string{sslDir(t, server.Raw), unsafe}, nil, false},
		{"not trusted before it", []string{copyDB(t, "other"), unsafe}, ErrUntrusted, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var warned []string
			_, err := AcceptFrom(context.Background(), sslLocations(tc.dirs...), os.Geteuid(), func(w string) { warned = append(warned, w) }, server, now)
			if tc.want != nil {
				assert.ErrorIs(t, err, tc.want)
			} else {
				assert.NoError(t, err)
			}
			assert.Equal(t, tc.warnings, len(warned) > 0, "%q", warned)
		})
	}
}

// TestAcceptAfterRevoke: --trust-servers adds trust and its revoke takes it
// away again, for a connection and for whatever else asks Accept.
func TestAcceptAfterRevoke(t *testing.T) {
	ctx := context.Background()
	server, other := parsed(t, "server.der"), parsed(t, "other.der")
	now := server.NotBefore.Add(time.Hour)
	dir := filepath.Join(t.TempDir(), "client")
	for _, c := range []*x509.Certificate{server, other} {
		_, err := AddTrust(ctx, dir, c.Raw)
		require.NoError(t, err)
	}
	_, err := Accept(load(t, dir), server, now, nil)
	require.NoError(t, err)

	n, err := RevokeTrust(ctx, dir, Certinfo(server))
	require.NoError(t, err)
	require.Equal(t, 1, n)
	stores := load(t, dir)
	_, err = Accept(stores, server, now, nil)
	assert.ErrorIs(t, err, ErrUntrusted, "revoked")
	_, err = Accept(stores, other, now, nil)
	assert.NoError(t, err, "the other server keeps its trust")
}

func TestIsSigner(t *testing.T) {
	ctx := context.Background()
	server, other := parsed(t, "server.der"), parsed(t, "other.der")
	signers := filepath.Join(t.TempDir(), "staprun")
	_, err := AddTrust(ctx, signers, server.Raw)
	require.NoError(t, err)
	open := func(dir string) *DB {
		db, err := Open(ctx, dir)
		require.NoError(t, err)
		return db
	}
	tests := []struct {
		name string
		db   *DB
		cert *x509.Certificate
		want bool
	}{
		{"in the signer database", open(signers), server, true},
		{"not in it", open(signers), other, false},
		{"present without trust flags: every certificate in it counts", open("testdata/db/no-trust"), server, true},
		{"no signer database", nil, server, false},
		{"no certificate", open(signers), nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, IsSigner(tc.db, tc.cert))
		})
	}

	t.Run("revoked", func(t *testing.T) {
		n, err := RevokeTrust(ctx, signers, Certinfo(server))
		require.NoError(t, err)
		require.Equal(t, 1, n)
		assert.False(t, IsSigner(open(signers), server))
	})
}

// BenchmarkAcceptOnDisk is what checking a cached result's builder costs a
// run that has not loaded its trust stores yet: loading an NSS database as
// a run does (permissions, cert9.db, key4.db and its MACs), then Accept.
func BenchmarkAcceptOnDisk(b *testing.B) {
	der, err := os.ReadFile("testdata/server.der")
	require.NoError(b, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(b, err)
	dir := filepath.Join(b.TempDir(), "client")
	_, err = AddTrust(context.Background(), dir, der)
	require.NoError(b, err)
	locs := []Location{{Dir: dir, Kind: KindSSL}}
	now := cert.NotBefore.Add(time.Hour)
	for b.Loop() {
		stores := Load(context.Background(), locs, os.Geteuid(), func(w string) { b.Fatal(w) })
		if _, err := Accept(stores, cert, now, nil); err != nil {
			b.Fatal(err)
		}
	}
}
