// SPDX-License-Identifier: GPL-2.0-or-later

package discovery

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestSelectPrefersStaprunGeneration: after compatibility and trust, the
// servers whose modules the local staprun can run come first, then the
// version order; without a staprun version only the version counts.
func TestSelectPrefersStaprunGeneration(t *testing.T) {
	mk := func(host, version, sysinfo, serial string) Candidate {
		return Candidate{Host: host, Addr: addr("10.0.0.1"), Port: 5555, Version: version, Sysinfo: sysinfo, Certinfo: serial}
	}
	s56 := mk("s56", "5.6", "6.1.0 x86_64", "56")
	s51 := mk("s51", "5.1", "6.1.0 x86_64", "51")
	s48 := mk("s48", "4.8", "6.1.0 x86_64", "48")
	other := mk("other", "4.9", "7.0 x86_64", "49") // incompatible: never used
	untrusted := mk("untrusted", "4.7", "x86_64", "47")
	online := []Candidate{s56, other, s48, s51, untrusted}
	p := Policy{Release: "6.1.0", Arch: "x86_64", Trusted: map[string]bool{"56": true, "51": true, "48": true, "49": true}}
	hosts := func(cs []Candidate) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Host)
		}
		return out
	}
	use, _ := Select(online, nil, p, nil)
	assert.Equal(t, []string{"s56", "s51", "s48"}, hosts(use), "no staprun version: version order")
	p.Staprun = "4.8"
	use, _ = Select(online, nil, p, nil)
	assert.Equal(t, []string{"s48", "s56", "s51"}, hosts(use))
	assert.True(t, p.Preferred(use))
	assert.False(t, p.Preferred([]Candidate{s56, s51}))
	assert.Contains(t, p.GenerationNote(s51), "other generation: its modules (systemtap 5.1) need a staprun 5.0 or later, the local one is 4.8")
	assert.Empty(t, p.GenerationNote(s48))
	p.Staprun = "5.1"
	use, _ = Select(online, nil, p, nil)
	assert.Equal(t, []string{"s56", "s51", "s48"}, hosts(use))
	// Named specs keep the user's order between specs.
	use, _ = Select(online, []Spec{{Host: "s48"}, {Host: "s56"}}, p, nil)
	assert.Equal(t, []string{"s48", "s56"}, hosts(use))
}
