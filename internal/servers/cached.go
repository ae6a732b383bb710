// SPDX-License-Identifier: GPL-2.0-or-later

package servers

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/stap-client/stap-client/internal/cache"
	"github.com/stap-client/stap-client/internal/certdb"
	"github.com/stap-client/stap-client/internal/stapmsg"
)

// A cached result is only as trusted as its builder is today: before a
// hit is used, the server that built it must pass the checks a connection
// to it would, in this run's trust stores, and be one of the servers the
// run names. The check is local: a hit still needs no network.

// ErrNotAdmitted: a cached result this run must not use; the message says
// why ("its server is no longer trusted").
var ErrNotAdmitted = errors.New("cached result not used")

// Admit tells whether this run may use a result built by b.
func (f *Finder) Admit(ctx context.Context, b cache.Builder) error {
	refuse := func(why string) error { return fmt.Errorf("%w: %s", ErrNotAdmitted, why) }
	if _, err := f.accept(ctx, b); err != nil {
		if errors.Is(err, certdb.ErrExpired) {
			return refuse("its server's certificate has expired")
		}
		return refuse("its server is no longer trusted")
	}
	if f.onlyDirect() {
		// Named servers mean those servers; a connection to one needs no
		// signer check, so neither does its cached result.
		if !f.named(b) {
			return refuse("its server is not one of those given with --server")
		}
		return nil
	}
	// Servers found on the network must be trusted signers below stapdev.
	if f.Privilege != "stapdev" && !certdb.IsSigner(f.signerDB(ctx), b.Cert) {
		return refuse("its server is not a trusted module signer")
	}
	return nil
}

// accept checks b's certificate as a connection would. A hit needs no
// other database than the first that trusts its builder, so the stores
// are read one by one up to it, unless the run has loaded them all.
func (f *Finder) accept(ctx context.Context, b cache.Builder) (certdb.Store, error) {
	if f.stores != nil {
		return certdb.Accept(f.stores, b.Cert, time.Now(), nil)
	}
	// Quietly: a database refused here is said when the run connects.
	return certdb.AcceptFrom(ctx, certdb.Locations(f.SSLDirs, f.LookupEnv), f.UID, func(string) {}, b.Cert, time.Now())
}

// onlyDirect: the run uses only servers given with --server=HOST:PORT.
func (f *Finder) onlyDirect() bool {
	for _, s := range f.Specs {
		if !s.direct() {
			return false
		}
	}
	return len(f.Specs) > 0
}

// named: b is one of the servers given with --server=HOST:PORT, by
// address, or by the name it was reached by (so no name is looked up).
func (f *Finder) named(b cache.Builder) bool {
	for _, s := range f.Specs {
		if s.Port != b.Addr.Port() {
			continue
		}
		if s.Addr.IsValid() && b.At(netip.AddrPortFrom(s.Addr, s.Port)) || s.Host != "" && s.Host == b.Host {
			return true
		}
	}
	return false
}

// retire removes the cached results a server whose trust was just revoked
// had built, matched by its certificate's serial as the revocation is.
func (f *Finder) retire(ctx context.Context, certinfo string) {
	c, err := cache.Open(cache.Dir(f.LookupEnv), f.UID)
	if err != nil {
		return // no cache, nothing cached
	}
	gone, err := c.Retire(ctx, func(b cache.Builder) bool { return certdb.Certinfo(b.Cert) == certinfo })
	if err != nil {
		f.Out.OurWarning("removing the revoked server's results from the result cache: %v", err)
	}
	if len(gone) > 0 {
		f.Out.Logf(1, "%s: removed %d cached result(s) built by the revoked server", stapmsg.Prog, len(gone))
	}
}
