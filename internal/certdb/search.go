// SPDX-License-Identifier: GPL-2.0-or-later

package certdb

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Kind is where a database comes from; it decides who must own it.
type Kind int

// Database kinds, in search order.
const (
	KindSSL     Kind = iota // --ssl=DIR
	KindPrivate             // $SYSTEMTAP_DIR/ssl/client
	KindGlobal              // /etc/systemtap/ssl/client
)

// GlobalDir is the system-wide client database; GlobalBase is the
// directory stap creates it under.
const (
	GlobalDir  = "/etc/systemtap/ssl/client"
	GlobalBase = "/etc/systemtap"
)

// Location is one database directory to search.
type Location struct {
	Dir  string
	Kind Kind
	// Base is the topmost directory that stap creates on the way to Dir
	// ($SYSTEMTAP_DIR, /etc/systemtap); empty for --ssl. Whoever can write
	// a directory between Base and Dir can swap the database, so those are
	// checked too.
	Base string
}

// Locations is the search order: each --ssl directory as given, then the
// private database, then the global one.
func Locations(sslDirs []string, lookup func(string) (string, bool)) []Location {
	var out []Location
	for _, d := range sslDirs {
		out = append(out, Location{Dir: d, Kind: KindSSL})
	}
	if p := PrivateDir(lookup); p != "" {
		out = append(out, Location{Dir: p, Kind: KindPrivate, Base: PrivateBase(lookup)})
	}
	return append(out, Location{Dir: GlobalDir, Kind: KindGlobal, Base: GlobalBase})
}

// PrivateDir is $SYSTEMTAP_DIR/ssl/client, default ~/.systemtap/ssl/client.
func PrivateDir(lookup func(string) (string, bool)) string {
	if b := PrivateBase(lookup); b != "" {
		return filepath.Join(b, "ssl", "client")
	}
	return ""
}

// PrivateBase is $SYSTEMTAP_DIR, default ~/.systemtap.
func PrivateBase(lookup func(string) (string, bool)) string {
	if d, ok := lookup("SYSTEMTAP_DIR"); ok && d != "" {
		return filepath.Clean(d)
	}
	if h, ok := lookup("HOME"); ok && h != "" {
		return filepath.Join(h, ".systemtap")
	}
	return ""
}

// Store is a loaded trust store: an NSS database or a certificate directory.
type Store interface {
	// Name is shown in messages (the directory).
	Name() string
	// Trusts reports whether the DER certificate is trusted as an SSL peer.
	Trusts(der []byte) bool
	// TrustedCerts are the certificates trusted as SSL peers, whose serials
	// discovery matches against the servers' certinfo.
	TrustedCerts() []*x509.Certificate
}

// Load opens every location that exists, in order. Missing directories are
// skipped silently, as stap does; unsafe or unreadable ones are skipped
// with warnings, which warn receives one line at a time.
func Load(ctx context.Context, locs []Location, uid int, warn func(string)) []Store {
	var out []Store
	for _, l := range locs {
		fi, err := os.Stat(l.Dir)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			warn(fmt.Sprintf("Certificate database '%s' cannot be used: %v", l.Dir, err))
			continue
		}
		if !fi.IsDir() {
			warn(fmt.Sprintf("Certificate database '%s' is not a directory", l.Dir))
			continue
		}
		format := Detect(l.Dir)
		var files []string // a certificate-file directory: the directory rules only
		if format == FormatSQL {
			files = []string{"cert9.db", "key4.db"}
		}
		if problems, fatal := CheckPermissions(l, files, uid); len(problems) > 0 {
			for _, p := range problems {
				warn(p)
			}
			if fatal {
				msg := fmt.Sprintf("Unable to use certificate database '%s' due to errors", l.Dir)
				if fix := FixCommand(l, files, uid); fix != "" {
					msg += "; fix it with: " + fix
				}
				warn(msg)
				continue
			}
		}
		switch format {
		case FormatSQL:
			db, err := Open(ctx, l.Dir)
			if err != nil {
				warn(fmt.Sprintf("Unable to use certificate database '%s': %v", l.Dir, err))
				continue
			}
			out = append(out, db)
		case FormatLegacy:
			warn((&LegacyError{Dir: l.Dir}).Error())
		default:
			if l.Kind != KindSSL {
				continue // the default locations hold NSS databases only
			}
			d, err := LoadCertDir(l.Dir)
			if err != nil {
				warn(err.Error())
				continue
			}
			out = append(out, d)
		}
	}
	return out
}
