// SPDX-License-Identifier: GPL-2.0-or-later

package discovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// ResolvConf is what wide-area browsing takes from resolv.conf(5).
type ResolvConf struct {
	Servers  []string // "ip:53"
	Search   []string // search (or domain) list, lowercase, no trailing dot
	Timeout  time.Duration
	Attempts int
}

// ParseResolvConf reads resolv.conf(5) text as the C library does: the
// last search/domain line wins; no nameserver line means 127.0.0.1.
func ParseResolvConf(r io.Reader) (ResolvConf, error) {
	c, err := dns.ClientConfigFromReader(r)
	if err != nil {
		return ResolvConf{}, fmt.Errorf("reading resolv.conf: %w", err)
	}
	rc := ResolvConf{Timeout: time.Duration(c.Timeout) * time.Second, Attempts: c.Attempts}
	for _, s := range c.Servers {
		a, err := netip.ParseAddr(s)
		if err != nil {
			continue // the C library ignores what is not an address too
		}
		rc.Servers = append(rc.Servers, net.JoinHostPort(a.String(), c.Port))
	}
	if len(rc.Servers) == 0 {
		rc.Servers = []string{"127.0.0.1:53"}
	}
	for _, d := range c.Search {
		if d = normDomain(d); d != "" && !slices.Contains(rc.Search, d) {
			rc.Search = append(rc.Search, d)
		}
	}
	return rc, nil
}

// normDomain: lowercase (DNS names compare case-insensitively), no trailing
// dot; "" for the root and for "local" (that is mDNS's).
func normDomain(d string) string {
	d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
	if d == "local" || d == "" || !validName(d) {
		return ""
	}
	return d
}

func validName(d string) bool {
	_, ok := dns.IsDomainName(d)
	return ok
}

// ExchangeFunc sends one query to one server ("ip:port").
type ExchangeFunc func(ctx context.Context, m *dns.Msg, server string) (*dns.Msg, error)

// Limits against a hostile or broken zone: instances resolved per domain,
// and domains browsed in all.
const (
	maxInstances = 64
	maxDomains   = 32
)

// ErrNoBrowseDomain: wide-area browsing has no domain to look in.
var ErrNoBrowseDomain = errors.New("no DNS browse domain (no search line in resolv.conf, none given)")

// Unicast browses _stap._tcp in DNS domains with ordinary queries to the
// resolvers of resolv.conf (RFC 6763 over unicast DNS).
type Unicast struct {
	// ResolvConf is the resolv.conf path; its search domains are browsed,
	// and the domains RFC 6763 §11 enumeration finds under them.
	ResolvConf string
	// Domains are browsed as well (given by the user).
	Domains []string
	// Exchange sends a query; nil: UDP, TCP when the answer is truncated.
	Exchange ExchangeFunc
	// Log reports what failed without ending the browse (may be nil).
	Log func(format string, args ...any)
}

// Browse implements Browser. It sends a domain's services together, once
// every instance in it is resolved, so that their SRV priorities compare,
// and returns when every domain is done.
func (u Unicast) Browse(ctx context.Context, found chan<- Service) error {
	q, err := u.querier()
	if err != nil {
		return err
	}
	var domains []string
	for _, d := range u.Domains {
		if d = normDomain(d); d != "" && !slices.Contains(domains, d) {
			domains = append(domains, d)
		}
	}
	for _, d := range q.conf.Search {
		if !slices.Contains(domains, d) {
			domains = append(domains, d)
		}
	}
	if len(domains) == 0 {
		return ErrNoBrowseDomain
	}
	w := &walk{q: q, found: found, seen: map[string]bool{}}
	for _, d := range domains {
		w.browse(ctx, d)
	}
	// RFC 6763 §11: the domains a site recommends for browsing.
	for _, d := range q.conf.Search {
		for _, sub := range []string{"b._dns-sd._udp.", "lb._dns-sd._udp."} {
			w.wg.Go(func() {
				rrs, err := q.ask(ctx, sub+d, dns.TypePTR)
				if err != nil {
					q.log("browse domains under %s: %v", d, err)
				}
				for _, rr := range rrs {
					if ptr, ok := rr.(*dns.PTR); ok {
						if nd := normDomain(ptr.Ptr); nd != "" {
							w.browse(ctx, nd)
						}
					}
				}
			})
		}
	}
	w.wg.Wait()
	return nil
}

