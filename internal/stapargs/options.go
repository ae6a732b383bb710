// SPDX-License-Identifier: GPL-2.0-or-later

// Package stapargs parses a stap 4.8 command line the way stap itself does:
// GNU getopt_long over stap's option table (plus stap-client's own --server
// and --ssl), then stap's parse_cmdline and check_options rules. The result
// is a typed Invocation; every message stap would print is reproduced
// exactly so the caller can print it unchanged.
//
// The option table returned by Options is the single source of truth for
// the parser, shell completions and man-page checks.
package stapargs

// ArgKind says whether an option takes a value, as in getopt_long.
type ArgKind int

const (
	// NoArgument options take no value: `-k`, `--ldd`.
	NoArgument ArgKind = iota
	// RequiredArgument options take a value attached (`-p4`, `--tmpdir=D`)
	// or from the next argv (`-p 4`, `--tmpdir D`).
	RequiredArgument
	// OptionalArgument options take a value only in the `--opt=v` form.
	OptionalArgument
)

// Class says what stap-client does with an option.
type Class int

const (
	// Forward options are sent to the compile server, in stap's attached
	// form (`-p4`, `--privilege=stapusr`).
	Forward Class = iota + 1
	// Shipped options name local files that travel inside the request
	// (`-I DIR` becomes `-I tapset/...`).
	Shipped
	// Local options act on the client only (pass 5, temp dir, colours).
	Local
	// NeedsLocalStap options need a local systemtap translator and cannot
	// work with a compile server.
	NeedsLocalStap
	// Info options print help or the version and exit.
	Info
	// ServerControl options choose, list or trust compile servers.
	ServerControl
	// ClientOwn options are stap-client's own (2011 stap-client).
	ClientOwn
)

var classNames = [...]string{
	Forward:        "forward",
	Shipped:        "shipped",
	Local:          "local",
	NeedsLocalStap: "needs-local-stap",
	Info:           "info",
	ServerControl:  "server-control",
	ClientOwn:      "client-own",
}

func (c Class) String() string {
	if c > 0 && int(c) < len(classNames) {
		return classNames[c]
	}
	return "unknown"
}

// Option is one entry of the option table. An entry with both Short and
// Long set is one option with two spellings (-h/--help).
type Option struct {
	Short     byte   // the short letter, 0 if none
	Long      string // the long name without "--", "" if none
	Arg       ArgKind
	ArgName   string   // placeholder for help and completions, "" if no value
	Values    []string // the known values, for completions; nil if free-form
	SynonymOf string   // the long name this one is an alias of (colour → color)
	Class     Class
	// Since is the stap release that added the option ("5.1"); "" for
	// options stap 4.8 already had. Parsing as an older stap leaves it out.
	Since string
}

// Spellings returns the ways to write the option: "-h", "--help".
func (o Option) Spellings() []string {
	var s []string
	if o.Short != 0 {
		s = append(s, "-"+string(o.Short))
	}
	if o.Long != "" {
		s = append(s, "--"+o.Long)
	}
	return s
}

// key names the option for the parser's dispatch: the long name if any.
func (o *Option) key() string {
	if o.Long != "" {
		return o.Long
	}
	return string(o.Short)
}

// ShortOptions is stap 4.8's getopt short-option string (cmdline.h).
const ShortOptions = "hVvtp:I:e:E:o:R:r:a:m:kgPc:x:D:bs:uqiwl:d:L:FS:B:J:jWG:T:"

// Version is the stap release whose client protocol is reproduced (the
// request's version, the -V line).
const Version = "4.8"

// Newest is the stap release whose command line is parsed by default: its
// option table, abbreviations and ambiguity lists (ParseOptions.Stap picks
// an older one).
const Newest = "5.6"

var (
	whenValues      = []string{"always", "auto", "never"}
	privilegeValues = []string{"stapusr", "stapsys", "stapdev"}
)

// table is stap 5.6's stap_long_options in its exact order (the order
// matters: glibc lists ambiguous candidates in table order; 5.x inserted
// build-as after unprivileged and appended the others), then
// stap-client's own long options, then the short-only options in
// ShortOptions order. It is never modified; Options hands out copies.
var table = append(longOptions[:], shortOnlyOptions()...)

