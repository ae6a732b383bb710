// SPDX-License-Identifier: GPL-2.0-or-later

package stapargs

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stap48Long is release-4.8 cmdline.cxx stap_long_options, in order, with
// n/r/o for no/required/optional argument.
var stap48Long = []struct {
	name string
	arg  ArgKind
}{
	{"skip-badvars", NoArgument}, {"vp", RequiredArgument}, {"unprivileged", NoArgument},
	{"client-options", NoArgument}, {"help", NoArgument}, {"disable-cache", NoArgument},
	{"poison-cache", NoArgument}, {"clean-cache", NoArgument}, {"compatible", RequiredArgument},
	{"ldd", NoArgument}, {"use-server", OptionalArgument}, {"list-servers", OptionalArgument},
	{"trust-servers", OptionalArgument}, {"use-server-on-error", OptionalArgument},
	{"use-http-server", RequiredArgument}, {"all-modules", NoArgument}, {"sign-module", OptionalArgument},
	{"remote", RequiredArgument}, {"remote-prefix", NoArgument}, {"check-version", NoArgument},
	{"version", NoArgument}, {"tmpdir", RequiredArgument}, {"download-debuginfo", OptionalArgument},
	{"dump-probe-types", NoArgument}, {"dump-probe-aliases", NoArgument}, {"dump-functions", NoArgument},
	{"privilege", RequiredArgument}, {"suppress-handler-errors", NoArgument}, {"modinfo", RequiredArgument},
	{"rlimit-as", RequiredArgument}, {"rlimit-cpu", RequiredArgument}, {"rlimit-nproc", RequiredArgument},
	{"rlimit-stack", RequiredArgument}, {"rlimit-fsize", RequiredArgument}, {"sysroot", RequiredArgument},
	{"sysenv", RequiredArgument}, {"suppress-time-limits", NoArgument}, {"runtime", RequiredArgument},
	{"dyninst", NoArgument}, {"bpf", NoArgument}, {"benchmark-sdt", NoArgument},
	{"benchmark-sdt-loops", RequiredArgument}, {"benchmark-sdt-threads", RequiredArgument},
	{"color", OptionalArgument}, {"colour", OptionalArgument}, {"prologue-searching", OptionalArgument},
	{"save-uprobes", NoArgument}, {"target-namespaces", RequiredArgument}, {"monitor", OptionalArgument},
	{"interactive", NoArgument}, {"example", NoArgument}, {"no-global-var-display", NoArgument},
}

func TestLongOptionsAreStap48InOrder(t *testing.T) {
	require.Len(t, stap48Long, 52)
	var got []Option
	for _, o := range OptionsOf("4.8") {
		if o.Long != "" {
			got = append(got, o)
		}
	}
	require.Len(t, got, 57, "52 of stap 4.8 plus --server, --ssl, --json, --find-timeout and --find-domains")
	for i, want := range stap48Long {
		assert.Equal(t, want.name, got[i].Long, "entry %d", i)
		assert.Equal(t, want.arg, got[i].Arg, "--%s", want.name)
	}
	assert.Equal(t, "server", got[52].Long)
	assert.Equal(t, RequiredArgument, got[52].Arg)
	assert.Equal(t, "ssl", got[53].Long)
	assert.Equal(t, RequiredArgument, got[53].Arg)
}

// TestLongOptionsAreStap56InOrder: HEAD cmdline.cxx (5.6) inserts
// build-as after unprivileged and appends three options.
func TestLongOptionsAreStap56InOrder(t *testing.T) {
	want := append([]string(nil), "skip-badvars", "vp", "unprivileged", "build-as")
	for _, o := range stap48Long[3:] {
		want = append(want, o.name)
	}
	want = append(want, "language-server", "debug", "semantic-keep-going", "server", "ssl", "json", "find-timeout", "find-domains")
	var got []string
	for _, o := range Options() {
		if o.Long != "" {
			got = append(got, o.Long)
		}
	}
	assert.Equal(t, want, got)
	b, _ := Lookup("--build-as")
	assert.Equal(t, OptionalArgument, b.Arg)
	assert.Equal(t, Local, b.Class)
	for name, class := range map[string]Class{"language-server": NeedsLocalStap, "debug": Forward, "semantic-keep-going": Forward} {
		o, ok := Lookup("--" + name)
		require.True(t, ok, name)
		assert.Equal(t, NoArgument, o.Arg, name)
		assert.Equal(t, class, o.Class, name)
	}
	// 5.1 has build-as and language-server but not the 5.6 ones.
	var in51 []string
	for _, o := range OptionsOf("5.1") {
		if o.Since != "" {
			in51 = append(in51, o.Long)
		}
	}
	assert.Equal(t, []string{"build-as", "language-server"}, in51)
}

