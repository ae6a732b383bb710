// SPDX-License-Identifier: GPL-2.0-or-later

package stapargs

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func parse(t *testing.T, argv ...string) *Invocation {
	t.Helper()
	inv, err := Parse(argv, ParseOptions{Prog: "stap-client"})
	require.NoError(t, err, "argv %q", argv)
	require.NotNil(t, inv)
	return inv
}

// assertUsage checks err is a *UsageError with these lines and usage flag.
func assertUsage(t *testing.T, err error, usage bool, lines ...string) {
	t.Helper()
	var ue *UsageError
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, lines, ue.Lines)
	assert.Equal(t, usage, ue.Usage, "usage hint")
}

func TestProtocolExample(t *testing.T) {
	// docs/wire-protocol.md section 3 (example), seen live with stap 4.8.
	inv := parse(t, "-vvv", "-k", "--use-server=10.77.0.1:5555", "-r", "6.1.0-56-amd64", "-p2",
		"-I", "tapdir", "link.stp", "arg one", "two")
	assert.Equal(t, []string{"-v", "-v", "-v", "-r6.1.0-56-amd64", "-p2"}, inv.ServerArgs)
	assert.Equal(t, []string{"tapdir"}, inv.TapsetDirs)
	assert.Equal(t, "link.stp", inv.Script)
	assert.True(t, inv.HaveScript)
	assert.False(t, inv.Inline)
	assert.Equal(t, []string{"arg one", "two"}, inv.ScriptArgs)
	assert.Equal(t, []string{"10.77.0.1:5555"}, inv.Servers)
	assert.Equal(t, 3, inv.Verbose)
	assert.Equal(t, [5]int{3, 3, 3, 3, 3}, inv.PerPassVerbose)
	assert.Equal(t, 2, inv.LastPass)
	assert.True(t, inv.KeepTmp)
	assert.Equal(t, "6.1.0-56-amd64", inv.Release)
	assert.Empty(t, inv.NeedsLocal)
	assert.Empty(t, inv.Warnings)
}

func TestDefaults(t *testing.T) {
	inv := parse(t, "x.stp")
	assert.Equal(t, 5, inv.LastPass)
	assert.Equal(t, "kernel", inv.Runtime)
	assert.Equal(t, "stapdev", inv.PrivilegeLevel())
	assert.False(t, inv.PrivilegeSet)
	assert.Equal(t, 1, inv.Run.MonitorInterval)
	assert.Nil(t, inv.ServerArgs)
	assert.Equal(t, "", inv.Run.Color)
}

func TestServerArgsForms(t *testing.T) {
	inv := parse(t, "-v", "-t", "-p", "4", "-e", "probe begin{}", "-E", "probe end{}", "-o", "out",
		"-r", "rel", "-a", "x86_64", "-m", "mod.ko", "-g", "-P", "-c", "ls -l", "-x0", "-D", "A=1", "-b",
		"-s", "8", "-u", "-q", "-w", "-d", "/bin/ls", "-F", "-S", "2,3", "-B", "V=1", "-W",
		"--vp=01", "--skip-badvars", "--privilege=stapdev", "--compatible=4.0", "--check-version",
		"--suppress-time-limits", "-k", "-G", "g=5", "-T", "1.5", "-I", "dir", "--tmpdir=/t",
		"--color", "--prologue-searching=never", "--rlimit-cpu=0x10", "arg")
	assert.Equal(t, []string{
		"-v", "-t", "-p4", "-eprobe begin{}", "-Eprobe end{}", "-oout", "-rrel", "-ax86_64",
		"-mmod.ko", "-g", "-P", "-cls -l", "-x0", "-DA=1", "-b", "-s8", "-u", "-q", "-w", "-d/bin/ls",
		"-F", "-S2,3", "-BV=1", "-W", "--vp=01", "--skip-badvars", "--privilege=stapdev",
		"--compatible=4.0", "--check-version", "--suppress-time-limits",
	}, inv.ServerArgs)
	assert.True(t, inv.Inline)
	assert.Equal(t, "probe begin{}", inv.InlineScript)
	assert.Equal(t, "", inv.Script)
	assert.Equal(t, []string{"arg"}, inv.ScriptArgs, "with -e every operand is a script argument")
	assert.Equal(t, []string{"probe end{}"}, inv.AdditionalScripts)
	assert.Equal(t, "mod", inv.ModuleName)
	assert.True(t, inv.ModuleNameGiven)
	assert.Equal(t, []string{"Truncating module name to 'mod'"}, inv.Warnings)
	assert.Equal(t, [5]int{1, 2, 1, 1, 1}, inv.PerPassVerbose)
	assert.Equal(t, RunOptions{
		OutputFile: "out", Cmd: "ls -l", BufferSize: 8, LoadOnly: true, SizeOption: "2,3",
		Color: "always", Globals: []string{"g=5"}, MonitorInterval: 1, SuppressWarnings: true,
		TimeoutMS: 1500,
	}, inv.Run)
	assert.Equal(t, []Rlimit{{"cpu", 16}}, inv.Rlimits)
	assert.Equal(t, "/t", inv.TmpDir)
	assert.Equal(t, []string{"dir"}, inv.TapsetDirs)
	assert.Equal(t, "4.0", inv.Compatible)
	assert.True(t, inv.Guru)
}

