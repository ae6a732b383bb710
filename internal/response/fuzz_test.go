// SPDX-License-Identifier: GPL-2.0-or-later

package response

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzUnpack: any bytes as a response never panic and never write outside
// the destination.
func FuzzUnpack(f *testing.F) {
	f.Add([]byte("PK\x03\x04"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		root := t.TempDir()
		zp := filepath.Join(root, "server.zip")
		if err := os.WriteFile(zp, data, 0o600); err != nil {
			t.Fatal(err)
		}
		dest := filepath.Join(root, "server")
		if err := os.Mkdir(dest, 0o700); err != nil {
			t.Fatal(err)
		}
		_ = Unpack(context.Background(), zp, dest, Limits{MaxEntries: 100, MaxBytes: 1 << 20})
		ents, err := os.ReadDir(root)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if e.Name() != "server.zip" && e.Name() != "server" {
				t.Fatalf("written outside the destination: %s", e.Name())
			}
		}
		_, _ = Process(dest, Options{LastPass: 4, HaveScript: true})
	})
}
