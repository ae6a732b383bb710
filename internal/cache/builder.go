// SPDX-License-Identifier: GPL-2.0-or-later

package cache

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
)

// Builder is the server that built an entry, as the run that stored it
// reached it. A cached result is only as trusted as its builder is now, so
// a reader checks it before using the entry (docs/stap-client.8, CACHE).
type Builder struct {
	// Cert is the certificate the server presented and the run pinned.
	Cert *x509.Certificate
	// Addr is the address and port the run connected to.
	Addr netip.AddrPort
	// Host is the name the server was reached by ("" when by address), so
	// that a --server=NAME:PORT run can match it without resolving NAME.
	Host string
	// Version is the version the server's response reported.
	Version string
}

// At reports whether b was reached at ap; an IPv4-mapped IPv6 address is
// the IPv4 address.
func (b Builder) At(ap netip.AddrPort) bool {
	return b.Addr.Port() == ap.Port() && b.Addr.Addr().Unmap() == ap.Addr().Unmap()
}

// ErrNoBuilder is a miss: the entry was made by an older stap-client,
// which recorded no builder, so nothing can say whether to trust it. The
// lookup that meets one removes it.
var ErrNoBuilder = fmt.Errorf("%w: the entry records no builder (made by an older stap-client)", ErrMiss)

const (
	// builderName is the entry's file holding its Builder, covered by the
	// manifest like every other file.
	builderName = "builder"
	// maxBuilder bounds the record: a certificate is a few KB.
	maxBuilder = 64 << 10
)

// builderRecord is the builder file's JSON.
type builderRecord struct {
	Cert    []byte         `json:"cert"` // DER, so trust can be checked without the server
	Addr    netip.AddrPort `json:"addr"`
	Host    string         `json:"host,omitempty"`
	Version string         `json:"version"`
}

func (b Builder) encode() ([]byte, error) {
	if b.Cert == nil || len(b.Cert.Raw) == 0 {
		return nil, errors.New("the builder has no certificate")
	}
	if !b.Addr.IsValid() {
		return nil, errors.New("the builder has no address")
	}
	return json.Marshal(builderRecord{Cert: b.Cert.Raw, Addr: b.Addr, Host: b.Host, Version: b.Version})
}

func decodeBuilder(data []byte) (Builder, error) {
	var r builderRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return Builder{}, fmt.Errorf("%s: %w", builderName, err)
	}
	if !r.Addr.IsValid() {
		return Builder{}, fmt.Errorf("%s: no address", builderName)
	}
	cert, err := x509.ParseCertificate(r.Cert)
	if err != nil {
		return Builder{}, fmt.Errorf("%s: %w", builderName, err)
	}
	return Builder{Cert: cert, Addr: r.Addr, Host: r.Host, Version: r.Version}, nil
}

// readEntry reads and checks an entry's manifest and builder record, not
// its other files. errOldEntry: an older stap-client's entry.
func readEntry(entry string) (Builder, []manifestLine, error) {
	b, lines, err := readManifest(filepath.Join(entry, manifestName))
	if err != nil {
		return Builder{}, nil, err
	}
	in, why := openVerified(filepath.Join(entry, builderName), b)
	if why != "" {
		return Builder{}, nil, errors.New(why)
	}
	defer in.Close()
	var buf bytes.Buffer
	if why := copyChecked(in, b, &buf); why != "" {
		return Builder{}, nil, errors.New(why)
	}
	bld, err := decodeBuilder(buf.Bytes())
	return bld, lines, err
}

// Builder returns the builder of k's entry, checking the manifest and the
// builder record (not the other files) and copying nothing. ErrMiss: no
// entry; ErrNoBuilder (also ErrMiss): an older entry, now removed;
// *DamagedError: a damaged record, the entry removed.
func (c *Cache) Builder(ctx context.Context, k Key) (Builder, error) {
	e, err := c.openEntry(ctx, k)
	if err != nil {
		return Builder{}, err
	}
	e.lk.unlock()
	return e.builder, nil
}

// openedEntry is an entry whose manifest and builder record were read,
// under the shared lock, which its holder releases.
type openedEntry struct {
	path    string
	seen    fs.FileInfo // to remove it only if it is still the same
	builder Builder
	lines   []manifestLine
	lk      *flock
}

// openEntry takes the shared lock and reads k's entry. On an error the
// lock is released, and an unusable entry removed (see Builder).
func (c *Cache) openEntry(ctx context.Context, k Key) (*openedEntry, error) {
	entry := c.Path(k)
	lk, err := c.lock(ctx, syscall.LOCK_SH)
	if err != nil {
		return nil, err
	}
	seen, err := os.Lstat(entry)
	if err != nil {
		lk.unlock()
		if errors.Is(err, fs.ErrNotExist) {
			return nil, ErrMiss
		}
		return nil, err
	}
	b, lines, err := readEntry(entry)
	if err != nil {
		lk.unlock()
		return nil, c.unusable(ctx, entry, seen, err)
	}
	return &openedEntry{path: entry, seen: seen, builder: b, lines: lines, lk: lk}, nil
}

// unusable removes an entry readEntry refused (unless it was replaced
// meanwhile) and says why, as Get and Builder return it.
func (c *Cache) unusable(ctx context.Context, entry string, seen fs.FileInfo, err error) error {
	c.removeIfSame(ctx, entry, seen)
	if errors.Is(err, errOldEntry) {
		return ErrNoBuilder
	}
	return &DamagedError{Entry: entry, Why: err.Error()}
}

// Remove removes k's entry, if there is one: one whose builder is no
// longer trusted, say.
func (c *Cache) Remove(ctx context.Context, k Key) error {
	lk, err := c.lock(ctx, syscall.LOCK_EX)
	if err != nil {
		return fmt.Errorf("removing from the cache: %w", err)
	}
	t, err := c.discard(c.Path(k))
	lk.unlock()
	if t != "" {
		os.RemoveAll(t)
	}
	if err != nil {
		return fmt.Errorf("removing from the cache: %w", err)
	}
	return nil
}

// Retire removes every entry whose builder match selects (all of a server
// whose trust was revoked, say) and returns the removed entries. Entries
// that cannot be read are left to the lookups, which remove them.
func (c *Cache) Retire(ctx context.Context, match func(Builder) bool) ([]string, error) {
	lk, err := c.lock(ctx, syscall.LOCK_EX)
	if err != nil {
		return nil, fmt.Errorf("retiring cache entries: %w", err)
	}
	var names, trash []string
	ents, err := c.entries()
	for _, e := range ents {
		b, _, rerr := readEntry(e.path)
		if rerr != nil || !match(b) {
			continue
		}
		t, derr := c.discard(e.path)
		if derr != nil {
			err = derr
			break
		}
		if t != "" {
			trash = append(trash, t)
			names = append(names, e.path)
		}
	}
	lk.unlock()
	for _, t := range trash {
		os.RemoveAll(t)
	}
	if err != nil {
		return names, fmt.Errorf("retiring cache entries: %w", err)
	}
	return names, nil
}