// longOptions are the options with a long name (table's first part).
var longOptions = [...]Option{
	{Long: "skip-badvars", Class: Forward},
	{Long: "vp", Arg: RequiredArgument, ArgName: "N", Class: Forward},
	{Long: "unprivileged", Class: Forward},
	// Runs passes 1-4 as USER; with a server those are the server's: no-op.
	{Long: "build-as", Arg: OptionalArgument, ArgName: "USER", Class: Local, Since: "5.1"},
	{Long: "client-options", Class: NeedsLocalStap},
	{Short: 'h', Long: "help", Class: Info},
	{Long: "disable-cache", Class: Local},
	{Long: "poison-cache", Class: Local},
	{Long: "clean-cache", Class: Local},
	{Long: "compatible", Arg: RequiredArgument, ArgName: "VERSION", Class: Forward},
	{Long: "ldd", Class: Local}, // with a server stap only sends the -d options given
	{Long: "use-server", Arg: OptionalArgument, ArgName: "SERVER-SPEC", Class: ServerControl},
	{Long: "list-servers", Arg: OptionalArgument, ArgName: "PROPERTIES", Class: ServerControl,
		Values: []string{"all", "specified", "online", "trusted", "signer", "compatible"}},
	{Long: "trust-servers", Arg: OptionalArgument, ArgName: "TRUST-SPEC", Class: ServerControl,
		Values: []string{"ssl", "signer", "all-users", "revoke", "no-prompt"}},
	{Long: "use-server-on-error", Arg: OptionalArgument, ArgName: "yes/no", Class: NeedsLocalStap,
		Values: []string{"yes", "no"}},
	{Long: "use-http-server", Arg: RequiredArgument, ArgName: "SERVER-SPEC", Class: NeedsLocalStap},
	{Long: "all-modules", Class: NeedsLocalStap},
	{Long: "sign-module", Arg: OptionalArgument, ArgName: "PATH", Class: NeedsLocalStap},
	{Long: "remote", Arg: RequiredArgument, ArgName: "HOSTNAME", Class: NeedsLocalStap},
	{Long: "remote-prefix", Class: NeedsLocalStap},
	{Long: "check-version", Class: Forward},
	{Short: 'V', Long: "version", Class: Info},
	{Long: "tmpdir", Arg: RequiredArgument, ArgName: "NAME", Class: Local},
	{Long: "download-debuginfo", Arg: OptionalArgument, ArgName: "OPTION", Class: Local,
		Values: []string{"yes", "no", "ask"}},
	{Long: "dump-probe-types", Class: Forward},
	{Long: "dump-probe-aliases", Class: Forward},
	{Long: "dump-functions", Class: Forward},
	{Long: "privilege", Arg: RequiredArgument, ArgName: "PRIVILEGE_LEVEL", Values: privilegeValues, Class: Forward},
	{Long: "suppress-handler-errors", Class: Local},
	{Long: "modinfo", Arg: RequiredArgument, ArgName: "NM=VAL", Class: NeedsLocalStap},
	{Long: "rlimit-as", Arg: RequiredArgument, ArgName: "NUM", Class: Local},
	{Long: "rlimit-cpu", Arg: RequiredArgument, ArgName: "NUM", Class: Local},
	{Long: "rlimit-nproc", Arg: RequiredArgument, ArgName: "NUM", Class: Local},
	{Long: "rlimit-stack", Arg: RequiredArgument, ArgName: "NUM", Class: Local},
	{Long: "rlimit-fsize", Arg: RequiredArgument, ArgName: "NUM", Class: Local},
	{Long: "sysroot", Arg: RequiredArgument, ArgName: "DIR", Class: NeedsLocalStap},
	{Long: "sysenv", Arg: RequiredArgument, ArgName: "VAR=VALUE", Class: NeedsLocalStap},
	{Long: "suppress-time-limits", Class: Forward},
	{Long: "runtime", Arg: RequiredArgument, ArgName: "MODE", Values: []string{"kernel", "bpf", "dyninst"}, Class: Local},
	{Long: "dyninst", Class: Local},
	{Long: "bpf", Class: Local},
	{Long: "benchmark-sdt", Class: NeedsLocalStap},
	{Long: "benchmark-sdt-loops", Arg: RequiredArgument, ArgName: "NUM", Class: NeedsLocalStap},
	{Long: "benchmark-sdt-threads", Arg: RequiredArgument, ArgName: "NUM", Class: NeedsLocalStap},
	{Long: "color", Arg: OptionalArgument, ArgName: "WHEN", Values: whenValues, Class: Local},
	{Long: "colour", Arg: OptionalArgument, ArgName: "WHEN", Values: whenValues, SynonymOf: "color", Class: Local},
	{Long: "prologue-searching", Arg: OptionalArgument, ArgName: "WHEN", Values: whenValues, Class: Local},
	{Long: "save-uprobes", Class: Local},
	{Long: "target-namespaces", Arg: RequiredArgument, ArgName: "PID", Class: Local},
	{Long: "monitor", Arg: OptionalArgument, ArgName: "INTERVAL", Class: Local},
	{Short: 'i', Long: "interactive", Class: NeedsLocalStap},
	{Long: "example", Class: NeedsLocalStap},
	{Long: "no-global-var-display", Class: Local},
	{Long: "language-server", Class: NeedsLocalStap, Since: "4.9"},
	// Forwarded as stap does; every server refuses it after --client-options.
	{Long: "debug", Class: Forward, Since: "5.6"},
	{Long: "semantic-keep-going", Class: Forward, Since: "5.6"},

	// stap-client's own (2011 man page); after stap's so that stap's
	// ambiguity messages keep their order.
	{Long: "server", Arg: RequiredArgument, ArgName: "HOST|IP[:PORT]", Class: ClientOwn},
	{Long: "ssl", Arg: RequiredArgument, ArgName: "DIRNAME", Class: ClientOwn},
	{Long: "json", Arg: NoArgument, Class: ClientOwn},
	{Long: "find-timeout", Arg: RequiredArgument, ArgName: "DURATION", Class: ClientOwn},
	{Long: "find-domains", Arg: RequiredArgument, ArgName: "DOMAINS", Class: ClientOwn},
}

