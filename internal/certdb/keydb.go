// SPDX-License-Identifier: GPL-2.0-or-later

package certdb

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
)

// KeyState is what key4.db says about checking integrity MACs.
type KeyState int

// Key database states (docs/nss-databases.md, section 4).
const (
	// KeyUninitialized: no key4.db, no metaData or no password row; NSS
	// checks no MACs.
	KeyUninitialized KeyState = iota
	// KeyEmptyPassword: NSS logs in by itself and checks every MAC.
	KeyEmptyPassword
	// KeyPassword: a password is set; stap never logs in, nothing is checked.
	KeyPassword
)

var (
	oidPBES2      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidPBMAC1     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 14}
	oidHMACSHA1   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidAES256CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
)

type algorithm struct {
	OID    asn1.ObjectIdentifier
	Params asn1.RawValue `asn1:"optional"`
}

type sealed struct {
	Alg  algorithm
	Data []byte
}

type pbes2Params struct {
	KDF algorithm
	Enc algorithm
}

type pbmac1Params struct {
	KDF algorithm
	MAC algorithm
}

type pbkdf2Params struct {
	Salt   []byte
	Iter   int
	KeyLen int       `asn1:"optional"`
	PRF    algorithm `asn1:"optional"`
}

// keyDB holds what is needed to check MACs.
type keyDB struct {
	state       KeyState
	passwordKey []byte            // SHA-1(global salt || ""), when state is KeyEmptyPassword
	sigs        map[string][]byte // metaData id -> item2, for sig_cert_* rows
}

// newKeyDB decides the state from the password row (item1 = global salt,
// item2 = the sealed check value) and keeps the MAC rows.
func newKeyDB(salt, check []byte, havePassword bool, sigs map[string][]byte) keyDB {
	k := keyDB{state: KeyUninitialized, sigs: sigs}
	if !havePassword {
		return k
	}
	h := sha1.Sum(salt) // the empty password: nothing is appended
	if ok, err := checkValue(h[:], check); err == nil && ok {
		k.state, k.passwordKey = KeyEmptyPassword, h[:]
		return k
	}
	// An unreadable or non-matching check value is a password NSS cannot
	// log in with without asking, which stap never does.
	k.state = KeyPassword
	return k
}

// checkValue decrypts the password check value (PBES2: PBKDF2 + AES-256-CBC)
// and reports whether it says "password-check".
func checkValue(pwKey, der []byte) (bool, error) {
	var s sealed
	if _, err := asn1.Unmarshal(der, &s); err != nil {
		return false, fmt.Errorf("decoding the password check: %w", err)
	}
	if !s.Alg.OID.Equal(oidPBES2) {
		return false, fmt.Errorf("password check sealed with unsupported algorithm %v", s.Alg.OID)
	}
	var p pbes2Params
	if _, err := asn1.Unmarshal(s.Alg.Params.FullBytes, &p); err != nil {
		return false, fmt.Errorf("decoding PBES2 parameters: %w", err)
	}
	key, err := deriveKey(pwKey, p.KDF)
	if err != nil {
		return false, err
	}
	if !p.Enc.OID.Equal(oidAES256CBC) {
		return false, fmt.Errorf("password check encrypted with unsupported cipher %v", p.Enc.OID)
	}
	// NSS quirk: the IV is the whole DER of the IV parameter, tag and length
	// included (04 0e + 14 bytes = 16).
	iv := p.Enc.Params.FullBytes
	if len(iv) != aes.BlockSize || len(s.Data) == 0 || len(s.Data)%aes.BlockSize != 0 {
		return false, errors.New("malformed password check")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return false, fmt.Errorf("password check key: %w", err)
	}
	plain := make([]byte, len(s.Data))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, s.Data)
	pad := int(plain[len(plain)-1])
	if pad == 0 || pad > aes.BlockSize || pad > len(plain) {
		return false, nil
	}
	return bytes.Equal(plain[:len(plain)-pad], []byte("password-check")), nil
}

// deriveKey runs a PBKDF2 AlgorithmIdentifier over the password key.
func deriveKey(pwKey []byte, kdf algorithm) ([]byte, error) {
	if !kdf.OID.Equal(oidPBKDF2) {
		return nil, fmt.Errorf("unsupported key derivation %v", kdf.OID)
	}
	var p pbkdf2Params
	if _, err := asn1.Unmarshal(kdf.Params.FullBytes, &p); err != nil {
		return nil, fmt.Errorf("decoding PBKDF2 parameters: %w", err)
	}
	// Bounds keep a corrupt database from costing minutes or gigabytes.
	if p.Iter < 1 || p.Iter > 1_000_000 {
		return nil, fmt.Errorf("PBKDF2 iteration count %d out of range", p.Iter)
	}
	if p.KeyLen == 0 {
		p.KeyLen = 32
	}
	if p.KeyLen > 64 {
		return nil, fmt.Errorf("PBKDF2 key length %d out of range", p.KeyLen)
	}
	prf, err := hmacHash(p.PRF.OID)
	if err != nil {
		return nil, err
	}
	return pbkdf2.Key(prf, string(pwKey), p.Salt, p.Iter, p.KeyLen)
}

func hmacHash(oid asn1.ObjectIdentifier) (func() hash.Hash, error) {
	switch {
	case len(oid) == 0 || oid.Equal(oidHMACSHA1):
		return sha1.New, nil
	case oid.Equal(oidHMACSHA256):
		return sha256.New, nil
	}
	return nil, fmt.Errorf("unsupported HMAC %v", oid)
}

// verifyMAC checks the sig_cert_<id>_<type> row of one attribute value as
// NSS does: HMAC(PBKDF2(password key), id || type || value), PBMAC1-sealed.
func (k keyDB) verifyMAC(id, typ uint32, value []byte) bool {
	row, ok := k.sigs[fmt.Sprintf("sig_cert_%08x_%08x", id, typ)]
	if !ok {
		return false
	}
	var s sealed
	if _, err := asn1.Unmarshal(row, &s); err != nil || !s.Alg.OID.Equal(oidPBMAC1) {
		return false
	}
	var p pbmac1Params
	if _, err := asn1.Unmarshal(s.Alg.Params.FullBytes, &p); err != nil {
		return false
	}
	key, err := deriveKey(k.passwordKey, p.KDF)
	if err != nil {
		return false
	}
	h, err := hmacHash(p.MAC.OID)
	if err != nil {
		return false
	}
	m := hmac.New(h, key)
	var hdr [8]byte
	binary.BigEndian.PutUint32(hdr[:4], id)
	binary.BigEndian.PutUint32(hdr[4:], typ)
	m.Write(hdr[:])
	m.Write(value)
	return hmac.Equal(m.Sum(nil), s.Data)
}
