// SPDX-License-Identifier: GPL-2.0-or-later

package client

import (
	"archive/zip"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stap-client/stap-client/internal/mok"
	"github.com/stap-client/stap-client/internal/testkit"
)

// hostRoot is a root file system for a host: the mok package's fixture
// tree (made by openssl and cert-to-efi-sig-list, checked against the real
// mokutil), "" for none, and sig_enforce reading sigEnforce, "" for none.
func hostRoot(t *testing.T, tree, sigEnforce string) fs.FS {
	t.Helper()
	dir := t.TempDir()
	if tree != "" {
		require.NoError(t, os.CopyFS(dir, os.DirFS(filepath.Join("../mok/testdata/trees", tree))))
	}
	if sigEnforce != "" {
		p := filepath.Join(dir, mok.SigEnforcePath)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(sigEnforce+"\n"), 0o644))
	}
	return os.DirFS(dir)
}

// fixtureMOKs are the Systemtap MOKs of the efivars fixture, in order.
func fixtureMOKs(t *testing.T) []string {
	t.Helper()
	e, err := mok.ReadEnrolled(os.DirFS("../mok/testdata/trees/efivars"))
	require.NoError(t, err)
	var fps []string
	for _, k := range e.Keys {
		if k.Systemtap() {
			fps = append(fps, k.Fingerprint)
		}
	}
	require.Len(t, fps, 4)
	return fps
}

// requestEntry is one file of a request zip, and whether it is there.
func requestEntry(t *testing.T, req []byte, name string) (string, bool) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(req), int64(len(req)))
	require.NoError(t, err)
	return testkit.ZipBody(t, zr, name)
}

func withRoot(root fs.FS) func(*Env) { return func(e *Env) { e.Root = root } }

func TestSecureBootRequest(t *testing.T) {
	fps := fixtureMOKs(t)
	all := strings.Join(fps, "\n") + "\n"
	for _, tc := range []struct {
		name       string
		tree, sig  string
		vars       map[string]string
		args       []string
		want       string // mok_fingerprints, "" for none sent
		wantStderr string
	}{
		{"sig_enforce Y sends the enrolled Systemtap MOKs", "efivars", "Y", nil, []string{"-p4"}, all, ""},
		{"split variable", "split", "Y", nil, []string{"-p4"}, fps[0] + "\n" + fps[1] + "\n", ""},
		{"SYSTEMTAP_SIGN without EFI sends missing", "", "", map[string]string{"SYSTEMTAP_SIGN": "1"}, []string{"-p4"}, "missing\n", ""},
		{"enrolled but none of Systemtap", "none", "Y", nil, []string{"-p4"}, "missing\n", ""},
		{"SYSTEMTAP_NOSIGN", "efivars", "Y", map[string]string{"SYSTEMTAP_NOSIGN": ""}, []string{"-p4"}, "", ""},
		{"sig_enforce N", "efivars", "N", nil, []string{"-p4"}, "", ""},
		{"last pass 3 sends none as stap 5.5", "efivars", "Y", nil, []string{"-p3"}, "", ""},
		{"verbose lines as stap prints them", "split", "Y", nil, []string{"-p4", "-vvv"}, fps[0] + "\n" + fps[1] + "\n",
			"This host requires module signing.\n" +
				"MOK fingerprint found: " + fps[0] + "\nIssuer found: Systemtap, CN=Systemtap module signing key\nRecognized Systemtap MOK fingerprint: " + fps[0] + "\n" +
				"MOK fingerprint found: " + fps[1] + "\nIssuer found: Systemtap, CN=Systemtap module signing key\nRecognized Systemtap MOK fingerprint: " + fps[1] + "\n" +
				"Number of enrolled Systemtap MOK keys found: 2\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startFake(t, goodP4(t))
			args := append([]string{"--server=" + s.Addr, "--ssl=" + s.CertDir, "-e", "probe begin { exit() }"}, tc.args...)
			r := runEnv(t, withRoot(hostRoot(t, tc.tree, tc.sig)), tc.vars, args...)
			require.Equal(t, 0, r.code, r.stderr)
			got, sent := requestEntry(t, <-s.Requests, "mok_fingerprints")
			assert.Equal(t, tc.want != "", sent)
			assert.Equal(t, tc.want, got)
			if tc.wantStderr != "" {
				assert.True(t, strings.HasPrefix(r.stderr, tc.wantStderr), r.stderr)
			}
		})
	}
}

