// SPDX-License-Identifier: GPL-2.0-or-later

// Package servers finds, lists and trusts compile servers for a run: the
// --server specs, discovery on the LAN (mDNS) and in DNS (DNS-SD), the
// one policy a run selects servers by (target, trust, signer, MOKs,
// staprun generation), stap's explanations when none fits, and the
// --list-servers and --trust-servers subcommands.
package servers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/stap-client/stap-client/internal/certdb"
	"github.com/stap-client/stap-client/internal/discovery"
	"github.com/stap-client/stap-client/internal/health"
	"github.com/stap-client/stap-client/internal/host"
	"github.com/stap-client/stap-client/internal/stapmsg"
	"github.com/stap-client/stap-client/internal/transport"
)

// Spec is one --server value, parsed once.
type Spec struct {
	discovery.Spec
	// Default is --use-server with no value: the default spec.
	Default bool
	Err     error
}

// ParseSpecs parses the --server values in the order given.
func ParseSpecs(raw []string) []Spec {
	out := make([]Spec, 0, len(raw))
	for _, r := range raw {
		if r == "" {
			out = append(out, Spec{Default: true})
			continue
		}
		s, err := discovery.ParseSpec(r)
		out = append(out, Spec{Spec: s, Err: err})
	}
	return out
}

// direct: a spec with a port (no serial) names the server itself.
func (s Spec) direct() bool {
	return s.Err == nil && !s.Default && s.FullySpecified() && s.Serial == ""
}

// Finder finds the servers of one run. Its fields are set once; it loads
// the trust stores, the signer database and the policy at most once.
type Finder struct {
	Out         *stapmsg.Printer
	Lookup      discovery.LookupFunc
	Browser     discovery.Browser // mDNS; nil: none
	ResolvConf  string            // for DNS-SD; "" browses only Domains
	DNSExchange discovery.ExchangeFunc
	LookupEnv   func(string) (string, bool)
	UID         int       // who must own private databases
	Stdin       io.Reader // --trust-servers' question
	Timeouts    transport.Timeouts

	Specs    []Spec
	Domains  []string      // besides resolv.conf's; the specs' are added
	Deadline time.Duration // discovery's
	// DeadlineErr is a bad deadline, reported when discovery would start.
	DeadlineErr error
	SSLDirs     []string
	Release     string
	Arch        string
	// Privilege is the level the module is built for.
	Privilege string
	MOKs      []string
	// Staprun's version ranks servers by generation when WantStaprun.
	Staprun     *host.Staprun
	WantStaprun bool
	// Health remembers servers that failed lately (nil: nothing is).
	Health *health.Memory

	stores       []certdb.Store
	signer       *certdb.DB
	signerOpened bool
	policy       *discovery.Policy
}

// Discovery timing: browse until a usable server is known plus grace for
// better-ordered ones, never longer than the deadline.
const (
	DefaultDeadline = 2 * time.Second
	// Responders answer a query 20-120 ms after it (RFC 6762 §6), so 100 ms
	// after the first usable answer the first query's answers are in.
	discoveryGrace = 100 * time.Millisecond
)

// browser is mDNS plus wide-area DNS-SD in the resolver's search domains,
// Domains and the domains of the names given with --server but no port;
// nil when there is nothing to browse.
func (f *Finder) browser() discovery.Browser {
	domains := append([]string(nil), f.Domains...)
	for _, s := range f.Specs {
		if s.Err != nil || s.Default || s.Port != 0 {
			continue
		}
		if _, parent, ok := strings.Cut(strings.TrimSuffix(s.Host, "."), "."); ok {
			domains = append(domains, parent)
		}
	}
	wide := discovery.Unicast{ResolvConf: f.ResolvConf, Domains: domains, Exchange: f.DNSExchange,
		Log: func(format string, a ...any) {
			f.Out.Logf(2, "%s: DNS-SD: "+format, append([]any{stapmsg.Prog}, a...)...)
		}}
	if f.Browser == nil {
		if f.ResolvConf == "" && len(domains) == 0 {
			return nil
		}
		return wide
	}
	return discovery.Multi{f.Browser, wide}
}

