// SPDX-License-Identifier: GPL-2.0-or-later

package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/stap-client/stap-client/internal/discovery"
	"github.com/stap-client/stap-client/internal/exchange"
	"github.com/stap-client/stap-client/internal/host"
	"github.com/stap-client/stap-client/internal/request"
	"github.com/stap-client/stap-client/internal/response"
	"github.com/stap-client/stap-client/internal/servers"
	"github.com/stap-client/stap-client/internal/stapargs"
	"github.com/stap-client/stap-client/internal/stapmsg"
	"github.com/stap-client/stap-client/internal/workdir"
)

// run is one compile: the plan, and what the pipeline's steps made.
type run struct {
	env    Env
	plan   *plan
	inv    *stapargs.Invocation // plan.inv
	out    *stapmsg.Printer
	finder *servers.Finder
	intr   *interrupts
	dir    *workdir.Dir // the private temp dir, once made
	// keyAdvice is our line on a server's MOK, when it had none in common
	// with us.
	keyAdvice string
}

// passes is how passes 1-4 ended, on a server or from the cache.
type passes struct {
	res *response.Result // the processed response; nil when there is none
	ok  bool
	// from is the exchange that brought it (nil from the cache).
	from *exchange.Result
}

// compile is passes 1-4 on a server, then pass 5: stap's passes_0_4, one
// step after the other, each returning what the next needs.
func (r *run) compile(ctx context.Context) int {
	p := r.plan
	if p.targetErr != nil {
		r.out.Ours("finding the target kernel", p.targetErr)
		return 1
	}
	if p.forcedP4 {
		r.out.Warn("kernel release/architecture mismatch with host forces last-pass 4.")
	}
	// Limits from the environment: a bad one is one line, before anything.
	if p.limitsErr != nil {
		r.out.Ours(p.limitsErr.Error(), nil)
		return 1
	}
	// Our advice on enrolling a server's MOK comes last, after -k's line.
	defer r.mokAdvice()
	defer func() { r.dir.Remove() }()

	// The request is made before discovery: a cached result needs neither
	// discovery nor a connection. A request that cannot be made is reported
	// where it always was, after discovery.
	req, reqErr := r.plan.request(r.env)
	slot := r.cacheSlot(req)
	if code, hit := r.replay(ctx, slot); hit {
		return code
	}
	var key []byte
	if req != nil {
		key = req.Key()
	}
	cands, matching, err := r.finder.Candidates(ctx, key)
	if ctx.Err() != nil {
		r.out.Ours("interrupted while looking for compile servers", nil)
		return 1
	}
	if err != nil {
		r.noServer(err)
		return 1
	}
	span := stapmsg.Start()
	if r.dir == nil { // made already when a cached result was unusable
		if r.dir, err = r.makeDir(); err != nil {
			r.dirFailed(err, span)
			return 1
		}
	}
	r.sessionLines()
	r.usingServer(r.out.Verbose > 0)
	for _, l := range matching {
		r.out.Errf("%s", l)
	}
	if r.out.Verbose >= 2 {
		r.out.Errf("All specified servers:")
		r.out.Errf("%s", discovery.Listing(cands))
	}

	var ps passes
	if reqErr != nil {
		r.requestFailed(reqErr)
	} else {
		ps = r.exchange(ctx, req, cands)
	}
	if r.out.Verbose > 0 {
		winner := "?"
		if ps.from != nil && ps.from.Won {
			winner = ps.from.Winner.String()
		}
		r.out.Errf("Passes: via server %s %s%s", winner, stapmsg.MemUsage(), span)
	}
	if !ps.ok && ctx.Err() != nil {
		// stap says nothing more after an interrupt: exit 1, quietly.
		return 1
	}
	if ps.ok {
		r.remember(ctx, slot, ps)
	}
	return r.afterPasses(ps)
}

// makeDir makes the run's private temp dir.
func (r *run) makeDir() (*workdir.Dir, error) {
	return workdir.Make(workdir.Options{Given: r.inv.TmpDir, Keep: r.inv.KeepTmp, Cwd: r.env.Cwd, LookupEnv: r.env.LookupEnv}, r.out)
}

