// SPDX-License-Identifier: GPL-2.0-or-later

package discovery

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestServerLabel(t *testing.T) {
	tests := []struct {
		c    Candidate
		want string
	}{
		{Candidate{Host: "build1", Addr: netip.MustParseAddr("10.0.0.7"), Port: 5555}, "build1:5555"},
		{Candidate{Addr: netip.MustParseAddr("10.0.0.7"), Port: 5555}, "10.0.0.7:5555"},
		{Candidate{Addr: netip.MustParseAddr("fe80::1"), Port: 5555}, "[fe80::1]:5555"},
		{Candidate{}, "a server"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.c.Label())
	}
}
