// SPDX-License-Identifier: GPL-2.0-or-later

package certdb

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Nickname is the label systemtap gives every trusted server certificate.
const Nickname = "stap-server"

// ErrPassword: the database has a password; changing trust needs it to
// compute the integrity MACs, and stap-client never asks for one.
var ErrPassword = errors.New("the database is protected by a password, which stap-client does not ask for; change its trust with certutil")

// columns are the PKCS#11 attributes NSS 3.87 creates its tables with, in
// its order (a fact about the format; NSS adds more as it meets them).
const columns = "a0, a1, a2, a3, a10, a11, a12, a80, a81, a82, a83, a84, a85, a86, a87, a88, a89, a8a, a8b, a90, a100, a101, a102, a103, a104, a105, a106, a107, a108, a109, a10a, a10b, a10c, a110, a111, a120, a121, a122, a123, a124, a125, a126, a127, a128, a129, a130, a131, a132, a133, a134, a160, a161, a162, a163, a164, a165, a166, a170, a180, a181, a200, a201, a202, a210, a300, a301, a302, a400, a401, a402, a403, a404, a405, a406, a480, a481, a482, a500, a501, a502, a503, a40000211, a40000212, a80000001, ace534351, ace534352, ace534353, ace534354, ace534355, ace534356, ace534357, ace534358, ace534364, ace534365, ace534366, ace534367, ace534368, ace534369, ace534373, ace534374, ace536351, ace536352, ace536353, ace536354, ace536355, ace536356, ace536357, ace536358, ace536359, ace53635a, ace53635b, ace53635c, ace53635d, ace53635e, ace53635f, ace536360, ace5363b4, ace5363b5, ad5a0db00"

func schema(table string) []string {
	return []string{
		"CREATE TABLE " + table + " (id PRIMARY KEY UNIQUE ON CONFLICT ABORT, " + columns + ")",
		"CREATE INDEX issuer ON " + table + " (a81)",
		"CREATE INDEX subject ON " + table + " (a101)",
		"CREATE INDEX label ON " + table + " (a3)",
		"CREATE INDEX ckaid ON " + table + " (a102)",
	}
}

func ulong(v uint32) []byte {
	b := make([]byte, 4)
	binary.BigEndian.PutUint32(b, v)
	return b
}

var emptyValue = []byte{0xa5, 0x00, 0x5a}

// openRW opens an SQLite file for writing, creating it when missing.
func openRW(path string) (*sql.DB, error) {
	return openSQLite(path, "mode=rwc&_pragma=busy_timeout(5000)&_pragma=journal_mode(DELETE)")
}

// AddTrust makes dir trust der as an SSL peer, e-mail peer and object
// signer (P,P,P) under the nickname stap-server, as `stap --trust-servers`
// does: directory and database created when missing (0755, *.db 0644),
// integrity MACs written, and a certificate already there keeps its row and
// gets fresh trust. It reports whether the certificate was already trusted
// (then nothing is written).
func AddTrust(ctx context.Context, dir string, der []byte) (already bool, err error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return false, fmt.Errorf("parsing the server certificate: %w", err)
	}
	serial, err := serialTLV(cert)
	if err != nil {
		return false, err
	}
	switch Detect(dir) {
	case FormatLegacy:
		return false, &LegacyError{Dir: dir}
	case FormatSQL:
		if db, err := Open(ctx, dir); err == nil && db.Trusts(der) {
			return true, nil
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("creating certificate database directory %s: %w", dir, err)
	}
	w, err := openWriter(ctx, dir)
	if err != nil {
		return false, err
	}
	defer w.close()
	if err := w.putCert(ctx, cert, der, serial); err != nil {
		return false, err
	}
	if err := w.putTrust(ctx, cert, der, serial); err != nil {
		return false, err
	}
	return false, w.commit(ctx)
}

