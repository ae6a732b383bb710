// SPDX-License-Identifier: GPL-2.0-or-later

package discovery

import (
	"cmp"
	"context"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/stap-client/stap-client/internal/staprun"
)

// Policy is what this run needs of a server.
type Policy struct {
	Release, Arch string
	Trusted       map[string]bool // certinfo serials trusted as SSL peers
	// Signers are certinfo serials trusted as module signers; consulted only
	// when NeedSigner (a privilege below stapdev).
	Signers    map[string]bool
	NeedSigner bool
	// MOKs are the fingerprints this run sends because the host loads only
	// signed modules ("missing" when it has none enrolled); nil when it
	// does not need them.
	MOKs []string
	// IntN returns a random number in [0, n) for the order among equal
	// servers; nil: math/rand/v2's.
	IntN func(n int) int
	// Staprun is the local staprun's systemtap version when the run can
	// reach pass 5 ("" otherwise or when unknown): servers whose modules it
	// can run come first (see generation.go).
	Staprun string
	// Key is the request's key (the same on every machine sending the same
	// request): equals are then ordered by rendezvous score (see
	// rendezvous.go) instead of at random. nil: at random (IntN).
	Key []byte
	// Identities maps a certinfo serial to the identity of the trusted
	// certificate with that serial (CertIdentity of its DER), for the
	// rendezvous score; a serial missing here is scored by itself.
	Identities map[string]string
}

// sameTarget: the server builds for this release and arch, or says only
// the arch.
func (p Policy) sameTarget(c Candidate) bool {
	return c.Sysinfo == p.Release+" "+p.Arch || c.Sysinfo == p.Arch
}

// MOKInCommon is stap's MOK test: with no fingerprints to send, any server;
// with "missing" (none enrolled yet), any server, which will send its key;
// otherwise one of ours must be among the server's mok_info.
func (p Policy) MOKInCommon(c Candidate) bool {
	if len(p.MOKs) == 0 {
		return true
	}
	for _, fp := range p.MOKs {
		if fp == "missing" || slices.Contains(c.MOKs, fp) {
			return true
		}
	}
	return false
}

// Compatible is stap's compatible filter: the target and the MOK tests.
func (p Policy) Compatible(c Candidate) bool { return p.sameTarget(c) && p.MOKInCommon(c) }

// DefaultCriteria is stap's name for what the default spec selects.
func (p Policy) DefaultCriteria() string {
	if p.NeedSigner {
		return "online,trusted,compatible,signer"
	}
	return "online,trusted,compatible"
}

// Verdict is a candidate with the reasons it cannot be used, if any.
type Verdict struct {
	Candidate
	Reasons []string
}

// Reasons says why the default spec would pass c over; none: usable.
func (p Policy) Reasons(c Candidate) []string { return p.judge(c, true) }

// judge applies the filters; trust is one of them only for the default spec
// (a named server is tried, and its handshake decides).
func (p Policy) judge(c Candidate, needTrust bool) []string {
	var why []string
	if !p.sameTarget(c) {
		why = append(why, "incompatible: it builds for \""+c.Sysinfo+"\", this run needs \""+p.Release+" "+p.Arch+"\"")
	}
	if !p.MOKInCommon(c) {
		offers := "none"
		if len(c.MOKs) > 0 {
			offers = strings.Join(c.MOKs, ", ")
		}
		why = append(why, "no MOK in common: the server signs with "+offers+", this host has enrolled "+strings.Join(p.MOKs, ", "))
	}
	if needTrust && !p.Trusted[c.Certinfo] {
		why = append(why, "untrusted: no trusted certificate has serial "+c.Certinfo+" (trust it with --trust-servers=ssl --server=HOST:PORT)")
	}
	if p.NeedSigner && !p.Signers[c.Certinfo] {
		why = append(why, "not a trusted module signer (needed below --privilege=stapdev; root can add it with --trust-servers=signer)")
	}
	return why
}

// Select picks the candidates to try from what discovery found (online),
// for the given specs (none: the default spec), in the order to try them.
// Fully specified specs are not matched here (see Direct). It returns the
// verdicts on every online candidate too, for messages.
func Select(online []Candidate, specs []Spec, p Policy, resolve func(host string) []netip.Addr) (use []Candidate, verdicts []Verdict) {
	if len(specs) == 0 {
		for _, c := range online {
			why := p.judge(c, true)
			verdicts = append(verdicts, Verdict{c, why})
			if len(why) == 0 {
				use = append(use, c)
			}
		}
		p.order(use)
		return use, verdicts
	}
	seen := map[int]bool{}
	for _, s := range specs {
		var mine []Candidate
		for i, c := range online {
			if !s.Matches(c, resolve) {
				continue
			}
			why := p.judge(c, false)
			if !seen[i] {
				seen[i] = true
				verdicts = append(verdicts, Verdict{c, why})
			}
			if len(why) == 0 {
				mine = append(mine, c)
			}
		}
		// The user's order between specs, the preferred order within one.
		p.order(mine)
		use = append(use, mine...)
	}
	return use, verdicts
}

