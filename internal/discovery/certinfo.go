package discovery

import (
	"crypto/x509"
	"fmt"
	"strings"
)

// Certinfo is a certificate's serial in the form servers advertise in their
// certinfo TXT record: the DER INTEGER content bytes, sign pad included, as
// lowercase hex pairs joined by ':' (openssl's CC197147 is 00:cc:19:71:47).
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