func TestModuleNameForwardedAsGiven(t *testing.T) {
	long := "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij" // 60
	inv := parse(t, "-m", long+".ko", "x.stp")
	assert.Equal(t, long[:55], inv.ModuleName)
	assert.Equal(t, []string{"-m" + long + ".ko"}, inv.ServerArgs)
	assert.Equal(t, []string{
		"Truncating module name to '" + long + "'",
		"Truncating module name to '" + long[:55] + "'",
	}, inv.Warnings)
	// 55 characters is "truncated" to itself, with the warning.
	inv = parse(t, "-m", long[:55], "x.stp")
	assert.Equal(t, []string{"Truncating module name to '" + long[:55] + "'"}, inv.Warnings)
	inv = parse(t, "-m", long[:54], "x.stp")
	assert.Empty(t, inv.Warnings)
	inv = parse(t, "-m", "ABC.so", "x.stp")
	assert.Equal(t, "ABC", inv.ModuleName)
}

func TestGetopt(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		want func(t *testing.T, inv *Invocation)
	}{
		{"bundle", []string{"-vvv", "x"}, func(t *testing.T, inv *Invocation) {
			assert.Equal(t, 3, inv.Verbose)
		}},
		{"bundle with value", []string{"-kp4", "x"}, func(t *testing.T, inv *Invocation) {
			assert.True(t, inv.KeepTmp)
			assert.Equal(t, 4, inv.LastPass)
		}},
		{"separate value", []string{"-p", "3", "x"}, func(t *testing.T, inv *Invocation) {
			assert.Equal(t, 3, inv.LastPass)
		}},
		{"value looks like an option", []string{"-o", "-v", "x"}, func(t *testing.T, inv *Invocation) {
			assert.Equal(t, "-v", inv.Run.OutputFile)
			assert.Equal(t, 0, inv.Verbose)
		}},
		{"long with =", []string{"--tmpdir=/a=b", "x"}, func(t *testing.T, inv *Invocation) {
			assert.Equal(t, "/a=b", inv.TmpDir)
		}},
		{"long separate", []string{"--tmpdir", "--vp=1", "x"}, func(t *testing.T, inv *Invocation) {
			assert.Equal(t, "--vp=1", inv.TmpDir)
		}},
		{"optional only with =", []string{"--use-server", "host", "x"}, func(t *testing.T, inv *Invocation) {
			assert.Equal(t, []string{""}, inv.Servers)
			assert.Equal(t, "host", inv.Script)
			assert.Equal(t, []string{"x"}, inv.ScriptArgs)
		}},
		{"optional empty value", []string{"--use-server=", "--list-servers", "--list-servers=all"}, func(t *testing.T, inv *Invocation) {
			assert.Equal(t, []string{""}, inv.Servers)
			assert.Equal(t, []string{"", "all"}, inv.ListServers)
			assert.False(t, inv.HaveScript)
		}},
		{"unique prefix", []string{"--tmp=/d", "--use-server-on=no", "--dump-f"}, func(t *testing.T, inv *Invocation) {
			assert.Equal(t, "/d", inv.TmpDir)
			assert.Equal(t, []string{"--use-server-on-error"}, inv.NeedsLocal)
			assert.Equal(t, []string{"--dump-functions"}, inv.ServerArgs)
		}},
		{"exact match wins", []string{"--use-server=a", "--remote=h", "--color=never", "x"}, func(t *testing.T, inv *Invocation) {
			assert.Equal(t, []string{"a"}, inv.Servers)
			assert.Equal(t, []string{"--remote"}, inv.NeedsLocal)
			assert.Equal(t, "never", inv.Run.Color)
		}},
		{"synonyms are not ambiguous", []string{"--colo=auto", "x"}, func(t *testing.T, inv *Invocation) {
			assert.Equal(t, "auto", inv.Run.Color)
		}},
		{"own options take part in prefixes", []string{"--serv=h:1", "--ss=/db", "--ser", "h2", "x"}, func(t *testing.T, inv *Invocation) {
			assert.Equal(t, []string{"h:1", "h2"}, inv.Servers)
			assert.Equal(t, []string{"/db"}, inv.SSLDirs)
		}},
		{"server synonyms keep order", []string{"--server=a", "--use-server", "--use-server=b", "--server", "c", "x"}, func(t *testing.T, inv *Invocation) {
			assert.Equal(t, []string{"a", "", "b", "c"}, inv.Servers)
		}},
		{"permutation", []string{"x.stp", "-p3", "a1", "-v", "a2"}, func(t *testing.T, inv *Invocation) {
			assert.Equal(t, "x.stp", inv.Script)
			assert.Equal(t, []string{"a1", "a2"}, inv.ScriptArgs)
			assert.Equal(t, []string{"-p3", "-v"}, inv.ServerArgs)
		}},
		{"double dash ends options", []string{"-v", "--", "-p3", "--", "-x"}, func(t *testing.T, inv *Invocation) {
			assert.Equal(t, "-p3", inv.Script)
			assert.Equal(t, []string{"--", "-x"}, inv.ScriptArgs)
			assert.Equal(t, 5, inv.LastPass)
		}},
		{"operands before and after --", []string{"s", "a", "--", "-b"}, func(t *testing.T, inv *Invocation) {
			assert.Equal(t, "s", inv.Script)
			assert.Equal(t, []string{"a", "-b"}, inv.ScriptArgs)
		}},
		{"lone dash is stdin", []string{"-", "-v"}, func(t *testing.T, inv *Invocation) {
			assert.Equal(t, "-", inv.Script)
			assert.Equal(t, 1, inv.Verbose)
		}},
		{"empty operand", []string{"", "a"}, func(t *testing.T, inv *Invocation) {
			assert.True(t, inv.HaveScript)
			assert.Equal(t, "", inv.Script)
		}},
		{"dump mode operands are arguments", []string{"-l", "kernel.function(\"*\")", "x.stp"}, func(t *testing.T, inv *Invocation) {
			assert.False(t, inv.HaveScript)
			assert.True(t, inv.DumpMode)
			assert.Equal(t, []string{"x.stp"}, inv.ScriptArgs)
			assert.True(t, inv.Run.SuppressWarnings)
		}},
		{"dump with -p5", []string{"-p5", "--dump-probe-types", "-E", "x"}, func(t *testing.T, inv *Invocation) {
			assert.True(t, inv.DumpMode)
			assert.Nil(t, inv.AdditionalScripts, "stap drops -E in dump mode")
			assert.Equal(t, []string{"-p5", "--dump-probe-types", "-Ex"}, inv.ServerArgs)
		}},
		{"NUL ends an argument", []string{"-p4\x00junk", "x\x00y"}, func(t *testing.T, inv *Invocation) {
			assert.Equal(t, 4, inv.LastPass)
			assert.Equal(t, "x", inv.Script)
		}},
	}
	for _, tt := range tests {
		if tt.want == nil {
			continue
		}
		t.Run(tt.name, func(t *testing.T) { tt.want(t, parse(t, tt.argv...)) })
	}
}

