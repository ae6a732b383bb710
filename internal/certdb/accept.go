// SPDX-License-Identifier: GPL-2.0-or-later

package certdb

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"time"
)

// Why a server certificate is refused; the words are the connection's.
var (
	ErrUntrusted = errors.New("the server's certificate is not trusted")
	ErrExpired   = errors.New("the server's certificate has expired or is not yet valid")
)

// Accept is the whole check a server certificate must pass, for a
// connection and for a cached result the server built alike, so that the
// two never disagree: some store, in order, trusts its exact DER as an SSL
// peer, and it is valid at now. It returns the first store that trusts it
// (also with ErrExpired), or ErrUntrusted. try, when not nil, hears each
// store before it is asked (the connection's -vv lines).
func Accept(stores []Store, cert *x509.Certificate, now time.Time, try func(Store)) (Store, error) {
	if cert == nil {
		return nil, ErrUntrusted
	}
	for _, s := range stores {
		if try != nil {
			try(s)
		}
		if !s.Trusts(cert.Raw) {
			continue
		}
		if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
			return s, ErrExpired
		}
		return s, nil
	}
	return nil, ErrUntrusted
}

// AcceptFrom is Accept over locs loaded one at a time as Load loads them,
// stopping at the first that trusts cert: the same verdict and store as
// Accept(Load(ctx, locs, uid, warn), cert, now, nil), without reading the
// databases after that one (each costs about a millisecond), whose
// warnings are then not given either. For a check that needs no network
// and no more of the stores than it uses: a cached result's builder.
func AcceptFrom(ctx context.Context, locs []Location, uid int, warn func(string), cert *x509.Certificate, now time.Time) (Store, error) {
	if cert == nil {
		return nil, ErrUntrusted
	}
	for _, l := range locs {
		if s, err := Accept(Load(ctx, []Location{l}, uid, warn), cert, now, nil); !errors.Is(err, ErrUntrusted) {
			return s, err
		}
	}
	return nil, ErrUntrusted
}

// Signers are the certificates of a module-signer database (staprun's):
// every certificate in it that parses counts, whatever its trust flags, as
// discovery has always counted them; revoking a signer removes it.
func (d *DB) Signers() []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range d.certs {
		if c.X509 != nil {
			out = append(out, c.X509)
		}
	}
	return out
}

// IsSigner reports whether cert, by its exact DER, is one of db's Signers;
// a nil db (no signer database) has none.
func IsSigner(db *DB, cert *x509.Certificate) bool {
	if db == nil || cert == nil {
		return false
	}
	for _, s := range db.Signers() {
		if bytes.Equal(s.Raw, cert.Raw) {
			return true
		}
	}
	return false
}
