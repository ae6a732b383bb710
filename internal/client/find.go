// SPDX-License-Identifier: GPL-2.0-or-later

package client

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stap-client/stap-client/internal/certdb"
	"github.com/stap-client/stap-client/internal/discovery"
)

// Discovery timing: browse until a usable server is known plus grace for
// better-ordered ones, never longer than the deadline.
const (
	defaultDiscoveryDeadline = 2 * time.Second
	// Responders answer a query 20-120 ms after it (RFC 6762 §6), so 100 ms
	// after the first usable answer the first query's answers are in.
	discoveryGrace = 100 * time.Millisecond
	// DiscoveryTimeoutEnv overrides the deadline ("3s", "500ms", or seconds).
	DiscoveryTimeoutEnv = "STAP_CLIENT_DISCOVERY_TIMEOUT"
	// DiscoveryDomainsEnv adds DNS domains to browse, as --find-domains.
	DiscoveryDomainsEnv = "STAP_CLIENT_DISCOVERY_DOMAINS"
)

// browser is mDNS plus wide-area DNS-SD in the resolver's search domains,
// --find-domains (else the environment) and the domains of the names
// given with --server but no port; nil when there is nothing to browse.
func (r *run) browser() discovery.Browser {
	list := r.inv.DiscoveryDomains
	if len(list) == 0 {
		if v, ok := r.env.LookupEnv(DiscoveryDomainsEnv); ok {
			list = []string{v}
		}
	}
	var domains []string
	for _, v := range list {
		domains = append(domains, strings.FieldsFunc(v, func(c rune) bool { return c == ',' || c == ' ' })...)
	}
	for _, raw := range r.inv.Servers {
		s, err := discovery.ParseSpec(raw)
		if err != nil || s.Port != 0 {
			continue
		}
		if _, parent, ok := strings.Cut(strings.TrimSuffix(s.Host, "."), "."); ok {
			domains = append(domains, parent)
		}
	}
	wide := discovery.Unicast{ResolvConf: r.env.ResolvConf, Domains: domains, Exchange: r.env.DNSExchange,
		Log: func(f string, a ...any) { r.logf(2, "%s: DNS-SD: "+f, append([]any{Prog}, a...)...) }}
	if r.env.Browser == nil {
		if r.env.ResolvConf == "" && len(domains) == 0 {
			return nil
		}
		return wide
	}
	return discovery.Multi{r.env.Browser, wide}
}

// discoveryDeadline: --find-timeout, else the environment, else 2 s.
func (r *run) discoveryDeadline() (time.Duration, error) {
	v, ok := r.inv.DiscoveryTimeout, r.inv.DiscoveryTimeout != ""
	if !ok {
		v, ok = r.env.LookupEnv(DiscoveryTimeoutEnv)
	}
	if !ok || v == "" {
		return defaultDiscoveryDeadline, nil
	}
	if d, ok := parseDuration(v); ok {
		return d, nil
	}
	return 0, fmt.Errorf("discovery timeout %q is not a duration (e.g. 2s or 0.5)", v)
}

// parseDuration takes a Go duration ("3s", "500ms") or a number of seconds.
func parseDuration(v string) (time.Duration, bool) {
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return d, true
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 {
		return time.Duration(f * float64(time.Second)), true
	}
	return 0, false
}

// policy is what discovery must select for this run.
func (r *run) policy(ctx context.Context, release, arch string) discovery.Policy {
	p := discovery.Policy{Release: release, Arch: arch, Trusted: map[string]bool{}, MOKs: r.moks}
	if r.reachesPass5() || len(r.inv.ListServers) > 0 {
		p.Staprun = r.staprunVersion(ctx)
	}
	for _, s := range r.trustStores(ctx) {
		for _, c := range s.TrustedCerts() {
			p.Trusted[certdb.Certinfo(c)] = true
		}
	}
	if r.inv.PrivilegeLevel() != "stapdev" {
		p.NeedSigner = true
		p.Signers = map[string]bool{}
		// staprun trusts every certificate in its database as a signer.
		if db, err := certdb.Open(ctx, SignerDir); err == nil {
			for _, c := range db.Certs() {
				if c.X509 != nil {
					p.Signers[certdb.Certinfo(c.X509)] = true
				}
			}
		}
	}
	return p
}

// trustStores loads the trust stores once per run, warning as it goes.
func (r *run) trustStores(ctx context.Context) []certdb.Store {
	if r.stores == nil {
		r.stores = certdb.Load(ctx, certdb.Locations(r.inv.SSLDirs, r.env.LookupEnv), r.env.UID, func(w string) {
			r.errf("%s: WARNING: %s", Prog, w)
		})
		if r.stores == nil {
			r.stores = []certdb.Store{}
		}
	}
	return r.stores
}

