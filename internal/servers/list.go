// SPDX-License-Identifier: GPL-2.0-or-later

package servers

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/stap-client/stap-client/internal/discovery"
)

// listOrder is the fixed order stap applies --list-servers words in: the
// first present builds the list, each later one filters it.
var listOrder = []string{"all", "specified", "online", "trusted", "signer", "compatible"}

// List carries out each --list-servers value, as stap prints it (on
// stderr), or as JSON on w. It reports success.
//
// With key, the request's (a script given with the listing), equal servers
// are listed in the order the request would try them, with their scores.
func (f *Finder) List(ctx context.Context, values []string, asJSON bool, w io.Writer, key []byte) bool {
	judge := f.Policy(ctx)
	judge.Key = key
	p := judge
	p.NeedSigner = false // a filter here only when asked for
	var online []discovery.Candidate
	browsed := false
	ok := true
	report := jsonReport{Version: 1}
	for _, spec := range values {
		if spec == "" {
			spec = "specified"
		}
		if spec == "specified" && !f.anySpec() {
			spec = f.defaultSpec()
		}
		words := map[string]bool{}
		for _, w := range strings.Split(spec, ",") {
			switch w {
			case "all", "specified", "online", "trusted", "signer", "compatible":
				words[w] = true
			default:
				f.Out.Errf("WARNING: unsupported compile server property: %s", w)
			}
		}
		if !browsed && (words["all"] || words["online"] || words["specified"]) {
			var err error
			if online, err = f.discover(ctx, p, nil, false); err != nil {
				f.Out.Ours(err.Error(), nil)
				ok = false
			}
			browsed = true
		}
		list := f.buildList(ctx, words, online, p)
		discovery.Order(list)
		if key != nil {
			judge.Rendezvous(list)
		}
		if asJSON {
			report.Queries = append(report.Queries, jsonQueryOf(judge, spec, list))
			continue
		}
		f.Out.Errf("Systemtap Compile Server Status for '%s'", spec)
		found := false
		for _, c := range list {
			if c.Certinfo == "" {
				continue // stap skips servers it knows no certificate of
			}
			if c.Domain != "" {
				// Found in DNS: say where (stap finds by mDNS only).
				f.Out.Errf("%s domain=%s", c.String(), c.Domain)
			} else {
				f.Out.Errf("%s", c.String())
			}
			found = true
		}
		if !found {
			f.Out.Errf("No servers found")
		}
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			f.Out.Ours("writing the server list", err)
			return false
		}
	}
	return ok
}

// jsonReport is --list-servers --json; Version changes when fields change
// meaning (new fields may be added without it).
type jsonReport struct {
	Version int         `json:"version"`
	Queries []jsonQuery `json:"queries"`
}

type jsonQuery struct {
	Spec    string       `json:"spec"`
	Servers []jsonServer `json:"servers"`
}

type jsonServer struct {
	Instance        string   `json:"instance,omitempty"`
	Host            string   `json:"host,omitempty"`
	Address         string   `json:"address,omitempty"`
	Port            uint16   `json:"port,omitempty"`
	Sysinfo         string   `json:"sysinfo,omitempty"`
	Version         string   `json:"version,omitempty"`
	Certinfo        string   `json:"certinfo,omitempty"`
	MOKFingerprints []string `json:"mok_fingerprints,omitempty"`
	// Source is where it was found: "mdns", or "dns" in Domain (with its
	// SRV priority and weight); none when known only from a database.
	Source   string `json:"source,omitempty"`
	Domain   string `json:"domain,omitempty"`
	Priority uint16 `json:"srv_priority,omitempty"`
	Weight   uint16 `json:"srv_weight,omitempty"`
	// Usable: this run would use it with the default spec; else Rejections
	// say why not.
	Usable     bool     `json:"usable"`
	Rejections []string `json:"rejections,omitempty"`
	// Generation: its modules are for a staprun of the other side of
	// systemtap 5.0 than the local one (tried last; pass 5 stops).
	Generation string `json:"generation,omitempty"`
	// Score is its rendezvous score for the request given with the listing
	// (equal servers are tried highest first); none without a script.
	Score float64 `json:"score,omitempty"`
}

