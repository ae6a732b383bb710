// SPDX-License-Identifier: GPL-2.0-or-later

package netlab

import (
	"crypto/sha1"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/test/labenv"
)

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
