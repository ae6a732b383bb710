// SPDX-License-Identifier: GPL-2.0-or-later

package client

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/internal/testkit"
)

// recorder is a stand-in for staprun: it records its argv, the module it
// was handed (resolved, and its contents) in its own directory, then runs
// body.
func recorder(t *testing.T, body string) (path, dir string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, "staprun")
	// -V (the version probe) gets no answer, as from a staprun whose
	// version is unknown: no generation is judged.
	script := `#!/bin/sh
[ "$1" = -V ] && exit 0
d=$(dirname "$0")
printf '%s\n' "$@" > "$d/argv"
for a; do case $a in *.ko) readlink -f "$a" > "$d/resolved"; cat "$a" > "$d/module";; esac; done
` + body
	require.NoError(t, os.WriteFile(path, []byte(script), 0o755))
	return path, dir
}

type p5run struct {
	result
	staprun, rec string
}

// runPass5 runs stap-client in process on the test's native host, with
// SYSTEMTAP_STAPRUN at a recorder and the given interrupts.
func runPass5(t *testing.T, body string, sigs <-chan os.Signal, args ...string) p5run {
	t.Helper()
	staprunPath, rec := recorder(t, body)
	return runPass5With(t, staprunPath, rec, sigs, args...)
}

func runPass5With(t *testing.T, staprunPath, rec string, sigs <-chan os.Signal, args ...string) p5run {
	t.Helper()
	r := runEnv(t, func(e *Env) { e.Signals = sigs }, map[string]string{"SYSTEMTAP_STAPRUN": staprunPath}, args...)
	return p5run{r, staprunPath, rec}
}

func readRec(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	require.NoError(t, err)
	return string(b)
}

// argvOf is the recorded argv with the private temp dir's name as TMP.
func argvOf(t *testing.T, r p5run) []string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(readRec(t, r.rec, "argv"), "\n"), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, r.tmp+"/stap") {
			lines[i] = "TMP" + l[len(r.tmp)+len("/stapXXXXXX"):]
		}
	}
	return lines
}

const script = "probe begin { printf(\"Hello World!\\n\"); exit() }"

func TestPass5Runs(t *testing.T) {
	s := startFake(t, goodP4(t))
	r := runPass5(t, `echo "Hello World!"
`, nil, "--server="+s.Addr, "--ssl="+s.CertDir, "-e", script, "-G", "g=1", "-o", "out.txt")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "Hello World!\n", r.stdout, "staprun's output, and no module name as in -p4")
	assert.Empty(t, r.stderr)
	assert.Equal(t, []string{"-o", "out.txt", "-R", "TMP/" + modName + ".ko", "g=1"}, argvOf(t, r))
	// The link in the temp dir leads to the server's file, name unchanged.
	assert.True(t, strings.HasSuffix(readRec(t, r.rec, "resolved"), "/server/stap000000/"+modName+".ko\n"))
	assert.Equal(t, "\x7fELF module", readRec(t, r.rec, "module"))
	assert.Empty(t, testkit.Entries(t, r.tmp), "the private temp dir is removed after staprun")
	assert.Empty(t, testkit.Entries(t, r.cwd), "nothing saved without -m")
}

func TestPass5Verbose(t *testing.T) {
	s := startFake(t, goodP4(t))
	r := runPass5(t, "exit 0\n", nil, "--server="+s.Addr, "--ssl="+s.CertDir, "-vv", "-e", script)
	require.Equal(t, 0, r.code, r.stderr)
	lines := strings.Split(r.stderr, "\n")
	var p5 []string
	for _, l := range lines {
		if strings.HasPrefix(l, "Pass 5") || strings.HasPrefix(l, "Running ") {
			p5 = append(p5, l)
		}
	}
	require.Len(t, p5, 3, r.stderr)
	assert.Equal(t, "Pass 5: starting run.", p5[0])
	assert.Regexp(t, `^Running `+r.staprun+` -v -R `+r.tmp+`/stap\w{6}/`+modName+`\.ko$`, p5[1])
	assert.Regexp(t, `^Pass 5: run completed in \d+usr/\d+sys/\d+real ms\.$`, p5[2])
	assert.Contains(t, r.stderr, "Removed temporary directory")
}

func TestPass5Fails(t *testing.T) {
	s := startFake(t, goodP4(t))
	r := runPass5(t, "echo 'ERROR: boom' >&2; exit 3\n", nil, "--server="+s.Addr, "--ssl="+s.CertDir, "-e", script)
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "ERROR: boom\nWARNING: "+r.staprun+" exited with status: 3\nPass 5: run failed.  [man error::pass5]\n", r.stderr)
	assert.Empty(t, testkit.Entries(t, r.tmp))
}

