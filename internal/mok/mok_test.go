// SPDX-License-Identifier: GPL-2.0-or-later

package mok

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mokutilListing is what the real mokutil printed for a tree (regen.sh),
// read back as stap's get_mok_info reads it.
type mokutilListing struct {
	all     []string // every "SHA1 Fingerprint" line
	issuers []string // every "Issuer:" line's value
	kept    []string // what stap's state machine keeps
}

var (
	fpLine     = regexp.MustCompile(`^(SHA1|SHA256) Fingerprint: ([0-9a-f:]+)$`)
	issuerAny  = regexp.MustCompile(`^[ \t]*Issuer: (.*)$`)
	issuerStap = regexp.MustCompile(`^[ \t]*Issuer: [A-Z]*=(.*)$`)
)

func readMokutil(t *testing.T, name string) mokutilListing {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	var l mokutilListing
	state, fp := "FINGERPRINT", ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if m := fpLine.FindStringSubmatch(line); m != nil {
			l.all = append(l.all, m[2])
		}
		if m := issuerAny.FindStringSubmatch(line); m != nil {
			l.issuers = append(l.issuers, m[1])
		}
		switch state {
		case "FINGERPRINT":
			if m := fpLine.FindStringSubmatch(line); m != nil {
				fp, state = m[2], "Issuer"
			}
		case "Issuer":
			if m := issuerStap.FindStringSubmatch(line); m != nil {
				if strings.Contains(m[1], "Systemtap") {
					l.kept = append(l.kept, fp)
				}
				state = "FINGERPRINT"
			}
		}
	}
	require.NoError(t, sc.Err())
	return l
}

func systemtapOnly(keys []Key) []string {
	var fps []string
	for _, k := range keys {
		if k.Systemtap() {
			fps = append(fps, k.Fingerprint)
		}
	}
	return fps
}

// The native reading agrees with the real mokutil, and the Systemtap filter
// with stap's reading of mokutil, on every layout the kernel uses.
func TestReadEnrolledMatchesMokutil(t *testing.T) {
	for _, tree := range []string{"efivars", "split", "mok-variables", "none"} {
		t.Run(tree, func(t *testing.T) {
			want := readMokutil(t, tree+".mokutil.txt")
			got, err := ReadEnrolled(os.DirFS(filepath.Join("testdata", "trees", tree)))
			require.NoError(t, err)
			var fps, issuers []string
			for _, k := range got.Keys {
				fps = append(fps, k.Fingerprint)
				issuers = append(issuers, k.Issuer)
			}
			assert.Equal(t, want.all, fps)
			assert.Equal(t, want.issuers, issuers)
			assert.Equal(t, want.kept, systemtapOnly(got.Keys))
		})
	}
}

func TestReadEnrolledSources(t *testing.T) {
	got, err := ReadEnrolled(os.DirFS("testdata/trees/mok-variables"))
	require.NoError(t, err)
	assert.Equal(t, "/"+MokVariablesPath, got.Source, "mok-variables is preferred, as mokutil prefers it")
	assert.Len(t, got.Keys, 6)

	got, err = ReadEnrolled(os.DirFS("testdata/trees/split"))
	require.NoError(t, err)
	assert.Equal(t, "/"+EfivarsDir+"/MokListRT-"+ShimGUID+" /"+EfivarsDir+"/MokListRT1-"+ShimGUID, got.Source)

	got, err = ReadEnrolled(os.DirFS("testdata/trees/none"))
	require.NoError(t, err)
	assert.Empty(t, got.Keys)
	assert.Empty(t, got.Source)

	got, err = ReadEnrolled(fstest.MapFS{}) // no EFI at all
	require.NoError(t, err)
	assert.Empty(t, got.Keys)
}

func TestKeptKeys(t *testing.T) {
	got, err := ReadEnrolled(os.DirFS("testdata/trees/efivars"))
	require.NoError(t, err)
	kept := map[string]bool{}
	for _, k := range got.Keys {
		kept[k.Issuer] = k.Systemtap()
	}
	assert.Equal(t, map[string]bool{
		"O=Systemtap, CN=Systemtap module signing key":                                true,
		"C=DE, O=Example Vendor, CN=Example Secure Boot CA":                           false,
		"CN=Systemtap module signing key, O=Someone Else":                             true,
		`O=Systemtap \xC3\xBC, CN=Systemtap module signing key`:                       true,
		"emailAddress=keys@example.org, O=Systemtap, CN=Systemtap module signing key": false,
	}, kept)
}

func TestFingerprintIsSHA1OfDER(t *testing.T) {
	for _, name := range []string{"stap-a", "stap-b", "vendor"} {
		der, err := os.ReadFile("testdata/" + name + ".der")
		require.NoError(t, err)
		sum := sha1.Sum(der)
		fp := Fingerprint(der)
		assert.Equal(t, strings.ReplaceAll(fp, ":", ""), strings.ToLower(string(bytesHex(sum[:]))))
		assert.Regexp(t, `^([0-9a-f]{2}(:[0-9a-f]{2})+)$`, fp, "the server's format check")
	}
}

func bytesHex(b []byte) []byte {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return out
}

// efivar writes a variable the way efivarfs shows it: attributes, then data.
func efivar(data []byte) []byte { return append([]byte{7, 0, 0, 0}, data...) }

