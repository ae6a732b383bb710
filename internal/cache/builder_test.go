// SPDX-License-Identifier: GPL-2.0-or-later

package cache

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testCerts are two self-signed server certificates, made once.
var testCerts = sync.OnceValue(func() [2]*x509.Certificate {
	var out [2]*x509.Certificate
	for i := range out {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(int64(1000 + i)),
			Subject:      pkix.Name{CommonName: "Systemtap Compile Server", OrganizationalUnit: []string{"Systemtap"}},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			panic(err)
		}
		if out[i], err = x509.ParseCertificate(der); err != nil {
			panic(err)
		}
	}
	return out
})

// built is server A, the builder of most test entries.
func built() Builder {
	return Builder{Cert: testCerts()[0], Addr: netip.MustParseAddrPort("192.0.2.1:5555"), Host: "build.example", Version: "1.6"}
}

// builtByB is another server.
func builtByB() Builder {
	return Builder{Cert: testCerts()[1], Addr: netip.MustParseAddrPort("[2001:db8::2]:5556"), Version: "1.5"}
}

func assertBuilder(t *testing.T, want, got Builder) {
	t.Helper()
	require.NotNil(t, got.Cert)
	assert.Equal(t, want.Cert.Raw, got.Cert.Raw)
	assert.Equal(t, want.Addr, got.Addr)
	assert.Equal(t, want.Host, got.Host)
	assert.Equal(t, want.Version, got.Version)
}

func TestBuilderRecorded(t *testing.T) {
	ctx := context.Background()
	c := open(t)
	k := key(0x21)
	_, err := c.Builder(ctx, k)
	assert.ErrorIs(t, err, ErrMiss)

	require.NoError(t, c.Put(ctx, k, builtByB(), result(t, moduleResult)))
	b, err := c.Builder(ctx, k)
	require.NoError(t, err)
	assertBuilder(t, builtByB(), b)

	dst := t.TempDir()
	_, err = c.Get(ctx, k, dst)
	require.NoError(t, err)
	assert.Equal(t, moduleResult, readTree(t, dst), "the record is not copied out with the result")

	require.NoError(t, c.Put(ctx, k, built(), result(t, moduleResult)), "a new build replaces the record")
	b, err = c.Builder(ctx, k)
	require.NoError(t, err)
	assertBuilder(t, built(), b)
}

func TestPutNeedsABuilder(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		b    Builder
	}{
		{"no certificate", Builder{Addr: built().Addr}},
		{"an empty certificate", Builder{Cert: &x509.Certificate{}, Addr: built().Addr}},
		{"no address", Builder{Cert: built().Cert}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := open(t)
			assert.Error(t, c.Put(ctx, key(1), tc.b, result(t, moduleResult)))
			assert.False(t, c.Has(key(1)))
		})
	}
}

// TestGetFromAccept: the caller sees the builder before anything is copied
// and can refuse the entry.
func TestGetFromAccept(t *testing.T) {
	ctx := context.Background()
	c := open(t)
	k := key(0x22)
	require.NoError(t, c.Put(ctx, k, built(), result(t, moduleResult)))
	errUntrusted := errors.New("its server is no longer trusted")
	tests := []struct {
		name    string
		verdict error
	}{
		{"accepted", nil},
		{"refused", errUntrusted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := t.TempDir()
			var seen []Builder
			entry, err := c.GetFrom(ctx, k, dst, func(b Builder) error {
				assert.Empty(t, readTree(t, dst), "nothing copied yet")
				seen = append(seen, b)
				return tc.verdict
			})
			require.Len(t, seen, 1)
			assertBuilder(t, built(), seen[0])
			assert.True(t, c.Has(k), "a refused entry stays until removed")
			if tc.verdict != nil {
				assert.Same(t, tc.verdict, err)
				assert.Empty(t, entry)
				assert.Empty(t, readTree(t, dst))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.Path(k), entry)
			assert.Equal(t, moduleResult, readTree(t, dst))
		})
	}
	_, err := c.GetFrom(ctx, key(0x23), t.TempDir(), func(Builder) error {
		t.Error("accept called on a miss")
		return nil
	})
	assert.ErrorIs(t, err, ErrMiss)
}

