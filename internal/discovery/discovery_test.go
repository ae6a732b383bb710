// SPDX-License-Identifier: GPL-2.0-or-later

package discovery

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUnescapeAndTXT(t *testing.T) {
	assert.Equal(t, "Systemtap Compile Server on vm #2", Unescape(`Systemtap\032Compile\032Server\032on\032vm\032\0352`))
	assert.Equal(t, "a.b c", Unescape(`a\.b\ c`))
	assert.Equal(t, "plain", Unescape("plain"))
	s := ParseTXT([]string{"certinfo=00:cc:19:71:47", "optinfo=", `sysinfo=6.1.0-56-amd64\032x86_64`, "mok_info=aa:bb", "mok_info=cc:dd", "junk"})
	assert.Equal(t, "6.1.0-56-amd64 x86_64", s.Sysinfo)
	assert.Equal(t, "00:cc:19:71:47", s.Certinfo)
	assert.Equal(t, "1.0", s.Version, "stap's default when there is no version")
	assert.Equal(t, []string{"aa:bb", "cc:dd"}, s.MOKs)
	assert.Equal(t, "4.8", ParseTXT([]string{"version=4.8"}).Version)
}

// fakeBrowser sends its services at the given delays, then waits for ctx.
type fakeBrowser struct {
	at   []time.Duration
	svcs []Service
	err  error
}

func (f fakeBrowser) Browse(ctx context.Context, found chan<- Service) error {
	if f.err != nil {
		return f.err
	}
	start := time.Now()
	for i, s := range f.svcs {
		select {
		case <-time.After(f.at[i] - time.Since(start)):
		case <-ctx.Done():
			return nil
		}
		select {
		case found <- s:
		case <-ctx.Done():
			return nil
		}
	}
	<-ctx.Done()
	return nil
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestCollectMergesAndSettles(t *testing.T) {
	v6 := Service{Instance: "S on a", Host: "a.local", Port: 5555, Addrs: []netip.Addr{addr("fe80::1%eth0")}}
	v4 := Service{Instance: "S on a", Host: "a.local", Port: 5555, Addrs: []netip.Addr{addr("10.0.0.1")}}
	late := Service{Instance: "S on b", Host: "b.local", Port: 5555, Addrs: []netip.Addr{addr("10.0.0.2")}}
	b := fakeBrowser{at: []time.Duration{0, 10 * time.Millisecond, 5 * time.Second}, svcs: []Service{v6, v4, late}}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	got, err := Collect(ctx, b, func(s []Service) bool { return len(s[0].Addrs) > 0 }, 50*time.Millisecond)
	require.NoError(t, err)
	assert.Less(t, time.Since(start), 2*time.Second, "answers are in: no fixed wait")
	require.Len(t, got, 1)
	assert.Equal(t, []netip.Addr{addr("fe80::1%eth0"), addr("10.0.0.1")}, got[0].Addrs)
	assert.Len(t, Candidates(got), 2)
}

func TestCollectDeadlineAndErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	got, err := Collect(ctx, fakeBrowser{}, func([]Service) bool { return true }, time.Second)
	require.NoError(t, err)
	assert.Empty(t, got)

	_, err = Collect(context.Background(), fakeBrowser{err: ErrNoMulticast}, nil, 0)
	assert.ErrorIs(t, err, ErrNoMulticast)
}