// dirFailed reports a temp dir that could not be made. stap makes
// --tmpdir's DIR/client inside its passes, so that failure comes with the
// lines around them.
func (r *run) dirFailed(err error, span stapmsg.Span) {
	if r.inv.TmpDir == "" {
		r.out.Errf("%v", err)
		return
	}
	r.usingServer(r.out.Verbose > 0)
	r.out.Errf("%v", err)
	if r.out.Verbose > 0 {
		r.out.Errf("Passes: via server ? %s%s", stapmsg.MemUsage(), span)
	}
	r.passesFailed()
}

// noServer reports that no server could be chosen.
func (r *run) noServer(err error) {
	var se *discovery.SpecError
	switch {
	case errors.As(err, &se):
		r.out.Errf("%s", se.Msg)
	case errors.Is(err, servers.ErrNoServer):
		r.passesFailed()
		r.explainAuto()
	default:
		r.out.Ours(err.Error(), nil)
	}
}

// requestFailed reports a request that could not be made.
func (r *run) requestFailed(err error) {
	var re *request.RootError
	if errors.As(err, &re) {
		r.out.Errf("%s", re.Error())
	} else {
		r.out.Ours("building the request", err)
	}
}

// usingServer is stap's line for server mode: at -v, when stap chose the
// mode by itself, or when always.
func (r *run) usingServer(always bool) {
	if always || r.plan.autoServer {
		r.out.Errf("Using a compile server.")
	}
}

// passesFailed is stap's line after passes 1-4 failed.
func (r *run) passesFailed() {
	r.out.Errf("Passes: via server failed.  Try again with another '-v' option.")
}

// explainAuto is stap's explain_auto_options, printed after passes 1-4
// when they failed or at -v.
func (r *run) explainAuto() {
	for _, m := range r.plan.autoMsgs {
		r.out.Errf("%s", m)
	}
}

// sessionLines are stap's -vv lines about the target.
func (r *run) sessionLines() {
	if r.out.Verbose >= 2 {
		tree := "/lib/modules/" + r.plan.release + "/build"
		if strings.HasPrefix(r.inv.Release, "/") {
			tree = r.inv.Release
		}
		r.out.Errf("Session arch: %s release: %s\nBuild tree: \"%s\"", r.plan.arch, r.plan.release, tree)
	}
}

// afterPasses ends passes 1-4, from the server or the cache, and runs pass 5.
func (r *run) afterPasses(ps passes) int {
	if !ps.ok {
		if !r.inv.DumpMode {
			r.passesFailed()
		}
		r.explainAuto()
		return 1
	}
	if r.inv.PerPassVerbose[0] >= 1 {
		r.explainAuto()
	}
	if r.inv.LastPass > 4 && r.inv.HaveScript {
		return r.pass5(ps.res)
	}
	return 0
}

// exchange sends the request to the first server that answers, then
// unpacks and processes its reply.
func (r *run) exchange(ctx context.Context, req *request.Request, cands []discovery.Candidate) passes {
	over := req.OverServerDefaults()
	if over {
		r.out.OurWarning("the request is %d bytes compressed and %d uncompressed; a compile server with default settings refuses more than %d compressed or %d uncompressed, without replying",
			len(req.Zip), req.Uncompressed, request.DefaultServerMaxCompressed, request.DefaultServerMaxUncompressed)
	}
	r.dir.KeepRequest(req)

	zipPath := r.dir.Join("server.zip")
	timeouts := r.env.Timeouts
	timeouts.Bound = r.plan.bound
	x := exchange.Exchange(ctx, exchange.Config{
		Out: r.out, Stores: r.finder.Stores(ctx), Timeouts: timeouts, MaxReply: r.plan.budget,
		Quiet: slices.Contains(r.inv.ServerArgs, "-q"), Over: over, Heard: r.finder.Heard(ctx),
	}, req.Zip, cands, zipPath)
	if x.Interrupted != "" {
		r.out.Ours("interrupted while "+x.Interrupted, nil)
		return passes{}
	}
	if !x.Won {
		exchange.ExplainFailures(r.out, cands, x.Failures, over, len(r.inv.SSLDirs) > 0)
		return passes{}
	}
	ps := r.reply(ctx, zipPath, x.Winner.String(), over)
	ps.from = &x
	return ps
}

