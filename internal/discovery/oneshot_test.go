// SPDX-License-Identifier: GPL-2.0-or-later

package discovery

import (
	"net"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// oneShotReply is what avahi-daemon answers a one-shot query with: the
// PTR, then the instance's TXT and SRV and the host's addresses, all as
// answers.
func oneShotReply(t testing.TB) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.Response = true
	for _, s := range []string{
		`_stap._tcp.local. 10 IN PTR Systemtap\032Compile\032Server\032on\032srva._stap._tcp.local.`,
		`Systemtap\032Compile\032Server\032on\032srva._stap._tcp.local. 10 IN TXT "sysinfo=6.1.0-57-amd64 x86_64" "optinfo=" "version=4.8" "certinfo=00:cc:3d:dc:4a" "mok_info=aa:bb"`,
		`Systemtap\032Compile\032Server\032on\032srva._stap._tcp.local. 10 IN SRV 0 0 5555 srva.local.`,
		`srva.local. 10 IN A 10.232.0.1`,
		`srva.local. 10 IN AAAA fe80::1`,
		// An instance with no SRV record, and records of another service.
		`_stap._tcp.local. 10 IN PTR nosrv._stap._tcp.local.`,
		`_other._tcp.local. 10 IN PTR x._other._tcp.local.`,
	} {
		rr, err := dns.NewRR(s)
		require.NoError(t, err, s)
		m.Answer = append(m.Answer, rr)
	}
	return m
}

func TestServicesOf(t *testing.T) {
	m := oneShotReply(t)
	want := Service{
		Instance: "Systemtap Compile Server on srva", Host: "srva.local", Port: 5555,
		Addrs:   []netip.Addr{netip.MustParseAddr("10.232.0.1"), netip.MustParseAddr("fe80::1%net0")},
		Sysinfo: "6.1.0-57-amd64 x86_64", Certinfo: "00:cc:3d:dc:4a", Version: "4.8", MOKs: []string{"aa:bb"},
	}
	assert.Equal(t, []Service{want}, ServicesOf(m, "net0"))

	// The same records as additional data, after the PTR answer alone.
	split := new(dns.Msg)
	split.Response = true
	split.Answer, split.Extra = m.Answer[:1], m.Answer[1:]
	assert.Equal(t, []Service{want}, ServicesOf(split, "net0"))

	// Without an address for its host, an instance is of no use.
	noAddr := new(dns.Msg)
	noAddr.Answer = m.Answer[:3]
	assert.Empty(t, ServicesOf(noAddr, "net0"))
}

// TestOneShotNeedsMulticast: no interface that can multicast is said once.
func TestOneShotNeedsMulticast(t *testing.T) {
	o := OneShot{Interfaces: func() ([]net.Interface, error) {
		return []net.Interface{{Index: 1, Name: "lo", Flags: net.FlagUp | net.FlagLoopback | net.FlagMulticast}}, nil
	}}
	assert.ErrorIs(t, o.Browse(t.Context(), make(chan Service)), ErrNoMulticast)
}

// FuzzServicesOf: a one-shot reply is whatever anyone on the link sends.
func FuzzServicesOf(f *testing.F) {
	packed, err := oneShotReply(f).Pack()
	require.NoError(f, err)
	f.Add(packed)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var m dns.Msg
		if m.Unpack(data) != nil {
			return
		}
		for _, s := range ServicesOf(&m, "eth0") {
			if s.Port == 0 || len(s.Addrs) == 0 {
				t.Fatalf("a service with no port or no address: %+v", s)
			}
			_ = Candidates([]Service{s})
		}
	})
}
