// SPDX-License-Identifier: GPL-2.0-or-later

package interop

import (
	"archive/zip"
	"crypto/sha1"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/internal/testkit"
	"github.com/stap-client/stap-client/test/labenv"
)

// mokHost runs commands as on a Secure Boot host (test/lab/mokns.sh): in a
// private mount namespace inside the lab's network namespace, with
// sig_enforce reading Y and MokListRT holding certs (made with
// cert-to-efi-sig-list). The real stap reads it through the real mokutil,
// stap-client natively.
type mokHost struct {
	certs []string // DER files enrolled
	esls  []string // signature list files appended
	env   []string // extra environment
	tmp   string   // TMPDIR, so -k leaves its directories where we clean up
}

func (h mokHost) run(t *testing.T, cwd string, argv ...string) outcome {
	t.Helper()
	script, err := filepath.Abs("../lab/mokns.sh")
	require.NoError(t, err)
	full := []string{script, "--sig-enforce", "Y"}
	for _, c := range h.certs {
		full = append(full, "--cert", c)
	}
	for _, e := range h.esls {
		full = append(full, "--esl", e)
	}
	full = append(full, "--")
	env := append([]string{"HOME=" + theLab.Get(t, "LAB_STAP_HOME"), "TMPDIR=" + h.tmp,
		// libefivar (mokutil) takes the namespace's tmpfs for efivarfs only
		// when told; stap-client does not look at this.
		"EFIVARFS_PATH=/sys/firmware/efi/efivars/"}, h.env...)
	full = append(full, labenv.Clean(labenv.PathAll, env, argv...)...)
	return runArgv(t, cwd, "", labenv.InNetns(theLab.Get(t, "LAB_NETNS"), full...)...)
}

var keptDir = regexp.MustCompile(`Keeping temporary directory "([^"]+)"`)

// sentMOKs is the mok_fingerprints a run sent, from the request it kept
// (-k): stap's staging directory, or stap-client's client.zip. ok is false
// when none was sent.
func sentMOKs(t *testing.T, o outcome) (fps string, ok bool) {
	t.Helper()
	m := keptDir.FindStringSubmatch(o.stderr)
	require.NotNil(t, m, "no kept directory in %q", o.stderr)
	if b, err := os.ReadFile(filepath.Join(m[1], "client", "mok_fingerprints")); err == nil {
		return string(b), true
	}
	zr, err := zip.OpenReader(filepath.Join(m[1], "client.zip"))
	require.NoError(t, err)
	defer zr.Close()
	return testkit.ZipBody(t, &zr.Reader, "mok_fingerprints")
}

// ourLines are the lines of stap-client's own, which stap does not print.
var ourLines = regexp.MustCompile(`(?m)^stap-client: .*\n`)

func modinfo(t *testing.T, field, ko string) string {
	t.Helper()
	out, err := exec.Command("modinfo", "-F", field, ko).Output()
	require.NoError(t, err, "modinfo (kmod) -F %s %s", field, ko)
	return strings.TrimSpace(string(out))
}

func fingerprint(der []byte) string {
	sum := sha1.Sum(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02x", b)
	}
	return strings.Join(parts, ":")
}

