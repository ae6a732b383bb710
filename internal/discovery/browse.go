// SPDX-License-Identifier: GPL-2.0-or-later

package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grandcat/zeroconf"
)

// ServiceType is what compile servers advertise.
const ServiceType = "_stap._tcp"

// Service is one resolved advertisement as received on one interface.
type Service struct {
	Instance string // unescaped, e.g. "Systemtap Compile Server on srva #2"
	Host     string // the mDNS host name, e.g. "srva.local"
	Port     uint16
	Addrs    []netip.Addr // IPv6 link-local ones carry the interface as zone
	Sysinfo  string
	Certinfo string
	Version  string // "1.0" when the server sent none, as stap assumes
	Optinfo  string
	MOKs     []string
	// Domain is the DNS domain it was found in; "" for mDNS.
	Domain string
	// Priority and Weight are the SRV record's (RFC 2782); 0 for mDNS.
	Priority, Weight uint16
}

// Browser finds services until ctx ends, sending each as it is resolved. A
// service may be sent again with more addresses.
type Browser interface {
	Browse(ctx context.Context, found chan<- Service) error
}

// ErrNoMulticast: no interface can do multicast, so nothing can be found.
var ErrNoMulticast = errors.New("no network interface is up with multicast")

// Zeroconf browses with github.com/grandcat/zeroconf, one resolver per
// interface: the library does not say which interface an answer came in on,
// and a link-local IPv6 address is useless without it.
type Zeroconf struct {
	// Interfaces lists candidate interfaces; net.Interfaces when nil.
	Interfaces func() ([]net.Interface, error)
}

// Browse implements Browser.
func (z Zeroconf) Browse(ctx context.Context, found chan<- Service) error {
	ifaces, err := multicastInterfaces(z.Interfaces)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	started := 0
	// The library queries once, then again only after 4 s, and responders
	// rate-limit repeated answers (about 1 s), so answers lost or split
	// across packets would be missed for the whole window. Fresh resolvers,
	// each with its own query, after the responders' 1 s limit recover them.
	for i, at := range requeryAt {
		if i > 0 {
			select {
			case <-time.After(at - requeryAt[i-1]):
			case <-ctx.Done():
			}
			if ctx.Err() != nil {
				break
			}
		}
		for _, iface := range ifaces {
			if err := browseOn(ctx, iface, found, &wg); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				continue
			}
			started++
		}
		if started == 0 {
			return errors.Join(errs...)
		}
	}
	wg.Wait()
	return nil
}

// requeryAt are the times, from the start, at which a new query goes out.
var requeryAt = [...]time.Duration{0, 1100 * time.Millisecond, 2300 * time.Millisecond}

// browseOn starts resolvers on one interface, one per address family: a
// resolver reports an instance once, so with both families on one resolver
// the answer that comes second, with the other family's addresses, is lost.
// Results go to found until ctx ends.
func browseOn(ctx context.Context, iface net.Interface, found chan<- Service, wg *sync.WaitGroup) error {
	var errs []error
	ok := false
	for _, family := range []zeroconf.IPType{zeroconf.IPv4, zeroconf.IPv6} {
		if err := browseFamily(ctx, iface, family, found, wg); err != nil {
			errs = append(errs, err)
			continue
		}
		ok = true
	}
	if !ok {
		return errors.Join(errs...)
	}
	return nil
}

