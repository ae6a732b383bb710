// SPDX-License-Identifier: GPL-2.0-or-later

package interop

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/test/labenv"
)

// side is one client's run of a fidelity case: its own cwd and scratch dir
// (for --tmpdir and TMPDIR), so paths are normalized per side.
type side struct {
	cwd, scratch string
	out          outcome
}

func (s side) norm(t string) string {
	t = strings.ReplaceAll(t, s.scratch, "<SCRATCH>")
	t = strings.ReplaceAll(t, s.cwd, "<CWD>")
	// in request paths: script/tmp/...
	t = strings.ReplaceAll(t, strings.TrimPrefix(s.cwd, "/"), "<CWD>")
	return anyTmpName.ReplaceAllString(normalize(t), "stapXXXXXX")
}

// anyTmpName is a mkdtemp name anywhere, not only under /tmp.
var anyTmpName = regexp.MustCompile(`\bstap[A-Za-z0-9]{6}\b`)

// Listing modes in stap 4.8 also "save" a module that never existed: a
// stap_<pid>.ko line on stdout and a Copy failed line. Deliberately not
// copied (see COMPATIBILITY in stap-client(8)).
var (
	bogusModuleLine = regexp.MustCompile(`(?m)^stap_[0-9]+\.ko\n`)
	bogusCopyLine   = regexp.MustCompile(`(?m)^Copy failed \("/tmp/stapXXXXXX/stap_[0-9]+\.ko" to "stap_[0-9]+\.ko"\): No such file or directory\n`)
)

// keptTree lists a kept temp dir as find(1) would, without the server's
// build products (they come from the server, not from the client) and with
// link targets normalized.
func keptTree(t *testing.T, s side, dir string) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if m, _ := filepath.Match("server/stap??????/*", rel); m {
			return nil
		}
		line := rel
		if fi.Mode()&os.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			require.NoError(t, err)
			line += " -> " + strings.ReplaceAll(s.norm(strings.ReplaceAll(target, dir, "<KEPT>")), "/tmp/stapXXXXXX", "<KEPT>")
		} else if fi.IsDir() {
			line += "/"
		}
		out = append(out, s.norm(line))
		return nil
	}))
	sort.Strings(out)
	return out
}

func scratchFile(t *testing.T, s side) {
	require.NoError(t, os.WriteFile(filepath.Join(s.scratch, "file"), nil, 0o644))
}

var keepingLine = regexp.MustCompile(`(?m)^Keeping temporary directory "(.*)"$`)

// sameKept compares the directories each side's -k kept, then removes them.
func sameKept(t *testing.T, stap, ours side) {
	kept := func(s side) []string {
		m := keepingLine.FindStringSubmatch(s.out.stderr)
		require.NotNil(t, m, s.out.stderr)
		defer os.RemoveAll(m[1])
		return keptTree(t, s, m[1])
	}
	assert.Equal(t, kept(stap), kept(ours))
}

