// SPDX-License-Identifier: GPL-2.0-or-later

// Package certdb reads the NSS certificate databases systemtap keeps its
// trusted compile servers in (sql: format, cert9.db and key4.db), without
// NSS: SQLite through a pure-Go driver, and NSS's trust rules re-implemented
// (docs/nss-databases.md).
package certdb

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // the "sqlite" driver: pure Go, keeps the binary static
)

// Format is what a directory holds.
type Format int

// Database formats (docs/nss-databases.md, section 1).
const (
	FormatNone   Format = iota // neither cert9.db nor cert8.db
	FormatSQL                  // cert9.db (even if cert8.db is there too)
	FormatLegacy               // cert8.db only: the old dbm: format
)

// Detect tells which format dir holds.
func Detect(dir string) Format {
	if fileExists(filepath.Join(dir, "cert9.db")) {
		return FormatSQL
	}
	if fileExists(filepath.Join(dir, "cert8.db")) {
		return FormatLegacy
	}
	return FormatNone
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// LegacyError is a dbm: database, which this reader does not read.
type LegacyError struct{ Dir string }

func (e *LegacyError) Error() string {
	return fmt.Sprintf("%s holds a legacy NSS database (cert8.db), which stap-client cannot read; convert it with: certutil -M -n stap-server -t P,P,P -d sql:%s && chmod 644 %s/*.db", e.Dir, e.Dir, e.Dir)
}

// NSS attribute types and values (4-byte big-endian CK_ULONGs).
const (
	ckaClass        = 0x0
	ckaLabel        = 0x3
	ckaValue        = 0x11
	ckaCertType     = 0x80
	ckaIssuer       = 0x81
	ckaSerial       = 0x82
	ckaSubject      = 0x101
	ckaTrustServer  = 0xce536358
	ckaTrustClient  = 0xce536359
	ckaTrustCode    = 0xce53635a
	ckaTrustEmail   = 0xce53635b
	ckaTrustStepUp  = 0xce536360
	ckaCertSHA1     = 0xce5363b4
	ckaCertMD5      = 0xce5363b5
	ckaPKCS32Server = 0x62c // PKCS#11 3.2 trust (NSS >= 3.114)
	ckaPKCS32Client = 0x62d
	ckaPKCS32Email  = 0x62e
	ckaPKCS32Code   = 0x62f
	ckaPKCS32Hash   = 0x635

	ckoCertificate = 0x1
	ckoPKCS32Trust = 0xb
	ckoNSSTrust    = 0xce534353

	cktTrusted   = 0xce534351
	cktDelegator = 0xce534352
)

// authenticated are the trust attributes NSS protects with MACs.
var authenticated = map[uint32][]uint32{
	ckoNSSTrust:    {ckaTrustServer, ckaTrustClient, ckaTrustCode, ckaTrustEmail, ckaTrustStepUp, ckaCertSHA1, ckaCertMD5},
	ckoPKCS32Trust: {ckaPKCS32Server, ckaPKCS32Client, ckaPKCS32Email, ckaPKCS32Code, ckaPKCS32Hash},
}

// Cert is one certificate of a database with the trust NSS gives it.
type Cert struct {
	Nickname string
	DER      []byte
	X509     *x509.Certificate
	// SSLTrusted: trusted as an SSL server peer (P) or anchor (C), after the
	// trust object's hash and MACs were checked.
	SSLTrusted bool
	// Why says why a certificate present is not trusted, for messages.
	Why string
}

// DB is one database directory, read once.
type DB struct {
	dir   string
	certs []Cert
	keys  KeyState
}

// Name is the directory.
func (d *DB) Name() string { return d.dir }

// Certs are the certificates, in table order.
func (d *DB) Certs() []Cert { return d.certs }

// KeyState says how trust was checked.
func (d *DB) KeyState() KeyState { return d.keys }

// Trusts reports whether der is in the database with SSL server trust.
func (d *DB) Trusts(der []byte) bool {
	for _, c := range d.certs {
		if c.SSLTrusted && bytes.Equal(c.DER, der) {
			return true
		}
	}
	return false
}

// TrustedCerts are the certificates trusted as SSL peers.
func (d *DB) TrustedCerts() []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range d.certs {
		if c.SSLTrusted && c.X509 != nil {
			out = append(out, c.X509)
		}
	}
	return out
}

