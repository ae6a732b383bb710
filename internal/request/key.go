// SPDX-License-Identifier: GPL-2.0-or-later

package request

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"slices"
	"strings"
)

// Key identifies the request by what the server compiles, the same on
// every machine that sends the same request to the same kind of server:
// the protocol version, sysinfo, the MOK fingerprints and the arguments,
// with each shipped script or -I tree named by its content (relative file
// names and bytes) instead of its local path. The locale is left out: it
// changes the server's messages, not the module, and machines differ in it.
// Servers are chosen by this key (rendezvous ordering), so requests that
// meet the same server find its module cache warm.
func (r *Request) Key() []byte {
	files, err := unzipAll(r.Zip)
	if err != nil {
		// Our own zip always reads back; should it not, the bytes still
		// identify the request (less well: they hold local paths).
		sum := sha256.Sum256(r.Zip)
		return sum[:]
	}
	h := sha256.New()
	field(h, "stap-client request key 1")
	for _, name := range []string{"version", "sysinfo", "mok_fingerprints"} {
		data, ok := files[name]
		field(h, name)
		if ok {
			field(h, string(data))
		} else {
			field(h, "\x00absent")
		}
	}
	field(h, fmt.Sprint(len(r.Argv)))
	for _, a := range r.Argv {
		field(h, shippedAs(files, a))
	}
	return h.Sum(nil)
}

// field writes s length-prefixed, so that no two sequences of fields hash
// alike.
func field(h hash.Hash, s string) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(s)))
	h.Write(n[:])
	h.Write([]byte(s))
}

// shippedAs is an argument as the key sees it: a shipped script or tree
// ("script/..." or "tapset/..." with entries in the zip) becomes the hash
// of its relative names and contents; anything else is itself.
func shippedAs(files map[string][]byte, arg string) string {
	if !strings.HasPrefix(arg, "script/") && !strings.HasPrefix(arg, "tapset/") {
		return arg
	}
	var names []string
	for n := range files {
		if n == arg || strings.HasPrefix(n, arg+"/") {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return arg // not shipped: a path the server will report missing
	}
	slices.Sort(names)
	h := sha256.New()
	for _, n := range names {
		field(h, strings.TrimPrefix(n, arg))
		field(h, string(files[n]))
	}
	return fmt.Sprintf("%s shipped %x", arg[:strings.Index(arg, "/")], h.Sum(nil))
}

// unzipAll reads every entry of a request zip: name to contents, "" for
// directories.
func unzipAll(data []byte) (map[string][]byte, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(zr.File))
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(io.LimitReader(rc, maxInput+1))
		rc.Close()
		if err != nil {
			return nil, err
		}
		out[strings.TrimSuffix(f.Name, "/")] = b
	}
	return out, nil
}