func TestStopsAtHelpAndVersion(t *testing.T) {
	inv := parse(t, "-m", "a.ko", "-V", "--bogus")
	assert.True(t, inv.Version)
	assert.Equal(t, []string{"Truncating module name to 'a'"}, inv.Warnings)
	inv = parse(t, "--he", "-p9")
	assert.True(t, inv.Help)
	inv = parse(t, "-vh")
	assert.True(t, inv.Help)
	assert.Equal(t, 1, inv.Verbose)
	inv = parse(t, "--clean-cache", "--bogus")
	assert.True(t, inv.CleanCache)
	assert.Empty(t, inv.NeedsLocal)
	inv = parse(t, "--disable-cache", "--poison-cache", "-p4", "-e", "x")
	assert.True(t, inv.DisableCache)
	assert.True(t, inv.PoisonCache)
	assert.Equal(t, []string{"-p4", "-ex"}, inv.ServerArgs, "not forwarded: a server refuses them")

	_, err := Parse([]string{"--bogus", "-V"}, ParseOptions{Prog: "stap"})
	assertUsage(t, err, true, "stap: unrecognized option '--bogus'")
	_, err = Parse([]string{"-p9", "-h"}, ParseOptions{Prog: "stap"})
	assertUsage(t, err, false, "Invalid pass number (should be 1-5).")
}