func TestSelect(t *testing.T) {
	// IntN always 0: among equals, the first one found stays first.
	p := Policy{Release: "6.1.0-56-amd64", Arch: "x86_64", Trusted: map[string]bool{"00:aa": true, "00:cc": true},
		IntN: func(int) int { return 0 }}
	good := Candidate{Host: "srva.local", Addr: addr("10.0.0.1"), Port: 5555, Sysinfo: "6.1.0-56-amd64 x86_64", Version: "4.8", Certinfo: "00:aa"}
	newer := good
	newer.Addr, newer.Version, newer.Host = addr("10.0.0.4"), "5.1", "srvd.local"
	archOnly := good
	archOnly.Addr, archOnly.Sysinfo, archOnly.Host = addr("10.0.0.5"), "x86_64", "srve.local"
	untrusted := good
	untrusted.Addr, untrusted.Certinfo, untrusted.Host = addr("10.0.0.2"), "00:bb", "srvb.local"
	otherRel := good
	otherRel.Addr, otherRel.Sysinfo, otherRel.Certinfo, otherRel.Host = addr("10.0.0.3"), "6.18.44-fc x86_64", "00:cc", "srvc.local"
	online := []Candidate{good, untrusted, otherRel, newer, archOnly}

	use, verdicts := Select(online, nil, p, nil)
	assert.Equal(t, []Candidate{newer, good, archOnly}, use, "highest version first, then (with this IntN) as found")
	require.Len(t, verdicts, 5)
	assert.Contains(t, verdicts[1].Reasons[0], "untrusted: no trusted certificate has serial 00:bb")
	assert.Contains(t, verdicts[2].Reasons[0], `incompatible: it builds for "6.18.44-fc x86_64"`)

	p.NeedSigner = true
	use, verdicts = Select(online, nil, p, nil)
	assert.Empty(t, use)
	assert.Contains(t, verdicts[0].Reasons[0], "not a trusted module signer")
	assert.Equal(t, "online,trusted,compatible,signer", p.DefaultCriteria())
	p.NeedSigner = false

	spec := func(raw string) Spec {
		s, err := ParseSpec(raw)
		require.NoError(t, err)
		return s
	}
	// A named server without a port: matched by name, then compatibility;
	// trust is left to the handshake.
	use, _ = Select(online, []Spec{spec("srvb")}, p, nil)
	assert.Equal(t, []Candidate{untrusted}, use)
	use, _ = Select(online, []Spec{spec("srvc.local")}, p, nil)
	assert.Empty(t, use, "incompatible")
	use, _ = Select(online, []Spec{spec("10.0.0.1"), spec("srvd")}, p, nil)
	assert.Equal(t, []Candidate{good, newer}, use, "the user's order between specs")
	use, _ = Select(online, []Spec{spec("00:bb:11:22:33")}, p, nil)
	assert.Empty(t, use)
	resolve := func(h string) []netip.Addr {
		if h == "build.example" {
			return []netip.Addr{addr("10.0.0.1")}
		}
		return nil
	}
	use, _ = Select(online, []Spec{spec("build.example")}, p, resolve)
	assert.Equal(t, []Candidate{good}, use, "through the name's addresses")

	ll := good
	ll.Addr = addr("fe80::1%eth0")
	assert.True(t, spec("fe80::1").Matches(ll, nil), "a zone counts only when both have one")
	assert.False(t, spec("fe80::1%eth1").Matches(ll, nil))
}

// With signing required, a server must offer one of the host's MOKs; a host
// with none enrolled ("missing") takes any server, which sends its key.
func TestSelectMOK(t *testing.T) {
	base := Candidate{Host: "srva.local", Addr: addr("10.0.0.1"), Port: 5555, Sysinfo: "6.1.0-56-amd64 x86_64", Version: "4.8", Certinfo: "00:aa"}
	withA, withB, none := base, base, base
	withA.MOKs = []string{"aa:01", "aa:02"}
	withB.Addr, withB.Certinfo, withB.MOKs = addr("10.0.0.2"), "00:bb", []string{"bb:01"}
	none.Addr, none.Certinfo = addr("10.0.0.3"), "00:cc"
	online := []Candidate{withA, withB, none}
	trusted := map[string]bool{"00:aa": true, "00:bb": true, "00:cc": true}

	for _, tc := range []struct {
		name string
		moks []string
		use  []Candidate
	}{
		{"no signing needed", nil, online},
		{"none enrolled yet", []string{"missing"}, online},
		{"one in common", []string{"zz:99", "aa:02"}, []Candidate{withA}},
		{"none in common", []string{"zz:99"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Policy{Release: "6.1.0-56-amd64", Arch: "x86_64", Trusted: trusted, MOKs: tc.moks}
			use, verdicts := Select(online, nil, p, nil)
			assert.Equal(t, tc.use, use)
			for _, v := range verdicts {
				assert.Equal(t, p.Compatible(v.Candidate), len(v.Reasons) == 0)
			}
		})
	}
	p := Policy{Release: "6.1.0-56-amd64", Arch: "x86_64", Trusted: trusted, MOKs: []string{"zz:99"}}
	assert.Equal(t, []string{"no MOK in common: the server signs with bb:01, this host has enrolled zz:99"}, p.Reasons(withB))
	assert.Equal(t, []string{"no MOK in common: the server signs with none, this host has enrolled zz:99"}, p.Reasons(none))
	// A named server is held to the same rule.
	s, err := ParseSpec("10.0.0.2")
	require.NoError(t, err)
	use, verdicts := Select(online, []Spec{s}, p, nil)
	assert.Empty(t, use)
	assert.Contains(t, verdicts[0].Reasons[0], "no MOK in common")
}
