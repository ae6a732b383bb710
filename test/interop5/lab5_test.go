// SPDX-License-Identifier: GPL-2.0-or-later

// Package interop5 runs stap-client beside the real stap 5.1 and 5.6
// clients (each in its own debootstrap chroot) against those releases'
// real compile servers, which test/lab/up5.sh starts in the network
// namespace stapc5lab (LAB5_ENV names its description).
package interop5

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/test/labenv"
)

// server is one 5.x compile server and the chroot it comes from.
type server struct {
	suite, root, port, release, version, certdir string
}

func (s server) addr() string { return lab5.Vars["LAB5_ADDR"] + ":" + s.port }

type lab struct {
	labenv.Lab
	in5     string // test/lab/in5.sh
	servers []server
}

var lab5 = &lab{}

func TestMain(m *testing.M) {
	os.Exit(labenv.Tier{Name: "interop5 (stap 5.x)", EnvVar: "LAB5_ENV", Start: "starts the stap 5.x servers (test/lab/up5.sh)",
		Setup: func(l *labenv.Lab) error {
			lab5.in5, _ = filepath.Abs("../lab/in5.sh")
			for _, s := range strings.Fields(l.Vars["LAB5_SUITES"]) {
				up := "LAB5_" + strings.ToUpper(s) + "_"
				lab5.servers = append(lab5.servers, server{suite: s, root: l.Vars[up+"ROOT"], port: l.Vars[up+"PORT"],
					release: l.Vars[up+"RELEASE"], version: l.Vars[up+"VERSION"], certdir: l.Vars[up+"CERTDIR"]})
			}
			if len(lab5.servers) == 0 {
				return errors.New("lab5.env names no servers")
			}
			return nil
		}}.Main(m, &lab5.Lab))
}

func (l *lab) server(t *testing.T, suite string) server {
	t.Helper()
	for _, s := range l.servers {
		if s.suite == suite {
			return s
		}
	}
	t.Fatalf("lab5.env has no %s server", suite)
	return server{}
}

// chrootDir makes a fresh directory inside the chroot (under its /tmp),
// removed after the test; it returns the host path and the chroot path.
func chrootDir(t *testing.T, s server, name string) (host, inside string) {
	t.Helper()
	host, err := os.MkdirTemp(filepath.Join(s.root, "tmp"), "stapc5-"+name+"-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(host, 0o755))
	t.Cleanup(func() { os.RemoveAll(host) })
	return host, strings.TrimPrefix(host, s.root)
}

type outcome struct {
	stdout, stderr string
	code           int
	files          []string
}

// run runs argv in cwd, with a 10-minute limit.
func run(t *testing.T, cwd, stdin string, argv ...string) outcome {
	t.Helper()
	o := labenv.Exec(t, labenv.Cmd{Argv: argv, Dir: cwd, Stdin: stdin, Timeout: 10 * time.Minute})
	return outcome{o.Stdout, o.Stderr, o.Code, o.Files}
}

// tmpIn is the TMPDIR both clients use: HOME/tmp, removed with HOME (-k
// leaves temp dirs), the same directory for both so that their messages
// name the same paths.
func tmpIn(t *testing.T, home string) string {
	t.Helper()
	d := filepath.Join(home, "tmp")
	require.NoError(t, os.MkdirAll(d, 0o755))
	return d
}

// stap runs the chroot's own real stap client in the lab's namespace;
// cwd and home are host paths inside the chroot.
func stap(t *testing.T, s server, cwd, home, stdin string, args ...string) outcome {
	t.Helper()
	tmp := strings.TrimPrefix(tmpIn(t, home), s.root)
	argv := append([]string{"bash", lab5.in5, s.root, strings.TrimPrefix(cwd, s.root), strings.TrimPrefix(home, s.root), "env", "TMPDIR=" + tmp, "stap"}, args...)
	return run(t, cwd, stdin, argv...)
}

// ours runs stap-client in the lab's namespace on the host, clean
// environment.
func ours(t *testing.T, cwd, home, stdin string, args ...string) outcome {
	t.Helper()
	env := []string{"HOME=" + home, "TMPDIR=" + tmpIn(t, home)}
	return run(t, cwd, stdin, labenv.InNetns(lab5.Vars["LAB5_NETNS"], labenv.Clean(labenv.PathAll, env, append([]string{lab5.Bin}, args...)...)...)...)
}

func writeHello(t *testing.T, dir string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "hello.stp"), []byte(labenv.Hello+"\n"), 0o644))
}

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	require.NoError(t, err)
	return fi.Mode().Perm()
}

