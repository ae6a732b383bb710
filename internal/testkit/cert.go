// SPDX-License-Identifier: GPL-2.0-or-later

package testkit

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// CertSpec describes a self-signed server certificate; the zero value is a
// plain one valid for an hour either side of now.
type CertSpec struct {
	Serial              int64     // 42 when zero
	NotBefore, NotAfter time.Time // now-1h and now+1h when zero
	DNSNames            []string
	// Stap shapes it like stap-serverd's: OU=Systemtap and a critical
	// Netscape Cert Type extension, which Go's verifier cannot handle.
	Stap bool
}

// netscapeCertType is the extension stap-serverd's certificates carry.
var netscapeCertType = asn1.ObjectIdentifier{2, 16, 840, 1, 113730, 1, 1}

// Cert makes a self-signed ECDSA P-256 certificate named as the compile
// server names its own ("Systemtap Compile Server").
func Cert(t testing.TB, spec CertSpec) tls.Certificate {
	t.Helper()
	if spec.Serial == 0 {
		spec.Serial = 42
	}
	now := time.Now()
	if spec.NotBefore.IsZero() {
		spec.NotBefore = now.Add(-time.Hour)
	}
	if spec.NotAfter.IsZero() {
		spec.NotAfter = now.Add(time.Hour)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(spec.Serial),
		Subject:      pkix.Name{CommonName: "Systemtap Compile Server"},
		NotBefore:    spec.NotBefore, NotAfter: spec.NotAfter,
		DNSNames: spec.DNSNames,
	}
	if spec.Stap {
		tmpl.Subject.OrganizationalUnit = []string{"Systemtap"}
		tmpl.ExtraExtensions = []pkix.Extension{{Id: netscapeCertType, Critical: true, Value: []byte{0x03, 0x02, 0x04, 0x50}}}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
