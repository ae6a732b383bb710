// SPDX-License-Identifier: GPL-2.0-or-later

// Package netlab runs stap-client's discovery on a real network: the
// namespaces test/lab/net-up.sh builds, with avahi-daemon and stap-serverd
// on three server hosts and a client host with no daemons.
package netlab

import (
	"bytes"
	"crypto/sha1"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/test/labenv"
)

var lab labenv.Lab

func TestMain(m *testing.M) {
	os.Exit(labenv.Tier{Name: "netlab (real-network discovery)", EnvVar: "NET_ENV", Start: "builds the network lab (test/lab/net-up.sh)"}.Main(m, &lab))
}

func get(t *testing.T, k string) string { t.Helper(); return lab.Get(t, k) }

// client runs stap-client on the client host, trusting what the lab's
// client database trusts.
func client(t *testing.T, args ...string) labenv.Outcome {
	t.Helper()
	env := []string{"HOME=" + get(t, "NET_CLIENT_HOME")}
	return labenv.Run(t, labenv.InNetns(get(t, "NET_CLIENT_NS"), labenv.Clean(labenv.PathSystem, env, append([]string{lab.Bin}, args...)...)...)...)
}

func TestDiscovery(t *testing.T) {
	rel := get(t, "NET_RELEASE")
	p2 := []string{"-v", "-r", rel, "-p2", "-e", labenv.Hello}
	port := get(t, "NET_PORT")
	cases := []struct {
		name   string
		args   []string
		code   int
		want   []string // substrings of stderr
		within time.Duration
	}{
		{name: "default spec picks the compatible trusted server", args: p2,
			want: []string{"Passes: via server  host=srva.local "}, within: 5 * time.Second},
		{name: "host name without a port", args: append([]string{"--server=srva"}, p2...),
			want: []string{"Passes: via server  host=srva.local "}},
		{name: "mDNS host name without a port", args: append([]string{"--server=srva.local"}, p2...),
			want: []string{"Passes: via server  host=srva.local "}},
		{name: "IP without a port", args: append([]string{"--server=" + get(t, "NET_A_ADDR")}, p2...),
			want: []string{"Passes: via server  host=srva.local address=" + get(t, "NET_A_ADDR") + " port=" + port}},
		{name: "an untrusted server is refused", args: append([]string{"--server=srvb"}, p2...), code: 1,
			want: []string{"not trusted (certificate serial " + get(t, "NET_B_CERTINFO") + ")"}},
		{name: "a server for another release is passed over", args: append([]string{"--server=srvc"}, p2...), code: 1,
			want: []string{"Unable to find a suitable compile server.  [man stap-server]", "The following servers were requested:",
				`incompatible: it builds for "` + get(t, "NET_C_SYSINFO") + `"`}},
		{name: "failover past a refused port and a blackholed address",
			args: append([]string{"--server=" + get(t, "NET_REFUSED"), "--server=" + get(t, "NET_DEAD_ADDR") + ":" + port,
				"--server=" + get(t, "NET_A_ADDR") + ":" + port}, p2...),
			want: []string{"connection refused; check the address and port, and that stap-serverd runs there (it was being tried again) when server",
				"passed over: no connection yet when server", "Passes: via server  host=unknown address=" + get(t, "NET_A_ADDR")}, within: 3 * time.Second},
		{name: "link-local IPv6 with its interface", args: append([]string{"--server=[" + get(t, "NET_A_ADDR6") + "%" + get(t, "NET_IF") + "]:" + port}, p2...),
			want: []string{"Passes: via server  host=unknown address=" + get(t, "NET_A_ADDR6") + "%" + get(t, "NET_IF")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := client(t, tc.args...)
			assert.Equal(t, tc.code, o.Code, o.Stderr)
			for _, w := range tc.want {
				assert.Contains(t, o.Stderr, w)
			}
			if tc.within > 0 {
				assert.Less(t, o.Took, tc.within, "took %v", o.Took)
			}
		})
	}
}

func TestListServers(t *testing.T) {
	o := client(t, "--list-servers", "-r", get(t, "NET_RELEASE"))
	require.Equal(t, 0, o.Code, o.Stderr)
	assert.True(t, strings.HasPrefix(o.Stderr, "Systemtap Compile Server Status for 'online,trusted,compatible'\n"), o.Stderr)
	assert.Contains(t, o.Stderr, " host=srva.local ")
	assert.NotContains(t, o.Stderr, "srvb")
	assert.NotContains(t, o.Stderr, "srvc")
	assert.Empty(t, o.Stdout)
}