// querier reads resolv.conf (a missing one: the local resolver) and sets
// the defaults.
func (u Unicast) querier() (querier, error) {
	conf := ResolvConf{Servers: []string{"127.0.0.1:53"}, Timeout: 5 * time.Second, Attempts: 2}
	if u.ResolvConf != "" {
		f, err := os.Open(u.ResolvConf)
		if err == nil {
			conf, err = ParseResolvConf(f)
			f.Close()
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return querier{}, fmt.Errorf("reading %s: %w", u.ResolvConf, err)
		}
	}
	q := querier{conf: conf, exchange: u.Exchange, log: u.Log}
	if q.exchange == nil {
		q.exchange = Exchange
	}
	if q.log == nil {
		q.log = func(string, ...any) {}
	}
	return q, nil
}

// walk is one Browse's set of domains, each browsed once, at most
// maxDomains of them, concurrently.
type walk struct {
	q     querier
	found chan<- Service
	wg    sync.WaitGroup
	mu    sync.Mutex
	seen  map[string]bool
}

// browse starts browsing domain d, unless it was already or the limit is
// reached, and sends what it finds.
func (w *walk) browse(ctx context.Context, d string) {
	w.mu.Lock()
	skip := w.seen[d] || len(w.seen) >= maxDomains
	w.seen[d] = true
	w.mu.Unlock()
	if skip {
		return
	}
	w.wg.Go(func() {
		for _, s := range w.q.browseDomain(ctx, d) {
			select {
			case w.found <- s:
			case <-ctx.Done():
				return
			}
		}
	})
}

// browseDomain resolves every _stap._tcp instance in domain d.
func (q querier) browseDomain(ctx context.Context, d string) []Service {
	ptrs, err := q.ask(ctx, ServiceType+"."+d, dns.TypePTR)
	if err != nil {
		q.log("browsing %s: %v", d, err)
		return nil
	}
	var mu sync.Mutex
	var out []Service
	var wg sync.WaitGroup
	seen := map[string]bool{}
	for _, rr := range ptrs {
		ptr, ok := rr.(*dns.PTR)
		if !ok {
			continue
		}
		name := ptr.Ptr
		if seen[strings.ToLower(name)] {
			continue
		}
		if len(seen) == maxInstances {
			q.log("browsing %s: more than %d instances, the rest left out", d, maxInstances)
			break
		}
		seen[strings.ToLower(name)] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			svcs := q.resolveInstance(ctx, name, d)
			mu.Lock()
			out = append(out, svcs...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	// Arrival order is a race; the PTR answer's order is not.
	slices.SortStableFunc(out, func(a, b Service) int { return strings.Compare(a.Instance, b.Instance) })
	return out
}

// resolveInstance asks for an instance's SRV and TXT records (servers such
// as nsd send none as additional data), then for the SRV targets'
// addresses. name is in presentation form, escapes kept: never split on
// dots (RFC 6763 §4.3, the instance label may hold dots and spaces).
func (q querier) resolveInstance(ctx context.Context, name, domain string) []Service {
	var srvs, txts []dns.RR
	var srvErr, txtErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); srvs, srvErr = q.ask(ctx, name, dns.TypeSRV) }()
	go func() { defer wg.Done(); txts, txtErr = q.ask(ctx, name, dns.TypeTXT) }()
	wg.Wait()
	if srvErr != nil || len(srvs) == 0 {
		q.log("instance %s: no SRV record: %v", name, srvErr)
		return nil
	}
	if txtErr != nil {
		q.log("instance %s: no TXT record: %v", name, txtErr)
	}
	var txt []string
	for _, rr := range txts {
		if t, ok := rr.(*dns.TXT); ok {
			txt = append(txt, t.Txt...)
		}
	}
	instance := name
	if labels := dns.SplitDomainName(name); len(labels) > 0 {
		instance = Unescape(labels[0])
	}
	var out []Service
	for _, rr := range srvs {
		srv, ok := rr.(*dns.SRV)
		if !ok || srv.Port == 0 || srv.Target == "." {
			continue // RFC 2782: "." means no service here
		}
		s := ParseTXT(txt)
		s.Instance, s.Domain = instance, domain
		s.Host = strings.TrimSuffix(Unescape(srv.Target), ".")
		s.Port, s.Priority, s.Weight = srv.Port, srv.Priority, srv.Weight
		s.Addrs = q.addrs(ctx, srv.Target)
		if len(s.Addrs) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// addrs asks for a host's A and AAAA records.
func (q querier) addrs(ctx context.Context, host string) []netip.Addr {
	var a, aaaa []dns.RR
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); a, _ = q.ask(ctx, host, dns.TypeA) }()
	go func() { defer wg.Done(); aaaa, _ = q.ask(ctx, host, dns.TypeAAAA) }()
	wg.Wait()
	var out []netip.Addr
	for _, rr := range append(a, aaaa...) {
		var ip net.IP
		switch r := rr.(type) {
		case *dns.A:
			ip = r.A
		case *dns.AAAA:
			ip = r.AAAA
		}
		if x, ok := netip.AddrFromSlice(ip); ok {
			out = append(out, x.Unmap())
		}
	}
	if len(out) == 0 {
		q.log("host %s: no address", host)
	}
	return out
}