// Matches tells whether an advertised server is the one a spec without a
// port names: by address, certificate serial, or host name (with or without
// .local, or through the name's addresses).
func (s Spec) Matches(c Candidate, resolve func(string) []netip.Addr) bool {
	switch {
	case s.Addr.IsValid():
		return sameAddr(s.Addr, c.Addr)
	case s.Serial != "":
		return s.Serial == c.Certinfo
	case s.Host != "":
		h := strings.TrimSuffix(strings.ToLower(s.Host), ".")
		ch := strings.TrimSuffix(strings.ToLower(c.Host), ".")
		if h == ch || h+".local" == ch || strings.TrimSuffix(ch, ".local") == h {
			return true
		}
		// A wide-area server by its name relative to its domain.
		if c.Domain != "" && h+"."+strings.ToLower(c.Domain) == ch {
			return true
		}
		if resolve != nil {
			for _, a := range resolve(s.Host) {
				if sameAddr(a, c.Addr) {
					return true
				}
			}
		}
	}
	return false
}

// sameAddr compares addresses; zones count only when both have one, as
// stap compares scope ids.
func sameAddr(a, b netip.Addr) bool {
	a, b = a.Unmap(), b.Unmap()
	if a.Zone() == "" || b.Zone() == "" {
		a, b = a.WithZone(""), b.WithZone("")
	}
	return a == b
}

// Order sorts by protocol version, highest first, then by SRV priority,
// lowest first (mDNS servers count as priority 0, as avahi publishes them),
// keeping the order of equals (stap's sort is not stable; ours is, so a
// listing is predictable).
func Order(cs []Candidate) {
	slices.SortStableFunc(cs, compareRank)
}

// SameRank tells whether a and b are equally good servers (same protocol
// version, same SRV priority): a fleet, ordered by the request's key.
func SameRank(a, b Candidate) bool { return compareRank(a, b) == 0 }

func compareRank(a, b Candidate) int {
	switch {
	case staprun.VersionLess(b.Version, a.Version):
		return -1
	case staprun.VersionLess(a.Version, b.Version):
		return 1
	}
	return cmp.Compare(a.Priority, b.Priority)
}

// Spread reorders each run of equally ranked candidates (as Order leaves
// them) so that many clients spread over many servers: by RFC 2782
// weighted random choice, or uniformly when the weights are all 0 (every
// mDNS server). The addresses of one advertisement stay together, in
// their order, and count once.
func Spread(cs []Candidate, intn func(int) int) {
	if intn == nil {
		intn = rand.IntN
	}
	for start := 0; start < len(cs); {
		end := start + 1
		for end < len(cs) && compareRank(cs[start], cs[end]) == 0 {
			end++
		}
		spreadRun(cs[start:end], intn)
		start = end
	}
}

func spreadRun(run []Candidate, intn func(int) int) {
	type group struct {
		weight int
		cs     []Candidate
	}
	var groups []*group
	index := map[string]*group{}
	for _, c := range run {
		k := c.Instance + "\x00" + c.Host + "\x00" + strconv.Itoa(int(c.Port)) + "\x00" + c.Domain
		g, ok := index[k]
		if !ok {
			g = &group{weight: int(c.Weight)}
			index[k] = g
			groups = append(groups, g)
		}
		g.cs = append(g.cs, c)
	}
	if len(groups) < 2 {
		return
	}
	out := run[:0:0]
	for len(groups) > 0 {
		sum := 0
		for _, g := range groups {
			sum += g.weight
		}
		pick := 0
		if sum == 0 {
			pick = intn(len(groups))
		} else {
			// Each with probability weight/sum (RFC 2782; a weight of 0
			// only once the others are gone).
			n, acc := intn(sum), 0
			for i, g := range groups {
				acc += g.weight
				if acc > n {
					pick = i
					break
				}
			}
		}
		out = append(out, groups[pick].cs...)
		groups = slices.Delete(groups, pick, pick+1)
	}
	copy(run, out)
}

// ResolveFunc adapts a LookupFunc for Select's host matching.
func ResolveFunc(ctx context.Context, lookup LookupFunc) func(string) []netip.Addr {
	return func(h string) []netip.Addr {
		if lookup == nil {
			return nil
		}
		addrs, err := lookup(ctx, h)
		if err != nil {
			return nil
		}
		return addrs
	}
}
