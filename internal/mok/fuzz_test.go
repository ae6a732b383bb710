// SPDX-License-Identifier: GPL-2.0-or-later

package mok

import (
	"os"
	"testing"
	"testing/fstest"
)

// FuzzReadEnrolled feeds arbitrary variable contents through the whole
// reading path: it must never panic, and a malformed variable is an error
// with no keys.
func FuzzReadEnrolled(f *testing.F) {
	for _, name := range []string{"mixed.esl", "truncated.esl", "stap-b.esl"} {
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := ParseSignatureLists(data)
		if err == nil {
			n := 0
			for _, e := range entries {
				n += len(e.Data) + 16
			}
			if n > len(data) {
				t.Fatalf("entries hold %d bytes, more than the %d given", n, len(data))
			}
		}
		got, err := ReadEnrolled(fstest.MapFS{MokVariablesPath: {Data: data}})
		if err != nil && len(got.Keys) > 0 {
			t.Fatalf("an error with %d keys", len(got.Keys))
		}
		for _, k := range got.Keys {
			if len(k.Fingerprint) != 59 {
				t.Fatalf("fingerprint %q", k.Fingerprint)
			}
		}
	})
}
