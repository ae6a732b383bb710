// SPDX-License-Identifier: GPL-2.0-or-later

package stapargs

import (
	"fmt"
	"math"
	"os/user"
	"regexp"
	"strings"
)

// The reference is stap 4.8 as Debian builds it ("enabled features: AVAHI
// BPF LIBSQLITE3 NLS NSS"): no dyninst, readline, monitor or HTTP support.
// Where stap's parsing depends on a build feature, that build is followed:
// -i does nothing, --monitor is refused, --runtime=dyninst is unavailable
// and --use-http-server is an unhandled option.

// ParseOptions tunes Parse.
type ParseOptions struct {
	// Prog is the program name in getopt and client messages;
	// "stap-client" if empty.
	Prog string
	// Stap is the stap release whose command line is mimicked (its
	// options, abbreviations, messages); Newest if empty.
	Stap string
}

// Invocation is a parsed and checked command line.
type Invocation struct {
	// ServerArgs are the options for the server, in command-line order and
	// in stap's attached form ("-v", "-p4", "-r6.1.0", "--privilege=stapusr").
	ServerArgs []string

	Script            string   // the script file operand ("-" is stdin); "" for -e or none
	HaveScript        bool     // a script was given, as a file or with -e
	Inline            bool     // the script is InlineScript (-e)
	InlineScript      string   // the -e value
	AdditionalScripts []string // -E values (dropped in dump mode, as stap does)
	ScriptArgs        []string // the operands after the script
	TapsetDirs        []string // -I values, in order

	LastPass        int    // -p, default 5
	Verbose         int    // number of -v
	PerPassVerbose  [5]int // -v and --vp per pass
	Release         string // -r value
	Arch            string // -a value
	ModuleName      string // -m value after stap's truncation
	ModuleNameGiven bool
	KeepTmp         bool // -k
	// The result cache: --disable-cache (no reading, no writing),
	// --poison-cache (no reading), --clean-cache (parsing stopped there).
	DisableCache, PoisonCache, CleanCache bool
	TmpDir                                string // --tmpdir
	DumpMode                              bool   // -l, -L or --dump-*
	Privilege                             string // "stapusr", "stapsys", "stapdev" or "unprivileged"; "" if not given
	PrivilegeSet                          bool
	Runtime                               string // "kernel" (default) or "bpf"
	Guru                                  bool   // -g
	Compatible                            string // --compatible value, "" if not given

	Run RunOptions // what pass 5 needs

	Servers []string // --server and --use-server values in order; "" is the default spec
	SSLDirs []string // --ssl values in order
	JSON    bool     // --json: --list-servers as JSON on stdout
	// DiscoveryTimeout is --find-timeout, unparsed ("" if not given).
	DiscoveryTimeout string
	// DiscoveryDomains are --find-domains values, unparsed, in order.
	DiscoveryDomains []string
	ListServers      []string // each --list-servers value, "" for none
	TrustServers     string   // --trust-servers value ("ssl" when given without one); "" if not given
	Help             bool     // -h/--help: parsing stopped there, as stap prints help at once
	Version          bool     // -V/--version: parsing stopped there

	// NeedsLocal are the spellings ("-R", "--remote") of given options that
	// need a local systemtap translator, in order, without repeats.
	NeedsLocal []string
	// Warnings are lines stap prints during parsing without failing.
	Warnings []string
	// Rlimits are the --rlimit-* values, which stap applies to itself.
	Rlimits []Rlimit
}

// RunOptions are the options for running the module (pass 5).
type RunOptions struct {
	OutputFile          string   // -o
	Cmd                 string   // -c
	TargetPID           int      // -x, 0 if not given
	BufferSize          int      // -s in MB, 0 if not given
	LoadOnly            bool     // -F
	SizeOption          string   // -S size[,n]
	Color               string   // --color: "always", "auto" or "never"; "" if not given
	Globals             []string // -G NAME=VALUE, in order
	TargetNamespacesPID int      // --target-namespaces
	Monitor             bool     // --monitor
	MonitorInterval     int      // --monitor=N, default 1
	SuppressWarnings    bool     // -w (stap also sets it for -l, -L and two --dump-*)
	TimeoutMS           int      // -T in milliseconds, 0 if not given
}

