// SPDX-License-Identifier: GPL-2.0-or-later

package discovery

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		raw  string
		want Spec
		err  string
	}{
		{raw: "10.77.0.1:5555", want: Spec{Addr: netip.MustParseAddr("10.77.0.1"), Port: 5555}},
		{raw: "10.77.0.1", want: Spec{Addr: netip.MustParseAddr("10.77.0.1")}},
		{raw: "[fe80::1%eth0]:5555", want: Spec{Addr: netip.MustParseAddr("fe80::1%eth0"), Port: 5555}},
		{raw: "[::1]", want: Spec{Addr: netip.MustParseAddr("::1")}},
		{raw: "fe80::1%vB", want: Spec{Addr: netip.MustParseAddr("fe80::1%vB")}},
		{raw: "vm.local:5555", want: Spec{Host: "vm.local", Port: 5555}},
		{raw: "vm", want: Spec{Host: "vm"}},
		{raw: "00:cc:19:71:47", want: Spec{Serial: "00:cc:19:71:47"}},
		{raw: "00:cc:19:71:47:5555", want: Spec{Serial: "00:cc:19:71:47", Port: 5555}},
		{raw: "10.77.0.1:99999", err: "Invalid port number specified: 99999"},
		{raw: "vm:http", err: "Invalid port number specified: http"},
		{raw: "[::1]:", err: "Invalid port number specified: "},
		{raw: "bad host!", err: "Invalid server specification: bad host!"},
		{raw: "[::1", err: "Invalid server specification: [::1"},
		{raw: "", err: "Invalid server specification: "},
	}
	for _, tc := range tests {
		t.Run(tc.raw, func(t *testing.T) {
			got, err := ParseSpec(tc.raw)
			if tc.err != "" {
				var se *SpecError
				require.ErrorAs(t, err, &se)
				assert.Equal(t, tc.err, se.Msg)
				return
			}
			require.NoError(t, err)
			tc.want.Raw = tc.raw
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestDirect(t *testing.T) {
	lookup := func(_ context.Context, h string) ([]netip.Addr, error) {
		if h == "vm.local" {
			return []netip.Addr{netip.MustParseAddr("::ffff:10.0.0.9"), netip.MustParseAddr("fe80::2")}, nil
		}
		return nil, errors.New("no such host")
	}
	specs := []Spec{}
	for _, raw := range []string{"10.0.0.1:1", "vm.local:2"} {
		s, err := ParseSpec(raw)
		require.NoError(t, err)
		specs = append(specs, s)
	}
	got, err := Direct(context.Background(), specs, lookup)
	require.NoError(t, err)
	require.Len(t, got, 3)
	assert.Equal(t, "10.0.0.1:1", got[0].AddrPort())
	assert.Equal(t, "10.0.0.9:2", got[1].AddrPort())
	assert.Equal(t, "[fe80::2]:2", got[2].AddrPort())
	assert.Equal(t, ` host=unknown address=10.0.0.1 port=1 sysinfo="unknown" version=unknown certinfo="unknown"`, got[0].String())
	assert.Equal(t, ` host=vm.local address=10.0.0.9 port=2 sysinfo="unknown" version=unknown certinfo="unknown"`, got[1].String())

	s, _ := ParseSpec("10.0.0.1")
	_, err = Direct(context.Background(), []Spec{s}, lookup)
	var nd *NeedsDiscoveryError
	assert.ErrorAs(t, err, &nd)
	s, _ = ParseSpec("nowhere:1")
	_, err = Direct(context.Background(), []Spec{s}, lookup)
	assert.ErrorContains(t, err, "resolving server nowhere")
}
