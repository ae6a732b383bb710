// SPDX-License-Identifier: GPL-2.0-or-later

// Package client is one stap-client run: from the parsed invocation to the
// exit status, printing what stap prints along the way.
package client

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/stap-client/stap-client/internal/certdb"
	"github.com/stap-client/stap-client/internal/discovery"
	"github.com/stap-client/stap-client/internal/request"
	"github.com/stap-client/stap-client/internal/response"
	"github.com/stap-client/stap-client/internal/stapargs"
	"github.com/stap-client/stap-client/internal/transport"
)

// Prog is the name used in our own messages.
const Prog = "stap-client"

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
	host, err := request.LocalHost()
	if err != nil {
		return Env{}, err
	}
	return Env{
		Args: args, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		LookupEnv: os.LookupEnv, Cwd: cwd, Host: host,
		Timeouts: transport.DefaultTimeouts,
		Lookup: func(ctx context.Context, h string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", h)
		},
		Version:     version,
		UID:         os.Geteuid(),
		Browser:     discovery.Zeroconf{},
		ResolvConf:  "/etc/resolv.conf",
		Credentials: OSCredentials,
		Root:        os.DirFS("/"),
	}, nil
}

func (e Env) getenv(k string) string {
	if e.LookupEnv == nil {
		return ""
	}
	v, _ := e.LookupEnv(k)
	return v
}

// run carries one run's state.
type run struct {
	env Env
	inv *stapargs.Invocation
	// verbose is stap's -v count.
	verbose int
	tmp     string
	stores  []certdb.Store // loaded on first use
	intr    *interrupts
	res     *response.Result // the processed response, for pass 5
	budget  int64            // bytes one reply may cost (replyBudget)
	bound   time.Duration    // the connection phase's bound (connectBound)
	// autoMsgs explain the privilege and server mode stap chose by itself;
	// autoServer is that server mode, which shows "Using a compile server.".
	autoMsgs   []string
	autoServer bool
	// moks are the MOK fingerprints sent when the host loads only signed
	// modules (nil otherwise); signingKey is the file a server's MOK was
	// saved in when it had none in common with us.
	moks       []string
	signingKey string
	staprunV   *string // the local staprun's version, once asked (generation.go)
	// matching are stap's -vvv lines on what each --server spec names,
	// printed before the list of all servers.
	matching []string
}

func (r *run) errf(format string, args ...any) {
	fmt.Fprintf(r.env.Stderr, format+"\n", args...)
}

// ours prints a message of stap-client's own, in our one form.
func (r *run) ours(what string, err error) {
	if err != nil {
		r.errf("%s: ERROR: %s: %v", Prog, what, err)
		return
	}
	r.errf("%s: ERROR: %s", Prog, what)
}

func (r *run) logf(level int, format string, args ...any) {
	if r.verbose >= level {
		r.errf(format, args...)
	}
}

// Run performs one invocation and returns the exit status: 0 or 1, as stap.
func Run(ctx context.Context, env Env) int {
	ctx, intr, stop := watch(ctx, env.Signals)
	defer stop()
	r := &run{env: env, intr: intr}
	args := env.Args
	rc, err := stapargs.ReadRCLookup(env.LookupEnv)
	if err != nil {
		var rce *stapargs.RCError
		if errors.As(err, &rce) {
			fmt.Fprint(env.Stderr, rce.Error()) // stap prints it without a newline
		} else {
			r.ours("reading the rc file", err)
		}
		return 1
	}
	args = append(rc, args...)
	inv, err := stapargs.Parse(args, stapargs.ParseOptions{Prog: Prog})
	if err != nil {
		r.printParseError(err)
		return 1
	}
	r.inv, r.verbose = inv, inv.Verbose
	switch {
	case inv.Help:
		printHelp(env.Stdout)
		return 0
	case inv.Version:
		printVersion(env.Stdout, env.Version)
		return 0
	case inv.CleanCache:
		return r.cleanCache(ctx)
	}
	// Refuse first: stap's warnings about options we refuse anyway (such as
	// "Ignoring --use-server due to the use of -R") would only mislead.
	if err := r.checkSupported(); err != nil {
		r.ours(err.Error(), nil)
		return 1
	}
	for _, w := range inv.Warnings {
		r.errf("%s", w)
	}
	if r.verbose >= 2 {
		// stap's banner at -vv; the server's own follows in its output.
		printVersion(env.Stdout, env.Version)
	}
	if !r.adjustPrivilege() {
		return 1
	}
	r.secureBoot()
	if len(inv.ListServers) > 0 {
		release, arch, err := request.Target(env.Host, inv.Release, inv.Arch)
		if err != nil {
			r.ours("finding the target kernel", err)
			return 1
		}
		listed := r.listServers(ctx, release, arch)
		if !inv.HaveScript && !inv.DumpMode && inv.TrustServers == "" {
			return exitCode(listed)
		}
	}
	if inv.TrustServers != "" {
		trusted := r.manageTrust(ctx)
		if !inv.HaveScript && !inv.DumpMode {
			return exitCode(trusted)
		}
	}
	return r.compile(ctx)
}