// reply unpacks and processes a server's reply, then prints it and saves
// the module as stap does. An interrupt during unpacking, processing or
// printing ends the run with 1, as one during the passes does in stap.
func (r *run) reply(ctx context.Context, zipPath, winner string, over bool) passes {
	serverDir := r.dir.Join("server")
	if err := os.Mkdir(serverDir, 0o700); err != nil {
		r.out.Ours("unpacking the server response", err)
		return passes{}
	}
	if err := response.Unpack(ctx, zipPath, serverDir, response.LimitsFor(r.plan.budget)); err != nil {
		if ctx.Err() == nil {
			var size int64
			if fi, serr := os.Stat(zipPath); serr == nil {
				size = fi.Size()
			}
			exchange.ExplainUnpack(r.out, err, winner, zipPath, over, size, r.plan.budget)
		}
		return passes{}
	}
	r.out.Logf(3, "Searching \"%s/stap??????\"", serverDir)
	res, err := response.Process(serverDir, r.responseOptions())
	if err != nil {
		var re *response.ReadError
		if errors.As(err, &re) {
			r.out.Errf("%s", re.Msg)
			if response.OnlyVersion(serverDir) {
				r.out.Ours(fmt.Sprintf("the server sent back no result: it does not build for kernel release %s (it serves only the releases given to stap-serverd -r)", r.plan.release), nil)
			}
		} else {
			r.out.Ours("reading the server response", err)
		}
		return passes{}
	}
	if ctx.Err() != nil {
		return passes{}
	}
	if !r.link(res) {
		return passes{}
	}
	return passes{res: res, ok: r.finish(ctx, res)}
}

// link puts the reply's build tree beside the temp dir's other files, as
// stap does, for a fresh reply and a cached one alike: the module is then
// copied from, and named in messages as, <tmpdir>/<module>.ko.
func (r *run) link(res *response.Result) bool {
	if res.BuildDir != "" {
		r.out.Logf(3, "  found %s", res.BuildDir)
		r.out.Logf(3, "Searching \"%s/*\"", res.BuildDir)
		if err := response.LinkBuildDir(res.BuildDir, r.dir.Path); err != nil {
			r.out.Errf("%v", err)
			return false
		}
	}
	if r.inv.LastPass >= 4 {
		r.out.Logf(3, "Searching \"%s/*.ko\"", r.dir.Path)
		if res.ModulePath != "" {
			r.out.Logf(3, "  found %s", r.dir.Join(filepath.Base(res.ModulePath)))
		}
	}
	return true
}

func (r *run) responseOptions() response.Options {
	return response.Options{LastPass: r.inv.LastPass, HaveScript: r.inv.HaveScript, ModuleName: r.inv.ModuleName}
}

// finish prints the server's output and saves the module, as stap does.
func (r *run) finish(ctx context.Context, res *response.Result) bool {
	for _, m := range res.Messages {
		r.out.Errf("%s", m)
	}
	if res.SigningKey != "" {
		r.keyAdvice = workdir.ServerMOK(r.out, res.SigningKey, r.env.Cwd, host.MOKEnrolment(r.env.Root))
	}
	if err := res.Print(ctx, r.env.Stdout, r.out.Writer()); err != nil {
		// A reader that went away (| head) is the SIGPIPE stap catches: an
		// interrupt, with nothing to say.
		if errors.Is(err, syscall.EPIPE) {
			r.intr.brokenPipe()
		} else if ctx.Err() == nil {
			r.out.Ours("printing the server's output", err)
		}
		return false
	}
	// stap saves the module only when there was no interrupt.
	if res.RC != 0 || ctx.Err() != nil {
		return false
	}
	if (r.inv.LastPass == 4 || r.inv.ModuleNameGiven) && res.ModulePath != "" {
		name := res.ModuleName + ".ko"
		// stap copies from its link in the temp dir (LinkBuildDir).
		src := r.dir.Join(filepath.Base(res.ModulePath))
		if !fileExists(src) {
			src = res.ModulePath
		}
		workdir.Save(r.out, src, r.env.Cwd, name)
		if sgn := src + ".sgn"; fileExists(sgn) {
			workdir.Save(r.out, sgn, r.env.Cwd, name+".sgn")
		}
	}
	if r.inv.LastPass == 4 && res.ModulePath != "" {
		fmt.Fprintln(r.env.Stdout, res.ModuleName+".ko")
	}
	return true
}

// mokAdvice is our one line after a reply without a signed module because
// the server has no MOK in common with this host.
func (r *run) mokAdvice() {
	if r.keyAdvice != "" {
		r.out.Ours(r.keyAdvice, nil)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