func TestSecureBootMalformedVariable(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, mok.EfivarsDir, "MokListRT-"+mok.ShimGUID)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	trunc, err := os.ReadFile("../mok/testdata/truncated.esl")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, append([]byte{7, 0, 0, 0}, trunc...), 0o644))
	s := startFake(t, goodP4(t))
	r := runEnv(t, withRoot(os.DirFS(dir)), map[string]string{"SYSTEMTAP_SIGN": "1"},
		"--server="+s.Addr, "--ssl="+s.CertDir, "-p4", "-e", "probe begin { exit() }")
	require.Equal(t, 0, r.code, r.stderr)
	got, _ := requestEntry(t, <-s.Requests, "mok_fingerprints")
	assert.Equal(t, "missing\n", got, "treated as no keys")
	assert.Regexp(t, `^stap-client: WARNING: the enrolled machine owner keys cannot be read: /sys/firmware/efi/efivars/MokListRT-605dab50-e046-4300-abb6-3dd810dd8b23: malformed EFI signature list: [^\n]*; going on as if none were enrolled\nUsing a compile server.\n$`, r.stderr)
}

// A server with no MOK in common answers with its key, stap's message and
// rc 1: the key is saved in the cwd, stap's lines are printed, then ours.
func noMOKReply(t *testing.T, key string) []byte {
	return testkit.ServerZip(t,
		testkit.ZipEntry{Name: "version", Body: "4.8"}, testkit.ZipEntry{Name: "rc", Body: "1"},
		testkit.ZipEntry{Name: "stdout", Body: ""},
		testkit.ZipEntry{Name: "stderr", Body: "Server: No matching machine owner key (MOK) available on the server to sign the\n module.\n" +
			"Server: The server has no machine owner key (MOK) in common with this\nsystem. Use the following command to import a server MOK into this\nsystem, then reboot:\n\n\t# sudo mokutil --import signing_key.x509\n"},
		testkit.ZipEntry{Name: "signing_key.x509", Body: key},
		testkit.ZipEntry{Name: "stap000000/", Mode: fs.ModeDir | 0o755},
		testkit.ZipEntry{Name: "stap000000/" + modName + ".ko", Body: "\x7fELF unsigned"},
	)
}

func TestSecureBootNoMOKInCommonReply(t *testing.T) {
	s := startFake(t, noMOKReply(t, "DER key"))
	r := runEnv(t, withRoot(hostRoot(t, "efivars", "Y")), nil, "--server="+s.Addr, "--ssl="+s.CertDir, "-e", "probe begin { exit() }")
	assert.Equal(t, 1, r.code)
	assert.Equal(t, []string{"signing_key.x509"}, testkit.Entries(t, r.cwd), "the key, and no module")
	b, err := os.ReadFile(filepath.Join(r.cwd, "signing_key.x509"))
	require.NoError(t, err)
	assert.Equal(t, "DER key", string(b))
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	assert.Equal(t, []string{"Using a compile server.", "Server: No matching machine owner key (MOK) available on the server to sign the"}, lines[:2])
	assert.Contains(t, r.stderr, "\t# sudo mokutil --import signing_key.x509\nPasses: via server failed.  Try again with another '-v' option.\n"+
		"The kernel on your system requires modules to be signed for loading.\nThe module created by compiling your script must be signed by a systemtap compile-server.  [man stap-server]\n"+
		"--use-server was automatically selected in order to request compilation by a compile-server.\n")
	last := lines[len(lines)-1]
	assert.True(t, strings.HasPrefix(last, "stap-client: ERROR: the module could not be signed with a key this host trusts: the server has no MOK in common with it; enrol the server's key with 'sudo mokutil --import signing_key.x509', reboot"), last)
	assert.Empty(t, testkit.Entries(t, r.tmp))

	// A different signing_key.x509 of the user's is kept; the new key goes
	// beside it and our line names it.
	s = startFake(t, noMOKReply(t, "new key"))
	r = runEnv(t, func(e *Env) {
		e.Root = hostRoot(t, "efivars", "Y")
		require.NoError(t, os.WriteFile(filepath.Join(e.Cwd, "signing_key.x509"), []byte("user's own"), 0o600))
	}, nil, "--server="+s.Addr, "--ssl="+s.CertDir, "-p4", "-e", "probe begin { exit() }")
	assert.Equal(t, 1, r.code)
	b, err = os.ReadFile(filepath.Join(r.cwd, "signing_key.x509"))
	require.NoError(t, err)
	assert.Equal(t, "user's own", string(b))
	ents := testkit.Entries(t, r.cwd)
	require.Len(t, ents, 2)
	assert.Regexp(t, `^signing_key-[0-9a-f]{8}\.x509$`, ents[0])
	assert.Contains(t, r.stderr, "'sudo mokutil --import "+ents[0]+"'")
}