// Policy is what discovery must select for this run, made once.
func (f *Finder) Policy(ctx context.Context) discovery.Policy {
	if f.policy != nil {
		return *f.policy
	}
	p := discovery.Policy{Release: f.Release, Arch: f.Arch, Trusted: map[string]bool{}, Identities: map[string]string{}, MOKs: f.MOKs}
	if f.WantStaprun && f.Staprun != nil {
		p.Staprun = f.Staprun.Version(ctx, f.Out)
	}
	for _, s := range f.Stores(ctx) {
		for _, c := range s.TrustedCerts() {
			p.Trusted[certdb.Certinfo(c)] = true
			// A server is the same server across restarts and addresses:
			// its pinned certificate names it in the fleet's order.
			p.Identities[certdb.Certinfo(c)] = discovery.CertIdentity(c.Raw)
		}
	}
	if f.Privilege != "stapdev" {
		p.NeedSigner = true
		p.Signers = f.signerSet(ctx)
	}
	f.policy = &p
	return p
}

// signerDB is staprun's database, opened once (nil when it cannot be).
func (f *Finder) signerDB(ctx context.Context) *certdb.DB {
	if !f.signerOpened {
		f.signerOpened = true
		if db, err := certdb.Open(ctx, SignerDir); err == nil {
			f.signer = db
		}
	}
	return f.signer
}

// signerSet is every certificate in staprun's database: staprun trusts
// each as a module signer.
func (f *Finder) signerSet(ctx context.Context) map[string]bool {
	set := map[string]bool{}
	if db := f.signerDB(ctx); db != nil {
		for _, c := range db.Signers() {
			set[certdb.Certinfo(c)] = true
		}
	}
	return set
}

// Stores are this run's trust stores, loaded once, warning as they load.
func (f *Finder) Stores(ctx context.Context) []certdb.Store {
	if f.stores == nil {
		f.stores = certdb.Load(ctx, certdb.Locations(f.SSLDirs, f.LookupEnv), f.UID, func(w string) {
			f.Out.OurWarning("%s", w)
		})
		if f.stores == nil {
			f.stores = []certdb.Store{}
		}
	}
	return f.stores
}

// Candidates turns --server specs and, where needed, the servers found on
// the network into the candidates to try, in order, with stap's -vvv
// lines on what each spec names (printed by the caller, after "Using a
// compile server."). Equal servers found on the network are ordered for
// key, the request's (see Fleet). ErrNoServer: none fits, and why is
// printed already.
func (f *Finder) Candidates(ctx context.Context, key []byte) (use []discovery.Candidate, matching []string, err error) {
	var direct, named []discovery.Spec
	useDefault := len(f.Specs) == 0
	for _, s := range f.Specs {
		switch {
		case s.Default:
			useDefault = true
		case s.Err != nil:
			return nil, nil, s.Err
		case s.direct():
			direct = append(direct, s.Spec)
		default:
			named = append(named, s.Spec)
		}
	}
	if len(named) == 0 && !useDefault {
		use, err := discovery.Direct(ctx, direct, f.Lookup)
		if err != nil {
			return nil, nil, err
		}
		return use, f.matching(ctx, nil), nil
	}

	p := f.Policy(ctx)
	p.Key = key
	var specs []discovery.Spec
	if !useDefault {
		specs = named
	}
	online, err := f.discover(ctx, p, specs, true)
	if err != nil {
		return nil, nil, err
	}
	resolve := discovery.ResolveFunc(ctx, f.Lookup)
	use, verdicts := discovery.Select(online, specs, p, resolve)
	if useDefault && len(specs) == 0 && len(named) > 0 {
		more, v := discovery.Select(online, named, p, resolve)
		use, verdicts = append(use, more...), append(verdicts, v...)
	}
	use = f.fleet(ctx, p, use)
	// Servers given with a port come first, in the order given.
	first, err := discovery.Direct(ctx, direct, f.Lookup)
	if err != nil {
		return nil, nil, err
	}
	use = append(first, use...)
	if ctx.Err() != nil {
		return nil, nil, ctx.Err() // interrupted: the caller says so
	}
	if len(use) == 0 {
		f.explainNone(online, named, verdicts, p)
		return nil, nil, ErrNoServer
	}
	return use, f.matching(ctx, online), nil
}