// Open reads the sql: database in dir. A directory without cert9.db is
// os.ErrNotExist (wrapped); one with only cert8.db is a *LegacyError.
func Open(ctx context.Context, dir string) (*DB, error) {
	switch Detect(dir) {
	case FormatNone:
		return nil, fmt.Errorf("no certificate database in %s: %w", dir, os.ErrNotExist)
	case FormatLegacy:
		return nil, &LegacyError{Dir: dir}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("certificate database %s: %w", dir, err)
	}
	keys, err := readKeyDB(ctx, filepath.Join(abs, "key4.db"))
	if err != nil {
		return nil, fmt.Errorf("certificate database %s: %w", dir, err)
	}
	objs, err := readObjects(ctx, filepath.Join(abs, "cert9.db"))
	if err != nil {
		return nil, fmt.Errorf("certificate database %s: %w", dir, err)
	}
	return &DB{dir: dir, certs: evaluate(objs, keys), keys: keys.state}, nil
}

// openRO opens an SQLite file read-only: NSS may be writing it, so no
// immutable flag, and a busy timeout above NSS's own.
func openRO(path string) (*sql.DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	// Opening with mode=ro never creates the file and takes shared locks only.
	return openSQLite(path, "mode=ro&_pragma=busy_timeout(5000)")
}

// openSQLite opens an SQLite file by URI with query (its mode and
// pragmas), with at most one connection open.
func openSQLite(path, query string) (*sql.DB, error) {
	u := url.URL{Scheme: "file", Path: path, RawQuery: query}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// object is one nssPublic row: attribute type -> stored value.
type object struct {
	id    uint32
	attrs map[uint32][]byte
}

func (o object) ulong(t uint32) (uint32, bool) {
	v, ok := o.attrs[t]
	if !ok || len(v) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(v), true
}

// value returns an attribute with NSS's empty-value marker decoded.
func (o object) value(t uint32) []byte {
	v := o.attrs[t]
	if bytes.Equal(v, []byte{0xa5, 0x00, 0x5a}) {
		return []byte{}
	}
	return v
}

// readObjects reads every row by column name: NSS adds columns as it meets
// new attributes, so positions are not stable.
func readObjects(ctx context.Context, path string) ([]object, error) {
	db, err := openRO(path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return readObjectsConn(ctx, db)
}

// querier is a *sql.DB or, inside a write transaction, a *sql.Conn.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func readObjectsConn(ctx context.Context, q querier) ([]object, error) {
	const path = "cert9.db"
	rows, err := q.QueryContext(ctx, "SELECT * FROM nssPublic")
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Base(path), err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Base(path), err)
	}
	types := make([]int64, len(cols)) // -1: the id column, -2: unknown
	idCol := -1
	for i, c := range cols {
		types[i] = -2
		if c == "id" {
			idCol, types[i] = i, -1
			continue
		}
		var t uint32
		if _, err := fmt.Sscanf(c, "a%x", &t); err == nil && c == fmt.Sprintf("a%x", t) {
			types[i] = int64(t)
		}
	}
	if idCol < 0 {
		return nil, fmt.Errorf("reading %s: nssPublic has no id column", filepath.Base(path))
	}
	var out []object
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("reading %s: %w", filepath.Base(path), err)
		}
		o := object{attrs: map[uint32][]byte{}}
		id, ok := vals[idCol].(int64)
		if !ok || id < 0 || id > 0xffffffff {
			return nil, fmt.Errorf("reading %s: bad object id %v", filepath.Base(path), vals[idCol])
		}
		o.id = uint32(id)
		for i, v := range vals {
			if types[i] < 0 || v == nil {
				continue
			}
			switch b := v.(type) {
			case []byte:
				o.attrs[uint32(types[i])] = b
			case string:
				o.attrs[uint32(types[i])] = []byte(b)
			}
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Base(path), err)
	}
	return out, nil
}