// Rlimit is one --rlimit-RESOURCE=VALUE.
type Rlimit struct {
	Resource string // "as", "cpu", "nproc", "stack" or "fsize"
	Value    uint64
}

// PrivilegeLevel is the effective privilege: "stapdev" unless set, and
// "stapusr" for --unprivileged.
func (inv *Invocation) PrivilegeLevel() string { return prName(privilegeBits(inv.Privilege)) }

// stap's privilege_t bits.
const (
	prStapusr = 0x2
	prStapsys = 0x4
	prStapdev = 0x8
)

func privilegeBits(name string) int {
	switch name {
	case "stapusr", "unprivileged":
		return prStapusr
	case "stapsys":
		return prStapsys
	}
	return prStapdev
}

func prName(p int) string {
	switch {
	case p&prStapdev != 0:
		return "stapdev"
	case p&prStapsys != 0:
		return "stapsys"
	}
	return "stapusr"
}

// moduleNameLen is the kernel's MODULE_NAME_LEN on 64-bit hosts.
const moduleNameLen = 64 - 8

// safety is one of stap's assert_regexp_match checks. stap compiles the
// pattern case-insensitively; the Go form spells the cases out so that only
// ASCII letters match.
type safety struct {
	name, pattern string
	re            *regexp.Regexp
}

func newSafety(name, pattern string) safety {
	return safety{name, pattern, regexp.MustCompile("(?s)" + strings.ReplaceAll(pattern, "a-z", "a-zA-Z"))}
}

// Compiled once; regexps are safe for concurrent use and never change.
var (
	safeGlobal  = newSafety("-G parameter", `^[a-z_][a-z0-9_]*=[a-z0-9_.-]+$`)
	safeModule  = newSafety("-m parameter", `^[a-z0-9_]+$`)
	safeRelease = newSafety("-r parameter from client", `^[a-z0-9_.+-]+$`)
	safeArch    = newSafety("-a parameter", `^[a-z0-9_-]+$`)
	safeMacro   = newSafety("-D parameter", `^[a-z_][a-z_0-9]*(=-?[a-z_0-9]+)?$`)
	safeSize    = newSafety("-S parameter", `^[0-9]+(,[0-9]+)?$`)
	safeModinfo = newSafety("--modinfo parameter", `^[a-z_][a-z0-9_]*=.+$`)
)

// parser carries stap's session state that is not part of the result.
type parser struct {
	g    getopt
	inv  *Invocation
	stap string // the release mimicked (ParseOptions.Stap)

	languageServer bool

	priv             int // privilege_t
	clientOptions    bool
	disallowed       []string // options a server refuses below stapdev
	runtimeSpecified bool     // -R
	tmpdirSet        bool
	sysrootSeen      bool
	remotes          int
	benchLoops       uint64
	benchThreads     uint64
}

