// SPDX-License-Identifier: GPL-2.0-or-later

// Package discovery turns --server specifications and the answers of mDNS
// and of unicast DNS-SD (RFC 6763) into an ordered list of candidate
// compile servers.
package discovery

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Spec is one parsed --server / --use-server value.
type Spec struct {
	Raw  string
	Host string     // a host name, when the spec is one
	Addr netip.Addr // an address, when the spec is one (with its zone)
	Port uint16     // 0 when not given
	// Serial is a certificate serial (aa:bb:cc:dd:ee) spec.
	Serial string
}

// FullySpecified is stap's term: with a port the server is used directly,
// with no discovery and no filtering.
func (s Spec) FullySpecified() bool { return s.Port != 0 }

// SpecError carries stap's message for a bad spec.
type SpecError struct{ Msg string }

func (e *SpecError) Error() string { return e.Msg }

// ParseSpec parses a server spec in the forms stap 4.8 accepts, tried in its
// order: IPv6 ([addr]:port, addr, addr%zone), IPv4[:port], certificate serial
// (five hex fields, optional port), host[:port].
func ParseSpec(raw string) (Spec, error) {
	s := Spec{Raw: raw}
	if raw == "" {
		return s, &SpecError{"Invalid server specification: " + raw}
	}
	// [addr]:port or [addr]
	if strings.HasPrefix(raw, "[") {
		end := strings.Index(raw, "]")
		if end < 0 {
			return s, &SpecError{"Invalid server specification: " + raw}
		}
		a, err := netip.ParseAddr(raw[1:end])
		if err != nil || !a.Is6() {
			return s, &SpecError{"Invalid server specification: " + raw}
		}
		s.Addr = a
		rest := raw[end+1:]
		if rest == "" {
			return s, nil
		}
		if !strings.HasPrefix(rest, ":") {
			return s, &SpecError{"Invalid server specification: " + raw}
		}
		return s, s.setPort(rest[1:])
	}
	// A bare IPv6 address (with an optional zone) has no port.
	if strings.Count(raw, ":") >= 2 {
		if a, err := netip.ParseAddr(raw); err == nil && a.Is6() {
			s.Addr = a
			return s, nil
		}
	}
	host, port, hasPort := raw, "", false
	if i := strings.LastIndex(raw, ":"); i >= 0 && strings.Count(raw, ":") == 1 {
		host, port, hasPort = raw[:i], raw[i+1:], true
	}
	if a, err := netip.ParseAddr(host); err == nil && a.Is4() {
		s.Addr = a
		if hasPort {
			return s, s.setPort(port)
		}
		return s, nil
	}
	if isSerial(raw) {
		parts := strings.Split(raw, ":")
		s.Serial = strings.Join(parts[:5], ":")
		if len(parts) == 6 {
			return s, s.setPort(parts[5])
		}
		return s, nil
	}
	if !isHostName(host) {
		return s, &SpecError{"Invalid server specification: " + raw}
	}
	s.Host = host
	if hasPort {
		return s, s.setPort(port)
	}
	return s, nil
}

func (s *Spec) setPort(p string) error {
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 {
		return &SpecError{"Invalid port number specified: " + p}
	}
	s.Port = uint16(n)
	return nil
}

// isSerial: exactly five ':' separated hex fields, plus an optional port.
func isSerial(raw string) bool {
	parts := strings.Split(raw, ":")
	if len(parts) != 5 && len(parts) != 6 {
		return false
	}
	for _, p := range parts[:5] {
		if p == "" || len(p) > 2 {
			return false
		}
		if _, err := strconv.ParseUint(p, 16, 8); err != nil {
			return false
		}
	}
	return true
}

func isHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			if !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				return false
			}
		}
	}
	return true
}

// Candidate is a server to try, with what is known about it.
type Candidate struct {
	Host     string
	Addr     netip.Addr
	Port     uint16
	Sysinfo  string
	Version  string
	Certinfo string
	MOKs     []string
	Instance string // the DNS-SD instance name, for messages
	// Domain is the DNS domain it was found in; "" when found by mDNS.
	Domain string
	// Priority and Weight are the SRV record's (RFC 2782): lower priority
	// first, then weighted random among equals.
	Priority, Weight uint16
	// Score is the rendezvous score the order among equals was decided by
	// (Policy.Rendezvous; higher first); 0 when there was no request key.
	Score float64
}

// AddrPort is the dialable "ip:port" form (IPv6 bracketed, zone kept).
func (c Candidate) AddrPort() string {
	return net.JoinHostPort(c.Addr.String(), strconv.Itoa(int(c.Port)))
}

// String is stap's one-line server printout, leading space included.
func (c Candidate) String() string {
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	addr, port := "offline", "unknown"
	if c.Addr.IsValid() {
		addr = c.Addr.String()
	}
	if c.Port != 0 {
		port = strconv.Itoa(int(c.Port))
	}
	s := fmt.Sprintf(" host=%s address=%s port=%s sysinfo=\"%s\" version=%s certinfo=\"%s\"",
		or(c.Host, "unknown"), addr, port, or(c.Sysinfo, "unknown"), or(c.Version, "unknown"), or(c.Certinfo, "unknown"))
	if len(c.MOKs) > 0 {
		s += ` mok_fingerprints="` + strings.Join(c.MOKs, ", ") + `"`
	}
	return s
}

// LookupFunc resolves a host name to addresses (net.DefaultResolver.LookupNetIP
// bound to "ip" in production, a table in tests).
type LookupFunc func(ctx context.Context, host string) ([]netip.Addr, error)

// NeedsDiscoveryError is a spec that can only be completed from mDNS answers.
type NeedsDiscoveryError struct{ Spec Spec }

func (e *NeedsDiscoveryError) Error() string {
	return fmt.Sprintf("--server=%s has no port, and finding its port needs mDNS discovery, which this build does not do yet; give HOST:PORT", e.Spec.Raw)
}

// Direct turns fully specified specs into candidates in the order given: an
// address is used as is, a host name contributes each of its addresses.
func Direct(ctx context.Context, specs []Spec, lookup LookupFunc) ([]Candidate, error) {
	var out []Candidate
	for _, s := range specs {
		if !s.FullySpecified() || s.Serial != "" {
			return nil, &NeedsDiscoveryError{s}
		}
		if s.Addr.IsValid() {
			out = append(out, Candidate{Addr: s.Addr, Port: s.Port})
			continue
		}
		addrs, err := lookup(ctx, s.Host)
		if err != nil {
			return nil, fmt.Errorf("resolving server %s: %w", s.Host, err)
		}
		for _, a := range addrs {
			out = append(out, Candidate{Host: s.Host, Addr: a.Unmap(), Port: s.Port})
		}
	}
	return out, nil
}