func TestShortOptionsMatchGetoptString(t *testing.T) {
	var b strings.Builder
	seen := map[byte]Option{}
	for _, o := range Options() {
		if o.Short != 0 {
			_, dup := seen[o.Short]
			require.False(t, dup, "-%c twice", o.Short)
			seen[o.Short] = o
		}
	}
	for i := 0; i < len(ShortOptions); i++ {
		c := ShortOptions[i]
		if c == ':' {
			continue
		}
		o, ok := seen[c]
		require.True(t, ok, "-%c missing from the table", c)
		b.WriteByte(c)
		if o.Arg == RequiredArgument {
			b.WriteByte(':')
		}
		require.NotEqual(t, OptionalArgument, o.Arg, "-%c", c)
		delete(seen, c)
	}
	assert.Empty(t, seen, "short options not in stap's string")
	assert.Equal(t, ShortOptions, b.String())
}

func TestOptionsNotIn48AreUnrecognized(t *testing.T) {
	for _, name := range []string{"build-as", "language-server", "debug", "semantic-keep-going"} {
		_, err := Parse([]string{"--" + name, "x.stp"}, ParseOptions{Prog: "stap-client", Stap: "4.8"})
		assertUsage(t, err, true, "stap-client: unrecognized option '--"+name+"'")
	}
}

// TestStap5Options: what stap 5.6's parse_cmdline does with its new
// options.
func TestStap5Options(t *testing.T) {
	inv := parse(t, "--semantic-keep-going", "-p2", "--debug", "x.stp")
	assert.Equal(t, []string{"--semantic-keep-going", "-p2", "--debug"}, inv.ServerArgs)
	assert.True(t, inv.KeepTmp, "--debug implies -k")
	inv = parse(t, "--build-as", "--build-as=root", "x.stp")
	assert.Empty(t, inv.ServerArgs)
	assert.Empty(t, inv.NeedsLocal)
	_, err := Parse([]string{"--build-as=no such user", "x.stp"}, ParseOptions{})
	assertUsage(t, err, false, `ERROR: Failed converting userid "no such user" to userid. Terminating.`)
	_, err = Parse([]string{"--client-options", "--debug"}, ParseOptions{})
	assertUsage(t, err, false, "ERROR: --debug invalid with --client-options")
	inv = parse(t, "--language-server")
	assert.Equal(t, []string{"--language-server"}, inv.NeedsLocal)
	_, err = Parse([]string{"--se=x"}, ParseOptions{Prog: "p"})
	assertUsage(t, err, true, "p: option '--se=x' is ambiguous; possibilities: '--semantic-keep-going' '--server'")
	_, err = Parse([]string{"--use-http-server=x"}, ParseOptions{Stap: "5.1"})
	assertUsage(t, err, false, "Unhandled argument code 14")
	_, err = Parse([]string{"--use-http-server=x"}, ParseOptions{Stap: "5.0"})
	assertUsage(t, err, false, "Unhandled argument code 13")
}

func TestOptionsReturnsACopy(t *testing.T) {
	a := Options()
	a[0].Long = "changed"
	for i := range a {
		if a[i].Values != nil {
			a[i].Values[0] = "changed"
		}
	}
	b := Options()
	assert.Equal(t, "skip-badvars", b[0].Long)
	for _, o := range b {
		assert.NotContains(t, o.Values, "changed")
	}
}