func TestPass5ModuleName(t *testing.T) {
	reply := testkit.ServerZip(t,
		testkit.ZipEntry{Name: "version", Body: "4.8"}, testkit.ZipEntry{Name: "rc", Body: "0"},
		testkit.ZipEntry{Name: "stdout", Body: ""}, testkit.ZipEntry{Name: "stderr", Body: ""},
		testkit.ZipEntry{Name: "stap000000/", Mode: fs.ModeDir | 0o755},
		testkit.ZipEntry{Name: "stap000000/mymod.ko", Body: "\x7fELF mymod"},
	)
	s := startFake(t, reply)
	r := runPass5(t, "exit 0\n", nil, "--server="+s.Addr, "--ssl="+s.CertDir, "-m", "mymod", "-F", "-x", "1", "-e", script)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, []string{"-t", "1", "-L", "TMP/mymod.ko"}, argvOf(t, r), "no -R with -m")
	assert.Equal(t, []string{"mymod.ko"}, testkit.Entries(t, r.cwd), "-m saves the module, as stap does")
	assert.Empty(t, r.stdout)
}

// TestPass5GenerationMismatch: a module from a 4.8 server and a local
// staprun that says it is 5.1 (through the pty, like the real one): one
// line and exit 1 before staprun runs; a 4.8 staprun runs it.
func TestPass5GenerationMismatch(t *testing.T) {
	s := startFake(t, goodP4(t))
	for _, tt := range []struct {
		version string
		code    int
	}{{"5.1/0.192", 1}, {"4.8/0.188", 0}} {
		staprunPath, rec := recorder(t, "")
		body, err := os.ReadFile(staprunPath)
		require.NoError(t, err)
		probe := "[ \"$1\" = -V ] && [ -t 1 ] && { echo 'Systemtap module loader/runner (version " + tt.version + ", test)'; exit 0; }\n"
		require.NoError(t, os.WriteFile(staprunPath, []byte(strings.Replace(string(body), "#!/bin/sh\n", "#!/bin/sh\n"+probe, 1)), 0o755))
		r := runPass5With(t, staprunPath, rec, nil, "--server="+s.Addr, "--ssl="+s.CertDir, "-e", script)
		assert.Equal(t, tt.code, r.code, r.stderr)
		if tt.code == 1 {
			assert.Equal(t, "stap-client: ERROR: the module was built by a systemtap 4.8 server, which the local staprun 5.1 cannot run (systemtap 5.0 changed the module/staprun transport); use a compile server of systemtap 5.0 or later, or a local systemtap-runtime older than 5.0 (-p4 keeps the module)\n", r.stderr)
			assert.NoFileExists(t, filepath.Join(rec, "argv"), "staprun did not run")
		} else {
			assert.FileExists(t, filepath.Join(rec, "argv"))
		}
	}
}

func TestPass5Interrupted(t *testing.T) {
	s := startFake(t, goodP4(t))
	sigs := make(chan os.Signal, 1)
	// The recorder says it is ready; the test then interrupts, as ^C would.
	body := `trap 'echo TERM > "$d/terms"; exit 0' TERM
touch "$d/ready"
while :; do sleep 0.05; done
`
	staprunPath, rec := recorder(t, body)
	done := make(chan p5run, 1)
	go func() {
		done <- runPass5With(t, staprunPath, rec, sigs, "--server="+s.Addr, "--ssl="+s.CertDir, "-e", "probe timer.s(1) { }")
	}()
	require.Eventually(t, func() bool {
		_, err := os.Stat(filepath.Join(rec, "ready"))
		return err == nil
	}, 20*time.Second, 20*time.Millisecond, "pass 5 never started")
	sigs <- syscall.SIGINT
	var r p5run
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the interrupt did not end pass 5")
	}
	assert.Equal(t, 0, r.code, "an interrupted pass 5 whose staprun exits 0 succeeds: %s", r.stderr)
	assert.Equal(t, "TERM\n", readRec(t, r.rec, "terms"))
	assert.Empty(t, r.stderr)
	assert.Empty(t, testkit.Entries(t, r.tmp))
}

func TestPass5NotAfterEarlyInterrupt(t *testing.T) {
	s := startFake(t, goodP4(t))
	sigs := make(chan os.Signal, 1)
	sigs <- syscall.SIGINT // before anything: the compile is cancelled
	r := runPass5(t, "exit 0\n", sigs, "--server="+s.Addr, "--ssl="+s.CertDir, "-e", script)
	assert.Equal(t, 1, r.code)
	assert.NoFileExists(t, filepath.Join(r.rec, "argv"), "staprun never ran")
	assert.Empty(t, testkit.Entries(t, r.tmp))
}