func TestOtherFields(t *testing.T) {
	inv := parse(t, "--list-servers=online", "--trust-servers", "--ssl=/a", "--ssl", "/b")
	assert.Equal(t, []string{"online"}, inv.ListServers)
	assert.Equal(t, "ssl", inv.TrustServers)
	assert.Equal(t, []string{"/a", "/b"}, inv.SSLDirs)
	assert.False(t, inv.HaveScript)

	inv = parse(t, "--trust-servers=revoke,no-prompt")
	assert.Equal(t, "revoke,no-prompt", inv.TrustServers)

	inv = parse(t, "--unprivileged", "--privilege=stapusr", "x")
	assert.Equal(t, "stapusr", inv.Privilege)
	assert.Equal(t, "stapusr", inv.PrivilegeLevel())
	assert.Equal(t, []string{"--unprivileged", "--privilege=stapusr"}, inv.ServerArgs)
	inv = parse(t, "--privilege=stapsys", "--privilege=stapsys", "x")
	assert.Equal(t, "stapsys", inv.PrivilegeLevel())
	inv = parse(t, "--unprivileged", "x")
	assert.Equal(t, "unprivileged", inv.Privilege)
	assert.Equal(t, "stapusr", inv.PrivilegeLevel())

	inv = parse(t, "--bpf", "x")
	assert.Equal(t, "bpf", inv.Runtime)
	inv = parse(t, "--runtime=bpf", "--runtime=kernel", "x")
	assert.Equal(t, "kernel", inv.Runtime)

	inv = parse(t, "-x", "42", "--target-namespaces=7", "-s4095", "x")
	assert.Equal(t, 42, inv.Run.TargetPID)
	assert.Equal(t, 7, inv.Run.TargetNamespacesPID)
	assert.Equal(t, 4095, inv.Run.BufferSize)
	assert.Equal(t, []string{"-x42", "-s4095"}, inv.ServerArgs)
}

func TestNeedsLocal(t *testing.T) {
	inv := parse(t, "-R", "/rt", "-i", "--remote=h", "--remote", "h2", "--interactive", "--example",
		"--sysroot=/", "--sysenv=A=B", "--modinfo=a=b", "--all-modules", "--remote-prefix",
		"--use-server-on-error", "--benchmark-sdt-loops=0", "--client-options", "x")
	assert.Equal(t, []string{"-R", "-i", "--remote", "--interactive", "--example", "--sysroot",
		"--sysenv", "--modinfo", "--all-modules", "--remote-prefix", "--use-server-on-error",
		"--benchmark-sdt-loops", "--client-options"}, inv.NeedsLocal)
	assert.Empty(t, inv.ServerArgs)
	assert.Equal(t, 4, inv.LastPass, "--client-options quietly lowers pass 5 to 4")

	inv = parse(t, "-R", "/rt", "--use-server=h", "--server=h2", "x")
	assert.Nil(t, inv.Servers)
	assert.Equal(t, []string{"WARNING: Ignoring --use-server due to the use of -R"}, inv.Warnings)
}

