// SPDX-License-Identifier: GPL-2.0-or-later

package client

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"github.com/stap-client/stap-client/internal/certdb"
	"github.com/stap-client/stap-client/internal/discovery"
)

// listOrder is the fixed order stap applies --list-servers words in: the
// first present builds the list, each later one filters it.
var listOrder = []string{"all", "specified", "online", "trusted", "signer", "compatible"}

// listServers carries out each --list-servers value, as stap prints it (on
// stderr). It reports success.
func (r *run) listServers(ctx context.Context, release, arch string) bool {
	p := r.policy(ctx, release, arch)
	p.NeedSigner = false // a filter here only when asked for
	var online []discovery.Candidate
	browsed := false
	ok := true
	report := jsonReport{Version: 1}
	for _, spec := range r.inv.ListServers {
		if spec == "" {
			spec = "specified"
		}
		if spec == "specified" && len(nonEmpty(r.inv.Servers)) == 0 {
			spec = r.defaultSpec()
		}
		words := map[string]bool{}
		for _, w := range strings.Split(spec, ",") {
			switch w {
			case "all", "specified", "online", "trusted", "signer", "compatible":
				words[w] = true
			default:
				r.errf("WARNING: unsupported compile server property: %s", w)
			}
		}
		if !browsed && (words["all"] || words["online"] || words["specified"]) {
			var err error
			if online, err = r.discover(ctx, p, nil, false); err != nil {
				r.ours(err.Error(), nil)
				ok = false
			}
			browsed = true
		}
		list := r.buildList(ctx, words, online, p)
		discovery.Order(list)
		if r.inv.JSON {
			report.Queries = append(report.Queries, r.jsonQuery(spec, list, release, arch))
			continue
		}
		r.errf("Systemtap Compile Server Status for '%s'", spec)
		found := false
		for _, c := range list {
			if c.Certinfo == "" {
				continue // stap skips servers it knows no certificate of
			}
			if c.Domain != "" {
				// Found in DNS: say where (stap finds by mDNS only).
				r.errf("%s domain=%s", c.String(), c.Domain)
			} else {
				r.errf("%s", c.String())
			}
			found = true
		}
		if !found {
			r.errf("No servers found")
		}
	}
	if r.inv.JSON {
		enc := json.NewEncoder(r.env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			r.ours("writing the server list", err)
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
}

// jsonQuery describes one listing, judging each server against this run's
// needs (release, architecture, trust, signer).
func (r *run) jsonQuery(spec string, list []discovery.Candidate, release, arch string) jsonQuery {
	p := r.policy(context.Background(), release, arch)
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
		q.Servers = append(q.Servers, s)
	}
	return q
}

func (r *run) defaultSpec() string {
	if r.inv.PrivilegeLevel() != "stapdev" {
		return "online,trusted,compatible,signer"
	}
	return "online,trusted,compatible"
}

func nonEmpty(ss []string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// buildList applies the words in stap's order.
func (r *run) buildList(ctx context.Context, words map[string]bool, online []discovery.Candidate, p discovery.Policy) []discovery.Candidate {
	signers := p.Signers
	if signers == nil {
		signers = map[string]bool{}
		if db, err := certdb.Open(ctx, SignerDir); err == nil {
			for _, c := range db.Certs() {
				if c.X509 != nil {
					signers[certdb.Certinfo(c.X509)] = true
				}
			}
		}
	}
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
			list = r.specifiedList(ctx, online)
		case w == "specified":
			spec := r.specifiedList(ctx, online)
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
func (r *run) specifiedList(ctx context.Context, online []discovery.Candidate) []discovery.Candidate {
	resolve := discovery.ResolveFunc(ctx, r.env.Lookup)
	var out []discovery.Candidate
	for _, raw := range nonEmpty(r.inv.Servers) {
		s, err := discovery.ParseSpec(raw)
		if err != nil {
			r.errf("%s", err.Error())
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