// TestFidelity: the edge cases of issue 12, each run through the real stap
// and stap-client on the same server, each in a fresh directory of its own.
// Pass-4 cases that compare kept directories use -m: the server's cache
// sends back fewer build files, and with -m both clients get the full build dir.
func TestFidelity(t *testing.T) {
	rel := theLab.Get(t, "LAB_RELEASE")
	hello := labenv.Hello
	cases := []struct {
		name string
		// args may use {SCRATCH}: the side's scratch directory.
		args []string
		env  []string
		// setup prepares the side's cwd before the run.
		setup func(t *testing.T, s side)
		// listing: strip stap 4.8's bogus listing-mode lines first.
		listing bool
		// vv: drop stap's lines about the commands it runs.
		vv bool
		// check compares more than the output, both sides having run.
		check func(t *testing.T, stap, ours side)
	}{
		{name: "-w silences the mismatch warning", args: []string{"-w", "-r", rel, "-e", hello}},
		{name: "-w at pass 2", args: []string{"-w", "-r", rel, "-p2", "hello.stp"}},
		// A trust database of the case's own (HOME), not the lab's.
		{name: "-w silences a trust-spec warning", args: []string{"-w", "--trust-servers=bogus,ssl,no-prompt"}, env: []string{"HOME={SCRATCH}"}},
		{name: "-l implies -w", args: []string{"-r", rel, "-l", "begin"}, listing: true},
		{name: "-L implies -w", args: []string{"-r", rel, "-L", "begin"}, listing: true},
		{name: "--dump-probe-aliases implies -w", args: []string{"-r", rel, "--dump-probe-aliases"}, listing: true},
		{name: "--dump-probe-types keeps the warning", args: []string{"-r", rel, "--dump-probe-types"}, listing: true},
		{name: "-l at -vv shows the warning", args: []string{"-vv", "-r", rel, "-l", "begin"}, listing: true, vv: true},
		{name: "-m over a symlink to a file", args: []string{"-r", rel, "-p4", "-m", "lnk", "hello.stp"},
			setup: func(t *testing.T, s side) {
				require.NoError(t, os.WriteFile(filepath.Join(s.cwd, "target"), []byte("mine\n"), 0o644))
				require.NoError(t, os.Symlink("target", filepath.Join(s.cwd, "lnk.ko")))
			},
			check: func(t *testing.T, stap, ours side) {
				for _, s := range []side{stap, ours} {
					data, err := os.ReadFile(filepath.Join(s.cwd, "target"))
					require.NoError(t, err)
					assert.Equal(t, "mine\n", string(data), "the link's target is untouched")
					fi, err := os.Lstat(filepath.Join(s.cwd, "lnk.ko"))
					require.NoError(t, err)
					assert.True(t, fi.Mode().IsRegular(), "the link is replaced by the module")
				}
			}},
		{name: "-m over a dangling symlink", args: []string{"-r", rel, "-p4", "-m", "lnk", "hello.stp"},
			setup: func(t *testing.T, s side) {
				require.NoError(t, os.Symlink("nowhere", filepath.Join(s.cwd, "lnk.ko")))
			},
			check: func(t *testing.T, stap, ours side) {
				fi, err := os.Lstat(filepath.Join(ours.cwd, "lnk.ko"))
				require.NoError(t, err)
				assert.True(t, fi.Mode().IsRegular())
			}},
		{name: "-m over a directory", args: []string{"-r", rel, "-p4", "-m", "dir", "hello.stp"},
			setup: func(t *testing.T, s side) {
				require.NoError(t, os.Mkdir(filepath.Join(s.cwd, "dir.ko"), 0o755))
			}},
		{name: "--tmpdir made with its parents and kept", args: []string{"-r", rel, "-p2", "--tmpdir={SCRATCH}/a/b", "hello.stp"},
			check: func(t *testing.T, stap, ours side) {
				assert.Equal(t, keptTree(t, stap, filepath.Join(stap.scratch, "a/b")), keptTree(t, ours, filepath.Join(ours.scratch, "a/b")))
			}},
		{name: "--tmpdir with -k: no Keeping line", args: []string{"-k", "-r", rel, "-p4", "-I", "tapdir", "-m", "kept", "--tmpdir={SCRATCH}/t", "usetap.stp"},
			check: func(t *testing.T, stap, ours side) {
				assert.Equal(t, keptTree(t, stap, filepath.Join(stap.scratch, "t")), keptTree(t, ours, filepath.Join(ours.scratch, "t")))
			}},
		{name: "--tmpdir at -vv", args: []string{"-vv", "-r", rel, "-p2", "--tmpdir={SCRATCH}/v", "hello.stp"}, vv: true},
		{name: "--tmpdir is a file", args: []string{"-r", rel, "-p2", "--tmpdir={SCRATCH}/file", "hello.stp"}, setup: scratchFile},
		{name: "--tmpdir is a file at -v", args: []string{"-v", "-r", rel, "-p2", "--tmpdir={SCRATCH}/file", "hello.stp"}, setup: scratchFile},
		{name: "TMPDIR missing", args: []string{"-r", rel, "-p2", "hello.stp"}, env: []string{"TMPDIR={SCRATCH}/none"}},
		{name: "TMPDIR a file", args: []string{"-r", rel, "-p2", "hello.stp"}, env: []string{"TMPDIR={SCRATCH}/file"}, setup: scratchFile},
		{name: "TMPDIR with a space", args: []string{"-r", rel, "-p2", "hello.stp"}, env: []string{"TMPDIR={SCRATCH}/a b"},
			setup: func(t *testing.T, s side) {
				require.NoError(t, os.Mkdir(filepath.Join(s.scratch, "a b"), 0o755))
			},
			check: func(t *testing.T, stap, ours side) {
				for _, s := range []side{stap, ours} {
					ents, err := os.ReadDir(filepath.Join(s.scratch, "a b"))
					require.NoError(t, err)
					assert.Empty(t, ents, "the temp dir made there is removed")
				}
			}},
		{name: "-k keeps the request and the links", args: []string{"-k", "-r", rel, "-p4", "-I", "tapdir", "-m", "kept", "usetap.stp"},
			check: sameKept},
		{name: "-k with a script on stdin", args: []string{"-k", "-r", rel, "-p2", "-"},
			check: sameKept},
		{name: "-vvv", args: []string{"-vvv", "-r", rel, "-p2", "hello.stp"}, vv: true},
		{name: "-vvv at pass 4", args: []string{"-vvv", "-r", rel, "-p4", "hello.stp"}, vv: true},
		{name: "--ldd", args: []string{"--ldd", "-r", rel, "-p2", "hello.stp"}},
		{name: "--ldd sends the -d options", args: []string{"--ldd", "-d", "/bin/ls", "-r", rel, "-p2", "-e", `probe process("/bin/ls").function("main") {}`}},
		{name: "-m over a read-only module", args: []string{"-r", rel, "-p4", "-m", "ro", "hello.stp"},
			setup: func(t *testing.T, s side) {
				require.NoError(t, os.WriteFile(filepath.Join(s.cwd, "ro.ko"), []byte("old"), 0o444))
			},
			check: func(t *testing.T, stap, ours side) {
				data, err := os.ReadFile(filepath.Join(ours.cwd, "ro.ko"))
				require.NoError(t, err)
				assert.Equal(t, "\x7fELF", string(data[:4]), "replaced by the module")
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			run := func(argv0 ...string) side {
				s := side{cwd: t.TempDir(), scratch: t.TempDir()}
				labenv.WriteFixtures(t, s.cwd)
				if tc.setup != nil {
					tc.setup(t, s)
				}
				sub := func(v []string) []string {
					out := make([]string, len(v))
					for i, a := range v {
						out[i] = strings.ReplaceAll(a, "{SCRATCH}", s.scratch)
					}
					return out
				}
				stdin := ""
				if strings.Contains(tc.name, "stdin") {
					stdin = hello + "\n"
				}
				env := append([]string{"HOME=" + theLab.Get(t, "LAB_STAP_HOME")}, sub(tc.env)...)
				s.out = runEnvIn(t, s.cwd, env, stdin, append(argv0, sub(tc.args)...)...)
				return s
			}
			stap := run("stap", "--use-server="+theLab.server(t))
			ours := run(theLab.Bin, "--server="+theLab.server(t))

			so, se := stap.norm(stap.out.stdout), stap.norm(stap.out.stderr)
			oo, oe := ours.norm(ours.out.stdout), ours.norm(ours.out.stderr)
			if tc.listing {
				so = bogusModuleLine.ReplaceAllString(so, "")
				se = bogusCopyLine.ReplaceAllString(se, "")
			}
			if tc.vv {
				se = vvFilter.ReplaceAllString(se, "")
				// stap forgets the newline after each of these -vvv lines.
				se = regexp.MustCompile(`(?m)^(  found \S+ -- linking from \S+?)+(Running .*)?\n`).ReplaceAllString(se, "")
				so = stapBanner.ReplaceAllString(so, "")
				assert.Regexp(t, ourBanner, oo, "our banner at -vv")
				oo = ourBanner.ReplaceAllString(oo, "")
			}
			assert.Equal(t, so, oo, "stdout")
			assert.Equal(t, se, oe, "stderr")
			assert.Equal(t, stap.out.code, ours.out.code, "exit status")
			assert.Equal(t, stap.out.files, ours.out.files, "files left in the cwd")
			if tc.check != nil {
				tc.check(t, stap, ours)
			}
		})
	}
}