// oldEntry writes k's entry as the previous stap-client did: the same
// files, a manifest with format 1's header and no builder record.
func oldEntry(t *testing.T, c *Cache, k Key) {
	t.Helper()
	entry := c.Path(k)
	require.NoError(t, os.MkdirAll(entry, 0o700))
	names := make([]string, 0, len(moduleResult))
	for n := range moduleResult {
		names = append(names, n)
	}
	sort.Strings(names)
	manifest := oldHeader + "\n"
	for _, n := range names {
		p := filepath.Join(entry, filepath.FromSlash(n))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o700))
		require.NoError(t, os.WriteFile(p, []byte(moduleResult[n]), 0o600))
		manifest += fmt.Sprintf("%x %d %s\n", sha256.Sum256([]byte(moduleResult[n])), len(moduleResult[n]), n)
	}
	require.NoError(t, os.WriteFile(filepath.Join(entry, manifestName), []byte(manifest), 0o600))
}

func TestOldEntryIsAMiss(t *testing.T) {
	ctx := context.Background()
	// Each lookup says whether it showed a builder to accept.
	lookups := []struct {
		name string
		get  func(c *Cache, k Key) (bool, error)
	}{
		{"Get", func(c *Cache, k Key) (bool, error) { _, err := c.Get(ctx, k, t.TempDir()); return false, err }},
		{"GetFrom", func(c *Cache, k Key) (bool, error) {
			shown := false
			_, err := c.GetFrom(ctx, k, t.TempDir(), func(Builder) error { shown = true; return nil })
			return shown, err
		}},
		{"Builder", func(c *Cache, k Key) (bool, error) { _, err := c.Builder(ctx, k); return false, err }},
	}
	for _, tc := range lookups {
		t.Run(tc.name, func(t *testing.T) {
			c := open(t)
			k := key(0x24)
			oldEntry(t, c, k)
			require.True(t, c.Has(k))
			shown, err := tc.get(c, k)
			assert.False(t, shown, "no builder to show")
			assert.ErrorIs(t, err, ErrNoBuilder)
			assert.ErrorIs(t, err, ErrMiss, "a miss, not damage")
			assert.NoDirExists(t, c.Path(k), "removed: no later lookup can use it")
			require.NoError(t, c.Put(ctx, k, built(), result(t, moduleResult)), "and a new build takes its place")
			_, err = tc.get(c, k)
			assert.NoError(t, err)
		})
	}
	t.Run("Remove", func(t *testing.T) {
		c := open(t)
		oldEntry(t, c, key(0x25))
		require.NoError(t, c.Remove(ctx, key(0x25)))
		assert.NoDirExists(t, c.Path(key(0x25)))
	})
}

// rewriteBuilder replaces the record and makes the manifest agree: a
// record forged consistently, which only its content can give away.
func rewriteBuilder(t *testing.T, entry string, record []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(entry, builderName), record, 0o600))
	p := filepath.Join(entry, manifestName)
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	lines := strings.SplitN(string(data), "\n", 3)
	lines[1] = fmt.Sprintf("%x %d %s", sha256.Sum256(record), len(record), builderName)
	require.NoError(t, os.WriteFile(p, []byte(strings.Join(lines, "\n")), 0o600))
}

