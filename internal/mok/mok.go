// SPDX-License-Identifier: GPL-2.0-or-later

package mok

import (
	"crypto/sha1"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strconv"
	"strings"
)

// Where the kernel exposes the enrolled MOKs. Newer kernels have the whole
// list, without attributes, under mok-variables; efivarfs has MokListRT and,
// when shim had to split a long list, MokListRT1, MokListRT2..., each
// starting with 4 attribute bytes. mokutil prefers the first, as we do.
const (
	MokVariablesPath = "sys/firmware/efi/mok-variables/MokListRT"
	EfivarsDir       = "sys/firmware/efi/efivars"
	ShimGUID         = "605dab50-e046-4300-abb6-3dd810dd8b23"
)

// maxVar bounds what one variable may hold; firmware variable stores are
// far smaller, so more means something is wrong.
const maxVar = 16 << 20

// Key is one enrolled X.509 MOK.
type Key struct {
	// Fingerprint is what mokutil prints as "SHA1 Fingerprint": the SHA-1
	// of the certificate, lower-case hex pairs joined by ':'. stap sends it.
	Fingerprint string
	// Issuer is the issuer as mokutil prints it (OpenSSL's compat form,
	// e.g. "O=Systemtap, CN=Systemtap module signing key").
	Issuer string
}

// stap reads mokutil's "Issuer:" line with `^[ \t]*Issuer: [A-Z]*=(.*)$` and
// keeps the key when the captured rest mentions Systemtap.
var issuerLine = regexp.MustCompile(`^[A-Z]*=(.*)$`)

// IssuerRest is what stap captures from the issuer line (everything after
// the first attribute's "="), and whether the line matched at all.
func (k Key) IssuerRest() (string, bool) {
	m := issuerLine.FindStringSubmatch(k.Issuer)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// Systemtap tells whether stap counts this key as a Systemtap MOK.
func (k Key) Systemtap() bool {
	rest, ok := k.IssuerRest()
	return ok && strings.Contains(rest, "Systemtap")
}

// Enrolled is what the host shows of MokListRT.
type Enrolled struct {
	Keys   []Key
	Source string // the file(s) read, "" when there is no MokListRT
}

// ReadEnrolled reads the X.509 keys enrolled in MokListRT under root. No
// such variable (no EFI, no shim) is no keys and no error. Anything that
// cannot be read or parsed is an error wrapping ErrMalformed (or the read
// error): the caller warns once and goes on with no keys.
func ReadEnrolled(root fs.FS) (Enrolled, error) {
	data, err := readLimited(root, MokVariablesPath)
	switch {
	case err == nil && len(data) > 0:
		keys, err := keysOf(data)
		if err != nil {
			return Enrolled{}, fmt.Errorf("/%s: %w", MokVariablesPath, err)
		}
		return Enrolled{Keys: keys, Source: "/" + MokVariablesPath}, nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return Enrolled{}, fmt.Errorf("reading /%s: %w", MokVariablesPath, err)
	}
	var out Enrolled
	for i := 0; ; i++ {
		name := "MokListRT"
		if i > 0 {
			name += strconv.Itoa(i)
		}
		p := EfivarsDir + "/" + name + "-" + ShimGUID
		data, err := readLimited(root, p)
		if errors.Is(err, fs.ErrNotExist) {
			return out, nil
		}
		if err != nil {
			return Enrolled{}, fmt.Errorf("reading /%s: %w", p, err)
		}
		if len(data) < 4 {
			return Enrolled{}, fmt.Errorf("/%s: %w: %d bytes, too few for the attributes", p, ErrMalformed, len(data))
		}
		keys, err := keysOf(data[4:])
		if err != nil {
			return Enrolled{}, fmt.Errorf("/%s: %w", p, err)
		}
		out.Keys = append(out.Keys, keys...)
		if out.Source != "" {
			out.Source += " "
		}
		out.Source += "/" + p
	}
}

func readLimited(root fs.FS, name string) ([]byte, error) {
	if fi, err := fs.Stat(root, name); err == nil && fi.Size() > maxVar {
		return nil, fmt.Errorf("%w: %d bytes, more than a firmware variable holds", ErrMalformed, fi.Size())
	}
	return fs.ReadFile(root, name)
}

// keysOf parses one variable's signature lists and keeps the certificates.
// Hash lists (shim can enrol hashes) are not keys and are passed over.
func keysOf(data []byte) ([]Key, error) {
	entries, err := ParseSignatureLists(data)
	if err != nil {
		return nil, err
	}
	var keys []Key
	for i, e := range entries {
		if e.Type != CertX509 {
			continue
		}
		issuer, err := IssuerOf(e.Data)
		if err != nil {
			return nil, fmt.Errorf("%w: entry %d is not an X.509 certificate: %v", ErrMalformed, i+1, err)
		}
		keys = append(keys, Key{Fingerprint: Fingerprint(e.Data), Issuer: issuer})
	}
	return keys, nil
}

// Fingerprint is mokutil's: SHA-1 over the whole signature data, lower-case
// hex pairs joined by ':'.
func Fingerprint(der []byte) string {
	sum := sha1.Sum(der)
	h := hex.EncodeToString(sum[:])
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// IssuerOf decodes just enough of a DER certificate to print its issuer as
// mokutil does. It does not verify anything: the firmware did.
func IssuerOf(der []byte) (string, error) {
	var cert asn1.RawValue
	// Bytes after the certificate are allowed, as OpenSSL's d2i_X509 allows
	// them; they still count in the fingerprint.
	if _, err := asn1.Unmarshal(der, &cert); err != nil {
		return "", err
	}
	if cert.Class != asn1.ClassUniversal || cert.Tag != asn1.TagSequence {
		return "", errors.New("not a SEQUENCE")
	}
	var tbs asn1.RawValue
	if _, err := asn1.Unmarshal(cert.Bytes, &tbs); err != nil {
		return "", fmt.Errorf("tbsCertificate: %w", err)
	}
	if tbs.Tag != asn1.TagSequence {
		return "", errors.New("tbsCertificate is not a SEQUENCE")
	}
	// version [0] EXPLICIT (optional), serialNumber, signature, issuer.
	fields := tbs.Bytes
	var f asn1.RawValue
	var err error
	if fields, err = asn1.Unmarshal(fields, &f); err != nil {
		return "", fmt.Errorf("tbsCertificate: %w", err)
	}
	if f.Class == asn1.ClassContextSpecific && f.Tag == 0 {
		if fields, err = asn1.Unmarshal(fields, &f); err != nil { // the serial
			return "", fmt.Errorf("serialNumber: %w", err)
		}
	}
	if f.Tag != asn1.TagInteger {
		return "", errors.New("serialNumber is not an INTEGER")
	}
	if fields, err = asn1.Unmarshal(fields, &f); err != nil || f.Tag != asn1.TagSequence {
		return "", errors.New("bad signature algorithm")
	}
	var issuer asn1.RawValue
	if _, err = asn1.Unmarshal(fields, &issuer); err != nil || issuer.Tag != asn1.TagSequence {
		return "", errors.New("bad issuer")
	}
	return printName(issuer.Bytes)
}