var (
	stapBanner = regexp.MustCompile(`^Systemtap translator/driver .*\n(.*\n){3}enabled features:.*\n`)
	ourBanner  = regexp.MustCompile(`^stap-client .*\ncompile-server protocol .*\nbuilt with .*\n`)
)

// TestScriptFromPipe: stap-client reads a script given as a pipe path
// (bash's <(...)) and sends it; stap 4.8 sends a broken path and fails.
// Deliberately better (see COMPATIBILITY in stap-client(8)).
func TestScriptFromPipe(t *testing.T) {
	rel := theLab.Get(t, "LAB_RELEASE")
	cwd := t.TempDir()
	labenv.WriteFixtures(t, cwd)
	home := theLab.Get(t, "LAB_STAP_HOME")
	file := runIn(t, cwd, home, "", "stap", "--use-server="+theLab.server(t), "-r", rel, "-p2", "hello.stp")
	require.Equal(t, 0, file.code, file.stderr)

	viaPipe := func(client ...string) outcome {
		argv := append([]string{"bash", "-c", `exec "$@" <(cat hello.stp)`, "bash"}, client...)
		return runIn(t, cwd, home, "", append(argv, "-r", rel, "-p2")...)
	}
	stap := viaPipe("stap", "--use-server="+theLab.server(t))
	assert.Equal(t, 1, stap.code)
	assert.Regexp(t, `Input file 'script/.*/dev/fd/[0-9]+' is missing\.`, stap.stderr)

	ours := viaPipe(theLab.Bin, "--server="+theLab.server(t))
	assert.Equal(t, 0, ours.code, ours.stderr)
	assert.Equal(t, file.stdout, ours.stdout)
	assert.Equal(t, normalize(file.stderr), normalize(ours.stderr))

	stdin := runIn(t, cwd, home, labenv.Fixture("hello.stp"), theLab.Bin, "--server="+theLab.server(t), "-r", rel, "-p2", "/dev/stdin")
	assert.Equal(t, 0, stdin.code, stdin.stderr)
	assert.Equal(t, file.stdout, stdin.stdout)
}