func browseFamily(ctx context.Context, iface net.Interface, family zeroconf.IPType, found chan<- Service, wg *sync.WaitGroup) error {
	r, err := zeroconf.NewResolver(zeroconf.SelectIfaces([]net.Interface{iface}), zeroconf.SelectIPTraffic(family))
	if err != nil {
		return fmt.Errorf("mDNS on %s: %w", iface.Name, err)
	}
	entries := make(chan *zeroconf.ServiceEntry, 16)
	if err := r.Browse(ctx, ServiceType, "local.", entries); err != nil {
		return fmt.Errorf("mDNS browse on %s: %w", iface.Name, err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		// The library closes entries when ctx ends.
		for e := range entries {
			select {
			case found <- fromEntry(e, iface.Name):
			case <-ctx.Done():
			}
		}
	}()
	return nil
}

func fromEntry(e *zeroconf.ServiceEntry, zone string) Service {
	s := ParseTXT(e.Text)
	s.Instance = Unescape(e.Instance)
	s.Host = strings.TrimSuffix(Unescape(e.HostName), ".")
	if e.Port > 0 && e.Port <= 65535 {
		s.Port = uint16(e.Port)
	}
	for _, ip := range e.AddrIPv4 {
		if a, ok := netip.AddrFromSlice(ip.To4()); ok {
			s.Addrs = append(s.Addrs, a)
		}
	}
	for _, ip := range e.AddrIPv6 {
		a, ok := netip.AddrFromSlice(ip.To16())
		if !ok {
			continue
		}
		if a.IsLinkLocalUnicast() {
			a = a.WithZone(zone)
		}
		s.Addrs = append(s.Addrs, a)
	}
	return s
}

// ParseTXT reads the TXT keys stap-serverd publishes.
func ParseTXT(txt []string) Service {
	s := Service{Version: "1.0"}
	for _, t := range txt {
		k, v, ok := strings.Cut(Unescape(t), "=")
		if !ok {
			continue
		}
		switch k {
		case "sysinfo":
			s.Sysinfo = v
		case "certinfo":
			s.Certinfo = v
		case "version":
			s.Version = v
		case "optinfo":
			s.Optinfo = v
		case "mok_info":
			s.MOKs = append(s.MOKs, v)
		}
	}
	return s
}

// Unescape undoes DNS presentation escapes (\032, \.), which the library
// leaves in instance names and TXT strings.
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			if n, err := strconv.Atoi(s[i+1 : i+4]); err == nil && n < 256 {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i+1])
		i++
	}
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// Collect browses until ready reports a usable set and grace more has
// passed (for better-ordered servers still answering), or until ctx ends. It
// merges what arrives by instance, host and port: an instance may come
// first with only its IPv6 or only its IPv4 addresses.
func Collect(ctx context.Context, b Browser, ready func([]Service) bool, grace time.Duration) ([]Service, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	found := make(chan Service)
	done := make(chan error, 1)
	go func() { done <- b.Browse(ctx, found) }()
	var out []Service
	index := map[string]int{}
	var settle <-chan time.Time
	for {
		select {
		case s := <-found:
			key := s.Instance + "\x00" + s.Host + "\x00" + strconv.Itoa(int(s.Port)) + "\x00" + s.Domain
			if i, ok := index[key]; ok {
				out[i] = merge(out[i], s)
			} else {
				index[key] = len(out)
				out = append(out, s)
			}
			if settle == nil && ready != nil && ready(out) {
				settle = time.After(grace)
			}
		case <-settle:
			cancel()
			<-done // every browsing goroutine and socket is gone
			return out, nil
		case err := <-done:
			// Browse ended: ctx is over, or it could not start.
			if ctx.Err() != nil {
				err = nil
			}
			return out, err
		}
	}
}

func merge(a, b Service) Service {
	for _, x := range b.Addrs {
		dup := false
		for _, y := range a.Addrs {
			if x == y {
				dup = true
				break
			}
		}
		if !dup {
			a.Addrs = append(a.Addrs, x)
		}
	}
	return a
}

// Candidate is the service at its i-th address.
func (s Service) Candidate(i int) Candidate {
	return Candidate{Host: s.Host, Addr: s.Addrs[i], Port: s.Port, Sysinfo: s.Sysinfo, Version: s.Version, Certinfo: s.Certinfo, MOKs: s.MOKs, Instance: s.Instance,
		Domain: s.Domain, Priority: s.Priority, Weight: s.Weight}
}

// Candidates expands services into one candidate per address, as stap
// lists them.
func Candidates(services []Service) []Candidate {
	var out []Candidate
	for _, s := range services {
		for i := range s.Addrs {
			out = append(out, s.Candidate(i))
		}
	}
	return out
}

// Multi browses with several browsers at once (mDNS and DNS). It fails
// only when every one of them fails and nothing was found; then with the
// first one's error (mDNS's: wide-area browsing with no domain is no
// failure worth a warning of its own).
type Multi []Browser

// Browse implements Browser.
func (m Multi) Browse(ctx context.Context, found chan<- Service) error {
	errs := make([]error, len(m))
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := false
	for i, b := range m {
		mine := make(chan Service)
		wg.Add(2)
		go func() {
			defer wg.Done()
			errs[i] = b.Browse(ctx, mine)
			close(mine)
		}()
		go func() {
			defer wg.Done()
			for s := range mine {
				mu.Lock()
				got = true
				mu.Unlock()
				select {
				case found <- s:
				case <-ctx.Done():
				}
			}
		}()
	}
	wg.Wait()
	if got {
		return nil
	}
	for _, err := range errs {
		if err == nil {
			return nil
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs[0]
}
