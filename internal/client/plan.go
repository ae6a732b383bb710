// SPDX-License-Identifier: GPL-2.0-or-later

package client

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stap-client/stap-client/internal/cache"
	"github.com/stap-client/stap-client/internal/health"
	"github.com/stap-client/stap-client/internal/host"
	"github.com/stap-client/stap-client/internal/request"
	"github.com/stap-client/stap-client/internal/response"
	"github.com/stap-client/stap-client/internal/servers"
	"github.com/stap-client/stap-client/internal/stapargs"
	"github.com/stap-client/stap-client/internal/stapmsg"
)

// The environment variables of stap-client's own; the plan reads them all.
const (
	// DiscoveryTimeoutEnv overrides discovery's deadline ("3s", "500ms",
	// or seconds), as --find-timeout.
	DiscoveryTimeoutEnv = "STAP_CLIENT_DISCOVERY_TIMEOUT"
	// DiscoveryDomainsEnv adds DNS domains to browse, as --find-domains.
	DiscoveryDomainsEnv = "STAP_CLIENT_DISCOVERY_DOMAINS"
	// ConnectTimeoutEnv overrides how long the connection phase may last
	// in all (every server, every try): transport.DefaultTimeouts.Bound.
	ConnectTimeoutEnv = "STAP_CLIENT_CONNECT_TIMEOUT"
)

// Credentials are the user's privilege levels (host.Credentials).
type Credentials = host.Credentials

// plan is what a run will do, decided once from the command line and the
// environment before anything runs; nothing changes it afterwards.
type plan struct {
	// inv is the command line with stap's own decisions applied: the
	// privilege chosen for a user without stapdev, and last pass 4 for
	// another host's kernel. It is a copy: the parse stays as parsed.
	inv *stapargs.Invocation
	// release and arch are the target kernel's (targetErr: unknown);
	// forcedP4: it is not this host's, so pass 5 is not run.
	release, arch string
	targetErr     error
	forcedP4      bool
	// autoMsgs explain the privilege and server mode stap chose by itself;
	// autoServer is that server mode, which shows "Using a compile server.".
	autoMsgs   []string
	autoServer bool
	// moks are the MOK fingerprints sent when the host loads only signed
	// modules (nil otherwise).
	moks []string
	// specs are the --server values, parsed.
	specs []servers.Spec
	// Bounds and budgets from the environment; limitsErr reports a bad one
	// when compiling, deadlineErr when discovery starts.
	budget      int64
	bound       time.Duration
	limitsErr   error
	deadline    time.Duration
	deadlineErr error
	domains     []string
	staprun     *host.Staprun
}

// makePlan decides the run. It reports false, having said why, when the
// run must end with exit 1.
func makePlan(env Env, parsed *stapargs.Invocation, out *stapmsg.Printer) (*plan, bool) {
	inv := *parsed
	inv.ServerArgs = slices.Clone(parsed.ServerArgs)
	p := &plan{inv: &inv, specs: servers.ParseSpecs(inv.Servers), staprun: host.StaprunOf(env.LookupEnv)}
	if !p.adjustPrivilege(env, out) {
		return nil, false
	}
	p.secureBoot(env, out)
	p.release, p.arch, p.targetErr = request.Target(env.Host, inv.Release, inv.Arch)
	native := p.release == env.Host.Release && p.arch == request.NormalizeArch(env.Host.Machine)
	if p.targetErr == nil && inv.LastPass > 4 && !native {
		p.forcedP4 = true
		inv.LastPass = 4
	}
	p.readEnv(env)
	return p, true
}

// reachesPass5 tells whether the run loads the module locally, which is
// when the generations of server and staprun must match.
func (p *plan) reachesPass5() bool {
	return p.inv.LastPass > 4 && p.inv.HaveScript
}

// adjustPrivilege is stap's check_options step for pass 5: a user without
// stapdev who gave no privilege compiles at the level held (added to the
// server's arguments), and a user with none is told so.
func (p *plan) adjustPrivilege(env Env, out *stapmsg.Printer) bool {
	inv := p.inv
	if inv.LastPass <= 4 || !inv.HaveScript || inv.Runtime != "kernel" {
		return true
	}
	creds := Credentials{Stapdev: true, Stapsys: true, Stapusr: true}
	if env.Credentials != nil {
		creds = env.Credentials()
	}
	if !inv.PrivilegeSet && !creds.Stapdev {
		switch {
		case creds.Stapsys:
			inv.Privilege = "stapsys"
			inv.ServerArgs = append(inv.ServerArgs, "--privilege=stapsys")
			p.autoMsgs = append(p.autoMsgs, "--privilege=stapsys was automatically selected because you are a member of the groups stapusr and stapsys.  [man stap]")
		case creds.Stapusr:
			inv.Privilege = "stapusr"
			inv.ServerArgs = append(inv.ServerArgs, "--privilege=stapusr")
			p.autoMsgs = append(p.autoMsgs, "--privilege=stapusr was automatically selected because you are a member of the group stapusr.  [man stap]")
		default:
			fmt.Fprint(out.Writer(), "You are trying to run systemtap as a normal user.\n"+
				"You should either be root, or be part of the group \"stapusr\" and possibly one of the groups \"stapsys\" or \"stapdev\".  [man stap]\n")
			usageHint(out)
			return false
		}
	}
	if !creds.Stapdev {
		p.autoServer = true
		p.autoMsgs = append(p.autoMsgs,
			fmt.Sprintf("For users with the privilege level %s, the module created by compiling your script must be signed by a trusted systemtap compile-server.  [man stap-server]", creds.Name()),
			"--use-server was automatically selected in order to request compilation by a compile-server.")
	}
	if inv.Guru && inv.PrivilegeLevel() != "stapdev" {
		out.Errf("You can't specify -g and --privilege=%s together.", inv.PrivilegeLevel())
		usageHint(out)
		return false
	}
	return true
}