// TestInterruptConnecting: SIGINT while the only server's SYNs vanish (a
// blackholed address, which the client waits for as its last hope) ends
// the run within a second, saying what it interrupted.
func TestInterruptConnecting(t *testing.T) {
	dead := get(t, "NET_DEAD_ADDR") + ":" + get(t, "NET_PORT")
	tmp := t.TempDir()
	cmd := exec.Command("ip", "netns", "exec", get(t, "NET_CLIENT_NS"), "env", "-i",
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME="+get(t, "NET_CLIENT_HOME"), "LANG=C.UTF-8", "TMPDIR="+tmp,
		lab.Bin, "--server="+dead, "-r", get(t, "NET_RELEASE"), "-p2", "-e", labenv.Hello)
	cmd.Dir = t.TempDir()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	// Past the old 2 s connect deadline: the client is still waiting.
	time.Sleep(2500 * time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	sent := time.Now()
	err := cmd.Wait()
	took := time.Since(sent)
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, stderr.String())
	assert.Equal(t, 1, ee.ExitCode())
	assert.Less(t, took, time.Second)
	assert.Equal(t, "stap-client: ERROR: interrupted while connecting to "+dead+"\n", stderr.String())
	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, left)
}

// addServerMOK gives server host A a Machine Owner Key of its own, made as
// stap-serverd makes them (openssl, O=Systemtap), and moved into place as
// stap-serverd moves a new one, which is what makes it announce the key
// again (its inotify watch sees renames and deletions, not mkdir). The key
// is removed at the end. It returns the certificate file and fingerprint.
func addServerMOK(t *testing.T) (certFile, fp string) {
	t.Helper()
	u, err := user.Lookup(get(t, "NET_A_USER"))
	require.NoError(t, err)
	uid, err := strconv.Atoi(u.Uid)
	require.NoError(t, err)
	gid, err := strconv.Atoi(u.Gid)
	require.NoError(t, err)
	moks := filepath.Join(u.HomeDir, ".systemtap", "ssl", "server", "moks")
	require.DirExists(t, moks, "stap-serverd makes it at start")

	tmp, err := os.MkdirTemp(moks, "stapc10-")
	require.NoError(t, err)
	out, err := exec.Command("openssl", "req", "-new", "-nodes", "-utf8", "-sha256", "-days", "36500", "-batch", "-x509",
		"-subj", "/O=Systemtap/CN=Systemtap module signing key", "-newkey", "rsa:2048", "-outform", "DER",
		"-out", filepath.Join(tmp, "signing_key.x509"), "-keyout", filepath.Join(tmp, "signing_key.priv")).CombinedOutput()
	require.NoError(t, err, "openssl: %s", out)
	der, err := os.ReadFile(filepath.Join(tmp, "signing_key.x509"))
	require.NoError(t, err)
	sum := sha1.Sum(der)
	hexes := make([]string, len(sum))
	for i, b := range sum {
		hexes[i] = fmt.Sprintf("%02x", b)
	}
	fp = strings.Join(hexes, ":")
	for _, p := range []string{tmp, filepath.Join(tmp, "signing_key.x509"), filepath.Join(tmp, "signing_key.priv")} {
		require.NoError(t, os.Chown(p, uid, gid))
	}
	dir := filepath.Join(moks, fp)
	require.NoError(t, os.Rename(tmp, dir))
	t.Cleanup(func() { os.RemoveAll(dir); os.RemoveAll(tmp) })

	certFile = filepath.Join(t.TempDir(), "server-mok.der")
	require.NoError(t, os.WriteFile(certFile, der, 0o644))
	return certFile, fp
}

// signingClient runs stap-client on the client host made to look like a
// Secure Boot host (test/lab/mokns.sh) with the given certificates enrolled.
func signingClient(t *testing.T, cwd string, certs []string, args ...string) labenv.Outcome {
	t.Helper()
	script, err := filepath.Abs("../lab/mokns.sh")
	require.NoError(t, err)
	full := []string{"ip", "netns", "exec", get(t, "NET_CLIENT_NS"), script, "--sig-enforce", "Y"}
	for _, c := range certs {
		full = append(full, "--cert", c)
	}
	full = append(append(full, "--", "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME="+get(t, "NET_CLIENT_HOME"), "LANG=C.UTF-8", lab.Bin), args...)
	return labenv.RunIn(t, cwd, full...)
}