// TestSecureBoot: on a host that loads only signed modules, the real stap
// and stap-client send the same MOK fingerprints to the real server, get the
// same answer and leave the same files: the server's key when it has none
// in common with the host, a module signed with the enrolled server MOK
// when it has. With SYSTEMTAP_NOSIGN neither sends any.
func TestSecureBoot(t *testing.T) {
	rel := theLab.Get(t, "LAB_RELEASE")
	u, err := user.Lookup(theLab.Get(t, "LAB_SERVER_USER"))
	require.NoError(t, err)
	moks := filepath.Join(u.HomeDir, ".systemtap", "ssl", "server", "moks")
	vendor, err := filepath.Abs("../../internal/mok/testdata/vendor.der")
	require.NoError(t, err)
	tmp, err := os.MkdirTemp("", "stapc10-") // lower case: stap checks TMPDIR
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(tmp) })
	keys := t.TempDir()

	// both runs stap, then stap-client, in one directory; it returns both
	// outcomes, the files each left being compared, then removed.
	both := func(t *testing.T, h mokHost, args ...string) (stap, ours outcome, cwd string) {
		cwd = t.TempDir()
		labenv.WriteFixtures(t, cwd)
		h.tmp = tmp
		stap = h.run(t, cwd, append([]string{"stap", "--use-server=" + theLab.server(t)}, args...)...)
		stapFiles := map[string][]byte{}
		for _, f := range stap.files {
			if !labenv.IsFixture(f) {
				b, err := os.ReadFile(filepath.Join(cwd, f))
				require.NoError(t, err)
				stapFiles[f] = b
			}
		}
		labenv.RemoveProducts(t, cwd)
		ours = h.run(t, cwd, append([]string{theLab.Bin, "--server=" + theLab.server(t)}, args...)...)
		for f, b := range stapFiles {
			if strings.HasSuffix(f, ".x509") {
				got, err := os.ReadFile(filepath.Join(cwd, f))
				require.NoError(t, err)
				assert.Equal(t, b, got, "%s: the same key", f)
			}
		}
		norm := func(s string) string {
			return regexp.MustCompile(regexp.QuoteMeta(tmp)+`/stap[A-Za-z0-9]{6}`).ReplaceAllString(normalize(s), "TMP")
		}
		assert.Equal(t, norm(stap.stdout), norm(ours.stdout), "stdout")
		assert.Equal(t, norm(stap.stderr), norm(ourLines.ReplaceAllString(ours.stderr, "")), "stderr, but for our own lines")
		assert.Equal(t, stap.code, ours.code, "exit status")
		assert.Equal(t, stap.files, ours.files, "files left in the cwd")
		return stap, ours, cwd
	}

	var serverKey []byte
	t.Run("no MOK in common: the server's key and instructions", func(t *testing.T) {
		stap, ours, cwd := both(t, mokHost{certs: []string{vendor}}, "-k", "-r", rel, "-p4", "hello.stp")
		for _, o := range []outcome{stap, ours} {
			fps, sent := sentMOKs(t, o)
			assert.True(t, sent)
			assert.Equal(t, "missing\n", fps, "no Systemtap MOK is enrolled")
		}
		assert.Equal(t, 1, ours.code)
		assert.Contains(t, ours.stderr, "\t# sudo mokutil --import signing_key.x509\n")
		assert.Regexp(t, `(?m)^stap-client: ERROR: .*no MOK in common.*'sudo mokutil --import signing_key.x509', reboot.*\n\z`, ours.stderr)
		assert.Contains(t, ours.files, "signing_key.x509")
		var err error
		serverKey, err = os.ReadFile(filepath.Join(cwd, "signing_key.x509"))
		require.NoError(t, err)
		_, err = x509.ParseCertificate(serverKey)
		require.NoError(t, err, "a DER certificate")
		// It is one of the server's MOKs, named by mokutil's fingerprint.
		fi, err := os.Stat(filepath.Join(moks, fingerprint(serverKey)))
		require.NoError(t, err, "server MOK directory")
		assert.True(t, fi.IsDir())
	})
	require.NotNil(t, serverKey, "the server sent no key")
	keyFile := filepath.Join(keys, "server-mok.der")
	require.NoError(t, os.WriteFile(keyFile, serverKey, 0o644))
	cert, err := x509.ParseCertificate(serverKey)
	require.NoError(t, err)

	t.Run("the server's MOK enrolled: a module signed with it", func(t *testing.T) {
		stap, ours, cwd := both(t, mokHost{certs: []string{vendor, keyFile}}, "-k", "-r", rel, "-p4", "hello.stp")
		require.Equal(t, 0, ours.code, ours.stderr)
		for _, o := range []outcome{stap, ours} {
			fps, sent := sentMOKs(t, o)
			assert.True(t, sent)
			assert.Equal(t, fingerprint(serverKey)+"\n", fps, "only the Systemtap MOK")
		}
		assert.Contains(t, ours.stderr, `Module signed with MOK, fingerprint "`+fingerprint(serverKey)+`"`)
		ko := strings.TrimSpace(ours.stdout)
		require.Regexp(t, moduleFile, ko)
		assert.Equal(t, "Systemtap module signing key", modinfo(t, "signer", filepath.Join(cwd, ko)))
		serial := strings.ToUpper(fmt.Sprintf("%x", cert.SerialNumber))
		assert.Equal(t, serial, strings.ReplaceAll(modinfo(t, "sig_key", filepath.Join(cwd, ko)), ":", ""), "signed with the enrolled key")
	})

	t.Run("-vvv: the same MOK lines", func(t *testing.T) {
		// Keys of every kind stap's reading of mokutil meets: another
		// vendor's, a Systemtap one, one with a non-ASCII issuer, and one
		// whose issuer line stap cannot read (last: stap would otherwise
		// judge the next key by it).
		var certs []string
		for _, n := range []string{"vendor", "stap-a", "nonascii", "lookalike", "email-first"} {
			c, err := filepath.Abs("../../internal/mok/testdata/" + n + ".der")
			require.NoError(t, err)
			certs = append(certs, c)
		}
		h := mokHost{certs: certs, tmp: tmp}
		cwd := t.TempDir()
		labenv.WriteFixtures(t, cwd)
		mokLines := regexp.MustCompile(`(?m)^(This host requires module signing\.|MOK fingerprint found: .*|Issuer found: .*|Recognized Systemtap MOK fingerprint: .*|Number of enrolled Systemtap MOK keys found: .*)$`)
		stap := h.run(t, cwd, "stap", "--use-server="+theLab.server(t), "-vvv", "-r", rel, "-p2", "hello.stp")
		ours := h.run(t, cwd, theLab.Bin, "--server="+theLab.server(t), "-vvv", "-r", rel, "-p2", "hello.stp")
		want := mokLines.FindAllString(stap.stderr, -1)
		require.NotEmpty(t, want, stap.stderr)
		assert.Contains(t, want, "Number of enrolled Systemtap MOK keys found: 3")
		// -p2: stap 4.8 reads the keys for every pass; stap-client (as stap
		// 5.5) only when a module is wanted.
		assert.Empty(t, mokLines.FindAllString(ours.stderr, -1))
		ours = h.run(t, cwd, theLab.Bin, "--server="+theLab.server(t), "-vvv", "-r", rel, "-p4", "hello.stp")
		assert.Equal(t, want, mokLines.FindAllString(ours.stderr, -1))
	})

	t.Run("damaged MokListRT: a documented difference", func(t *testing.T) {
		// A truncated last list: mokutil lists the keys before it and stap
		// sends their Systemtap ones; stap-client warns once and sends
		// missing (man page, COMPATIBILITY).
		esl, err := filepath.Abs("../../internal/mok/testdata/truncated.esl")
		require.NoError(t, err)
		h := mokHost{esls: []string{esl}, tmp: tmp}
		cwd := t.TempDir()
		labenv.WriteFixtures(t, cwd)
		stap := h.run(t, cwd, "stap", "--use-server="+theLab.server(t), "-k", "-r", rel, "-p4", "hello.stp")
		fps, _ := sentMOKs(t, stap)
		assert.Len(t, strings.Fields(fps), 4, "stap: the four Systemtap keys before the damage")
		labenv.RemoveProducts(t, cwd)
		ours := h.run(t, cwd, theLab.Bin, "--server="+theLab.server(t), "-k", "-r", rel, "-p4", "hello.stp")
		fps, _ = sentMOKs(t, ours)
		assert.Equal(t, "missing\n", fps)
		assert.Equal(t, 1, strings.Count(ours.stderr, "WARNING: the enrolled machine owner keys cannot be read"), ours.stderr)
		assert.Equal(t, 1, ours.code)
	})

	t.Run("SYSTEMTAP_NOSIGN: no fingerprints, no signature", func(t *testing.T) {
		stap, ours, cwd := both(t, mokHost{certs: []string{vendor, keyFile}, env: []string{"SYSTEMTAP_NOSIGN=1"}}, "-k", "-r", rel, "-p4", "hello.stp")
		require.Equal(t, 0, ours.code, ours.stderr)
		for _, o := range []outcome{stap, ours} {
			_, sent := sentMOKs(t, o)
			assert.False(t, sent)
		}
		ko := strings.TrimSpace(ours.stdout)
		require.Regexp(t, moduleFile, ko)
		assert.Empty(t, modinfo(t, "signer", filepath.Join(cwd, ko)))
	})
}