// jsonQueryOf describes one listing, judging each server against this run's
// needs p (release, architecture, trust, signer).
func jsonQueryOf(p discovery.Policy, spec string, list []discovery.Candidate) jsonQuery {
	q := jsonQuery{Spec: spec, Servers: []jsonServer{}}
	for _, c := range list {
		s := jsonServer{Instance: c.Instance, Host: c.Host, Port: c.Port, Sysinfo: c.Sysinfo, Version: c.Version, Certinfo: c.Certinfo, MOKFingerprints: c.MOKs}
		if c.Addr.IsValid() {
			s.Address = c.Addr.String()
			s.Source = "mdns"
			if c.Domain != "" {
				s.Source, s.Domain, s.Priority, s.Weight = "dns", c.Domain, c.Priority, c.Weight
			}
		} else {
			s.Rejections = append(s.Rejections, "offline: known only from a certificate database")
		}
		s.Rejections = append(s.Rejections, p.Reasons(c)...)
		s.Usable = len(s.Rejections) == 0
		s.Generation = p.GenerationNote(c)
		s.Score = c.Score
		q.Servers = append(q.Servers, s)
	}
	return q
}

func (f *Finder) defaultSpec() string {
	if f.Privilege != "stapdev" {
		return "online,trusted,compatible,signer"
	}
	return "online,trusted,compatible"
}

// anySpec: some --server names a server (not only the default spec).
func (f *Finder) anySpec() bool {
	for _, s := range f.Specs {
		if !s.Default {
			return true
		}
	}
	return false
}

// buildList applies the words in stap's order.
func (f *Finder) buildList(ctx context.Context, words map[string]bool, online []discovery.Candidate, p discovery.Policy) []discovery.Candidate {
	signers := f.signerSet(ctx)
	// Known only from a database: a certificate serial and nothing else.
	known := func(set map[string]bool) []discovery.Candidate {
		var out []discovery.Candidate
		for _, serial := range slices.Sorted(maps.Keys(set)) {
			seen := false
			for _, c := range online {
				if c.Certinfo == serial {
					out, seen = append(out, c), true
				}
			}
			if !seen {
				out = append(out, discovery.Candidate{Certinfo: serial})
			}
		}
		return out
	}
	var list []discovery.Candidate
	built := false
	keep := func(f func(discovery.Candidate) bool) {
		var out []discovery.Candidate
		for _, c := range list {
			if f(c) {
				out = append(out, c)
			}
		}
		list = out
	}
	for _, w := range listOrder {
		if !words[w] {
			continue
		}
		switch {
		case w == "all":
			list = append(append(append([]discovery.Candidate{}, online...), onlyOffline(known(p.Trusted))...), onlyOffline(known(signers))...)
		case w == "specified" && !built:
			list = f.specifiedList(ctx, online)
		case w == "specified":
			spec := f.specifiedList(ctx, online)
			keep(func(c discovery.Candidate) bool { return contains(spec, c) })
		case w == "online" && !built:
			list = online
		case w == "online":
			keep(func(c discovery.Candidate) bool { return c.Addr.IsValid() && contains(online, c) })
		case w == "trusted" && !built:
			list = known(p.Trusted)
		case w == "trusted":
			keep(func(c discovery.Candidate) bool { return p.Trusted[c.Certinfo] })
		case w == "signer" && !built:
			list = known(signers)
		case w == "signer":
			keep(func(c discovery.Candidate) bool { return signers[c.Certinfo] })
		case w == "compatible":
			if !built {
				list = online
			}
			keep(p.Compatible)
		}
		built = true
	}
	return list
}

func onlyOffline(cs []discovery.Candidate) []discovery.Candidate {
	var out []discovery.Candidate
	for _, c := range cs {
		if !c.Addr.IsValid() {
			out = append(out, c)
		}
	}
	return out
}

func contains(list []discovery.Candidate, c discovery.Candidate) bool {
	for _, x := range list {
		if x.Addr == c.Addr && x.Port == c.Port && x.Certinfo == c.Certinfo {
			return true
		}
	}
	return false
}

// specifiedList: the online servers each --server names (with a port: the
// one at that address and port).
func (f *Finder) specifiedList(ctx context.Context, online []discovery.Candidate) []discovery.Candidate {
	resolve := discovery.ResolveFunc(ctx, f.Lookup)
	var out []discovery.Candidate
	for _, s := range f.Specs {
		if s.Default {
			continue
		}
		if s.Err != nil {
			f.Out.Errf("%s", s.Err.Error())
			continue
		}
		for _, c := range online {
			if s.Matches(c, resolve) && (s.Port == 0 || s.Port == c.Port) {
				out = append(out, c)
			}
		}
	}
	return out
}