// stap5Trusted gives a fresh HOME and cwd (hello.stp) inside s's chroot
// where the release's real stap ran --trust-servers: its ~/.systemtap
// tree (base, db) is 0777, trusting the server (5.6) or not (5.1, whose
// trust fails with current NSS although it exits 0).
func stap5Trusted(t *testing.T, s server) (home, cwd, base, db string) {
	t.Helper()
	home, _ = chrootDir(t, s, "home")
	cwd, _ = chrootDir(t, s, "cwd")
	writeHello(t, cwd)
	tr := stap(t, s, cwd, home, "", "--use-server="+s.addr(), "--trust-servers=ssl,no-prompt")
	require.Equal(t, 0, tr.code, tr.stderr)
	base = filepath.Join(home, ".systemtap")
	db = filepath.Join(base, "ssl", "client")
	// What stap 5.x leaves (the upstream umask bug these cases are about).
	require.Equal(t, os.FileMode(0o777), mode(t, base))
	require.Equal(t, os.FileMode(0o777), mode(t, db))
	return home, cwd, base, db
}

var fixLine = regexp.MustCompile(`(?m)due to errors; fix it with: (.*)$`)

// TestStap5TrustDatabaseFix: the database the real stap 5.6 writes with
// --trust-servers (its directories 0777) is refused with the one command
// that fixes it; after that command both clients use it; made writable
// again, it is refused again.
func TestStap5TrustDatabaseFix(t *testing.T) {
	s := lab5.server(t, "sid")
	home, cwd, base, db := stap5Trusted(t, s)
	p2 := []string{"-r", s.release, "-p2", "hello.stp"}

	refused := ours(t, cwd, home, "", append([]string{"--server=" + s.addr()}, p2...)...)
	assert.Equal(t, 1, refused.code)
	assert.Contains(t, refused.stderr, "stap-client: WARNING: Directory '"+base+"' above certificate database '"+db+"' must not be writable by others\n")
	assert.Contains(t, refused.stderr, "not trusted")
	m := fixLine.FindStringSubmatch(refused.stderr)
	require.NotNil(t, m, refused.stderr)
	assert.Equal(t, "chmod go-w "+base+" "+base+"/ssl "+db, m[1])

	out, err := exec.Command("sh", "-c", m[1]).CombinedOutput()
	require.NoError(t, err, "%s", out)
	ok := ours(t, cwd, home, "", append([]string{"--server=" + s.addr()}, p2...)...)
	assert.Equal(t, 0, ok.code, ok.stderr)
	assert.NotContains(t, ok.stderr, "WARNING: Certificate database")
	real := stap(t, s, cwd, home, "", append([]string{"--use-server=" + s.addr()}, p2...)...)
	assert.Equal(t, 0, real.code, "the real stap 5.6 still uses the fixed database: %s", real.stderr)

	require.NoError(t, os.Chmod(filepath.Join(base, "ssl"), 0o757))
	again := ours(t, cwd, home, "", append([]string{"--server=" + s.addr()}, p2...)...)
	assert.Equal(t, 1, again.code)
	assert.Contains(t, again.stderr, "fix it with: chmod go-w "+base+"/ssl\n")
}

// TestStap5TrustServersTightens: into the directories a real stap 5.x
// --trust-servers left 0777 (5.1's fails to add the trust with current
// NSS, 5.6's succeeds), stap-client's --trust-servers adds trust, removes
// group/other write and says so; then stap-client and the same release's
// real stap both compile through the server with that database.
func TestStap5TrustServersTightens(t *testing.T) {
	for _, s := range lab5.servers {
		t.Run(s.suite, func(t *testing.T) {
			home, cwd, base, db := stap5Trusted(t, s)
			p2 := []string{"-r", s.release, "-p2", "hello.stp"}

			add := ours(t, cwd, home, "", "--server="+s.addr(), "--trust-servers=ssl,no-prompt")
			require.Equal(t, 0, add.code, add.stderr)
			assert.Contains(t, add.stderr, "stap-client: removed group and other write permission from "+base+", "+base+"/ssl, "+db)
			for _, p := range []string{base, filepath.Join(base, "ssl"), db, filepath.Join(db, "cert9.db"), filepath.Join(db, "key4.db")} {
				assert.Zero(t, mode(t, p)&0o022, "%s is %v", p, mode(t, p))
			}
			got := ours(t, cwd, home, "", append([]string{"--server=" + s.addr()}, p2...)...)
			assert.Equal(t, 0, got.code, got.stderr)
			real := stap(t, s, cwd, home, "", append([]string{"--use-server=" + s.addr()}, p2...)...)
			assert.Equal(t, 0, real.code, "the real stap %s accepts the database: %s", s.version, real.stderr)
		})
	}
}
