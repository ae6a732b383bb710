// SPDX-License-Identifier: GPL-2.0-or-later

package discovery

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fleet is n equal servers (same version, priority and weight), each
// trusted, with one IPv4 and one IPv6 address.
func fleet(n int, weight uint16) ([]Candidate, Policy) {
	p := Policy{Release: "6.1.0-56-amd64", Arch: "x86_64", Trusted: map[string]bool{}, Identities: map[string]string{}}
	var cs []Candidate
	for i := range n {
		serial := fmt.Sprintf("00:00:00:%02x:%02x", i/256, i%256)
		p.Trusted[serial] = true
		p.Identities[serial] = CertIdentity([]byte("DER of server " + serial))
		for _, a := range []netip.Addr{netip.AddrFrom4([4]byte{10, 0, byte(i / 256), byte(i % 256)}), netip.AddrFrom16([16]byte{0xfd, 15: byte(i)})} {
			cs = append(cs, Candidate{Host: fmt.Sprintf("srv%d.lab.example", i), Addr: a, Port: 5555, Sysinfo: "6.1.0-56-amd64 x86_64",
				Version: "4.8", Certinfo: serial, Domain: "lab.example", Priority: 10, Weight: weight})
		}
	}
	return cs, p
}

func keyOf(i int) []byte { return fmt.Appendf(nil, "request %d", i) }

// hostsOf is the order of servers (one entry per server, not per address).
func hostsOf(cs []Candidate) []string {
	var out []string
	for _, c := range cs {
		if len(out) == 0 || out[len(out)-1] != c.Host {
			out = append(out, c.Host)
		}
	}
	return out
}

func TestRendezvousStable(t *testing.T) {
	online, p := fleet(8, 0)
	p.Key = keyOf(1)
	use, _ := Select(online, nil, p, nil)
	require.Len(t, use, 16)
	// The same for every arrival order: discovery's order is a race.
	r := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		shuffled := slices.Clone(online)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		again, _ := Select(shuffled, nil, p, nil)
		assert.Equal(t, hostsOf(use), hostsOf(again))
	}
	// A server's addresses share its score and stay together.
	assert.Len(t, hostsOf(use), 8)
	for i := 0; i < len(use); i += 2 {
		assert.Equal(t, use[i].Score, use[i+1].Score)
		assert.Greater(t, use[i].Score, 0.0)
		if i > 0 {
			assert.Greater(t, use[i-1].Score, use[i].Score, "highest first")
		}
	}
	// Another key, another order (8! orders: a collision would be a bug).
	p.Key = keyOf(2)
	other, _ := Select(online, nil, p, nil)
	assert.NotEqual(t, hostsOf(use), hostsOf(other))
}

func TestRendezvousKeepsRankAndNoKeyIsRandom(t *testing.T) {
	online, p := fleet(3, 0)
	online[4].Version, online[5].Version = "5.1", "5.1" // the third server is newer
	p.Key = keyOf(7)
	use, _ := Select(online, nil, p, nil)
	assert.Equal(t, "srv2.lab.example", use[0].Host, "version before score")

	// No key: today's order, no score.
	p.Key = nil
	p.IntN = func(int) int { return 0 }
	use, _ = Select(online, nil, p, nil)
	assert.Equal(t, []string{"srv2.lab.example", "srv0.lab.example", "srv1.lab.example"}, hostsOf(use))
	for _, c := range use {
		assert.Zero(t, c.Score)
	}
}

func TestIdentity(t *testing.T) {
	p := Policy{Identities: map[string]string{"00:aa": "cafe"}}
	v4 := Candidate{Host: "srva.local", Addr: addr("10.0.0.1"), Port: 5555, Certinfo: "00:aa"}
	v6 := v4
	v6.Addr, v6.Port = addr("fe80::1%eth0"), 5556 // restarted on another port, other family
	assert.Equal(t, "cafe", p.Identity(v4))
	assert.Equal(t, p.Identity(v4), p.Identity(v6), "the certificate, not the address")
	unknown := v4
	unknown.Certinfo = "00:bb"
	assert.Equal(t, "certinfo 00:bb", p.Identity(unknown))
	bare := Candidate{Addr: addr("10.0.0.1"), Port: 5555}
	assert.Equal(t, "10.0.0.1:5555", p.Identity(bare))
	bare.Host = "srva"
	assert.Equal(t, "srva:5555", p.Identity(bare))
	assert.Len(t, CertIdentity([]byte("x")), 64)
}

