// SPDX-License-Identifier: GPL-2.0-or-later

package servers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stap-client/stap-client/internal/discovery"
	"github.com/stap-client/stap-client/internal/health"
	"github.com/stap-client/stap-client/internal/stapmsg"
	"github.com/stap-client/stap-client/internal/transport"
)

// A fleet of equal servers is used so that the same request meets the
// same server, and its warm cache, from every machine: among equals,
// discovery orders servers by their rendezvous score for the request's
// key (discovery.Policy.Rendezvous). A server that failed in the last
// minute is tried after the healthy ones, so a dead favourite does not
// cost every run its stagger; a success puts it back in its place.

// fleet passes over the servers that failed lately and, at -v, says the
// order the request's key gave equal servers and why a server was moved.
func (f *Finder) fleet(ctx context.Context, p discovery.Policy, use []discovery.Candidate) []discovery.Candidate {
	if p.Key != nil && f.Out.Verbose >= 1 {
		for _, line := range fleetOrder(use) {
			f.Out.Errf("%s: order of equal servers for this request: %s", stapmsg.Prog, line)
		}
	}
	if f.Health == nil || len(use) < 2 {
		return use
	}
	now := time.Now()
	recent, err := f.Health.Recent(ctx, now)
	if err != nil {
		f.Out.Logf(2, "%s: the record of failed servers cannot be read: %v", stapmsg.Prog, err)
	}
	use, why := health.PassOver(use, endpoint(p), recent, now)
	for i, c := range use {
		if why[i] != "" {
			f.Out.Logf(1, "%s: server%s: passed over first: %s", stapmsg.Prog, c.String(), why[i])
		}
	}
	return use
}

// fleetOrder describes each run of equal servers (two or more) in the
// order their scores gave, each server once.
func fleetOrder(use []discovery.Candidate) []string {
	var lines []string
	for start := 0; start < len(use); {
		end := start + 1
		for end < len(use) && discovery.SameRank(use[start], use[end]) {
			end++
		}
		var names []string
		seen := map[string]bool{}
		for _, c := range use[start:end] {
			if l := c.Label(); !seen[l] {
				seen[l] = true
				names = append(names, fmt.Sprintf("%s (score %.3g)", l, c.Score))
			}
		}
		if len(names) > 1 {
			lines = append(lines, strings.Join(names, ", "))
		}
		start = end
	}
	return lines
}

// Heard is told how each server the exchange tried fared (err nil: it
// answered); it remembers the servers that were not there or did not
// answer, and forgets them once they answer.
func (f *Finder) Heard(ctx context.Context) func(c discovery.Candidate, err error) {
	if f.Health == nil {
		return nil
	}
	id := endpoint(f.Policy(ctx))
	return func(c discovery.Candidate, err error) {
		id, now := id(c), time.Now()
		var e error
		if err == nil {
			e = f.Health.Clear(ctx, id, now)
		} else if kind := healthKind(err); kind != "" {
			e = f.Health.Record(ctx, id, kind, now)
		}
		if e != nil {
			f.Out.Logf(2, "%s: the record of failed servers cannot be written: %v", stapmsg.Prog, e)
		}
	}
}

// endpoint names what failed: the server (by its certificate, as the
// fleet order knows it) at one address and port, so a server down at one
// address is not passed over at another.
func endpoint(p discovery.Policy) func(discovery.Candidate) string {
	return func(c discovery.Candidate) string { return p.Identity(c) + "@" + c.AddrPort() }
}

// healthKind is what a failure says of the server's health: "" for a
// certificate, protocol or reply problem, or an interrupt.
func healthKind(err error) string {
	var te *transport.Error
	if !errors.As(err, &te) {
		return ""
	}
	switch te.Kind {
	case transport.KindConnect:
		return health.Refused
	case transport.KindReset:
		if te.Bytes == 0 {
			return health.Reset
		}
	case transport.KindTimeout:
		return health.TimedOut
	}
	return ""
}
