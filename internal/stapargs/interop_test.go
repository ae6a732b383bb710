// SPDX-License-Identifier: GPL-2.0-or-later

package stapargs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The interop tests run the real stap on command lines that it rejects
// while parsing (so nothing is ever compiled) and compare its stderr with
// what Parse reports, parsing as that stap: Debian 12's stap 4.8 on the
// host, and sid's stap 5.6 in the chroot the 5.x lab builds
// (test/lab/chroot5.sh).

// realStap is one real stap: on the host (root "") or in a chroot.
type realStap struct {
	stap string // its release, for ParseOptions.Stap
	root string
}

const stap56Root = "/var/cache/stap-client-lab/sid"

// realStaps are the stap releases to compare with; a missing one fails
// the test unless SKIP_INTEROP=1.
func realStaps(t *testing.T) []realStap {
	t.Helper()
	if os.Getenv("SKIP_INTEROP") == "1" {
		t.Skip("!!! SKIP_INTEROP=1: NOT comparing the parser with the real stap 4.8 and 5.6 — its messages are unchecked !!!")
	}
	if _, err := os.Stat("/usr/bin/stap"); err != nil {
		t.Fatalf("the real stap 4.8 is needed at /usr/bin/stap for this test (%v); install systemtap or set SKIP_INTEROP=1", err)
	}
	root := stap56Root
	if v := os.Getenv("STAP56_ROOT"); v != "" {
		root = v
	}
	if _, err := os.Stat(filepath.Join(root, "usr/bin/stap")); err != nil {
		t.Fatalf("the real stap 5.6 is needed in %s (%v); build it with test/lab/chroot5.sh (make test does) or set SKIP_INTEROP=1", root, err)
	}
	return []realStap{{stap: "4.8"}, {stap: "5.6", root: root}}
}

// each runs f once per real stap, as a subtest named by its release.
func each(t *testing.T, f func(t *testing.T, r realStap)) {
	for _, r := range realStaps(t) {
		t.Run(r.stap, func(t *testing.T) { f(t, r) })
	}
}

