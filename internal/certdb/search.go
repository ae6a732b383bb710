package certdb

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Kind is where a database comes from; it decides who must own it.
type Kind int

// Database kinds, in search order.
const (
	KindSSL     Kind = iota // --ssl=DIR
	KindPrivate             // $SYSTEMTAP_DIR/ssl/client
	KindGlobal              // /etc/systemtap/ssl/client
)

// GlobalDir is the system-wide client database.
const GlobalDir = "/etc/systemtap/ssl/client"

// Location is one database directory to search.
type Location struct {
	Dir  string
	Kind Kind
}

// Locations is the search order: each --ssl directory as given, then the
// private database, then the global one.
func Locations(sslDirs []string, lookup func(string) (string, bool)) []Location {
	var out []Location
	for _, d := range sslDirs {
		out = append(out, Location{Dir: d, Kind: KindSSL})
	}
	if p := PrivateDir(lookup); p != "" {
		out = append(out, Location{Dir: p, Kind: KindPrivate})
	}
	return append(out, Location{Dir: GlobalDir, Kind: KindGlobal})
}

// PrivateDir is $SYSTEMTAP_DIR/ssl/client, default ~/.systemtap/ssl/client.
func PrivateDir(lookup func(string) (string, bool)) string {
	if d, ok := lookup("SYSTEMTAP_DIR"); ok && d != "" {
		return filepath.Join(d, "ssl", "client")
	}
	if h, ok := lookup("HOME"); ok && h != "" {
		return filepath.Join(h, ".systemtap", "ssl", "client")
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
				warn(fmt.Sprintf("Unable to use certificate database '%s' due to errors", l.Dir))
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

// CheckPermissions applies the 2011 stap-client's rules to a directory and
// its database files: the owner must be the user (root for the global
// database; root or the user for --ssl), and nothing may be writable by
// group or others. Those refuse the database (fatal); a missing read bit
// only warns. Messages are one line each.
func CheckPermissions(l Location, files []string, uid int) (problems []string, fatal bool) {
	check := func(path string, dir bool) {
		fi, err := os.Stat(path)
		if err != nil {
			if dir || !errors.Is(err, os.ErrNotExist) {
				problems, fatal = append(problems, fmt.Sprintf("Certificate database '%s' cannot be used: %v", path, err)), true
			}
			return
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return
		}
		owner := int(st.Uid)
		switch l.Kind {
		case KindGlobal:
			if owner != 0 {
				problems, fatal = append(problems, fmt.Sprintf("Certificate database '%s' must be owned by root", path)), true
			}
		default:
			if owner != uid && owner != 0 {
				problems, fatal = append(problems, fmt.Sprintf("Certificate database '%s' must be owned by uid %d or root", path, uid)), true
			}
		}
		m := fi.Mode().Perm()
		if m&0o020 != 0 {
			problems, fatal = append(problems, fmt.Sprintf("Certificate database '%s' must not be writable by the group", path)), true
		}
		if m&0o002 != 0 {
			problems, fatal = append(problems, fmt.Sprintf("Certificate database '%s' must not be writable by others", path)), true
		}
		if m&0o400 == 0 {
			problems = append(problems, fmt.Sprintf("Certificate database '%s' should be readable by its owner", path))
		}
		if dir && m&0o100 == 0 {
			problems = append(problems, fmt.Sprintf("Certificate database '%s' should be searchable by its owner", path))
		}
	}
	check(l.Dir, true)
	for _, f := range files {
		check(filepath.Join(l.Dir, f), false)
	}
	return problems, fatal
}
