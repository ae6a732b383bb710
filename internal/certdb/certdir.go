// SPDX-License-Identifier: GPL-2.0-or-later

package certdb

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// CertDir is a directory of PEM or DER certificate files (a server's
// stap.cert, say): every certificate in it is trusted.
type CertDir struct {
	dir   string
	certs [][]byte
}

// maxCertFile bounds what is read from one file; certificates are a few KB.
const maxCertFile = 1 << 20

// LoadCertDir reads every regular file in dir as PEM (all CERTIFICATE blocks)
// or, failing that, as one DER certificate. Files that are neither are
// ignored, so a directory may also hold other things.
func LoadCertDir(dir string) (*CertDir, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading certificate directory %s: %w", dir, err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	d := &CertDir{dir: dir}
	for _, n := range names {
		p := filepath.Join(dir, n)
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Size() > maxCertFile {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading certificate file %s: %w", p, err)
		}
		d.certs = append(d.certs, parseCerts(data)...)
	}
	return d, nil
}

func parseCerts(data []byte) [][]byte {
	var out [][]byte
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			out = append(out, b.Bytes)
		}
	}
	if len(out) == 0 && looksLikeDER(data) {
		out = append(out, data)
	}
	return out
}

// looksLikeDER accepts a single DER SEQUENCE spanning the whole input.
func looksLikeDER(b []byte) bool {
	if len(b) < 2 || b[0] != 0x30 {
		return false
	}
	n, hdr := int(b[1]), 2
	if n&0x80 != 0 {
		k := n & 0x7f
		if k == 0 || k > 4 || len(b) < 2+k {
			return false
		}
		n = 0
		for _, c := range b[2 : 2+k] {
			n = n<<8 | int(c)
		}
		hdr += k
	}
	return hdr+n == len(b)
}

// Name is the directory.
func (d *CertDir) Name() string { return d.dir }

// Len is the number of certificates found.
func (d *CertDir) Len() int { return len(d.certs) }

// Trusts pins by exact DER bytes.
func (d *CertDir) Trusts(der []byte) bool {
	for _, c := range d.certs {
		if bytes.Equal(c, der) {
			return true
		}
	}
	return false
}

// TrustedCerts are the directory's certificates that parse.
func (d *CertDir) TrustedCerts() []*x509.Certificate {
	var out []*x509.Certificate
	for _, der := range d.certs {
		if c, err := x509.ParseCertificate(der); err == nil {
			out = append(out, c)
		}
	}
	return out
}