// putCert makes sure the database holds cert under Nickname, keeping its
// row if it is there, and drops the trust objects it had.
func (w *writer) putCert(ctx context.Context, cert *x509.Certificate, der, serial []byte) error {
	for _, o := range w.objs {
		if c, _ := o.ulong(ckaClass); c == ckoCertificate && string(o.value(ckaLabel)) == Nickname &&
			!bytes.Equal(o.attrs[ckaSubject], cert.RawSubject) {
			return fmt.Errorf("%s holds another %s certificate with a different subject, which NSS would refuse to pair with this one", w.dir, Nickname)
		}
	}
	haveCert := false
	for _, o := range w.objs {
		if !w.sameCert(o, cert, serial) {
			continue
		}
		if c, _ := o.ulong(ckaClass); c == ckoCertificate {
			haveCert = true
		} else if err := w.deleteObject(ctx, o.id); err != nil {
			return err
		}
	}
	if haveCert {
		return nil
	}
	attrs := map[string][]byte{
		"a0": ulong(ckoCertificate), "a1": {1}, "a2": {0}, "a3": []byte(Nickname),
		"a11": der, "a80": ulong(0), "a81": cert.RawIssuer, "a82": serial,
		"a101": cert.RawSubject, "a170": {1},
	}
	if id := ckaID(cert); id != nil {
		attrs["a102"] = id
	}
	return w.insert(ctx, w.newID(), attrs)
}

// putTrust adds the trust object (P,P,P) for cert, each trust value with
// its integrity MAC in key4.db.
func (w *writer) putTrust(ctx context.Context, cert *x509.Certificate, der, serial []byte) error {
	trustID := w.newID()
	sum1, sum5 := sha1.Sum(der), md5.Sum(der)
	trusted := ulong(cktTrusted)
	values := map[uint32][]byte{
		ckaTrustServer: trusted, ckaTrustClient: trusted, ckaTrustCode: trusted, ckaTrustEmail: trusted,
		ckaTrustStepUp: {0}, ckaCertSHA1: sum1[:], ckaCertMD5: sum5[:],
	}
	attrs := map[string][]byte{
		"a0": ulong(ckoNSSTrust), "a1": {1}, "a2": {0}, "a3": emptyValue, "a170": {1},
		"a81": cert.RawIssuer, "a82": serial,
	}
	for t, v := range values {
		attrs[fmt.Sprintf("a%x", t)] = v
		mac, err := w.keys.sealMAC(trustID, t, v)
		if err != nil {
			return err
		}
		if _, err := w.key.ExecContext(ctx, "INSERT INTO metaData (id, item1, item2) VALUES (?, ?, NULL)",
			fmt.Sprintf("sig_cert_%08x_%08x", trustID, t), mac); err != nil {
			return fmt.Errorf("%s/key4.db: writing a MAC: %w", w.dir, err)
		}
	}
	return w.insert(ctx, trustID, attrs)
}

// RevokeTrust removes every stap-server certificate whose serial is
// certinfo (aa:bb:.. as servers advertise it), with its trust and MACs. It
// reports how many were removed; a missing database removes nothing.
func RevokeTrust(ctx context.Context, dir, certinfo string) (int, error) {
	switch Detect(dir) {
	case FormatNone:
		return 0, nil
	case FormatLegacy:
		return 0, &LegacyError{Dir: dir}
	}
	w, err := openWriter(ctx, dir)
	if err != nil {
		return 0, err
	}
	defer w.close()
	n := 0
	for _, o := range w.objs {
		if c, _ := o.ulong(ckaClass); c != ckoCertificate || string(o.value(ckaLabel)) != Nickname {
			continue
		}
		x, err := x509.ParseCertificate(o.value(ckaValue))
		if err != nil || Certinfo(x) != certinfo {
			continue
		}
		for _, t := range w.objs {
			if bytes.Equal(t.attrs[ckaIssuer], o.attrs[ckaIssuer]) && bytes.Equal(t.attrs[ckaSerial], o.attrs[ckaSerial]) {
				if err := w.deleteObject(ctx, t.id); err != nil {
					return 0, err
				}
			}
		}
		n++
	}
	if n == 0 {
		return 0, nil
	}
	return n, w.commit(ctx)
}