// Parse parses argv (without the program name) as stap 4.8 does, and runs
// the checks of stap's check_options that need nothing but the command
// line. Errors are *UsageError. On -h, -V or --clean-cache it stops at that
// option, as stap does, and returns what it has so far.
//
// Left to the caller, as they need more than argv: the rc file (ReadRC);
// for pass 5 without a privilege given, the --privilege=stapusr|stapsys
// that stap adds to ServerArgs for a user without stapdev (and its
// automatic server mode); the host-mismatch "forces last-pass 4" rule; the
// module-signing rules; the TMPDIR check.
func Parse(argv []string, opts ParseOptions) (*Invocation, error) {
	prog := opts.Prog
	if prog == "" {
		prog = "stap-client"
	}
	// A C program never sees past a NUL byte in an argument.
	args := make([]string, len(argv))
	for i, a := range argv {
		if j := strings.IndexByte(a, 0); j >= 0 {
			a = a[:j]
		}
		args[i] = a
	}
	stap := opts.Stap
	if stap == "" {
		stap = Newest
	}
	p := &parser{
		stap: stap,
		g:    getopt{prog: prog, args: args, table: OptionsOf(stap)},
		inv: &Invocation{
			LastPass: 5,
			Runtime:  "kernel",
			Run:      RunOptions{MonitorInterval: 1},
		},
		priv: prStapdev,
	}
	for {
		m, ok, err := p.g.scan()
		if err != nil {
			return nil, p.fail(true, err.Error())
		}
		if !ok {
			break
		}
		stop, err := p.option(m)
		if err != nil {
			return nil, err
		}
		if stop {
			return p.inv, nil
		}
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	return p.inv, nil
}

// fail makes the error for stap's exit: the warnings so far, then lines.
func (p *parser) fail(usage bool, lines ...string) error {
	all := append(append([]string(nil), p.inv.Warnings...), lines...)
	return &UsageError{Lines: all, Usage: usage}
}

func (p *parser) failf(format string, a ...any) error {
	return p.fail(false, fmt.Sprintf(format, a...))
}

func (p *parser) warn(line string) { p.inv.Warnings = append(p.inv.Warnings, line) }

func (p *parser) push(arg string) { p.inv.ServerArgs = append(p.inv.ServerArgs, arg) }

func (p *parser) assertMatch(s safety, value string) error {
	if s.re.MatchString(value) {
		return nil
	}
	return p.failf("ERROR: Safety pattern mismatch for %s ('%s' vs. '%s') rc=1", s.name, value, s.pattern)
}

// refuseWithClientOptions is stap's check for options a server must not
// take from a client. stap words some "X invalid with" and some "X is
// invalid with".
func (p *parser) refuseWithClientOptions(spelling string, is bool) error {
	if !p.clientOptions {
		return nil
	}
	verb := "invalid with"
	if is {
		verb = "is invalid with"
	}
	return p.failf("ERROR: %s %s --client-options", spelling, verb)
}

// disallow notes an option a server refuses below stapdev.
func (p *parser) disallow(spelling string) {
	if p.clientOptions {
		p.disallowed = append(p.disallowed, spelling)
	}
}

func (p *parser) dump() error {
	if p.inv.DumpMode {
		return p.failf("ERROR: only one of the -l/-L/--dump-* switches may be specified")
	}
	p.inv.DumpMode = true
	return nil
}

// option applies one option, in stap's order of checks. stop means stap
// exits successfully at this option.
func (p *parser) option(m match) (stop bool, err error) {
	inv := p.inv
	if m.opt.Class == NeedsLocalStap && !contains(inv.NeedsLocal, m.spelling) {
		inv.NeedsLocal = append(inv.NeedsLocal, m.spelling)
	}
	key := m.opt.key()
	switch key {
	case "help":
		inv.Help = true
		return true, nil
	case "version":
		inv.Version = true
		return true, nil
	case "clean-cache":
		if err := p.refuseWithClientOptions("--clean-cache", true); err != nil {
			return false, err
		}
		// stap cleans its cache and exits here.
		inv.CleanCache = true
		return true, nil
	}
	for _, group := range optionGroups {
		if handled, err := group(p, key, m); handled {
			return false, err
		}
	}
	// Every table entry is handled by a group; a test keeps it so.
	return false, p.failf("Unhandled argument code %s", m.spelling)
}

// optionGroups handle the options that do not end parsing, one theme
// each; a group reports handled=false for an option it does not know.
var optionGroups = [...]func(p *parser, key string, m match) (handled bool, err error){
	(*parser).translatorOption,
	(*parser).inputOption,
	(*parser).runOption,
	(*parser).serverOption,
	(*parser).hostOption,
	(*parser).localStapOption,
}

// translatorOption handles the options that change what the translator
// does; they are forwarded as given.
func (p *parser) translatorOption(key string, m match) (handled bool, err error) {
	inv, arg := p.inv, m.arg
	switch key {
	case "v":
		p.push("-v")
		inv.Verbose++
		for i := range inv.PerPassVerbose {
			inv.PerPassVerbose[i]++
		}
	case "t", "W", "g", "P", "b", "u", "F":
		p.push("-" + key)
		switch key {
		case "g":
			inv.Guru = true
		case "F":
			inv.Run.LoadOnly = true
		}
	case "w":
		p.push("-w")
		inv.Run.SuppressWarnings = true
	case "p":
		v, rest := strtoul(arg, 10)
		n := cInt(v)
		if rest != "" || n < 1 || n > 5 {
			return true, p.failf("Invalid pass number (should be 1-5).")
		}
		inv.LastPass = n
		p.push("-p" + arg)
	case "q":
		if err := p.refuseWithClientOptions("-q", false); err != nil {
			return true, err
		}
		p.push("-q")
	case "debug":
		if err := p.refuseWithClientOptions("--debug", false); err != nil {
			return true, err
		}
		p.push("--debug")
		inv.KeepTmp = true // stap: --debug implies -k
	case "semantic-keep-going":
		p.push("--semantic-keep-going")
	case "skip-badvars", "check-version":
		p.push("--" + key)
	case "vp":
		ok := len(arg) >= 1 && len(arg) <= 5
		if ok {
			for i := 0; i < len(arg); i++ {
				if isDigit(arg[i]) {
					inv.PerPassVerbose[i] += int(arg[i] - '0')
				} else {
					ok = false
				}
			}
		}
		if !ok {
			return true, p.failf("Invalid --vp argument: it takes 1 to 5 digits.")
		}
		p.push("--vp=" + arg)
	case "suppress-time-limits":
		if !inv.Guru {
			return true, p.failf("ERROR --suppress-time-limits requires guru mode (-g)")
		}
		p.push("--suppress-time-limits")
	case "B":
		if err := p.refuseWithClientOptions("-B", false); err != nil {
			return true, err
		}
		p.push("-B" + arg)
	default:
		return false, nil
	}
	return true, nil
}

// inputOption handles the options that name the script, its inputs, the
// language version and the module.
func (p *parser) inputOption(key string, m match) (handled bool, err error) {
	inv, arg := p.inv, m.arg
	switch key {
	case "I":
		p.disallow("-I")
		inv.TapsetDirs = append(inv.TapsetDirs, arg)
	case "d":
		p.push("-d" + arg)
		if arg == "" {
			return true, p.failf("Data object (-d) cannot be empty.")
		}
	case "e":
		if inv.HaveScript {
			return true, p.failf("Only one script can be given on the command line.")
		}
		p.push("-e" + arg)
		inv.InlineScript, inv.Inline, inv.HaveScript = arg, true, true
	case "E":
		p.push("-E" + arg)
		inv.AdditionalScripts = append(inv.AdditionalScripts, arg)
	case "m":
		return true, p.moduleName(arg)
	case "r":
		if p.clientOptions {
			if err := p.assertMatch(safeRelease, arg); err != nil {
				return true, err
			}
		}
		p.push("-r" + arg)
		inv.Release = arg
	case "a":
		if err := p.assertMatch(safeArch, arg); err != nil {
			return true, err
		}
		p.push("-a" + arg)
		inv.Arch = arg
	case "D":
		if err := p.assertMatch(safeMacro, arg); err != nil {
			return true, err
		}
		p.disallow("-D")
		p.push("-D" + arg)
	case "l", "L":
		if err := p.dump(); err != nil {
			return true, err
		}
		p.push("-" + key + arg)
		inv.Run.SuppressWarnings = true
	case "dump-probe-types", "dump-probe-aliases", "dump-functions":
		if err := p.dump(); err != nil {
			return true, err
		}
		p.push("--" + key)
		if key != "dump-probe-types" {
			inv.Run.SuppressWarnings = true
		}
	case "compatible":
		p.push("--compatible=" + arg)
		if strverscmp(arg, p.stap) > 0 {
			return true, p.failf("ERROR: systemtap version %s cannot be compatible with future version %s", p.stap, arg)
		}
		inv.Compatible = arg
	default:
		return false, nil
	}
	return true, nil
}

// runOption handles the options for pass 5, which the client runs itself.
func (p *parser) runOption(key string, m match) (handled bool, err error) {
	inv, arg := p.inv, m.arg
	switch key {
	case "G":
		if err := p.assertMatch(safeGlobal, arg); err != nil {
			return true, err
		}
		inv.Run.Globals = append(inv.Run.Globals, arg)
	case "o":
		p.push("-o" + arg)
		inv.Run.OutputFile = arg
	case "s":
		v, rest := strtoul(arg, 10)
		n := cInt(v)
		if rest != "" || n < 1 || n > 4095 {
			return true, p.failf("Invalid buffer size (should be 1-4095).")
		}
		p.push("-s" + arg)
		inv.Run.BufferSize = n
	case "c":
		if arg == "" {
			return true, p.failf("Empty CMD string invalid.")
		}
		p.push("-c" + arg)
		inv.Run.Cmd = arg
	case "x":
		v, rest := strtoul(arg, 10)
		if rest != "" {
			return true, p.failf("Invalid target process ID number.")
		}
		p.push("-x" + arg)
		inv.Run.TargetPID = cInt(v)
	case "S":
		if err := p.assertMatch(safeSize, arg); err != nil {
			return true, err
		}
		p.push("-S" + arg)
		inv.Run.SizeOption = arg
	case "T":
		f, rest := strtod(arg)
		ms := cIntFromDouble(1000 * f)
		if rest != "" || ms < 1 {
			return true, p.failf("Invalid timeout interval.")
		}
		inv.Run.TimeoutMS = ms
	case "target-namespaces":
		v, rest := strtoul(arg, 10)
		n := cInt(v)
		if rest != "" || n < 1 {
			return true, p.failf("Invalid process ID number for target namespaces.")
		}
		inv.Run.TargetNamespacesPID = n
	case "monitor":
		inv.Run.Monitor = true
		if m.hasArg {
			v, rest := strtoul(arg, 10)
			n := cInt(v)
			if rest != "" || n < 1 {
				return true, p.failf("Invalid monitor interval.")
			}
			inv.Run.MonitorInterval = n
		}
	default:
		return false, nil
	}
	return true, nil
}

// serverOption handles the options that choose, list or trust compile
// servers, and the privilege asked of them.
func (p *parser) serverOption(key string, m match) (handled bool, err error) {
	inv, arg := p.inv, m.arg
	switch key {
	case "use-server", "server":
		if key == "use-server" {
			if err := p.refuseWithClientOptions("--use-server", true); err != nil {
				return true, err
			}
		} else if arg == "" {
			return true, p.failf("%s: ERROR: Missing argument to --server", p.g.prog)
		}
		inv.Servers = append(inv.Servers, arg)
	case "ssl":
		if arg == "" {
			return true, p.failf("%s: ERROR: Missing argument to --ssl", p.g.prog)
		}
		inv.SSLDirs = append(inv.SSLDirs, arg)
	case "json":
		inv.JSON = true
	case "find-timeout":
		inv.DiscoveryTimeout = arg
	case "find-domains":
		inv.DiscoveryDomains = append(inv.DiscoveryDomains, arg)
	case "use-server-on-error":
		if err := p.refuseWithClientOptions("--use-server-on-error", true); err != nil {
			return true, err
		}
		if m.hasArg {
			switch asciiLower(arg) {
			case "yes", "ye", "y", "no", "n":
			default:
				// Not fatal in stap: it says so and goes on.
				p.warn(fmt.Sprintf("Invalid argument '%s' for --use-server-on-error.", arg))
			}
		}
	case "list-servers":
		if err := p.refuseWithClientOptions("--list-servers", true); err != nil {
			return true, err
		}
		inv.ListServers = append(inv.ListServers, arg)
	case "trust-servers":
		if err := p.refuseWithClientOptions("--trust-servers", true); err != nil {
			return true, err
		}
		inv.TrustServers = arg
		if !m.hasArg {
			inv.TrustServers = "ssl"
		}
	case "client-options":
		p.clientOptions = true
	case "privilege":
		var level int
		switch arg {
		case "stapdev", "stapsys", "stapusr":
			level = privilegeBits(arg)
		default:
			return true, p.failf("Invalid argument '%s' for --privilege.", arg)
		}
		if err := p.setPrivilege(level, arg); err != nil {
			return true, err
		}
		p.push("--privilege=" + arg)
	case "unprivileged":
		if err := p.setPrivilege(prStapusr, "unprivileged"); err != nil {
			return true, err
		}
		p.push("--unprivileged")
	default:
		return false, nil
	}
	return true, nil
}

// hostOption handles the options that act on the local host: the temp
// dir, the cache, limits, the runtime, colours.
func (p *parser) hostOption(key string, m match) (handled bool, err error) {
	inv, arg := p.inv, m.arg
	switch key {
	case "k":
		if err := p.refuseWithClientOptions("-k", false); err != nil {
			return true, err
		}
		inv.KeepTmp = true
	case "interactive":
		// Without readline (Debian's build) stap ignores -i.
	case "tmpdir":
		if err := p.refuseWithClientOptions("--tmpdir", true); err != nil {
			return true, err
		}
		p.tmpdirSet = true
		inv.TmpDir = arg
	case "download-debuginfo":
		if m.hasArg && arg != "no" && arg != "yes" && atoi(arg) <= 0 && arg != "ask" {
			return true, p.failf("ERROR: %s is not a valid value. Use 'yes', 'no', 'ask' or a timeout value.", arg)
		}
	case "example", "suppress-handler-errors", "save-uprobes", "no-global-var-display":
		// Nothing to check; the class says what the client does.
	case "disable-cache", "poison-cache", "ldd", "all-modules", "remote-prefix":
		if err := p.refuseWithClientOptions("--"+key, true); err != nil {
			return true, err
		}
		inv.DisableCache = inv.DisableCache || key == "disable-cache"
		inv.PoisonCache = inv.PoisonCache || key == "poison-cache"
	case "rlimit-as", "rlimit-cpu", "rlimit-nproc", "rlimit-stack", "rlimit-fsize":
		return true, p.rlimit(key, arg)
	case "runtime":
		return true, p.runtime(arg)
	case "dyninst", "bpf":
		return true, p.runtime(key)
	case "build-as":
		if m.hasArg {
			if _, err := user.Lookup(arg); err != nil {
				return true, p.failf("ERROR: Failed converting userid \"%s\" to userid. Terminating.", arg)
			}
		}
	case "color", "colour":
		switch {
		case !m.hasArg || arg == "always":
			inv.Run.Color = "always"
		case arg == "auto" || arg == "never":
			inv.Run.Color = arg
		default:
			return true, p.failf("Invalid argument '%s' for --color.", arg)
		}
	case "prologue-searching":
		if m.hasArg && arg != "always" && arg != "auto" && arg != "never" {
			return true, p.failf("Invalid argument '%s' for --prologue-searching.", arg)
		}
	default:
		return false, nil
	}
	return true, nil
}

// localStapOption handles the options that need a local stap (Parse
// reports them in NeedsLocal) and those stap's build does not handle; stap
// still checks their values, so their messages are kept.
func (p *parser) localStapOption(key string, m match) (handled bool, err error) {
	arg := m.arg
	switch key {
	case "R":
		if err := p.refuseWithClientOptions("-R", false); err != nil {
			return true, err
		}
		p.runtimeSpecified = true
	case "J", "j":
		// In the getopt string but not handled by stap 4.8.
		return true, p.failf("Unhandled argument code %d", key[0])
	case "use-http-server":
		// Built without HTTP support, stap has no case for it and prints
		// (char)LONG_OPT_USE_HTTP_SERVER: (char)269 in 4.8, (char)270 from
		// 5.1 (LONG_OPT_BUILD_AS comes before it).
		code := 269 - 256
		if strverscmp(p.stap, "5.1") >= 0 {
			code++
		}
		return true, p.failf("Unhandled argument code %d", code)
	case "language-server":
		// A local mode (an LSP server on stdin); NeedsLocal refuses it.
		p.languageServer = true
	case "sign-module":
		if m.hasArg && !p.clientOptions {
			return true, p.failf("ERROR: --sign-module=PATH is only valid with --client-options")
		}
	case "remote":
		if err := p.refuseWithClientOptions("--remote", true); err != nil {
			return true, err
		}
		p.remotes++
	case "modinfo":
		if err := p.refuseWithClientOptions("--modinfo", true); err != nil {
			return true, err
		}
		if err := p.assertMatch(safeModinfo, arg); err != nil {
			return true, err
		}
	case "sysroot":
		if err := p.refuseWithClientOptions("--sysroot", false); err != nil {
			return true, err
		}
		if p.sysrootSeen {
			return true, p.failf("ERROR: multiple --sysroot options not supported")
		}
		// stap also canonicalizes the directory; the option needs a local
		// stap anyway, so the file system is not consulted here.
		p.sysrootSeen = true
	case "sysenv":
		if err := p.refuseWithClientOptions("--sysenv", false); err != nil {
			return true, err
		}
		if !p.sysrootSeen {
			return true, p.failf("ERROR: --sysenv must follow --sysroot")
		}
		if !strings.Contains(arg, "=") {
			return true, p.failf("ERROR: %s is an invalid argument for --sysenv", arg)
		}
	case "benchmark-sdt":
		p.benchThreads = 1 // stap uses the CPU count, never 0
	case "benchmark-sdt-loops":
		p.benchLoops, _ = strtoul(arg, 10)
	case "benchmark-sdt-threads":
		p.benchThreads, _ = strtoul(arg, 10)
	default:
		return false, nil
	}
	return true, nil
}

func (p *parser) moduleName(arg string) error {
	p.disallow("-m")
	name := arg
	// modutils dislikes foo.ko.ko, so stap drops the suffix.
	if strings.HasSuffix(name, ".ko") || strings.HasSuffix(name, ".so") {
		name = name[:len(name)-3]
		p.warn(fmt.Sprintf("Truncating module name to '%s'", name))
	}
	if name == "" {
		return p.failf("Module name cannot be empty.")
	}
	if err := p.assertMatch(safeModule, name); err != nil {
		return err
	}
	if len(name) >= moduleNameLen-1 {
		name = name[:moduleNameLen-1]
		p.warn(fmt.Sprintf("Truncating module name to '%s'", name))
	}
	// stap forwards the name as given, not the truncated one.
	p.push("-m" + arg)
	p.inv.ModuleName, p.inv.ModuleNameGiven = name, true
	return nil
}

func (p *parser) setPrivilege(level int, name string) error {
	if p.inv.PrivilegeSet && level != p.priv {
		return p.failf("Privilege level may be set only once.")
	}
	p.priv = level
	p.inv.Privilege, p.inv.PrivilegeSet = name, true
	return nil
}

func (p *parser) runtime(mode string) error {
	switch mode {
	case "kernel", "bpf":
		p.inv.Runtime = mode
		return nil
	case "dyninst":
		return &UsageError{
			Lines:       append(append([]string(nil), p.inv.Warnings...), "ERROR: --runtime=dyninst unavailable; this build lacks DYNINST feature"),
			ShowVersion: true,
		}
	}
	return p.failf("ERROR: %s is an invalid argument for --runtime", mode)
}

func (p *parser) rlimit(key, arg string) error {
	res := strings.TrimPrefix(key, "rlimit-")
	if arg == "" {
		return p.failf("An --%s option value must be specified.", key)
	}
	v, rest := strtoul(arg, 0)
	if rest != "" {
		if res == "as" {
			return p.failf("Unable to convert rlimit-as resource limit '%s'.", arg)
		}
		return p.failf("Unable to convert resource limit '%s' for %s", arg, key)
	}
	p.inv.Rlimits = append(p.inv.Rlimits, Rlimit{Resource: res, Value: v})
	return nil
}

// check is the command-line part of stap's check_options, in its order.
func (p *parser) check() error {
	inv := p.inv
	for _, a := range p.g.operands {
		// In dump mode the first operand is an argument, not a script.
		if !inv.HaveScript && !inv.DumpMode {
			inv.Script, inv.HaveScript = a, true
		} else {
			inv.ScriptArgs = append(inv.ScriptArgs, a)
		}
	}
	needScript := len(inv.ListServers) == 0 && inv.TrustServers == "" && !inv.DumpMode && !p.languageServer
	if p.benchLoops > 0 || p.benchThreads > 0 {
		if p.clientOptions || p.remotes > 0 {
			return p.fail(true, "Benchmark options are only for local use.")
		}
		needScript = false
	}
	switch {
	case needScript && !inv.HaveScript:
		return p.fail(true, "A script must be specified.", "Try '-i' for building a script interactively.")
	case inv.DumpMode && inv.HaveScript:
		return p.fail(true, "Cannot specify a script with -l/-L/--dump-* switches.")
	case inv.DumpMode && inv.LastPass != 5:
		return p.fail(true, "Cannot specify -p with -l/-L/--dump-* switches.")
	case inv.DumpMode && p.languageServer:
		return p.fail(true, "Cannot specify --language-server with -l/-L/--dump-* switches.")
	case inv.DumpMode && inv.Run.Monitor:
		return p.fail(true, "Cannot specify --monitor with -l/-L/--dump-* switches.")
	}
	if inv.DumpMode {
		// stap ignores -E in list modes.
		inv.AdditionalScripts = nil
	}
	if inv.Run.Monitor {
		return p.fail(false, "WARNING: Monitor mode is not supported by this version of systemtap")
	}
	if p.runtimeSpecified && len(inv.Servers) > 0 {
		p.warn("WARNING: Ignoring --use-server due to the use of -R")
		inv.Servers = nil
	}
	if p.clientOptions && inv.LastPass > 4 {
		inv.LastPass = 4
	}
	if p.clientOptions && p.priv&prStapdev == 0 && len(p.disallowed) > 0 {
		return p.fail(true, fmt.Sprintf("You can't specify %s when --privilege=%s is specified.",
			strings.Join(p.disallowed, ", "), prName(p.priv)))
	}
	if inv.Run.Cmd != "" && inv.Run.TargetPID != 0 {
		return p.fail(true, "You can't specify -c and -x together.")
	}
	if p.priv&prStapdev == 0 && inv.Guru {
		return p.fail(true, fmt.Sprintf("You can't specify -g and --privilege=%s together.", prName(p.priv)))
	}
	if p.remotes > 0 && p.tmpdirSet {
		return p.fail(true, "You can't specify --remote and --tmpdir together.")
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// atoi is C's atoi (strtol, then a cast to int).
func atoi(s string) int {
	i, neg := cSign(s)
	var v uint64
	saturated := false
	for ; i < len(s) && isDigit(s[i]); i++ {
		if v > (math.MaxUint64-9)/10 {
			saturated = true
			continue
		}
		v = v*10 + uint64(s[i]-'0')
	}
	switch {
	case !neg && (saturated || v > math.MaxInt64):
		return cInt(math.MaxInt64)
	case neg && (saturated || v > 1<<63):
		return cInt(1 << 63) // LONG_MIN
	case neg:
		return cInt(-v)
	}
	return cInt(v)
}

// asciiLower is tolower in the C locale.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