func TestWarningsWithoutFailing(t *testing.T) {
	inv := parse(t, "--use-server-on-error=maybe", "--use-server-on-error=", "--use-server-on-error=YE", "x")
	assert.Equal(t, []string{
		"Invalid argument 'maybe' for --use-server-on-error.",
		"Invalid argument '' for --use-server-on-error.",
	}, inv.Warnings)
}

func TestValidationErrors(t *testing.T) {
	tests := []struct {
		argv  []string
		usage bool
		lines []string
	}{
		// getopt
		{[]string{"--foo"}, true, []string{"p: unrecognized option '--foo'"}},
		{[]string{"--foo=bar"}, true, []string{"p: unrecognized option '--foo=bar'"}},
		{[]string{"---foo"}, true, []string{"p: unrecognized option '---foo'"}},
		{[]string{"-z"}, true, []string{"p: invalid option -- 'z'"}},
		{[]string{"-vzv"}, true, []string{"p: invalid option -- 'z'"}},
		{[]string{"-:"}, true, []string{"p: invalid option -- ':'"}},
		{[]string{"-\xc3\xa9"}, true, []string{"p: invalid option -- '\xc3'"}},
		{[]string{"x", "-p"}, true, []string{"p: option requires an argument -- 'p'"}},
		{[]string{"-vp"}, true, []string{"p: option requires an argument -- 'p'"}},
		{[]string{"--tmpdir"}, true, []string{"p: option '--tmpdir' requires an argument"}},
		{[]string{"--tmp"}, true, []string{"p: option '--tmpdir' requires an argument"}},
		{[]string{"--server"}, true, []string{"p: option '--server' requires an argument"}},
		{[]string{"--help=x"}, true, []string{"p: option '--help' doesn't allow an argument"}},
		{[]string{"--hel=x"}, true, []string{"p: option '--help' doesn't allow an argument"}},
		{[]string{"--co"}, true, []string{"p: option '--co' is ambiguous; possibilities: '--compatible' '--color' '--colour'"}},
		{[]string{"--co=1"}, true, []string{"p: option '--co=1' is ambiguous; possibilities: '--compatible' '--color' '--colour'"}},
		{[]string{"--use-serv"}, true, []string{"p: option '--use-serv' is ambiguous; possibilities: '--use-server' '--use-server-on-error'"}},
		{[]string{"--dump"}, true, []string{"p: option '--dump' is ambiguous; possibilities: '--dump-probe-types' '--dump-probe-aliases' '--dump-functions'"}},
		{[]string{"--s"}, true, []string{"p: option '--s' is ambiguous; possibilities: '--skip-badvars' '--sign-module' '--suppress-handler-errors' '--sysroot' '--sysenv' '--suppress-time-limits' '--save-uprobes' '--semantic-keep-going' '--server' '--ssl'"}},
		{[]string{"--d"}, true, []string{"p: option '--d' is ambiguous; possibilities: '--disable-cache' '--download-debuginfo' '--dump-probe-types' '--dump-probe-aliases' '--dump-functions' '--dyninst' '--debug'"}},
		{[]string{"-m", "a.ko", "--foo"}, true, []string{"Truncating module name to 'a'", "p: unrecognized option '--foo'"}},
		// parse_cmdline
		{[]string{"-p", "6"}, false, []string{"Invalid pass number (should be 1-5)."}},
		{[]string{"-vpk"}, false, []string{"Invalid pass number (should be 1-5)."}},
		{[]string{"-p", "4x"}, false, []string{"Invalid pass number (should be 1-5)."}},
		{[]string{"-p", ""}, false, []string{"Invalid pass number (should be 1-5)."}},
		{[]string{"-p", "-0"}, false, []string{"Invalid pass number (should be 1-5)."}},
		{[]string{"-s", "0"}, false, []string{"Invalid buffer size (should be 1-4095)."}},
		{[]string{"-s", "4096"}, false, []string{"Invalid buffer size (should be 1-4095)."}},
		{[]string{"-s", "4095 "}, false, []string{"Invalid buffer size (should be 1-4095)."}},
		{[]string{"-c", ""}, false, []string{"Empty CMD string invalid."}},
		{[]string{"-x", "a"}, false, []string{"Invalid target process ID number."}},
		{[]string{"-e", "x", "-e", "y"}, false, []string{"Only one script can be given on the command line."}},
		{[]string{"-m", ""}, false, []string{"Module name cannot be empty."}},
		{[]string{"-m", ".ko"}, false, []string{"Truncating module name to ''", "Module name cannot be empty."}},
		{[]string{"-m", "a-b"}, false, []string{"ERROR: Safety pattern mismatch for -m parameter ('a-b' vs. '^[a-z0-9_]+$') rc=1"}},
		{[]string{"-m", "\u212a"}, false, []string{"ERROR: Safety pattern mismatch for -m parameter ('\u212a' vs. '^[a-z0-9_]+$') rc=1"}},
		{[]string{"-G", "x"}, false, []string{"ERROR: Safety pattern mismatch for -G parameter ('x' vs. '^[a-z_][a-z0-9_]*=[a-z0-9_.-]+$') rc=1"}},
		{[]string{"-a", "x86 64"}, false, []string{"ERROR: Safety pattern mismatch for -a parameter ('x86 64' vs. '^[a-z0-9_-]+$') rc=1"}},
		{[]string{"-D", "a b"}, false, []string{"ERROR: Safety pattern mismatch for -D parameter ('a b' vs. '^[a-z_][a-z_0-9]*(=-?[a-z_0-9]+)?$') rc=1"}},
		{[]string{"-D", "A=1\n"}, false, []string{"ERROR: Safety pattern mismatch for -D parameter ('A=1\n' vs. '^[a-z_][a-z_0-9]*(=-?[a-z_0-9]+)?$') rc=1"}},
		{[]string{"-S", "x"}, false, []string{"ERROR: Safety pattern mismatch for -S parameter ('x' vs. '^[0-9]+(,[0-9]+)?$') rc=1"}},
		{[]string{"--modinfo=bad"}, false, []string{"ERROR: Safety pattern mismatch for --modinfo parameter ('bad' vs. '^[a-z_][a-z0-9_]*=.+$') rc=1"}},
		{[]string{"-d", ""}, false, []string{"Data object (-d) cannot be empty."}},
		{[]string{"-T", "0"}, false, []string{"Invalid timeout interval."}},
		{[]string{"-T", "0.0005"}, false, []string{"Invalid timeout interval."}},
		{[]string{"-T", "nan"}, false, []string{"Invalid timeout interval."}},
		{[]string{"-T", "1e400"}, false, []string{"Invalid timeout interval."}},
		{[]string{"-T", "1 "}, false, []string{"Invalid timeout interval."}},
		{[]string{"--vp=123456"}, false, []string{"Invalid --vp argument: it takes 1 to 5 digits."}},
		{[]string{"--vp="}, false, []string{"Invalid --vp argument: it takes 1 to 5 digits."}},
		{[]string{"--vp=1a"}, false, []string{"Invalid --vp argument: it takes 1 to 5 digits."}},
		{[]string{"--privilege=foo"}, false, []string{"Invalid argument 'foo' for --privilege."}},
		{[]string{"--privilege=stapusr", "--privilege=stapdev"}, false, []string{"Privilege level may be set only once."}},
		{[]string{"--privilege=stapsys", "--unprivileged"}, false, []string{"Privilege level may be set only once."}},
		{[]string{"--color=x"}, false, []string{"Invalid argument 'x' for --color."}},
		{[]string{"--colour="}, false, []string{"Invalid argument '' for --color."}},
		{[]string{"--prologue-searching=x"}, false, []string{"Invalid argument 'x' for --prologue-searching."}},
		{[]string{"--runtime=foo"}, false, []string{"ERROR: foo is an invalid argument for --runtime"}},
		{[]string{"--target-namespaces=0"}, false, []string{"Invalid process ID number for target namespaces."}},
		{[]string{"--monitor=0"}, false, []string{"Invalid monitor interval."}},
		{[]string{"--suppress-time-limits", "-g"}, false, []string{"ERROR --suppress-time-limits requires guru mode (-g)"}},
		{[]string{"--compatible=9.9"}, false, []string{"ERROR: systemtap version 5.6 cannot be compatible with future version 9.9"}},
		{[]string{"--compatible=5.10"}, false, []string{"ERROR: systemtap version 5.6 cannot be compatible with future version 5.10"}},
		{[]string{"-l", "x", "-L", "y"}, false, []string{"ERROR: only one of the -l/-L/--dump-* switches may be specified"}},
		{[]string{"--dump-functions", "--dump-functions"}, false, []string{"ERROR: only one of the -l/-L/--dump-* switches may be specified"}},
		{[]string{"--download-debuginfo=bad"}, false, []string{"ERROR: bad is not a valid value. Use 'yes', 'no', 'ask' or a timeout value."}},
		{[]string{"--download-debuginfo=-3"}, false, []string{"ERROR: -3 is not a valid value. Use 'yes', 'no', 'ask' or a timeout value."}},
		{[]string{"--sign-module=x"}, false, []string{"ERROR: --sign-module=PATH is only valid with --client-options"}},
		{[]string{"--sysenv=a=b"}, false, []string{"ERROR: --sysenv must follow --sysroot"}},
		{[]string{"--sysroot=/", "--sysenv=ab"}, false, []string{"ERROR: ab is an invalid argument for --sysenv"}},
		{[]string{"--sysroot=/", "--sysroot=/"}, false, []string{"ERROR: multiple --sysroot options not supported"}},
		{[]string{"--rlimit-as="}, false, []string{"An --rlimit-as option value must be specified."}},
		{[]string{"--rlimit-as=x"}, false, []string{"Unable to convert rlimit-as resource limit 'x'."}},
		{[]string{"--rlimit-cpu=08"}, false, []string{"Unable to convert resource limit '08' for rlimit-cpu"}},
		{[]string{"--rlimit-nproc=x"}, false, []string{"Unable to convert resource limit 'x' for rlimit-nproc"}},
		{[]string{"-j"}, false, []string{"Unhandled argument code 106"}},
		{[]string{"-J", "x"}, false, []string{"Unhandled argument code 74"}},
		{[]string{"--use-http-server=x"}, false, []string{"Unhandled argument code 14"}},
		{[]string{"--server="}, false, []string{"p: ERROR: Missing argument to --server"}},
		{[]string{"--ssl", ""}, false, []string{"p: ERROR: Missing argument to --ssl"}},
		// --client-options (what a server's stap refuses)
		{[]string{"--client-options", "-k"}, false, []string{"ERROR: -k invalid with --client-options"}},
		{[]string{"--client-options", "-B", "x"}, false, []string{"ERROR: -B invalid with --client-options"}},
		{[]string{"--client-options", "--tmpdir=x"}, false, []string{"ERROR: --tmpdir is invalid with --client-options"}},
		{[]string{"--client-options", "--use-server"}, false, []string{"ERROR: --use-server is invalid with --client-options"}},
		{[]string{"--client-options", "--sysroot=/"}, false, []string{"ERROR: --sysroot invalid with --client-options"}},
		{[]string{"--client-options", "-r", "/build"}, false, []string{"ERROR: Safety pattern mismatch for -r parameter from client ('/build' vs. '^[a-z0-9_.+-]+$') rc=1"}},
		{[]string{"--client-options", "--privilege=stapusr", "-I", "d", "-m", "m", "-D", "X", "x"}, true, []string{"You can't specify -I, -m, -D when --privilege=stapusr is specified."}},
		// check_options
		{nil, true, []string{"A script must be specified.", "Try '-i' for building a script interactively."}},
		{[]string{"-v", "-i"}, true, []string{"A script must be specified.", "Try '-i' for building a script interactively."}},
		{[]string{"-e", "x", "--dump-functions"}, true, []string{"Cannot specify a script with -l/-L/--dump-* switches."}},
		{[]string{"-l", "x", "-p3"}, true, []string{"Cannot specify -p with -l/-L/--dump-* switches."}},
		{[]string{"-l", "x", "--monitor"}, true, []string{"Cannot specify --monitor with -l/-L/--dump-* switches."}},
		{[]string{"-e", "x", "--monitor"}, false, []string{"WARNING: Monitor mode is not supported by this version of systemtap"}},
		{[]string{"-e", "x", "-c", "ls", "-x", "1"}, true, []string{"You can't specify -c and -x together."}},
		{[]string{"-e", "x", "-c", "ls", "-x", "-1"}, true, []string{"You can't specify -c and -x together."}},
		{[]string{"-e", "x", "-g", "--privilege=stapusr"}, true, []string{"You can't specify -g and --privilege=stapusr together."}},
		{[]string{"-e", "x", "-g", "--unprivileged"}, true, []string{"You can't specify -g and --privilege=stapusr together."}},
		{[]string{"-e", "x", "--privilege=stapsys", "-g"}, true, []string{"You can't specify -g and --privilege=stapsys together."}},
		{[]string{"-e", "x", "--remote=h", "--tmpdir=/t"}, true, []string{"You can't specify --remote and --tmpdir together."}},
		{[]string{"--benchmark-sdt", "--remote=x"}, true, []string{"Benchmark options are only for local use."}},
		{[]string{"--use-server-on-error=maybe"}, true, []string{"Invalid argument 'maybe' for --use-server-on-error.", "A script must be specified.", "Try '-i' for building a script interactively."}},
	}
	for _, tt := range tests {
		inv, err := Parse(tt.argv, ParseOptions{Prog: "p"})
		assert.Nil(t, inv, "%q", tt.argv)
		var ue *UsageError
		if assert.ErrorAs(t, err, &ue, "%q", tt.argv) {
			assert.Equal(t, tt.lines, ue.Lines, "%q", tt.argv)
			assert.Equal(t, tt.usage, ue.Usage, "usage hint for %q", tt.argv)
			assert.False(t, ue.ShowVersion, "%q", tt.argv)
		}
	}
}