// stap suggests -i when no script is given; stap-client refuses -i (it
// needs a local translator), so it says how to give a script instead.
const (
	stapInteractiveHint = "Try '-i' for building a script interactively."
	scriptHint          = "Give the script as a file name, or with -e 'SCRIPT'."
)

func (r *run) printParseError(err error) {
	var ue *stapargs.UsageError
	if errors.As(err, &ue) {
		if ue.ShowVersion {
			printVersion(r.env.Stdout, r.env.Version)
		}
		for _, l := range ue.Lines {
			if l == stapInteractiveHint {
				l = scriptHint
			}
			r.errf("%s", l)
		}
		if ue.Usage {
			r.usageHint()
		}
		return
	}
	r.ours("parsing the command line", err)
}

// checkSupported refuses, in one line, what a compile-server client cannot do
// or what this build does not do yet.
func (r *run) checkSupported() error {
	inv := r.inv
	if len(inv.NeedsLocal) > 0 {
		return fmt.Errorf("%s needs a local systemtap translator; stap-client only compiles on a compile server", inv.NeedsLocal[0])
	}
	if inv.Runtime != "" && inv.Runtime != "kernel" {
		return fmt.Errorf("--runtime=%s cannot be used with a compile server: servers build kernel modules only", inv.Runtime)
	}
	return nil
}

// target decides release and arch, and forces last pass 4 for another host
// as stap does.
func (r *run) target() (release, arch string, err error) {
	release, arch, err = request.Target(r.env.Host, r.inv.Release, r.inv.Arch)
	if err != nil {
		return "", "", err
	}
	native := release == r.env.Host.Release && arch == request.NormalizeArch(r.env.Host.Machine)
	if r.inv.LastPass > 4 && !native {
		r.warn("kernel release/architecture mismatch with host forces last-pass 4.")
		r.inv.LastPass = 4
	}
	return release, arch, nil
}

// warn prints a stap warning unless -w (or a listing mode, which implies
// it) silences it; listing modes show it again from -vv, as stap does.
func (r *run) warn(msg string) {
	if r.inv.Run.SuppressWarnings && (!r.inv.DumpMode || r.verbose <= 1) {
		return
	}
	r.errf("WARNING: %s", msg)
}

var tmpdirPattern = regexp.MustCompile(`(?i)^[-/._0-9a-z]+$`)

// makeTmp creates the private temp dir as stap names it: $TMPDIR/stapXXXXXX.
// --tmpdir=DIR is DIR itself, made with its parents when missing and never
// removed, as in stap.
func (r *run) makeTmp() error {
	if dir := r.inv.TmpDir; dir != "" {
		if !filepath.IsAbs(dir) {
			// stap breaks on a relative one (it cds before using it).
			dir = filepath.Join(r.env.Cwd, dir)
		}
		r.tmp = dir
		r.logf(2, "Created temporary directory \"%s\"", r.inv.TmpDir)
		for _, f := range []string{"client.zip", "server", "server.zip"} {
			// stap fails on a reused one too, later and less clearly.
			if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
				return fmt.Errorf("%s: ERROR: --tmpdir=%s holds an earlier run's files (%s); give a new or empty directory", Prog, r.inv.TmpDir, f)
			}
		}
		// stap's error names the first directory it makes there.
		if err := os.MkdirAll(filepath.Join(dir, "client"), 0o777); err != nil {
			return fmt.Errorf("ERROR: cannot create temporary directory (\"%s\"): %s", filepath.Join(r.inv.TmpDir, "client"), errText(err))
		}
		return nil
	}
	var env string
	var set bool
	if r.env.LookupEnv != nil {
		env, set = r.env.LookupEnv("TMPDIR")
	}
	base := env
	if !set {
		base = "/tmp"
	}
	d, err := mkdtemp(base, "stap")
	if err != nil {
		return fmt.Errorf("cannot create temporary directory (\" %s \"): %s", d, errText(err))
	}
	// stap checks the name after making the directory in it.
	if set && !tmpdirPattern.MatchString(env) {
		os.Remove(d)
		return fmt.Errorf("ERROR: Safety pattern mismatch for TMPDIR ('%s' vs. '%s') rc=1", env, `^[-/._0-9a-z]+$`)
	}
	r.tmp = d
	r.logf(2, "Created temporary directory \"%s\"", d)
	return nil
}

