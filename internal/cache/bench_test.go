// SPDX-License-Identifier: GPL-2.0-or-later

package cache

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkHit is the cache's share of a hit: the key (a request and a
// staprun of real sizes) and copying out a verified entry of the size a
// Hello World module makes (about 160 KiB).
func BenchmarkHit(b *testing.B) {
	staprun := filepath.Join(b.TempDir(), "staprun")
	require.NoError(b, os.WriteFile(staprun, []byte(strings.Repeat("s", 247600)), 0o755))
	req := request(b, nil)
	c, err := Open(filepath.Join(b.TempDir(), DirName), os.Geteuid())
	require.NoError(b, err)
	list := result(b, map[string]string{"version": "1.6", "rc": "0\n", "stdout": "", "stderr": "",
		"stapAbCdEf/stap_1.ko": strings.Repeat("m", 150<<10), "stapAbCdEf/stap_1.ko.sgn": strings.Repeat("s", 600)})
	k, err := KeyOf(req, staprun)
	require.NoError(b, err)
	require.NoError(b, c.Put(context.Background(), k, built(), list))
	for b.Loop() {
		k, err := KeyOf(req, staprun)
		if err != nil {
			b.Fatal(err)
		}
		dst := filepath.Join(b.TempDir(), "d")
		if err := os.Mkdir(dst, 0o700); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Get(context.Background(), k, dst); err != nil {
			b.Fatal(err)
		}
	}
}
