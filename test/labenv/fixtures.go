// SPDX-License-Identifier: GPL-2.0-or-later

package labenv

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixtures are the scripts the differential tiers write into each case's
// working directory, by relative path.
var fixtures = map[string]string{
	"hello.stp":        "probe begin { printf(\"Hello World!\\n\"); exit() }\n",
	"args.stp":         "probe begin { printf(\"%s %d\\n\", @1, $2); exit() }\n",
	"usetap.stp":       "probe begin { printf(\"%d\\n\", mytapfunc()); exit() }\n",
	"tapdir/mytap.stp": "function mytapfunc() { return 42 }\n",
	"bad.stp":          "probe begin { printf(\"unterminated }\n",
}

// Fixture is the body of the fixture at path.
func Fixture(path string) string { return fixtures[path] }

// IsFixture tells whether name, an entry of a case's directory, is one of
// the fixtures (or the directory holding the tapset one).
func IsFixture(name string) bool {
	_, ok := fixtures[name]
	return ok || name == "tapdir"
}

// WriteFixtures writes every fixture into dir.
func WriteFixtures(t *testing.T, dir string) {
	t.Helper()
	for name, body := range fixtures {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// RemoveProducts deletes what a run left in dir beside the fixtures.
func RemoveProducts(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !IsFixture(e.Name()) {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// SavedModule is the one kernel module a run left in dir (files lists dir),
// checked to be a real one (ELF); it returns its name.
func SavedModule(t *testing.T, dir string, files []string) string {
	t.Helper()
	var kos []string
	for _, f := range files {
		if strings.HasSuffix(f, ".ko") {
			kos = append(kos, f)
		}
	}
	if len(kos) != 1 {
		t.Fatalf("one module saved, not %v", files)
	}
	data, err := os.ReadFile(filepath.Join(dir, kos[0]))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("\x7fELF")) {
		t.Errorf("%s is not a real kernel module (no ELF header)", kos[0])
	}
	return kos[0]
}