func TestMalformedVariables(t *testing.T) {
	mixed, err := os.ReadFile("testdata/mixed.esl")
	require.NoError(t, err)
	truncated, err := os.ReadFile("testdata/truncated.esl")
	require.NoError(t, err)
	varPath := EfivarsDir + "/MokListRT-" + ShimGUID

	notCert := append([]byte(nil), mixed...)
	// The first certificate's DER starts after the 28-byte list header and
	// the 16-byte owner: make it something else.
	notCert[28+16] = 0x04

	badSize := append([]byte(nil), mixed...)
	binary.LittleEndian.PutUint32(badSize[24:], 17) // SignatureSize

	for _, tc := range []struct {
		name string
		fsys fstest.MapFS
	}{
		{"truncated efivar", fstest.MapFS{varPath: {Data: efivar(truncated)}}},
		{"truncated mok-variables", fstest.MapFS{MokVariablesPath: {Data: truncated}}},
		{"attributes only, cut", fstest.MapFS{varPath: {Data: []byte{7, 0}}}},
		{"not a certificate", fstest.MapFS{varPath: {Data: efivar(notCert)}}},
		{"signature size not dividing the list", fstest.MapFS{varPath: {Data: efivar(badSize)}}},
		{"second part broken", fstest.MapFS{
			varPath:                                {Data: efivar(mixed)},
			EfivarsDir + "/MokListRT1-" + ShimGUID: {Data: efivar(truncated)},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadEnrolled(tc.fsys)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrMalformed)
			assert.Empty(t, got.Keys, "a malformed variable is no keys")
			assert.NotContains(t, err.Error(), "\n", "one line")
		})
	}
}

func TestParseSignatureLists(t *testing.T) {
	mixed, err := os.ReadFile("testdata/mixed.esl")
	require.NoError(t, err)
	entries, err := ParseSignatureLists(mixed)
	require.NoError(t, err)
	require.Len(t, entries, 6)
	for _, e := range entries {
		assert.Equal(t, CertX509, e.Type)
		assert.Equal(t, "11111111-2222-3333-4444-555555555555", e.Owner.String())
	}
	assert.Equal(t, "a5c059a1-94e4-4aa7-87b5-ab155c2bf072", CertX509.String())
	der, err := os.ReadFile("testdata/stap-a.der")
	require.NoError(t, err)
	assert.Equal(t, der, entries[0].Data)

	empty, err := ParseSignatureLists(nil)
	require.NoError(t, err)
	assert.Empty(t, empty)

	// A hash list (what shim enrols for a hash) is read and is no key.
	hashList := make([]byte, 28+16+32)
	copy(hashList, []byte{0x26, 0x16, 0xc4, 0xc1, 0x4c, 0x50, 0x92, 0x40, 0xac, 0xa9, 0x41, 0xf9, 0x36, 0x93, 0x43, 0x28}) // EFI_CERT_SHA256
	binary.LittleEndian.PutUint32(hashList[16:], uint32(len(hashList)))
	binary.LittleEndian.PutUint32(hashList[24:], 48)
	keys, err := keysOf(append(hashList, mixed...))
	require.NoError(t, err)
	assert.Len(t, keys, 6)
}

func TestSigningRequired(t *testing.T) {
	env := func(kv ...string) func(string) (string, bool) {
		return func(k string) (string, bool) {
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1], true
				}
			}
			return "", false
		}
	}
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	for _, tc := range []struct {
		name string
		fsys fstest.MapFS
		env  func(string) (string, bool)
		want bool
	}{
		{"nothing", fstest.MapFS{}, env(), false},
		{"sig_enforce N", fstest.MapFS{SigEnforcePath: file("N\n")}, env(), false},
		{"sig_enforce Y", fstest.MapFS{SigEnforcePath: file("Y\n")}, env(), true},
		{"SYSTEMTAP_SIGN, even empty", fstest.MapFS{}, env("SYSTEMTAP_SIGN", ""), true},
		{"SYSTEMTAP_SIGN beats SYSTEMTAP_NOSIGN", fstest.MapFS{}, env("SYSTEMTAP_NOSIGN", "1", "SYSTEMTAP_SIGN", "1"), true},
		{"SYSTEMTAP_NOSIGN beats sig_enforce", fstest.MapFS{SigEnforcePath: file("Y\n")}, env("SYSTEMTAP_NOSIGN", ""), false},
		{"securelevel 1", fstest.MapFS{SecurelevelPath: file("1\n")}, env(), true},
		{"securelevel 0", fstest.MapFS{SecurelevelPath: file("0\n")}, env(), false},
		{"lockdown none", fstest.MapFS{LockdownPath: file("[none] integrity confidentiality\n")}, env(), false},
		{"lockdown integrity", fstest.MapFS{LockdownPath: file("none [integrity] confidentiality\n")}, env(), true},
		{"lockdown confidentiality", fstest.MapFS{LockdownPath: file("none integrity [confidentiality]\n")}, env(), true},
		{"nil environment", fstest.MapFS{SigEnforcePath: file("Y")}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, SigningRequired(tc.fsys, tc.env))
		})
	}
}

func TestCompatName(t *testing.T) {
	for in, want := range map[string]string{
		"":                         "",
		"/O=Systemtap/CN=x":        "O=Systemtap, CN=x",
		"/CN=a/b/O=c":              "CN=a/b, O=c",
		"/O=x/emailAddress=y/ST=z": "O=x/emailAddress=y, ST=z",
		"/1.2.3=v/C=DE":            "1.2.3=v, C=DE",
	} {
		assert.Equal(t, want, compat(in), in)
	}
}

// BenchmarkReadEnrolled: reading and filtering a six-key MokListRT, the
// work every signing run adds before it contacts a server.
func BenchmarkReadEnrolled(b *testing.B) {
	root := os.DirFS("testdata/trees/efivars")
	b.ReportAllocs()
	for b.Loop() {
		e, err := ReadEnrolled(root)
		if err != nil || len(systemtapOnly(e.Keys)) != 4 {
			b.Fatal(err, e)
		}
	}
}
