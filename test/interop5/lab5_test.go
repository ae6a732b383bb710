// SPDX-License-Identifier: GPL-2.0-or-later

// Package interop5 runs stap-client beside the real stap 5.1 and 5.6
// clients (each in its own debootstrap chroot) against those releases'
// real compile servers, which test/lab/up5.sh starts in the network
// namespace stapc5lab (LAB5_ENV names its description).
package interop5

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
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

func (s server) addr() string { return lab5.vars["LAB5_ADDR"] + ":" + s.port }

type lab struct {
	vars    map[string]string
	bin     string
	in5     string // test/lab/in5.sh
	servers []server
}

var lab5 *lab

func TestMain(m *testing.M) {
	os.Exit(labenv.Main(m, "LAB5_ENV", "interop5 (stap 5.x)", "starts the stap 5.x servers (test/lab/up5.sh)",
		func(vars map[string]string, bin string) error {
			l := &lab{vars: vars, bin: bin}
			l.in5, _ = filepath.Abs("../lab/in5.sh")
			for _, s := range strings.Fields(vars["LAB5_SUITES"]) {
				up := "LAB5_" + strings.ToUpper(s) + "_"
				l.servers = append(l.servers, server{suite: s, root: vars[up+"ROOT"], port: vars[up+"PORT"],
					release: vars[up+"RELEASE"], version: vars[up+"VERSION"], certdir: vars[up+"CERTDIR"]})
			}
			if len(l.servers) == 0 {
				return errors.New("lab5.env names no servers")
			}
			lab5 = l
			return nil
		}))
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

func run(t *testing.T, cmd *exec.Cmd, stdin, cwd string) outcome {
	t.Helper()
	cmd.Stdin = strings.NewReader(stdin)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	ents, err := os.ReadDir(cwd)
	require.NoError(t, err)
	var files []string
	for _, e := range ents {
		files = append(files, e.Name())
	}
	return outcome{so.String(), se.String(), code, files}
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
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	tmp := strings.TrimPrefix(tmpIn(t, home), s.root)
	argv := append([]string{lab5.in5, s.root, strings.TrimPrefix(cwd, s.root), strings.TrimPrefix(home, s.root), "env", "TMPDIR=" + tmp, "stap"}, args...)
	return run(t, exec.CommandContext(ctx, "bash", argv...), stdin, cwd)
}

// ours runs stap-client in the lab's namespace on the host, clean
// environment.
func ours(t *testing.T, cwd, home, stdin string, args ...string) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	argv := append([]string{"netns", "exec", lab5.vars["LAB5_NETNS"], "env", "-i",
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + home, "LANG=C.UTF-8", "TMPDIR=" + tmpIn(t, home), lab5.bin}, args...)
	cmd := exec.CommandContext(ctx, "ip", argv...)
	cmd.Dir = cwd
	return run(t, cmd, stdin, cwd)
}