// Certinfo is a certificate's serial as servers advertise it in certinfo:
// the DER INTEGER content bytes, sign pad included, as lowercase hex pairs
// joined by ':' (openssl's CC197147 is 00:cc:19:71:47).
func Certinfo(c *x509.Certificate) string {
	b := c.SerialNumber.Bytes()
	// DER's minimal encoding of a non-negative integer: at least one byte,
	// and a 0x00 pad when the top bit would read as a sign.
	if len(b) == 0 || b[0]&0x80 != 0 {
		b = append([]byte{0}, b...)
	}
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = fmt.Sprintf("%02x", x)
	}
	return strings.Join(parts, ":")
}

// writer holds both databases in write transactions (BEGIN IMMEDIATE, as
// NSS), on single connections.
type writer struct {
	dir       string
	certDB    *sql.DB
	keyDB     *sql.DB
	cert, key *sql.Conn
	objs      []object
	keys      keyDB
	used      map[uint32]bool
	done      bool
}

func openWriter(ctx context.Context, dir string) (*writer, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	w := &writer{dir: dir, used: map[uint32]bool{}}
	fail := func(what string, err error) (*writer, error) {
		w.close()
		return nil, fmt.Errorf("%s/%s: %w", dir, what, err)
	}
	if w.certDB, err = openRW(filepath.Join(abs, "cert9.db")); err != nil {
		return fail("cert9.db", err)
	}
	if w.keyDB, err = openRW(filepath.Join(abs, "key4.db")); err != nil {
		return fail("key4.db", err)
	}
	if w.cert, err = w.certDB.Conn(ctx); err != nil {
		return fail("cert9.db", err)
	}
	if w.key, err = w.keyDB.Conn(ctx); err != nil {
		return fail("key4.db", err)
	}
	if err := ensureSchema(ctx, w.cert, "nssPublic", false); err != nil {
		return fail("cert9.db", err)
	}
	if err := ensureSchema(ctx, w.key, "nssPrivate", true); err != nil {
		return fail("key4.db", err)
	}
	if _, err := w.key.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fail("key4.db", err)
	}
	if _, err := w.cert.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		w.key.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		return fail("cert9.db", err)
	}
	if w.keys, err = readKeyDBConn(ctx, w.key); err != nil {
		return fail("key4.db", err)
	}
	switch w.keys.state {
	case KeyPassword:
		w.close()
		return nil, fmt.Errorf("%s: %w", dir, ErrPassword)
	case KeyUninitialized:
		// NSS needs an empty-password row before trust can be MACed; stap
		// 4.8 makes one the same way (PK11_InitPin with "").
		if w.keys, err = initPassword(ctx, w.key); err != nil {
			return fail("key4.db", err)
		}
	}
	if w.objs, err = readObjectsConn(ctx, w.cert); err != nil {
		return fail("cert9.db", err)
	}
	for _, o := range w.objs {
		w.used[o.id] = true
	}
	return w, nil
}

// close rolls back anything not committed and closes both files.
func (w *writer) close() {
	bg := context.Background()
	if !w.done {
		if w.cert != nil {
			w.cert.ExecContext(bg, "ROLLBACK")
		}
		if w.key != nil {
			w.key.ExecContext(bg, "ROLLBACK")
		}
	}
	for _, c := range []*sql.Conn{w.cert, w.key} {
		if c != nil {
			c.Close()
		}
	}
	for _, d := range []*sql.DB{w.certDB, w.keyDB} {
		if d != nil {
			d.Close()
		}
	}
}

// commit writes key4.db before cert9.db, NSS's order, so trust is never
// visible without its MACs; then makes the files readable, as stap does.
func (w *writer) commit(ctx context.Context) error {
	if _, err := w.key.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("%s/key4.db: %w", w.dir, err)
	}
	if _, err := w.cert.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("%s/cert9.db: %w", w.dir, err)
	}
	w.done = true
	for _, f := range []string{"cert9.db", "key4.db"} {
		if err := os.Chmod(filepath.Join(w.dir, f), 0o644); err != nil {
			return fmt.Errorf("making %s/%s readable: %w", w.dir, f, err)
		}
	}
	return nil
}

