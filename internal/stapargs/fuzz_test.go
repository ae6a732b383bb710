// SPDX-License-Identifier: GPL-2.0-or-later

package stapargs

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse feeds NUL-separated argv (a real argv cannot hold NUL).
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"-vvv\x00-k\x00--use-server=10.77.0.1:5555\x00-r\x006.1.0\x00-p2\x00-I\x00tapdir\x00link.stp\x00arg one\x00two",
		"--co=1", "-kp4\x00x", "--\x00-x", "-\x00-", "--=", "-m\x00a.ko\x00-V", "--s", "-e\x00x\x00-c\x00ls\x00-x\x001",
		"-T\x000x1p-2\x00x", "--vp=99999\x00-l\x00x", "--client-options\x00-I\x00d", "--server=\x00x",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		argv := strings.Split(s, "\x00")
		inv, err := Parse(argv, ParseOptions{Prog: "p"})
		inv2, err2 := Parse(argv, ParseOptions{Prog: "p"})
		if (inv == nil) == (err == nil) {
			t.Fatalf("%q: inv %v, err %v", argv, inv, err)
		}
		if err != nil {
			var ue *UsageError
			if !errors.As(err, &ue) || len(ue.Lines) == 0 {
				t.Fatalf("%q: bad error %#v", argv, err)
			}
			if err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("%q: not deterministic", argv)
			}
			return
		}
		if inv2 == nil || len(inv2.ServerArgs) != len(inv.ServerArgs) {
			t.Fatalf("%q: not deterministic", argv)
		}
		if inv.LastPass < 1 || inv.LastPass > 5 {
			t.Fatalf("%q: last pass %d", argv, inv.LastPass)
		}
		for _, a := range inv.ServerArgs {
			if !strings.HasPrefix(a, "-") || a == "-" {
				t.Fatalf("%q: server arg %q", argv, a)
			}
		}
	})
}

func FuzzExpandWords(f *testing.F) {
	for _, c := range rcCases {
		f.Add(c.line)
	}
	f.Fuzz(func(t *testing.T, line string) {
		_, _ = expandWords(line, lookupIn(map[string]string{"HOME": "/h", "X": "a b"}))
	})
}
