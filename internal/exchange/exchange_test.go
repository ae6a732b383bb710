// SPDX-License-Identifier: GPL-2.0-or-later

package exchange

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/stap-client/stap-client/internal/discovery"
)

func TestServerLabel(t *testing.T) {
	tests := []struct {
		c    discovery.Candidate
		want string
	}{
		{discovery.Candidate{Host: "build1", Addr: netip.MustParseAddr("10.0.0.7"), Port: 5555}, "build1:5555"},
		{discovery.Candidate{Addr: netip.MustParseAddr("10.0.0.7"), Port: 5555}, "10.0.0.7:5555"},
		{discovery.Candidate{Addr: netip.MustParseAddr("fe80::1"), Port: 5555}, "[fe80::1]:5555"},
		{discovery.Candidate{}, "a server"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Label(tt.c))
	}
}
