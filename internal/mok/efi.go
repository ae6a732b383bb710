// SPDX-License-Identifier: GPL-2.0-or-later

package mok

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// GUID is an EFI GUID in its in-memory byte order (the first three fields
// little-endian), as it appears in a variable.
type GUID [16]byte

// String is the usual text form, e.g. a5c059a1-94e4-4aa7-87b5-ab155c2bf072.
func (g GUID) String() string {
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x",
		binary.LittleEndian.Uint32(g[0:4]), binary.LittleEndian.Uint16(g[4:6]),
		binary.LittleEndian.Uint16(g[6:8]), g[8:10], g[10:16])
}

// CertX509 is EFI_CERT_X509_GUID, the signature type of DER certificates.
var CertX509 = GUID{0xa1, 0x59, 0xc0, 0xa5, 0xe4, 0x94, 0xa7, 0x4a, 0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72}

// Entry is one EFI_SIGNATURE_DATA: who enrolled it and the signature (for
// CertX509 lists, a DER certificate).
type Entry struct {
	Type  GUID // the list's SignatureType
	Owner GUID
	Data  []byte
}

// listHeader is sizeof(EFI_SIGNATURE_LIST): SignatureType, then
// SignatureListSize, SignatureHeaderSize and SignatureSize (UINT32 each).
const listHeader = 16 + 4 + 4 + 4

// ErrMalformed wraps every reason a signature list cannot be read.
var ErrMalformed = errors.New("malformed EFI signature list")

// ParseSignatureLists reads a sequence of EFI_SIGNATURE_LIST structures
// (UEFI 2.10 §32.4.1), the content of MokListRT, db and the like. Any
// inconsistency is an error: a list that lies about its sizes cannot be
// trusted for the entries after it either.
func ParseSignatureLists(data []byte) ([]Entry, error) {
	var out []Entry
	for off := 0; off < len(data); {
		rest := data[off:]
		if len(rest) < listHeader {
			return nil, fmt.Errorf("%w: %d bytes left at offset %d, too few for a list header", ErrMalformed, len(rest), off)
		}
		var typ GUID
		copy(typ[:], rest[:16])
		listSize := binary.LittleEndian.Uint32(rest[16:])
		hdrSize := binary.LittleEndian.Uint32(rest[20:])
		sigSize := binary.LittleEndian.Uint32(rest[24:])
		switch {
		case uint64(listSize) > uint64(len(rest)):
			return nil, fmt.Errorf("%w: list at offset %d claims %d bytes, %d are left", ErrMalformed, off, listSize, len(rest))
		case uint64(listSize) < uint64(listHeader)+uint64(hdrSize):
			return nil, fmt.Errorf("%w: list at offset %d is %d bytes, smaller than its headers", ErrMalformed, off, listSize)
		case sigSize <= 16:
			return nil, fmt.Errorf("%w: list at offset %d has signatures of %d bytes, no room after the owner GUID", ErrMalformed, off, sigSize)
		}
		body := rest[uint64(listHeader)+uint64(hdrSize) : listSize]
		if uint64(len(body))%uint64(sigSize) != 0 {
			return nil, fmt.Errorf("%w: list at offset %d holds %d bytes of signatures, not a multiple of %d", ErrMalformed, off, len(body), sigSize)
		}
		for s := 0; s < len(body); s += int(sigSize) {
			e := Entry{Type: typ}
			copy(e.Owner[:], body[s:s+16])
			e.Data = body[s+16 : s+int(sigSize)]
			out = append(out, e)
		}
		off += int(listSize)
	}
	return out, nil
}
