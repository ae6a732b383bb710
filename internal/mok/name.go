// SPDX-License-Identifier: GPL-2.0-or-later

package mok

import (
	"encoding/asn1"
	"fmt"
	"strings"
)

// shortNames are OpenSSL's short names for the attribute types names use;
// others print as dotted OIDs, as OpenSSL prints types it has no name for.
var shortNames = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.4":                    "SN",
	"2.5.4.5":                    "serialNumber",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.9":                    "street",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.12":                   "title",
	"2.5.4.15":                   "businessCategory",
	"2.5.4.17":                   "postalCode",
	"2.5.4.42":                   "GN",
	"2.5.4.43":                   "initials",
	"2.5.4.44":                   "generationQualifier",
	"2.5.4.46":                   "dnQualifier",
	"2.5.4.65":                   "pseudonym",
	"2.5.4.97":                   "organizationIdentifier",
	"1.2.840.113549.1.9.1":       "emailAddress",
	"0.9.2342.19200300.100.1.1":  "UID",
	"0.9.2342.19200300.100.1.25": "DC",
}

// tagGeneralString is the one string type X509_NAME_oneline narrows: when
// its length is a multiple of 4 and only every fourth byte is non-zero, it
// keeps those bytes. Every other type (BMPString included) prints raw.
const tagGeneralString = 27

func narrow(v asn1.RawValue) []byte {
	b := v.Bytes
	if v.Class != asn1.ClassUniversal || v.Tag != tagGeneralString || len(b)%4 != 0 {
		return b
	}
	out := make([]byte, 0, len(b)/4)
	for i := 0; i < len(b); i += 4 {
		if b[i] != 0 || b[i+1] != 0 || b[i+2] != 0 {
			return b
		}
		out = append(out, b[i+3])
	}
	return out
}

// writeEscaped copies bytes, writing those outside printable ASCII as
// \xHH, as X509_NAME_oneline does.
func writeEscaped(b *strings.Builder, v []byte) {
	for _, c := range v {
		if c < ' ' || c > '~' {
			fmt.Fprintf(b, `\x%02X`, c)
			continue
		}
		b.WriteByte(c)
	}
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }

// compat is X509_NAME_print's rewrite of a oneline name.
func compat(oneline string) string {
	if oneline == "" {
		return ""
	}
	s := oneline[1:] // skip the first slash
	var out strings.Builder
	start := 0
	for i := 0; i <= len(s); i++ {
		at := func(k int) byte {
			if k < len(s) {
				return s[k]
			}
			return 0
		}
		if i == len(s) || (s[i] == '/' && isUpper(at(i+1)) && (at(i+2) == '=' || (isUpper(at(i+2)) && at(i+3) == '='))) {
			out.WriteString(s[start:i])
			start = i + 1
			if i < len(s) {
				out.WriteString(", ")
			}
		}
	}
	return out.String()
}

// printName prints an X.509 Name (the content of its SEQUENCE) the way
// mokutil shows it: OpenSSL's X509_NAME_print, which takes the
// "/type=value/type=value" form of X509_NAME_oneline and turns each "/"
// that starts a one- or two-upper-case-letter type into ", ".
func printName(rdns []byte) (string, error) {
	var oneline strings.Builder
	for len(rdns) > 0 {
		var set asn1.RawValue
		var err error
		if rdns, err = asn1.Unmarshal(rdns, &set); err != nil {
			return "", fmt.Errorf("issuer: %w", err)
		}
		if set.Tag != asn1.TagSet {
			return "", fmt.Errorf("issuer: RDN is not a SET")
		}
		for atvs := set.Bytes; len(atvs) > 0; {
			var atv struct {
				Type  asn1.ObjectIdentifier
				Value asn1.RawValue
			}
			if atvs, err = asn1.Unmarshal(atvs, &atv); err != nil {
				return "", fmt.Errorf("issuer attribute: %w", err)
			}
			name, ok := shortNames[atv.Type.String()]
			if !ok {
				name = atv.Type.String()
			}
			oneline.WriteString("/" + name + "=")
			writeEscaped(&oneline, narrow(atv.Value))
		}
	}
	return compat(oneline.String()), nil
}
