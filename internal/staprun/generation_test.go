// SPDX-License-Identifier: GPL-2.0-or-later

package staprun

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSameGeneration(t *testing.T) {
	tests := []struct {
		local, server string
		same          bool
	}{
		{"4.8", "4.8", true}, {"4.8", "5.1", false}, {"5.6", "4.8", false}, {"5.1", "5.6", true},
		{"4.8", "", true}, {"", "5.1", true}, {"4.10", "4.9", true}, {"10.0", "5.0", true},
		{"4.8", "1.0", true}, {"5.0", "4.9", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.same, SameGeneration(tt.local, tt.server), "%q %q", tt.local, tt.server)
		assert.Equal(t, !tt.same, Mismatch(tt.local, tt.server) != "", "%q %q", tt.local, tt.server)
	}
	assert.Equal(t, "the module was built by a systemtap 5.1 server, which the local staprun 4.8 cannot run (systemtap 5.0 changed the module/staprun transport); use a compile server of systemtap older than 5.0, or a local systemtap-runtime 5.0 or later (-p4 keeps the module)", Mismatch("4.8", "5.1"))
}

func TestVersionLess(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		less bool
	}{{"1.0", "1.6", true}, {"1.6", "1.6", false}, {"1.10", "1.6", false}, {"4.8", "1.6", false}, {"1", "1.0", true}, {"", "1.6", true}} {
		assert.Equal(t, tc.less, VersionLess(tc.a, tc.b), "%s < %s", tc.a, tc.b)
	}
}