// tmpFailed reports a temp dir that could not be made. stap makes
// --tmpdir's DIR/client inside its passes, so that failure comes with the
// lines around them.
func (r *run) tmpFailed(err error, times cpuTimes) {
	if r.inv.TmpDir == "" {
		r.errf("%v", err)
		return
	}
	if r.verbose > 0 || r.autoServer {
		r.errf("Using a compile server.")
	}
	r.errf("%v", err)
	if r.verbose > 0 {
		r.errf("Passes: via server ? %s%s", memUsage(), times.since())
	}
	r.errf("Passes: via server failed.  Try again with another '-v' option.")
}

// mkdtemp makes a private directory named like mkdtemp(3)'s PREFIXXXXXXX,
// as stap's are, so paths in messages have the same shape. On failure it
// returns the last name tried, which stap's message shows.
func mkdtemp(base, prefix string) (string, error) {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	d := base + "/" + prefix + "XXXXXX"
	for range 100 {
		var b [6]byte
		if _, err := rand.Read(b[:]); err != nil {
			return d, err
		}
		for i := range b {
			b[i] = chars[int(b[i])%len(chars)]
		}
		d = base + "/" + prefix + string(b[:])
		err := os.Mkdir(d, 0o700)
		if err == nil {
			return d, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return d, err
		}
	}
	return d, fs.ErrExist
}

func (r *run) cleanup() {
	if r.tmp == "" {
		return
	}
	if r.inv.TmpDir != "" {
		return // the user's own directory: kept, silently
	}
	if r.inv.KeepTmp {
		r.errf("Keeping temporary directory \"%s\"", r.tmp)
		return
	}
	if err := os.RemoveAll(r.tmp); err != nil {
		r.errf("%s: WARNING: removing temporary directory %s: %v", Prog, r.tmp, err)
		return
	}
	r.logf(2, "Removed temporary directory \"%s\"", r.tmp)
}

// compile is passes 1-4 on a server.
func (r *run) compile(ctx context.Context) int {
	release, arch, err := r.target()
	if err != nil {
		r.ours("finding the target kernel", err)
		return 1
	}
	// Limits from the environment: a bad one is one line, before anything.
	if r.budget, err = r.replyBudget(); err == nil {
		r.bound, err = r.connectBound()
	}
	if err != nil {
		r.ours(err.Error(), nil)
		return 1
	}
	// Our advice on enrolling a server's MOK comes last, after -k's line.
	defer r.mokAdvice()
	defer r.cleanup()
	// The request is made before discovery: a cached result needs neither
	// discovery nor a connection. A request that cannot be made is reported
	// where it always was, after discovery.
	req, reqErr := r.buildRequest(release, arch)
	slot := r.cacheSlot(req)
	if code, hit := r.replay(ctx, slot, release, arch); hit {
		return code
	}
	candidates, err := r.servers(ctx, release, arch)
	if ctx.Err() != nil {
		r.ours("interrupted while looking for compile servers", nil)
		return 1
	}
	if err != nil {
		var se *discovery.SpecError
		switch {
		case errors.As(err, &se):
			r.errf("%s", se.Msg)
		case errors.Is(err, errNoServer):
			r.errf("Passes: via server failed.  Try again with another '-v' option.")
			r.explainAuto()
		default:
			r.ours(err.Error(), nil)
		}
		return 1
	}
	times := startTimes()
	if r.tmp == "" { // made already when a cached result was unusable
		if err := r.makeTmp(); err != nil {
			r.tmpFailed(err, times)
			return 1
		}
	}
	r.sessionLines(release, arch)
	if r.verbose > 0 || r.autoServer {
		r.errf("Using a compile server.")
	}
	for _, l := range r.matching {
		r.errf("%s", l)
	}
	if r.verbose >= 2 {
		r.errf("All specified servers:")
		r.errf("%s", listing(candidates))
	}

	ok, winner := r.passes(ctx, release, req, reqErr, candidates)
	if r.verbose > 0 {
		ws := "?"
		if winner != "" {
			ws = winner
		}
		r.errf("Passes: via server %s %s%s", ws, memUsage(), times.since())
	}
	if !ok && ctx.Err() != nil {
		// stap says nothing more after an interrupt: exit 1, quietly.
		return 1
	}
	if ok {
		r.remember(ctx, slot)
	}
	return r.afterPasses(ok)
}

