// SPDX-License-Identifier: GPL-2.0-or-later

package labenv

import "regexp"

// normalizers blank out what differs between two correct runs: temp
// directory names and timings.
var normalizers = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`/tmp/stap[A-Za-z0-9]{6}`), "/tmp/stapXXXXXX"},
	{regexp.MustCompile(`in [0-9]+usr/[0-9]+sys/[0-9]+real ms\.`), "in Nusr/Nsys/Nreal ms."},
	{regexp.MustCompile(`using [0-9]+virt/[0-9]+res/[0-9]+shr/[0-9]+data kb, `), "using MEM kb, "},
	// A Debian patch to stap prints this after failures; upstream does not.
	{regexp.MustCompile(`(?m)^Tip: /usr/share/doc/systemtap/README\.Debian should help you get started\.\n`), ""},
}

// Normalize applies the normalizations the differential tiers share.
func Normalize(s string) string {
	for _, n := range normalizers {
		s = n.re.ReplaceAllString(s, n.with)
	}
	return s
}
