// SPDX-License-Identifier: GPL-2.0-or-later

package discovery

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/grandcat/zeroconf"
	"github.com/miekg/dns"
)

// What discovery parses comes from anyone on the LAN (mDNS) or in the DNS
// path. These targets run on their seeds as ordinary tests; with
// `go test -fuzz=FuzzX ./internal/discovery/` they search for inputs that
// panic or break an invariant.

// FuzzParseTXT: TXT strings (NUL-separated here) and the keys stap-serverd
// publishes in them, through to what a listing prints and the filters.
func FuzzParseTXT(f *testing.F) {
	for _, seed := range []string{
		"certinfo=00:cc:19:71:47\x00optinfo=\x00sysinfo=6.1.0-56-amd64\\032x86_64\x00version=4.8\x00mok_info=aa:bb\x00mok_info=cc:dd",
		"junk\x00=\x00version=\x00sysinfo",
		`sysinfo=a\\b\.c\999\25\x00certinfo=\`,
		"mok_info=" + strings.Repeat("\\255", 50),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		txt := strings.Split(in, "\x00")
		u := Unescape(in)
		if !strings.Contains(in, `\`) && u != in {
			t.Fatalf("Unescape changed %q with no escape to %q", in, u)
		}
		if len(u) > len(in) {
			t.Fatalf("Unescape grew %q to %q", in, u)
		}
		s := ParseTXT(txt)
		mok := 0
		for _, x := range txt {
			if strings.HasPrefix(Unescape(x), "mok_info=") {
				mok++
			}
		}
		if len(s.MOKs) != mok {
			t.Fatalf("%d mok_info keys, %d MOKs", mok, len(s.MOKs))
		}
		s.Addrs = []netip.Addr{netip.MustParseAddr("10.0.0.1")}
		c := s.Candidate(0)
		_ = c.String()
		p := Policy{Release: "6.1.0-56-amd64", Arch: "x86_64", MOKs: []string{"aa:bb"}, NeedSigner: true, Staprun: "4.8", Key: []byte(in)}
		_ = p.Reasons(c)
		_ = p.GenerationNote(c)
		_ = p.Score(c)
		use, _ := Select([]Candidate{c, c}, nil, p, nil)
		_ = use
	})
}

// FuzzFromEntry: a resolved mDNS answer as the zeroconf library hands it
// over, to the Service and candidates made of it.
func FuzzFromEntry(f *testing.F) {
	f.Add(`Systemtap\032Compile\032Server\032on\032vm`, "vm.local.", 5555, []byte("sysinfo=6.1.0 x86_64\x00certinfo=00:aa"),
		[]byte{10, 0, 0, 1}, []byte(append(net.ParseIP("fe80::1").To16(), net.ParseIP("fd00::2").To16()...)))
	f.Add("", "", -1, []byte{}, []byte{1, 2, 3}, []byte{0xff})
	f.Add(`\`, `a\.b\`, 70000, []byte("\x00\x00"), []byte{}, make([]byte, 17))
	f.Fuzz(func(t *testing.T, instance, host string, port int, txt, v4, v6 []byte) {
		e := zeroconf.NewServiceEntry(instance, ServiceType, "local.")
		e.HostName, e.Port = host, port
		e.Text = strings.Split(string(txt), "\x00")
		e.AddrIPv4 = chunks(v4, 4)
		e.AddrIPv6 = chunks(v6, 16)
		s := fromEntry(e, "eth0")
		if port > 0 && port <= 65535 && int(s.Port) != port || (port <= 0 || port > 65535) && s.Port != 0 {
			t.Fatalf("port %d read as %d", port, s.Port)
		}
		for _, a := range s.Addrs {
			if !a.IsValid() || a.Is6() && a.IsLinkLocalUnicast() && a.Zone() != "eth0" {
				t.Fatalf("address %v", a)
			}
		}
		for _, c := range Candidates([]Service{s}) {
			if _, err := netip.ParseAddrPort(c.AddrPort()); err != nil {
				t.Fatalf("AddrPort %q: %v", c.AddrPort(), err)
			}
			_ = c.String()
		}
		if !utf8.ValidString(instance) {
			return
		}
		spec, err := ParseSpec(s.Host)
		if err == nil && len(s.Addrs) > 0 {
			_ = spec.Matches(s.Candidate(0), nil)
		}
	})
}

// chunks cuts b into IPs of n bytes (the last may be short: a broken one).
func chunks(b []byte, n int) []net.IP {
	var out []net.IP
	for len(b) > 0 {
		k := min(n, len(b))
		out = append(out, net.IP(bytes.Clone(b[:k])))
		b = b[k:]
	}
	return out
}

// FuzzUnicastBrowse: DNS-SD over unicast DNS, with a resolver that
// answers every question with the records of one (fuzzed) message that
// bear the name asked about, whatever their type.
func FuzzUnicastBrowse(f *testing.F) {
	seed := func(records ...dns.RR) []byte {
		m := new(dns.Msg)
		m.Answer = records
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			f.Fatal(err)
		}
		return r
	}
	f.Add(seed(
		rr(`_stap._tcp.lab.example. 60 IN PTR srva._stap._tcp.lab.example.`),
		rr(`srva._stap._tcp.lab.example. 60 IN SRV 10 5 5555 srva.lab.example.`),
		rr(`srva._stap._tcp.lab.example. 60 IN TXT "version=4.8" "certinfo=00:aa" "sysinfo=6.1.0-56-amd64 x86_64" "mok_info=aa"`),
		rr(`srva.lab.example. 60 IN A 10.1.0.1`),
		rr(`srva.lab.example. 60 IN AAAA fd00::1`),
		rr(`b._dns-sd._udp.lab.example. 60 IN PTR lab.example.`),
	))
	// Records with no data (RDLENGTH 0) unpack as bare headers.
	f.Add(seed(
		&dns.RR_Header{Name: "_stap._tcp.lab.example.", Rrtype: dns.TypePTR, Class: dns.ClassINET},
		&dns.RR_Header{Name: "lb._dns-sd._udp.lab.example.", Rrtype: dns.TypePTR, Class: dns.ClassINET},
		rr(`_stap._tcp.lab.example. 60 IN PTR x._stap._tcp.lab.example.`),
		&dns.RR_Header{Name: "x._stap._tcp.lab.example.", Rrtype: dns.TypeSRV, Class: dns.ClassINET},
		&dns.RR_Header{Name: "x._stap._tcp.lab.example.", Rrtype: dns.TypeTXT, Class: dns.ClassINET},
	))
	f.Add(seed(
		rr(`_stap._tcp.lab.example. 60 IN PTR odd\.name\032#2._stap._tcp.lab.example.`),
		rr(`odd\.name\032#2._stap._tcp.lab.example. 60 IN SRV 0 0 0 .`),
		rr(`odd\.name\032#2._stap._tcp.lab.example. 60 IN SRV 0 0 1 h.lab.example.`),
		rr(`h.lab.example. 60 IN A 0.0.0.0`),
		rr(`h.lab.example. 60 IN CNAME srva.lab.example.`),
	))
	f.Fuzz(func(t *testing.T, wire []byte) {
		var zone dns.Msg
		if zone.Unpack(wire) != nil {
			return
		}
		exchange := func(ctx context.Context, m *dns.Msg, server string) (*dns.Msg, error) {
			r := new(dns.Msg)
			r.SetReply(m)
			for _, x := range zone.Answer {
				if strings.EqualFold(x.Header().Name, m.Question[0].Name) {
					r.Answer = append(r.Answer, x)
				}
			}
			if len(r.Answer) == 0 {
				r.Rcode = dns.RcodeNameError
			}
			return r, nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		u := Unicast{Domains: []string{"lab.example"}, Exchange: exchange}
		got, err := Collect(ctx, u, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range got {
			if s.Port == 0 || len(s.Addrs) == 0 || s.Domain == "" {
				t.Fatalf("unusable service kept: %+v", s)
			}
			for _, c := range Candidates([]Service{s}) {
				_ = c.String()
			}
		}
	})
}