// shortOnlyPlaceholders name the value of each short-only option that
// takes one; whether it does, and the order, come from ShortOptions.
var shortOnlyPlaceholders = map[byte]string{
	'p': "NUM", 'I': "DIR", 'e': "SCRIPT", 'E': "SCRIPT", 'o': "FILE", 'R': "DIR", 'r': "RELEASE",
	'a': "ARCH", 'm': "MODULE", 'c': "CMD", 'x': "PID", 'D': "NM=VAL", 's': "NUM", 'l': "PROBE",
	'd': "OBJECT", 'L': "PROBE", 'S': "size[,n]", 'B': "NM=VAL", 'J': "ARG", 'G': "VAR=VAL", 'T': "TIME",
}

// shortOnlyClasses are the short-only options that are not Forward.
var shortOnlyClasses = map[byte]Class{
	'I': Shipped, 'R': NeedsLocalStap, 'J': NeedsLocalStap, 'j': NeedsLocalStap,
	'k': Local, 'G': Local, 'T': Local,
}

// shortOnlyOptions are the entries of the short-only options, in
// ShortOptions order; the letters longOptions has (h, V, i) are left out.
func shortOnlyOptions() []Option {
	var out []Option
	for i := 0; i < len(ShortOptions); i++ {
		c := ShortOptions[i]
		if c == ':' || longOptionHasShort(c) {
			continue
		}
		o := Option{Short: c, Class: Forward}
		if i+1 < len(ShortOptions) && ShortOptions[i+1] == ':' {
			o.Arg, o.ArgName = RequiredArgument, shortOnlyPlaceholders[c]
		}
		if class, ok := shortOnlyClasses[c]; ok {
			o.Class = class
		}
		if c == 'p' {
			o.Values = []string{"1", "2", "3", "4", "5"}
		}
		out = append(out, o)
	}
	return out
}

func longOptionHasShort(c byte) bool {
	for _, o := range longOptions {
		if o.Short == c {
			return true
		}
	}
	return false
}

// Options returns the option table of the newest stap, in table order,
// as a fresh copy.
func Options() []Option { return OptionsOf(Newest) }

// OptionsOf returns the option table as stap release stap has it (plus
// stap-client's own options), in table order, as a fresh copy.
func OptionsOf(stap string) []Option {
	out := make([]Option, 0, len(table))
	for _, o := range table {
		if o.Since != "" && strverscmp(o.Since, stap) > 0 {
			continue
		}
		o.Values = append([]string(nil), o.Values...)
		out = append(out, o)
	}
	return out
}

// Lookup finds an option by spelling: "-p", "--tmpdir" (exact names only,
// no prefixes).
func Lookup(spelling string) (Option, bool) {
	for _, o := range Options() {
		for _, s := range o.Spellings() {
			if s == spelling {
				return o, true
			}
		}
	}
	return Option{}, false
}

// shortOption finds the table entry for a short letter.
func shortOption(c byte) *Option {
	for i := range table {
		if c != 0 && table[i].Short == c {
			return &table[i]
		}
	}
	return nil
}