func TestClasses(t *testing.T) {
	want := map[string]Class{
		"-v": Forward, "-p": Forward, "-e": Forward, "-m": Forward, "-x": Forward, "--privilege": Forward,
		"--vp": Forward, "--unprivileged": Forward, "--compatible": Forward, "--dump-functions": Forward,
		"-I": Shipped,
		"-k": Local, "--disable-cache": Local, "--poison-cache": Local, "--clean-cache": Local, "-G": Local, "-T": Local, "--tmpdir": Local, "--ldd": Local, "--color": Local, "--runtime": Local,
		"-R": NeedsLocalStap, "-i": NeedsLocalStap, "--interactive": NeedsLocalStap, "--remote": NeedsLocalStap,
		"--remote-prefix": NeedsLocalStap, "--sysroot": NeedsLocalStap, "--sysenv": NeedsLocalStap,
		"--all-modules": NeedsLocalStap, "--modinfo": NeedsLocalStap,
		"--example": NeedsLocalStap, "--use-server-on-error": NeedsLocalStap,
		"--use-http-server": NeedsLocalStap, "--benchmark-sdt": NeedsLocalStap,
		"--benchmark-sdt-loops": NeedsLocalStap, "--benchmark-sdt-threads": NeedsLocalStap,
		"--client-options": NeedsLocalStap, "--sign-module": NeedsLocalStap, "-J": NeedsLocalStap, "-j": NeedsLocalStap,
		"-h": Info, "--help": Info, "-V": Info, "--version": Info,
		"--use-server": ServerControl, "--list-servers": ServerControl, "--trust-servers": ServerControl,
		"--server": ClientOwn, "--ssl": ClientOwn, "--json": ClientOwn, "--find-timeout": ClientOwn, "--find-domains": ClientOwn,
	}
	for spelling, class := range want {
		o, ok := Lookup(spelling)
		require.True(t, ok, spelling)
		assert.Equal(t, class, o.Class, spelling)
	}
	for _, o := range Options() {
		assert.NotEqual(t, "unknown", o.Class.String(), o.Spellings())
	}
}

// TestEveryOptionIsHandled runs each option with a harmless value and checks
// the parser has a case for it.
func TestEveryOptionIsHandled(t *testing.T) {
	values := map[string]string{
		"p": "4", "s": "1", "x": "1", "T": "1", "G": "a=1", "D": "A", "S": "1", "a": "x86_64", "m": "m",
		"vp": "1", "compatible": "4.0", "privilege": "stapdev", "runtime": "kernel", "color": "auto",
		"colour": "auto", "prologue-searching": "auto", "target-namespaces": "1", "monitor": "1",
		"modinfo": "a=b", "rlimit-as": "1", "rlimit-cpu": "1", "rlimit-nproc": "1", "rlimit-stack": "1",
		"rlimit-fsize": "1", "download-debuginfo": "yes", "use-server-on-error": "yes", "sysenv": "A=B",
	}
	unhandled := map[string]string{"J": "Unhandled argument code 74", "j": "Unhandled argument code 106",
		"use-http-server": "Unhandled argument code 14"}
	for _, o := range Options() {
		o := o
		t.Run(o.key(), func(t *testing.T) {
			argv := []string{}
			if o.key() == "sysenv" {
				argv = append(argv, "--sysroot=/")
			}
			sp := o.Spellings()[0]
			switch o.Arg {
			case RequiredArgument:
				v, ok := values[o.key()]
				if !ok {
					v = "val"
				}
				argv = append(argv, sp, v)
			case OptionalArgument:
				v, ok := values[o.key()]
				if !ok {
					v = "val"
				}
				argv = append(argv, "--"+o.Long+"="+v)
			default:
				argv = append(argv, sp)
			}
			if o.key() == "suppress-time-limits" {
				argv = append([]string{"-g"}, argv...)
			}
			argv = append(argv, "x.stp")
			inv, err := Parse(argv, ParseOptions{})
			if msg, ok := unhandled[o.key()]; ok {
				assertUsage(t, err, false, msg)
				return
			}
			var ue *UsageError
			if err != nil {
				require.ErrorAs(t, err, &ue)
				assert.NotContains(t, ue.Error(), "Unhandled argument code")
				return
			}
			require.NotNil(t, inv)
			if o.Class == NeedsLocalStap {
				assert.Contains(t, inv.NeedsLocal, sp)
			}
		})
	}
}

// stap-client's own long options must not start with a letter any stap 4.8
// long option starts with (beyond the seed's --server and --ssl): otherwise
// an abbreviation that is unique for stap becomes ambiguous for us.
func TestOwnOptionsKeepStapAbbreviations(t *testing.T) {
	first := map[byte]bool{}
	for _, o := range Options() {
		if o.Long != "" && o.Class != ClientOwn {
			first[o.Long[0]] = true
		}
	}
	for _, o := range Options() {
		if o.Class == ClientOwn && o.Long != "server" && o.Long != "ssl" {
			assert.False(t, first[o.Long[0]], "--%s shares its first letter with a stap option", o.Long)
		}
	}
}