func TestDyninstShowsVersion(t *testing.T) {
	for _, argv := range [][]string{{"--dyninst"}, {"--runtime=dyninst"}, {"--runtime", "dyninst"}} {
		_, err := Parse(argv, ParseOptions{})
		var ue *UsageError
		require.ErrorAs(t, err, &ue)
		assert.Equal(t, []string{"ERROR: --runtime=dyninst unavailable; this build lacks DYNINST feature"}, ue.Lines)
		assert.True(t, ue.ShowVersion)
		assert.False(t, ue.Usage)
	}
}

func TestCOddNumbers(t *testing.T) {
	// strtoul quirks stap accepts.
	assert.Equal(t, 4, parse(t, "-p", " 4", "x").LastPass)
	assert.Equal(t, 4, parse(t, "-p", "+4", "x").LastPass)
	assert.Equal(t, 1, parse(t, "-p", "4294967297", "x").LastPass)
	assert.Equal(t, 5, parse(t, "-p", "-4294967291", "x").LastPass)
	assert.Equal(t, 0, parse(t, "-x", "", "x").Run.TargetPID)
	assert.Equal(t, []string{"-x"}, parse(t, "-x", "", "x").ServerArgs)
	assert.Equal(t, -1, parse(t, "-x", "-1", "x").Run.TargetPID)
	assert.Equal(t, 16000, parse(t, "-T", "0x10", "x").Run.TimeoutMS)
	assert.Equal(t, 250, parse(t, "-T", "0x1p-2", "x").Run.TimeoutMS)
	assert.Equal(t, 1, parse(t, "-T", "1e-3", "x").Run.TimeoutMS)
	assert.Equal(t, 1000, parse(t, "-T", " 1", "x").Run.TimeoutMS)
	// -c with -x 0 is fine: stap tests the PID, not the option.
	assert.Equal(t, "ls", parse(t, "-e", "x", "-c", "ls", "-x", "0").Run.Cmd)
}

func TestUsageErrorText(t *testing.T) {
	e := &UsageError{Lines: []string{"a", "b"}}
	assert.Equal(t, "a\nb", e.Error())
	assert.Equal(t, []string{"Try '--help' for more information. [man stap]",
		"A message like [man foo] means for more info, run % man foo"}, UsageHint())
}

func TestEmptyLongNameMatchesEverything(t *testing.T) {
	// glibc treats "--=x" as the empty prefix of every long option.
	_, err := Parse([]string{"--=x"}, ParseOptions{Prog: "p"})
	var ue *UsageError
	require.ErrorAs(t, err, &ue)
	var names []string
	for _, o := range Options() {
		if o.Long != "" {
			names = append(names, "'--"+o.Long+"'")
		}
	}
	assert.Equal(t, []string{"p: option '--=x' is ambiguous; possibilities: " + strings.Join(names, " ")}, ue.Lines)
}