type querier struct {
	conf     ResolvConf
	exchange ExchangeFunc
	log      func(string, ...any)
}

// ask queries the resolvers as the C library does: each server in turn,
// for Attempts rounds, each try bounded by Timeout (and by ctx). It returns
// the answers of type t; NXDOMAIN is no answer, not an error.
func (q querier) ask(ctx context.Context, name string, t uint16) ([]dns.RR, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), t)
	m.SetEdns0(1232, false)
	var last error
	for range max(q.conf.Attempts, 1) {
		for _, server := range q.conf.Servers {
			tctx, cancel := context.WithTimeout(ctx, q.conf.Timeout)
			r, err := q.exchange(tctx, m, server)
			cancel()
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if err != nil {
				last = fmt.Errorf("%s %s: %w", dns.TypeToString[t], name, err)
				continue
			}
			switch r.Rcode {
			case dns.RcodeSuccess:
				var out []dns.RR
				for _, rr := range r.Answer {
					if rr.Header().Rrtype == t {
						out = append(out, rr)
					}
				}
				return out, nil
			case dns.RcodeNameError:
				return nil, nil
			}
			// REFUSED, SERVFAIL...: the next server may know better.
			last = fmt.Errorf("%s %s: %s answered %s", dns.TypeToString[t], name, server, dns.RcodeToString[r.Rcode])
		}
	}
	return nil, last
}

// Exchange sends m to server over UDP, and again over TCP when the answer
// is truncated. ctx bounds (and cancels) it.
func Exchange(ctx context.Context, m *dns.Msg, server string) (*dns.Msg, error) {
	r, err := exchangeOn(ctx, "udp", m, server)
	if err == nil && r.Truncated {
		return exchangeOn(ctx, "tcp", m, server)
	}
	return r, err
}

func exchangeOn(ctx context.Context, network string, m *dns.Msg, server string) (*dns.Msg, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, server)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	q := m.Copy()
	q.Id = dns.Id()
	co := &dns.Conn{Conn: c, UDPSize: 1232}
	if err := co.WriteMsg(q); err != nil {
		return nil, err
	}
	for {
		r, err := co.ReadMsg()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		// A stray or spoofed datagram: keep waiting for ours.
		if r.Id == q.Id && len(r.Question) == 1 && strings.EqualFold(r.Question[0].Name, q.Question[0].Name) {
			return r, nil
		}
	}
}