// sessionLines are stap's -vv lines about the target.
func (r *run) sessionLines(release, arch string) {
	if r.verbose >= 2 {
		tree := "/lib/modules/" + release + "/build"
		if strings.HasPrefix(r.inv.Release, "/") {
			tree = r.inv.Release
		}
		r.errf("Session arch: %s release: %s\nBuild tree: \"%s\"", arch, release, tree)
	}
}

// afterPasses ends passes 1-4, from the server or the cache, and runs pass 5.
func (r *run) afterPasses(ok bool) int {
	if !ok {
		if !r.inv.DumpMode {
			r.errf("Passes: via server failed.  Try again with another '-v' option.")
		}
		r.explainAuto()
		return 1
	}
	if r.inv.PerPassVerbose[0] >= 1 {
		r.explainAuto()
	}
	if r.inv.LastPass > 4 && r.inv.HaveScript {
		return r.pass5()
	}
	return 0
}

// buildRequest makes the request for the server (and the cache key).
func (r *run) buildRequest(release, arch string) (*request.Request, error) {
	return request.Build(request.Spec{
		Release: release, Arch: arch,
		Script: r.inv.Script, Stdin: r.env.Stdin,
		TapsetDirs: r.inv.TapsetDirs, ServerArgs: r.inv.ServerArgs, ScriptArgs: r.inv.ScriptArgs,
		Cwd: r.env.Cwd, LookupEnv: r.env.LookupEnv, MOKFingerprints: r.moks,
	})
}

// passes reports a request that could not be made, or exchanges it and
// processes the response. It returns success and the winning server's
// printout.
func (r *run) passes(ctx context.Context, release string, req *request.Request, err error, cands []discovery.Candidate) (bool, string) {
	if err != nil {
		var re *request.RootError
		if errors.As(err, &re) {
			r.errf("%s", re.Error())
		} else {
			r.ours("building the request", err)
		}
		return false, ""
	}
	over := req.OverServerDefaults()
	if over {
		r.errf("%s: WARNING: the request is %d bytes compressed and %d uncompressed; a compile server with default settings refuses more than %d compressed or %d uncompressed, without replying",
			Prog, len(req.Zip), req.Uncompressed, request.DefaultServerMaxCompressed, request.DefaultServerMaxUncompressed)
	}

	r.keepRequest(req)

	zipPath := filepath.Join(r.tmp, "server.zip")
	winner, failures, interrupted := r.exchange(ctx, req.Zip, over, cands, zipPath)
	if interrupted != "" {
		r.ours("interrupted while "+interrupted, nil)
		return false, ""
	}
	if winner == "" {
		r.explainFailures(cands, failures, over)
		return false, ""
	}

	serverDir := filepath.Join(r.tmp, "server")
	if err := os.Mkdir(serverDir, 0o700); err != nil {
		r.ours("unpacking the server response", err)
		return false, winner
	}
	// An interrupt during unpacking, processing or printing ends the run
	// with 1, as one during the passes does in stap.
	if err := response.Unpack(ctx, zipPath, serverDir, response.LimitsFor(r.budget)); err != nil {
		if ctx.Err() == nil {
			var size int64
			if fi, serr := os.Stat(zipPath); serr == nil {
				size = fi.Size()
			}
			r.explainUnpack(err, winner, zipPath, over, size)
		}
		return false, winner
	}
	r.logf(3, "Searching \"%s/stap??????\"", serverDir)
	res, err := response.Process(serverDir, r.responseOptions())
	if err != nil {
		var re *response.ReadError
		if errors.As(err, &re) {
			r.errf("%s", re.Msg)
			if onlyVersion(serverDir) {
				r.ours(fmt.Sprintf("the server sent back no result: it does not build for kernel release %s (it serves only the releases given to stap-serverd -r)", release), nil)
			}
		} else {
			r.ours("reading the server response", err)
		}
		return false, winner
	}
	if ctx.Err() != nil {
		return false, winner
	}
	if res.BuildDir != "" {
		r.logf(3, "  found %s", res.BuildDir)
		r.logf(3, "Searching \"%s/*\"", res.BuildDir)
		if err := response.LinkBuildDir(res.BuildDir, r.tmp); err != nil {
			r.errf("%v", err)
			return false, winner
		}
	}
	if r.inv.LastPass >= 4 {
		r.logf(3, "Searching \"%s/*.ko\"", r.tmp)
		if res.ModulePath != "" {
			r.logf(3, "  found %s", filepath.Join(r.tmp, filepath.Base(res.ModulePath)))
		}
	}
	r.res = res
	return r.finish(ctx, res), winner
}