// matching is stap's -vvv lines on what each --server spec names, in the
// order given: the addresses of one with a port, the servers found on the
// network that match one without.
func (f *Finder) matching(ctx context.Context, online []discovery.Candidate) []string {
	if f.Out.Verbose < 3 {
		return nil
	}
	specs := f.Specs
	if len(specs) == 0 {
		specs = []Spec{{Default: true}}
	}
	resolve := discovery.ResolveFunc(ctx, f.Lookup)
	var lines []string
	for _, s := range specs {
		if s.Default {
			lines = append(lines, "No servers specified")
			continue
		}
		if s.Err != nil {
			continue
		}
		var cands []discovery.Candidate
		if s.direct() {
			cands, _ = discovery.Direct(ctx, []discovery.Spec{s.Spec}, f.Lookup)
		} else {
			for _, c := range online {
				if s.Matches(c, resolve) {
					cands = append(cands, c)
				}
			}
		}
		lines = append(lines, fmt.Sprintf("Servers matching %s: ", s.Raw), discovery.Listing(cands))
	}
	return lines
}

// ErrNoServer: no server fits; the reasons are printed already.
var ErrNoServer = errors.New("no suitable compile server")

// discover browses mDNS until something usable is known or the deadline.
func (f *Finder) discover(ctx context.Context, p discovery.Policy, specs []discovery.Spec, early bool) ([]discovery.Candidate, error) {
	if f.DeadlineErr != nil {
		return nil, f.DeadlineErr
	}
	deadline := f.Deadline
	if deadline <= 0 {
		deadline = DefaultDeadline
	}
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	resolve := discovery.ResolveFunc(ctx, f.Lookup)
	ready := func(s []discovery.Service) bool {
		use, _ := discovery.Select(discovery.Candidates(s), specs, p, resolve)
		return p.Preferred(use)
	}
	if !early {
		ready = nil // a listing waits for every answer
	}
	b := f.browser()
	if b == nil {
		return nil, nil
	}
	start := time.Now()
	svcs, err := discovery.Collect(ctx, b, ready, discoveryGrace)
	if err != nil {
		// No multicast (no interface, port 5353 held exclusively...): one
		// line, then go on; servers given with a port still work.
		f.Out.OurWarning("servers cannot be found on the network: %v; give --server=HOST:PORT", err)
		return nil, nil
	}
	online := discovery.Candidates(svcs)
	f.Out.Logf(2, "%s: found %d server address(es) on the network in %d ms", stapmsg.Prog, len(online), time.Since(start).Milliseconds())
	return online, nil
}

// explainNone prints stap's lines, then why each server was passed over.
func (f *Finder) explainNone(online []discovery.Candidate, named []discovery.Spec, verdicts []discovery.Verdict, p discovery.Policy) {
	f.Out.Errf("Unable to find a suitable compile server.  [man stap-server]")
	if len(online) == 0 {
		f.Out.Errf("No servers online to select from.")
		return
	}
	f.Out.Errf("The following servers are online:")
	f.Out.Errf("%s", discovery.Listing(online))
	if len(named) > 0 {
		f.Out.Errf("The following servers were requested:")
		var req []discovery.Candidate
		for _, s := range named {
			req = append(req, discovery.Candidate{Host: s.Host, Addr: s.Addr, Port: s.Port, Certinfo: s.Serial})
		}
		f.Out.Errf("%s", discovery.Listing(req))
	} else {
		f.Out.Errf("No servers matched the selection criteria of %s.", p.DefaultCriteria())
		if len(p.MOKs) > 0 {
			f.Out.Errf("Consider removing the local MOK to associate with a new server")
			f.Out.Errf("# sudo mokutil --list-enrolled")
			f.Out.Errf("# sudo mokutil --export / --delete  OR  --reset")
		}
	}
	for _, v := range verdicts {
		if len(v.Reasons) > 0 {
			f.Out.Errf("%s: server%s: %s", stapmsg.Prog, v.String(), strings.Join(v.Reasons, "; "))
		}
	}
}