// secureBoot is stap's step for hosts that load only signed modules (last
// pass 4 or 5, kernel runtime): the enrolled Systemtap MOKs to send.
func (p *plan) secureBoot(env Env, out *stapmsg.Printer) {
	if p.inv.LastPass < 4 || p.inv.Runtime != "kernel" {
		return
	}
	required, fps := host.MOKs(env.Root, env.LookupEnv, out)
	if !required {
		return
	}
	p.autoServer = true
	p.autoMsgs = append(p.autoMsgs,
		"The kernel on your system requires modules to be signed for loading.\n"+
			"The module created by compiling your script must be signed by a systemtap compile-server.  [man stap-server]",
		"--use-server was automatically selected in order to request compilation by a compile-server.")
	p.moks = fps
}

// readEnv reads stap-client's own variables, with the options that
// override them.
func (p *plan) readEnv(env Env) {
	p.budget, p.limitsErr = response.DefaultMaxReply, nil
	if v := env.getenv(response.MaxReplyEnv); v != "" {
		n, err := response.ParseSize(v)
		if err != nil {
			p.limitsErr = fmt.Errorf("%s: %w", response.MaxReplyEnv, err)
		}
		p.budget = n
	}
	p.bound = env.Timeouts.Bound
	if v := env.getenv(ConnectTimeoutEnv); v != "" && p.limitsErr == nil {
		d, ok := parseDuration(v)
		if !ok {
			p.limitsErr = fmt.Errorf("%s=%q is not a duration (e.g. 10m, 30s or 90)", ConnectTimeoutEnv, v)
		}
		p.bound = d
	}
	v, ok := p.inv.DiscoveryTimeout, p.inv.DiscoveryTimeout != ""
	if !ok {
		v, ok = env.lookup(DiscoveryTimeoutEnv)
	}
	p.deadline = servers.DefaultDeadline
	if ok && v != "" {
		d, ok := parseDuration(v)
		if !ok {
			p.deadlineErr = fmt.Errorf("discovery timeout %q is not a duration (e.g. 2s or 0.5)", v)
		}
		p.deadline = d
	}
	list := p.inv.DiscoveryDomains
	if len(list) == 0 {
		if v, ok := env.lookup(DiscoveryDomainsEnv); ok {
			list = []string{v}
		}
	}
	for _, v := range list {
		p.domains = append(p.domains, strings.FieldsFunc(v, func(c rune) bool { return c == ',' || c == ' ' })...)
	}
}

// request makes the request for the server (and the cache key).
func (p *plan) request(env Env) (*request.Request, error) {
	return request.Build(request.Spec{
		Release: p.release, Arch: p.arch,
		Script: p.inv.Script, Stdin: env.Stdin,
		TapsetDirs: p.inv.TapsetDirs, ServerArgs: p.inv.ServerArgs, ScriptArgs: p.inv.ScriptArgs,
		Cwd: env.Cwd, LookupEnv: env.LookupEnv, MOKFingerprints: p.moks,
	})
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

// finder is how this run finds, lists and trusts servers.
func (p *plan) finder(env Env, out *stapmsg.Printer) *servers.Finder {
	f := &servers.Finder{
		Out: out, Lookup: env.Lookup, Browser: env.Browser, ResolvConf: env.ResolvConf,
		DNSExchange: env.DNSExchange, LookupEnv: env.LookupEnv, UID: env.UID, Stdin: env.Stdin,
		Timeouts: env.Timeouts,
		Specs:    p.specs, Domains: p.domains, Deadline: p.deadline, DeadlineErr: p.deadlineErr,
		SSLDirs: p.inv.SSLDirs, Release: p.release, Arch: p.arch,
		Privilege: p.inv.PrivilegeLevel(), MOKs: p.moks,
		Staprun: p.staprun, WantStaprun: p.reachesPass5() || len(p.inv.ListServers) > 0,
		// Beside the result cache, in the user's stap-client state.
		Health: health.Open(filepath.Dir(cache.Dir(env.lookup))),
	}
	return f
}