func (w *writer) sameCert(o object, c *x509.Certificate, serial []byte) bool {
	return bytes.Equal(o.attrs[ckaIssuer], c.RawIssuer) && bytes.Equal(o.attrs[ckaSerial], serial)
}

// newID allocates an object id the NSS way: the clock in microseconds, 30
// bits, skipping 0 and ids in use.
func (w *writer) newID() uint32 {
	id := uint32(time.Now().UnixMicro()) & 0x3fffffff
	for id == 0 || w.used[id] {
		id = (id + 1) & 0x3fffffff
	}
	w.used[id] = true
	return id
}

func (w *writer) insert(ctx context.Context, id uint32, attrs map[string][]byte) error {
	names := []string{"id"}
	marks := []string{"?"}
	args := []any{int64(id)}
	for k, v := range attrs {
		names = append(names, k)
		marks = append(marks, "?")
		args = append(args, v)
	}
	q := "INSERT INTO nssPublic (" + strings.Join(names, ", ") + ") VALUES (" + strings.Join(marks, ", ") + ")"
	if _, err := w.cert.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("%s/cert9.db: %w", w.dir, err)
	}
	return nil
}

// deleteObject removes a row and its MAC rows.
func (w *writer) deleteObject(ctx context.Context, id uint32) error {
	if _, err := w.cert.ExecContext(ctx, "DELETE FROM nssPublic WHERE id = ?", int64(id)); err != nil {
		return fmt.Errorf("%s/cert9.db: %w", w.dir, err)
	}
	if _, err := w.key.ExecContext(ctx, "DELETE FROM metaData WHERE id LIKE ?", fmt.Sprintf("sig_cert_%08x_%%", id)); err != nil {
		return fmt.Errorf("%s/key4.db: %w", w.dir, err)
	}
	return nil
}

// ensureSchema creates NSS's tables where missing: all of them in a new,
// empty file; metaData alone in a key4.db that NSS opened but never gave
// a password (NSS creates that table lazily: a database the 5.1 client's
// failed --trust-servers leaves has none).
func ensureSchema(ctx context.Context, c *sql.Conn, table string, key bool) error {
	has := func(name string) (bool, error) {
		var n int
		err := c.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name=?", name).Scan(&n)
		return n > 0, err
	}
	var stmts []string
	ok, err := has(table)
	if err != nil {
		return err
	}
	if !ok {
		stmts = schema(table)
	}
	if key {
		if ok, err = has("metaData"); err != nil {
			return err
		}
		if !ok {
			stmts = append(stmts, "CREATE TABLE metaData (id PRIMARY KEY UNIQUE ON CONFLICT REPLACE, item1, item2)")
		}
	}
	for _, s := range stmts {
		if _, err := c.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("creating the database: %w", err)
		}
	}
	return nil
}

