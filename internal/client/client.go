// SPDX-License-Identifier: GPL-2.0-or-later

// Package client is one stap-client run, from the command line to the exit
// status: the plan made once from the command line and the environment,
// then one straight pipeline (request, servers, exchange, reply, pass 5),
// as stap's own passes_0_4. What each step does lives in a package of its
// own; this one only orders the steps and prints the lines that frame
// them.
package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/stap-client/stap-client/internal/discovery"
	"github.com/stap-client/stap-client/internal/host"
	"github.com/stap-client/stap-client/internal/request"
	"github.com/stap-client/stap-client/internal/stapargs"
	"github.com/stap-client/stap-client/internal/stapmsg"
	"github.com/stap-client/stap-client/internal/transport"
)

// Prog is the name used in our own messages.
const Prog = stapmsg.Prog

// Env is everything a run takes from the outside world, so tests can run it
// in process.
type Env struct {
	Args      []string // without the program name
	Stdin     io.Reader
	Stdout    io.Writer
	Stderr    io.Writer
	LookupEnv func(string) (string, bool)
	Cwd       string
	Host      request.Host
	Timeouts  transport.Timeouts
	Lookup    discovery.LookupFunc
	Browser   discovery.Browser // mDNS
	// ResolvConf is resolv.conf's path for wide-area (DNS) discovery; ""
	// browses only the domains given by --find-domains.
	ResolvConf string
	// DNSExchange sends DNS queries; nil: the network.
	DNSExchange discovery.ExchangeFunc
	Version     string // stap-client's own version, for --version
	UID         int    // the effective user, who must own private databases
	// Signals are the interrupts stap catches (HUP, PIPE, INT, TERM, XFSZ,
	// XCPU): they cancel passes 1-4 and are passed on to staprun in pass 5.
	Signals <-chan os.Signal
	// Credentials are the user's privilege levels (pass 5 adjusts the
	// privilege to them); nil means all, as for root.
	Credentials func() Credentials
	// Root is the file system the host's Secure Boot state is read from
	// (sysfs, efivarfs); nil reads nothing.
	Root fs.FS
}

// OSEnv is the real environment.
func OSEnv(args []string, version string) (Env, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return Env{}, fmt.Errorf("finding the current directory: %w", err)
	}
	h, err := request.LocalHost()
	if err != nil {
		return Env{}, err
	}
	return Env{
		Args: args, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		LookupEnv: os.LookupEnv, Cwd: cwd, Host: h,
		Timeouts: transport.DefaultTimeouts,
		Lookup: func(ctx context.Context, h string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", h)
		},
		Version:     version,
		UID:         os.Geteuid(),
		Browser:     discovery.Multi{discovery.OneShot{}, discovery.Zeroconf{}},
		ResolvConf:  "/etc/resolv.conf",
		Credentials: host.OSCredentials,
		Root:        os.DirFS("/"),
	}, nil
}

func (e Env) lookup(k string) (string, bool) {
	if e.LookupEnv == nil {
		return "", false
	}
	return e.LookupEnv(k)
}

func (e Env) getenv(k string) string {
	v, _ := e.lookup(k)
	return v
}