// servers turns --server specs and, where needed, mDNS answers into the
// candidates to try, in order.
func (r *run) servers(ctx context.Context, release, arch string) ([]discovery.Candidate, error) {
	var direct, named []discovery.Spec
	for _, raw := range r.inv.Servers {
		if raw == "" {
			continue // --use-server with no value: the default spec
		}
		s, err := discovery.ParseSpec(raw)
		if err != nil {
			return nil, err
		}
		if s.FullySpecified() && s.Serial == "" {
			direct = append(direct, s)
		} else {
			named = append(named, s)
		}
	}
	useDefault := len(r.inv.Servers) == 0 || len(direct)+len(named) < len(r.inv.Servers)
	if len(named) == 0 && !useDefault {
		use, err := discovery.Direct(ctx, direct, r.env.Lookup)
		if err == nil {
			r.noteMatching(ctx, nil)
		}
		return use, err
	}

	p := r.policy(ctx, release, arch)
	var specs []discovery.Spec
	if !useDefault {
		specs = named
	}
	online, err := r.discover(ctx, p, specs, true)
	if err != nil {
		return nil, err
	}
	resolve := discovery.ResolveFunc(ctx, r.env.Lookup)
	use, verdicts := discovery.Select(online, specs, p, resolve)
	if useDefault && len(specs) == 0 && len(named) > 0 {
		more, v := discovery.Select(online, named, p, resolve)
		use, verdicts = append(use, more...), append(verdicts, v...)
	}
	// Servers given with a port come first, in the order given.
	first, err := discovery.Direct(ctx, direct, r.env.Lookup)
	if err != nil {
		return nil, err
	}
	use = append(first, use...)
	if ctx.Err() != nil {
		return nil, ctx.Err() // interrupted: compile says so
	}
	if len(use) == 0 {
		r.explainNone(online, named, verdicts, p)
		return nil, errNoServer
	}
	r.noteMatching(ctx, online)
	return use, nil
}

// noteMatching keeps stap's -vvv lines on what each --server spec names, in
// the order given: the addresses of one with a port, the servers found on
// the network that match one without.
func (r *run) noteMatching(ctx context.Context, online []discovery.Candidate) {
	if r.verbose < 3 {
		return
	}
	specs := r.inv.Servers
	if len(specs) == 0 {
		specs = []string{""}
	}
	resolve := discovery.ResolveFunc(ctx, r.env.Lookup)
	for _, raw := range specs {
		if raw == "" {
			r.matching = append(r.matching, "No servers specified")
			continue
		}
		s, err := discovery.ParseSpec(raw)
		if err != nil {
			continue
		}
		var cands []discovery.Candidate
		if s.FullySpecified() && s.Serial == "" {
			cands, _ = discovery.Direct(ctx, []discovery.Spec{s}, r.env.Lookup)
		} else {
			for _, c := range online {
				if s.Matches(c, resolve) {
					cands = append(cands, c)
				}
			}
		}
		r.matching = append(r.matching, fmt.Sprintf("Servers matching %s: ", raw), listing(cands))
	}
}

// errNoServer: the reasons are printed already.
var errNoServer = errors.New("no suitable compile server")

// discover browses mDNS until something usable is known or the deadline.
func (r *run) discover(ctx context.Context, p discovery.Policy, specs []discovery.Spec, early bool) ([]discovery.Candidate, error) {
	deadline, err := r.discoveryDeadline()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	resolve := discovery.ResolveFunc(ctx, r.env.Lookup)
	ready := func(s []discovery.Service) bool {
		use, _ := discovery.Select(discovery.Candidates(s), specs, p, resolve)
		return p.Preferred(use)
	}
	if !early {
		ready = nil // a listing waits for every answer
	}
	b := r.browser()
	if b == nil {
		return nil, nil
	}
	start := time.Now()
	svcs, err := discovery.Collect(ctx, b, ready, discoveryGrace)
	if err != nil {
		// No multicast (no interface, port 5353 held exclusively...): one
		// line, then go on; servers given with a port still work.
		r.errf("%s: WARNING: servers cannot be found on the network: %v; give --server=HOST:PORT", Prog, err)
		return nil, nil
	}
	online := discovery.Candidates(svcs)
	r.logf(2, "%s: found %d server address(es) on the network in %d ms", Prog, len(online), time.Since(start).Milliseconds())
	return online, nil
}

// explainNone prints stap's lines, then why each server was passed over.
func (r *run) explainNone(online []discovery.Candidate, named []discovery.Spec, verdicts []discovery.Verdict, p discovery.Policy) {
	r.errf("Unable to find a suitable compile server.  [man stap-server]")
	if len(online) == 0 {
		r.errf("No servers online to select from.")
		return
	}
	r.errf("The following servers are online:")
	r.errf("%s", listing(online))
	if len(named) > 0 {
		r.errf("The following servers were requested:")
		var req []discovery.Candidate
		for _, s := range named {
			req = append(req, discovery.Candidate{Host: s.Host, Addr: s.Addr, Port: s.Port, Certinfo: s.Serial})
		}
		r.errf("%s", listing(req))
	} else {
		r.errf("No servers matched the selection criteria of %s.", p.DefaultCriteria())
		if len(p.MOKs) > 0 {
			r.errf("Consider removing the local MOK to associate with a new server")
			r.errf("# sudo mokutil --list-enrolled")
			r.errf("# sudo mokutil --export / --delete  OR  --reset")
		}
	}
	for _, v := range verdicts {
		if len(v.Reasons) > 0 {
			r.errf("%s: server%s: %s", Prog, v.String(), strings.Join(v.Reasons, "; "))
		}
	}
}
