// SPDX-License-Identifier: GPL-2.0-or-later

package discovery

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseResolvConf(t *testing.T) {
	tests := []struct {
		name, text string
		want       ResolvConf
	}{
		{"search, options, two servers", "nameserver 10.0.0.53\nnameserver fd00::53\nsearch Corp.Example. lab.example local\noptions timeout:1 attempts:3 ndots:2\n",
			ResolvConf{Servers: []string{"10.0.0.53:53", "[fd00::53]:53"}, Search: []string{"corp.example", "lab.example"}, Timeout: time.Second, Attempts: 3}},
		{"the last of domain and search wins", "search a.example b.example\ndomain c.example\n",
			ResolvConf{Servers: []string{"127.0.0.1:53"}, Search: []string{"c.example"}, Timeout: 5 * time.Second, Attempts: 2}},
		{"a name as nameserver is ignored", "nameserver dns.example\n",
			ResolvConf{Servers: []string{"127.0.0.1:53"}, Search: nil, Timeout: 5 * time.Second, Attempts: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseResolvConf(strings.NewReader(tc.text))
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// zone answers queries from a table of records, as an authoritative
// server without additional data (nsd) does; names compare
// case-insensitively. Unknown names are NXDOMAIN, names under refused
// REFUSED.
type zone struct {
	rrs     []dns.RR
	refused string
	mu      sync.Mutex
	asked   []string
}

func newZone(t *testing.T, records ...string) *zone {
	z := &zone{}
	for _, r := range records {
		rr, err := dns.NewRR(r)
		require.NoError(t, err, r)
		z.rrs = append(z.rrs, rr)
	}
	return z
}

func (z *zone) exchange(ctx context.Context, m *dns.Msg, server string) (*dns.Msg, error) {
	q := m.Question[0]
	z.mu.Lock()
	z.asked = append(z.asked, dns.TypeToString[q.Qtype]+" "+q.Name)
	z.mu.Unlock()
	r := new(dns.Msg)
	r.SetReply(m)
	if z.refused != "" && dns.IsSubDomain(z.refused, q.Name) {
		r.Rcode = dns.RcodeRefused
		return r, nil
	}
	exists := false
	for _, rr := range z.rrs {
		if strings.EqualFold(rr.Header().Name, q.Name) {
			exists = true
			if rr.Header().Rrtype == q.Qtype {
				r.Answer = append(r.Answer, rr)
			}
		}
	}
	if !exists {
		r.Rcode = dns.RcodeNameError
	}
	return r, nil
}

func writeResolvConf(t *testing.T, text string) string {
	p := filepath.Join(t.TempDir(), "resolv.conf")
	require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
	return p
}

func collectAll(t *testing.T, b Browser) ([]Service, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return Collect(ctx, b, nil, 0)
}

func TestUnicastBrowse(t *testing.T) {
	// nsd lowercases instance names; an instance label may hold dots and
	// spaces (RFC 6763 §4.3), kept escaped in presentation form.
	z := newZone(t,
		`_stap._tcp.lab.example. 60 IN PTR systemtap\032compile\032server\032on\032srva.lab.example.`,
		`_stap._tcp.lab.example. 60 IN PTR odd\.name\032#2._stap._tcp.lab.example.`,
		`_stap._tcp.lab.example. 60 IN PTR gone._stap._tcp.lab.example.`,
		`systemtap\032compile\032server\032on\032srva.lab.example. 60 IN SRV 10 5 5555 srva.lab.example.`,
		`systemtap\032compile\032server\032on\032srva.lab.example. 60 IN TXT "optinfo=" "version=4.8" "certinfo=00:aa" "sysinfo=6.1.0-56-amd64 x86_64"`,
		`odd\.name\032#2._stap._tcp.lab.example. 60 IN SRV 20 0 5556 srvb.lab.example.`,
		`odd\.name\032#2._stap._tcp.lab.example. 60 IN TXT "sysinfo=x86_64" "certinfo=00:bb" "mok_info=11:22"`,
		`srva.lab.example. 60 IN A 10.1.0.1`,
		`srva.lab.example. 60 IN AAAA fd00::1`,
		`srvb.lab.example. 60 IN A 10.1.0.2`,
		// Browse-domain enumeration finds a second domain.
		`b._dns-sd._udp.corp.example. 60 IN PTR Other.Example.`,
		`_stap._tcp.other.example. 60 IN PTR s._stap._tcp.other.example.`,
		`s._stap._tcp.other.example. 60 IN SRV 0 0 5555 srvc.other.example.`,
		`srvc.other.example. 60 IN A 10.2.0.3`,
	)
	z.refused = "in-addr.arpa."
	rc := writeResolvConf(t, "nameserver 192.0.2.53\nsearch corp.example\n")
	var logged []string
	var mu sync.Mutex
	u := Unicast{ResolvConf: rc, Domains: []string{"Lab.Example.", "local"}, Exchange: z.exchange,
		Log: func(f string, a ...any) { mu.Lock(); logged = append(logged, f); mu.Unlock() }}
	got, err := collectAll(t, u)
	require.NoError(t, err)
	require.Len(t, got, 3, "%+v", got)
	byHost := map[string]Service{}
	for _, s := range got {
		byHost[s.Host] = s
	}
	a := byHost["srva.lab.example"]
	assert.Equal(t, "systemtap compile server on srva", a.Instance)
	assert.Equal(t, "lab.example", a.Domain)
	assert.Equal(t, []netip.Addr{addr("10.1.0.1"), addr("fd00::1")}, a.Addrs)
	assert.Equal(t, uint16(5555), a.Port)
	assert.Equal(t, [2]uint16{10, 5}, [2]uint16{a.Priority, a.Weight})
	assert.Equal(t, "6.1.0-56-amd64 x86_64", a.Sysinfo)
	assert.Equal(t, "4.8", a.Version)
	b := byHost["srvb.lab.example"]
	assert.Equal(t, "odd.name #2", b.Instance)
	assert.Equal(t, "1.0", b.Version)
	assert.Equal(t, []string{"11:22"}, b.MOKs)
	assert.Equal(t, "other.example", byHost["srvc.other.example"].Domain)
	assert.NotContains(t, z.asked, "PTR _stap._tcp.local.", "local is mDNS's")
	assert.Contains(t, z.asked, "PTR lb._dns-sd._udp.corp.example.")
	assert.Contains(t, z.asked, "SRV gone._stap._tcp.lab.example.")
}

func TestUnicastNoDomainAndBadServers(t *testing.T) {
	_, err := collectAll(t, Unicast{ResolvConf: writeResolvConf(t, "nameserver 192.0.2.53\n"), Exchange: newZone(t).exchange})
	assert.ErrorIs(t, err, ErrNoBrowseDomain)

	// The first server refuses, the second answers.
	z := newZone(t,
		`_stap._tcp.lab.example. 60 IN PTR s._stap._tcp.lab.example.`,
		`s._stap._tcp.lab.example. 60 IN SRV 0 0 5555 h.lab.example.`,
		`h.lab.example. 60 IN A 10.1.0.1`)
	refusing := func(ctx context.Context, m *dns.Msg, server string) (*dns.Msg, error) {
		if server == "192.0.2.1:53" {
			r := new(dns.Msg)
			r.SetRcode(m, dns.RcodeRefused)
			return r, nil
		}
		return z.exchange(ctx, m, server)
	}
	got, err := collectAll(t, Unicast{ResolvConf: writeResolvConf(t, "nameserver 192.0.2.1\nnameserver 192.0.2.2\nsearch lab.example\n"), Exchange: refusing})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "h.lab.example", got[0].Host)
}

// A resolver that never answers costs the discovery deadline, no more,
// whatever resolv.conf's timeout and attempts say.
func TestUnicastSilentResolverEndsWithTheDeadline(t *testing.T) {
	silent := func(ctx context.Context, m *dns.Msg, server string) (*dns.Msg, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	u := Unicast{ResolvConf: writeResolvConf(t, "nameserver 192.0.2.1\nsearch lab.example\noptions timeout:30 attempts:5\n"), Exchange: silent}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	got, err := Collect(ctx, u, nil, 0)
	assert.NoError(t, err)
	assert.Empty(t, got)
	assert.Less(t, time.Since(start), 2*time.Second)
}

// Exchange against a real (Go) DNS server on loopback: UDP, then TCP for
// a truncated answer.
func TestExchangeUDPThenTCP(t *testing.T) {
	var mu sync.Mutex
	nets := []string{}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, m *dns.Msg) {
		r := new(dns.Msg)
		r.SetReply(m)
		mu.Lock()
		nets = append(nets, w.LocalAddr().Network())
		mu.Unlock()
		if w.LocalAddr().Network() == "udp" {
			r.Truncated = true
		} else {
			rr, _ := dns.NewRR(`x.example. 60 IN TXT "over tcp"`)
			r.Answer = append(r.Answer, rr)
		}
		w.WriteMsg(r)
	})
	udp := &dns.Server{Addr: "127.0.0.1:0", Net: "udp", Handler: h}
	started := make(chan struct{})
	udp.NotifyStartedFunc = func() { close(started) }
	go udp.ListenAndServe()
	<-started
	defer udp.Shutdown()
	addrPort := udp.PacketConn.LocalAddr().String()
	tcp := &dns.Server{Addr: addrPort, Net: "tcp", Handler: h}
	started2 := make(chan struct{})
	tcp.NotifyStartedFunc = func() { close(started2) }
	go tcp.ListenAndServe()
	<-started2
	defer tcp.Shutdown()

	m := new(dns.Msg)
	m.SetQuestion("x.example.", dns.TypeTXT)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := Exchange(ctx, m, addrPort)
	require.NoError(t, err)
	require.Len(t, r.Answer, 1)
	assert.Equal(t, []string{"over tcp"}, r.Answer[0].(*dns.TXT).Txt)
	assert.Equal(t, []string{"udp", "tcp"}, nets)
}

func TestMulti(t *testing.T) {
	s := Service{Instance: "S", Host: "h.lab.example", Domain: "lab.example", Port: 1, Addrs: []netip.Addr{addr("10.0.0.1")}}
	noMcast := fakeBrowser{err: ErrNoMulticast}
	// mDNS cannot start, DNS finds a server: no failure.
	got, err := collectAll(t, Multi{noMcast, onceBrowser{s}})
	require.NoError(t, err)
	assert.Equal(t, []Service{s}, got)
	// Both fail: mDNS's error, the one users know.
	_, err = collectAll(t, Multi{noMcast, fakeBrowser{err: ErrNoBrowseDomain}})
	assert.ErrorIs(t, err, ErrNoMulticast)
	_, err = collectAll(t, Multi{noMcast, fakeBrowser{err: errors.New("x")}})
	assert.ErrorIs(t, err, ErrNoMulticast)
}

// onceBrowser sends its services, then returns (as Unicast does).
type onceBrowser []Service

func (o onceBrowser) Browse(ctx context.Context, found chan<- Service) error {
	for _, s := range o {
		select {
		case found <- s:
		case <-ctx.Done():
		}
	}
	return nil
}

func TestOrderByPriority(t *testing.T) {
	c := func(host string, version string, prio uint16) Candidate {
		return Candidate{Host: host, Version: version, Priority: prio, Domain: "lab.example", Addr: addr("10.0.0.1"), Port: 1}
	}
	cs := []Candidate{c("p20", "4.8", 20), c("p10", "4.8", 10), c("newer", "5.1", 30), c("mdns", "4.8", 0)}
	cs[3].Domain = ""
	Order(cs)
	var hosts []string
	for _, x := range cs {
		hosts = append(hosts, x.Host)
	}
	assert.Equal(t, []string{"newer", "mdns", "p10", "p20"}, hosts, "version first, then SRV priority")
}

// The first choice among equal-priority servers follows their SRV weights
// (RFC 2782): a chi-squared test over many draws (seeded, so repeatable).
// The addresses of one server stay together and in order.
func TestSpreadIsWeighted(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	mk := func(host string, w uint16, addrs ...string) []Candidate {
		var out []Candidate
		for _, a := range addrs {
			out = append(out, Candidate{Host: host, Domain: "lab.example", Port: 5555, Priority: 10, Weight: w, Addr: addr(a), Version: "4.8"})
		}
		return out
	}
	base := append(append(append(mk("a", 60, "10.0.0.1", "fd00::1"), mk("b", 30, "10.0.0.2")...), mk("c", 10, "10.0.0.3")...),
		mk("z", 0, "10.0.0.9")...)
	weights := map[string]float64{"a": 60, "b": 30, "c": 10}
	const n = 20000
	first := map[string]float64{}
	for range n {
		cs := append([]Candidate(nil), base...)
		Spread(cs, r.IntN)
		first[cs[0].Host]++
		require.Len(t, cs, 5)
		assert.Equal(t, "z", cs[4].Host, "weight 0 last when others have weight")
		for i, x := range cs {
			if x.Host == "a" {
				assert.Equal(t, addr("10.0.0.1"), x.Addr)
				assert.Equal(t, addr("fd00::1"), cs[i+1].Addr)
				break
			}
		}
	}
	chi2 := 0.0
	for h, w := range weights {
		exp := n * w / 100
		chi2 += math.Pow(first[h]-exp, 2) / exp
	}
	// 2 degrees of freedom: 13.8 is p = 0.001.
	assert.Less(t, chi2, 13.8, "first picks %v", first)

	// All weights 0 (mDNS servers): uniform.
	zeros := append(append(mk("a", 0, "10.0.0.1"), mk("b", 0, "10.0.0.2")...), mk("c", 0, "10.0.0.3")...)
	for i := range zeros {
		zeros[i].Domain, zeros[i].Priority = "", 0
	}
	first = map[string]float64{}
	for range n {
		cs := append([]Candidate(nil), zeros...)
		Spread(cs, r.IntN)
		first[cs[0].Host]++
	}
	chi2 = 0
	for _, h := range []string{"a", "b", "c"} {
		chi2 += math.Pow(first[h]-n/3.0, 2) / (n / 3.0)
	}
	assert.Less(t, chi2, 13.8, "first picks %v", first)

	// Another priority is never mixed in.
	mixed := append(mk("lo", 1, "10.0.0.1"), mk("hi", 1000, "10.0.0.2")...)
	mixed[1].Priority = 20
	for range 100 {
		cs := append([]Candidate(nil), mixed...)
		Spread(cs, r.IntN)
		assert.Equal(t, "lo", cs[0].Host)
	}
}

func TestMatchesWideAreaName(t *testing.T) {
	c := Candidate{Host: "srva.lab.example", Domain: "lab.example", Addr: addr("10.0.0.1"), Port: 5555}
	for _, raw := range []string{"srva", "SRVA.lab.example", "srva.lab.example."} {
		s, err := ParseSpec(raw)
		require.NoError(t, err)
		assert.True(t, s.Matches(c, nil), raw)
	}
	s, _ := ParseSpec("srvb")
	assert.False(t, s.Matches(c, nil))
}

// A zone listing thousands of instances costs a bounded number of queries.
func TestUnicastLimits(t *testing.T) {
	recs := []string{}
	for i := range 500 {
		recs = append(recs, fmt.Sprintf(`_stap._tcp.lab.example. 60 IN PTR s%d._stap._tcp.lab.example.`, i),
			fmt.Sprintf(`s%d._stap._tcp.lab.example. 60 IN SRV 0 0 5555 h.lab.example.`, i))
	}
	z := newZone(t, append(recs, `h.lab.example. 60 IN A 10.1.0.1`)...)
	got, err := collectAll(t, Unicast{ResolvConf: writeResolvConf(t, "search lab.example\n"), Exchange: z.exchange})
	require.NoError(t, err)
	assert.Len(t, got, maxInstances)
	assert.LessOrEqual(t, len(z.asked), 3+4*maxInstances)
}
