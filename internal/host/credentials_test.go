// SPDX-License-Identifier: GPL-2.0-or-later

package host

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCredentialsOf(t *testing.T) {
	groups := map[string]int{"stapdev": 501, "stapsys": 502, "stapusr": 503}
	lookup := func(n string) (int, bool) { g, ok := groups[n]; return g, ok }
	none := func(string) (int, bool) { return 0, false }
	all := Credentials{true, true, true}
	tests := []struct {
		name   string
		uid    int
		egid   int
		groups []int
		lookup func(string) (int, bool)
		want   Credentials
	}{
		{"root", 0, 0, nil, none, all},
		{"nobody", 1000, 1000, []int{1000}, lookup, Credentials{}},
		{"stapusr", 1000, 1000, []int{1000, 503}, lookup, Credentials{Stapusr: true}},
		{"stapsys", 1000, 1000, []int{502}, lookup, Credentials{Stapsys: true, Stapusr: true}},
		{"stapdev", 1000, 1000, []int{503, 501}, lookup, all},
		{"effective gid counts", 1000, 502, nil, lookup, Credentials{Stapsys: true, Stapusr: true}},
		{"no such groups", 1000, 1000, []int{501, 502, 503}, none, Credentials{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, CredentialsOf(tc.uid, tc.egid, tc.groups, tc.lookup))
		})
	}
}
