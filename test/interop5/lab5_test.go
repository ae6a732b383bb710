// SPDX-License-Identifier: GPL-2.0-or-later

// Package interop5 runs stap-client beside the real stap 5.1 and 5.6
// clients (each in its own debootstrap chroot) against those releases'
// real compile servers, which test/lab/up5.sh starts in the network
// namespace stapc5lab (LAB5_ENV names its description).
package interop5

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