// keepRequest leaves the request in a temp dir that stays (-k, --tmpdir) as
// stap leaves it: client/ and client.zip.
func (r *run) keepRequest(req *request.Request) {
	if !r.inv.KeepTmp && r.inv.TmpDir == "" {
		return
	}
	err := req.Stage(filepath.Join(r.tmp, "client"))
	if err == nil {
		err = os.WriteFile(filepath.Join(r.tmp, "client.zip"), req.Zip, 0o644)
	}
	if err != nil {
		r.errf("%s: WARNING: keeping the request in %s: %v", Prog, r.tmp, err)
	}
}

// finish prints the server's output and saves the module, as stap does.
func (r *run) finish(ctx context.Context, res *response.Result) bool {
	for _, m := range res.Messages {
		r.errf("%s", m)
	}
	if res.SigningKey != "" {
		r.signingKey = r.saveSigningKey(res.SigningKey)
	}
	if err := r.printOutput(ctx, res); err != nil {
		// A reader that went away (| head) is the SIGPIPE stap catches: an
		// interrupt, with nothing to say.
		if errors.Is(err, syscall.EPIPE) {
			r.intr.brokenPipe()
		} else if ctx.Err() == nil {
			r.ours("printing the server's output", err)
		}
		return false
	}
	// stap saves the module only when there was no interrupt.
	if res.RC != 0 || ctx.Err() != nil {
		return false
	}
	if r.inv.LastPass == 4 || r.inv.ModuleNameGiven {
		if res.ModulePath != "" {
			name := res.ModuleName + ".ko"
			// stap copies from its link in the temp dir (LinkBuildDir).
			src := filepath.Join(r.tmp, filepath.Base(res.ModulePath))
			if !fileExists(src) {
				src = res.ModulePath
			}
			r.save(src, name)
			if sgn := src + ".sgn"; fileExists(sgn) {
				r.save(sgn, name+".sgn")
			}
		}
	}
	if r.inv.LastPass == 4 && res.ModulePath != "" {
		fmt.Fprintln(r.env.Stdout, res.ModuleName+".ko")
	}
	return true
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// save copies a result into the current directory under name, as stap
// does, saying so at -vvv and printing stap's line on failure.
func (r *run) save(src, name string) {
	r.logf(3, "Copying %s to %s", src, name)
	if err := copyFile(src, filepath.Join(r.env.Cwd, name), name); err != nil {
		r.errf("%v", err)
	}
}

// copyFile writes dst through a temp file and a rename, as stap does, so a
// failed copy never leaves a truncated module behind, and a link at dst is
// replaced, its target untouched. Mode 0666 less umask. Messages name dst
// as shown.
func copyFile(src, dst, shown string) error {
	fail := func(err error) error {
		return fmt.Errorf("Copy failed (\"%s\" to \"%s\"): %s", src, shown, errText(err))
	}
	in, err := os.Open(src)
	if err != nil {
		return fail(err)
	}
	defer in.Close()
	out, err := os.CreateTemp(filepath.Dir(dst), filepath.Base(dst)+".*")
	if err != nil {
		return fail(err)
	}
	tmp := out.Name()
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Chmod(0o666 &^ umask())
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// rename(2) itself: os.Rename refuses a directory at dst with
		// EEXIST, where stap reports rename's EISDIR.
		err = syscall.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
		return fail(err)
	}
	return nil
}

// umask reads the process umask; it must be set to be read, so set it back
// at once. Called only from the single run goroutine.
func umask() os.FileMode {
	m := syscall.Umask(0o022)
	syscall.Umask(m)
	return os.FileMode(m)
}

func errText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		err = le.Err
	}
	s := err.Error()
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// onlyVersion is the reply of a server that does not serve the requested
// kernel release: a version file and nothing else.
func onlyVersion(dir string) bool {
	ents, err := os.ReadDir(dir)
	return err == nil && len(ents) == 1 && ents[0].Name() == "version"
}

func exitCode(ok bool) int {
	if ok {
		return 0
	}
	return 1
}