// Run performs one invocation and returns the exit status: 0 or 1, as stap.
func Run(ctx context.Context, env Env) int {
	ctx, intr, stop := watch(ctx, env.Signals)
	defer stop()
	out := stapmsg.New(env.Stderr, 0)
	inv, ok := parse(env, out)
	if !ok {
		return 1
	}
	out.Verbose = inv.Verbose
	// -w silences stap's warnings; listing modes show them again from -vv.
	out.NoWarnings = inv.Run.SuppressWarnings && (!inv.DumpMode || inv.Verbose <= 1)
	switch {
	case inv.Help:
		stapmsg.Help(env.Stdout)
		return 0
	case inv.Version:
		printVersion(env.Stdout, env.Version)
		return 0
	case inv.CleanCache:
		return cleanCache(ctx, env, inv, out)
	}
	// Refuse first: stap's warnings about options we refuse anyway (such as
	// "Ignoring --use-server due to the use of -R") would only mislead.
	if err := checkSupported(inv); err != nil {
		out.Ours(err.Error(), nil)
		return 1
	}
	for _, w := range inv.Warnings {
		out.Errf("%s", w)
	}
	if inv.Verbose >= 2 {
		// stap's banner at -vv; the server's own follows in its output.
		printVersion(env.Stdout, env.Version)
	}
	p, ok := makePlan(env, inv, out)
	if !ok {
		return 1
	}
	f := p.finder(env, out)
	if len(p.inv.ListServers) > 0 {
		if p.targetErr != nil {
			out.Ours("finding the target kernel", p.targetErr)
			return 1
		}
		listed := f.List(ctx, p.inv.ListServers, p.inv.JSON, env.Stdout, listKey(env, p))
		if !p.inv.HaveScript && !p.inv.DumpMode && p.inv.TrustServers == "" {
			return exitCode(listed)
		}
	}
	if p.inv.TrustServers != "" {
		trusted := f.Trust(ctx, p.inv.TrustServers)
		if !p.inv.HaveScript && !p.inv.DumpMode {
			return exitCode(trusted)
		}
	}
	r := &run{env: env, plan: p, inv: p.inv, out: out, finder: f, intr: intr}
	return r.compile(ctx)
}

// listKey is the request's key when a listing comes with a script that
// can be read twice (not stdin), so the listing can show the order equal
// servers would have for it; nil otherwise.
func listKey(env Env, p *plan) []byte {
	if !p.inv.HaveScript || p.inv.Script == "-" || p.targetErr != nil {
		return nil
	}
	req, err := p.request(env)
	if err != nil {
		return nil
	}
	return req.Key()
}

// parse reads the rc file and the command line, saying what is wrong.
func parse(env Env, out *stapmsg.Printer) (*stapargs.Invocation, bool) {
	rc, err := stapargs.ReadRCLookup(env.LookupEnv)
	if err != nil {
		var rce *stapargs.RCError
		if errors.As(err, &rce) {
			fmt.Fprint(env.Stderr, rce.Error()) // stap prints it without a newline
		} else {
			out.Ours("reading the rc file", err)
		}
		return nil, false
	}
	inv, err := stapargs.Parse(append(rc, env.Args...), stapargs.ParseOptions{Prog: Prog})
	if err != nil {
		printParseError(env, out, err)
		return nil, false
	}
	return inv, true
}

// stap suggests -i when no script is given; stap-client refuses -i (it
// needs a local translator), so it says how to give a script instead.
const (
	stapInteractiveHint = "Try '-i' for building a script interactively."
	scriptHint          = "Give the script as a file name, or with -e 'SCRIPT'."
)

func printParseError(env Env, out *stapmsg.Printer, err error) {
	var ue *stapargs.UsageError
	if errors.As(err, &ue) {
		if ue.ShowVersion {
			printVersion(env.Stdout, env.Version)
		}
		for _, l := range ue.Lines {
			if l == stapInteractiveHint {
				l = scriptHint
			}
			out.Errf("%s", l)
		}
		if ue.Usage {
			usageHint(out)
		}
		return
	}
	out.Ours("parsing the command line", err)
}

// usageHint is stap's two lines after a usage error, pointing to
// stap-client's page rather than stap's.
func usageHint(out *stapmsg.Printer) {
	for _, l := range stapargs.UsageHint() {
		out.Errf("%s", strings.Replace(l, "[man stap]", "[man stap-client]", 1))
	}
}

// checkSupported refuses, in one line, what a compile-server client cannot do
// or what this build does not do yet.
func checkSupported(inv *stapargs.Invocation) error {
	if len(inv.NeedsLocal) > 0 {
		return fmt.Errorf("%s needs a local systemtap translator; stap-client only compiles on a compile server", inv.NeedsLocal[0])
	}
	if inv.Runtime != "" && inv.Runtime != "kernel" {
		return fmt.Errorf("--runtime=%s cannot be used with a compile server: servers build kernel modules only", inv.Runtime)
	}
	return nil
}

func exitCode(ok bool) int {
	if ok {
		return 0
	}
	return 1
}