// firstPicks counts, over n keys, how often each server comes first.
func firstPicks(t *testing.T, online []Candidate, p Policy, n int) map[string]float64 {
	first := map[string]float64{}
	for i := range n {
		p.Key = keyOf(i)
		use, _ := Select(online, nil, p, nil)
		require.NotEmpty(t, use)
		first[use[0].Host]++
	}
	return first
}

func chiSquared(got, want map[string]float64) float64 {
	chi2 := 0.0
	for k, exp := range want {
		chi2 += math.Pow(got[k]-exp, 2) / exp
	}
	return chi2
}

// Over many keys, each server comes first about equally often: a
// chi-squared test, as for the SRV weights.
func TestRendezvousSpreadsEvenly(t *testing.T) {
	online, p := fleet(5, 0)
	const n = 20000
	first := firstPicks(t, online, p, n)
	want := map[string]float64{}
	for _, h := range hostsOf(online) {
		want[h] = n / 5.0
	}
	chi2 := chiSquared(first, want)
	// 4 degrees of freedom: 18.5 is p = 0.001.
	assert.Less(t, chi2, 18.5, "first picks %v", first)
}

func TestRendezvousIsWeighted(t *testing.T) {
	online, p := fleet(4, 0)
	weights := []uint16{10, 20, 30, 40}
	for i := range online {
		online[i].Weight = weights[i/2]
	}
	zero := online[0]
	zero.Host, zero.Certinfo, zero.Weight, zero.Addr = "zero", "00:ff", 0, addr("10.9.9.9")
	p.Trusted["00:ff"] = true
	online = append(online, zero)
	const n = 20000
	first := firstPicks(t, online, p, n)
	assert.Zero(t, first["zero"], "weight 0 last when others have weight")
	want := map[string]float64{}
	for i, w := range weights {
		want[fmt.Sprintf("srv%d.lab.example", i)] = n * float64(w) / 100
	}
	chi2 := chiSquared(first, want)
	// 3 degrees of freedom: 16.3 is p = 0.001.
	assert.Less(t, chi2, 16.3, "first picks %v", first)
}

// When a server leaves, only the keys that scored it first move, each to
// its second; every other key keeps its whole order.
func TestRendezvousMinimalMovement(t *testing.T) {
	online, p := fleet(10, 0)
	gone := "srv3.lab.example"
	var left []Candidate
	for _, c := range online {
		if c.Host != gone {
			left = append(left, c)
		}
	}
	moved := 0
	const n = 5000
	for i := range n {
		p.Key = keyOf(i)
		before, _ := Select(online, nil, p, nil)
		after, _ := Select(left, nil, p, nil)
		hb, ha := hostsOf(before), hostsOf(after)
		assert.Equal(t, slices.DeleteFunc(slices.Clone(hb), func(h string) bool { return h == gone }), ha)
		if hb[0] == gone {
			moved++
			assert.Equal(t, hb[1], ha[0], "to its second")
		} else {
			assert.Equal(t, hb[0], ha[0])
		}
	}
	assert.InDelta(t, n/10, moved, n/10*0.2, "about a tenth moved")
}

// Servers named without a port are ordered the same way within the spec.
func TestRendezvousNamedSpec(t *testing.T) {
	online, p := fleet(4, 0)
	p.Key = keyOf(5)
	all, _ := Select(online, nil, p, nil)
	s, err := ParseSpec("00:00:00:00:02")
	require.NoError(t, err)
	named, _ := Select(online, []Spec{s}, p, nil)
	assert.Equal(t, []string{"srv2.lab.example"}, hostsOf(named))
	assert.Equal(t, p.Score(named[0]), named[0].Score)
	assert.Contains(t, hostsOf(all), "srv2.lab.example")
}