// home is a private HOME and TMPDIR that this stap can reach.
func (r realStap) home(t *testing.T) string {
	t.Helper()
	if r.root == "" {
		return t.TempDir()
	}
	d, err := os.MkdirTemp(filepath.Join(r.root, "tmp"), "stapargs-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// inside is what a host path under the chroot reads as from inside it.
func (r realStap) inside(s string) string {
	if r.root == "" {
		return s
	}
	return strings.ReplaceAll(s, r.root+"/", "/")
}

func (r realStap) opts() ParseOptions { return ParseOptions{Prog: "stap-client", Stap: r.stap} }

type stapRun struct {
	stdout, stderr string
	code           int
}

// runStap runs stap with HOME and TMPDIR in a private directory, the C
// locale and nothing else from our environment.
func runStap(t *testing.T, r realStap, home string, env map[string]string, args ...string) stapRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	inside := r.inside(home)
	cmd := exec.CommandContext(ctx, "/usr/bin/stap", args...)
	cmd.Args[0] = "stap" // getopt names the program by argv[0]
	if r.root != "" {
		// chroot finds "stap" on PATH inside and keeps that argv[0].
		cmd = exec.CommandContext(ctx, "/usr/sbin/chroot", append([]string{r.root, "stap"}, args...)...)
	}
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + inside, "TMPDIR=" + inside, "LC_ALL=C"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin = strings.NewReader("")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	require.NoError(t, ctx.Err(), "stap %q timed out", args)
	code := 0
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else {
		require.NoError(t, err, "running stap %q", args)
	}
	return stapRun{out.String(), errOut.String(), code}
}

// expectedStderr is what stap prints for err.
func expectedStderr(err error) string {
	var ue *UsageError
	if !errors.As(err, &ue) {
		return "not a usage error: " + err.Error()
	}
	lines := append([]string(nil), ue.Lines...)
	if ue.Usage {
		lines = append(lines, UsageHint()...)
	}
	return strings.Join(lines, "\n") + "\n"
}

// renamed is stap's output with our program name where getopt puts it.
func renamed(stderr string) string {
	return regexp.MustCompile(`(?m)^stap: `).ReplaceAllString(stderr, "stap-client: ")
}

func TestInteropRejectedCommandLines(t *testing.T) {
	cases := [][]string{
		{"--foo"}, {"--foo=bar"}, {"---foo"}, {"--co"}, {"--co=1"}, {"-z"}, {"-vzv"}, {"-\xc3\xa9"},
		{"-p"}, {"x", "-p"}, {"--tmpdir"}, {"--tmp"}, {"--help=x"}, {"--hel=x"}, {"--use-serv"},
		{"--dump"}, {"--d"}, {"--rlimit"}, {"--bogus", "-V"},
		{"-p", "6"}, {"-p", "4x"}, {"-p", ""}, {"-vpk"}, {"-s", "0"}, {"-s", "4095 "}, {"-c", ""},
		{"-x", "a"}, {"-e", "x", "-e", "y"}, {"-m", ""}, {"-m", ".ko"}, {"-m", "a-b"},
		{"-m", "ABC.ko", "--foo"}, {"-m", "\u212a"}, {"-G", "x"}, {"-a", "x 6"}, {"-D", "a b"},
		{"-D", "A=1\n"}, {"-S", "x"}, {"--modinfo=bad"}, {"-d", ""}, {"-T", "0"}, {"-T", "nan"},
		{"-T", "1e400"}, {"-T", "0x10", "-Gbad"}, {"-p", "4294967297", "-Gbad"},
		{"--vp=123456"}, {"--vp=1a"}, {"--privilege=foo"}, {"--privilege=stapusr", "--privilege=stapdev"},
		{"--color=x"}, {"--colour="}, {"--prologue-searching=x"}, {"--runtime=foo"}, {"--target-namespaces=0"},
		{"--monitor=0"}, {"--suppress-time-limits"}, {"--compatible=9.9"}, {"--compatible=4.10"},
		{"-l", "x", "-L", "y"}, {"--download-debuginfo=bad"}, {"--sign-module=x"}, {"--sysenv=a=b"},
		{"--sysroot=/", "--sysroot=/"}, {"--rlimit-as="}, {"--rlimit-as=x"}, {"--rlimit-cpu=08"},
		{"-j"}, {"-J", "x"}, {"--use-http-server=x"}, {}, {"-i"}, {"-e", "x", "--dump-functions"},
		{"-l", "x", "-p3"}, {"-l", "x", "--monitor"}, {"-e", "x", "--monitor"},
		{"-e", "x", "-p4", "-c", "ls", "-x", "1"}, {"-p", "4294967297", "-x", "-1", "-c", "ls", "-e", "x"},
		{"-e", "x", "-p4", "-g", "--privilege=stapusr"}, {"-e", "x", "-p4", "--privilege=stapsys", "-g"},
		{"-e", "x", "-p4", "--remote=h", "--tmpdir=/nonexistent"}, {"--benchmark-sdt", "--remote=x"},
		{"--use-server-on-error=maybe"}, {"--client-options", "-k"}, {"--client-options", "--tmpdir=x"},
		{"--client-options", "-r", "/build"},
		{"--client-options", "--privilege=stapusr", "-I", "d", "-m", "m", "-D", "X", "-p4", "x.stp"},
		// Options stap 5.x added (4.8 does not know them).
		{"--build-as=nosuchuser"}, {"--build-as="}, {"--build-as", "-z"}, {"--bu=root", "-z"},
		{"--client-options", "--debug"}, {"--debug", "-z"}, {"--semantic-keep-going"}, {"--sem", "-z"},
		{"--language-server", "-l", "x"}, {"--lang=x"}, {"--debug=x"},
	}
	each(t, func(t *testing.T, r realStap) {
		rejected(t, r, cases)
	})
}

func rejected(t *testing.T, r realStap, cases [][]string) {
	home := r.home(t)
	for _, argv := range cases {
		real := runStap(t, r, home, nil, argv...)
		inv, err := Parse(argv, r.opts())
		if !assert.Error(t, err, "%q: stap said %q", argv, real.stderr) {
			continue
		}
		assert.Nil(t, inv)
		assert.Equal(t, 1, real.code, "%q: stap's status", argv)
		assert.Equal(t, renamed(real.stderr), expectedStderr(err), "%q", argv)
		var ue *UsageError
		require.ErrorAs(t, err, &ue)
		assert.Equal(t, ue.ShowVersion, strings.HasPrefix(real.stdout, "Systemtap translator/driver"), "%q: version on stdout", argv)
	}
}

func TestInteropDyninstVersion(t *testing.T) {
	each(t, func(t *testing.T, r realStap) {
		real := runStap(t, r, r.home(t), nil, "--dyninst")
		_, err := Parse([]string{"--dyninst"}, r.opts())
		var ue *UsageError
		require.ErrorAs(t, err, &ue)
		assert.True(t, ue.ShowVersion)
		assert.True(t, strings.HasPrefix(real.stdout, "Systemtap translator/driver"))
		assert.Equal(t, renamed(real.stderr), expectedStderr(err))
	})
}

func TestInteropStopsAtInfoOptions(t *testing.T) {
	each(t, stopsAtInfo)
}

func stopsAtInfo(t *testing.T, r realStap) {
	home := r.home(t)
	for _, argv := range [][]string{{"-V", "--bogus"}, {"-h", "-p9"}, {"-m", "a.ko", "--vers", "-z"}} {
		real := runStap(t, r, home, nil, argv...)
		inv, err := Parse(argv, r.opts())
		require.NoError(t, err, "%q", argv)
		assert.Equal(t, 0, real.code, "%q", argv)
		assert.True(t, inv.Help || inv.Version)
		want := ""
		if len(inv.Warnings) > 0 {
			want = strings.Join(inv.Warnings, "\n") + "\n"
		}
		assert.Equal(t, real.stderr, want, "%q", argv)
	}
}

// TestInteropRCFile writes rc files whose first words make stap fail on
// -G, which shows the words stap expanded.
func TestInteropRCFile(t *testing.T) {
	each(t, rcFile)
}

func rcFile(t *testing.T, r realStap) {
	compared := 0
	for _, tt := range rcCases {
		if len(tt.line) < 3 || tt.line[:3] != "-G " {
			continue
		}
		home := r.home(t)
		rc := filepath.Join(home, ".systemtap", "rc")
		require.NoError(t, os.MkdirAll(filepath.Dir(rc), 0o700))
		line := tt.line
		require.NoError(t, os.WriteFile(rc, []byte(line+"\n"), 0o600))

		real := runStap(t, r, home, tt.env, "-p4")
		compared++
		env := map[string]string{"HOME": home, "TMPDIR": home, "LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
		for k, v := range tt.env {
			env[k] = v
		}
		words, err := ReadRCLookup(lookupIn(env))
		assert.Equal(t, 1, real.code, "%q", line)
		if err != nil {
			assert.Equal(t, real.stderr, r.inside(err.Error()), "rc %q", line)
			continue
		}
		_, err = Parse(append(words, "-p4"), r.opts())
		if assert.Error(t, err, "rc %q: stap said %q", line, real.stderr) {
			assert.Equal(t, renamed(real.stderr), r.inside(expectedStderr(err)), "rc %q", line)
		}
	}
	require.Greater(t, compared, 30)
}

// TestInteropRandomCommandLines compares random command lines built from
// every option. Each ends in "-v -z", so stap stops at a parse error (or at
// -h/-V/--clean-cache) before doing any work: "-v" feeds a trailing option
// that wants a value, and "-z" is invalid.
func TestInteropRandomCommandLines(t *testing.T) {
	each(t, randomLines)
}

func randomLines(t *testing.T, r realStap) {
	vocab := []string{"x.stp", "-", "arg", "-vv", "-kp4", "-p", "3", "-p9", "-ggv", "-wW", "-e", "probe",
		"-mfoo.ko", "-m", "-G", "a=1", "-Gx", "-x", "-c", "ls", "-x1", "-T", "nan", "-s", "4096", "-d", "",
		"-l", "-L", "-Ddef", "-S1,2", "-Sx", "-R", "/r", "-I", "-r", "rel", "-a", "arm64", "-ax y", "-i",
		"-J", "-j", "-h", "-V", "-q", "-B", "-F", "-b", "-u", "-t", "-P", "-E", "-o"}
	for _, o := range OptionsOf(r.stap) {
		if o.Long == "" || o.Class == ClientOwn || o.Long == "clean-cache" {
			continue
		}
		if strings.HasPrefix(o.Long, "rlimit-") {
			// Valid limits would apply to stap itself; only refusals here.
			vocab = append(vocab, "--"+o.Long+"=", "--"+o.Long+"=x")
			continue
		}
		if o.Long == "sysroot" {
			vocab = append(vocab, "--sysroot=/")
			continue
		}
		full := "--" + o.Long
		vocab = append(vocab, full)
		if len(o.Long) > 4 {
			vocab = append(vocab, full[:len(full)-2], full[:5])
		}
		switch o.Arg {
		case RequiredArgument, OptionalArgument:
			vocab = append(vocab, full+"=", full+"=bad", full+"=1")
			for _, v := range o.Values {
				vocab = append(vocab, full+"="+v)
			}
		default:
			vocab = append(vocab, full+"=x")
		}
	}
	var keep []string
	for _, v := range vocab {
		// stap-client adds --server and --ssl, so these prefixes differ.
		if v == "--s" || strings.HasPrefix(v, "--se") || strings.HasPrefix(v, "--ss") {
			continue
		}
		keep = append(keep, v)
	}
	vocab = keep

	seed := int64(48)
	if s := os.Getenv("STAPARGS_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	rnd := rand.New(rand.NewSource(seed))
	home := r.home(t)
	n := 400
	if s := os.Getenv("STAPARGS_N"); s != "" {
		fmt.Sscan(s, &n)
	}
	if testing.Short() {
		n = 50
	}
	for i := 0; i < n; i++ {
		argv := make([]string, 1+rnd.Intn(6))
		for j := range argv {
			argv[j] = vocab[rnd.Intn(len(vocab))]
		}
		argv = append(argv, "-v", "-z")
		real := runStap(t, r, home, nil, argv...)
		inv, err := Parse(argv, r.opts())
		if err != nil {
			assert.Equal(t, 1, real.code, "%q", argv)
			assert.Equal(t, renamed(real.stderr), expectedStderr(err), "%q", argv)
			continue
		}
		assert.Equal(t, 0, real.code, "%q: stap said %q", argv, real.stderr)
		want := ""
		if len(inv.Warnings) > 0 {
			want = strings.Join(inv.Warnings, "\n") + "\n"
		}
		assert.Equal(t, real.stderr, want, "%q", argv)
	}
}
