// SPDX-License-Identifier: GPL-2.0-or-later

package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// OneShot asks the link once, as a one-shot multicast DNS query (RFC 6762
// §5.1): a PTR query for _stap._tcp.local sent from a port of its own, on
// every multicast interface. Responders answer such a query at once, by
// unicast, with the instances' SRV, TXT and address records (§6.7). Their
// multicast answers, which Zeroconf waits for, are held back for a second
// after each one (§6), so in a burst of runs each run would hear another
// part of a fleet of equal servers, and order it differently; the one-shot
// answers reach every run whole. Zeroconf still browses beside it, for
// responders that do not answer one-shot queries.
type OneShot struct {
	// Interfaces lists candidate interfaces; net.Interfaces when nil.
	Interfaces func() ([]net.Interface, error)
}

// oneShotAgain: the query is sent once more after this long, as a lost
// datagram is not sent again by anyone.
const oneShotAgain = 250 * time.Millisecond

// Browse implements Browser.
func (o OneShot) Browse(ctx context.Context, found chan<- Service) error {
	ifaces, err := multicastInterfaces(o.Interfaces)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, iface := range ifaces {
		for _, to := range []string{"224.0.0.251", "ff02::fb%" + iface.Name} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := oneShotOn(ctx, iface, to, found); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if len(errs) == 2*len(ifaces) {
		return errors.Join(errs...)
	}
	return nil
}

// multicastInterfaces are the interfaces up and able to multicast, less
// loopback.
func multicastInterfaces(list func() ([]net.Interface, error)) ([]net.Interface, error) {
	if list == nil {
		list = net.Interfaces
	}
	all, err := list()
	if err != nil {
		return nil, fmt.Errorf("listing network interfaces: %w", err)
	}
	var ifaces []net.Interface
	for _, i := range all {
		if i.Flags&net.FlagUp != 0 && i.Flags&net.FlagMulticast != 0 && i.Flags&net.FlagLoopback == 0 {
			ifaces = append(ifaces, i)
		}
	}
	if len(ifaces) == 0 {
		return nil, ErrNoMulticast
	}
	return ifaces, nil
}

// oneShotOn queries the group address to (with iface as its zone or
// multicast interface) and sends what answers until ctx ends.
func oneShotOn(ctx context.Context, iface net.Interface, to string, found chan<- Service) error {
	network := "udp4"
	if strings.Contains(to, ":") {
		network = "udp6"
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			if network == "udp4" {
				serr = syscall.SetsockoptIPMreqn(int(fd), syscall.IPPROTO_IP, syscall.IP_MULTICAST_IF, &syscall.IPMreqn{Ifindex: int32(iface.Index)})
			} else {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_MULTICAST_IF, iface.Index)
			}
		})
		return errors.Join(err, serr)
	}}
	pc, err := lc.ListenPacket(ctx, network, "")
	if err != nil {
		return fmt.Errorf("one-shot mDNS on %s: %w", iface.Name, err)
	}
	defer pc.Close()
	dst, err := net.ResolveUDPAddr(network, net.JoinHostPort(to, "5353"))
	if err != nil {
		return fmt.Errorf("one-shot mDNS on %s: %w", iface.Name, err)
	}
	q := new(dns.Msg)
	q.SetQuestion(ServiceType+".local.", dns.TypePTR)
	q.RecursionDesired = false
	query, err := q.Pack()
	if err != nil {
		return fmt.Errorf("one-shot mDNS query: %w", err)
	}
	if _, err := pc.WriteTo(query, dst); err != nil {
		return fmt.Errorf("one-shot mDNS on %s: %w", iface.Name, err)
	}
	again := time.AfterFunc(oneShotAgain, func() { pc.WriteTo(query, dst) })
	defer again.Stop()
	stop := context.AfterFunc(ctx, func() { pc.SetReadDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, 9000)
	for {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			return nil // ctx ended
		}
		var m dns.Msg
		if m.Unpack(buf[:n]) != nil || !m.Response {
			continue
		}
		for _, s := range ServicesOf(&m, iface.Name) {
			select {
			case found <- s:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// ServicesOf reads the compile servers in a multicast DNS reply: each PTR
// to an instance, with that instance's SRV and TXT records and its host's
// addresses, from the answers and the additional records alike. Link-local
// IPv6 addresses get zone, the interface the reply came in on.
func ServicesOf(m *dns.Msg, zone string) []Service {
	rrs := append(append([]dns.RR{}, m.Answer...), m.Extra...)
	srv := map[string]*dns.SRV{}
	txt := map[string][]string{}
	addrs := map[string][]netip.Addr{}
	var instances []string
	for _, rr := range rrs {
		name := strings.ToLower(rr.Header().Name)
		switch r := rr.(type) {
		case *dns.PTR:
			if strings.EqualFold(r.Hdr.Name, ServiceType+".local.") {
				instances = append(instances, r.Ptr)
			}
		case *dns.SRV:
			srv[name] = r
		case *dns.TXT:
			txt[name] = append(txt[name], r.Txt...)
		case *dns.A:
			if a, ok := netip.AddrFromSlice(r.A.To4()); ok {
				addrs[name] = append(addrs[name], a)
			}
		case *dns.AAAA:
			if a, ok := netip.AddrFromSlice(r.AAAA.To16()); ok {
				if a.IsLinkLocalUnicast() {
					a = a.WithZone(zone)
				}
				addrs[name] = append(addrs[name], a)
			}
		}
	}
	var out []Service
	for _, inst := range instances {
		r, ok := srv[strings.ToLower(inst)]
		if !ok || r.Port == 0 || r.Target == "." {
			continue
		}
		s := ParseTXT(txt[strings.ToLower(inst)])
		if labels := dns.SplitDomainName(inst); len(labels) > 0 {
			s.Instance = Unescape(labels[0])
		}
		s.Host = strings.TrimSuffix(Unescape(r.Target), ".")
		s.Port = r.Port
		s.Addrs = addrs[strings.ToLower(r.Target)]
		if len(s.Addrs) > 0 {
			out = append(out, s)
		}
	}
	return out
}
