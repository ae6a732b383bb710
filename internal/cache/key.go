// SPDX-License-Identifier: GPL-2.0-or-later

package cache

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"sort"
	"syscall"
)

// Key names one cache entry: a SHA-256 over everything that can change
// what the server returns or whether the local staprun can run it.
type Key [sha256.Size]byte

func (k Key) String() string { return hex.EncodeToString(k[:]) }

// keyFormat changes whenever the key's inputs change, so entries of an older
// stap-client are never read as new ones. The entry layout has its own
// version, the manifest's header: an older layout is found under the same
// key, known as such and removed.
const keyFormat = "stap-client result cache, key format 1"

// KeyOf computes the key of a request:
//
//   - the request's logical content: every entry of the request zip, name and
//     uncompressed bytes, in name order. That is the protocol version, every
//     argv entry (options, script path, script arguments), the script and
//     -I tapset files, sysinfo (kernel release and arch), locale, and
//     mok_fingerprints when sent; an entry added to the request later is
//     covered without a change here. Zip framing (compression, headers) is
//     left out: only what the server reads counts;
//   - the identity of the staprun that will run the module: its path and
//     the SHA-256 of its bytes (its size, time and inode when it cannot be
//     read, "absent" when it does not exist).
//
// The server's address and certificate are not part of it: any trusted
// server compiles the same request to an equivalent module.
func KeyOf(requestZip []byte, staprunPath string) (Key, error) {
	zr, err := zip.NewReader(bytes.NewReader(requestZip), int64(len(requestZip)))
	if err != nil {
		return Key{}, fmt.Errorf("reading the request: %w", err)
	}
	files := append([]*zip.File(nil), zr.File...)
	sort.SliceStable(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	h := sha256.New()
	field(h, []byte(keyFormat))
	for _, f := range files {
		field(h, []byte("entry"))
		field(h, []byte(f.Name))
		rc, err := f.Open()
		if err != nil {
			return Key{}, fmt.Errorf("reading request entry %s: %w", f.Name, err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return Key{}, fmt.Errorf("reading request entry %s: %w", f.Name, err)
		}
		field(h, data)
	}
	field(h, []byte("staprun"))
	field(h, []byte(staprunPath))
	field(h, []byte(fileIdentity(staprunPath)))
	var k Key
	h.Sum(k[:0])
	return k, nil
}

// field writes b length-prefixed, so that no two sequences of fields hash
// alike.
func field(h hash.Hash, b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	h.Write(n[:])
	h.Write(b)
}

// fileIdentity is the SHA-256 of a file's bytes, or what stat says of it
// when it cannot be read (staprun is often mode 4750 root:stapusr).
func fileIdentity(path string) string {
	if path == "" {
		return "empty path"
	}
	f, err := os.Open(path)
	if err == nil {
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err == nil {
			return "sha256:" + hex.EncodeToString(h.Sum(nil))
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "absent"
	}
	id := fmt.Sprintf("stat:%d:%d:%o", fi.Size(), fi.ModTime().UnixNano(), fi.Mode())
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id += fmt.Sprintf(":%d:%d", st.Dev, st.Ino)
	}
	return id
}