// TestSecureBootDiscovery: on a host that loads only signed modules,
// discovery over real mDNS keeps the server announcing an enrolled MOK
// (mok_info), which signs the module with it, and passes over servers with
// no MOK in common.
func TestSecureBootDiscovery(t *testing.T) {
	rel := get(t, "NET_RELEASE")
	serverKey, fp := addServerMOK(t)
	otherKey, err := filepath.Abs("../../internal/mok/testdata/stap-a.der") // a Systemtap MOK no server has
	require.NoError(t, err)

	// srva's line with our key among its MOKs (an earlier run may have
	// left others).
	announced := regexp.MustCompile(`certinfo="` + regexp.QuoteMeta(get(t, "NET_A_CERTINFO")) + `" mok_fingerprints="[^"]*` + regexp.QuoteMeta(fp))
	// avahi takes a moment to announce the new TXT record.
	deadline := time.Now().Add(20 * time.Second)
	for {
		o := client(t, "--list-servers=online", "-r", rel)
		if announced.MatchString(o.Stderr) {
			break
		}
		require.True(t, time.Now().Before(deadline), "srva does not announce its MOK: %s", o.Stderr)
		time.Sleep(500 * time.Millisecond)
	}

	t.Run("--list-servers keeps the server with the enrolled MOK", func(t *testing.T) {
		o := signingClient(t, t.TempDir(), []string{serverKey}, "--list-servers", "-r", rel)
		require.Equal(t, 0, o.Code, o.Stderr)
		assert.Regexp(t, announced, o.Stderr)
		o = signingClient(t, t.TempDir(), []string{otherKey}, "--list-servers", "-r", rel)
		require.Equal(t, 0, o.Code, o.Stderr)
		assert.Equal(t, "Systemtap Compile Server Status for 'online,trusted,compatible'\nNo servers found\n", o.Stderr)
	})
	t.Run("the server with the MOK signs with it", func(t *testing.T) {
		cwd := t.TempDir()
		o := signingClient(t, cwd, []string{serverKey}, "-v", "-r", rel, "-p4", "-e", labenv.Hello)
		require.Equal(t, 0, o.Code, o.Stderr)
		assert.Contains(t, o.Stderr, "Passes: via server  host=srva.local ")
		assert.Contains(t, o.Stderr, `Module signed with MOK, fingerprint "`+fp+`"`)
		ko := strings.TrimSpace(o.Stdout)
		out, err := exec.Command("modinfo", "-F", "signer", filepath.Join(cwd, ko)).Output()
		require.NoError(t, err)
		assert.Equal(t, "Systemtap module signing key\n", string(out))
	})
	t.Run("no MOK in common", func(t *testing.T) {
		o := signingClient(t, t.TempDir(), []string{otherKey}, "-r", rel, "-p4", "-e", labenv.Hello)
		assert.Equal(t, 1, o.Code)
		assert.Contains(t, o.Stderr, "No servers matched the selection criteria of online,trusted,compatible.\n"+
			"Consider removing the local MOK to associate with a new server\n# sudo mokutil --list-enrolled\n# sudo mokutil --export / --delete  OR  --reset\n")
		assert.Regexp(t, announced.String()+`[^"]*": no MOK in common: the server signs with [^;]*`+regexp.QuoteMeta(fp), o.Stderr)
	})
}

// TestFleetOverMDNS: srva and srvb, equal servers found by multicast DNS
// (both trusted here with --ssl), are chosen by the request: the same
// script from two client machines (namespaces, each with its own HOME)
// lands on the same server.
func TestFleetOverMDNS(t *testing.T) {
	certs := filepath.Dir(get(t, "NET_A_CERT"))
	via := regexp.MustCompile(`Passes: via server  host=(\S+) `)
	on := func(ns, home, script string) string {
		t.Helper()
		o := labenv.Run(t, labenv.InNetns(ns, labenv.Clean(labenv.PathSystem, []string{"HOME=" + home},
			lab.Bin, "--ssl="+certs, "-v", "-r", get(t, "NET_RELEASE"), "-p2", "-e", script)...)...)
		require.Equal(t, 0, o.Code, "%s", o.Stderr)
		m := via.FindStringSubmatch(o.Stderr)
		require.NotNil(t, m, "%s", o.Stderr)
		return m[1]
	}
	seen := map[string]bool{}
	for i := range 6 {
		script := fmt.Sprintf(`probe begin { printf("fleet %d\n"); exit() }`, i)
		first := on(get(t, "NET_CLIENT_NS"), t.TempDir(), script)
		second := on(get(t, "NET_CLIENT2_NS"), t.TempDir(), script)
		assert.Equal(t, first, second, "script %d: one server from both machines", i)
		assert.Contains(t, []string{"srva.local", "srvb.local"}, first)
		seen[first] = true
	}
	t.Logf("servers chosen: %v", seen)
}