// With a MOK in common the module is run without -R: a signed module
// cannot be renamed at load.
func TestSecureBootPass5KeepsName(t *testing.T) {
	s := startFake(t, goodP4(t))
	staprunPath, rec := recorder(t, "exit 0\n")
	r := runEnv(t, withRoot(hostRoot(t, "efivars", "Y")), map[string]string{"SYSTEMTAP_STAPRUN": staprunPath},
		"--server="+s.Addr, "--ssl="+s.CertDir, "-e", script)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, []string{"TMP/" + modName + ".ko"}, argvOf(t, p5run{r, staprunPath, rec}))
}

func TestSecureBootDiscovery(t *testing.T) {
	fps := fixtureMOKs(t)
	s := startFake(t, goodP4(t))
	other := advertised(t, s)
	other.MOKs = []string{"00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33"}
	shared := other
	shared.Instance, shared.Host, shared.MOKs = "Systemtap Compile Server on srvb", "srvb.local", append(shared.MOKs, fps[2])

	t.Run("no MOK in common", func(t *testing.T) {
		r := runEnv(t, func(e *Env) { e.Root, e.Browser = hostRoot(t, "efivars", "Y"), servicesAt{other} }, nil, "--ssl="+s.CertDir, "-p4", "-e", "probe begin { exit() }")
		assert.Equal(t, 1, r.code)
		assert.Contains(t, r.stderr, "No servers matched the selection criteria of online,trusted,compatible.\n"+
			"Consider removing the local MOK to associate with a new server\n# sudo mokutil --list-enrolled\n# sudo mokutil --export / --delete  OR  --reset\n")
		assert.Contains(t, r.stderr, "no MOK in common: the server signs with 00:11:22")
	})
	t.Run("a MOK in common", func(t *testing.T) {
		r := runEnv(t, func(e *Env) { e.Root, e.Browser = hostRoot(t, "efivars", "Y"), servicesAt{other, shared} }, nil, "--ssl="+s.CertDir, "-p4", "-e", "probe begin { exit() }")
		require.Equal(t, 0, r.code, r.stderr)
	})
	t.Run("--list-servers shows the compatible ones with their MOKs", func(t *testing.T) {
		otherRel := shared
		otherRel.Instance, otherRel.Sysinfo = shared.Instance+" #2", "6.18.44-fc x86_64"
		r := runEnv(t, func(e *Env) { e.Root, e.Browser = hostRoot(t, "efivars", "Y"), servicesAt{shared, otherRel} }, nil, "--ssl="+s.CertDir, "--list-servers")
		require.Equal(t, 0, r.code, r.stderr)
		assert.Equal(t, "Systemtap Compile Server Status for 'online,trusted,compatible'\n"+shared.Candidate(0).String()+"\n", r.stderr)
		assert.Contains(t, r.stderr, `mok_fingerprints="00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33, `+fps[2]+`"`)
	})
}