// initPassword writes the empty-password row: a global salt and the check
// value "password-check" sealed with PBES2 (PBKDF2-HMAC-SHA256, one
// iteration, AES-256-CBC with NSS's whole-TLV IV).
func initPassword(ctx context.Context, c *sql.Conn) (keyDB, error) {
	salt := make([]byte, 20)
	if _, err := rand.Read(salt); err != nil {
		return keyDB{}, err
	}
	pwKey := sha1.Sum(salt)
	kdf, key, err := newKDF(pwKey[:])
	if err != nil {
		return keyDB{}, err
	}
	ivBytes := make([]byte, 14)
	if _, err := rand.Read(ivBytes); err != nil {
		return keyDB{}, err
	}
	ivTLV, err := asn1.Marshal(ivBytes)
	if err != nil {
		return keyDB{}, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return keyDB{}, err
	}
	plain := append([]byte("password-check"), 2, 2)
	ct := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, ivTLV).CryptBlocks(ct, plain)
	params, err := asn1.Marshal(pbes2Params{KDF: kdf, Enc: algorithm{OID: oidAES256CBC, Params: asn1.RawValue{FullBytes: ivTLV}}})
	if err != nil {
		return keyDB{}, err
	}
	item2, err := asn1.Marshal(sealed{Alg: algorithm{OID: oidPBES2, Params: asn1.RawValue{FullBytes: params}}, Data: ct})
	if err != nil {
		return keyDB{}, err
	}
	if _, err := c.ExecContext(ctx, "INSERT INTO metaData (id, item1, item2) VALUES ('password', ?, ?)", salt, item2); err != nil {
		return keyDB{}, fmt.Errorf("writing the password row: %w", err)
	}
	return keyDB{state: KeyEmptyPassword, passwordKey: pwKey[:], sigs: map[string][]byte{}}, nil
}

// newKDF makes PBKDF2-HMAC-SHA256 parameters with a fresh 32-byte salt and
// one iteration (NSS's choice for the empty password), and the derived key.
func newKDF(pwKey []byte) (algorithm, []byte, error) {
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return algorithm{}, nil, err
	}
	p, err := asn1.Marshal(pbkdf2Params{Salt: salt, Iter: 1, KeyLen: 32, PRF: algorithm{OID: oidHMACSHA256}})
	if err != nil {
		return algorithm{}, nil, err
	}
	key, err := pbkdf2.Key(sha256.New, string(pwKey), salt, 1, 32)
	if err != nil {
		return algorithm{}, nil, err
	}
	return algorithm{OID: oidPBKDF2, Params: asn1.RawValue{FullBytes: p}}, key, nil
}

// sealMAC computes a sig_cert_ row's item1: PBMAC1 over id || type || value.
func (k keyDB) sealMAC(id, typ uint32, value []byte) ([]byte, error) {
	kdf, key, err := newKDF(k.passwordKey)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, key)
	var hdr [8]byte
	binary.BigEndian.PutUint32(hdr[:4], id)
	binary.BigEndian.PutUint32(hdr[4:], typ)
	m.Write(hdr[:])
	m.Write(value)
	params, err := asn1.Marshal(pbmac1Params{KDF: kdf, MAC: algorithm{OID: oidHMACSHA256}})
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(sealed{Alg: algorithm{OID: oidPBMAC1, Params: asn1.RawValue{FullBytes: params}}, Data: m.Sum(nil)})
}

// serialTLV is the serial exactly as the certificate encodes it (tag and
// length included), which is what NSS stores and matches on.
func serialTLV(c *x509.Certificate) ([]byte, error) {
	var tbs struct {
		Raw     asn1.RawContent
		Version asn1.RawValue `asn1:"optional,explicit,tag:0"`
		Serial  asn1.RawValue
	}
	if _, err := asn1.Unmarshal(c.RawTBSCertificate, &tbs); err != nil {
		return nil, fmt.Errorf("reading the certificate serial: %w", err)
	}
	return tbs.Serial.FullBytes, nil
}

// ckaID is NSS's CKA_ID: SHA-1 of the RSA modulus (no leading zero) or of
// the EC public point.
func ckaID(c *x509.Certificate) []byte {
	var data []byte
	var spki struct {
		Alg algorithm
		Key asn1.BitString
	}
	if _, err := asn1.Unmarshal(c.RawSubjectPublicKeyInfo, &spki); err != nil {
		return nil
	}
	switch c.PublicKeyAlgorithm {
	case x509.RSA:
		var rsaKey struct {
			N *big.Int
			E int
		}
		if _, err := asn1.Unmarshal(spki.Key.Bytes, &rsaKey); err != nil {
			return nil
		}
		data = rsaKey.N.Bytes()
	case x509.ECDSA:
		data = spki.Key.Bytes
	default:
		return nil
	}
	sum := sha1.Sum(data)
	return sum[:]
}