func TestDamagedBuilderIsRemoved(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		damage func(t *testing.T, entry string)
		why    string
	}{
		{"a changed byte", func(t *testing.T, e string) {
			p := filepath.Join(e, builderName)
			data, err := os.ReadFile(p)
			require.NoError(t, err)
			data[len(data)/2] ^= 1
			require.NoError(t, os.WriteFile(p, data, 0o600))
		}, "SHA-256 differs"},
		{"truncated", func(t *testing.T, e string) {
			require.NoError(t, os.Truncate(filepath.Join(e, builderName), 10))
		}, "10 bytes, the manifest says"},
		{"missing", func(t *testing.T, e string) {
			require.NoError(t, os.Remove(filepath.Join(e, builderName)))
		}, "no such file"},
		{"replaced by a link", func(t *testing.T, e string) {
			require.NoError(t, os.Remove(filepath.Join(e, builderName)))
			require.NoError(t, os.Symlink("/etc/hostname", filepath.Join(e, builderName)))
		}, "too many levels of symbolic links"},
		{"not in the manifest", func(t *testing.T, e string) {
			p := filepath.Join(e, manifestName)
			data, err := os.ReadFile(p)
			require.NoError(t, err)
			lines := strings.SplitN(string(data), "\n", 3)
			require.NoError(t, os.WriteFile(p, []byte(lines[0]+"\n"+lines[2]), 0o600))
		}, "bad line"},
		{"forged: not JSON", func(t *testing.T, e string) {
			rewriteBuilder(t, e, []byte("server 192.0.2.1:5555\n"))
		}, "builder"},
		{"forged: a certificate that does not parse", func(t *testing.T, e string) {
			rewriteBuilder(t, e, []byte(`{"cert":"MAA=","addr":"192.0.2.1:5555","version":"1.6"}`))
		}, "builder"},
		{"forged: no address", func(t *testing.T, e string) {
			rec, err := built().encode()
			require.NoError(t, err)
			rewriteBuilder(t, e, bytes.Replace(rec, []byte(`"192.0.2.1:5555"`), []byte(`""`), 1))
		}, "no address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := open(t)
			k := key(0x26)
			for _, lookup := range []func() error{
				func() error { _, err := c.Builder(ctx, k); return err },
				func() error {
					_, err := c.GetFrom(ctx, k, t.TempDir(), func(Builder) error {
						t.Error("accept called for a damaged record")
						return nil
					})
					return err
				},
			} {
				require.NoError(t, c.Put(ctx, k, built(), result(t, moduleResult)))
				tc.damage(t, c.Path(k))
				err := lookup()
				var de *DamagedError
				require.ErrorAs(t, err, &de)
				assert.Contains(t, strings.ToLower(de.Why), strings.ToLower(tc.why))
				assert.NoDirExists(t, c.Path(k), "the damaged entry is removed")
			}
		})
	}
}

func TestRemove(t *testing.T) {
	ctx := context.Background()
	c := open(t)
	require.NoError(t, c.Put(ctx, key(1), built(), result(t, moduleResult)))
	require.NoError(t, c.Put(ctx, key(2), built(), result(t, moduleResult)))
	require.NoError(t, c.Remove(ctx, key(1)))
	assert.False(t, c.Has(key(1)))
	assert.True(t, c.Has(key(2)), "only that entry")
	assert.NoError(t, c.Remove(ctx, key(1)), "removing what is not there is no error")
	assert.Empty(t, entriesOf(t, filepath.Join(c.dir, "tmp")), "nothing left in tmp")
}

func TestRetire(t *testing.T) {
	ctx := context.Background()
	c := open(t)
	require.NoError(t, c.Put(ctx, key(1), built(), result(t, moduleResult)))
	require.NoError(t, c.Put(ctx, key(2), builtByB(), result(t, moduleResult)))
	require.NoError(t, c.Put(ctx, key(3), built(), result(t, moduleResult)))
	oldEntry(t, c, key(4))
	revoked := built().Cert
	removed, err := c.Retire(ctx, func(b Builder) bool { return bytes.Equal(b.Cert.Raw, revoked.Raw) })
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{c.Path(key(1)), c.Path(key(3))}, removed)
	assert.False(t, c.Has(key(1)) || c.Has(key(3)))
	assert.True(t, c.Has(key(2)), "another server's build stays")
	assert.True(t, c.Has(key(4)), "an unreadable entry is left to the lookups")
	assert.Empty(t, entriesOf(t, filepath.Join(c.dir, "tmp")))
}

func TestBuilderAt(t *testing.T) {
	v4 := Builder{Addr: netip.MustParseAddrPort("192.0.2.1:5555")}
	v6 := Builder{Addr: netip.MustParseAddrPort("[2001:db8::2]:5556")}
	tests := []struct {
		name string
		b    Builder
		at   string
		want bool
	}{
		{"the same address and port", v4, "192.0.2.1:5555", true},
		{"its IPv4-mapped form", v4, "[::ffff:192.0.2.1]:5555", true},
		{"another port", v4, "192.0.2.1:5556", false},
		{"another address", v4, "192.0.2.2:5555", false},
		{"IPv6", v6, "[2001:db8::2]:5556", true},
		{"IPv6, another address", v6, "[2001:db8::3]:5556", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.b.At(netip.MustParseAddrPort(tc.at)))
		})
	}
}