// readKeyDB reads the password row and the certificate MAC rows. A missing
// key4.db or metaData table is an uninitialized key database.
func readKeyDB(ctx context.Context, path string) (keyDB, error) {
	db, err := openRO(path)
	if errors.Is(err, os.ErrNotExist) {
		return keyDB{state: KeyUninitialized}, nil
	}
	if err != nil {
		return keyDB{}, err
	}
	defer db.Close()
	return readKeyDBConn(ctx, db)
}

func readKeyDBConn(ctx context.Context, q querier) (keyDB, error) {
	rows, err := q.QueryContext(ctx, "SELECT id, item1, item2 FROM metaData")
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return keyDB{state: KeyUninitialized}, nil
		}
		return keyDB{}, fmt.Errorf("reading key4.db: %w", err)
	}
	defer rows.Close()
	var salt, check []byte
	havePassword := false
	sigs := map[string][]byte{}
	for rows.Next() {
		var id string
		var item1, item2 []byte
		if err := rows.Scan(&id, &item1, &item2); err != nil {
			return keyDB{}, fmt.Errorf("reading key4.db: %w", err)
		}
		switch {
		case id == "password":
			salt, check, havePassword = item1, item2, true
		case strings.HasPrefix(id, "sig_cert_"):
			sigs[id] = item1 // MAC rows keep their sealed MAC in item1
		}
	}
	if err := rows.Err(); err != nil {
		return keyDB{}, fmt.Errorf("reading key4.db: %w", err)
	}
	return newKeyDB(salt, check, havePassword, sigs), nil
}

// evaluate pairs certificates with their trust objects (same issuer and
// serial bytes) and decides SSL trust as NSS does.
func evaluate(objs []object, keys keyDB) []Cert {
	trust := map[string]object{}
	for _, o := range objs {
		if c, ok := o.ulong(ckaClass); ok && (c == ckoNSSTrust || c == ckoPKCS32Trust) {
			trust[string(o.attrs[ckaIssuer])+"\x00"+string(o.attrs[ckaSerial])] = o
		}
	}
	var out []Cert
	for _, o := range objs {
		if c, ok := o.ulong(ckaClass); !ok || c != ckoCertificate {
			continue
		}
		if t, ok := o.ulong(ckaCertType); !ok || t != 0 {
			continue // not X.509
		}
		der := o.value(ckaValue)
		c := Cert{Nickname: string(o.value(ckaLabel)), DER: der}
		if x, err := x509.ParseCertificate(der); err == nil {
			c.X509 = x
		} else {
			c.Why = "the certificate does not parse: " + err.Error()
			out = append(out, c)
			continue
		}
		t, ok := trust[string(o.attrs[ckaIssuer])+"\x00"+string(o.attrs[ckaSerial])]
		if !ok {
			c.Why = "no trust settings"
		} else {
			c.SSLTrusted, c.Why = sslTrust(t, der, keys)
		}
		out = append(out, c)
	}
	return out
}

// sslTrust decides one trust object as NSS does (docs/nss-databases.md,
// section 3, steps 3-4).
func sslTrust(t object, der []byte, keys keyDB) (bool, string) {
	class, _ := t.ulong(ckaClass)
	var server uint32
	var ok bool
	switch class {
	case ckoNSSTrust:
		sum := sha1.Sum(der)
		if h := t.value(ckaCertSHA1); h != nil && !bytes.Equal(h, sum[:]) {
			return false, "the trust's certificate hash does not match"
		}
		server, ok = t.ulong(ckaTrustServer)
	case ckoPKCS32Trust:
		sum := sha256.Sum256(der)
		if h := t.value(ckaPKCS32Hash); h != nil && !bytes.Equal(h, sum[:]) {
			return false, "the trust's certificate hash does not match"
		}
		var v uint32
		v, ok = t.ulong(ckaPKCS32Server)
		switch v { // 1 trusted, 2 anchor: map onto the NSS values
		case 1:
			server = cktTrusted
		case 2:
			server = cktDelegator
		}
	}
	if keys.state == KeyEmptyPassword {
		for _, a := range authenticated[class] {
			v, present := t.attrs[a]
			if present && !keys.verifyMAC(t.id, a, v) {
				return false, "the trust's integrity check (key4.db) failed"
			}
		}
	}
	if !ok || (server != cktTrusted && server != cktDelegator) {
		return false, "not trusted as an SSL server"
	}
	return true, ""
}
